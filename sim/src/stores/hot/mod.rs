//! [`SimHotStore`]: one region's simulated Redis cluster.
//!
//! Its records are compact and stay so: it keeps no [`hotcold_engine::Activity`]. The engine's
//! stores count every lookup's request in the session; this one does not, and the sessions it
//! answers carry `Activity::default()` (the simulator counts activity in its driver instead,
//! `crate::analytics`), so the conformance suite skips the activity checks for it.

mod idle;
mod state;
mod table;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotcold_engine::store::IdleEntry;
use hotcold_engine::{
    HotLookup, HotStore, HotTouch, HotUpdate, HotWrite, RegionId, Session, SessionData, SessionId, StoreError,
    Timestamp, UserId,
};

use self::idle::{IDLE_PREFETCH_AHEAD, IdleIndex, MINUTE_MS};
use self::state::{HotState, Indexed};
use self::table::{HotRec, HotTable};
use super::meter::Gauge;
use super::{StoreContext, clamp32, first_by_id, lock, region_from, region_of};
use crate::prefetch::{prefetch, prefetch_address};

/// One region's simulated Redis cluster.
#[derive(Debug)]
pub struct SimHotStore {
    region: usize,
    context: Arc<StoreContext>,
    overhead: u64,
    available: AtomicBool,
    state: Mutex<HotState>,
    /// Address and length of the slab of records, as last published (prefetch hints only).
    slots_at: AtomicPtr<HotRec>,
    slots_len: AtomicUsize,
}

/// What a hot tier held at one moment (for failover accounting).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HotSnapshotEntry {
    /// The session.
    pub(crate) id: SessionId,
    /// Its hot version.
    pub(crate) version: u64,
    /// Its hot TTL deadline, ms.
    pub(crate) expires_at: u64,
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

impl SimHotStore {
    /// An empty tier for `region`; `bytes_overhead` is Redis's per-session overhead;
    /// `track_dirty` keeps the write-behind work list.
    pub fn new(region: usize, context: Arc<StoreContext>, bytes_overhead: u64, track_dirty: bool) -> Self {
        Self {
            region,
            state: Mutex::new(HotState::new(Arc::clone(&context), track_dirty)),
            context,
            overhead: bytes_overhead,
            available: AtomicBool::new(true),
            slots_at: AtomicPtr::new(std::ptr::null_mut()),
            slots_len: AtomicUsize::new(0),
        }
    }

    /// Takes the tier down or brings it back; the data stays.
    pub(crate) fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    /// Loses every session (a region's Redis cluster lost); returns what it held.
    pub(crate) fn wipe(&self) -> Vec<HotSnapshotEntry> {
        let now = self.context.now();
        let mut state = lock(&self.state);
        let lost = state
            .map
            .iter()
            .map(|r| HotSnapshotEntry { id: r.id, version: u64::from(r.version), expires_at: r.expires_at })
            .collect();
        state.map = HotTable::default();
        self.publish_slots(&state);
        state.idle = IdleIndex::default();
        if let Some(dirty) = &mut state.dirty {
            *dirty = BTreeSet::new();
        }
        state.guests = BTreeSet::new();
        let (count, bytes) = (state.count.value, state.bytes.value);
        state.count_sub(now, count);
        state.bytes.sub(now, bytes);
        lost
    }

    /// Records held (sessions and tombstones, live or not yet dropped) of restricted sessions
    /// this region may not store: a scan of the whole tier, for the end-of-run residency check.
    pub(crate) fn stored_outside(&self) -> u64 {
        let state = lock(&self.state);
        state.map.iter().filter(|r| !self.context.allows(&r.id, self.region)).count() as u64
    }

    /// Sessions held (a gauge over time).
    pub(crate) fn count(&self) -> Gauge {
        let mut state = lock(&self.state);
        state.count.advance(self.context.now());
        state.count
    }

    /// Bytes held before fragmentation (a gauge over time).
    pub(crate) fn bytes(&self) -> Gauge {
        let mut state = lock(&self.state);
        state.bytes.advance(self.context.now());
        state.bytes
    }

    /// Highest (sessions, bytes) held since the last call: one peak window.
    pub(crate) fn take_window_peaks(&self) -> (u64, u64) {
        let mut state = lock(&self.state);
        (state.count.take_window_peak(), state.bytes.take_window_peak())
    }

    /// Starts fetching the record in `slot` into the CPU cache (the simulator calls this one event
    /// ahead). Only a hint: it changes no state and no result, and takes no lock (it reads the
    /// slab's address as last published, which at worst is stale).
    pub(crate) fn prefetch(&self, slot: u32) {
        if (slot as usize) < self.slots_len.load(Ordering::Relaxed) {
            prefetch_address(self.slots_at.load(Ordering::Relaxed).cast_const().wrapping_add(slot as usize));
        }
    }

    /// Publishes where the slab is, for [`SimHotStore::prefetch`] (after it may have moved).
    fn publish_slots(&self, state: &HotState) {
        self.slots_at.store(state.map.slots.as_ptr().cast_mut(), Ordering::Relaxed);
        self.slots_len.store(state.map.slots.len(), Ordering::Relaxed);
    }

    #[inline]
    fn check(&self) -> Result<(), StoreError> {
        self.context.redis_call(self.region);
        if self.available.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(StoreError::unavailable("redis (simulated)", "region outage"))
        }
    }

    /// A hot access: finds the live record of `id` (the simulator's hint first, else one hash
    /// lookup), moves its last access and TTL; a record past its TTL is removed.
    #[inline]
    fn touch_record(&self, state: &mut HotState, id: &SessionId, now: Timestamp, ttl: Duration) -> Touch {
        let hint = self.context.hint_for(self.region);
        let Some(slot) = state.map.hinted(hint, id).or_else(|| state.map.slot(id)) else {
            return Touch::Miss;
        };
        let rec = &mut state.map.slots[slot as usize];
        if rec.expires_at > now.0 {
            rec.last_access = now.0;
            rec.expires_at = (now + ttl).0;
            self.context.found(self.region, slot);
            return Touch::Live(slot);
        }
        // A tombstone that ran out is simply gone, as in Redis: no session expired.
        let was_session = rec.sessions() == 1;
        state.remove(id, now.0, self.overhead);
        if was_session { Touch::Expired } else { Touch::Miss }
    }

    fn session(&self, id: SessionId, r: &HotRec) -> Session {
        Session {
            id,
            user_id: self.context.user.clone(),
            data: SessionData::opaque(r.data_len as usize),
            version: u64::from(r.version),
            created_at: Timestamp(r.created_at),
            last_access: Timestamp(r.last_access),
            persisted_version: u64::from(r.persisted),
            hot_region: region_from(r.hot_region),
            activity: hotcold_engine::Activity::default(),
        }
    }

    fn size(&self, r: &HotRec) -> u64 {
        u64::from(r.data_len) + self.overhead
    }
}

impl HotStore for SimHotStore {
    async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        if let Err(e) = self.check() {
            return HotLookup::Unavailable(e);
        }
        let mut state = lock(&self.state);
        match self.touch_record(&mut state, id, now, ttl) {
            Touch::Live(slot) => HotLookup::Hit(self.session(*id, &state.map.slots[slot as usize])),
            Touch::Miss => HotLookup::Miss,
            Touch::Expired => HotLookup::Expired,
        }
    }

    async fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotTouch {
        if let Err(e) = self.check() {
            return HotTouch::Unavailable(e);
        }
        let mut state = lock(&self.state);
        match self.touch_record(&mut state, id, now, ttl) {
            Touch::Live(slot) => HotTouch::Hit { version: u64::from(state.map.slots[slot as usize].version) },
            Touch::Miss => HotTouch::Miss,
            Touch::Expired => HotTouch::Expired,
        }
    }

    async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
        self.check()?;
        let now = self.context.now();
        let mut state = lock(&self.state);
        if let Ok(existing) = state.live(None, &session.id, now, self.overhead) {
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
        self.context.hot_written(&session.id, self.region, size);
        let (slot, old) = state.map.insert(rec);
        // A new entry in the bucket of the session's last access; an older one turns stale.
        let listing = state.idle.add(session.last_access.0 / MINUTE_MS, slot);
        state.map.slots[slot as usize].listing = listing;
        self.publish_slots(&state);
        self.context.found(self.region, slot);
        if let Some(old) = old {
            let old_size = self.size(&old);
            state.bytes.sub(now, old_size);
            state.count_sub(now, old.sessions());
        }
        state.count_add(now, rec.sessions());
        state.bytes.add(now, size);
        if let Some(dirty) = &mut state.dirty {
            if session.is_dirty() {
                dirty.insert(session.id);
            } else {
                dirty.remove(&session.id);
            }
        }
        if session.hot_region.is_some() && !session.is_tombstone() {
            state.guests.insert(session.id);
        } else if !state.guests.is_empty() {
            state.guests.remove(&session.id);
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
        let mut state = lock(&self.state);
        let rec = match state.live(self.context.hint_for(self.region), id, now.0, overhead) {
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
        self.context.hot_written(id, self.region, new_len + overhead);
        state.bytes.sub(now.0, old_len);
        state.bytes.add(now.0, new_len);
        if let Some(dirty) = &mut state.dirty {
            dirty.insert(*id);
        }
        Ok(HotUpdate::Updated(session))
    }

    async fn take(&self, id: &SessionId) -> HotLookup {
        if let Err(e) = self.check() {
            return HotLookup::Unavailable(e);
        }
        let now = self.context.now();
        let mut state = lock(&self.state);
        if let Err(answer) = state.live(None, id, now, self.overhead) {
            return answer;
        }
        state.remove(id, now, self.overhead).map_or(HotLookup::Miss, |r| HotLookup::Hit(self.session(*id, &r)))
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.check()?;
        let now = self.context.now();
        Ok(lock(&self.state).remove(id, now, self.overhead).is_some())
    }

    async fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let now = self.context.now();
        let mut state = lock(&self.state);
        let unchanged =
            state.map.get(id).is_some_and(|r| u64::from(r.version) == version && r.last_access == last_access.0);
        if unchanged {
            state.remove(id, now, self.overhead);
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
        let mut state = lock(&self.state);
        let state = &mut *state;
        let mut found = Vec::new();
        let (cutoff, now) = (idle_since.0, now.0);
        let cutoff_minute = cutoff / MINUTE_MS;
        let mut bucket = 0;
        while found.len() < limit && bucket < state.idle.buckets.len() {
            let minute = state.idle.first_minute + bucket as u64;
            if minute > cutoff_minute {
                break;
            }
            // Entries kept are compacted in place, in order, so the prefetch distance holds.
            let mut entries = std::mem::take(&mut state.idle.buckets[bucket]);
            let (mut read, mut kept) = (0, 0);
            while read < entries.len() {
                if found.len() >= limit {
                    entries.copy_within(read.., kept);
                    kept += entries.len() - read;
                    break;
                }
                if let Some(&(ahead, _)) = entries.get(read + IDLE_PREFETCH_AHEAD) {
                    if let Some(rec) = state.map.slots.get(ahead as usize) {
                        prefetch(rec);
                    }
                }
                let (slot, listing) = entries[read];
                read += 1;
                match state.classify(slot, listing, cutoff, now) {
                    Indexed::Stale => {}
                    Indexed::Ended(id) => {
                        state.remove(&id, now, overhead);
                    }
                    Indexed::Expired(id) => {
                        state.remove(&id, now, overhead);
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
                        let listing = state.idle.add(touched, slot);
                        state.map.slots[slot as usize].listing = listing;
                    }
                }
            }
            entries.truncate(kept);
            state.idle.buckets[bucket] = entries;
            if bucket == 0 && minute < cutoff_minute && state.idle.buckets[0].is_empty() {
                state.idle.buckets.pop_front();
                state.idle.first_minute += 1;
            } else {
                bucket += 1;
            }
        }
        Ok(found)
    }

    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let state = lock(&self.state);
        let Some(dirty) = &state.dirty else { return Ok(Vec::new()) };
        // A copy past its TTL is gone (Redis has dropped the key): flushing it would bring an
        // expired session back from the cold tier.
        let now = self.context.now();
        Ok(dirty
            .iter()
            .filter_map(|id| state.map.get(id).filter(|r| r.expires_at > now).map(|r| self.session(*id, r)))
            .take(limit)
            .collect())
    }

    async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
        self.check()?;
        let mut state = lock(&self.state);
        let clean = match state.map.get_mut(id) {
            Some(rec) => {
                rec.persisted = rec.persisted.max(clamp32(version));
                rec.persisted >= rec.version
            }
            None => true,
        };
        if clean {
            if let Some(dirty) = &mut state.dirty {
                dirty.remove(id);
            }
        }
        Ok(())
    }

    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let now = self.context.now();
        let state = lock(&self.state);
        if user != &self.context.user {
            return Ok(Vec::new());
        }
        Ok(state.map.iter().filter(|r| r.expires_at > now).map(|r| self.session(r.id, r)).collect())
    }

    /// The simulator's one user owns every session, and no user index is kept: a page is a scan
    /// of the whole table for the `limit` smallest ids after `after` (listing is never on the
    /// simulated request path; the conformance suite skips per-user checks here).
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let now = self.context.now();
        let state = lock(&self.state);
        if user != &self.context.user {
            return Ok(Vec::new());
        }
        let mut page: Vec<&HotRec> = state
            .map
            .iter()
            .filter(|r| r.expires_at > now && r.sessions() == 1 && after.is_none_or(|after| r.id > *after))
            .collect();
        first_by_id(&mut page, limit, |r| r.id);
        Ok(page.into_iter().map(|r| self.session(r.id, r)).collect())
    }

    async fn session_count(&self) -> Result<u64, StoreError> {
        self.check()?;
        // The session gauge, which leaves tombstones out (the table holds them too).
        Ok(lock(&self.state).count.value)
    }

    async fn guests(&self, home: RegionId, limit: usize, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let state = lock(&self.state);
        Ok(state
            .guests
            .iter()
            .filter(|id| id.home() == home)
            .filter_map(|id| state.map.get(id).filter(|r| r.expires_at > now.0))
            .take(limit)
            .map(|r| self.session(r.id, r))
            .collect())
    }
}
