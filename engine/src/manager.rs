//! [`SessionManager`]: the session operations of one serving region.
//!
//! Where a session lives: its hot copy is in its home region (the region in its token) unless the
//! home hot tier was down when it was needed; then the serving region takes the hot copy
//! (failover) and records that in the cold record (`hot_region`), so the home region finds and
//! takes the newest state back once it recovers. A lookup reads the local hot tier, then the home
//! hot tier (when remote), then the cold tier, and promotes what it finds there.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::audit::AuditKind;
use crate::config::Durability;
use crate::engine::Engine;
use crate::error::{EngineError, StoreError};
use crate::lifecycle::{ColdState, HotState};
use crate::session::{RegionId, Session, SessionData, SessionId, SessionToken, UserId};
use crate::store::{AuditSink, ColdLookup, ColdStore, ColdWrite, HotLookup, HotStore, HotTouch, HotUpdate, HotWrite};
use crate::time::{Clock, Timestamp};

/// A new session and the token to hand to its client.
#[derive(Debug, Clone)]
pub struct Created {
    /// Give this to the client; it is never stored.
    pub token: SessionToken,
    /// The session as stored.
    pub session: Session,
    /// False when this region's hot tier was down and the session went to the cold tier only
    /// (it is promoted on first use).
    pub hot: bool,
}

/// Where a found session was served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// A hot tier had it (a hot hit).
    Hot,
    /// The cold tier had it and it is hot again (a cold promotion).
    Promoted,
    /// The cold tier had it but no hot tier could take it (hot tier down): served from cold.
    ColdOnly,
}

/// The answer of a lookup; each case is counted by callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Found live.
    Found {
        /// The session, `last_access` moved to now.
        session: Session,
        /// How it was served.
        served: Served,
        /// The region whose hot tier now holds it (`None` when served cold-only).
        hot_region: Option<RegionId>,
    },
    /// Known, but past its TTL: never returned.
    Expired,
    /// Unknown: never existed, logged out, revoked, erased, or lost with a failed region.
    Miss,
    /// A store needed to answer is down.
    Unavailable(StoreError),
}

impl Lookup {
    /// The session, if found.
    pub fn session(&self) -> Option<&Session> {
        match self {
            Self::Found { session, .. } => Some(session),
            _ => None,
        }
    }
}

/// What [`SessionManager::touch`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    /// The session's version.
    pub version: u64,
    /// How it was served.
    pub served: Served,
    /// The region whose hot tier now holds it (`None` when served cold-only).
    pub hot_region: Option<RegionId>,
}

/// What a lookup learnt from hot tiers that had no live copy.
#[derive(Debug, Default, Clone, Copy)]
struct HotMisses {
    /// The serving region's hot tier is down.
    here_down: bool,
    /// The session's home hot tier is down.
    home_down: bool,
    /// A hot tier held the session past its TTL.
    expired: bool,
}

impl HotMisses {
    /// Notes that `region`'s hot tier could not answer.
    fn down(&mut self, region: RegionId, here: RegionId, home: RegionId) {
        self.here_down |= region == here;
        self.home_down |= region == home;
    }
}

/// Session operations as served by one region.
#[derive(Debug)]
pub struct SessionManager<H, C, A, K> {
    engine: Arc<Engine<H, C, A, K>>,
    region: RegionId,
    token_rng: Mutex<ChaCha20Rng>,
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> SessionManager<H, C, A, K> {
    /// The manager of `region`, drawing token secrets from a ChaCha20 CSPRNG seeded by the OS.
    ///
    /// # Panics
    /// If `region` is not configured in `engine`.
    pub fn new(engine: Arc<Engine<H, C, A, K>>, region: RegionId) -> Self {
        Self::with_rng(engine, region, ChaCha20Rng::from_os_rng())
    }

    /// The manager of `region` with tokens from a ChaCha20 CSPRNG seeded by `seed`: reproducible
    /// runs for the simulator and tests. Never use a guessable seed in production.
    ///
    /// # Panics
    /// If `region` is not configured in `engine`.
    pub fn with_token_seed(engine: Arc<Engine<H, C, A, K>>, region: RegionId, seed: u64) -> Self {
        Self::with_rng(engine, region, ChaCha20Rng::seed_from_u64(seed))
    }

    fn with_rng(engine: Arc<Engine<H, C, A, K>>, region: RegionId, rng: ChaCha20Rng) -> Self {
        assert!(engine.has_region(region), "region {region:?} is not configured");
        Self { engine, region, token_rng: Mutex::new(rng) }
    }

    /// The region this manager serves.
    pub const fn region(&self) -> RegionId {
        self.region
    }

    /// The shared engine.
    pub const fn engine(&self) -> &Arc<Engine<H, C, A, K>> {
        &self.engine
    }

    fn now(&self) -> Timestamp {
        self.engine.clock().now()
    }

    /// This region, then the session's home if that is another (no allocation: on every update).
    fn here_then_home(&self, id: &SessionId) -> impl Iterator<Item = RegionId> {
        std::iter::once(self.region).chain((id.home() != self.region).then_some(id.home()))
    }

    fn check_size(&self, data: &SessionData) -> Result<(), EngineError> {
        let limit = self.engine.engine_config().max_data_bytes;
        if data.len() > limit { Err(EngineError::DataTooLarge { size: data.len(), limit }) } else { Ok(()) }
    }

    fn write_through(&self) -> bool {
        self.engine.engine_config().durability == Durability::WriteThrough
    }

    /// Creates a session homed in this region.
    ///
    /// With `write_through` the cold tier is written first. If this region's hot tier is down the
    /// session is created in the cold tier only (it is promoted on first use).
    pub async fn create(&self, user_id: UserId, data: SessionData) -> Result<Created, EngineError> {
        self.check_size(&data)?;
        let token = {
            let mut rng = self.token_rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            SessionToken::generate(&mut *rng, self.region)
        };
        let now = self.now();
        let mut session = Session {
            id: token.id(),
            user_id,
            data,
            version: 1,
            created_at: now,
            last_access: now,
            persisted_version: 0,
            hot_region: None,
        };
        let engine = &*self.engine;
        if self.write_through() {
            engine.cold().put(&session, self.region, now).await?;
            session.persisted_version = 1;
        }
        let put = engine.hot(self.region).put(&session, engine.policy().hot_ttl).await;
        let hot = put.is_ok();
        if let Err(hot_error) = put {
            if session.persisted_version == 0 {
                match engine.cold().put(&session, self.region, now).await {
                    Ok(_) => session.persisted_version = 1,
                    Err(_) => return Err(hot_error.into()),
                }
            }
        }
        engine.record(AuditKind::Created, self.region, session.id, Some(session.user_id.clone()), 1, now).await;
        Ok(Created { token, session, hot })
    }

    /// Looks a session up: local hot tier, then home hot tier, then cold tier with promotion.
    pub async fn get(&self, id: &SessionId) -> Lookup {
        if !self.engine.has_region(id.home()) {
            return Lookup::Miss;
        }
        let now = self.now();
        let ttl = self.engine.policy().hot_ttl;
        let mut missed = HotMisses::default();
        for region in self.here_then_home(id) {
            match self.engine.hot(region).get_and_touch(id, now, ttl).await {
                HotLookup::Hit(session) => return found(session, Served::Hot, Some(region)),
                HotLookup::Miss => {}
                HotLookup::Expired => missed.expired = true,
                HotLookup::Unavailable(_) => missed.down(region, self.region, id.home()),
            }
        }
        self.look_in_cold(id, now, missed).await
    }

    /// Refreshes a session's last access and answers its version and where it was served, without
    /// building the session on a hot hit: the lookup of callers that do not need the data (an
    /// authentication check, the simulator's requests). Otherwise the same as [`Self::get`],
    /// promotion included. A session that is expired or unknown is [`EngineError::NotFound`].
    pub async fn touch(&self, id: &SessionId) -> Result<Touched, EngineError> {
        if !self.engine.has_region(id.home()) {
            return Err(EngineError::NotFound);
        }
        let now = self.now();
        let ttl = self.engine.policy().hot_ttl;
        let mut missed = HotMisses::default();
        for region in self.here_then_home(id) {
            match self.engine.hot(region).touch(id, now, ttl).await {
                HotTouch::Hit { version } => {
                    return Ok(Touched { version, served: Served::Hot, hot_region: Some(region) });
                }
                HotTouch::Miss => {}
                HotTouch::Expired => missed.expired = true,
                HotTouch::Unavailable(_) => missed.down(region, self.region, id.home()),
            }
        }
        match self.look_in_cold(id, now, missed).await {
            Lookup::Found { session, served, hot_region } => {
                Ok(Touched { version: session.version, served, hot_region })
            }
            Lookup::Expired | Lookup::Miss => Err(EngineError::NotFound),
            Lookup::Unavailable(e) => Err(e.into()),
        }
    }

    /// The rest of a lookup once the hot tiers had no live copy: the cold tier, with promotion.
    async fn look_in_cold(&self, id: &SessionId, now: Timestamp, missed: HotMisses) -> Lookup {
        let engine = &*self.engine;
        let ttl = engine.policy().hot_ttl;
        let here = self.region;
        let home = id.home();
        let HotMisses { here_down, home_down, expired: expired_hot } = missed;
        if expired_hot {
            engine.record(AuditKind::Expired, here, *id, None, 0, now).await;
        }

        let mut session = match engine.cold().get(id, here).await {
            ColdLookup::Found(session) => session,
            ColdLookup::Miss if expired_hot => return Lookup::Expired,
            ColdLookup::Miss => return Lookup::Miss,
            ColdLookup::Unavailable(e) => return Lookup::Unavailable(e),
        };
        if engine.policy().cold_state(session.last_access, now) == ColdState::Expired {
            // Enforced on read: DynamoDB's TTL deletion may lag by days. Deleting here is a
            // best-effort tidy-up; the record is never returned either way.
            let _ = engine.cold().delete(id, here, now).await;
            engine.record(AuditKind::Expired, here, *id, Some(session.user_id.clone()), session.version, now).await;
            return Lookup::Expired;
        }
        session.persisted_version = session.version;

        // A failover copy held elsewhere may be newer than the cold record: take it back.
        if let Some(holder) = session.hot_region.filter(|r| *r != here && *r != home && engine.has_region(*r)) {
            if let HotLookup::Hit(newer) = engine.hot(holder).take(id).await {
                if newer.freshness() > session.freshness() {
                    session = newer;
                }
            }
        }

        let target = if home_down { here } else { home };
        if target == here && here_down {
            // No hot tier can take it: serve from cold, and record the access there so the
            // session's expiry counts from now.
            session.last_access = now;
            let _ = engine.cold().put(&session, here, now).await;
            return found(session, Served::ColdOnly, None);
        }
        session.last_access = now;
        // A failover copy carries its own location, so every cold write made from it (write-through,
        // write-behind) keeps the marker that lets home take it back.
        session.hot_region = (target != home).then_some(target);
        match engine.hot(target).put(&session, ttl).await {
            Ok(HotWrite::Written) => {}
            Ok(HotWrite::KeptNewer) => {
                // Promoted concurrently by another request: serve the hot copy.
                if let HotLookup::Hit(hot) = engine.hot(target).get_and_touch(id, now, ttl).await {
                    return found(hot, Served::Hot, Some(target));
                }
            }
            Err(_) => {
                session.hot_region = None;
                let _ = engine.cold().put(&session, here, now).await;
                return found(session, Served::ColdOnly, None);
            }
        }
        if target != home {
            // Record where the hot copy went, so home takes the newest state back after failover.
            let _ = engine.cold().put(&session, here, now).await;
        }
        engine.record(AuditKind::Promoted, target, *id, Some(session.user_id.clone()), session.version, now).await;
        found(session, Served::Promoted, Some(target))
    }

    /// Replaces a session's data if its current version is `expected_version` (optimistic
    /// concurrency); returns the session as stored, at version `expected_version + 1`.
    ///
    /// With `write_through`, a failed cold write is reported as an error although the hot copy
    /// holds the change; the sync job's write-behind pass copies it later.
    pub async fn update(
        &self,
        id: &SessionId,
        data: SessionData,
        expected_version: u64,
    ) -> Result<Session, EngineError> {
        self.check_size(&data)?;
        if !self.engine.has_region(id.home()) {
            return Err(EngineError::NotFound);
        }
        let engine = &*self.engine;
        let ttl = engine.policy().hot_ttl;
        let now = self.now();
        // Fast path: one round trip where the hot copy usually is.
        for region in self.here_then_home(id) {
            match engine.hot(region).update(id, &data, expected_version, now, ttl).await {
                Ok(HotUpdate::Updated(session)) => return self.finish_update(session, region, now).await,
                Ok(HotUpdate::Conflict { current }) => {
                    return Err(EngineError::VersionConflict { expected: expected_version, current });
                }
                Ok(HotUpdate::Miss) | Err(_) => {}
            }
        }
        // Slow path: find (and promote) it, then update where it now lives. A demotion racing
        // this update can remove the hot copy in between; a few attempts settle it.
        for _ in 0..3 {
            match self.get(id).await {
                Lookup::Found { session, hot_region: Some(region), .. } => {
                    if session.version != expected_version {
                        return Err(EngineError::VersionConflict {
                            expected: expected_version,
                            current: session.version,
                        });
                    }
                    match engine.hot(region).update(id, &data, expected_version, now, ttl).await {
                        Ok(HotUpdate::Updated(session)) => return self.finish_update(session, region, now).await,
                        Ok(HotUpdate::Conflict { current }) => {
                            return Err(EngineError::VersionConflict { expected: expected_version, current });
                        }
                        Ok(HotUpdate::Miss) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Lookup::Found { mut session, hot_region: None, .. } => {
                    // No hot tier can hold it: change the cold record directly.
                    if session.version != expected_version {
                        return Err(EngineError::VersionConflict {
                            expected: expected_version,
                            current: session.version,
                        });
                    }
                    session.version += 1;
                    session.data = data.clone();
                    session.last_access = now;
                    session.persisted_version = session.version;
                    match engine.cold().put(&session, self.region, now).await? {
                        ColdWrite::Written => {
                            engine
                                .record(
                                    AuditKind::Updated,
                                    self.region,
                                    *id,
                                    Some(session.user_id.clone()),
                                    session.version,
                                    now,
                                )
                                .await;
                            return Ok(session);
                        }
                        ColdWrite::Stale => continue,
                    }
                }
                Lookup::Expired | Lookup::Miss => return Err(EngineError::NotFound),
                Lookup::Unavailable(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Store(StoreError::unavailable("engine", "the session kept moving between tiers; retry")))
    }

    async fn finish_update(
        &self,
        mut session: Session,
        region: RegionId,
        now: Timestamp,
    ) -> Result<Session, EngineError> {
        let engine = &*self.engine;
        engine
            .record(AuditKind::Updated, self.region, session.id, Some(session.user_id.clone()), session.version, now)
            .await;
        if self.write_through() {
            engine.cold().put(&session, self.region, now).await?;
            // Best effort: if this fails the session stays marked dirty and is copied again.
            let _ = engine.hot(region).mark_persisted(&session.id, session.version).await;
            session.persisted_version = session.version;
        }
        Ok(session)
    }

    /// Ends a session at its user's request. Returns whether it existed.
    pub async fn logout(&self, id: &SessionId) -> Result<bool, EngineError> {
        self.end(id, AuditKind::LoggedOut).await
    }

    /// Removes a session from this region's and its home region's hot tiers, from the region
    /// holding a failover copy, and from the cold tier. Hot tiers that are down are skipped (a
    /// failed region's hot data is lost with it); a cold tier that is down fails the call so the
    /// caller retries and the session cannot come back.
    async fn end(&self, id: &SessionId, kind: AuditKind) -> Result<bool, EngineError> {
        if !self.engine.has_region(id.home()) {
            return Ok(false);
        }
        let engine = &*self.engine;
        let now = self.now();
        let mut known: Option<Session> = None;
        for region in self.here_then_home(id) {
            if let HotLookup::Hit(session) = engine.hot(region).take(id).await {
                known = Some(session);
            }
        }
        if let Some(cold) = engine.cold().delete(id, self.region, now).await? {
            if let Some(holder) =
                cold.hot_region.filter(|r| !self.here_then_home(id).any(|seen| seen == *r) && engine.has_region(*r))
            {
                if let HotLookup::Hit(session) = engine.hot(holder).take(id).await {
                    known = Some(session);
                }
            }
            if known.is_none() && engine.policy().cold_state(cold.last_access, now) == ColdState::Live {
                known = Some(cold);
            }
        }
        match known {
            Some(session) => {
                engine.record(kind, self.region, *id, Some(session.user_id.clone()), session.version, now).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The live sessions of a user, across every region's hot tier and the cold tier, oldest
    /// first. Hot tiers that are down are skipped; the cold tier must answer.
    pub async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, EngineError> {
        let now = self.now();
        let policy = *self.engine.policy();
        let all = self.all_records_of_user(user, false).await?;
        Ok(all.into_iter().filter(|s| policy.cold_state(s.last_access, now) == ColdState::Live).collect())
    }

    /// Every record of a user (live or not) from every hot tier and the cold tier, freshest state
    /// per session. With `strict`, a hot tier that is down is an error.
    async fn all_records_of_user(&self, user: &UserId, strict: bool) -> Result<Vec<Session>, EngineError> {
        let engine = &*self.engine;
        let now = self.now();
        let mut by_id: BTreeMap<SessionId, Session> = BTreeMap::new();
        let mut keep_freshest = |session: Session| {
            let fresher = by_id.get(&session.id).is_none_or(|s| session.freshness() > s.freshness());
            if fresher {
                by_id.insert(session.id, session);
            }
        };
        for session in engine.cold().sessions_of_user(user, self.region).await? {
            keep_freshest(session);
        }
        for (_, store) in engine.hot_stores() {
            match store.sessions_of_user(user).await {
                Ok(sessions) => sessions
                    .into_iter()
                    .filter(|s| engine.policy().hot_state(s.last_access, now) != HotState::Expired)
                    .for_each(&mut keep_freshest),
                Err(e) if strict => return Err(e.into()),
                Err(_) => {}
            }
        }
        let mut sessions: Vec<Session> = by_id.into_values().collect();
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    /// Ends every live session of a user (e.g. after a password change); returns how many.
    pub async fn revoke_user(&self, user: &UserId) -> Result<u64, EngineError> {
        let mut revoked = 0;
        for session in self.sessions_of_user(user).await? {
            if self.end(&session.id, AuditKind::Revoked).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Erases a user (GDPR/CCPA): every session record, live or expired, is removed from every
    /// hot tier and the cold tier, and the user's audit records are pseudonymised. Every store
    /// must answer, or the call fails and can be repeated. Returns how many sessions were erased.
    pub async fn erase_user(&self, user: &UserId) -> Result<u64, EngineError> {
        let engine = &*self.engine;
        let now = self.now();
        let records = self.all_records_of_user(user, true).await?;
        let pseudonym = user.pseudonym();
        for session in &records {
            for (_, store) in engine.hot_stores() {
                store.remove(&session.id).await?;
            }
            engine.cold().delete(&session.id, self.region, now).await?;
            engine
                .record(AuditKind::Erased, self.region, session.id, Some(pseudonym.clone()), session.version, now)
                .await;
        }
        engine.audit().pseudonymise_user(user).await?;
        Ok(records.len() as u64)
    }
}

fn found(session: Session, served: Served, hot_region: Option<RegionId>) -> Lookup {
    Lookup::Found { session, served, hot_region }
}
