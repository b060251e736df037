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

/// The suite skips per-user checks here (compact stores), but the engine still pages a user's
/// sessions through these stores: the simulator's one user gets its records in id order, each
/// once across pages, tombstones left out; any other user gets nothing.
#[test]
fn sim_stores_page_their_one_user_in_id_order() {
    use hotcold_engine::{Clock, ColdStore, HotStore, RegionId, Session, SessionData, SessionId, UserId};

    let harness = SimHarness::new(false);
    let hot = now_or_panic(harness.hot(0));
    let cold = now_or_panic(harness.cold());
    let user = UserId::new("simulated-user").unwrap();
    let now = harness.clock().now();
    let sessions: Vec<Session> = (0..20)
        .map(|n| Session {
            id: conformance::test_id(n, (n % 3) as u16),
            user_id: user.clone(),
            data: SessionData::opaque(10),
            version: 1,
            created_at: now,
            last_access: now,
            persisted_version: 1,
            hot_region: None,
            activity: hotcold_engine::Activity::default(),
        })
        .collect();
    for s in &sessions {
        now_or_panic(hot.put(s, Duration::from_secs(3600))).expect("hot put");
        now_or_panic(cold.put(s, RegionId(0), now)).expect("cold put");
    }
    let ended = sessions[5].id;
    now_or_panic(hot.put(&Session::tombstone(ended, now), Duration::from_secs(3600))).expect("hot tombstone");
    now_or_panic(cold.put(&Session::tombstone(ended, now), RegionId(0), now)).expect("cold tombstone");
    let mut expected: Vec<SessionId> = sessions.iter().map(|s| s.id).filter(|id| *id != ended).collect();
    expected.sort();

    let mut hot_listed: Vec<SessionId> = Vec::new();
    let mut cold_listed: Vec<SessionId> = Vec::new();
    for (listed, from_hot) in [(&mut hot_listed, true), (&mut cold_listed, false)] {
        let mut after: Option<SessionId> = None;
        loop {
            let page = if from_hot {
                now_or_panic(hot.sessions_of_user_page(&user, after.as_ref(), 6))
            } else {
                now_or_panic(cold.sessions_of_user_page(&user, after.as_ref(), 6, RegionId(0)))
            };
            let page = page.expect("page");
            assert!(page.len() <= 6, "at most the limit");
            listed.extend(page.iter().map(|s| s.id));
            if page.len() < 6 {
                break;
            }
            after = page.last().map(|s| s.id);
        }
    }
    assert_eq!(hot_listed, expected, "hot: every live session once, in id order");
    assert_eq!(cold_listed, expected, "cold: every record once, in id order");
    let stranger = UserId::new("someone-else").unwrap();
    assert!(now_or_panic(hot.sessions_of_user_page(&stranger, None, 6)).unwrap().is_empty());
    assert!(now_or_panic(cold.sessions_of_user_page(&stranger, None, 6, RegionId(0))).unwrap().is_empty());
}
