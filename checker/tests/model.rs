//! The register model's contracts, each asserted directly: which unknown operations the search may
//! leave out (`Model::needless`, the reduction whose soundness the brute-force tests check, here
//! its exact choices), what the explanations call the initial value, and that the memory bound
//! counts what the states hold.

use checker::format::{self, Format};
use checker::history::{Function, History, Operation, Status};
use checker::model::{Kind, Model, Register};
use checker::search::{search, Limits, Outcome};
use checker::value::Value;
use checker::{check, partition, Options};

/// An EDN history, one event per line: `"p0 invoke write 5"`, `"p0 info write 5"`,
/// `"p1 ok read 6"`, `"p2 invoke cas [7 8]"`.
fn parsed(lines: &[&str]) -> History {
    let text: String = lines
        .iter()
        .map(|line| {
            let mut words = line.splitn(4, ' ');
            let process = words.next().expect("process").trim_start_matches('p');
            let kind = words.next().expect("type");
            let f = words.next().expect("function");
            let value = words.next().unwrap_or("nil");
            format!("{{:process {process} :type :{kind} :f :{f} :value {value}}}\n")
        })
        .collect();
    let (events, _) = format::parse(&text, Format::Auto).expect("parses");
    History::from_events(&events).expect("pairs")
}

fn needless(model: &Register, history: &History) -> Vec<bool> {
    let operations: Vec<&Operation> = history.operations.iter().collect();
    model.needless(&operations)
}

#[test]
fn an_unknown_write_no_read_returns_and_no_cas_expects_is_needless_to_a_fixpoint() {
    let history = parsed(&[
        "p0 invoke write 1", // #0: completed, never left out
        "p0 ok write 1",
        "p1 invoke write 5",   // #1: nothing reads 5
        "p2 invoke write 6",   // #2: read by #5
        "p3 invoke cas [7 8]", // #3: nothing reads 8 or expects it
        "p4 invoke write 7",   // #4: only #3 expects 7, and #3 is needless
        "p5 invoke read nil",
        "p5 ok read 6",         // #5
        "p6 invoke delete nil", // #6: writes nil, which no read returned
        "p1 info write 5",
        "p2 info write 6",
        "p3 info cas [7 8]",
        "p4 info write 7",
        "p6 info delete nil",
    ]);
    let model = Register::new(Kind::Kv);
    assert_eq!(needless(&model, &history), [false, true, false, true, true, false, true]);
    // A completed cas expecting 7 keeps the write of 7; a read of nil keeps the delete.
    let history = history_with_observers();
    assert_eq!(needless(&model, &history), [false, false, false, false]);
    // With "" as the absent value, a delete writes "", which nothing read: needless again.
    assert_eq!(
        needless(&model.with_absent(Value::Str(String::new())), &history),
        [false, false, true, false]
    );
}

fn history_with_observers() -> History {
    parsed(&[
        "p0 invoke write 7", // #0: expected by the completed cas #1
        "p1 invoke cas [7 8]",
        "p1 ok cas [7 8]",
        "p2 invoke delete nil", // #2: writes nil, which #3 read
        "p3 invoke read nil",
        "p3 ok read nil",
        "p0 info write 7",
        "p2 info delete nil",
    ])
}

#[test]
fn with_appends_only_an_unknown_append_that_no_value_read_or_expected_contains_is_needless() {
    let history = parsed(&[
        "p0 invoke append \"a\"", // #0: completed
        "p0 ok append \"a\"",
        "p1 invoke append \"b\"", // #1: in the read "ab"
        "p2 invoke append \"z\"", // #2: in nothing read or expected
        "p3 invoke write \"q\"",  // #3: with appends no write is left out
        "p4 invoke read nil",
        "p4 ok read \"ab\"",            // #4
        "p5 invoke cas [\"xy\" \"c\"]", // #5: expects "xy"
        "p6 invoke append \"y\"",       // #6: in what #5 expects
        "p1 info append \"b\"",
        "p2 info append \"z\"",
        "p3 info write \"q\"",
        "p5 info cas [\"xy\" \"c\"]",
        "p6 info append \"y\"",
    ]);
    let model = Register::new(Kind::Kv);
    assert_eq!(needless(&model, &history), [false, false, true, false, false, false, false]);
    // Appends of elements: a list read shows which.
    let elements = parsed(&[
        "p0 invoke append 1",
        "p1 invoke append 2",
        "p2 invoke read nil",
        "p2 ok read [2]",
        "p0 info append 1",
        "p1 info append 2",
    ]);
    assert_eq!(needless(&model, &elements), [true, false, false]);
    // Appends of strings and of elements on one key: none is left out.
    let mixed =
        parsed(&["p0 invoke append \"a\"", "p1 invoke append 1", "p0 info append \"a\"", "p1 info append 1"]);
    assert_eq!(needless(&model, &mixed), [false, false]);
}

#[test]
fn reads_of_unknown_outcome_are_left_out_of_the_partition() {
    let history = parsed(&[
        "p0 invoke write 1",
        "p0 ok write 1",
        "p1 invoke read nil",
        "p1 info read nil",
        "p2 invoke read nil",
        "p2 ok read 1",
        "p3 invoke write 2",
        "p3 info write 2",
    ]);
    let model = Register::new(Kind::Kv);
    let partitions = partition(&model, &history);
    let ids: Vec<usize> = partitions[&None].iter().map(|operation| operation.id).collect();
    assert_eq!(ids, [0, 2, 3], "the unknown read (#1) observes nothing");
    assert_eq!(check(&model, &history, Options::default()).keys[0].operations, 3);
}

#[test]
fn the_initial_value_is_the_absent_one() {
    let model = Register::new(Kind::Kv);
    assert!(model.is_initial(&Value::Nil));
    assert!(!model.is_initial(&Value::Int(7)));
    assert!(!model.is_initial(&Value::Str(String::new())));
    let empty = model.with_absent(Value::Str(String::new()));
    assert!(empty.is_initial(&Value::Str(String::new())));
    assert!(!empty.is_initial(&Value::Nil));
    // So a read of a value nothing wrote is explained as such, and a read of the absent value is not.
    let history = parsed(&["p0 invoke read nil", "p0 ok read 7"]);
    let report = check(&Register::new(Kind::Kv), &history, Options::default());
    let words = &report.keys[0].explanation.as_ref().expect("explained").words;
    assert_eq!(words, "read returned 7 (process 0, line 1), a value no operation wrote");
    let history = history_after_write(&["p1 invoke read nil", "p1 ok read nil"]);
    let report = check(&Register::new(Kind::Kv), &history, Options::default());
    let words = &report.keys[0].explanation.as_ref().expect("explained").words;
    assert_eq!(
        words,
        "read returned nil (process 1, line 3) after write 1 completed (process 0, line 1), and no write of nil could take effect in between"
    );
}

fn history_after_write(rest: &[&str]) -> History {
    let mut lines = vec!["p0 invoke write 1", "p0 ok write 1"];
    lines.extend_from_slice(rest);
    parsed(&lines)
}

#[test]
fn the_memory_bound_counts_the_values_the_states_hold() {
    // 600 writes of distinct 4 KB values, each read back: the search keeps a state per
    // configuration, about 5 MB of values by the time the bound is first looked at (1,024
    // configurations). Counted, they pass a 1 MB bound; the configurations alone take about 100 KB.
    let mut operations = Vec::new();
    for index in 0..600 {
        let value = Value::Str(format!("{index:04}{}", "x".repeat(4_000)));
        for (f, process, input, output) in
            [(Function::Write, "0", value.clone(), Value::Nil), (Function::Read, "1", Value::Nil, value)]
        {
            let id = operations.len();
            operations.push(Operation {
                id,
                process: process.into(),
                f,
                key: None,
                input,
                output,
                call: 2 * id,
                ret: Some(2 * id + 1),
                status: Status::Ok,
                call_line: 2 * id + 1,
                ret_line: Some(2 * id + 2),
                call_time: None,
                ret_time: None,
            });
        }
    }
    let operations: Vec<&Operation> = operations.iter().collect();
    let model = Register::new(Kind::Kv);
    assert!(model.state_bytes(&operations[0].input) >= 4_000);
    let bounded = search(&model, &operations, Limits { memory_bytes_max: 1_000_000, ..Limits::default() });
    match bounded {
        Outcome::Inconclusive(reason) => assert!(reason.starts_with("memory limit reached"), "{reason}"),
        other => panic!("expected the memory bound to end the search, got {other:?}"),
    }
    let roomy = search(&model, &operations, Limits { memory_bytes_max: 64_000_000, ..Limits::default() });
    assert!(matches!(roomy, Outcome::Linearizable(_)), "{roomy:?}");
}

#[test]
fn a_state_that_begins_no_value_read_or_expected_stands_as_one_state_longer_than_them_all() {
    let history = parsed(&[
        "p0 invoke read nil",
        "p0 ok read \"a.b.\"",
        "p1 invoke cas [\"c.\" \"x\"]",
        "p1 ok cas [\"c.\" \"x\"]",
        "p2 invoke read nil",
        "p2 ok read [1 2]",
        "p3 invoke read nil",
        "p3 info read nil", // unknown: it observes nothing
        "p4 invoke write \"zzzzzzzz\"",
        "p4 ok write \"zzzzzzzz\"", // a value written is not one observed
    ]);
    let operations: Vec<&Operation> = history.operations.iter().collect();
    let model = Register::new(Kind::Kv);
    let observed = model.observations(&operations);
    let text = |text: &str| Value::Str(text.to_string());
    let list = |items: &[i64]| Value::List(items.iter().map(|&item| Value::Int(item)).collect());
    // What begins "a.b." or "c." stays itself, up to the whole value.
    for live in ["", "a", "a.", "a.b.", "c", "c."] {
        assert_eq!(model.representative(&observed, text(live)), text(live), "{live:?}");
    }
    // What begins neither is one string, five bytes: one more than "a.b.".
    for dead in ["b", "a.c", "a.b.c.", "c.c.", "zzzzzzzz"] {
        assert_eq!(model.representative(&observed, text(dead)), text("-----"), "{dead:?}");
    }
    assert_eq!(model.representative(&observed, text("-----")), text("-----"));
    // Lists the same way, against the list read.
    for live in [&[][..], &[1], &[1, 2]] {
        assert_eq!(model.representative(&observed, list(live)), list(live), "{live:?}");
    }
    for dead in [&[2][..], &[1, 3], &[1, 2, 3]] {
        assert_eq!(model.representative(&observed, list(dead)), Value::List(vec![Value::Nil; 3]), "{dead:?}");
    }
    // Nothing else is ever replaced: a write replaces it whatever it is, and a read compares it
    // whole.
    for other in [Value::Nil, Value::Int(7)] {
        assert_eq!(model.representative(&observed, other.clone()), other);
    }
    // With nothing observed, every string and list is dead; the empty ones too.
    let nothing = model.observations(&[]);
    assert_eq!(model.representative(&nothing, text("")), text("-"));
    assert_eq!(model.representative(&nothing, list(&[])), Value::List(vec![Value::Nil]));
}

#[test]
fn an_unknown_append_taken_again_and_again_ends_in_one_state_when_over_approximating() {
    // The over-approximation may take an unknown append any number of times. Its strings "a.",
    // "a.a.", ... begin no value read after the first, so they are one state, and the search
    // ends with its proof within a few configurations, where it used to build ever longer strings
    // until its bound.
    let history = parsed(&[
        "p0 invoke append \"a.\"",
        "p1 invoke delete nil",
        "p2 invoke read nil",
        "p2 ok read \"a.b.\"",
        "p0 info append \"a.\"",
        "p1 info delete nil",
    ]);
    let operations: Vec<&Operation> = history.operations.iter().collect();
    let model = Register::new(Kind::Kv).with_absent(Value::Str(String::new()));
    let over = Limits { unknown_reusable: true, memo_entries_max: 100, ..Limits::default() };
    assert!(matches!(search(&model, &operations, over), Outcome::NotLinearizable(_)));
    let exact = Limits { memo_entries_max: 100, ..Limits::default() };
    assert!(matches!(search(&model, &operations, exact), Outcome::NotLinearizable(_)));
}
