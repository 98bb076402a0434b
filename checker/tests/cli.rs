//! The `checker check` command as a user runs it: its exact output, its exit codes, and one line
//! naming the input for each bad one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch folder for one test's files, removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(test: &str) -> Scratch {
    let folder = std::env::temp_dir().join(format!("checker-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("create a scratch folder");
    Scratch(folder)
}

fn write(folder: &Path, name: &str, text: &str) -> PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, text).expect("write a history");
    path
}

fn check(folder: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_checker"))
        .current_dir(folder)
        .arg("check")
        .args(args)
        .output()
        .expect("run checker")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// The output with its timings (`0.02`, `1.37 ms`) replaced by `T`: they are the only figures
/// that change from run to run.
fn untimed(output: &str) -> String {
    let mut out = String::new();
    let mut rest = output;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let end = rest[start..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map_or(rest.len(), |end| start + end);
        let number = &rest[start..end];
        out.push_str(&rest[..start]);
        let decimals = number.split_once('.').map(|(_, decimals)| decimals.len());
        out.push_str(if decimals == Some(2) { "T" } else { number });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A read of x returns 3 after the write of 4 completed; a read of y is fine.
const STALE_READ: &str = include_str!("data/stale-read.jsonl");

#[test]
fn a_violation_is_a_table_of_verdicts_then_its_explanation_and_exit_code_1() {
    let folder = scratch("violation");
    write(&folder, "stale.jsonl", STALE_READ);
    let output = check(&folder, &["stale.jsonl"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        untimed(&text(&output.stdout)),
        "\
┌─────┬────────────┬──────────────────┬──────┬─────────────────┐
│ key │ operations │ verdict          │ ms   │ detail          │
├─────┼────────────┼──────────────────┼──────┼─────────────────┤
│ x   │ 3          │ not linearizable │ T │ explained below │
│ y   │ 1          │ linearizable     │ T │                 │
└─────┴────────────┴──────────────────┴──────┴─────────────────┘
NOT LINEARIZABLE: 4 operations (0 failed, left out), 2 keys, T ms

key x: read of x returned 3 (process 1, line 5) after write x 4 completed (process 0, line 3), and no write of 3 could take effect in between
  operations that cannot be linearized together (minimal):
    #0 process 0: write x 3 (lines 1-2)
    #1 process 0: write x 4 (lines 3-4)
    #2 process 1: read x -> 3 (lines 5-6)
  longest partial linearization (2 operations):
      1. #0 process 0: write x 3 (lines 1-2)
      2. #1 process 0: write x 4 (lines 3-4)
  then the state is 4, and this cannot follow:
    #2 process 1: read x -> 3 (lines 5-6)
"
    );
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn a_linearizable_history_exits_0_and_counts_in_the_singular_where_there_is_one() {
    let folder = scratch("linearizable");
    // An unknown write that a read saw, and a failed write left out.
    let history =
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:info\t:write\t:timed-out\n\
                   INFO  jepsen.util - 1\t:invoke\t:write\t2\nINFO  jepsen.util - 1\t:fail\t:write\t2\n\
                   INFO  jepsen.util - 2\t:invoke\t:read\tnil\nINFO  jepsen.util - 2\t:ok\t:read\t1\n";
    write(&folder, "jepsen.log", history);
    let output = check(&folder, &["jepsen.log", "--model", "cas-register"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        untimed(&text(&output.stdout)),
        "\
┌───────┬────────────┬──────────────┬──────┬────────┐
│ key   │ operations │ verdict      │ ms   │ detail │
├───────┼────────────┼──────────────┼──────┼────────┤
│ (all) │ 2          │ linearizable │ T │        │
└───────┴────────────┴──────────────┴──────┴────────┘
LINEARIZABLE: 2 operations (1 failed, left out), 1 key, T ms
"
    );
}

#[test]
fn a_cas_that_found_what_nothing_left_is_explained_with_an_empty_partial_linearization() {
    let folder = scratch("cas");
    write(
        &folder,
        "cas.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 2]}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 2]}\n",
    );
    let output = check(&folder, &["cas.jsonl"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let explanation = &stdout[stdout.find("\nkey x").expect("an explanation")..];
    assert_eq!(
        explanation,
        "
key x: cas x 1->2 succeeded (process 0, line 1), but no order of the operations before it leaves 1 in x for it to find: after the longest partial linearization (0 operations) x holds nil
  operations that cannot be linearized together (minimal):
    #0 process 0: cas x 1->2 (lines 1-2)
  longest partial linearization (0 operations):
  then the state is nil, and this cannot follow:
    #0 process 0: cas x 1->2 (lines 1-2)
"
    );
}

#[test]
fn the_json_report_holds_each_verdict_and_the_explanation() {
    let folder = scratch("json");
    write(&folder, "stale.jsonl", STALE_READ);
    let output = check(&folder, &["stale.jsonl", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let mut report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    // The timings change from run to run; everything else is fixed.
    assert!(report["seconds"].as_f64().is_some_and(|seconds| seconds >= 0.0), "{report}");
    report["seconds"] = serde_json::Value::Null;
    for key in report["keys"].as_array_mut().expect("keys") {
        assert!(key["seconds"].as_f64().is_some_and(|seconds| seconds >= 0.0), "{key}");
        key["seconds"] = serde_json::Value::Null;
    }
    let operation = |id: u64, line: u64, f: &str, input: serde_json::Value, output: serde_json::Value| {
        serde_json::json!({
            "id": id, "process": if f == "write" { "0" } else { "1" }, "f": f, "key": "x", "input": input,
            "output": output, "status": "ok", "call_line": line, "ret_line": line + 1,
        })
    };
    let write3 = operation(0, 1, "write", 3.into(), serde_json::Value::Null);
    let write4 = operation(1, 3, "write", 4.into(), serde_json::Value::Null);
    let read3 = operation(2, 5, "read", serde_json::Value::Null, 3.into());
    assert_eq!(
        report,
        serde_json::json!({
            "verdict": "not linearizable",
            "operations": 4,
            "failed": 0,
            "seconds": null,
            "keys": [
                {
                    "key": "x",
                    "operations": 3,
                    "verdict": "not linearizable",
                    "reason": null,
                    "seconds": null,
                    "explanation": {
                        "words": "read of x returned 3 (process 1, line 5) after write x 4 completed (process 0, line 3), and no write of 3 could take effect in between",
                        "minimal": true,
                        "core": [write3, write4, read3],
                        "partial_linearization": [write3, write4],
                        "state": "4",
                        "blocked": read3,
                    },
                },
                {
                    "key": "y",
                    "operations": 1,
                    "verdict": "linearizable",
                    "reason": null,
                    "seconds": null,
                    "explanation": null,
                },
            ],
        })
    );
}

#[test]
fn a_service_that_reads_absent_keys_as_empty_gets_the_flag_suggested_and_passes_with_it() {
    let folder = scratch("absent");
    write(
        &folder,
        "empty.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\", \"key\": \"k\", \"value\": null}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"read\", \"key\": \"k\", \"value\": \"\"}\n\
         {\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"key\": \"k\", \"value\": \"a\"}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"key\": \"k\", \"value\": \"a\"}\n",
    );
    let output = check(&folder, &["empty.jsonl", "--no-explain"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some(
            "note: 1 of the 1 keys that are not linearizable are linearizable if a key never written reads as \"\" \
             (their reads or cas operations observe \"\"): if this system returns \"\" for absent keys, \
             check with --absent \"\""
        ),
        "{stdout}"
    );
    let output = check(&folder, &["empty.jsonl", "--absent", ""]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains("LINEARIZABLE: 2 operations (0 failed, left out), 1 key, "));
}

#[test]
fn bad_input_gets_one_line_naming_it_and_exit_code_3() {
    let folder = scratch("bad");
    write(&folder, "stale.jsonl", STALE_READ);
    write(
        &folder,
        "cas.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 2]}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"cas\", \"key\": \"x\", \"value\": [1, 2]}\n",
    );
    write(
        &folder,
        "torn.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"value\": 1}\n{\"process\": 0, \"ty",
    );
    let cases: [(&[&str], &str); 8] = [
        (&["missing.jsonl"], "error: missing.jsonl: No such file or directory (os error 2)"),
        (&["stale.jsonl", "--timeout", "0"], "error: --timeout 0: expected a positive number of seconds"),
        (&["stale.jsonl", "--explain-timeout", "-1"], "error: --explain-timeout -1: expected a positive number of seconds"),
        (
            &["stale.jsonl", "--memory-max", "12XB"],
            "error: invalid value '12XB' for '--memory-max <MEMORY_MAX>': \"12XB\": expected bytes, or a number with KB, MB, GB (or KiB, MiB, GiB)",
        ),
        (
            &["stale.jsonl", "--memory-max", "0"],
            "error: invalid value '0' for '--memory-max <MEMORY_MAX>': \"0\": expected a positive amount of memory such as 512MB or 4GB",
        ),
        (
            &["stale.jsonl", "--absent", "{\"a\": 1}"],
            "error: --absent {\"a\": 1}: expected null, an integer, a string or an array, found an object",
        ),
        (
            &["cas.jsonl", "--model", "register"],
            "error: cas.jsonl: line 1: cas is not an operation of the register model: try --model kv (or cas-register for cas)",
        ),
        (&["torn.jsonl"], "error: torn.jsonl: line 2: "),
    ];
    for (args, expected) in cases {
        let output = check(&folder, args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "checker check {args:?}: {stderr}");
        assert_eq!(text(&output.stdout), "", "checker check {args:?}: nothing on standard output");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(expected),
            "checker check {args:?}: {first:?} does not start with {expected:?}"
        );
        if expected.ends_with(' ') {
            assert!(first.len() > expected.len(), "checker check {args:?}: {first:?} says what is wrong");
        }
        // Ours are one line; clap's own (the --memory-max ones) add a blank line and a pointer to --help.
        let lines: Vec<&str> = stderr.lines().filter(|line| !line.is_empty()).collect();
        assert!(
            lines.len() == 1 || (lines.len() == 2 && lines[1] == "For more information, try '--help'."),
            "checker check {args:?}: {stderr}"
        );
    }
}
