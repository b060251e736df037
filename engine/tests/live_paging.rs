//! A user's sessions a page at a time on the real backends (three standalone Redis, DynamoDB
//! Local): a user with 5,000 sessions, 1,000 of them demoted to DynamoDB and the rest hot in
//! three regions, is listed in pages of 500 (each session exactly once, in id order) and
//! revoked with no store call answering more than a page; then nothing is left to list. Also:
//! the stores read indexes written by earlier versions (a Redis user set, a DynamoDB user index
//! without sort key). Needs `scripts/test.sh` (or the env file of `scripts/services.sh start`).
//!
//! DynamoDB Local does about 500 writes a second, so the cold share is sized at 1,000 and the
//! audit trail is kept in memory (revoking writes 5,000 tombstones to DynamoDB as it is).

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;
mod paging_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use bytes::Bytes;
use futures_util::future::join_all;
use hotcold_engine::backends::dynamodb::{DynamoColdStore, USER_INDEX};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::manager::REMOVAL_PAGE;
use hotcold_engine::memory::MemoryAudit;
use hotcold_engine::store::{ColdStore, HotStore};
use hotcold_engine::{
    Clock, Engine, EngineConfig, RegionId, Session, SessionConfig, SessionData, SessionId, SessionManager, SessionPage,
    SyncService, Timestamp, UserId,
};
use live_support::{OffsetClock, dynamo_config, dynamo_stores, dynamodb_endpoint, redis_urls, unique};
use paging_support::{Largest, Walk, largest_of};
use sha2::{Digest, Sha256};

type Hot = Largest<RedisHotStore>;
type Cold = Largest<DynamoColdStore>;
type Manager = SessionManager<Hot, Cold, MemoryAudit, Arc<OffsetClock>>;

/// The page size of the listing.
const PAGE: usize = 500;

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(600), future).await.unwrap_or_else(|_| panic!("{what} took over 600 s"))
}

/// Creates `count` sessions of `user`, round robin over `regions`, a hundred in flight at once.
async fn create_many(managers: &[Manager], regions: &[usize], user: &UserId, count: usize) -> Vec<SessionId> {
    let mut ids = Vec::with_capacity(count);
    for start in (0..count).step_by(100) {
        let creates = (start..count.min(start + 100))
            .map(|n| managers[regions[n % regions.len()]].create(user.clone(), SessionData::opaque(2)));
        for created in join_all(creates).await {
            ids.push(created.expect("create").session.id);
        }
    }
    ids
}

/// Every page of `user`'s sessions of size `limit`.
async fn walk(manager: &Manager, user: &UserId, limit: usize) -> Walk {
    let mut walk = Walk::default();
    while !walk.done() {
        assert!(walk.sizes.len() < 1_000, "the listing never ended");
        walk.take(manager.sessions_of_user_page(user, walk.after(), limit).await.expect("page"), limit);
    }
    walk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_sessions_are_listed_and_revoked_a_page_at_a_time() {
    within("5,000 sessions", async {
        let urls = redis_urls();
        let mut hot = Vec::new();
        for (region, url) in urls.iter().enumerate() {
            hot.push(Largest::new(live_support::standalone_store(url, &format!("region {region}")).await));
        }
        let (cold, _) = dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await;
        let clock = live_support::shared_clock();
        let engine = Arc::new(
            Engine::new(
                SessionConfig::default(),
                EngineConfig::default(),
                hot,
                Largest::new(cold),
                MemoryAudit::counting(),
                Arc::clone(&clock),
            )
            .expect("engine"),
        );
        let managers: Vec<Manager> =
            (0..3).map(|r| SessionManager::with_token_seed(Arc::clone(&engine), RegionId(r), u64::from(r))).collect();
        let user = UserId::new(&unique("many")).unwrap();
        let largest = || largest_of(engine.hot_stores().map(|(_, s)| s)).max(engine.cold().largest());
        let reset = || {
            engine.hot_stores().for_each(|(_, s)| s.reset());
            engine.cold().reset();
        };

        // 1,000 in region 0, demoted to DynamoDB; 4,000 more hot across the three regions.
        let started = Instant::now();
        let mut ids = create_many(&managers, &[0], &user, 1_000).await;
        clock.advance(engine.policy().promotion_threshold + Duration::from_secs(1));
        let report = SyncService::new(Arc::clone(&engine)).run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error), (1_000, None), "a thousand sessions demoted");
        ids.extend(create_many(&managers, &[0, 1, 2], &user, 4_000).await);
        let others = create_many(&managers, &[1], &UserId::new(&unique("other")).unwrap(), 20).await;
        println!("set-up: 5,000 sessions (1,000 cold) in {:.1} s", started.elapsed().as_secs_f64());

        reset();
        let started = Instant::now();
        let listed = walk(&managers[1], &user, PAGE).await;
        let listing = started.elapsed();
        listed.assert_listed_exactly(&ids);
        assert!(listed.ids.iter().all(|id| !others.contains(id)), "no other user's session");
        assert_eq!(listed.sizes, vec![PAGE; 10], "ten full pages, the last without a cursor");
        let listing_largest = largest();
        assert!(listing_largest <= PAGE, "listing: no store answered more than a page ({listing_largest})");

        // For comparison: the whole-user read, one answer per store.
        reset();
        let started = Instant::now();
        assert_eq!(managers[1].sessions_of_user(&user).await.expect("whole listing").len(), 5_000);
        let whole = started.elapsed();
        let whole_largest = largest();
        assert!(whole_largest > PAGE, "the measure sees the whole-user read ({whole_largest})");

        reset();
        let started = Instant::now();
        assert_eq!(managers[0].revoke_user(&user).await, Ok(5_000), "every session revoked");
        let revoking = started.elapsed();
        let revoke_largest = largest();
        assert!(
            revoke_largest <= REMOVAL_PAGE,
            "revoking held at most a page ({REMOVAL_PAGE}) from any store at once, not {revoke_largest}"
        );
        let left = managers[2].sessions_of_user_page(&user, None, PAGE).await.expect("page");
        assert_eq!(left, SessionPage { sessions: Vec::new(), next: None }, "nothing left to list");
        println!(
            "5,000 sessions: listed in 10 pages of {PAGE} in {:.2} s (largest store answer {listing_largest}); \
             whole-user read {:.2} s (largest answer {whole_largest}); revoked in {:.1} s (largest answer \
             {revoke_largest})",
            listing.as_secs_f64(),
            whole.as_secs_f64(),
            revoking.as_secs_f64(),
        );
    })
    .await;
}

fn session(n: u64, user: &UserId, at: Timestamp) -> Session {
    Session {
        id: hotcold_engine::conformance::test_id(n, (n % 3) as u16),
        user_id: user.clone(),
        data: SessionData::from_stored(Bytes::from_static(b"{}")),
        version: 1,
        created_at: at,
        last_access: at,
        persisted_version: 0,
        hot_region: None,
        activity: hotcold_engine::Activity::default(),
    }
}

/// Every id of `user` from pages of 7 of `page`, checked as the conformance suite does.
async fn pages_of_seven<F, Fut>(mut page: F) -> Walk
where
    F: FnMut(Option<SessionId>) -> Fut,
    Fut: std::future::Future<Output = Vec<Session>>,
{
    let mut walk = Walk::default();
    while !walk.done() {
        assert!(walk.sizes.len() < 100, "the listing never ended");
        let sessions = page(walk.after()).await;
        let next = (sessions.len() == 7).then(|| sessions.last().map(|s| s.id)).flatten();
        walk.take(SessionPage { sessions, next }, 7);
    }
    walk
}

/// Sessions indexed by an earlier version (a plain Redis set per user) are moved into the sorted
/// index by the first listing, so they are still listed, revoked and erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_user_set_of_an_earlier_version_is_upgraded() {
    within("legacy user set", async {
        let url = &redis_urls()[0];
        let prefix = unique("legacy");
        let store = RedisHotStore::connect(RedisHotConfig::standalone(url.as_str()).with_prefix(prefix.as_str()))
            .await
            .expect("connect");
        let user = UserId::new(&unique("old-user")).unwrap();
        let now = hotcold_engine::SystemClock.now();
        let sessions: Vec<Session> = (0..25).map(|n| session(n, &user, now)).collect();
        for s in &sessions {
            store.put(s, Duration::from_secs(600)).await.expect("put");
        }

        // Rewrite the index as the earlier version kept it: a set at the sorted set's hash tag.
        let digest: String = Sha256::digest(user.as_str().as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect();
        let legacy = format!("{{{prefix}:u:{digest}}}");
        let sorted = format!("{legacy}:ids");
        let mut conn = redis::Client::open(url.as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let members: Vec<String> =
            redis::cmd("ZRANGE").arg(&sorted).arg(0).arg(-1).query_async(&mut conn).await.expect("ZRANGE");
        assert_eq!(members.len(), 25, "the sorted index holds every session");
        let _: () = redis::cmd("DEL").arg(&sorted).query_async(&mut conn).await.expect("DEL");
        let _: () = redis::cmd("SADD").arg(&legacy).arg(&members).query_async(&mut conn).await.expect("SADD");

        let walk = pages_of_seven(|after| {
            let (store, user) = (&store, &user);
            async move { store.sessions_of_user_page(user, after.as_ref(), 7).await.expect("page") }
        })
        .await;
        walk.assert_listed_exactly(&sessions.iter().map(|s| s.id).collect::<Vec<_>>());
        let legacy_left: bool = redis::cmd("EXISTS").arg(&legacy).query_async(&mut conn).await.expect("EXISTS");
        assert!(!legacy_left, "the legacy set is gone: every member moved");
        let moved: usize = redis::cmd("ZCARD").arg(&sorted).query_async(&mut conn).await.expect("ZCARD");
        assert_eq!(moved, 25, "into the sorted index");
    })
    .await;
}

/// New tables index users by (user, id); a table created by an earlier version, whose user index
/// has no sort key, is still paged correctly (by reading the user's records and sorting them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_user_index_without_sort_key_still_pages_in_order() {
    within("legacy user index", async {
        let current_config = dynamo_config(&dynamodb_endpoint()).await;
        let (current, _) = dynamo_stores(current_config.clone()).await;
        let config = dynamo_config(&dynamodb_endpoint()).await;
        let client = current.client().clone();

        // A table as the earlier version created it: user index keyed by user only.
        let attribute = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
        };
        let hash =
            |name: &str| KeySchemaElement::builder().attribute_name(name).key_type(KeyType::Hash).build().unwrap();
        let index = GlobalSecondaryIndex::builder()
            .index_name(USER_INDEX)
            .key_schema(hash("user_id"))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .unwrap();
        client
            .create_table()
            .table_name(&config.sessions_table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("id"))
            .attribute_definitions(attribute("user_id"))
            .key_schema(hash("id"))
            .global_secondary_indexes(index)
            .send()
            .await
            .expect("create a table of the earlier layout");
        let old = DynamoColdStore::new(client.clone(), config);

        let user = UserId::new(&unique("old-table-user")).unwrap();
        let other = UserId::new(&unique("old-table-other")).unwrap();
        let now = hotcold_engine::SystemClock.now();
        let user = &user;
        for store in [&old, &current] {
            let mine: Vec<Session> = (0..30).map(|n| session(n, user, now)).collect();
            store.put_batch(&mine, RegionId(0), now).await.expect("put_batch");
            let theirs: Vec<Session> = (100..103).map(|n| session(n, &other, now)).collect();
            store.put_batch(&theirs, RegionId(0), now).await.expect("put_batch");
            let walk = pages_of_seven(|after| async move {
                store.sessions_of_user_page(user, after.as_ref(), 7, RegionId(0)).await.expect("page")
            })
            .await;
            walk.assert_listed_exactly(&mine.iter().map(|s| s.id).collect::<Vec<_>>());
        }

        // The current layout: the user index is sorted by session id.
        let described =
            client.describe_table().table_name(&current_config.sessions_table).send().await.expect("describe");
        let index = described
            .table()
            .and_then(|t| t.global_secondary_indexes().iter().find(|i| i.index_name() == Some(USER_INDEX)))
            .cloned()
            .expect("the user index");
        let keys: Vec<(&str, &KeyType)> =
            index.key_schema().iter().map(|k| (k.attribute_name(), k.key_type())).collect();
        assert_eq!(keys, vec![("user_id", &KeyType::Hash), ("id", &KeyType::Range)], "user, then session id");
    })
    .await;
}
