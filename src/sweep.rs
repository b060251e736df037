//! `hotcold sweep SCENARIO [--out DIR] [--jobs N] [--seeds N] [--set KEY=VALUE]...`: the `--set`
//! values change the base scenario; its `sweep:` grid is kept and run over it.
//!
//! For batch schedulers the same sweep comes apart in three steps that see the same grid: `--plan`
//! prints the points, `--point I|auto --out DIR` runs one of them, `--collect DIR` writes the
//! sweep's outputs from the points' run directories, the same bytes as a whole `hotcold sweep`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use hotcold_model::{Scenario, Setting};
use hotcold_reports::sweep::{FIGURES, PlannedPoint, SweepOutcome};
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
    /// Print the points instead of running them.
    pub(crate) plan: bool,
    /// Run only this point (from 0, or `auto`).
    pub(crate) point: Option<String>,
    /// Write the sweep's outputs from the points already run under this directory.
    pub(crate) collect: Option<PathBuf>,
    /// Add a seed axis of this many seeds.
    pub(crate) seeds: Option<u64>,
}

/// Runs the grid, or one step of it (`--plan`, `--point`, `--collect`).
pub(crate) fn sweep(args: &Args) -> Result<(), Failure> {
    let file = args.scenario.display().to_string();
    let mut scenario = crate::validate::load(&args.scenario, &args.settings)?;
    if let Some(seeds) = args.seeds {
        scenario = scenario.with_seed_axis(seeds, &file).map_err(|e| Failure::BadInput(e.into()))?;
    }
    if args.jobs == Some(0) {
        return Err(Failure::BadInput(anyhow!("--jobs must be at least 1")));
    }
    let points = hotcold_reports::sweep::plan(&scenario, &file).map_err(failure)?;
    if args.plan {
        print!("{}", plan_lines(&points, &args.settings)?);
        return Ok(());
    }
    let simulate = |point: &Scenario| hotcold_sim::run(point, &RunOptions::default()).map_err(|e| e.to_string());
    if let Some(text) = &args.point {
        let Some(out) = &args.out else {
            return Err(Failure::BadInput(anyhow!(
                "--point needs --out DIR, the directory every point of the sweep shares"
            )));
        };
        not_a_file(out)?;
        let index = crate::batch::task_index(text, points.len(), "--point", crate::batch::environment)?;
        let point = std::slice::from_ref(&points[index]);
        hotcold_reports::sweep::run_points(point, out, 1, simulate).map_err(failure)?;
        println!(
            "hotcold sweep: {} point {index} of {} (counted from 0) written to {}",
            scenario.name,
            points.len(),
            out.join(&points[index].dir_name).display()
        );
        return Ok(());
    }
    if let Some(dir) = &args.collect {
        let outcome = hotcold_reports::sweep::collect(&scenario, &points, dir).map_err(failure)?;
        println!("hotcold sweep: {} ({} points collected)", scenario.name, outcome.points.len());
        print!("{}", table(&outcome, dir));
        return Ok(());
    }
    // Each run already simulates its shards on parallel threads: one job per that many cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or_else(|| (cores / hotcold_sim::DEFAULT_SHARDS).max(1));
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-sweep", scenario.name)));
    not_a_file(&out)?;
    let outcome = hotcold_reports::sweep::run_sweep(&scenario, &file, &out, jobs, simulate).map_err(failure)?;
    println!("hotcold sweep: {} ({} points, {} jobs)", scenario.name, outcome.points.len(), jobs);
    print!("{}", table(&outcome, &out));
    Ok(())
}

/// Refuses an `--out` that is a file: bad input, not an I/O failure once a point has run.
fn not_a_file(out: &Path) -> Result<(), Failure> {
    if out.exists() && !out.is_dir() {
        return Err(Failure::BadInput(anyhow!("--out {}: not a directory", out.display())));
    }
    Ok(())
}

/// The `--plan` output: one line per point, `index<TAB>directory<TAB>arguments`, the index from 0,
/// the arguments the `--set KEY=VALUE` words (the command's own, then the point's), each quoted for
/// a POSIX shell where needed, that make the point with `hotcold simulate SCENARIO`.
fn plan_lines(points: &[PlannedPoint], settings: &[Setting]) -> Result<String, Failure> {
    let mut text = String::new();
    for (i, point) in points.iter().enumerate() {
        let mut words: Vec<String> =
            settings.iter().map(|s| format!("--set {}", shell_word(&format!("{}={}", s.key, s.text)))).collect();
        for (key, value) in &point.overrides {
            let Some(value) = set_value(value) else {
                return Err(Failure::BadInput(anyhow!(
                    "point {i} ({}): the value of {key} cannot be written as a --set value",
                    point.dir_name
                )));
            };
            words.push(format!("--set {}", shell_word(&format!("{key}={value}"))));
        }
        text.push_str(&format!("{i}\t{}\t{}\n", point.dir_name, words.join(" ")));
    }
    Ok(text)
}

/// A grid value as `--set` text on one line that reads back as the same YAML value: as it is
/// written when that reads back (`600`, `on_demotion`), else in flow style with quoted strings
/// (`"600"` for the string, `["eu-west-1", "us-east-1"]`). `None` when neither reads back.
fn set_value(value: &yaml_serde::Value) -> Option<String> {
    use yaml_serde::Value;
    let reads_back = |text: &str| {
        !text.trim().is_empty()
            && !text.chars().any(char::is_control)
            && yaml_serde::from_str::<Value>(text).is_ok_and(|read| read == *value)
    };
    let plain = match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    plain.filter(|text| reads_back(text)).or_else(|| flow(value).filter(|text| reads_back(text)))
}

/// A YAML value in flow style, strings double-quoted as JSON writes them (JSON's escapes are
/// YAML's); `None` for a tagged value.
fn flow(value: &yaml_serde::Value) -> Option<String> {
    use yaml_serde::Value;
    Some(match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).ok()?,
        Value::Sequence(items) => format!("[{}]", items.iter().map(flow).collect::<Option<Vec<_>>>()?.join(", ")),
        Value::Mapping(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| Some(format!("{}: {}", flow(k)?, flow(v)?)))
                .collect::<Option<Vec<_>>>()?
                .join(", ")
        ),
        Value::Tagged(_) => return None,
    })
}

/// `word` as one word of a POSIX shell command: as it is when every character is safe unquoted,
/// else in single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The per-point table, the cheapest passing point, and with a seed axis the spread across seeds
/// (mean ± sd).
fn table(outcome: &SweepOutcome, out: &Path) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
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
        let _ = writeln!(
            t,
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
        let _ = writeln!(t, "  no point passes every SLO");
    }
    let mut written = "sweep.csv, frontier.svg, frontier-lookup.svg";
    if !outcome.spread.is_empty() {
        written = "sweep.csv, sweep-spread.csv, frontier.svg, frontier-lookup.svg";
        t.push_str(&spread_table(outcome));
    }
    let _ = writeln!(t, "  written to      {} ({written})", out.display());
    t
}

/// The spread across seeds, mean ± sample sd, one line per combination of the other parameters.
fn spread_table(outcome: &SweepOutcome) -> String {
    use std::fmt::Write as _;
    // (column heading, figure name in FIGURES, decimals).
    const SHOWN: [(&str, &str, usize); 8] = [
        ("hot p95 ms", "hot_access_p95_ms", 3),
        ("cold p95 ms", "cold_promotion_p95_ms", 3),
        ("lookup mean ms", "lookup_mean_ms", 3),
        ("lookup p99 ms", "lookup_p99_ms", 3),
        ("promo/1k", "promotions_per_1k_requests", 2),
        ("hot ratio", "hot_ratio", 4),
        ("USD/month", "cost_usd_month", 2),
        ("loss", "failover_loss_ratio", 5),
    ];
    let mut t = String::new();
    let _ = writeln!(t, "  spread across seeds (mean ± sd; every figure in sweep-spread.csv)");
    let cells: Vec<Vec<String>> = outcome
        .spread
        .iter()
        .map(|row| {
            SHOWN
                .iter()
                .map(|(_, name, decimals)| {
                    FIGURES
                        .iter()
                        .position(|f| f.name == *name)
                        .and_then(|f| row.figures.get(f))
                        .map_or_else(String::new, |s| {
                            format!("{:.decimals$} ± {:.decimals$}", s.mean, s.sd, decimals = *decimals)
                        })
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = SHOWN
        .iter()
        .enumerate()
        .map(|(c, (heading, _, _))| {
            cells.iter().map(|row| row[c].chars().count()).chain([heading.chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let mut line = format!("  {:>5}", "seeds");
    for ((heading, _, _), width) in SHOWN.iter().zip(&widths) {
        let _ = write!(line, "  {heading:>width$}");
    }
    let _ = writeln!(t, "{line}  {:>10}  parameters", "SLOs");
    for (row, cells) in outcome.spread.iter().zip(&cells) {
        let mut line = format!("  {:>5}", row.seeds);
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(line, "  {cell:>width$}");
        }
        let params: Vec<String> = row.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let verdict = if row.all_seeds_pass { "all pass" } else { "some FAIL" };
        let _ = writeln!(t, "{line}  {verdict:>10}  {}", params.join(" "));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_so_that_they_read_back() {
        for yaml in ["600", "on_demotion", "\"600\"", "\"true\"", "[eu-west-1, us-east-1]", "0.25", "{a: 1}", "\"\""] {
            let value: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
            let text = set_value(&value).unwrap();
            let setting: Setting = format!("k={text}").parse().unwrap();
            assert_eq!(setting.value, value, "{yaml} written as {text}");
        }
        assert_eq!(set_value(&yaml_serde::Value::from(600)).as_deref(), Some("600"));
        assert_eq!(set_value(&yaml_serde::Value::from("600")).as_deref(), Some("\"600\""));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("seed=42"), "seed=42");
        assert_eq!(shell_word("k=[a, b]"), "'k=[a, b]'");
        assert_eq!(shell_word("k=it's"), r"'k=it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
