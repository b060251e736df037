//! The reference model: where every copy of every session is (each region's hot tier, the cold
//! table), which stores are up, and what the audit trail holds, as plain data. Each operation of
//! the engine has a model twin that says, from this data alone, what the call must answer and how
//! the tiers and the trail must look afterwards. The model never reads a store.
//!
//! It follows the engine's documented contract (manager.rs, sync.rs, audit.rs) step by step, so a
//! difference between the two is either an engine defect or a contract change to mirror here.
//! Hot expiry is real-time here, as in Redis: the harness keeps every in-memory hot store's clock
//! current. A hot copy past its TTL that nothing has touched since still sits in the in-memory
//! store (lazy expiry) and is modelled as such: the next access finds it expired.

use std::time::Duration;

use bytes::Bytes;
use hotcold_engine::failback::HOT_DOWN_BACKOFF;
use hotcold_engine::lifecycle::TOMBSTONE_GUARD;
use hotcold_engine::session::{PseudonymKey, TOMBSTONE_VERSION};
use hotcold_engine::{
    AuditEvent, AuditKind, Durability, EngineError, Lookup, RegionId, Served, Session, SessionData, SessionId,
    StoreError, SyncReport, Tier, Timestamp, Touched, UserId,
};

/// Regions of the deployment under test.
pub(crate) const REGIONS: usize = 3;
/// Backend label of the cold table (as `MemoryColdStore::new` is given it).
pub(crate) const COLD_LABEL: &str = "cold";
/// Backend label `MemoryAudit` reports.
pub(crate) const AUDIT_LABEL: &str = "memory audit";
/// What every in-memory store says when switched off.
const DOWN_DETAIL: &str = "switched off";

/// Backend label of region `region`'s hot tier.
pub(crate) fn hot_label(region: usize) -> String {
    format!("hot {region}")
}

fn down(backend: &str) -> StoreError {
    StoreError::unavailable(backend, DOWN_DETAIL)
}

/// The deployment's pseudonym key (the engine under test is given the same).
pub(crate) fn pseudonym_key() -> PseudonymKey {
    PseudonymKey::from_secret(b"model property test pseudonym key").expect("a long enough secret")
}

/// The user id of model user `user`.
pub(crate) fn user_id(user: u8) -> UserId {
    UserId::new(&format!("user-{user}")).expect("valid user id")
}

/// The data of session `index` at `version`: every version's data is distinct and predictable.
pub(crate) fn data(index: usize, version: u64) -> SessionData {
    SessionData::from_json_bytes(Bytes::from(format!("{{\"s\":{index},\"v\":{version}}}")), 1024).expect("JSON")
}

fn region_id(region: usize) -> RegionId {
    RegionId(u16::try_from(region).expect("few regions"))
}

/// A session's state in one tier: what a store holds, and what the engine carries between steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) version: u64,
    pub(crate) last_access: Timestamp,
    /// `Session::persisted_version` (only compared for hot copies, where it drives write-behind).
    pub(crate) persisted: u64,
    /// `Session::hot_region`: the failover marker.
    pub(crate) marker: Option<usize>,
}

impl State {
    fn freshness(&self) -> (u64, Timestamp) {
        (self.version, self.last_access)
    }

    /// A removal's marker last accessed at `last_access` (CONTRACT section 5: removals are final).
    const fn tombstone(last_access: Timestamp) -> Self {
        Self { version: TOMBSTONE_VERSION, last_access, persisted: TOMBSTONE_VERSION, marker: None }
    }

    pub(crate) const fn is_tombstone(&self) -> bool {
        self.version == TOMBSTONE_VERSION
    }
}

/// One session ever created, and where its copies are.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub(crate) id: SessionId,
    pub(crate) user: u8,
    pub(crate) home: usize,
    pub(crate) created_at: Timestamp,
    /// The copy in each region's hot tier.
    pub(crate) hot: [Option<State>; REGIONS],
    /// The cold record.
    pub(crate) cold: Option<State>,
    /// The newest version the client saw (what its next update names).
    pub(crate) seen: u64,
    /// The newest version an Ok answer promised (create, update).
    pub(crate) acked: u64,
}

/// What one demotion or flush pass must report, and which sessions it moved.
#[derive(Debug, Default)]
pub(crate) struct PassOutcome {
    pub(crate) report: SyncReport,
    /// Indexes of the sessions written to the cold tier (demoted, or copied by write-behind).
    pub(crate) moved: Vec<usize>,
}

/// The whole deployment as the model sees it.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) durability: Durability,
    pub(crate) now: Timestamp,
    hot_ttl: Duration,
    promotion_threshold: Duration,
    cold_ttl: Duration,
    pub(crate) hot_up: [bool; REGIONS],
    pub(crate) cold_up: bool,
    pub(crate) audit_up: bool,
    pub(crate) sessions: Vec<Tracked>,
    /// The audit trail as it must be, in append order.
    pub(crate) trail: Vec<AuditEvent>,
    /// Events the engine had to drop because the trail was down.
    pub(crate) audit_failures: u64,
    /// Per region, until when its hot tier is taken to be down after a failed call by the calls
    /// that can wait (`failback::HOT_DOWN_BACKOFF`): a create homed there, failback.
    hot_down_until: [Timestamp; REGIONS],
}

impl Model {
    pub(crate) fn new(
        durability: Durability,
        now: Timestamp,
        hot_ttl: Duration,
        promotion_threshold: Duration,
        cold_ttl: Duration,
    ) -> Self {
        Self {
            durability,
            now,
            hot_ttl,
            promotion_threshold,
            cold_ttl,
            hot_up: [true; REGIONS],
            cold_up: true,
            audit_up: true,
            sessions: Vec::new(),
            trail: Vec::new(),
            audit_failures: 0,
            hot_down_until: [Timestamp(0); REGIONS],
        }
    }

    fn write_through(&self) -> bool {
        self.durability == Durability::WriteThrough
    }

    /// A hot copy last accessed at `last_access` is still in its TTL.
    pub(crate) fn hot_live(&self, last_access: Timestamp) -> bool {
        self.now.since(last_access) < self.hot_ttl
    }

    /// Idle for at least the promotion threshold: the demotion pass takes it.
    fn due(&self, last_access: Timestamp) -> bool {
        self.now.since(last_access) >= self.promotion_threshold
    }

    /// A cold record last accessed at `last_access` may still be returned.
    pub(crate) fn cold_live(&self, last_access: Timestamp) -> bool {
        self.now.since(last_access) < self.cold_ttl
    }

    /// The marker a hot copy in `region` carries: set only on a failover copy.
    fn hot_marker(home: usize, region: usize) -> Option<usize> {
        (region != home).then_some(region)
    }

    fn here_then_home(here: usize, home: usize) -> impl Iterator<Item = usize> {
        std::iter::once(here).chain((home != here).then_some(home))
    }

    /// The session as a store or an answer carries it in `state` (its tombstone, if removed).
    pub(crate) fn session(&self, index: usize, state: State) -> Session {
        let s = &self.sessions[index];
        if state.is_tombstone() {
            return Session::tombstone(s.id, state.last_access);
        }
        Session {
            id: s.id,
            user_id: user_id(s.user),
            data: data(index, state.version),
            version: state.version,
            created_at: s.created_at,
            last_access: state.last_access,
            persisted_version: state.persisted,
            hot_region: state.marker.map(region_id),
            activity: hotcold_engine::Activity::default(),
        }
    }

    /// Appends an event to the trail, or counts it lost while the trail is down.
    fn record(&mut self, kind: AuditKind, tier: Tier, region: usize, index: usize, about: Option<u64>) {
        let s = &self.sessions[index];
        let (user_id, version, data_bytes, created_at) = match about {
            // The session as it stood: its data is a function of its index and version.
            Some(version) => (Some(user_id(s.user)), version, data(index, version).len() as u64, s.created_at),
            // A hot copy that expired: the store no longer knows whose it was.
            None => (None, 0, 0, hotcold_engine::Timestamp(0)),
        };
        let event = AuditEvent {
            at: self.now,
            kind,
            tier,
            region: region_id(region),
            session: s.id,
            user_id,
            version,
            data_bytes,
            created_at,
            activity: hotcold_engine::Activity::default(),
        };
        if self.audit_up {
            self.trail.push(event);
        } else {
            self.audit_failures += 1;
        }
    }

    /// A conditional cold write: an older state never replaces a fresher one. True if written.
    fn cold_write(&mut self, index: usize, state: State) -> bool {
        debug_assert!(self.cold_up, "the engine writes to the cold tier only after it answered");
        let s = &mut self.sessions[index];
        if s.cold.is_some_and(|c| c.freshness() > state.freshness()) {
            return false;
        }
        s.cold = Some(state);
        true
    }

    /// `HotStore::take`: removes the copy in `region`; returns it if it was live.
    fn take(&mut self, index: usize, region: usize) -> Option<State> {
        if !self.hot_up[region] {
            return None;
        }
        let copy = self.sessions[index].hot[region].take()?;
        self.hot_live(copy.last_access).then_some(copy)
    }

    /// `SessionManager::bury_hot`: the copy in `region` replaced by a tombstone (out of the idle
    /// index, ending with the hot TTL); answers what it held.
    fn bury_hot(&mut self, index: usize, region: usize) -> Result<Buried, StoreError> {
        if !self.hot_up[region] {
            return Err(down(&hot_label(region)));
        }
        let taken = match self.take(index, region) {
            Some(copy) if copy.is_tombstone() => Buried::Tombstone,
            Some(copy) => Buried::Live(copy.version),
            None => Buried::Nothing,
        };
        self.sessions[index].hot[region] = Some(State::tombstone(self.now));
        Ok(taken)
    }

    /// `SessionManager::bury_cold`: the cold record replaced by a tombstone that expires the hot
    /// TTL plus `TOMBSTONE_GUARD` from now.
    fn bury_cold(&mut self, index: usize) {
        let last_access = self.now - self.cold_ttl.saturating_sub(self.hot_ttl + TOMBSTONE_GUARD);
        self.cold_write(index, State::tombstone(last_access));
    }

    // ---- operations -------------------------------------------------------------------------

    /// `SessionManager::create` in `here`. On success the caller adds the session with
    /// [`Self::add_session`] once it knows the id.
    pub(crate) fn create(&self, here: usize) -> Result<bool, EngineError> {
        if self.write_through() && !self.cold_up {
            return Err(down(COLD_LABEL).into());
        }
        if self.hot_up[here] {
            return Ok(true);
        }
        if self.write_through() || self.cold_up {
            Ok(false)
        } else {
            // The hot tier's error is the one reported.
            Err(down(&hot_label(here)).into())
        }
    }

    /// The state after a successful create (`hot`: it went to the hot tier); returns the new
    /// session's index and the session `create` must answer.
    pub(crate) fn add_session(&mut self, id: SessionId, user: u8, here: usize, hot: bool) -> (usize, Session) {
        let placement = Placement { home: here, holder: here, hot, marker_written: false };
        self.add_placed(id, user, placement)
    }

    /// The state after a successful create placed as `placement` says.
    fn add_placed(&mut self, id: SessionId, user: u8, placement: Placement) -> (usize, Session) {
        let Placement { home, holder, hot, marker_written } = placement;
        let marker = (holder != home).then_some(holder);
        let persisted = u64::from(self.write_through() || !hot || marker_written);
        let state = State { version: 1, last_access: self.now, persisted, marker };
        let mut s =
            Tracked { id, user, home, created_at: self.now, hot: [None; REGIONS], cold: None, seen: 1, acked: 1 };
        if hot {
            s.hot[holder] = Some(state);
        }
        if persisted == 1 {
            // The record as last written: the marker's write carries the version persisted by a
            // write-through before it; a first write, none.
            let persisted = u64::from(marker_written && self.write_through());
            s.cold = Some(State { persisted, ..state });
        }
        self.sessions.push(s);
        let index = self.sessions.len() - 1;
        let tier = if hot { Tier::Hot } else { Tier::Cold };
        self.record(AuditKind::Created, tier, holder, index, Some(1));
        (index, self.session(index, state))
    }

    /// True while calls that can wait skip `region`'s hot tier.
    pub(crate) fn seems_down(&self, region: usize) -> bool {
        self.now < self.hot_down_until[region]
    }

    fn note_down(&mut self, region: usize) {
        self.hot_down_until[region] = self.hot_down_until[region].max(self.now + HOT_DOWN_BACKOFF);
    }

    /// `SessionManager::create_in(home)` in `here`: where the session goes, or the error. The
    /// caller adds the session with [`Self::add_created_in`] once it knows the id.
    pub(crate) fn create_in(&mut self, here: usize, home: usize) -> Result<Placement, EngineError> {
        if home == here {
            return self.create(here).map(|hot| Placement { home, holder: here, hot, marker_written: false });
        }
        if self.write_through() && !self.cold_up {
            return Err(down(COLD_LABEL).into());
        }
        if !self.seems_down(home) {
            if self.hot_up[home] {
                return Ok(Placement { home, holder: home, hot: true, marker_written: false });
            }
            self.note_down(home);
        }
        if self.cold_up {
            // A failover copy here, named by the cold record first.
            return Ok(Placement { home, holder: here, hot: self.hot_up[here], marker_written: true });
        }
        // Neither home nor the cold tier: a session of this region.
        self.create(here).map(|hot| Placement { home: here, holder: here, hot, marker_written: false })
    }

    /// The state after a successful `create_in`.
    pub(crate) fn add_created_in(&mut self, id: SessionId, user: u8, placement: Placement) -> (usize, Session) {
        self.add_placed(id, user, placement)
    }

    /// `SessionManager::get` of session `index` in `here`.
    pub(crate) fn get(&mut self, index: usize, here: usize) -> Lookup {
        let home = self.sessions[index].home;
        let (mut here_down, mut home_down, mut expired) = (false, false, false);
        for region in Self::here_then_home(here, home) {
            if !self.hot_up[region] {
                here_down |= region == here;
                home_down |= region == home;
                continue;
            }
            let Some(copy) = self.sessions[index].hot[region] else { continue };
            if self.hot_live(copy.last_access) {
                let touched = State { last_access: self.now, ..copy };
                self.sessions[index].hot[region] = Some(touched);
                if touched.is_tombstone() {
                    return Lookup::Miss;
                }
                let session = self.session(index, touched);
                return Lookup::Found { session, served: Served::Hot, hot_region: Some(region_id(region)) };
            }
            // Found past its TTL: the store drops it (a tombstone quietly: no session expired).
            self.sessions[index].hot[region] = None;
            expired |= !copy.is_tombstone();
        }
        self.look_in_cold(index, here, here_down, home_down, expired)
    }

    /// `SessionManager::touch`: the same lookup, answering only the version.
    pub(crate) fn touch(&mut self, index: usize, here: usize) -> Result<Touched, EngineError> {
        match self.get(index, here) {
            Lookup::Found { session, served, hot_region } => {
                Ok(Touched { version: session.version, served, hot_region })
            }
            Lookup::Expired | Lookup::Miss => Err(EngineError::NotFound),
            Lookup::Unavailable(e) => Err(e.into()),
        }
    }

    fn look_in_cold(&mut self, index: usize, here: usize, here_down: bool, home_down: bool, expired: bool) -> Lookup {
        let home = self.sessions[index].home;
        if expired {
            self.record(AuditKind::Expired, Tier::Hot, here, index, None);
        }
        if !self.cold_up {
            return Lookup::Unavailable(down(COLD_LABEL));
        }
        let Some(record) = self.sessions[index].cold else {
            if home_down {
                // `SessionManager::held_elsewhere`: the other regions' hot tiers, in order.
                for region in (0..REGIONS).filter(|r| *r != here && *r != home && self.hot_up[*r]) {
                    let Some(copy) = self.sessions[index].hot[region] else { continue };
                    if !self.hot_live(copy.last_access) {
                        // Found past its TTL: the store drops it.
                        self.sessions[index].hot[region] = None;
                        continue;
                    }
                    let touched = State { last_access: self.now, ..copy };
                    self.sessions[index].hot[region] = Some(touched);
                    if touched.is_tombstone() {
                        return Lookup::Miss;
                    }
                    let session = self.session(index, touched);
                    return Lookup::Found { session, served: Served::Hot, hot_region: Some(region_id(region)) };
                }
            }
            return if expired { Lookup::Expired } else { Lookup::Miss };
        };
        if record.is_tombstone() {
            return Lookup::Miss;
        }
        if !self.cold_live(record.last_access) {
            // Never served; its end is the cold expiry sweep's to report, not a lookup's.
            return Lookup::Expired;
        }
        let mut state = State { persisted: record.version, ..record };
        // A failover copy elsewhere may be newer: it is taken back either way, unless home is still
        // down: then the holder serves it where it is.
        let mut taken_from_holder = false;
        if let Some(holder) = record.marker.filter(|r| *r != here && *r != home) {
            if home_down && self.hot_up[holder] {
                if let Some(copy) = self.sessions[index].hot[holder] {
                    if self.hot_live(copy.last_access) {
                        let touched = State { last_access: self.now, ..copy };
                        self.sessions[index].hot[holder] = Some(touched);
                        if touched.is_tombstone() {
                            return Lookup::Miss;
                        }
                        if touched.freshness() >= state.freshness() {
                            let session = self.session(index, touched);
                            return Lookup::Found { session, served: Served::Hot, hot_region: Some(region_id(holder)) };
                        }
                    } else {
                        // Found past its TTL: the store drops it.
                        self.sessions[index].hot[holder] = None;
                    }
                }
            }
            if let Some(newer) = self.take(index, holder) {
                if newer.is_tombstone() {
                    // A removal that reached the holder but not the cold tier: put back, gone.
                    self.sessions[index].hot[holder] = Some(newer);
                    return Lookup::Miss;
                }
                taken_from_holder = true;
                if newer.freshness() > state.freshness() {
                    state = newer;
                }
            }
        }
        let target = if home_down { here } else { home };
        state.last_access = self.now;
        if target == here && here_down {
            self.cold_write(index, state);
            let session = self.session(index, state);
            return Lookup::Found { session, served: Served::ColdOnly, hot_region: None };
        }
        state.marker = Self::hot_marker(home, target);
        if !self.hot_up[target] {
            state.marker = None;
            self.cold_write(index, state);
            let session = self.session(index, state);
            return Lookup::Found { session, served: Served::ColdOnly, hot_region: None };
        }
        self.sessions[index].hot[target] = Some(state);
        if target != home {
            self.cold_write(index, state);
        }
        // Taken from a failover holder into its home: failback on access.
        let kind = if taken_from_holder && target == home { AuditKind::MovedHome } else { AuditKind::Promoted };
        self.record(kind, Tier::Hot, target, index, Some(state.version));
        let session = self.session(index, state);
        Lookup::Found { session, served: Served::Promoted, hot_region: Some(region_id(target)) }
    }

    /// `SessionManager::update` of session `index` in `here`, naming `expected`.
    pub(crate) fn update(&mut self, index: usize, here: usize, expected: u64) -> Result<Session, EngineError> {
        let home = self.sessions[index].home;
        let conflict = |current| Err(EngineError::VersionConflict { expected, current });
        for region in Self::here_then_home(here, home) {
            if !self.hot_up[region] {
                continue;
            }
            let Some(copy) = self.sessions[index].hot[region] else { continue };
            if !self.hot_live(copy.last_access) {
                // The store drops it silently: an update is not a lookup.
                self.sessions[index].hot[region] = None;
                continue;
            }
            if copy.is_tombstone() {
                return Err(EngineError::NotFound);
            }
            if copy.version != expected {
                return conflict(copy.version);
            }
            return self.change_hot(index, here, region);
        }
        match self.get(index, here) {
            Lookup::Found { session, hot_region: Some(region), .. } => {
                if session.version != expected {
                    return conflict(session.version);
                }
                self.change_hot(index, here, usize::from(region.0))
            }
            Lookup::Found { session, hot_region: None, .. } => {
                if session.version != expected {
                    return conflict(session.version);
                }
                let version = expected + 1;
                let state = State {
                    version,
                    last_access: self.now,
                    persisted: version,
                    marker: session.hot_region.map(|r| usize::from(r.0)),
                };
                self.cold_write(index, state);
                self.record(AuditKind::Updated, Tier::Cold, here, index, Some(version));
                Ok(self.session(index, state))
            }
            Lookup::Expired | Lookup::Miss => Err(EngineError::NotFound),
            Lookup::Unavailable(e) => Err(e.into()),
        }
    }

    /// The change of a live hot copy in `region`, then (write-through) its cold copy.
    fn change_hot(&mut self, index: usize, here: usize, region: usize) -> Result<Session, EngineError> {
        let copy = self.sessions[index].hot[region].expect("a live hot copy");
        let mut state = State { version: copy.version + 1, last_access: self.now, ..copy };
        self.sessions[index].hot[region] = Some(state);
        self.record(AuditKind::Updated, Tier::Hot, here, index, Some(state.version));
        if self.write_through() {
            if !self.cold_up {
                // Reported as failed; the hot copy keeps the change (dirty) for the flush pass.
                return Err(down(COLD_LABEL).into());
            }
            self.cold_write(index, state);
            state.persisted = state.version;
            self.sessions[index].hot[region] = Some(state);
        }
        Ok(self.session(index, state))
    }

    /// `SessionManager::logout` (`Revoked`: one session of `revoke_user`): tombstones in here's
    /// and home's hot tiers, then the cold tier and a failover holder's. A hot tier of here or
    /// home that is down fails the call before the cold tier is touched (the other one of the two
    /// still gets its tombstone).
    pub(crate) fn end(&mut self, index: usize, here: usize, kind: AuditKind) -> Result<bool, EngineError> {
        let home = self.sessions[index].home;
        let mut known: Option<(u64, Tier)> = None;
        let mut unreachable = None;
        // A tombstone already here or home: this repeats an end whose event is recorded.
        let mut buried_before = false;
        for region in Self::here_then_home(here, home) {
            match self.bury_hot(index, region) {
                Ok(Buried::Live(version)) => known = Some((version, Tier::Hot)),
                Ok(Buried::Tombstone) => buried_before = true,
                Ok(Buried::Nothing) => {}
                Err(e) => unreachable = Some(e),
            }
        }
        // Known from a hot tier: recorded at once, before anything else can fail.
        if let Some((version, tier)) = known {
            self.record(kind, tier, here, index, Some(version));
        }
        let undo = known.is_none() && !buried_before;
        if let Some(e) = unreachable {
            if undo {
                self.unbury(index, here, home);
            }
            return Err(e.into());
        }
        if !self.cold_up {
            if undo {
                self.unbury(index, here, home);
            }
            return Err(down(COLD_LABEL).into());
        }
        let record = self.sessions[index].cold.filter(|r| !r.is_tombstone());
        if let Some(holder) = record.and_then(|r| r.marker).filter(|r| *r != here && *r != home) {
            match self.bury_hot(index, holder) {
                Ok(Buried::Live(version)) if known.is_none() => known = Some((version, Tier::Hot)),
                Ok(_) => {}
                Err(e) => {
                    if undo {
                        self.unbury(index, here, home);
                    }
                    return Err(e.into());
                }
            }
        } else if known.is_none() {
            known = record.filter(|r| self.cold_live(r.last_access)).map(|r| (r.version, Tier::Cold));
        }
        if undo && let Some((version, tier)) = known {
            self.record(kind, tier, here, index, Some(version));
        }
        self.bury_cold(index);
        Ok(known.is_some() || (buried_before && record.is_some()))
    }

    /// `SessionManager::unbury_here_and_home`: this attempt's tombstones taken back out.
    fn unbury(&mut self, index: usize, here: usize, home: usize) {
        for region in Self::here_then_home(here, home) {
            if self.hot_up[region] && self.sessions[index].hot[region].is_some_and(|c| c.is_tombstone()) {
                self.sessions[index].hot[region] = None;
            }
        }
    }

    /// Every record of `user`, freshest state per session, oldest session first: the cold
    /// records (expired ones too), then every live hot copy that is fresher. `strict`: a hot tier
    /// that is down is an error.
    fn records_of_user(&self, user: u8, strict: bool) -> Result<Vec<(usize, State)>, EngineError> {
        if !self.cold_up {
            return Err(down(COLD_LABEL).into());
        }
        if let Some(region) = (0..REGIONS).find(|r| strict && !self.hot_up[*r]) {
            return Err(down(&hot_label(region)).into());
        }
        let mut records = Vec::new();
        for (index, s) in self.sessions.iter().enumerate().filter(|(_, s)| s.user == user) {
            // Tombstones belong to nobody: no listing sees them.
            let mut freshest = s.cold.filter(|c| !c.is_tombstone());
            for region in (0..REGIONS).filter(|r| self.hot_up[*r]) {
                if let Some(copy) = s.hot[region].filter(|c| self.hot_live(c.last_access) && !c.is_tombstone()) {
                    if freshest.is_none_or(|f| copy.freshness() > f.freshness()) {
                        freshest = Some(copy);
                    }
                }
            }
            if let Some(state) = freshest {
                records.push((index, state));
            }
        }
        records.sort_by_key(|(index, _)| (self.sessions[*index].created_at, self.sessions[*index].id));
        Ok(records)
    }

    /// `SessionManager::sessions_of_user`: the live ones.
    pub(crate) fn sessions_of_user(&self, user: u8) -> Result<Vec<Session>, EngineError> {
        let records = self.records_of_user(user, false)?;
        Ok(records
            .into_iter()
            .filter(|(_, state)| self.cold_live(state.last_access))
            .map(|(index, state)| self.session(index, state))
            .collect())
    }

    /// `SessionManager::revoke_user`: every hot tier must answer.
    pub(crate) fn revoke_user(&mut self, user: u8, here: usize) -> Result<u64, EngineError> {
        let mut revoked = 0;
        for (index, state) in self.records_of_user(user, true)? {
            if self.cold_live(state.last_access) && self.end(index, here, AuditKind::Revoked)? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// `SessionManager::erase_user`: every record removed everywhere, events under the pseudonym,
    /// then the trail pseudonymised (which fails the call, after the removals, if it is down).
    pub(crate) fn erase_user(&mut self, user: u8, here: usize) -> Result<u64, EngineError> {
        let records = self.records_of_user(user, true)?;
        let real = user_id(user);
        let pseudonym = real.pseudonym(&pseudonym_key());
        for (index, state) in &records {
            // Every hot tier (all are up: the listing was strict) and the cold tier get a tombstone.
            let mut tier = Tier::Cold;
            for region in 0..REGIONS {
                if matches!(self.bury_hot(*index, region).expect("every hot tier is up"), Buried::Live(_)) {
                    tier = Tier::Hot;
                }
            }
            self.bury_cold(*index);
            let before = self.trail.len();
            self.record(AuditKind::Erased, tier, here, *index, Some(state.version));
            if let Some(event) = self.trail.get_mut(before) {
                event.user_id = Some(pseudonym.clone());
            }
        }
        if !self.audit_up {
            return Err(down(AUDIT_LABEL).into());
        }
        for event in &mut self.trail {
            if event.user_id.as_ref() == Some(&real) {
                event.user_id = Some(pseudonym.clone());
            }
        }
        Ok(records.len() as u64)
    }

    /// `SyncService::run_once(region)`: every hot copy idle for at least the promotion threshold
    /// goes to the cold tier; copies past their TTL are dropped as expired.
    pub(crate) fn demote(&mut self, region: usize) -> PassOutcome {
        let mut outcome = PassOutcome::default();
        if !self.hot_up[region] {
            outcome.report.error = Some(down(&hot_label(region)));
            return outcome;
        }
        let mut candidates = Vec::new();
        for index in 0..self.sessions.len() {
            // Tombstones are out of the idle index: no pass sees them.
            let Some(copy) = self.sessions[index].hot[region].filter(|c| !c.is_tombstone()) else { continue };
            if !self.hot_live(copy.last_access) {
                self.sessions[index].hot[region] = None;
                outcome.report.expired_hot += 1;
                self.record(AuditKind::Expired, Tier::Hot, region, index, None);
            } else if self.due(copy.last_access) {
                candidates.push((index, copy));
            }
        }
        if candidates.is_empty() {
            return outcome;
        }
        if !self.cold_up {
            outcome.report.error = Some(down(COLD_LABEL));
            return outcome;
        }
        outcome.report.batches = 1;
        for (index, copy) in candidates {
            if !self.cold_write(index, State { marker: None, ..copy }) {
                outcome.report.stale_dropped += 1;
            }
            self.sessions[index].hot[region] = None;
            outcome.report.demoted += 1;
            outcome.moved.push(index);
            self.record(AuditKind::Demoted, Tier::Cold, region, index, Some(copy.version));
        }
        outcome
    }

    /// `SyncService::flush_dirty(region)`: every hot copy whose version the cold tier lacks is
    /// copied there and marked persisted.
    pub(crate) fn flush(&mut self, region: usize) -> PassOutcome {
        let mut outcome = PassOutcome::default();
        if !self.hot_up[region] {
            outcome.report.error = Some(down(&hot_label(region)));
            return outcome;
        }
        let dirty: Vec<usize> = (0..self.sessions.len())
            .filter(|i| {
                self.sessions[*i].hot[region].is_some_and(|c| c.version > c.persisted && self.hot_live(c.last_access))
            })
            .collect();
        if dirty.is_empty() {
            return outcome;
        }
        if !self.cold_up {
            outcome.report.error = Some(down(COLD_LABEL));
            return outcome;
        }
        outcome.report.batches = 1;
        for index in dirty {
            let copy = self.sessions[index].hot[region].expect("dirty copy");
            self.cold_write(index, copy);
            self.sessions[index].hot[region] = Some(State { persisted: copy.version, ..copy });
            outcome.report.copied += 1;
            outcome.moved.push(index);
        }
        outcome
    }

    /// `SyncService::move_home(region)`: the failover copies `region` holds go home, home by
    /// home, unless that home's hot tier is down (one try, then skipped for the backoff).
    pub(crate) fn move_home(&mut self, region: usize, batch_size: usize) -> SyncReport {
        let mut report = SyncReport::default();
        for home in (0..REGIONS).filter(|home| *home != region) {
            if self.seems_down(home) {
                continue;
            }
            if !self.hot_up[region] {
                // The pass cannot list what the region holds.
                report.error = Some(down(&hot_label(region)));
                return report;
            }
            // The store lists copies in id order (`MemoryHotStore::guests`).
            let mut copies: Vec<usize> = (0..self.sessions.len())
                .filter(|i| self.sessions[*i].home == home)
                .filter(|i| {
                    self.sessions[*i].hot[region]
                        .is_some_and(|c| c.marker.is_some() && !c.is_tombstone() && self.hot_live(c.last_access))
                })
                .collect();
            copies.sort_by_key(|i| self.sessions[*i].id);
            for batch in copies.chunks(batch_size.max(1)) {
                report.batches += 1;
                let mut home_down = false;
                for index in batch {
                    if !self.hot_up[home] {
                        self.note_down(home);
                        home_down = true;
                        break;
                    }
                    let copy = self.sessions[*index].hot[region].expect("listed copy");
                    let at_home = State { marker: None, ..copy };
                    let s = &mut self.sessions[*index];
                    let home_copy = s.hot[home].filter(|h| self.now.since(h.last_access) < self.hot_ttl);
                    if home_copy.is_none_or(|h| at_home.freshness() >= h.freshness()) {
                        s.hot[home] = Some(at_home);
                    }
                    s.hot[region] = None;
                    self.record(AuditKind::MovedHome, Tier::Hot, home, *index, Some(copy.version));
                    report.moved_home += 1;
                }
                if home_down {
                    break;
                }
            }
        }
        report
    }

    /// A region's hot tier is lost with everything in it and stays down until recovered.
    pub(crate) fn outage(&mut self, region: usize) {
        self.hot_up[region] = false;
        for s in &mut self.sessions {
            s.hot[region] = None;
        }
    }

    /// The index of the session with `id`.
    pub(crate) fn index_of(&self, id: &SessionId) -> usize {
        self.sessions.iter().position(|s| s.id == *id).expect("a session the model knows")
    }

    /// The hot copies the model expects in `region`, as the store holds them.
    pub(crate) fn hot_contents(&self, region: usize) -> Vec<Session> {
        (0..self.sessions.len())
            .filter_map(|i| self.sessions[i].hot[region].map(|state| self.session(i, state)))
            .collect()
    }

    /// The cold records the model expects.
    pub(crate) fn cold_contents(&self) -> Vec<Session> {
        (0..self.sessions.len()).filter_map(|i| self.sessions[i].cold.map(|state| self.session(i, state))).collect()
    }
}

/// Where `create_in` puts a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The region its token names.
    pub(crate) home: usize,
    /// The region whose hot tier holds it (home, or here for a failover copy).
    pub(crate) holder: usize,
    /// Whether a hot tier took it.
    pub(crate) hot: bool,
    /// Whether the cold record was written to name the holder.
    pub(crate) marker_written: bool,
}

/// What a hot tier held when a removal buried it (`manager::Buried`).
#[derive(Debug, Clone, Copy)]
enum Buried {
    Live(u64),
    Tombstone,
    Nothing,
}
