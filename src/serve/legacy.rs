//! The API during a migration from the Redis-only store (config `legacy:`, ADR-0010 phase 3).
//!
//! A client presents either a hotcold token or a legacy id (the Redis-only store's session id,
//! e.g. express-session's). Hotcold tokens are always served by the hybrid store. A legacy id is
//! split by a stable hash of the id ([`Rollout`]): the hybrid share is served by the engine, the
//! rest by the legacy store, in its own layout, so the application that still reads it sees no
//! change. A session on the wrong side of the split moves on its next access:
//!
//! - hybrid side: the legacy copy, if any, is imported ([`SessionManager::import`]: cold write
//!   first, so it is durable) and only then deleted from the legacy store;
//! - legacy side (a rollback lowered the percentage): a hybrid copy is written to the legacy
//!   store (unless one is there already, which wins) and then retired from the engine.
//!
//! Both sides look in the legacy store first: while a session is there, that copy is the one
//! served, so the two sides never serve one session with different data. A legacy store that
//! does not answer is 503, as any backend. New sessions get a legacy-format id while a migration
//! runs, created on the side the split gives them, so a rollback can hand any of them back.
//!
//! Legacy-side sessions have no versions: they always report version 1 and an update replaces
//! the value (last writer wins), as connect-redis does. Logout removes a session from both
//! stores (a removal marker in the engine), so it never comes back from either.
//!
//! [`SessionManager::import`]: hotcold_engine::SessionManager::import

use hotcold_engine::backends::legacy::{IMPORT_LOCK, LegacyStore};
use hotcold_engine::migration::{Imported, LegacyId, LegacyLayout, LegacySession, Reading, Rollout};
use hotcold_engine::{Clock, EngineError, Lookup, RegionId, Session, SessionData, SessionId, SessionToken};
use hotcold_engine::{StoreError, UserId};

use super::api::AppState;

/// The migration an instance serves: the legacy store, its layout and the split.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) store: LegacyStore,
    pub(crate) rollout: Rollout,
}

/// What a client presented in a session path.
#[derive(Debug)]
pub(crate) enum Presented {
    /// A token hotcold issued.
    Native(SessionToken),
    /// An id of the legacy store (always accepted: sessions imported before the `legacy` block
    /// is removed keep their id for their whole life).
    Legacy(LegacyId),
}

impl Presented {
    /// Parses a presented token: hotcold's form first, then the legacy form (they never overlap:
    /// every hotcold token has a `.`, no legacy id does).
    pub(crate) fn parse(wire: &str, state: &AppState) -> Result<Self, EngineError> {
        match SessionToken::parse(wire, state.engine.session_config()) {
            Ok(token) => Ok(Self::Native(token)),
            Err(e) => LegacyId::parse(wire).map(Self::Legacy).map_err(|_| e),
        }
    }

    /// The id the hybrid stores key the session by.
    pub(crate) fn id(&self, legacy_home: RegionId) -> SessionId {
        match self {
            Self::Native(token) => token.id(),
            Self::Legacy(legacy) => legacy.session_id(legacy_home),
        }
    }
}

/// Which side serves a presented session.
pub(crate) enum Side<'a> {
    /// The engine (after any import from the legacy store).
    Hybrid,
    /// The legacy store, through this migration.
    Legacy(&'a Migration, &'a LegacyId),
}

impl Migration {
    fn layout(&self) -> &LegacyLayout {
        self.store.layout()
    }

    /// The legacy copy of `legacy`, decoded; `None` when the store does not hold it. A value
    /// that does not decode is 503 with the reason (it stays where it is for a person to fix):
    /// it is a session the user holds, so answering "unknown" would log them out.
    async fn read(&self, state: &AppState, legacy: &LegacyId) -> Result<Option<LegacySession>, EngineError> {
        let Some(value) = self.store.read(legacy).await? else { return Ok(None) };
        self.layout()
            .decode(legacy, state.legacy_home, &value.bytes, value.ttl, Reading::of(&state.engine))
            .map(Some)
            .map_err(|e| {
                EngineError::Store(StoreError::Corrupt { backend: "redis legacy".into(), detail: e.to_string() })
            })
    }

    /// Hybrid side: moves the legacy copy, if there is one, into the engine, then deletes it from
    /// the legacy store. Afterwards the engine alone answers for the session.
    pub(crate) async fn claim(&self, state: &AppState, legacy: &LegacyId) -> Result<(), EngineError> {
        if self.read(state, legacy).await?.is_none() {
            return Ok(());
        }
        // One importer at a time (see `LegacyStore::lock_import`); another request importing this
        // session now makes this one answer 503, and its retry finds the session imported.
        let id = legacy.session_id(state.legacy_home);
        if !self.store.lock_import(&id, IMPORT_LOCK).await? {
            return Err(EngineError::Contention);
        }
        let moved = self.import_locked(state, legacy).await;
        let unlocked = self.store.unlock_import(&id).await;
        moved?;
        Ok(unlocked?)
    }

    /// [`Self::claim`] under the import lock: reads the legacy copy again (the first read may
    /// predate another importer's delete), imports it, deletes it.
    async fn import_locked(&self, state: &AppState, legacy: &LegacyId) -> Result<(), EngineError> {
        let Some(session) = self.read(state, legacy).await? else { return Ok(()) };
        let imported = state.manager.import(session, true).await?;
        // The engine holds it durably (or holds a removal marker, or it had expired): the legacy
        // copy must go before anything is served, or the next request would import it again
        // over a change made in between.
        self.store.remove(legacy).await?;
        if let Imported::Imported { .. } = imported {
            state.metrics.migration_move("imported");
        }
        Ok(())
    }

    /// Legacy side: the session as the legacy store holds it, after moving a hybrid copy there
    /// (a rollback); `None` when neither side has it.
    pub(crate) async fn hold(&self, state: &AppState, legacy: &LegacyId) -> Result<Option<LegacySession>, EngineError> {
        if let Some(session) = self.read(state, legacy).await? {
            return Ok(Some(session));
        }
        let id = legacy.session_id(state.legacy_home);
        let session = match state.manager.get(&id).await {
            Lookup::Found { session, .. } => session,
            Lookup::Expired | Lookup::Miss => return Ok(None),
            Lookup::Unavailable(e) => return Err(e.into()),
        };
        let now = state.engine.clock().now();
        let expires_at = session.last_access + state.engine.session_config().cold_storage.ttl;
        let (value, ttl) = self.layout().encode(&session.user_id, &session.data, expires_at, now);
        if !self.store.insert(legacy, &value, ttl).await? {
            // Another request handed it back first: that copy is the session now.
            return self.read(state, legacy).await;
        }
        state.manager.retire(&id).await?;
        state.metrics.migration_move("rolled_back");
        let Session { user_id, data, .. } = session;
        Ok(Some(LegacySession { id, user_id, data, expires_at }))
    }

    /// Legacy side: replaces the data of a session (moved here first if the engine has it). The
    /// stored `cookie` is kept when the new data has none. False when neither side has it.
    pub(crate) async fn replace(
        &self,
        state: &AppState,
        legacy: &LegacyId,
        data: &SessionData,
    ) -> Result<bool, EngineError> {
        let Some(held) = self.hold(state, legacy).await? else { return Ok(false) };
        let mut json = data.to_json();
        let Some(object) = json.as_object_mut() else {
            return Err(EngineError::InvalidData("the legacy store keeps sessions as JSON objects".into()));
        };
        if !object.contains_key("cookie")
            && let Some(cookie) = held.data.to_json().get("cookie")
        {
            object.insert("cookie".into(), cookie.clone());
        }
        let max = state.engine.engine_config().max_data_bytes;
        let data = SessionData::from_json(&json, max)?;
        let now = state.engine.clock().now();
        let (value, _) = self.layout().encode(&held.user_id, &data, held.expires_at, now);
        Ok(self.store.replace(legacy, &value).await?)
    }

    /// A new session under a fresh legacy-format id, on the side the split gives it. Returns the
    /// id, the session as stored, and whether the engine (true) or the legacy store holds it.
    pub(crate) async fn create(
        &self,
        state: &AppState,
        user_id: UserId,
        data: SessionData,
    ) -> Result<(LegacyId, LegacySession, bool), EngineError> {
        if !data.to_json().is_object() {
            return Err(EngineError::InvalidData(
                "during a migration, session data must be a JSON object (the legacy store's layout)".into(),
            ));
        }
        // 192 bits from the operating system's CSPRNG, as express-session's uid-safe draws them.
        let legacy = LegacyId::generate(&mut rand::TryRngCore::unwrap_err(rand::rngs::OsRng));
        let id = legacy.session_id(state.legacy_home);
        let Reading { now, fallback_ttl, .. } = Reading::of(&state.engine);
        let expires_at = now + fallback_ttl;
        let session = LegacySession { id, user_id, data, expires_at };
        if self.rollout.serves_hybrid(&id) {
            return match state.manager.create_with_legacy_id(session.clone()).await? {
                Imported::Imported { .. } => Ok((legacy, session, true)),
                // 192 random bits never repeat; a collision would be an RNG failure.
                Imported::Removed | Imported::Expired => Err(EngineError::Contention),
            };
        }
        let (value, ttl) = self.layout().encode(&session.user_id, &session.data, expires_at, now);
        if !self.store.insert(&legacy, &value, ttl).await? {
            return Err(EngineError::Contention);
        }
        Ok((legacy, session, false))
    }
}

impl AppState {
    /// Which side serves `presented`: the legacy store for a legacy id outside the rollout
    /// while a migration is configured, the engine otherwise (after claiming the legacy copy,
    /// if any, for a legacy id inside it).
    pub(crate) async fn side<'a>(&'a self, presented: &'a Presented) -> Result<Side<'a>, EngineError> {
        let (Presented::Legacy(legacy), Some(migration)) = (presented, self.migration.as_ref()) else {
            return Ok(Side::Hybrid);
        };
        if migration.rollout.serves_hybrid(&legacy.session_id(self.legacy_home)) {
            migration.claim(self, legacy).await?;
            Ok(Side::Hybrid)
        } else {
            Ok(Side::Legacy(migration, legacy))
        }
    }
}
