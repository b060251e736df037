//! What the paging tests share: a store wrapper that records the largest answer any user query
//! gave (the memory a listing, revocation or erasure held from one store at once, counted in
//! sessions: deterministic, unlike RSS), and the checks of a walk through a user's pages.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hotcold_engine::store::IdleEntry;
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, HotLookup, HotStore, HotTouch, HotUpdate, HotWrite, RegionId, Session,
    SessionData, SessionId, SessionPage, StoreError, Timestamp, UserId,
};

/// A hot or cold store that records the largest number of sessions one call of
/// `sessions_of_user` or `sessions_of_user_page` answered.
#[derive(Debug)]
pub struct Largest<S> {
    pub inner: S,
    largest: AtomicUsize,
}

impl<S> Largest<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, largest: AtomicUsize::new(0) }
    }

    /// The largest answer since the last reset.
    pub fn largest(&self) -> usize {
        self.largest.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.largest.store(0, Ordering::SeqCst);
    }

    fn saw(&self, answer: Result<Vec<Session>, StoreError>) -> Result<Vec<Session>, StoreError> {
        if let Ok(sessions) = &answer {
            self.largest.fetch_max(sessions.len(), Ordering::SeqCst);
        }
        answer
    }
}

/// The largest answer of any of `stores` since their last reset.
pub fn largest_of<'a, S: 'a>(stores: impl IntoIterator<Item = &'a Largest<S>>) -> usize {
    stores.into_iter().map(Largest::largest).max().unwrap_or(0)
}

impl<H: HotStore> HotStore for Largest<H> {
    async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        self.inner.get_and_touch(id, now, ttl).await
    }
    async fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotTouch {
        self.inner.touch(id, now, ttl).await
    }
    async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
        self.inner.put(session, ttl).await
    }
    async fn update(
        &self,
        id: &SessionId,
        data: &SessionData,
        expected_version: u64,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<HotUpdate, StoreError> {
        self.inner.update(id, data, expected_version, now, ttl).await
    }
    async fn take(&self, id: &SessionId) -> HotLookup {
        self.inner.take(id).await
    }
    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.inner.remove(id).await
    }
    async fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.remove_if_unchanged(id, version, last_access).await
    }
    async fn idle_candidates(
        &self,
        idle_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<IdleEntry>, StoreError> {
        self.inner.idle_candidates(idle_since, limit, now).await
    }
    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.inner.dirty(limit).await
    }
    async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
        self.inner.mark_persisted(id, version).await
    }
    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.saw(self.inner.sessions_of_user(user).await)
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.saw(self.inner.sessions_of_user_page(user, after, limit).await)
    }
    async fn session_count(&self) -> Result<u64, StoreError> {
        self.inner.session_count().await
    }
    async fn guests(&self, home: RegionId, limit: usize, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        self.inner.guests(home, limit, now).await
    }
}

impl<C: ColdStore> ColdStore for Largest<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        self.inner.get(id, reader).await
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.inner.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        self.inner.put_batch(sessions, writer, now).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.inner.delete(id, writer, now).await
    }
    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.saw(self.inner.sessions_of_user(user, reader).await)
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.saw(self.inner.sessions_of_user_page(user, after, limit, reader).await)
    }
    hotcold_engine::forward_expiry_sweep!(inner);
}

/// A walk through a user's pages, checked as it goes.
#[derive(Debug, Default)]
pub struct Walk {
    /// Every id listed, in the order listed.
    pub ids: Vec<SessionId>,
    /// How many sessions each page held.
    pub sizes: Vec<usize>,
    after: Option<SessionId>,
    done: bool,
}

impl Walk {
    /// Where the next page starts.
    pub fn after(&self) -> Option<SessionId> {
        self.after
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// Takes in the page read after [`Self::after`]: at most `limit` sessions, ascending, all
    /// after the cursor.
    #[track_caller]
    pub fn take(&mut self, page: SessionPage, limit: usize) {
        assert!(!self.done, "a page read after the last one");
        assert!(page.sessions.len() <= limit, "a page of {} sessions, over its size {limit}", page.sessions.len());
        let ids: Vec<SessionId> = page.sessions.iter().map(|s| s.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "a page in ascending id order");
        if let (Some(after), Some(first)) = (self.after, ids.first()) {
            assert!(*first > after, "a page starts strictly after its cursor");
        }
        if let (Some(next), Some(last)) = (page.next, ids.last()) {
            assert!(next >= *last, "the cursor is at or after the page's last session");
        }
        self.ids.extend(ids);
        self.sizes.push(page.sessions.len());
        self.after = page.next;
        self.done = page.next.is_none();
    }

    /// Every expected id listed exactly once, in ascending order.
    #[track_caller]
    pub fn assert_listed_exactly(&self, expected: &[SessionId]) {
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(self.ids.len(), expected.len(), "as many sessions listed as expected");
        assert!(self.ids == expected, "every session listed exactly once, in ascending id order");
    }
}
