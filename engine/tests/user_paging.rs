//! A user's sessions are listed, revoked and erased a page at a time (DESIGN: "everything is
//! bounded: ... pages of a listing"), on the in-memory stores: a user with 5,000 sessions spread
//! over three hot tiers and the cold tier is listed in pages of 500, each session exactly once,
//! and revoked with no store ever answering more than a page. The memory measure is the largest
//! answer of any store call (see `paging_support`), which reading the whole user at once, as
//! `sessions_of_user` does, makes thousands.

mod paging_support;

use std::sync::Arc;
use std::time::Duration;

use hotcold_engine::manager::REMOVAL_PAGE;
use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    Engine, EngineConfig, ManualClock, RegionId, SessionConfig, SessionData, SessionId, SessionManager, SyncService,
    Timestamp, UserId,
};
use paging_support::{Largest, Walk, largest_of};

type Hot = Largest<MemoryHotStore>;
type Cold = Largest<MemoryColdStore>;
type World = Engine<Hot, Cold, MemoryAudit, Arc<ManualClock>>;

/// Three regions over in-memory stores that record their largest user-query answer.
struct Setup {
    engine: Arc<World>,
    managers: Vec<SessionManager<Hot, Cold, MemoryAudit, Arc<ManualClock>>>,
    clock: Arc<ManualClock>,
}

impl Setup {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot = (0..3).map(|r| Largest::new(MemoryHotStore::new(format!("hot {r}")))).collect();
        let engine = Arc::new(
            Engine::new(
                SessionConfig::default(),
                EngineConfig::default(),
                hot,
                Largest::new(MemoryColdStore::new("cold")),
                MemoryAudit::counting(),
                Arc::clone(&clock),
            )
            .expect("valid engine"),
        );
        let managers =
            (0..3).map(|r| SessionManager::with_token_seed(Arc::clone(&engine), RegionId(r), u64::from(r))).collect();
        Self { engine, managers, clock }
    }

    /// Creates `count` sessions of `user`, round robin over the regions.
    fn create(&self, user: &UserId, count: usize) -> Vec<SessionId> {
        (0..count)
            .map(|n| {
                let manager = &self.managers[n % self.managers.len()];
                now_or_panic(manager.create(user.clone(), SessionData::opaque(2))).expect("create").session.id
            })
            .collect()
    }

    /// Lets every session go idle past the promotion threshold and demotes them in every region.
    fn demote_all(&self) -> u64 {
        self.clock.advance(self.engine.policy().promotion_threshold + Duration::from_secs(1));
        let sync = SyncService::new(Arc::clone(&self.engine));
        (0..3).map(|r| now_or_panic(sync.run_once(RegionId(r))).demoted).sum()
    }

    /// The largest user-query answer of any store since the last reset.
    fn largest(&self) -> usize {
        largest_of(self.engine.hot_stores().map(|(_, s)| s)).max(self.engine.cold().largest())
    }

    fn reset(&self) {
        self.engine.hot_stores().for_each(|(_, s)| s.reset());
        self.engine.cold().reset();
    }

    /// Every page of `user`'s sessions of size `limit`, read from region `region`.
    fn walk(&self, region: usize, user: &UserId, limit: usize) -> Walk {
        let mut walk = Walk::default();
        for _ in 0..10_000 {
            let page = now_or_panic(self.managers[region].sessions_of_user_page(user, walk.after(), limit));
            walk.take(page.expect("page"), limit);
            if walk.done() {
                return walk;
            }
        }
        panic!("the listing never ended");
    }
}

#[test]
fn five_thousand_sessions_are_listed_and_revoked_a_page_at_a_time() {
    let setup = Setup::new();
    let user = UserId::new("many-sessions").unwrap();
    let mut ids = setup.create(&user, 1_000);
    assert_eq!(setup.demote_all(), 1_000, "a thousand sessions demoted to the cold tier");
    ids.extend(setup.create(&user, 4_000));
    let others = setup.create(&UserId::new("someone-else").unwrap(), 30);

    setup.reset();
    let walk = setup.walk(1, &user, 500);
    walk.assert_listed_exactly(&ids);
    assert!(walk.ids.iter().all(|id| !others.contains(id)), "no other user's session");
    assert_eq!(walk.sizes, vec![500; 10], "ten full pages; the cursor of the tenth says there are no more");
    assert!(setup.largest() <= 500, "no store answered more than a page: {}", setup.largest());

    setup.reset();
    assert_eq!(now_or_panic(setup.managers[0].revoke_user(&user)), Ok(5_000), "every session revoked");
    assert!(
        setup.largest() <= REMOVAL_PAGE,
        "revoking held at most a page ({REMOVAL_PAGE}) from any store at once, not {}",
        setup.largest()
    );
    let after = now_or_panic(setup.managers[2].sessions_of_user_page(&user, None, 500)).expect("page");
    assert_eq!((after.sessions.len(), after.next), (0, None), "nothing left to list");
    assert_eq!(
        now_or_panic(setup.managers[2].sessions_of_user(&UserId::new("someone-else").unwrap())).unwrap().len(),
        30
    );

    // The measure itself: reading the whole user at once is what it catches.
    let user = UserId::new("read-whole").unwrap();
    setup.create(&user, 3_000);
    setup.reset();
    assert_eq!(now_or_panic(setup.managers[0].sessions_of_user(&user)).unwrap().len(), 3_000);
    assert!(setup.largest() >= 1_000, "a whole-user read answers a third of 3,000 from each hot tier");
}

#[test]
fn pages_are_filled_past_expired_records() {
    let setup = Setup::new();
    let user = UserId::new("mostly-expired").unwrap();
    // Nine: a page of two is then always filled within its rounds (each round uses up a page of
    // at least one store, and 9 + 5 records take at most 7 rounds of two).
    let expired = setup.create(&user, 9);
    assert_eq!(setup.demote_all(), 9);
    setup.clock.advance(setup.engine.policy().cold_ttl);
    let live = setup.create(&user, 5);

    let walk = setup.walk(0, &user, 2);
    walk.assert_listed_exactly(&live);
    assert_eq!(walk.sizes, vec![2, 2, 1], "full pages until the last, expired records skipped");

    // Revocation ends the live ones only; erasure then takes the expired records too.
    assert_eq!(now_or_panic(setup.managers[1].revoke_user(&user)), Ok(5));
    assert_eq!(now_or_panic(setup.managers[1].erase_user(&user)), Ok(expired.len() as u64));
    let walk = setup.walk(2, &user, 2);
    assert!(walk.ids.is_empty(), "nothing left");
}

#[test]
fn a_page_stays_bounded_past_thousands_of_filtered_records() {
    let setup = Setup::new();
    let user = UserId::new("long-gone").unwrap();
    setup.create(&user, 2_000);
    assert_eq!(setup.demote_all(), 2_000);
    setup.clock.advance(setup.engine.policy().cold_ttl);
    let live = setup.create(&user, 3);

    // Pages of 10 over 2,000 expired records: each page reads a bounded number of rounds, so
    // some pages come back short (even empty) with a cursor; the walk still lists the three live
    // sessions exactly once, and no store ever answers more than a page.
    setup.reset();
    let walk = setup.walk(0, &user, 10);
    walk.assert_listed_exactly(&live);
    assert!(walk.sizes.len() > 1, "more than one page: {:?}", walk.sizes);
    assert!(setup.largest() <= 10, "no store answered more than a page: {}", setup.largest());
}
