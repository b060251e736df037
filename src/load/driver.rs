//! The event loop of `hotcold load`: the model's traffic ([`TrafficGenerator`]) on compressed wall
//! time.
//!
//! One task owns every user and all the bookkeeping; each request runs as a task of its own (users
//! are concurrent, as in production) and reports an [`Outcome`] back over a channel, and each
//! region's sync job runs as a task reporting its passes. Every random draw of a request is made in
//! the owning task when the request is due, in the order `hotcold simulate` makes it (see
//! [`hotcold_model::traffic`]), so the same scenario and seed give the same traffic in both.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hotcold_engine::{
    EngineError, HotStore as _, Pass, RegionId, Served, SessionData, SessionId, SessionManager, SyncService,
    SystemClock, Touched, UserId,
};
use hotcold_model::RunRecord;
use hotcold_model::baseline::RedisOnlyBaseline;
use hotcold_model::record::{BucketRow, Counts, Failover, RegionUsage, ResidencyRecord, RunStats, Storage, Tiers};
use hotcold_model::tally::{LatencyTally, RequestClass, bucket_ms, latency_histogram, peak_rss_bytes};
use hotcold_model::traffic::{TrafficGenerator, Visitor};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ledger::Ledger;
use super::{LoadEngine, Manager, Plan};
use crate::pass_timer::PassTimer;

/// Reads of the hot counts per sync pass (see [`Measure::hot_reads`]).
const HOT_READS_PER_PASS: u32 = 8;
/// Fastest pace of those reads.
const MIN_HOT_READ_INTERVAL: Duration = Duration::from_millis(50);
/// A minute, ms (the Redis-only baseline's expiry step).
const MINUTE_MS: u64 = 60_000;
/// A scenario day, ms.
const DAY_MS: u64 = 86_400_000;
/// Most time the run waits for requests still in flight when the scenario's time is up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How late events started against their scheduled wall time.
#[derive(Debug, Default)]
pub(super) struct Lateness {
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
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

/// What a request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Hot,
    Promoted,
    ColdOnly,
    Create,
    Failed,
}

impl Class {
    /// The latency histogram it goes to.
    const fn latency_class(self) -> RequestClass {
        match self {
            Self::Hot => RequestClass::HotAccess,
            Self::Promoted | Self::ColdOnly => RequestClass::ColdPromotion,
            Self::Create => RequestClass::Create,
            Self::Failed => RequestClass::Other,
        }
    }
}

/// What the user does after a request, drawn when the request is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The visit goes on: the next request this long after this one.
    Request { think_ms: u64 },
    /// The visit ends with a logout.
    Logout,
    /// The visit ends; the user comes back this long after this request.
    Return { gap_ms: u64 },
    /// The visit ends and the user never comes back.
    Leave,
}

/// One request's random draws.
#[derive(Debug, Clone, Copy)]
struct Draws {
    serving: usize,
    update: bool,
    next: Next,
}

impl Draws {
    /// Whether the request ends the visit with a logout.
    fn logout(&self) -> bool {
        self.next == Next::Logout
    }
}

/// What one request did.
#[derive(Debug)]
struct Outcome {
    slot: usize,
    user: User,
    t: u64,
    draws: Draws,
    class: Class,
    latency_us: u64,
    lost: bool,
    invalid: bool,
    updated: Option<bool>,
    logged_out: bool,
}

/// One pass of a region's sync job.
struct SyncDone {
    region: usize,
    demoted: u64,
    expired_hot: u64,
    seconds: f64,
    flush: bool,
}

/// One request of `user` at scenario time `t`, as `hotcold simulate` makes it: touch (promoting a
/// cold session), maybe update, create when the session is gone, log out after a visit's last
/// request if drawn.
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
    let mut class = Class::Failed;
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
                    match manager.update(&id, SessionData::opaque(user.payload as usize), version).await {
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
    let mut logged_out = false;
    if draws.logout() {
        if let Some(id) = user.id {
            logged_out = manager.logout(&id).await.is_ok();
        }
    }
    user.last_access = t;
    user.remaining = user.remaining.saturating_sub(1);
    let class = if failed { Class::Failed } else { class };
    Outcome { slot, user, t, draws, class, latency_us, lost, invalid, updated, logged_out }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The engine's clock, ms since the epoch (the time DynamoDB's TTL is measured against).
fn wall_now_ms() -> u64 {
    use hotcold_engine::Clock as _;
    SystemClock.now().0
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// Per-region accumulators of the current time-series bucket.
///
/// Audit events and analytics writes are counted from the driver's own outcomes, per serving
/// region, as the simulator's audit trail would have them: a create, a promotion, a successful
/// update and a logout in the region that served the request, a demotion and a hot expiry in the
/// region whose sync pass did it. An approximation: expiries the engine finds on a lookup (which
/// the simulator's audit counts) are not seen by the driver, and cold items DynamoDB's TTL purges
/// are not audited in either world.
#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    requests: u64,
    hot_hits: u64,
    promotions: u64,
    losses: u64,
    failures: u64,
    demotions: u64,
    expiries: u64,
    created: u64,
    audit_events: u64,
    analytics_writes: u64,
}

/// Per-region sync totals.
#[derive(Debug, Default, Clone, Copy)]
struct SyncTotals {
    passes: u64,
    seconds: f64,
    flushes: u64,
    flush_seconds: f64,
}

/// Everything measured, folded into a [`RunRecord`] at the end.
struct Measure {
    counts: Counts,
    active: Vec<u64>,
    /// Every request's latency, by region and class (the time series and the run's totals).
    latency: LatencyTally,
    bucket: Vec<Bucket>,
    /// WRU and RRU at the last bucket boundary, per region.
    marks: Vec<(u64, u64)>,
    timeseries: Vec<BucketRow>,
    sync: Vec<SyncTotals>,
    /// What Redis alone would hold, as the simulator keeps it.
    baseline: RedisOnlyBaseline,
    /// Highest Redis-only bytes per region.
    baseline_peak: Vec<u64>,
    /// Minutes whose Redis-only expiries are done.
    baseline_minutes_done: u64,
    /// After warmup, one sample per bucket: hot sessions (all regions), cold items, stored bytes.
    hot_samples: Vec<f64>,
    cold_samples: Vec<f64>,
    stored_samples: Vec<f64>,
    region_hot_samples: Vec<Vec<f64>>,
    hot_peak: u64,
    cold_peak: u64,
    stored_peak: u64,
    /// Per region: peak Redis bytes (estimated) and peak hot sessions.
    redis_peak: Vec<(u64, u64)>,
    /// Last hot count read from each region's Redis (kept when a count fails).
    last_hot: Vec<u64>,
    /// Per region, hot counts read in the current bucket: sum and number of reads. The count is
    /// a sawtooth (it grows between sync passes), so it is read several times per pass and
    /// averaged; read once at the bucket's end, in step with the passes, it overstated the
    /// average by half a pass's demotions.
    hot_reads: Vec<(u64, u64)>,
    /// Highest total of one round of reads.
    hot_read_peak: u64,
    payload_sum: u64,
    payload_n: u64,
    lateness: Histogram<u64>,
}

impl Measure {
    /// Nothing measured yet, for `regions` regions and a run of `minutes` minutes whose sessions
    /// take `overhead` bytes each in Redis beyond their data.
    fn new(regions: usize, minutes: usize, overhead: u64) -> Self {
        Self {
            counts: Counts::default(),
            active: vec![0; regions],
            latency: LatencyTally::new(regions, false),
            bucket: vec![Bucket::default(); regions],
            marks: vec![(0, 0); regions],
            timeseries: Vec::new(),
            sync: vec![SyncTotals::default(); regions],
            baseline: RedisOnlyBaseline::new(regions, minutes, overhead),
            baseline_peak: vec![0; regions],
            baseline_minutes_done: 0,
            hot_samples: Vec::new(),
            cold_samples: Vec::new(),
            stored_samples: Vec::new(),
            region_hot_samples: vec![Vec::new(); regions],
            hot_peak: 0,
            cold_peak: 0,
            stored_peak: 0,
            redis_peak: vec![(0, 0); regions],
            last_hot: vec![0; regions],
            hot_reads: vec![(0, 0); regions],
            hot_read_peak: 0,
            payload_sum: 0,
            payload_n: 0,
            lateness: latency_histogram(),
        }
    }
}

/// What is due next.
enum Due {
    Bucket(u64),
    Arrival(usize, u64),
    User(u64),
}

/// The run: users, their pending events, and the measurements.
pub(super) struct Driver<'a> {
    plan: &'a Plan,
    engine: Arc<LoadEngine>,
    managers: Arc<Vec<Manager>>,
    ledger: Arc<Mutex<Ledger>>,
    traffic: TrafficGenerator,
    regions: usize,
    end_ms: u64,
    warmup_ms: u64,
    bucket_ms: u64,
    bucket_start: u64,
    cold_ttl_ms: u64,
    users: Vec<Option<User>>,
    free: Vec<usize>,
    /// Pending user events: (scenario ms, `u64::MAX` - sequence number so that users due at one
    /// millisecond go last-queued first, user slot).
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    seq: u64,
    arrivals: Vec<Option<u64>>,
    arrivals_started: u64,
    in_flight: usize,
    measure: Measure,
    start: tokio::time::Instant,
}

impl<'a> Driver<'a> {
    pub(super) fn new(plan: &'a Plan, engine: Arc<LoadEngine>, ledger: Arc<Mutex<Ledger>>) -> Self {
        let sc = &plan.scenario;
        let regions = sc.session_config.hot_storage.regions.len();
        let managers =
            Arc::new((0..regions).map(|r| SessionManager::new(Arc::clone(&engine), RegionId(r as u16))).collect());
        let end_ms = millis(sc.duration);
        let mut traffic = TrafficGenerator::new(sc, sc.seed, 1.0);
        let arrivals = (0..regions).map(|r| traffic.next_arrival(r, 0)).collect();
        Self {
            plan,
            engine,
            managers,
            ledger,
            traffic,
            regions,
            end_ms,
            warmup_ms: millis(sc.warmup),
            bucket_ms: bucket_ms(sc.duration),
            bucket_start: 0,
            cold_ttl_ms: millis(sc.session_config.cold_storage.ttl),
            users: Vec::new(),
            free: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            arrivals,
            arrivals_started: 0,
            in_flight: 0,
            measure: Measure::new(
                regions,
                end_ms.div_ceil(MINUTE_MS) as usize + 1,
                sc.costs.redis.bytes_overhead_per_session,
            ),
            start: tokio::time::Instant::now(),
        }
    }

    /// Runs the scenario to its end; answers the record and how late events started.
    pub(super) async fn run(mut self) -> anyhow::Result<(RunRecord, Lateness)> {
        let (sync_tx, mut sync_rx) = mpsc::unbounded_channel();
        let sync_tasks: Vec<JoinHandle<()>> =
            (0..self.regions).map(|r| tokio::spawn(sync_loop(Arc::clone(&self.engine), r, sync_tx.clone()))).collect();
        drop(sync_tx);
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let wall_started = Instant::now();
        self.start = tokio::time::Instant::now();
        let pass = self.plan.session_config.sync.sync_interval;
        let mut hot_reads = tokio::time::interval((pass / HOT_READS_PER_PASS).max(MIN_HOT_READ_INTERVAL));
        hot_reads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self.next_due();
            let at = match due {
                Due::Bucket(t) | Due::Arrival(_, t) | Due::User(t) => t,
            };
            tokio::select! {
                Some(outcome) = out_rx.recv() => self.on_outcome(outcome),
                Some(done) = sync_rx.recv() => self.on_sync(&done),
                _ = hot_reads.tick() => self.read_hot_counts().await,
                () = tokio::time::sleep_until(self.wall_of(at)) => {
                    let late_us = (self.scenario_now().saturating_sub(at) as f64 / self.plan.speedup * 1000.0).max(1.0);
                    let _ = self.measure.lateness.record(late_us as u64);
                    match due {
                        Due::Bucket(end) => {
                            self.close_bucket(end).await;
                            if end >= self.end_ms {
                                break;
                            }
                        }
                        Due::Arrival(region, t) => self.arrive(region, t, &out_tx)?,
                        Due::User(_) => {
                            if let Some(Reverse((t, _, slot))) = self.queue.pop() {
                                // A user whose previous request is still running waits for its
                                // answer (a user does not send the next request before), and so
                                // does every later event: draws stay in scenario-time order.
                                while self.users.get(slot).is_some_and(Option::is_none) {
                                    match out_rx.recv().await {
                                        Some(outcome) => self.on_outcome(outcome),
                                        None => break,
                                    }
                                }
                                self.start_request(slot, t, &out_tx);
                            }
                        }
                    }
                }
            }
        }
        // Requests still in flight finish and count; nothing new is scheduled.
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.in_flight > 0 && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(1), out_rx.recv()).await {
                Ok(Some(outcome)) => {
                    self.in_flight -= 1;
                    self.count(&outcome);
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        sync_tasks.iter().for_each(JoinHandle::abort);
        let wall_seconds = wall_started.elapsed().as_secs_f64();
        Ok(self.finish(wall_seconds))
    }

    /// Wall time of scenario time `ms`. Events are due no later than the scenario's end, whose
    /// wall time `Plan::new` checked; a later time is at the end of that bound, not a panic.
    fn wall_of(&self, ms: u64) -> tokio::time::Instant {
        let wall = Duration::try_from_secs_f64(ms as f64 / 1000.0 / self.plan.speedup).unwrap_or(super::MAX_SCALED);
        self.start + wall.min(super::MAX_SCALED)
    }

    /// Scenario time now, ms.
    fn scenario_now(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.plan.speedup) as u64
    }

    fn next_due(&self) -> Due {
        let bucket_end = (self.bucket_start + self.bucket_ms).min(self.end_ms);
        let mut due = Due::Bucket(bucket_end);
        let mut at = bucket_end;
        if let Some((region, t)) =
            self.arrivals.iter().enumerate().filter_map(|(r, t)| t.map(|t| (r, t))).min_by_key(|(_, t)| *t)
        {
            if t < at {
                (due, at) = (Due::Arrival(region, t), t);
            }
        }
        // Users first at the same millisecond, as in the simulator.
        if let Some(Reverse((t, _, _))) = self.queue.peek() {
            if *t <= at {
                due = Due::User(*t);
            }
        }
        due
    }

    /// A new user arrives in `region` and makes the first request of its visit.
    fn arrive(&mut self, region: usize, t: u64, out: &mpsc::UnboundedSender<Outcome>) -> anyhow::Result<()> {
        self.arrivals[region] = self.traffic.next_arrival(region, t);
        let Visitor { requests, payload } = self.traffic.new_visitor();
        self.arrivals_started += 1;
        let user_id = UserId::new(&format!("load-{}", self.arrivals_started))?;
        let user = User { id: None, user_id, version: 0, payload, last_access: t, remaining: requests, home: region };
        self.measure.active[region] += 1;
        self.measure.counts.visits += 1;
        self.measure.payload_sum += u64::from(payload);
        self.measure.payload_n += 1;
        self.measure.baseline.add(region, payload);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.users.push(None);
            self.users.len() - 1
        });
        self.users[slot] = Some(user);
        self.start_request(slot, t, out);
        Ok(())
    }

    /// Starts a request of the user in `slot` (a new visit when the user was away), making the
    /// request's draws in the simulator's order.
    fn start_request(&mut self, slot: usize, t: u64, out: &mpsc::UnboundedSender<Outcome>) {
        let Some(mut user) = self.users.get_mut(slot).and_then(Option::take) else { return };
        if user.remaining == 0 {
            user.remaining = self.traffic.visit_requests();
            self.measure.active[user.home] += 1;
            self.measure.counts.visits += 1;
        }
        let think_ms = (user.remaining > 1).then(|| self.traffic.think_ms());
        let serving = self.traffic.serving_region(user.home);
        let update = self.traffic.updates();
        let next = match think_ms {
            Some(think_ms) => Next::Request { think_ms },
            None if self.traffic.logs_out() => Next::Logout,
            None if self.traffic.returns() => Next::Return { gap_ms: self.traffic.return_gap_ms() },
            None => Next::Leave,
        };
        let draws = Draws { serving, update, next };
        // The user's next event is queued now, in draw order, not when the answer comes back.
        match next {
            Next::Request { think_ms } => self.enqueue(slot, t.saturating_add(think_ms)),
            Next::Return { gap_ms } if t.saturating_add(gap_ms) < self.end_ms => {
                self.enqueue(slot, t.saturating_add(gap_ms));
            }
            Next::Return { .. } | Next::Logout | Next::Leave => {}
        }
        self.in_flight += 1;
        let (managers, out, cold_ttl_ms) = (Arc::clone(&self.managers), out.clone(), self.cold_ttl_ms);
        tokio::spawn(async move {
            let _ = out.send(run_request(managers, slot, user, t, draws, cold_ttl_ms).await);
        });
    }

    /// Counts a finished request.
    fn count(&mut self, o: &Outcome) {
        let m = &mut self.measure;
        let serving = o.draws.serving;
        m.counts.requests += 1;
        let acc = &mut m.bucket[serving];
        acc.requests += 1;
        match o.class {
            Class::Hot => {
                m.counts.hot_hits += 1;
                acc.hot_hits += 1;
            }
            Class::Promoted | Class::ColdOnly => {
                m.counts.cold_promotions += 1;
                m.counts.cold_only += u64::from(o.class == Class::ColdOnly);
                acc.promotions += 1;
                let promoted = u64::from(o.class == Class::Promoted);
                acc.audit_events += promoted;
                acc.analytics_writes += promoted;
            }
            Class::Create => {
                m.counts.created += 1;
                acc.created += 1;
                acc.audit_events += 1;
            }
            Class::Failed => {
                m.counts.failed_requests += 1;
                acc.failures += 1;
            }
        }
        m.counts.lost += u64::from(o.lost);
        acc.losses += u64::from(o.lost);
        m.counts.invalid_lookups += u64::from(o.invalid);
        acc.audit_events += u64::from(o.updated == Some(true)) + u64::from(o.logged_out);
        acc.analytics_writes += u64::from(o.logged_out);
        match o.updated {
            Some(true) => m.counts.updates += 1,
            Some(false) => m.counts.failed_updates += 1,
            None => {}
        }
        m.counts.logged_out += u64::from(o.logged_out);
        m.latency.record(serving, o.class.latency_class(), o.latency_us);
    }

    /// A request finished: count it, then schedule the user's next request, return or departure.
    fn on_outcome(&mut self, outcome: Outcome) {
        self.in_flight -= 1;
        self.count(&outcome);
        let Outcome { slot, mut user, t, draws, invalid, lost, .. } = outcome;
        if invalid && !lost {
            // Expired as it should: the user signs in again, and Redis-only would hold that too.
            self.measure.baseline.add(user.home, user.payload);
        }
        if let Next::Request { .. } = draws.next {
            self.users[slot] = Some(user);
            return;
        }
        let home = user.home;
        self.measure.active[home] = self.measure.active[home].saturating_sub(1);
        let expires_at = t.saturating_add(self.cold_ttl_ms);
        match draws.next {
            Next::Logout => {
                self.measure.baseline.remove(home, user.payload);
            }
            Next::Return { gap_ms } => {
                let at = t.saturating_add(gap_ms);
                if at >= expires_at {
                    self.measure.baseline.expire_at(home, user.payload, expires_at);
                }
                if at < self.end_ms {
                    user.remaining = 0;
                    self.users[slot] = Some(user);
                    return;
                }
            }
            Next::Leave | Next::Request { .. } => {
                self.measure.baseline.expire_at(home, user.payload, expires_at);
            }
        }
        self.free.push(slot);
    }

    /// Queues the next event of the user in `slot` (whose record comes back with its answer).
    /// Users due at the same millisecond go last-queued first, as on the simulator's timing wheel.
    fn enqueue(&mut self, slot: usize, at: u64) {
        self.seq += 1;
        self.queue.push(Reverse((at, u64::MAX - self.seq, slot)));
    }

    fn on_sync(&mut self, done: &SyncDone) {
        let totals = &mut self.measure.sync[done.region];
        if done.flush {
            totals.flushes += 1;
            totals.flush_seconds += done.seconds;
        } else {
            totals.passes += 1;
            totals.seconds += done.seconds;
        }
        self.measure.counts.demoted += done.demoted;
        self.measure.counts.expired_hot += done.expired_hot;
        self.measure.bucket[done.region].demotions += done.demoted;
        self.measure.bucket[done.region].expiries += done.expired_hot;
        self.measure.bucket[done.region].audit_events += done.demoted + done.expired_hot;
        self.measure.bucket[done.region].analytics_writes += done.demoted + done.expired_hot;
    }

    /// Reads every region's hot session count from Redis (a region that does not answer keeps its
    /// last count).
    async fn read_hot_counts(&mut self) {
        let m = &mut self.measure;
        let mut total = 0;
        for r in 0..self.regions {
            if let Ok(n) = self.engine.hot(RegionId(r as u16)).session_count().await {
                m.last_hot[r] = n;
            }
            let (sum, reads) = &mut m.hot_reads[r];
            *sum += m.last_hot[r];
            *reads += 1;
            total += m.last_hot[r];
        }
        m.hot_read_peak = m.hot_read_peak.max(total);
    }

    /// Ends the time-series bucket at `end`: hot sessions as read during it, the rest metered.
    async fn close_bucket(&mut self, end: u64) {
        self.read_hot_counts().await;
        let m = &mut self.measure;
        // The Redis-only baseline's expiries, minute by minute as the simulator's tick does them,
        // and its peak over the bucket.
        while m.baseline_minutes_done <= end / MINUTE_MS {
            m.baseline.expire_due(m.baseline_minutes_done);
            m.baseline_minutes_done += 1;
        }
        for (peak, r) in m.baseline_peak.iter_mut().zip(0..) {
            *peak = (*peak).max(m.baseline.take_window_peak(r));
        }
        let warm = self.bucket_start >= self.warmup_ms;
        let per_region: Vec<((u64, u64), u64, u64)> = {
            let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
            if end / DAY_MS > self.bucket_start / DAY_MS {
                // DynamoDB deletes expired items in the background; like the simulator, once a day.
                ledger.purge(wall_now_ms(), millis(self.plan.session_config.cold_storage.ttl));
            }
            let (items, bytes) = ledger.stored();
            m.cold_peak = m.cold_peak.max(items);
            m.stored_peak = m.stored_peak.max(bytes);
            if warm {
                m.cold_samples.push(items as f64);
                m.stored_samples.push(bytes as f64);
            }
            (0..self.regions).map(|r| (ledger.by_home(r), ledger.usage[r].wru, ledger.usage[r].rru)).collect()
        };
        let mean_payload = if m.payload_n == 0 { 0.0 } else { m.payload_sum as f64 / m.payload_n as f64 };
        let costs = &self.plan.scenario.costs.redis;
        let mut hot_total = 0;
        for (r, ((cold, cold_bytes), wru, rru)) in per_region.into_iter().enumerate() {
            let (sum, reads) = std::mem::take(&mut m.hot_reads[r]);
            let hot = if reads == 0 { m.last_hot[r] } else { (sum as f64 / reads as f64).round() as u64 };
            hot_total += hot;
            let redis_bytes =
                (hot as f64 * (mean_payload + costs.bytes_overhead_per_session as f64) * costs.fragmentation).round()
                    as u64;
            m.redis_peak[r] = (m.redis_peak[r].0.max(redis_bytes), m.redis_peak[r].1.max(hot));
            if warm {
                m.region_hot_samples[r].push(hot as f64);
            }
            let percentiles = m.latency.close_bucket(r, warm);
            let acc = m.bucket[r];
            m.timeseries.push(BucketRow {
                t: self.bucket_start / 1000,
                region: r as u16,
                hot,
                cold,
                cold_bytes,
                active: m.active[r],
                requests: acc.requests,
                hot_hits: acc.hot_hits,
                promotions: acc.promotions,
                demotions: acc.demotions,
                expiries: acc.expiries,
                losses: acc.losses,
                failures: acc.failures,
                p50_ms: percentiles.p50_ms,
                p95_ms: percentiles.p95_ms,
                p99_ms: percentiles.p99_ms,
                redis_bytes,
                wru: wru - m.marks[r].0,
                rru: rru - m.marks[r].1,
                created: acc.created,
                audit_events: acc.audit_events,
                analytics_writes: acc.analytics_writes,
                ..BucketRow::default()
            });
            m.marks[r] = (wru, rru);
            m.bucket[r] = Bucket::default();
        }
        m.hot_peak = m.hot_peak.max(hot_total).max(m.hot_read_peak);
        if warm {
            m.hot_samples.push(hot_total as f64);
        }
        self.bucket_start = end;
    }

    /// The run's record, in the format `hotcold simulate` writes.
    fn finish(self, wall_seconds: f64) -> (RunRecord, Lateness) {
        let sc = &self.plan.scenario;
        let m = self.measure;
        let mut counts = m.counts;
        counts.events = counts.requests + self.arrivals_started;
        counts.sync_invocations = m.sync.iter().map(|s| s.passes + s.flushes).sum();
        let ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        counts.expired_cold = ledger.purged;
        let fragmentation = sc.costs.redis.fragmentation;
        let region_rows = |r: usize| m.timeseries.iter().filter(move |row| usize::from(row.region) == r);
        let usage: Vec<RegionUsage> = (0..self.regions)
            .map(|r| RegionUsage {
                redis_calls: self.engine.hot(RegionId(r as u16)).calls().0,
                redis_peak_bytes: m.redis_peak[r].0,
                redis_peak_sessions: m.redis_peak[r].1,
                redis_avg_sessions: mean(&m.region_hot_samples[r]),
                sync_invocations: m.sync[r].passes,
                sync_seconds: m.sync[r].seconds,
                flush_invocations: m.sync[r].flushes,
                flush_seconds: m.sync[r].flush_seconds,
                baseline_redis_only_peak_bytes: (m.baseline_peak[r] as f64 * fragmentation).round() as u64,
                audit_events: region_rows(r).map(|row| row.audit_events).sum(),
                analytics_writes: region_rows(r).map(|row| row.analytics_writes).sum(),
                ..ledger.usage[r].clone()
            })
            .collect();
        let final_stored = ledger.stored().1;
        drop(ledger);
        let peak_rss = peak_rss_bytes();
        let held = m.hot_peak + m.cold_peak;
        let record = RunRecord {
            migration: None,
            scenario: sc.clone(),
            regions: sc.session_config.hot_storage.regions.clone(),
            seed: sc.seed,
            sample: sc.sample,
            simulated_seconds: self.end_ms as f64 / 1000.0,
            warmup_seconds: self.warmup_ms as f64 / 1000.0,
            bucket_seconds: self.bucket_ms / 1000,
            tiers: Tiers {
                hot_avg: mean(&m.hot_samples),
                hot_peak: m.hot_peak,
                cold_avg: mean(&m.cold_samples),
                cold_peak: m.cold_peak,
            },
            latency: m.latency.latencies(),
            usage,
            storage: Storage {
                avg_stored_bytes: mean(&m.stored_samples),
                peak_stored_bytes: m.stored_peak,
                final_stored_bytes: final_stored,
            },
            failover: Failover::default(),
            timeseries: m.timeseries,
            // The rules the scenario names; a live run does not scan its stores for violations.
            residency: ResidencyRecord::of_scenario(sc),
            run: RunStats {
                wall_seconds,
                events_per_second: counts.events as f64 / wall_seconds.max(1e-9),
                requests_per_second: counts.requests as f64 / wall_seconds.max(1e-9),
                peak_rss_bytes: peak_rss,
                peak_sessions_held: held,
                bytes_per_session_held: peak_rss as f64 / held.max(1) as f64,
                processes: 1,
                rss_bytes_all_processes: peak_rss,
            },
            counts,
        };
        let lateness = Lateness {
            p99_ms: m.lateness.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: m.lateness.max() as f64 / 1000.0,
        };
        (record, lateness)
    }
}

/// A region's sync job on the compressed schedule (and write-behind copies, when configured),
/// reporting every pass until the receiver is gone: the same [`PassTimer`] as `hotcold serve`.
async fn sync_loop(engine: Arc<LoadEngine>, region: usize, out: mpsc::UnboundedSender<SyncDone>) {
    let sync = SyncService::new(engine);
    let id = RegionId(region as u16);
    let mut timer = PassTimer::new(sync.schedule());
    while let Some(passes) = timer.next().await {
        for pass in passes {
            let started = Instant::now();
            let report = match pass {
                Pass::Demotion => sync.run_once(id).await,
                Pass::Flush => sync.flush_dirty(id).await,
            };
            let done = SyncDone {
                region,
                demoted: report.demoted,
                expired_hot: report.expired_hot,
                seconds: started.elapsed().as_secs_f64(),
                flush: pass == Pass::Flush,
            };
            if out.send(done).is_err() {
                return;
            }
        }
    }
}
