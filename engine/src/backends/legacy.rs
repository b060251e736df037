//! [`LegacyStore`]: the Redis-only session store being migrated from (ADR-0009), read and written
//! in its own layout ([`LegacyLayout`], connect-redis by default) so the application that still
//! uses it sees no difference. A standalone Redis server (the ADR-0009 deployment); a Redis
//! Cluster is not supported here, because SCAN walks one node.
//!
//! Every call is bounded by the timeout (default 250 ms) and any failure is
//! [`StoreError::Unavailable`] naming `redis legacy`, never the key (it holds the session id).

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, RedisError, SetExpiry, SetOptions};

use crate::error::StoreError;
use crate::migration::{LegacyId, LegacyLayout};
use crate::session::SessionId;

/// How long an import may hold a session's import lock ([`LegacyStore::lock_import`]): far
/// above an import's few round trips, short enough that a crashed holder delays that session's
/// next request by seconds at most.
pub const IMPORT_LOCK: Duration = Duration::from_secs(5);

/// The label in errors.
const LABEL: &str = "redis legacy";

/// One session's raw value in the legacy store and the key's remaining TTL (`None`: no TTL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyValue {
    /// The stored bytes (JSON for connect-redis).
    pub bytes: Vec<u8>,
    /// PTTL of the key.
    pub ttl: Option<Duration>,
}

/// One page of a walk of the legacy store ([`LegacyStore::scan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage {
    /// The cursor of the next page; 0 when the walk is complete.
    pub next_cursor: u64,
    /// Session ids found under the layout's prefix.
    pub ids: Vec<LegacyId>,
    /// Keys under the prefix whose suffix is not a valid legacy id (left alone).
    pub foreign_keys: u64,
}

/// The legacy store.
#[derive(Clone)]
pub struct LegacyStore {
    conn: ConnectionManager,
    layout: LegacyLayout,
    timeout: Duration,
}

impl std::fmt::Debug for LegacyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyStore").field("layout", &self.layout).finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(LABEL, error.to_string())
}

impl LegacyStore {
    /// Connects to `url` (`redis://` or `rediss://`); the first connection must succeed within
    /// `timeout` × 4, later outages are survived (the connection reconnects).
    pub async fn connect(url: &str, layout: LegacyLayout, timeout: Duration) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout * 4))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(timeout * 4, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| unavailable("no connection in time"))?
            .map_err(unavailable)?;
        Ok(Self { conn, layout, timeout })
    }

    /// The layout values are read and written in.
    pub const fn layout(&self) -> &LegacyLayout {
        &self.layout
    }

    async fn bounded<T>(&self, call: impl Future<Output = Result<T, RedisError>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    /// The session's value and remaining TTL, or `None` when the store does not hold it.
    pub async fn read(&self, id: &LegacyId) -> Result<Option<LegacyValue>, StoreError> {
        let key = self.layout.key(id);
        let mut conn = self.conn.clone();
        let (bytes, pttl): (Option<Vec<u8>>, i64) =
            self.bounded(::redis::pipe().get(&key).pttl(&key).query_async(&mut conn)).await?;
        Ok(bytes.map(|bytes| LegacyValue { bytes, ttl: u64::try_from(pttl).ok().map(Duration::from_millis) }))
    }

    /// Stores a session that the store must not hold yet (a new session, or one handed back by a
    /// rollback), expiring after `ttl`; false when the key exists already (that copy wins).
    pub async fn insert(&self, id: &LegacyId, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let options = SetOptions::default()
            .conditional_set(::redis::ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(ttl.as_millis().max(1) as u64));
        let mut conn = self.conn.clone();
        let answer: Option<String> = self.bounded(conn.set_options(self.layout.key(id), value, options)).await?;
        Ok(answer.is_some())
    }

    /// Replaces the value of a session the store holds, keeping its TTL; false when it is gone.
    pub async fn replace(&self, id: &LegacyId, value: &[u8]) -> Result<bool, StoreError> {
        let options =
            SetOptions::default().conditional_set(::redis::ExistenceCheck::XX).with_expiration(SetExpiry::KEEPTTL);
        let mut conn = self.conn.clone();
        let answer: Option<String> = self.bounded(conn.set_options(self.layout.key(id), value, options)).await?;
        Ok(answer.is_some())
    }

    /// Takes the import lock of a session for `ttl`: false when another importer holds it. Two
    /// requests importing one session at once would both write it, and an update accepted after
    /// the first import could be overwritten by the second; with the lock the second waits (its
    /// caller answers 503, the client retries) and then finds the legacy copy gone. The lock key
    /// is `hotcold-import-lock:<id digest>` (outside the sessions' prefix, never the id itself);
    /// it expires by itself if its holder dies.
    pub async fn lock_import(&self, id: &SessionId, ttl: Duration) -> Result<bool, StoreError> {
        let options = SetOptions::default()
            .conditional_set(::redis::ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(ttl.as_millis().max(1) as u64));
        let mut conn = self.conn.clone();
        let answer: Option<String> = self.bounded(conn.set_options(import_lock_key(id), 1, options)).await?;
        Ok(answer.is_some())
    }

    /// Releases the import lock of a session (after the legacy copy is deleted).
    pub async fn unlock_import(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: u64 = self.bounded(conn.del(import_lock_key(id))).await?;
        Ok(())
    }

    /// Deletes a session; true when it was there.
    pub async fn remove(&self, id: &LegacyId) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: u64 = self.bounded(conn.del(self.layout.key(id))).await?;
        Ok(removed > 0)
    }

    /// One page of a SCAN over the layout's prefix, from `cursor` (0 to start). SCAN returns
    /// every key present for the whole walk at least once (possibly more than once), so a walk
    /// resumed from a saved cursor misses nothing that was there before it started.
    pub async fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StoreError> {
        let pattern = format!("{}*", escape_glob(&self.layout.prefix));
        let mut conn = self.conn.clone();
        let (next_cursor, keys): (u64, Vec<String>) = self
            .bounded(
                ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut conn),
            )
            .await?;
        let mut page = ScanPage { next_cursor, ids: Vec::with_capacity(keys.len()), foreign_keys: 0 };
        for key in keys {
            match key.strip_prefix(&self.layout.prefix).map(LegacyId::parse) {
                Some(Ok(id)) => page.ids.push(id),
                _ => page.foreign_keys += 1,
            }
        }
        Ok(page)
    }
}

/// The key of a session's import lock: its digest, never the legacy id (a bearer secret).
fn import_lock_key(id: &SessionId) -> String {
    format!("hotcold-import-lock:{}.{}", id.to_hex(), id.home().0)
}

/// `prefix` with Redis glob characters escaped, so `MATCH` treats it literally.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_in_a_prefix_are_literal() {
        assert_eq!(escape_glob("sess:"), "sess:");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
