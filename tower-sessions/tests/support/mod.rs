//! The live tests' engines: the store over the real Redis and DynamoDB Local the services
//! script started (`source .services/run/env.sh`). The connection helpers are the engine's own
//! live-test helpers, shared as they are: a missing server variable fails the test, naming how
//! to start the servers; it never skips.

#![allow(dead_code, unreachable_pub, missing_docs)]

#[path = "../../../engine/tests/live_support/mod.rs"]
pub mod live_support;

use std::sync::{Arc, OnceLock};

use hotcold_engine::backends::dynamodb::{DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::memory::MemoryAudit;
use hotcold_engine::{Engine, EngineConfig, RegionId, SessionConfig};
use hotcold_tower_sessions::HotcoldStore;

pub use live_support::OffsetClock;

/// The engine of the live tests. The audit trail is in memory so tests can read what it holds;
/// the engine's own live tests cover the DynamoDB trail.
pub type LiveEngine = Engine<RedisHotStore, DynamoColdStore, MemoryAudit, Arc<OffsetClock>>;

/// The store over [`LiveEngine`].
pub type LiveStore = HotcoldStore<RedisHotStore, DynamoColdStore, MemoryAudit, Arc<OffsetClock>>;

/// A store of region 0 and what the tests reach behind it.
pub struct Live {
    pub store: LiveStore,
    pub engine: Arc<LiveEngine>,
    pub clock: Arc<OffsetClock>,
}

/// The region every live store serves.
pub const REGION: RegionId = RegionId(0);

/// One pair of tables for every test of the process: creating tables is DynamoDB Local's slowest
/// call, and sessions never collide (their ids are random), so tests need no tables of their own.
fn tables() -> DynamoConfig {
    static PREFIX: OnceLock<String> = OnceLock::new();
    let prefix = PREFIX.get_or_init(|| live_support::unique("hts"));
    DynamoConfig::local(live_support::dynamodb_endpoint(), format!("{prefix}-sessions"), format!("{prefix}-audit"))
}

async fn cold() -> DynamoColdStore {
    // Creating tables that exist already is fine (another test of this process made them).
    DynamoColdStore::connect(tables(), true).await.expect("connect to DynamoDB Local and create the tables")
}

fn live(session_config: SessionConfig, hot: Vec<RedisHotStore>, cold: DynamoColdStore) -> Live {
    let clock = live_support::shared_clock();
    let engine =
        Engine::new(session_config, EngineConfig::default(), hot, cold, MemoryAudit::new(), Arc::clone(&clock))
            .expect("the default configuration");
    let engine = Arc::new(engine);
    let store = HotcoldStore::new(Arc::clone(&engine), REGION).expect("region 0 is configured");
    Live { store, engine, clock }
}

/// Three regions on the three standalone Redis servers (key prefixes of this test's own),
/// sessions table on DynamoDB Local.
pub async fn standalone() -> Live {
    let urls = live_support::redis_urls();
    let mut hot = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        hot.push(live_support::standalone_store(url, &format!("region {i}")).await);
    }
    live(SessionConfig::default(), hot, cold().await)
}

/// One region on the 3-master Redis Cluster, sessions table on DynamoDB Local.
pub async fn cluster() -> Live {
    let mut config = SessionConfig::default();
    config.hot_storage.regions.truncate(1);
    live(config, vec![live_support::cluster_store("cluster").await], cold().await)
}
