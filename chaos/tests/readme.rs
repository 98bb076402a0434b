//! The README cannot drift from the code. Every `cargo run` command it quotes, in a code block or
//! inline, is run from the workspace root: the cheap ones as written (the catalog, the checker on a
//! tracked history, help texts), every other one with `--help` after its own arguments, which makes
//! clap reject a subcommand or flag that no longer exists without running a cluster or a long check.
//! Every `bash scripts/...` it quotes must exist, and so must every `cargo bench` target.
//!
//! The commands run the binaries that `cargo test --workspace` builds beside this test (the debug
//! build: `--release` changes speed, not the command line).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the chaos crate sits in the workspace")
        .to_path_buf()
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md at the workspace root")
}

/// The commands the README quotes: each line of a code block, and each inline code span (which may
/// wrap across lines of a paragraph), that starts with `prefix`; trailing `# comments` dropped.
fn quoted(readme: &str, prefix: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut paragraph = String::new();
    let spans = |paragraph: &mut String, commands: &mut Vec<String>| {
        for (index, span) in paragraph.split('`').enumerate() {
            if index % 2 == 1 && span.starts_with(prefix) {
                commands.push(span.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        paragraph.clear();
    };
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            spans(&mut paragraph, &mut commands);
            in_block = !in_block;
            continue;
        }
        if in_block {
            let command = line.split(" #").next().unwrap_or_default().trim();
            if command.starts_with(prefix) {
                commands.push(command.to_string());
            }
        } else if line.trim().is_empty() {
            spans(&mut paragraph, &mut commands);
        } else {
            paragraph.push_str(line);
            paragraph.push(' ');
        }
    }
    spans(&mut paragraph, &mut commands);
    commands.sort();
    commands.dedup();
    commands
}

/// `cargo run [--release] -p PACKAGE -- ARGUMENTS`, with the `[...]` of optional arguments dropped.
fn parse_cargo_run(command: &str) -> (String, Vec<String>) {
    let words: Vec<String> = command
        .split_whitespace()
        .map(|word| word.replace(['[', ']'], ""))
        .filter(|word| !word.is_empty())
        .collect();
    let separator = words.iter().position(|word| word == "--");
    let before = &words[..separator.unwrap_or(words.len())];
    let package =
        before.windows(2).find(|pair| pair[0] == "-p").map(|pair| pair[1].clone()).unwrap_or_else(|| {
            panic!("README: `{command}`: expected `cargo run [--release] -p PACKAGE -- ...`")
        });
    let arguments = separator.map(|at| words[at + 1..].to_vec()).unwrap_or_default();
    (package, arguments)
}

/// The binary of `package` that `cargo test --workspace` built next to this test's executable.
fn binary(package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let binary = dir.join(package);
    assert!(
        binary.is_file(),
        "{} is missing: `cargo test --workspace` (bash scripts/test.sh) builds every binary",
        binary.display()
    );
    binary
}

fn run(package: &str, arguments: &[String]) -> Output {
    Command::new(binary(package))
        .args(arguments)
        .current_dir(root())
        .output()
        .unwrap_or_else(|error| panic!("{package} {}: {error}", arguments.join(" ")))
}

/// The checker's exit code that `VERDICTS.tsv` (beside a tracked history) gives it under the
/// flags of `arguments` (`check FILE FLAGS...`): the table's verdict if the command has the flags
/// its third column names, else either verdict (0 or 1: the flags change the verdict, and a bad
/// input or an inconclusive check is still wrong).
fn expected_exit_codes(arguments: &[String]) -> Vec<i32> {
    let history = Path::new(&arguments[1]);
    let folder = root().join(history.parent().expect("a file in a folder"));
    let table = std::fs::read_to_string(folder.join("VERDICTS.tsv")).unwrap_or_else(|error| {
        panic!("{}: {error}: a tracked history has its verdicts beside it", folder.display())
    });
    let name = history.file_name().and_then(|name| name.to_str()).expect("a file name");
    let row: Vec<&str> = table
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('\t').map(|rest| rest.split('\t').collect()))
        .unwrap_or_else(|| panic!("{name}: no row in {}/VERDICTS.tsv", folder.display()));
    let flags = arguments[2..].join(" ");
    let needed = row.get(1).copied().unwrap_or_default();
    let code = match row[0] {
        "linearizable" => 0,
        "not-linearizable" => 1,
        other => panic!("{name}: verdict {other:?} in VERDICTS.tsv"),
    };
    if flags.contains(needed) {
        vec![code]
    } else {
        vec![0, 1]
    }
}

/// A placeholder the README writes for a number (`--seeds N`), given a value the flag accepts.
fn placeholders_filled(arguments: Vec<String>) -> Vec<String> {
    arguments.into_iter().map(|word| if word == "N" { "1".to_string() } else { word }).collect()
}

#[test]
fn every_cargo_run_command_in_the_readme_is_accepted_by_its_binary() {
    let commands = quoted(&readme(), "cargo run");
    assert!(commands.len() >= 15, "found only {} cargo run commands in the README", commands.len());
    let mut failures = Vec::new();
    let mut ran_as_written = 0;
    for command in &commands {
        let (package, arguments) = parse_cargo_run(command);
        let mut arguments = placeholders_filled(arguments);
        let first = arguments.first().map(String::as_str);
        let corpus_check = first == Some("check")
            && arguments
                .get(1)
                .is_some_and(|file| file.starts_with("checker/tests/data/") && root().join(file).is_file());
        let expected =
            if package == "chaos" && first == Some("list") || arguments.iter().any(|word| word == "--help") {
                ran_as_written += 1;
                vec![0]
            } else if package == "checker" && corpus_check {
                ran_as_written += 1;
                expected_exit_codes(&arguments)
            } else {
                arguments.push("--help".to_string());
                vec![0]
            };
        if let Some(failure) = failure(command, &package, &arguments, expected) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "README commands the code no longer accepts:\n{}", failures.join("\n"));
    assert!(ran_as_written >= 2, "the catalog and the checker example run as written");
}

/// Why `package arguments` did not exit with one of `expected` and print something, if it did not.
fn failure(command: &str, package: &str, arguments: &[String], expected: Vec<i32>) -> Option<String> {
    let output = run(package, arguments);
    let code = output.status.code();
    (!code.is_some_and(|code| expected.contains(&code)) || output.stdout.is_empty()).then(|| {
        format!(
            "`{command}` (ran `{package} {}`): exit {code:?}, expected {expected:?}; stderr: {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

#[test]
fn every_command_of_ours_the_readme_names_in_prose_has_its_flags() {
    // `paxos node --window-slots N`, `chaos sweep --seeds 1..100`, ...: the binaries' own command
    // lines, quoted without `cargo run`, checked with `--help` after them.
    let readme = readme();
    let mut failures = Vec::new();
    let mut checked = 0;
    for package in ["paxos", "chaos", "checker", "model"] {
        for command in quoted(&readme, &format!("{package} ")) {
            let words: Vec<String> = command.split_whitespace().skip(1).map(str::to_string).collect();
            let mut arguments = placeholders_filled(words);
            arguments.push("--help".to_string());
            checked += 1;
            if let Some(failure) = failure(&command, package, &arguments, vec![0]) {
                failures.push(failure);
            }
        }
    }
    assert!(checked >= 15, "found only {checked} commands of ours in the README's prose");
    assert!(failures.is_empty(), "README commands the code no longer accepts:\n{}", failures.join("\n"));
}

#[test]
fn the_readme_checker_example_prints_its_verdict() {
    let command = quoted(&readme(), "cargo run")
        .into_iter()
        .find(|command| command.contains("-p checker -- check checker/tests/data/"))
        .expect("the README's checker example reads a tracked history");
    let (package, arguments) = parse_cargo_run(&command);
    let output = run(&package, &arguments);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("not linearizable"), "`{command}` printed:\n{stdout}");
}

#[test]
fn a_flag_the_binary_does_not_have_is_caught() {
    // The twin of the test above: the same `--help` probe must fail on a flag that does not exist.
    let (package, mut arguments) = parse_cargo_run("cargo run -p chaos -- scenario partition --no-such-flag");
    arguments.push("--help".to_string());
    assert_ne!(
        run(&package, &arguments).status.code(),
        Some(0),
        "clap rejects the unknown flag before --help"
    );
}

#[test]
fn every_script_and_bench_the_readme_names_exists() {
    let readme = readme();
    let mut missing = Vec::new();
    for command in quoted(&readme, "bash scripts/") {
        let script = command.split_whitespace().nth(1).expect("bash PATH");
        if !root().join(script).is_file() {
            missing.push(command.clone());
        }
    }
    for command in quoted(&readme, "cargo bench") {
        let words: Vec<&str> = command.split_whitespace().collect();
        let after = |flag: &str| words.windows(2).find(|pair| pair[0] == flag).map(|pair| pair[1]);
        let (Some(package), Some(bench)) = (after("-p"), after("--bench")) else {
            missing.push(format!("{command} (expected -p PACKAGE --bench NAME)"));
            continue;
        };
        if !root().join(package).join("benches").join(format!("{bench}.rs")).is_file() {
            missing.push(command.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "the README names scripts or benches that do not exist:\n{}",
        missing.join("\n")
    );
}
