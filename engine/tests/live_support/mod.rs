//! Shared helpers of the live tests (real Redis and DynamoDB Local).
//!
//! Every server address comes from the environment `scripts/services.sh start` writes
//! (`.services/run/env.sh`); a missing variable fails the test with a message naming
//! `scripts/test.sh`. Tests that stop or kill a server start their own on a free port and
//! never touch the shared ones.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotcold_engine::audit::trail::{MemoryOutbox, Trail};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::{Clock, Engine, EngineConfig, SessionConfig, SystemClock, Timestamp};

/// A variable of the services' env file, or a failure that says how to get it.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: the live tests need the real servers. Run `scripts/test.sh` (it installs, \
             starts and stops them), or `scripts/services.sh start && source .services/run/env.sh` before \
             `cargo test`."
        ),
    }
}

pub fn redis_urls() -> Vec<String> {
    let urls: Vec<String> = env("HOTCOLD_REDIS_URLS").split(',').map(str::to_string).collect();
    assert_eq!(urls.len(), 3, "HOTCOLD_REDIS_URLS must list 3 standalone servers (one per region)");
    urls
}

pub fn cluster_urls() -> Vec<String> {
    env("HOTCOLD_REDIS_CLUSTER_URLS").split(',').map(str::to_string).collect()
}

pub fn dynamodb_endpoint() -> String {
    env("HOTCOLD_DYNAMODB_ENDPOINT")
}

/// A name no other test run uses (keys, tables).
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{what}-{}-{:x}-{}", std::process::id(), nanos & 0xffff_ffff, COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn standalone_config(url: &str, label: &str) -> RedisHotConfig {
    RedisHotConfig::standalone(url).with_prefix(unique("t")).with_label(format!("redis {label}"))
}

pub async fn standalone_store(url: &str, label: &str) -> RedisHotStore {
    RedisHotStore::connect(standalone_config(url, label)).await.expect("connect to standalone redis")
}

pub async fn cluster_store(label: &str) -> RedisHotStore {
    let config = RedisHotConfig::cluster(cluster_urls()).with_prefix(unique("t")).with_label(format!("redis {label}"));
    RedisHotStore::connect(config).await.expect("connect to redis cluster")
}

/// Fresh sessions and audit tables on `endpoint`.
pub async fn dynamo_config(endpoint: &str) -> DynamoConfig {
    let name = unique("hc");
    DynamoConfig::local(endpoint, format!("{name}-sessions"), format!("{name}-audit"))
}

/// The audit trail the live tests use: the audit table, deferring to memory.
pub type DynamoAudit = Trail<DynamoAuditLog, MemoryOutbox>;

/// The audit trail over `log`, writing as a fresh writer.
pub fn trail(log: DynamoAuditLog) -> DynamoAudit {
    Trail::new(unique("test"), log, MemoryOutbox::new())
}

/// A DynamoDB audit log on `config`'s audit table, links keyed by a fixed test key.
pub fn audit_log(cold: &DynamoColdStore, config: DynamoConfig) -> DynamoAuditLog {
    let key = hotcold_engine::PseudonymKey::from_secret(b"live tests' audit link key").expect("long enough");
    DynamoAuditLog::new(cold.client().clone(), config, key)
}

pub async fn dynamo_stores(config: DynamoConfig) -> (DynamoColdStore, DynamoAudit) {
    let cold = DynamoColdStore::connect(config.clone(), true).await.expect("create DynamoDB tables");
    let audit = trail(audit_log(&cold, config));
    (cold, audit)
}

/// The system clock plus an offset tests move forward, so idle sessions become due for demotion
/// without waiting 30 minutes (Redis TTLs are relative and unaffected).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicU64,
}

impl OffsetClock {
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp(SystemClock.now().0 + self.offset_ms.load(Ordering::Relaxed))
    }
}

pub fn shared_clock() -> Arc<OffsetClock> {
    Arc::new(OffsetClock::default())
}

/// An engine on the live servers: a standalone Redis per region, DynamoDB, its audit table.
pub type LiveEngine = Engine<RedisHotStore, DynamoColdStore, DynamoAudit, Arc<OffsetClock>>;

/// The default configuration over the services' three standalone Redis servers (labelled
/// `<label> <region number>`), `cold` and `trail`, on a clock of its own ([`shared_clock`]).
pub async fn live_engine(cold: DynamoColdStore, trail: DynamoAudit, label: &str) -> Arc<LiveEngine> {
    let mut hot = Vec::new();
    for (i, url) in redis_urls().iter().enumerate() {
        hot.push(standalone_store(url, &format!("{label} {i}")).await);
    }
    let engine = Engine::new(SessionConfig::default(), EngineConfig::default(), hot, cold, trail, shared_clock());
    Arc::new(engine.expect("engine"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().unwrap().port()
}

fn redis_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

fn http_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
    if stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"HTTP/"))
}

/// A redis-server of the test's own (HOTCOLD_REDIS_SERVER_BIN), killed on drop.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
}

impl OwnRedis {
    pub fn start() -> Self {
        let mut server = Self { port: free_port(), child: None, extra: Vec::new() };
        server.launch();
        server
    }

    /// A Redis Cluster node (not yet joined) with its config in `dir`, on a port whose cluster
    /// bus port (+10000) is free too.
    pub fn start_cluster_node(dir: &std::path::Path) -> Self {
        let port = loop {
            let port = free_port();
            if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
                break port;
            }
        };
        std::fs::create_dir_all(dir).expect("node dir");
        let extra = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            "--dir",
            dir.to_str().expect("utf-8 dir"),
        ];
        let mut server = Self { port, child: None, extra: extra.iter().map(|a| a.to_string()).collect() };
        server.launch();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let bin = env("HOTCOLD_REDIS_SERVER_BIN");
        let child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis_answers(self.port) {
            assert!(Instant::now() < deadline, "own redis-server on port {} did not answer PING", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the server and everything it held are gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: unreachable (calls time out) but holding everything it held.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: back, with its data.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill");
            assert!(status.success(), "kill {signal} redis-server");
        }
    }

    /// Starts a new, empty server on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A DynamoDB Local of the test's own (HOTCOLD_DYNAMODB_LOCAL_CMD), killed on drop. Pausing it
/// (SIGSTOP) makes it unreachable without losing its in-memory tables.
pub struct OwnDynamo {
    pub port: u16,
    child: Child,
}

impl OwnDynamo {
    pub fn start() -> Self {
        let cmd = env("HOTCOLD_DYNAMODB_LOCAL_CMD");
        let port = free_port();
        let child = Command::new("sh")
            .args(["-c", &cmd, "sh", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start DynamoDB Local");
        let deadline = Instant::now() + Duration::from_secs(90);
        while !http_answers(port) {
            assert!(Instant::now() < deadline, "own DynamoDB Local on port {port} did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { port, child }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} DynamoDB Local");
    }

    /// Freezes the process: connections hang, calls time out.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for OwnDynamo {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `INFO commandstats` of the server at `url` as (command, calls) pairs.
pub async fn command_calls(url: &str) -> std::collections::BTreeMap<String, u64> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect for INFO");
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.expect("INFO");
    info.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// What changed between two `command_calls` snapshots (commands with a non-zero difference).
pub fn command_delta(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(name, delta)| *delta > 0 && name != "info")
        .collect()
}
