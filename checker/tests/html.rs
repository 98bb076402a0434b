//! The `--html` timeline opened in a real headless browser (chromium, which `bash scripts/test.sh`
//! installs): every operation drawn as a bar, the violating ones highlighted, the page laid out.

use std::process::Command;

fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|browser| {
            Command::new(browser).arg("--version").output().is_ok_and(|output| output.status.success())
        })
        .expect(
            "a headless browser (chromium) renders the page in this test: `bash scripts/test.sh` installs it",
        )
}

#[test]
fn the_html_timeline_of_a_violation_renders_in_a_headless_browser() {
    let dir = std::env::temp_dir().join(format!("checker-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let history = dir.join("stale.jsonl");
    // A stale read: 2 is read after the write of 3 completed.
    std::fs::write(
        &history,
        r#"{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1}
{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1}
{"process": 1, "type": "invoke", "f": "write", "key": "x", "value": 2}
{"process": 1, "type": "ok", "f": "write", "key": "x", "value": 2}
{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 3}
{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 3}
{"process": 2, "type": "invoke", "f": "read", "key": "x", "value": null}
{"process": 2, "type": "ok", "f": "read", "key": "x", "value": 2}
{"process": 1, "type": "invoke", "f": "read", "key": "x", "value": null}
{"process": 1, "type": "ok", "f": "read", "key": "x", "value": 3}
"#,
    )
    .expect("write history");
    let page = dir.join("timeline.html");
    let output = Command::new(env!("CARGO_BIN_EXE_checker"))
        .args(["check", history.to_str().expect("utf-8"), "--html", page.to_str().expect("utf-8")])
        .output()
        .expect("checker runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "not linearizable: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let dom = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("browser runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let start = dom.find("data-rendered=\"").unwrap_or_else(|| panic!("the page did not render: {dom:.400}"));
    let rest = &dom[start + "data-rendered=\"".len()..];
    let fields: Vec<u64> = rest[..rest.find('"').expect("closes")]
        .split(':')
        .map(|field| field.parse().expect("number"))
        .collect();
    assert_eq!(fields[0], 5, "one bar per operation");
    assert!(fields[1] >= 2, "the violating operations are highlighted: {fields:?}");
    assert!(fields[2] > 100, "the timeline has a width: {fields:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
