//! [`Engine`]: the stores, clock and configuration one deployment shares between its
//! [`crate::SessionManager`]s (one per serving region) and its [`crate::SyncService`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::AuditEvent;
use crate::config::{EngineConfig, SessionConfig};
use crate::error::ConfigError;
use crate::lifecycle::LifecyclePolicy;
use crate::residency::Residency;
use crate::session::{PseudonymKey, RegionId, UserId};
use crate::store::{AuditSink, ColdStore, HotStore};
use crate::time::Clock;

/// Everything the managers and the sync job of one deployment share.
#[derive(Debug)]
pub struct Engine<H, C, A, K> {
    session_config: SessionConfig,
    engine_config: EngineConfig,
    policy: LifecyclePolicy,
    hot: Vec<H>,
    cold: C,
    audit: A,
    clock: K,
    audit_failures: AtomicU64,
    pseudonym_key: PseudonymKey,
    /// Per region, until when (ms) its hot tier is taken to be down (see
    /// [`crate::failback::HOT_DOWN_BACKOFF`]).
    hot_down_until: Vec<AtomicU64>,
    residency: Residency,
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> Engine<H, C, A, K> {
    /// Builds an engine. `hot` holds one store per configured region, in the order of
    /// `session_config.hot_storage.regions`.
    pub fn new(
        session_config: SessionConfig,
        engine_config: EngineConfig,
        hot: Vec<H>,
        cold: C,
        audit: A,
        clock: K,
    ) -> Result<Self, ConfigError> {
        session_config.validate()?;
        engine_config.validate()?;
        if hot.len() != session_config.hot_storage.regions.len() {
            return Err(ConfigError::new(
                "session_config.hot_storage.regions",
                format!(
                    "{} regions are configured but {} hot stores were given",
                    session_config.hot_storage.regions.len(),
                    hot.len()
                ),
            ));
        }
        let policy = LifecyclePolicy::new(&session_config, &engine_config);
        let hot_down_until = hot.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(Self {
            session_config,
            engine_config,
            policy,
            hot,
            cold,
            audit,
            clock,
            audit_failures: AtomicU64::new(0),
            pseudonym_key: PseudonymKey::random(),
            hot_down_until,
            residency: Residency::unrestricted(),
        })
    }

    /// Keys erased users' pseudonyms with `key` (a deployment secret every instance shares, so a
    /// user gets one pseudonym whichever instance erases them). Default: a random key per engine,
    /// which nobody, this process included, can use to re-identify a pseudonym later.
    #[must_use]
    pub fn with_pseudonym_key(mut self, key: PseudonymKey) -> Self {
        self.pseudonym_key = key;
        self
    }

    /// Keeps restricted sessions in their allowed regions (see [`crate::residency`]). Default:
    /// unrestricted. The cold store and audit sink given to [`Self::new`] must route restricted
    /// sessions to their own tables ([`crate::residency::ResidentCold`],
    /// [`crate::residency::ResidentAudit`]) or, like the simulator's, keep them only in allowed
    /// replicas.
    #[must_use]
    pub fn with_residency(mut self, residency: Residency) -> Self {
        self.residency = residency;
        self
    }

    /// The residency rules in force.
    pub const fn residency(&self) -> &Residency {
        &self.residency
    }

    /// The pseudonym an erased user's audit records get.
    pub fn pseudonym(&self, user: &UserId) -> UserId {
        user.pseudonym(&self.pseudonym_key)
    }

    /// The ADR block in force.
    pub const fn session_config(&self) -> &SessionConfig {
        &self.session_config
    }

    /// The engine block in force.
    pub const fn engine_config(&self) -> &EngineConfig {
        &self.engine_config
    }

    /// The lifecycle policy derived from both blocks.
    pub const fn policy(&self) -> &LifecyclePolicy {
        &self.policy
    }

    /// The hot store of `region`.
    ///
    /// # Panics
    /// If `region` is not configured; ids come from tokens parsed against this configuration.
    pub fn hot(&self, region: RegionId) -> &H {
        &self.hot[region.index()]
    }

    /// Every hot store with its region.
    pub fn hot_stores(&self) -> impl Iterator<Item = (RegionId, &H)> {
        self.session_config.region_ids().zip(self.hot.iter())
    }

    /// The cold table.
    pub const fn cold(&self) -> &C {
        &self.cold
    }

    /// The audit trail.
    pub const fn audit(&self) -> &A {
        &self.audit
    }

    /// The clock.
    pub const fn clock(&self) -> &K {
        &self.clock
    }

    /// Audit records the sink refused since start. They do not fail the operation (sessions keep
    /// working when the audit backend hiccups). The production sink ([`crate::audit::trail::Trail`])
    /// refuses only what neither its log, its outbox nor its spill queue could take, and counts it
    /// too (`TrailCounts::failed`, the `hotcold_audit_events_total{outcome="failed"}` metric).
    pub fn audit_failures(&self) -> u64 {
        self.audit_failures.load(Ordering::Relaxed)
    }

    /// Until when (ms) `region`'s hot tier is taken to be down; `None` for an unknown region.
    pub(crate) fn hot_down_until(&self, region: RegionId) -> Option<&AtomicU64> {
        self.hot_down_until.get(region.index())
    }

    /// True if `region` is configured.
    pub fn has_region(&self, region: RegionId) -> bool {
        region.index() < self.hot.len()
    }

    /// Appends `event` to the audit trail; a failure is counted (see [`Self::audit_failures`]),
    /// never returned.
    pub(crate) async fn record(&self, event: AuditEvent) {
        if self.audit.append(event).await.is_err() {
            self.audit_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}
