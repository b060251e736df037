//! Edge cases of the session manager that the broad suites (conformance, model property) reach
//! only by chance: where a lookup puts a promoted session when a hot tier is down, the payload
//! size limit at its boundary, and the small accessors callers rely on. Each test was written
//! against a mutant that `cargo mutants` found surviving the other engine tests (see
//! docs/validation.md, "Mutation testing").

use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    Engine, EngineConfig, EngineError, Lookup, ManualClock, RegionId, Served, SessionConfig, SessionData, SessionId,
    SessionManager, SyncService, Timestamp, UserId,
};

type Manager = SessionManager<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;
type Sync = SyncService<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;

/// Three regions on memory stores, one manager per region, a sync service and the clock.
struct World {
    clock: Arc<ManualClock>,
    hot: Vec<Arc<MemoryHotStore>>,
    cold: Arc<MemoryColdStore>,
    managers: Vec<Manager>,
    sync: Sync,
    config: SessionConfig,
}

impl World {
    fn new(engine_config: EngineConfig) -> Self {
        Self::with_config(SessionConfig::default(), engine_config)
    }

    fn with_config(config: SessionConfig, engine_config: EngineConfig) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
        let cold = Arc::new(MemoryColdStore::new("cold"));
        let engine = Arc::new(
            Engine::new(
                config.clone(),
                engine_config,
                hot.clone(),
                cold.clone(),
                Arc::new(MemoryAudit::new()),
                clock.clone(),
            )
            .expect("valid engine"),
        );
        let managers = (0..3).map(|r| SessionManager::with_token_seed(engine.clone(), RegionId(r), r.into())).collect();
        Self { clock, hot, cold, managers, sync: SyncService::new(engine), config }
    }

    /// A session homed in region 0, demoted to the cold tier (its hot copy gone).
    fn cold_session(&self) -> SessionId {
        let created =
            now_or_panic(self.managers[0].create(UserId::new("edge-user").unwrap(), data(b"{}"))).expect("create");
        self.clock.advance(self.config.hot_storage.promotion_threshold + Duration::from_secs(1));
        let report = now_or_panic(self.sync.run_once(RegionId(0)));
        assert_eq!((report.demoted, report.error), (1, None), "the session was demoted");
        created.session.id
    }

    /// A session homed in region 0 at `version`, only in the cold table, whose record names region
    /// 9 (which this deployment lacks) as the holder of its hot copy.
    fn cold_record_held_by_unknown_region(&self, hash: [u8; 16], version: u64) -> SessionId {
        use hotcold_engine::{ColdStore, Session};
        let now = hotcold_engine::Clock::now(&self.clock);
        let id = SessionId::from_parts(hash, RegionId(0));
        let session = Session {
            id,
            user_id: UserId::new("edge-user").unwrap(),
            data: data(b"{}"),
            version,
            created_at: now,
            last_access: now,
            persisted_version: version,
            hot_region: Some(RegionId(9)),
            activity: hotcold_engine::Activity::default(),
        };
        now_or_panic(self.cold.put(&session, RegionId(1), now)).expect("cold put");
        id
    }

    /// Brings every hot tier back and demotes a fresh session.
    fn cold_session_after_recovery(&self) -> SessionId {
        for hot in &self.hot {
            hot.set_available(true);
        }
        self.cold_session()
    }
}

fn data(bytes: &'static [u8]) -> SessionData {
    SessionData::from_stored(bytes::Bytes::from_static(bytes))
}

/// Where the promoted copy went: (how it was served, the region now holding it).
fn placed(lookup: &Lookup) -> (Served, Option<RegionId>) {
    match lookup {
        Lookup::Found { served, hot_region, .. } => (*served, *hot_region),
        other => panic!("expected the session, got {other:?}"),
    }
}

#[test]
fn a_lookup_promotes_to_home_when_only_the_serving_regions_hot_tier_is_down() {
    let world = World::new(EngineConfig::default());
    let id = world.cold_session();
    world.hot[1].set_available(false);
    let lookup = now_or_panic(world.managers[1].get(&id));
    assert_eq!(placed(&lookup), (Served::Promoted, Some(RegionId(0))), "home takes it");
}

#[test]
fn a_lookup_fails_over_to_the_serving_region_when_home_is_down() {
    let world = World::new(EngineConfig::default());
    let id = world.cold_session();
    world.hot[0].set_available(false);
    let lookup = now_or_panic(world.managers[1].get(&id));
    assert_eq!(placed(&lookup), (Served::Promoted, Some(RegionId(1))), "the serving region takes it");
    assert_eq!(lookup.session().map(|s| s.hot_region), Some(Some(RegionId(1))), "the copy names its holder");
    // The touch path makes the same choice.
    let id = world.cold_session_after_recovery();
    world.hot[0].set_available(false);
    let touched = now_or_panic(world.managers[2].touch(&id)).expect("touch");
    assert_eq!((touched.served, touched.hot_region), (Served::Promoted, Some(RegionId(2))));
}

#[test]
fn a_lookup_serves_from_cold_when_no_hot_tier_can_take_it() {
    let world = World::new(EngineConfig::default());
    let id = world.cold_session();
    world.hot[0].set_available(false);
    let lookup = now_or_panic(world.managers[0].get(&id));
    assert_eq!(placed(&lookup), (Served::ColdOnly, None), "home is here and down");
    world.hot[1].set_available(false);
    let lookup = now_or_panic(world.managers[1].get(&id));
    assert_eq!(placed(&lookup), (Served::ColdOnly, None), "home and here both down");
}

#[test]
fn lookup_session_is_the_found_session_and_nothing_otherwise() {
    let world = World::new(EngineConfig::default());
    let created = now_or_panic(world.managers[0].create(UserId::new("edge-user").unwrap(), data(b"[1]"))).unwrap();
    let lookup = now_or_panic(world.managers[0].get(&created.session.id));
    let session = lookup.session().expect("found");
    assert_eq!((session.id, session.version, session.data.as_bytes()), (created.session.id, 1, &b"[1]"[..]));
    assert_eq!(Lookup::Miss.session(), None);
    assert_eq!(Lookup::Expired.session(), None);
}

#[test]
fn the_payload_limit_admits_its_size_and_refuses_one_byte_more() {
    let limit = 8;
    let world = World::new(EngineConfig { max_data_bytes: limit, ..EngineConfig::default() });
    let user = || UserId::new("edge-user").unwrap();
    let at_limit = data(b"12345678");
    let over = data(b"123456789");
    let created = now_or_panic(world.managers[0].create(user(), at_limit.clone())).expect("a payload at the limit");
    let refused = now_or_panic(world.managers[0].create(user(), over.clone())).expect_err("one byte over");
    assert!(matches!(refused, EngineError::DataTooLarge { size: 9, limit: 8 }), "{refused:?}");
    let id = created.session.id;
    let updated = now_or_panic(world.managers[0].update(&id, at_limit, 1)).expect("an update at the limit");
    assert_eq!(updated.version, 2);
    let refused = now_or_panic(world.managers[0].update(&id, over, 2)).expect_err("an update one byte over");
    assert!(matches!(refused, EngineError::DataTooLarge { size: 9, limit: 8 }), "{refused:?}");
    let small = now_or_panic(world.managers[0].create(user(), data(b"1"))).expect("a small payload");
    assert_eq!(small.session.version, 1);
}

/// A cold record may name a failover holder this deployment does not have (written by a
/// deployment with more regions, or damaged): the lookup serves the record and never asks a hot
/// tier that does not exist.
#[test]
fn a_cold_record_naming_an_unknown_holder_region_is_served_and_promoted_home() {
    let world = World::new(EngineConfig::default());
    let id = world.cold_record_held_by_unknown_region([7; 16], 3);
    let lookup = now_or_panic(world.managers[1].get(&id));
    assert_eq!(placed(&lookup), (Served::Promoted, Some(RegionId(0))), "promoted home");
    assert_eq!(lookup.session().map(|s| s.version), Some(3));
}

/// Ending a session whose cold record names a holder region this deployment does not have
/// removes it without asking a hot tier that does not exist.
#[test]
fn logout_of_a_session_whose_record_names_an_unknown_holder_region() {
    let world = World::new(EngineConfig::default());
    let id = world.cold_record_held_by_unknown_region([8; 16], 1);
    assert_eq!(now_or_panic(world.managers[1].logout(&id)), Ok(true), "it existed");
    assert_eq!(now_or_panic(world.managers[1].get(&id)), Lookup::Miss, "and is gone");
}

/// A user's listing holds each session once, at its freshest state: a promoted and updated
/// session's hot copy wins over the older cold record it was promoted from.
#[test]
fn a_users_listing_shows_the_freshest_copy_of_each_session() {
    let world = World::new(EngineConfig::default());
    let id = world.cold_session();
    let promoted = now_or_panic(world.managers[0].get(&id));
    assert_eq!(placed(&promoted), (Served::Promoted, Some(RegionId(0))));
    let updated = now_or_panic(world.managers[0].update(&id, data(b"[2]"), 1)).expect("update");
    assert_eq!(updated.version, 2);
    let listed = now_or_panic(world.managers[2].sessions_of_user(&UserId::new("edge-user").unwrap())).expect("list");
    let versions: Vec<(SessionId, u64)> = listed.iter().map(|s| (s.id, s.version)).collect();
    assert_eq!(versions, vec![(id, 2)], "one entry, the hot copy's version");
    assert_eq!(listed[0].data.as_bytes(), b"[2]");
}

/// Erase must reach every store: with one region's hot tier down it fails (and can be repeated)
/// rather than leave that region's copies behind.
#[test]
fn erase_fails_while_any_hot_tier_is_down_and_succeeds_once_it_is_back() {
    let world = World::new(EngineConfig::default());
    let user = UserId::new("edge-user").unwrap();
    let created = now_or_panic(world.managers[2].create(user.clone(), data(b"{}"))).expect("create");
    world.hot[2].set_available(false);
    let refused = now_or_panic(world.managers[0].erase_user(&user)).expect_err("a hot tier is down");
    assert!(matches!(refused, EngineError::Store(_)), "{refused:?}");
    world.hot[2].set_available(true);
    assert_eq!(now_or_panic(world.managers[0].erase_user(&user)), Ok(1));
    assert_eq!(now_or_panic(world.managers[2].get(&created.session.id)), Lookup::Miss);
}

/// An audit sink that keeps every event exactly as appended (pseudonymisation does not rewrite
/// them), to check what the engine itself writes.
#[derive(Default)]
struct AsAppended(std::sync::Mutex<Vec<hotcold_engine::AuditEvent>>);

impl hotcold_engine::AuditSink for AsAppended {
    async fn append(&self, event: hotcold_engine::AuditEvent) -> Result<(), hotcold_engine::StoreError> {
        self.0.lock().unwrap().push(event);
        Ok(())
    }
    async fn pseudonymise_user(
        &self,
        _user: &UserId,
        _pseudonym: &UserId,
        _at: hotcold_engine::Timestamp,
    ) -> Result<u64, hotcold_engine::StoreError> {
        Ok(0)
    }
}

/// The erase event itself is written under the pseudonym, never the user id: if the
/// pseudonymisation that follows fails, no record of the erasure names the user.
#[test]
fn the_erase_event_is_written_under_the_pseudonym() {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let audit = Arc::new(AsAppended::default());
    let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
    let engine = Arc::new(
        Engine::new(
            SessionConfig::default(),
            EngineConfig::default(),
            hot,
            Arc::new(MemoryColdStore::new("cold")),
            audit.clone(),
            clock,
        )
        .expect("valid engine"),
    );
    let manager = SessionManager::with_token_seed(Arc::clone(&engine), RegionId(0), 5);
    let user = UserId::new("edge-user").unwrap();
    now_or_panic(manager.create(user.clone(), data(b"{}"))).expect("create");
    assert_eq!(now_or_panic(manager.erase_user(&user)), Ok(1));
    let events = audit.0.lock().unwrap();
    let erased: Vec<_> = events.iter().filter(|e| e.kind == hotcold_engine::AuditKind::Erased).collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0].user_id, Some(engine.pseudonym(&user)), "written under the pseudonym");
}

/// The sync report counts what a pass did, exactly: the service's metrics are these counts.
#[test]
fn a_demotion_pass_reports_batches_expiries_and_stale_copies_exactly() {
    use hotcold_engine::{ColdStore, HotStore, Session};
    let mut config = SessionConfig::default();
    config.sync.batch_size = 2;
    let world = World::with_config(config.clone(), EngineConfig::default());
    let user = || UserId::new("edge-user").unwrap();
    // Nine idle sessions in batches of two: five productive batches, more than the three fruitless
    // ones that end a pass.
    for _ in 0..9 {
        now_or_panic(world.managers[0].create(user(), data(b"{}"))).expect("create");
    }
    world.clock.advance(config.hot_storage.promotion_threshold + Duration::from_secs(1));
    let report = now_or_panic(world.sync.run_once(RegionId(0)));
    assert_eq!((report.demoted, report.batches, report.expired_hot, report.stale_dropped), (9, 5, 0, 0), "{report:?}");

    // A hot copy past its TTL that no pass demoted is reported expired, not demoted.
    now_or_panic(world.managers[1].create(user(), data(b"{}"))).expect("create");
    world.clock.advance(config.hot_storage.ttl + Duration::from_secs(1));
    let report = now_or_panic(world.sync.run_once(RegionId(1)));
    assert_eq!((report.demoted, report.expired_hot, report.batches), (0, 1, 0), "{report:?}");

    // A hot copy older than the cold record (the cold tier moved on meanwhile) is dropped as
    // stale: removed from hot, the newer cold record kept.
    let now = hotcold_engine::Clock::now(&world.clock);
    let id = SessionId::from_parts([9; 16], RegionId(2));
    let old = Session {
        id,
        user_id: user(),
        data: data(b"[1]"),
        version: 1,
        created_at: now,
        last_access: now,
        persisted_version: 0,
        hot_region: None,
        activity: hotcold_engine::Activity::default(),
    };
    let newer = Session { version: 4, data: data(b"[4]"), persisted_version: 4, ..old.clone() };
    now_or_panic(world.hot[2].put(&old, config.hot_storage.ttl)).expect("hot put");
    now_or_panic(world.cold.put(&newer, RegionId(2), now)).expect("cold put");
    world.clock.advance(config.hot_storage.promotion_threshold + Duration::from_secs(1));
    let report = now_or_panic(world.sync.run_once(RegionId(2)));
    assert_eq!((report.demoted, report.stale_dropped, report.batches), (1, 1, 1), "{report:?}");
    let lookup = now_or_panic(world.managers[2].get(&id));
    assert_eq!(lookup.session().map(|s| s.version), Some(4), "the newer cold record survives");
}

/// A cold table that, when the sync job writes a batch, first lets a request touch every session
/// of the batch in the hot tier a second later: the race between a demotion's scan and its conditional removal,
/// forced deterministically.
struct TouchedMidDemotion {
    cold: MemoryColdStore,
    hot: Arc<MemoryHotStore>,
    clock: Arc<ManualClock>,
}

impl hotcold_engine::ColdStore for TouchedMidDemotion {
    async fn get(&self, id: &SessionId, reader: RegionId) -> hotcold_engine::ColdLookup {
        self.cold.get(id, reader).await
    }
    async fn put(
        &self,
        session: &hotcold_engine::Session,
        writer: RegionId,
        now: Timestamp,
    ) -> Result<hotcold_engine::ColdWrite, hotcold_engine::StoreError> {
        self.cold.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[hotcold_engine::Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<hotcold_engine::ColdWrite>, hotcold_engine::StoreError> {
        use hotcold_engine::{Clock, HotStore, HotTouch};
        for session in sessions {
            self.clock.advance(Duration::from_secs(1));
            let touched = self.hot.touch(&session.id, self.clock.now(), Duration::from_secs(7200)).await;
            assert!(matches!(touched, HotTouch::Hit { .. }), "{touched:?}");
        }
        self.cold.put_batch(sessions, writer, now).await
    }
    async fn delete(
        &self,
        id: &SessionId,
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Option<hotcold_engine::Session>, hotcold_engine::StoreError> {
        self.cold.delete(id, writer, now).await
    }
    async fn sessions_of_user(
        &self,
        user: &UserId,
        reader: RegionId,
    ) -> Result<Vec<hotcold_engine::Session>, hotcold_engine::StoreError> {
        self.cold.sessions_of_user(user, reader).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<hotcold_engine::Session>, hotcold_engine::StoreError> {
        self.cold.sessions_of_user_page(user, after, limit, reader).await
    }
    hotcold_engine::forward_expiry_sweep!(cold);
}

/// Three regions whose cold table has every batch of the sync job touched as it is written, a
/// manager of region 0 with `sessions` sessions already idle, and the sync service (batches of
/// `batch_size`).
type Interfered = Arc<TouchedMidDemotion>;
type InterferedManager = SessionManager<Arc<MemoryHotStore>, Interfered, Arc<MemoryAudit>, Arc<ManualClock>>;
type InterferedSync = SyncService<Arc<MemoryHotStore>, Interfered, Arc<MemoryAudit>, Arc<ManualClock>>;

fn interfered(sessions: usize, batch_size: usize) -> (InterferedManager, InterferedSync, Vec<SessionId>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
    let cold =
        Arc::new(TouchedMidDemotion { cold: MemoryColdStore::new("cold"), hot: hot[0].clone(), clock: clock.clone() });
    let mut config = SessionConfig::default();
    config.sync.batch_size = batch_size;
    let engine = Arc::new(
        Engine::new(config.clone(), EngineConfig::default(), hot, cold, Arc::new(MemoryAudit::new()), clock.clone())
            .expect("valid engine"),
    );
    let manager = SessionManager::with_token_seed(engine.clone(), RegionId(0), 3);
    let ids = (0..sessions)
        .map(|_| now_or_panic(manager.create(UserId::new("edge-user").unwrap(), data(b"{}"))).unwrap().session.id)
        .collect();
    clock.advance(config.hot_storage.promotion_threshold + Duration::from_secs(1));
    (manager, SyncService::new(engine), ids)
}

/// Sessions touched between a demotion pass's scan and its removal stay hot, and the report
/// counts them as kept hot, exactly.
#[test]
fn sessions_touched_mid_demotion_stay_hot_and_are_counted() {
    let (manager, sync, ids) = interfered(3, 100);
    let report = now_or_panic(sync.run_once(RegionId(0)));
    assert_eq!((report.demoted, report.kept_hot), (0, 3), "{report:?}");
    for id in &ids {
        assert!(matches!(now_or_panic(manager.get(id)), Lookup::Found { served: Served::Hot, .. }), "still hot");
    }
}

/// A pass whose batches keep being kept hot (a store whose index keeps naming sessions it will not
/// let go of) must not spin: three fruitless batches in a row end it, and the sessions not yet
/// looked at wait, hot, for the next pass.
#[test]
fn a_pass_stops_after_three_fruitless_batches_in_a_row() {
    let (manager, sync, ids) = interfered(8, 2);
    let report = now_or_panic(sync.run_once(RegionId(0)));
    assert_eq!((report.demoted, report.kept_hot, report.batches), (0, 6, 3), "{report:?}");
    for id in &ids {
        assert!(matches!(now_or_panic(manager.get(id)), Lookup::Found { served: Served::Hot, .. }), "still hot");
    }
}

/// A write-behind pass copies the whole backlog, batch after batch, not one batch per pass.
#[test]
fn a_flush_copies_every_dirty_session_in_one_pass() {
    let mut config = SessionConfig::default();
    config.sync.batch_size = 2;
    let engine_config = EngineConfig { durability: hotcold_engine::Durability::WriteBehind, ..EngineConfig::default() };
    let world = World::with_config(config, engine_config);
    for _ in 0..5 {
        now_or_panic(world.managers[0].create(UserId::new("edge-user").unwrap(), data(b"{}"))).expect("create");
    }
    let report = now_or_panic(world.sync.flush_dirty(RegionId(0)));
    assert_eq!((report.copied, report.batches, &report.error), (5, 3, &None), "{report:?}");
    let again = now_or_panic(world.sync.flush_dirty(RegionId(0)));
    assert_eq!((again.copied, again.batches), (0, 0), "nothing left: {again:?}");
}

/// `engine.absolute_lifetime`: a session ends that long after its creation however active it
/// is, on every path (hot lookup, touch, update, cold promotion, listing); 0 sets no limit.
#[test]
fn a_session_past_its_absolute_lifetime_is_never_served_however_active() {
    let day = Duration::from_secs(86_400);
    let world = World::new(EngineConfig { absolute_lifetime: day, ..EngineConfig::default() });
    let user = UserId::new("edge-user").unwrap();
    let cold = world.cold_session(); // created 30 min before the next one
    let hot = now_or_panic(world.managers[0].create(user.clone(), data(b"{}"))).expect("create").session.id;
    assert_eq!(now_or_panic(world.managers[0].sessions_of_user(&user)).expect("list").len(), 2);
    // Active all day: a lookup every 20 minutes keeps the second session hot.
    for _ in 0..71 {
        world.clock.advance(Duration::from_secs(1200));
        assert!(matches!(now_or_panic(world.managers[0].get(&hot)), Lookup::Found { .. }));
    }
    // 23 h 40 min since the hot one began, past 24 h for the cold one: only the first is listed.
    let listed = now_or_panic(world.managers[0].sessions_of_user(&user)).expect("list");
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [hot], "the outlived session is not listed");
    assert_eq!(now_or_panic(world.managers[1].get(&cold)), Lookup::Expired, "the cold session ended");
    world.clock.advance(Duration::from_secs(1200)); // 24 h since creation
    assert_eq!(now_or_panic(world.managers[0].get(&hot)), Lookup::Expired, "the hot session ended");
    assert_eq!(now_or_panic(world.managers[1].touch(&hot)), Err(EngineError::NotFound), "and stays ended");
    assert_eq!(now_or_panic(world.managers[0].sessions_of_user(&user)).expect("list").len(), 0, "none listed");

    // An update of a session that outlives its lifetime meanwhile is refused, the change dropped.
    let updated = now_or_panic(world.managers[0].create(user.clone(), data(b"{}"))).expect("create").session.id;
    world.clock.advance(day);
    assert_eq!(now_or_panic(world.managers[0].update(&updated, data(b"{\"a\":1}"), 1)), Err(EngineError::NotFound));
    assert_eq!(now_or_panic(world.managers[0].get(&updated)), Lookup::Miss, "ended: its copies are gone");

    // 0: no limit, as in the ADR.
    let unlimited = World::new(EngineConfig::default());
    let id = now_or_panic(unlimited.managers[0].create(user, data(b"{}"))).expect("create").session.id;
    for _ in 0..100 {
        unlimited.clock.advance(Duration::from_secs(1200));
        assert!(now_or_panic(unlimited.managers[0].touch(&id)).is_ok(), "no absolute limit by default");
    }
}
