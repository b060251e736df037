//! `hotcold sweep`: every point of a scenario's `sweep:` grid, run in parallel (threads, each run
//! single-threaded), one run directory per point, `sweep.csv`, `frontier.svg` (cost against
//! hot-access p95) and `frontier-lookup.svg` (cost and promotions against the latency of a lookup).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use hotcold_model::{RunRecord, Scenario};
use polars::prelude::*;

use crate::charts::{Frontier, FrontierPoint, render};
use crate::frontier::{LookupFrontier, LookupPoint};
use crate::{FullSummary, ReportError, tables, write_run_directory};

/// One point of a sweep, as run.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    /// Point number (1-based, grid order).
    pub index: usize,
    /// The overridden key paths and their values.
    pub params: Vec<(String, String)>,
    /// Its run directory.
    pub dir: PathBuf,
    /// Its complete summary.
    pub summary: FullSummary,
}

/// A finished sweep.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// Every point, in grid order.
    pub points: Vec<SweepPoint>,
    /// Index into `points` of the cheapest point that passes every SLO.
    pub cheapest_passing: Option<usize>,
}

fn value_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

fn dir_name(index: usize, params: &[(String, String)]) -> String {
    let mut name = format!("point-{index:02}");
    for (k, v) in params {
        let key = k.rsplit('.').next().unwrap_or(k);
        name.push('_');
        name.push_str(key);
        name.push('=');
        name.push_str(v);
    }
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_=.".contains(c) { c } else { '-' }).collect()
}

/// Runs every point of `scenario`'s grid with `jobs` threads, writing one run directory per point
/// under `out`, then `out/sweep.csv`, `out/frontier.svg` and `out/frontier-lookup.svg` (and
/// `.png`s). `run` runs one point's scenario (the simulator, given by the caller: the reports do
/// not depend on it) and says what was wrong when it cannot.
pub fn run_sweep<R>(
    scenario: &Scenario,
    file: &str,
    out: &Path,
    jobs: usize,
    run: R,
) -> Result<SweepOutcome, ReportError>
where
    R: Fn(&Scenario) -> Result<RunRecord, String> + Sync,
{
    if scenario.sweep.is_empty() {
        return Err(ReportError::BadInput(format!("{file}: the scenario has no sweep: grid")));
    }
    if let Some((k, _)) = scenario.sweep.iter().find(|(_, v)| v.is_empty()) {
        return Err(ReportError::BadInput(format!("{file}: sweep.{k}: empty list of values")));
    }
    // Refuses a grid of more than MAX_SWEEP_POINTS points before building any of it.
    let grid = scenario.sweep_points(file).map_err(|e| ReportError::BadInput(e.to_string()))?;
    // Validate every point before running any.
    let mut points = Vec::with_capacity(grid.len());
    for (i, overrides) in grid.iter().enumerate() {
        let sc = scenario.with_overrides(overrides, file).map_err(|e| ReportError::BadInput(e.to_string()))?;
        let params: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
        let dir = out.join(dir_name(i + 1, &params));
        points.push((i + 1, params, dir, sc));
    }
    std::fs::create_dir_all(out).map_err(|e| ReportError::io(out, e))?;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<SweepPoint, ReportError>>>> =
        Mutex::new((0..points.len()).map(|_| None).collect());
    let jobs = jobs.clamp(1, points.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((index, params, dir, sc)) = points.get(i) else { break };
                    let result = run_point(sc, dir, &run).map(|summary| SweepPoint {
                        index: *index,
                        params: params.clone(),
                        dir: dir.clone(),
                        summary,
                    });
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| ReportError::Chart("a sweep worker panicked".into()))?;
    let mut done = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Some(Ok(p)) => done.push(p),
            Some(Err(e)) => return Err(e),
            None => return Err(ReportError::Chart("a sweep point did not run".into())),
        }
    }
    let cheapest_passing = done
        .iter()
        .enumerate()
        .filter(|(_, p)| p.summary.slo_pass)
        .min_by(|a, b| a.1.summary.cost_usd_month.total.total_cmp(&b.1.summary.cost_usd_month.total))
        .map(|(i, _)| i);
    let outcome = SweepOutcome { points: done, cheapest_passing };
    let mut frame = sweep_frame(&outcome)?;
    tables::write_csv(&mut frame, &out.join("sweep.csv"))?;
    let frontier: Vec<FrontierPoint> = outcome
        .points
        .iter()
        .map(|p| FrontierPoint {
            label: format!("#{}", p.index),
            hot_p95_ms: p.summary.latency_ms.hot_access.p95,
            cost_usd: p.summary.cost_usd_month.total,
            pass: p.summary.slo_pass,
        })
        .collect();
    let plot =
        Frontier { points: &frontier, cheapest: outcome.cheapest_passing, slo_hot: scenario.slo.hot_access_p95_ms };
    let svg = render(&plot, Some(&out.join("frontier.png")))?;
    let path = out.join("frontier.svg");
    std::fs::write(&path, svg).map_err(|e| ReportError::io(&path, e))?;
    write_lookup_frontier(&outcome, out)?;
    Ok(outcome)
}

/// `frontier-lookup.svg` and `.png`: each point labelled with the value of the parameter that
/// varies most, points sharing every other parameter joined in one series.
fn write_lookup_frontier(outcome: &SweepOutcome, out: &Path) -> Result<(), ReportError> {
    let keys: Vec<&str> =
        outcome.points.first().map(|p| p.params.iter().map(|(k, _)| k.as_str()).collect()).unwrap_or_default();
    // A parameter's (whether every value is a number, how many values it has).
    let shape = |k: usize| {
        let mut values: Vec<&str> =
            outcome.points.iter().filter_map(|p| p.params.get(k).map(|v| v.1.as_str())).collect();
        values.sort_unstable();
        values.dedup();
        (values.iter().all(|v| v.parse::<f64>().is_ok()), values.len())
    };
    // A number (a threshold) draws a curve, a mode (a durability) is a series: the first
    // numeric parameter with the most values, else the first with the most values (grid order).
    let varying = (0..keys.len()).rev().max_by_key(|&k| shape(k)).unwrap_or(0);
    let short = |key: &str| key.rsplit('.').next().unwrap_or(key).to_string();
    let points: Vec<LookupPoint> = outcome
        .points
        .iter()
        .map(|p| {
            let others: Vec<&str> =
                p.params.iter().enumerate().filter(|(k, _)| *k != varying).map(|(_, (_, v))| v.as_str()).collect();
            LookupPoint {
                label: p.params.get(varying).map_or_else(|| format!("#{}", p.index), |(_, v)| v.clone()),
                series: others.join(", "),
                lookup_mean_ms: p.summary.latency_ms.lookup.mean,
                cost_usd: p.summary.cost_usd_month.total,
                promotions_per_1k: p.summary.promotions_per_1k_requests,
                pass: p.summary.slo_pass,
            }
        })
        .collect();
    let plot = LookupFrontier {
        points: &points,
        cheapest: outcome.cheapest_passing,
        label_key: keys.get(varying).map_or_else(|| "point".to_string(), |k| short(k)),
        series_key: keys
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != varying)
            .map(|(_, key)| short(key))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let svg = render(&plot, Some(&out.join("frontier-lookup.png")))?;
    let path = out.join("frontier-lookup.svg");
    std::fs::write(&path, svg).map_err(|e| ReportError::io(&path, e))
}

fn run_point<R>(scenario: &Scenario, dir: &Path, run: &R) -> Result<FullSummary, ReportError>
where
    R: Fn(&Scenario) -> Result<RunRecord, String>,
{
    let record = run(scenario).map_err(ReportError::BadInput)?;
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    write_run_directory(dir, &record)
}

/// `sweep.csv` as a frame: one row per point.
pub fn sweep_frame(outcome: &SweepOutcome) -> Result<DataFrame, ReportError> {
    let pts = &outcome.points;
    let mut cols = vec![Column::new("point".into(), pts.iter().map(|p| p.index as u64).collect::<Vec<u64>>())];
    if let Some(first) = pts.first() {
        for (k, (key, _)) in first.params.iter().enumerate() {
            cols.push(Column::new(
                key.as_str().into(),
                pts.iter().map(|p| p.params.get(k).map(|v| v.1.clone()).unwrap_or_default()).collect::<Vec<String>>(),
            ));
        }
    }
    let f = |g: &dyn Fn(&FullSummary) -> f64| -> Vec<f64> { pts.iter().map(|p| g(&p.summary)).collect() };
    cols.extend([
        Column::new("hot_access_p95_ms".into(), f(&|s| s.latency_ms.hot_access.p95)),
        Column::new("cold_promotion_p95_ms".into(), f(&|s| s.latency_ms.cold_promotion.p95)),
        Column::new("lookup_p99_ms".into(), f(&|s| s.latency_ms.lookup.p99)),
        Column::new("lookup_mean_ms".into(), f(&|s| s.latency_ms.lookup.mean)),
        Column::new("promotions_per_1k_requests".into(), f(&|s| s.promotions_per_1k_requests)),
        Column::new("hot_ratio".into(), f(&|s| s.hot_cold.hot_ratio_avg)),
        Column::new("cost_usd_month".into(), f(&|s| s.cost_usd_month.total)),
        Column::new("redis_only_usd_month".into(), f(&|s| s.baseline_redis_only.cost_usd_month.total)),
        Column::new("saving_vs_redis_only".into(), f(&|s| s.cost_usd_month.saving_vs_redis_only)),
        Column::new("failover_loss_ratio".into(), f(&|s| s.failover.loss_ratio)),
        Column::new("availability".into(), f(&|s| s.availability)),
        Column::new("all_slos_pass".into(), pts.iter().map(|p| p.summary.slo_pass).collect::<Vec<bool>>()),
        Column::new(
            "cheapest_passing".into(),
            (0..pts.len()).map(|i| outcome.cheapest_passing == Some(i)).collect::<Vec<bool>>(),
        ),
        Column::new(
            "run_dir".into(),
            pts.iter()
                .map(|p| p.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                .collect::<Vec<String>>(),
        ),
    ]);
    DataFrame::new(pts.len(), cols).map_err(|e| ReportError::Table(format!("sweep frame: {e}")))
}
