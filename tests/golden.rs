//! Pinned results: `hotcold simulate` must give these `summary.json` files byte for byte (all but
//! the wall-clock `"run"` object), so a refactoring that changes a single draw, count or rounding
//! fails here. A deliberate change to the model re-pins them: run the tests with
//! `HOTCOLD_BLESS=1` and commit the new files with a message that says what changed and why.

use std::path::{Path, PathBuf};

mod common;

use common::hotcold;

/// The summary's text up to its wall-clock `"run"` object.
fn pinned_part(summary: &str) -> &str {
    let cut = summary.find("\"run\"").expect("summary.json has a \"run\" object");
    &summary[..cut]
}

fn golden_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden").join(name)
}

/// Runs `hotcold simulate` with `args` and compares its summary with the golden file `name`.
fn assert_pinned(name: &str, args: &[&str]) {
    let out = common::scratch_dir("golden", name);
    let output =
        hotcold().arg("simulate").args(args).arg("--out").arg(&out).arg("--quiet").output().expect("run hotcold");
    assert!(output.status.success(), "hotcold simulate failed: {}", String::from_utf8_lossy(&output.stderr));
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    let actual = pinned_part(&summary);
    let golden = golden_file(name);
    if std::env::var_os("HOTCOLD_BLESS").is_some() {
        std::fs::write(&golden, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with HOTCOLD_BLESS=1 to create it)", golden.display()));
    if actual != expected {
        let first =
            actual.bytes().zip(expected.bytes()).position(|(a, b)| a != b).unwrap_or(actual.len().min(expected.len()));
        let from = first.saturating_sub(120);
        panic!(
            "{name}: summary.json differs from the pinned one at byte {first}\n  now:    ...{}...\n  pinned: ...{}...",
            &actual[from..(first + 120).min(actual.len())],
            &expected[from..(first + 120).min(expected.len())],
        );
    }
}

#[test]
fn tiny_gives_the_pinned_summary() {
    assert_pinned("tiny.summary.json", &["scenarios/tiny.yaml"]);
}

#[test]
fn the_shopflow_baseline_at_five_percent_gives_the_pinned_summary() {
    assert_pinned(
        "shopflow-baseline-sample-0.05.summary.json",
        &["scenarios/shopflow-baseline.yaml", "--sample", "0.05"],
    );
}
