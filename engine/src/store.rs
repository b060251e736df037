//! The three things the engine talks to: a region's hot tier ([`HotStore`], Redis), the global
//! cold table seen from a region ([`ColdStore`], DynamoDB) and the audit trail ([`AuditSink`]).
//!
//! Lookups answer with explicit enums (hit, miss, expired, unavailable) so callers can count each
//! case; other calls return `Result<_, StoreError>`. Adapters own timeouts and retries and map
//! every backend failure to [`StoreError`]; they never panic on what a backend returns.
//!
//! Methods return `impl Future + Send` so production can run the engine on a multi-threaded
//! runtime; in-memory and simulated stores return futures that are ready at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditEvent;
use crate::error::StoreError;
use crate::session::{RegionId, Session, SessionData, SessionId, UserId};
use crate::time::Timestamp;

/// The answer of a hot-tier lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotLookup {
    /// Found; `last_access` already moved to now.
    Hit(Session),
    /// Not in this hot tier.
    Miss,
    /// Was here but past its hot TTL (stores that can tell; Redis answers `Miss`).
    Expired,
    /// The hot tier could not answer.
    Unavailable(StoreError),
}

/// The answer of a hot-tier touch: a lookup for callers that need only to know the session is
/// live and at which version (most requests), so no session is decoded or copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotTouch {
    /// Found; `last_access` already moved to now. The version stored.
    Hit {
        /// The session's version.
        version: u64,
    },
    /// Not in this hot tier.
    Miss,
    /// Was here but past its hot TTL (stores that can tell; Redis answers `Miss`).
    Expired,
    /// The hot tier could not answer.
    Unavailable(StoreError),
}

impl From<HotLookup> for HotTouch {
    fn from(lookup: HotLookup) -> Self {
        match lookup {
            HotLookup::Hit(session) => Self::Hit { version: session.version },
            HotLookup::Miss => Self::Miss,
            HotLookup::Expired => Self::Expired,
            HotLookup::Unavailable(e) => Self::Unavailable(e),
        }
    }
}

/// The answer of a conditional hot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotWrite {
    /// Stored.
    Written,
    /// The store held a fresher state of the session (see [`Session::freshness`]) and kept it.
    KeptNewer,
}

/// The answer of a hot compare-and-set update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotUpdate {
    /// Changed; the session as stored now.
    Updated(Session),
    /// The stored version is not the expected one.
    Conflict {
        /// The version the store holds.
        current: u64,
    },
    /// Not in this hot tier (never was, demoted, or expired).
    Miss,
}

/// An index entry the sync job found idle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdleEntry {
    /// A session idle since at least the cutoff.
    Idle(Session),
    /// The index named a session whose hot copy is gone (its TTL ran out, e.g. while the sync job
    /// was down). The store has already dropped the index entry.
    Vanished(SessionId),
    /// An entry or record that does not decode (corrupt, or written by something else). The store
    /// has moved the entry out of the index (to a quarantine a person can inspect), so no later
    /// pass meets it again and demotion goes on. `detail` names what is wrong, never the content.
    Unreadable {
        /// What did not decode.
        detail: String,
    },
}

/// The answer of a cold-tier lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColdLookup {
    /// The newest state visible from the reading region. Expiry is not checked here: the engine
    /// applies [`crate::lifecycle`] to what it gets.
    Found(Session),
    /// No record visible from the reading region.
    Miss,
    /// The cold tier could not answer.
    Unavailable(StoreError),
}

/// The answer of a conditional cold write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdWrite {
    /// Stored.
    Written,
    /// The table held a fresher state (see [`Session::freshness`]); nothing was written. A state
    /// as fresh as the stored one is written (it may move the failover marker `hot_region`).
    Stale,
}

/// One region's hot tier (a Redis cluster in production).
///
/// A session's hot copy expires `ttl` after its last access; every access refreshes it. The store
/// keeps an idle index ordered by last access so the sync job finds candidates without scanning.
pub trait HotStore: Send + Sync {
    /// Reads a session and, in the same round trip, sets its `last_access` to `now`, refreshes its
    /// TTL to `ttl`, moves it in the idle index and counts one request at `now` in its
    /// [`Session::activity`] ([`crate::Activity::record`]; not for a tombstone). The answer
    /// carries the count. A store may coarsen the last access and the TTL (Redis's light touch),
    /// never the count; it may hold the count in the process a short while before writing it
    /// (Redis's light touch again: at most a touch granularity, lost only if the process dies).
    fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> impl Future<Output = HotLookup> + Send;

    /// [`HotStore::get_and_touch`] answering only the version. The default asks `get_and_touch`
    /// (right for stores that keep a session as one value, like Redis); stores holding records in
    /// memory skip building the session.
    fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> impl Future<Output = HotTouch> + Send {
        async move { HotTouch::from(self.get_and_touch(id, now, ttl).await) }
    }

    /// Stores a session (create, promotion) unless the store holds a fresher state of it, its
    /// activity as given (a put counts no request).
    fn put(&self, session: &Session, ttl: Duration) -> impl Future<Output = Result<HotWrite, StoreError>> + Send;

    /// Replaces the data if the stored version is `expected_version`: version + 1, `last_access`
    /// = `now`, TTL refreshed; the activity unchanged (an update counts no request: a user's
    /// change is a lookup, counted, then an update).
    fn update(
        &self,
        id: &SessionId,
        data: &SessionData,
        expected_version: u64,
        now: Timestamp,
        ttl: Duration,
    ) -> impl Future<Output = Result<HotUpdate, StoreError>> + Send;

    /// Removes and returns a session (moving a failover copy back home).
    fn take(&self, id: &SessionId) -> impl Future<Output = HotLookup> + Send;

    /// Removes a session; true if it was there.
    fn remove(&self, id: &SessionId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes a session only if its version and last access are still the given ones (the sync
    /// job's conditional removal after demotion); true if removed.
    fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Up to `limit` index entries with a last access at or before `idle_since`, oldest first.
    fn idle_candidates(
        &self,
        idle_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<IdleEntry>, StoreError>> + Send;

    /// Up to `limit` sessions whose data is newer than the cold tier's copy (write-behind).
    fn dirty(&self, limit: usize) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Records that `version` of a session reached the cold tier.
    fn mark_persisted(&self, id: &SessionId, version: u64) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every session of a user held in this hot tier.
    fn sessions_of_user(&self, user: &UserId) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// One page of [`HotStore::sessions_of_user`], so a user with many sessions is listed,
    /// revoked and erased in bounded memory: up to `limit` of the user's live sessions (no
    /// tombstones, nothing past its TTL) whose id is strictly greater than `after`, in ascending
    /// id order (see [`ColdStore::sessions_of_user_page`] for the order and the contract on
    /// short pages).
    fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Number of sessions held (a gauge; may be approximate on a cluster).
    fn session_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Up to `limit` failover copies this tier holds of sessions homed in `home`: live sessions
    /// stored with `hot_region` set (put here while their home hot tier was down), for the sync
    /// job to move home once that tier answers again ([`crate::SyncService::move_home`]). A
    /// store keeps an index of them (written by [`HotStore::put`]) and drops entries whose copy
    /// is gone, expired, a tombstone or no longer a failover copy as it meets them, so the index
    /// holds at most what failovers put here.
    fn guests(
        &self,
        home: RegionId,
        limit: usize,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;
}

/// The global cold table (DynamoDB global table) as seen from one region's replica.
///
/// Writes are conditional on freshness: an older state never overwrites a newer one; an equally
/// fresh one does (last writer wins, so the failover marker can move without a data change).
pub trait ColdStore: Send + Sync {
    /// The state of a session visible from `reader`'s replica.
    fn get(&self, id: &SessionId, reader: RegionId) -> impl Future<Output = ColdLookup> + Send;

    /// Writes one session from region `writer` at `now`, unless the table holds a fresher state.
    fn put(
        &self,
        session: &Session,
        writer: RegionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<ColdWrite, StoreError>> + Send;

    /// Writes many sessions (the sync job's batches); one answer per session, in order. Adapters
    /// split into the backend's batch limit (25 for DynamoDB).
    fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<ColdWrite>, StoreError>> + Send;

    /// Deletes a session; returns the record that was there, if any.
    fn delete(
        &self,
        id: &SessionId,
        writer: RegionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Every record of a user visible from `reader`, expired ones included.
    fn sessions_of_user(
        &self,
        user: &UserId,
        reader: RegionId,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// One page of [`ColdStore::sessions_of_user`] (expired records included, tombstones never):
    /// up to `limit` of the user's records whose id is strictly greater than `after` (all of
    /// them from the first, with `None`), in ascending id order.
    ///
    /// The order is [`SessionId`]'s `Ord`: the 128-bit digest (the order of its hex), then the
    /// home region. Redis and DynamoDB order their keys `<hex>.<home>` as strings, which is the
    /// same order for any two ids with different digests; two sessions never share a digest (128
    /// bits of a SHA-256 of 128 random bits), so the stores page in this order.
    ///
    /// A page shorter than `limit` means the user has no more records after it: a store that
    /// skips entries (gone, corrupt) reads on until the page is full or the user's records end,
    /// so callers can tell "the end" from "filtered". `limit` 0 answers an empty page.
    fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// The next page of the cold expiry sweep of `home`: up to `limit` records of sessions homed
    /// there whose last access is before `before` (the caller passes `now - cold_ttl`, so they
    /// are expired), tombstones never, strictly after `after` in the store's sweep order. A
    /// record written later always comes after every cursor handed out before it (its last
    /// access is recent), so a sweep that moves its cursor forward sees each expired record
    /// once. Records may come without their data (the index holds the rest).
    fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<ExpiredPage, StoreError>> + Send;

    /// Where `home`'s expiry sweep stands (durable, shared by every instance); `None` before its
    /// first page.
    fn sweep_mark(&self, home: RegionId) -> impl Future<Output = Result<Option<ExpiryCursor>, StoreError>> + Send;

    /// Records that `home`'s expiry sweep has reported everything up to `mark`.
    fn set_sweep_mark(
        &self,
        home: RegionId,
        mark: &ExpiryCursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Forwards [`ColdStore::expired_page`], [`ColdStore::sweep_mark`] and
/// [`ColdStore::set_sweep_mark`] to the cold store in field `$inner`, inside an
/// `impl ColdStore for Wrapper` that changes only other calls (test doubles, meters).
#[macro_export]
macro_rules! forward_expiry_sweep {
    ($inner:ident) => {
        async fn expired_page(
            &self,
            home: $crate::RegionId,
            before: $crate::Timestamp,
            after: Option<&$crate::ExpiryCursor>,
            limit: usize,
        ) -> Result<$crate::ExpiredPage, $crate::StoreError> {
            self.$inner.expired_page(home, before, after, limit).await
        }
        async fn sweep_mark(&self, home: $crate::RegionId) -> Result<Option<$crate::ExpiryCursor>, $crate::StoreError> {
            self.$inner.sweep_mark(home).await
        }
        async fn set_sweep_mark(
            &self,
            home: $crate::RegionId,
            mark: &$crate::ExpiryCursor,
        ) -> Result<(), $crate::StoreError> {
            self.$inner.set_sweep_mark(home, mark).await
        }
    };
}

/// A position in a cold store's expiry sweep order; opaque outside the store that made it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExpiryCursor(pub String);

impl ExpiryCursor {
    /// The cursor at a record, for stores whose sweep order is last access, then id (in memory,
    /// simulated): `<last access, 20 digits>.<id hex>.<home>`.
    pub fn at(last_access: Timestamp, id: &SessionId) -> Self {
        Self(format!("{:020}.{}.{}", last_access.0, id.to_hex(), id.home().0))
    }

    /// The record [`Self::at`] made this cursor at; `None` for any other text.
    pub fn position(&self) -> Option<(Timestamp, SessionId)> {
        let mut parts = self.0.split('.');
        let at = parts.next()?.parse().ok()?;
        let hex = parts.next()?;
        let home = RegionId(parts.next()?.parse().ok()?);
        if parts.next().is_some() {
            return None;
        }
        Some((Timestamp(at), SessionId::from_hex(hex, home)?))
    }
}

/// A page of [`ColdStore::expired_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiredPage {
    /// Expired records, in sweep order.
    pub sessions: Vec<Session>,
    /// The position after this page (after its last record, or past the stretch of the order it
    /// read and found empty); `None` when it moved nowhere.
    pub next: Option<ExpiryCursor>,
}

/// The audit trail.
pub trait AuditSink: Send + Sync {
    /// Appends one record.
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes every record of `user` unlinkable to them as of `at` (erasure): a trail that keeps
    /// user ids replaces them with `pseudonym` (the engine's keyed pseudonym of the user), a trail
    /// that links users to records drops the link. Returns how many records it affected.
    fn pseudonymise_user(
        &self,
        user: &UserId,
        pseudonym: &UserId,
        at: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

impl<T: HotStore + ?Sized> HotStore for Arc<T> {
    fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> impl Future<Output = HotLookup> + Send {
        (**self).get_and_touch(id, now, ttl)
    }
    fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> impl Future<Output = HotTouch> + Send {
        (**self).touch(id, now, ttl)
    }
    fn put(&self, session: &Session, ttl: Duration) -> impl Future<Output = Result<HotWrite, StoreError>> + Send {
        (**self).put(session, ttl)
    }
    fn update(
        &self,
        id: &SessionId,
        data: &SessionData,
        expected_version: u64,
        now: Timestamp,
        ttl: Duration,
    ) -> impl Future<Output = Result<HotUpdate, StoreError>> + Send {
        (**self).update(id, data, expected_version, now, ttl)
    }
    fn take(&self, id: &SessionId) -> impl Future<Output = HotLookup> + Send {
        (**self).take(id)
    }
    fn remove(&self, id: &SessionId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).remove(id)
    }
    fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).remove_if_unchanged(id, version, last_access)
    }
    fn idle_candidates(
        &self,
        idle_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<IdleEntry>, StoreError>> + Send {
        (**self).idle_candidates(idle_since, limit, now)
    }
    fn dirty(&self, limit: usize) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).dirty(limit)
    }
    fn guests(
        &self,
        home: RegionId,
        limit: usize,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).guests(home, limit, now)
    }
    fn mark_persisted(&self, id: &SessionId, version: u64) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).mark_persisted(id, version)
    }
    fn sessions_of_user(&self, user: &UserId) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).sessions_of_user(user)
    }
    fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).sessions_of_user_page(user, after, limit)
    }
    fn session_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        (**self).session_count()
    }
}

impl<T: ColdStore + ?Sized> ColdStore for Arc<T> {
    fn get(&self, id: &SessionId, reader: RegionId) -> impl Future<Output = ColdLookup> + Send {
        (**self).get(id, reader)
    }
    fn put(
        &self,
        session: &Session,
        writer: RegionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<ColdWrite, StoreError>> + Send {
        (**self).put(session, writer, now)
    }
    fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<ColdWrite>, StoreError>> + Send {
        (**self).put_batch(sessions, writer, now)
    }
    fn delete(
        &self,
        id: &SessionId,
        writer: RegionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
        (**self).delete(id, writer, now)
    }
    fn sessions_of_user(
        &self,
        user: &UserId,
        reader: RegionId,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).sessions_of_user(user, reader)
    }
    fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).sessions_of_user_page(user, after, limit, reader)
    }
    fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<ExpiredPage, StoreError>> + Send {
        (**self).expired_page(home, before, after, limit)
    }
    fn sweep_mark(&self, home: RegionId) -> impl Future<Output = Result<Option<ExpiryCursor>, StoreError>> + Send {
        (**self).sweep_mark(home)
    }
    fn set_sweep_mark(
        &self,
        home: RegionId,
        mark: &ExpiryCursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).set_sweep_mark(home, mark)
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).append(event)
    }
    fn pseudonymise_user(
        &self,
        user: &UserId,
        pseudonym: &UserId,
        at: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        (**self).pseudonymise_user(user, pseudonym, at)
    }
}
