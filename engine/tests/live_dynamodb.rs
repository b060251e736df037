//! DynamoColdStore and DynamoAudit against DynamoDB Local, beyond the conformance suite: table
//! shape (user index, TTL attributes), malformed items, an unreachable endpoint, and the cost of
//! `put_batch` (conditional PutItems in flight together) against one-by-one puts. Needs
//! `scripts/test.sh` (or the env file of `scripts/services.sh start`).

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use bytes::Bytes;
use hotcold_engine::backends::dynamodb::{DynamoColdStore, DynamoConfig, EXPIRY_INDEX, MAX_BATCH, USER_INDEX};
use hotcold_engine::store::{AuditSink, ColdLookup, ColdStore, ColdWrite};
use hotcold_engine::{AuditEvent, AuditKind, RegionId, Session, SessionData, StoreError, Tier, Timestamp, UserId};
use live_support::{dynamo_config, dynamo_stores, dynamodb_endpoint};

fn session(n: u64, user: &UserId, at: Timestamp) -> Session {
    Session {
        id: hotcold_engine::conformance::test_id(n, 0),
        user_id: user.clone(),
        data: SessionData::from_stored(Bytes::from_static(br#"{"cart":[1]}"#)),
        version: 1,
        created_at: at,
        last_access: at,
        persisted_version: 0,
        hot_region: None,
        activity: hotcold_engine::Activity::default(),
    }
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(180), future).await.unwrap_or_else(|_| panic!("{what} took over 180 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_carry_the_user_index_and_ttl_attributes() {
    within("table shape", async {
        let config = dynamo_config(&dynamodb_endpoint()).await;
        let (cold, audit) = dynamo_stores(config.clone()).await;
        let client = cold.client();
        for (table, expected) in
            [(&config.sessions_table, vec![EXPIRY_INDEX, USER_INDEX]), (&config.audit_table, Vec::new())]
        {
            let described = client.describe_table().table_name(table).send().await.expect("describe");
            let mut indexes: Vec<&str> = described
                .table()
                .map(|t| t.global_secondary_indexes().iter().filter_map(|i| i.index_name()).collect())
                .unwrap_or_default();
            indexes.sort_unstable();
            assert_eq!(indexes, expected, "{table}: the user and expiry indexes; the audit table pages by its keys");
            let ttl = client.describe_time_to_live().table_name(table).send().await.expect("describe TTL");
            let ttl = ttl.time_to_live_description().expect("TTL description");
            assert_eq!(ttl.attribute_name(), Some("expires_at"), "{table}: TTL attribute");
            assert!(
                matches!(ttl.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)),
                "{table}: TTL enabled, got {:?}",
                ttl.time_to_live_status()
            );
        }
        // create_tables is idempotent.
        config.create_tables(client).await.expect("create twice");

        let user = UserId::new(&live_support::unique("shape")).unwrap();
        let at = Timestamp(1_800_000_000_000);
        let s = session(1, &user, at);
        assert_eq!(cold.put(&s, RegionId(0), at).await, Ok(ColdWrite::Written));
        let item = client
            .get_item()
            .table_name(&config.sessions_table)
            .key("id", AttributeValue::S(format!("{}.0", s.id.to_hex())))
            .consistent_read(true)
            .send()
            .await
            .expect("raw get");
        let item = item.item().expect("item");
        // DynamoDB deletes it a grace after it expires: the expiry sweep reports it first.
        let expected = (at + config.cold_ttl + hotcold_engine::lifecycle::EXPIRY_GRACE).millis() / 1000;
        assert_eq!(item.get("expires_at"), Some(&AttributeValue::N(expected.to_string())), "cold TTL attribute");

        let event = AuditEvent {
            at,
            kind: AuditKind::Created,
            tier: Tier::Hot,
            region: RegionId(0),
            session: s.id,
            user_id: Some(user),
            version: 1,
            data_bytes: 0,
            created_at: hotcold_engine::Timestamp(0),
            activity: hotcold_engine::Activity::default(),
        };
        audit.append(event).await.expect("append");
        let scanned = client.scan().table_name(&config.audit_table).send().await.expect("scan audit");
        let expected = (at + config.compliance_retention).millis() / 1000;
        // The record, and the user's link (which is no record).
        let records: Vec<_> = scanned
            .items()
            .iter()
            .filter(|item| matches!(item.get("pk"), Some(AttributeValue::S(pk)) if pk.starts_with("s#")))
            .collect();
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].get("expires_at"),
            Some(&AttributeValue::N(expected.to_string())),
            "audit records expire after compliance_retention"
        );
        assert_eq!(records[0].get("tier"), Some(&AttributeValue::S("hot".into())), "audit records name their tier");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_items_are_corrupt_and_nothing_panics() {
    within("malformed items", async {
        let config = dynamo_config(&dynamodb_endpoint()).await;
        let (cold, _) = dynamo_stores(config.clone()).await;
        let id = hotcold_engine::conformance::test_id(7, 0);
        cold.client()
            .put_item()
            .table_name(&config.sessions_table)
            .item("id", AttributeValue::S(format!("{}.0", id.to_hex())))
            .item("user_id", AttributeValue::S("someone".into()))
            .item("version", AttributeValue::S("not a number".into()))
            .send()
            .await
            .expect("raw put");
        match cold.get(&id, RegionId(0)).await {
            ColdLookup::Unavailable(StoreError::Corrupt { .. }) => {}
            other => panic!("a malformed item is Corrupt, got {other:?}"),
        }
        assert!(matches!(cold.delete(&id, RegionId(0), Timestamp(0)).await, Err(StoreError::Corrupt { .. })));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_unavailable() {
    within("unreachable", async {
        let port = live_support::free_port();
        let config = DynamoConfig {
            attempt_timeout: Duration::from_millis(500),
            call_timeout: Duration::from_secs(2),
            max_attempts: 2,
            ..DynamoConfig::local(format!("http://127.0.0.1:{port}"), "nothing-here", "nothing-here-audit")
        };
        let config = DynamoConfig { label: "dynamodb eu-test".into(), ..config };
        let cold = DynamoColdStore::connect(config.clone(), false).await.expect("client");
        let audit = live_support::trail(live_support::audit_log(&cold, config));
        let user = UserId::new("nobody").unwrap();
        let s = session(1, &user, Timestamp(1));
        // Every error names the backend by its configured label (what /readyz and logs show).
        let named =
            |e: &StoreError| matches!(e, StoreError::Unavailable { backend, .. } if backend == "dynamodb eu-test");
        match cold.get(&s.id, RegionId(0)).await {
            ColdLookup::Unavailable(e) => assert!(named(&e), "{e:?}"),
            other => panic!("get: {other:?}"),
        }
        let put = cold.put(&s, RegionId(0), Timestamp(1)).await.expect_err("put");
        assert!(named(&put), "{put:?}");
        let batch = cold.put_batch(std::slice::from_ref(&s), RegionId(0), Timestamp(1)).await.expect_err("put_batch");
        assert!(named(&batch), "{batch:?}");
        let count = cold.item_count().await.expect_err("item_count");
        assert!(named(&count), "{count:?}");
        let event = AuditEvent {
            at: Timestamp(1),
            kind: AuditKind::Created,
            tier: Tier::Hot,
            region: RegionId(0),
            session: s.id,
            user_id: Some(user.clone()),
            version: 1,
            data_bytes: 0,
            created_at: hotcold_engine::Timestamp(0),
            activity: hotcold_engine::Activity::default(),
        };
        // The trail defers what the table cannot take (to its outbox, memory here); the drain
        // that an erasure starts with names the backend.
        audit.append(event).await.expect("deferred, not failed");
        assert_eq!(audit.counts().deferred, 1);
        let drain = audit.drain().await.expect_err("drain");
        assert!(named(&drain), "{drain:?}");
        let pseudonymise = audit.pseudonymise_user(&user, &user, Timestamp(2)).await.expect_err("pseudonymise_user");
        assert!(named(&pseudonymise), "{pseudonymise:?}");
    })
    .await;
}

/// `put_batch` writes chunks of at most 25 as conditional PutItems in flight together. Measured
/// here against the same number of one-by-one conditional puts (figures printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_batch_is_conditional_and_measured() {
    within("put_batch", async {
        const ITEMS: u64 = 200;
        let (cold, _) = dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await;
        let user = UserId::new(&live_support::unique("batch")).unwrap();
        let at = Timestamp(1_800_000_000_000);
        let one_by_one: Vec<Session> = (0..ITEMS).map(|n| session(10_000 + n, &user, at)).collect();
        let batched: Vec<Session> = (0..ITEMS).map(|n| session(20_000 + n, &user, at)).collect();

        let start = Instant::now();
        for s in &one_by_one {
            assert_eq!(cold.put(s, RegionId(0), at).await, Ok(ColdWrite::Written));
        }
        let sequential = start.elapsed();
        let start = Instant::now();
        let written = cold.put_batch(&batched, RegionId(0), at).await.expect("put_batch");
        let concurrent = start.elapsed();
        assert_eq!(written, vec![ColdWrite::Written; ITEMS as usize]);
        println!(
            "DynamoDB Local, {ITEMS} conditional puts: one by one {:.0} puts/s; put_batch (chunks of {MAX_BATCH} in flight) {:.0} puts/s",
            ITEMS as f64 / sequential.as_secs_f64(),
            ITEMS as f64 / concurrent.as_secs_f64()
        );
        // Conditional: replaying the batch with older states changes nothing.
        let older: Vec<Session> =
            batched.iter().map(|s| Session { last_access: Timestamp(at.millis() - 1), ..s.clone() }).collect();
        let again = cold.put_batch(&older, RegionId(0), at).await.expect("put_batch older");
        assert_eq!(again, vec![ColdWrite::Stale; ITEMS as usize], "an older state never overwrites");
    })
    .await;
}

/// `item_count` (the readiness probe's gauge) is the table's item count: DynamoDB Local keeps it
/// exact (DynamoDB itself refreshes it about every six hours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_count_counts_the_sessions_table() {
    within("item_count", async {
        let (cold, _) = dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await;
        assert_eq!(cold.item_count().await, Ok(0), "a new table");
        let user = UserId::new(&live_support::unique("count")).unwrap();
        let at = Timestamp(1_800_000_000_000);
        let sessions: Vec<Session> = (0..3).map(|n| session(30_000 + n, &user, at)).collect();
        cold.put_batch(&sessions, RegionId(0), at).await.expect("put_batch");
        assert_eq!(cold.item_count().await, Ok(3));
    })
    .await;
}

/// Creating the tables fails with the CreateTable error when DynamoDB refuses the table (a name
/// it does not accept), not later and less clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_dynamodb_refuses_fails_at_create_table() {
    within("create_table", async {
        let config = DynamoConfig::local(dynamodb_endpoint(), "x", "x-audit");
        let Err(refused) = DynamoColdStore::connect(config, true).await else {
            panic!("a 1-character table name is refused");
        };
        let text = refused.to_string();
        assert!(text.contains("create table x"), "{text}");
    })
    .await;
}

/// A user's sessions past DynamoDB's 1 MB query page are all listed: the listing follows every page
/// of the user index. (Pseudonymisation pages the same way over the audit table, whose index holds
/// keys only: a page there is about 6,000 events, too many to write in a test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_queries_follow_every_page() {
    within("pages", async {
        let (cold, _) = dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await;
        let user = UserId::new(&live_support::unique("pages")).unwrap();
        let at = Timestamp(1_800_000_000_000);
        // 300 sessions of 4 KB: about 1.2 MB, two pages.
        let data = SessionData::from_stored(Bytes::from(vec![b'7'; 4_096]));
        let sessions: Vec<Session> =
            (0..300).map(|n| Session { data: data.clone(), ..session(40_000 + n, &user, at) }).collect();
        cold.put_batch(&sessions, RegionId(0), at).await.expect("put_batch");
        let listed = cold.sessions_of_user(&user, RegionId(0)).await.expect("sessions_of_user");
        assert_eq!(listed.len(), 300, "every page read");
    })
    .await;
}
