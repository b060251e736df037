//! The production audit trail (`Trail<DynamoAuditLog, RedisHotStore>`) through a DynamoDB outage,
//! against real servers:
//! - sessions are created, updated and logged out while the audit table is unreachable; every
//!   event reaches the trail once, in order, and the chain verifies;
//! - records a process left in the Redis outbox when it died are delivered by the next one;
//! - an unreachable audit table costs one deadline, not one per request (the backoff).
//!
//! DynamoDB is the test's own DynamoDB Local (HOTCOLD_DYNAMODB_LOCAL_CMD), frozen with SIGSTOP
//! and resumed (its Drop resumes and kills it, also when an assertion fails); Redis is the shared
//! servers, under unique key prefixes. Run with `scripts/test.sh`.

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotcold_engine::audit::chain::{AuditRecord, verify};
use hotcold_engine::audit::log::{AuditLog, AuditQuery};
use hotcold_engine::audit::trail::{AuditOutbox, Trail, writer_name};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::{
    AuditEvent, AuditKind, AuditSink, Clock, Engine, EngineConfig, EngineError, RegionId, SessionConfig, SessionData,
    SessionId, SessionManager, SystemClock, Tier, UserId,
};
use live_support::{OwnDynamo, audit_log, dynamo_config, redis_urls, standalone_config, unique};

type Audit = Trail<DynamoAuditLog, RedisHotStore>;
type LiveEngine = Engine<RedisHotStore, DynamoColdStore, Arc<Audit>, SystemClock>;
type Manager = SessionManager<RedisHotStore, DynamoColdStore, Arc<Audit>, SystemClock>;

/// The adapter's deadline for one audit write (plus 10 ms a record).
const AUDIT_WRITE_TIMEOUT: Duration = Duration::from_millis(100);
/// One attempt of a DynamoDB call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(200);
/// A DynamoDB call, retries included.
const CALL_TIMEOUT: Duration = Duration::from_millis(600);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(240), future).await.unwrap_or_else(|_| panic!("{what} took over 240 s"))
}

fn data(n: usize, version: u64) -> SessionData {
    SessionData::from_json(&serde_json::json!({ "user": n, "version": version }), 1 << 16).unwrap()
}

fn page_query() -> AuditQuery {
    AuditQuery { limit: 1000, ..AuditQuery::default() }
}

/// A DynamoDB Local of the test's own with fresh tables, and the config with short timeouts.
async fn own_dynamo() -> (OwnDynamo, DynamoConfig, DynamoColdStore) {
    let dynamo = OwnDynamo::start();
    let mut config = dynamo_config(&dynamo.endpoint()).await;
    // Tables are created with patient timeouts: a JVM that just started is slow.
    let patient = DynamoConfig {
        attempt_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(20),
        ..config.clone()
    };
    DynamoColdStore::connect(patient, true).await.expect("DynamoDB tables");
    config.attempt_timeout = ATTEMPT_TIMEOUT;
    config.call_timeout = CALL_TIMEOUT;
    config.max_attempts = 2;
    config.audit_write_timeout = AUDIT_WRITE_TIMEOUT;
    let cold = DynamoColdStore::connect(config.clone(), false).await.expect("DynamoDB client");
    (dynamo, config, cold)
}

/// An engine (durability `on_demotion`, the default) with one standalone Redis per configured
/// region (unique prefixes), the cold store on `config`, and a trail whose outbox is a separate
/// connection to region 0's Redis under region 0's prefix (as `hotcold serve` builds it).
async fn engine_with_trail(config: &DynamoConfig) -> (Arc<LiveEngine>, Arc<Audit>) {
    let session_config = SessionConfig::default();
    let regions = session_config.hot_storage.regions.clone();
    let urls = redis_urls();
    assert_eq!(regions.len(), urls.len(), "one shared Redis per configured region");
    let mut hot = Vec::new();
    let mut outbox = None;
    for (region, url) in regions.iter().zip(&urls) {
        let region_config = standalone_config(url, region);
        if outbox.is_none() {
            let outbox_config = region_config.clone().with_label(format!("redis {region} (audit outbox)"));
            outbox = Some(RedisHotStore::connect(outbox_config).await.expect("connect the outbox"));
        }
        hot.push(RedisHotStore::connect(region_config).await.expect("connect to standalone redis"));
    }
    let cold = DynamoColdStore::connect(config.clone(), false).await.expect("DynamoDB client");
    let log = audit_log(&cold, config.clone());
    let trail = Arc::new(Trail::new(writer_name(&regions[0]), log, outbox.expect("a region")));
    let engine = Engine::new(session_config, EngineConfig::default(), hot, cold, Arc::clone(&trail), SystemClock)
        .expect("engine");
    (Arc::new(engine), trail)
}

/// Drains `trail` until nothing waits (DynamoDB may need a moment after SIGCONT).
async fn drain_until_empty<L: AuditLog, O: AuditOutbox>(trail: &Trail<L, O>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delivered = 0;
    let mut last_error = None;
    loop {
        match trail.drain().await {
            Ok(drained) => {
                delivered += drained.delivered;
                if drained.pending == 0 {
                    break;
                }
            }
            Err(e) => last_error = Some(e),
        }
        assert!(Instant::now() < deadline, "the outbox did not drain in 60 s (last error: {last_error:?})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(trail.pending().await.expect("pending"), 0, "nothing waits after the drain");
    delivered
}

/// Every record in the audit table. The scan is the test's own check, not what it tests, but it
/// runs on the client with the short timeouts under test (600 ms a call), which a busy 2-core
/// machine has exceeded once: a page that times out is asked again (same cursor, so nothing is
/// skipped or doubled), for up to 60 s.
async fn all_records(log: &DynamoAuditLog) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (page, next) = loop {
            match log.scan(cursor.clone(), 1000).await {
                Ok(page) => break page,
                Err(e) => {
                    assert!(Instant::now() < deadline, "scan the audit table: still failing after 60 s: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        records.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return records,
        }
    }
}

/// Figures of a set of latencies.
struct Latencies {
    count: usize,
    median: Duration,
    p90: Duration,
    max: Duration,
}

impl Latencies {
    fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort();
        Self {
            count: sorted.len(),
            median: sorted[sorted.len() / 2],
            p90: sorted[sorted.len() * 9 / 10],
            max: sorted[sorted.len() - 1],
        }
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n={} median={:?} p90={:?} max={:?}", self.count, self.median, self.p90, self.max)
    }
}

/// One user's session as the test drives it, and the events it expects, oldest first.
struct Tracked {
    user: UserId,
    id: SessionId,
    version: u64,
    events: Vec<(AuditKind, u64)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_trail_across_a_dynamodb_outage() {
    within("audit across an outage", async {
        const BEFORE: usize = 10;
        const DURING: usize = 10;
        // Two sessions of phase 1 and two of phase 2, plus one more of phase 1.
        const LOGGED_OUT: [usize; 5] = [1, 4, 7, 12, 17];
        let (dynamo, config, _cold) = own_dynamo().await;
        let (engine, trail) = engine_with_trail(&config).await;
        let manager = Manager::with_token_seed(Arc::clone(&engine), RegionId(0), 41);
        let run = unique("outage");
        let mut tracked: Vec<Tracked> = Vec::new();

        async fn create(manager: &Manager, tracked: &mut Vec<Tracked>, run: &str) -> Duration {
            let n = tracked.len();
            let user = UserId::new(&format!("{run}-u{n}")).unwrap();
            let started = Instant::now();
            let created = manager.create(user.clone(), data(n, 1)).await;
            let took = started.elapsed();
            let created = created.unwrap_or_else(|e| panic!("create of user {n}: {e:?}"));
            assert!(created.hot, "user {n}: created in the hot tier");
            tracked.push(Tracked { user, id: created.session.id, version: 1, events: vec![(AuditKind::Created, 1)] });
            took
        }

        async fn update(manager: &Manager, tracked: &mut Tracked, n: usize) -> Duration {
            let started = Instant::now();
            let updated = manager.update(&tracked.id, data(n, tracked.version + 1), tracked.version).await;
            let took = started.elapsed();
            let updated = updated.unwrap_or_else(|e| panic!("update of user {n}: {e:?}"));
            assert_eq!(updated.version, tracked.version + 1, "user {n}: the new version");
            tracked.version = updated.version;
            tracked.events.push((AuditKind::Updated, updated.version));
            took
        }

        // Warm-up: DynamoDB Local's JVM is slow at first, over the audit deadline; a record that
        // misses it is deferred and delivered, and the drain also ends the backoff. Warm up until
        // one record is written at once, or phase 1's first slow call (a loaded machine, the JIT
        // still at work) defers the whole phase. The warm-up sessions are part of the chain.
        let warm_user = UserId::new(&format!("{run}-warm")).unwrap();
        let warm_deadline = Instant::now() + Duration::from_secs(60);
        let mut warm = Vec::new();
        loop {
            let written = trail.counts().written;
            let created = manager.create(warm_user.clone(), data(99, 1)).await.expect("warm-up create");
            warm.push(created.session.id);
            drain_until_empty(&*trail).await;
            if trail.counts().written > written {
                break;
            }
            assert!(
                Instant::now() < warm_deadline,
                "no audit write within {AUDIT_WRITE_TIMEOUT:?} in 60 s of warm-up: {:?}",
                trail.counts()
            );
        }

        let warmed = trail.counts();

        // Phase 1: DynamoDB up.
        for _ in 0..BEFORE {
            create(&manager, &mut tracked, &run).await;
        }
        for (n, session) in tracked.iter_mut().enumerate() {
            update(&manager, session, n).await;
        }
        let up = trail.counts();
        println!("phase 1 (up): {up:?}");
        assert!(up.written > warmed.written, "with DynamoDB up, records are written at once: {up:?}");
        // Whatever a slow call deferred goes now, and the backoff ends: the outage's first event
        // tries the table.
        drain_until_empty(&*trail).await;
        let up = trail.counts();

        // Phase 2: DynamoDB frozen.
        dynamo.pause();
        let mut latencies = Vec::new();
        for _ in 0..DURING {
            latencies.push(create(&manager, &mut tracked, &run).await);
        }
        for (n, session) in tracked.iter_mut().enumerate() {
            latencies.push(update(&manager, session, n).await);
        }
        let mut logout_latencies = Vec::new();
        for n in LOGGED_OUT {
            let started = Instant::now();
            let answer = manager.logout(&tracked[n].id).await;
            let took = started.elapsed();
            logout_latencies.push(took);
            assert!(
                matches!(answer, Err(EngineError::Store(_))),
                "user {n}: a logout with the cold tier unreachable answers an error, got {answer:?}"
            );
            // The hot copy is buried and the end recorded by this attempt, not by its retry.
            let version = tracked[n].version;
            tracked[n].events.push((AuditKind::LoggedOut, version));
        }
        let during = trail.counts();
        let first_during = latencies[0];
        let figures = Latencies::of(&latencies);
        let logouts = Latencies::of(&logout_latencies);
        println!(
            "phase 2 (DynamoDB paused): creates and updates {figures} (the first {first_during:?}); failing logouts \
             {logouts}"
        );
        println!("phase 2 (DynamoDB paused): {during:?}, outbox {}", trail.pending().await.expect("pending"));
        assert!(figures.max < Duration::from_secs(1), "every create and update under 1 s: {figures}");
        assert!(figures.median < Duration::from_millis(50), "median create/update under 50 ms: {figures}");
        assert!(first_during >= AUDIT_WRITE_TIMEOUT, "the outage's first event tried the table: {first_during:?}");
        let logout_bound = CALL_TIMEOUT + Duration::from_millis(400);
        assert!(logouts.max < logout_bound, "every failing logout under {logout_bound:?}: {logouts}");
        assert!(during.deferred > up.deferred, "records went to the outbox during the outage: {during:?}");
        assert_eq!(during.written, up.written, "the audit table took nothing while frozen: {during:?}");
        assert_eq!(during.failed, 0, "the outbox took every record: {during:?}");

        // Recovery: the retried logouts finish the removal without recording again.
        dynamo.resume();
        for n in LOGGED_OUT {
            let answer = manager.logout(&tracked[n].id).await;
            assert!(answer.is_ok(), "user {n}: the retried logout succeeds, got {answer:?}");
            println!("user {n}: retried logout answered {answer:?}");
            assert_eq!(manager.get(&tracked[n].id).await, hotcold_engine::Lookup::Miss, "user {n}: logged out");
        }
        let delivered = drain_until_empty(&*trail).await;
        println!("drained: {delivered} records delivered");

        // Every user's page: exactly their events, newest first, each once.
        let writer = trail.writer();
        let mut total = 0;
        for (n, session) in tracked.iter().enumerate() {
            let page = trail.user_page(&session.user, &page_query()).await.expect("user page");
            assert_eq!(page.next_cursor, None, "user {n}: one page");
            let found: Vec<(AuditKind, u64)> = page.records.iter().map(|r| (r.event.kind, r.event.version)).collect();
            let expected: Vec<(AuditKind, u64)> = session.events.iter().rev().copied().collect();
            assert_eq!(found, expected, "user {n}: the events of their session, newest first, once each");
            let mut seen = BTreeSet::new();
            for record in &page.records {
                assert!(seen.insert((record.writer.clone(), record.seq)), "user {n}: #{} twice", record.seq);
                assert_eq!(record.writer, writer, "user {n}: this engine's writer");
                assert_eq!(record.event.session, session.id, "user {n}: their session");
                assert_eq!((record.event.tier, record.event.region), (Tier::Hot, RegionId(0)), "user {n}");
                assert!(record.hash_matches(), "user {n}: record #{} intact", record.seq);
            }
            let times: Vec<u64> = page.records.iter().map(|r| r.event.at.0).collect();
            assert!(times.windows(2).all(|w| w[0] >= w[1]), "user {n}: newest first by time: {times:?}");
            total += expected.len() as u64;
        }

        let page = trail.user_page(&warm_user, &page_query()).await.expect("user page");
        let mut found: Vec<_> = page.records.iter().map(|r| (r.event.kind, r.event.session)).collect();
        let mut expected: Vec<_> = warm.iter().map(|id| (AuditKind::Created, *id)).collect();
        found.sort_by_key(|(_, id)| *id);
        expected.sort_by_key(|(_, id)| *id);
        assert_eq!(found, expected, "the warm-up sessions");
        total += warm.len() as u64;

        let counts = trail.counts();
        println!("after recovery: {counts:?}");
        assert!(counts.deferred > 0, "the outage deferred records: {counts:?}");
        assert_eq!(counts.failed, 0, "no record lost: {counts:?}");
        assert_eq!(counts.written + counts.deferred, total, "every event appended once: {counts:?}");
        assert_eq!(counts.delivered, counts.deferred, "every deferred record delivered once: {counts:?}");
        assert_eq!(engine.audit_failures(), 0, "the engine saw no audit failure");

        // The whole table: every record once, the chain intact up to the reported head.
        trail.drain().await.expect("a last drain (reports the head)");
        let records = all_records(trail.log()).await;
        let mut by_key = BTreeMap::new();
        for record in &records {
            assert!(by_key.insert((record.writer.clone(), record.seq), ()).is_none(), "#{} twice", record.seq);
        }
        assert_eq!(records.len() as u64, total, "the table holds every event and nothing else");
        let seqs: Vec<u64> = by_key.keys().map(|(_, seq)| *seq).collect();
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "one writer, numbered without gaps");
        let heads = trail.log().heads().await.expect("heads");
        assert_eq!(
            heads.iter().map(|h| (h.writer.as_str(), h.seq)).collect::<Vec<_>>(),
            vec![(writer.as_str(), total)]
        );
        let verification = verify(records, &heads);
        assert!(verification.intact(), "the chain verifies: {:?}", verification.problems);
        assert_eq!(verification.writers[0].reported_head, Some(total));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_left_in_the_outbox_by_a_dead_process_are_delivered_by_the_next() {
    within("outbox of a dead process", async {
        const USERS: usize = 3;
        const EACH: u64 = 4;
        let (dynamo, config, cold) = own_dynamo().await;
        let urls = redis_urls();
        let outbox_config = standalone_config(&urls[0], "region 0 (audit outbox)");
        let outbox = RedisHotStore::connect(outbox_config.clone()).await.expect("connect the outbox");
        let first = Trail::new(writer_name("us-east-1"), audit_log(&cold, config.clone()), outbox);
        let first_writer = first.writer();
        let run = unique("dead");
        let users: Vec<UserId> = (0..USERS).map(|u| UserId::new(&format!("{run}-u{u}")).unwrap()).collect();

        dynamo.pause();
        for version in 1..=EACH {
            for (u, user) in users.iter().enumerate() {
                let event = AuditEvent {
                    at: SystemClock.now(),
                    kind: if version == 1 { AuditKind::Created } else { AuditKind::Updated },
                    tier: Tier::Hot,
                    region: RegionId(0),
                    session: SessionId::from_parts([u as u8 + 1; 16], RegionId(0)),
                    user_id: Some(user.clone()),
                    version,
                    data_bytes: 0,
                    created_at: hotcold_engine::Timestamp(0),
                    activity: hotcold_engine::Activity::default(),
                };
                first.append(event).await.expect("deferred to the outbox");
            }
        }
        let appended = USERS as u64 * EACH;
        assert_eq!(first.counts().deferred, appended, "every record went to the outbox: {:?}", first.counts());
        assert_eq!(first.outbox().len().await.expect("outbox length"), appended, "in Redis");
        // The process dies: no drain.
        drop(first);
        dynamo.resume();

        let outbox = RedisHotStore::connect(outbox_config.with_label("redis region 0 (next process)"))
            .await
            .expect("connect the outbox");
        let next = Trail::new(writer_name("us-east-1"), audit_log(&cold, config.clone()), outbox);
        assert_ne!(next.writer(), first_writer, "a new process, a new writer");
        let delivered = drain_until_empty(&next).await;
        println!("the next process delivered {delivered} of {appended} records; {:?}", next.counts());
        assert_eq!(delivered, appended, "every record of the dead process delivered");
        assert_eq!(next.outbox().len().await.expect("outbox length"), 0, "the outbox is empty afterwards");

        let mut seqs = BTreeSet::new();
        for (u, user) in users.iter().enumerate() {
            let page = next.user_page(user, &page_query()).await.expect("user page");
            let versions: Vec<u64> = page.records.iter().map(|r| r.event.version).collect();
            assert_eq!(versions, (1..=EACH).rev().collect::<Vec<_>>(), "user {u}: every record, newest first, once");
            for record in &page.records {
                assert_eq!(record.writer, first_writer, "user {u}: written by the dead process");
                assert!(seqs.insert(record.seq), "#{} listed twice", record.seq);
            }
        }
        assert_eq!(seqs, (1..=appended).collect::<BTreeSet<_>>(), "the dead writer's whole chain");
        let records = all_records(next.log()).await;
        assert_eq!(records.len() as u64, appended, "the table holds each record once");
        let verification = verify(records, &next.log().heads().await.expect("heads"));
        assert!(verification.intact(), "the chain verifies: {:?}", verification.problems);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_audit_table_does_not_slow_requests() {
    within("slow audit table", async {
        const CREATES: usize = 50;
        let (dynamo, config, _cold) = own_dynamo().await;
        let (engine, trail) = engine_with_trail(&config).await;
        let manager = Manager::with_token_seed(Arc::clone(&engine), RegionId(0), 43);
        let run = unique("slow");
        // Warm up while DynamoDB answers, then drain, which also ends any backoff: the first
        // create below tries the table.
        manager.create(UserId::new(&format!("{run}-warm")).unwrap(), data(0, 1)).await.expect("create");
        drain_until_empty(&*trail).await;
        let before = trail.counts();

        dynamo.pause();
        let mut latencies = Vec::new();
        let started = Instant::now();
        for n in 0..CREATES {
            let at = Instant::now();
            let user = UserId::new(&format!("{run}-u{n}")).unwrap();
            manager.create(user, data(n, 1)).await.unwrap_or_else(|e| panic!("create {n}: {e:?}"));
            latencies.push(at.elapsed());
        }
        let total = started.elapsed();
        let after = trail.counts();
        let figures = Latencies::of(&latencies);
        let waited = latencies.iter().filter(|l| **l >= AUDIT_WRITE_TIMEOUT).count();
        println!(
            "{CREATES} creates with the audit table frozen: total {total:?} (first {:?}; {figures}; {waited} took the \
             audit deadline or longer); {after:?}",
            latencies[0]
        );
        let bound = AUDIT_WRITE_TIMEOUT * 10 + Duration::from_millis(500);
        assert!(total < bound, "{CREATES} creates took {total:?}, over {bound:?}: the trail waited on the table");
        assert!(latencies[0] >= AUDIT_WRITE_TIMEOUT, "the first create tried the table: {:?}", latencies[0]);
        assert_eq!(after.deferred - before.deferred, CREATES as u64, "every record deferred: {after:?}");
        assert_eq!((after.written, after.failed), (before.written, 0), "none written, none lost: {after:?}");

        dynamo.resume();
        let delivered = drain_until_empty(&*trail).await;
        assert_eq!(delivered, CREATES as u64, "delivered after the table came back");
        assert_eq!(engine.audit_failures(), 0);
    })
    .await;
}

/// Bad input in the outbox (an entry that is not a record: written by hand, or by a foreign
/// version) neither stalls the drain nor panics: it is moved aside to `<outbox>:corrupt` for a
/// person to inspect, and the records around it are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_outbox_entry_is_set_aside_and_the_records_around_it_answered() {
    within("corrupt outbox entry", async {
        let url = redis_urls()[0].clone();
        let prefix = unique("ob");
        let config =
            hotcold_engine::backends::redis::RedisHotConfig::standalone(url.clone()).with_prefix(prefix.clone());
        let outbox = RedisHotStore::connect(config).await.expect("connect the outbox");
        let mut chain = hotcold_engine::audit::chain::Chain::new("corrupt-test.00");
        let event = |n: u64| AuditEvent {
            at: hotcold_engine::Timestamp(1_800_000_000_000 + n),
            kind: AuditKind::Updated,
            tier: Tier::Hot,
            region: RegionId(0),
            session: SessionId::from_parts([7; 16], RegionId(0)),
            user_id: Some(UserId::new("corrie").unwrap()),
            version: n,
            data_bytes: 2,
            created_at: hotcold_engine::Timestamp(1_800_000_000_000),
            activity: hotcold_engine::Activity::default(),
        };
        let (first, second) = (chain.seal(event(1)), chain.seal(event(2)));
        outbox.push(std::slice::from_ref(&first)).await.expect("push");
        let key = format!("{{{prefix}:audit-outbox}}");
        let client = redis::Client::open(url.as_str()).expect("client");
        let mut raw = client.get_multiplexed_async_connection().await.expect("raw connection");
        let _: () = redis::cmd("RPUSH").arg(&key).arg("not a record {").query_async(&mut raw).await.expect("rpush");
        outbox.push(std::slice::from_ref(&second)).await.expect("push");
        assert_eq!(outbox.len().await, Ok(3));

        let peeked = outbox.peek(10).await.expect("peek");
        assert_eq!(peeked, vec![first.clone(), second.clone()], "the records, in order, without the entry");
        assert_eq!(outbox.len().await, Ok(2), "the entry left the queue");
        let aside: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{key}:corrupt"))
            .arg(0)
            .arg(-1)
            .query_async(&mut raw)
            .await
            .expect("lrange");
        assert_eq!(aside, vec!["not a record {".to_string()], "kept for a person to inspect");
        outbox.remove(&peeked).await.expect("remove");
        assert_eq!(outbox.is_empty().await, Ok(true));
        let _: () = redis::cmd("DEL").arg(format!("{key}:corrupt")).query_async(&mut raw).await.expect("clean up");
    })
    .await;
}
