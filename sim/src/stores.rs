//! Simulated backends: a Redis tier per region ([`SimHotStore`]), the DynamoDB global table
//! ([`SimColdStore`]) and a counting audit trail ([`SimAudit`]), all implementing the engine's
//! store traits so the real `SessionManager` and `SyncService` run on them.
//!
//! Records are compact (no payload is stored: a session's data is rebuilt on read as
//! [`SessionData::opaque`] of the recorded size) and every call is metered: the [`Meter`] counts
//! the calls a request makes (the simulator samples their latencies), the [`Ledger`] accumulates
//! request units and replicated bytes per region for the cost model.
//!
//! The simulator is single-threaded; the stores use atomics and uncontended mutexes only because
//! the engine's traits require `Send + Sync`. Counters are updated with plain load/store pairs.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hotcold_engine::store::IdleEntry;
use hotcold_engine::{
    AuditEvent, AuditKind, AuditSink, Clock, ColdLookup, ColdStore, ColdWrite, HotLookup, HotStore, HotTouch,
    HotUpdate, HotWrite, RegionId, Session, SessionData, SessionId, StoreError, Timestamp, UserId,
};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A counter for the single-threaded simulator (no read-modify-write atomics on the hot path).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
    /// The value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// The value, resetting it to 0.
    #[inline]
    pub fn take(&self) -> u64 {
        let v = self.get();
        self.0.store(0, Ordering::Relaxed);
        v
    }
}

/// A time-weighted gauge: current value, peak, and the integral over time (for averages).
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct Gauge {
    /// Current value.
    pub value: u64,
    /// Highest value seen.
    pub peak: u64,
    /// Highest value since the last [`Gauge::take_window_peak`]: shards of a run record these per
    /// time window so the peak of their sum can be found (the sum of their peaks overstates it).
    pub window_peak: u64,
    /// Integral of the value over time, in value × milliseconds.
    pub area: f64,
    /// Time of the last change, ms.
    pub since: u64,
}

impl Gauge {
    /// Moves the integral up to `now`.
    #[inline]
    pub fn advance(&mut self, now: u64) {
        if now > self.since {
            self.area += self.value as f64 * (now - self.since) as f64;
            self.since = now;
        }
    }
    /// Adds `delta` at `now`.
    #[inline]
    pub fn add(&mut self, now: u64, delta: u64) {
        self.advance(now);
        self.value += delta;
        self.peak = self.peak.max(self.value);
        self.window_peak = self.window_peak.max(self.value);
    }
    /// The highest value since the last call (or the start), starting a new window.
    pub fn take_window_peak(&mut self) -> u64 {
        let peak = self.window_peak.max(self.value);
        self.window_peak = self.value;
        peak
    }
    /// Subtracts `delta` at `now`.
    #[inline]
    pub fn sub(&mut self, now: u64, delta: u64) {
        self.advance(now);
        self.value = self.value.saturating_sub(delta);
    }
}

/// The calls one operation made, drained by the simulator after each request to sample latency.
#[derive(Debug, Default)]
pub struct Meter {
    /// Redis calls.
    pub redis_calls: Counter,
    /// Round-trip time added by calls to another region's Redis, microseconds.
    pub rtt_us: Counter,
    /// DynamoDB calls.
    pub dynamo_calls: Counter,
    /// Extra latency of throttled DynamoDB calls, microseconds.
    pub throttle_us: Counter,
}

/// Request units and bytes of one region, accumulated over the run (CONTRACT section 4).
#[derive(Debug, Default)]
pub struct RegionLedger {
    /// Write request units: ceil(item / 1024) per item written or deleted.
    pub wru: Counter,
    /// Read request units: ceil(item / 4096) per strongly consistent read (1 for a miss).
    pub rru: Counter,
    /// Write units paid again in every other region of the global table.
    pub replicated_wru: Counter,
    /// Bytes replicated out of this region (item bytes × other regions).
    pub replicated_bytes: Counter,
    /// DynamoDB calls (batches count once per 25 items).
    pub dynamo_calls: Counter,
    /// DynamoDB calls that failed (throttled or down).
    pub dynamo_errors: Counter,
    /// Redis calls made against this region's tier.
    pub redis_calls: Counter,
}

/// Simulated time: moved by one thread only (a shard's event loop), read by the engine and the
/// stores. With one writer a move is a plain load and store, where the engine's
/// [`hotcold_engine::ManualClock`] pays a locked compare-and-swap on every event.
#[derive(Debug)]
pub struct SimClock {
    now_ms: AtomicU64,
}

impl SimClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self { now_ms: AtomicU64::new(start.0) }
    }

    /// Moves the clock to `to`; a move backwards is ignored. Only one thread may move a clock.
    #[inline]
    pub fn set(&self, to: Timestamp) {
        if to.0 > self.now_ms.load(Ordering::Relaxed) {
            self.now_ms.store(to.0, Ordering::Relaxed);
        }
    }

    /// Moves the clock forward by `by`. Only one thread may move a clock.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_ms.store(self.now_ms.load(Ordering::Relaxed).saturating_add(by), Ordering::Relaxed);
    }
}

impl Clock for SimClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::Relaxed))
    }
}

/// State every simulated store shares: the clock, who is calling, the meter and the ledger.
#[derive(Debug)]
pub struct Shared {
    /// Simulated time.
    pub clock: Arc<SimClock>,
    /// Index of the region whose manager (or sync job) is calling now.
    pub serving: AtomicUsize,
    /// Calls of the current operation.
    pub meter: Meter,
    /// Per-region usage.
    pub ledger: Vec<RegionLedger>,
    /// Round trips between regions, microseconds, `rtt_us[a * n + b]`.
    pub rtt_us: Vec<u64>,
    /// The one user id every simulated session carries (users are tracked by the simulator).
    pub user: UserId,
    /// DynamoDB throttling in force.
    pub throttled: AtomicBool,
    /// Extra latency per throttled call, microseconds.
    pub throttle_extra_us: AtomicU64,
    /// Failure probability of a throttled call, in millionths.
    pub throttle_error_ppm: AtomicU64,
    /// Call counter feeding the deterministic throttling decisions.
    pub throttle_calls: Counter,
    /// Seed of hash-derived randomness in the stores (throttling, replication delays).
    pub seed: u64,
    /// Sessions held in all hot tiers together.
    pub hot_total: Counter,
    /// Highest value of `hot_total` since the sim last took it (a peak window).
    pub hot_total_window_peak: Counter,
    /// Where the simulator last saw the session of the current request: `region << 32 | slot`
    /// ([`NO_SLOT`]: nowhere). Hot stores check it before their index; it never changes results.
    pub hint: AtomicU64,
    /// Where the current request found or put its session, as `hint` (set by hot stores).
    pub found_at: AtomicU64,
}

/// No slot known (see [`Shared::hint`]).
pub const NO_SLOT: u64 = u64::MAX;

impl Shared {
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
    /// Highest number of sessions held in all hot tiers together since the last call.
    pub fn take_hot_total_window_peak(&self) -> u64 {
        let peak = self.hot_total_window_peak.get().max(self.hot_total.get());
        self.hot_total_window_peak.0.store(self.hot_total.get(), Ordering::Relaxed);
        peak
    }

    /// Shared state for `regions` regions.
    pub fn new(clock: Arc<SimClock>, regions: usize, rtt_us: Vec<u64>, seed: u64) -> Self {
        Self {
            clock,
            serving: AtomicUsize::new(0),
            meter: Meter::default(),
            ledger: (0..regions).map(|_| RegionLedger::default()).collect(),
            rtt_us,
            user: UserId::new("simulated-user").unwrap_or_else(|_| unreachable_user()),
            throttled: AtomicBool::new(false),
            throttle_extra_us: AtomicU64::new(0),
            throttle_error_ppm: AtomicU64::new(0),
            throttle_calls: Counter::default(),
            seed,
            hot_total: Counter::default(),
            hot_total_window_peak: Counter::default(),
            hint: AtomicU64::new(NO_SLOT),
            found_at: AtomicU64::new(NO_SLOT),
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().0
    }

    fn serving(&self) -> usize {
        self.serving.load(Ordering::Relaxed)
    }

    fn regions(&self) -> usize {
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

    /// Meters one DynamoDB call by `region`; `Err` when throttling makes it fail.
    fn dynamo_call(&self, region: usize) -> Result<(), StoreError> {
        self.meter.dynamo_calls.add(1);
        self.ledger[region].dynamo_calls.add(1);
        if self.throttled.load(Ordering::Relaxed) {
            self.meter.throttle_us.add(self.throttle_extra_us.load(Ordering::Relaxed));
            self.throttle_calls.add(1);
            let draw = splitmix(self.seed ^ self.throttle_calls.get()) % 1_000_000;
            if draw < self.throttle_error_ppm.load(Ordering::Relaxed) {
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

/// SplitMix64: a fast, well-mixed hash of a counter (deterministic store-side randomness).
#[inline]
pub const fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn region_of(id: Option<RegionId>) -> u16 {
    id.map_or(u16::MAX, |r| r.0)
}

fn region_from(raw: u16) -> Option<RegionId> {
    (raw != u16::MAX).then_some(RegionId(raw))
}

fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A hot session as the simulated Redis holds it (no payload, only its size): 64 bytes, aligned
/// to one cache line, so reading or prefetching a record is one line (a large `Vec` from malloc
/// starts 16 bytes past a line, and every unaligned record would straddle two).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct HotRec {
    id: SessionId,
    created_at: u64,
    last_access: u64,
    expires_at: u64,
    version: u32,
    persisted: u32,
    data_len: u32,
    /// Stamp of this session's current entry in the [`IdleIndex`]; entries with another are stale.
    listing: u32,
    hot_region: u16,
}

const _: () = assert!(size_of::<HotRec>() == 64, "a hot record is one cache line");

/// Milliseconds in a minute: the idle index's bucket width.
const MINUTE_MS: u64 = 60_000;

/// The idle index: hot sessions listed in buckets by the minute of their last access as of when
/// they were listed, oldest minute first.
///
/// Requests do not touch it (Redis's sorted set costs production one write per access; here
/// that would be the simulator's largest memory stream): a session is listed when it is put, and
/// a demotion pass that finds a listed session touched since moves it to the bucket of its
/// current last access. Entries whose session is gone or listed elsewhere are stale and dropped
/// when a pass reaches them. A pass so looks at about two entries per visit instead of one per
/// request, and still demotes exactly the sessions whose last access is at or before its cutoff.
///
/// An entry names the session's slab slot and the stamp it was listed with (8 bytes): a pass reads
/// the slot's record directly, prefetching a few entries ahead, with no index probe. A slot freed
/// or reused since holds another stamp (or no session), so its entry is stale.
#[derive(Debug, Default)]
struct IdleIndex {
    first_minute: u64,
    buckets: VecDeque<Vec<(u32, u32)>>,
    /// The stamp of the next entry (wraps after 2^32 listings, far beyond any run).
    next_listing: u32,
}

/// Idle-index entries a pass looks ahead to prefetch slab records.
const IDLE_PREFETCH_AHEAD: usize = 8;

/// Most empty buckets added in front for a session older than every bucket held (a week); older
/// ones go to that oldest bucket, which every pass reaches.
const MAX_BUCKETS_BEFORE: u64 = 7 * 1440;

impl IdleIndex {
    /// Lists the session in `slot` in the bucket of `minute`; returns the entry's stamp.
    fn add(&mut self, minute: u64, slot: u32) -> u32 {
        if self.buckets.is_empty() {
            self.first_minute = minute;
        }
        if minute < self.first_minute {
            let minute = minute.max(self.first_minute.saturating_sub(MAX_BUCKETS_BEFORE));
            for _ in minute..self.first_minute {
                self.buckets.push_front(Vec::new());
            }
            self.first_minute = minute;
        }
        let offset = usize::try_from(minute.max(self.first_minute) - self.first_minute).unwrap_or(usize::MAX);
        while self.buckets.len() <= offset {
            self.buckets.push_back(Vec::new());
        }
        let listing = self.next_listing;
        self.next_listing = self.next_listing.wrapping_add(1);
        self.buckets[offset].push((slot, listing));
        listing
    }

    fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }
}

/// No session: marks a vacant slot (no real session is homed in region `u16::MAX`).
const VACANT: SessionId = SessionId::from_parts([0; 16], RegionId(u16::MAX));

/// A hot tier's sessions: records in a slab of fixed slots, found by an index from id to slot.
///
/// The slot of a session is stable while it stays hot, so the simulator can remember it per user
/// ([`Shared::hint`]) and ask the CPU to fetch the record one event ahead ([`SimHotStore::prefetch`]):
/// at full scale a hash probe into the hot tier is a cache miss on almost every request.
#[derive(Debug, Default)]
struct HotTable {
    index: FxHashMap<SessionId, u32>,
    slots: Vec<HotRec>,
    free: Vec<u32>,
}

impl HotTable {
    fn slot(&self, id: &SessionId) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// `hint` if it is the slot of `id` (checked: a stale hint only costs the index probe).
    fn hinted(&self, hint: Option<u32>, id: &SessionId) -> Option<u32> {
        let hint = hint?;
        self.slots.get(hint as usize).is_some_and(|held| held.id == *id).then_some(hint)
    }

    fn get(&self, id: &SessionId) -> Option<&HotRec> {
        self.slot(id).map(|i| &self.slots[i as usize])
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut HotRec> {
        self.slot(id).map(|i| &mut self.slots[i as usize])
    }

    /// Stores `rec`; returns its slot and the record it replaced.
    fn insert(&mut self, rec: HotRec) -> (u32, Option<HotRec>) {
        if let Some(i) = self.slot(&rec.id) {
            return (i, Some(std::mem::replace(&mut self.slots[i as usize], rec)));
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = rec;
                i
            }
            None => {
                self.slots.push(rec);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(rec.id, i);
        (i, None)
    }

    fn remove(&mut self, id: &SessionId) -> Option<HotRec> {
        let i = self.index.remove(id)?;
        let slot = &mut self.slots[i as usize];
        let rec = *slot;
        slot.id = VACANT;
        self.free.push(i);
        Some(rec)
    }

    fn iter(&self) -> impl Iterator<Item = &HotRec> {
        self.index.values().map(|&i| &self.slots[i as usize])
    }

    fn len(&self) -> usize {
        self.index.len()
    }
}

/// Asks the CPU to start loading `value`'s cache line: a hint with no effect on results.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_address(std::ptr::from_ref(value));
}

/// [`prefetch`] by address; the address may be stale or dangling, as a prefetch never faults.
#[inline(always)]
pub fn prefetch_address<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache hierarchy: it reads nothing into the program and
    // cannot fault, whatever the address; SSE is part of every x86_64 target.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[derive(Debug)]
struct HotInner {
    shared: Arc<Shared>,
    map: HotTable,
    /// Sessions by the minute they were last seen idle-listed (see [`IdleIndex`]).
    idle: IdleIndex,
    /// Sessions the cold tier lacks the newest data of (only kept when a write-behind pass runs),
    /// ordered so each pass takes the first `limit` in O(limit) and in a deterministic order.
    dirty: Option<BTreeSet<SessionId>>,
    /// Sessions held.
    count: Gauge,
    /// Redis bytes held, before fragmentation: sum of (payload + overhead).
    bytes: Gauge,
}

/// One region's simulated Redis cluster.
#[derive(Debug)]
pub struct SimHotStore {
    region: usize,
    shared: Arc<Shared>,
    overhead: u64,
    available: AtomicBool,
    inner: Mutex<HotInner>,
    /// Address and length of the slab of records, as last published (prefetch hints only).
    slots_at: AtomicPtr<HotRec>,
    slots_len: AtomicUsize,
}

/// What a hot tier held at one moment (for failover accounting).
#[derive(Debug, Clone, Copy)]
pub struct HotSnapshotEntry {
    /// The session.
    pub id: SessionId,
    /// Its hot version.
    pub version: u64,
    /// Its last access, ms.
    pub last_access: u64,
    /// Its hot TTL deadline, ms.
    pub expires_at: u64,
}

impl SimHotStore {
    /// An empty tier for `region`; `bytes_overhead` is Redis's per-session overhead;
    /// `track_dirty` keeps the write-behind work list.
    pub fn new(region: usize, shared: Arc<Shared>, bytes_overhead: u64, track_dirty: bool) -> Self {
        let inner = HotInner {
            shared: Arc::clone(&shared),
            map: HotTable::default(),
            idle: IdleIndex::default(),
            dirty: track_dirty.then(BTreeSet::new),
            count: Gauge::default(),
            bytes: Gauge::default(),
        };
        Self {
            region,
            shared,
            overhead: bytes_overhead,
            available: AtomicBool::new(true),
            inner: Mutex::new(inner),
            slots_at: AtomicPtr::new(std::ptr::null_mut()),
            slots_len: AtomicUsize::new(0),
        }
    }

    /// Takes the tier down or brings it back; the data stays.
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    /// Loses every session (a region's Redis cluster lost); returns what it held.
    pub fn wipe(&self) -> Vec<HotSnapshotEntry> {
        let now = self.shared.now();
        let mut inner = lock(&self.inner);
        let lost = inner
            .map
            .iter()
            .map(|r| HotSnapshotEntry {
                id: r.id,
                version: u64::from(r.version),
                last_access: r.last_access,
                expires_at: r.expires_at,
            })
            .collect();
        inner.map = HotTable::default();
        self.publish_slots(&inner);
        inner.idle = IdleIndex::default();
        if let Some(dirty) = &mut inner.dirty {
            *dirty = BTreeSet::new();
        }
        let (count, bytes) = (inner.count.value, inner.bytes.value);
        inner.count_sub(now, count);
        inner.bytes.sub(now, bytes);
        lost
    }

    /// Sessions held (a gauge over time).
    pub fn count(&self) -> Gauge {
        let mut inner = lock(&self.inner);
        inner.count.advance(self.shared.now());
        inner.count
    }

    /// Bytes held before fragmentation (a gauge over time).
    pub fn bytes(&self) -> Gauge {
        let mut inner = lock(&self.inner);
        inner.bytes.advance(self.shared.now());
        inner.bytes
    }

    /// Highest (sessions, bytes) held since the last call: one peak window.
    pub fn take_window_peaks(&self) -> (u64, u64) {
        let mut inner = lock(&self.inner);
        (inner.count.take_window_peak(), inner.bytes.take_window_peak())
    }

    /// Starts fetching the record in `slot` into the CPU cache (the simulator calls this one event
    /// ahead). Only a hint: it changes no state and no result, and takes no lock (it reads the
    /// slab's address as last published, which at worst is stale).
    pub fn prefetch(&self, slot: u32) {
        if (slot as usize) < self.slots_len.load(Ordering::Relaxed) {
            prefetch_address(self.slots_at.load(Ordering::Relaxed).cast_const().wrapping_add(slot as usize));
        }
    }

    /// Publishes where the slab is, for [`SimHotStore::prefetch`] (after it may have moved).
    fn publish_slots(&self, inner: &HotInner) {
        self.slots_at.store(inner.map.slots.as_ptr().cast_mut(), Ordering::Relaxed);
        self.slots_len.store(inner.map.slots.len(), Ordering::Relaxed);
    }

    /// Entries in the idle index (memory diagnostics).
    pub fn index_len(&self) -> usize {
        let inner = lock(&self.inner);
        inner.idle.len()
    }

    #[inline]
    fn check(&self) -> Result<(), StoreError> {
        self.shared.redis_call(self.region);
        if self.available.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(StoreError::unavailable("redis (simulated)", "region outage"))
        }
    }

    /// A hot access: finds the live record of `id` (the simulator's hint first, else one hash
    /// lookup), moves its last access and TTL; a record past its TTL is removed.
    #[inline]
    fn touch_record(&self, inner: &mut HotInner, id: &SessionId, now: Timestamp, ttl: Duration) -> Touch {
        let hint = self.shared.hint_for(self.region);
        let Some(slot) = inner.map.hinted(hint, id).or_else(|| inner.map.slot(id)) else {
            return Touch::Miss;
        };
        let rec = &mut inner.map.slots[slot as usize];
        if rec.expires_at > now.0 {
            rec.last_access = now.0;
            rec.expires_at = (now + ttl).0;
            self.shared.found(self.region, slot);
            return Touch::Live(slot);
        }
        inner.remove(id, now.0, self.overhead);
        Touch::Expired
    }

    fn session(&self, id: SessionId, r: &HotRec) -> Session {
        Session {
            id,
            user_id: self.shared.user.clone(),
            data: SessionData::opaque(r.data_len as usize),
            version: u64::from(r.version),
            created_at: Timestamp(r.created_at),
            last_access: Timestamp(r.last_access),
            persisted_version: u64::from(r.persisted),
            hot_region: region_from(r.hot_region),
        }
    }

    fn size(&self, r: &HotRec) -> u64 {
        u64::from(r.data_len) + self.overhead
    }
}

/// The outcome of [`SimHotStore::touch_record`].
enum Touch {
    /// Live, in this slot; its access is recorded.
    Live(u32),
    /// Not held.
    Miss,
    /// Held past its TTL; now removed.
    Expired,
}

/// What an idle-index entry stands for, at a demotion pass.
enum Indexed {
    /// Idle since the pass's cutoff or longer: a candidate.
    Live(HotRec),
    /// Past its TTL: drop it.
    Expired(SessionId),
    /// Touched since it was listed: list it again in the bucket of this minute.
    Touched(u64),
    /// Removed, or listed in another bucket: drop the entry.
    Stale,
}

impl HotInner {
    /// What the entry `(slot, listing)` stands for at a pass with `cutoff`.
    fn classify(&self, slot: u32, listing: u32, cutoff: u64, now: u64) -> Indexed {
        match self.map.slots.get(slot as usize) {
            Some(rec) if rec.listing == listing && rec.id != VACANT => {
                if rec.expires_at <= now {
                    Indexed::Expired(rec.id)
                } else if rec.last_access <= cutoff {
                    Indexed::Live(*rec)
                } else {
                    Indexed::Touched(rec.last_access / MINUTE_MS)
                }
            }
            _ => Indexed::Stale,
        }
    }

    fn count_add(&mut self, now: u64, n: u64) {
        self.count.add(now, n);
        let total = &self.shared.hot_total;
        total.add(n);
        if total.get() > self.shared.hot_total_window_peak.get() {
            self.shared.hot_total_window_peak.0.store(total.get(), Ordering::Relaxed);
        }
    }

    fn count_sub(&mut self, now: u64, n: u64) {
        self.count.sub(now, n);
        let total = &self.shared.hot_total;
        total.0.store(total.get().saturating_sub(n), Ordering::Relaxed);
    }

    fn remove(&mut self, id: &SessionId, now: u64, overhead: u64) -> Option<HotRec> {
        let rec = self.map.remove(id)?;
        if let Some(dirty) = &mut self.dirty {
            dirty.remove(id);
        }
        self.count_sub(now, 1);
        self.bytes.sub(now, u64::from(rec.data_len) + overhead);
        Some(rec)
    }

    /// The live record (looked for in the `hint` slot first), dropping it if its TTL ran out.
    fn live(&mut self, hint: Option<u32>, id: &SessionId, now: u64, overhead: u64) -> Result<&mut HotRec, HotLookup> {
        let Some(slot) = self.map.hinted(hint, id).or_else(|| self.map.slot(id)) else {
            return Err(HotLookup::Miss);
        };
        if self.map.slots[slot as usize].expires_at <= now {
            self.remove(id, now, overhead);
            return Err(HotLookup::Expired);
        }
        Ok(&mut self.map.slots[slot as usize])
    }
}

impl HotStore for SimHotStore {
    async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        if let Err(e) = self.check() {
            return HotLookup::Unavailable(e);
        }
        let mut inner = lock(&self.inner);
        match self.touch_record(&mut inner, id, now, ttl) {
            Touch::Live(slot) => HotLookup::Hit(self.session(*id, &inner.map.slots[slot as usize])),
            Touch::Miss => HotLookup::Miss,
            Touch::Expired => HotLookup::Expired,
        }
    }

    async fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotTouch {
        if let Err(e) = self.check() {
            return HotTouch::Unavailable(e);
        }
        let mut inner = lock(&self.inner);
        match self.touch_record(&mut inner, id, now, ttl) {
            Touch::Live(slot) => HotTouch::Hit { version: u64::from(inner.map.slots[slot as usize].version) },
            Touch::Miss => HotTouch::Miss,
            Touch::Expired => HotTouch::Expired,
        }
    }

    async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
        self.check()?;
        let now = self.shared.now();
        let mut inner = lock(&self.inner);
        if let Ok(existing) = inner.live(None, &session.id, now, self.overhead) {
            if (u64::from(existing.version), Timestamp(existing.last_access)) > session.freshness() {
                return Ok(HotWrite::KeptNewer);
            }
        }
        let rec = HotRec {
            id: session.id,
            listing: 0,
            created_at: session.created_at.0,
            last_access: session.last_access.0,
            expires_at: (session.last_access + ttl).0,
            version: clamp32(session.version),
            persisted: clamp32(session.persisted_version),
            data_len: clamp32(session.data.len() as u64),
            hot_region: region_of(session.hot_region),
        };
        let size = self.size(&rec);
        let (slot, old) = inner.map.insert(rec);
        // A new entry in the bucket of the session's last access; an older one turns stale.
        let listing = inner.idle.add(session.last_access.0 / MINUTE_MS, slot);
        inner.map.slots[slot as usize].listing = listing;
        self.publish_slots(&inner);
        self.shared.found(self.region, slot);
        if let Some(old) = old {
            let old_size = self.size(&old);
            inner.bytes.sub(now, old_size);
        } else {
            inner.count_add(now, 1);
        }
        inner.bytes.add(now, size);
        if let Some(dirty) = &mut inner.dirty {
            if session.is_dirty() {
                dirty.insert(session.id);
            } else {
                dirty.remove(&session.id);
            }
        }
        Ok(HotWrite::Written)
    }

    async fn update(
        &self,
        id: &SessionId,
        data: &SessionData,
        expected_version: u64,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<HotUpdate, StoreError> {
        self.check()?;
        let overhead = self.overhead;
        let mut inner = lock(&self.inner);
        let rec = match inner.live(self.shared.hint_for(self.region), id, now.0, overhead) {
            Ok(rec) => rec,
            Err(_) => return Ok(HotUpdate::Miss),
        };
        if u64::from(rec.version) != expected_version {
            return Ok(HotUpdate::Conflict { current: u64::from(rec.version) });
        }
        let old_len = u64::from(rec.data_len);
        rec.version = rec.version.saturating_add(1);
        rec.data_len = clamp32(data.len() as u64);
        rec.last_access = now.0;
        rec.expires_at = (now + ttl).0;
        let new_len = u64::from(rec.data_len);
        let session = self.session(*id, rec);
        inner.bytes.sub(now.0, old_len);
        inner.bytes.add(now.0, new_len);
        if let Some(dirty) = &mut inner.dirty {
            dirty.insert(*id);
        }
        Ok(HotUpdate::Updated(session))
    }

    async fn take(&self, id: &SessionId) -> HotLookup {
        if let Err(e) = self.check() {
            return HotLookup::Unavailable(e);
        }
        let now = self.shared.now();
        let mut inner = lock(&self.inner);
        if let Err(answer) = inner.live(None, id, now, self.overhead) {
            return answer;
        }
        inner.remove(id, now, self.overhead).map_or(HotLookup::Miss, |r| HotLookup::Hit(self.session(*id, &r)))
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.check()?;
        let now = self.shared.now();
        Ok(lock(&self.inner).remove(id, now, self.overhead).is_some())
    }

    async fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let now = self.shared.now();
        let mut inner = lock(&self.inner);
        let unchanged =
            inner.map.get(id).is_some_and(|r| u64::from(r.version) == version && r.last_access == last_access.0);
        if unchanged {
            inner.remove(id, now, self.overhead);
        }
        Ok(unchanged)
    }

    async fn idle_candidates(
        &self,
        idle_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<IdleEntry>, StoreError> {
        self.check()?;
        let overhead = self.overhead;
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let mut found = Vec::new();
        let (cutoff, now) = (idle_since.0, now.0);
        let cutoff_minute = cutoff / MINUTE_MS;
        let mut bucket = 0;
        while found.len() < limit && bucket < inner.idle.buckets.len() {
            let minute = inner.idle.first_minute + bucket as u64;
            if minute > cutoff_minute {
                break;
            }
            // Entries kept are compacted in place, in order, so the prefetch distance holds.
            let mut entries = std::mem::take(&mut inner.idle.buckets[bucket]);
            let (mut read, mut kept) = (0, 0);
            while read < entries.len() {
                if found.len() >= limit {
                    entries.copy_within(read.., kept);
                    kept += entries.len() - read;
                    break;
                }
                if let Some(&(ahead, _)) = entries.get(read + IDLE_PREFETCH_AHEAD) {
                    if let Some(rec) = inner.map.slots.get(ahead as usize) {
                        prefetch(rec);
                    }
                }
                let (slot, listing) = entries[read];
                read += 1;
                match inner.classify(slot, listing, cutoff, now) {
                    Indexed::Stale => {}
                    Indexed::Expired(id) => {
                        inner.remove(&id, now, overhead);
                        found.push(IdleEntry::Vanished(id));
                    }
                    // Kept until the session is gone: a pass that fails leaves it listed.
                    Indexed::Live(rec) => {
                        found.push(IdleEntry::Idle(self.session(rec.id, &rec)));
                        entries[kept] = (slot, listing);
                        kept += 1;
                    }
                    // Touched within this very minute, after the cutoff: a later pass decides.
                    Indexed::Touched(touched) if touched == minute => {
                        entries[kept] = (slot, listing);
                        kept += 1;
                    }
                    // A later minute (last access never goes back), so never this bucket.
                    Indexed::Touched(touched) => {
                        let listing = inner.idle.add(touched, slot);
                        inner.map.slots[slot as usize].listing = listing;
                    }
                }
            }
            entries.truncate(kept);
            inner.idle.buckets[bucket] = entries;
            if bucket == 0 && minute < cutoff_minute && inner.idle.buckets[0].is_empty() {
                inner.idle.buckets.pop_front();
                inner.idle.first_minute += 1;
            } else {
                bucket += 1;
            }
        }
        Ok(found)
    }

    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let inner = lock(&self.inner);
        let Some(dirty) = &inner.dirty else { return Ok(Vec::new()) };
        Ok(dirty.iter().take(limit).filter_map(|id| inner.map.get(id).map(|r| self.session(*id, r))).collect())
    }

    async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let clean = match inner.map.get_mut(id) {
            Some(rec) => {
                rec.persisted = rec.persisted.max(clamp32(version));
                rec.persisted >= rec.version
            }
            None => true,
        };
        if clean {
            if let Some(dirty) = &mut inner.dirty {
                dirty.remove(id);
            }
        }
        Ok(())
    }

    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let now = self.shared.now();
        let inner = lock(&self.inner);
        if user != &self.shared.user {
            return Ok(Vec::new());
        }
        Ok(inner.map.iter().filter(|r| r.expires_at > now).map(|r| self.session(r.id, r)).collect())
    }

    async fn session_count(&self) -> Result<u64, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).map.len() as u64)
    }
}

/// A cold record (no payload, only its size) and when and where it was written.
#[derive(Debug, Clone, Copy)]
struct ColdRec {
    created_at: u64,
    last_access: u64,
    written_at: u64,
    version: u32,
    data_len: u32,
    writer: u16,
    hot_region: u16,
}

/// A cold record as it was before the write at `by` replaced it.
#[derive(Debug, Clone, Copy)]
struct Superseded {
    rec: ColdRec,
    /// `written_at` of the replacing write: pruning matches its order entry against this, so it
    /// never probes the (large, mostly uncached) main table.
    by: u64,
}

#[derive(Debug, Default)]
struct ColdInner {
    map: FxHashMap<SessionId, ColdRec>,
    /// The state before the latest write, for records written within the longest replication
    /// delay: what a replica that has not yet seen the latest write returns.
    previous: FxHashMap<SessionId, Superseded>,
    /// `(written_at, id)` of entries in `previous`, oldest first, for pruning.
    previous_order: VecDeque<(u64, SessionId)>,
    count: Gauge,
    /// Stored item bytes (payload + item overhead).
    bytes: Gauge,
    /// Records and item bytes per home region (for the time series).
    by_home: Vec<(u64, u64)>,
}

/// The DynamoDB global table: one table, per-region visibility after a replication delay.
///
/// A write from region A becomes visible in region B at `written_at + delay`, where the delay is
/// drawn (exponential, mean `cross_region_delay`, capped at 10 times the mean) from a hash of the
/// session, the write time and the reader, so it is computed when read and costs no memory. Until
/// then B sees the state before that write (or nothing, for a first write). Deletes are visible
/// everywhere at once.
#[derive(Debug)]
pub struct SimColdStore {
    shared: Arc<Shared>,
    item_overhead: u64,
    mean_delay_ms: f64,
    available: AtomicBool,
    inner: Mutex<ColdInner>,
}

impl SimColdStore {
    /// An empty table.
    pub fn new(shared: Arc<Shared>, item_overhead: u64, mean_delay: Duration) -> Self {
        Self {
            item_overhead,
            mean_delay_ms: mean_delay.as_secs_f64() * 1000.0,
            available: AtomicBool::new(true),
            inner: Mutex::new(ColdInner { by_home: vec![(0, 0); shared.regions()], ..ColdInner::default() }),
            shared,
        }
    }

    /// Records held (a gauge over time).
    pub fn count(&self) -> Gauge {
        let mut inner = lock(&self.inner);
        inner.count.advance(self.shared.now());
        inner.count
    }

    /// Item bytes stored (a gauge over time).
    pub fn bytes(&self) -> Gauge {
        let mut inner = lock(&self.inner);
        inner.bytes.advance(self.shared.now());
        inner.bytes
    }

    /// Highest (records, item bytes) held since the last call: one peak window.
    pub fn take_window_peaks(&self) -> (u64, u64) {
        let mut inner = lock(&self.inner);
        (inner.count.take_window_peak(), inner.bytes.take_window_peak())
    }

    /// Records and item bytes held per home region.
    pub fn by_home(&self) -> Vec<(u64, u64)> {
        lock(&self.inner).by_home.clone()
    }

    /// The newest version held of a session (any region's view), if any.
    pub fn newest_version(&self, id: &SessionId) -> Option<u64> {
        lock(&self.inner).map.get(id).map(|r| u64::from(r.version))
    }

    /// Drops records idle past `ttl` (DynamoDB's TTL deletion); returns how many.
    pub fn purge_expired(&self, ttl: Duration) -> u64 {
        let now = self.shared.now();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut inner = lock(&self.inner);
        let overhead = self.item_overhead;
        let mut purged = 0u64;
        let mut bytes = 0u64;
        let inner = &mut *inner;
        let by_home = &mut inner.by_home;
        inner.map.retain(|id, r| {
            let keep = r.last_access.saturating_add(ttl_ms) > now;
            if !keep {
                purged += 1;
                let item = u64::from(r.data_len) + overhead;
                bytes += item;
                if let Some(home) = by_home.get_mut(id.home().index()) {
                    home.0 -= 1;
                    home.1 -= item;
                }
            }
            keep
        });
        inner.count.sub(now, purged);
        inner.bytes.sub(now, bytes);
        // Grow-only maps would keep their peak capacity; give memory back after large purges.
        if purged > 0 && inner.map.capacity() > 4 * inner.map.len().max(1024) {
            inner.map.shrink_to_fit();
        }
        purged
    }

    fn check(&self, region: usize) -> Result<(), StoreError> {
        self.shared.dynamo_call(region)?;
        if self.available.load(Ordering::Relaxed) {
            Ok(())
        } else {
            self.shared.ledger[region].dynamo_errors.add(1);
            Err(StoreError::unavailable("dynamodb (simulated)", "switched off"))
        }
    }

    fn item_bytes(&self, data_len: u64) -> u64 {
        data_len + self.item_overhead
    }

    fn visible_to(&self, id: &SessionId, r: &ColdRec, reader: usize, now: u64) -> bool {
        if usize::from(r.writer) == reader || self.mean_delay_ms <= 0.0 {
            return true;
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&id.hash_bytes()[..8]);
        let h = splitmix(
            u64::from_le_bytes(first) ^ r.written_at.rotate_left(17) ^ (reader as u64) << 56 ^ self.shared.seed,
        );
        let unit = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let delay = (-unit.ln() * self.mean_delay_ms).min(10.0 * self.mean_delay_ms);
        now as f64 >= r.written_at as f64 + delay
    }

    fn session(&self, id: SessionId, r: &ColdRec) -> Session {
        Session {
            id,
            user_id: self.shared.user.clone(),
            data: SessionData::opaque(r.data_len as usize),
            version: u64::from(r.version),
            created_at: Timestamp(r.created_at),
            last_access: Timestamp(r.last_access),
            persisted_version: u64::from(r.version),
            hot_region: region_from(r.hot_region),
        }
    }

    fn prune_previous(&self, inner: &mut ColdInner, now: u64) {
        let horizon = (10.0 * self.mean_delay_ms) as u64 + 1;
        while let Some(&(at, id)) = inner.previous_order.front() {
            if at.saturating_add(horizon) > now {
                break;
            }
            inner.previous_order.pop_front();
            // Only if no later write replaced the record again (its own entry comes later).
            if inner.previous.get(&id).is_some_and(|p| p.by == at) {
                inner.previous.remove(&id);
            }
        }
    }

    fn write(&self, inner: &mut ColdInner, session: &Session, writer: usize, now: u64) -> ColdWrite {
        let ledger = &self.shared.ledger[writer];
        let item = self.item_bytes(session.data.len() as u64);
        let wru = item.div_ceil(1024);
        ledger.wru.add(wru);
        let rec = ColdRec {
            created_at: session.created_at.0,
            last_access: session.last_access.0,
            written_at: now,
            version: clamp32(session.version),
            data_len: clamp32(session.data.len() as u64),
            writer: u16::try_from(writer).unwrap_or(u16::MAX),
            hot_region: region_of(session.hot_region),
        };
        // One probe of the table for the check and the write.
        let replaced = match inner.map.entry(session.id) {
            Entry::Occupied(mut stored) => {
                let existing = stored.get();
                if (u64::from(existing.version), Timestamp(existing.last_access)) > session.freshness() {
                    return ColdWrite::Stale; // a failed conditional write still consumes its units
                }
                Some(stored.insert(rec))
            }
            Entry::Vacant(slot) => {
                slot.insert(rec);
                None
            }
        };
        let others = self.shared.regions() as u64 - 1;
        ledger.replicated_wru.add(wru * others);
        ledger.replicated_bytes.add(item * others);
        let home = &mut inner.by_home[session.id.home().index()];
        home.1 += item;
        match replaced {
            Some(old) => {
                let old_item = self.item_bytes(u64::from(old.data_len));
                inner.bytes.sub(now, old_item);
                inner.by_home[session.id.home().index()].1 -= old_item;
                if self.mean_delay_ms > 0.0 && self.shared.regions() > 1 {
                    inner.previous.insert(session.id, Superseded { rec: old, by: now });
                    inner.previous_order.push_back((now, session.id));
                }
            }
            None => {
                inner.count.add(now, 1);
                inner.by_home[session.id.home().index()].0 += 1;
            }
        }
        inner.bytes.add(now, item);
        ColdWrite::Written
    }
}

impl ColdStore for SimColdStore {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        let region = reader.index();
        if let Err(e) = self.check(region) {
            return ColdLookup::Unavailable(e);
        }
        let now = self.shared.now();
        let inner = lock(&self.inner);
        let ledger = &self.shared.ledger[region];
        let visible = match inner.map.get(id) {
            Some(r) if self.visible_to(id, r, region, now) => Some(*r),
            Some(_) => inner.previous.get(id).map(|p| p.rec),
            None => None,
        };
        match visible {
            Some(r) => {
                ledger.rru.add(self.item_bytes(u64::from(r.data_len)).div_ceil(4096));
                ColdLookup::Found(self.session(*id, &r))
            }
            None => {
                ledger.rru.add(1);
                ColdLookup::Miss
            }
        }
    }

    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.check(writer.index())?;
        let mut inner = lock(&self.inner);
        self.prune_previous(&mut inner, now.0);
        Ok(self.write(&mut inner, session, writer.index(), now.0))
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        // BatchWriteItem takes at most 25 items: one call per chunk.
        for _ in 0..sessions.len().div_ceil(25) {
            self.check(writer.index())?;
        }
        let mut inner = lock(&self.inner);
        self.prune_previous(&mut inner, now.0);
        Ok(sessions.iter().map(|s| self.write(&mut inner, s, writer.index(), now.0)).collect())
    }

    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.check(writer.index())?;
        let mut inner = lock(&self.inner);
        inner.previous.remove(id);
        let ledger = &self.shared.ledger[writer.index()];
        match inner.map.remove(id) {
            Some(r) => {
                let item = self.item_bytes(u64::from(r.data_len));
                ledger.wru.add(item.div_ceil(1024));
                let others = self.shared.regions() as u64 - 1;
                ledger.replicated_wru.add(item.div_ceil(1024) * others);
                inner.count.sub(now.0, 1);
                inner.bytes.sub(now.0, item);
                let home = &mut inner.by_home[id.home().index()];
                home.0 -= 1;
                home.1 -= item;
                Ok(Some(self.session(*id, &r)))
            }
            None => {
                ledger.wru.add(1);
                Ok(None)
            }
        }
    }

    async fn sessions_of_user(&self, user: &UserId, _reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.check(self.shared.serving())?;
        if user != &self.shared.user {
            return Ok(Vec::new());
        }
        let inner = lock(&self.inner);
        Ok(inner.map.iter().map(|(id, r)| self.session(*id, r)).collect())
    }
}

/// Audit records counted per region and kind; hot and cold expiries are told apart (the engine
/// records a hot expiry without a user id, a cold one with it).
#[derive(Debug)]
pub struct SimAudit {
    /// `counts[region][kind]`, kinds in [`AuditKind::ALL`] order, plus a ninth slot for cold
    /// expiries (the fifth, `expired`, counts hot ones).
    counts: Vec<[Counter; 9]>,
}

/// Index of the cold-expiry slot in [`SimAudit`] counts.
pub const EXPIRED_COLD: usize = 8;

impl SimAudit {
    /// A trail for `regions` regions.
    pub fn new(regions: usize) -> Self {
        Self { counts: (0..regions).map(|_| std::array::from_fn(|_| Counter::default())).collect() }
    }

    /// Records of `slot` (an index into [`AuditKind::ALL`], or [`EXPIRED_COLD`]) in `region`.
    pub fn count(&self, region: usize, slot: usize) -> u64 {
        self.counts.get(region).map_or(0, |c| c[slot].get())
    }
}

/// Index of `kind` in [`AuditKind::ALL`].
pub fn kind_slot(kind: AuditKind) -> usize {
    match kind {
        AuditKind::Created => 0,
        AuditKind::Promoted => 1,
        AuditKind::Demoted => 2,
        AuditKind::Updated => 3,
        AuditKind::Expired => 4,
        AuditKind::LoggedOut => 5,
        AuditKind::Revoked => 6,
        AuditKind::Erased => 7,
    }
}

impl AuditSink for SimAudit {
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        let mut slot = kind_slot(event.kind);
        if event.kind == AuditKind::Expired && event.user_id.is_some() {
            slot = EXPIRED_COLD;
        }
        if let Some(counts) = self.counts.get(event.region.index()) {
            counts[slot].add(1);
        }
        Ok(())
    }

    async fn pseudonymise_user(&self, _user: &UserId) -> Result<u64, StoreError> {
        Ok(0) // counts only: no user ids are kept
    }
}
