//! Moves between the legacy store and the hybrid one ([`SessionManager::import`] and
//! [`SessionManager::retire`]) on in-memory stores; `tests/serve.rs` runs the same moves through
//! the API against a real legacy redis-server, Redis and DynamoDB Local.

use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::migration::{Imported, LegacyId, LegacySession};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    AuditKind, ColdLookup, ColdStore, Engine, EngineConfig, HotStore, Lookup, ManualClock, RegionId, SessionConfig,
    SessionData, SessionManager, Tier, Timestamp, UserId,
};

type Manager = SessionManager<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

struct World {
    clock: Arc<ManualClock>,
    hot: Arc<MemoryHotStore>,
    cold: Arc<MemoryColdStore>,
    audit: Arc<MemoryAudit>,
    manager: Manager,
    config: SessionConfig,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(NOW));
        let hot = Arc::new(MemoryHotStore::new("hot"));
        let cold = Arc::new(MemoryColdStore::new("cold"));
        let audit = Arc::new(MemoryAudit::new());
        let mut config = SessionConfig::default();
        config.hot_storage.regions = vec!["us-east-1".into()];
        let engine = Arc::new(
            Engine::new(
                config.clone(),
                EngineConfig::default(),
                vec![hot.clone()],
                cold.clone(),
                audit.clone(),
                clock.clone(),
            )
            .expect("valid engine"),
        );
        Self { clock, hot, cold, audit, manager: SessionManager::with_token_seed(engine, RegionId(0), 1), config }
    }

    /// A legacy session of `user` with `cart`, expiring `expires_in` from now.
    fn legacy(&self, name: &str, cart: u64, expires_in: Duration) -> LegacySession {
        let id = LegacyId::parse(&format!("{name:-<32}")).expect("legacy id").session_id(RegionId(0));
        LegacySession {
            id,
            user_id: UserId::new("alice").expect("user"),
            data: SessionData::from_json(&serde_json::json!({ "cart": [cart] }), 4096).expect("data"),
            expires_at: NOW + expires_in,
        }
    }

    fn kinds(&self) -> Vec<(AuditKind, Tier)> {
        self.audit.events().into_iter().map(|e| (e.kind, e.tier)).collect()
    }
}

#[test]
fn an_import_on_access_is_durable_hot_and_audited_migrated() {
    let world = World::new();
    let legacy = world.legacy("active", 1, Duration::from_secs(600));
    let Imported::Imported { session, hot } = now_or_panic(world.manager.import(legacy.clone(), true)).expect("import")
    else {
        panic!("imported")
    };
    assert!(hot, "an accessed session is hot");
    assert_eq!((session.version, session.last_access), (1, NOW));
    assert!(
        matches!(now_or_panic(world.cold.get(&legacy.id, RegionId(0))), ColdLookup::Found(s) if s.data == legacy.data),
        "in DynamoDB before the legacy copy may go"
    );
    assert_eq!(world.kinds(), [(AuditKind::Migrated, Tier::Hot)]);
    match now_or_panic(world.manager.get(&legacy.id)) {
        Lookup::Found { session, .. } => assert_eq!(session.data, legacy.data),
        other => panic!("served after the import: {other:?}"),
    }
}

#[test]
fn a_bulk_import_keeps_the_legacy_expiry_and_sends_idle_sessions_to_the_cold_tier_only() {
    let world = World::new();
    let cold_ttl = world.config.cold_storage.ttl;
    // Expires in 10 minutes: last access 10 minutes before a cold TTL ago, idle far past the threshold.
    let idle = world.legacy("idle", 2, Duration::from_secs(600));
    let Imported::Imported { session, hot } = now_or_panic(world.manager.import(idle.clone(), false)).expect("import")
    else {
        panic!("imported")
    };
    assert!(!hot, "idle: straight to the cold tier");
    assert_eq!(session.last_access + cold_ttl, idle.expires_at, "expires when the legacy store would have dropped it");
    assert_eq!(now_or_panic(world.hot.session_count()), Ok(0));
    assert_eq!(world.kinds(), [(AuditKind::Migrated, Tier::Cold)]);
    // Longer than the cold TTL: the session is as fresh as can be, so it is active and hot.
    let long = world.legacy("long", 3, cold_ttl + Duration::from_secs(3600));
    let Imported::Imported { session, hot } = now_or_panic(world.manager.import(long, false)).expect("import") else {
        panic!("imported")
    };
    assert!(hot);
    assert_eq!(session.last_access, NOW, "capped at now: the cold TTL is the longest a session can last");
    // Past its expiry: nothing is written.
    let gone = world.legacy("gone", 4, Duration::ZERO);
    assert_eq!(now_or_panic(world.manager.import(gone.clone(), false)), Ok(Imported::Expired));
    assert_eq!(now_or_panic(world.cold.get(&gone.id, RegionId(0))), ColdLookup::Miss);
}

#[test]
fn a_logged_out_session_is_never_imported_again() {
    let world = World::new();
    let legacy = world.legacy("ended", 5, Duration::from_secs(600));
    assert!(matches!(now_or_panic(world.manager.import(legacy.clone(), true)), Ok(Imported::Imported { .. })));
    assert_eq!(now_or_panic(world.manager.logout(&legacy.id)), Ok(true));
    // The legacy copy survived (a crash before its delete): importing it again must not revive it.
    assert_eq!(now_or_panic(world.manager.import(legacy.clone(), true)), Ok(Imported::Removed));
    assert_eq!(now_or_panic(world.manager.get(&legacy.id)), Lookup::Miss);
}

#[test]
fn a_retired_session_is_gone_from_every_tier_and_can_be_imported_again_over_a_leftover() {
    let world = World::new();
    let legacy = world.legacy("roundtrip", 6, Duration::from_secs(600));
    assert!(matches!(now_or_panic(world.manager.import(legacy.clone(), true)), Ok(Imported::Imported { .. })));
    let updated = now_or_panic(world.manager.update(
        &legacy.id,
        SessionData::from_json(&serde_json::json!({ "cart": [60] }), 4096).expect("data"),
        1,
    ))
    .expect("update");
    assert_eq!(updated.version, 2);
    // A copy that a sync pass read before the retirement and writes back after it.
    let leftover = match now_or_panic(world.hot.get_and_touch(&legacy.id, NOW, Duration::from_secs(60))) {
        hotcold_engine::HotLookup::Hit(session) => session,
        other => panic!("hot: {other:?}"),
    };
    assert_eq!(now_or_panic(world.manager.retire(&legacy.id)), Ok(true));
    assert_eq!(now_or_panic(world.manager.get(&legacy.id)), Lookup::Miss, "no tier holds it");
    assert_eq!(now_or_panic(world.manager.retire(&legacy.id)), Ok(false), "retiring twice finds nothing");
    assert!(world.kinds().contains(&(AuditKind::RolledBack, Tier::Hot)));
    now_or_panic(world.cold.put(&leftover, RegionId(0), NOW)).expect("the late sync write");
    // The legacy store's copy (changed on the legacy side meanwhile) comes back in over the leftover.
    world.clock.advance(Duration::from_secs(5));
    let newer = LegacySession {
        data: SessionData::from_json(&serde_json::json!({ "cart": [61] }), 4096).expect("data"),
        ..legacy.clone()
    };
    let Imported::Imported { session, .. } = now_or_panic(world.manager.import(newer.clone(), true)).expect("import")
    else {
        panic!("imported")
    };
    assert_eq!(session.version, leftover.version + 1, "the legacy copy wins over the leftover");
    match now_or_panic(world.manager.get(&legacy.id)) {
        Lookup::Found { session, .. } => assert_eq!(session.data, newer.data, "the newest data, not the leftover's"),
        other => panic!("served: {other:?}"),
    }
}

#[test]
fn a_new_session_under_a_legacy_id_is_audited_created() {
    let world = World::new();
    let legacy = world.legacy("fresh", 7, Duration::from_secs(600));
    assert!(matches!(
        now_or_panic(world.manager.create_with_legacy_id(legacy)),
        Ok(Imported::Imported { hot: true, .. })
    ));
    assert_eq!(world.kinds(), [(AuditKind::Created, Tier::Hot)]);
}
