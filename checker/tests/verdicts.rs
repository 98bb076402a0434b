//! Verdicts: the Jepsen etcd corpus, hand-written anomalies, and a brute-force oracle on random
//! small histories.

mod common;

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
use checker::{check, Options, Verdict};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn verdict_of(text: &str, kind: Kind) -> (Verdict, checker::Report, History) {
    verdict_with(text, kind, Options::default())
}

fn verdict_with(text: &str, kind: Kind, options: Options) -> (Verdict, checker::Report, History) {
    let (events, _) = format::parse(text, Format::Auto).expect("parses");
    let history = History::from_events(&events).expect("pairs");
    let report = check(&Register::new(kind), &history, options);
    (report.verdict, report, history)
}

#[test]
fn jepsen_etcd_corpus_matches_known_verdicts() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jepsen-etcd");
    let verdicts = std::fs::read_to_string(directory.join("VERDICTS.tsv"))
        .expect("checker/tests/data/jepsen-etcd/VERDICTS.tsv is tracked in the repository");
    let mut checked = 0;
    for line in verdicts.lines().skip(1) {
        let (file, expected) = line.split_once('\t').expect("file<TAB>verdict");
        let expected = match expected {
            "linearizable" => Verdict::Linearizable,
            "not-linearizable" => Verdict::NotLinearizable,
            _ => continue,
        };
        let text = std::fs::read_to_string(directory.join(file)).expect("corpus file");
        // A small bound on configurations rather than time: a search that regresses (unknown
        // outcomes exploding the memo) fails here deterministically, on any machine. The explanation
        // is bounded by configurations too; the generous time limit only guards a hang.
        let options = Options {
            memo_entries_max: 100_000,
            explain_timeout: Some(std::time::Duration::from_secs(120)),
            ..Options::default()
        };
        let (verdict, report, history) = verdict_with(&text, Kind::CasRegister, options);
        assert_eq!(verdict, expected, "{file}");
        for key in &report.keys {
            if let Some(explanation) = &key.explanation {
                assert!(
                    explanation.minimal && !explanation.core.is_empty(),
                    "{file}: explanation not minimal"
                );
                let model = Register::new(Kind::CasRegister);
                if let Err(error) = common::words_hold(&model, &history.operations, explanation, 9) {
                    panic!("{file}: {error}: {}", explanation.words);
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 102, "every file with a verdict");
}

/// Ours, written by hand: a read of x returns 3 after the write of 4 completed (and a read of y
/// that is fine).
const STALE_READ: &str = include_str!("data/stale-read.jsonl");

#[test]
fn the_words_of_a_register_name_what_each_kind_of_violation_contradicts() {
    let cases: [(&[&str], &str, &[usize]); 11] = [
        // A value no operation wrote.
        (&["0 invoke write 1", "0 ok write 1", "1 invoke read nil", "1 ok read 7"], "read returned 7 (process 1, line 3), a value no operation wrote", &[1]),
        // A value written only by operations invoked after the read completed.
        (
            &["0 invoke write 2", "0 ok write 2", "1 invoke read nil", "1 ok read 1", "0 invoke cas [2 1]", "0 ok cas [2 1]", "2 invoke write 1", "2 info write 1"],
            "read returned 1 (process 1, line 3), a value that only operations invoked after the read completed write, the first cas 2->1 (process 0, line 5)",
            &[1],
        ),
        // A stale read: the write of 3 completed before it, and nothing wrote 1 after (the
        // unknown write is of 2).
        (
            &["0 invoke write 1", "0 ok write 1", "2 invoke write 2", "0 invoke write 3", "0 ok write 3", "1 invoke read nil", "1 ok read 1", "2 info write 2"],
            "read returned 1 (process 1, line 6) after write 3 completed (process 0, line 4), and no write of 1 could take effect in between",
            &[0, 2, 3],
        ),
        // A write of 1 of unknown outcome could take effect after the write of 3, so the read of 1
        // is no contradiction by itself; the read of 3 after it is.
        (
            &["0 invoke write 1", "0 ok write 1", "2 invoke write 1", "0 invoke write 3", "0 ok write 3", "1 invoke read nil", "1 ok read 1", "1 invoke read nil", "1 ok read 3", "2 info write 1"],
            "read returned 3 (process 1, line 8), but no order of the operations before it leaves 3: after the longest partial linearization (4 operations) the register holds 1",
            &[2, 3, 4],
        ),
        // A cas that found what no order leaves.
        (
            &["0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 ok write 2", "1 invoke cas [1 5]", "1 ok cas [1 5]"],
            "cas 1->5 succeeded (process 1, line 5), but no order of the operations before it leaves 1 in the register for it to find: after the longest partial linearization (2 operations) the register holds 2",
            &[0, 1, 2],
        ),
        // A stale read of a value only a cas wrote: the cas is a write of it.
        (
            &["0 invoke write 1", "0 ok write 1", "0 invoke cas [1 5]", "0 ok cas [1 5]", "0 invoke write 2", "0 ok write 2", "1 invoke read nil", "1 ok read 5"],
            "read returned 5 (process 1, line 7) after write 2 completed (process 0, line 5), and no write of 5 could take effect in between",
            &[0, 2, 3],
        ),
        // The read of 3 follows the write of 1 of process 2, but the write of 3 could come after
        // it (they overlap): no stale read, but no order leaves 3 after the read of 1.
        (
            &["0 invoke write 1", "0 ok write 1", "0 invoke write 3", "2 invoke write 1", "0 ok write 3", "2 ok write 1", "1 invoke read nil", "1 ok read 1", "1 invoke read nil", "1 ok read 3"],
            "read returned 3 (process 1, line 9), but no order of the operations before it leaves 3: after the longest partial linearization (4 operations) the register holds 1",
            &[1, 3, 4],
        ),
        // A cas to 5 of unknown outcome, invoked before the read completed, could take effect after
        // the write of 2 as far as real time goes: that it would not find 1 there is the search's
        // finding, and the words claim only that no order leaves 5.
        (
            &["0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 ok write 2", "2 invoke cas [1 5]", "1 invoke read nil", "1 ok read 5", "2 info cas [1 5]"],
            "read returned 5 (process 1, line 6), but no order of the operations before it leaves 5: after the longest partial linearization (2 operations) the register holds 2",
            &[0, 1, 3],
        ),
        // The cas to 2 completed after the write of 1 began, so it could follow it; the write of 0
        // of process 1 then completed before the read of 2, and nothing writes 2 after it. (The
        // minimal set is another contradiction: after the write of 1, the read of 0 needs a write
        // of 0, and the read of 2 then needs the cas to find 1 again.)
        (
            &["1 invoke write 0", "0 invoke cas [1 2]", "1 ok write 0", "1 invoke write 1", "1 ok write 1", "1 invoke read nil", "0 ok cas [1 2]", "0 invoke write 0", "0 ok write 0", "1 ok read 0", "1 invoke write 0", "1 ok write 0", "1 invoke read nil", "1 ok read 2"],
            "read returned 2 (process 1, line 13) after write 0 completed (process 1, line 11), and no write of 2 could take effect in between",
            &[2, 3, 6],
        ),
        // A write of 1 of unknown outcome, invoked before the read completed, is one that could
        // take effect after the cas as far as real time goes: the words leave it to the search
        // (the cas needs it first) and claim no more than that no order leaves 1.
        (
            &["2 invoke write 1", "0 invoke cas [1 2]", "0 ok cas [1 2]", "1 invoke read nil", "1 ok read 1", "2 info write 1"],
            "read returned 1 (process 1, line 4), but no order of the operations before it leaves 1: after the longest partial linearization (2 operations) the register holds 2",
            &[1, 2],
        ),
        // A write of 5 of unknown outcome, invoked only after the read completed.
        (
            &["0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 ok write 2", "1 invoke read nil", "1 ok read 5", "2 invoke write 5", "2 info write 5"],
            "read returned 5 (process 1, line 5) after write 2 completed (process 0, line 3), and no write of 5 could take effect in between",
            &[2],
        ),
    ];
    for (lines, words, core) in cases {
        let text = common::edn(lines, None);
        let (events, _) = format::parse(&text, Format::Auto).expect("parses");
        let history = History::from_events(&events).expect("pairs");
        let report = check(&Register::new(Kind::CasRegister), &history, Options::default());
        let explanation = report.keys[0].explanation.as_ref().expect("explained");
        assert_eq!(explanation.words, words, "{lines:?}");
        assert_eq!(explanation.core, core, "{lines:?}");
        assert!(explanation.minimal, "{lines:?}");
    }
}

#[test]
fn the_words_of_a_key_count_a_delete_as_a_write_of_the_absent_value() {
    // `(lines, words, core)`: events of key k as `process type f value`.
    let cases: [(&[&str], &str, &[&str]); 3] = [
        // The delete overlaps the write of 3: it could take effect after it, so the read of nil is
        // not stale by itself; the read of 3 before it is what no order allows.
        (
            &["0 invoke write 1", "0 ok write 1", "2 invoke delete nil", "0 invoke write 3", "2 ok delete nil", "0 ok write 3", "1 invoke read nil", "1 ok read 3", "1 invoke read nil", "1 ok read nil"],
            "read of k returned nil (process 1, line 9), but no order of the operations before it leaves nil: after the longest partial linearization (4 operations) k holds 3",
            &["delete k", "read k -> 3", "read k -> nil"],
        ),
        // The delete completed before the write of 2 began: a stale read.
        (
            &["0 invoke write 1", "0 ok write 1", "0 invoke delete nil", "0 ok delete nil", "0 invoke write 2", "0 ok write 2", "1 invoke read nil", "1 ok read nil"],
            "read of k returned nil (process 1, line 7) after write k 2 completed (process 0, line 5), and no write of nil could take effect in between",
            &["delete k", "write k 2", "read k -> nil"],
        ),
        // A delete of unknown outcome, invoked only after the read completed.
        (
            &["0 invoke write 2", "0 ok write 2", "1 invoke read nil", "1 ok read nil", "2 invoke delete nil", "2 info delete nil"],
            "read of k returned nil (process 1, line 3) after write k 2 completed (process 0, line 1), and no write of nil could take effect in between",
            &["write k 2", "read k -> nil"],
        ),
    ];
    for (lines, words, core) in cases {
        let text = common::edn(lines, Some("k"));
        let (verdict, report, history) = verdict_of(&text, Kind::Kv);
        assert_eq!(verdict, Verdict::NotLinearizable, "{lines:?}");
        let explanation = report.keys[0].explanation.as_ref().expect("explained");
        assert_eq!(explanation.words, words, "{lines:?}");
        let named: Vec<String> =
            explanation.core.iter().map(|&id| history.operations[id].describe()).collect();
        assert_eq!(named, core, "{lines:?}");
        assert!(explanation.minimal, "{lines:?}");
    }
}

#[test]
fn stale_read_is_explained() {
    let (verdict, report, history) = verdict_of(STALE_READ, Kind::Kv);
    assert_eq!(verdict, Verdict::NotLinearizable);
    let x = &report.keys[0];
    assert_eq!((x.key.as_deref(), x.verdict), (Some("x"), Verdict::NotLinearizable));
    assert_eq!(report.keys[1].verdict, Verdict::Linearizable, "key y is independent");
    let explanation = x.explanation.as_ref().expect("explained");
    assert_eq!(explanation.words, "read of x returned 3 (process 1, line 5) after write x 4 completed (process 0, line 3), and no write of 3 could take effect in between");
    let core: Vec<String> = explanation.core.iter().map(|&id| history.operations[id].describe()).collect();
    assert_eq!(core, ["write x 3", "write x 4", "read x -> 3"], "minimal set");
    assert!(explanation.minimal);
}

#[test]
fn lost_write_is_caught() {
    let text = r#"{"process": 0, "type": "invoke", "f": "put", "key": "k", "value": 1}
{"process": 0, "type": "ok", "f": "put", "key": "k", "value": 1}
{"process": 1, "type": "invoke", "f": "get", "key": "k"}
{"process": 1, "type": "ok", "f": "get", "key": "k", "value": null}
"#;
    assert_eq!(verdict_of(text, Kind::Kv).0, Verdict::NotLinearizable);
}

#[test]
fn cas_anomalies() {
    // Two cas from the same value both succeed: only one can.
    let double = "{:process 0 :type :invoke :f :write :value 1}\n{:process 0 :type :ok :f :write :value 1}\n\
                  {:process 1 :type :invoke :f :cas :value [1 2]}\n{:process 2 :type :invoke :f :cas :value [1 3]}\n\
                  {:process 1 :type :ok :f :cas :value [1 2]}\n{:process 2 :type :ok :f :cas :value [1 3]}\n";
    assert_eq!(verdict_of(double, Kind::CasRegister).0, Verdict::NotLinearizable);
    // A failed cas took no effect; concurrent cas in either order is fine.
    let fine = "[{:process 0 :type :invoke :f :cas :value [nil 1]}\n {:process 1 :type :invoke :f :cas :value [1 2]}\n\
                {:process 1 :type :ok :f :cas :value [1 2]}\n {:process 0 :type :ok :f :cas :value [nil 1]}\n\
                {:process 2 :type :invoke :f :cas :value [5 6]}\n {:process 2 :type :fail :f :cas :value [5 6]}]\n";
    assert_eq!(verdict_of(fine, Kind::CasRegister).0, Verdict::Linearizable);
}

#[test]
fn unknown_outcomes_may_or_may_not_take_effect() {
    let took_effect =
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:info\t:write\t:timed-out\n\
                       INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t1\n";
    assert_eq!(verdict_of(took_effect, Kind::CasRegister).0, Verdict::Linearizable);
    let did_not =
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:info\t:write\t:timed-out\n\
                   INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\tnil\n";
    assert_eq!(verdict_of(did_not, Kind::CasRegister).0, Verdict::Linearizable);
    // But not before it was invoked.
    let too_early = "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t1\n\
                     INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:info\t:write\t:timed-out\n";
    assert_eq!(verdict_of(too_early, Kind::CasRegister).0, Verdict::NotLinearizable);
}

#[test]
fn an_unknown_write_invoked_after_a_read_returned_is_not_what_it_read_even_after_backtracking() {
    // The read of 1 returned before the only write of 1 was invoked: not linearizable. The search
    // reaches the write of 1 only after backtracking the unknown write of 2 under the long read of
    // 2, where the first return entry ahead (the read of 1's) is what bounds the unknown
    // operations it may try; bounding them by the first entry's operation (the long read's return)
    // found the order write 1, read 1, write 2, read 2.
    let text = "{:process 0 :type :invoke :f :read :value nil}\n\
                {:process 1 :type :invoke :f :write :value 2}\n\
                {:process 2 :type :invoke :f :read :value nil}\n\
                {:process 2 :type :ok :f :read :value 1}\n\
                {:process 3 :type :invoke :f :write :value 1}\n\
                {:process 0 :type :ok :f :read :value 2}\n\
                {:process 1 :type :info :f :write :value 2}\n\
                {:process 3 :type :info :f :write :value 1}\n";
    // The random histories against the brute force found this only past seed 7,500
    // (CHECKER_SEEDS=30000), beyond the 3,000 the tests run.
    let (verdict, _, history) = verdict_of(text, Kind::Register);
    assert!(!common::brute_force(&Register::new(Kind::Register), &history.operations), "the oracle agrees");
    assert_eq!(verdict, Verdict::NotLinearizable);
}

#[test]
fn bad_lines_name_their_line() {
    let cases = [
        ("{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"value\": 1}\n{\"process\": 0, \"type\": \"done\", \"f\": \"write\"}\n", "line 2: type \"done\""),
        ("{\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"value\": 1}\n", "line 1: process 0 completes an operation it never invoked"),
        ("{\"process\": 0, \"type\": \"invoke\", \"f\": \"frob\"}\n", "line 1: unknown function \"frob\""),
        ("{:process 0 :type :invoke :f :cas :value 3}\n", "line 1: cas argument 3"),
    ];
    for (text, expected) in cases {
        let error = format::parse(text, Format::Auto)
            .and_then(|(events, _)| History::from_events(&events))
            .expect_err(text);
        assert!(error.to_string().starts_with(expected), "{error} does not start with {expected}");
    }
}

/// A random history of a cas register: up to `processes` processes, `lines` events, values below
/// `values`, each completion unknown with probability `unknown` and failed with probability 0.1.
fn random_history(
    seed: u64,
    processes: usize,
    lines: usize,
    values: i64,
    unknown: f64,
) -> (Vec<checker::history::Event>, History) {
    use checker::history::EventType;
    use checker::value::Value;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut events = Vec::new();
    let processes = rng.random_range(1..=processes);
    let mut pending: Vec<Option<(String, Value)>> = vec![None; processes];
    for line in 1..=rng.random_range(2..=lines) {
        let process = rng.random_range(0..processes);
        let value = |rng: &mut SmallRng| Value::Int(rng.random_range(0..values));
        let (kind, f, v) = match pending[process].take() {
            None => {
                let (f, v) = match rng.random_range(0..3) {
                    0 => ("read", Value::Nil),
                    1 => ("write", value(&mut rng)),
                    _ => ("cas", Value::List(vec![value(&mut rng), value(&mut rng)])),
                };
                pending[process] = Some((f.to_string(), v.clone()));
                (EventType::Invoke, f.to_string(), v)
            }
            Some((f, v)) => {
                let draw: f64 = rng.random();
                let kind = if draw < unknown {
                    EventType::Info
                } else if draw < unknown + 0.1 {
                    EventType::Fail
                } else {
                    EventType::Ok
                };
                let v = if f == "read" {
                    if rng.random_bool(0.3) {
                        Value::Nil
                    } else {
                        value(&mut rng)
                    }
                } else {
                    v
                };
                (kind, f, v)
            }
        };
        events.push(checker::history::Event {
            process: process.to_string(),
            kind,
            f,
            key: None,
            value: v,
            time: None,
            line,
        });
    }
    let history = History::from_events(&events).expect("generated histories pair");
    (events, history)
}

/// The checker's verdict agrees with the brute force on `seeds` random histories, and every
/// explanation's set is confirmed by the brute force: not linearizable, and (when it says it is
/// minimal) linearizable again once any one of its operations is relaxed.
fn agree_with_brute_force(test: &str, seeds: u64, processes: usize, lines: usize, values: i64, unknown: f64) {
    let model = Register::new(Kind::CasRegister);
    let mut verdicts = [0usize; 2];
    for seed in 0..seeds {
        let (events, history) = random_history(seed, processes, lines, values, unknown);
        let reproduce = format!(
            "REPRODUCE WITH: CHECKER_SEEDS={} cargo test -p checker --test verdicts {test}",
            seed + 1
        );
        let expected = common::brute_force(&model, &history.operations);
        let report = check(&model, &history, Options::default());
        let got = report.verdict == Verdict::Linearizable;
        assert_eq!(got, expected, "seed {seed}: history {events:?}\n{reproduce}");
        verdicts[usize::from(got)] += 1;
        if let Some(explanation) = report.keys.first().and_then(|key| key.explanation.as_ref()) {
            if let Err(error) = common::words_hold(&model, &history.operations, explanation, 9) {
                panic!("seed {seed}: {error}: {}\nhistory {events:?}\n{reproduce}", explanation.words);
            }
            let core = &explanation.core;
            assert!(
                !common::brute_force(&model, &common::relaxed(&history.operations, core)),
                "seed {seed}: the set {core:?} can be linearized\n{reproduce}"
            );
            if explanation.minimal {
                for &dropped in core {
                    let smaller: Vec<usize> = core.iter().copied().filter(|&id| id != dropped).collect();
                    assert!(
                        common::brute_force(&model, &common::relaxed(&history.operations, &smaller)),
                        "seed {seed}: the set {core:?} is not minimal, {dropped} can be relaxed\n{reproduce}"
                    );
                }
            }
        }
    }
    eprintln!(
        "brute force agreed on {seeds} random histories ({} linearizable, {} not)",
        verdicts[1], verdicts[0]
    );
    assert!(
        verdicts[0] > seeds as usize / 20 && verdicts[1] > seeds as usize / 20,
        "both verdicts are exercised: {verdicts:?}"
    );
}

fn seeds(default: u64) -> u64 {
    std::env::var("CHECKER_SEEDS").ok().and_then(|text| text.parse().ok()).unwrap_or(default)
}

#[test]
fn agrees_with_brute_force_on_random_histories() {
    agree_with_brute_force("agrees_with_brute_force_on_random_histories", seeds(3000), 4, 14, 3, 0.1);
}

/// Many unknown outcomes over two values: unknown operations with the same effect are common, which
/// exercises the search's reductions (interchangeable unknown operations, subsumed configurations).
#[test]
fn agrees_with_brute_force_when_many_outcomes_are_unknown() {
    agree_with_brute_force(
        "agrees_with_brute_force_when_many_outcomes_are_unknown",
        seeds(3000),
        5,
        18,
        2,
        0.4,
    );
}

/// Values from a wider range than the reads observe: many unknown writes are needless (nothing can
/// observe them), which exercises the model's pruning.
#[test]
fn agrees_with_brute_force_when_writes_go_unobserved() {
    agree_with_brute_force("agrees_with_brute_force_when_writes_go_unobserved", seeds(3000), 5, 18, 6, 0.4);
}
