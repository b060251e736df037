//! `sim-bench [SCENARIO] [--sample F] [--shards N]`: runs a scenario (default: the ShopFlow baseline) and
//! prints simulated requests per second, events per second and peak memory per session held.
//!
//! `cargo run --release -p hotcold-sim --bin sim-bench -- scenarios/shopflow-baseline.yaml`

use std::path::PathBuf;
use std::process::ExitCode;

use hotcold_model::Scenario;
use hotcold_sim::{RunOptions, run};

fn main() -> ExitCode {
    let mut path = PathBuf::from("scenarios/shopflow-baseline.yaml");
    let mut sample = None;
    let mut shards = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--sample" {
            match args.next().and_then(|v| v.parse::<f64>().ok()) {
                Some(v) => sample = Some(v),
                None => {
                    eprintln!("sim-bench: --sample needs a number");
                    return ExitCode::from(2);
                }
            }
        } else if arg == "--shards" {
            match args.next().and_then(|v| v.parse::<usize>().ok()) {
                Some(v) => shards = Some(v),
                None => {
                    eprintln!("sim-bench: --shards needs a whole number");
                    return ExitCode::from(2);
                }
            }
        } else {
            path = PathBuf::from(arg);
        }
    }
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let record = match run(&scenario, &RunOptions { sample, shards, ..RunOptions::default() }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sim-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let r = &record.run;
    let c = &record.counts;
    println!(
        "scenario            {} (sample {}, shards {})",
        record.scenario.name,
        record.sample,
        shards.unwrap_or(hotcold_sim::DEFAULT_SHARDS)
    );
    println!("simulated           {:.1} days", record.simulated_seconds / 86_400.0);
    println!("requests            {}", c.requests);
    println!("events              {}", c.events);
    println!("wall                {:.2} s", r.wall_seconds);
    println!("requests/s          {:.0}", r.requests_per_second);
    println!("events/s            {:.0}", r.events_per_second);
    println!("peak RSS            {:.1} MiB", r.peak_rss_bytes as f64 / 1_048_576.0);
    println!(
        "peak sessions held  {} (hot peak {} + cold peak {})",
        r.peak_sessions_held, record.tiers.hot_peak, record.tiers.cold_peak
    );
    println!("bytes/session held  {:.0}", r.bytes_per_session_held);
    ExitCode::SUCCESS
}
