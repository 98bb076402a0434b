//! A linearizability checker for recorded histories.
//!
//! A history (ours in JSON Lines, Jepsen's EDN operation maps, or Jepsen's console logs: see
//! [`format`]) is paired into operations ([`history`]), split per key (P-compositionality: a
//! history is linearizable iff each key's sub-history is), and each key is searched for a
//! linearization under a sequential [`model`] with Wing–Gong–Lowe's algorithm and memoisation
//! ([`search`]). Operations of unknown outcome (`info`) may take effect at any point after their
//! invocation, or never; failed ones are left out. A key whose search exceeds its time or memory
//! bound is *inconclusive*, never guessed. A violation is explained ([`explain`]): a minimal set of
//! operations that cannot be linearized, the longest partial linearization, and what went wrong in
//! words.

pub mod explain;
pub mod format;
pub mod history;
pub mod model;
pub mod report;
pub mod search;
pub mod timeline;
pub mod value;
pub mod versions;

use history::{History, Operation};
use model::Model;
use search::{Limits, Outcome};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The verdict on one key, or on a whole history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// A bound was reached: unknown.
    Inconclusive,
    /// None exists.
    NotLinearizable,
}

impl Verdict {
    /// The process exit code: 0, 2, 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Linearizable => 0,
            Verdict::NotLinearizable => 1,
            Verdict::Inconclusive => 2,
        }
    }

    /// `linearizable`, `not linearizable`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not linearizable",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The result for one key.
#[derive(Clone, Debug)]
pub struct KeyResult {
    /// The key (`None` for a history without keys).
    pub key: Option<String>,
    /// Its operations (ids into the history), ok and unknown.
    pub operations: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the search gave up, when inconclusive.
    pub reason: Option<String>,
    /// The explanation of a violation.
    pub explanation: Option<explain::Explanation>,
    /// Where the search of a violation got stuck, until it is explained.
    pub stuck: Option<search::Stuck>,
    /// Time spent deciding (explanation excluded).
    pub elapsed: Duration,
}

/// The result for a history.
#[derive(Clone, Debug)]
pub struct Report {
    /// The overall verdict: not linearizable if any key is, else inconclusive if any key is.
    pub verdict: Verdict,
    /// Per key, in key order.
    pub keys: Vec<KeyResult>,
    /// Operations checked (ok and unknown), and failed ones left out.
    pub operations: usize,
    /// Failed operations (excluded).
    pub failed: usize,
    /// Total time.
    pub elapsed: Duration,
}

/// Options of a check.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Time bound per key, for its verdict.
    pub timeout: Option<Duration>,
    /// Memo bound per key (configurations).
    pub memo_entries_max: usize,
    /// Memory bound of the whole check in bytes (searches' memos and stacks), shared equally by
    /// the threads; the explanations' searches have the same bound. Default: a quarter of this
    /// machine's memory.
    pub memory_bytes_max: usize,
    /// Explain violations (minimal set, partial linearization, words).
    pub explain: bool,
    /// Time for all the explanations of a history together, spent after every verdict is known
    /// (so they cannot starve a verdict), shared among the violating keys (`None`: 10 s). Past it
    /// an explanation says it is not minimal.
    pub explain_timeout: Option<Duration>,
    /// Threads checking keys in parallel.
    pub threads: usize,
    /// Print a progress line on standard error while a check runs longer than a second.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: None,
            memo_entries_max: Limits::default().memo_entries_max,
            memory_bytes_max: search::default_memory_bytes(),
            explain: true,
            explain_timeout: None,
            threads: 1,
            progress: false,
        }
    }
}

impl Options {
    /// The memory bound of one search: the whole bound shared by the threads.
    fn search_memory_bytes(&self) -> usize {
        self.memory_bytes_max / self.threads.max(1)
    }
}

/// Default time for all the explanations of one history.
const EXPLAIN_DEFAULT: Duration = Duration::from_secs(10);

/// Checks every operation of `history` is supported by `model`.
///
/// # Errors
///
/// The first unsupported operation, with its line.
pub fn validate<M: Model>(model: &M, history: &History) -> Result<(), history::HistoryError> {
    match history.operations.iter().find(|operation| !model.supports(operation.f)) {
        Some(operation) => Err(history::HistoryError {
            line: operation.call_line,
            message: format!(
                "{} is not an operation of the {} model: try --model kv (or cas-register for cas)",
                operation.f,
                model.name()
            ),
        }),
        None => Ok(()),
    }
}

/// Splits the history per key (operations without a key share one partition), leaving out
/// operations the model calls inert.
pub fn partition<'h, M: Model>(
    model: &M,
    history: &'h History,
) -> BTreeMap<Option<String>, Vec<&'h Operation>> {
    let mut keys: BTreeMap<Option<String>, Vec<&Operation>> = BTreeMap::new();
    for operation in &history.operations {
        let entry = keys.entry(operation.key.clone()).or_default();
        if !model.is_inert(operation) {
            entry.push(operation);
        }
    }
    keys
}

/// Checks `history` under `model`: every key's verdict, then (if `options.explain`) an
/// explanation of each violation.
pub fn check<M: Model>(model: &M, history: &History, options: Options) -> Report {
    let mut report = decide(model, history, options);
    if options.explain {
        explain_violations(model, history, &mut report, options);
    }
    report
}

/// Every key's verdict, without explanations.
pub fn decide<M: Model>(model: &M, history: &History, options: Options) -> Report {
    let started = Instant::now();
    let partitions: Vec<(Option<String>, Vec<&Operation>)> = partition(model, history).into_iter().collect();
    let next = AtomicUsize::new(0);
    let decided = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(partitions.len()));
    let worker = || loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some((key, operations)) = partitions.get(index) else { break };
        let result = decide_key(model, key.clone(), operations, options);
        results.lock().expect("no worker panics while holding the lock").push((index, result));
        decided.fetch_add(1, Ordering::Relaxed);
    };
    let threads = options.threads.clamp(1, partitions.len().max(1));
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reporter = options.progress.then(|| {
            scope.spawn(|| {
                progress(started, &done, || {
                    format!("{} of {} keys decided", decided.load(Ordering::Relaxed), partitions.len())
                })
            })
        });
        let workers: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        worker();
        for handle in workers {
            handle.join().expect("a checking thread panicked");
        }
        stop(&done, reporter.as_ref());
    });
    let mut results = results.into_inner().expect("workers are done");
    results.sort_by_key(|(index, _)| *index);
    let keys: Vec<KeyResult> = results.into_iter().map(|(_, result)| result).collect();
    let verdict = keys.iter().map(|key| key.verdict).max().unwrap_or(Verdict::Linearizable);
    Report {
        verdict,
        keys,
        operations: history.operations.len(),
        failed: history.failed,
        elapsed: started.elapsed(),
    }
}

/// Explains each violation of `report` (the verdicts of `history`), within the explanations'
/// time: what is left of it is shared by the violations still to explain.
pub fn explain_violations<M: Model>(model: &M, history: &History, report: &mut Report, options: Options) {
    let started = Instant::now();
    let partitions = partition(model, history);
    let budget = options.explain_timeout.unwrap_or(EXPLAIN_DEFAULT);
    let violating: Vec<usize> = (0..report.keys.len())
        .filter(|&index| report.keys[index].verdict == Verdict::NotLinearizable)
        .collect();
    let explained = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reporter = options.progress.then(|| {
            scope.spawn(|| {
                progress(started, &done, || {
                    format!(
                        "explaining: {} of {} violations",
                        explained.load(Ordering::Relaxed),
                        violating.len()
                    )
                })
            })
        });
        for (position, &index) in violating.iter().enumerate() {
            let key = &mut report.keys[index];
            let Some(operations) = partitions.get(&key.key) else { continue };
            let Some(stuck) = key.stuck.take() else { continue };
            let share = share(budget, started.elapsed(), position, violating.len());
            key.explanation =
                Some(explain::explain(model, operations, &stuck, share, options.search_memory_bytes()));
            explained.fetch_add(1, Ordering::Relaxed);
        }
        stop(&done, reporter.as_ref());
    });
    report.elapsed += started.elapsed();
}

/// The time of the next explanation, when `explained` of the `violations` are: what is left of
/// `budget` after `spent`, shared equally by the violations still to explain (this one among them).
fn share(budget: Duration, spent: Duration, explained: usize, violations: usize) -> Duration {
    let unexplained = violations.saturating_sub(explained).max(1);
    budget.saturating_sub(spent) / u32::try_from(unexplained).unwrap_or(u32::MAX)
}

/// Tells the progress thread (if any) that the work is done, and wakes it at once: a check of a
/// small history must not wait out its pause (it was 50 ms of every `checker check`).
fn stop(done: &AtomicBool, reporter: Option<&std::thread::ScopedJoinHandle<'_, ()>>) {
    done.store(true, Ordering::Relaxed);
    if let Some(reporter) = reporter {
        reporter.thread().unpark();
    }
}

/// Prints `what()` on standard error once a second, from the first second until `done`: on one
/// line rewritten in place on a terminal, a line every 10 s elsewhere. It pauses 50 ms between
/// looks, and [`stop`] ends a pause early.
fn progress(started: Instant, done: &AtomicBool, what: impl Fn() -> String) {
    let look = || {
        std::thread::park_timeout(Duration::from_millis(50));
        started.elapsed()
    };
    let steps = || search::STEPS.load(Ordering::Relaxed);
    report_progress(done, std::io::stderr().is_terminal(), look, what, steps, |text| eprint!("{text}"));
}

/// [`progress`] with its clock and its output given: `look` pauses and says how long the check has
/// run, `steps` how many search steps it took, `out` writes.
fn report_progress(
    done: &AtomicBool,
    terminal: bool,
    mut look: impl FnMut() -> Duration,
    what: impl Fn() -> String,
    steps: impl Fn() -> u64,
    mut out: impl FnMut(&str),
) {
    let every = if terminal { Duration::from_secs(1) } else { Duration::from_secs(10) };
    let mut printed = false;
    let mut last = Duration::ZERO;
    while !done.load(Ordering::Relaxed) {
        let elapsed = look();
        if done.load(Ordering::Relaxed) {
            break;
        }
        // The first line after `every`, then one each `every`.
        if elapsed.saturating_sub(last) < every {
            continue;
        }
        last = elapsed;
        let line = format!(
            "checking: {}, {:.1}M search steps, {:.0} s",
            what(),
            steps() as f64 / 1e6,
            elapsed.as_secs_f64()
        );
        if terminal {
            out(&format!("\r{line}\x1b[K"));
            printed = true;
        } else {
            out(&format!("{line}\n"));
        }
    }
    if printed {
        out("\r\x1b[K");
    }
}

/// One key's verdict.
pub fn decide_key<M: Model>(
    model: &M,
    key: Option<String>,
    operations: &[&Operation],
    options: Options,
) -> KeyResult {
    let started = Instant::now();
    let limits = Limits {
        deadline: options.timeout.map(|timeout| started + timeout),
        memo_entries_max: options.memo_entries_max,
        memory_bytes_max: options.search_memory_bytes(),
        ..Limits::default()
    };
    let outcome = search::search(model, operations, limits);
    let elapsed = started.elapsed();
    let mut result = KeyResult {
        key,
        operations: operations.len(),
        verdict: Verdict::Linearizable,
        reason: None,
        explanation: None,
        stuck: None,
        elapsed,
    };
    match outcome {
        Outcome::Linearizable(_) => {}
        Outcome::Inconclusive(reason) => {
            result.verdict = Verdict::Inconclusive;
            result.reason = Some(reason);
        }
        Outcome::NotLinearizable(stuck) => {
            result.verdict = Verdict::NotLinearizable;
            result.stuck = Some(stuck);
        }
    }
    result
}

/// Values that services commonly return for a key never written, instead of nil.
const ABSENT_CANDIDATES: [fn() -> value::Value; 3] =
    [|| value::Value::Str(String::new()), || value::Value::Int(0), || value::Value::List(Vec::new())];

/// When keys that are not linearizable under `model` would be with another absent value (a
/// service that returns "" for a key never written): the words that say so and name the flag.
/// Only values that such a key observes (a completed read returned it, or a cas expected it) are
/// tried, each key within `options.timeout` (or 5 s): a value nothing observes cannot be what
/// turns a verdict.
pub fn absent_suggestion(
    model: &model::Register,
    history: &History,
    report: &Report,
    options: Options,
) -> Option<String> {
    let partitions = partition(model, history);
    let failing: Vec<&KeyResult> =
        report.keys.iter().filter(|key| key.verdict == Verdict::NotLinearizable).collect();
    if failing.is_empty() {
        return None;
    }
    let options = Options { timeout: Some(options.timeout.unwrap_or(Duration::from_secs(5))), ..options };
    for candidate in ABSENT_CANDIDATES.map(|make| make()) {
        if candidate == model.absent {
            continue;
        }
        let hinges = |key: &KeyResult| {
            let operations = &partitions[&key.key];
            // Every read here completed: `partition` leaves out reads of unknown outcome.
            operations.iter().any(|operation| match (operation.f, &operation.input) {
                (history::Function::Read, _) => operation.output == candidate,
                (history::Function::Cas, value::Value::List(pair)) => {
                    matches!(pair.as_slice(), [expected, _] if *expected == candidate)
                }
                _ => false,
            })
        };
        let tried: Vec<&KeyResult> = failing.iter().copied().filter(|key| hinges(key)).collect();
        if tried.is_empty() {
            continue;
        }
        let other = model.clone().with_absent(candidate.clone());
        let passing = tried
            .iter()
            .filter(|key| {
                decide_key(&other, key.key.clone(), &partitions[&key.key], options).verdict
                    == Verdict::Linearizable
            })
            .count();
        if passing > 0 {
            // The only string tried is the empty one.
            let flag = match &candidate {
                value::Value::Str(_) => "\"\"".to_string(),
                other => format!("'{}'", other.to_json()),
            };
            return Some(format!(
                "{passing} of the {} keys that are not linearizable are linearizable if a key never written reads as {candidate} \
                 (their reads or cas operations observe {candidate}): if this system returns {candidate} for \
                 absent keys, check with --absent {flag}",
                failing.len()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Kind, Register};

    /// A history in our JSON Lines: each `(process, type, f, key, value)` one event.
    fn history(events: &[(u32, &str, &str, &str, &str)]) -> History {
        let text: String = events
            .iter()
            .map(|(process, kind, f, key, value)| {
                format!(
                    "{{\"process\": {process}, \"type\": \"{kind}\", \"f\": \"{f}\", \"key\": \"{key}\", \"value\": {value}}}\n"
                )
            })
            .collect();
        let events = format::jsonl::parse(&text).unwrap_or_else(|error| panic!("{text}: {error}"));
        History::from_events(&events).expect("pairs")
    }

    #[test]
    fn the_memory_bound_is_shared_equally_by_the_threads() {
        let options = |threads| Options { memory_bytes_max: 1_000, threads, ..Options::default() };
        assert_eq!(options(4).search_memory_bytes(), 250);
        assert_eq!(options(1).search_memory_bytes(), 1_000);
        assert_eq!(options(0).search_memory_bytes(), 1_000, "no threads is one");
    }

    #[test]
    fn each_explanation_has_an_equal_share_of_the_time_left() {
        let seconds = Duration::from_secs;
        assert_eq!(share(seconds(10), seconds(4), 1, 4), seconds(2));
        assert_eq!(share(seconds(10), seconds(0), 0, 1), seconds(10));
        assert_eq!(share(seconds(10), seconds(9), 3, 4), seconds(1), "the last one has what is left");
        assert_eq!(share(seconds(10), seconds(12), 0, 2), Duration::ZERO, "past the budget: nothing");
        assert_eq!(share(seconds(10), seconds(0), 0, 0), seconds(10));
    }

    /// The reporter's lines at scripted times: on a terminal one a second from the first second,
    /// rewritten in place and cleared at the end; elsewhere one every 10 s, each on its own line.
    #[test]
    fn progress_is_a_line_a_second_on_a_terminal_and_every_ten_seconds_elsewhere() {
        let run = |terminal: bool, times: &[f64]| {
            let done = AtomicBool::new(false);
            let mut script = times.iter().copied();
            let look = || match script.next() {
                Some(seconds) => Duration::from_secs_f64(seconds),
                None => {
                    done.store(true, Ordering::Relaxed);
                    Duration::ZERO
                }
            };
            let mut written = String::new();
            report_progress(
                &done,
                terminal,
                look,
                || "3 of 9 keys decided".into(),
                || 2_500_000,
                |text| written.push_str(text),
            );
            written
        };
        // Printed on a terminal at 1.0, 2.0, 9.99 (shown as 10 s), 12.0, 19.9 (20 s) and 21.0.
        let times = [0.05, 0.5, 0.95, 1.0, 1.5, 1.99, 2.0, 2.05, 9.99, 10.0, 12.0, 19.9, 21.0];
        let line = |seconds: u32| format!("checking: 3 of 9 keys decided, 2.5M search steps, {seconds} s");
        let on_terminal: String =
            [1, 2, 10, 12, 20, 21].iter().map(|&seconds| format!("\r{}\x1b[K", line(seconds))).collect();
        assert_eq!(run(true, &times), on_terminal + "\r\x1b[K");
        assert_eq!(run(false, &times), format!("{}\n{}\n", line(10), line(21)));
        assert_eq!(run(true, &[0.1, 0.9]), "", "nothing in the first second, and nothing to clear");
        assert_eq!(run(false, &[1.0, 5.0, 9.9]), "");
    }

    /// The options' bounds reach the search: a time bound (generous, or already past) and a
    /// bound on configurations.
    #[test]
    fn a_key_is_decided_within_the_bounds_its_options_give() {
        let operations = search::tests::writes_read_back(600);
        let operations: Vec<&Operation> = operations.iter().collect();
        let model = Register::new(Kind::Kv);
        let decide = |options: Options| decide_key(&model, None, &operations, options);
        let generous = decide(Options { timeout: Some(Duration::from_secs(3600)), ..Options::default() });
        assert_eq!((generous.verdict, generous.reason), (Verdict::Linearizable, None));
        assert_eq!(generous.operations, 1_200);
        let past = decide(Options { timeout: Some(Duration::ZERO), ..Options::default() });
        assert_eq!(past.verdict, Verdict::Inconclusive);
        assert_eq!(past.reason.as_deref(), Some("time limit reached after 1025 search steps"));
        let small = decide(Options { memo_entries_max: 1_024, ..Options::default() });
        assert_eq!(small.verdict, Verdict::Inconclusive);
        assert_eq!(
            small.reason.as_deref(),
            Some("configuration limit reached: 1024 configurations memoised")
        );
    }

    fn suggestion(events: &[(u32, &str, &str, &str, &str)]) -> Option<String> {
        let model = Register::new(Kind::Kv);
        let history = history(events);
        let report = check(&model, &history, Options { explain: false, ..Options::default() });
        absent_suggestion(&model, &history, &report, Options::default())
    }

    #[test]
    fn another_absent_value_is_suggested_only_where_it_turns_a_verdict() {
        let read =
            |process, value| [(process, "invoke", "read", "k", "null"), (process, "ok", "read", "k", value)];
        let write =
            |process, value| [(process, "invoke", "write", "k", value), (process, "ok", "write", "k", value)];
        let cas = |process, pair| [(process, "invoke", "cas", "k", pair), (process, "ok", "cas", "k", pair)];
        let note = |value: &str, flag: &str| {
            format!(
                "1 of the 1 keys that are not linearizable are linearizable if a key never written reads as {value} \
                 (their reads or cas operations observe {value}): if this system returns {value} for \
                 absent keys, check with --absent {flag}"
            )
        };
        // A read of "" before the only write.
        let empty = [read(0, "\"\""), write(1, "\"a\""), read(0, "\"a\"")].concat();
        assert_eq!(suggestion(&empty), Some(note("\"\"", "\"\"")));
        // 0, and [], are named as JSON on the command line.
        let zero = [read(0, "0"), write(1, "5")].concat();
        assert_eq!(suggestion(&zero), Some(note("0", "'0'")));
        assert_eq!(suggestion(&[read(0, "[]"), write(1, "[1]")].concat()), Some(note("[]", "'[]'")));
        // A cas that found "" in a key never written observes it as a read does.
        let found = [cas(0, "[\"\", \"b\"]"), read(1, "\"b\"")].concat();
        assert_eq!(suggestion(&found), Some(note("\"\"", "\"\"")));
        // A value the key writes too: a read of it before its first write can only be the
        // absent value.
        let early = [read(0, "\"\""), write(1, "\"\""), write(1, "\"a\""), read(0, "\"a\"")].concat();
        assert_eq!(suggestion(&early), Some(note("\"\"", "\"\"")));
        // Its twins. Written by the key itself (a write, or a cas to it) and read after a later
        // write completed: a stale read with either absent value.
        let written = [write(1, "\"\""), write(1, "\"a\""), read(0, "\"\"")].concat();
        assert_eq!(suggestion(&written), None);
        let cas_to = [cas(1, "[\"a\", \"\"]"), write(1, "\"a\""), read(0, "\"\"")].concat();
        assert_eq!(suggestion(&cas_to), None);
        // Observed, but the key fails with it too: a read of "" after a write completed.
        let stale = [write(1, "\"a\""), read(0, "\"\"")].concat();
        assert_eq!(suggestion(&stale), None);
        // Not linearizable for another reason, and "" observed nowhere.
        let other = [write(1, "\"a\""), read(0, "\"b\"")].concat();
        assert_eq!(suggestion(&other), None);
        // Nothing fails.
        assert_eq!(suggestion(&[write(1, "\"a\""), read(0, "\"a\"")].concat()), None);
    }
}
