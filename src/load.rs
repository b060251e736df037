//! `hotcold load SCENARIO --config FILE [--speedup X] [--out DIR]`: the scenario's synthetic
//! traffic against the live engine (the backends of `hotcold serve`'s config), time compressed by
//! X, written as a run directory in the format of `hotcold simulate`.
//!
//! Compressing time: every duration of the scenario (its length, think times, return gaps) and of
//! the engine (TTLs, thresholds, sync interval) is divided by X and the engine runs on the system
//! clock, so a session's life has the same shape in fewer seconds. Latencies are the real ones.
//! Counts and request units come from the run; hot sessions are counted in Redis at the end of
//! each time-series bucket; cold items, stored bytes and request units are metered at the
//! engine's calls to DynamoDB by the formulas of CONTRACT section 4 (so they cover this run's
//! sessions only, even in a shared table). Redis bytes are estimated as hot sessions x (mean
//! payload + overhead) x fragmentation. Faults cannot be injected into live backends: a scenario
//! with `faults:` is refused.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use hotcold_engine::backends::dynamodb::{DynamoAudit, DynamoColdStore};
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, Engine, EngineConfig, EngineError, HotStore as _, RegionId, Served, Session,
    SessionConfig, SessionData, SessionId, SessionManager, StoreError, SyncReport, SyncService, SystemClock, Timestamp,
    Touched, UserId,
};
use hotcold_sim::record::{
    BucketRow, Counts, Failover, Hist, Latencies, RegionLatency, RegionUsage, RunStats, Storage, Tiers, round3,
};
use hotcold_sim::rng::SimRng;
use hotcold_sim::units::FastSampler;
use hotcold_sim::{RunRecord, Scenario};
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

use crate::Failure;
use crate::serve::config::ServeConfig;
use crate::serve::connect_backends;
use crate::serve::metrics::{Metrics, Timed};

/// Arguments of `hotcold load`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) scenario: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) speedup: f64,
    pub(crate) out: Option<PathBuf>,
}

type Hot = Timed<RedisHotStore>;
type Cold = Metered<Timed<DynamoColdStore>>;
type LoadEngine = Engine<Hot, Cold, DynamoAudit, SystemClock>;
type Manager = SessionManager<Hot, Cold, DynamoAudit, SystemClock>;

/// Largest latency recorded, microseconds; larger values are clamped to it.
const HIST_MAX_US: u64 = 60_000_000;
/// Most time `load` waits for requests in flight at the end of the run.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the scenario against the live backends and writes the run directory.
pub(crate) fn load(args: &Args) -> Result<(), Failure> {
    let scenario = Scenario::load(&args.scenario).map_err(|e| Failure::BadInput(e.into()))?;
    let config = ServeConfig::load(&args.config).map_err(|e| Failure::BadInput(anyhow!(e)))?;
    let plan = Plan::new(scenario, &config, args.speedup).map_err(Failure::BadInput)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{}-load", plan.scenario.name, plan.scenario.seed)));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the run directory {}", out.display()))
        .map_err(Failure::Failed)?;
    eprintln!(
        "hotcold load: {} at {}x: {:.0} s of wall time against {} Redis tier(s) and DynamoDB",
        plan.scenario.name,
        plan.speedup,
        plan.scenario.duration.as_secs_f64() / plan.speedup,
        plan.redis.len()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    let (record, lateness) = runtime.block_on(drive(&plan, &config)).map_err(Failure::Failed)?;
    let summary = record.summary();
    crate::simulate::write_run_directory(&out, &record, &summary).map_err(Failure::Failed)?;
    let full = hotcold_reports::write_reports(&out, &record).map_err(|e| Failure::Failed(e.into()))?;
    print!("{}", crate::simulate::one_screen("load", &record, &summary, &out));
    println!(
        "  schedule        events started {:.1} ms late at p99 (wall time; max {:.1} ms){}",
        lateness.p99_ms,
        lateness.max_ms,
        if lateness.p99_ms > 1000.0 { ": the backends could not keep up, lower --speedup or sample" } else { "" }
    );
    print!("{}", crate::report::verdict_lines(&full));
    Ok(())
}

/// A checked run: the scenario with every duration of the engine divided by the speedup.
struct Plan {
    scenario: Scenario,
    speedup: f64,
    session_config: SessionConfig,
    engine_config: EngineConfig,
    redis: Vec<hotcold_engine::backends::redis::RedisHotConfig>,
}

fn scaled(d: Duration, speedup: f64) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() / speedup)
}

impl Plan {
    fn new(scenario: Scenario, config: &ServeConfig, speedup: f64) -> anyhow::Result<Self> {
        if !(speedup.is_finite() && speedup > 0.0) {
            return Err(anyhow!("--speedup must be a positive number, got {speedup}"));
        }
        if !scenario.faults.is_empty() {
            return Err(anyhow!(
                "{}: `faults:` cannot be injected into live backends; remove them to run `load`, or use `simulate`",
                scenario.name
            ));
        }
        let regions = &scenario.session_config.hot_storage.regions;
        let mut redis = Vec::new();
        for region in regions {
            let entry = config.redis_config_for(region).ok_or_else(|| {
                anyhow!("the config has no `redis.{region}` entry, and the scenario has traffic for that region")
            })?;
            redis.push(entry);
        }
        let mut session_config = scenario.session_config.clone();
        let hot = &mut session_config.hot_storage;
        hot.ttl = scaled(hot.ttl, speedup);
        hot.promotion_threshold = scaled(hot.promotion_threshold, speedup);
        let cold = &mut session_config.cold_storage;
        cold.ttl = scaled(cold.ttl, speedup);
        cold.compliance_retention = scaled(cold.compliance_retention, speedup);
        cold.analytics_retention = scaled(cold.analytics_retention, speedup);
        let sync = &mut session_config.sync;
        sync.sync_interval = scaled(sync.sync_interval, speedup);
        sync.cross_region_delay = scaled(sync.cross_region_delay, speedup);
        let mut engine_config = scenario.engine.clone();
        engine_config.write_behind_interval = scaled(engine_config.write_behind_interval, speedup);
        engine_config.active_window = scaled(engine_config.active_window, speedup);
        let too_fast = |e: hotcold_engine::ConfigError| {
            anyhow!("at --speedup {speedup}, {}: {} (lower --speedup)", e.key, e.message)
        };
        session_config.validate().map_err(too_fast)?;
        engine_config.validate().map_err(too_fast)?;
        Ok(Self { scenario, speedup, session_config, engine_config, redis })
    }
}

/// How late events started against their scheduled wall time.
#[derive(Debug, Default)]
struct Lateness {
    p99_ms: f64,
    max_ms: f64,
}

/// DynamoDB usage of this run, metered at the engine's calls (CONTRACT section 4).
#[derive(Debug, Default)]
struct Ledger {
    usage: Vec<RegionUsage>,
    /// Items this run holds in the table: bytes, last access (wall ms), home region.
    items: HashMap<SessionId, (u64, u64, usize)>,
    /// Items dropped once past the cold TTL (DynamoDB's TTL deletion).
    purged: u64,
}

impl Ledger {
    fn by_home(&self, region: usize) -> (u64, u64) {
        self.items
            .values()
            .filter(|(_, _, home)| *home == region)
            .fold((0, 0), |(n, b), (bytes, _, _)| (n + 1, b + bytes))
    }

    fn stored(&self) -> (u64, u64) {
        (self.items.len() as u64, self.items.values().map(|(bytes, _, _)| bytes).sum())
    }

    /// Drops items whose last access is at least `ttl_ms` before `now_ms`.
    fn purge(&mut self, now_ms: u64, ttl_ms: u64) {
        let before = self.items.len();
        self.items.retain(|_, (_, last_access, _)| last_access.saturating_add(ttl_ms) > now_ms);
        self.purged += (before - self.items.len()) as u64;
    }
}

/// The cold store with a [`Ledger`] of request units, calls and stored items.
struct Metered<C> {
    inner: C,
    ledger: Arc<Mutex<Ledger>>,
    item_overhead: u64,
    regions: u64,
}

impl<C> Metered<C> {
    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        f(&mut self.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn item_bytes(&self, session: &Session) -> u64 {
        session.data.len() as u64 + self.item_overhead
    }

    fn written(&self, ledger: &mut Ledger, session: &Session, writer: usize, outcome: ColdWrite) {
        let item = self.item_bytes(session);
        let usage = &mut ledger.usage[writer];
        usage.wru += item.div_ceil(1024); // a failed conditional write still consumes its units
        if outcome == ColdWrite::Written {
            usage.replicated_wru += item.div_ceil(1024) * (self.regions - 1);
            usage.replicated_bytes += item * (self.regions - 1);
            ledger.items.insert(session.id, (item, session.last_access.0, usize::from(session.id.home().0)));
        }
    }

    fn called(&self, ledger: &mut Ledger, region: usize, calls: u64, failed: bool) {
        ledger.usage[region].dynamo_calls += calls;
        ledger.usage[region].dynamo_errors += u64::from(failed) * calls;
    }
}

impl<C: ColdStore> ColdStore for Metered<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        let lookup = self.inner.get(id, reader).await;
        self.with(|ledger| {
            let region = usize::from(reader.0);
            self.called(ledger, region, 1, matches!(lookup, ColdLookup::Unavailable(_)));
            ledger.usage[region].rru += match &lookup {
                ColdLookup::Found(session) => self.item_bytes(session).div_ceil(4096),
                ColdLookup::Miss => 1,
                ColdLookup::Unavailable(_) => 0,
            };
        });
        lookup
    }

    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        let answer = self.inner.put(session, writer, now).await;
        self.with(|ledger| {
            let region = usize::from(writer.0);
            self.called(ledger, region, 1, answer.is_err());
            if let Ok(outcome) = answer {
                self.written(ledger, session, region, outcome);
            }
        });
        answer
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        let answer = self.inner.put_batch(sessions, writer, now).await;
        self.with(|ledger| {
            let region = usize::from(writer.0);
            self.called(ledger, region, sessions.len().div_ceil(25) as u64, answer.is_err());
            if let Ok(outcomes) = &answer {
                for (session, outcome) in sessions.iter().zip(outcomes) {
                    self.written(ledger, session, region, *outcome);
                }
            }
        });
        answer
    }

    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let answer = self.inner.delete(id, writer, now).await;
        self.with(|ledger| {
            let region = usize::from(writer.0);
            self.called(ledger, region, 1, answer.is_err());
            match &answer {
                Ok(Some(session)) => {
                    let wru = self.item_bytes(session).div_ceil(1024);
                    ledger.usage[region].wru += wru;
                    ledger.usage[region].replicated_wru += wru * (self.regions - 1);
                    ledger.items.remove(id);
                }
                Ok(None) => ledger.usage[region].wru += 1,
                Err(_) => {}
            }
        });
        answer
    }

    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user(user, reader).await
    }
}

/// A simulated user, as `hotcold simulate` models one.
#[derive(Debug, Clone)]
struct User {
    id: Option<SessionId>,
    user_id: UserId,
    version: u64,
    payload: u32,
    /// Scenario ms of the last request.
    last_access: u64,
    /// Requests left in the current visit; 0 while away.
    remaining: u32,
    home: usize,
}

/// What one request did.
#[derive(Debug)]
struct Outcome {
    slot: usize,
    user: User,
    t: u64,
    serving: usize,
    class: Class,
    latency_us: u64,
    lost: bool,
    invalid: bool,
    updated: Option<bool>,
    failed: bool,
    logged_out: bool,
    last: bool,
    logout: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Hot,
    Promoted,
    ColdOnly,
    Create,
    None,
}

/// One request's draws, made by the scheduler so the task needs no random numbers.
#[derive(Debug, Clone, Copy)]
struct Draws {
    serving: usize,
    update: bool,
    logout: bool,
}

async fn run_request(
    managers: Arc<Vec<Manager>>,
    slot: usize,
    mut user: User,
    t: u64,
    draws: Draws,
    cold_ttl_ms: u64,
) -> Outcome {
    let manager = &managers[draws.serving];
    let started = Instant::now();
    let mut class = Class::None;
    let (mut lost, mut invalid, mut updated, mut failed) = (false, false, None, false);
    if let Some(id) = user.id {
        match manager.touch(&id).await {
            Ok(Touched { version, served, .. }) => {
                class = match served {
                    Served::Hot => Class::Hot,
                    Served::Promoted => Class::Promoted,
                    Served::ColdOnly => Class::ColdOnly,
                };
                lost = version < user.version;
                user.version = version;
                if draws.update {
                    let data = SessionData::opaque(user.payload as usize);
                    match manager.update(&id, data, version).await {
                        Ok(session) => {
                            user.version = session.version;
                            updated = Some(true);
                        }
                        Err(e) => {
                            updated = Some(false);
                            failed |= matches!(e, EngineError::Store(_));
                        }
                    }
                }
            }
            Err(EngineError::NotFound) => {
                invalid = true;
                lost = t < user.last_access.saturating_add(cold_ttl_ms);
                user.id = None;
            }
            Err(_) => failed = true,
        }
    }
    if user.id.is_none() && !failed {
        match manager.create(user.user_id.clone(), SessionData::opaque(user.payload as usize)).await {
            Ok(created) => {
                user.id = Some(created.session.id);
                user.version = 1;
                class = Class::Create;
            }
            Err(_) => failed = true,
        }
    }
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
    let last = user.remaining <= 1;
    let mut logged_out = false;
    if last && draws.logout {
        if let Some(id) = user.id {
            logged_out = manager.logout(&id).await.is_ok();
        }
    }
    user.last_access = t;
    user.remaining = user.remaining.saturating_sub(1);
    let class = if failed { Class::None } else { class };
    Outcome {
        slot,
        user,
        t,
        serving: draws.serving,
        class,
        latency_us,
        lost,
        invalid,
        updated,
        failed,
        logged_out,
        last,
        logout: draws.logout,
    }
}

/// One sync pass done by a region's sync task.
struct SyncDone {
    region: usize,
    report: SyncReport,
    seconds: f64,
    flush: bool,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Per-region accumulators of the current time-series bucket.
#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    requests: u64,
    hot_hits: u64,
    promotions: u64,
    losses: u64,
    failures: u64,
    demotions: u64,
    expiries: u64,
}

/// Runs the traffic; answers the run's record and how late events started.
#[allow(clippy::too_many_lines)]
async fn drive(plan: &Plan, config: &ServeConfig) -> anyhow::Result<(RunRecord, Lateness)> {
    let sc = &plan.scenario;
    let x = plan.speedup;
    let names = sc.session_config.hot_storage.regions.clone();
    let regions = names.len();
    let mut dynamo = config.dynamo_config();
    dynamo.cold_ttl = plan.session_config.cold_storage.ttl;
    dynamo.compliance_retention = plan.session_config.cold_storage.compliance_retention;
    let (hot, cold, audit) = connect_backends(plan.redis.clone(), dynamo, config.dynamodb.create_tables).await?;
    let metrics = Metrics::new().context("cannot register the metrics")?;
    let hot: Vec<Hot> = hot.into_iter().map(|s| Timed::new(s, "redis", metrics.clone())).collect();
    let ledger = Arc::new(Mutex::new(Ledger {
        usage: names.iter().map(|r| RegionUsage { region: r.clone(), ..RegionUsage::default() }).collect(),
        ..Ledger::default()
    }));
    let cold = Metered {
        inner: Timed::new(cold, "dynamodb", metrics.clone()),
        ledger: Arc::clone(&ledger),
        item_overhead: sc.costs.dynamodb.item_overhead_bytes,
        regions: regions as u64,
    };
    let engine: Arc<LoadEngine> = Arc::new(
        Engine::new(plan.session_config.clone(), plan.engine_config.clone(), hot, cold, audit, SystemClock)
            .context("the engine refused the configuration")?,
    );
    let managers: Arc<Vec<Manager>> =
        Arc::new((0..regions).map(|r| SessionManager::new(Arc::clone(&engine), RegionId(r as u16))).collect());

    // The sync job of every region, on the compressed interval.
    let (sync_tx, mut sync_rx) = mpsc::unbounded_channel::<SyncDone>();
    let mut sync_tasks = Vec::new();
    for r in 0..regions {
        let (engine, tx) = (Arc::clone(&engine), sync_tx.clone());
        sync_tasks.push(tokio::spawn(async move {
            let sync = SyncService::new(Arc::clone(&engine));
            let flush = sync.flush_interval();
            let mut demotions = tokio::time::interval(sync.demotion_interval());
            let mut flushes = tokio::time::interval(flush.unwrap_or(Duration::from_secs(3600)));
            loop {
                let (report, flush_pass, started) = tokio::select! {
                    _ = demotions.tick() => {
                        let started = Instant::now();
                        (sync.run_once(RegionId(r as u16)).await, false, started)
                    }
                    _ = flushes.tick(), if flush.is_some() => {
                        let started = Instant::now();
                        (sync.flush_dirty(RegionId(r as u16)).await, true, started)
                    }
                };
                let done = SyncDone { region: r, report, seconds: started.elapsed().as_secs_f64(), flush: flush_pass };
                if tx.send(done).is_err() {
                    return;
                }
            }
        }));
    }
    drop(sync_tx);

    let end_ms = millis(sc.duration);
    let warmup_ms = millis(sc.warmup);
    let cold_ttl_ms = millis(sc.session_config.cold_storage.ttl);
    let bucket_minutes =
        [1u64, 5, 15, 60, 360, 1440].into_iter().find(|m| end_ms.div_ceil(m * 60_000) <= 4000).unwrap_or(1440);
    let bucket_ms = bucket_minutes * 60_000;
    let overhead = sc.costs.redis.bytes_overhead_per_session;
    let fragmentation = sc.costs.redis.fragmentation;
    let traffic = &sc.traffic;
    let samplers: [FastSampler; 4] = [
        traffic.visit.requests.fast_sampler(),
        traffic.visit.think_time.fast_sampler(),
        traffic.visit.payload_bytes.fast_sampler(),
        traffic.returns.gap.fast_sampler(),
    ];
    let [requests_sampler, think_sampler, payload_sampler, gap_sampler] = &samplers;
    let mut rng = SimRng::seed_from_u64(sc.seed);
    // Arrivals per region: a Poisson process following the diurnal curve (as `simulate`).
    let arrival: Vec<(f64, f64, f64)> = names
        .iter()
        .map(|name| {
            traffic.regions.get(name).map_or((0.0, 0.0, 0.0), |t| {
                let base = t.sessions_per_day * sc.sample / 86_400_000.0;
                let amp = (t.peak_to_trough - 1.0) / (t.peak_to_trough + 1.0);
                (base, amp, t.utc_offset - t.peak_hour)
            })
        })
        .collect();
    let next_arrival = |rng: &mut SimRng, r: usize, after: u64| -> Option<u64> {
        let (base, amp, phase) = arrival[r];
        if base <= 0.0 {
            return None;
        }
        let peak = base * (1.0 + amp);
        let mut t = after as f64;
        loop {
            t += -(1.0 - rng.random::<f64>()).ln() / peak;
            if t >= end_ms as f64 {
                return None;
            }
            let rate = base * (1.0 + amp * (std::f64::consts::TAU * (t / 3_600_000.0 + phase) / 24.0).cos());
            if rng.random::<f64>() * peak < rate {
                return Some(t as u64);
            }
        }
    };
    let draw_count = |rng: &mut SimRng| -> u32 {
        let n = requests_sampler.sample(rng).round();
        if n.is_finite() { (n as u32).max(1) } else { 1 }
    };

    let mut arrivals: Vec<Option<u64>> = (0..regions).map(|r| next_arrival(&mut rng, r, 0)).collect();
    let mut queue: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut users: Vec<Option<User>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut counts = Counts::default();
    let mut active = vec![0u64; regions];
    let (mut payload_sum, mut payload_n) = (0u64, 0u64);
    let mut hist = [new_histogram(), new_histogram(), new_histogram()];
    let mut region_hist: Vec<[Histogram<u64>; 2]> = (0..regions).map(|_| [new_histogram(), new_histogram()]).collect();
    let mut bucket_hist: Vec<Histogram<u64>> = (0..regions).map(|_| new_histogram()).collect();
    let mut bucket = vec![Bucket::default(); regions];
    let mut marks = vec![(0u64, 0u64); regions];
    let mut timeseries = Vec::new();
    let mut bucket_start = 0u64;
    let mut baseline = vec![0u64; regions];
    let mut baseline_peak = vec![0u64; regions];
    let mut baseline_expiries: BTreeMap<u64, Vec<(usize, u64)>> = BTreeMap::new();
    let mut sync_stats = vec![(0u64, 0.0f64, 0u64, 0.0f64); regions];
    let (mut hot_samples, mut cold_samples, mut cold_bytes_samples) = (Vec::new(), Vec::new(), Vec::new());
    let mut region_hot_samples = vec![Vec::new(); regions];
    let (mut hot_peak, mut cold_peak, mut stored_peak) = (0u64, 0u64, 0u64);
    let mut redis_peak = vec![(0u64, 0u64); regions];
    let mut last_hot = vec![0u64; regions];
    let mut lateness = new_histogram();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outcome>();
    let mut in_flight = 0usize;
    let mut arrivals_started = 0u64;

    let start = tokio::time::Instant::now();
    let wall_of = |ms: u64| start + Duration::from_secs_f64(ms as f64 / 1000.0 / x);
    let scenario_now = || (start.elapsed().as_secs_f64() * 1000.0 * x) as u64;
    let wall_started = Instant::now();

    loop {
        let next_user = queue.peek().map(|Reverse((t, _, _))| *t);
        let (arrival_region, next_arr) =
            arrivals.iter().enumerate().filter_map(|(r, t)| t.map(|t| (r, t))).min_by_key(|(_, t)| *t).unzip();
        let bucket_end = (bucket_start + bucket_ms).min(end_ms);
        let due = [next_user, next_arr, Some(bucket_end)].into_iter().flatten().min().unwrap_or(end_ms);
        tokio::select! {
            Some(outcome) = out_rx.recv() => {
                in_flight -= 1;
                let Outcome { slot, mut user, t, serving, class, latency_us, lost, invalid, updated, failed, logged_out, last, logout } = outcome;
                counts.requests += 1;
                let acc = &mut bucket[serving];
                acc.requests += 1;
                match class {
                    Class::Hot => { counts.hot_hits += 1; acc.hot_hits += 1; }
                    Class::Promoted | Class::ColdOnly => {
                        counts.cold_promotions += 1;
                        counts.cold_only += u64::from(class == Class::ColdOnly);
                        acc.promotions += 1;
                    }
                    Class::Create => counts.created += 1,
                    Class::None => {}
                }
                counts.lost += u64::from(lost);
                acc.losses += u64::from(lost);
                counts.invalid_lookups += u64::from(invalid);
                if invalid && !lost {
                    // Expired as it should: the user signs in again (Redis-only keeps it too).
                    baseline[user.home] += u64::from(user.payload) + overhead;
                    baseline_peak[user.home] = baseline_peak[user.home].max(baseline[user.home]);
                }
                match updated {
                    Some(true) => counts.updates += 1,
                    Some(false) => counts.failed_updates += 1,
                    None => {}
                }
                counts.failed_requests += u64::from(failed);
                acc.failures += u64::from(failed);
                counts.logged_out += u64::from(logged_out);
                let latency = latency_us.min(HIST_MAX_US);
                let _ = bucket_hist[serving].record(latency);
                if t >= warmup_ms {
                    let index = match class {
                        Class::Hot => Some(0),
                        Class::Promoted | Class::ColdOnly => Some(1),
                        Class::Create => Some(2),
                        Class::None => None,
                    };
                    if let Some(i) = index {
                        let _ = hist[i].record(latency);
                        if i < 2 {
                            let _ = region_hist[serving][i].record(latency);
                        }
                    }
                }
                if !last {
                    let think = think_sampler.sample(&mut rng);
                    let think_ms = if think.is_finite() { ((think * 1000.0 + 0.5) as u64).max(1) } else { 1 };
                    seq += 1;
                    queue.push(Reverse((t.saturating_add(think_ms), seq, slot)));
                    users[slot] = Some(user);
                    continue;
                }
                let home = user.home;
                active[home] = active[home].saturating_sub(1);
                if logout {
                    baseline[home] = baseline[home].saturating_sub(u64::from(user.payload) + overhead);
                    free.push(slot);
                    continue;
                }
                let expires_at = t.saturating_add(cold_ttl_ms);
                if rng.random::<f64>() < traffic.returns.probability {
                    let gap = gap_sampler.sample(&mut rng);
                    let gap_ms = if gap.is_finite() { ((gap * 1000.0 + 0.5) as u64).max(1) } else { u64::MAX };
                    let at = t.saturating_add(gap_ms);
                    if at >= expires_at {
                        baseline_expiries.entry(expires_at).or_default().push((home, u64::from(user.payload) + overhead));
                    }
                    if at < end_ms {
                        user.remaining = 0;
                        seq += 1;
                        queue.push(Reverse((at, seq, slot)));
                        users[slot] = Some(user);
                        continue;
                    }
                } else {
                    baseline_expiries.entry(expires_at).or_default().push((home, u64::from(user.payload) + overhead));
                }
                free.push(slot);
            }
            Some(done) = sync_rx.recv() => {
                let stats = &mut sync_stats[done.region];
                if done.flush {
                    stats.2 += 1;
                    stats.3 += done.seconds;
                } else {
                    stats.0 += 1;
                    stats.1 += done.seconds;
                }
                counts.demoted += done.report.demoted;
                counts.expired_hot += done.report.expired_hot;
                bucket[done.region].demotions += done.report.demoted;
                bucket[done.region].expiries += done.report.expired_hot;
            }
            () = tokio::time::sleep_until(wall_of(due)) => {
                // Wall microseconds between when the event was due and when it started.
                let _ = lateness.record(((scenario_now().saturating_sub(due) as f64 / x) * 1000.0).max(1.0) as u64);
                if due == bucket_end {
                    // Close the time-series bucket: count hot sessions in Redis, meter the rest.
                    for expiring in baseline_expiries.range(..=bucket_end).map(|(_, e)| e) {
                        for &(home, bytes) in expiring {
                            baseline[home] = baseline[home].saturating_sub(bytes);
                        }
                    }
                    baseline_expiries = baseline_expiries.split_off(&(bucket_end + 1));
                    let wall_ms = wall_now_ms();
                    let ttl_ms = millis(plan.session_config.cold_storage.ttl);
                    let usage = {
                        let mut l = ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        l.purge(wall_ms, ttl_ms);
                        let (n, bytes) = l.stored();
                        cold_peak = cold_peak.max(n);
                        stored_peak = stored_peak.max(bytes);
                        if bucket_start >= warmup_ms {
                            cold_samples.push(n as f64);
                            cold_bytes_samples.push(bytes as f64);
                        }
                        (0..regions).map(|r| (l.by_home(r), l.usage[r].wru, l.usage[r].rru)).collect::<Vec<_>>()
                    };
                    let mean_payload = if payload_n == 0 { 0.0 } else { payload_sum as f64 / payload_n as f64 };
                    let mut hot_total = 0;
                    for r in 0..regions {
                        if let Ok(n) = engine.hot(RegionId(r as u16)).session_count().await {
                            last_hot[r] = n;
                        }
                        let hot_now = last_hot[r];
                        hot_total += hot_now;
                        let redis_bytes = (hot_now as f64 * (mean_payload + overhead as f64) * fragmentation).round() as u64;
                        redis_peak[r] = (redis_peak[r].0.max(redis_bytes), redis_peak[r].1.max(hot_now));
                        if bucket_start >= warmup_ms {
                            region_hot_samples[r].push(hot_now as f64);
                        }
                        let ((cold, cold_bytes), wru, rru) = usage[r];
                        let h = &bucket_hist[r];
                        let q = |p: f64| if h.is_empty() { 0.0 } else { round3(h.value_at_quantile(p) as f64 / 1000.0) };
                        let acc = bucket[r];
                        timeseries.push(BucketRow {
                            t: bucket_start / 1000,
                            region: r as u16,
                            hot: hot_now,
                            cold,
                            cold_bytes,
                            active: active[r],
                            requests: acc.requests,
                            hot_hits: acc.hot_hits,
                            promotions: acc.promotions,
                            demotions: acc.demotions,
                            expiries: acc.expiries,
                            losses: acc.losses,
                            failures: acc.failures,
                            p50_ms: q(0.50),
                            p95_ms: q(0.95),
                            p99_ms: q(0.99),
                            redis_bytes,
                            wru: wru - marks[r].0,
                            rru: rru - marks[r].1,
                        });
                        marks[r] = (wru, rru);
                        bucket[r] = Bucket::default();
                        bucket_hist[r].reset();
                    }
                    hot_peak = hot_peak.max(hot_total);
                    if bucket_start >= warmup_ms {
                        hot_samples.push(hot_total as f64);
                    }
                    bucket_start = bucket_end;
                    if bucket_end >= end_ms {
                        break;
                    }
                    continue;
                }
                let (slot, t) = if next_arr == Some(due) && next_user != Some(due) {
                    let r = arrival_region.unwrap_or(0);
                    arrivals[r] = next_arrival(&mut rng, r, due);
                    let payload = payload_sampler.sample(&mut rng).round();
                    let max_payload = u32::try_from(sc.engine.max_data_bytes).unwrap_or(u32::MAX);
                    let payload = if payload.is_finite() { (payload.max(0.0) as u32).min(max_payload) } else { 0 };
                    payload_sum += u64::from(payload);
                    payload_n += 1;
                    arrivals_started += 1;
                    let user = User {
                        id: None,
                        user_id: UserId::new(&format!("load-{arrivals_started}")).context("a generated user id")?,
                        version: 0,
                        payload,
                        last_access: due,
                        remaining: draw_count(&mut rng),
                        home: r,
                    };
                    active[r] += 1;
                    baseline[r] += u64::from(payload) + overhead;
                    baseline_peak[r] = baseline_peak[r].max(baseline[r]);
                    let slot = free.pop().unwrap_or_else(|| { users.push(None); users.len() - 1 });
                    users[slot] = Some(user);
                    (slot, due)
                } else {
                    let Some(Reverse((t, _, slot))) = queue.pop() else { continue };
                    (slot, t)
                };
                let Some(mut user) = users[slot].take() else { continue };
                if user.remaining == 0 {
                    user.remaining = draw_count(&mut rng);
                    active[user.home] += 1;
                }
                let mut serving = user.home;
                if regions > 1 && rng.random::<f64>() < traffic.travel_probability {
                    let other = rng.random_range(0..regions - 1);
                    serving = if other >= user.home { other + 1 } else { other };
                }
                let draws = Draws {
                    serving,
                    update: rng.random::<f64>() < traffic.visit.update_fraction,
                    logout: user.remaining <= 1 && rng.random::<f64>() < traffic.visit.logout_probability,
                };
                in_flight += 1;
                let (managers, tx) = (Arc::clone(&managers), out_tx.clone());
                tokio::spawn(async move {
                    let outcome = run_request(managers, slot, user, t, draws, cold_ttl_ms).await;
                    let _ = tx.send(outcome);
                });
            }
        }
    }
    // Let requests in flight finish (their outcomes are not scheduled further).
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while in_flight > 0 && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), out_rx.recv()).await {
            Ok(Some(outcome)) => {
                in_flight -= 1;
                counts.requests += 1;
                counts.failed_requests += u64::from(outcome.failed);
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    for task in &sync_tasks {
        task.abort();
    }
    let wall_seconds = wall_started.elapsed().as_secs_f64();
    counts.events = counts.requests + arrivals_started;
    counts.sync_invocations = sync_stats.iter().map(|s| s.0 + s.2).sum();
    counts.expired_cold = ledger.lock().map_or(0, |l| l.purged);
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    let usage: Vec<RegionUsage> = {
        let l = ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (0..regions)
            .map(|r| {
                let (calls, _) = engine.hot(RegionId(r as u16)).calls();
                RegionUsage {
                    redis_calls: calls,
                    redis_peak_bytes: redis_peak[r].0,
                    redis_peak_sessions: redis_peak[r].1,
                    redis_avg_sessions: mean(&region_hot_samples[r]),
                    sync_invocations: sync_stats[r].0,
                    sync_seconds: sync_stats[r].1,
                    flush_invocations: sync_stats[r].2,
                    flush_seconds: sync_stats[r].3,
                    baseline_redis_only_peak_bytes: (baseline_peak[r] as f64 * fragmentation).round() as u64,
                    ..l.usage[r].clone()
                }
            })
            .collect()
    };
    let final_stored = ledger.lock().map_or(0, |l| l.stored().1);
    let lateness =
        Lateness { p99_ms: lateness.value_at_quantile(0.99) as f64 / 1000.0, max_ms: lateness.max() as f64 / 1000.0 };
    let peak_rss = hotcold_sim::sim::peak_rss_bytes();
    let record = RunRecord {
        scenario: sc.clone(),
        regions: names,
        seed: sc.seed,
        sample: sc.sample,
        simulated_seconds: end_ms as f64 / 1000.0,
        warmup_seconds: warmup_ms as f64 / 1000.0,
        bucket_seconds: bucket_ms / 1000,
        counts: counts.clone(),
        tiers: Tiers { hot_avg: mean(&hot_samples), hot_peak, cold_avg: mean(&cold_samples), cold_peak },
        latency: Latencies {
            hot_access: Hist::from_histogram(&hist[0]),
            cold_promotion: Hist::from_histogram(&hist[1]),
            create: Hist::from_histogram(&hist[2]),
            by_region: region_hist
                .iter()
                .map(|[h, c]| RegionLatency {
                    hot_access: Hist::from_histogram(h),
                    cold_promotion: Hist::from_histogram(c),
                })
                .collect(),
        },
        usage,
        storage: Storage {
            avg_stored_bytes: mean(&cold_bytes_samples),
            peak_stored_bytes: stored_peak,
            final_stored_bytes: final_stored,
        },
        failover: Failover::default(),
        timeseries,
        run: RunStats {
            wall_seconds,
            events_per_second: counts.events as f64 / wall_seconds.max(1e-9),
            requests_per_second: counts.requests as f64 / wall_seconds.max(1e-9),
            peak_rss_bytes: peak_rss,
            peak_sessions_held: hot_peak + cold_peak,
            bytes_per_session_held: peak_rss as f64 / (hot_peak + cold_peak).max(1) as f64,
        },
    };
    Ok((record, lateness))
}

/// The engine's clock, ms since the epoch (the time DynamoDB's TTL is measured against).
fn wall_now_ms() -> u64 {
    use hotcold_engine::Clock as _;
    SystemClock.now().0
}
