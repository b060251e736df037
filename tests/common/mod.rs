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

/// A fresh empty directory under the system temp dir, unique per process and call. The first
/// call of a process removes the directories of this suite left by test processes that have
/// ended (runs leave them for a look after a failure; without this they pile up run after run,
/// about 100 MB a full test run, on the machine CI shares).
pub(crate) fn scratch_dir(suite: &str, label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| remove_ended_runs(suite));
    let dir = std::env::temp_dir().join(format!(
        "hotcold-{suite}-{}-{label}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Removes `hotcold-{suite}-{pid}-*` directories whose process has ended (Linux: no
/// `/proc/{pid}`; elsewhere nothing is removed).
fn remove_ended_runs(suite: &str) {
    let proc_fs = std::path::Path::new("/proc/self");
    if !proc_fs.exists() {
        return;
    }
    let prefix = format!("hotcold-{suite}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(&prefix).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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

/// A variable of the services' env file, or a failure that says how to get it (never a skip).
#[allow(dead_code, reason = "each test crate compiles this module; not every one needs a server")]
pub(crate) fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: this test needs the real servers and tools (Redis, DynamoDB Local, cfn-lint, \
             promtool). Run `scripts/test.sh` (it installs, starts and stops them), or `scripts/services.sh install \
             && scripts/services.sh start && source .services/run/env.sh` before `cargo test`."
        ),
    }
}

/// A name no other test run uses (key prefixes, tables).
#[allow(dead_code, reason = "each test crate compiles this module; not every one names resources")]
pub(crate) fn unique(what: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{what}-{}-{:x}-{}", std::process::id(), nanos & 0xffff_ffff, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A loopback port free now (for a server a test starts).
#[allow(dead_code, reason = "each test crate compiles this module; not every one starts a server")]
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A private `redis-server` on a free port (so stopping it disturbs no other test): an outage
/// the test controls, a legacy store. Stopped when dropped.
#[allow(dead_code, reason = "each test crate compiles this module; not every one starts a server")]
pub(crate) struct OwnRedis {
    child: std::process::Child,
    /// Its port.
    pub(crate) port: u16,
}

#[allow(dead_code, reason = "each test crate compiles this module; not every one starts a server")]
impl OwnRedis {
    /// Starts a server on `port` and waits until it listens (10 s at most).
    pub(crate) fn start_on(port: u16) -> Self {
        let binary = env("HOTCOLD_REDIS_SERVER_BIN");
        let child = std::process::Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, port }
    }

    /// Kills it (an outage); dropping it does the same.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
