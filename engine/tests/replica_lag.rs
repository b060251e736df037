//! No session the user still holds is lost without a fault (CONTRACT section 5), even while the
//! global table's replicas lag: a travelling user's lookup reads the session's home replica,
//! where its cold writes come from, not its own region's, which may not have caught up.
//!
//! The exception is a failover: the region holding a session while its home's Redis is down
//! writes its cold record, so there home's replica is the one that lags, and the holder's lookups
//! read their own replica too.
//!
//! The cold store here is the in-memory table behind a replica that can be frozen: once frozen,
//! every region but home (or, for a failover, home alone) reads the table as it was at that moment
//! (the replication delay, made as long as the test needs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, Engine, EngineConfig, Lookup, ManualClock, RegionId, Served, Session,
    SessionConfig, SessionData, SessionId, SessionManager, StoreError, SyncService, Timestamp, UserId,
};

const HOME: RegionId = RegionId(0);
const ABROAD: RegionId = RegionId(1);

/// The table as the lagging replicas saw it when it was frozen.
type Snapshot = HashMap<SessionId, Session>;

/// The cold table as home sees it, and as every other region saw it when it was frozen.
struct LaggingReplicas {
    table: MemoryColdStore,
    /// The table as the lagging replicas saw it when frozen, and the one region whose replica
    /// keeps up (`None`: every region but home lags; else every region but that one).
    frozen: Mutex<Option<(Snapshot, Option<RegionId>)>>,
}

impl LaggingReplicas {
    /// From now on, regions other than home see the table as it is now.
    fn freeze(&self) {
        self.freeze_where(None);
    }

    /// From now on, every region but `current` sees the table as it is now (writes made in
    /// `current` reach no other replica).
    fn freeze_all_but(&self, current: RegionId) {
        self.freeze_where(Some(current));
    }

    fn freeze_where(&self, current: Option<RegionId>) {
        let copy = self.table.snapshot().into_iter().map(|s| (s.id, s)).collect();
        *self.frozen.lock().unwrap() = Some((copy, current));
    }

    fn lags(reader: RegionId, current: Option<RegionId>) -> bool {
        match current {
            None => reader != HOME,
            Some(current) => reader != current,
        }
    }
}

impl ColdStore for LaggingReplicas {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        let frozen = self
            .frozen
            .lock()
            .unwrap()
            .as_ref()
            .filter(|(_, current)| Self::lags(reader, *current))
            .map(|(f, _)| f.get(id).cloned());
        match frozen {
            Some(Some(old)) => ColdLookup::Found(old),
            Some(None) => ColdLookup::Miss,
            None => self.table.get(id, reader).await,
        }
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.table.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        self.table.put_batch(sessions, writer, now).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.table.delete(id, writer, now).await
    }
    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.table.sessions_of_user(user, reader).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.table.sessions_of_user_page(user, after, limit, reader).await
    }
    hotcold_engine::forward_expiry_sweep!(table);
}

type Cold = Arc<LaggingReplicas>;
type Manager = SessionManager<Arc<MemoryHotStore>, Cold, Arc<MemoryAudit>, Arc<ManualClock>>;

struct World {
    clock: Arc<ManualClock>,
    hot: Vec<Arc<MemoryHotStore>>,
    cold: Cold,
    managers: Vec<Manager>,
    sync: SyncService<Arc<MemoryHotStore>, Cold, Arc<MemoryAudit>, Arc<ManualClock>>,
    threshold: Duration,
}

impl World {
    fn new() -> Self {
        let config = SessionConfig::default();
        let threshold = config.hot_storage.promotion_threshold;
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
        let cold = Arc::new(LaggingReplicas { table: MemoryColdStore::new("cold"), frozen: Mutex::new(None) });
        let engine = Arc::new(
            Engine::new(
                config,
                EngineConfig::default(),
                hot.clone(),
                Arc::clone(&cold),
                Arc::new(MemoryAudit::new()),
                Arc::clone(&clock),
            )
            .expect("engine"),
        );
        let managers = (0..3).map(|r| SessionManager::with_token_seed(Arc::clone(&engine), RegionId(r), 11)).collect();
        Self { clock, hot, cold, managers, sync: SyncService::new(engine), threshold }
    }

    /// Idle past the threshold, then home's demotion pass.
    fn demote_at_home(&self) {
        self.clock.advance(self.threshold + Duration::from_secs(1));
        let report = now_or_panic(self.sync.run_once(HOME));
        assert_eq!((report.demoted, report.error), (1, None), "home demoted the session");
    }

    fn lookup(&self, region: RegionId, id: &SessionId) -> Lookup {
        now_or_panic(self.managers[region.index()].get(id))
    }
}

fn data(json: &str) -> SessionData {
    SessionData::from_json(&serde_json::from_str(json).unwrap(), 1 << 16).unwrap()
}

#[test]
fn a_session_demoted_at_home_is_found_abroad_before_the_replica_has_it() {
    let world = World::new();
    let id = now_or_panic(world.managers[0].create(UserId::new("traveller").unwrap(), data("{}")))
        .expect("create")
        .session
        .id;
    world.cold.freeze(); // abroad, the table never had the session
    world.demote_at_home();
    match world.lookup(ABROAD, &id) {
        Lookup::Found { session, served: Served::Promoted, .. } => assert_eq!(session.version, 1),
        other => panic!("the travelling user's session is found, got {other:?}"),
    }
}

#[test]
fn a_travelling_lookup_never_promotes_an_older_state_than_home_holds() {
    let world = World::new();
    let id = now_or_panic(world.managers[0].create(UserId::new("traveller").unwrap(), data(r#"{"v":1}"#)))
        .expect("create")
        .session
        .id;
    world.demote_at_home();
    world.cold.freeze(); // abroad, the table holds version 1 from now on
    assert!(matches!(world.lookup(HOME, &id), Lookup::Found { .. }), "promoted at home");
    now_or_panic(world.managers[0].update(&id, data(r#"{"v":2}"#), 1)).expect("update to version 2");
    world.demote_at_home();
    match world.lookup(ABROAD, &id) {
        Lookup::Found { session, .. } => {
            assert_eq!(session.version, 2, "the newest state, not the replica's version 1");
            assert_eq!(session.data, data(r#"{"v":2}"#));
        }
        other => panic!("the travelling user's session is found, got {other:?}"),
    }
}

/// A session of home held abroad while home's Redis is down (created there for a user of home),
/// changed there to version 2, then demoted there: the cold record is written abroad.
fn held_abroad_and_demoted(world: &World, freeze_home_after_create: bool) -> SessionId {
    world.hot[HOME.index()].set_available(false);
    if !freeze_home_after_create {
        world.cold.freeze_all_but(ABROAD);
    }
    let id = now_or_panic(world.managers[1].create_in(HOME, UserId::new("local").unwrap(), data(r#"{"v":1}"#)))
        .expect("create for a user of home")
        .session
        .id;
    if freeze_home_after_create {
        world.cold.freeze_all_but(ABROAD); // the others keep the record naming the holder, version 1
    }
    now_or_panic(world.managers[1].update(&id, data(r#"{"v":2}"#), 1)).expect("update abroad");
    world.clock.advance(world.threshold + Duration::from_secs(1));
    let report = now_or_panic(world.sync.run_once(ABROAD));
    assert_eq!((report.demoted, report.error), (1, None), "the holder demoted it");
    id
}

#[test]
fn the_failover_holder_finds_what_it_demoted_before_home_replica_has_any_record() {
    let world = World::new();
    let id = held_abroad_and_demoted(&world, false);
    match world.lookup(ABROAD, &id) {
        Lookup::Found { session, .. } => assert_eq!(session.version, 2, "the state it wrote"),
        other => panic!("the user's session is found where it is held, got {other:?}"),
    }
}

#[test]
fn the_failover_holder_never_promotes_the_older_state_home_replica_holds() {
    let world = World::new();
    let id = held_abroad_and_demoted(&world, true);
    match world.lookup(ABROAD, &id) {
        Lookup::Found { session, .. } => {
            assert_eq!(session.version, 2, "the newest state, not home replica's version 1");
            assert_eq!(session.data, data(r#"{"v":2}"#));
        }
        other => panic!("the user's session is found where it is held, got {other:?}"),
    }
}

#[test]
fn a_third_region_finds_a_session_the_holder_just_created_before_any_replica_it_reads_has_it() {
    let world = World::new();
    world.hot[HOME.index()].set_available(false);
    world.cold.freeze_all_but(ABROAD); // the record naming the holder reaches no other replica
    let id = now_or_panic(world.managers[1].create_in(HOME, UserId::new("local").unwrap(), data(r#"{"v":1}"#)))
        .expect("create for a user of home")
        .session
        .id;
    match world.lookup(RegionId(2), &id) {
        Lookup::Found { session, served: Served::Hot, hot_region } => {
            assert_eq!((session.version, hot_region), (1, Some(ABROAD)), "served by the holder");
        }
        other => panic!("the session is found where it is held, got {other:?}"),
    }
}
