//! The three-region world of the residency tests (`residency.rs`, `residency_property.rs`):
//! eu-west-1's sessions restricted to a list of regions, each store scannable, and a witness of
//! every cold call's replica.

#![allow(dead_code)] // each test binary uses its part

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::residency::{ResidentAudit, ResidentCold};
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, Durability, Engine, EngineConfig, ManualClock, RegionId, Residency, Session,
    SessionConfig, SessionData, SessionId, SessionManager, StoreError, SyncService, Timestamp, UserId,
};

pub(crate) const US: RegionId = RegionId(0);
pub(crate) const EU: RegionId = RegionId(1);
pub(crate) const EU_CENTRAL: RegionId = RegionId(2);

/// Every region a session-specific cold call named, with the session's home: what the manager
/// asked of the cold tier, before any routing.
#[derive(Debug)]
pub(crate) struct Witness<C> {
    pub(crate) inner: C,
    pub(crate) calls: Mutex<Vec<(RegionId, RegionId)>>,
}

impl<C> Witness<C> {
    fn note(&self, id: &SessionId, region: RegionId) {
        self.calls.lock().unwrap().push((id.home(), region));
    }
}

impl<C: ColdStore> ColdStore for Witness<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        self.note(id, reader);
        self.inner.get(id, reader).await
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.note(&session.id, writer);
        self.inner.put(session, writer, now).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        for session in sessions {
            self.note(&session.id, writer);
        }
        self.inner.put_batch(sessions, writer, now).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.note(id, writer);
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

pub(crate) type Cold = Arc<Witness<ResidentCold<Arc<MemoryColdStore>>>>;
pub(crate) type Audit = Arc<ResidentAudit<Arc<MemoryAudit>>>;
pub(crate) type Manager = SessionManager<Arc<MemoryHotStore>, Cold, Audit, Arc<ManualClock>>;

/// Three regions (us-east-1, eu-west-1, eu-central-1); eu-west-1's sessions may be stored only
/// in the regions given.
pub(crate) struct World {
    pub(crate) residency: Residency,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) hot: Vec<Arc<MemoryHotStore>>,
    pub(crate) cold: Cold,
    pub(crate) shared_table: Arc<MemoryColdStore>,
    pub(crate) eu_table: Arc<MemoryColdStore>,
    pub(crate) shared_trail: Arc<MemoryAudit>,
    pub(crate) eu_trail: Arc<MemoryAudit>,
    pub(crate) managers: Vec<Manager>,
    pub(crate) sync: SyncService<Arc<MemoryHotStore>, Cold, Audit, Arc<ManualClock>>,
}

impl World {
    pub(crate) fn new(eu_allowed: &[&str], durability: Durability) -> Self {
        let mut config = SessionConfig::default();
        config.hot_storage.regions = vec!["us-east-1".into(), "eu-west-1".into(), "eu-central-1".into()];
        let rules = BTreeMap::from([("eu-west-1".to_string(), eu_allowed.iter().map(|r| (*r).to_string()).collect())]);
        let residency = Residency::from_names(&config, &rules, "residency").expect("valid rules");
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        let hot: Vec<_> = (0..3).map(|r| Arc::new(MemoryHotStore::new(format!("hot {r}")))).collect();
        let shared_table = Arc::new(MemoryColdStore::new("shared table"));
        let eu_table = Arc::new(MemoryColdStore::new("eu table"));
        let routed = ResidentCold::new(residency.clone(), shared_table.clone(), vec![(EU, eu_table.clone())])
            .expect("a table per restricted home");
        let cold = Arc::new(Witness { inner: routed, calls: Mutex::new(Vec::new()) });
        let shared_trail = Arc::new(MemoryAudit::new());
        let eu_trail = Arc::new(MemoryAudit::new());
        let audit = Arc::new(
            ResidentAudit::new(&residency, shared_trail.clone(), vec![(EU, eu_trail.clone())]).expect("a trail"),
        );
        let engine_config = EngineConfig { durability, ..EngineConfig::default() };
        let engine = Arc::new(
            Engine::new(config, engine_config, hot.clone(), cold.clone(), audit, clock.clone())
                .expect("valid engine")
                .with_residency(residency.clone()),
        );
        let managers =
            (0..3).map(|r| SessionManager::with_token_seed(engine.clone(), RegionId(r), 7 + u64::from(r))).collect();
        Self {
            residency,
            clock,
            hot,
            cold,
            shared_table,
            eu_table,
            shared_trail,
            eu_trail,
            managers,
            sync: SyncService::new(engine),
        }
    }

    pub(crate) fn at(&self, region: RegionId) -> &Manager {
        &self.managers[region.index()]
    }

    /// Every store outside eu-west-1's allowed regions, scanned: none may hold anything of an
    /// eu-west-1 session (no copy, no tombstone, no record, no audit event), and every cold call
    /// about one went through an allowed replica.
    pub(crate) fn assert_nothing_outside(&self) {
        for (region, store) in self.hot.iter().enumerate() {
            let region = RegionId(u16::try_from(region).unwrap());
            if self.residency.allows(EU, region) {
                continue;
            }
            let held: Vec<_> = store.snapshot().into_iter().filter(|s| s.id.home() == EU).collect();
            assert!(held.is_empty(), "region {region:?}'s Redis holds eu-west-1 sessions: {held:?}");
        }
        assert!(
            self.shared_table.snapshot().iter().all(|s| s.id.home() != EU),
            "the shared (every-region) table holds an eu-west-1 session"
        );
        assert!(
            self.shared_trail.events().iter().all(|e| e.session.home() != EU),
            "the shared audit trail holds an eu-west-1 session's record"
        );
        let calls = self.cold.calls.lock().unwrap();
        let outside: Vec<_> = calls.iter().filter(|(home, region)| !self.residency.allows(*home, *region)).collect();
        assert!(outside.is_empty(), "cold calls through a replica outside the allowed set: {outside:?}");
    }
}

pub(crate) fn user(name: &str) -> UserId {
    UserId::new(name).expect("user id")
}

pub(crate) fn data(step: u64) -> SessionData {
    SessionData::from_json(&serde_json::json!({ "step": step }), 1024).expect("data")
}
