//! Key-value histories with appends: Porcupine's recorded histories get their published verdicts
//! (with the absent value they need, and a suggestion of it without), the reads' inference agrees
//! with the plain search and a brute force on generated histories, and every explanation shown is
//! a real partial linearization of its history.

mod common;

use checker::format::{self, Format};
use checker::history::{Event, EventType, Function, History, Operation};
use checker::model::{Kind, Model, Register};
use checker::search::{search, Limits, Outcome};
use checker::value::Value;
use checker::versions::Shown;
use checker::{absent_suggestion, check, explain, partition, Options, Verdict};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

fn porcupine(name: &str) -> History {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/porcupine-kv").join(name);
    let text = std::fs::read_to_string(&path).expect("the Porcupine histories are tracked");
    let (events, _) = format::parse(&text, Format::Auto).expect("parses");
    History::from_events(&events).expect("pairs")
}

fn empty() -> Value {
    Value::Str(String::new())
}

/// Every explanation of `report` is checked against its key's operations by the independent
/// validation, and its words fit appends.
fn assert_explanations_hold(model: &Register, history: &History, report: &checker::Report, context: &str) {
    let partitions = partition(model, history);
    for key in &report.keys {
        if key.verdict != Verdict::NotLinearizable {
            continue;
        }
        let explanation =
            key.explanation.as_ref().unwrap_or_else(|| panic!("{context}: {:?} unexplained", key.key));
        let operations = &partitions[&key.key];
        let error = explain::partial_linearization_error(
            model,
            operations,
            &explanation.partial,
            explanation.blocked,
        );
        assert_eq!(error, None, "{context}: key {:?}: {}", key.key, explanation.words);
        let owned: Vec<Operation> = operations.iter().map(|operation| (*operation).clone()).collect();
        if let Err(error) = common::words_hold(model, &owned, explanation, 9) {
            panic!("{context}: key {:?}: {error}: {}", key.key, explanation.words);
        }
        assert!(!explanation.core.is_empty(), "{context}: an empty set explains nothing");
        if operations.iter().any(|operation| operation.f == Function::Append) {
            assert!(!explanation.words.contains("no operation wrote"), "{context}: {}", explanation.words);
        }
    }
}

#[test]
fn porcupine_kv_histories_get_their_published_verdicts() {
    let model = Register::new(Kind::Kv).with_absent(empty());
    for (name, expected) in [
        ("c01-ok.txt", Verdict::Linearizable),
        ("c01-bad.txt", Verdict::NotLinearizable),
        ("c10-ok.txt", Verdict::Linearizable),
        ("c10-bad.txt", Verdict::NotLinearizable),
        ("c50-ok.txt", Verdict::Linearizable),
        ("c50-bad.txt", Verdict::NotLinearizable),
    ] {
        let history = porcupine(name);
        let report = check(&model, &history, Options::default());
        assert_eq!(report.verdict, expected, "{name}");
        assert!(
            report.keys.iter().all(|key| key.verdict != Verdict::Inconclusive),
            "{name}: every key decided"
        );
        assert_explanations_hold(&model, &history, &report, name);
    }
}

#[test]
fn a_read_that_misses_a_completed_append_is_explained_in_words_of_appends() {
    let model = Register::new(Kind::Kv).with_absent(empty());
    let history = porcupine("c01-bad.txt");
    let report = check(&model, &history, Options::default());
    let key = report.keys.iter().find(|key| key.verdict == Verdict::NotLinearizable).expect("a violation");
    let explanation = key.explanation.as_ref().expect("explained");
    assert_eq!(
        explanation.words,
        "read of 7 returned \"x 0 0 y\" (process 0, line 59), which does not show append 7 \"x 0 3 y\" \
         (process 0, line 55), completed before the read was invoked and since the start"
    );
    assert!(explanation.minimal);
    assert_eq!(explanation.core.len(), 2, "the read and the append it misses");
}

#[test]
fn a_read_of_appends_is_explained_by_what_its_value_shows_against_real_time() {
    let model = Register::new(Kind::Kv).with_absent(empty());
    let explain = |lines: &[&str]| {
        let text = common::edn(lines, Some("k"));
        let (events, _) = format::parse(&text, Format::Auto).expect("parses");
        let history = History::from_events(&events).expect("pairs");
        let report = check(&model, &history, Options::default());
        assert_explanations_hold(&model, &history, &report, &text);
        report.keys[0].explanation.clone().expect("explained")
    };
    // The read shows an append invoked after it completed (one of unknown outcome, so that no
    // shorter prefix of the history leaves it out).
    let late = explain(&[
        "0 invoke write \"x.\"",
        "0 ok write \"x.\"",
        "1 invoke read nil",
        "1 ok read \"x.a.\"",
        "0 invoke append \"a.\"",
        "0 info append \"a.\"",
    ]);
    assert_eq!(
        late.words,
        "read of k returned \"x.a.\" (process 1, line 3), which shows append k \"a.\" (outcome unknown) \
         (process 0, line 5), invoked only after the read completed"
    );
    assert_eq!(late.core, [1], "the read alone");
    // The read shows "b." on "x." and misses "a.", invoked after the write of "x." completed and
    // completed before the read: it stands between them, whatever the order of the rest.
    let missed = explain(&[
        "0 invoke write \"x.\"",
        "0 ok write \"x.\"",
        "2 invoke append \"b.\"",
        "0 invoke append \"a.\"",
        "0 ok append \"a.\"",
        "1 invoke read nil",
        "1 ok read \"x.b.\"",
        "2 ok append \"b.\"",
    ]);
    assert_eq!(
        missed.words,
        "read of k returned \"x.b.\" (process 1, line 6), which does not show append k \"a.\" (process 0, \
         line 4), completed before the read was invoked and since write k \"x.\""
    );
    assert_eq!(missed.core, [0, 2, 3], "the write, the append missed and the read");
    assert!(late.minimal && missed.minimal);
}

#[test]
fn a_read_that_misses_an_append_nothing_could_replace_is_explained_so_with_deletes_about() {
    // Two deletes write the same absent value, so the read has no version to explain it by; what
    // explains it is that both deletes (and the put) completed before the append of "a." was
    // invoked: nothing could take "a." out before the read.
    let lines = |last_read: &str| {
        format!(
            "{{:process 2 :type :invoke :f :put :key \"k\" :value \"p.\"}}
{{:process 2 :type :ok :f :put :key \"k\" :value \"p.\"}}
{{:process 2 :type :invoke :f :delete :key \"k\" :value nil}}
{{:process 2 :type :ok :f :delete :key \"k\" :value nil}}
{{:process 0 :type :invoke :f :get :key \"k\" :value nil}}
{{:process 1 :type :invoke :f :delete :key \"k\" :value nil}}
{{:process 0 :type :ok :f :get :key \"k\" :value \"\"}}
{{:process 1 :type :ok :f :delete :key \"k\" :value nil}}
{{:process 0 :type :invoke :f :append :key \"k\" :value \"a.\"}}
{{:process 2 :type :invoke :f :append :key \"k\" :value \"b.\"}}
{{:process 2 :type :ok :f :append :key \"k\" :value \"b.\"}}
{{:process 0 :type :ok :f :append :key \"k\" :value \"a.\"}}
{{:process 0 :type :invoke :f :get :key \"k\" :value nil}}
{{:process 0 :type :ok :f :get :key \"k\" :value \"{last_read}\"}}
"
        )
    };
    let model = Register::new(Kind::Kv).with_absent(empty());
    let explain = |text: &str| {
        let (events, _) = format::parse(text, Format::Auto).expect("parses");
        let history = History::from_events(&events).expect("pairs");
        let report = check(&model, &history, Options::default());
        assert_explanations_hold(&model, &history, &report, text);
        report.keys[0].explanation.clone().expect("explained")
    };
    let missed = explain(&lines("b."));
    assert_eq!(
        missed.words,
        "read of k returned \"b.\" (process 0, line 13), which does not show append k \"a.\" (process 0, \
         line 9), completed before the read was invoked, and nothing that replaces the value could take \
         effect between them"
    );
    assert_eq!(missed.core, [1, 3, 4, 6], "the deletes, the append and the read");
    assert!(missed.minimal);
    // A value no order builds names every kind of operation that changes the key.
    let unbuilt = explain(&lines("c."));
    assert_eq!(
        unbuilt.words,
        "read of k returned \"c.\" (process 0, line 13), which no sequence of this key's writes, deletes \
         and appends builds"
    );
    // With the second delete still running when the read completes, it could take "a." out: the
    // history is linearizable (a., the delete, b., the read).
    let late = lines("b.").replace("{:process 1 :type :ok :f :delete :key \"k\" :value nil}\n", "")
        + "{:process 1 :type :ok :f :delete :key \"k\" :value nil}\n";
    let (events, _) = format::parse(&late, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    assert_eq!(check(&model, &history, Options::default()).verdict, Verdict::Linearizable);
}

#[test]
fn a_read_that_misses_an_append_an_earlier_read_showed_is_explained_so_naming_it_as_the_history_has_it() {
    // The append of "a2." is still running when both reads complete (so no read had to show it),
    // but the first read showed it and completed before the second was invoked. The shortest
    // violating prefix ends before the append completes; the words name it as the history has it
    // (completed), not as the prefix does (outcome unknown).
    let text = "{:process 0 :type :invoke :f :append :key \"k\" :value \"a1.\"}
{:process 0 :type :ok :f :append :key \"k\" :value \"a1.\"}
{:process 1 :type :invoke :f :append :key \"k\" :value \"a2.\"}
{:process 2 :type :invoke :f :get :key \"k\" :value nil}
{:process 2 :type :ok :f :get :key \"k\" :value \"a1.a2.\"}
{:process 3 :type :invoke :f :get :key \"k\" :value nil}
{:process 3 :type :ok :f :get :key \"k\" :value \"a1.\"}
{:process 1 :type :ok :f :append :key \"k\" :value \"a2.\"}
";
    let (events, _) = format::parse(text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let model = Register::new(Kind::Kv).with_absent(empty());
    let report = check(&model, &history, Options::default());
    assert_explanations_hold(&model, &history, &report, text);
    let explanation = report.keys[0].explanation.as_ref().expect("explained");
    assert_eq!(
        explanation.words,
        "read of k returned \"a1.\" (process 3, line 6), which does not show append k \"a2.\" (process 1, \
         line 3), although read of k (process 2, line 4) showed it and completed before this read was invoked"
    );
    assert_eq!(explanation.core, [2, 3], "the two reads");
    assert!(explanation.minimal);
}

#[test]
fn without_the_absent_value_the_flag_is_suggested() {
    let history = porcupine("c10-ok.txt");
    let model = Register::new(Kind::Kv);
    let report = check(&model, &history, Options::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable, "a get of a key never written returned \"\"");
    let suggestion = absent_suggestion(&model, &history, &report, Options::default()).expect("a suggestion");
    assert!(suggestion.contains("--absent \"\""), "{suggestion}");
    // Its twins: nothing to suggest once the flag is given, nor where no verdict hinges on it.
    let with = Register::new(Kind::Kv).with_absent(empty());
    let bad = porcupine("c10-bad.txt");
    let report = check(&with, &bad, Options::default());
    assert_eq!(absent_suggestion(&with, &bad, &report, Options::default()), None);
    let stale = "{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"key\": \"x\", \"value\": 1}\n\
                 {\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"key\": \"x\", \"value\": 1}\n\
                 {\"process\": 1, \"type\": \"invoke\", \"f\": \"read\", \"key\": \"x\", \"value\": null}\n\
                 {\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"key\": \"x\", \"value\": null}\n";
    let (events, _) = format::parse(stale, Format::Auto).expect("parses");
    let stale = History::from_events(&events).expect("pairs");
    let report = check(&model, &stale, Options::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert_eq!(absent_suggestion(&model, &stale, &report, Options::default()), None);
}

#[test]
fn the_memory_bound_ends_a_search_with_an_inconclusive_verdict_naming_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jepsen-etcd/etcd_002.log");
    let text = std::fs::read_to_string(path).expect("tracked");
    let (events, _) = format::parse(&text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let options = Options { memory_bytes_max: 16 * 1024, ..Options::default() };
    let report = check(&Register::new(Kind::CasRegister), &history, options);
    assert_eq!(report.verdict, Verdict::Inconclusive);
    let reason = report.keys[0].reason.as_deref().expect("a reason");
    assert!(reason.starts_with("memory limit reached"), "{reason}");
}

#[test]
fn the_validation_rejects_a_partial_linearization_against_real_time() {
    // Two appends of one process, the second invoked after the first completed: placing the
    // second first is what no linearization can do.
    let text = "{:process 0, :type :invoke, :f :append, :key \"k\", :value \"a\"}\n\
                {:process 0, :type :ok, :f :append, :key \"k\", :value \"a\"}\n\
                {:process 0, :type :invoke, :f :append, :key \"k\", :value \"b\"}\n\
                {:process 0, :type :ok, :f :append, :key \"k\", :value \"b\"}\n\
                {:process 1, :type :invoke, :f :get, :key \"k\", :value nil}\n\
                {:process 1, :type :ok, :f :get, :key \"k\", :value \"ba\"}\n";
    let (events, _) = format::parse(text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let model = Register::new(Kind::Kv).with_absent(empty());
    let operations: Vec<&Operation> = history.operations.iter().collect();
    let error = explain::partial_linearization_error(&model, &operations, &[1, 0], 2);
    assert_eq!(error.as_deref(), Some("#0 is placed after #1, but completed before it was invoked"));
    assert_eq!(explain::partial_linearization_error(&model, &operations, &[0, 1], 2), None);
    assert!(explain::partial_linearization_error(&model, &operations, &[1], 2).is_some(), "#0 is missing");
    let report = check(&model, &history, Options::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let words = &report.keys[0].explanation.as_ref().expect("explained").words;
    assert_eq!(
        words,
        "read of k returned \"ba\" (process 1, line 5), which shows append k \"b\" (process 0, line 3) before \
         append k \"a\" (process 0, line 1), but the second completed before the first was invoked"
    );
}

/// A random key-value history over keys `k0`..: `processes` closed-loop clients against a store
/// that applies each operation at a random instant within it (gets, puts of unique values,
/// deletes, appends of unique pieces); with probability `bug` a get returns the value before the latest
/// change; each outcome unknown with probability `unknown` (taking effect or not).
fn random_history(
    seed: u64,
    processes: usize,
    operations: usize,
    keys: usize,
    bug: f64,
    unknown: f64,
) -> Vec<Event> {
    let mut rng = SmallRng::seed_from_u64(seed);
    struct Planned {
        process: usize,
        key: usize,
        f: &'static str,
        input: Value,
        invoke: u64,
        complete: u64,
        effect: Option<u64>,
        unknown: bool,
    }
    let mut planned = Vec::new();
    let mut clock = vec![0u64; processes];
    let mut process_name: Vec<usize> = (0..processes).collect();
    let mut next_name = processes;
    for number in 0..operations {
        let client = rng.random_range(0..processes);
        let invoke = clock[client] + rng.random_range(1..20);
        let latency = rng.random_range(1..60);
        let unknown = rng.random_bool(unknown);
        let effect = (!unknown || rng.random_bool(0.5)).then(|| invoke + rng.random_range(0..latency));
        let (f, input) = match rng.random_range(0..12) {
            0..4 => ("get", Value::Nil),
            4..5 => ("put", Value::Str(format!("p{number}."))),
            5..6 => ("delete", Value::Nil),
            _ => ("append", Value::Str(format!("a{number}."))),
        };
        let complete = if unknown { invoke + 500 } else { invoke + latency };
        planned.push(Planned {
            process: process_name[client],
            key: rng.random_range(0..keys),
            f,
            input,
            invoke,
            complete,
            effect,
            unknown,
        });
        clock[client] = complete;
        if unknown {
            process_name[client] = next_name;
            next_name += 1;
        }
    }
    let mut order: Vec<usize> = (0..planned.len()).filter(|&index| planned[index].effect.is_some()).collect();
    order.sort_by_key(|&index| planned[index].effect);
    let mut state = vec![String::new(); keys];
    let mut before = vec![String::new(); keys];
    let mut read = vec![None; planned.len()];
    for index in order {
        let operation = &planned[index];
        let key = operation.key;
        if operation.f == "get" {
            let seen = if rng.random_bool(bug) { before[key].clone() } else { state[key].clone() };
            read[index] = Some(seen);
            continue;
        }
        before[key] = state[key].clone();
        match (operation.f, &operation.input) {
            ("put", Value::Str(input)) => state[key] = input.clone(),
            ("append", Value::Str(input)) => state[key].push_str(input),
            // A delete: the key reads as "" again.
            _ => state[key].clear(),
        }
    }
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for (index, operation) in planned.iter().enumerate() {
        events.push((operation.invoke, false, index));
        events.push((operation.complete, true, index));
    }
    events.sort();
    events
        .into_iter()
        .enumerate()
        .map(|(line, (_, completion, index))| {
            let operation = &planned[index];
            let (kind, value) = match (completion, operation.unknown) {
                (false, _) => (EventType::Invoke, operation.input.clone()),
                (true, true) => (EventType::Info, operation.input.clone()),
                (true, false) => match &read[index] {
                    Some(seen) => (EventType::Ok, Value::Str(seen.clone())),
                    None => (EventType::Ok, operation.input.clone()),
                },
            };
            Event {
                process: operation.process.to_string(),
                kind,
                f: operation.f.to_string(),
                key: Some(format!("k{}", operation.key)),
                value,
                time: None,
                line: line + 1,
            }
        })
        .collect()
}

fn seeds(default: u64) -> u64 {
    std::env::var("CHECKER_SEEDS").ok().and_then(|text| text.parse().ok()).unwrap_or(default)
}

/// The verdict with the reads' inference, without it, and (on small keys) by brute force agree
/// on random histories, and every explanation holds.
fn agree(test: &str, seeds: u64, processes: usize, operations: usize, keys: usize, bug: f64, unknown: f64) {
    let model = Register::new(Kind::Kv).with_absent(empty());
    let mut verdicts = [0usize; 2];
    for seed in 0..seeds {
        let reproduce =
            format!("REPRODUCE WITH: CHECKER_SEEDS={} cargo test -p checker --test kv {test}", seed + 1);
        let events = random_history(seed, processes, operations, keys, bug, unknown);
        let history = History::from_events(&events).expect("generated histories pair");
        for (key, operations) in partition(&model, &history) {
            let inferred = search(&model, &operations, Limits::default());
            let plain = search(
                &model,
                &operations,
                Limits { infer: false, memo_entries_max: 2_000_000, ..Limits::default() },
            );
            let linearizable = |outcome: &Outcome| match outcome {
                Outcome::Linearizable(_) => Some(true),
                Outcome::NotLinearizable(_) => Some(false),
                Outcome::Inconclusive(_) => None,
            };
            let (inferred, plain) = (linearizable(&inferred), linearizable(&plain));
            assert!(inferred.is_some(), "seed {seed} key {key:?}: undecided with the inference\n{reproduce}");
            if plain.is_some() {
                assert_eq!(
                    inferred, plain,
                    "seed {seed} key {key:?}: the inference changed the verdict\n{reproduce}"
                );
            }
            if operations.len() <= 9 {
                let owned: Vec<Operation> = operations.iter().map(|operation| (*operation).clone()).collect();
                let brute = common::brute_force(&model, &owned);
                assert_eq!(
                    inferred,
                    Some(brute),
                    "seed {seed} key {key:?}: the brute force disagrees\n{reproduce}"
                );
            }
            verdicts[usize::from(inferred == Some(true))] += 1;
        }
        let report = check(
            &model,
            &history,
            Options { explain_timeout: Some(std::time::Duration::from_secs(5)), ..Options::default() },
        );
        assert_explanations_hold(&model, &history, &report, &format!("seed {seed}\n{reproduce}"));
        // On small keys, every explanation's set is confirmed by the brute force: not
        // linearizable, and (when it says it is minimal) linearizable again once any one of its
        // operations is relaxed.
        for key in &report.keys {
            let Some(explanation) = &key.explanation else { continue };
            let owned: Vec<Operation> =
                history.operations.iter().filter(|operation| operation.key == key.key).cloned().collect();
            if owned.len() > 9 {
                continue;
            }
            let core = &explanation.core;
            assert!(
                !common::brute_force(&model, &common::relaxed(&owned, core)),
                "seed {seed} key {:?}: the set {core:?} can be linearized\n{reproduce}",
                key.key
            );
            if explanation.minimal {
                for &dropped in core {
                    let smaller: Vec<usize> = core.iter().copied().filter(|&id| id != dropped).collect();
                    assert!(
                        common::brute_force(&model, &common::relaxed(&owned, &smaller)),
                        "seed {seed} key {:?}: the set {core:?} is not minimal, {dropped} can be relaxed\n{reproduce}",
                        key.key
                    );
                }
            }
        }
    }
    eprintln!("{test}: {seeds} histories, keys linearizable {} and not {}", verdicts[1], verdicts[0]);
    assert!(verdicts[0] > 0 && verdicts[1] > 0, "both verdicts are exercised: {verdicts:?}");
}

#[test]
fn the_inference_agrees_with_the_search_and_a_brute_force_on_small_histories() {
    agree(
        "the_inference_agrees_with_the_search_and_a_brute_force_on_small_histories",
        seeds(1500),
        3,
        16,
        2,
        0.1,
        0.15,
    );
}

#[test]
fn the_inference_agrees_with_the_search_on_many_clients() {
    agree("the_inference_agrees_with_the_search_on_many_clients", seeds(60), 12, 160, 2, 0.02, 0.05);
}

#[test]
fn a_read_of_the_absent_value_after_a_delete_read_the_delete() {
    // The reads' inference must count a delete as a write of the absent value: else a read of it
    // names the initial state as its version, and the put that completed before it could never
    // have happened.
    let text = "{:process 0 :type :invoke :f :put :key \"k\" :value \"a\"}\n\
                {:process 0 :type :ok :f :put :key \"k\" :value \"a\"}\n\
                {:process 0 :type :invoke :f :delete :key \"k\" :value nil}\n\
                {:process 0 :type :ok :f :delete :key \"k\" :value nil}\n\
                {:process 1 :type :invoke :f :get :key \"k\" :value nil}\n\
                {:process 1 :type :ok :f :get :key \"k\" :value \"\"}\n\
                {:process 1 :type :invoke :f :append :key \"k\" :value \"b\"}\n\
                {:process 1 :type :ok :f :append :key \"k\" :value \"b\"}\n\
                {:process 0 :type :invoke :f :get :key \"k\" :value nil}\n\
                {:process 0 :type :ok :f :get :key \"k\" :value \"b\"}\n";
    let (events, _) = format::parse(text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let model = Register::new(Kind::Kv).with_absent(empty());
    let operations: Vec<&Operation> = history.operations.iter().collect();
    for infer in [true, false] {
        let outcome = search(&model, &operations, Limits { infer, ..Limits::default() });
        assert_eq!(outcome, Outcome::Linearizable(vec![0, 1, 2, 3, 4]), "infer {infer}");
    }
}

#[test]
fn states_no_read_can_see_are_searched_from_once() {
    // Key k0 (84 operations: gets, puts, deletes and appends, some of unknown outcome, and a
    // stale read) took more than 1,000,000 configurations to decide while every string the
    // appends built was its own configuration; most of them begin no value read, and are one.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/appends-deletes.edn");
    let text = std::fs::read_to_string(&path).expect("tracked");
    let (events, _) = format::parse(&text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let model = Register::new(Kind::Kv).with_absent(empty());
    let report = check(
        &model,
        &history,
        Options {
            memo_entries_max: 1_000,
            explain_timeout: Some(std::time::Duration::from_secs(60)),
            ..Options::default()
        },
    );
    let verdicts: Vec<(Option<&str>, usize, Verdict)> =
        report.keys.iter().map(|key| (key.key.as_deref(), key.operations, key.verdict)).collect();
    assert_eq!(
        verdicts,
        [(Some("k0"), 84, Verdict::NotLinearizable), (Some("k1"), 75, Verdict::Linearizable)]
    );
    let explanation = report.keys[0].explanation.as_ref().expect("explained");
    assert!(explanation.minimal, "{explanation:?}");
    assert_explanations_hold(&model, &history, &report, "appends-deletes.edn");
}

#[test]
fn what_a_read_shows_is_the_one_way_its_value_was_built() {
    // One process, one operation after another: a put of "w", appends of "a", "ab", "c", "d" and
    // "e", then reads.
    let mut text = String::new();
    for (f, value) in
        [("put", "w"), ("append", "a"), ("append", "ab"), ("append", "c"), ("append", "d"), ("append", "e")]
    {
        for kind in ["invoke", "ok"] {
            text.push_str(&format!("{{:process 0 :type :{kind} :f :{f} :key \"k\" :value \"{value}\"}}\n"));
        }
    }
    for value in ["wabc", "wabcd", "e", "zz", ""] {
        text.push_str("{:process 0 :type :invoke :f :get :key \"k\" :value nil}\n");
        text.push_str(&format!("{{:process 0 :type :ok :f :get :key \"k\" :value \"{value}\"}}\n"));
    }
    let (events, _) = format::parse(&text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let operations: Vec<&Operation> = history.operations.iter().collect();
    let versions = checker::versions::Versions::new(&operations, &Value::Nil);
    let built = |base: Option<usize>, appends: &[usize]| Shown::Built { base, appends: appends.to_vec() };
    // "w" then "ab" then "c": the split "a" + "bc" leads nowhere.
    assert_eq!(versions.shown(6), built(Some(0), &[2, 3]));
    assert_eq!(versions.shown(7), built(Some(0), &[2, 3, 4]), "and the append shown after them");
    assert_eq!(versions.shown(8), built(None, &[5]), "appended to nothing");
    assert_eq!(versions.shown(9), Shown::Unbuildable, "nothing builds \"zz\"");
    assert_eq!(
        versions.shown(10),
        Shown::Unbuildable,
        "nothing reads as \"\" where a key never written is nil"
    );
    assert_eq!(versions.shown(0), Shown::Unknown, "not a read");

    // Lists: a written list, then one element per append; appending to nothing makes a list only
    // of an element that is not a string.
    let shown = |lines: &[(&str, &str)], read: usize| {
        let text: String = lines
            .iter()
            .flat_map(|(f, value)| {
                ["invoke", "ok"].map(|kind| {
                    let value = if *f == "get" && kind == "invoke" { "nil" } else { value };
                    format!("{{:process 0 :type :{kind} :f :{f} :key \"k\" :value {value}}}\n")
                })
            })
            .collect();
        let (events, _) = format::parse(&text, Format::Auto).expect("parses");
        let history = History::from_events(&events).expect("pairs");
        let operations: Vec<&Operation> = history.operations.iter().collect();
        checker::versions::Versions::new(&operations, &Value::Nil).shown(read)
    };
    let lists = [
        ("put", "[1]"),
        ("append", "2"),
        ("append", "3"),
        ("append", "\"s\""),
        ("get", "[1 2 3]"),
        ("put", "[9]"),
    ];
    assert_eq!(shown(&lists, 4), built(Some(0), &[1, 2]));
    assert_eq!(shown(&[("append", "4"), ("get", "[4]")], 1), built(None, &[0]));
    assert_eq!(shown(&[("append", "\"s\""), ("get", "[\"s\"]")], 1), Shown::Unbuildable);
    // Pieces of several bytes are split only at characters.
    let text = [("append", "\"é\""), ("append", "\"x\""), ("get", "\"éx\"")];
    assert_eq!(shown(&text, 2), built(None, &[0, 1]));
}

#[test]
fn the_model_appends_and_puts_as_the_service_does() {
    let model = Register::new(Kind::Kv).with_absent(empty());
    let append = |piece: &str| Operation {
        id: 0,
        process: "0".into(),
        f: Function::Append,
        key: None,
        input: Value::Str(piece.into()),
        output: Value::Nil,
        call: 0,
        ret: Some(1),
        status: checker::history::Status::Ok,
        call_line: 1,
        ret_line: Some(2),
        call_time: None,
        ret_time: None,
    };
    assert_eq!(model.init(), empty());
    assert_eq!(model.step(&empty(), &append("a")), Some(Value::Str("a".into())));
    assert_eq!(model.step(&Value::Str("a".into()), &append("b")), Some(Value::Str("ab".into())));
}

/// Found by the `history` fuzz target: an EDN operation whose `:type` was a string spanning lines
/// was refused with an error that spanned them too. Errors name what they read escaped, on one
/// line, in every reader.
#[test]
fn a_type_that_spans_lines_is_refused_in_one_line() {
    let text = "{:type \"jepsen\n:ok\", :f :write, :value 1, :process 0, :time 1}\n";
    let error = format::parse(text, Format::Edn).expect_err("refused").to_string();
    assert!(!error.contains('\n'), "one line: {error}");
    assert!(error.contains(r#"type ":jepsen\n:ok""#), "{error}");
}

/// Found by the `history` fuzz target (in the corpus test's smaller stack): `[[[[...` nested a few
/// thousand levels overflowed the stack of the EDN reader. Deeper than 128 levels is refused, in
/// one line; the console-log reader refuses the same value in one line too.
#[test]
fn forms_nested_thousands_deep_are_refused_not_a_stack_overflow() {
    let deep =
        format!("{{:type :ok, :f :write, :value {}1{}, :process 0}}\n", "[".repeat(5000), "]".repeat(5000));
    let error = format::parse(&deep, Format::Edn).expect_err("refused").to_string();
    assert!(error.contains("nested deeper than 128 levels") && !error.contains('\n'), "{error}");
    let log = format!("INFO  jepsen.util - 0\t:ok\t:write\t{}1{}\n", "[".repeat(5000), "]".repeat(5000));
    let error = format::parse(&log, Format::JepsenLog).expect_err("refused").to_string();
    assert!(!error.contains('\n'), "{error}");
}

/// A history written as Jepsen EDN reads back as the same events, whatever its strings hold.
#[test]
fn a_history_written_as_edn_reads_back_the_same() {
    let jsonl = r#"{"process": 0, "type": "invoke", "f": "write", "key": "k \"1\"", "value": "a\\b\nc", "time": 10}
{"process": 0, "type": "ok", "f": "write", "key": "k \"1\"", "value": "a\\b\nc", "time": 20}
{"process": 1, "type": "invoke", "f": "cas", "key": "k2", "value": [null, "x"], "time": 30}
{"process": 1, "type": "fail", "f": "cas", "key": "k2", "value": [null, "x"], "time": 40}
{"process": 2, "type": "invoke", "f": "read", "key": "k2", "value": null}
{"process": 2, "type": "info", "f": "read", "key": "k2", "value": null}
"#;
    let events = checker::format::jsonl::parse(jsonl).expect("jsonl");
    let edn = checker::format::edn::write(&events);
    assert_eq!(edn.lines().count(), 6, "{edn}");
    assert!(
        edn.starts_with("{:index 0, :type :invoke, :f :write, :process 0, :key \"k \\\"1\\\"\""),
        "{edn}"
    );
    let again = checker::format::edn::parse(&edn).expect("the EDN reads back");
    let without_lines = |events: &[checker::history::Event]| {
        events.iter().map(|event| checker::history::Event { line: 0, ..event.clone() }).collect::<Vec<_>>()
    };
    assert_eq!(without_lines(&again), without_lines(&events));
    let history = History::from_events(&again).expect("pairs");
    assert_eq!(
        (history.events, history.operations.len(), history.failed),
        (6, 2, 1),
        "events read; the write and the read of unknown outcome; the failed cas, left out"
    );
}

/// What the reads' inference is for: on Porcupine's 50-client histories it decides keys, both
/// verdicts, within a configuration bound at which the search without it gives up. (The agreement
/// tests show it never changes a verdict; this shows it does something.)
#[test]
fn the_reads_inference_decides_keys_within_a_bound_the_plain_search_cannot() {
    let model = Register::new(Kind::Kv).with_absent(empty());
    for (name, key, memo, verdict) in
        [("c50-ok.txt", "0", 1_000, "linearizable"), ("c50-bad.txt", "0", 10_000, "not")]
    {
        let history = porcupine(name);
        let partitions = partition(&model, &history);
        let operations = &partitions[&Some(key.to_string())];
        let outcome = |infer| match search(
            &model,
            operations,
            Limits { infer, memo_entries_max: memo, ..Limits::default() },
        ) {
            Outcome::Linearizable(_) => "linearizable".to_string(),
            Outcome::NotLinearizable(_) => "not".to_string(),
            Outcome::Inconclusive(reason) => reason,
        };
        assert_eq!(outcome(true), verdict, "{name} key {key}");
        let plain = outcome(false);
        assert!(plain.starts_with("configuration limit reached"), "{name} key {key}: {plain}");
    }
}
