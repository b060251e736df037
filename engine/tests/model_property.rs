//! Property test: random interleavings of create, get, update (fresh and stale), logout, revoke,
//! sync runs, clock jumps and region outages across three regions, checked against a simple
//! reference model of what each user holds.
//!
//! Invariants:
//! - a session the user still holds, not expired, not logged out or revoked, is found with the
//!   newest version the user saw — unless its newest state existed only in a hot tier that was
//!   lost (region outage, or hot TTL expiry with no sync run), which the model tracks by looking
//!   at the stores when it happens: then the lookup may fail or return an older version (lost);
//! - an expired, logged-out or revoked session is never returned;
//! - versions only grow; a stale update never overwrites a newer state;
//! - every lifecycle event (created, updated, promoted, demoted, logged out, revoked) is in the
//!   audit trail, naming a tier that fits it (promoted: hot; demoted: cold; no user: hot).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    AuditKind, Durability, Engine, EngineConfig, EngineError, Lookup, ManualClock, Pass, RegionId, Served,
    SessionConfig, SessionData, SessionId, SessionManager, SyncService, Tier, Timestamp, UserId,
};
use proptest::prelude::*;

type TestEngine = Engine<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;
type Manager = SessionManager<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;

const REGIONS: u16 = 3;
const USERS: u8 = 3;

#[derive(Debug, Clone)]
enum Op {
    Create { region: u16, user: u8 },
    Get { session: usize, region: u16 },
    Update { session: usize, region: u16, stale: bool },
    Logout { session: usize, region: u16 },
    RevokeUser { user: u8, region: u16 },
    Sync { region: u16 },
    Advance { seconds: u64 },
    Outage { region: u16 },
    Recover { region: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    let region = 0..REGIONS;
    prop_oneof![
        3 => (region.clone(), 0..USERS).prop_map(|(region, user)| Op::Create { region, user }),
        6 => (any::<usize>(), region.clone()).prop_map(|(session, region)| Op::Get { session, region }),
        3 => (any::<usize>(), region.clone(), prop::bool::weighted(0.25))
            .prop_map(|(session, region, stale)| Op::Update { session, region, stale }),
        1 => (any::<usize>(), region.clone()).prop_map(|(session, region)| Op::Logout { session, region }),
        1 => (0..USERS, region.clone()).prop_map(|(user, region)| Op::RevokeUser { user, region }),
        3 => region.clone().prop_map(|region| Op::Sync { region }),
        4 => prop_oneof![
            4 => 1u64..600,
            3 => 1_500u64..2_500,
            2 => 3_600u64..9_000,
            1 => 2_500_000u64..2_700_000,
        ]
        .prop_map(|seconds| Op::Advance { seconds }),
        1 => region.clone().prop_map(|region| Op::Outage { region }),
        1 => region.prop_map(|region| Op::Recover { region }),
    ]
}

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![Just(Durability::OnDemotion), Just(Durability::WriteBehind), Just(Durability::WriteThrough)]
}

/// What a user holds, and what the model knows about it.
#[derive(Debug)]
struct Held {
    id: SessionId,
    user: u8,
    /// Newest version the user saw.
    version: u64,
    /// Earliest last access the engine may hold.
    last_access: Timestamp,
    /// Latest last access the engine may hold (a conflicting update may or may not count as an
    /// access, depending on the path it took).
    last_access_max: Timestamp,
    /// Logged out, revoked, or given up as lost: no longer held.
    ended: bool,
    /// Its newest state existed only in a hot tier that was lost.
    at_risk: bool,
}

struct World {
    clock: Arc<ManualClock>,
    hot: Vec<Arc<MemoryHotStore>>,
    cold: Arc<MemoryColdStore>,
    audit: Arc<MemoryAudit>,
    engine: Arc<TestEngine>,
    managers: Vec<Manager>,
    sync: SyncService<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>,
    held: Vec<Held>,
    down: [bool; REGIONS as usize],
    expected_events: Vec<(AuditKind, SessionId, u64)>,
    demoted: u64,
}

impl World {
    fn new(durability: Durability) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot: Vec<_> = (0..REGIONS).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
        let cold = Arc::new(MemoryColdStore::new("cold"));
        let audit = Arc::new(MemoryAudit::new());
        let engine_config = EngineConfig { durability, ..EngineConfig::default() };
        let engine = Arc::new(
            Engine::new(
                SessionConfig::default(),
                engine_config,
                hot.clone(),
                cold.clone(),
                audit.clone(),
                clock.clone(),
            )
            .expect("valid engine"),
        );
        let managers =
            (0..REGIONS).map(|r| SessionManager::with_token_seed(engine.clone(), RegionId(r), u64::from(r))).collect();
        let sync = SyncService::new(engine.clone());
        Self {
            clock,
            hot,
            cold,
            audit,
            engine,
            managers,
            sync,
            held: Vec::new(),
            down: [false; REGIONS as usize],
            expected_events: Vec::new(),
            demoted: 0,
        }
    }

    fn now(&self) -> Timestamp {
        use hotcold_engine::Clock;
        self.clock.now()
    }

    fn cold_ttl(&self) -> Duration {
        self.engine.policy().cold_ttl
    }

    /// Surely expired: past the TTL even from the latest possible access.
    fn expired(&self, held: &Held) -> bool {
        self.now() >= held.last_access_max + self.cold_ttl()
    }

    /// Possibly expired: past the TTL from the earliest possible access.
    fn maybe_expired(&self, held: &Held) -> bool {
        self.now() >= held.last_access + self.cold_ttl()
    }

    /// Before hot copies are lost (outage of `region`, or TTL expiry by `until`), mark the
    /// sessions whose newest state the cold tier lacks.
    fn mark_losses(&mut self, lost_region: Option<usize>, until: Timestamp) {
        let cold: HashMap<SessionId, _> = self.cold.snapshot().into_iter().map(|s| (s.id, s)).collect();
        let hot_ttl = self.engine.policy().hot_ttl;
        for (index, store) in self.hot.iter().enumerate() {
            for hot in store.snapshot() {
                let lost = lost_region == Some(index) || hot.last_access + hot_ttl <= until;
                if !lost {
                    continue;
                }
                let Some(held) = self.held.iter_mut().find(|h| h.id == hot.id) else { continue };
                match cold.get(&hot.id) {
                    Some(c) if c.version >= hot.version => {
                        // Only touches are lost: expiry now counts from the cold copy's access.
                        if c.last_access < held.last_access && c.version == held.version {
                            held.last_access = c.last_access;
                        }
                        held.last_access_max = held.last_access_max.max(held.last_access);
                    }
                    _ => held.at_risk = true,
                }
            }
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Create { region, user } => {
                let user_id = UserId::new(&format!("user-{user}")).expect("user id");
                let created = now_or_panic(self.managers[usize::from(region)].create(user_id, data(0)));
                let created = created.map_err(|e| TestCaseError::fail(format!("create failed: {e}")))?;
                prop_assert_eq!(created.session.version, 1);
                self.expected_events.push((AuditKind::Created, created.session.id, 1));
                self.held.push(Held {
                    id: created.session.id,
                    user,
                    version: 1,
                    last_access: self.now(),
                    last_access_max: self.now(),
                    ended: false,
                    at_risk: false,
                });
            }
            Op::Get { session, region } => {
                if self.held.is_empty() {
                    return Ok(());
                }
                let index = session % self.held.len();
                let answer = now_or_panic(self.managers[usize::from(region)].get(&self.held[index].id));
                let expired = self.expired(&self.held[index]);
                let maybe_expired = self.maybe_expired(&self.held[index]);
                let now = self.now();
                let held = &mut self.held[index];
                if held.ended || expired {
                    prop_assert!(answer.session().is_none(), "an ended or expired session was returned: {:?}", answer);
                    if matches!(answer, Lookup::Expired) {
                        held.ended = true;
                    }
                    return Ok(());
                }
                match answer {
                    Lookup::Found { session, served, .. } => {
                        prop_assert_eq!(session.last_access, now);
                        if held.at_risk {
                            prop_assert!(session.version <= held.version, "a version from nowhere");
                            held.at_risk = false;
                        } else {
                            prop_assert_eq!(session.version, held.version, "lookup lost the newest version");
                        }
                        if served == Served::Promoted {
                            self.expected_events.push((AuditKind::Promoted, held.id, session.version));
                        }
                        held.version = session.version;
                        held.last_access = now;
                        held.last_access_max = now;
                    }
                    Lookup::Miss | Lookup::Expired if held.at_risk || maybe_expired => held.ended = true,
                    other => prop_assert!(false, "a held live session was not found: {:?}", other),
                }
            }
            Op::Update { session, region, stale } => {
                if self.held.is_empty() {
                    return Ok(());
                }
                let index = session % self.held.len();
                let expired = self.expired(&self.held[index]);
                let maybe_expired = self.maybe_expired(&self.held[index]);
                let now = self.now();
                let held = &mut self.held[index];
                let expected = if stale && held.version > 1 { held.version - 1 } else { held.version };
                let new_data = data(expected + 1);
                let answer =
                    now_or_panic(self.managers[usize::from(region)].update(&held.id, new_data.clone(), expected));
                if held.ended || expired {
                    prop_assert!(
                        matches!(answer, Err(EngineError::NotFound) | Err(EngineError::VersionConflict { .. })),
                        "update of an ended or expired session: {:?}",
                        answer
                    );
                    if matches!(answer, Err(EngineError::NotFound)) {
                        held.ended = true;
                    }
                    return Ok(());
                }
                match answer {
                    Ok(updated) => {
                        prop_assert!(
                            expected == held.version || held.at_risk,
                            "a stale update overwrote a newer state"
                        );
                        prop_assert_eq!(updated.version, expected + 1);
                        prop_assert_eq!(&updated.data, &new_data);
                        self.expected_events.push((AuditKind::Updated, held.id, updated.version));
                        held.version = updated.version;
                        held.last_access = now;
                        held.last_access_max = now;
                        held.at_risk = false;
                    }
                    Err(EngineError::VersionConflict { current, .. }) => {
                        held.last_access_max = now;
                        if held.at_risk {
                            prop_assert!(current <= held.version);
                            held.version = current;
                        } else {
                            prop_assert!(expected < held.version, "a fresh update conflicted");
                            prop_assert_eq!(current, held.version);
                        }
                    }
                    Err(EngineError::NotFound) if held.at_risk || maybe_expired => held.ended = true,
                    Err(e) => prop_assert!(false, "update of a held live session failed: {}", e),
                }
            }
            Op::Logout { session, region } => {
                if self.held.is_empty() {
                    return Ok(());
                }
                let index = session % self.held.len();
                let maybe_expired = self.maybe_expired(&self.held[index]);
                let held = &mut self.held[index];
                let answer = now_or_panic(self.managers[usize::from(region)].logout(&held.id));
                let existed = answer.map_err(|e| TestCaseError::fail(format!("logout failed: {e}")))?;
                if !held.ended && !maybe_expired && !held.at_risk {
                    prop_assert!(existed, "logout of a live session said it did not exist");
                    self.expected_events.push((AuditKind::LoggedOut, held.id, held.version));
                }
                held.ended = true;
            }
            Op::RevokeUser { user, region } => {
                let user_id = UserId::new(&format!("user-{user}")).expect("user id");
                let answer = now_or_panic(self.managers[usize::from(region)].revoke_user(&user_id));
                let revoked = answer.map_err(|e| TestCaseError::fail(format!("revoke failed: {e}")))?;
                let now = self.now();
                let cold_ttl = self.cold_ttl();
                let mut sure = 0;
                let mut possible = 0;
                for held in self.held.iter_mut().filter(|h| h.user == user) {
                    let surely_live = !held.ended && !held.at_risk && now < held.last_access + cold_ttl;
                    let maybe_live = !held.ended && now < held.last_access_max + cold_ttl;
                    if surely_live {
                        sure += 1;
                        self.expected_events.push((AuditKind::Revoked, held.id, held.version));
                    }
                    if maybe_live {
                        possible += 1;
                    }
                    held.ended = true;
                }
                prop_assert!(
                    (sure..=possible).contains(&revoked),
                    "revoked {} sessions, expected between {} and {}",
                    revoked,
                    sure,
                    possible
                );
            }
            Op::Sync { region } => {
                let report = now_or_panic(self.sync.run_once(RegionId(region)));
                if !self.down[usize::from(region)] {
                    prop_assert_eq!(&report.error, &None, "sync failed with every store up");
                }
                self.demoted += report.demoted;
                if self.sync.schedule().interval(Pass::Flush).is_some() {
                    let flushed = now_or_panic(self.sync.flush_dirty(RegionId(region)));
                    if !self.down[usize::from(region)] {
                        prop_assert_eq!(&flushed.error, &None, "write-behind failed with every store up");
                    }
                }
            }
            Op::Advance { seconds } => {
                let until = self.now() + Duration::from_secs(seconds);
                self.mark_losses(None, until);
                self.clock.set(until);
            }
            Op::Outage { region } => {
                let index = usize::from(region);
                if !self.down[index] {
                    self.mark_losses(Some(index), self.now());
                    self.hot[index].wipe();
                    self.hot[index].set_available(false);
                    self.down[index] = true;
                }
            }
            Op::Recover { region } => {
                self.hot[usize::from(region)].set_available(true);
                self.down[usize::from(region)] = false;
            }
        }
        Ok(())
    }

    fn check_audit(&self) -> Result<(), TestCaseError> {
        let events = self.audit.events();
        let mut recorded: HashMap<(AuditKind, SessionId, u64), usize> = HashMap::new();
        for event in &events {
            *recorded.entry((event.kind, event.session, event.version)).or_default() += 1;
            let tier_fits = match event.kind {
                AuditKind::Promoted => event.tier == Tier::Hot,
                AuditKind::Demoted => event.tier == Tier::Cold,
                // Only a hot tier forgets whose a session was.
                _ => event.user_id.is_some() || event.tier == Tier::Hot,
            };
            prop_assert!(tier_fits, "an event names the wrong tier: {:?}", event);
        }
        for expected in &self.expected_events {
            let count = recorded.get_mut(expected);
            prop_assert!(count.as_ref().is_some_and(|c| **c > 0), "audit trail lacks {:?}", expected);
            if let Some(count) = count {
                *count -= 1;
            }
        }
        prop_assert_eq!(self.audit.count(AuditKind::Demoted), self.demoted, "every demotion is audited");
        prop_assert_eq!(self.engine.audit_failures(), 0);
        Ok(())
    }
}

fn data(version: u64) -> SessionData {
    SessionData::from_json_bytes(Bytes::from(format!("{{\"v\":{version}}}")), 1024).expect("valid JSON")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn engine_keeps_its_promises(durability in durability(), ops in prop::collection::vec(op(), 1..60)) {
        let mut world = World::new(durability);
        for op in &ops {
            world.apply(op)?;
        }
        world.check_audit()?;
        if durability == Durability::WriteThrough {
            prop_assert!(world.held.iter().all(|h| h.ended || !h.at_risk), "write-through lost a version");
        }
    }
}
