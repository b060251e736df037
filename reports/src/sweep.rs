//! `hotcold sweep`: every point of a scenario's `sweep:` grid, run in parallel (threads, each run
//! single-threaded), one run directory per point, `sweep.csv`, `frontier.svg` (cost against
//! hot-access p95) and `frontier-lookup.svg` (cost and promotions against the latency of a lookup);
//! with a seed axis, `sweep-spread.csv` (each figure's spread across seeds).
//!
//! A sweep is three steps, so a batch scheduler can run the points as separate tasks: [`plan`]
//! (the points and their directories), [`run_points`] (any of them, into `out`) and [`collect`]
//! (the sweep's outputs from the points' run directories). [`run_sweep`] is the three in one
//! process; both ways write the outputs from the `run.json` files, so they write the same bytes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use hotcold_model::{RunRecord, Scenario};
use polars::prelude::*;

use crate::charts::{Frontier, FrontierPoint, render};
use crate::frontier::{LookupFrontier, LookupPoint};
use crate::{FullSummary, ReportError, full_summary, read_checked_run, tables, write_run_directory};

/// The grid key of the seed axis (`sweep: { seed: [..] }`, `sweep.seeds` or `--seeds N`).
pub const SEED_KEY: &str = "seed";

/// One point of a sweep's grid, before it runs.
#[derive(Debug, Clone)]
pub struct PlannedPoint {
    /// Point number (1-based, grid order), as in `sweep.csv` and the directory name.
    pub number: usize,
    /// The key paths the point overrides and their values, as the grid has them.
    pub overrides: Vec<(String, yaml_serde::Value)>,
    /// The same as text, for tables and names.
    pub params: Vec<(String, String)>,
    /// Its run directory's name under the sweep directory.
    pub dir_name: String,
    /// The scenario it runs (validated; no grid of its own).
    pub scenario: Scenario,
}

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
    /// Each figure's spread across seeds, one row per combination of the other parameters (grid
    /// order); empty unless the grid has a seed axis of more than one value.
    pub spread: Vec<SpreadRow>,
}

/// One figure of `sweep.csv`: its column name and where it is in the summary.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// Column name in `sweep.csv` (and prefix in `sweep-spread.csv`).
    pub name: &'static str,
    /// Its value in a point's summary.
    pub value: fn(&FullSummary) -> f64,
}

/// The figures of `sweep.csv`, in column order; `sweep-spread.csv` spreads the same ones.
pub const FIGURES: [Figure; 11] = [
    Figure { name: "hot_access_p95_ms", value: |s| s.latency_ms.hot_access.p95 },
    Figure { name: "cold_promotion_p95_ms", value: |s| s.latency_ms.cold_promotion.p95 },
    Figure { name: "lookup_p99_ms", value: |s| s.latency_ms.lookup.p99 },
    Figure { name: "lookup_mean_ms", value: |s| s.latency_ms.lookup.mean },
    Figure { name: "promotions_per_1k_requests", value: |s| s.promotions_per_1k_requests },
    Figure { name: "hot_ratio", value: |s| s.hot_cold.hot_ratio_avg },
    Figure { name: "cost_usd_month", value: |s| s.cost_usd_month.total },
    Figure { name: "redis_only_usd_month", value: |s| s.baseline_redis_only.cost_usd_month.total },
    Figure { name: "saving_vs_redis_only", value: |s| s.cost_usd_month.saving_vs_redis_only },
    Figure { name: "failover_loss_ratio", value: |s| s.failover.loss_ratio },
    Figure { name: "availability", value: |s| s.availability },
];

/// Mean, sample standard deviation, min and max of one figure across seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator: the seeds are a sample of all the
    /// seeds there could be); 0 for fewer than two values.
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (all zero for none).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self { mean: 0.0, sd: 0.0, min: 0.0, max: 0.0 };
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        // Two passes: the squares of the deviations, not of the values, so large figures (a
        // cost in thousands) with small differences keep their digits.
        let sd = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self { mean, sd, min, max }
    }
}

/// One row of `sweep-spread.csv`: the points that differ only in their seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SpreadRow {
    /// The parameters other than the seed.
    pub params: Vec<(String, String)>,
    /// How many points (seeds) the row spreads.
    pub seeds: usize,
    /// The spread of each of [`FIGURES`], in order.
    pub figures: Vec<Spread>,
    /// Whether every seed passes every SLO.
    pub all_seeds_pass: bool,
}

/// Groups points, given as (parameters, figures in [`FIGURES`] order, every SLO passes), by their
/// parameters other than the seed, in first-seen order, and spreads each group's figures. Empty
/// unless some group has more than one point (a seed axis of more than one value).
pub fn spread_rows<'a>(points: impl IntoIterator<Item = (&'a [(String, String)], Vec<f64>, bool)>) -> Vec<SpreadRow> {
    struct Group {
        params: Vec<(String, String)>,
        figures: Vec<Vec<f64>>,
        pass: bool,
        seeds: usize,
    }
    let mut groups: Vec<Group> = Vec::new();
    for (params, figures, pass) in points {
        let others: Vec<(String, String)> = params.iter().filter(|(k, _)| k != SEED_KEY).cloned().collect();
        let at = match groups.iter().position(|g| g.params == others) {
            Some(at) => at,
            None => {
                groups.push(Group { params: others, figures: vec![Vec::new(); figures.len()], pass: true, seeds: 0 });
                groups.len() - 1
            }
        };
        let group = &mut groups[at];
        for (values, v) in group.figures.iter_mut().zip(figures) {
            values.push(v);
        }
        group.pass &= pass;
        group.seeds += 1;
    }
    if groups.iter().all(|g| g.seeds < 2) {
        return Vec::new();
    }
    groups
        .into_iter()
        .map(|g| SpreadRow {
            params: g.params,
            seeds: g.seeds,
            figures: g.figures.iter().map(|values| Spread::of(values)).collect(),
            all_seeds_pass: g.pass,
        })
        .collect()
}

fn value_text(v: &yaml_serde::Value) -> String {
    match v {
        yaml_serde::Value::String(s) => s.clone(),
        yaml_serde::Value::Number(n) => n.to_string(),
        yaml_serde::Value::Bool(b) => b.to_string(),
        other => yaml_serde::to_string(other).unwrap_or_default().trim().to_string(),
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

/// Every point of `scenario`'s grid, validated, in grid order (`file` names the scenario in
/// errors). Nothing is run or written.
pub fn plan(scenario: &Scenario, file: &str) -> Result<Vec<PlannedPoint>, ReportError> {
    if scenario.sweep.is_empty() {
        return Err(ReportError::BadInput(format!("{file}: the scenario has no sweep: grid")));
    }
    if let Some((k, _)) = scenario.sweep.iter().find(|(_, v)| v.is_empty()) {
        return Err(ReportError::BadInput(format!("{file}: sweep.{k}: empty list of values")));
    }
    // Refuses a grid of more than MAX_SWEEP_POINTS points before building any of it.
    let grid = scenario.sweep_points(file).map_err(|e| ReportError::BadInput(e.to_string()))?;
    let mut points = Vec::with_capacity(grid.len());
    for (i, overrides) in grid.into_iter().enumerate() {
        let sc = scenario.with_overrides(&overrides, file).map_err(|e| ReportError::BadInput(e.to_string()))?;
        let params: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
        let dir_name = dir_name(i + 1, &params);
        points.push(PlannedPoint { number: i + 1, overrides, params, dir_name, scenario: sc });
    }
    Ok(points)
}

/// Runs `points` with `jobs` threads, writing each one's run directory under `out`
/// (`out/<dir_name>`). `run` runs one point's scenario (the simulator, given by the caller: the
/// reports do not depend on it) and says what was wrong when it cannot. The first failure is
/// returned once every point has finished.
pub fn run_points<R>(points: &[PlannedPoint], out: &Path, jobs: usize, run: R) -> Result<(), ReportError>
where
    R: Fn(&Scenario) -> Result<RunRecord, String> + Sync,
{
    std::fs::create_dir_all(out).map_err(|e| ReportError::io(out, e))?;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<(), ReportError>>>> = Mutex::new((0..points.len()).map(|_| None).collect());
    let jobs = jobs.clamp(1, points.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(point) = points.get(i) else { break };
                    let result = run_point(&point.scenario, &out.join(&point.dir_name), &run);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| ReportError::Chart("a sweep worker panicked".into()))?;
    for r in results {
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => return Err(ReportError::Chart("a sweep point did not run".into())),
        }
    }
    Ok(())
}

/// Runs every point of `scenario`'s grid with `jobs` threads ([`run_points`]), then writes the
/// sweep's outputs from their run directories ([`collect`]): `out/sweep.csv`, `out/frontier.svg`,
/// `out/frontier-lookup.svg` (and `.png`s), and `out/sweep-spread.csv` with a seed axis.
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
    let points = plan(scenario, file)?;
    run_points(&points, out, jobs, run)?;
    collect(scenario, &points, out)
}

/// What was wrong with one point's run directory at collection.
enum Problem {
    Missing,
    Unreadable(String),
    OtherScenario(String),
}

/// Reads the run directory of every point of `points` (the [`plan`] of `scenario`) under `out`
/// and writes the sweep's outputs (`sweep.csv`, the frontiers, `sweep-spread.csv` with a seed
/// axis), the same bytes as [`run_sweep`] writes. Refused as bad input, naming each point by its
/// index (from 0, as schedulers count) and directory: a point without `run.json`, one that cannot
/// be read, and one run from another scenario than the plan's point (the scenario file or the
/// `--set` values changed since it ran).
pub fn collect(scenario: &Scenario, points: &[PlannedPoint], out: &Path) -> Result<SweepOutcome, ReportError> {
    if !out.is_dir() {
        return Err(ReportError::BadInput(format!("{}: not a directory (the sweep's --out)", out.display())));
    }
    let mut done = Vec::with_capacity(points.len());
    let mut problems: Vec<(usize, &PlannedPoint, Problem)> = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let dir = out.join(&point.dir_name);
        if !dir.join("run.json").is_file() {
            problems.push((i, point, Problem::Missing));
            continue;
        }
        let record = match read_checked_run(&dir) {
            Ok(record) => record,
            Err(e) => {
                problems.push((i, point, Problem::Unreadable(e.to_string())));
                continue;
            }
        };
        if let Some(difference) = scenario_difference(&point.scenario, &record.scenario) {
            problems.push((i, point, Problem::OtherScenario(difference)));
            continue;
        }
        let (summary, _) = full_summary(&record);
        done.push(SweepPoint { index: point.number, params: point.params.clone(), dir, summary });
    }
    if !problems.is_empty() {
        return Err(ReportError::BadInput(problem_message(out, points.len(), &problems)));
    }
    let cheapest_passing = done
        .iter()
        .enumerate()
        .filter(|(_, p)| p.summary.slo_pass)
        .min_by(|a, b| a.1.summary.cost_usd_month.total.total_cmp(&b.1.summary.cost_usd_month.total))
        .map(|(i, _)| i);
    let spread =
        spread_rows(done.iter().map(|p| {
            (p.params.as_slice(), FIGURES.iter().map(|f| (f.value)(&p.summary)).collect(), p.summary.slo_pass)
        }));
    let outcome = SweepOutcome { points: done, cheapest_passing, spread };
    write_outputs(scenario, &outcome, out)?;
    Ok(outcome)
}

/// Where the recorded scenario of a point's run first differs from the plan's point (`key.path:
/// value in the run, value in the plan`), or `None` when they are the same, compared whole, every
/// value included (`run.json` reads every float back exactly: serde_json's `float_roundtrip`).
fn scenario_difference(planned: &Scenario, recorded: &Scenario) -> Option<String> {
    if planned == recorded {
        return None;
    }
    let tree = |s: &Scenario| yaml_serde::to_value(s).unwrap_or(yaml_serde::Value::Null);
    let (ran, plan) = (tree(recorded), tree(planned));
    Some(match first_difference(&ran, &plan, "") {
        Some((path, a, b)) => format!("{path}: {a} in the run, {b} in the plan"),
        None => "the scenarios differ".into(),
    })
}

/// The dotted key path of the first value where `a` and `b` differ, with both values (compact,
/// shortened); `None` when they are equal.
fn first_difference(a: &yaml_serde::Value, b: &yaml_serde::Value, path: &str) -> Option<(String, String, String)> {
    use yaml_serde::Value;
    if a == b {
        return None;
    }
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (a, b) {
        (Value::Mapping(x), Value::Mapping(y)) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            for key in keys {
                let (u, v) = (x.get(key).unwrap_or(&Value::Null), y.get(key).unwrap_or(&Value::Null));
                if let Some(found) = first_difference(u, v, &join(&value_text(key))) {
                    return Some(found);
                }
            }
        }
        (Value::Sequence(x), Value::Sequence(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                if let Some(found) = first_difference(u, v, &join(&i.to_string())) {
                    return Some(found);
                }
            }
        }
        _ => {}
    }
    let short = |v: &Value| {
        let text = serde_json::to_string(v).unwrap_or_else(|_| value_text(v));
        if text.chars().count() > 60 { format!("{}...", text.chars().take(57).collect::<String>()) } else { text }
    };
    Some((if path.is_empty() { "the scenario".into() } else { path.to_string() }, short(a), short(b)))
}

/// One line naming every point that cannot be collected (index from 0, then directory): missing
/// ones first, then those run from another scenario, grouped by what differs.
fn problem_message(out: &Path, total: usize, problems: &[(usize, &PlannedPoint, Problem)]) -> String {
    let named = |i: usize, point: &PlannedPoint| format!("{i} {}", point.dir_name);
    let mut parts = Vec::new();
    let missing: Vec<String> = problems
        .iter()
        .filter(|(_, _, p)| matches!(p, Problem::Missing))
        .map(|(i, point, _)| named(*i, point))
        .collect();
    if !missing.is_empty() {
        parts.push(format!(
            "{} of {total} points not run (no run.json; index from 0, then directory): {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    let mut other: Vec<(&str, Vec<String>)> = Vec::new();
    for (i, point, problem) in problems {
        match problem {
            Problem::Missing => {}
            Problem::Unreadable(e) => parts.push(format!("point {}: {e}", named(*i, point))),
            Problem::OtherScenario(difference) => match other.iter_mut().find(|(d, _)| d == difference) {
                Some((_, points)) => points.push(named(*i, point)),
                None => other.push((difference, vec![named(*i, point)])),
            },
        }
    }
    for (difference, points) in other {
        parts.push(format!(
            "{} of {total} points run from another scenario than the plan's (the scenario file or --set changed \
             since; run them again): {} ({difference})",
            points.len(),
            points.join(", ")
        ));
    }
    format!("{}: cannot collect the sweep: {}", out.display(), parts.join("; "))
}

/// `sweep.csv`, `frontier.svg`/`.png`, `frontier-lookup.svg`/`.png` and, with a seed axis,
/// `sweep-spread.csv`, from finished points.
fn write_outputs(scenario: &Scenario, outcome: &SweepOutcome, out: &Path) -> Result<(), ReportError> {
    let mut frame = sweep_frame(outcome)?;
    tables::write_csv(&mut frame, &out.join("sweep.csv"))?;
    if !outcome.spread.is_empty() {
        let mut spread = spread_frame(&outcome.spread)?;
        tables::write_csv(&mut spread, &out.join("sweep-spread.csv"))?;
    }
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
    write_lookup_frontier(outcome, out)
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
    // The seed is a series whenever there is anything else: one curve per seed shows the spread,
    // where a curve along the seeds would join unrelated points.
    let not_seed = |k: usize| keys.get(k) != Some(&SEED_KEY) || keys.len() == 1;
    let varying = (0..keys.len()).rev().max_by_key(|&k| (not_seed(k), shape(k))).unwrap_or(0);
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

fn run_point<R>(scenario: &Scenario, dir: &Path, run: &R) -> Result<(), ReportError>
where
    R: Fn(&Scenario) -> Result<RunRecord, String>,
{
    let record = run(scenario).map_err(ReportError::BadInput)?;
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    write_run_directory(dir, &record).map(|_| ())
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
    for figure in FIGURES {
        cols.push(Column::new(
            figure.name.into(),
            pts.iter().map(|p| (figure.value)(&p.summary)).collect::<Vec<f64>>(),
        ));
    }
    cols.extend([
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

/// `sweep-spread.csv` as a frame: one row per combination of the parameters other than the seed,
/// with each figure's `_mean`, `_sd`, `_min` and `_max` across seeds, the number of seeds and
/// whether every seed passes every SLO.
pub fn spread_frame(rows: &[SpreadRow]) -> Result<DataFrame, ReportError> {
    let mut cols = Vec::new();
    if let Some(first) = rows.first() {
        for (k, (key, _)) in first.params.iter().enumerate() {
            cols.push(Column::new(
                key.as_str().into(),
                rows.iter().map(|r| r.params.get(k).map(|v| v.1.clone()).unwrap_or_default()).collect::<Vec<String>>(),
            ));
        }
    }
    for (f, figure) in FIGURES.iter().enumerate() {
        let stat =
            |g: fn(&Spread) -> f64| -> Vec<f64> { rows.iter().map(|r| r.figures.get(f).map_or(f64::NAN, g)).collect() };
        cols.extend([
            Column::new(format!("{}_mean", figure.name).into(), stat(|s| s.mean)),
            Column::new(format!("{}_sd", figure.name).into(), stat(|s| s.sd)),
            Column::new(format!("{}_min", figure.name).into(), stat(|s| s.min)),
            Column::new(format!("{}_max", figure.name).into(), stat(|s| s.max)),
        ]);
    }
    cols.extend([
        Column::new("seeds".into(), rows.iter().map(|r| r.seeds as u64).collect::<Vec<u64>>()),
        Column::new("all_seeds_pass".into(), rows.iter().map(|r| r.all_seeds_pass).collect::<Vec<bool>>()),
    ]);
    DataFrame::new(rows.len(), cols).map_err(|e| ReportError::Table(format!("sweep spread frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn the_spread_of_known_numbers() {
        // Mean 5; squared deviations sum to 32; sample variance 32/7.
        let s = Spread::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!(close(s.mean, 5.0), "{s:?}");
        assert!(close(s.sd, (32.0f64 / 7.0).sqrt()), "{s:?}");
        assert_eq!((s.min, s.max), (2.0, 9.0));
        // Large values with small differences keep their digits (a one-pass sum of squares
        // loses them): the sd of 1e9 + {1, 2, 3} is 1.
        let s = Spread::of(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]);
        assert!(close(s.mean, 1e9 + 2.0) && close(s.sd, 1.0), "{s:?}");
        assert_eq!(Spread::of(&[3.5]), Spread { mean: 3.5, sd: 0.0, min: 3.5, max: 3.5 });
        assert_eq!(Spread::of(&[]), Spread { mean: 0.0, sd: 0.0, min: 0.0, max: 0.0 });
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn points_are_grouped_by_every_parameter_but_the_seed() {
        // Grid order: threshold outermost, seed innermost; 2 thresholds × 3 seeds.
        let points = [
            (params(&[("t", "600"), ("seed", "1")]), vec![1.0, 10.0], true),
            (params(&[("t", "600"), ("seed", "2")]), vec![2.0, 10.0], true),
            (params(&[("t", "600"), ("seed", "3")]), vec![6.0, 10.0], false),
            (params(&[("t", "900"), ("seed", "1")]), vec![4.0, 1.0], true),
            (params(&[("t", "900"), ("seed", "2")]), vec![4.0, 2.0], true),
            (params(&[("t", "900"), ("seed", "3")]), vec![4.0, 3.0], true),
        ];
        let rows = spread_rows(points.iter().map(|(p, f, pass)| (p.as_slice(), f.clone(), *pass)));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].params, params(&[("t", "600")]));
        assert_eq!(rows[0].seeds, 3);
        assert!(!rows[0].all_seeds_pass, "one seed fails");
        assert!(rows[1].all_seeds_pass);
        assert!(close(rows[0].figures[0].mean, 3.0) && close(rows[0].figures[0].sd, 7.0f64.sqrt()));
        assert_eq!((rows[0].figures[0].min, rows[0].figures[0].max), (1.0, 6.0));
        assert_eq!(rows[0].figures[1].sd, 0.0);
        assert!(close(rows[1].figures[1].mean, 2.0) && close(rows[1].figures[1].sd, 1.0));
        let frame = spread_frame(&rows).unwrap();
        assert_eq!(frame.height(), 2);
        assert_eq!(frame.get_column_names()[0].as_str(), "t");
        assert!(frame.column("hot_access_p95_ms_sd").is_ok() && frame.column("availability_max").is_ok());
        assert!(frame.column("seeds").is_ok() && frame.column("all_seeds_pass").is_ok());
        // Without a seed axis (every group one point) there is no spread.
        let single = [(params(&[("t", "600")]), vec![1.0], true), (params(&[("t", "900")]), vec![2.0], true)];
        assert!(spread_rows(single.iter().map(|(p, f, pass)| (p.as_slice(), f.clone(), *pass))).is_empty());
    }
}
