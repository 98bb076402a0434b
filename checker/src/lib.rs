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
pub mod value;

use history::{History, Operation};
use model::Model;
use search::{Limits, Outcome};
use std::collections::BTreeMap;
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
    /// Time bound per key.
    pub timeout: Option<Duration>,
    /// Memo bound per key (configurations).
    pub memo_entries_max: usize,
    /// Explain violations (minimal set, partial linearization, words).
    pub explain: bool,
    /// Time for minimising each violation's explanation (`None`: the per-key `timeout`, or 10 s);
    /// past it the explanation says it is not minimal.
    pub explain_timeout: Option<Duration>,
    /// Threads checking keys in parallel.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: None,
            memo_entries_max: Limits::default().memo_entries_max,
            explain: true,
            explain_timeout: None,
            threads: 1,
        }
    }
}

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

/// Checks `history` under `model`.
pub fn check<M: Model>(model: &M, history: &History, options: Options) -> Report {
    let started = Instant::now();
    let partitions: Vec<(Option<String>, Vec<&Operation>)> = partition(model, history).into_iter().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(partitions.len()));
    let worker = || loop {
        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some((key, operations)) = partitions.get(index) else { break };
        let result = check_key(model, key.clone(), operations, options);
        results.lock().expect("no worker panics while holding the lock").push((index, result));
    };
    let threads = options.threads.clamp(1, partitions.len().max(1));
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(worker);
            }
        });
    }
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

/// Checks one key's operations.
pub fn check_key<M: Model>(
    model: &M,
    key: Option<String>,
    operations: &[&Operation],
    options: Options,
) -> KeyResult {
    let started = Instant::now();
    let limits = Limits {
        deadline: options.timeout.map(|timeout| started + timeout),
        memo_entries_max: options.memo_entries_max,
        unknown_reusable: false,
    };
    let outcome = search::search(model, operations, limits);
    let elapsed = started.elapsed();
    let mut result = KeyResult {
        key,
        operations: operations.len(),
        verdict: Verdict::Linearizable,
        reason: None,
        explanation: None,
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
            if options.explain {
                // Past its budget, the explanation says it is not minimal.
                let budget = options.explain_timeout.or(options.timeout).unwrap_or(Duration::from_secs(10));
                result.explanation = Some(explain::explain(model, operations, &stuck, budget));
            }
        }
    }
    result
}
