//! The store's mapping onto the engine (ids, payload, expiry, owner, errors), on the engine's
//! in-memory stores: fast, and able to take a backend down on demand. The same store runs on
//! Redis and DynamoDB in `route_tests.rs` and `counter_app.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::{
    AuditKind, Clock, Engine, EngineConfig, Lookup, ManualClock, RegionId, SessionConfig, SessionData, SystemClock,
    UserId,
};
use hotcold_tower_sessions::{HotcoldStore, SetupError};
use serde_json::json;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::Error;

type MemoryEngine = Engine<MemoryHotStore, MemoryColdStore, MemoryAudit, Arc<ManualClock>>;
type Store = HotcoldStore<MemoryHotStore, MemoryColdStore, MemoryAudit, Arc<ManualClock>>;

/// An engine of three in-memory regions whose clock starts at the wall clock (tower-sessions
/// dates expiry by the wall clock) and moves only when a test moves it.
fn engine_with(engine_config: EngineConfig) -> (Arc<MemoryEngine>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let hot = (0..3).map(|i| MemoryHotStore::new(format!("memory hot {i}"))).collect();
    let engine = Engine::new(
        SessionConfig::default(),
        engine_config,
        hot,
        MemoryColdStore::new("memory cold"),
        MemoryAudit::new(),
        Arc::clone(&clock),
    )
    .expect("default configuration");
    (Arc::new(engine), clock)
}

fn store() -> (Store, Arc<ManualClock>) {
    let (engine, clock) = engine_with(EngineConfig::default());
    (HotcoldStore::new(engine, RegionId(0)).expect("region 0 is configured"), clock)
}

fn record(data: serde_json::Value, expires_in: time::Duration) -> Record {
    let data: HashMap<String, serde_json::Value> = serde_json::from_value(data).expect("a JSON object");
    Record { id: Id::default(), data, expiry_date: OffsetDateTime::now_utc() + expires_in }
}

#[tokio::test]
async fn create_takes_the_engines_token_as_id_and_load_reads_the_record_back() {
    let (store, _) = store();
    let mut created = record(json!({"foo": 42, "nested": {"a": [1, 2]}}), time::Duration::hours(1));
    let proposed = created.id;
    store.create(&mut created).await.expect("create");
    assert_ne!(created.id, proposed, "the engine chose the id, not tower-sessions");

    // The cookie text is the token's secret: with the store's region it is the engine's token.
    let cookie = created.id.to_string();
    assert_eq!(cookie.len(), 22, "22 base64url characters");
    let wire = format!("{cookie}.{}", store.engine().session_config().region_name(store.region()));
    let token = hotcold_engine::SessionToken::parse(&wire, store.engine().session_config()).expect("an engine token");
    assert_eq!(token.id(), store.session_id(&created.id).expect("maps"));

    let loaded = store.load(&created.id).await.expect("load").expect("the session exists");
    assert_eq!(loaded.id, created.id);
    assert_eq!(loaded.data, created.data);
    let drift = (loaded.expiry_date - created.expiry_date).abs();
    assert!(drift < time::Duration::milliseconds(1), "expiry kept to the millisecond, drifted {drift}");
}

#[tokio::test]
async fn each_save_is_a_new_engine_version_and_the_last_writer_wins() {
    let (store, _) = store();
    let mut session = record(json!({"n": 1}), time::Duration::hours(1));
    store.create(&mut session).await.expect("create");
    let id = store.session_id(&session.id).expect("maps");

    // Two requests loaded the session; both save, one after the other.
    let mut first = store.load(&session.id).await.expect("load").expect("exists");
    let mut second = first.clone();
    first.data.insert("n".into(), json!(2));
    second.data.insert("n".into(), json!(3));
    store.save(&first).await.expect("first save");
    store.save(&second).await.expect("second save, at the version the first one made");

    let manager = store.manager();
    let Lookup::Found { session: stored, .. } = manager.get(&id).await else { panic!("the session is gone") };
    assert_eq!(stored.version, 3, "created at 1, two saves");
    assert_eq!(store.load(&session.id).await.expect("load").expect("exists").data["n"], json!(3));
    assert_eq!(store.engine().audit().count(AuditKind::Updated), 2, "each save is audited");
}

#[tokio::test]
async fn a_deleted_session_is_gone_and_no_save_brings_it_back() {
    let (store, _) = store();
    let mut session = record(json!({"foo": 1}), time::Duration::hours(1));
    store.create(&mut session).await.expect("create");
    store.delete(&session.id).await.expect("delete");

    assert!(store.load(&session.id).await.expect("load").is_none());
    let error = store.save(&session).await.expect_err("a save of a removed session must fail");
    assert!(matches!(error, Error::Backend(_)), "{error:?}");
    assert!(store.load(&session.id).await.expect("load").is_none(), "the failed save left nothing behind");
    assert_eq!(store.engine().audit().count(AuditKind::LoggedOut), 1);
    // Deleting again (a retry, another tab) is fine.
    store.delete(&session.id).await.expect("delete again");
}

#[tokio::test]
async fn unknown_ids_load_as_no_session() {
    let (store, _) = store();
    for id in [Id::default(), Id(0), Id(i128::MAX), Id(i128::MIN)] {
        assert!(store.load(&id).await.expect("load").is_none(), "{id:?}");
    }
}

#[tokio::test]
async fn a_record_past_its_expiry_date_loads_as_no_session() {
    let (store, clock) = store();
    let mut session = record(json!({"foo": 1}), time::Duration::minutes(10));
    store.create(&mut session).await.expect("create");

    clock.advance(Duration::from_secs(9 * 60));
    assert!(store.load(&session.id).await.expect("load").is_some(), "not yet expired");
    clock.advance(Duration::from_secs(2 * 60));
    assert!(store.load(&session.id).await.expect("load").is_none(), "past its expiry date");

    // The engine still holds it (its own TTLs are longer): only the store's check hid it.
    let id = store.session_id(&session.id).expect("maps");
    assert!(matches!(store.manager().get(&id).await, Lookup::Found { .. }));
}

#[tokio::test]
async fn data_over_the_engines_limit_is_an_encode_error() {
    let (engine, _) = engine_with(EngineConfig { max_data_bytes: 1024, ..EngineConfig::default() });
    let store = HotcoldStore::new(engine, RegionId(0)).expect("region 0");
    let mut big = record(json!({"blob": "x".repeat(2048)}), time::Duration::hours(1));
    let error = store.create(&mut big).await.expect_err("too large");
    assert!(matches!(&error, Error::Encode(message) if message.contains("limit")), "{error:?}");

    let mut small = record(json!({"blob": "x"}), time::Duration::hours(1));
    store.create(&mut small).await.expect("small enough");
    small.data.insert("blob".into(), json!("x".repeat(2048)));
    let error = store.save(&small).await.expect_err("grown too large");
    assert!(matches!(error, Error::Encode(_)), "{error:?}");
    let kept = store.load(&small.id).await.expect("load").expect("still there");
    assert_eq!(kept.data["blob"], json!("x"), "the refused save changed nothing");
}

#[tokio::test]
async fn a_session_that_is_not_a_tower_sessions_record_is_a_decode_error() {
    let (store, _) = store();
    // A session created through the engine directly (as `hotcold serve`'s API does).
    let data = SessionData::from_json(&json!({"cart": [1, 2]}), 1024).expect("data");
    let created = store.manager().create(UserId::new("api-user").expect("user"), data).await.expect("create");
    let wire = created.token.to_wire(store.engine().session_config());
    let id: Id = wire.split_once('.').expect("wire form").0.parse().expect("an id");

    let error = store.load(&id).await.expect_err("not a record");
    assert!(matches!(&error, Error::Decode(message) if !message.contains(&id.to_string())), "{error:?}");
}

#[tokio::test]
async fn a_backend_that_is_down_is_a_backend_error_that_names_no_token() {
    let (store, _) = store();
    let mut session = record(json!({"foo": 1}), time::Duration::hours(1));
    store.create(&mut session).await.expect("create");
    for region in 0..3 {
        store.engine().hot(RegionId(region)).set_available(false);
    }
    store.engine().cold().set_available(false);

    let secret = session.id.to_string();
    let load = store.load(&session.id).await.expect_err("nothing answers");
    let save = store.save(&session).await.expect_err("nothing answers");
    let delete = store.delete(&session.id).await.expect_err("nothing answers");
    for error in [load, save, delete] {
        let Error::Backend(message) = &error else { panic!("not a backend error: {error:?}") };
        assert!(!message.contains(&secret), "the token leaked into {message:?}");
        assert!(!message.is_empty());
    }

    for region in 0..3 {
        store.engine().hot(RegionId(region)).set_available(true);
    }
    store.engine().cold().set_available(true);
    assert!(store.load(&session.id).await.expect("load").is_some(), "back once the backends are");
}

#[tokio::test]
async fn the_owner_key_names_the_engine_user_and_sessions_are_anonymous_without_it() {
    let (engine, _) = engine_with(EngineConfig::default());
    let anonymous = HotcoldStore::new(Arc::clone(&engine), RegionId(0)).expect("region 0");
    let owned = anonymous.clone().with_owner_key("user_id").expect("a key");

    let owner_of = |store: Store, data: serde_json::Value| async move {
        let mut session = record(data, time::Duration::hours(1));
        store.create(&mut session).await?;
        let id = store.session_id(&session.id)?;
        match store.manager().get(&id).await {
            Lookup::Found { session, .. } => Ok(session.user_id.to_string()),
            other => panic!("created session not found: {other:?}"),
        }
    };
    assert_eq!(owner_of(owned.clone(), json!({"user_id": "alice"})).await.expect("owned"), "alice");
    assert_eq!(owner_of(owned.clone(), json!({"user_id": 7})).await.expect("owned"), "7");
    let first = owner_of(owned.clone(), json!({"other": 1})).await.expect("anonymous");
    let second = owner_of(anonymous.clone(), json!({"user_id": "alice"})).await.expect("key not set");
    for owner in [&first, &second] {
        assert!(owner.starts_with("anonymous-") && owner.len() == "anonymous-".len() + 16, "{owner}");
    }
    assert_ne!(first, second, "one anonymous owner per session");
    let users = engine.hot(RegionId(0)).snapshot();
    assert_eq!(users.iter().filter(|s| s.user_id.as_str() == "alice").count(), 1);

    for bad in [json!({"user_id": {"id": 1}}), json!({"user_id": ""}), json!({"user_id": 1.5})] {
        let error = owner_of(owned.clone(), bad.clone()).await.expect_err("not a user id");
        assert!(matches!(error, Error::Encode(_)), "{bad}: {error:?}");
    }
}

#[test]
fn a_region_the_engine_does_not_have_or_an_empty_owner_key_is_refused() {
    let (engine, _) = engine_with(EngineConfig::default());
    let error = HotcoldStore::new(Arc::clone(&engine), RegionId(3)).expect_err("three regions: 0, 1, 2");
    assert_eq!(error, SetupError::UnknownRegion { index: 3, configured: 3 });
    let store = HotcoldStore::new(engine, RegionId(2)).expect("region 2");
    assert_eq!(store.with_owner_key("").expect_err("empty"), SetupError::EmptyOwnerKey);
}

#[tokio::test]
async fn sessions_created_by_one_region_are_unknown_to_a_store_of_another() {
    let (engine, _) = engine_with(EngineConfig::default());
    let east = HotcoldStore::new(Arc::clone(&engine), RegionId(0)).expect("region 0");
    let west = HotcoldStore::new(Arc::clone(&engine), RegionId(1)).expect("region 1");
    let mut session = record(json!({"foo": 1}), time::Duration::hours(1));
    east.create(&mut session).await.expect("create");
    assert!(east.load(&session.id).await.expect("load").is_some());
    assert!(west.load(&session.id).await.expect("load").is_none(), "the cookie carries no region");
    assert_ne!(east.session_id(&session.id).expect("maps"), west.session_id(&session.id).expect("maps"));
    // A second manager of the same region (another app instance) does find it.
    let again = HotcoldStore::new(engine, RegionId(0)).expect("region 0");
    assert!(again.load(&session.id).await.expect("load").is_some());
}
