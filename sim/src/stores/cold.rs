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
use super::{StoreContext, clamp32, first_by_id, lock, region_from, region_of};

/// Replication delays are capped at this many times their mean (the tail of the exponential
/// beyond it is cut), so superseded records older than that are never read again.
const MAX_DELAY_IN_MEANS: f64 = 10.0;

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

impl ColdRec {
    /// 1 for a session, 0 for a removal's tombstone: what the record gauges and expiry counts
    /// count (a tombstone is stored, and billed by its bytes, but is no session).
    fn sessions(&self) -> u64 {
        u64::from(u64::from(self.version) < TOMBSTONE_VERSION)
    }
}

/// A cold record as it was before the write at `by` replaced it.
#[derive(Debug, Clone, Copy)]
struct Superseded {
    rec: ColdRec,
    /// `written_at` of the replacing write: pruning matches its order entry against this, so it
    /// never probes the (large, mostly uncached) main table.
    by: u64,
}

/// The table's records and gauges, behind the store's lock.
#[derive(Debug, Default)]
struct ColdState {
    map: FxHashMap<SessionId, ColdRec>,
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
    available: AtomicBool,
    state: Mutex<ColdState>,
    /// Each home region's expiry sweep mark (conformance only; runs sweep by purging).
    sweep_marks: Mutex<Vec<(RegionId, ExpiryCursor)>>,
}

impl SimColdStore {
    /// An empty table.
    pub fn new(context: Arc<StoreContext>, item_overhead: u64, mean_delay: Duration) -> Self {
        Self {
            metering: Metering { item_overhead, replicas: context.regions() as u64 },
            mean_delay_ms: mean_delay.as_secs_f64() * 1000.0,
            available: AtomicBool::new(true),
            state: Mutex::new(ColdState { by_home: vec![(0, 0); context.regions()], ..ColdState::default() }),
            sweep_marks: Mutex::new(Vec::new()),
            context,
        }
    }

    /// Records of restricted sessions held by a replica their home does not allow: the region
    /// that wrote them, when it was not allowed (the table's own replicas always are). A scan
    /// of the whole table, for the end-of-run residency check.
    pub(crate) fn stored_outside(&self) -> u64 {
        let state = lock(&self.state);
        state.map.iter().filter(|(id, r)| !self.context.allows(id, usize::from(r.writer))).count() as u64
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
        lock(&self.state).map.get(id).map(|r| u64::from(r.version))
    }

    /// Drops the tombstones idle past `ttl` (their TTL deletion), oldest first: cheap enough to
    /// run every simulated minute (it looks only at tombstones that have ended, plus one).
    pub(crate) fn purge_tombstones(&self, ttl: Duration) {
        let now = self.context.now();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let overhead = self.metering.item_overhead;
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
                if r.sessions() == 0 && r.last_access == last_access {
                    entry.remove();
                    let item = u64::from(r.data_len) + overhead;
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
        state.map.retain(|id, r| {
            let keep = r.last_access.saturating_add(ttl_ms) > now;
            if !keep {
                purged += r.sessions();
                if let Some(count) = purged_by_home.get_mut(id.home().index()) {
                    *count += r.sessions();
                }
                let item = u64::from(r.data_len) + overhead;
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
        if usize::from(r.writer) == reader || self.mean_delay_ms <= 0.0 {
            return true;
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&id.hash_bytes()[..8]);
        let hash = splitmix(
            u64::from_le_bytes(first) ^ r.written_at.rotate_left(17) ^ (reader as u64) << 56 ^ self.context.seed,
        );
        // 53 random bits as a uniform draw in (0, 1), then an exponential delay.
        let unit = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let delay = (-unit.ln() * self.mean_delay_ms).min(MAX_DELAY_IN_MEANS * self.mean_delay_ms);
        now as f64 >= r.written_at as f64 + delay
    }

    fn session(&self, id: SessionId, r: &ColdRec) -> Session {
        Session {
            id,
            user_id: self.context.user.clone(),
            data: SessionData::opaque(r.data_len as usize),
            version: u64::from(r.version),
            created_at: Timestamp(r.created_at),
            last_access: Timestamp(r.last_access),
            persisted_version: u64::from(r.version),
            hot_region: region_from(r.hot_region),
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
            if state.previous.get(&id).is_some_and(|p| p.by == at) {
                state.previous.remove(&id);
            }
        }
    }

    fn write(&self, state: &mut ColdState, session: &Session, writer: usize, now: u64) -> ColdWrite {
        let ledger = &self.context.ledger[writer];
        let data_len = session.data.len() as u64;
        let item = self.item_bytes(data_len);
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
        let replaced = match state.map.entry(session.id) {
            Entry::Occupied(mut stored) => {
                let existing = stored.get();
                if (u64::from(existing.version), Timestamp(existing.last_access)) > session.freshness() {
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
            state.tombstones.push_back((rec.last_access, session.id));
        }
        // (Down first, so a replacement never shows as a peak of one more.)
        state.count.sub(now, removed);
        state.count.add(now, added);
        let counted = &mut state.by_home[session.id.home().index()].0;
        *counted = *counted + added - removed;
        if let Some(old) = replaced {
            let old_item = self.item_bytes(u64::from(old.data_len));
            state.bytes.sub(now, old_item);
            state.by_home[session.id.home().index()].1 -= old_item;
            if self.mean_delay_ms > 0.0 && self.context.regions() > 1 {
                state.previous.insert(session.id, Superseded { rec: old, by: now });
                state.previous_order.push_back((now, session.id));
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
                ledger.charge(self.metering.read(Some(u64::from(r.data_len))));
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
                let item = self.item_bytes(u64::from(r.data_len));
                let charge = metering.delete(Some(u64::from(r.data_len)));
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
        let mut page: Vec<(&SessionId, &ColdRec)> = state
            .map
            .iter()
            .filter(|(id, r)| id.home() == home && r.sessions() == 1 && r.last_access < before.0)
            .filter(|(id, r)| after.is_none_or(|after| (r.last_access, **id) > after))
            .collect();
        page.sort_by_key(|(id, r)| (r.last_access, **id));
        page.truncate(limit);
        let next = page.last().map(|(id, r)| ExpiryCursor::at(Timestamp(r.last_access), id));
        Ok(ExpiredPage { sessions: page.into_iter().map(|(id, r)| self.session(*id, r)).collect(), next })
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
