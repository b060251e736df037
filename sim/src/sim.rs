//! The event loop: simulated time driving the real engine over the simulated stores.
//!
//! Only users in the middle of a visit have a pending event in the event queue (tens of thousands
//! for ShopFlow, on a timing wheel: [`EventQueue`]); users waiting to return sit in a calendar of
//! one-minute buckets and enter the queue at the minute of their return. System events (arrivals,
//! sync passes, ticks, faults) are a handful of entries. Ties in time are broken by fixed rules
//! (users before system events; see [`EventQueue`]), and every random draw comes from a seeded stream dedicated to one purpose, so a run is a pure
//! function of the scenario, the seed, the sample fraction and the number of shards.
//!
//! # Shards (`--shards N`, default 2)
//! Sessions never interact, so a run splits its users into `N` independent shards, each a whole
//! simulation (every region, its own stores, a `1 / N` share of every region's arrivals, random
//! streams of its own) on a thread of its own; the records are merged in shard order, so results
//! depend on `N` but not on the machine or the thread schedule. Counts, request units, bytes and
//! averages add up; sync passes run at the same moments in every shard and count once (each
//! shard writes its own batches, so a pass makes up to `N - 1` more partial batches than one
//! process would); latency histograms merge exactly. A peak of the whole (hot sessions, Redis
//! bytes, stored bytes) is the highest sum over shards of their highest values in each 10-second
//! window (longer windows for runs over 30 days): exact with one shard, otherwise an upper bound
//! that can exceed the true peak by at most what the shards add within one window. `--shards 1`
//! is the plain sequential run.
//!
//! # Sampling (`sample < 1`)
//! Only a fraction `sample` of users arrive (each region's arrival rate is multiplied by `sample`)
//! and counts are scaled back by `1 / sample`. Users do not interact (sessions are independent),
//! so means are unbiased; the relative standard error of a count that would be `N` at full scale
//! is about `1 / sqrt(N * sample)` (Poisson), e.g. 1% for a count of 10^6 at `sample = 0.01`.
//! Peaks (`hot_peak`, Redis peak bytes) are scaled too and slightly overestimate (the peak of a
//! noisier series); tail percentiles of rare classes (cold promotions) come from fewer values.
//!
//! # Speed
//! At full scale the loop is bound by memory latency, so it works ahead: each user remembers the
//! slab slot of its hot record, and while one event runs the next event's record, the user
//! record of the one after and the wheel slot of the user's next request are prefetched (hints
//! only: they never change a result).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hotcold_engine::Clock as _;
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    Durability, Engine, EngineError, RegionId, Served, SessionData, SessionId, SessionManager, SyncService, Timestamp,
    Touched,
};
use rand::{Rng, SeedableRng};

use crate::queue::{EventQueue, Links, NIL, SYS};
use crate::record::{
    BucketRow, Counts, Failover, Hist, Latencies, OutageRecord, RegionLatency, RegionUsage, RunRecord, RunStats,
    Storage, Tiers, round3,
};
use crate::rng::SimRng;
use crate::scenario::{Fault, Scenario, ScenarioError};
use crate::stores::{
    EXPIRED_COLD, NO_SLOT, Shared, SimAudit, SimClock, SimColdStore, SimHotStore, kind_slot, prefetch,
    prefetch_address, splitmix,
};
use crate::units::FastSampler;

/// Simulated time zero: 2026-01-05T00:00:00Z (a Monday), in ms since the epoch.
pub const EPOCH_MS: u64 = 1_767_571_200_000;

/// Why a run could not be done. All variants are fatal for that run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is invalid (bad input: exit 2).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A run option is out of range, e.g. `--sample 0` (bad input: exit 2).
    #[error("{0}")]
    InvalidOption(String),
    /// The engine refused the configuration (bad input: exit 2).
    #[error("engine configuration: {0}")]
    Config(#[from] hotcold_engine::ConfigError),
    /// The scenario needs more than one process can simulate (bad input: exit 2).
    #[error("{0}")]
    TooLarge(String),
}

/// Progress of a running simulation, reported to [`RunOptions::progress`].
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Simulated seconds done.
    pub simulated_seconds: f64,
    /// Simulated seconds in all.
    pub total_seconds: f64,
    /// Events processed so far.
    pub events: u64,
    /// Requests simulated so far.
    pub requests: u64,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of one run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's `seed`.
    pub seed: Option<u64>,
    /// Overrides the scenario's `sample`.
    pub sample: Option<f64>,
    /// Called every few hundred thousand events.
    pub progress: Option<ProgressFn>,
    /// Independent shards of the user population, run on parallel threads ([`DEFAULT_SHARDS`]
    /// when `None`). Results depend on the number of shards, never on the number of cores.
    pub shards: Option<usize>,
}

/// Shards of a run unless told otherwise: one per core of the 2-core machines this is sized for.
pub const DEFAULT_SHARDS: usize = 2;

/// Most shards a run may have.
pub const MAX_SHARDS: usize = 64;

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("sample", &self.sample)
            .field("progress", &self.progress.is_some())
            .field("shards", &self.shards)
            .finish()
    }
}

/// Runs `scenario` with `options` and returns everything it measured.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunRecord, SimError> {
    let mut scenario = scenario.clone();
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    if let Some(sample) = options.sample {
        if !(sample > 0.0 && sample <= 1.0) {
            return Err(SimError::InvalidOption(format!("--sample must be in (0, 1], got {sample}")));
        }
        scenario.sample = sample;
    }
    let shards = options.shards.unwrap_or(DEFAULT_SHARDS);
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(SimError::InvalidOption(format!("--shards must be between 1 and {MAX_SHARDS}, got {shards}")));
    }
    let started = Instant::now();
    let totals = ProgressTotals::default();
    let results: Vec<Result<ShardResult, SimError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..shards)
            .map(|shard| {
                let (scenario, totals) = (&scenario, &totals);
                scope.spawn(move || -> Result<ShardResult, SimError> {
                    let mut sim = Sim::new(scenario.clone(), shard, shards)?;
                    sim.run(options.progress.as_ref(), totals);
                    if sim.too_many_users {
                        return Err(SimError::TooLarge(format!(
                            "more than {MAX_USER_SLOTS} users would be in a visit at once; lower \
                             traffic.regions.*.sessions_per_day, shorten visits, or pass --sample"
                        )));
                    }
                    Ok(sim.finish())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let results = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(merge(results, started))
}

/// Events and requests done by all shards together, for the progress callback.
#[derive(Debug, Default)]
struct ProgressTotals {
    events: AtomicU64,
    requests: AtomicU64,
}

/// What one shard measured, with what merging needs beyond its [`RunRecord`].
struct ShardResult {
    record: RunRecord,
    /// Per peak window, the [`PEAK_GAUGES`]-layout highest values (see [`Sim::record_peaks`]).
    peaks: Vec<u64>,
    /// Per time-series row, the row's latencies as `(value_us, count)` (for merged percentiles).
    bucket_values: Vec<Vec<(u64, u64)>>,
}

type Hot = Arc<SimHotStore>;
type Cold = Arc<SimColdStore>;
type Audit = Arc<SimAudit>;
type Clock = Arc<SimClock>;
type Manager = SessionManager<Hot, Cold, Audit, Clock>;

/// What a simulated user holds and is doing.
#[derive(Debug, Clone, Copy)]
struct User {
    /// The session id of the token the user holds (computed once, at create).
    id: SessionId,
    /// Newest version the user has seen.
    version: u32,
    /// Session data size.
    payload: u32,
    /// The user's last request, ms from the start.
    last_access: u64,
    /// Requests left in the current visit; 0 while waiting to return.
    remaining: u32,
    /// Where the hot tier last held the user's session ([`Shared::hint`]): a cache hint only.
    hot_hint: u64,
    /// The region whose traffic the user belongs to.
    home: u16,
    /// False until the first create succeeds.
    has_session: bool,
    /// The next user in this user's millisecond of the event wheel (see [`Links`]).
    next_event: u32,
}

/// The event wheel threads its lists through the user records.
impl Links for Vec<User> {
    #[inline]
    fn link(&self, user: u32) -> u32 {
        self[user as usize].next_event
    }

    #[inline]
    fn set_link(&mut self, user: u32, next: u32) {
        self[user as usize].next_event = next;
    }
}

/// Most users in the middle of a visit at once (slots below [`SYS`]).
const MAX_USER_SLOTS: usize = 1 << 27;
const ARRIVAL: u32 = 0;
const SYNC: u32 = 1;
const FLUSH: u32 = 2;
const TICK: u32 = 3;
const FAULT_START: u32 = 4;
const FAULT_END: u32 = 5;
const WARMUP: u32 = 6;
const PEAK: u32 = 7;
const MINUTE_MS: u64 = 60_000;

const fn sys(kind: u32, index: usize) -> u32 {
    SYS | (kind << 24) | (index as u32 & 0x00FF_FFFF)
}

/// Which latency histogram a request goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Hot = 0,
    Cold = 1,
    Create = 2,
    None = 3,
}

/// Per-region accumulators of the current time-series bucket.
#[derive(Debug, Default, Clone, Copy)]
struct BucketAcc {
    requests: u64,
    hot_hits: u64,
    promotions: u64,
    losses: u64,
    failures: u64,
}

/// Per-region marks of cumulative counters at the last bucket boundary.
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    demotions: u64,
    expiries: u64,
    wru: u64,
    rru: u64,
}

struct Samplers {
    requests: FastSampler,
    think: FastSampler,
    payload: FastSampler,
    gap: FastSampler,
    redis: FastSampler,
    dynamo: FastSampler,
}

struct Rngs {
    arrivals: Vec<SimRng>,
    visit: SimRng,
    decide: SimRng,
    gap: SimRng,
    latency: SimRng,
}

struct Sim {
    sc: Scenario,
    regions: usize,
    end_ms: u64,
    warmup_ms: u64,
    bucket_ms: u64,
    cold_ttl_ms: u64,
    max_payload: u32,
    overhead: u64,
    fragmentation: f64,
    clock: Clock,
    shared: Arc<Shared>,
    hot: Vec<Hot>,
    cold: Cold,
    audit: Audit,
    managers: Vec<Manager>,
    sync: SyncService<Hot, Cold, Audit, Clock>,
    flush_ms: Option<u64>,
    /// Pending events (a timing wheel; see [`EventQueue`]).
    events: EventQueue,
    /// Set when the users in a visit at once outgrow [`MAX_USER_SLOTS`]: the run stops with an error.
    too_many_users: bool,
    users: Vec<User>,
    free: Vec<u32>,
    /// Users waiting to return, by minute of return, with the ms into that minute. They leave
    /// the slab meanwhile, so the slab holds only users in a visit and stays cache-resident.
    calendar: Vec<Vec<(User, u32)>>,
    baseline_calendar: Vec<Vec<(u16, u32)>>,
    next_tick_minute: u64,
    samplers: Samplers,
    rngs: Rngs,
    arrival_base: Vec<f64>,
    arrival_amp: Vec<f64>,
    arrival_phase: Vec<f64>,
    down: Vec<u32>,
    sync_down: Vec<u32>,
    throttles: u32,
    nearest: Vec<Vec<usize>>,
    counts: Counts,
    active: Vec<u64>,
    hist_hot: Histogram<u64>,
    hist_cold: Histogram<u64>,
    hist_create: Histogram<u64>,
    hist_region_hot: Vec<Histogram<u64>>,
    hist_region_cold: Vec<Histogram<u64>>,
    /// The current bucket's latencies per region and [`Class`]: each request is recorded once,
    /// here; buckets are merged into the run totals when they close.
    hist_bucket: Vec<[Histogram<u64>; 4]>,
    hist_scratch: Histogram<u64>,
    bucket: Vec<BucketAcc>,
    marks: Vec<Marks>,
    bucket_start_ms: u64,
    timeseries: Vec<BucketRow>,
    sync_invocations: Vec<u64>,
    sync_us: Vec<u64>,
    flush_invocations: Vec<u64>,
    flush_us: Vec<u64>,
    baseline_bytes: Vec<u64>,
    purged_cold: u64,
    warm_hot_area: Vec<f64>,
    warm_cold_area: f64,
    warm_cold_bytes_area: f64,
    failover: Failover,
    shard: usize,
    shards: usize,
    /// Length of a peak window, ms.
    peak_window_ms: u64,
    /// Highest gauge values per peak window, [`Sim::record_peaks`] layout.
    peaks: Vec<u64>,
    /// Highest Redis-only baseline bytes per region in the current peak window.
    baseline_window_peak: Vec<u64>,
    /// Latency values of every time-series row (kept only when there are shards to merge).
    bucket_values: Vec<Vec<(u64, u64)>>,
    reported_events: u64,
    reported_requests: u64,
}

/// Largest latency recorded, microseconds (1 minute); larger values are clamped to it.
const HIST_MAX_US: u64 = 60_000_000;

fn new_histogram() -> Histogram<u64> {
    // 1 us to 1 hour at 2 significant digits (1% resolution): small enough to merge every bucket.
    Histogram::new_with_bounds(1, HIST_MAX_US, 2)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| unreachable!()))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn stream(seed: u64, purpose: u64) -> SimRng {
    SimRng::seed_from_u64(splitmix(seed ^ splitmix(purpose)))
}

impl Sim {
    /// Shard `shard` of `shards`: a `1 / shards` share of the users, with random streams of its own
    /// (shard 0 uses the scenario seed's own streams, so a one-shard run is the classic run).
    fn new(mut sc: Scenario, shard: usize, shards: usize) -> Result<Self, SimError> {
        let scenario_seed = sc.seed;
        if shard > 0 {
            sc.seed = splitmix(scenario_seed ^ splitmix(0x5348_4152_4400 + shard as u64));
        }
        let names = sc.session_config.hot_storage.regions.clone();
        let regions = names.len();
        let clock: Clock = Arc::new(SimClock::new(Timestamp(EPOCH_MS)));
        let mut rtt_us = vec![0u64; regions * regions];
        for (a, name_a) in names.iter().enumerate() {
            for (b, name_b) in names.iter().enumerate() {
                rtt_us[a * regions + b] = (sc.rtt_ms(name_a, name_b) * 1000.0).round() as u64;
            }
        }
        let shared = Arc::new(Shared::new(Arc::clone(&clock), regions, rtt_us, sc.seed));
        let track_dirty = sc.engine.durability != Durability::OnDemotion;
        let overhead = sc.costs.redis.bytes_overhead_per_session;
        let hot: Vec<Hot> =
            (0..regions).map(|r| Arc::new(SimHotStore::new(r, Arc::clone(&shared), overhead, track_dirty))).collect();
        let cold = Arc::new(SimColdStore::new(
            Arc::clone(&shared),
            sc.costs.dynamodb.item_overhead_bytes,
            sc.session_config.sync.cross_region_delay,
        ));
        let audit = Arc::new(SimAudit::new(regions));
        let engine = Arc::new(Engine::new(
            sc.session_config.clone(),
            sc.engine.clone(),
            hot.clone(),
            Arc::clone(&cold),
            Arc::clone(&audit),
            Arc::clone(&clock),
        )?);
        let managers = (0..regions)
            .map(|r| {
                let id = RegionId(u16::try_from(r).unwrap_or(u16::MAX));
                SessionManager::with_token_seed(Arc::clone(&engine), id, splitmix(sc.seed ^ (0x70_6B_65_6E + r as u64)))
            })
            .collect();
        let sync = SyncService::new(Arc::clone(&engine));
        let flush_ms = sync.flush_interval().map(millis);

        let end_ms = millis(sc.duration);
        let minutes = end_ms.div_ceil(MINUTE_MS) as usize + 1;
        let bucket_minutes =
            [1u64, 5, 15, 60, 360, 1440].into_iter().find(|m| end_ms.div_ceil(m * MINUTE_MS) <= 4000).unwrap_or(1440);

        let mut arrival_base = vec![0.0; regions];
        let mut arrival_amp = vec![0.0; regions];
        let mut arrival_phase = vec![0.0; regions];
        for (name, traffic) in &sc.traffic.regions {
            if let Some(r) = names.iter().position(|n| n == name) {
                arrival_base[r] = traffic.sessions_per_day * sc.sample / shards as f64 / 86_400_000.0; // per ms
                arrival_amp[r] = (traffic.peak_to_trough - 1.0) / (traffic.peak_to_trough + 1.0);
                arrival_phase[r] = traffic.utc_offset - traffic.peak_hour;
            }
        }
        let nearest = (0..regions)
            .map(|r| {
                let mut others: Vec<usize> = (0..regions).filter(|o| *o != r).collect();
                others.sort_by(|a, b| {
                    sc.rtt_ms(&names[r], &names[*a]).total_cmp(&sc.rtt_ms(&names[r], &names[*b])).then(a.cmp(b))
                });
                others
            })
            .collect();
        let seed = sc.seed;
        let samplers = Samplers {
            requests: sc.traffic.visit.requests.fast_sampler(),
            think: sc.traffic.visit.think_time.fast_sampler(),
            payload: sc.traffic.visit.payload_bytes.fast_sampler(),
            gap: sc.traffic.returns.gap.fast_sampler(),
            redis: sc.latency.redis.fast_sampler(),
            dynamo: sc.latency.dynamodb.fast_sampler(),
        };
        let rngs = Rngs {
            arrivals: (0..regions).map(|r| stream(seed, 100 + r as u64)).collect(),
            visit: stream(seed, 1),
            decide: stream(seed, 2),
            gap: stream(seed, 3),
            latency: stream(seed, 4),
        };
        let peak_window_ms = (end_ms.div_ceil(1 << 18)).max(10_000);
        Ok(Self {
            regions,
            end_ms,
            warmup_ms: millis(sc.warmup),
            bucket_ms: bucket_minutes * MINUTE_MS,
            cold_ttl_ms: millis(sc.session_config.cold_storage.ttl),
            max_payload: u32::try_from(sc.engine.max_data_bytes).unwrap_or(u32::MAX),
            overhead,
            fragmentation: sc.costs.redis.fragmentation,
            clock,
            shared,
            hot,
            cold,
            audit,
            managers,
            sync,
            flush_ms,
            events: EventQueue::new(),
            too_many_users: false,
            users: Vec::new(),
            free: Vec::new(),
            calendar: vec![Vec::new(); minutes],
            baseline_calendar: vec![Vec::new(); minutes],
            next_tick_minute: 0,
            samplers,
            rngs,
            arrival_base,
            arrival_amp,
            arrival_phase,
            down: vec![0; regions],
            sync_down: vec![0; regions],
            throttles: 0,
            nearest,
            counts: Counts::default(),
            active: vec![0; regions],
            hist_hot: new_histogram(),
            hist_cold: new_histogram(),
            hist_create: new_histogram(),
            hist_region_hot: (0..regions).map(|_| new_histogram()).collect(),
            hist_region_cold: (0..regions).map(|_| new_histogram()).collect(),
            hist_bucket: (0..regions).map(|_| std::array::from_fn(|_| new_histogram())).collect(),
            hist_scratch: new_histogram(),
            bucket: vec![BucketAcc::default(); regions],
            marks: vec![Marks::default(); regions],
            bucket_start_ms: 0,
            timeseries: Vec::new(),
            sync_invocations: vec![0; regions],
            sync_us: vec![0; regions],
            flush_invocations: vec![0; regions],
            flush_us: vec![0; regions],
            baseline_bytes: vec![0; regions],
            purged_cold: 0,
            warm_hot_area: vec![0.0; regions],
            warm_cold_area: 0.0,
            warm_cold_bytes_area: 0.0,
            failover: Failover::default(),
            shard,
            shards,
            peak_window_ms,
            peaks: Vec::new(),
            baseline_window_peak: vec![0; regions],
            bucket_values: Vec::new(),
            reported_events: 0,
            reported_requests: 0,
            sc: Scenario { seed: scenario_seed, ..sc },
        })
    }

    fn push(&mut self, at: u64, target: u32) {
        // Nothing at or after the end runs, so later times all become the end: keys stay in range
        // (durations are at most 400 days) whatever a distribution's tail draws.
        let at = at.min(self.end_ms);
        self.events.push(at, target, &mut self.users);
    }

    fn run(&mut self, progress: Option<&ProgressFn>, totals: &ProgressTotals) {
        for r in 0..self.regions {
            if self.arrival_base[r] > 0.0 {
                if let Some(at) = self.next_arrival(r, 0) {
                    self.push(at, sys(ARRIVAL, r));
                }
            }
            let interval = millis(self.sc.session_config.sync.sync_interval);
            self.push(interval, sys(SYNC, r));
            if let Some(flush) = self.flush_ms {
                self.push(flush, sys(FLUSH, r));
            }
        }
        self.push(0, sys(TICK, 0));
        self.push(self.peak_window_ms, sys(PEAK, 0));
        self.push(self.warmup_ms, sys(WARMUP, 0));
        for (i, fault) in self.sc.faults.clone().iter().enumerate() {
            let (start, end) = fault.window();
            self.push(millis(start), sys(FAULT_START, i));
            self.push(millis(end), sys(FAULT_END, i));
        }
        while let Some((t, target)) = self.events.pop(&self.users) {
            if self.too_many_users {
                break;
            }
            if t >= self.end_ms {
                break;
            }
            self.counts.events += 1;
            self.clock.set(Timestamp(EPOCH_MS + t));
            self.prefetch_next();
            if target & SYS == 0 {
                self.user_event(target, t);
            } else {
                self.system_event(target, t);
            }
            if self.counts.events & 0x3_FFFF == 0 {
                self.report_progress(progress, totals, t);
            }
        }
        self.clock.set(Timestamp(EPOCH_MS + self.end_ms));
        // Passes due at the very end run, as the passes at the end of every other bucket do
        // before it closes, so the last bucket's hot count compares with the others.
        let interval = millis(self.sc.session_config.sync.sync_interval);
        if interval > 0 && self.end_ms % interval == 0 {
            (0..self.regions).for_each(|r| self.sync_pass(r));
        }
        if self.flush_ms.is_some_and(|flush| flush > 0 && self.end_ms % flush == 0) {
            (0..self.regions).for_each(|r| self.flush_pass(r));
        }
        if self.bucket_start_ms < self.end_ms {
            self.close_bucket();
        }
        self.record_peaks();
        self.hot.iter().for_each(|h| {
            h.count();
        });
    }

    /// Starts loading what the next events will most likely need, so their cache misses overlap
    /// this event's work: the hot record of the next event's user (its slot was remembered), and
    /// the user record of the one after. Only hints: nothing here changes a result.
    #[inline]
    fn prefetch_next(&self) {
        let (next, after) = self.events.upcoming_users(&self.users);
        if let Some(user) = next.and_then(|slot| self.users.get(slot as usize)) {
            let hint = user.hot_hint;
            if hint != NO_SLOT {
                if let Some(hot) = self.hot.get((hint >> 32) as usize) {
                    hot.prefetch(hint as u32);
                }
            }
        }
        if let Some(user) = after.and_then(|slot| self.users.get(slot as usize)) {
            prefetch(user);
        }
    }

    /// Adds this shard's work since the last report to `totals`; shard 0 calls `progress`.
    fn report_progress(&mut self, progress: Option<&ProgressFn>, totals: &ProgressTotals, t: u64) {
        totals.events.fetch_add(self.counts.events - self.reported_events, Ordering::Relaxed);
        totals.requests.fetch_add(self.counts.requests - self.reported_requests, Ordering::Relaxed);
        self.reported_events = self.counts.events;
        self.reported_requests = self.counts.requests;
        if let (0, Some(report)) = (self.shard, progress) {
            report(&Progress {
                simulated_seconds: t as f64 / 1000.0,
                total_seconds: self.end_ms as f64 / 1000.0,
                events: totals.events.load(Ordering::Relaxed),
                requests: totals.requests.load(Ordering::Relaxed),
            });
        }
    }

    /// Closes a peak window: appends the highest value each gauge reached in it, in the layout
    /// `[hot total, cold records, cold bytes, hot sessions per region, hot bytes per region,
    /// Redis-only baseline bytes per region]`. Shards close windows at the same simulated times,
    /// so the peak of a sum over shards is the highest window sum (exact for one shard; with more,
    /// an upper bound within one window's change, as shards may peak at different moments in it).
    fn record_peaks(&mut self) {
        self.peaks.push(self.shared.take_hot_total_window_peak());
        let (cold_count, cold_bytes) = self.cold.take_window_peaks();
        self.peaks.extend([cold_count, cold_bytes]);
        let hot: Vec<(u64, u64)> = self.hot.iter().map(|h| h.take_window_peaks()).collect();
        self.peaks.extend(hot.iter().map(|(count, _)| *count));
        self.peaks.extend(hot.iter().map(|(_, bytes)| *bytes));
        for r in 0..self.regions {
            self.peaks.push(self.baseline_window_peak[r].max(self.baseline_bytes[r]));
            self.baseline_window_peak[r] = self.baseline_bytes[r];
        }
    }

    /// The next arrival of region `r` after `after` (ms), by thinning a Poisson process at the
    /// peak rate against the daily sinusoid in local time.
    fn next_arrival(&mut self, r: usize, after: u64) -> Option<u64> {
        let base = self.arrival_base[r];
        let amp = self.arrival_amp[r];
        let peak_rate = base * (1.0 + amp);
        let rng = &mut self.rngs.arrivals[r];
        let mut t = after as f64;
        loop {
            let u: f64 = rng.random();
            t += -(1.0 - u).ln() / peak_rate;
            if t >= self.end_ms as f64 {
                return None;
            }
            if amp == 0.0 {
                return Some(t as u64);
            }
            let hours = t / 3_600_000.0 + self.arrival_phase[r];
            let rate = base * (1.0 + amp * (std::f64::consts::TAU * hours / 24.0).cos());
            if rng.random::<f64>() * peak_rate < rate {
                return Some(t as u64);
            }
        }
    }

    fn system_event(&mut self, target: u32, t: u64) {
        let kind = (target >> 24) & 0x7;
        let index = (target & 0x00FF_FFFF) as usize;
        match kind {
            ARRIVAL => {
                if let Some(next) = self.next_arrival(index, t) {
                    self.push(next, sys(ARRIVAL, index));
                }
                self.arrival(index, t);
            }
            SYNC => {
                self.push(t + millis(self.sc.session_config.sync.sync_interval), sys(SYNC, index));
                self.sync_pass(index);
            }
            FLUSH => {
                if let Some(flush) = self.flush_ms {
                    self.push(t + flush, sys(FLUSH, index));
                }
                self.flush_pass(index);
            }
            TICK => self.tick(t),
            PEAK => {
                self.push(t + self.peak_window_ms, sys(PEAK, 0));
                self.record_peaks();
            }
            WARMUP => {
                for r in 0..self.regions {
                    self.warm_hot_area[r] = self.hot[r].count().area;
                }
                self.warm_cold_area = self.cold.count().area;
                self.warm_cold_bytes_area = self.cold.bytes().area;
            }
            FAULT_START | FAULT_END => self.fault(index, kind == FAULT_START, t),
            _ => {}
        }
    }

    /// One demotion pass of region `index`'s sync job, unless its sync is down.
    fn sync_pass(&mut self, index: usize) {
        if self.sync_down[index] == 0 {
            self.begin_op(index);
            let _report = now_or_panic(self.sync.run_once(RegionId(index as u16)));
            let us = self.drain_latency_us();
            self.sync_invocations[index] += 1;
            self.sync_us[index] += us;
        }
    }

    /// One write-behind pass of region `index`, unless its sync is down.
    fn flush_pass(&mut self, index: usize) {
        if self.sync_down[index] == 0 {
            self.begin_op(index);
            let _report = now_or_panic(self.sync.flush_dirty(RegionId(index as u16)));
            let us = self.drain_latency_us();
            self.flush_invocations[index] += 1;
            self.flush_us[index] += us;
        }
    }

    fn tick(&mut self, t: u64) {
        let minute = t / MINUTE_MS;
        self.next_tick_minute = minute + 1;
        self.push(t + MINUTE_MS, sys(TICK, 0));
        if t > 0 && t % self.bucket_ms == 0 {
            self.close_bucket();
        }
        if t > 0 && minute % 1440 == 0 {
            self.purged_cold += self.cold.purge_expired(self.sc.session_config.cold_storage.ttl);
        }
        if let Some(returning) = self.calendar.get_mut(minute as usize) {
            let returning = std::mem::take(returning);
            for (user, offset) in returning {
                let Some(slot) = self.alloc_user(user) else { return };
                self.push(t + u64::from(offset), slot);
            }
        }
        if let Some(expiring) = self.baseline_calendar.get_mut(minute as usize) {
            for (region, bytes) in std::mem::take(expiring) {
                let b = &mut self.baseline_bytes[usize::from(region)];
                *b = b.saturating_sub(u64::from(bytes));
            }
        }
    }

    fn fault(&mut self, index: usize, start: bool, t: u64) {
        let Some(fault) = self.sc.faults.get(index).cloned() else { return };
        let names = &self.sc.session_config.hot_storage.regions;
        match fault {
            Fault::RegionOutage { region, duration, .. } => {
                let Some(r) = names.iter().position(|n| *n == region) else { return };
                if start {
                    let now = EPOCH_MS + t;
                    let mut at_risk = 0;
                    let mut lost = 0;
                    for entry in self.hot[r].wipe() {
                        if entry.expires_at > now {
                            at_risk += 1;
                            if self.cold.newest_version(&entry.id).is_none_or(|v| v < entry.version) {
                                lost += 1;
                            }
                        }
                    }
                    self.hot[r].set_available(false);
                    self.down[r] += 1;
                    let to = self.route(r);
                    self.failover.outages += 1;
                    self.failover.sessions_at_risk += at_risk;
                    self.failover.sessions_lost += lost;
                    self.failover.events.push(OutageRecord {
                        region: region.clone(),
                        failover_to: names[to].clone(),
                        at_seconds: t as f64 / 1000.0,
                        duration_seconds: duration.as_secs_f64(),
                        sessions_at_risk: at_risk,
                        sessions_lost: lost,
                    });
                } else {
                    self.down[r] = self.down[r].saturating_sub(1);
                    if self.down[r] == 0 {
                        self.hot[r].set_available(true);
                    }
                }
            }
            Fault::SyncOutage { region, .. } => {
                let Some(r) = names.iter().position(|n| *n == region) else { return };
                if start {
                    self.sync_down[r] += 1;
                } else {
                    self.sync_down[r] = self.sync_down[r].saturating_sub(1);
                }
            }
            Fault::DynamodbThrottle { extra_latency, error_rate, .. } => {
                if start {
                    self.throttles += 1;
                    self.shared.throttle_extra_us.store((extra_latency.0 * 1e6).round() as u64, Ordering::Relaxed);
                    self.shared.throttle_error_ppm.store((error_rate * 1e6).round() as u64, Ordering::Relaxed);
                } else {
                    self.throttles = self.throttles.saturating_sub(1);
                }
                self.shared.throttled.store(self.throttles > 0, Ordering::Relaxed);
            }
        }
    }

    /// The region that serves traffic meant for `r`: `r`, or the nearest region up if `r` is down.
    fn route(&self, r: usize) -> usize {
        if self.down[r] == 0 {
            return r;
        }
        self.nearest[r].iter().copied().find(|o| self.down[*o] == 0).unwrap_or(r)
    }

    fn begin_op(&mut self, serving: usize) {
        self.shared.serving.store(serving, Ordering::Relaxed);
    }

    /// Samples the latency of the calls metered since the last drain, microseconds (at least 1).
    #[inline]
    fn drain_latency_us(&mut self) -> u64 {
        let meter = &self.shared.meter;
        let redis = meter.redis_calls.take();
        let dynamo = meter.dynamo_calls.take();
        let fixed = meter.rtt_us.take() + meter.throttle_us.take();
        let mut seconds = 0.0;
        for _ in 0..redis {
            seconds += self.samplers.redis.sample(&mut self.rngs.latency);
        }
        for _ in 0..dynamo {
            seconds += self.samplers.dynamo.sample(&mut self.rngs.latency);
        }
        ((seconds * 1e6) as u64 + fixed).max(1)
    }

    /// A slot for `user`; `None` (and the run stops) past [`MAX_USER_SLOTS`] users in a visit.
    fn alloc_user(&mut self, user: User) -> Option<u32> {
        match self.free.pop() {
            Some(slot) => {
                self.users[slot as usize] = user;
                Some(slot)
            }
            None if self.users.len() >= MAX_USER_SLOTS => {
                self.too_many_users = true;
                None
            }
            None => {
                self.users.push(user);
                Some((self.users.len() - 1) as u32)
            }
        }
    }

    fn sample_requests(&mut self) -> u32 {
        let n = self.samplers.requests.sample(&mut self.rngs.visit).round();
        if n.is_finite() { (n as u32).max(1) } else { 1 }
    }

    fn arrival(&mut self, region: usize, t: u64) {
        let requests = self.sample_requests();
        let payload = self.samplers.payload.sample(&mut self.rngs.visit).round();
        let payload = if payload.is_finite() { (payload.max(0.0) as u32).min(self.max_payload) } else { 0 };
        let user = User {
            id: SessionId::from_parts([0; 16], RegionId(region as u16)),
            version: 0,
            payload,
            last_access: t,
            remaining: requests,
            hot_hint: NO_SLOT,
            home: region as u16,
            has_session: false,
            next_event: NIL,
        };
        let Some(slot) = self.alloc_user(user) else { return };
        self.active[region] += 1;
        self.baseline_add(region, payload);
        self.request(slot, t);
    }

    fn user_event(&mut self, slot: u32, t: u64) {
        let user = &mut self.users[slot as usize];
        if user.remaining == 0 {
            // A return: a new visit with the same token.
            let home = usize::from(user.home);
            let requests = self.sample_requests();
            self.users[slot as usize].remaining = requests;
            self.active[home] += 1;
        }
        self.request(slot, t);
    }

    fn baseline_add(&mut self, region: usize, payload: u32) {
        self.baseline_bytes[region] += u64::from(payload) + self.overhead;
        self.baseline_window_peak[region] = self.baseline_window_peak[region].max(self.baseline_bytes[region]);
    }

    fn baseline_expire_at(&mut self, region: usize, payload: u32, at: u64) {
        let minute = (at / MINUTE_MS) as usize;
        if let Some(bucket) = self.baseline_calendar.get_mut(minute) {
            bucket.push((region as u16, payload.saturating_add(self.overhead as u32)));
        }
    }

    /// One request of a user at `t`.
    fn request(&mut self, slot: u32, t: u64) {
        let mut user = self.users[slot as usize];
        // The think time before the next request is drawn now (the same draw from the same
        // stream as after the request) so the wheel slot it lands in loads while the request runs.
        let next_at = (user.remaining > 1).then(|| {
            let think = self.samplers.think.sample(&mut self.rngs.visit);
            let think_ms = if think.is_finite() { ((think * 1000.0 + 0.5) as u64).max(1) } else { 1 };
            let at = t.saturating_add(think_ms);
            prefetch_address(self.events.slot_address(at));
            at
        });
        let home = usize::from(user.home);
        let mut target = home;
        if self.regions > 1 && self.sc.traffic.travel_probability > 0.0 {
            let travel: f64 = self.rngs.decide.random();
            if travel < self.sc.traffic.travel_probability {
                let other = self.rngs.decide.random_range(0..self.regions - 1);
                target = if other >= home { other + 1 } else { other };
            }
        }
        let serving = self.route(target);
        self.begin_op(serving);
        self.shared.hint.store(user.hot_hint, Ordering::Relaxed);
        self.shared.found_at.store(NO_SLOT, Ordering::Relaxed);
        self.counts.requests += 1;
        self.bucket[serving].requests += 1;
        let manager = &self.managers[serving];
        let mut class = Class::None;
        let mut failed = false;
        if user.has_session {
            match now_or_panic(manager.touch(&user.id)) {
                Ok(Touched { version: found_version, served, .. }) => {
                    match served {
                        Served::Hot => {
                            self.counts.hot_hits += 1;
                            self.bucket[serving].hot_hits += 1;
                            class = Class::Hot;
                        }
                        Served::Promoted | Served::ColdOnly => {
                            self.counts.cold_promotions += 1;
                            self.counts.cold_only += u64::from(served == Served::ColdOnly);
                            self.bucket[serving].promotions += 1;
                            class = Class::Cold;
                        }
                    }
                    let version = u32::try_from(found_version).unwrap_or(u32::MAX);
                    if version < user.version {
                        self.counts.lost += 1;
                        self.bucket[serving].losses += 1;
                    }
                    user.version = version;
                    let update: f64 = self.rngs.decide.random();
                    if update < self.sc.traffic.visit.update_fraction {
                        let data = SessionData::opaque(user.payload as usize);
                        match now_or_panic(manager.update(&user.id, data, found_version)) {
                            Ok(updated) => {
                                self.counts.updates += 1;
                                user.version = u32::try_from(updated.version).unwrap_or(u32::MAX);
                            }
                            Err(e) => {
                                self.counts.failed_updates += 1;
                                failed |= matches!(e, EngineError::Store(_));
                            }
                        }
                    }
                }
                Err(EngineError::NotFound) => {
                    self.counts.invalid_lookups += 1;
                    let expected_live = t < user.last_access.saturating_add(self.cold_ttl_ms);
                    if expected_live {
                        self.counts.lost += 1;
                        self.bucket[serving].losses += 1;
                    } else {
                        // The session expired as it should: the user signs in again.
                        let bytes = self.baseline_bytes[home] + u64::from(user.payload) + self.overhead;
                        self.baseline_bytes[home] = bytes;
                        self.baseline_window_peak[home] = self.baseline_window_peak[home].max(bytes);
                    }
                    user.has_session = false;
                }
                Err(_) => failed = true,
            }
        }
        if !user.has_session && !failed {
            let data = SessionData::opaque(user.payload as usize);
            match now_or_panic(manager.create(self.shared.user.clone(), data)) {
                Ok(created) => {
                    user.id = created.session.id;
                    user.version = 1;
                    user.has_session = true;
                    class = Class::Create;
                }
                Err(_) => failed = true,
            }
        }
        let found_at = self.shared.found_at.load(Ordering::Relaxed);
        if found_at != NO_SLOT {
            user.hot_hint = found_at;
        }
        let latency = self.drain_latency_us();
        if failed {
            self.counts.failed_requests += 1;
            self.bucket[serving].failures += 1;
        }
        let class = if failed { Class::None } else { class };
        let _ = self.hist_bucket[serving][class as usize].record(latency.min(HIST_MAX_US));
        user.last_access = t;
        user.remaining = user.remaining.saturating_sub(1);
        if let Some(at) = next_at {
            self.users[slot as usize] = user;
            self.push(at, slot);
            return;
        }
        self.end_visit(slot, user, serving, t);
    }

    /// A visit's last request is done: log out, come back later, or walk away.
    fn end_visit(&mut self, slot: u32, mut user: User, serving: usize, t: u64) {
        let home = usize::from(user.home);
        self.active[home] = self.active[home].saturating_sub(1);
        let decision: f64 = self.rngs.decide.random();
        if decision < self.sc.traffic.visit.logout_probability {
            if user.has_session {
                let _ = now_or_panic(self.managers[serving].logout(&user.id));
                let _ = self.drain_latency_us();
            }
            let b = &mut self.baseline_bytes[home];
            *b = b.saturating_sub(u64::from(user.payload) + self.overhead);
            self.free.push(slot);
            return;
        }
        let expires_at = t.saturating_add(self.cold_ttl_ms);
        let returns: f64 = self.rngs.decide.random();
        if returns < self.sc.traffic.returns.probability {
            let gap = self.samplers.gap.sample(&mut self.rngs.gap);
            let gap_ms = if gap.is_finite() { ((gap * 1000.0 + 0.5) as u64).max(1) } else { u64::MAX };
            let at = t.saturating_add(gap_ms);
            if at >= expires_at {
                self.baseline_expire_at(home, user.payload, expires_at);
            }
            if at < self.end_ms {
                user.remaining = 0;
                let minute = at / MINUTE_MS;
                if minute < self.next_tick_minute {
                    self.users[slot as usize] = user;
                    self.push(at, slot);
                    return;
                }
                if let Some(bucket) = self.calendar.get_mut(minute as usize) {
                    bucket.push((user, (at % MINUTE_MS) as u32));
                }
            }
        } else {
            self.baseline_expire_at(home, user.payload, expires_at);
        }
        self.free.push(slot);
    }

    fn close_bucket(&mut self) {
        let now = self.clock.now().0 - EPOCH_MS;
        let by_home = self.cold.by_home();
        for r in 0..self.regions {
            let ledger = &self.shared.ledger[r];
            let (wru, rru) = (ledger.wru.get(), ledger.rru.get());
            let demotions = self.audit.count(r, kind_slot(hotcold_engine::AuditKind::Demoted));
            let expiries =
                self.audit.count(r, kind_slot(hotcold_engine::AuditKind::Expired)) + self.audit.count(r, EXPIRED_COLD);
            let warm = self.bucket_start_ms >= self.warmup_ms;
            if !self.hist_scratch.is_empty() {
                self.hist_scratch.reset();
            }
            for (class, h) in self.hist_bucket[r].iter().enumerate() {
                if h.is_empty() {
                    continue;
                }
                let _ = self.hist_scratch.add(h);
                if warm {
                    let _ = match class {
                        0 => self.hist_hot.add(h).and_then(|()| self.hist_region_hot[r].add(h)),
                        1 => self.hist_cold.add(h).and_then(|()| self.hist_region_cold[r].add(h)),
                        2 => self.hist_create.add(h),
                        _ => Ok(()),
                    };
                }
            }
            if self.shards > 1 {
                let values = self.hist_scratch.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value()));
                self.bucket_values.push(values.collect());
            }
            let h = &self.hist_scratch;
            let q = |p: f64| if h.is_empty() { 0.0 } else { round3(h.value_at_quantile(p) as f64 / 1000.0) };
            let acc = self.bucket[r];
            let marks = self.marks[r];
            let (cold, cold_bytes) = by_home.get(r).copied().unwrap_or((0, 0));
            self.timeseries.push(BucketRow {
                t: self.bucket_start_ms / 1000,
                region: r as u16,
                hot: self.hot[r].count().value,
                cold,
                cold_bytes,
                active: self.active[r],
                requests: acc.requests,
                hot_hits: acc.hot_hits,
                promotions: acc.promotions,
                demotions: demotions - marks.demotions,
                expiries: expiries - marks.expiries,
                losses: acc.losses,
                failures: acc.failures,
                p50_ms: q(0.50),
                p95_ms: q(0.95),
                p99_ms: q(0.99),
                redis_bytes: (self.hot[r].bytes().value as f64 * self.fragmentation).round() as u64,
                wru: wru - marks.wru,
                rru: rru - marks.rru,
            });
            self.marks[r] = Marks { demotions, expiries, wru, rru };
            self.bucket[r] = BucketAcc::default();
            self.hist_bucket[r].iter_mut().filter(|h| !h.is_empty()).for_each(Histogram::reset);
        }
        self.bucket_start_ms = now;
    }

    fn finish(self) -> ShardResult {
        let names = self.sc.session_config.hot_storage.regions.clone();
        let window_ms = (self.end_ms - self.warmup_ms).max(1) as f64;
        let mut counts = self.counts.clone();
        let audit_total = |slot: usize| (0..self.regions).map(|r| self.audit.count(r, slot)).sum::<u64>();
        counts.created = audit_total(kind_slot(hotcold_engine::AuditKind::Created));
        counts.demoted = audit_total(kind_slot(hotcold_engine::AuditKind::Demoted));
        counts.expired_hot = audit_total(kind_slot(hotcold_engine::AuditKind::Expired));
        counts.expired_cold = audit_total(EXPIRED_COLD) + self.purged_cold;
        counts.logged_out = audit_total(kind_slot(hotcold_engine::AuditKind::LoggedOut));
        counts.sync_invocations =
            self.sync_invocations.iter().sum::<u64>() + self.flush_invocations.iter().sum::<u64>();

        let hot_gauges: Vec<_> = self.hot.iter().map(|h| (h.count(), h.bytes())).collect();
        let cold_count = self.cold.count();
        let cold_bytes = self.cold.bytes();
        let hot_avg: f64 =
            hot_gauges.iter().zip(&self.warm_hot_area).map(|((c, _), warm)| (c.area - warm) / window_ms).sum();
        let cold_avg = (cold_count.area - self.warm_cold_area) / window_ms;
        // Peaks are filled in by `merge` from the peak windows.
        let tiers = Tiers { hot_avg, hot_peak: 0, cold_avg, cold_peak: 0 };
        let usage = (0..self.regions)
            .map(|r| {
                let l = &self.shared.ledger[r];
                let (count, _) = hot_gauges[r];
                RegionUsage {
                    region: names[r].clone(),
                    wru: l.wru.get(),
                    rru: l.rru.get(),
                    replicated_wru: l.replicated_wru.get(),
                    replicated_bytes: l.replicated_bytes.get(),
                    dynamo_calls: l.dynamo_calls.get(),
                    dynamo_errors: l.dynamo_errors.get(),
                    redis_calls: l.redis_calls.get(),
                    redis_peak_bytes: 0,
                    redis_peak_sessions: 0,
                    redis_avg_sessions: (count.area - self.warm_hot_area[r]) / window_ms,
                    sync_invocations: self.sync_invocations[r],
                    sync_seconds: self.sync_us[r] as f64 / 1e6,
                    flush_invocations: self.flush_invocations[r],
                    flush_seconds: self.flush_us[r] as f64 / 1e6,
                    baseline_redis_only_peak_bytes: 0,
                }
            })
            .collect();
        let storage = Storage {
            avg_stored_bytes: (cold_bytes.area - self.warm_cold_bytes_area) / window_ms,
            peak_stored_bytes: 0,
            final_stored_bytes: cold_bytes.value,
        };
        let latency = Latencies {
            hot_access: Hist::from_histogram(&self.hist_hot),
            cold_promotion: Hist::from_histogram(&self.hist_cold),
            create: Hist::from_histogram(&self.hist_create),
            by_region: (0..self.regions)
                .map(|r| RegionLatency {
                    hot_access: Hist::from_histogram(&self.hist_region_hot[r]),
                    cold_promotion: Hist::from_histogram(&self.hist_region_cold[r]),
                })
                .collect(),
        };
        let record = RunRecord {
            regions: names,
            seed: self.sc.seed,
            sample: self.sc.sample,
            simulated_seconds: self.end_ms as f64 / 1000.0,
            warmup_seconds: self.warmup_ms as f64 / 1000.0,
            bucket_seconds: self.bucket_ms / 1000,
            counts,
            tiers,
            latency,
            usage,
            storage,
            failover: self.failover.clone(),
            timeseries: self.timeseries,
            run: RunStats::default(),
            scenario: self.sc,
        };
        ShardResult { record, peaks: self.peaks, bucket_values: self.bucket_values }
    }
}

/// Puts the shards of a run together: counts, request units and averages add up; sync passes,
/// which every shard runs at the same moments, count once; latency histograms merge; peaks are
/// the highest sum over shards of a peak window (see [`Sim::record_peaks`]).
fn merge(shards: Vec<ShardResult>, started: Instant) -> RunRecord {
    let mut shards = shards.into_iter();
    let Some(first) = shards.next() else { unreachable!("a run has at least one shard") };
    let ShardResult { record: mut merged, peaks: mut peak_sums, bucket_values: mut values } = first;
    for ShardResult { record: r, peaks, bucket_values } in shards {
        let (m, c) = (&mut merged.counts, &r.counts);
        m.requests += c.requests;
        m.events += c.events;
        m.failed_requests += c.failed_requests;
        m.created += c.created;
        m.hot_hits += c.hot_hits;
        m.cold_promotions += c.cold_promotions;
        m.cold_only += c.cold_only;
        m.demoted += c.demoted;
        m.expired_hot += c.expired_hot;
        m.expired_cold += c.expired_cold;
        m.logged_out += c.logged_out;
        m.invalid_lookups += c.invalid_lookups;
        m.lost += c.lost;
        m.updates += c.updates;
        m.failed_updates += c.failed_updates;
        merged.tiers.hot_avg += r.tiers.hot_avg;
        merged.tiers.cold_avg += r.tiers.cold_avg;
        let l = &mut merged.latency;
        merge_hist(&mut l.hot_access, &r.latency.hot_access);
        merge_hist(&mut l.cold_promotion, &r.latency.cold_promotion);
        merge_hist(&mut l.create, &r.latency.create);
        for (m, o) in l.by_region.iter_mut().zip(&r.latency.by_region) {
            merge_hist(&mut m.hot_access, &o.hot_access);
            merge_hist(&mut m.cold_promotion, &o.cold_promotion);
        }
        for (m, o) in merged.usage.iter_mut().zip(&r.usage) {
            m.wru += o.wru;
            m.rru += o.rru;
            m.replicated_wru += o.replicated_wru;
            m.replicated_bytes += o.replicated_bytes;
            m.dynamo_calls += o.dynamo_calls;
            m.dynamo_errors += o.dynamo_errors;
            m.redis_calls += o.redis_calls;
            m.redis_avg_sessions += o.redis_avg_sessions;
            m.sync_seconds += o.sync_seconds;
            m.flush_seconds += o.flush_seconds;
        }
        merged.storage.avg_stored_bytes += r.storage.avg_stored_bytes;
        merged.storage.final_stored_bytes += r.storage.final_stored_bytes;
        merged.failover.sessions_at_risk += r.failover.sessions_at_risk;
        merged.failover.sessions_lost += r.failover.sessions_lost;
        for (m, o) in merged.failover.events.iter_mut().zip(&r.failover.events) {
            m.sessions_at_risk += o.sessions_at_risk;
            m.sessions_lost += o.sessions_lost;
        }
        for (m, o) in merged.timeseries.iter_mut().zip(&r.timeseries) {
            m.hot += o.hot;
            m.cold += o.cold;
            m.cold_bytes += o.cold_bytes;
            m.active += o.active;
            m.requests += o.requests;
            m.hot_hits += o.hot_hits;
            m.promotions += o.promotions;
            m.demotions += o.demotions;
            m.expiries += o.expiries;
            m.losses += o.losses;
            m.failures += o.failures;
            m.redis_bytes += o.redis_bytes;
            m.wru += o.wru;
            m.rru += o.rru;
        }
        for (m, o) in values.iter_mut().zip(bucket_values) {
            m.extend(o);
        }
        for (m, o) in peak_sums.iter_mut().zip(peaks) {
            *m += o;
        }
    }
    if !values.is_empty() {
        for (row, values) in merged.timeseries.iter_mut().zip(&values) {
            let h = histogram_of(values);
            let q = |p: f64| if h.is_empty() { 0.0 } else { round3(h.value_at_quantile(p) as f64 / 1000.0) };
            (row.p50_ms, row.p95_ms, row.p99_ms) = (q(0.50), q(0.95), q(0.99));
        }
    }

    // Peaks: the highest window of each gauge, summed over shards.
    let regions = merged.regions.len();
    let stride = 3 + 3 * regions;
    let peak = |gauge: usize| peak_sums.chunks_exact(stride).map(|w| w[gauge]).max().unwrap_or(0);
    let fragmentation = merged.scenario.costs.redis.fragmentation;
    let redis_bytes = |bytes: u64| (bytes as f64 * fragmentation).round() as u64;
    merged.tiers.hot_peak = peak(0);
    merged.tiers.cold_peak = peak(1);
    merged.storage.peak_stored_bytes = peak(2);
    for (r, usage) in merged.usage.iter_mut().enumerate() {
        usage.redis_peak_sessions = peak(3 + r);
        usage.redis_peak_bytes = redis_bytes(peak(3 + regions + r));
        usage.baseline_redis_only_peak_bytes = redis_bytes(peak(3 + 2 * regions + r));
    }

    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let peak_rss = peak_rss_bytes();
    let held = merged.tiers.hot_peak + merged.tiers.cold_peak;
    merged.run = RunStats {
        wall_seconds: wall,
        events_per_second: merged.counts.events as f64 / wall,
        requests_per_second: merged.counts.requests as f64 / wall,
        peak_rss_bytes: peak_rss,
        peak_sessions_held: held,
        bytes_per_session_held: if held > 0 { peak_rss as f64 / held as f64 } else { 0.0 },
    };
    merged
}

/// A histogram holding `(value_us, count)` pairs.
fn histogram_of(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &(value, count) in values {
        let _ = h.record_n(value.min(HIST_MAX_US), count);
    }
    h
}

/// Adds the values of `other` to `into` and recomputes its summary figures.
fn merge_hist(into: &mut Hist, other: &Hist) {
    if other.count == 0 {
        return;
    }
    let mut values = std::mem::take(&mut into.values_us);
    values.extend_from_slice(&other.values_us);
    *into = Hist::from_histogram(&histogram_of(&values));
}

/// Peak resident set size of this process (VmHWM), bytes; 0 where /proc is not available.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb * 1024))
        })
        .unwrap_or(0)
}
