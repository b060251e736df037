//! In-memory implementations of the three store traits.
//!
//! They serve the engine's tests and benchmarks, the conformance suite (as its reference), and
//! single-process use of the engine without Redis or DynamoDB. (The simulator has its own stores,
//! with latency, capacity and cost accounting.) They are compact and fast: one hash map keyed by
//! [`SessionId`] (already a uniform hash), a FIFO idle index with lazy invalidation (every access
//! appends `(last_access, id)`; entries whose session moved on are dropped when met), no timers.
//! Each has an availability switch so tests can take a store down.
//!
//! The per-user index is an ordered set of ids per user, so a page of a user's sessions
//! ([`HotStore::sessions_of_user_page`]) is a range read; without the index a page is a scan of
//! every session that keeps only the `limit` smallest ids it meets.

use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::analytics::VISIT_GAP_MS;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::StoreError;
use crate::session::{RegionId, Session, SessionData, SessionId, TOMBSTONE_VERSION, UserId};
use crate::store::{
    AuditSink, ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor, HotLookup, HotStore, HotTouch, HotUpdate,
    HotWrite, IdleEntry,
};
use crate::time::Timestamp;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every store operation
/// leaves the maps consistent before it can panic, so the data is still sound.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct HotEntry {
    session: Session,
    expires_at: Timestamp,
}

#[derive(Debug, Default)]
struct HotInner {
    sessions: FxHashMap<SessionId, HotEntry>,
    /// `(last_access, id)` in the order of access; stale entries are skipped and dropped lazily.
    /// Accesses arrive in time order, so this FIFO is sorted by time...
    idle: VecDeque<(Timestamp, SessionId)>,
    /// ...except for a put whose last access is older than the newest entry (a session moved in
    /// from elsewhere with its own history): those few wait here, sorted.
    idle_late: BTreeSet<(Timestamp, SessionId)>,
    /// Sessions whose data the cold tier lacks (write-behind's work list).
    dirty: FxHashSet<SessionId>,
    by_user: Option<FxHashMap<UserId, BTreeSet<SessionId>>>,
    /// Failover copies held here (sessions stored with `hot_region` set), for
    /// [`HotStore::guests`].
    guests: BTreeSet<SessionId>,
}

/// The ids strictly after `after`, as a range bound of the per-user index.
fn after_bound(after: Option<&SessionId>) -> (Bound<SessionId>, Bound<SessionId>) {
    (after.map_or(Bound::Unbounded, |id| Bound::Excluded(*id)), Bound::Unbounded)
}

/// The `limit` smallest of `ids`, ascending: a scan's page, holding at most `limit` ids.
fn smallest(ids: impl Iterator<Item = SessionId>, limit: usize) -> Vec<SessionId> {
    let mut kept = BinaryHeap::with_capacity(limit.min(1024) + 1);
    for id in ids {
        if kept.len() < limit {
            kept.push(id);
        } else if kept.peek().is_some_and(|largest| id < *largest) {
            kept.pop();
            kept.push(id);
        }
    }
    kept.into_sorted_vec()
}

impl HotInner {
    fn index_access(&mut self, at: Timestamp, id: SessionId) {
        match self.idle.back() {
            // Read and updated within one millisecond: one entry stands for both.
            Some(&newest) if newest == (at, id) => {}
            Some(&(newest, _)) if at < newest => {
                self.idle_late.insert((at, id));
            }
            _ => self.idle.push_back((at, id)),
        }
    }

    fn insert(&mut self, session: Session, ttl: Duration) {
        let id = session.id;
        // A tombstone is no session to demote: out of the idle index, it ends with its TTL.
        if !session.is_tombstone() {
            self.index_access(session.last_access, id);
        }
        if session.is_dirty() {
            self.dirty.insert(id);
        } else {
            self.dirty.remove(&id);
        }
        // A tombstone belongs to no user: listings never see it.
        if let Some(by_user) = self.by_user.as_mut().filter(|_| !session.is_tombstone()) {
            by_user.entry(session.user_id.clone()).or_default().insert(id);
        }
        if session.hot_region.is_some() && !session.is_tombstone() {
            self.guests.insert(id);
        } else {
            self.guests.remove(&id);
        }
        let expires_at = session.last_access + ttl;
        self.sessions.insert(id, HotEntry { session, expires_at });
    }

    fn remove(&mut self, id: &SessionId) -> Option<Session> {
        let entry = self.sessions.remove(id)?;
        self.dirty.remove(id);
        self.guests.remove(id);
        if let Some(by_user) = &mut self.by_user {
            if let Some(ids) = by_user.get_mut(&entry.session.user_id) {
                ids.remove(id);
                if ids.is_empty() {
                    by_user.remove(&entry.session.user_id);
                }
            }
        }
        Some(entry.session)
    }

    /// What an idle-index entry `(indexed_at, id)` stands for at `now`.
    fn classify(&self, indexed_at: Timestamp, id: &SessionId, now: Timestamp) -> Indexed {
        match self.sessions.get(id) {
            Some(entry) if entry.session.is_tombstone() => Indexed::Stale,
            Some(entry) if entry.session.last_access == indexed_at => {
                if entry.expires_at <= now {
                    Indexed::Expired
                } else {
                    Indexed::Live
                }
            }
            _ => Indexed::Stale,
        }
    }

    /// The live entry for `id`, dropping it if its TTL has run out by `now`.
    #[allow(clippy::result_large_err, reason = "the error is a Miss, never the large Hit; a private helper")]
    fn live(&mut self, id: &SessionId, now: Timestamp) -> Result<&mut HotEntry, HotLookup> {
        match self.sessions.get(id) {
            None => Err(HotLookup::Miss),
            Some(entry) if entry.expires_at <= now => {
                // A tombstone that ran out is simply gone, as in Redis: no session expired.
                let answer = if entry.session.is_tombstone() { HotLookup::Miss } else { HotLookup::Expired };
                self.remove(id);
                Err(answer)
            }
            Some(_) => Ok(self.sessions.get_mut(id).expect("entry checked above")),
        }
    }
}

/// Whether `id` is already among the candidates of this call.
fn offered(found: &[IdleEntry], id: &SessionId) -> bool {
    found.iter().any(|e| matches!(e, IdleEntry::Idle(s) if s.id == *id))
}

/// What an idle-index entry stands for.
enum Indexed {
    /// The session's current last access: a real candidate.
    Live,
    /// The session is past its TTL: drop it.
    Expired,
    /// The session moved on (touched, removed): drop the entry.
    Stale,
}

/// One region's hot tier in memory, standing in for a Redis cluster.
#[derive(Debug)]
pub struct MemoryHotStore {
    label: String,
    available: AtomicBool,
    /// The latest `now` any call passed in: lets calls without a `now` honour TTLs.
    latest_now: AtomicU64,
    inner: Mutex<HotInner>,
    /// The idle gap that starts a new visit in the sessions' activity, ms.
    visit_gap_ms: u64,
}

impl MemoryHotStore {
    /// An empty store with a per-user index (for list, revoke and erase).
    pub fn new(label: impl Into<String>) -> Self {
        Self::build(label.into(), true)
    }

    /// An empty store without the per-user index: less memory, and user queries scan every
    /// session (benchmarks and large single-process runs that never list a user's sessions).
    pub fn without_user_index(label: impl Into<String>) -> Self {
        Self::build(label.into(), false)
    }

    fn build(label: String, user_index: bool) -> Self {
        let inner = HotInner { by_user: user_index.then(FxHashMap::default), ..HotInner::default() };
        Self {
            label,
            available: AtomicBool::new(true),
            latest_now: AtomicU64::new(0),
            inner: Mutex::new(inner),
            visit_gap_ms: VISIT_GAP_MS,
        }
    }

    /// Counts a request more than `gap` after the session's previous one as a new visit
    /// ([`crate::Activity::record_with_gap`]); default [`VISIT_GAP_MS`]. A deployment passes its
    /// promotion threshold, as the Redis store does.
    #[must_use]
    pub fn with_visit_gap(mut self, gap: Duration) -> Self {
        self.visit_gap_ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Takes the store down (`false`) or brings it back (`true`). While down every call answers
    /// unavailable; the data stays.
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    /// Loses every session, as when a region's Redis cluster is lost.
    pub fn wipe(&self) {
        let mut inner = lock(&self.inner);
        let user_index = inner.by_user.is_some();
        *inner = HotInner { by_user: user_index.then(FxHashMap::default), ..HotInner::default() };
    }

    /// Every session held, in no particular order (tests compare it with a model).
    pub fn snapshot(&self) -> Vec<Session> {
        lock(&self.inner).sessions.values().map(|e| e.session.clone()).collect()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.available.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(StoreError::unavailable(&self.label, "switched off"))
        }
    }

    fn observe(&self, now: Timestamp) -> Timestamp {
        Timestamp(self.latest_now.fetch_max(now.0, Ordering::Relaxed).max(now.0))
    }

    fn latest(&self) -> Timestamp {
        Timestamp(self.latest_now.load(Ordering::Relaxed))
    }
}

impl HotStore for MemoryHotStore {
    async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        if let Err(e) = self.check() {
            return HotLookup::Unavailable(e);
        }
        let now = self.observe(now);
        let mut inner = lock(&self.inner);
        let entry = match inner.live(id, now) {
            Ok(entry) => entry,
            Err(answer) => return answer,
        };
        entry.session.last_access = now;
        entry.expires_at = now + ttl;
        if !entry.session.is_tombstone() {
            // Every lookup that finds the session is one request (a removal's marker serves none).
            entry.session.activity.record_with_gap(now, self.visit_gap_ms);
        }
        let session = entry.session.clone();
        if !session.is_tombstone() {
            inner.index_access(now, *id);
        }
        HotLookup::Hit(session)
    }

    async fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotTouch {
        if let Err(e) = self.check() {
            return HotTouch::Unavailable(e);
        }
        let now = self.observe(now);
        let mut inner = lock(&self.inner);
        let entry = match inner.live(id, now) {
            Ok(entry) => entry,
            Err(answer) => return HotTouch::from(answer),
        };
        entry.session.last_access = now;
        entry.expires_at = now + ttl;
        let version = entry.session.version;
        if version < TOMBSTONE_VERSION {
            entry.session.activity.record_with_gap(now, self.visit_gap_ms);
            inner.index_access(now, *id);
        }
        HotTouch::Hit { version }
    }

    async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
        self.check()?;
        let now = self.latest();
        let mut inner = lock(&self.inner);
        if let Ok(existing) = inner.live(&session.id, now) {
            if existing.session.freshness() > session.freshness() {
                return Ok(HotWrite::KeptNewer);
            }
        }
        inner.insert(session.clone(), ttl);
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
        let now = self.observe(now);
        let mut inner = lock(&self.inner);
        let entry = match inner.live(id, now) {
            Ok(entry) => entry,
            Err(_) => return Ok(HotUpdate::Miss),
        };
        if entry.session.version != expected_version {
            return Ok(HotUpdate::Conflict { current: entry.session.version });
        }
        entry.session.version += 1;
        entry.session.data = data.clone();
        entry.session.last_access = now;
        entry.expires_at = now + ttl;
        let session = entry.session.clone();
        inner.index_access(now, *id);
        inner.dirty.insert(*id);
        Ok(HotUpdate::Updated(session))
    }

    async fn take(&self, id: &SessionId) -> HotLookup {
        if let Err(e) = self.check() {
            return HotLookup::Unavailable(e);
        }
        let now = self.latest();
        let mut inner = lock(&self.inner);
        if let Err(answer) = inner.live(id, now) {
            return answer;
        }
        inner.remove(id).map_or(HotLookup::Miss, HotLookup::Hit)
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).remove(id).is_some())
    }

    async fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        let unchanged = inner
            .sessions
            .get(id)
            .is_some_and(|e| e.session.version == version && e.session.last_access == last_access);
        if unchanged {
            inner.remove(id);
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
        let now = self.observe(now);
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let mut found = Vec::new();
        let latest_id = SessionId::from_parts([u8::MAX; 16], RegionId(u16::MAX));
        let late: Vec<(Timestamp, SessionId)> = inner.idle_late.range(..=(idle_since, latest_id)).copied().collect();
        for (indexed_at, id) in late {
            if found.len() >= limit {
                break;
            }
            match inner.classify(indexed_at, &id, now) {
                Indexed::Live if offered(&found, &id) => {
                    inner.idle_late.remove(&(indexed_at, id));
                }
                Indexed::Live => found.push(IdleEntry::Idle(inner.sessions[&id].session.clone())),
                Indexed::Expired => {
                    inner.remove(&id);
                    inner.idle_late.remove(&(indexed_at, id));
                    found.push(IdleEntry::Vanished(id));
                }
                Indexed::Stale => {
                    inner.idle_late.remove(&(indexed_at, id));
                }
            }
        }
        let mut position = 0;
        while found.len() < limit {
            let Some(&(indexed_at, id)) = inner.idle.get(position) else { break };
            let keep = match inner.classify(indexed_at, &id, now) {
                Indexed::Stale => false,
                Indexed::Live | Indexed::Expired if indexed_at > idle_since => break,
                // Two accesses at one time stamp with another session's between: offer it once.
                Indexed::Live if offered(&found, &id) => false,
                Indexed::Live => {
                    found.push(IdleEntry::Idle(inner.sessions[&id].session.clone()));
                    true
                }
                Indexed::Expired => {
                    inner.remove(&id);
                    found.push(IdleEntry::Vanished(id));
                    false
                }
            };
            if !keep && position == 0 {
                inner.idle.pop_front();
            } else {
                position += 1;
            }
        }
        Ok(found)
    }

    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let inner = lock(&self.inner);
        // A copy past its TTL is gone (Redis has dropped the key): flushing it would bring an
        // expired session back from the cold tier.
        let now = self.latest();
        Ok(inner
            .dirty
            .iter()
            .filter_map(|id| inner.sessions.get(id))
            .filter(|e| e.expires_at > now)
            .take(limit)
            .map(|e| e.session.clone())
            .collect())
    }

    async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        if let Some(entry) = inner.sessions.get_mut(id) {
            entry.session.persisted_version = entry.session.persisted_version.max(version);
            if !entry.session.is_dirty() {
                inner.dirty.remove(id);
            }
        }
        Ok(())
    }

    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let now = self.latest();
        let inner = lock(&self.inner);
        // Tombstones belong to no user (one written straight over a session is still indexed).
        let live = |e: &&HotEntry| e.expires_at > now && !e.session.is_tombstone();
        Ok(match &inner.by_user {
            Some(by_user) => by_user
                .get(user)
                .into_iter()
                .flatten()
                .filter_map(|id| inner.sessions.get(id))
                .filter(live)
                .map(|e| e.session.clone())
                .collect(),
            None => inner
                .sessions
                .values()
                .filter(|e| &e.session.user_id == user)
                .filter(live)
                .map(|e| e.session.clone())
                .collect(),
        })
    }

    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let now = self.latest();
        let inner = lock(&self.inner);
        // As `sessions_of_user`: tombstones (one written over a session is still indexed) and
        // sessions past their TTL are skipped, and the page reads on past them.
        let live = |id: &SessionId| {
            inner
                .sessions
                .get(id)
                .filter(|e| e.expires_at > now && !e.session.is_tombstone() && &e.session.user_id == user)
        };
        let ids: Vec<SessionId> = match &inner.by_user {
            Some(by_user) => by_user
                .get(user)
                .into_iter()
                .flat_map(|ids| ids.range(after_bound(after)))
                .filter(|id| live(id).is_some())
                .take(limit)
                .copied()
                .collect(),
            None => smallest(
                inner.sessions.keys().filter(|id| after.is_none_or(|after| *id > after) && live(id).is_some()).copied(),
                limit,
            ),
        };
        Ok(ids.iter().filter_map(live).map(|e| e.session.clone()).collect())
    }

    async fn session_count(&self) -> Result<u64, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).sessions.values().filter(|e| !e.session.is_tombstone()).count() as u64)
    }

    async fn guests(&self, home: RegionId, limit: usize, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let now = self.observe(now);
        let inner = lock(&self.inner);
        Ok(inner
            .guests
            .iter()
            .filter(|id| id.home() == home)
            .filter_map(|id| inner.sessions.get(id).filter(|entry| entry.expires_at > now))
            .map(|entry| entry.session.clone())
            .take(limit)
            .collect())
    }
}

#[derive(Debug, Default)]
struct ColdInner {
    sessions: FxHashMap<SessionId, Session>,
    by_user: Option<FxHashMap<UserId, BTreeSet<SessionId>>>,
    /// Each home region's expiry sweep mark.
    sweep_marks: FxHashMap<RegionId, ExpiryCursor>,
}

/// The global cold table in memory: one strongly consistent map, so every region reads what any
/// region wrote at once (no replication delay).
#[derive(Debug)]
pub struct MemoryColdStore {
    label: String,
    available: AtomicBool,
    inner: Mutex<ColdInner>,
}

impl MemoryColdStore {
    /// An empty table with a per-user index.
    pub fn new(label: impl Into<String>) -> Self {
        Self::build(label.into(), true)
    }

    /// An empty table without the per-user index (user queries scan).
    pub fn without_user_index(label: impl Into<String>) -> Self {
        Self::build(label.into(), false)
    }

    fn build(label: String, user_index: bool) -> Self {
        let inner = ColdInner {
            sessions: FxHashMap::default(),
            by_user: user_index.then(FxHashMap::default),
            sweep_marks: FxHashMap::default(),
        };
        Self { label, available: AtomicBool::new(true), inner: Mutex::new(inner) }
    }

    /// Takes the table down or brings it back; the data stays.
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    /// Every record held, in no particular order.
    pub fn snapshot(&self) -> Vec<Session> {
        lock(&self.inner).sessions.values().cloned().collect()
    }

    fn bad_cursor(&self) -> StoreError {
        StoreError::Corrupt { backend: self.label.clone(), detail: "expiry cursor malformed".into() }
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.available.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(StoreError::unavailable(&self.label, "switched off"))
        }
    }
}

impl ColdInner {
    fn write(&mut self, session: &Session) -> ColdWrite {
        let indexed = match self.sessions.get(&session.id) {
            Some(existing) if existing.freshness() > session.freshness() => return ColdWrite::Stale,
            Some(existing) => !existing.is_tombstone(),
            None => false,
        };
        // A tombstone belongs to no user: it leaves the index of the user whose session it ends.
        if indexed && session.is_tombstone() {
            self.remove(&session.id);
        } else if !indexed && !session.is_tombstone() {
            if let Some(by_user) = &mut self.by_user {
                by_user.entry(session.user_id.clone()).or_default().insert(session.id);
            }
        }
        self.sessions.insert(session.id, session.clone());
        ColdWrite::Written
    }

    fn remove(&mut self, id: &SessionId) -> Option<Session> {
        let session = self.sessions.remove(id)?;
        if let Some(by_user) = &mut self.by_user {
            if let Some(ids) = by_user.get_mut(&session.user_id) {
                ids.remove(id);
                if ids.is_empty() {
                    by_user.remove(&session.user_id);
                }
            }
        }
        Some(session)
    }
}

impl ColdStore for MemoryColdStore {
    async fn get(&self, id: &SessionId, _reader: RegionId) -> ColdLookup {
        if let Err(e) = self.check() {
            return ColdLookup::Unavailable(e);
        }
        lock(&self.inner).sessions.get(id).cloned().map_or(ColdLookup::Miss, ColdLookup::Found)
    }

    async fn put(&self, session: &Session, _writer: RegionId, _now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).write(session))
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        _writer: RegionId,
        _now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        self.check()?;
        let mut inner = lock(&self.inner);
        Ok(sessions.iter().map(|s| inner.write(s)).collect())
    }

    async fn delete(&self, id: &SessionId, _writer: RegionId, _now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).remove(id))
    }

    async fn sessions_of_user(&self, user: &UserId, _reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let inner = lock(&self.inner);
        Ok(match &inner.by_user {
            Some(by_user) => {
                by_user.get(user).into_iter().flatten().filter_map(|id| inner.sessions.get(id).cloned()).collect()
            }
            None => inner.sessions.values().filter(|s| &s.user_id == user).cloned().collect(),
        })
    }

    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        _reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        let inner = lock(&self.inner);
        // Tombstones leave the index when written, and belong to no user in a scan.
        let ids: Vec<SessionId> = match &inner.by_user {
            Some(by_user) => by_user
                .get(user)
                .into_iter()
                .flat_map(|ids| ids.range(after_bound(after)))
                .take(limit)
                .copied()
                .collect(),
            None => smallest(
                inner
                    .sessions
                    .values()
                    .filter(|s| &s.user_id == user && after.is_none_or(|after| &s.id > after))
                    .map(|s| s.id),
                limit,
            ),
        };
        Ok(ids.iter().filter_map(|id| inner.sessions.get(id).cloned()).collect())
    }

    /// Sweep order: last access, then id; a cursor is `<last access, 20 digits>.<id hex>.<home>`.
    async fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<ExpiredPage, StoreError> {
        self.check()?;
        let after = after.map(|c| c.position().ok_or_else(|| self.bad_cursor())).transpose()?;
        let inner = lock(&self.inner);
        let mut expired: Vec<Session> = inner
            .sessions
            .values()
            .filter(|s| s.id.home() == home && s.last_access < before && !s.is_tombstone())
            .filter(|s| after.is_none_or(|after| (s.last_access, s.id) > after))
            .cloned()
            .collect();
        expired.sort_by_key(|s| (s.last_access, s.id));
        expired.truncate(limit);
        let next = expired.last().map(|s| ExpiryCursor::at(s.last_access, &s.id));
        Ok(ExpiredPage { sessions: expired, next })
    }

    async fn sweep_mark(&self, home: RegionId) -> Result<Option<ExpiryCursor>, StoreError> {
        self.check()?;
        Ok(lock(&self.inner).sweep_marks.get(&home).cloned())
    }

    async fn set_sweep_mark(&self, home: RegionId, mark: &ExpiryCursor) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.inner).sweep_marks.insert(home, mark.clone());
        Ok(())
    }
}

/// The audit trail in memory: every record, or (for benchmarks and long runs) counts only.
#[derive(Debug)]
pub struct MemoryAudit {
    keep_records: bool,
    available: AtomicBool,
    counts: [AtomicU64; AuditKind::ALL.len()],
    records: Mutex<Vec<AuditEvent>>,
}

impl Default for MemoryAudit {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryAudit {
    /// A trail that keeps every record.
    pub fn new() -> Self {
        Self::build(true)
    }

    /// A trail that only counts records by kind (constant memory).
    pub fn counting() -> Self {
        Self::build(false)
    }

    fn build(keep_records: bool) -> Self {
        Self {
            keep_records,
            available: AtomicBool::new(true),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            records: Mutex::new(Vec::new()),
        }
    }

    /// Takes the trail down or brings it back.
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    /// A copy of every record kept, in append order.
    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.records).clone()
    }

    /// How many records of `kind` were appended.
    pub fn count(&self, kind: AuditKind) -> u64 {
        let index = AuditKind::ALL.iter().position(|k| *k == kind).expect("every kind is in ALL");
        self.counts[index].load(Ordering::Relaxed)
    }
}

impl AuditSink for MemoryAudit {
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        if !self.available.load(Ordering::Relaxed) {
            return Err(StoreError::unavailable("memory audit", "switched off"));
        }
        let index = AuditKind::ALL.iter().position(|k| *k == event.kind).expect("every kind is in ALL");
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        if self.keep_records {
            lock(&self.records).push(event);
        }
        Ok(())
    }

    async fn pseudonymise_user(&self, user: &UserId, pseudonym: &UserId, _at: Timestamp) -> Result<u64, StoreError> {
        if !self.available.load(Ordering::Relaxed) {
            return Err(StoreError::unavailable("memory audit", "switched off"));
        }
        let mut changed = 0;
        for event in lock(&self.records).iter_mut() {
            if event.user_id.as_ref() == Some(user) {
                event.user_id = Some(pseudonym.clone());
                changed += 1;
            }
        }
        Ok(changed)
    }
}
