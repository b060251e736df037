//! RedisHotStore against real redis-server processes: exactly one command per hot access
//! (counted with `INFO commandstats`), cold promotion's round-trip budget, reconnection after a
//! server restart, and the Cluster key layout. Needs `scripts/test.sh` (or the env file of
//! `scripts/services.sh start`).

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hotcold_engine::analytics::VISIT_GAP_MS;
use hotcold_engine::backends::dynamodb::DynamoColdStore;
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::memory::MemoryAudit;
use hotcold_engine::store::{ColdLookup, ColdStore, ColdWrite, HotLookup, HotStore};
use hotcold_engine::{
    Activity, Clock, Engine, EngineConfig, Lookup, RegionId, Served, Session, SessionConfig, SessionData, SessionId,
    SessionManager, StoreError, SyncService, Timestamp, UserId,
};
use live_support::{
    OwnRedis, command_calls, command_delta, dynamo_config, dynamo_stores, dynamodb_endpoint, redis_urls,
};

const TTL: Duration = Duration::from_secs(3600);

fn session(n: u64, user: &UserId, now: Timestamp) -> Session {
    Session {
        id: hotcold_engine::conformance::test_id(n, 0),
        user_id: user.clone(),
        data: SessionData::from_stored(Bytes::from_static(br#"{"cart":[1,2,3]}"#)),
        version: 1,
        created_at: now,
        last_access: now,
        persisted_version: 0,
        hot_region: None,
        activity: hotcold_engine::Activity::default(),
    }
}

/// A store with the default config on `server`, its keys under `prefix`.
async fn store_on(server: &OwnRedis, prefix: &str) -> RedisHotStore {
    RedisHotStore::connect(RedisHotConfig::standalone(server.url()).with_prefix(prefix)).await.expect("connect")
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), future).await.unwrap_or_else(|_| panic!("{what} took over 120 s"))
}

/// A cold store that counts the calls it passes on.
struct CountingCold {
    inner: DynamoColdStore,
    gets: AtomicU64,
    writes: AtomicU64,
}

impl ColdStore for CountingCold {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id, reader).await
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        self.writes.fetch_add(sessions.len() as u64, Ordering::SeqCst);
        self.inner.put_batch(sessions, writer, now).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(id, writer, now).await
    }
    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.sessions_of_user(user, reader).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.sessions_of_user_page(user, after, limit, reader).await
    }
    hotcold_engine::forward_expiry_sweep!(inner);
}

/// Checks a commandstats delta of `n` hot accesses: every access sent exactly one command,
/// either an EVALSHA of the touch script (a full touch, whose GETEX, SET and ZADD run inside
/// Redis and are not sent by the client) or a plain GET / GETEX (a light touch). Returns the
/// number of full touches.
fn assert_one_command_each(n: u64, delta: &std::collections::BTreeMap<String, u64>, what: &str) -> u64 {
    let count = |c: &str| delta.get(c).copied().unwrap_or(0);
    let full = count("evalsha");
    for internal in ["set", "zadd"] {
        assert_eq!(count(internal), full, "{what}: {internal} only inside the scripts: {delta:?}");
    }
    // GETEX runs once inside every full touch; the rest were sent as light touches.
    let light = count("get") + count("getex") - full;
    assert_eq!(full + light, n, "{what}: exactly one command sent per access: {delta:?}");
    let allowed = ["get", "getex", "evalsha", "set", "zadd"];
    assert!(delta.keys().all(|c| allowed.contains(&c.as_str())), "{what}: nothing else was sent: {delta:?}");
    println!("{what}: {n} accesses sent {n} commands ({full} EVALSHA full touches, {light} light); {delta:?}");
    full
}

/// The most full touches `sessions` sessions accessed over `elapsed` can take with the default
/// 10 s touch granularity: one per session per window begun. Bounded from the measured time, so a
/// slow machine widens it and every-access-a-full-touch still fails it.
fn most_full_touches(sessions: u64, elapsed: Duration) -> u64 {
    let windows = elapsed.as_secs() / RedisHotConfig::standalone("redis://unused").touch_granularity.as_secs() + 1;
    sessions * (windows + 1)
}

/// N hot accesses send exactly N commands (one round trip each, each counting its request),
/// counted with `INFO commandstats` (which also counts what scripts run inside Redis), with every
/// access a full touch (granularity 0) and with the default granularity; the same through
/// `SessionManager::get`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_per_hot_access() {
    within("commandstats test", async {
        let server = OwnRedis::start();
        let user = UserId::new("counting-user").unwrap();
        let exact = RedisHotStore::connect(
            RedisHotConfig::standalone(server.url()).with_prefix("exact").with_touch_granularity(Duration::ZERO),
        )
        .await
        .expect("connect");
        let now = hotcold_engine::SystemClock.now();
        let exact_sessions: Vec<Session> = (100..120).map(|n| session(n, &user, now)).collect();
        for s in &exact_sessions {
            exact.put(s, TTL).await.expect("put");
        }
        let before = command_calls(&server.url()).await;
        for i in 0..200 {
            let s = &exact_sessions[i % 20];
            let lookup = exact.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), TTL).await;
            assert!(matches!(lookup, HotLookup::Hit(_)), "{lookup:?}");
        }
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        assert_eq!(assert_one_command_each(200, &delta, "granularity 0"), 200, "every access a full touch");

        let store = store_on(&server, "cs").await;
        let user = UserId::new("counting-user").unwrap();
        let now = hotcold_engine::SystemClock.now();
        let sessions: Vec<Session> = (0..20).map(|n| session(n, &user, now)).collect();
        for s in &sessions {
            store.put(s, TTL).await.expect("put");
        }

        const N: u64 = 500;
        let before = command_calls(&server.url()).await;
        let started = std::time::Instant::now();
        for i in 0..N {
            let s = &sessions[(i % 20) as usize];
            match store.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), TTL).await {
                HotLookup::Hit(_) => {}
                other => panic!("hot access {i}: {other:?}"),
            }
        }
        let most_full = most_full_touches(20, started.elapsed());
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        let full = assert_one_command_each(N, &delta, "RedisHotStore::get_and_touch");
        assert!(full >= 20, "each session's first access is a full touch");
        assert!(full <= most_full, "{full} full touches: at most {most_full} (one per session per granularity window)");
        assert_eq!(delta.get("get").copied().unwrap_or(0), N - full, "light touches read with a GET by default");

        let refreshing = RedisHotStore::connect(RedisHotConfig {
            refresh_ttl_on_every_access: true,
            ..RedisHotConfig::standalone(server.url()).with_prefix("cs")
        })
        .await
        .expect("connect");
        let before = command_calls(&server.url()).await;
        let started = std::time::Instant::now();
        for i in 0..N {
            let s = &sessions[(i % 20) as usize];
            let lookup = refreshing.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), TTL).await;
            assert!(matches!(lookup, HotLookup::Hit(_)), "{lookup:?}");
        }
        // A new store remembers no touches of its own: each session's first access is a full
        // touch again, then one per granularity window.
        let most_full = most_full_touches(20, started.elapsed());
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        let full = assert_one_command_each(N, &delta, "get_and_touch, TTL refreshed on every access");
        assert_eq!(delta.get("getex").copied().unwrap_or(0), N, "every access refreshed the TTL");
        assert!(full <= most_full, "{full} full touches: at most {most_full} (one per session per granularity window)");

        // Through the engine: a hot hit adds nothing to the store call.
        let hot = vec![
            store,
            live_support::standalone_store(&redis_urls()[1], "region 1").await,
            live_support::standalone_store(&redis_urls()[2], "region 2").await,
        ];
        let (cold, _) = dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await;
        let engine = Arc::new(
            Engine::new(
                SessionConfig::default(),
                EngineConfig::default(),
                hot,
                cold,
                MemoryAudit::new(),
                hotcold_engine::SystemClock,
            )
            .unwrap(),
        );
        let manager = SessionManager::with_token_seed(engine, RegionId(0), 1);
        let before = command_calls(&server.url()).await;
        for i in 0..N {
            let s = &sessions[(i % 20) as usize];
            match manager.get(&s.id).await {
                Lookup::Found { served: Served::Hot, .. } => {}
                other => panic!("engine hot access {i}: {other:?}"),
            }
        }
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        assert_one_command_each(N, &delta, "SessionManager::get");
    })
    .await;
}

/// A cold promotion costs one DynamoDB read and one Redis round trip after the hot miss: the
/// put script and the user-index ZADD travel together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_promotion_costs_one_dynamodb_read_and_one_redis_round_trip() {
    within("promotion test", async {
        let server = OwnRedis::start();
        let hot0 = store_on(&server, "promo").await;
        let hot = vec![
            hot0,
            live_support::standalone_store(&redis_urls()[1], "region 1").await,
            live_support::standalone_store(&redis_urls()[2], "region 2").await,
        ];
        let (cold, _) = dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await;
        let cold = CountingCold { inner: cold, gets: AtomicU64::new(0), writes: AtomicU64::new(0) };
        let clock = live_support::shared_clock();
        let engine = Arc::new(
            Engine::new(
                SessionConfig::default(),
                EngineConfig::default(),
                hot,
                cold,
                MemoryAudit::new(),
                clock.clone(),
            )
            .unwrap(),
        );
        let manager = SessionManager::with_token_seed(engine.clone(), RegionId(0), 2);
        let user = live_support::unique("promo-user");
        let created = manager.create(UserId::new(&user).unwrap(), SessionData::opaque(2)).await.expect("create");
        clock.advance(Duration::from_secs(1801));
        let report = SyncService::new(engine.clone()).run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error), (1, None), "the idle session is demoted");

        let (gets, writes) = (engine.cold().gets.load(Ordering::SeqCst), engine.cold().writes.load(Ordering::SeqCst));
        let before = command_calls(&server.url()).await;
        match manager.get(&created.session.id).await {
            Lookup::Found { served: Served::Promoted, .. } => {}
            other => panic!("expected a cold promotion, got {other:?}"),
        }
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        let cold_gets = engine.cold().gets.load(Ordering::SeqCst) - gets;
        let cold_writes = engine.cold().writes.load(Ordering::SeqCst) - writes;
        println!("promotion: DynamoDB reads {cold_gets}, writes {cold_writes}; Redis commands {delta:?}");
        assert_eq!((cold_gets, cold_writes), (1, 0), "one DynamoDB read, no DynamoDB write");
        // Sent by the client: EVALSHA touch (the miss), then EVALSHA put + ZADD (the user-index
        // entry) in flight together. commandstats also counts the put script's own ZADD (the idle
        // index), so ZADD shows twice.
        assert_eq!(delta.get("evalsha"), Some(&2), "the miss and the promotion: two scripts");
        assert_eq!(delta.get("zadd"), Some(&2), "the user-index entry, and the idle-index entry inside the script");
        let sent: u64 = ["evalsha", "zadd"].iter().filter_map(|c| delta.get(*c)).sum::<u64>() - 1;
        assert_eq!(sent, 3, "nothing else was sent");
        let internal = ["getex", "getrange", "set", "zadd", "srem", "sadd"];
        for command in delta.keys() {
            assert!(["evalsha"].contains(&command.as_str()) || internal.contains(&command.as_str()), "{command}");
        }
    })
    .await;
}

/// A restarted server: calls fail fast with Unavailable while it is down, and the same store
/// serves again once it is back (reconnect, scripts reloaded), without a new process or store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_reconnects_after_a_server_restart() {
    within("restart test", async {
        let mut server = OwnRedis::start();
        let store = store_on(&server, "rs").await;
        let user = UserId::new("restart-user").unwrap();
        let now = hotcold_engine::SystemClock.now();
        let s = session(1, &user, now);
        store.put(&s, TTL).await.expect("put before restart");
        store.ping().await.expect("ping while up");

        server.kill();
        assert!(matches!(store.ping().await, Err(StoreError::Unavailable { .. })), "ping while down");
        for _ in 0..3 {
            match store.get_and_touch(&s.id, now, TTL).await {
                HotLookup::Unavailable(StoreError::Unavailable { .. }) => {}
                other => panic!("server down: expected Unavailable, got {other:?}"),
            }
        }
        assert!(matches!(store.put(&s, TTL).await, Err(StoreError::Unavailable { .. })), "put while down");

        server.restart();
        // The restarted server is empty (no persistence): the session is gone, which is what a
        // region's Redis loss means. What matters is that the same store works again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match store.put(&s, TTL).await {
                Ok(_) => break,
                Err(e) => {
                    assert!(attempts < 100, "no reconnect after 100 attempts: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        match store.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), TTL).await {
            HotLookup::Hit(got) => assert_eq!(got.version, 1),
            other => panic!("after restart: {other:?}"),
        }
        store.ping().await.expect("ping after the restart");
        println!("reconnected after {attempts} attempt(s)");
    })
    .await;
}

/// On the Cluster, a session's hash, idle entry and dirty entry share a slot, and the idle
/// index is spread over many slots on every master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_layout_shares_slots_per_session_and_spreads_the_index() {
    within("layout test", async {
        let store = live_support::cluster_store("layout").await;
        let urls = live_support::cluster_urls();
        let client = redis::Client::open(urls[0].as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut slots = std::collections::BTreeSet::new();
        for n in 0..64 {
            let id = hotcold_engine::conformance::test_id(n, 0);
            let keys = store.keys_of(&id);
            let mut key_slots = Vec::new();
            for key in &keys {
                let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query_async(&mut conn).await.unwrap();
                key_slots.push(slot);
            }
            assert!(key_slots.windows(2).all(|w| w[0] == w[1]), "one slot per session: {keys:?} -> {key_slots:?}");
            slots.insert(key_slots[0]);
        }
        // 64 ids over 64 shards: many distinct slots (a single hot slot would be 1).
        assert!(slots.len() > 16, "idle index spread over {} slots", slots.len());
        let nodes: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut conn).await.unwrap();
        let redis::Value::Array(ranges) = nodes else { panic!("CLUSTER SLOTS") };
        let mut masters_used = std::collections::BTreeSet::new();
        for range in ranges {
            let redis::Value::Array(items) = range else { continue };
            let (Some(redis::Value::Int(lo)), Some(redis::Value::Int(hi)), Some(master)) =
                (items.first(), items.get(1), items.get(2))
            else {
                continue;
            };
            if slots.iter().any(|s| i64::from(*s) >= *lo && i64::from(*s) <= *hi) {
                masters_used.insert(format!("{master:?}"));
            }
        }
        assert_eq!(masters_used.len(), urls.len(), "the idle index lives on every master");
        // Evenly: 640 ids over the 64 shards, about 10 each. A fold that favoured some bits would
        // put one shard near 18 % of them; a fair one puts more than 30 in a shard about once in
        // 100,000 runs.
        let mut per_shard = std::collections::BTreeMap::<String, u32>::new();
        for n in 0..640 {
            let [_, idle, _] = store.keys_of(&hotcold_engine::conformance::test_id(10_000 + n, 0));
            let tag = idle.split(['{', '}']).nth(1).expect("a hash tag").to_string();
            *per_shard.entry(tag).or_default() += 1;
        }
        let fullest = per_shard.values().max().copied().unwrap_or(0);
        assert!(fullest <= 30, "640 ids over {} shards, {fullest} in the fullest", per_shard.len());
    })
    .await;
}

async fn cluster_ok(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else { return false };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return false };
    let info: Result<String, _> = redis::cmd("CLUSTER").arg("INFO").query_async(&mut conn).await;
    info.is_ok_and(|i| i.contains("cluster_state:ok"))
}

/// A Cluster master restarted: calls on its slots fail as Unavailable while it is down, and the
/// same Cluster connection serves every shard again once it is back (its own three-node
/// cluster; the shared one is never touched).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_store_reconnects_after_a_master_restart() {
    within("cluster restart", async {
        let base = std::env::temp_dir().join(live_support::unique("hotcold-cluster"));
        let mut nodes: Vec<OwnRedis> =
            (0..3).map(|i| OwnRedis::start_cluster_node(&base.join(format!("node{i}")))).collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let cli = live_support::env("HOTCOLD_REDIS_CLI_BIN");
        let created = std::process::Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(created.status.success(), "cluster create: {}", String::from_utf8_lossy(&created.stdout));
        for node in &nodes {
            let mut waited = 0;
            while !cluster_ok(&node.url()).await {
                waited += 1;
                assert!(waited < 300, "cluster did not become ok");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let urls: Vec<String> = nodes.iter().map(OwnRedis::url).collect();
        let store = RedisHotStore::connect(RedisHotConfig::cluster(urls).with_prefix("crs").with_label("redis own cluster"))
            .await
            .expect("connect to own cluster");
        let user = UserId::new("cluster-restart").unwrap();
        let now = hotcold_engine::SystemClock.now();
        let sessions: Vec<Session> = (0..32).map(|n| session(500 + n, &user, now)).collect();
        for s in &sessions {
            store.put(s, TTL).await.expect("put on the healthy cluster");
        }

        nodes[1].kill();
        let mut unavailable = 0;
        for s in &sessions {
            match store.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), TTL).await {
                HotLookup::Hit(_) => {}
                HotLookup::Unavailable(StoreError::Unavailable { .. }) => unavailable += 1,
                other => panic!("master down: {other:?}"),
            }
        }
        assert!(unavailable > 0, "the sessions on the dead master are unavailable, not lost silently");

        nodes[1].restart();
        // Same store, same connection object: every shard answers again (the restarted master
        // kept its slots through nodes.conf but lost its data: no persistence in tests).
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut all = true;
            for s in &sessions {
                if store.put(s, TTL).await.is_err() {
                    all = false;
                    break;
                }
            }
            if all {
                break;
            }
            assert!(attempts < 120, "the cluster store did not recover");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for s in &sessions {
            let lookup = store.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), TTL).await;
            assert!(matches!(lookup, HotLookup::Hit(_)), "after the restart: {lookup:?}");
        }
        println!("cluster: {unavailable} of 32 sessions unavailable while a master was down; recovered after {attempts} attempt(s)");
        drop(nodes);
        let _ = std::fs::remove_dir_all(&base);
    })
    .await;
}

/// The light-touch window is at most half the TTL: an access more than half a TTL after the last
/// full touch is a full touch again (one EVALSHA), so a key read with a bare GET always has half
/// its TTL left. Counted with `INFO commandstats`, so a slow machine cannot change the answer: the
/// 2.2 s sleep is past half of the 4 s TTL (below the default 10 s granularity) and, overslept by
/// up to 1.8 s, still within the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_after_half_the_ttl_is_a_full_touch() {
    within("light window", async {
        let server = OwnRedis::start();
        let store = store_on(&server, "lw").await;
        let user = UserId::new("window-user").unwrap();
        let ttl = Duration::from_secs(4);
        let s = session(1, &user, hotcold_engine::SystemClock.now());
        store.put(&s, ttl).await.expect("put");
        // Both touches are one EVALSHA; only the full one rewrites the record with a SET (a light
        // one overwrites the activity numbers with a SETRANGE).
        let sets = |calls: &std::collections::BTreeMap<String, u64>| calls.get("set").copied().unwrap_or(0);
        let access = async |what: &str| -> u64 {
            let before = command_calls(&server.url()).await;
            let lookup = store.get_and_touch(&s.id, hotcold_engine::SystemClock.now(), ttl).await;
            assert!(matches!(lookup, HotLookup::Hit(_)), "{what}: {lookup:?}");
            sets(&command_calls(&server.url()).await) - sets(&before)
        };
        assert_eq!(access("first access").await, 1, "the first access is a full touch");
        assert_eq!(access("right after").await, 0, "within the window: a light touch");
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        assert_eq!(access("past half the TTL").await, 1, "past half the TTL: a full touch");
    })
    .await;
}

/// The benchmark's bare GET and SET, a store's label in its `Debug`, and a config it must refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_commands_debug_and_a_config_without_shards() {
    within("basics", async {
        let server = OwnRedis::start();
        let config = RedisHotConfig::standalone(server.url()).with_prefix("basics").with_label("redis basics-test");
        let store = RedisHotStore::connect(config.clone()).await.expect("connect");
        assert_eq!(store.raw_get("basics:nothing").await, Ok(None));
        store.raw_set("basics:k", b"v1").await.expect("SET");
        assert_eq!(store.raw_get("basics:k").await, Ok(Some(b"v1".to_vec())));
        assert!(format!("{store:?}").contains("redis basics-test"), "{store:?}");
        let refused = RedisHotStore::connect(RedisHotConfig { idle_shards: 0, ..config }).await;
        assert!(matches!(refused, Err(StoreError::Unavailable { .. })), "no idle shard: refused");
    })
    .await;
}

/// An idle-index entry older than its record (the session was accessed after the sync job read
/// the index) is not a candidate and not an error: the entry is moved to the record's access.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_entry_older_than_its_record_is_rescored_not_returned() {
    within("stale index entry", async {
        let server = OwnRedis::start();
        let store = store_on(&server, "stale").await;
        let user = UserId::new("stale-user").unwrap();
        let now = hotcold_engine::SystemClock.now();
        let s = session(1, &user, now);
        store.put(&s, TTL).await.expect("put");
        let [_, idle_key, _] = store.keys_of(&s.id);
        let member = format!("{}.{}", s.id.to_hex(), s.id.home().0);
        let client = redis::Client::open(server.url().as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let hour_ago = now.millis() - 3_600_000;
        let _: i64 = redis::cmd("ZADD").arg(&idle_key).arg(hour_ago).arg(&member).query_async(&mut conn).await.unwrap();
        let cutoff = Timestamp(now.millis() - 1_800_000);
        let found = store.idle_candidates(cutoff, 100, now).await.expect("an entry older than its record is no error");
        assert!(found.is_empty(), "accessed since: not idle, {found:?}");
        let score: f64 = redis::cmd("ZSCORE").arg(&idle_key).arg(&member).query_async(&mut conn).await.unwrap();
        assert_eq!(score as u64, now.millis(), "the entry now says when the record was last accessed");
    })
    .await;
}

/// Runs `redis-cli` against `url` (to write what the store itself never would); its answer.
fn redis_cli(url: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(live_support::env("HOTCOLD_REDIS_CLI_BIN"))
        .arg("-u")
        .arg(url)
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(output.status.success(), "redis-cli {args:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// One idle-index entry that does not decode (a malformed member, or a record that is not a
/// session) used to fail every demotion pass of its region for good; one corrupt record blocked
/// listing its user's sessions. Now both are skipped: the pass demotes the rest, counts and
/// quarantines the bad entries, and the next pass does not meet them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_idle_entry_is_skipped_and_quarantined_not_a_stalled_sync() {
    let url = redis_urls().remove(0);
    let prefix = live_support::unique("poison");
    let store = Arc::new(
        RedisHotStore::connect(RedisHotConfig::standalone(url.clone()).with_prefix(prefix.clone()))
            .await
            .expect("connect"),
    );
    let mut config = SessionConfig::default();
    config.hot_storage.regions.truncate(1);
    let clock = live_support::shared_clock();
    let engine = Arc::new(
        Engine::new(
            config,
            EngineConfig::default(),
            vec![Arc::clone(&store)],
            hotcold_engine::memory::MemoryColdStore::new("cold"),
            MemoryAudit::new(),
            Arc::clone(&clock),
        )
        .expect("engine"),
    );
    let user = UserId::new("poisoned").unwrap();
    let idle_since = clock.now() - Duration::from_secs(3600);
    let sessions: Vec<Session> = (0..4).map(|n| session(7_000 + n, &user, idle_since)).collect();
    for s in &sessions {
        store.put(s, TTL).await.expect("put");
    }
    // A member that names no session, and a session whose record is garbage, both idle.
    let [record_key, idle_key, _] = store.keys_of(&sessions[3].id);
    assert_eq!(redis_cli(&url, &["ZADD", &idle_key, "1", "not-a-session-member"]), "1");
    store.raw_set(&record_key, b"hc1|garbage").await.expect("overwrite the record");

    // Listing the user skips the corrupt record instead of failing.
    let listed = store.sessions_of_user(&user).await.expect("a corrupt record does not fail the listing");
    assert_eq!(listed.len(), 3, "the user's readable sessions");

    let sync = SyncService::new(Arc::clone(&engine));
    let report = sync.run_once(RegionId(0)).await;
    assert_eq!(report.error, None, "the pass goes on past the bad entries");
    assert_eq!((report.demoted, report.unreadable), (3, 2), "every readable session demoted, both bad entries counted");
    let again = sync.run_once(RegionId(0)).await;
    assert_eq!((again.error, again.unreadable), (None, 0), "quarantined entries are not met again");
    let quarantined = redis_cli(&url, &["SCARD", &format!("{prefix}:quarantine")]);
    assert_eq!(quarantined, "2", "both entries are in the quarantine set for a person to inspect");
}

/// Light touches (within the touch granularity of the store's last full touch) count their
/// requests as full touches do, and stay one plain GET: a session created now and looked up six
/// times at once has served seven requests in one visit, and every answer says so. The light
/// touches' counts are held in the process until a granularity has passed, then written with the
/// store's next call (here `write_held_counts` as that call makes it); the record then holds
/// every request. A graceful stop writes them at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_touches_are_counted() {
    within("light touches counted", async {
        let server = OwnRedis::start();
        let store = store_on(&server, "lt").await;
        let user = UserId::new("light-user").unwrap();
        let created_at = hotcold_engine::SystemClock.now();
        let s = Session { activity: Activity::first(created_at), ..session(1, &user, created_at) };
        store.put(&s, TTL).await.expect("put");
        let mut expected = s.activity;
        let before = command_calls(&server.url()).await;
        let mut last = created_at;
        for i in 0..6 {
            let now = hotcold_engine::SystemClock.now();
            last = now;
            expected.record(now);
            match store.get_and_touch(&s.id, now, TTL).await {
                HotLookup::Hit(got) => assert_eq!(got.activity, expected, "access {i} counted once"),
                other => panic!("access {i}: {other:?}"),
            }
        }
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        let full = assert_one_command_each(6, &delta, "counted accesses");
        assert!(full < 6, "some accesses were light touches: {delta:?}");
        assert!(delta.get("get").copied().unwrap_or(0) > 0, "a light touch is a plain GET: {delta:?}");
        assert_eq!((expected.requests, expected.visits), (7, 1));
        // What the record holds (read without counting): the full touches' counts only, so far.
        let held_back = stored_activity(&store, &user).await;
        assert!(held_back.requests < expected.requests, "light touches' counts are held: {held_back:?}");
        // Within the granularity nothing is written; a granularity after the last full touch, all.
        assert_eq!(store.write_held_counts(last + Duration::from_millis(1), false).await, 0);
        assert_eq!(store.write_held_counts(last + Duration::from_secs(11), false).await, 1, "one session's counts");
        assert_eq!(stored_activity(&store, &user).await, expected, "the record holds every request");
        assert_eq!(store.write_held_counts(last + Duration::from_secs(30), true).await, 0, "nothing held twice");

        // A graceful stop writes what is held at once; a later full touch adds on top.
        let now = hotcold_engine::SystemClock.now().max(last + Duration::from_millis(1));
        expected.record(now);
        let HotLookup::Hit(got) = store.get_and_touch(&s.id, now, TTL).await else { panic!("lookup") };
        assert_eq!(got.activity, expected);
        assert_eq!(store.write_held_counts(now, true).await, 1);
        assert_eq!(stored_activity(&store, &user).await, expected, "written on a stop");
        // A fresh store (no hints) reads back every request and counts its own on top.
        let reader = store_on(&server, "lt").await;
        match reader.take(&s.id).await {
            HotLookup::Hit(stored) => assert_eq!(stored.activity, expected, "the record holds every request"),
            other => panic!("read back: {other:?}"),
        }
    })
    .await;
}

/// The activity the record of `user`'s one session holds, read without counting a request.
async fn stored_activity(store: &RedisHotStore, user: &UserId) -> Activity {
    store.sessions_of_user(user).await.expect("list").pop().expect("the session").activity
}

/// The Lua counting is `Activity::record`: random sequences of lookups (full and light touches,
/// gaps around the 30-minute visit gap, stamps earlier than the last, counts near 2^53) give, at
/// every step, the activity the Rust rule gives. Sessions start from a random activity (zero
/// included: the first lookup is then the first request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_counting_matches_the_rust_rule() {
    use rand::{Rng, SeedableRng};
    within("lua counting", async {
        let server = OwnRedis::start();
        // A long granularity and TTL: most lookups are light touches, a few full ones.
        let store = RedisHotStore::connect(
            RedisHotConfig::standalone(server.url())
                .with_prefix("lua")
                .with_touch_granularity(Duration::from_secs(3600)),
        )
        .await
        .expect("connect");
        let seed = 20_260_301;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let user = UserId::new("lua-user").unwrap();
        let gap = VISIT_GAP_MS;
        for case in 0..40u64 {
            let start = Timestamp(rng.random_range(1_000_000..1u64 << 50));
            let activity = match case % 4 {
                0 => Activity::default(),
                1 => Activity::first(start),
                2 => Activity {
                    requests: (1u64 << 53) - 200,
                    visits: (1u64 << 52) + 3,
                    think_ms: (1u64 << 53) - 100 * gap,
                    last_request_at: start,
                },
                _ => Activity {
                    requests: rng.random_range(1..1_000_000),
                    visits: rng.random_range(1..1_000),
                    think_ms: rng.random_range(0..1u64 << 40),
                    last_request_at: Timestamp(start.0.saturating_sub(rng.random_range(0..2 * gap))),
                },
            };
            let s = Session { activity, ..session(1_000 + case, &user, start) };
            store.put(&s, TTL).await.expect("put");
            let mut expected = activity;
            let mut now = start.0;
            for step in 0..rng.random_range(1..25) {
                let delta = match rng.random_range(0..6) {
                    0 => gap,
                    1 => gap + 1,
                    2 => gap - 1,
                    3 => rng.random_range(0..4 * gap),
                    4 => rng.random_range(0..5_000),
                    _ => 0,
                };
                // Now and then a stamp before the last one (another instance's clock).
                let at =
                    if rng.random_bool(0.15) { now.saturating_sub(rng.random_range(0..60_000)) } else { now + delta };
                now = now.max(at);
                expected.record(Timestamp(at));
                match store.get_and_touch(&s.id, Timestamp(at), TTL).await {
                    HotLookup::Hit(got) => {
                        assert_eq!(got.activity, expected, "seed {seed} case {case} step {step}: Lua = Rust")
                    }
                    other => panic!("case {case} step {step}: {other:?}"),
                }
            }
            store.remove(&s.id).await.expect("clean up");
        }
    })
    .await;
}

/// A record an earlier version wrote (`hc1|`, no activity) is read, updated and touched: an
/// update keeps it hc1 and whole, the first counted lookup makes it hc2 with that request as its
/// first, and nothing is lost on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hc1_record_is_read_updated_and_upgraded_by_a_count() {
    within("hc1 records", async {
        let server = OwnRedis::start();
        let store = store_on(&server, "v1").await;
        let id = hotcold_engine::conformance::test_id(7, 0);
        let key = store.keys_of(&id)[0].clone();
        let pad = |n: u64| format!("{n:020}");
        let t0 = hotcold_engine::SystemClock.now();
        let hc1 = format!("hc1|{}|{}|{}|{}|-----|004|dave{{\"a\":1}}", pad(3), pad(t0.0), pad(t0.0), pad(3));
        store.raw_set(&key, hc1.as_bytes()).await.expect("SET an hc1 record");
        let data = SessionData::from_stored(Bytes::from_static(br#"{"a":2}"#));
        let updated = match store.update(&id, &data, 3, t0 + Duration::from_millis(1), TTL).await {
            Ok(hotcold_engine::store::HotUpdate::Updated(s)) => s,
            other => panic!("update of an hc1 record: {other:?}"),
        };
        assert_eq!(
            (updated.version, updated.user_id.as_str(), updated.data.as_bytes()),
            (4, "dave", &br#"{"a":2}"#[..])
        );
        assert_eq!(updated.activity, Activity::default(), "an update counts nothing");
        let raw = store.raw_get(&key).await.expect("GET").expect("record");
        assert!(raw.starts_with(b"hc1|"), "an update keeps the format");
        let at = t0 + Duration::from_millis(5);
        // A store with no touch hints: a full touch.
        let fresh = store_on(&server, "v1").await;
        match fresh.get_and_touch(&id, at, TTL).await {
            HotLookup::Hit(s) => {
                assert_eq!((s.version, s.user_id.as_str(), s.data.as_bytes()), (4, "dave", &br#"{"a":2}"#[..]));
                assert_eq!(s.activity, Activity::first(at), "the first counted request");
                assert_eq!(s.last_access, at);
            }
            other => panic!("touch of an hc1 record: {other:?}"),
        }
        let raw = store.raw_get(&key).await.expect("GET").expect("record");
        assert!(raw.starts_with(b"hc2|"), "counted: now hc2");
        // A light touch of an hc1 record (the store touched it within the window) counts; the
        // count, held, upgrades the record when written.
        let light = format!("hc1|{}|{}|{}|{}|-----|004|dave{{}}", pad(5), pad(at.0), pad(at.0), pad(5));
        store.raw_set(&key, light.as_bytes()).await.expect("SET an hc1 record again");
        let later = at + Duration::from_millis(5);
        let before = command_calls(&server.url()).await;
        match store.get_and_touch(&id, later, TTL).await {
            HotLookup::Hit(s) => assert_eq!((s.version, s.activity), (5, Activity::first(later)), "light: counted"),
            other => panic!("light touch of an hc1 record: {other:?}"),
        }
        let delta = command_delta(&before, &command_calls(&server.url()).await);
        assert_eq!(delta.get("zadd"), None, "a light touch: {delta:?}");
        assert_eq!(delta.get("get"), Some(&1), "a light touch is one GET: {delta:?}");
        assert_eq!(store.write_held_counts(later, true).await, 1, "the held count written");
        let raw = store.raw_get(&key).await.expect("GET").expect("record");
        assert!(raw.starts_with(b"hc2|") && raw.ends_with(b"dave{}"), "upgraded whole");
        match fresh.take(&id).await {
            HotLookup::Hit(s) => assert_eq!((s.version, s.activity), (5, Activity::first(later)), "held count written"),
            other => panic!("read back: {other:?}"),
        }
    })
    .await;
}
