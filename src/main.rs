//! `hotcold`: the command line of the hybrid hot/cold session store.
//!
//! Exit codes (CONTRACT section 1): 0 success; 1 the run failed (I/O error, backend down), with one
//! line saying what and where; 2 bad input (unknown command or flag, unreadable or invalid
//! scenario or config).

mod analytics;
mod audit;
mod batch;
mod calibrate;
mod infra;
mod load;
mod merge;
mod migrate;
mod pass_timer;
mod report;
mod serve;
mod simulate;
mod sweep;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hotcold_model::Setting;

/// Plan and run a hybrid hot/cold (Redis + DynamoDB) session store.
#[derive(Debug, Parser)]
#[command(name = "hotcold", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario on the simulated clock with simulated backends and write a run directory.
    Simulate {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Run directory. Default: runs/<scenario name>-<seed>.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Overrides the scenario's sample fraction, in (0, 1].
        #[arg(long)]
        sample: Option<f64>,
        /// Independent shards of the users, simulated on parallel threads (default 2). Results
        /// depend on the shard count, never on the machine; 1 is the plain sequential run.
        #[arg(long, conflicts_with = "shard")]
        shards: Option<usize>,
        /// Runs only shard K of N (K from 0), in this process, and writes it to --out for
        /// `hotcold merge`; `auto/N` takes K from JOB_COMPLETION_INDEX (Kubernetes),
        /// SLURM_ARRAY_TASK_ID (Slurm) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch).
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Also write analytics.parquet: the analytics table the simulated sessions would have
        /// produced (the live export's columns), for `hotcold calibrate` and BI.
        #[arg(long)]
        analytics: bool,
        /// Sets a scenario key by its dotted path, as in `sweep:`, to a YAML value
        /// (`session_config.hot_storage.promotion_threshold=900`); repeatable; applied before
        /// validation.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Setting>,
    },
    /// Run every point of the scenario's `sweep:` grid in parallel; write sweep.csv, frontier.svg and
    /// frontier-lookup.svg (and sweep-spread.csv with a seed axis). `--plan`, `--point` and
    /// `--collect` split the same sweep into tasks for a batch scheduler.
    Sweep {
        /// The scenario file (YAML) with a `sweep:` block.
        scenario: PathBuf,
        /// Output directory. Default: runs/<scenario name>-sweep.
        #[arg(long, conflicts_with_all = ["plan", "collect"])]
        out: Option<PathBuf>,
        /// Points run at once. Default: one per 2 cores (each run already simulates 2 shards in parallel).
        #[arg(long, conflicts_with_all = ["plan", "point", "collect"])]
        jobs: Option<usize>,
        /// Sets a scenario key by its dotted path, as in `sweep:`, to a YAML value
        /// (`session_config.hot_storage.promotion_threshold=900`); repeatable; applied before
        /// validation.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Setting>,
        /// Adds a `seed` axis of N seeds to the grid (the scenario's seed, +1, ..., +N-1), to see
        /// each figure's spread across seeds in sweep-spread.csv.
        #[arg(long, value_name = "N")]
        seeds: Option<u64>,
        /// Prints the points and runs nothing: one line each, tab-separated: the index (from 0,
        /// as schedulers count), the run directory's name, and the `--set KEY=VALUE` words
        /// (quoted for a POSIX shell) that make the point with `hotcold simulate SCENARIO`.
        #[arg(long, conflicts_with_all = ["point", "collect"])]
        plan: bool,
        /// Runs only point I (from 0, as in --plan) into DIR/<its directory>, where the whole
        /// sweep puts it; `auto` reads I from JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or
        /// AWS_BATCH_JOB_ARRAY_INDEX.
        #[arg(long, value_name = "I|auto", requires = "out", conflicts_with = "collect")]
        point: Option<String>,
        /// Writes sweep.csv, the frontiers (and sweep-spread.csv) from the points' run directories
        /// under DIR, the same as the whole sweep; refuses missing points or points run from
        /// another scenario.
        #[arg(long, value_name = "DIR")]
        collect: Option<PathBuf>,
    },
    /// Put the shards of a run (each written by `simulate --shard K/N`) together into its run
    /// directory: the summary.json of `simulate --shards N` in one process.
    Merge {
        /// The shard directories (every K of N once, in any order).
        #[arg(required = true, value_name = "SHARD_DIR")]
        shard_dirs: Vec<PathBuf>,
        /// Run directory. Default: runs/<scenario name>-<seed>.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Rebuild report.html, charts and tables of a run directory from its run.json.
    Report {
        /// The run directory (written by `hotcold simulate`).
        run_dir: PathBuf,
    },
    /// Parse and check a scenario; print it fully resolved (all defaults filled) as YAML.
    Validate {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Sets a scenario key by its dotted path, as in `sweep:`, to a YAML value
        /// (`session_config.hot_storage.promotion_threshold=900`); repeatable; applied before
        /// validation.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Setting>,
    },
    /// Drive the scenario's synthetic traffic against live Redis and DynamoDB (the backends of a
    /// serve config), time compressed, and write a run directory like `simulate`.
    Load {
        /// The scenario file (YAML); `faults:` are refused (they cannot be injected live).
        scenario: PathBuf,
        /// The service configuration whose `redis:` and `dynamodb:` entries to use.
        #[arg(long)]
        config: PathBuf,
        /// Time compression: every duration of the scenario and the engine is divided by X.
        #[arg(long, default_value_t = 1.0)]
        speedup: f64,
        /// Run directory. Default: runs/<scenario name>-<seed>-load.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the production Session Manager of one region: the HTTP API, the sync job and
    /// /metrics, against live Redis and DynamoDB.
    Serve {
        /// The service configuration (YAML; CONTRACT section 5).
        #[arg(long)]
        config: PathBuf,
    },
    /// The compliance query: every audit event of one user, newest first, from the live audit
    /// table; or, with --verify, check that no audit record was changed or removed.
    Audit {
        /// Whose events (not needed with --verify).
        #[arg(required_unless_present = "verify")]
        user_id: Option<String>,
        /// The service configuration whose `dynamodb:` entry names the audit table.
        #[arg(long)]
        config: PathBuf,
        /// Only events at or after this time (RFC 3339, or milliseconds since 1970).
        #[arg(long)]
        since: Option<String>,
        /// Only events before this time.
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: audit::Format,
        /// Walk every writer's hash chain against its reported head; print the result as JSON;
        /// exit 1 if any record was changed, removed or inserted.
        #[arg(long)]
        verify: bool,
    },
    /// Write the deployment a plan priced as infrastructure code: the DynamoDB tables (global
    /// table replicas, residency tables, TTL, indexes, point-in-time recovery) and each region's
    /// ElastiCache replication group with the priced node type, shards and replicas (docs/deploy.md).
    Infra {
        /// A scenario (simulated now and priced), a run directory (priced from its run.json), or a
        /// serve config (table names, regions, cluster flags, residency; the sizes from --plan).
        #[arg(value_name = "SCENARIO_OR_CONFIG")]
        input: PathBuf,
        /// Output format: cloudformation (one template for every region, deployed as a StackSet).
        #[arg(long)]
        format: String,
        /// The file to write. Default: standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With a serve config: the run directory (or scenario) that priced it.
        #[arg(long, value_name = "RUN_DIR")]
        plan: Option<PathBuf>,
        /// Also write Prometheus alert rules and a Grafana dashboard for the plan into DIR.
        #[arg(long, value_name = "DIR")]
        monitoring: Option<PathBuf>,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Overrides the scenario's sample fraction, in (0, 1].
        #[arg(long)]
        sample: Option<f64>,
        /// No progress bar while the scenario is simulated.
        #[arg(long)]
        quiet: bool,
        /// Sets a scenario key by its dotted path to a YAML value, as `simulate --set` does;
        /// repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Setting>,
    },
    /// Bulk import of a Redis-only store's sessions (the config's `legacy:` block) into the hybrid
    /// store, at a bounded rate, resumable after a crash (docs/migration.md).
    ///
    /// Idle sessions go straight to DynamoDB, active ones to the hot tier too; sessions on the
    /// legacy side of `legacy.rollout_percent` are left alone. Exit 0 once the walk is complete
    /// (sessions that cannot be imported stay in the legacy store and are listed by reason), 1
    /// when a backend keeps failing or the job is interrupted (the checkpoint keeps the progress:
    /// run the same command again to resume), 2 for bad input.
    Migrate {
        /// The service configuration: `legacy:` names the store, `redis:` and `dynamodb:` the
        /// hybrid store.
        #[arg(long)]
        config: PathBuf,
        /// At most this many sessions a second (`500` or `500/s`). Default: 500.
        #[arg(long, value_name = "N")]
        rate: Option<String>,
        /// Where the walk's progress is kept. Default: hotcold-migrate.checkpoint in the current
        /// directory.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Starts a new walk from the beginning, whatever the checkpoint says (e.g. after raising
        /// `legacy.rollout_percent`).
        #[arg(long)]
        restart: bool,
    },
    /// The analytics table: session summaries for BI and fraud tools.
    Analytics {
        #[command(subcommand)]
        action: AnalyticsAction,
    },
    /// Fit a scenario to what production measured: its traffic block from an analytics export,
    /// its latency block from Prometheus histograms of the backend calls; prints each fitted
    /// value with its goodness of fit; exit 2 when the data cannot support a fit.
    Calibrate {
        /// An analytics export (`hotcold analytics export` or `simulate --analytics`), Parquet or
        /// CSV: fits `traffic:`.
        #[arg(long, value_name = "FILE.parquet")]
        analytics: Option<PathBuf>,
        /// A Prometheus text exposition with `hotcold_backend_call_duration_seconds`: a file, or
        /// an http:// URL of a `/metrics` endpoint (the admin token is read from the
        /// HOTCOLD_ADMIN_TOKEN environment variable): fits `latency:`.
        #[arg(long, value_name = "FILE|URL")]
        metrics: Option<String>,
        /// The scenario every key not fitted comes from. Default: the defaults, with the regions
        /// found in the export.
        #[arg(long, value_name = "SCENARIO")]
        base: Option<PathBuf>,
        /// The export came from `hotcold load --speedup X`: its times are stretched back by X.
        #[arg(long, default_value_t = 1.0)]
        speedup: f64,
        /// The calibrated scenario to write.
        #[arg(long, value_name = "SCENARIO")]
        out: PathBuf,
    },
}

/// What `hotcold analytics` does.
#[derive(Debug, Subcommand)]
enum AnalyticsAction {
    /// Write the session summaries as Parquet (or CSV, for a path ending in .csv).
    Export {
        /// The service configuration whose `dynamodb:` entry names the analytics table.
        #[arg(long)]
        config: PathBuf,
        /// Only sessions whose last tier change or end is at or after this time (RFC 3339, or
        /// milliseconds since 1970).
        #[arg(long)]
        since: Option<String>,
        /// Only sessions created before this time.
        #[arg(long)]
        until: Option<String>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad input: exit 2.
    BadInput(anyhow::Error),
    /// The run failed: exit 1.
    Failed(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Simulate { scenario, out, seed, sample, shards, shard, quiet, analytics, set } => {
            simulate::simulate(&simulate::Args {
                scenario,
                out,
                seed,
                sample,
                shards,
                shard,
                quiet,
                analytics,
                settings: set,
            })
        }
        Command::Calibrate { analytics, metrics, base, speedup, out } => {
            calibrate::calibrate(&calibrate::Args { analytics, metrics, base, speedup, out })
        }
        Command::Merge { shard_dirs, out } => merge::merge(&merge::Args { shard_dirs, out }),
        Command::Sweep { scenario, out, jobs, set, seeds, plan, point, collect } => {
            sweep::sweep(&sweep::Args { scenario, out, jobs, settings: set, plan, point, collect, seeds })
        }
        Command::Report { run_dir } => report::report(&run_dir),
        Command::Validate { scenario, set } => validate::validate(&scenario, &set),
        Command::Serve { config } => serve::serve(&serve::Args { config }),
        Command::Load { scenario, config, speedup, out } => load::load(&load::Args { scenario, config, speedup, out }),
        Command::Audit { user_id, config, since, until, format, verify } => {
            audit::audit(&audit::Args { user: user_id, config, since, until, format, verify })
        }
        Command::Infra { input, format, out, plan, monitoring, seed, sample, quiet, set } => {
            infra::infra(&infra::Args { input, format, out, plan, monitoring, seed, sample, quiet, settings: set })
        }
        Command::Migrate { config, rate, checkpoint, restart } => {
            migrate::migrate(&migrate::Args { config, rate, checkpoint, restart })
        }
        Command::Analytics { action: AnalyticsAction::Export { config, since, until, out } } => {
            analytics::export(&analytics::ExportArgs { config, since, until, out })
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(e)) => {
            eprintln!("hotcold: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("hotcold: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `hotcold simulate|merge|sweep ...` command lines in `text`: from `hotcold ` to the end
    /// of the line, a closing quote, a pipe or `&&`.
    fn command_lines(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for line in text.lines() {
            let mut rest = line;
            while let Some(at) = rest.find("hotcold ") {
                let tail = &rest[at + "hotcold ".len()..];
                let end = ["\"", "`", " |", " &&", ")"].iter().filter_map(|stop| tail.find(stop)).min();
                let command = tail[..end.unwrap_or(tail.len())].trim_end_matches('\\').trim();
                if ["simulate ", "merge ", "sweep "].iter().any(|c| command.starts_with(c)) {
                    found.push(command.to_string());
                }
                rest = tail;
            }
        }
        found
    }

    /// The batch examples (docs/batch.md and the Kubernetes and Slurm files) stay true to the
    /// command line: every hotcold command in them parses, and names a scenario that exists.
    #[test]
    fn the_batch_examples_commands_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("docs/batch.md")];
        let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("docs/batch"))
            .expect("docs/batch")
            .map(|entry| entry.expect("entry").path())
            .collect();
        examples.sort();
        files.extend(examples);
        let mut checked = 0;
        for file in &files {
            let mut text = std::fs::read_to_string(file).expect("read an example");
            if file.extension().is_some_and(|e| e == "md") {
                // Markdown: the code blocks (the tables name commands with placeholders).
                text = text.split("```").skip(1).step_by(2).collect::<Vec<_>>().join("\n");
            }
            let commands = command_lines(&text);
            assert!(!commands.is_empty(), "{}: no hotcold command found", file.display());
            for command in commands {
                let words: Vec<&str> = std::iter::once("hotcold").chain(command.split_whitespace()).collect();
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("{}: `hotcold {command}` does not parse: {e}", file.display());
                }
                for word in &words {
                    if let Some(name) = word.strip_prefix("/scenarios/").or_else(|| word.strip_prefix("scenarios/")) {
                        assert!(root.join("scenarios").join(name).exists(), "{}: no scenario {word}", file.display());
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} commands found");
    }

    #[test]
    fn command_lines_are_cut_where_the_shell_text_ends() {
        let text = "x --wrap \"hotcold merge a b --out c\" y\n  - hotcold sweep s.yaml --plan | wc -l\nhotcold serve";
        assert_eq!(command_lines(text), vec!["merge a b --out c", "sweep s.yaml --plan"]);
    }
}
