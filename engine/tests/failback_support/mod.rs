//! A hot store that lets a test put a request between the two steps of a failback move: the
//! copy written home, then the holder's copy removed only if unchanged. [`Racing::arm`] names a
//! session and the data a request at the holder writes; the holder's next conditional removal of
//! that session first runs that update, as a request landing in that instant would.

use std::sync::Mutex;
use std::time::Duration;

use hotcold_engine::store::IdleEntry;
use hotcold_engine::{
    HotLookup, HotStore, HotTouch, HotUpdate, HotWrite, RegionId, Session, SessionData, SessionId, StoreError,
    Timestamp, UserId,
};

/// `inner`, with an update that can be made to race the next conditional removal.
pub(crate) struct Racing<H> {
    pub(crate) inner: H,
    armed: Mutex<Option<(SessionId, SessionData, Timestamp)>>,
    /// What the racing update answered, once it ran.
    pub(crate) raced: Mutex<Option<Result<HotUpdate, StoreError>>>,
}

impl<H: HotStore> Racing<H> {
    pub(crate) fn new(inner: H) -> Self {
        Self { inner, armed: Mutex::new(None), raced: Mutex::new(None) }
    }

    /// The next `remove_if_unchanged` of `id` is preceded by an update of it to `data` at `now`,
    /// naming the version the removal names.
    pub(crate) fn arm(&self, id: SessionId, data: SessionData, now: Timestamp) {
        *self.armed.lock().unwrap() = Some((id, data, now));
    }
}

impl<H: HotStore> HotStore for Racing<H> {
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
        let armed = {
            let mut armed = self.armed.lock().unwrap();
            if armed.as_ref().is_some_and(|(armed_id, _, _)| armed_id == id) { armed.take() } else { None }
        };
        if let Some((_, data, now)) = armed {
            let answer = self.inner.update(id, &data, version, now, Duration::from_secs(7200)).await;
            *self.raced.lock().unwrap() = Some(answer);
        }
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
        self.inner.sessions_of_user(user).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user_page(user, after, limit).await
    }
    async fn session_count(&self) -> Result<u64, StoreError> {
        self.inner.session_count().await
    }
    async fn guests(&self, home: RegionId, limit: usize, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        self.inner.guests(home, limit, now).await
    }
}
