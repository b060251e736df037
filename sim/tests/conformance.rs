//! The engine's store conformance suite against the simulator's stores.
//!
//! The simulated stores are compact by design (payload sizes only, one user id for every session,
//! an audit trail of counts), so the harness declares [`Fidelity::Compact`]: the suite compares
//! payload lengths instead of bytes and skips the per-user and audit-content checks; every other
//! check runs as for the in-memory stores.

use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::Timestamp;
use hotcold_engine::conformance::{self, Fidelity, Harness};
use hotcold_engine::ready::now_or_panic;
use hotcold_sim::stores::{SimAudit, SimClock, SimColdStore, SimHotStore, StoreContext};

/// Regions the suite uses (hot stores 0, 1 and 2).
const REGIONS: usize = 3;

struct SimHarness {
    clock: Arc<SimClock>,
    context: Arc<StoreContext>,
    track_dirty: bool,
}

impl SimHarness {
    /// A fresh store context; `track_dirty` keeps the hot tiers' write-behind work list (the
    /// simulator turns it on for every durability but `OnDemotion`).
    fn new(track_dirty: bool) -> Self {
        let clock = Arc::new(SimClock::new(Timestamp(1_700_000_000_000)));
        let rtt_us = (0..REGIONS * REGIONS).map(|i| if i % (REGIONS + 1) == 0 { 0 } else { 70_000 }).collect();
        let context = Arc::new(StoreContext::new(Arc::clone(&clock), REGIONS, rtt_us, 7));
        Self { clock, context, track_dirty }
    }
}

impl Harness for SimHarness {
    type Hot = SimHotStore;
    type Cold = SimColdStore;
    type Audit = SimAudit;
    type Clock = Arc<SimClock>;

    async fn hot(&self, region: u16) -> SimHotStore {
        SimHotStore::new(usize::from(region), Arc::clone(&self.context), 120, self.track_dirty)
    }

    async fn cold(&self) -> SimColdStore {
        // No cross-region replication delay: the suite expects a write to be visible everywhere.
        SimColdStore::new(Arc::clone(&self.context), 100, Duration::ZERO)
    }

    async fn audit(&self) -> SimAudit {
        SimAudit::new(REGIONS)
    }

    fn clock(&self) -> Arc<SimClock> {
        Arc::clone(&self.clock)
    }

    async fn elapse(&self, by: Duration) {
        self.clock.advance(by);
    }

    fn fidelity(&self) -> Fidelity {
        Fidelity::Compact
    }
}

/// The hot-store suite checks dirty tracking, so it runs with the write-behind work list kept.
#[test]
fn sim_hot_store_conforms() {
    now_or_panic(conformance::run_hot_store_suite(&SimHarness::new(true)));
}

#[test]
fn sim_cold_store_conforms() {
    now_or_panic(conformance::run_cold_store_suite(&SimHarness::new(true)));
}

#[test]
fn sim_audit_conforms() {
    now_or_panic(conformance::run_audit_suite(&SimHarness::new(true)));
}

#[test]
fn engine_conforms_on_sim_stores() {
    now_or_panic(conformance::run_engine_suite(&SimHarness::new(true)));
}

/// As the simulator runs with `Durability::OnDemotion`: no write-behind work list.
#[test]
fn engine_conforms_on_sim_stores_without_dirty_tracking() {
    now_or_panic(conformance::run_engine_suite(&SimHarness::new(false)));
}
