//! [`HotcoldStore`]: tower-sessions' [`SessionStore`] over one region's
//! [`SessionManager`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use hotcold_engine::{
    AuditSink, Clock, ColdStore, Engine, EngineError, HotStore, Lookup, RegionId, SessionData, SessionId,
    SessionManager, SessionToken, UserId,
};
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{Error, Result};

use crate::error::SetupError;
use crate::payload;

/// How many times a save rereads the version after another request's save of the same session
/// got in first. tower-sessions' contract is last writer wins, so a conflict is retried with the
/// newer version; the bound keeps a save finite under a storm of concurrent saves.
const SAVE_ATTEMPTS: usize = 3;

/// A tower-sessions store whose sessions live in the hotcold engine, served by one region.
///
/// # Ids and tokens
/// The engine issues every session's token: 128 bits from its CSPRNG plus the home region. The
/// store's [`SessionStore::create`] lets the engine create the session and sets the record's id
/// to the token's 128 secret bits (tower-sessions' `Id` is an `i128`, and its cookie text is the
/// same 22 base64url characters as the token's secret), ignoring the random id tower-sessions
/// proposed. The home region is not in the cookie: it is this store's region, so the cookie,
/// `<id>.<region>`, is the engine's token. Nothing is added to the engine, no id is chosen outside
/// its CSPRNG, and a cookie cannot name a session of another region.
///
/// The cookie is therefore the session's bearer secret, exactly like the engine's token. The
/// store never logs it or puts it in an error; the engine keys its stores by a one-way digest of
/// it ([`SessionId`], which [`Self::session_id`] gives for logs and tools).
///
/// # Expiry
/// tower-sessions' `expiry_date` travels in the session's data and is checked on every load
/// against the engine's clock: a record past it loads as no session. The engine's own lifecycle
/// bounds it from outside: a session idle for the cold TTL (default 30 days), or older than the
/// absolute lifetime when one is configured, is gone whatever its `expiry_date` says.
///
/// # Writes
/// A save is a versioned write: the store reads the session's current version (a touch, one
/// round trip) and updates at that version; a save that loses a race with another request's save
/// is retried at the newer version (last writer wins, as tower-sessions defines a save), so every
/// write still goes through the engine's version check that keeps sync passes, promotions and
/// removals from overwriting it. A save of a session that was deleted, revoked or expired meanwhile
/// fails: a removal is final, and no save can bring the session back.
pub struct HotcoldStore<H, C, A, K> {
    engine: Arc<Engine<H, C, A, K>>,
    manager: Arc<SessionManager<H, C, A, K>>,
    region: RegionId,
    owner_key: Option<Arc<str>>,
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> HotcoldStore<H, C, A, K> {
    /// A store serving `region` of `engine`: its sessions are homed there (their hot copy lives
    /// in that region's Redis).
    ///
    /// Every instance of the app that may receive a given cookie must use the same region: the
    /// cookie does not carry it. An app served from several regions routes each client to one
    /// (sticky routing); clients that must move between regions need tokens that name their
    /// region, which `hotcold serve`'s HTTP API gives.
    pub fn new(engine: Arc<Engine<H, C, A, K>>, region: RegionId) -> std::result::Result<Self, SetupError> {
        if !engine.has_region(region) {
            return Err(SetupError::UnknownRegion {
                index: region.0,
                configured: engine.session_config().hot_storage.regions.len(),
            });
        }
        let manager = Arc::new(SessionManager::new(Arc::clone(&engine), region));
        Ok(Self { engine, manager, region, owner_key: None })
    }

    /// Names the session data key whose value (a string or an integer) is the session's owner in
    /// the engine: the user its audit records name, whose sessions "revoke all sessions of a user"
    /// and erasure find. The owner is fixed when the session is created, so set the key before
    /// the session is first saved, or call `Session::cycle_id` after login (which tower-sessions
    /// recommends anyway, against session fixation): the new id is a new engine session, created
    /// with the owner. Default: none; every session is owned by a fresh anonymous id
    /// (`anonymous-` and 16 random hex digits), one per session so that no user index grows
    /// with every visitor.
    pub fn with_owner_key(mut self, key: impl Into<String>) -> std::result::Result<Self, SetupError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SetupError::EmptyOwnerKey);
        }
        self.owner_key = Some(key.into());
        Ok(self)
    }

    /// The region this store serves (the home of every session it creates).
    pub const fn region(&self) -> RegionId {
        self.region
    }

    /// The engine behind the store (for the sync job, readiness checks and tests).
    pub const fn engine(&self) -> &Arc<Engine<H, C, A, K>> {
        &self.engine
    }

    /// The session manager the store calls (for operations tower-sessions has no word for, such
    /// as revoking all sessions of a user).
    pub const fn manager(&self) -> &Arc<SessionManager<H, C, A, K>> {
        &self.manager
    }

    /// The engine's key of the session a cookie id names: a one-way digest, safe to log and to
    /// match against audit records, unlike the id itself.
    pub fn session_id(&self, id: &Id) -> Result<SessionId> {
        Ok(self.token(id)?.id())
    }

    /// The engine token a cookie id stands for: the id's 128 bits, homed in this store's region.
    fn token(&self, id: &Id) -> Result<SessionToken> {
        let config = self.engine.session_config();
        // `Id`'s text is the base64url of its 16 bytes, which is the token's secret text.
        let wire = format!("{id}.{}", config.region_name(self.region));
        SessionToken::parse(&wire, config)
            .map_err(|_| Error::Backend("hotcold: the session id does not form an engine token".into()))
    }

    /// The cookie id of a token the engine issued: its 128 secret bits.
    fn cookie_id(&self, token: &SessionToken) -> Result<Id> {
        let wire = token.to_wire(self.engine.session_config());
        let secret = wire.split_once('.').map_or("", |(secret, _)| secret);
        secret.parse().map_err(|_| Error::Backend("hotcold: the engine's token does not fit a session id".into()))
    }

    /// The record as the engine's session data, within the engine's size limit.
    fn session_data(&self, record: &Record) -> Result<SessionData> {
        let document = payload::encode(record)?;
        SessionData::from_json_bytes(document.into(), self.engine.engine_config().max_data_bytes).map_err(engine_error)
    }

    /// The engine owner of a new session (see [`Self::with_owner_key`]).
    fn owner(&self, record: &Record) -> Result<UserId> {
        let value = self.owner_key.as_deref().and_then(|key| record.data.get(key));
        let owner = match value {
            None | Some(serde_json::Value::Null) => return anonymous(),
            Some(serde_json::Value::String(text)) => UserId::new(text),
            Some(serde_json::Value::Number(number)) if number.is_i64() || number.is_u64() => {
                UserId::new(&number.to_string())
            }
            Some(_) => return Err(Error::Encode("hotcold: the session owner must be a string or an integer".into())),
        };
        owner.map_err(engine_error)
    }

    /// Now on the engine's clock, in the unit of the stored expiry.
    fn now_millis(&self) -> i64 {
        i64::try_from(self.engine.clock().now().millis()).unwrap_or(i64::MAX)
    }
}

/// A fresh anonymous owner: one per session, so no user index collects every visitor.
fn anonymous() -> Result<UserId> {
    let suffix: u64 = rand::random();
    UserId::new(&format!("anonymous-{suffix:016x}")).map_err(engine_error)
}

/// An engine error as tower-sessions' error. Bad data (too large, not JSON, a bad owner) is an
/// encoding failure; everything else (a backend down, contention) is the backend's. Engine errors
/// never contain a token (the engine never holds one in clear beyond issuing it).
fn engine_error(error: EngineError) -> Error {
    match error {
        EngineError::DataTooLarge { .. } | EngineError::InvalidData(_) | EngineError::InvalidUserId(_) => {
            Error::Encode(format!("hotcold: {error}"))
        }
        _ => Error::Backend(format!("hotcold: {error}")),
    }
}

#[async_trait]
impl<H, C, A, K> SessionStore for HotcoldStore<H, C, A, K>
where
    H: HotStore + 'static,
    C: ColdStore + 'static,
    A: AuditSink + 'static,
    K: Clock + 'static,
{
    /// Creates the session in the engine (hot in this region, or cold only while this region's
    /// Redis is down) and sets `record.id` to its token's secret.
    async fn create(&self, record: &mut Record) -> Result<()> {
        let data = self.session_data(record)?;
        let owner = self.owner(record)?;
        let created = self.manager.create(owner, data).await.map_err(engine_error)?;
        record.id = self.cookie_id(&created.token)?;
        Ok(())
    }

    /// Writes the record at the session's current version (see "Writes" on the type).
    async fn save(&self, record: &Record) -> Result<()> {
        let data = self.session_data(record)?;
        let id = self.session_id(&record.id)?;
        let mut version = self.manager.touch(&id).await.map_err(engine_error)?.version;
        for _ in 0..SAVE_ATTEMPTS {
            match self.manager.update(&id, data.clone(), version).await {
                Ok(_) => return Ok(()),
                Err(EngineError::VersionConflict { current, .. }) => version = current,
                Err(error) => return Err(engine_error(error)),
            }
        }
        Err(Error::Backend("hotcold: concurrent saves of the session kept winning; retry".into()))
    }

    /// Looks the session up (hot, then cold with promotion); `None` when unknown, removed, past
    /// the engine's TTLs or past the record's `expiry_date`.
    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let session_id = self.session_id(id)?;
        match self.manager.get(&session_id).await {
            Lookup::Found { session, .. } => {
                let stored = payload::decode(*id, session.data.as_bytes())?;
                Ok((stored.expires_at_ms > self.now_millis()).then_some(stored.record))
            }
            Lookup::Expired | Lookup::Miss => Ok(None),
            Lookup::Unavailable(error) => Err(engine_error(error.into())),
        }
    }

    /// Ends the session for good (the engine's logout: a tombstone in every store that could
    /// hold it). Deleting an unknown session is not an error.
    async fn delete(&self, id: &Id) -> Result<()> {
        let session_id = self.session_id(id)?;
        self.manager.logout(&session_id).await.map(|_| ()).map_err(engine_error)
    }
}

// Manual, so that cloning needs no `Clone` on the stores (only `Arc`s are cloned).
impl<H, C, A, K> Clone for HotcoldStore<H, C, A, K> {
    fn clone(&self) -> Self {
        Self {
            engine: Arc::clone(&self.engine),
            manager: Arc::clone(&self.manager),
            region: self.region,
            owner_key: self.owner_key.clone(),
        }
    }
}

// Manual: the engine's own `Debug` would print every store's configuration on each trace line.
impl<H, C, A, K> fmt::Debug for HotcoldStore<H, C, A, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotcoldStore").field("region", &self.region).field("owner_key", &self.owner_key).finish()
    }
}
