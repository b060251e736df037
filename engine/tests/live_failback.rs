//! Failback against real servers: two regions' redis-server processes of the test's own (the home
//! region's is killed and restarted empty, as a lost Redis cluster comes back), the third region's
//! shared server, and DynamoDB Local for the cold table.
//!
//! - A session created for a user of the failed region by the region serving them meanwhile, and
//!   changed there, is served from home on its next access there after the recovery: one extra
//!   round trip to the holder (one script call there, counted by the holder's `INFO
//!   commandstats`), once; the holder keeps no key of it.
//! - A session that failed over on access goes home by the holder's failback pass.
//! - An update landing at the holder between the move's write home and its removal there goes
//!   home too; no second hot copy survives.
//!
//! Run with `scripts/test.sh` (it provides HOTCOLD_REDIS_SERVER_BIN and the shared servers).

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod failback_support;
mod live_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use failback_support::Racing;
use hotcold_engine::backends::dynamodb::DynamoColdStore;
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::failback::HOT_DOWN_BACKOFF;
use hotcold_engine::memory::MemoryAudit;
use hotcold_engine::{
    AuditKind, Clock, Engine, EngineConfig, Lookup, RegionId, Served, SessionConfig, SessionData, SessionId,
    SessionManager, SyncService, UserId,
};
use live_support::{
    OffsetClock, OwnRedis, command_calls, command_delta, dynamo_config, dynamodb_endpoint, redis_urls, standalone_store,
};

type Hot = Arc<Racing<RedisHotStore>>;
type LiveEngine = Engine<Hot, DynamoColdStore, Arc<MemoryAudit>, Arc<OffsetClock>>;
type Manager = SessionManager<Hot, DynamoColdStore, Arc<MemoryAudit>, Arc<OffsetClock>>;

const HOME: RegionId = RegionId(0);
const HOLDER: RegionId = RegionId(1);

/// The home region's Redis (killed and restarted by the tests), the holder's, and the engine.
struct World {
    home: OwnRedis,
    holder: OwnRedis,
    engine: Arc<LiveEngine>,
    managers: Vec<Manager>,
    sync: SyncService<Hot, DynamoColdStore, Arc<MemoryAudit>, Arc<OffsetClock>>,
    audit: Arc<MemoryAudit>,
    clock: Arc<OffsetClock>,
}

impl World {
    async fn new() -> Self {
        let (home, holder) = (OwnRedis::start(), OwnRedis::start());
        let hot: Vec<Hot> = vec![
            Arc::new(Racing::new(standalone_store(&home.url(), "home").await)),
            Arc::new(Racing::new(standalone_store(&holder.url(), "holder").await)),
            Arc::new(Racing::new(standalone_store(&redis_urls()[2], "region 2").await)),
        ];
        let config = dynamo_config(&dynamodb_endpoint()).await;
        DynamoColdStore::connect(config.clone(), true).await.expect("DynamoDB tables");
        let cold = DynamoColdStore::connect(config, false).await.expect("DynamoDB client");
        let audit = Arc::new(MemoryAudit::new());
        let clock = live_support::shared_clock();
        let engine = Arc::new(
            Engine::new(SessionConfig::default(), EngineConfig::default(), hot, cold, audit.clone(), clock.clone())
                .expect("engine"),
        );
        let managers = (0..3).map(|r| SessionManager::new(engine.clone(), RegionId(r))).collect();
        let sync = SyncService::new(engine.clone());
        Self { home, holder, engine, managers, sync, audit, clock }
    }

    /// The home region's Redis comes back empty (a lost cluster replaced); waits until the store
    /// reconnects, and past the backoff during which the engine leaves a failed tier alone.
    async fn restart_home(&mut self) {
        self.home.restart();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.engine.hot(HOME).inner.ping().await.is_err() {
            assert!(Instant::now() < deadline, "the home store did not reconnect");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.clock.advance(HOT_DOWN_BACKOFF + Duration::from_secs(1));
    }

    /// A session for a user of the home region, created by the holder while home is down.
    async fn created_away(&self, n: usize) -> SessionId {
        let user = UserId::new(&format!("failback-{n}")).unwrap();
        let created = self.managers[1].create_in(HOME, user, data(n, 1)).await.expect("create_in");
        assert!(created.hot && created.session.id.home() == HOME, "homed at home, held hot by the holder");
        created.session.id
    }

    /// Keys of the holder's Redis that name the session (its record, idle and dirty entries are
    /// members, not keys; its record key carries its id).
    async fn holder_keys(&self, id: &SessionId) -> Vec<String> {
        let client = redis::Client::open(self.holder.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS").arg(format!("*{}*", id.to_hex())).query_async(&mut conn).await.unwrap()
    }

    fn version_at(&self, lookup: &Lookup) -> Option<(u64, Served, Option<RegionId>)> {
        match lookup {
            Lookup::Found { session, served, hot_region } => Some((session.version, *served, *hot_region)),
            _ => None,
        }
    }
}

fn data(session: usize, version: u64) -> SessionData {
    SessionData::from_json(&serde_json::json!({ "session": session, "version": version }), 1 << 16).unwrap()
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(240), future).await.unwrap_or_else(|_| panic!("{what} took over 240 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_a_failed_region_come_home_after_it_recovers() {
    within("failback", async {
        let mut world = World::new().await;
        // One session failed over on access: created at home, demoted, home lost, then used.
        let user = UserId::new("failback-demoted").unwrap();
        let demoted = world.managers[0].create(user, data(0, 1)).await.expect("create").session.id;
        world.clock.advance(Duration::from_secs(1801));
        assert_eq!(world.sync.run_once(HOME).await.demoted, 1);

        world.home.kill();
        let away = world.created_away(1).await;
        let updated = world.managers[1].update(&away, data(1, 2), 1).await.expect("update at the holder");
        assert_eq!(updated.version, 2);
        let failed_over = world.managers[1].get(&demoted).await;
        assert_eq!(world.version_at(&failed_over), Some((1, Served::Promoted, Some(HOLDER))), "{failed_over:?}");

        world.restart_home().await;
        // The next access at home: one call to the holder (the take script), once.
        let before = command_calls(&world.holder.url()).await;
        let lookup = world.managers[0].get(&away).await;
        assert_eq!(world.version_at(&lookup), Some((2, Served::Promoted, Some(HOME))), "{lookup:?}");
        assert_eq!(lookup.session().map(|s| s.data.clone()), Some(data(1, 2)), "the change made away came home");
        // `INFO commandstats` counts the commands a script runs inside itself too (DESIGN, "Real
        // parts"): the take script's are GET, ZREM, SREM and DEL; what the client sent is EVALSHA.
        let mut at_holder = command_delta(&before, &command_calls(&world.holder.url()).await);
        assert_eq!(at_holder.remove("evalsha"), Some(1), "one round trip: the take script, {at_holder:?}");
        at_holder.retain(|command, _| !["get", "zrem", "srem", "del"].contains(&command.as_str()));
        assert!(at_holder.is_empty(), "nothing else sent to the holder: {at_holder:?}");
        let before = command_calls(&world.holder.url()).await;
        let again = world.managers[0].get(&away).await;
        assert_eq!(world.version_at(&again), Some((2, Served::Hot, Some(HOME))));
        assert!(command_delta(&before, &command_calls(&world.holder.url()).await).is_empty(), "once");
        assert!(world.holder_keys(&away).await.is_empty(), "the holder keeps no key of it");

        // The one nobody used since: the holder's failback pass.
        let report = world.sync.move_home(HOLDER).await;
        assert_eq!((report.moved_home, report.error.clone()), (1, None), "{report:?}");
        let lookup = world.managers[0].get(&demoted).await;
        assert_eq!(world.version_at(&lookup), Some((1, Served::Hot, Some(HOME))), "{lookup:?}");
        assert!(world.holder_keys(&demoted).await.is_empty());

        let moved: Vec<SessionId> =
            world.audit.events().into_iter().filter(|e| e.kind == AuditKind::MovedHome).map(|e| e.session).collect();
        assert_eq!(moved.len(), 2, "each move audited once");
        assert!(moved.contains(&away) && moved.contains(&demoted));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_racing_the_failback_pass_is_not_lost() {
    within("racing failback", async {
        let mut world = World::new().await;
        world.home.kill();
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(world.created_away(n).await);
        }
        world.restart_home().await;
        // A request at the holder lands between the first copy's write home and its removal there.
        world.engine.hot(HOLDER).arm(ids[0], data(0, 2), world.clock.now());
        let report = world.sync.move_home(HOLDER).await;
        assert_eq!((report.moved_home, report.error.clone()), (3, None), "{report:?}");
        let raced = world.engine.hot(HOLDER).raced.lock().unwrap().clone();
        assert!(matches!(raced, Some(Ok(hotcold_engine::HotUpdate::Updated(_)))), "the race happened: {raced:?}");
        for (n, id) in ids.iter().enumerate() {
            let lookup = world.managers[0].get(id).await;
            let version = if n == 0 { 2 } else { 1 };
            assert_eq!(world.version_at(&lookup), Some((version, Served::Hot, Some(HOME))), "{lookup:?}");
            assert_eq!(lookup.session().map(|s| s.data.clone()), Some(data(n, version)), "the newest data");
            assert!(world.holder_keys(id).await.is_empty(), "no second hot copy survives");
        }
    })
    .await;
}
