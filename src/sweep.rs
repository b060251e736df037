//! `hotcold sweep SCENARIO [--out DIR] [--jobs N] [--set KEY=VALUE]...`: the `--set` values change
//! the base scenario; its `sweep:` grid is kept and run over it.

use std::path::PathBuf;

use anyhow::anyhow;
use hotcold_model::{Scenario, Setting};
use hotcold_sim::RunOptions;

use crate::Failure;
use crate::report::failure;

/// The command's arguments.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) scenario: PathBuf,
    pub(crate) out: Option<PathBuf>,
    pub(crate) jobs: Option<usize>,
    pub(crate) settings: Vec<Setting>,
}

/// Runs every point of the scenario's grid and writes the sweep directory.
pub(crate) fn sweep(args: &Args) -> Result<(), Failure> {
    let scenario = crate::validate::load(&args.scenario, &args.settings)?;
    if args.jobs == Some(0) {
        return Err(Failure::BadInput(anyhow!("--jobs must be at least 1")));
    }
    // Each run already simulates its shards on parallel threads: one job per that many cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or_else(|| (cores / hotcold_sim::DEFAULT_SHARDS).max(1));
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-sweep", scenario.name)));
    let file = args.scenario.display().to_string();
    let simulate = |point: &Scenario| hotcold_sim::run(point, &RunOptions::default()).map_err(|e| e.to_string());
    let outcome = hotcold_reports::sweep::run_sweep(&scenario, &file, &out, jobs, simulate).map_err(failure)?;
    println!("hotcold sweep: {} ({} points, {} jobs)", scenario.name, outcome.points.len(), jobs);
    println!(
        "  {:>5}  {:>10}  {:>10}  {:>11}  {:>11}  {:>8}  {:>9}  {:>12}  {:>9}  {:>5}  parameters",
        "point",
        "hot p95",
        "cold p95",
        "lookup mean",
        "lookup p99",
        "promo/1k",
        "hot ratio",
        "USD/month",
        "loss",
        "SLOs"
    );
    for (i, p) in outcome.points.iter().enumerate() {
        let s = &p.summary;
        let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {:>5}  {:>7.3} ms  {:>7.3} ms  {:>8.3} ms  {:>8.3} ms  {:>8.2}  {:>9.4}  {:>12.2}  {:>9.5}  {:>5}  {}{}",
            p.index,
            s.latency_ms.hot_access.p95,
            s.latency_ms.cold_promotion.p95,
            s.latency_ms.lookup.mean,
            s.latency_ms.lookup.p99,
            s.promotions_per_1k_requests,
            s.hot_cold.hot_ratio_avg,
            s.cost_usd_month.total,
            s.failover.loss_ratio,
            if s.slo_pass { "pass" } else { "FAIL" },
            params.join(" "),
            if outcome.cheapest_passing == Some(i) { "   <- cheapest passing every SLO" } else { "" }
        );
    }
    if outcome.cheapest_passing.is_none() {
        println!("  no point passes every SLO");
    }
    println!("  written to      {} (sweep.csv, frontier.svg, frontier-lookup.svg)", out.display());
    Ok(())
}
