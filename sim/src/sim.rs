//! The event loop: simulated time driving the real engine over the simulated stores.
//!
//! Only users in the middle of a visit have a pending event in the binary heap (tens of thousands
//! for ShopFlow); users waiting to return sit in a calendar of one-minute buckets and enter the
//! heap at the minute of their return. System events (arrivals, sync passes, ticks, faults) are a
//! handful of heap entries. Ties in time are broken by insertion sequence, and every random draw
//! comes from a seeded stream dedicated to one purpose, so a run is a pure function of the
//! scenario, the seed and the sample fraction.
//!
//! # Sampling (`sample < 1`)
//! Only a fraction `sample` of users arrive (each region's arrival rate is multiplied by `sample`)
//! and counts are scaled back by `1 / sample`. Users do not interact (sessions are independent),
//! so means are unbiased; the relative standard error of a count that would be `N` at full scale
//! is about `1 / sqrt(N * sample)` (Poisson), e.g. 1% for a count of 10^6 at `sample = 0.01`.
//! Peaks (`hot_peak`, Redis peak bytes) are scaled too and slightly overestimate (the peak of a
//! noisier series); tail percentiles of rare classes (cold promotions) come from fewer values.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hotcold_engine::Clock as _;
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    Durability, Engine, EngineError, Lookup, ManualClock, RegionId, Served, SessionData, SessionId, SessionManager,
    SyncService, Timestamp,
};
use rand::{Rng, SeedableRng};

use crate::record::{
    BucketRow, Counts, Failover, Hist, Latencies, OutageRecord, RegionLatency, RegionUsage, RunRecord, RunStats,
    Storage, Tiers, round3,
};
use crate::rng::SimRng;
use crate::scenario::{Fault, Scenario, ScenarioError};
use crate::stores::{EXPIRED_COLD, Shared, SimAudit, SimColdStore, SimHotStore, kind_slot, splitmix};
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
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("sample", &self.sample)
            .field("progress", &self.progress.is_some())
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
    let started = Instant::now();
    let mut sim = Sim::new(scenario)?;
    sim.run(options.progress.as_ref());
    Ok(sim.finish(started))
}

type Hot = Arc<SimHotStore>;
type Cold = Arc<SimColdStore>;
type Audit = Arc<SimAudit>;
type Clock = Arc<ManualClock>;
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
    /// The region whose traffic the user belongs to.
    home: u16,
    /// False until the first create succeeds.
    has_session: bool,
}

const SYS: u32 = 1 << 31;
const ARRIVAL: u32 = 0;
const SYNC: u32 = 1;
const FLUSH: u32 = 2;
const TICK: u32 = 3;
const FAULT_START: u32 = 4;
const FAULT_END: u32 = 5;
const WARMUP: u32 = 6;
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
    /// `time_ms << 64 | seq << 32 | target`: one integer compare orders by time, then by insertion.
    heap: BinaryHeap<Reverse<u128>>,
    seq: u32,
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
    baseline_peak: Vec<u64>,
    purged_cold: u64,
    warm_hot_area: Vec<f64>,
    warm_cold_area: f64,
    warm_cold_bytes_area: f64,
    failover: Failover,
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
    fn new(sc: Scenario) -> Result<Self, SimError> {
        let names = sc.session_config.hot_storage.regions.clone();
        let regions = names.len();
        let clock: Clock = Arc::new(ManualClock::new(Timestamp(EPOCH_MS)));
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
                arrival_base[r] = traffic.sessions_per_day * sc.sample / 86_400_000.0; // per ms
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
            heap: BinaryHeap::new(),
            seq: 0,
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
            baseline_peak: vec![0; regions],
            purged_cold: 0,
            warm_hot_area: vec![0.0; regions],
            warm_cold_area: 0.0,
            warm_cold_bytes_area: 0.0,
            failover: Failover::default(),
            sc,
        })
    }

    fn push(&mut self, at: u64, target: u32) {
        // The sequence wraps after 2^32 pushes; ties that far apart in insertion order do not
        // occur within one millisecond, and the order stays deterministic either way.
        self.seq = self.seq.wrapping_add(1);
        self.heap.push(Reverse((u128::from(at) << 64) | (u128::from(self.seq) << 32) | u128::from(target)));
    }

    fn run(&mut self, progress: Option<&ProgressFn>) {
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
        self.push(self.warmup_ms, sys(WARMUP, 0));
        for (i, fault) in self.sc.faults.clone().iter().enumerate() {
            let (start, end) = fault.window();
            self.push(millis(start), sys(FAULT_START, i));
            self.push(millis(end), sys(FAULT_END, i));
        }
        while let Some(Reverse(key)) = self.heap.pop() {
            let t = (key >> 64) as u64;
            let target = key as u32;
            if t >= self.end_ms {
                break;
            }
            self.counts.events += 1;
            self.clock.set(Timestamp(EPOCH_MS + t));
            if target & SYS == 0 {
                self.user_event(target, t);
            } else {
                self.system_event(target, t);
            }
            if self.counts.events & 0x3_FFFF == 0 {
                if let Some(report) = progress {
                    report(&Progress {
                        simulated_seconds: t as f64 / 1000.0,
                        total_seconds: self.end_ms as f64 / 1000.0,
                        events: self.counts.events,
                        requests: self.counts.requests,
                    });
                }
            }
        }
        self.clock.set(Timestamp(EPOCH_MS + self.end_ms));
        if self.bucket_start_ms < self.end_ms {
            self.close_bucket();
        }
        self.hot.iter().for_each(|h| {
            h.count();
        });
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
        let kind = (target >> 24) & 0x7F;
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
                if self.sync_down[index] == 0 {
                    self.begin_op(index);
                    let _report = now_or_panic(self.sync.run_once(RegionId(index as u16)));
                    let us = self.drain_latency_us();
                    self.sync_invocations[index] += 1;
                    self.sync_us[index] += us;
                }
            }
            FLUSH => {
                if let Some(flush) = self.flush_ms {
                    self.push(t + flush, sys(FLUSH, index));
                }
                if self.sync_down[index] == 0 {
                    self.begin_op(index);
                    let _report = now_or_panic(self.sync.flush_dirty(RegionId(index as u16)));
                    let us = self.drain_latency_us();
                    self.flush_invocations[index] += 1;
                    self.flush_us[index] += us;
                }
            }
            TICK => self.tick(t),
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
                let slot = self.alloc_user(user);
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

    fn alloc_user(&mut self, user: User) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.users[slot as usize] = user;
                slot
            }
            None => {
                self.users.push(user);
                (self.users.len() - 1) as u32
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
            home: region as u16,
            has_session: false,
        };
        let slot = self.alloc_user(user);
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
        self.baseline_peak[region] = self.baseline_peak[region].max(self.baseline_bytes[region]);
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
        self.counts.requests += 1;
        self.bucket[serving].requests += 1;
        let manager = &self.managers[serving];
        let mut class = Class::None;
        let mut failed = false;
        if user.has_session {
            match now_or_panic(manager.get(&user.id)) {
                Lookup::Found { session, served, .. } => {
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
                    let version = u32::try_from(session.version).unwrap_or(u32::MAX);
                    if version < user.version {
                        self.counts.lost += 1;
                        self.bucket[serving].losses += 1;
                    }
                    user.version = version;
                    let update: f64 = self.rngs.decide.random();
                    if update < self.sc.traffic.visit.update_fraction {
                        let data = SessionData::opaque(user.payload as usize);
                        match now_or_panic(manager.update(&user.id, data, session.version)) {
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
                Lookup::Expired | Lookup::Miss => {
                    self.counts.invalid_lookups += 1;
                    let expected_live = t < user.last_access.saturating_add(self.cold_ttl_ms);
                    if expected_live {
                        self.counts.lost += 1;
                        self.bucket[serving].losses += 1;
                    } else {
                        // The session expired as it should: the user signs in again.
                        self.baseline_bytes[home] += u64::from(user.payload) + self.overhead;
                        self.baseline_peak[home] = self.baseline_peak[home].max(self.baseline_bytes[home]);
                    }
                    user.has_session = false;
                }
                Lookup::Unavailable(_) => failed = true,
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
        let latency = self.drain_latency_us();
        if failed {
            self.counts.failed_requests += 1;
            self.bucket[serving].failures += 1;
        }
        let class = if failed { Class::None } else { class };
        let _ = self.hist_bucket[serving][class as usize].record(latency.min(HIST_MAX_US));
        user.last_access = t;
        user.remaining = user.remaining.saturating_sub(1);
        if user.remaining > 0 {
            self.users[slot as usize] = user;
            let think = self.samplers.think.sample(&mut self.rngs.visit);
            let think_ms = if think.is_finite() { ((think * 1000.0 + 0.5) as u64).max(1) } else { 1 };
            self.push(t + think_ms, slot);
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

    fn finish(self, started: Instant) -> RunRecord {
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
        let tiers = Tiers { hot_avg, hot_peak: self.shared.hot_total_peak.get(), cold_avg, cold_peak: cold_count.peak };
        let usage = (0..self.regions)
            .map(|r| {
                let l = &self.shared.ledger[r];
                let (count, bytes) = hot_gauges[r];
                RegionUsage {
                    region: names[r].clone(),
                    wru: l.wru.get(),
                    rru: l.rru.get(),
                    replicated_wru: l.replicated_wru.get(),
                    replicated_bytes: l.replicated_bytes.get(),
                    dynamo_calls: l.dynamo_calls.get(),
                    dynamo_errors: l.dynamo_errors.get(),
                    redis_calls: l.redis_calls.get(),
                    redis_peak_bytes: (bytes.peak as f64 * self.fragmentation).round() as u64,
                    redis_peak_sessions: count.peak,
                    redis_avg_sessions: (count.area - self.warm_hot_area[r]) / window_ms,
                    sync_invocations: self.sync_invocations[r],
                    sync_seconds: self.sync_us[r] as f64 / 1e6,
                    flush_invocations: self.flush_invocations[r],
                    flush_seconds: self.flush_us[r] as f64 / 1e6,
                    baseline_redis_only_peak_bytes: (self.baseline_peak[r] as f64 * self.fragmentation).round() as u64,
                }
            })
            .collect();
        let storage = Storage {
            avg_stored_bytes: (cold_bytes.area - self.warm_cold_bytes_area) / window_ms,
            peak_stored_bytes: cold_bytes.peak,
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
        let wall = started.elapsed().as_secs_f64().max(1e-9);
        let peak_rss = peak_rss_bytes();
        let held = tiers.hot_peak + tiers.cold_peak;
        let run = RunStats {
            wall_seconds: wall,
            events_per_second: counts.events as f64 / wall,
            requests_per_second: counts.requests as f64 / wall,
            peak_rss_bytes: peak_rss,
            peak_sessions_held: held,
            bytes_per_session_held: if held > 0 { peak_rss as f64 / held as f64 } else { 0.0 },
        };
        RunRecord {
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
            run,
            scenario: self.sc,
        }
    }
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
