//! `hotcold simulate SCENARIO [--out DIR] [--seed N] [--sample F] [--shards N | --shard K/N] [--quiet]
//! [--analytics] [--set KEY=VALUE]...`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hotcold_model::{RunRecord, Scenario, Setting, Summary};
use hotcold_sim::{RunOptions, SimError};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;

/// The command's arguments.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) scenario: PathBuf,
    pub(crate) out: Option<PathBuf>,
    pub(crate) seed: Option<u64>,
    pub(crate) sample: Option<f64>,
    pub(crate) shards: Option<usize>,
    /// `K/N` or `auto/N`: run shard K of N alone and write it for `hotcold merge`.
    pub(crate) shard: Option<String>,
    pub(crate) quiet: bool,
    /// Also write `analytics.parquet`: the analytics table the simulated sessions would have
    /// produced.
    pub(crate) analytics: bool,
    pub(crate) settings: Vec<Setting>,
}

/// Runs the scenario and writes the run directory.
pub(crate) fn simulate(args: &Args) -> Result<(), Failure> {
    let scenario = crate::validate::load(&args.scenario, &args.settings)?;
    if let Some(sample) = args.sample {
        if !(sample > 0.0 && sample <= 1.0) {
            return Err(Failure::BadInput(anyhow!("--sample must be in (0, 1], got {sample}")));
        }
    }
    let sample = args.sample.unwrap_or(scenario.sample);
    if args.analytics && sample < 1.0 {
        // A sample's table holds that fraction of the sessions: calibrated from it, the rates
        // would come out that much too low, silently.
        return Err(Failure::BadInput(anyhow!(
            "--analytics writes every simulated session, so it needs the whole population: it cannot be combined \
             with a sample of {sample} (--sample or the scenario's sample:)"
        )));
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    if let Some(shard) = &args.shard {
        if args.analytics {
            return Err(Failure::BadInput(anyhow!(
                "--analytics cannot be combined with --shard yet (a shard's sessions are not written for `hotcold \
                 merge`); run the scenario in one process, with --shards N for threads"
            )));
        }
        return simulate_shard(args, &scenario, shard, seed);
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{seed}", scenario.name)));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the run directory {}", out.display()))
        .map_err(Failure::Failed)?;

    let (bar, progress) = progress(args.quiet, &scenario);
    let options =
        RunOptions { seed: args.seed, sample: args.sample, progress, shards: args.shards, analytics: args.analytics };
    let (record, analytics) = hotcold_sim::run_with_analytics(&scenario, &options).map_err(bad_run)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // run.json, the resolved scenario and the reports (summary.json, costs, tables, charts, report.html).
    let full = hotcold_reports::write_run_directory(&out, &record).map_err(|e| Failure::Failed(e.into()))?;
    if args.analytics {
        let path = out.join("analytics.parquet");
        hotcold_reports::analytics::write(&analytics, &path)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Failure::Failed)?;
    }
    print!("{}", one_screen("simulate", &record, &record.summary(), &out));
    print!("{}", crate::report::verdict_lines(&full));
    Ok(())
}

/// Every way a run can be refused is bad input: the scenario, an option, a run too large.
pub(crate) fn bad_run(e: SimError) -> Failure {
    match e {
        SimError::Scenario(_) | SimError::InvalidOption(_) | SimError::Config(_) | SimError::TooLarge(_) => {
            Failure::BadInput(e.into())
        }
    }
}

/// The progress bar (unless `quiet` or stderr is not a terminal) and the callback that moves it;
/// `hotcold infra` shows the same bar while it simulates a plan.
pub(crate) fn progress(quiet: bool, scenario: &Scenario) -> (Option<ProgressBar>, Option<hotcold_sim::ProgressFn>) {
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| progress_bar(scenario));
    let progress = bar.clone().map(|bar| -> hotcold_sim::ProgressFn {
        let started = std::time::Instant::now();
        Arc::new(move |p: &hotcold_sim::Progress| {
            bar.set_position(p.simulated_seconds as u64);
            let rate = p.events as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{:.2}M events/s", rate / 1e6));
        })
    });
    (bar, progress)
}

/// `--shard K/N`: shard K of an N-shard run, alone, written to its directory for `hotcold merge`.
fn simulate_shard(args: &Args, scenario: &Scenario, shard: &str, seed: u64) -> Result<(), Failure> {
    let (index, shards) = parse_shard(shard, crate::batch::environment)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{seed}-shard-{index}-of-{shards}", scenario.name)));
    let (bar, progress) = progress(args.quiet, scenario);
    let options = RunOptions { seed: args.seed, sample: args.sample, progress, shards: None, analytics: false };
    let run = hotcold_sim::shard::run_one_shard(scenario, &options, index, shards).map_err(bad_run)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    run.write(&out).map_err(|e| Failure::Failed(e.into()))?;
    let h = run.header();
    println!(
        "hotcold simulate: {} (seed {}, sample {}), shard {}/{}: {} requests in {:.2} s, peak RSS {:.0} MiB",
        h.scenario,
        h.seed,
        h.sample,
        h.shard,
        h.shards,
        h.requests,
        h.wall_seconds,
        mib(h.peak_rss_bytes)
    );
    println!(
        "  written to      {} (put the {} shards together with hotcold merge DIR... --out RUN_DIR)",
        out.display(),
        h.shards
    );
    Ok(())
}

/// `K/N` or `auto/N` (K from the batch scheduler's variable, read through `var`): shard K of N.
pub(crate) fn parse_shard(text: &str, var: impl Fn(&str) -> Option<String>) -> Result<(usize, usize), Failure> {
    let Some((index, count)) = text.split_once('/') else {
        return Err(Failure::BadInput(anyhow!("--shard {text}: expected K/N (shard K of N, K from 0) or auto/N")));
    };
    let max = hotcold_sim::MAX_SHARDS;
    let count: usize = count
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| Failure::BadInput(anyhow!("--shard {text}: N must be a whole number from 1 to {max}")))?;
    Ok((crate::batch::task_index(index, count, "--shard", var)?, count))
}

fn progress_bar(scenario: &Scenario) -> ProgressBar {
    let bar = ProgressBar::new(scenario.duration.as_secs());
    let style = ProgressStyle::with_template(
        "{spinner} simulated {pos}/{len} s [{bar:30}] {percent}% {msg} ETA {eta} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// The one-screen summary printed after a run.
pub(crate) fn one_screen(command: &str, record: &RunRecord, s: &Summary, out: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "hotcold {command}: {} (seed {}, sample {}), {:.1} simulated days",
        s.scenario,
        s.seed,
        s.sample,
        s.simulated_seconds / 86_400.0
    );
    let c = &s.sessions;
    let _ = writeln!(t, "  requests        {:>14}   availability {:.6}", s.requests, s.availability);
    let _ = writeln!(t, "  created         {:>14}   logged out   {:>12}", c.created, c.logged_out);
    let _ = writeln!(t, "  hot hits        {:>14}   promotions   {:>12}", c.hot_hits, c.cold_promotions);
    let _ = writeln!(
        t,
        "  demoted         {:>14}   expired      {:>12} hot, {} cold",
        c.demoted, c.expired_hot, c.expired_cold
    );
    let _ = writeln!(t, "  invalid lookups {:>14}   lost         {:>12}", c.invalid_lookups, c.lost);
    let h = &s.hot_cold;
    let _ = writeln!(
        t,
        "  hot sessions    avg {:.0}, peak {}; cold avg {:.0}; hot ratio {:.4}",
        h.hot_avg, h.hot_peak, h.cold_avg, h.hot_ratio_avg
    );
    let l = &s.latency_ms;
    for (name, p) in [("hot access", &l.hot_access), ("cold promotion", &l.cold_promotion), ("create", &l.create)] {
        let _ = writeln!(
            t,
            "  {name:<15} p50 {:>8.3} ms  p95 {:>8.3} ms  p99 {:>8.3} ms  max {:>9.3} ms",
            p.p50, p.p95, p.p99, p.max
        );
    }
    for region in &record.regions {
        let peak = s.redis.peak_bytes.get(region).copied().unwrap_or(0);
        let p95 = s.latency_ms.by_region.get(region).map_or(0.0, |r| r.hot_access.p95);
        let _ = writeln!(t, "  {region:<15} Redis peak {:>9.1} MiB   hot p95 {p95:.3} ms", mib(peak));
    }
    let d = &s.dynamodb;
    let _ = writeln!(
        t,
        "  DynamoDB        {} WRU, {} RRU, {} replicated WRU, avg stored {:.1} MiB",
        d.wru,
        d.rru,
        d.replicated_wru,
        d.avg_stored_bytes / 1_048_576.0
    );
    let f = &s.failover;
    let _ = writeln!(
        t,
        "  failover        {} outages, {} sessions at risk, {} lost (ratio {:.4})",
        f.outages, f.sessions_at_risk, f.sessions_lost, f.loss_ratio
    );
    let processes = match s.run.processes {
        0 | 1 => String::new(),
        n => format!(" per process ({n} processes, the slowest's wall time)"),
    };
    let _ = writeln!(
        t,
        "  run             {:.2} s wall, {:.2}M events/s, peak RSS {:.0} MiB{processes}",
        s.run.wall_seconds,
        s.run.events_per_second / 1e6,
        mib(s.run.peak_rss_bytes)
    );
    let _ = writeln!(t, "  written to      {}", out.display());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(result: Result<(usize, usize), Failure>) -> String {
        match result {
            Err(Failure::BadInput(e)) => e.to_string(),
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn a_shard_is_k_of_n_with_k_from_the_flag_or_the_scheduler() {
        let none = |_: &str| None;
        assert_eq!(parse_shard("0/1", none).ok(), Some((0, 1)));
        assert_eq!(parse_shard("3/4", none).ok(), Some((3, 4)));
        let slurm = |name: &str| (name == "SLURM_ARRAY_TASK_ID").then(|| "2".to_string());
        assert_eq!(parse_shard("auto/4", slurm).ok(), Some((2, 4)));
    }

    #[test]
    fn a_bad_shard_is_bad_input_naming_it() {
        let none = |_: &str| None;
        assert!(error(parse_shard("3", none)).contains("expected K/N"));
        assert!(error(parse_shard("4/4", none)).contains("below 4"));
        assert!(error(parse_shard("0/0", none)).contains("from 1 to"));
        assert!(error(parse_shard("0/65", none)).contains("from 1 to 64"));
        assert!(error(parse_shard("a/b", none)).contains("N must be"));
        assert!(error(parse_shard("auto/4", none)).contains("none of"));
    }
}
