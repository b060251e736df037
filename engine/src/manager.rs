//! [`SessionManager`]: the session operations of one serving region.
//!
//! Where a session lives: its hot copy is in its home region (the region in its token) unless the
//! home hot tier was down when it was needed; then the serving region takes the hot copy
//! (failover) and records that in the cold record (`hot_region`), so the home region finds and
//! takes the newest state back once it recovers. A lookup reads the local hot tier, then the home
//! hot tier (when remote), then the cold tier, and promotes what it finds there.
//!
//! Removals are final. Logout, revoke and erase replace the session with a tombstone
//! ([`Session::tombstone`]) in every hot tier that could hold it and in the cold tier, and every
//! store keeps a tombstone over any state written after it (it is the freshest state there is).
//! So a sync pass, a promotion or a write-through that read the session before the removal
//! cannot write it back, and a lookup that finds a tombstone answers "unknown" at once. A hot
//! tombstone is no session (out of the idle index and the counts) and lasts the hot TTL; a cold
//! one the hot TTL plus [`crate::lifecycle::TOMBSTONE_GUARD`]. A removal that cannot reach a
//! store that could hold the session fails (the caller retries) instead of answering "done".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::analytics::Activity;
use crate::audit::{AuditEvent, AuditKind, Tier};
use crate::config::Durability;
use crate::engine::Engine;
use crate::error::{EngineError, StoreError};
use crate::lifecycle::{ColdState, HotState};
use crate::session::{
    MAX_LIVE_VERSION, RegionId, Session, SessionData, SessionId, SessionToken, TOMBSTONE_VERSION, UserId,
};
use crate::store::{AuditSink, ColdLookup, ColdStore, ColdWrite, HotLookup, HotStore, HotTouch, HotUpdate, HotWrite};
use crate::time::{Clock, Timestamp};

/// How many times the slow path of [`SessionManager::update`] finds the session and tries to
/// change it where it lives before answering [`EngineError::Contention`]. Each miss means the sync
/// job or a concurrent request moved the session in between, a rare race: a second attempt almost
/// always finds it settled, and the third is the margin, keeping the call bounded.
const UPDATE_ATTEMPTS: usize = 3;

/// Sessions per page when [`SessionManager::revoke_user`] and [`SessionManager::erase_user`]
/// walk a user's sessions: each store answers at most this many at once, so their memory is a
/// few pages whatever the user has (DESIGN: "everything is bounded").
pub const REMOVAL_PAGE: usize = 500;

/// Rounds of store reads one page may take. A round can leave the page short when records are
/// filtered out (expired, outlived); further rounds fill it, up to this bound, after which the
/// page is returned short with a cursor (a user with thousands of expired records then takes a
/// few more pages, each still bounded in memory and time).
const PAGE_ROUNDS: usize = 8;

/// One page of a user's sessions ([`SessionManager::sessions_of_user_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// Up to the page size, in ascending id order.
    pub sessions: Vec<Session>,
    /// Where the next page starts (strictly after this id); `None` when there is nothing after
    /// this page. Usually the last session's id; after records that were filtered out it may
    /// be a later id, and a page may then be short.
    pub next: Option<SessionId>,
}

/// Which of a user's records a page keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Sessions still live and within their absolute lifetime (listing).
    Live,
    /// Records not yet past the cold TTL (revocation; the absolute lifetime is left to `end`).
    Unexpired,
    /// Every record (erasure: expired records are personal data too).
    All,
}

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

    /// The engine this manager serves.
    pub const fn engine(&self) -> &Arc<Engine<H, C, A, K>> {
        &self.engine
    }

    /// The region this manager serves.
    pub const fn region(&self) -> RegionId {
        self.region
    }

    fn now(&self) -> Timestamp {
        self.engine.clock().now()
    }

    /// This region, then the session's home if that is another (no allocation: on every update).
    /// A restricted session skips this region when it may not hold it (see [`crate::residency`]):
    /// it is never stored here, so only its home is asked.
    fn here_then_home(&self, id: &SessionId) -> impl Iterator<Item = RegionId> {
        let here = self.engine.residency().allows(id.home(), self.region).then_some(self.region);
        here.into_iter().chain((id.home() != self.region).then_some(id.home()))
    }

    /// The cold replica this region reads and writes the records of sessions homed in `home`
    /// through: its own, or the home's for a restricted session it may not hold.
    pub(crate) fn cold_region(&self, home: RegionId) -> RegionId {
        self.engine.residency().store_region(home, self.region)
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
        self.create_in(self.region, user_id, data).await
    }

    /// Creates a session for a user of region `home`, served here: the instance that serves
    /// another region's users while that region is down (its load balancer sent them here) names
    /// their region, so the session is homed where its user is and goes home after the recovery
    /// (see [`crate::failback`]) instead of paying the round trip to this region for the rest of
    /// its life. `home` = this region (or a region not configured) is a plain [`Self::create`].
    ///
    /// The session is stored in `home`'s hot tier when it answers (a create that pays one round
    /// trip, as a traveller's lookups do). While it does not, this region holds the hot copy as a
    /// failover copy, and the cold record is written first to say so, so that home finds it; when
    /// the cold tier cannot take that record either, the session is homed here after all.
    pub async fn create_in(&self, home: RegionId, user_id: UserId, data: SessionData) -> Result<Created, EngineError> {
        self.check_size(&data)?;
        let engine = &*self.engine;
        let here = self.region;
        let now = self.now();
        let ttl = engine.policy().hot_ttl;
        let home = if engine.has_region(home) { home } else { here };
        let (mut token, mut session) = self.new_session(home, user_id, data, now);
        let store_at = self.cold_region(home);
        if self.write_through() {
            engine.cold().put(&session, store_at, now).await?;
            session.persisted_version = 1;
        }
        if home != here {
            if !engine.hot_seems_down(home, now) {
                match engine.hot(home).put(&session, ttl).await {
                    Ok(_) => {
                        engine.record(AuditEvent::about(&session, AuditKind::Created, Tier::Hot, home, now)).await;
                        return Ok(Created { token, session, hot: true });
                    }
                    Err(_) => engine.note_hot_down(home, now),
                }
            }
            // The failover copy: here, or for a restricted session another allowed region (none:
            // the session starts in the cold tier and is promoted at home once it answers).
            let holder =
                engine.residency().failover_region(home, here, |r| r == here || !engine.hot_seems_down(r, now));
            session.hot_region = holder;
            match engine.cold().put(&session, store_at, now).await {
                Ok(_) => {
                    session.persisted_version = session.version;
                    let held = match holder {
                        Some(holder) => engine.hot(holder).put(&session, ttl).await.is_ok(),
                        None => false,
                    };
                    let (tier, region) = match holder {
                        Some(holder) if held => (Tier::Hot, holder),
                        _ => (Tier::Cold, store_at),
                    };
                    engine.record(AuditEvent::about(&session, AuditKind::Created, tier, region, now)).await;
                    return Ok(Created { token, session, hot: held });
                }
                // A restricted session is never homed where its user is not allowed to be stored.
                Err(e) if engine.residency().is_restricted(home) => return Err(e.into()),
                Err(_) => {}
            }
            // Neither home's hot tier nor the cold tier can take it: a session of this region.
            let Session { user_id, data, .. } = session;
            (token, session) = self.new_session(here, user_id, data, now);
            if self.write_through() {
                engine.cold().put(&session, here, now).await?;
                session.persisted_version = 1;
            }
        }
        let put = engine.hot(here).put(&session, ttl).await;
        let hot = put.is_ok();
        if let Err(hot_error) = put {
            if session.persisted_version == 0 {
                match engine.cold().put(&session, here, now).await {
                    Ok(_) => session.persisted_version = 1,
                    Err(_) => return Err(hot_error.into()),
                }
            }
        }
        let tier = if hot { Tier::Hot } else { Tier::Cold };
        engine.record(AuditEvent::about(&session, AuditKind::Created, tier, here, now)).await;
        Ok(Created { token, session, hot })
    }

    /// A new session homed in `home`, version 1, and its token (from this manager's CSPRNG).
    fn new_session(
        &self,
        home: RegionId,
        user_id: UserId,
        data: SessionData,
        now: Timestamp,
    ) -> (SessionToken, Session) {
        let token = {
            let mut rng = self.token_rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            SessionToken::generate(&mut *rng, home)
        };
        let session = Session {
            id: token.id(),
            user_id,
            data,
            version: 1,
            created_at: now,
            last_access: now,
            persisted_version: 0,
            hot_region: None,
            // The creating request is the session's first.
            activity: Activity::first(now),
        };
        (token, session)
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
                HotLookup::Hit(session) if session.is_tombstone() => return Lookup::Miss,
                HotLookup::Hit(session) if self.engine.policy().outlived(session.created_at, now) => {
                    return self.end_outlived(session, region, now).await;
                }
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
        if self.engine.policy().absolute_lifetime.is_some() {
            // The version-only touch does not read when the session was created: with an
            // absolute lifetime to enforce, look it up whole.
            return match self.get(id).await {
                Lookup::Found { session, served, hot_region } => {
                    Ok(Touched { version: session.version, served, hot_region })
                }
                Lookup::Expired | Lookup::Miss => Err(EngineError::NotFound),
                Lookup::Unavailable(e) => Err(e.into()),
            };
        }
        let now = self.now();
        let ttl = self.engine.policy().hot_ttl;
        let mut missed = HotMisses::default();
        for region in self.here_then_home(id) {
            match self.engine.hot(region).touch(id, now, ttl).await {
                HotTouch::Hit { version } if version >= TOMBSTONE_VERSION => return Err(EngineError::NotFound),
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
            let event = AuditEvent {
                at: now,
                kind: AuditKind::Expired,
                tier: Tier::Hot,
                region: here,
                session: *id,
                user_id: None,
                version: 0,
                data_bytes: 0,
                created_at: crate::time::Timestamp(0),
                activity: Activity::default(),
            };
            engine.record(event).await;
        }

        let mut session = match self.read_cold(id).await {
            ColdLookup::Found(session) if session.is_tombstone() => return Lookup::Miss,
            ColdLookup::Found(session) => session,
            ColdLookup::Miss if home_down && let Some(found) = self.held_elsewhere(id, now).await => return found,
            ColdLookup::Miss if expired_hot => return Lookup::Expired,
            ColdLookup::Miss => return Lookup::Miss,
            ColdLookup::Unavailable(e) => return Lookup::Unavailable(e),
        };
        if engine.policy().outlived(session.created_at, now) {
            // Past its absolute lifetime however recently used: no sweep would find it, so it
            // ends here (the record is never returned either way).
            let _ = engine.cold().delete(id, self.cold_region(home), now).await;
            engine.record(AuditEvent::about(&session, AuditKind::Expired, Tier::Cold, here, now)).await;
            return Lookup::Expired;
        }
        if engine.policy().cold_state(session.last_access, now) == ColdState::Expired {
            // Enforced on read: DynamoDB's TTL deletes it later. Its end is reported once, by the
            // home region's cold expiry sweep (`SyncService::expire_cold`), not by each lookup.
            return Lookup::Expired;
        }
        session.persisted_version = session.version;

        // A failover copy held elsewhere may be newer than the cold record: take it back.
        let mut taken_from_holder = false;
        if let Some(holder) = session.hot_region.filter(|r| *r != here && *r != home && engine.has_region(*r)) {
            if home_down {
                // Home is still down: the copy stays with its holder, which serves it to this region
                // as home serves a traveller. Moving it here instead would move it again at the
                // user's next request there, each move racing the replication of the cold record
                // that names the holder.
                match engine.hot(holder).get_and_touch(id, now, ttl).await {
                    HotLookup::Hit(copy) if copy.is_tombstone() => return Lookup::Miss,
                    HotLookup::Hit(copy) if copy.freshness() >= session.freshness() => {
                        return found(copy, Served::Hot, Some(holder));
                    }
                    // Gone from the holder (demoted, expired, lost with it): promoted here below.
                    _ => {}
                }
            }
            if let HotLookup::Hit(newer) = engine.hot(holder).take(id).await {
                if newer.is_tombstone() {
                    // A removal reached the holder but not the cold tier (it failed, and its caller
                    // was told so): the session is gone. Leave the tombstone where it was.
                    let _ = engine.hot(holder).put(&newer, ttl).await;
                    return Lookup::Miss;
                }
                taken_from_holder = true;
                if newer.freshness() > session.freshness() {
                    session = newer;
                }
            }
        }

        // Promoted at home, or while home is down into this region (a restricted session: into
        // another region allowed to hold it, if any).
        let store_at = self.cold_region(home);
        let visit_gap_ms = u64::try_from(engine.policy().promotion_threshold.as_millis()).unwrap_or(u64::MAX);
        let target = if home_down {
            engine
                .residency()
                .failover_region(home, here, |r| if r == here { !here_down } else { !engine.hot_seems_down(r, now) })
        } else {
            Some(home)
        };
        let Some(target) = target else {
            // No hot tier can take it: serve from cold, and record the access (and count the
            // request) there so the session's expiry counts from now.
            session.last_access = now;
            session.activity.record_with_gap(now, visit_gap_ms);
            let _ = engine.cold().put(&session, store_at, now).await;
            return found(session, Served::ColdOnly, None);
        };
        session.last_access = now;
        // This lookup's request, counted once: here, as a put does not count. If the put is
        // refused for a newer copy, the touch below counts it in that copy instead.
        session.activity.record_with_gap(now, visit_gap_ms);
        // A failover copy carries its own location, so every cold write made from it (write-through,
        // write-behind) keeps the marker that lets home take it back.
        session.hot_region = (target != home).then_some(target);
        match engine.hot(target).put(&session, ttl).await {
            Ok(HotWrite::Written) => {}
            Ok(HotWrite::KeptNewer) => {
                // Promoted concurrently by another request (serve the hot copy), or removed since
                // the cold tier was read (the hot tier holds the tombstone: the session is gone).
                match engine.hot(target).get_and_touch(id, now, ttl).await {
                    HotLookup::Hit(hot) if hot.is_tombstone() => return Lookup::Miss,
                    HotLookup::Hit(hot) => return found(hot, Served::Hot, Some(target)),
                    _ => {}
                }
            }
            Err(_) => {
                if target != here && target != home {
                    // A restricted session's failover region: skipped by the next lookups.
                    engine.note_hot_down(target, now);
                }
                session.hot_region = None;
                let _ = engine.cold().put(&session, store_at, now).await;
                return found(session, Served::ColdOnly, None);
            }
        }
        if target != home {
            // Record where the hot copy went, so home takes the newest state back after failover.
            let _ = engine.cold().put(&session, store_at, now).await;
        }
        // Taken from a failover holder into its home: failback on access (see `crate::failback`).
        let kind = if taken_from_holder && target == home { AuditKind::MovedHome } else { AuditKind::Promoted };
        engine.record(AuditEvent::about(&session, kind, Tier::Hot, target, now)).await;
        found(session, Served::Promoted, Some(target))
    }

    /// While a session's home hot tier is down and no replica this region reads has its cold
    /// record yet, the copy may still be held by the region serving home's users: created there
    /// for one of them a moment ago (`create_in`), its record not yet replicated here. Asks the
    /// other regions' hot tiers (one round trip each, only on this path); answers the copy found,
    /// `Miss` for a removal's tombstone, `None` when none holds it.
    async fn held_elsewhere(&self, id: &SessionId, now: Timestamp) -> Option<Lookup> {
        let engine = &*self.engine;
        let ttl = engine.policy().hot_ttl;
        let allowed = |r: RegionId| engine.residency().allows(id.home(), r);
        for (region, store) in engine.hot_stores().filter(|(r, _)| *r != self.region && *r != id.home() && allowed(*r))
        {
            match store.get_and_touch(id, now, ttl).await {
                HotLookup::Hit(tombstone) if tombstone.is_tombstone() => return Some(Lookup::Miss),
                HotLookup::Hit(copy) => return Some(found(copy, Served::Hot, Some(region))),
                HotLookup::Miss | HotLookup::Expired | HotLookup::Unavailable(_) => {}
            }
        }
        None
    }

    /// The cold record where it must be newest: the home region's replica. A session's cold
    /// writes come from its home (its hot copy lives there: demotion, write-behind), so this
    /// region's replica may lag behind by the replication delay; a travelling user's lookup read
    /// there would miss a session just demoted, or promote an older state (both lose what the user
    /// holds). When home's replica cannot answer, this region's is read instead.
    ///
    /// The exception is a failover: while home's hot tier is down this region holds the session
    /// and writes its cold record (the marker naming it, demotion, write-behind), so home's
    /// replica may lag behind this one. When home's record names this region as the holder, or
    /// home's replica has no record at all, this region's replica is read too and the fresher
    /// record wins (one more local read, only on those lookups).
    async fn read_cold(&self, id: &SessionId) -> ColdLookup {
        let cold = self.engine.cold();
        let (home, here) = (id.home(), self.cold_region(id.home()));
        if home == here {
            return cold.get(id, home).await;
        }
        match cold.get(id, home).await {
            ColdLookup::Unavailable(_) | ColdLookup::Miss => cold.get(id, here).await,
            ColdLookup::Found(record) if record.hot_region == Some(here) => match cold.get(id, here).await {
                ColdLookup::Found(local) if local.freshness() > record.freshness() => ColdLookup::Found(local),
                _ => ColdLookup::Found(record),
            },
            lookup => lookup,
        }
    }

    /// Ends a session found in `region`'s hot tier past its absolute lifetime: its copies go
    /// (best effort: a later lookup finds whatever is left just as outlived) and it expires.
    async fn end_outlived(&self, session: Session, region: RegionId, now: Timestamp) -> Lookup {
        let engine = &*self.engine;
        let _ = engine.hot(region).remove(&session.id).await;
        let _ = engine.cold().delete(&session.id, self.cold_region(session.id.home()), now).await;
        engine.record(AuditEvent::about(&session, AuditKind::Expired, Tier::Hot, region, now)).await;
        Lookup::Expired
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
        // No live session is at these versions; a tombstone is, and an update "based on" it
        // must not bring the session back.
        if !self.engine.has_region(id.home()) || expected_version >= MAX_LIVE_VERSION {
            return Err(EngineError::NotFound);
        }
        let engine = &*self.engine;
        let ttl = engine.policy().hot_ttl;
        let now = self.now();
        // Fast path: one round trip where the hot copy usually is.
        for region in self.here_then_home(id) {
            match engine.hot(region).update(id, &data, expected_version, now, ttl).await {
                Ok(HotUpdate::Updated(session)) => return self.finish_update(session, region, now).await,
                Ok(HotUpdate::Conflict { current }) if current >= TOMBSTONE_VERSION => {
                    return Err(EngineError::NotFound);
                }
                Ok(HotUpdate::Conflict { current }) => {
                    return Err(EngineError::VersionConflict { expected: expected_version, current });
                }
                Ok(HotUpdate::Miss) | Err(_) => {}
            }
        }
        // Slow path: find (and promote) it, then update where it now lives. A demotion racing
        // this update can remove the hot copy in between; a few attempts settle it.
        for _ in 0..UPDATE_ATTEMPTS {
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
                        Ok(HotUpdate::Conflict { current }) if current >= TOMBSTONE_VERSION => {
                            return Err(EngineError::NotFound);
                        }
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
                    match engine.cold().put(&session, self.cold_region(id.home()), now).await? {
                        ColdWrite::Written => {
                            engine
                                .record(AuditEvent::about(&session, AuditKind::Updated, Tier::Cold, self.region, now))
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
        Err(EngineError::Contention)
    }

    async fn finish_update(
        &self,
        mut session: Session,
        region: RegionId,
        now: Timestamp,
    ) -> Result<Session, EngineError> {
        let engine = &*self.engine;
        if engine.policy().outlived(session.created_at, now) {
            // Past its absolute lifetime: the change goes with the session.
            self.end_outlived(session, region, now).await;
            return Err(EngineError::NotFound);
        }
        engine.record(AuditEvent::about(&session, AuditKind::Updated, Tier::Hot, self.region, now)).await;
        if self.write_through() {
            engine.cold().put(&session, self.cold_region(session.id.home()), now).await?;
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

    /// Replaces a session with tombstones in this region's and its home region's hot tiers, in the
    /// region holding a failover copy, and in the cold tier. Every one of those stores must
    /// answer: one that is down fails the call (the caller retries), because a copy it holds would
    /// be served again once it is back.
    ///
    /// The hot tiers go first: once home holds the tombstone, no lookup anywhere serves the
    /// session, even one reading a cold replica that the cold tombstone has not reached yet. If
    /// one of them cannot be reached, the cold tier is left as it was, so the retry still finds
    /// the session (and reports its end to the audit trail).
    async fn end(&self, id: &SessionId, kind: AuditKind) -> Result<bool, EngineError> {
        if !self.engine.has_region(id.home()) {
            return Ok(false);
        }
        let engine = &*self.engine;
        let now = self.now();
        // The session as the audit event reports it, and the tier it was removed from.
        let mut known: Option<(Session, Tier)> = None;
        let mut unreachable: Option<StoreError> = None;
        // Here or home already held a tombstone: this call repeats an end that failed half way,
        // whose event the first attempt recorded.
        let mut buried_before = false;
        for region in self.here_then_home(id) {
            match self.bury_hot(region, id, now).await {
                Ok(Buried::Live(session)) => known = Some((session, Tier::Hot)),
                Ok(Buried::Tombstone) => buried_before = true,
                Ok(Buried::Nothing) => {}
                Err(e) => unreachable = Some(e),
            }
        }
        // An attempt that leaves tombstones behind and then fails must either have recorded the
        // end (it learned the session) or take its tombstones back, so that its retry neither
        // records the end twice nor misses it (no lifecycle event is dropped).
        if let Some((session, tier)) = &known {
            engine.record(AuditEvent::about(session, kind, *tier, self.region, now)).await;
        }
        let undo = known.is_none() && !buried_before;
        // Everything that can fail between the burial and the record, in one place, so a failure
        // takes the tombstones back once. Answers the live cold record, if any, and whether a
        // failover holder was asked for its copy.
        let settled: Result<(Option<Session>, bool), StoreError> = async {
            if let Some(e) = unreachable {
                return Err(e);
            }
            let cold = match self.read_cold(id).await {
                ColdLookup::Found(record) => Some(record).filter(|r| !r.is_tombstone()),
                ColdLookup::Miss => None,
                ColdLookup::Unavailable(e) => return Err(e),
            };
            let holder = cold
                .as_ref()
                .and_then(|record| record.hot_region)
                .filter(|r| !self.here_then_home(id).any(|seen| seen == *r) && engine.has_region(*r));
            if let Some(holder) = holder
                && let Buried::Live(session) = self.bury_hot(holder, id, now).await?
                && known.is_none()
            {
                known = Some((session, Tier::Hot));
            }
            Ok((cold, holder.is_some()))
        }
        .await;
        let (cold, asked_holder) = match settled {
            Ok(settled) => settled,
            Err(e) => {
                if undo {
                    self.unbury_here_and_home(id).await;
                }
                return Err(e.into());
            }
        };
        let cold_held = cold.is_some();
        if !asked_holder && known.is_none() {
            known = cold
                .filter(|record| engine.policy().cold_state(record.last_access, now) == ColdState::Live)
                .map(|record| (record, Tier::Cold));
        }
        if undo && let Some((session, tier)) = &known {
            engine.record(AuditEvent::about(session, kind, *tier, self.region, now)).await;
        }
        // A repeat that finds the live cold record completes an end begun (and recorded) by an
        // attempt that failed half way: it ended a session too (revoke counts it).
        let completed = buried_before && cold_held;
        self.bury_cold(id, now).await?;
        Ok(known.is_some() || completed)
    }

    /// Takes this attempt's tombstones out of here's and home's hot tiers again (best effort:
    /// nothing else can have written there since, a tombstone refuses every write).
    async fn unbury_here_and_home(&self, id: &SessionId) {
        for region in self.here_then_home(id) {
            let hot = self.engine.hot(region);
            if let HotLookup::Hit(found) = hot.take(id).await
                && !found.is_tombstone()
            {
                // Not ours after all: put it back as it was.
                let _ = hot.put(&found, self.engine.policy().hot_ttl).await;
            }
        }
    }

    /// Replaces whatever `region`'s hot tier holds of a session with a tombstone; answers what it
    /// held.
    async fn bury_hot(&self, region: RegionId, id: &SessionId, now: Timestamp) -> Result<Buried, StoreError> {
        let engine = &*self.engine;
        let hot = engine.hot(region);
        let taken = match hot.take(id).await {
            HotLookup::Hit(session) if session.is_tombstone() => Buried::Tombstone,
            HotLookup::Hit(session) => Buried::Live(session),
            HotLookup::Miss | HotLookup::Expired => Buried::Nothing,
            HotLookup::Unavailable(e) => return Err(e),
        };
        // A promotion that read the session before the take and writes after it is refused here.
        // Out of the idle index (no session to count or demote), it ends with the hot TTL.
        hot.put(&Session::tombstone(*id, now), engine.policy().hot_ttl).await?;
        Ok(taken)
    }

    /// Writes a session's tombstone to the cold tier, over any state it holds.
    async fn bury_cold(&self, id: &SessionId, now: Timestamp) -> Result<(), StoreError> {
        let tombstone = Session::tombstone(*id, self.engine.policy().cold_tombstone_access(now));
        self.engine.cold().put(&tombstone, self.cold_region(id.home()), now).await.map(|_| ())
    }

    /// The live sessions of a user, across every region's hot tier and the cold tier, oldest
    /// first. Hot tiers that are down are skipped; the cold tier must answer.
    ///
    /// Reads every record of the user at once: for a user with many sessions use
    /// [`Self::sessions_of_user_page`], whose memory is bounded by the page size.
    pub async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, EngineError> {
        let now = self.now();
        let policy = *self.engine.policy();
        let all = self.all_records_of_user(user).await?;
        Ok(all
            .into_iter()
            .filter(|s| policy.cold_state(s.last_access, now) == ColdState::Live && !policy.outlived(s.created_at, now))
            .collect())
    }

    /// Every record of a user (live or not) from every hot tier and the cold tier, freshest state
    /// per session, tombstones left out. Hot tiers that are down are skipped.
    async fn all_records_of_user(&self, user: &UserId) -> Result<Vec<Session>, EngineError> {
        let engine = &*self.engine;
        let now = self.now();
        let mut by_id: BTreeMap<SessionId, Session> = BTreeMap::new();
        for session in engine.cold().sessions_of_user(user, self.region).await? {
            keep_freshest(&mut by_id, session);
        }
        for (_, store) in engine.hot_stores() {
            if let Ok(sessions) = store.sessions_of_user(user).await {
                for session in sessions {
                    if engine.policy().hot_state(session.last_access, now) != HotState::Expired {
                        keep_freshest(&mut by_id, session);
                    }
                }
            }
        }
        let mut sessions: Vec<Session> = by_id.into_values().filter(|s| !s.is_tombstone()).collect();
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    /// One page of a user's live sessions (as [`Self::sessions_of_user`] lists them), in
    /// ascending id order: up to `limit` (at least 1) sessions with ids strictly after `after`.
    /// Pass back [`SessionPage::next`] as `after` for the following page. Hot tiers that are down
    /// are skipped; the cold tier must answer.
    ///
    /// Each store is asked for one page at a time, so memory stays a few pages whatever the
    /// user has. A session created or ended while a listing pages through is listed if its id
    /// lies after the cursor at that moment.
    pub async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<SessionPage, EngineError> {
        self.records_page(user, after, limit, false, Keep::Live).await
    }

    /// A page of a user's records that `keep` accepts: rounds of [`Self::records_round`] until
    /// the page is full, the records end, or [`PAGE_ROUNDS`] rounds ran.
    async fn records_page(
        &self,
        user: &UserId,
        after: Option<SessionId>,
        limit: usize,
        strict: bool,
        keep: Keep,
    ) -> Result<SessionPage, EngineError> {
        let limit = limit.max(1);
        let now = self.now();
        let policy = *self.engine.policy();
        let kept = |s: &Session| match keep {
            Keep::Live => {
                policy.cold_state(s.last_access, now) == ColdState::Live && !policy.outlived(s.created_at, now)
            }
            Keep::Unexpired => policy.cold_state(s.last_access, now) == ColdState::Live,
            Keep::All => true,
        };
        let mut sessions = Vec::new();
        let mut position = after;
        for _ in 0..PAGE_ROUNDS {
            let (records, complete_through) = self.records_round(user, position, limit, strict, now).await?;
            let mut rest = records.into_iter().filter(|s| kept(s));
            for session in rest.by_ref() {
                sessions.push(session);
                if sessions.len() == limit {
                    break;
                }
            }
            if sessions.len() == limit {
                let last = sessions.last().map(|s| s.id);
                let more = rest.next().is_some() || complete_through.is_some();
                return Ok(SessionPage { sessions, next: last.filter(|_| more) });
            }
            match complete_through {
                // Every record up to here was seen: go on after it (ids only grow, so this ends).
                Some(through) if position.is_none_or(|p| through > p) => position = Some(through),
                _ => return Ok(SessionPage { sessions, next: None }),
            }
        }
        Ok(SessionPage { sessions, next: position })
    }

    /// One round of a page: a page of `limit` records after `after` from the cold tier and from
    /// every hot tier, merged to the freshest state per session (hot copies past their TTL and
    /// tombstones left out), in ascending id order. A store that answered a full page may hold
    /// more after its last id, so the merge is complete only up to the smallest such last id:
    /// the round keeps the records up to it and answers it (`None`: every store answered short,
    /// the user has no more records). With `strict`, a hot tier that is down is an error;
    /// otherwise it is skipped.
    async fn records_round(
        &self,
        user: &UserId,
        after: Option<SessionId>,
        limit: usize,
        strict: bool,
        now: Timestamp,
    ) -> Result<(Vec<Session>, Option<SessionId>), EngineError> {
        let engine = &*self.engine;
        let mut complete_through: Option<SessionId> = None;
        let mut by_id: BTreeMap<SessionId, Session> = BTreeMap::new();
        let cold = engine.cold().sessions_of_user_page(user, after.as_ref(), limit, self.region).await?;
        note_page(&mut complete_through, &cold, limit);
        for session in cold {
            keep_freshest(&mut by_id, session);
        }
        for (_, store) in engine.hot_stores() {
            match store.sessions_of_user_page(user, after.as_ref(), limit).await {
                Ok(page) => {
                    note_page(&mut complete_through, &page, limit);
                    for session in page {
                        if engine.policy().hot_state(session.last_access, now) != HotState::Expired {
                            keep_freshest(&mut by_id, session);
                        }
                    }
                }
                Err(e) if strict => return Err(e.into()),
                Err(_) => {}
            }
        }
        let records = by_id
            .into_values()
            // A store must answer only ids after the cursor; one that did not is not trusted.
            .filter(|s| after.is_none_or(|after| s.id > after))
            .filter(|s| complete_through.is_none_or(|through| s.id <= through))
            .filter(|s| !s.is_tombstone())
            .collect();
        Ok((records, complete_through))
    }

    /// Ends every live session of a user (e.g. after a password change); returns how many. Every
    /// hot tier must answer (one that is down could hold a session of the user): otherwise the
    /// call fails and can be repeated (the sessions already ended stay ended).
    ///
    /// Works a page of [`REMOVAL_PAGE`] sessions at a time, so its memory is bounded whatever
    /// the user has; a session created while it runs is ended if its id lies after the page
    /// being worked on.
    pub async fn revoke_user(&self, user: &UserId) -> Result<u64, EngineError> {
        let mut revoked = 0;
        let mut after = None;
        loop {
            let page = self.records_page(user, after, REMOVAL_PAGE, true, Keep::Unexpired).await?;
            for session in &page.sessions {
                if self.end(&session.id, AuditKind::Revoked).await? {
                    revoked += 1;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(revoked),
            }
        }
    }

    /// Erases a user (GDPR/CCPA): every session record, live or expired, is replaced with a
    /// tombstone (which names no user) in every hot tier and the cold tier, and the user's audit
    /// records are pseudonymised. Every store must answer, or the call fails and can be repeated.
    /// Returns how many sessions were erased. Pages like [`Self::revoke_user`].
    pub async fn erase_user(&self, user: &UserId) -> Result<u64, EngineError> {
        let engine = &*self.engine;
        let pseudonym = engine.pseudonym(user);
        let mut erased = 0;
        let mut after = None;
        loop {
            let page = self.records_page(user, after, REMOVAL_PAGE, true, Keep::All).await?;
            let now = self.now();
            for session in &page.sessions {
                let mut tier = Tier::Cold;
                let allowed = |r: RegionId| engine.residency().allows(session.id.home(), r);
                for (region, _) in engine.hot_stores().filter(|(r, _)| allowed(*r)) {
                    if matches!(self.bury_hot(region, &session.id, now).await?, Buried::Live(_)) {
                        tier = Tier::Hot;
                    }
                }
                self.bury_cold(&session.id, now).await?;
                let event = AuditEvent {
                    user_id: Some(pseudonym.clone()),
                    ..AuditEvent::about(session, AuditKind::Erased, tier, self.region, now)
                };
                engine.record(event).await;
                erased += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        engine.audit().pseudonymise_user(user, &pseudonym, self.now()).await?;
        Ok(erased)
    }
}

/// What a hot tier held when a removal put its tombstone there.
#[derive(Debug)]
enum Buried {
    /// A live session: the removal ended it.
    Live(Session),
    /// A tombstone: an earlier removal got here first.
    Tombstone,
    /// Nothing (or an expired copy).
    Nothing,
}

/// Keeps the freshest state of each session (see [`Session::freshness`]).
fn keep_freshest(by_id: &mut BTreeMap<SessionId, Session>, session: Session) {
    if by_id.get(&session.id).is_none_or(|s| session.freshness() > s.freshness()) {
        by_id.insert(session.id, session);
    }
}

/// Narrows how far a round's records are complete after a store answered `page`: a full page
/// may have more after its last id, a short one has not.
fn note_page(complete_through: &mut Option<SessionId>, page: &[Session], limit: usize) {
    if page.len() >= limit {
        if let Some(last) = page.iter().map(|s| s.id).max() {
            *complete_through = Some(complete_through.map_or(last, |through| through.min(last)));
        }
    }
}

fn found(session: Session, served: Served, hot_region: Option<RegionId>) -> Lookup {
    Lookup::Found { session, served, hot_region }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{EngineConfig, SessionConfig};
    use crate::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
    use crate::ready::now_or_panic;
    use crate::store::IdleEntry;
    use crate::sync::{SyncReport, SyncService};
    use crate::time::ManualClock;

    type Cold = Arc<MemoryColdStore>;
    type Audit = Arc<MemoryAudit>;
    type TestClock = Arc<ManualClock>;

    /// One region over in-memory stores, with handles on everything a test switches or reads.
    struct World<H> {
        engine: Arc<Engine<H, Cold, Audit, TestClock>>,
        manager: SessionManager<H, Cold, Audit, TestClock>,
        cold: Cold,
        audit: Audit,
        clock: TestClock,
    }

    impl<H: HotStore> World<H> {
        fn new(hot: H) -> Self {
            let mut session_config = SessionConfig::default();
            session_config.hot_storage.regions = vec!["test-1".into()];
            let cold = Arc::new(MemoryColdStore::new("cold"));
            let audit = Arc::new(MemoryAudit::new());
            let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
            let engine = Arc::new(
                Engine::new(
                    session_config,
                    EngineConfig::default(),
                    vec![hot],
                    Arc::clone(&cold),
                    Arc::clone(&audit),
                    Arc::clone(&clock),
                )
                .expect("valid engine"),
            );
            let manager = SessionManager::with_token_seed(Arc::clone(&engine), RegionId(0), 1);
            Self { engine, manager, cold, audit, clock }
        }

        fn create(&self, user: &str) -> SessionId {
            let user = UserId::new(user).expect("user id");
            now_or_panic(self.manager.create(user, data("{}"))).expect("create").session.id
        }

        /// Lets every session go idle past the promotion threshold and runs a demotion pass.
        fn demote_idle(&self) -> SyncReport {
            let threshold = self.engine.policy().promotion_threshold;
            self.clock.advance(threshold + Duration::from_secs(1));
            now_or_panic(SyncService::new(Arc::clone(&self.engine)).run_once(RegionId(0)))
        }

        /// Kind and tier of every audit event so far, in order.
        fn trail(&self) -> Vec<(AuditKind, Tier)> {
            self.audit.events().iter().map(|e| (e.kind, e.tier)).collect()
        }

        fn last_event(&self) -> AuditEvent {
            self.audit.events().pop().expect("an audit event")
        }
    }

    fn data(json: &str) -> SessionData {
        SessionData::from_json(&serde_json::from_str(json).expect("JSON"), 1024).expect("data")
    }

    /// A hot tier whose updates always miss, as if the sync job took the session away between
    /// every lookup and every update.
    struct SlipperyHot(MemoryHotStore);

    impl HotStore for SlipperyHot {
        async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
            self.0.get_and_touch(id, now, ttl).await
        }
        async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
            self.0.put(session, ttl).await
        }
        async fn update(
            &self,
            _id: &SessionId,
            _data: &SessionData,
            _expected_version: u64,
            _now: Timestamp,
            _ttl: Duration,
        ) -> Result<HotUpdate, StoreError> {
            Ok(HotUpdate::Miss)
        }
        async fn take(&self, id: &SessionId) -> HotLookup {
            self.0.take(id).await
        }
        async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
            self.0.remove(id).await
        }
        async fn remove_if_unchanged(
            &self,
            id: &SessionId,
            version: u64,
            last_access: Timestamp,
        ) -> Result<bool, StoreError> {
            self.0.remove_if_unchanged(id, version, last_access).await
        }
        async fn idle_candidates(
            &self,
            idle_since: Timestamp,
            limit: usize,
            now: Timestamp,
        ) -> Result<Vec<IdleEntry>, StoreError> {
            self.0.idle_candidates(idle_since, limit, now).await
        }
        async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
            self.0.dirty(limit).await
        }
        async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
            self.0.mark_persisted(id, version).await
        }
        async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
            self.0.sessions_of_user(user).await
        }
        async fn sessions_of_user_page(
            &self,
            user: &UserId,
            after: Option<&SessionId>,
            limit: usize,
        ) -> Result<Vec<Session>, StoreError> {
            self.0.sessions_of_user_page(user, after, limit).await
        }
        async fn session_count(&self) -> Result<u64, StoreError> {
            self.0.session_count().await
        }
        async fn guests(&self, home: RegionId, limit: usize, now: Timestamp) -> Result<Vec<Session>, StoreError> {
            self.0.guests(home, limit, now).await
        }
    }

    #[test]
    fn a_hot_expiry_is_a_hot_event_and_a_cold_expiry_a_cold_one() {
        let world = World::new(Arc::new(MemoryHotStore::new("hot")));

        // Past the hot TTL with no sync pass: the hot copy expires, and the cold tier never had it.
        let lost = world.create("alice");
        world.clock.advance(world.engine.policy().hot_ttl + Duration::from_secs(1));
        assert_eq!(now_or_panic(world.manager.get(&lost)), Lookup::Expired);
        let event = world.last_event();
        assert_eq!((event.kind, event.tier, event.session), (AuditKind::Expired, Tier::Hot, lost));
        assert_eq!(event.user_id, None, "Redis forgets whose a session was when it expires");

        // Demoted, then past the cold TTL: the cold record expires, reported by the sweep.
        let demoted = world.create("bob");
        assert_eq!(world.demote_idle().demoted, 1);
        world.clock.advance(world.engine.policy().cold_ttl);
        assert_eq!(now_or_panic(world.manager.get(&demoted)), Lookup::Expired);
        assert_eq!(now_or_panic(SyncService::new(Arc::clone(&world.engine)).expire_cold(RegionId(0))).expired_cold, 1);
        let event = world.last_event();
        assert_eq!((event.kind, event.tier, event.session), (AuditKind::Expired, Tier::Cold, demoted));
        assert_eq!(event.user_id, Some(UserId::new("bob").unwrap()));
    }

    #[test]
    fn every_event_names_the_tier_it_happened_in() {
        let hot = Arc::new(MemoryHotStore::new("hot"));
        let world = World::new(Arc::clone(&hot));
        let manager = &world.manager;

        let first = world.create("alice");
        now_or_panic(manager.update(&first, data(r#"{"a":1}"#), 1)).expect("hot update");
        world.demote_idle();
        assert!(matches!(now_or_panic(manager.get(&first)), Lookup::Found { served: Served::Promoted, .. }));
        assert_eq!(now_or_panic(manager.logout(&first)), Ok(true));
        assert_eq!(
            world.trail(),
            [
                (AuditKind::Created, Tier::Hot),
                (AuditKind::Updated, Tier::Hot),
                (AuditKind::Demoted, Tier::Cold),
                (AuditKind::Promoted, Tier::Hot),
                (AuditKind::LoggedOut, Tier::Hot),
            ]
        );

        // Ended while cold: the event is about the cold record.
        let second = world.create("alice");
        world.demote_idle();
        assert_eq!(now_or_panic(manager.logout(&second)), Ok(true));
        assert_eq!(world.last_event().tier, Tier::Cold, "logged out from the cold tier");

        // The hot tier down: created and changed in the cold tier only.
        hot.set_available(false);
        let created = now_or_panic(manager.create(UserId::new("bob").unwrap(), data("{}"))).expect("create");
        assert!(!created.hot);
        assert_eq!((world.last_event().kind, world.last_event().tier), (AuditKind::Created, Tier::Cold));
        now_or_panic(manager.update(&created.session.id, data(r#"{"b":2}"#), 1)).expect("cold update");
        assert_eq!((world.last_event().kind, world.last_event().tier), (AuditKind::Updated, Tier::Cold));
        hot.set_available(true);
        assert_eq!(now_or_panic(manager.erase_user(&UserId::new("bob").unwrap())), Ok(1));
        assert_eq!((world.last_event().kind, world.last_event().tier), (AuditKind::Erased, Tier::Cold));

        // Ended while hot.
        world.create("carol");
        assert_eq!(now_or_panic(manager.revoke_user(&UserId::new("carol").unwrap())), Ok(1));
        assert_eq!((world.last_event().kind, world.last_event().tier), (AuditKind::Revoked, Tier::Hot));
        world.create("dave");
        assert_eq!(now_or_panic(manager.erase_user(&UserId::new("dave").unwrap())), Ok(1));
        let erased = world.last_event();
        assert_eq!((erased.kind, erased.tier), (AuditKind::Erased, Tier::Hot));
        let pseudonym = world.engine.pseudonym(&UserId::new("dave").unwrap());
        assert_eq!(erased.user_id, Some(pseudonym), "erased under a pseudonym");
    }

    #[test]
    fn an_update_that_keeps_missing_the_moving_session_is_contention() {
        let world = World::new(SlipperyHot(MemoryHotStore::new("hot")));
        let id = world.create("alice");
        assert_eq!(now_or_panic(world.manager.update(&id, data(r#"{"a":1}"#), 1)), Err(EngineError::Contention));
        match now_or_panic(world.manager.get(&id)) {
            Lookup::Found { session, .. } => assert_eq!(session.version, 1, "nothing was changed"),
            other => panic!("the session is still there, got {other:?}"),
        }
        assert!(world.audit.events().iter().all(|e| e.kind != AuditKind::Updated), "no update was recorded");
    }

    #[test]
    fn an_audit_trail_that_is_down_is_counted_not_returned() {
        let world = World::new(Arc::new(MemoryHotStore::new("hot")));
        world.audit.set_available(false);
        world.create("alice");
        assert_eq!(world.engine.audit_failures(), 1);
    }

    #[test]
    fn a_logout_that_cannot_reach_the_cold_tier_fails_and_its_retry_records_the_end_once() {
        let world = World::new(Arc::new(MemoryHotStore::new("hot")));
        let id = world.create("alice");
        world.cold.set_available(false);
        assert!(matches!(
            now_or_panic(world.manager.logout(&id)),
            Err(EngineError::Store(StoreError::Unavailable { .. }))
        ));
        let logged_out =
            |world: &World<_>| world.audit.events().iter().filter(|e| e.kind == AuditKind::LoggedOut).count();
        // The hot copy is buried, so the session has ended: recorded now, when it is known.
        assert_eq!(logged_out(&world), 1);
        world.cold.set_available(true);
        now_or_panic(world.manager.logout(&id)).expect("the retry completes the removal");
        assert_eq!(logged_out(&world), 1, "the retry does not record it again");
        assert_eq!(now_or_panic(world.manager.get(&id)), Lookup::Miss);
    }

    #[test]
    fn a_logout_of_a_cold_session_that_cannot_reach_the_cold_tier_leaves_its_retry_to_record_it() {
        let world = World::new(Arc::new(MemoryHotStore::new("hot")));
        let id = world.create("bob");
        assert_eq!(world.demote_idle().demoted, 1);
        world.cold.set_available(false);
        assert!(now_or_panic(world.manager.logout(&id)).is_err());
        assert!(world.audit.events().iter().all(|e| e.kind != AuditKind::LoggedOut), "not known: not recorded");
        world.cold.set_available(true);
        now_or_panic(world.manager.logout(&id)).expect("the retry");
        let ends: Vec<_> = world.audit.events().into_iter().filter(|e| e.kind == AuditKind::LoggedOut).collect();
        assert_eq!(ends.len(), 1, "recorded by the retry, once: {ends:?}");
        assert_eq!(ends[0].tier, Tier::Cold);
    }

    #[test]
    fn the_cold_expiry_sweep_reports_each_expired_cold_session_once_and_no_lookup_does() {
        let world = World::new(Arc::new(MemoryHotStore::new("hot")));
        let old = world.create("erin");
        assert_eq!(world.demote_idle().demoted, 1);
        let last_access = match now_or_panic(world.cold.get(&old, RegionId(0))) {
            ColdLookup::Found(record) => record.last_access,
            other => panic!("demoted: {other:?}"),
        };
        let cold_ttl = world.engine.policy().cold_ttl;
        world.clock.advance(cold_ttl - world.engine.policy().promotion_threshold);
        let fresh = world.create("fay");
        assert_eq!(world.demote_idle().demoted, 1);
        let expired = |world: &World<_>| {
            world.audit.events().into_iter().filter(|e| e.kind == AuditKind::Expired).collect::<Vec<_>>()
        };
        assert_eq!(now_or_panic(world.manager.get(&old)), Lookup::Expired, "never served");
        assert!(expired(&world).is_empty(), "a lookup does not report it (the sweep does, once)");
        let sync = SyncService::new(Arc::clone(&world.engine));
        let report = now_or_panic(sync.expire_cold(RegionId(0)));
        assert_eq!(report.expired_cold, 1, "{report:?}");
        let events = expired(&world);
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].session, events[0].tier), (old, Tier::Cold));
        assert_eq!(events[0].at, last_access + cold_ttl, "when it expired");
        assert_eq!(events[0].user_id, Some(UserId::new("erin").unwrap()), "whose session it was");
        assert!(matches!(now_or_panic(world.cold.get(&fresh, RegionId(0))), ColdLookup::Found(_)), "live: kept");
        assert_eq!(now_or_panic(sync.expire_cold(RegionId(0))).expired_cold, 0, "once: the mark moved past it");
        assert_eq!(now_or_panic(world.manager.get(&old)), Lookup::Expired);
        assert_eq!(expired(&world).len(), 1);
    }
}
