//! Helpers shared by the end-to-end tests of the `hotcold` binary.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The built `hotcold` binary, run from the repository root (so `scenarios/...` resolves).
pub(crate) fn hotcold() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotcold"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// A fresh empty directory under the system temp dir, unique per process and call.
pub(crate) fn scratch_dir(suite: &str, label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hotcold-{suite}-{}-{label}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Asserts that `output` is bad input (exit 2) reported on one line naming every fragment.
#[allow(dead_code, reason = "each test crate compiles this module; not every one refuses input")]
pub(crate) fn assert_bad_input(output: &Output, what: &str, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line expected: {err}");
    for fragment in fragments {
        assert!(err.contains(fragment), "{what}: {err:?} does not name {fragment:?}");
    }
}
