//! Simulated backends: a Redis tier per region ([`SimHotStore`]), the DynamoDB global table
//! ([`SimColdStore`]) and a counting audit trail ([`SimAudit`]), all implementing the engine's
//! store traits so the real `SessionManager` and `SyncService` run on them.
//!
//! Records are compact (no payload is stored: a session's data is rebuilt on read as
//! [`SessionData::opaque`](hotcold_engine::SessionData::opaque) of the recorded size) and every
//! call is metered in the [`StoreContext`] the stores of a run share: the calls a request makes
//! (the simulator samples their latencies) and each region's request units and replicated bytes
//! (for the cost model).
//!
//! The simulator is single-threaded; the stores use atomics and uncontended mutexes only because
//! the engine's traits require `Send + Sync`. Counters are updated with plain load/store pairs.

mod audit;
mod clock;
mod cold;
mod hot;
mod meter;
mod split_map;
mod stamp;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hotcold_engine::{Clock as _, RegionId, Residency, SessionId, StoreError, UserId};
use hotcold_model::rng::splitmix;

pub use audit::SimAudit;
pub use clock::SimClock;
pub use cold::SimColdStore;
pub use hot::SimHotStore;

pub(crate) use meter::HomeExposure;
use meter::{Counter, Meter, RegionLedger};

/// The unit of a throttle's failure probability.
const PARTS_PER_MILLION: u64 = 1_000_000;

/// No hot slot known (see [`StoreContext::begin_request`]).
pub(crate) const NO_SLOT: u64 = u64::MAX;

/// What the simulated stores of one run share: the clock, which region's engine is calling, the
/// meter of the current operation, each region's ledger, the inter-region round trips, DynamoDB
/// throttling, the sessions held hot in all regions, and where the current request's hot record
/// is. The simulator sets who is calling and reads the meter around every operation.
#[derive(Debug)]
pub struct StoreContext {
    /// Simulated time.
    clock: Arc<SimClock>,
    /// Index of the region whose manager (or sync job) is calling now.
    serving: AtomicUsize,
    /// Calls of the current operation.
    meter: Meter,
    /// Per-region usage.
    ledger: Vec<RegionLedger>,
    /// Round trips between regions, microseconds, `rtt_us[a * n + b]`.
    rtt_us: Vec<u64>,
    /// The one user id every simulated session carries (users are tracked by the simulator).
    user: UserId,
    /// DynamoDB throttling, as the faults in force set it.
    throttle: Throttle,
    /// Seed of hash-derived randomness in the stores (throttling, replication delays).
    seed: u64,
    /// Sessions held in all hot tiers together.
    hot_total: Counter,
    /// Highest value of `hot_total` since the simulator last took it (a peak window).
    hot_total_window_peak: Counter,
    /// Where the simulator last saw the session of the current request: `region << 32 | slot`
    /// ([`NO_SLOT`]: nowhere). Hot stores check it before their index; it never changes results.
    hint: AtomicU64,
    /// Where the current request found or put its session, as `hint` (set by hot stores).
    found_at: AtomicU64,
    /// The residency rules the stores check every write against. Default: unrestricted.
    residency: Residency,
    /// Writes that stored a restricted session's data outside its allowed regions.
    violations: Counter,
    /// Per home region, what its sessions had stored elsewhere.
    exposure: Vec<HomeExposure>,
}

/// DynamoDB throttling: while `active`, every call takes `extra_us` longer and fails with a
/// probability of `error_ppm` millionths, decided by a hash of the call's number (so the same run
/// fails the same calls).
#[derive(Debug, Default)]
struct Throttle {
    active: AtomicBool,
    extra_us: AtomicU64,
    error_ppm: AtomicU64,
    /// Throttled calls so far, feeding the decisions.
    calls: Counter,
}

impl StoreContext {
    /// The context of `regions` regions on `clock`, with round trips `rtt_us[a * regions + b]`
    /// between regions `a` and `b` in microseconds, and hash-derived randomness from `seed`.
    pub fn new(clock: Arc<SimClock>, regions: usize, rtt_us: Vec<u64>, seed: u64) -> Self {
        Self {
            clock,
            serving: AtomicUsize::new(0),
            meter: Meter::default(),
            ledger: (0..regions).map(|_| RegionLedger::default()).collect(),
            rtt_us,
            user: UserId::new("simulated-user").unwrap_or_else(|_| unreachable_user()),
            throttle: Throttle::default(),
            seed,
            hot_total: Counter::default(),
            hot_total_window_peak: Counter::default(),
            hint: AtomicU64::new(NO_SLOT),
            found_at: AtomicU64::new(NO_SLOT),
            residency: Residency::unrestricted(),
            violations: Counter::default(),
            exposure: (0..regions).map(|_| HomeExposure::default()).collect(),
        }
    }

    /// The same context checking every write against `residency` (the engine's rules): a
    /// restricted home's cold table has replicas only in its allowed regions, and each write
    /// outside them counts as a violation.
    #[must_use]
    pub fn with_residency(mut self, residency: Residency) -> Self {
        self.residency = residency;
        self
    }

    /// The residency rules the stores check.
    pub fn residency(&self) -> &Residency {
        &self.residency
    }

    /// Writes so far that stored a restricted session's data outside its allowed regions (hot
    /// puts and updates, cold writes and deletes, audit records).
    pub fn violations(&self) -> u64 {
        self.violations.get()
    }

    /// What sessions homed in `home` had stored outside `home` so far.
    pub(crate) fn exposure(&self, home: usize) -> Option<&HomeExposure> {
        self.exposure.get(home)
    }

    /// Whether `region` may hold data of the session `id`.
    fn allows(&self, id: &SessionId, region: usize) -> bool {
        self.residency.allows(id.home(), RegionId(u16::try_from(region).unwrap_or(u16::MAX)))
    }

    /// The regions holding a replica of the table of sessions homed in `home`: all, or its
    /// allowed regions.
    fn replica_regions(&self, home: RegionId) -> impl Iterator<Item = usize> + '_ {
        let allowed = self.residency.allowed(home);
        (0..self.regions()).filter(move |r| allowed.is_none_or(|list| list.iter().any(|a| a.index() == *r)))
    }

    /// A hot write (put or update) of `bytes` of the session `id` into `region`'s Redis.
    #[inline]
    fn hot_written(&self, id: &SessionId, region: usize, bytes: u64) {
        if !self.allows(id, region) {
            self.violations.add(1);
        }
        if region != id.home().index() {
            if let Some(exposure) = self.exposure.get(id.home().index()) {
                exposure.hot_writes.add(1);
                exposure.hot_bytes.add(bytes);
            }
        }
    }

    /// A cold write or delete of the session `id` by `writer`, which cost `wru` there; `stored`
    /// is the item's bytes when it stored data (a write that took effect). Counts a violation
    /// when `writer` is not allowed, the units each other replica of the table pays, and the
    /// copies put outside the home.
    fn cold_written(&self, id: &SessionId, writer: usize, wru: u64, stored: Option<u64>) {
        if !self.allows(id, writer) {
            self.violations.add(1);
        }
        let home = id.home();
        let mut elsewhere = u64::from(writer != home.index());
        for r in self.replica_regions(home) {
            if r != writer {
                self.ledger[r].replica_wru.add(wru);
                elsewhere += u64::from(r != home.index());
            }
        }
        if let (Some(item), Some(exposure)) = (stored, self.exposure.get(home.index())) {
            if elsewhere > 0 {
                exposure.cold_writes.add(1);
                exposure.cold_bytes.add(item * elsewhere);
            }
        }
    }

    /// `n` audit records of the session `id` stored in `storage`'s table, replicated to the
    /// table's other replicas when `replicated`.
    pub(crate) fn audit_stored(&self, id: &SessionId, storage: usize, replicated: bool, n: u64) {
        if !self.allows(id, storage) {
            self.violations.add(n);
        }
        let home = id.home();
        let mut elsewhere = u64::from(storage != home.index());
        if replicated {
            for r in self.replica_regions(home) {
                if r != storage {
                    if let Some(ledger) = self.ledger.get(r) {
                        ledger.replica_audit_events.add(n);
                    }
                    elsewhere += u64::from(r != home.index());
                }
            }
        }
        if let Some(exposure) = self.exposure.get(home.index()) {
            exposure.audit_records.add(elsewhere * n);
        }
    }

    /// Starts an operation of region `serving`'s engine (a request or a sync pass).
    #[inline]
    pub(crate) fn begin(&self, serving: usize) {
        self.serving.store(serving, Ordering::Relaxed);
    }

    /// Starts a request of region `serving`'s engine about a session whose hot record the
    /// simulator last saw at `hot_hint` (`region << 32 | slot`, or [`NO_SLOT`]).
    #[inline]
    pub(crate) fn begin_request(&self, serving: usize, hot_hint: u64) {
        self.begin(serving);
        self.hint.store(hot_hint, Ordering::Relaxed);
        self.found_at.store(NO_SLOT, Ordering::Relaxed);
    }

    /// Where the current request found or put its session in a hot tier, as the hint of
    /// [`StoreContext::begin_request`] ([`NO_SLOT`]: in no hot tier).
    #[inline]
    pub(crate) fn found_at(&self) -> u64 {
        self.found_at.load(Ordering::Relaxed)
    }

    /// The one user id every simulated session carries.
    pub(crate) fn user(&self) -> &UserId {
        &self.user
    }

    /// The calls of the current operation.
    #[inline]
    pub(crate) fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Region `region`'s usage so far.
    pub(crate) fn ledger(&self, region: usize) -> &RegionLedger {
        &self.ledger[region]
    }

    /// Sets what a throttled DynamoDB call costs: `extra_us` more latency and a failure
    /// probability of `error_ppm` millionths.
    pub(crate) fn set_throttle(&self, extra_us: u64, error_ppm: u64) {
        self.throttle.extra_us.store(extra_us, Ordering::Relaxed);
        self.throttle.error_ppm.store(error_ppm, Ordering::Relaxed);
    }

    /// Turns DynamoDB throttling on or off.
    pub(crate) fn set_throttled(&self, active: bool) {
        self.throttle.active.store(active, Ordering::Relaxed);
    }

    /// Highest number of sessions held in all hot tiers together since the last call.
    pub(crate) fn take_hot_total_window_peak(&self) -> u64 {
        let peak = self.hot_total_window_peak.get().max(self.hot_total.get());
        self.hot_total_window_peak.set(self.hot_total.get());
        peak
    }

    /// Counts `n` sessions more held hot.
    fn hot_added(&self, n: u64) {
        let total = &self.hot_total;
        total.add(n);
        if total.get() > self.hot_total_window_peak.get() {
            self.hot_total_window_peak.set(total.get());
        }
    }

    /// Counts `n` sessions fewer held hot.
    fn hot_removed(&self, n: u64) {
        let total = &self.hot_total;
        total.set(total.get().saturating_sub(n));
    }

    /// The hinted slot, if the hint is for `region`'s tier.
    #[inline]
    fn hint_for(&self, region: usize) -> Option<u32> {
        let hint = self.hint.load(Ordering::Relaxed);
        (hint != NO_SLOT && (hint >> 32) as usize == region).then_some(hint as u32)
    }

    /// Notes that the current request's session is in `slot` of `region`'s tier.
    #[inline]
    fn found(&self, region: usize, slot: u32) {
        let at = ((region as u64) << 32) | u64::from(slot);
        self.found_at.store(at, Ordering::Relaxed);
        self.hint.store(at, Ordering::Relaxed); // later calls of the same request look there first
    }

    fn now(&self) -> u64 {
        self.clock.now().0
    }

    fn serving(&self) -> usize {
        self.serving.load(Ordering::Relaxed)
    }

    pub(crate) fn regions(&self) -> usize {
        self.ledger.len()
    }

    /// Meters one Redis call against `region`'s tier.
    #[inline]
    fn redis_call(&self, region: usize) {
        self.meter.redis_calls.add(1);
        self.ledger[region].redis_calls.add(1);
        let from = self.serving();
        if from != region {
            self.meter.rtt_us.add(self.rtt_us[from * self.regions() + region]);
        }
    }

    /// Meters one DynamoDB call by `region`; `Err` when throttling makes it fail. A call to
    /// another region's replica (a travelling user's read at home) adds the round trip there.
    fn dynamo_call(&self, region: usize) -> Result<(), StoreError> {
        self.meter.dynamo_calls.add(1);
        self.ledger[region].dynamo_calls.add(1);
        let from = self.serving();
        if from != region {
            self.meter.rtt_us.add(self.rtt_us[from * self.regions() + region]);
        }
        let throttle = &self.throttle;
        if throttle.active.load(Ordering::Relaxed) {
            self.meter.throttle_us.add(throttle.extra_us.load(Ordering::Relaxed));
            throttle.calls.add(1);
            let draw = splitmix(self.seed ^ throttle.calls.get()) % PARTS_PER_MILLION;
            if draw < throttle.error_ppm.load(Ordering::Relaxed) {
                self.ledger[region].dynamo_errors.add(1);
                return Err(StoreError::Throttled { backend: "dynamodb".into() });
            }
        }
        Ok(())
    }
}

fn unreachable_user() -> UserId {
    // "simulated-user" is a valid id; this keeps the constructor panic-free all the same.
    UserId::new("u").unwrap_or_else(|_| unreachable_user())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A record's `hot_region` as stored: [`u16::MAX`] for none.
fn region_of(id: Option<RegionId>) -> u16 {
    id.map_or(u16::MAX, |r| r.0)
}

/// The inverse of [`region_of`].
fn region_from(raw: u16) -> Option<RegionId> {
    (raw != u16::MAX).then_some(RegionId(raw))
}

/// `v` in a compact record's 32-bit field, saturating.
fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Keeps the `limit` records of `page` with the smallest ids, in ascending id order: a page of
/// a user's sessions from a scan (linear selection, then a sort of what is kept).
fn first_by_id<T>(page: &mut Vec<T>, limit: usize, id: impl Fn(&T) -> SessionId) {
    if page.len() > limit {
        page.select_nth_unstable_by_key(limit, &id);
        page.truncate(limit);
    }
    page.sort_unstable_by_key(id);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use hotcold_engine::ready::now_or_panic;
    use hotcold_engine::{AuditEvent, AuditKind, AuditSink as _, ColdLookup, ColdStore as _, HotStore as _};
    use hotcold_engine::{Session, SessionConfig, SessionData, Tier, Timestamp};

    use super::*;

    const US: usize = 0;
    const EU: usize = 1;

    /// A context of two regions whose rules pin eu-west-1's sessions there.
    fn pinned() -> Arc<StoreContext> {
        let mut config = SessionConfig::default();
        config.hot_storage.regions = vec!["us-east-1".into(), "eu-west-1".into()];
        let rules = BTreeMap::from([("eu-west-1".to_string(), vec!["eu-west-1".to_string()])]);
        let residency = Residency::from_names(&config, &rules, "residency").unwrap();
        let clock = Arc::new(SimClock::new(Timestamp(1_700_000_000_000)));
        Arc::new(StoreContext::new(clock, 2, vec![0, 70_000, 70_000, 0], 7).with_residency(residency))
    }

    fn session(home: usize) -> Session {
        let now = Timestamp(1_700_000_000_000);
        Session {
            id: SessionId::from_parts([home as u8 + 1; 16], RegionId(home as u16)),
            user_id: UserId::new("simulated-user").unwrap(),
            data: SessionData::opaque(1000),
            version: 1,
            created_at: now,
            last_access: now,
            persisted_version: 0,
            hot_region: None,
            activity: hotcold_engine::Activity::default(),
        }
    }

    /// Every kind of store counts a write of a pinned session outside its region, and the end-of-run
    /// scans find what stayed there; the same writes in the allowed region, or of an unrestricted
    /// session, count nothing.
    #[test]
    fn writes_outside_the_allowed_regions_are_counted_and_found() {
        let context = pinned();
        let (eu, us) = (session(EU), session(US));
        let hot_us = SimHotStore::new(US, Arc::clone(&context), 200, false);
        let hot_eu = SimHotStore::new(EU, Arc::clone(&context), 200, false);
        let cold = SimColdStore::new(Arc::clone(&context), 100, Duration::ZERO);
        let audit = SimAudit::resident(Arc::clone(&context), true);
        let ttl = Duration::from_secs(3600);
        let now = eu.last_access;

        // Allowed: the pinned session in its region, the unrestricted one anywhere.
        now_or_panic(hot_eu.put(&eu, ttl)).unwrap();
        now_or_panic(hot_us.put(&us, ttl)).unwrap();
        now_or_panic(hot_eu.put(&us, ttl)).unwrap();
        now_or_panic(cold.put(&eu, RegionId(EU as u16), now)).unwrap();
        now_or_panic(cold.put(&us, RegionId(US as u16), now)).unwrap();
        assert_eq!(context.violations(), 0);
        assert_eq!(hot_us.stored_outside() + hot_eu.stored_outside() + cold.stored_outside(), 0);
        // Its cold record has no replica in us-east-1: none to read there, none replicated.
        assert!(matches!(now_or_panic(cold.get(&eu.id, RegionId(US as u16))), ColdLookup::Miss));
        assert!(matches!(now_or_panic(cold.get(&eu.id, RegionId(EU as u16))), ColdLookup::Found(_)));
        assert_eq!(context.ledger(EU).replicated_bytes.get(), 0, "a one-replica table replicates nothing");
        assert_eq!(context.ledger(US).replica_wru.get(), 0);
        assert!(context.ledger(EU).replica_wru.get() > 0, "the unrestricted write is paid again in eu-west-1");

        // Not allowed: a hot copy, an update, a cold write and a delete in us-east-1.
        now_or_panic(hot_us.put(&eu, ttl)).unwrap();
        assert_eq!(context.violations(), 1);
        now_or_panic(hot_us.update(&eu.id, &SessionData::opaque(10), 1, now, ttl)).unwrap();
        assert_eq!(context.violations(), 2);
        assert_eq!(hot_us.stored_outside(), 1, "the copy is still there");
        now_or_panic(cold.put(&Session { version: 2, ..eu.clone() }, RegionId(US as u16), now)).unwrap();
        assert_eq!(context.violations(), 3);
        assert_eq!(cold.stored_outside(), 1, "written by a region without a replica");
        now_or_panic(cold.delete(&eu.id, RegionId(US as u16), now)).unwrap();
        assert_eq!(context.violations(), 4);

        // An audit record stored in us-east-1's trail; the sink itself stores in the home's.
        audit.store(&eu.id, US, AuditKind::Created, Tier::Hot, 1);
        assert_eq!(context.violations(), 5);
        let event = AuditEvent {
            at: now,
            kind: AuditKind::Promoted,
            tier: Tier::Hot,
            region: RegionId(US as u16),
            session: eu.id,
            user_id: None,
            version: 1,
            data_bytes: 0,
            created_at: now,
            activity: hotcold_engine::Activity::default(),
        };
        now_or_panic(audit.append(event)).unwrap();
        assert_eq!(context.violations(), 5, "a traveller's record goes to the home's trail");
        assert_eq!(audit.count(EU, AuditKind::Promoted), 1);
    }

    /// Without rules every copy outside the home is exposure: the cold write's replica, a hot copy
    /// abroad, the audit table's replica.
    #[test]
    fn without_rules_copies_outside_the_home_are_exposure() {
        let clock = Arc::new(SimClock::new(Timestamp(1_700_000_000_000)));
        let context = Arc::new(StoreContext::new(clock, 2, vec![0, 70_000, 70_000, 0], 7));
        let eu = session(EU);
        let hot_us = SimHotStore::new(US, Arc::clone(&context), 200, false);
        let cold = SimColdStore::new(Arc::clone(&context), 100, Duration::ZERO);
        let audit = SimAudit::resident(Arc::clone(&context), true);
        now_or_panic(hot_us.put(&eu, Duration::from_secs(60))).unwrap();
        now_or_panic(cold.put(&eu, RegionId(EU as u16), eu.last_access)).unwrap();
        audit.store(&eu.id, EU, AuditKind::Created, Tier::Hot, 3);
        let exposure = context.exposure(EU).unwrap();
        assert_eq!((exposure.hot_writes.get(), exposure.hot_bytes.get()), (1, 1200));
        assert_eq!((exposure.cold_writes.get(), exposure.cold_bytes.get()), (1, 1100), "one replica abroad");
        assert_eq!(exposure.audit_records.get(), 3, "each record's replica in us-east-1");
        assert_eq!(context.violations(), 0);
        assert_eq!(context.exposure(US).unwrap().cold_writes.get(), 0);
    }
}
