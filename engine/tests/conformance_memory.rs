//! The store conformance suite against the in-memory stores.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::conformance::{self, Harness};
use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::residency::{ResidentAudit, ResidentCold};
use hotcold_engine::{ManualClock, RegionId, Residency, SessionConfig, Timestamp};

struct MemoryHarness {
    clock: Arc<ManualClock>,
    user_index: bool,
}

impl MemoryHarness {
    fn new(user_index: bool) -> Self {
        Self { clock: Arc::new(ManualClock::new(Timestamp(1_700_000_000_000))), user_index }
    }
}

impl Harness for MemoryHarness {
    type Hot = MemoryHotStore;
    type Cold = MemoryColdStore;
    type Audit = MemoryAudit;
    type Clock = Arc<ManualClock>;

    async fn hot(&self, region: u16) -> MemoryHotStore {
        let label = format!("memory hot {region}");
        if self.user_index { MemoryHotStore::new(label) } else { MemoryHotStore::without_user_index(label) }
    }

    async fn cold(&self) -> MemoryColdStore {
        if self.user_index {
            MemoryColdStore::new("memory cold")
        } else {
            MemoryColdStore::without_user_index("memory cold")
        }
    }

    async fn audit(&self) -> MemoryAudit {
        MemoryAudit::new()
    }

    fn clock(&self) -> Arc<ManualClock> {
        self.clock.clone()
    }

    async fn elapse(&self, by: Duration) {
        self.clock.advance(by);
    }
}

#[test]
fn memory_hot_store_conforms() {
    now_or_panic(conformance::run_hot_store_suite(&MemoryHarness::new(true)));
}

#[test]
fn memory_hot_store_without_user_index_conforms() {
    now_or_panic(conformance::run_hot_store_suite(&MemoryHarness::new(false)));
}

#[test]
fn memory_cold_store_conforms() {
    now_or_panic(conformance::run_cold_store_suite(&MemoryHarness::new(true)));
    now_or_panic(conformance::run_cold_store_suite(&MemoryHarness::new(false)));
}

#[test]
fn memory_audit_conforms() {
    now_or_panic(conformance::run_audit_suite(&MemoryHarness::new(true)));
}

#[test]
fn engine_conforms_on_memory_stores() {
    now_or_panic(conformance::run_engine_suite(&MemoryHarness::new(true)));
}

/// The cold table and audit trail split by residency (region 1's sessions in tables of their
/// own): the routing stores must keep every store contract, the user-wide pages merged across
/// tables included.
struct ResidentHarness {
    inner: MemoryHarness,
    residency: Residency,
}

impl ResidentHarness {
    fn new() -> Self {
        let config = SessionConfig::default();
        let rules =
            BTreeMap::from([(config.hot_storage.regions[1].clone(), vec![config.hot_storage.regions[1].clone()])]);
        Self {
            inner: MemoryHarness::new(true),
            residency: Residency::from_names(&config, &rules, "residency").expect("valid rules"),
        }
    }
}

impl Harness for ResidentHarness {
    type Hot = MemoryHotStore;
    type Cold = ResidentCold<MemoryColdStore>;
    type Audit = ResidentAudit<MemoryAudit>;
    type Clock = Arc<ManualClock>;

    async fn hot(&self, region: u16) -> MemoryHotStore {
        self.inner.hot(region).await
    }

    async fn cold(&self) -> ResidentCold<MemoryColdStore> {
        let tables = vec![(RegionId(1), MemoryColdStore::new("memory cold, region 1's"))];
        ResidentCold::new(self.residency.clone(), MemoryColdStore::new("memory cold, shared"), tables)
            .expect("a table per restricted home")
    }

    async fn audit(&self) -> ResidentAudit<MemoryAudit> {
        ResidentAudit::new(&self.residency, MemoryAudit::new(), vec![(RegionId(1), MemoryAudit::new())])
            .expect("a trail per restricted home")
    }

    fn clock(&self) -> Arc<ManualClock> {
        self.inner.clock()
    }

    async fn elapse(&self, by: Duration) {
        self.inner.elapse(by).await;
    }
}

#[test]
fn residency_routing_stores_conform() {
    let harness = ResidentHarness::new();
    now_or_panic(conformance::run_cold_store_suite(&harness));
    now_or_panic(conformance::run_audit_suite(&harness));
    now_or_panic(conformance::run_engine_suite(&harness));
}
