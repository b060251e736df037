//! The complete `summary.json` of CONTRACT section 3: the simulator's figures plus Redis nodes,
//! steady-state storage, monthly cost, the Redis-only baseline and the SLO verdicts.

use std::collections::BTreeMap;

use hotcold_model::RunRecord;
use hotcold_model::record::{
    FailoverSummary, HotCold, LatencySummary, ResidencySummary, RunSummary, SessionCounts, Summary, round3, round6,
};
use serde::{Deserialize, Serialize};

use crate::cost::{CostModel, cost_model};
use crate::options::RedisOption;

/// `summary.json`, complete, in CONTRACT order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FullSummary {
    pub scenario: String,
    pub seed: u64,
    pub sample: f64,
    pub simulated_seconds: f64,
    pub requests: u64,
    pub events: u64,
    pub sessions: SessionCounts,
    /// Cold promotions per 1,000 requests after warmup.
    #[serde(default)]
    pub promotions_per_1k_requests: f64,
    pub hot_cold: HotCold,
    pub latency_ms: LatencySummary,
    pub redis: RedisOut,
    pub dynamodb: DynamoOut,
    pub cost_usd_month: CostOut,
    /// USD per 1,000 sessions created, overall and per region.
    #[serde(default)]
    pub unit_costs: UnitCostsOut,
    /// Data residency: the rules, violations, each home region's exposure and what its users
    /// got (CONTRACT section 3).
    #[serde(default)]
    pub residency: ResidencySummary,
    pub baseline_redis_only: BaselineOut,
    /// The Redis tier on every node type of the catalogue and on ElastiCache Serverless, for the
    /// hybrid and the Redis-only baseline.
    #[serde(default)]
    pub redis_options: RedisOptionsOut,
    /// The monthly cost at +3, +6 and +12 months of `traffic.growth_per_month`.
    #[serde(default)]
    pub growth: GrowthOut,
    /// The rollout from the Redis-only store, week by week (only for a scenario with a
    /// `migration:` block; see [`crate::migration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<crate::migration::MigrationOut>,
    pub failover: FailoverSummary,
    pub availability: f64,
    pub slo: Vec<SloResult>,
    /// Whether every SLO passes.
    pub slo_pass: bool,
    /// How the monthly figures were obtained (measured, or projected to steady state).
    pub steady_state: SteadyOut,
    /// Fields the simulator writes that this crate does not know of (kept as they are).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub run: RunSummary,
}

/// `redis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedisOut {
    /// Peak bytes per region (scaled by 1/sample).
    pub peak_bytes: BTreeMap<String, u64>,
    /// Nodes per region (replicas included).
    pub nodes: BTreeMap<String, u64>,
}

/// `dynamodb`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamoOut {
    /// Write request units over the whole run (scaled).
    pub wru: u64,
    /// Read request units over the whole run (scaled).
    pub rru: u64,
    /// Write units paid again in the other regions (scaled).
    pub replicated_wru: u64,
    /// Steady-state average stored bytes (one copy of the table).
    pub avg_stored_bytes: f64,
    /// As measured in the run.
    pub measured: MeasuredStored,
}

/// `dynamodb.measured`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasuredStored {
    /// Time average after warmup of stored bytes (scaled).
    pub avg_stored_bytes: f64,
}

/// `cost_usd_month`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CostOut {
    pub redis: f64,
    pub dynamodb: f64,
    pub sync: f64,
    pub transfer: f64,
    /// The audit table (writes, replicated writes, storage).
    #[serde(default)]
    pub audit: f64,
    /// The analytics table (writes, storage).
    #[serde(default)]
    pub analytics: f64,
    /// Total − audit − analytics: what the Redis-only baseline is compared with.
    #[serde(default)]
    pub session_storage: f64,
    pub total: f64,
    /// 1 − session_storage / Redis-only total.
    pub saving_vs_redis_only: f64,
}

/// `unit_costs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UnitCostsOut {
    /// Total USD per month / sessions created per month × 1000.
    pub usd_per_1k_sessions_created: f64,
    /// Sessions created per month, all regions.
    pub sessions_created_per_month: f64,
    /// Per region: its cost rows over the sessions homed there.
    pub by_region: BTreeMap<String, RegionUnitCostOut>,
}

/// `unit_costs.by_region.<region>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegionUnitCostOut {
    /// The region's USD per month / its sessions created per month × 1000.
    pub usd_per_1k_sessions_created: f64,
    /// Sessions created (homed) in the region per month.
    pub sessions_created_per_month: f64,
    /// The region's cost rows, USD per month.
    pub usd_month: f64,
}

/// `redis_options`: option name => its cost, for each design.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RedisOptionsOut {
    /// The hybrid's Redis tier.
    pub hybrid: BTreeMap<String, RedisOptionOut>,
    /// The Redis-only baseline.
    pub baseline: BTreeMap<String, RedisOptionOut>,
}

/// One Redis option.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RedisOptionOut {
    /// USD per month, all regions.
    pub total: f64,
    /// Whether it is the cheapest option of its design.
    pub cheapest: bool,
    /// Nodes per region, replicas included (absent for Serverless).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, u64>,
}

/// `growth`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GrowthOut {
    /// `traffic.growth_per_month`.
    pub growth_per_month: f64,
    /// Now, then +3, +6 and +12 months.
    pub months: Vec<GrowthPointOut>,
}

/// One month of `growth.months`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct GrowthPointOut {
    pub months: u32,
    /// (1 + growth_per_month)^months.
    pub traffic_factor: f64,
    pub redis_nodes: u64,
    pub session_storage: f64,
    pub audit: f64,
    pub analytics: f64,
    pub total: f64,
    /// The Redis-only baseline at the same traffic.
    pub baseline_redis_only: f64,
}

/// `baseline_redis_only`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineOut {
    /// Nodes per region at steady state.
    pub redis_nodes: BTreeMap<String, u64>,
    /// Monthly cost.
    pub cost_usd_month: BaselineCost,
    /// Steady-state peak bytes per region.
    pub peak_bytes: BTreeMap<String, u64>,
    /// As measured in the run.
    pub measured: BaselineMeasured,
}

/// `baseline_redis_only.cost_usd_month`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineCost {
    /// USD per month.
    pub total: f64,
}

/// `baseline_redis_only.measured`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineMeasured {
    /// Peak bytes per region reached within the run (scaled).
    pub peak_bytes: BTreeMap<String, u64>,
}

/// One SLO verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloResult {
    /// SLO key, as in the scenario's `slo:` block.
    pub name: String,
    /// Target.
    pub target: f64,
    /// Measured.
    pub actual: f64,
    /// Whether the target is met.
    pub pass: bool,
}

/// `steady_state`: how the monthly figures were obtained.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SteadyOut {
    /// Post-warmup window the request rates were measured over, seconds.
    pub window_seconds: f64,
    /// Whether DynamoDB storage was projected (run shorter than the cold TTL).
    pub storage_projected: bool,
    /// Whether the Redis-only baseline was projected (run shorter than the cold TTL).
    pub baseline_projected: bool,
    /// Residence time used by the projections: cold TTL + mean session lifetime, seconds.
    pub residence_seconds: f64,
    /// Estimated mean time from creation to last access of a session, seconds.
    pub mean_session_lifetime_seconds: f64,
}

/// The SLO verdicts of a run.
pub fn slos(record: &RunRecord, summary: &Summary, model: &CostModel) -> Vec<SloResult> {
    let slo = &record.scenario.slo;
    let le =
        |name: &str, target: f64, actual: f64| SloResult { name: name.into(), target, actual, pass: actual <= target };
    let ge =
        |name: &str, target: f64, actual: f64| SloResult { name: name.into(), target, actual, pass: actual >= target };
    vec![
        le("hot_access_p95_ms", slo.hot_access_p95_ms, summary.latency_ms.hot_access.p95),
        le("cold_promotion_p95_ms", slo.cold_promotion_p95_ms, summary.latency_ms.cold_promotion.p95),
        le("failover_session_loss", slo.failover_session_loss, summary.failover.loss_ratio),
        ge("availability", slo.availability, summary.availability),
        ge("cost_reduction_vs_redis_only", slo.cost_reduction_vs_redis_only, round6(model.saving)),
    ]
}

/// The Redis options of one design, keyed by name.
fn options_out(record: &RunRecord, options: &[RedisOption]) -> BTreeMap<String, RedisOptionOut> {
    options
        .iter()
        .map(|o| {
            let nodes = record.regions.iter().cloned().zip(o.nodes.iter().copied()).collect();
            (o.name.clone(), RedisOptionOut { total: o.total, cheapest: o.cheapest, nodes })
        })
        .collect()
}

/// The complete summary of a run, with its cost model.
pub fn full_summary(record: &RunRecord) -> (FullSummary, CostModel) {
    let model = cost_model(record);
    let s = record.summary();
    let slo = slos(record, &s, &model);
    let by_region =
        |v: &[u64]| -> BTreeMap<String, u64> { record.regions.iter().cloned().zip(v.iter().copied()).collect() };
    let bytes =
        |v: Vec<f64>| -> Vec<u64> { v.into_iter().map(|b| if b.is_finite() { b.round() as u64 } else { 0 }).collect() };
    let t = model.totals;
    let known = [
        "scenario",
        "seed",
        "sample",
        "simulated_seconds",
        "requests",
        "events",
        "sessions",
        "promotions_per_1k_requests",
        "hot_cold",
        "latency_ms",
        "redis",
        "dynamodb",
        "failover",
        "availability",
        "residency",
        "run",
    ];
    let extra = match serde_json::to_value(&s) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().filter(|(k, _)| !known.contains(&k.as_str())).collect(),
        _ => serde_json::Map::new(),
    };
    let full = FullSummary {
        scenario: s.scenario.clone(),
        seed: s.seed,
        sample: s.sample,
        simulated_seconds: s.simulated_seconds,
        requests: s.requests,
        events: s.events,
        sessions: s.sessions.clone(),
        promotions_per_1k_requests: s.promotions_per_1k_requests,
        hot_cold: s.hot_cold.clone(),
        latency_ms: s.latency_ms.clone(),
        redis: RedisOut { peak_bytes: s.redis.peak_bytes.clone(), nodes: by_region(&model.redis_nodes) },
        dynamodb: DynamoOut {
            wru: s.dynamodb.wru,
            rru: s.dynamodb.rru,
            replicated_wru: s.dynamodb.replicated_wru,
            avg_stored_bytes: model.stored_bytes.steady.round(),
            measured: MeasuredStored { avg_stored_bytes: s.dynamodb.avg_stored_bytes },
        },
        cost_usd_month: CostOut {
            redis: t.redis,
            dynamodb: t.dynamodb,
            sync: t.sync,
            transfer: t.transfer,
            audit: t.audit,
            analytics: t.analytics,
            session_storage: t.session_storage,
            total: t.total,
            saving_vs_redis_only: round6(model.saving),
        },
        unit_costs: UnitCostsOut {
            usd_per_1k_sessions_created: round6(model.unit_costs.usd_per_1k_sessions_created),
            sessions_created_per_month: model.unit_costs.created_month.round(),
            by_region: record
                .regions
                .iter()
                .cloned()
                .zip(&model.unit_costs.by_region)
                .map(|(name, r)| {
                    (
                        name,
                        RegionUnitCostOut {
                            usd_per_1k_sessions_created: round6(r.usd_per_1k_sessions_created),
                            sessions_created_per_month: r.created_month.round(),
                            usd_month: r.usd_month,
                        },
                    )
                })
                .collect(),
        },
        redis_options: RedisOptionsOut {
            hybrid: options_out(record, &model.redis_options.hybrid),
            baseline: options_out(record, &model.redis_options.baseline),
        },
        growth: GrowthOut {
            growth_per_month: model.growth.growth_per_month,
            months: model
                .growth
                .points
                .iter()
                .map(|p| GrowthPointOut {
                    months: p.months,
                    traffic_factor: round6(p.factor),
                    redis_nodes: p.redis_nodes,
                    session_storage: p.session_storage,
                    audit: p.audit,
                    analytics: p.analytics,
                    total: p.total,
                    baseline_redis_only: p.baseline_total,
                })
                .collect(),
        },
        residency: s.residency.clone(),
        migration: crate::migration::migration_out(record),
        baseline_redis_only: BaselineOut {
            redis_nodes: by_region(&model.baseline.nodes),
            cost_usd_month: BaselineCost { total: model.baseline.total },
            peak_bytes: by_region(&bytes(model.baseline.peak_bytes.iter().map(|p| p.steady).collect())),
            measured: BaselineMeasured {
                peak_bytes: by_region(&bytes(model.baseline.peak_bytes.iter().map(|p| p.measured).collect())),
            },
        },
        failover: s.failover.clone(),
        availability: s.availability,
        slo_pass: slo.iter().all(|r| r.pass),
        slo,
        steady_state: SteadyOut {
            window_seconds: round3(model.window_s),
            storage_projected: model.stored_bytes.projected,
            baseline_projected: model.baseline.peak_bytes.iter().any(|p| p.projected),
            residence_seconds: round3(model.residence_s),
            mean_session_lifetime_seconds: round3(model.mean_session_lifetime_s),
        },
        extra,
        run: s.run.clone(),
    };
    (full, model)
}
