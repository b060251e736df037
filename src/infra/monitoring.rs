//! `hotcold infra --monitoring DIR`: Prometheus alert rules, their promtool unit tests and a
//! Grafana dashboard for the ADR's monitoring list, every threshold taken from the plan: the
//! latency and availability targets from the scenario's `slo:`, the hot tier's size, the hot share
//! and the promotion and demotion rates from the run that priced it, the sync lag from its
//! `sync_interval`. The plan's figures are written as recording rules (`hotcold:plan_*`), so the
//! dashboard draws what production does against what the plan expected.
//!
//! Every query names only what `hotcold serve` exports (src/serve/metrics.rs); the series of an
//! instance carry no region (one instance serves one region), so per-region rules join them with
//! `hotcold_serve_info{region}` on `job` and `instance`. The output depends on the plan alone: the
//! same plan writes the same bytes.

mod cases;
mod dashboard;
mod rules;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Plan;

/// The rule file Prometheus loads.
const RULES_FILE: &str = "hotcold-alerts.yaml";
/// Its unit tests, for `promtool test rules` (they name [`RULES_FILE`] beside them).
const TESTS_FILE: &str = "hotcold-alerts.test.yaml";
/// The dashboard Grafana imports.
const DASHBOARD_FILE: &str = "hotcold-dashboard.json";

/// How far a daily figure (hot share, promotion or demotion rate) may stray from the plan's, as a
/// fraction of it, before an alert says the plan no longer describes production: half again above
/// or below is beyond the day-to-day spread of one scenario's traffic, and far enough to change
/// the node count and the DynamoDB bill the plan priced. Tighten it once production has a few
/// weeks of history.
const DRIFT_TOLERANCE: f64 = 0.5;

/// Burn rates of the availability error budget that page and that open a ticket, with their long
/// windows (the Google SRE workbook's multiwindow alerts: 2 % of a 30-day budget in one hour, 5 %
/// in six hours). Each long window is paired with a short one a twelfth as long, so an alert
/// clears soon after the errors stop.
const FAST_BURN: f64 = 14.4;
const SLOW_BURN: f64 = 6.0;

/// Writes the alert rules, their promtool tests and the dashboard for `plan` into `dir` (created
/// if missing); answers the paths written, in that order.
pub(crate) fn write(plan: &Plan, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let targets = Targets::of(plan);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = [
        (RULES_FILE, rules::render(&targets)),
        (TESTS_FILE, cases::render(&targets)),
        (DASHBOARD_FILE, dashboard::render(&targets)?),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// What the rules need of a plan: its targets and expected figures, full population (scaled by
/// 1/sample), rates per second.
#[derive(Debug, Clone, PartialEq)]
struct Targets {
    /// The scenario's name, seed and sample: which run the thresholds came from.
    scenario: String,
    seed: u64,
    sample: f64,
    /// Per region, in the scenario's order.
    regions: Vec<RegionPlan>,
    /// Expected hot share of all sessions held, hot / (hot + cold), with the cold table at its
    /// steady size (the cost model's projection when the run was shorter than the cold TTL).
    hot_share: f64,
    /// Expected items in the sessions table at steady state.
    cold_sessions: f64,
    /// `slo.hot_access_p95_ms` and `slo.cold_promotion_p95_ms`, in seconds (the metrics' unit).
    hot_access_p95_s: f64,
    cold_promotion_p95_s: f64,
    /// 1 − `slo.availability`: the share of requests that may fail.
    error_budget: f64,
    /// `session_config.sync.sync_interval`, seconds.
    sync_interval_s: f64,
    /// `costs.redis.headroom`: the free memory the Redis nodes were priced with above the peak.
    headroom: f64,
}

/// One region's expected figures.
#[derive(Debug, Clone, PartialEq)]
struct RegionPlan {
    name: String,
    /// Most hot sessions the region's Redis held at the end of a time-series bucket.
    hot_peak: f64,
    /// Cold promotions served by the region, per second, after warmup.
    promotions_per_s: f64,
    /// Sessions the region's sync job demoted, per second, after warmup.
    demotions_per_s: f64,
}

impl Targets {
    fn of(plan: &Plan) -> Self {
        let record = &plan.record;
        let scenario = &record.scenario;
        let scale = if record.sample > 0.0 { 1.0 / record.sample } else { 1.0 };
        // The post-warmup window the plan's rates were measured over (the whole run when it has none).
        let after_warmup = record.simulated_seconds - record.warmup_seconds;
        let (from, window) =
            if after_warmup > 0.0 { (record.warmup_seconds, after_warmup) } else { (0.0, record.simulated_seconds) };
        let regions = record
            .regions
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let rows = record.timeseries.iter().filter(|row| usize::from(row.region) == index);
                let (mut hot_peak, mut promotions, mut demotions) = (0u64, 0u64, 0u64);
                for row in rows {
                    hot_peak = hot_peak.max(row.hot);
                    if row.t as f64 >= from {
                        promotions += row.promotions;
                        demotions += row.demotions;
                    }
                }
                let per_second = |count: u64| if window > 0.0 { count as f64 * scale / window } else { 0.0 };
                RegionPlan {
                    name: name.clone(),
                    hot_peak: hot_peak as f64 * scale,
                    promotions_per_s: per_second(promotions),
                    demotions_per_s: per_second(demotions),
                }
            })
            .collect();
        // The cold table of a run shorter than the cold TTL is still filling; the cost model
        // projects its steady size in bytes, and the items grow in the same proportion.
        let stored = &plan.model.stored_bytes;
        let growth =
            if stored.measured > 0.0 && stored.steady.is_finite() { stored.steady / stored.measured } else { 1.0 };
        let hot = plan.summary.hot_cold.hot_avg;
        let cold_sessions = plan.summary.hot_cold.cold_avg * growth;
        let hot_share = if hot + cold_sessions > 0.0 { hot / (hot + cold_sessions) } else { 0.0 };
        let slo = &scenario.slo;
        Self {
            scenario: scenario.name.clone(),
            seed: record.seed,
            sample: record.sample,
            regions,
            hot_share,
            cold_sessions,
            hot_access_p95_s: slo.hot_access_p95_ms / 1000.0,
            cold_promotion_p95_s: slo.cold_promotion_p95_ms / 1000.0,
            error_budget: (1.0 - slo.availability).max(0.0),
            sync_interval_s: scenario.session_config.sync.sync_interval.as_secs_f64(),
            headroom: scenario.costs.redis.headroom,
        }
    }

    /// Where the thresholds came from, for the files' headers and the dashboard's description.
    fn provenance(&self) -> String {
        format!(
            "scenario {} (seed {}, sample {}); regenerate with `hotcold infra SCENARIO --format cloudformation --monitoring DIR`",
            self.scenario,
            self.seed,
            num(self.sample)
        )
    }
}

/// A number as the rules print it: six significant digits, no exponent, so thresholds read
/// plainly and the output does not change with the last bits of a float.
fn num(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return "0".to_string();
    }
    let rounded: f64 = format!("{x:.5e}").parse().unwrap_or(x);
    format!("{rounded}")
}

/// A duration in Prometheus' notation (`90s`, `5m`, `2h`), whole seconds, at least one.
fn duration(seconds: f64) -> String {
    let s = seconds.round().max(1.0) as u64;
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A string as a YAML (and JSON) double-quoted scalar: every rule file string goes through this,
/// so no text, however odd, changes the file's structure.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests;
