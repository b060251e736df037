//! Hot path against one local redis-server: latency (p50/p95/p99) and throughput of
//! `RedisHotStore::get_and_touch` and of `SessionManager::get` (a hot hit through the engine),
//! against a bare `GET` of a same-sized value over the same client connection.
//!
//! ```text
//! cargo bench -p hotcold-engine --features redis --bench redis_hot_path
//! ```
//!
//! Starts its own redis-server (HOTCOLD_REDIS_SERVER_BIN, else `redis-server` on PATH) on a free
//! loopback port, or uses HOTCOLD_BENCH_REDIS_URL if set. Targets (ADR-0010 hot path): engine
//! p95 at most 1.2x the bare GET's p95, engine throughput at least 80% of the bare GET's.
//! Knobs: HOTCOLD_BENCH_ROUNDS (latency rounds, default 20), HOTCOLD_BENCH_OPS (sequential ops
//! per variant per round, default 1000), HOTCOLD_BENCH_THROUGHPUT_ROUNDS (default 10),
//! HOTCOLD_BENCH_ROUND_MS (throughput milliseconds per variant per round, default 500),
//! HOTCOLD_BENCH_CONCURRENCY (in-flight requests for throughput, default 32).
//!
//! Variants alternate in short rounds and ratios are medians of per-round ratios, so that load
//! from elsewhere on a small shared machine affects them alike.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::store::{HotLookup, HotStore};
use hotcold_engine::{
    Clock, Engine, EngineConfig, Lookup, RegionId, Served, Session, SessionConfig, SessionData, SessionManager,
    SystemClock, UserId,
};

const SESSIONS: usize = 1000;
const TTL: Duration = Duration::from_secs(7200);

/// One hot store for the region under test and in-memory stand-ins for the two others (a hot
/// hit in region 0 never touches them, nor the cold tier).
enum Hot {
    Redis(Arc<RedisHotStore>),
    Memory(Box<MemoryHotStore>),
}

impl HotStore for Hot {
    async fn get_and_touch(
        &self,
        id: &hotcold_engine::SessionId,
        now: hotcold_engine::Timestamp,
        ttl: Duration,
    ) -> HotLookup {
        match self {
            Self::Redis(s) => s.get_and_touch(id, now, ttl).await,
            Self::Memory(s) => s.get_and_touch(id, now, ttl).await,
        }
    }
    async fn put(
        &self,
        session: &Session,
        ttl: Duration,
    ) -> Result<hotcold_engine::HotWrite, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.put(session, ttl).await,
            Self::Memory(s) => s.put(session, ttl).await,
        }
    }
    async fn update(
        &self,
        id: &hotcold_engine::SessionId,
        data: &SessionData,
        expected_version: u64,
        now: hotcold_engine::Timestamp,
        ttl: Duration,
    ) -> Result<hotcold_engine::HotUpdate, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.update(id, data, expected_version, now, ttl).await,
            Self::Memory(s) => s.update(id, data, expected_version, now, ttl).await,
        }
    }
    async fn take(&self, id: &hotcold_engine::SessionId) -> HotLookup {
        match self {
            Self::Redis(s) => s.take(id).await,
            Self::Memory(s) => s.take(id).await,
        }
    }
    async fn remove(&self, id: &hotcold_engine::SessionId) -> Result<bool, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.remove(id).await,
            Self::Memory(s) => s.remove(id).await,
        }
    }
    async fn remove_if_unchanged(
        &self,
        id: &hotcold_engine::SessionId,
        version: u64,
        last_access: hotcold_engine::Timestamp,
    ) -> Result<bool, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.remove_if_unchanged(id, version, last_access).await,
            Self::Memory(s) => s.remove_if_unchanged(id, version, last_access).await,
        }
    }
    async fn idle_candidates(
        &self,
        idle_since: hotcold_engine::Timestamp,
        limit: usize,
        now: hotcold_engine::Timestamp,
    ) -> Result<Vec<hotcold_engine::store::IdleEntry>, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.idle_candidates(idle_since, limit, now).await,
            Self::Memory(s) => s.idle_candidates(idle_since, limit, now).await,
        }
    }
    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.dirty(limit).await,
            Self::Memory(s) => s.dirty(limit).await,
        }
    }
    async fn mark_persisted(
        &self,
        id: &hotcold_engine::SessionId,
        version: u64,
    ) -> Result<(), hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.mark_persisted(id, version).await,
            Self::Memory(s) => s.mark_persisted(id, version).await,
        }
    }
    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.sessions_of_user(user).await,
            Self::Memory(s) => s.sessions_of_user(user).await,
        }
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&hotcold_engine::SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.sessions_of_user_page(user, after, limit).await,
            Self::Memory(s) => s.sessions_of_user_page(user, after, limit).await,
        }
    }
    async fn session_count(&self) -> Result<u64, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.session_count().await,
            Self::Memory(s) => s.session_count().await,
        }
    }
    async fn guests(
        &self,
        home: hotcold_engine::RegionId,
        limit: usize,
        now: hotcold_engine::Timestamp,
    ) -> Result<Vec<Session>, hotcold_engine::StoreError> {
        match self {
            Self::Redis(s) => s.guests(home, limit, now).await,
            Self::Memory(s) => s.guests(home, limit, now).await,
        }
    }
}

type BenchManager = SessionManager<Hot, MemoryColdStore, MemoryAudit, SystemClock>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    BareGet,
    StoreTouch,
    EngineGet,
    StoreTouchExact,
    StoreTouchGetex,
}

impl Variant {
    const ALL: [Self; 5] =
        [Self::BareGet, Self::StoreTouch, Self::EngineGet, Self::StoreTouchExact, Self::StoreTouchGetex];

    fn name(self) -> &'static str {
        match self {
            Self::BareGet => "bare GET (same client)",
            Self::StoreTouch => "RedisHotStore::get_and_touch",
            Self::EngineGet => "SessionManager::get (hot hit)",
            Self::StoreTouchExact => "get_and_touch, granularity 0",
            Self::StoreTouchGetex => "get_and_touch, GETEX light",
        }
    }
}

struct Bench {
    store: Arc<RedisHotStore>,
    exact: RedisHotStore,
    getex: RedisHotStore,
    manager: Arc<BenchManager>,
    ids: Vec<hotcold_engine::SessionId>,
    bare_keys: Vec<String>,
}

impl Bench {
    async fn one(&self, variant: Variant, i: usize) {
        let n = i % SESSIONS;
        match variant {
            Variant::BareGet => {
                let value = self.store.raw_get(&self.bare_keys[n]).await.expect("GET");
                assert!(value.is_some(), "bare key present");
            }
            Variant::StoreTouch => match self.store.get_and_touch(&self.ids[n], SystemClock.now(), TTL).await {
                HotLookup::Hit(_) => {}
                other => panic!("get_and_touch: {other:?}"),
            },
            Variant::StoreTouchGetex => match self.getex.get_and_touch(&self.ids[n], SystemClock.now(), TTL).await {
                HotLookup::Hit(_) => {}
                other => panic!("get_and_touch (GETEX): {other:?}"),
            },
            Variant::StoreTouchExact => match self.exact.get_and_touch(&self.ids[n], SystemClock.now(), TTL).await {
                HotLookup::Hit(_) => {}
                other => panic!("get_and_touch (granularity 0): {other:?}"),
            },
            Variant::EngineGet => match self.manager.get(&self.ids[n]).await {
                Lookup::Found { served: Served::Hot, .. } => {}
                other => panic!("SessionManager::get: {other:?}"),
            },
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct OwnServer(Option<Child>);

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_server() -> (String, OwnServer) {
    if let Ok(url) = std::env::var("HOTCOLD_BENCH_REDIS_URL") {
        return (url, OwnServer(None));
    }
    let bin = std::env::var("HOTCOLD_REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin} (set HOTCOLD_REDIS_SERVER_BIN or HOTCOLD_BENCH_REDIS_URL): {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (format!("redis://127.0.0.1:{port}"), OwnServer(Some(child)))
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (url, _server) = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run(url));
}

async fn run(url: String) {
    let ops = env_or("HOTCOLD_BENCH_OPS", 1000) as usize;
    let rounds = env_or("HOTCOLD_BENCH_ROUNDS", 20) as usize;
    let millis = env_or("HOTCOLD_BENCH_ROUND_MS", 500);
    let throughput_rounds = env_or("HOTCOLD_BENCH_THROUGHPUT_ROUNDS", 10) as usize;
    let concurrency = env_or("HOTCOLD_BENCH_CONCURRENCY", 32) as usize;

    let store = Arc::new(
        RedisHotStore::connect(
            RedisHotConfig::standalone(&url).with_prefix("bench").with_timeout(Duration::from_secs(2)),
        )
        .await
        .expect("connect"),
    );
    // ~1 KB of session JSON; the bare GET reads a value of the same size.
    let payload = format!(r#"{{"cart":"{}"}}"#, "x".repeat(1000));
    let data = SessionData::from_stored(Bytes::from(payload.clone()));
    let user = UserId::new("bench-user").unwrap();
    let engine = Arc::new(
        Engine::new(
            SessionConfig::default(),
            EngineConfig::default(),
            vec![
                Hot::Redis(store.clone()),
                Hot::Memory(Box::new(MemoryHotStore::new("r1"))),
                Hot::Memory(Box::new(MemoryHotStore::new("r2"))),
            ],
            MemoryColdStore::new("cold"),
            MemoryAudit::counting(),
            SystemClock,
        )
        .unwrap(),
    );
    let manager = Arc::new(SessionManager::with_token_seed(engine, RegionId(0), 99));
    let mut ids = Vec::with_capacity(SESSIONS);
    let mut bare_keys = Vec::with_capacity(SESSIONS);
    for n in 0..SESSIONS {
        let created = manager.create(user.clone(), data.clone()).await.expect("create");
        ids.push(created.session.id);
        let key = format!("bench:bare:{n}");
        store.raw_set(&key, payload.as_bytes()).await.expect("SET");
        bare_keys.push(key);
    }
    // The same sessions through a store that fully touches on every access.
    let exact = RedisHotStore::connect(
        RedisHotConfig::standalone(&url)
            .with_prefix("bench")
            .with_timeout(Duration::from_secs(2))
            .with_touch_granularity(Duration::ZERO),
    )
    .await
    .expect("connect");
    let getex = RedisHotStore::connect(RedisHotConfig {
        refresh_ttl_on_every_access: true,
        ..RedisHotConfig::standalone(&url).with_prefix("bench").with_timeout(Duration::from_secs(2))
    })
    .await
    .expect("connect");
    let bench = Arc::new(Bench { store, exact, getex, manager, ids, bare_keys });

    // Warm-up.
    for variant in Variant::ALL {
        for i in 0..2000 {
            bench.one(variant, i).await;
        }
    }

    // Latency: one request at a time. Variants alternate in short rounds so that load from
    // elsewhere on the machine hits them alike; each round's p95 is compared with the bare GET's
    // p95 of the same round, and the median of those ratios is reported beside the pooled figures.
    let variants = Variant::ALL.len();
    let mut histograms: Vec<Histogram<u64>> =
        Variant::ALL.iter().map(|_| Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()).collect();
    let mut p95_ratios: Vec<Vec<f64>> = vec![Vec::new(); variants];
    for round in 0..rounds {
        let mut round_p95 = vec![0u64; variants];
        for k in 0..variants {
            let index = (k + round) % variants;
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            for i in 0..ops {
                let start = Instant::now();
                bench.one(Variant::ALL[index], round * ops + i).await;
                h.record(start.elapsed().as_nanos() as u64).unwrap();
            }
            round_p95[index] = h.value_at_quantile(0.95);
            histograms[index].add(&h).unwrap();
        }
        for index in 0..variants {
            p95_ratios[index].push(round_p95[index] as f64 / round_p95[0] as f64);
        }
    }

    // Throughput: `concurrency` requests in flight over the one multiplexed connection, in
    // alternating rounds; the median of per-round ratios to the bare GET is reported.
    let mut throughput = vec![0f64; variants];
    let mut throughput_ratios: Vec<Vec<f64>> = vec![Vec::new(); variants];
    for round in 0..throughput_rounds {
        let mut round_rate = vec![0f64; variants];
        for k in 0..variants {
            let index = (k + round) % variants;
            let variant = Variant::ALL[index];
            let done = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = (0..concurrency)
                .map(|t| {
                    let (bench, done, stop) = (bench.clone(), done.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut i = t * 7919;
                        while !stop.load(Ordering::Relaxed) {
                            bench.one(variant, i).await;
                            done.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                        }
                    })
                })
                .collect();
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(millis)).await;
            stop.store(true, Ordering::Relaxed);
            let elapsed = start.elapsed().as_secs_f64();
            for task in tasks {
                task.await.unwrap();
            }
            round_rate[index] = done.load(Ordering::Relaxed) as f64 / elapsed;
            throughput[index] += round_rate[index] / throughput_rounds as f64;
        }
        for index in 0..variants {
            throughput_ratios[index].push(round_rate[index] / round_rate[0]);
        }
    }

    println!(
        "hot path against {url}: {SESSIONS} sessions of ~1 KB; latency {rounds} x {ops} sequential ops per variant"
    );
    println!("{:<32} {:>9} {:>9} {:>9} {:>9} {:>12}", "variant", "p50 us", "p95 us", "p99 us", "mean us", "ops/s");
    for (index, variant) in Variant::ALL.iter().enumerate() {
        let h = &histograms[index];
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<32} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>12.0}",
            variant.name(),
            us(0.50),
            us(0.95),
            us(0.99),
            h.mean() / 1000.0,
            throughput[index]
        );
    }
    println!(
        "throughput: {concurrency} requests in flight, {throughput_rounds} rounds of {millis} ms per variant; \
         ratios are medians of per-round ratios ({rounds} latency rounds)"
    );
    for (index, label) in [(1, "store"), (2, "engine"), (3, "store, granularity 0"), (4, "store, GETEX light touches")]
    {
        let latency_ratio = median(&p95_ratios[index]);
        let pooled_ratio =
            histograms[index].value_at_quantile(0.95) as f64 / histograms[0].value_at_quantile(0.95) as f64;
        let throughput_ratio = median(&throughput_ratios[index]);
        println!(
            "{label}: p95 ratio {latency_ratio:.2}x bare GET (pooled {pooled_ratio:.2}x; target <= 1.20: {}), \
             throughput {:.0}% of bare GET (target >= 80%: {})",
            if latency_ratio <= 1.2 { "met" } else { "NOT met" },
            throughput_ratio * 100.0,
            if throughput_ratio >= 0.8 { "met" } else { "NOT met" },
        );
    }
    // The server's own cost per command (client CPU excluded): what a Redis node spends.
    if let Ok(stats) = server_costs(&url).await {
        println!("server time per call (INFO commandstats usec_per_call): {stats}");
    }
}

async fn server_costs(url: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await?;
    let mut parts = Vec::new();
    for command in ["get", "getex", "evalsha"] {
        let prefix = format!("cmdstat_{command}:");
        if let Some(line) = info.lines().find(|l| l.starts_with(&prefix)) {
            let usec = line.split(',').find_map(|kv| kv.strip_prefix("usec_per_call=")).unwrap_or("?");
            parts.push(format!("{command} {usec} us"));
        }
    }
    Ok(parts.join(", "))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}
