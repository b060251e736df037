//! Data residency on in-memory stores (the same rules against redis-server and DynamoDB Local in
//! the service's live test): a restricted session's hot copy, cold record and audit records are
//! written only in its allowed regions, through every operation, a failover and an erasure
//! included, and a traveller from another region is still served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::residency::{ResidentAudit, ResidentCold};
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, Durability, Engine, EngineConfig, EngineError, ExpiredPage, ExpiryCursor, Lookup,
    ManualClock, RegionId, Residency, Served, Session, SessionConfig, SessionData, SessionId, SessionManager,
    StoreError, SyncService, Timestamp, UserId,
};

const US: RegionId = RegionId(0);
const EU: RegionId = RegionId(1);
const EU_CENTRAL: RegionId = RegionId(2);

/// Every region a session-specific cold call named, with the session's home: what the manager
/// asked of the cold tier, before any routing.
#[derive(Debug)]
struct Witness<C> {
    inner: C,
    calls: Mutex<Vec<(RegionId, RegionId)>>,
}

impl<C> Witness<C> {
    fn note(&self, id: &SessionId, region: RegionId) {
        self.calls.lock().unwrap().push((id.home(), region));
    }
}

impl<C: ColdStore> ColdStore for Witness<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        self.note(id, reader);
        self.inner.get(id, reader).await
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.note(&session.id, writer);
        self.inner.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        for session in sessions {
            self.note(&session.id, writer);
        }
        self.inner.put_batch(sessions, writer, now).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.note(id, writer);
        self.inner.delete(id, writer, now).await
    }
    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user(user, reader).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user_page(user, after, limit, reader).await
    }
    async fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<ExpiredPage, StoreError> {
        self.inner.expired_page(home, before, after, limit).await
    }
    async fn sweep_mark(&self, home: RegionId) -> Result<Option<ExpiryCursor>, StoreError> {
        self.inner.sweep_mark(home).await
    }
    async fn set_sweep_mark(&self, home: RegionId, mark: &ExpiryCursor) -> Result<(), StoreError> {
        self.inner.set_sweep_mark(home, mark).await
    }
}

type Cold = Arc<Witness<ResidentCold<Arc<MemoryColdStore>>>>;
type Audit = Arc<ResidentAudit<Arc<MemoryAudit>>>;
type Manager = SessionManager<Arc<MemoryHotStore>, Cold, Audit, Arc<ManualClock>>;

/// Three regions (us-east-1, eu-west-1, eu-central-1); eu-west-1's sessions may be stored only
/// in the regions given.
struct World {
    residency: Residency,
    clock: Arc<ManualClock>,
    hot: Vec<Arc<MemoryHotStore>>,
    cold: Cold,
    shared_table: Arc<MemoryColdStore>,
    eu_table: Arc<MemoryColdStore>,
    shared_trail: Arc<MemoryAudit>,
    eu_trail: Arc<MemoryAudit>,
    managers: Vec<Manager>,
    sync: SyncService<Arc<MemoryHotStore>, Cold, Audit, Arc<ManualClock>>,
}

impl World {
    fn new(eu_allowed: &[&str], durability: Durability) -> Self {
        let mut config = SessionConfig::default();
        config.hot_storage.regions = vec!["us-east-1".into(), "eu-west-1".into(), "eu-central-1".into()];
        let rules = BTreeMap::from([("eu-west-1".to_string(), eu_allowed.iter().map(|r| (*r).to_string()).collect())]);
        let residency = Residency::from_names(&config, &rules, "residency").expect("valid rules");
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
        let shared_table = Arc::new(MemoryColdStore::new("shared table"));
        let eu_table = Arc::new(MemoryColdStore::new("eu table"));
        let routed = ResidentCold::new(residency.clone(), shared_table.clone(), vec![(EU, eu_table.clone())])
            .expect("a table per restricted home");
        let cold = Arc::new(Witness { inner: routed, calls: Mutex::new(Vec::new()) });
        let shared_trail = Arc::new(MemoryAudit::new());
        let eu_trail = Arc::new(MemoryAudit::new());
        let audit = Arc::new(
            ResidentAudit::new(&residency, shared_trail.clone(), vec![(EU, eu_trail.clone())]).expect("a trail"),
        );
        let engine_config = EngineConfig { durability, ..EngineConfig::default() };
        let engine = Arc::new(
            Engine::new(config, engine_config, hot.clone(), cold.clone(), audit, clock.clone())
                .expect("valid engine")
                .with_residency(residency.clone()),
        );
        let managers =
            (0..3).map(|r| SessionManager::with_token_seed(engine.clone(), RegionId(r), 7 + u64::from(r))).collect();
        Self {
            residency,
            clock,
            hot,
            cold,
            shared_table,
            eu_table,
            shared_trail,
            eu_trail,
            managers,
            sync: SyncService::new(engine),
        }
    }

    fn at(&self, region: RegionId) -> &Manager {
        &self.managers[region.index()]
    }

    /// Every store outside eu-west-1's allowed regions, scanned: none may hold anything of an
    /// eu-west-1 session (no copy, no tombstone, no record, no audit event), and every cold call
    /// about one went through an allowed replica.
    fn assert_nothing_outside(&self) {
        for (region, store) in self.hot.iter().enumerate() {
            let region = RegionId(u16::try_from(region).unwrap());
            if self.residency.allows(EU, region) {
                continue;
            }
            let held: Vec<_> = store.snapshot().into_iter().filter(|s| s.id.home() == EU).collect();
            assert!(held.is_empty(), "region {region:?}'s Redis holds eu-west-1 sessions: {held:?}");
        }
        assert!(
            self.shared_table.snapshot().iter().all(|s| s.id.home() != EU),
            "the shared (every-region) table holds an eu-west-1 session"
        );
        assert!(
            self.shared_trail.events().iter().all(|e| e.session.home() != EU),
            "the shared audit trail holds an eu-west-1 session's record"
        );
        let calls = self.cold.calls.lock().unwrap();
        let outside: Vec<_> = calls.iter().filter(|(home, region)| !self.residency.allows(*home, *region)).collect();
        assert!(outside.is_empty(), "cold calls through a replica outside the allowed set: {outside:?}");
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).expect("user id")
}

fn data(step: u64) -> SessionData {
    SessionData::from_json(&serde_json::json!({ "step": step }), 1024).expect("data")
}

#[test]
fn a_pinned_sessions_data_stays_in_its_region_through_every_operation_and_a_traveller_is_served() {
    for durability in [Durability::OnDemotion, Durability::WriteThrough] {
        let world = World::new(&["eu-west-1"], durability);
        let id = now_or_panic(world.at(EU).create(user("eva"), data(0))).expect("create").session.id;
        // A traveller in us-east-1: served (by eu-west-1's Redis), changed, and nothing stored here.
        match now_or_panic(world.at(US).get(&id)) {
            Lookup::Found { served: Served::Hot, hot_region, .. } => assert_eq!(hot_region, Some(EU)),
            other => panic!("a traveller is served from home, got {other:?}"),
        }
        now_or_panic(world.at(US).update(&id, data(1), 1)).expect("a traveller's update");
        // Demoted, then the traveller's next request promotes it at home, not in us-east-1.
        world.clock.advance(Duration::from_secs(3600));
        now_or_panic(world.sync.run_once(EU));
        assert!(world.eu_table.snapshot().iter().any(|s| s.id == id), "demoted into eu-west-1's table");
        match now_or_panic(world.at(US).get(&id)) {
            Lookup::Found { session, served: Served::Promoted, hot_region } => {
                assert_eq!((session.version, hot_region), (2, Some(EU)));
            }
            other => panic!("promoted at home, got {other:?}"),
        }
        // A session created by us-east-1 for a eu-west-1 user (its load balancer sent them there).
        let made_away = now_or_panic(world.at(US).create_in(EU, user("eva"), data(0))).expect("create_in");
        assert_eq!(made_away.session.id.home(), EU);
        assert!(made_away.hot, "stored in eu-west-1's Redis");
        // Logout from us-east-1, then erasure of the user from us-east-1.
        assert!(now_or_panic(world.at(US).logout(&made_away.session.id)).expect("logout"));
        assert_eq!(
            now_or_panic(world.at(US).erase_user(&user("eva"))).expect("erase"),
            1,
            "the live one (the other is a tombstone)"
        );
        assert!(!world.eu_trail.events().is_empty(), "the events went to eu-west-1's trail");
        world.assert_nothing_outside();
    }
}

#[test]
fn a_pinned_region_that_fails_is_served_from_its_cold_table_never_copied_elsewhere() {
    let world = World::new(&["eu-west-1"], Durability::OnDemotion);
    let id = now_or_panic(world.at(EU).create(user("eva"), data(0))).expect("create").session.id;
    world.clock.advance(Duration::from_secs(3600));
    now_or_panic(world.sync.run_once(EU));
    world.hot[EU.index()].set_available(false);
    // Its users now reach us-east-1: served from the cold table, with their changes kept there.
    match now_or_panic(world.at(US).get(&id)) {
        Lookup::Found { served: Served::ColdOnly, hot_region: None, .. } => {}
        other => panic!("served from eu-west-1's cold table, got {other:?}"),
    }
    let changed = now_or_panic(world.at(US).update(&id, data(1), 1)).expect("an update lands in the cold table");
    assert_eq!(changed.version, 2);
    // A new session while eu-west-1's Redis is down starts in the cold table.
    let created = now_or_panic(world.at(US).create_in(EU, user("eli"), data(0))).expect("create_in");
    assert!(!created.hot, "no allowed Redis can hold it");
    assert!(matches!(now_or_panic(world.at(US).touch(&created.session.id)), Ok(t) if t.served == Served::ColdOnly));
    world.assert_nothing_outside();
    // The whole region down (its cold table too): the request fails, nothing is copied.
    world.eu_table.set_available(false);
    assert!(matches!(now_or_panic(world.at(US).get(&id)), Lookup::Unavailable(_)));
    assert!(matches!(now_or_panic(world.at(US).create_in(EU, user("eli"), data(0))), Err(EngineError::Store(_))));
    world.assert_nothing_outside();
    // Back: promoted at home with the change made meanwhile.
    world.hot[EU.index()].set_available(true);
    world.eu_table.set_available(true);
    world.clock.advance(Duration::from_secs(10));
    match now_or_panic(world.at(EU).get(&id)) {
        Lookup::Found { session, served: Served::Promoted, hot_region } => {
            assert_eq!((session.version, hot_region), (2, Some(EU)));
        }
        other => panic!("promoted at home after the recovery, got {other:?}"),
    }
    world.assert_nothing_outside();
}

#[test]
fn a_failover_goes_to_an_allowed_region_and_comes_home_after() {
    let world = World::new(&["eu-west-1", "eu-central-1"], Durability::OnDemotion);
    let id = now_or_panic(world.at(EU).create(user("eva"), data(0))).expect("create").session.id;
    world.clock.advance(Duration::from_secs(3600));
    now_or_panic(world.sync.run_once(EU));
    world.hot[EU.index()].set_available(false);
    // Served by us-east-1 while eu-west-1's Redis is down: the copy goes to eu-central-1.
    match now_or_panic(world.at(US).get(&id)) {
        Lookup::Found { served: Served::Promoted, hot_region, .. } => assert_eq!(hot_region, Some(EU_CENTRAL)),
        other => panic!("a failover copy in the allowed region, got {other:?}"),
    }
    match now_or_panic(world.at(US).get(&id)) {
        Lookup::Found { served: Served::Hot, hot_region, .. } => assert_eq!(hot_region, Some(EU_CENTRAL)),
        other => panic!("then served by it, got {other:?}"),
    }
    world.assert_nothing_outside();
    world.hot[EU.index()].set_available(true);
    let moved = now_or_panic(world.sync.move_home(EU_CENTRAL));
    assert_eq!(moved.moved_home, 1, "the holder's sync job moves it home");
    assert!(world.hot[EU.index()].snapshot().iter().any(|s| s.id == id));
    world.assert_nothing_outside();
}

#[test]
fn without_rules_nothing_changes_a_travellers_failover_copy_is_held_where_served() {
    // The control for the tests above: the same failover without a rule copies the session into
    // us-east-1, which is what residency forbids.
    let mut config = SessionConfig::default();
    config.hot_storage.regions = vec!["us-east-1".into(), "eu-west-1".into(), "eu-central-1".into()];
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
    let cold = Arc::new(MemoryColdStore::new("cold"));
    let engine = Arc::new(
        Engine::new(config, EngineConfig::default(), hot.clone(), cold, Arc::new(MemoryAudit::new()), clock.clone())
            .expect("valid engine"),
    );
    let eu = SessionManager::with_token_seed(engine.clone(), EU, 1);
    let us = SessionManager::with_token_seed(engine.clone(), US, 2);
    let id = now_or_panic(eu.create(user("eva"), data(0))).expect("create").session.id;
    clock.advance(Duration::from_secs(3600));
    now_or_panic(SyncService::new(engine).run_once(EU));
    hot[EU.index()].set_available(false);
    assert!(matches!(now_or_panic(us.get(&id)), Lookup::Found { hot_region: Some(US), .. }));
    assert!(hot[US.index()].snapshot().iter().any(|s| s.id == id));
}
