//! The analytics pipeline against DynamoDB Local: for random histories of a session's tier
//! changes, migration moves and ends (kinds, regions, data sizes, versions, times, in order), the
//! summary the DynamoDB pipeline builds with one UpdateItem per record
//! (`DynamoAnalytics::record`) is the reference fold of the same history
//! (`SessionSummary::fold`): the analytics summary matches the history, the activity the events
//! carried (counts drawn out of order too, as a redelivery brings them) included. And through the
//! engine on live Redis and DynamoDB: a session's requests, counted by the hot tier, reach its
//! summary with its demotion and its promotion. Needs `scripts/test.sh` (or the env file of
//! `scripts/services.sh start`).

#![cfg(all(feature = "dynamodb", feature = "redis"))]

mod live_support;

use std::time::Duration;

use hotcold_engine::analytics::{SessionSummary, writes_summary};
use hotcold_engine::audit::chain::Chain;
use std::sync::Arc;

use hotcold_engine::backends::dynamodb::{DynamoAnalytics, DynamoColdStore, DynamoConfig};
use hotcold_engine::store::{HotLookup, HotStore};
use hotcold_engine::{Activity, AuditEvent, AuditKind, RegionId, SessionId, Tier, Timestamp, UserId};
use hotcold_engine::{Clock, Lookup, Served, SessionData, SessionManager, SyncService};
use live_support::{dynamo_config, dynamodb_endpoint};
use proptest::prelude::*;

/// Histories checked: each is a few UpdateItems on DynamoDB Local (about 1,000 a second).
const CASES: u32 = 48;

/// One event of a history: which kind, where, how large, how many updates before it.
#[derive(Debug, Clone)]
struct Step {
    kind: AuditKind,
    region: u16,
    data_bytes: u64,
    updates: u64,
    /// Requests the event's activity counts (0: none known).
    requests: u64,
}

fn step() -> impl Strategy<Value = Step> {
    // A migration's moves too: a rollback ends the summary, the next import opens it again.
    let kind =
        prop::sample::select(vec![AuditKind::Promoted, AuditKind::Demoted, AuditKind::Migrated, AuditKind::RolledBack]);
    (kind, 0u16..3, 0u64..400_000, 0u64..3, 0u64..12).prop_map(|(kind, region, data_bytes, updates, requests)| Step {
        kind,
        region,
        data_bytes,
        updates,
        requests,
    })
}

/// A history: tier changes, then maybe an end.
fn history() -> impl Strategy<Value = (Vec<Step>, Option<AuditKind>)> {
    let end = prop::option::of(prop::sample::select(vec![
        AuditKind::Expired,
        AuditKind::LoggedOut,
        AuditKind::Revoked,
        AuditKind::Erased,
    ]));
    (prop::collection::vec(step(), 0..8), end)
}

/// An activity of `requests` requests (none for 0), the last at `at`.
fn activity(requests: u64, at: u64) -> Activity {
    if requests == 0 {
        return Activity::default();
    }
    Activity { requests, visits: 1 + requests / 4, think_ms: requests * 1_500, last_request_at: Timestamp(at) }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// The analytics table of fresh tables, created once for all cases.
fn analytics(runtime: &tokio::runtime::Runtime) -> DynamoAnalytics {
    runtime.block_on(async {
        let config = DynamoConfig {
            attempt_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            ..dynamo_config(&dynamodb_endpoint()).await
        };
        let cold = DynamoColdStore::connect(config.clone(), true).await.expect("create DynamoDB tables");
        DynamoAnalytics::new(cold.client().clone(), config.analytics_table, config.analytics_retention, "dynamodb")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_pipelines_summary_is_the_fold_of_the_history((steps, end) in history()) {
        static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, DynamoAnalytics)> = std::sync::OnceLock::new();
        let (runtime, table) = SHARED.get_or_init(|| {
            let runtime = runtime();
            let table = analytics(&runtime);
            (runtime, table)
        });
        // A session no earlier case (nor a shrinking rerun) used: a counter and the process id.
        static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
        id[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        let id = SessionId::from_parts(id, RegionId(1));
        let user = UserId::new("analytics-user").unwrap();
        let subject = "5a".repeat(16);
        let mut chain = Chain::new("analytics-test.00");
        let mut reference = SessionSummary::default();
        let mut version = 1;
        let mut at = 1_800_000_000_000;
        let mut events: Vec<(AuditKind, u16, u64)> = steps.iter().map(|s| (s.kind, s.region, s.data_bytes)).collect();
        let mut update_counts: Vec<u64> = steps.iter().map(|s| s.updates).collect();
        let mut requests: Vec<u64> = steps.iter().map(|s| s.requests).collect();
        if let Some(end) = end {
            events.push((end, 2, 10));
            update_counts.push(0);
            requests.push(3);
        }
        let summarised = runtime.block_on(async {
            for (((kind, region, data_bytes), updates), requests) in events.iter().zip(&update_counts).zip(&requests) {
                version += updates;
                at += 60_000;
                let event = AuditEvent {
                    at: Timestamp(at),
                    kind: *kind,
                    tier: if *kind == AuditKind::Demoted { Tier::Cold } else { Tier::Hot },
                    region: RegionId(*region),
                    session: id,
                    user_id: Some(user.clone()),
                    version,
                    data_bytes: *data_bytes,
                    created_at: Timestamp(1_799_999_000_000),
                    activity: activity(*requests, at),
                };
                assert!(writes_summary(event.kind));
                reference.fold(&event, Some(subject.clone()));
                table.record(&chain.seal(event), Some(&subject)).await.expect("record");
            }
            table.all().await.expect("scan the analytics table")
        });
        let found: Vec<&SessionSummary> = summarised.iter().filter(|s| s.session_id == id.to_hex()).collect();
        if events.is_empty() {
            prop_assert!(found.is_empty(), "no tier change, no summary: {found:?}");
        } else {
            prop_assert_eq!(found.len(), 1, "one summary per session");
            prop_assert_eq!(found[0], &reference);
        }
    }
}

/// Through the engine: a session created and looked up three times is demoted with its four
/// requests, and its summary in the analytics table says so; the lookup that promotes it is its
/// fifth, and the promotion's summary says that.
#[test]
fn a_demoted_sessions_summary_holds_its_activity() {
    runtime().block_on(async {
        let config = DynamoConfig {
            attempt_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            audit_write_timeout: Duration::from_secs(30),
            ..dynamo_config(&dynamodb_endpoint()).await
        };
        let cold = DynamoColdStore::connect(config.clone(), true).await.expect("create DynamoDB tables");
        let analytics = DynamoAnalytics::of_config(cold.client().clone(), &config);
        let trail = live_support::trail(live_support::audit_log(&cold, config.clone()));
        let engine = live_support::live_engine(cold, trail, "analytics region").await;
        let manager = SessionManager::new(Arc::clone(&engine), RegionId(0));
        let sync = SyncService::new(Arc::clone(&engine));
        let user = UserId::new(&live_support::unique("activity")).unwrap();
        let created = manager.create(user, SessionData::from_stored(bytes::Bytes::from_static(b"{}"))).await;
        let id = created.expect("create").session.id;
        for _ in 0..3 {
            assert!(matches!(manager.get(&id).await, Lookup::Found { served: Served::Hot, .. }));
        }
        // Idle past the threshold: its last access moved back stands in for 30 minutes. In those
        // 30 minutes the store writes the counts its light touches held (live_redis.rs checks
        // when); here they are written at once, before the record is read and aged.
        engine.hot(RegionId(0)).write_held_counts(engine.clock().now(), true).await;
        let mut aged = match engine.hot(RegionId(0)).take(&id).await {
            HotLookup::Hit(session) => session,
            other => panic!("hot before demotion: {other:?}"),
        };
        assert_eq!(aged.activity.requests, 4, "the creation and three lookups");
        let counted = aged.activity;
        aged.last_access = engine.clock().now() - Duration::from_secs(1801);
        engine.hot(RegionId(0)).put(&aged, Duration::from_secs(7200)).await.expect("put aged");
        let report = sync.run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error.clone()), (1, None), "demoted");
        engine.audit().drain().await.expect("deliver the audit records");
        // The summaries follow the audit records in the background: wait for them, then read.
        let summary_of = async || {
            assert!(engine.audit().log().summaries_written(Duration::from_secs(30)).await, "summaries written");
            let all = analytics.all().await.expect("scan the analytics table");
            all.into_iter().find(|s| s.session_id == id.to_hex()).expect("the session's summary")
        };
        let summary = summary_of().await;
        assert_eq!((summary.demotions, summary.activity), (1, counted), "the demotion carried the count");

        let promoted = match manager.get(&id).await {
            Lookup::Found { served: Served::Promoted, session, .. } => session,
            other => panic!("promotion: {other:?}"),
        };
        assert_eq!(promoted.activity.requests, 5, "the demoted count came back, the promoting lookup added one");
        engine.audit().drain().await.expect("deliver the audit records");
        let summary = summary_of().await;
        assert_eq!((summary.promotions, summary.activity), (1, promoted.activity), "the promotion carried it");
    });
}
