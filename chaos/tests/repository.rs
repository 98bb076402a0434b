//! The repository stands alone: a user who clones it has nothing beside it, so no tracked file may
//! refer to a folder next to the checkout. A developer's machine happens to have one (the steering
//! folder, two dots and `shared`); CI does too, which is how a test that read from it passed there
//! and failed for everyone else.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: the folder above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the chaos crate sits in the workspace")
        .to_path_buf()
}

/// The files git tracks, or, where the source came without `.git` (an unpacked archive), every
/// file below the root except build output.
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git").arg("-C").arg(root).args(["ls-files", "-z"]).output();
    if let Ok(output) = listed {
        if output.status.success() {
            return output
                .stdout
                .split(|byte| *byte == 0)
                .filter(|name| !name.is_empty())
                .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
                .collect();
        }
    }
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable source folder") {
            let path = entry.expect("a readable folder entry").path();
            let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !matches!(name, "target" | ".git" | "out") {
                    folders.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// `file:line: text` for every line of `files` that contains `needle`.
fn lines_containing(root: &Path, files: &[PathBuf], needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        // Binary files (none today) and files git lists but the work tree lacks are not text to read.
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (number, line) in text.lines().enumerate() {
            if line.contains(needle) {
                let name = file.strip_prefix(root).unwrap_or(file).display();
                found.push(format!("{name}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_tracked_file_refers_to_a_folder_beside_the_checkout() {
    let root = root();
    let files = tracked_files(&root);
    assert!(files.len() > 50, "found only {} files below {}", files.len(), root.display());
    // Spelt in two pieces so that this file does not find itself.
    let needle = concat!("..", "/shared");
    let found = lines_containing(&root, &files, needle);
    assert!(
        found.is_empty(),
        "tracked files refer to {needle}, which a clone does not have; track the data in the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_search_finds_a_reference_where_there_is_one() {
    // The twin of the test above: the same search over a file that has a reference must report it.
    let folder = std::env::temp_dir().join(format!("paxos-repository-test-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a temporary folder");
    let file = folder.join("example.md");
    std::fs::write(&file, format!("first line\nsee {}/data\n", concat!("..", "/shared"))).expect("written");
    let found = lines_containing(&folder, &[file], concat!("..", "/shared"));
    std::fs::remove_dir_all(&folder).expect("removed");
    assert_eq!(found, vec![format!("example.md:2: see {}/data", concat!("..", "/shared"))]);
}

#[test]
fn the_corpus_the_tests_read_is_tracked_with_its_origin_and_license() {
    let corpus = root().join("checker/tests/data/jepsen-etcd");
    let logs = std::fs::read_dir(&corpus)
        .expect("checker/tests/data/jepsen-etcd is in the repository")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "log"))
        .count();
    assert_eq!(logs, 103, "etcd_000.log to etcd_102.log");
    let readme = std::fs::read_to_string(corpus.join("README.md")).expect("the corpus's README");
    assert!(
        readme.contains("Porcupine") && readme.contains("MIT"),
        "the README names the origin and license"
    );
    let license = std::fs::read_to_string(corpus.join("LICENSE")).expect("the corpus's LICENSE");
    assert!(license.contains("Permission is hereby granted"), "the MIT notice is kept beside the data");
}

/// The names in the `[dependencies]` table of `manifest` (a Cargo.toml of the workspace).
fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(manifest)).expect("a tracked manifest");
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.push(name.to_string());
        }
    }
    names
}

#[test]
fn the_architecture_dependency_rules_hold_in_the_manifests() {
    // The core: std, serde and thiserror, nothing that does I/O, keeps time or draws randomness.
    assert_eq!(dependencies("paxos/core/Cargo.toml"), ["serde", "thiserror"], "paxos/core/Cargo.toml");
    // The model: the core alone, never the node (its runtime, tokio, storage).
    let model = dependencies("model/Cargo.toml");
    assert!(model.contains(&"paxos-core".to_string()), "model depends on the core: {model:?}");
    assert!(!model.iter().any(|name| name == "paxos" || name == "tokio"), "model/Cargo.toml: {model:?}");
    // The checker shares no code with what it checks.
    let checker = dependencies("checker/Cargo.toml");
    assert!(!checker.iter().any(|name| name.starts_with("paxos")), "checker/Cargo.toml: {checker:?}");
    // Scenarios are data: chaos depends on them, not the reverse.
    assert!(!dependencies("scenarios/Cargo.toml")
        .iter()
        .any(|name| name == "chaos" || name.starts_with("paxos")));
}
