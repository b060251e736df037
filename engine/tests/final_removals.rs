//! Removals are final (CONTRACT section 5): a session removed by logout, revoke or erase is never
//! served again, whatever was in flight when it was removed. Each race is forced, not hoped for:
//! a wrapper around the cold store runs the removal at the exact moment another operation is
//! between its read and its write:
//!
//! - a demotion pass that read the session, removed before it writes the cold tier;
//! - a lookup that read the cold record, removed before it promotes it;
//! - a write-through update that changed the hot copy, removed before it writes the cold tier.
//!
//! Every race runs for each removal (logout, revoke, erase) on the in-memory stores and on the
//! real servers (three standalone Redis, DynamoDB Local; run with `scripts/test.sh`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    AuditSink, Clock, ColdLookup, ColdStore, ColdWrite, Durability, Engine, EngineConfig, HotStore, Lookup,
    ManualClock, RegionId, Session, SessionConfig, SessionData, SessionId, SessionManager, StoreError, SyncService,
    Timestamp, UserId,
};

/// Work a paused call runs before it goes on.
type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One armed hook, fired (once) by the next call that reaches it.
#[derive(Default)]
struct Slot(Mutex<Option<Hook>>);

impl Slot {
    fn arm(&self, hook: Hook) {
        *self.0.lock().unwrap() = Some(hook);
    }

    async fn fire(&self) {
        let hook = self.0.lock().unwrap().take();
        if let Some(hook) = hook {
            hook().await;
        }
    }

    fn fired(&self) -> bool {
        self.0.lock().unwrap().is_none()
    }
}

/// A cold store that can pause a call at the moment a race needs.
struct Paused<C> {
    inner: C,
    /// Runs after a `get` read the record, before the caller sees it.
    after_get: Slot,
    /// Runs before a single `put` writes.
    before_put: Slot,
    /// Runs before a `put_batch` (the sync job's write) writes.
    before_put_batch: Slot,
}

impl<C> Paused<C> {
    fn new(inner: C) -> Self {
        Self { inner, after_get: Slot::default(), before_put: Slot::default(), before_put_batch: Slot::default() }
    }
}

impl<C: ColdStore> ColdStore for Paused<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        let found = self.inner.get(id, reader).await;
        self.after_get.fire().await;
        found
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.before_put.fire().await;
        self.inner.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        self.before_put_batch.fire().await;
        self.inner.put_batch(sessions, writer, now).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.inner.delete(id, writer, now).await
    }
    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user(user, reader).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user_page(user, after, limit, reader).await
    }
    hotcold_engine::forward_expiry_sweep!(inner);
}

/// How the session is removed.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Logout,
    Revoke,
    Erase,
}

const REMOVALS: [Removal; 3] = [Removal::Logout, Removal::Revoke, Removal::Erase];

/// Where the race is forced.
#[derive(Debug, Clone, Copy)]
enum Race {
    /// A demotion pass read the session; removed before its cold write.
    DemotionWrite,
    /// A lookup read the cold record; removed before it promotes it.
    Promotion,
    /// A write-through update changed the hot copy; removed before its cold write.
    WriteThrough,
}

const RACES: [Race; 3] = [Race::DemotionWrite, Race::Promotion, Race::WriteThrough];

/// One deployment under test: its engine over a pausable cold store, and how time passes.
struct World<H, C, A, K> {
    engine: Arc<Engine<H, Paused<C>, A, K>>,
    manager: Arc<SessionManager<H, Paused<C>, A, K>>,
    advance: Box<dyn Fn(Duration) + Send + Sync>,
}

impl<H, C, A, K> World<H, C, A, K>
where
    H: HotStore + 'static,
    C: ColdStore + 'static,
    A: AuditSink + 'static,
    K: Clock + 'static,
{
    fn new(
        hot: Vec<H>,
        cold: C,
        audit: A,
        clock: K,
        durability: Durability,
        advance: Box<dyn Fn(Duration) + Send + Sync>,
    ) -> Self {
        let mut session_config = SessionConfig::default();
        session_config.hot_storage.regions.truncate(hot.len());
        let engine_config = EngineConfig { durability, ..EngineConfig::default() };
        let engine =
            Arc::new(Engine::new(session_config, engine_config, hot, Paused::new(cold), audit, clock).expect("engine"));
        // Tokens from the OS-seeded CSPRNG: worlds share the live tables, so ids must never repeat.
        let manager = Arc::new(SessionManager::new(Arc::clone(&engine), RegionId(0)));
        Self { engine, manager, advance }
    }

    fn cold(&self) -> &Paused<C> {
        self.engine.cold()
    }

    /// A hook that removes `id` (of `user`) the way `removal` does, and checks it was there.
    fn removal_hook(&self, race: Race, removal: Removal, id: SessionId, user: UserId) -> Hook {
        let manager = Arc::clone(&self.manager);
        Box::new(move || {
            Box::pin(async move {
                let removed = match removal {
                    Removal::Logout => manager.logout(&id).await.map(u64::from),
                    Removal::Revoke => manager.revoke_user(&user).await,
                    Removal::Erase => manager.erase_user(&user).await,
                };
                assert_eq!(removed, Ok(1), "{removal:?} in the middle of {race:?} removes the session");
            })
        })
    }

    /// Past the promotion threshold, then a demotion pass and a write-behind pass.
    async fn let_sync_run(&self) {
        (self.advance)(self.engine.policy().promotion_threshold + Duration::from_secs(1));
        let sync = SyncService::new(Arc::clone(&self.engine));
        let demoted = sync.run_once(RegionId(0)).await;
        assert_eq!(demoted.error, None, "demotion pass");
        let flushed = sync.flush_dirty(RegionId(0)).await;
        assert_eq!(flushed.error, None, "write-behind pass");
    }

    /// Forces `race` with `removal` and checks the session never comes back.
    async fn run(&self, race: Race, removal: Removal) {
        let what = format!("{race:?} raced by {removal:?}");
        let user = UserId::new(&format!("racer-{race:?}-{removal:?}")).unwrap();
        let data = SessionData::from_json(&serde_json::json!({"cart": [1, 2]}), 1 << 16).unwrap();
        let id = self.manager.create(user.clone(), data.clone()).await.expect("create").session.id;
        let hook = self.removal_hook(race, removal, id, user.clone());
        match race {
            Race::DemotionWrite => {
                (self.advance)(self.engine.policy().promotion_threshold + Duration::from_secs(1));
                self.cold().before_put_batch.arm(hook);
                let report = SyncService::new(Arc::clone(&self.engine)).run_once(RegionId(0)).await;
                assert!(self.cold().before_put_batch.fired(), "{what}: the pass wrote a batch");
                assert_eq!(report.error, None, "{what}: the pass");
                assert_eq!(report.demoted, 0, "{what}: nothing demoted, the session was removed under the pass");
            }
            Race::Promotion => {
                self.let_sync_run().await;
                self.cold().after_get.arm(hook);
                let lookup = self.manager.get(&id).await;
                assert!(self.cold().after_get.fired(), "{what}: the lookup read the cold tier");
                assert_eq!(lookup, Lookup::Miss, "{what}: the racing lookup does not serve the removed session");
            }
            Race::WriteThrough => {
                self.cold().before_put.arm(hook);
                // Acknowledged or not, the update was overtaken by the removal.
                let _ = self.manager.update(&id, data.clone(), 1).await;
                assert!(self.cold().before_put.fired(), "{what}: the update wrote through");
            }
        }
        assert_eq!(self.manager.get(&id).await, Lookup::Miss, "{what}: gone right after");
        self.let_sync_run().await;
        assert_eq!(self.manager.get(&id).await, Lookup::Miss, "{what}: still gone after the sync job ran");
        match self.cold().inner.get(&id, RegionId(0)).await {
            ColdLookup::Found(record) => assert!(record.is_tombstone(), "{what}: the cold tier holds a tombstone"),
            other => panic!("{what}: the cold tier holds the tombstone, got {other:?}"),
        }
        let listed = self.manager.sessions_of_user(&user).await.expect("list");
        assert!(listed.is_empty(), "{what}: the user has no session left, got {}", listed.len());
    }
}

fn memory_world(durability: Durability) -> World<Arc<MemoryHotStore>, MemoryColdStore, MemoryAudit, Arc<ManualClock>> {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
    // The in-memory hot stores expire by their own notion of now: keep it the engine's.
    // (A touch of an id no session has tells a store the time.)
    let stores = hot.clone();
    let ticking = Arc::clone(&clock);
    let advance = Box::new(move |by: Duration| {
        ticking.advance(by);
        let probe = SessionId::from_parts([0xA5; 16], RegionId(0));
        for store in &stores {
            let _ = now_or_panic(store.touch(&probe, ticking.now(), Duration::from_secs(1)));
        }
    });
    World::new(hot, MemoryColdStore::new("cold"), MemoryAudit::new(), Arc::clone(&clock), durability, advance)
}

fn durability_for(race: Race) -> Durability {
    match race {
        Race::WriteThrough => Durability::WriteThrough,
        Race::DemotionWrite | Race::Promotion => Durability::OnDemotion,
    }
}

#[test]
fn no_removal_is_undone_by_a_racing_operation_in_memory() {
    for race in RACES {
        for removal in REMOVALS {
            let world = memory_world(durability_for(race));
            now_or_panic(world.run(race, removal));
        }
    }
}

#[cfg(all(feature = "redis", feature = "dynamodb"))]
mod live_support;

#[cfg(all(feature = "redis", feature = "dynamodb"))]
mod live {
    use hotcold_engine::backends::dynamodb::DynamoColdStore;

    use super::*;
    use crate::live_support::{dynamo_config, dynamodb_endpoint, redis_urls, shared_clock, standalone_store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_removal_is_undone_by_a_racing_operation_on_the_real_servers() {
        let config = dynamo_config(&dynamodb_endpoint()).await;
        DynamoColdStore::connect(config.clone(), true).await.expect("DynamoDB tables");
        for race in RACES {
            for removal in REMOVALS {
                let urls = redis_urls();
                let mut hot = Vec::new();
                for (region, url) in urls.iter().enumerate() {
                    hot.push(standalone_store(url, &format!("region {region}")).await);
                }
                let cold = DynamoColdStore::connect(config.clone(), false).await.expect("DynamoDB client");
                let clock = shared_clock();
                let ticking = Arc::clone(&clock);
                let advance = Box::new(move |by: Duration| ticking.advance(by));
                let world = World::new(hot, cold, MemoryAudit::new(), clock, durability_for(race), advance);
                world.run(race, removal).await;
            }
        }
    }
}
