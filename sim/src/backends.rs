//! [`Backends`]: one shard's engine and simulated stores, on one simulated clock.

use std::sync::Arc;

use hotcold_engine::Clock as _;
use hotcold_engine::{Durability, Engine, RegionId, SessionManager, SyncSchedule, SyncService, Timestamp};
use hotcold_model::rng::{Stream, StreamRng, splitmix};
use hotcold_model::scenario::Scenario;
use hotcold_model::units::FastSampler;

use crate::run::SimError;
use crate::stores::{SimAudit, SimClock, SimColdStore, SimHotStore, StoreContext};

/// Simulated time zero: 2026-01-05T00:00:00Z (a Monday), in ms since the epoch.
const EPOCH_MS: u64 = 1_767_571_200_000;

/// Mixed into a shard's seed to seed each region's token generator.
const TOKEN_SEED_SALT: u64 = 0x70_6B_65_6E;

pub(crate) type Hot = Arc<SimHotStore>;
pub(crate) type Cold = Arc<SimColdStore>;
pub(crate) type Audit = Arc<SimAudit>;
pub(crate) type Clock = Arc<SimClock>;
pub(crate) type Manager = SessionManager<Hot, Cold, Audit, Clock>;

/// The engine of every region (a [`SessionManager`] each, and the sync job) over the simulated
/// stores, the clock they all read, and the latency model of the backends' calls.
pub(crate) struct Backends {
    /// Simulated time, which only the event loop moves.
    pub(crate) clock: Clock,
    /// What the stores share: who is calling, the meter of the current operation, the ledgers.
    pub(crate) context: Arc<StoreContext>,
    /// Each region's Redis tier.
    pub(crate) hot: Vec<Hot>,
    /// The DynamoDB tables: the global table, and with residency each restricted home's table
    /// (replicas only in its allowed regions), metered per home.
    pub(crate) cold: Cold,
    /// The audit trail (counts only).
    pub(crate) audit: Audit,
    /// Each region's session manager.
    pub(crate) managers: Vec<Manager>,
    /// The sync job of every region.
    pub(crate) sync: SyncService<Hot, Cold, Audit, Clock>,
    /// When each region's sync passes are due.
    pub(crate) schedule: SyncSchedule,
    /// Latency samplers of the calls an operation made.
    latency: BackendLatency,
}

/// Latency samplers of the simulated backends, and their random stream.
struct BackendLatency {
    redis: FastSampler,
    dynamo: FastSampler,
    rng: StreamRng,
}

impl Backends {
    /// The backends of `scenario`'s regions, with randomness from `seed`; the audit trail keeps
    /// the analytics table's summaries when `analytics`.
    pub(crate) fn new(scenario: &Scenario, seed: u64, analytics: bool) -> Result<Self, SimError> {
        let names = &scenario.session_config.hot_storage.regions;
        let regions = names.len();
        let clock: Clock = Arc::new(SimClock::new(Timestamp(EPOCH_MS)));
        let mut rtt_us = vec![0u64; regions * regions];
        for (a, name_a) in names.iter().enumerate() {
            for (b, name_b) in names.iter().enumerate() {
                rtt_us[a * regions + b] = (scenario.rtt_ms(name_a, name_b) * 1000.0).round() as u64;
            }
        }
        let residency = scenario.residency_rules()?;
        let context =
            Arc::new(StoreContext::new(Arc::clone(&clock), regions, rtt_us, seed).with_residency(residency.clone()));
        let track_dirty = scenario.engine.durability != Durability::OnDemotion;
        let overhead = scenario.costs.redis.bytes_overhead_per_session;
        let hot: Vec<Hot> =
            (0..regions).map(|r| Arc::new(SimHotStore::new(r, Arc::clone(&context), overhead, track_dirty))).collect();
        let cold = Arc::new(SimColdStore::new(
            Arc::clone(&context),
            scenario.costs.dynamodb.item_overhead_bytes,
            scenario.session_config.sync.cross_region_delay,
        ));
        let audit = SimAudit::resident(Arc::clone(&context), scenario.costs.dynamodb.audit_replicated);
        let audit = Arc::new(if analytics {
            // Visits are split where the engine splits them: the promotion threshold.
            let threshold = scenario.session_config.hot_storage.promotion_threshold;
            audit.with_analytics(u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX))
        } else {
            audit
        });
        let engine = Arc::new(
            Engine::new(
                scenario.session_config.clone(),
                scenario.engine.clone(),
                hot.clone(),
                Arc::clone(&cold),
                Arc::clone(&audit),
                Arc::clone(&clock),
            )?
            .with_residency(residency),
        );
        let managers = (0..regions)
            .map(|r| {
                let id = RegionId(u16::try_from(r).unwrap_or(u16::MAX));
                let token_seed = splitmix(seed ^ (TOKEN_SEED_SALT + r as u64));
                SessionManager::with_token_seed(Arc::clone(&engine), id, token_seed)
            })
            .collect();
        let sync = SyncService::new(Arc::clone(&engine));
        let schedule = sync.schedule();
        let latency = BackendLatency {
            redis: scenario.latency.redis.fast_sampler(),
            dynamo: scenario.latency.dynamodb.fast_sampler(),
            rng: Stream::Latency.rng(seed),
        };
        Ok(Self { clock, context, hot, cold, audit, managers, sync, schedule, latency })
    }

    /// The moment `t` ms from the start.
    #[inline]
    pub(crate) const fn timestamp(t: u64) -> Timestamp {
        Timestamp(EPOCH_MS + t)
    }

    /// Moves simulated time to `t` ms from the start.
    #[inline]
    pub(crate) fn set_time(&self, t: u64) {
        self.clock.set(Self::timestamp(t));
    }

    /// Simulated time, ms from the start.
    pub(crate) fn time(&self) -> u64 {
        self.clock.now().0 - EPOCH_MS
    }

    /// Samples the latency of the calls metered since the last drain, microseconds (at least 1).
    /// Saturating: a heavy-tailed latency distribution can draw any value, infinity included.
    #[inline]
    pub(crate) fn drain_latency_us(&mut self) -> u64 {
        let meter = self.context.meter();
        let redis = meter.redis_calls.take();
        let dynamo = meter.dynamo_calls.take();
        let fixed = meter.rtt_us.take().saturating_add(meter.throttle_us.take());
        let sampling = &mut self.latency;
        let mut seconds = 0.0;
        for _ in 0..redis {
            seconds += sampling.redis.sample(&mut sampling.rng);
        }
        for _ in 0..dynamo {
            seconds += sampling.dynamo.sample(&mut sampling.rng);
        }
        ((seconds * 1e6) as u64).saturating_add(fixed).max(1)
    }
}
