//! Fault tests against real processes, each asserting what was lost and what was not:
//! - a region's redis-server killed under concurrent traffic, in each durability mode;
//! - DynamoDB Local paused (unreachable) while hot traffic and the sync job go on;
//! - concurrent touches and updates racing the sync job's demotion of the same sessions.
//!
//! Servers that are killed or paused are the test's own (HOTCOLD_REDIS_SERVER_BIN,
//! HOTCOLD_DYNAMODB_LOCAL_CMD), never the shared ones. Run with `scripts/test.sh`.

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotcold_engine::backends::dynamodb::{DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::memory::MemoryAudit;
use hotcold_engine::{
    Durability, Engine, EngineConfig, Lookup, RegionId, Served, SessionConfig, SessionData, SessionId, SessionManager,
    StoreError, SyncService, UserId,
};
use live_support::{OffsetClock, OwnDynamo, OwnRedis, dynamo_config, dynamodb_endpoint, redis_urls, standalone_store};

type LiveEngine = Engine<RedisHotStore, DynamoColdStore, MemoryAudit, Arc<OffsetClock>>;
type Manager = SessionManager<RedisHotStore, DynamoColdStore, MemoryAudit, Arc<OffsetClock>>;

const IDLE: Duration = Duration::from_secs(1801);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(240), future).await.unwrap_or_else(|_| panic!("{what} took over 240 s"))
}

fn data(session: usize, version: u64) -> SessionData {
    SessionData::from_json(&serde_json::json!({ "session": session, "version": version }), 1 << 16).unwrap()
}

async fn build(
    hot: Vec<RedisHotStore>,
    cold: DynamoConfig,
    durability: Durability,
) -> (Arc<LiveEngine>, Arc<OffsetClock>) {
    // Tables are created with the default (patient) timeouts: a JVM that just started is slow.
    let patient =
        DynamoConfig { attempt_timeout: Duration::from_secs(5), call_timeout: Duration::from_secs(20), ..cold.clone() };
    DynamoColdStore::connect(patient, true).await.expect("DynamoDB tables");
    let cold = DynamoColdStore::connect(cold, false).await.expect("DynamoDB client");
    let clock = live_support::shared_clock();
    let engine = Engine::new(
        SessionConfig::default(),
        EngineConfig { durability, ..EngineConfig::default() },
        hot,
        cold,
        MemoryAudit::new(),
        clock.clone(),
    )
    .expect("engine");
    (Arc::new(engine), clock)
}

async fn shared_hot(region0: RedisHotStore) -> Vec<RedisHotStore> {
    let urls = redis_urls();
    vec![region0, standalone_store(&urls[1], "region 1").await, standalone_store(&urls[2], "region 2").await]
}

/// The newest version each session was acknowledged at, and the data of that version.
#[derive(Default)]
struct Acked(Mutex<BTreeMap<usize, u64>>);

impl Acked {
    fn record(&self, session: usize, version: u64) {
        let mut map = self.0.lock().unwrap();
        let entry = map.entry(session).or_insert(0);
        *entry = (*entry).max(version);
    }
    fn get(&self, session: usize) -> u64 {
        self.0.lock().unwrap().get(&session).copied().unwrap_or(0)
    }
}

/// What the traffic tasks saw: operations, lookups that missed, and lookups that returned a
/// version older than one already acknowledged before they began (stale).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    operations: u64,
    misses: u64,
    stale: u64,
}

/// Reads and (optionally) updates the sessions from `tasks` concurrent tasks until `stop`,
/// counting misses and stale reads (a test where neither may happen asserts both are zero).
fn spawn_traffic(
    manager: Arc<Manager>,
    ids: Arc<Vec<SessionId>>,
    acked: Arc<Acked>,
    stop: Arc<AtomicBool>,
    tasks: usize,
    updates: bool,
    pause: Duration,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    (0..tasks)
        .map(|task| {
            let (manager, ids, acked, stop) = (manager.clone(), ids.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let mut i = task;
                while !stop.load(Ordering::Relaxed) {
                    let n = i % ids.len();
                    i += tasks + 1;
                    seen.operations += 1;
                    // Acknowledged before this lookup began: a linearizable store returns at least it.
                    let floor = acked.get(n);
                    let Lookup::Found { session, .. } = manager.get(&ids[n]).await else {
                        seen.misses += 1;
                        continue;
                    };
                    if session.version < floor {
                        seen.stale += 1;
                    }
                    if updates && seen.operations % 3 == 0 {
                        if let Ok(updated) =
                            manager.update(&ids[n], data(n, session.version + 1), session.version).await
                        {
                            acked.record(n, updated.version);
                        }
                    }
                    if pause.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(pause).await;
                    }
                }
                seen
            })
        })
        .collect()
}

async fn stop_traffic(stop: &AtomicBool, tasks: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    stop.store(true, Ordering::Relaxed);
    let mut total = Seen::default();
    for task in tasks {
        let seen = task.await.expect("traffic task");
        total.operations += seen.operations;
        total.misses += seen.misses;
        total.stale += seen.stale;
    }
    total
}

/// Kills region 0's redis-server under concurrent traffic and checks which sessions survive.
/// Returns (sessions lost, updates lost).
async fn region_killed(durability: Durability) {
    const SESSIONS: usize = 40;
    let mut server = OwnRedis::start();
    let hot0 = standalone_store(&server.url(), "region 0 (own)").await;
    let (engine, clock) = build(shared_hot(hot0).await, dynamo_config(&dynamodb_endpoint()).await, durability).await;
    let home = Arc::new(SessionManager::with_token_seed(engine.clone(), RegionId(0), 11));
    let other = SessionManager::with_token_seed(engine.clone(), RegionId(1), 12);
    let sync = SyncService::new(engine.clone());
    let user = UserId::new(&live_support::unique("killed")).unwrap();
    let acked = Arc::new(Acked::default());
    let mut ids = Vec::new();
    for n in 0..SESSIONS {
        let created = home.create(user.clone(), data(n, 1)).await.expect("create");
        acked.record(n, 1);
        ids.push(created.session.id);
    }

    // What reached DynamoDB before the failure, by mode.
    let mut durable_version = vec![0u64; SESSIONS];
    match durability {
        Durability::OnDemotion => {
            // The first half goes idle and is demoted; the second half stays hot only.
            clock.advance(IDLE);
            for id in &ids[SESSIONS / 2..] {
                assert!(matches!(home.get(id).await, Lookup::Found { served: Served::Hot, .. }));
            }
            let report = sync.run_once(RegionId(0)).await;
            assert_eq!((report.demoted, report.error), (SESSIONS as u64 / 2, None), "first half demoted");
            durable_version[..SESSIONS / 2].fill(1);
        }
        Durability::WriteBehind => {
            // Every session changes and is flushed; then a quarter changes again, unflushed.
            for (n, id) in ids.iter().enumerate() {
                let updated = home.update(id, data(n, 2), 1).await.expect("update");
                acked.record(n, updated.version);
            }
            let report = sync.flush_dirty(RegionId(0)).await;
            assert_eq!((report.copied, report.error), (SESSIONS as u64, None), "write-behind flush");
            durable_version.fill(2);
            for (n, id) in ids.iter().enumerate().take(SESSIONS / 4) {
                let updated = home.update(id, data(n, 3), 2).await.expect("update");
                acked.record(n, updated.version);
            }
        }
        Durability::WriteThrough => {
            durable_version.fill(1);
        }
    }

    // Concurrent traffic (updates only with write-through, where every acknowledged update
    // must survive), then the kill, then more traffic against the dead region.
    let stop = Arc::new(AtomicBool::new(false));
    let ids = Arc::new(ids);
    let updates = durability == Durability::WriteThrough;
    let tasks = spawn_traffic(home.clone(), ids.clone(), acked.clone(), stop.clone(), 4, updates, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Misses and older versions are expected here: the region's hot copies died with it.
    let operations = stop_traffic(&stop, tasks).await.operations;

    // Lookups now fall back to DynamoDB, from home (cold-only) and from another region
    // (promoted there: failover).
    let mut lost_sessions = Vec::new();
    let mut lost_updates = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let from_home = home.get(id).await;
        let from_other = other.get(id).await;
        match (&from_home, &from_other) {
            (Lookup::Found { session: a, served: Served::ColdOnly, .. }, Lookup::Found { session: b, .. }) => {
                assert_eq!(a.version, b.version, "session {n}: both regions see the same state");
                if a.version < acked.get(n) {
                    lost_updates.push(n);
                }
                assert_eq!(a.data, data(n, a.version), "session {n}: data matches its version");
            }
            (Lookup::Miss, Lookup::Miss) => lost_sessions.push(n),
            other => panic!("session {n} after the kill: {other:?}"),
        }
        if durable_version[n] == 0 {
            // Never reached DynamoDB: lost with the region.
            assert!(lost_sessions.contains(&n), "session {n} only ever lived in the killed region");
        }
    }
    println!(
        "{durability:?}: {operations} operations under traffic; lost sessions {} of {SESSIONS}, lost updates {}",
        lost_sessions.len(),
        lost_updates.len()
    );
    match durability {
        Durability::WriteThrough => {
            assert!(lost_sessions.is_empty(), "write-through loses no session: {lost_sessions:?}");
            assert!(lost_updates.is_empty(), "write-through loses no acknowledged update: {lost_updates:?}");
        }
        Durability::OnDemotion => {
            let expected: Vec<usize> = (SESSIONS / 2..SESSIONS).collect();
            assert_eq!(lost_sessions, expected, "on-demotion loses exactly the sessions never demoted");
        }
        Durability::WriteBehind => {
            assert!(lost_sessions.is_empty(), "write-behind: every flushed session survives");
            let expected: Vec<usize> = (0..SESSIONS / 4).collect();
            assert_eq!(lost_updates, expected, "write-behind loses exactly the updates after the last flush");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_redis_killed_under_traffic_write_through_loses_nothing() {
    within("region kill", region_killed(Durability::WriteThrough)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_redis_killed_under_traffic_on_demotion_loses_the_undemoted() {
    within("region kill", region_killed(Durability::OnDemotion)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_redis_killed_under_traffic_write_behind_loses_unflushed_updates() {
    within("region kill", region_killed(Durability::WriteBehind)).await;
}

/// DynamoDB Local paused: hot reads and updates go on, the sync job reports the error and
/// catches up once DynamoDB answers again; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_paused_hot_traffic_goes_on_and_sync_catches_up() {
    within("dynamodb pause", async {
        const SESSIONS: usize = 30;
        let dynamo = OwnDynamo::start();
        let mut config = dynamo_config(&dynamo.endpoint()).await;
        config.attempt_timeout = Duration::from_millis(300);
        config.call_timeout = Duration::from_millis(600);
        config.max_attempts = 1;
        let urls = redis_urls();
        let hot = shared_hot(standalone_store(&urls[0], "region 0").await).await;
        let (engine, clock) = build(hot, config, Durability::WriteBehind).await;
        let manager = SessionManager::with_token_seed(engine.clone(), RegionId(0), 21);
        let sync = SyncService::new(engine.clone());
        let user = UserId::new(&live_support::unique("paused")).unwrap();
        let mut ids = Vec::new();
        for n in 0..SESSIONS {
            ids.push(manager.create(user.clone(), data(n, 1)).await.expect("create").session.id);
        }

        dynamo.pause();
        // Hot traffic is served while DynamoDB is unreachable.
        for (n, id) in ids.iter().enumerate() {
            match manager.get(id).await {
                Lookup::Found { served: Served::Hot, session, .. } => assert_eq!(session.version, 1),
                other => panic!("session {n} with DynamoDB down: {other:?}"),
            }
            let updated = manager.update(id, data(n, 2), 1).await.expect("hot update with DynamoDB down");
            assert_eq!(updated.version, 2);
        }
        // Write-behind and demotion report the outage and leave every session hot.
        let flush = sync.flush_dirty(RegionId(0)).await;
        assert!(matches!(flush.error, Some(StoreError::Unavailable { .. })), "flush reports: {:?}", flush.error);
        assert_eq!(flush.copied, 0);
        clock.advance(IDLE);
        let demotion = sync.run_once(RegionId(0)).await;
        assert!(matches!(demotion.error, Some(StoreError::Unavailable { .. })), "sync reports: {:?}", demotion.error);
        assert_eq!(demotion.demoted, 0, "nothing leaves Redis while DynamoDB is down");
        println!("while paused: flush {flush:?}; demotion {demotion:?}");

        dynamo.resume();
        // Catch up: the write-behind copy, then the demotion of every (idle) session.
        let mut copied = 0;
        for _ in 0..20 {
            let report = sync.flush_dirty(RegionId(0)).await;
            copied += report.copied;
            if report.error.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(copied, SESSIONS as u64, "write-behind caught up");
        let mut demoted = 0;
        for _ in 0..20 {
            let report = sync.run_once(RegionId(0)).await;
            demoted += report.demoted;
            if report.error.is_none() && demoted == SESSIONS as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(demoted, SESSIONS as u64, "every idle session demoted after DynamoDB returned");
        // Nothing lost: every session comes back from DynamoDB with its newest data.
        for (n, id) in ids.iter().enumerate() {
            match manager.get(id).await {
                Lookup::Found { served: Served::Promoted, session, .. } => {
                    assert_eq!((session.version, &session.data), (2, &data(n, 2)), "session {n}: newest state");
                }
                other => panic!("session {n} after catch-up: {other:?}"),
            }
        }
    })
    .await;
}

/// Touches and updates racing the sync job's demotion of the same sessions: no session is
/// lost and none is returned stale, during the race and after everything is demoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touches_racing_demotion_lose_nothing_and_serve_nothing_stale() {
    within("demotion race", async {
        const SESSIONS: usize = 24;
        let urls = redis_urls();
        let hot = shared_hot(standalone_store(&urls[0], "region 0").await).await;
        let (engine, clock) = build(hot, dynamo_config(&dynamodb_endpoint()).await, Durability::OnDemotion).await;
        let manager = Arc::new(SessionManager::with_token_seed(engine.clone(), RegionId(0), 31));
        let sync = SyncService::new(engine.clone());
        let user = UserId::new(&live_support::unique("race")).unwrap();
        let acked = Arc::new(Acked::default());
        let mut ids = Vec::new();
        for n in 0..SESSIONS {
            ids.push(manager.create(user.clone(), data(n, 1)).await.expect("create").session.id);
            acked.record(n, 1);
        }
        let ids = Arc::new(ids);
        let stop = Arc::new(AtomicBool::new(false));
        // Each session is touched every ~250 ms: some passes demote it, some find it touched.
        let tasks = spawn_traffic(
            manager.clone(),
            ids.clone(),
            acked.clone(),
            stop.clone(),
            4,
            true,
            Duration::from_millis(40),
        );
        // Race until both outcomes of a pass were seen: sessions demoted, and sessions touched
        // between the pass's scan and its conditional removal (kept hot). Time-boxed generously:
        // a loaded machine only makes the race longer, not the check weaker.
        let (mut demoted, mut kept_hot, mut passes) = (0, 0, 0);
        let least = Instant::now() + Duration::from_secs(4);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < least || (kept_hot == 0 || demoted == 0) && Instant::now() < deadline {
            clock.advance(IDLE); // everything not touched since the last pass is due
            let report = sync.run_once(RegionId(0)).await;
            assert_eq!(report.error, None, "sync pass");
            demoted += report.demoted;
            kept_hot += report.kept_hot;
            passes += 1;
        }
        let seen = stop_traffic(&stop, tasks).await;
        println!(
            "race: {seen:?}, {passes} sync passes, {demoted} demotions, {kept_hot} kept hot (touched mid-demotion)"
        );
        assert!(demoted > 0, "the race exercised demotion");
        assert!(kept_hot > 0, "the race exercised a touch landing mid-demotion");
        assert_eq!((seen.misses, seen.stale), (0, 0), "during the race: nothing lost, nothing stale ({seen:?})");

        let check = |n: usize, lookup: Lookup, when: &str| match lookup {
            Lookup::Found { session, .. } => {
                assert_eq!(session.version, acked.get(n), "session {n} {when}: newest acknowledged version");
                assert_eq!(session.data, data(n, session.version), "session {n} {when}: data of that version");
            }
            other => panic!("session {n} {when}: lost ({other:?})"),
        };
        for (n, id) in ids.iter().enumerate() {
            check(n, manager.get(id).await, "after the race");
        }
        // Demote everything, then read back from DynamoDB: the cold copies are the newest too.
        clock.advance(IDLE);
        let report = sync.run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error), (SESSIONS as u64, None), "final demotion");
        for (n, id) in ids.iter().enumerate() {
            let lookup = manager.get(id).await;
            assert!(matches!(lookup, Lookup::Found { served: Served::Promoted, .. }), "session {n} was cold");
            check(n, lookup, "after promotion");
        }
    })
    .await;
}

/// Logout and revoke while a Redis that could hold the session is unreachable (SIGSTOP: it keeps
/// its data) answer an error (the service's 503) instead of "done": the hot copy would be served
/// again once Redis is back. After recovery the retried removal succeeds and the session is gone
/// for good. (Before, both answered success and the session came back with its Redis.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_revoke_during_a_redis_outage_fail_then_remove_after_recovery() {
    within("removals during an outage", async {
        let own = OwnRedis::start();
        let region0 = RedisHotStore::connect(
            live_support::standalone_config(&own.url(), "region 0").with_timeout(Duration::from_millis(300)),
        )
        .await
        .expect("connect own redis");
        let (engine, _clock) =
            build(shared_hot(region0).await, dynamo_config(&dynamodb_endpoint()).await, Durability::WriteThrough).await;
        let home = Manager::new(Arc::clone(&engine), RegionId(0));
        let user = UserId::new(&live_support::unique("outage-user")).unwrap();
        let logged_out = home.create(user.clone(), data(1, 1)).await.expect("create").session.id;
        let revoked = home.create(user.clone(), data(2, 1)).await.expect("create").session.id;

        own.pause();
        let logout = home.logout(&logged_out).await;
        assert!(matches!(logout, Err(hotcold_engine::EngineError::Store(_))), "logout must fail, got {logout:?}");
        let revoke = home.revoke_user(&user).await;
        assert!(matches!(revoke, Err(hotcold_engine::EngineError::Store(_))), "revoke must fail, got {revoke:?}");
        own.resume();

        // The failed removals left the sessions unserved where a tombstone landed, and the
        // retries finish them: gone for good.
        assert_eq!(home.logout(&logged_out).await, Ok(true), "the retried logout");
        assert_eq!(home.revoke_user(&user).await, Ok(1), "the retried revoke");
        for id in [logged_out, revoked] {
            assert_eq!(home.get(&id).await, Lookup::Miss, "removed after recovery");
        }
        let sync = SyncService::new(Arc::clone(&engine));
        assert_eq!(sync.run_once(RegionId(0)).await.error, None);
        for id in [logged_out, revoked] {
            assert_eq!(home.get(&id).await, Lookup::Miss, "still removed after a sync pass");
        }
    })
    .await;
}
