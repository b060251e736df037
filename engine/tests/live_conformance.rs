//! The store conformance suite, unchanged, against the real backends: Redis standalone +
//! DynamoDB Local, and Redis Cluster + DynamoDB Local. Needs the servers of
//! `scripts/services.sh start` (run `scripts/test.sh`).

#![cfg(all(feature = "redis", feature = "dynamodb", feature = "conformance"))]

mod live_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::backends::dynamodb::DynamoColdStore;
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::conformance::{self, Harness};
use hotcold_engine::residency::{ResidentAudit, ResidentCold};
use hotcold_engine::{RegionId, Residency, SessionConfig};
use live_support::{
    DynamoAudit, OffsetClock, cluster_store, dynamo_config, dynamo_stores, dynamodb_endpoint, redis_urls,
};

/// Where a harness puts its hot stores.
#[derive(Clone, Copy)]
enum Topology {
    /// One standalone server per region (HOTCOLD_REDIS_URLS).
    Standalone,
    /// Every region on the shared Redis Cluster, each with its own key prefix.
    Cluster,
}

struct LiveHarness {
    topology: Topology,
    clock: Arc<OffsetClock>,
}

impl LiveHarness {
    fn new(topology: Topology) -> Self {
        Self { topology, clock: live_support::shared_clock() }
    }
}

impl Harness for LiveHarness {
    type Hot = RedisHotStore;
    type Cold = DynamoColdStore;
    type Audit = DynamoAudit;
    type Clock = Arc<OffsetClock>;

    async fn hot(&self, region: u16) -> RedisHotStore {
        match self.topology {
            Topology::Standalone => {
                live_support::standalone_store(&redis_urls()[usize::from(region)], &format!("region {region}")).await
            }
            Topology::Cluster => cluster_store(&format!("cluster region {region}")).await,
        }
    }

    async fn cold(&self) -> DynamoColdStore {
        dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await.0
    }

    async fn audit(&self) -> DynamoAudit {
        dynamo_stores(dynamo_config(&dynamodb_endpoint()).await).await.1
    }

    fn clock(&self) -> Arc<OffsetClock> {
        self.clock.clone()
    }

    async fn elapse(&self, by: Duration) {
        // Redis expires keys on its own clock: wait for real.
        tokio::time::sleep(by).await;
    }
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), future).await.unwrap_or_else(|_| panic!("{what} took over 120 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_standalone_hot_store_conforms() {
    within("hot suite", conformance::run_hot_store_suite(&LiveHarness::new(Topology::Standalone))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_hot_store_conforms() {
    within("hot suite", conformance::run_hot_store_suite(&LiveHarness::new(Topology::Cluster))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_cold_store_conforms() {
    within("cold suite", conformance::run_cold_store_suite(&LiveHarness::new(Topology::Standalone))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_audit_conforms() {
    within("audit suite", conformance::run_audit_suite(&LiveHarness::new(Topology::Standalone))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_conforms_on_redis_standalone_and_dynamodb() {
    within("engine suite", conformance::run_engine_suite(&LiveHarness::new(Topology::Standalone))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_conforms_on_redis_cluster_and_dynamodb() {
    within("engine suite", conformance::run_engine_suite(&LiveHarness::new(Topology::Cluster))).await;
}

/// The cold table and audit trail split by residency, on DynamoDB Local: region 1's sessions in
/// tables of their own. The routing stores keep every contract over real tables (a user's pages
/// merged across two tables, batches split by table).
struct ResidentHarness {
    inner: LiveHarness,
    residency: Residency,
}

impl ResidentHarness {
    fn new() -> Self {
        let config = SessionConfig::default();
        let region_1 = config.hot_storage.regions[1].clone();
        let rules = BTreeMap::from([(region_1.clone(), vec![region_1])]);
        Self {
            inner: LiveHarness::new(Topology::Standalone),
            residency: Residency::from_names(&config, &rules, "residency").expect("valid rules"),
        }
    }
}

impl Harness for ResidentHarness {
    type Hot = RedisHotStore;
    type Cold = ResidentCold<DynamoColdStore>;
    type Audit = ResidentAudit<DynamoAudit>;
    type Clock = Arc<OffsetClock>;

    async fn hot(&self, region: u16) -> RedisHotStore {
        self.inner.hot(region).await
    }

    async fn cold(&self) -> ResidentCold<DynamoColdStore> {
        let shared = self.inner.cold().await;
        let own = self.inner.cold().await;
        ResidentCold::new(self.residency.clone(), shared, vec![(RegionId(1), own)])
            .expect("a table per restricted home")
    }

    async fn audit(&self) -> ResidentAudit<DynamoAudit> {
        let (shared, own) = (self.inner.audit().await, self.inner.audit().await);
        ResidentAudit::new(&self.residency, shared, vec![(RegionId(1), own)]).expect("a trail per restricted home")
    }

    fn clock(&self) -> Arc<OffsetClock> {
        self.inner.clock()
    }

    async fn elapse(&self, by: Duration) {
        self.inner.elapse(by).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residency_routing_stores_conform_on_dynamodb() {
    let harness = ResidentHarness::new();
    within("cold suite", conformance::run_cold_store_suite(&harness)).await;
    within("audit suite", conformance::run_audit_suite(&harness)).await;
    within("engine suite", conformance::run_engine_suite(&harness)).await;
}
