//! The complete `summary.json` of CONTRACT section 3: the simulator's figures plus Redis nodes,
//! steady-state storage, monthly cost, the Redis-only baseline and the SLO verdicts.

use std::collections::BTreeMap;

use hotcold_model::RunRecord;
use hotcold_model::record::{
    FailoverSummary, HotCold, LatencySummary, RunSummary, SessionCounts, Summary, round3, round6,
};
use serde::{Deserialize, Serialize};

use crate::cost::{CostModel, cost_model};

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
    pub hot_cold: HotCold,
    pub latency_ms: LatencySummary,
    pub redis: RedisOut,
    pub dynamodb: DynamoOut,
    pub cost_usd_month: CostOut,
    pub baseline_redis_only: BaselineOut,
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
    pub total: f64,
    /// 1 − total / Redis-only total.
    pub saving_vs_redis_only: f64,
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
        "hot_cold",
        "latency_ms",
        "redis",
        "dynamodb",
        "failover",
        "availability",
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
            total: t.total,
            saving_vs_redis_only: round6(model.saving),
        },
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
