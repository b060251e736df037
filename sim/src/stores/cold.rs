//! [`SimColdStore`]: the simulated DynamoDB global table.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotcold_engine::session::TOMBSTONE_VERSION;
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor, RegionId, Session, SessionData, SessionId, StoreError,
    Timestamp, UserId,
};
use hotcold_model::metering::Metering;
use hotcold_model::rng::splitmix;
use rustc_hash::FxHashMap;

use super::meter::Gauge;
use super::split_map::SplitMap;
use super::stamp::{self, Stamp, TimeBase};
use super::{StoreContext, clamp32, first_by_id, lock};

/// Replication delays are capped at this many times their mean (the tail of the exponential
/// beyond it is cut), so superseded records older than that are never read again.
const MAX_DELAY_IN_MEANS: f64 = 10.0;

/// Largest number of regions the table's records can name: a region is one byte, and
/// [`NO_REGION`] stands for none.
pub(crate) const MAX_REGIONS: usize = NO_REGION as usize;

/// A record's `hot_region` byte for none.
const NO_REGION: u8 = u8::MAX;

/// Largest payload size a record keeps (3 bytes, 16 MiB); larger ones saturate to it. DynamoDB
/// items are at most 400 KB, and the engine refuses data over `engine.max_data_bytes` (at most
/// 390 KiB), so no session comes near.
const MAX_DATA_LEN: u32 = (1 << 24) - 1;

/// A cold record (no payload, only its size) and when and where it was written: 24 bytes, and
/// as byte arrays it has alignment 1, so an entry of the table (18-byte id, record) is 42 bytes
/// with no padding (see [`ENTRY_BYTES`]).
#[derive(Debug, Clone, Copy)]
struct ColdRec {
    created_at: Stamp,
    last_access: Stamp,
    written_at: Stamp,
    /// `u32`, little-endian (as a byte array, to keep the record unaligned).
    version: [u8; 4],
    /// The payload size, little-endian, saturating at [`MAX_DATA_LEN`].
    data_len: [u8; 3],
    /// The writing region's index.
    writer: u8,
    /// The `hot_region` marker's index, or [`NO_REGION`].
    hot_region: u8,
}

/// Bytes of one slot of the table's map: an id and its record (was 64: three `u64` moments gave
/// the record 8-byte alignment and 4 bytes of tail padding, and the 18-byte id 6 of its own).
/// Each slot also takes hashbrown's one control byte.
const ENTRY_BYTES: usize = 42;
const _: () = assert!(size_of::<ColdRec>() == 24 && align_of::<ColdRec>() == 1, "a cold record is 24 bytes");
const _: () = assert!(size_of::<(SessionId, ColdRec)>() == ENTRY_BYTES, "a cold table slot is 42 bytes");

impl ColdRec {
    /// The record of `session`, written by region `writer` at `now`.
    fn new(session: &Session, writer: usize, now: u64, time: TimeBase) -> Self {
        // The regions are checked when the table is made (`SimColdStore::new`).
        debug_assert!(writer < MAX_REGIONS, "writer region {writer} does not fit a cold record");
        let hot_region = session.hot_region.map_or(NO_REGION, |r| {
            debug_assert!(usize::from(r.0) < MAX_REGIONS, "hot region {} does not fit a cold record", r.0);
            u8::try_from(r.0).unwrap_or(NO_REGION)
        });
        let data_len = u32::try_from(session.data.len()).unwrap_or(u32::MAX).min(MAX_DATA_LEN).to_le_bytes();
        Self {
            created_at: time.stamp(session.created_at.0),
            last_access: time.stamp(session.last_access.0),
            written_at: time.stamp(now),
            version: clamp32(session.version).to_le_bytes(),
            data_len: [data_len[0], data_len[1], data_len[2]],
            writer: u8::try_from(writer).unwrap_or(u8::MAX),
            hot_region,
        }
    }

    fn version(&self) -> u32 {
        u32::from_le_bytes(self.version)
    }

    /// The payload size, bytes.
    fn data_len(&self) -> u64 {
        let [b0, b1, b2] = self.data_len;
        u64::from(u32::from_le_bytes([b0, b1, b2, 0]))
    }

    /// The writing region's index.
    fn writer(&self) -> usize {
        usize::from(self.writer)
    }

    fn hot_region(&self) -> Option<RegionId> {
        (self.hot_region != NO_REGION).then_some(RegionId(u16::from(self.hot_region)))
    }

    /// 1 for a session, 0 for a removal's tombstone: what the record gauges and expiry counts
    /// count (a tombstone is stored, and billed by its bytes, but is no session).
    fn sessions(&self) -> u64 {
        u64::from(u64::from(self.version()) < TOMBSTONE_VERSION)
    }
}

/// A cold record as it was before the write at `by` replaced it.
#[derive(Debug, Clone, Copy)]
struct Superseded {
    rec: ColdRec,
    /// `written_at` of the replacing write: pruning matches its order entry against this, so it
    /// never probes the (large, mostly uncached) main table.
    by: Stamp,
}

const _: () = assert!(size_of::<(SessionId, Superseded)>() == 48, "a superseded slot is 48 bytes (was 72)");

/// The table's records and gauges, behind the store's lock.
#[derive(Debug, Default)]
struct ColdState {
    map: SplitMap<ColdRec>,
    /// The record before the latest write, for records written within the longest replication
    /// delay: what a replica that has not yet seen the latest write returns.
    previous: FxHashMap<SessionId, Superseded>,
    /// `(written_at, id)` of entries in `previous`, oldest first, for pruning.
    previous_order: VecDeque<(u64, SessionId)>,
    /// `(last_access, id)` of tombstones written, oldest first: they end hours after they are
    /// written, and dropping them as they end (not at the daily purge) keeps a day of logouts from
    /// piling up in the table (at full scale that pushed each shard's map past a doubling).
    tombstones: VecDeque<(u64, SessionId)>,
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
    context: Arc<StoreContext>,
    /// How calls are charged (CONTRACT section 4).
    metering: Metering,
    mean_delay_ms: f64,
    /// What the records' moments are offsets from: the clock's time when the table was made.
    time: TimeBase,
    available: AtomicBool,
    state: Mutex<ColdState>,
    /// Each home region's expiry sweep mark (conformance only; runs sweep by purging).
    sweep_marks: Mutex<Vec<(RegionId, ExpiryCursor)>>,
}

impl SimColdStore {
    /// An empty table, timing its records from the clock's time now.
    ///
    /// # Panics
    /// With more than 255 regions (a record names a region in one byte; the simulator refuses
    /// such scenarios first: [`SimColdStore::fits`]).
    pub fn new(context: Arc<StoreContext>, item_overhead: u64, mean_delay: Duration) -> Self {
        assert!(
            context.regions() <= MAX_REGIONS,
            "the simulated DynamoDB table names at most {MAX_REGIONS} regions, got {}",
            context.regions()
        );
        Self {
            metering: Metering { item_overhead, replicas: context.regions() as u64 },
            mean_delay_ms: mean_delay.as_secs_f64() * 1000.0,
            time: TimeBase::new(context.now()),
            available: AtomicBool::new(true),
            state: Mutex::new(ColdState { by_home: vec![(0, 0); context.regions()], ..ColdState::default() }),
            sweep_marks: Mutex::new(Vec::new()),
            context,
        }
    }

    /// `Err` with the reason when a run of `regions` regions lasting `duration` does not fit the
    /// table's compact records (one byte per region, moments within 17.4 years of the start).
    pub(crate) fn fits(regions: usize, duration: Duration) -> Result<(), String> {
        if regions > MAX_REGIONS {
            return Err(format!(
                "the simulator supports at most {MAX_REGIONS} regions (session_config.hot_storage.regions), \
                 got {regions}"
            ));
        }
        stamp::fits(duration)
    }

    /// Records of restricted sessions held by a replica their home does not allow: the region
    /// that wrote them, when it was not allowed (the table's own replicas always are). A scan
    /// of the whole table, for the end-of-run residency check.
    pub(crate) fn stored_outside(&self) -> u64 {
        let state = lock(&self.state);
        state.map.iter().filter(|(id, r)| !self.context.allows(id, r.writer())).count() as u64
    }

    /// Records held (a gauge over time).
    pub(crate) fn count(&self) -> Gauge {
        let mut state = lock(&self.state);
        state.count.advance(self.context.now());
        state.count
    }

    /// Item bytes stored (a gauge over time).
    pub(crate) fn bytes(&self) -> Gauge {
        let mut state = lock(&self.state);
        state.bytes.advance(self.context.now());
        state.bytes
    }

    /// Highest (records, item bytes) held since the last call: one peak window.
    pub(crate) fn take_window_peaks(&self) -> (u64, u64) {
        let mut state = lock(&self.state);
        (state.count.take_window_peak(), state.bytes.take_window_peak())
    }

    /// Records and item bytes held per home region.
    pub(crate) fn by_home(&self) -> Vec<(u64, u64)> {
        lock(&self.state).by_home.clone()
    }

    /// The newest version held of a session (any region's view), if any.
    pub(crate) fn newest_version(&self, id: &SessionId) -> Option<u64> {
        lock(&self.state).map.get(id).map(|r| u64::from(r.version()))
    }

    /// Drops the tombstones idle past `ttl` (their TTL deletion), oldest first: cheap enough to
    /// run every simulated minute (it looks only at tombstones that have ended, plus one).
    pub(crate) fn purge_tombstones(&self, ttl: Duration) {
        let now = self.context.now();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let overhead = self.metering.item_overhead;
        let time = self.time;
        let mut state = lock(&self.state);
        let state = &mut *state;
        while let Some(&(last_access, id)) = state.tombstones.front() {
            if last_access.saturating_add(ttl_ms) > now {
                break;
            }
            state.tombstones.pop_front();
            // Only if that tombstone is still there (a later one, or a purge, may have replaced it).
            if let Entry::Occupied(entry) = state.map.entry(id) {
                let r = *entry.get();
                if r.sessions() == 0 && time.at(r.last_access) == last_access {
                    entry.remove();
                    let item = r.data_len() + overhead;
                    state.bytes.sub(now, item);
                    if let Some(home) = state.by_home.get_mut(id.home().index()) {
                        home.1 -= item;
                    }
                }
            }
        }
    }

    /// Drops records idle past `ttl`: the sync job's cold expiry sweep (production runs it every
    /// demotion pass, and DynamoDB's TTL deletion behind it); returns how many sessions ended so,
    /// by home region (tombstones that end are not expiries), for the `expired` events.
    pub(crate) fn purge_expired(&self, ttl: Duration) -> Vec<u64> {
        let now = self.context.now();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut state = lock(&self.state);
        let overhead = self.metering.item_overhead;
        let mut purged_by_home = vec![0u64; state.by_home.len()];
        let mut purged = 0u64;
        let mut bytes = 0u64;
        let state = &mut *state;
        let by_home = &mut state.by_home;
        let time = self.time;
        state.map.retain(|id, r| {
            let keep = time.at(r.last_access).saturating_add(ttl_ms) > now;
            if !keep {
                purged += r.sessions();
                if let Some(count) = purged_by_home.get_mut(id.home().index()) {
                    *count += r.sessions();
                }
                let item = r.data_len() + overhead;
                bytes += item;
                if let Some(home) = by_home.get_mut(id.home().index()) {
                    home.0 -= r.sessions();
                    home.1 -= item;
                }
            }
            keep
        });
        state.count.sub(now, purged);
        state.bytes.sub(now, bytes);
        // Grow-only maps would keep their peak capacity; give memory back after large purges.
        if purged > 0 && state.map.capacity() > 4 * state.map.len().max(1024) {
            state.map.shrink_to_fit();
        }
        purged_by_home
    }

    fn check(&self, region: usize) -> Result<(), StoreError> {
        self.context.dynamo_call(region)?;
        if self.available.load(Ordering::Relaxed) {
            Ok(())
        } else {
            self.context.ledger[region].dynamo_errors.add(1);
            Err(StoreError::unavailable("dynamodb (simulated)", "switched off"))
        }
    }

    fn item_bytes(&self, data_len: u64) -> u64 {
        self.metering.item_bytes(data_len)
    }

    /// How calls about sessions homed in `home` are charged: their table's replicas are every
    /// region, or with residency only the home's allowed regions (fewer replicated writes, less
    /// transfer).
    fn metering_for(&self, home: RegionId) -> Metering {
        let replicas = self.context.residency().replicas(home, self.context.regions());
        Metering { replicas: replicas as u64, ..self.metering }
    }

    /// True when region `reader` sees the write that made `r` at `now`: its own writes at once,
    /// another region's after a replication delay drawn from a hash of the session, the write
    /// time, the reader and the seed (so it needs no memory and is the same on every read).
    fn visible_to(&self, id: &SessionId, r: &ColdRec, reader: usize, now: u64) -> bool {
        if r.writer() == reader || self.mean_delay_ms <= 0.0 {
            return true;
        }
        let written_at = self.time.at(r.written_at);
        let mut first = [0u8; 8];
        first.copy_from_slice(&id.hash_bytes()[..8]);
        let hash = splitmix(
            u64::from_le_bytes(first) ^ written_at.rotate_left(17) ^ (reader as u64) << 56 ^ self.context.seed,
        );
        // 53 random bits as a uniform draw in (0, 1), then an exponential delay.
        let unit = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let delay = (-unit.ln() * self.mean_delay_ms).min(MAX_DELAY_IN_MEANS * self.mean_delay_ms);
        now as f64 >= written_at as f64 + delay
    }

    fn session(&self, id: SessionId, r: &ColdRec) -> Session {
        Session {
            id,
            user_id: self.context.user.clone(),
            data: SessionData::opaque(r.data_len() as usize),
            version: u64::from(r.version()),
            created_at: Timestamp(self.time.at(r.created_at)),
            last_access: Timestamp(self.time.at(r.last_access)),
            persisted_version: u64::from(r.version()),
            hot_region: r.hot_region(),
            activity: hotcold_engine::Activity::default(),
        }
    }

    fn prune_previous(&self, state: &mut ColdState, now: u64) {
        let horizon = (MAX_DELAY_IN_MEANS * self.mean_delay_ms) as u64 + 1;
        while let Some(&(at, id)) = state.previous_order.front() {
            if at.saturating_add(horizon) > now {
                break;
            }
            state.previous_order.pop_front();
            // Only if no later write replaced the record again (its own entry comes later).
            if state.previous.get(&id).is_some_and(|p| self.time.at(p.by) == at) {
                state.previous.remove(&id);
            }
        }
    }

    fn write(&self, state: &mut ColdState, session: &Session, writer: usize, now: u64) -> ColdWrite {
        let ledger = &self.context.ledger[writer];
        let data_len = session.data.len() as u64;
        let item = self.item_bytes(data_len);
        let rec = ColdRec::new(session, writer, now, self.time);
        // One probe of the table for the check and the write.
        let replaced = match state.map.entry(session.id) {
            Entry::Occupied(mut stored) => {
                let existing = stored.get();
                if (u64::from(existing.version()), Timestamp(self.time.at(existing.last_access))) > session.freshness()
                {
                    let charge = self.metering_for(session.id.home()).write(data_len, false);
                    ledger.charge(charge);
                    self.context.cold_written(&session.id, writer, charge.wru, None);
                    return ColdWrite::Stale;
                }
                Some(stored.insert(rec))
            }
            Entry::Vacant(slot) => {
                slot.insert(rec);
                None
            }
        };
        let charge = self.metering_for(session.id.home()).write(data_len, true);
        ledger.charge(charge);
        self.context.cold_written(&session.id, writer, charge.wru, Some(item));
        let home = &mut state.by_home[session.id.home().index()];
        home.1 += item;
        // A tombstone replacing a session ends a session; nothing else changes the count.
        let (added, removed) = (rec.sessions(), replaced.map_or(0, |old| old.sessions()));
        if added == 0 {
            state.tombstones.push_back((self.time.at(rec.last_access), session.id));
        }
        // (Down first, so a replacement never shows as a peak of one more.)
        state.count.sub(now, removed);
        state.count.add(now, added);
        let counted = &mut state.by_home[session.id.home().index()].0;
        *counted = *counted + added - removed;
        if let Some(old) = replaced {
            let old_item = self.item_bytes(old.data_len());
            state.bytes.sub(now, old_item);
            state.by_home[session.id.home().index()].1 -= old_item;
            if self.mean_delay_ms > 0.0 && self.context.regions() > 1 {
                state.previous.insert(session.id, Superseded { rec: old, by: rec.written_at });
                state.previous_order.push_back((self.time.at(rec.written_at), session.id));
            }
        }
        state.bytes.add(now, item);
        ColdWrite::Written
    }
}

impl ColdStore for SimColdStore {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        let region = reader.index();
        if let Err(e) = self.check(region) {
            return ColdLookup::Unavailable(e);
        }
        let now = self.context.now();
        let state = lock(&self.state);
        let ledger = &self.context.ledger[region];
        // A region outside a restricted home's allowed set holds no replica of its table.
        let replica_here = self.context.residency().allows(id.home(), reader);
        let visible = match state.map.get(id).filter(|_| replica_here) {
            Some(r) if self.visible_to(id, r, region, now) => Some(*r),
            Some(_) => state.previous.get(id).map(|p| p.rec),
            None => None,
        };
        match visible {
            Some(r) => {
                ledger.charge(self.metering.read(Some(r.data_len())));
                ColdLookup::Found(self.session(*id, &r))
            }
            None => {
                ledger.charge(self.metering.read(None));
                ColdLookup::Miss
            }
        }
    }

    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.check(writer.index())?;
        let mut state = lock(&self.state);
        self.prune_previous(&mut state, now.0);
        Ok(self.write(&mut state, session, writer.index(), now.0))
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        // One BatchWriteItem call per chunk of at most 25 items.
        for _ in 0..Metering::batch_calls(sessions.len()) {
            self.check(writer.index())?;
        }
        let mut state = lock(&self.state);
        self.prune_previous(&mut state, now.0);
        Ok(sessions.iter().map(|s| self.write(&mut state, s, writer.index(), now.0)).collect())
    }

    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.check(writer.index())?;
        let mut state = lock(&self.state);
        state.previous.remove(id);
        let ledger = &self.context.ledger[writer.index()];
        let metering = self.metering_for(id.home());
        match state.map.remove(id) {
            Some(r) => {
                let item = self.item_bytes(r.data_len());
                let charge = metering.delete(Some(r.data_len()));
                ledger.charge(charge);
                self.context.cold_written(id, writer.index(), charge.wru, None);
                state.count.sub(now.0, r.sessions());
                state.bytes.sub(now.0, item);
                let home = &mut state.by_home[id.home().index()];
                home.0 -= r.sessions();
                home.1 -= item;
                Ok(Some(self.session(*id, &r)))
            }
            None => {
                let charge = metering.delete(None);
                ledger.charge(charge);
                self.context.cold_written(id, writer.index(), charge.wru, None);
                Ok(None)
            }
        }
    }

    async fn sessions_of_user(&self, user: &UserId, _reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.check(self.context.serving())?;
        if user != &self.context.user {
            return Ok(Vec::new());
        }
        let state = lock(&self.state);
        Ok(state.map.iter().map(|(id, r)| self.session(*id, r)).collect())
    }

    /// A scan of the whole table, as in the hot store: the simulator's one user owns every
    /// record and no user index is kept. Tombstones are left out.
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        _reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.check(self.context.serving())?;
        if user != &self.context.user {
            return Ok(Vec::new());
        }
        let state = lock(&self.state);
        let mut page: Vec<(&SessionId, &ColdRec)> =
            state.map.iter().filter(|(id, r)| r.sessions() == 1 && after.is_none_or(|after| *id > after)).collect();
        first_by_id(&mut page, limit, |(id, _)| **id);
        Ok(page.into_iter().map(|(id, r)| self.session(*id, r)).collect())
    }

    /// A scan of the whole table (the conformance suite's check). Simulated runs never call it:
    /// [`SimColdStore::purge_expired`] is both the sync job's cold expiry sweep and DynamoDB's
    /// TTL deletion there, and counts the `expired` events per home region. Sweep order: last
    /// access, then id.
    async fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<ExpiredPage, StoreError> {
        self.check(self.context.serving())?;
        let after = match after {
            None => None,
            Some(cursor) => Some(cursor.position().map(|(at, id)| (at.0, id)).ok_or_else(|| StoreError::Corrupt {
                backend: "simulated dynamodb".into(),
                detail: "expiry cursor malformed".into(),
            })?),
        };
        let state = lock(&self.state);
        let time = self.time;
        let mut page: Vec<(u64, &SessionId, &ColdRec)> = state
            .map
            .iter()
            .map(|(id, r)| (time.at(r.last_access), id, r))
            .filter(|(last_access, id, r)| id.home() == home && r.sessions() == 1 && *last_access < before.0)
            .filter(|(last_access, id, _)| after.is_none_or(|after| (*last_access, **id) > after))
            .collect();
        page.sort_by_key(|(last_access, id, _)| (*last_access, **id));
        page.truncate(limit);
        let next = page.last().map(|(last_access, id, _)| ExpiryCursor::at(Timestamp(*last_access), id));
        Ok(ExpiredPage { sessions: page.into_iter().map(|(_, id, r)| self.session(*id, r)).collect(), next })
    }

    async fn sweep_mark(&self, home: RegionId) -> Result<Option<ExpiryCursor>, StoreError> {
        self.check(self.context.serving())?;
        Ok(lock(&self.sweep_marks).iter().find(|(h, _)| *h == home).map(|(_, mark)| mark.clone()))
    }

    async fn set_sweep_mark(&self, home: RegionId, mark: &ExpiryCursor) -> Result<(), StoreError> {
        self.check(self.context.serving())?;
        let mut marks = lock(&self.sweep_marks);
        marks.retain(|(h, _)| *h != home);
        marks.push((home, mark.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use hotcold_engine::Clock as _;
    use hotcold_engine::ready::now_or_panic;

    use super::*;
    use crate::stores::SimClock;

    /// The record as it was before it was packed: three `u64` moments, `u32` version and size,
    /// `u16` regions.
    #[allow(dead_code)]
    struct WideColdRec {
        created_at: u64,
        last_access: u64,
        written_at: u64,
        version: u32,
        data_len: u32,
        writer: u16,
        hot_region: u16,
    }

    /// Bytes per slot of the table's map (an entry plus hashbrown's control byte), before and
    /// after, and per held session over hashbrown's load range (7/16 just after a doubling, 7/8
    /// just before the next): 65 → 43 bytes a slot, 74–149 → 49–98 bytes a held session.
    #[test]
    fn a_table_slot_is_42_bytes_plus_its_control_byte() {
        let before = size_of::<(SessionId, WideColdRec)>() + 1;
        let after = size_of::<(SessionId, ColdRec)>() + 1;
        assert_eq!((size_of::<SessionId>(), size_of::<WideColdRec>(), before), (18, 40, 65));
        assert_eq!((size_of::<ColdRec>(), after), (24, 43));
        let per_session = |slot: usize, load: f64| (slot as f64 / load).round() as usize;
        assert_eq!((per_session(before, 7.0 / 8.0), per_session(before, 7.0 / 16.0)), (74, 149));
        assert_eq!((per_session(after, 7.0 / 8.0), per_session(after, 7.0 / 16.0)), (49, 98));
        assert_eq!(size_of::<(SessionId, Superseded)>(), 48, "was 72 (a 40-byte record and a u64, 8-aligned)");
    }

    fn table(regions: usize, delay: Duration) -> (Arc<SimClock>, SimColdStore) {
        let clock = Arc::new(SimClock::new(Timestamp(1_767_571_200_000)));
        let rtt = vec![0; regions * regions];
        let context = Arc::new(StoreContext::new(Arc::clone(&clock), regions, rtt, 7));
        (clock, SimColdStore::new(context, 100, delay))
    }

    fn session(n: u8, home: u16, at: Timestamp) -> Session {
        Session {
            id: SessionId::from_parts([n; 16], RegionId(home)),
            user_id: UserId::new("simulated-user").unwrap(),
            data: SessionData::opaque(390 * 1024),
            version: u64::from(u32::MAX) - 1,
            created_at: at,
            last_access: at,
            persisted_version: 0,
            hot_region: Some(RegionId(254)),
            activity: hotcold_engine::Activity::default(),
        }
    }

    /// Every field reads back as written: moments before and long after the table's base, a
    /// tombstone's `created_at` of 0, the largest live version, a 390 KiB payload, the highest
    /// region a record can name.
    #[test]
    fn records_read_back_exactly() {
        let (clock, cold) = table(MAX_REGIONS, Duration::ZERO);
        let start = clock.now();
        let writer = RegionId(254);
        let early = session(1, 3, start - Duration::from_secs(31 * 86_400));
        clock.advance(Duration::from_secs(400 * 86_400));
        let late = session(2, 200, clock.now() + Duration::from_millis(7));
        let ended = Session::tombstone(SessionId::from_parts([3; 16], RegionId(0)), clock.now());
        for s in [&early, &late, &ended] {
            assert_eq!(now_or_panic(cold.put(s, writer, clock.now())), Ok(ColdWrite::Written));
            let ColdLookup::Found(got) = now_or_panic(cold.get(&s.id, writer)) else { panic!("{:?} not found", s.id) };
            assert_eq!(
                (got.version, got.created_at, got.last_access, got.hot_region, got.data.len()),
                (s.version, s.created_at, s.last_access, s.hot_region, s.data.len())
            );
        }
        assert_eq!(cold.stored_outside(), 0, "region 254 is the writer");
    }

    #[test]
    fn runs_the_records_cannot_hold_are_refused() {
        assert!(SimColdStore::fits(255, Duration::from_secs(400 * 86_400)).is_ok());
        assert!(SimColdStore::fits(256, Duration::from_secs(60)).unwrap_err().contains("at most 255 regions"));
        assert!(SimColdStore::fits(2, Duration::from_secs(18 * 366 * 86_400)).unwrap_err().contains("17.4 years"));
    }

    /// Scenario validation allows at most 400 days; a scenario built in code is checked again
    /// when its shards are made.
    #[test]
    fn a_run_longer_than_the_records_can_time_is_refused() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut scenario = hotcold_model::Scenario::parse(&text, "tiny.yaml").unwrap();
        scenario.duration = Duration::from_secs(18 * 366 * 86_400);
        let options = crate::RunOptions { shards: Some(1), ..crate::RunOptions::default() };
        match crate::run(&scenario, &options) {
            Err(crate::SimError::TooLarge(message)) => assert!(message.contains("17.4 years"), "{message}"),
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    #[should_panic(expected = "at most 255 regions")]
    fn a_table_of_too_many_regions_is_refused() {
        let _ = table(256, Duration::ZERO);
    }

    /// Another region sees the superseded record until the replication delay has passed, then the
    /// new one; the superseded record is pruned after the longest delay.
    #[test]
    fn superseded_records_are_read_then_pruned() {
        let (clock, cold) = table(2, Duration::from_secs(1));
        let (home, away) = (RegionId(0), RegionId(1));
        let first = Session { version: 1, data: SessionData::opaque(10), ..session(5, 0, clock.now()) };
        now_or_panic(cold.put(&first, home, clock.now())).unwrap();
        clock.advance(Duration::from_secs(60));
        let second = Session { version: 2, last_access: clock.now(), ..first.clone() };
        now_or_panic(cold.put(&second, home, clock.now())).unwrap();
        let version = |reader| match now_or_panic(cold.get(&first.id, reader)) {
            ColdLookup::Found(s) => s.version,
            other => panic!("{other:?}"),
        };
        assert_eq!((version(home), version(away)), (2, 1), "not yet replicated");
        assert_eq!(lock(&cold.state).previous.len(), 1);
        clock.advance(Duration::from_secs(11));
        assert_eq!(version(away), 2, "past the longest delay");
        now_or_panic(cold.put(&Session { version: 3, ..second.clone() }, home, clock.now())).unwrap();
        let state = lock(&cold.state);
        assert_eq!(
            state.previous.get(&first.id).map(|p| p.rec.version()),
            Some(2),
            "the first pruned, the second kept"
        );
        assert_eq!(state.previous_order.len(), 1);
    }
}
