//! RedisHotStore's leases and its lazily connecting variant against real redis-server processes:
//! one holder at a time, renewal, release only by the holder, take-over once the TTL has passed;
//! a store whose server is down at start answering "unavailable" until the server comes up, then
//! working without a restart. Needs `scripts/test.sh` (or the env file of `scripts/services.sh
//! start`).

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::store::{HotLookup, HotStore};
use hotcold_engine::{Session, SessionData, StoreError, Timestamp, UserId};
use live_support::{OwnRedis, redis_urls, standalone_config, unique};

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future).await.unwrap_or_else(|_| panic!("{what} took over 60 s"))
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_is_released_or_expires() {
    within("the lease test", async {
        let config = standalone_config(&redis_urls()[0], "us-east-1");
        let prefix = config.key_prefix.clone();
        let store = RedisHotStore::connect(config).await.expect("connect");
        let name = unique("sync");
        let minute = Duration::from_secs(60);
        assert_eq!(store.acquire_lease(&name, "a", minute).await, Ok(true), "a free lease is taken");
        assert_eq!(store.acquire_lease(&name, "b", minute).await, Ok(false), "held by another");
        assert_eq!(store.acquire_lease(&name, "a", minute).await, Ok(true), "the holder renews it");
        assert_eq!(store.acquire_lease("another-job", "b", minute).await, Ok(true), "leases are per name");
        // The key lives under the store's prefix and holds the holder.
        let key = format!("{{{prefix}:lease}}:{name}");
        assert_eq!(store.raw_get(&key).await, Ok(Some(b"a".to_vec())));

        assert_eq!(store.release_lease(&name, "b").await, Ok(false), "only the holder releases it");
        assert_eq!(store.acquire_lease(&name, "b", minute).await, Ok(false));
        assert_eq!(store.release_lease(&name, "a").await, Ok(true));
        assert_eq!(store.acquire_lease(&name, "b", Duration::from_millis(300)).await, Ok(true), "free once released");

        // A holder that stops renewing loses the lease when its TTL passes.
        assert_eq!(store.acquire_lease(&name, "a", minute).await, Ok(false));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(store.acquire_lease(&name, "a", minute).await, Ok(true), "taken over after the TTL");
        assert!(store.acquire_lease(&name, "", minute).await.is_err(), "a lease needs a holder");
    })
    .await;
}

#[tokio::test]
async fn a_lazily_connected_store_works_once_its_server_comes_up() {
    within("the lazy connection test", async {
        let mut redis = OwnRedis::start();
        redis.kill();
        let store = RedisHotStore::connect_lazy(standalone_config(&redis.url(), "eu-west-1"))
            .await
            .expect("a server that is down is no error for connect_lazy");
        let Err(StoreError::Unavailable { backend, .. }) = store.ping().await else { panic!("answered while down") };
        assert_eq!(backend, "redis eu-west-1");
        assert!(
            RedisHotStore::connect(standalone_config(&redis.url(), "eu-west-1")).await.is_err(),
            "connect must fail"
        );

        redis.restart();
        let deadline = Instant::now() + Duration::from_secs(20);
        while store.ping().await.is_err() {
            assert!(Instant::now() < deadline, "not connected within 20 s of the server coming up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Scripts work (loaded in the background or on demand).
        let user = UserId::new("lazy-user").expect("user id");
        let now = Timestamp(1_700_000_000_000);
        let session = Session {
            id: hotcold_engine::conformance::test_id(7, 0),
            user_id: user,
            data: SessionData::from_stored(Bytes::from_static(br#"{"lazy":true}"#)),
            version: 1,
            created_at: now,
            last_access: now,
            persisted_version: 0,
            hot_region: None,
            activity: hotcold_engine::Activity::default(),
        };
        store.put(&session, Duration::from_secs(3600)).await.expect("put");
        let HotLookup::Hit(found) = store.get_and_touch(&session.id, now, Duration::from_secs(3600)).await else {
            panic!("the session put is not found")
        };
        assert_eq!(found.version, 1);
    })
    .await;
}
