//! Failback on in-memory stores (the same paths run against two regions' redis-server in
//! `live_failback.rs`): a session created or promoted while its home hot tier is down is held by
//! the serving region, and goes home once that tier answers again, by its next access at home or
//! by the holder's sync job; nothing is lost on the way, an update racing the move included.

mod failback_support;

use std::sync::Arc;
use std::time::Duration;

use failback_support::Racing;
use hotcold_engine::failback::HOT_DOWN_BACKOFF;
use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    AuditKind, Clock, ColdLookup, ColdStore, Engine, EngineConfig, HotLookup, HotStore, Lookup, ManualClock, RegionId,
    Served, SessionConfig, SessionData, SessionId, SessionManager, SyncService, Tier, Timestamp, UserId,
};

type Hot = Arc<Racing<Arc<MemoryHotStore>>>;
type Manager = SessionManager<Hot, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;

const HOME: RegionId = RegionId(0);
const HOLDER: RegionId = RegionId(1);

/// Three regions on memory stores (region 0 is the home that fails, region 1 serves its users).
struct World {
    clock: Arc<ManualClock>,
    hot: Vec<Hot>,
    cold: Arc<MemoryColdStore>,
    audit: Arc<MemoryAudit>,
    managers: Vec<Manager>,
    sync: SyncService<Hot, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>,
}

impl World {
    fn new(batch_size: usize) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot: Vec<Hot> =
            (0..3).map(|r| Arc::new(Racing::new(Arc::new(MemoryHotStore::new(format!("hot {r}")))))).collect();
        let cold = Arc::new(MemoryColdStore::new("cold"));
        let audit = Arc::new(MemoryAudit::new());
        let mut config = SessionConfig::default();
        config.sync.batch_size = batch_size;
        let engine = Arc::new(
            Engine::new(config, EngineConfig::default(), hot.clone(), cold.clone(), audit.clone(), clock.clone())
                .expect("valid engine"),
        );
        let managers =
            (0..3).map(|r| SessionManager::with_token_seed(engine.clone(), RegionId(r), 100 + u64::from(r))).collect();
        Self { clock, hot, cold, audit, managers, sync: SyncService::new(engine) }
    }

    fn set_home_up(&self, up: bool) {
        self.hot[0].inner.set_available(up);
    }

    /// A session for a user of region 0 created by region 1 while region 0's hot tier is down.
    fn created_away(&self, user: &str) -> SessionId {
        let created = now_or_panic(self.managers[1].create_in(HOME, user_id(user), data(0))).expect("create_in");
        assert!(created.hot, "held hot by the serving region");
        created.session.id
    }

    fn held(&self, region: RegionId, id: &SessionId) -> Option<u64> {
        self.hot[region.index()].inner.snapshot().into_iter().find(|s| s.id == *id).map(|s| s.version)
    }

    fn kinds(&self, id: &SessionId) -> Vec<(AuditKind, RegionId)> {
        self.audit.events().into_iter().filter(|e| e.session == *id).map(|e| (e.kind, e.region)).collect()
    }
}

fn user_id(name: &str) -> UserId {
    UserId::new(name).expect("user id")
}

fn data(step: u64) -> SessionData {
    SessionData::from_json(&serde_json::json!({ "step": step }), 1024).expect("data")
}

#[test]
fn a_session_created_while_its_region_is_down_is_homed_there_and_comes_home_on_its_next_access() {
    let world = World::new(100);
    world.set_home_up(false);
    let id = world.created_away("ana");
    assert_eq!(id.home(), HOME, "the token names the user's region, not the serving one");
    let copy = world.hot[1].inner.snapshot().into_iter().find(|s| s.id == id).expect("held by region 1");
    assert_eq!(copy.hot_region, Some(HOLDER), "a failover copy");
    match now_or_panic(world.cold.get(&id, HOME)) {
        ColdLookup::Found(record) => assert_eq!(record.hot_region, Some(HOLDER), "the cold record names the holder"),
        other => panic!("the cold record is written first, got {other:?}"),
    }
    // Used and changed where it is held while home is down.
    let updated = now_or_panic(world.managers[1].update(&id, data(1), 1)).expect("update at the holder");
    assert_eq!(updated.version, 2);

    world.set_home_up(true);
    world.clock.advance(Duration::from_secs(60));
    match now_or_panic(world.managers[0].get(&id)) {
        Lookup::Found { session, served: Served::Promoted, hot_region } => {
            assert_eq!((session.version, session.data, hot_region), (2, data(1), Some(HOME)), "home, with its change");
        }
        other => panic!("the next access at home brings it home, got {other:?}"),
    }
    assert_eq!(world.held(HOLDER, &id), None, "no copy left at the holder");
    assert_eq!(world.held(HOME, &id), Some(2));
    assert!(
        matches!(now_or_panic(world.managers[0].get(&id)), Lookup::Found { served: Served::Hot, .. }),
        "then a hot hit at home"
    );
    assert_eq!(
        world.kinds(&id),
        [(AuditKind::Created, HOLDER), (AuditKind::Updated, HOLDER), (AuditKind::MovedHome, HOME)],
        "audited: created where held, moved home once"
    );
    let moved = world.audit.events().into_iter().find(|e| e.kind == AuditKind::MovedHome).expect("moved_home");
    assert_eq!((moved.tier, moved.version), (Tier::Hot, 2));
}

#[test]
fn the_holders_sync_job_moves_idle_copies_home_in_batches_once_home_answers() {
    let world = World::new(2);
    world.set_home_up(false);
    let ids: Vec<SessionId> = (0..5).map(|n| world.created_away(&format!("user-{n}"))).collect();

    // Home still down: one try, no error (it is not this region's fault), nothing moves.
    let report = now_or_panic(world.sync.move_home(HOLDER));
    assert_eq!((report.moved_home, report.error.clone()), (0, None), "{report:?}");
    assert!(ids.iter().all(|id| world.held(HOLDER, id) == Some(1)), "the copies stay where they are");

    world.set_home_up(true);
    world.clock.advance(HOT_DOWN_BACKOFF + Duration::from_secs(1));
    let report = now_or_panic(world.sync.move_home(HOLDER));
    assert_eq!((report.moved_home, report.batches, report.error.clone()), (5, 3, None), "{report:?}");
    for id in &ids {
        assert_eq!((world.held(HOME, id), world.held(HOLDER, id)), (Some(1), None), "moved, not copied");
        match now_or_panic(world.managers[0].touch(id)) {
            Ok(touched) => assert_eq!((touched.served, touched.hot_region), (Served::Hot, Some(HOME))),
            other => panic!("a hot hit at home, got {other:?}"),
        }
    }
    assert_eq!(now_or_panic(world.sync.move_home(HOLDER)).moved_home, 0, "nothing left to move");
    let moved = world.audit.events().into_iter().filter(|e| e.kind == AuditKind::MovedHome).count();
    assert_eq!(moved, 5, "each move audited once");
}

#[test]
fn a_home_that_just_failed_is_not_asked_again_for_the_backoff() {
    let world = World::new(100);
    world.set_home_up(false);
    let first = world.created_away("bo");
    // Home back at once, but a create within the backoff does not ask it: held away too.
    world.set_home_up(true);
    let second = world.created_away("cy");
    assert!(world.held(HOLDER, &second).is_some() && world.held(HOME, &second).is_none());
    assert_eq!(now_or_panic(world.sync.move_home(HOLDER)).moved_home, 0, "the pass waits out the backoff");
    world.clock.advance(HOT_DOWN_BACKOFF);
    let third = world.created_away("di");
    assert_eq!((world.held(HOME, &third), world.held(HOLDER, &third)), (Some(1), None), "home answers: stored there");
    assert_eq!(now_or_panic(world.sync.move_home(HOLDER)).moved_home, 2);
    assert!([first, second, third].iter().all(|id| world.held(HOLDER, id).is_none()));
}

#[test]
fn an_update_racing_the_move_is_not_lost() {
    let world = World::new(100);
    world.set_home_up(false);
    let id = world.created_away("eve");
    world.set_home_up(true);
    world.clock.advance(HOT_DOWN_BACKOFF);
    // A request at the holder changes the session between the copy's write home and its removal.
    world.hot[1].arm(id, data(7), world.clock.now());
    let report = now_or_panic(world.sync.move_home(HOLDER));
    assert_eq!((report.moved_home, report.error.clone()), (1, None), "{report:?}");
    let raced = world.hot[1].raced.lock().unwrap().clone();
    assert!(matches!(raced, Some(Ok(hotcold_engine::HotUpdate::Updated(_)))), "the racing update succeeded: {raced:?}");
    assert_eq!(world.held(HOLDER, &id), None, "no second hot copy survives");
    match now_or_panic(world.managers[0].get(&id)) {
        Lookup::Found { session, served: Served::Hot, .. } => {
            assert_eq!((session.version, session.data), (2, data(7)), "the racing update went home with it");
        }
        other => panic!("served hot at home, got {other:?}"),
    }
}

#[test]
fn with_home_and_the_cold_tier_down_the_session_is_homed_where_it_is_served() {
    let world = World::new(100);
    world.set_home_up(false);
    world.cold.set_available(false);
    let created = now_or_panic(world.managers[1].create_in(HOME, user_id("fay"), data(0))).expect("create_in");
    assert_eq!((created.session.id.home(), created.hot), (HOLDER, true), "no cold record could name a holder");
    assert_eq!(created.session.hot_region, None, "a session of region 1, not a failover copy");
}

#[test]
fn a_create_for_a_region_that_answers_is_stored_there() {
    let world = World::new(100);
    let created = now_or_panic(world.managers[1].create_in(HOME, user_id("gus"), data(0))).expect("create_in");
    assert_eq!(created.session.id.home(), HOME);
    assert_eq!((world.held(HOME, &created.session.id), world.held(HOLDER, &created.session.id)), (Some(1), None));
    assert!(matches!(
        now_or_panic(world.hot[0].get_and_touch(&created.session.id, world.clock.now(), Duration::from_secs(60))),
        HotLookup::Hit(_)
    ));
}

#[test]
fn while_home_is_down_another_region_is_served_by_the_holder_and_the_copy_stays_there() {
    let world = World::new(100);
    world.set_home_up(false);
    let id = world.created_away("hal");
    now_or_panic(world.managers[1].update(&id, data(1), 1)).expect("update at the holder");
    // A traveller's request in region 2: home down, so the holder serves it where it is.
    match now_or_panic(world.managers[2].get(&id)) {
        Lookup::Found { session, served: Served::Hot, hot_region } => {
            assert_eq!((session.version, hot_region), (2, Some(HOLDER)));
        }
        other => panic!("served by the holder, got {other:?}"),
    }
    assert_eq!((world.held(HOLDER, &id), world.held(RegionId(2), &id)), (Some(2), None), "not moved to region 2");
    // Back at the holder: still a hot hit there, nothing lost.
    match now_or_panic(world.managers[1].get(&id)) {
        Lookup::Found { session, served: Served::Hot, .. } => assert_eq!(session.version, 2),
        other => panic!("a hot hit at the holder, got {other:?}"),
    }
}
