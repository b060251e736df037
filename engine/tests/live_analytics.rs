//! The analytics pipeline against DynamoDB Local: for random histories of a session's tier
//! changes, migration moves and ends (kinds, regions, data sizes, versions, times, in order), the
//! summary the DynamoDB pipeline builds with one UpdateItem per record
//! (`DynamoAnalytics::record`) is the reference fold of the same history
//! (`SessionSummary::fold`): the analytics summary matches the history. Needs `scripts/test.sh`
//! (or the env file of `scripts/services.sh start`).

#![cfg(feature = "dynamodb")]

mod live_support;

use std::time::Duration;

use hotcold_engine::analytics::{SessionSummary, writes_summary};
use hotcold_engine::audit::chain::Chain;
use hotcold_engine::backends::dynamodb::{DynamoAnalytics, DynamoColdStore, DynamoConfig};
use hotcold_engine::{AuditEvent, AuditKind, RegionId, SessionId, Tier, Timestamp, UserId};
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
}

fn step() -> impl Strategy<Value = Step> {
    // A migration's moves too: a rollback ends the summary, the next import opens it again.
    let kind =
        prop::sample::select(vec![AuditKind::Promoted, AuditKind::Demoted, AuditKind::Migrated, AuditKind::RolledBack]);
    (kind, 0u16..3, 0u64..400_000, 0u64..3).prop_map(|(kind, region, data_bytes, updates)| Step {
        kind,
        region,
        data_bytes,
        updates,
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
        if let Some(end) = end {
            events.push((end, 2, 10));
            update_counts.push(0);
        }
        let summarised = runtime.block_on(async {
            for ((kind, region, data_bytes), updates) in events.iter().zip(&update_counts) {
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
