//! Data residency on in-memory stores (the same rules against redis-server and DynamoDB Local in
//! the service's live test): a restricted session's hot copy, cold record and audit records are
//! written only in its allowed regions, through every operation, a failover and an erasure
//! included, and a traveller from another region is still served.

mod residency_support;

use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    Durability, Engine, EngineConfig, EngineError, Lookup, ManualClock, Served, SessionConfig, SessionManager,
    SyncService, Timestamp,
};
use residency_support::{EU, EU_CENTRAL, US, World, data, user};

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
