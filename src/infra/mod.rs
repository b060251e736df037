//! `hotcold infra`: the deployment a plan priced, written out as code (CloudFormation), plus the
//! alert rules and dashboard that watch it (`--monitoring DIR`). Everything here reads one
//! [`Plan`], so the template, the rules and `costs.csv` cannot disagree.
//!
//! The input is one of three things, told apart without a flag:
//! - a directory (or its `run.json`): a run directory, priced again from its `run.json` (not
//!   simulated again);
//! - a YAML file with any of a serve config's top-level keys (`region`, `redis`, `dynamodb`,
//!   `auth`, `listen`, `limits`; a scenario has none of them): a serve config, which names the
//!   tables, regions, cluster flags and residency, while the sizes come from `--plan`;
//! - any other file: a scenario, simulated now as `hotcold simulate` does and priced.

pub(crate) mod cloudformation;
pub(crate) mod deployment;
pub(crate) mod monitoring;

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use hotcold_model::Setting;
use hotcold_model::record::RunRecord;
use hotcold_reports::CostModel;
use hotcold_reports::FullSummary;

use crate::Failure;
use crate::serve::config::ServeConfig;
use deployment::Deployment;

/// A priced plan: the run that priced it (its `scenario` is the resolved scenario), the summary
/// the reports made of it and the cost model's choices (node type, shards, replicas, tables).
pub(crate) struct Plan {
    /// The run record (simulated now, or read back from a run directory's `run.json`).
    pub(crate) record: RunRecord,
    /// What `summary.json` holds for that run.
    pub(crate) summary: FullSummary,
    /// The cost model's rows and choices, the source of `costs.csv`.
    pub(crate) model: CostModel,
}

/// The command's arguments.
#[derive(Debug)]
pub(crate) struct Args {
    /// A scenario, a run directory or a serve config.
    pub(crate) input: PathBuf,
    /// The output format: `cloudformation`.
    pub(crate) format: String,
    /// Where the template goes. Default: standard output.
    pub(crate) out: Option<PathBuf>,
    /// With a serve config: the run directory or scenario that priced it.
    pub(crate) plan: Option<PathBuf>,
    /// Where the alert rules and the dashboard go.
    pub(crate) monitoring: Option<PathBuf>,
    /// Overrides the scenario's seed (a scenario input or `--plan SCENARIO`).
    pub(crate) seed: Option<u64>,
    /// Overrides the scenario's sample fraction.
    pub(crate) sample: Option<f64>,
    /// No progress bar while simulating.
    pub(crate) quiet: bool,
    /// `--set KEY=VALUE` of the scenario.
    pub(crate) settings: Vec<Setting>,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON template for every planned region, deployed as a StackSet.
    CloudFormation,
}

impl Format {
    /// Parsed here rather than by clap, so an unknown format is one line like every other bad
    /// input.
    fn parse(text: &str) -> Result<Self, Failure> {
        match text {
            "cloudformation" => Ok(Self::CloudFormation),
            other => Err(Failure::BadInput(anyhow!("--format {other}: unknown format (known: cloudformation)"))),
        }
    }
}

/// What the positional argument turned out to be.
enum Input {
    /// A run directory or a scenario: the plan itself.
    Plan(Box<Plan>),
    /// A serve config (checked as `hotcold serve` checks it, credential files aside).
    Config(Box<ServeConfig>),
}

/// Writes the template (and the monitoring files) of the input's plan.
pub(crate) fn infra(args: &Args) -> Result<(), Failure> {
    let format = Format::parse(&args.format)?;
    let input_name = args.input.display().to_string();
    let (plan, config) = match read_input(&args.input, args)? {
        Input::Plan(plan) => {
            if args.plan.is_some() {
                return Err(bad(format!(
                    "--plan applies to a serve config input; {input_name} is a scenario or run directory, the plan \
                     itself"
                )));
            }
            (*plan, None)
        }
        Input::Config(config) => {
            let Some(plan_path) = &args.plan else {
                return Err(bad(format!(
                    "{input_name} is a serve config: it names the tables and regions but not the node type and \
                     counts; add --plan RUN_DIR (or --plan SCENARIO) with the run that priced it"
                )));
            };
            match read_input(plan_path, args)? {
                Input::Plan(plan) => (*plan, Some(config)),
                Input::Config(_) => {
                    return Err(bad(format!(
                        "--plan {}: a serve config; --plan takes a run directory or a scenario",
                        plan_path.display()
                    )));
                }
            }
        }
    };
    let config = config.as_deref().map(|c| (c, input_name.as_str()));
    let deployment = Deployment::new(&plan, config).map_err(bad)?;
    for note in &deployment.notes {
        eprintln!("hotcold infra: note: {note}");
    }
    let text = match format {
        Format::CloudFormation => cloudformation::render(&plan, &deployment, config.map(|(_, file)| file)),
    };
    if text.len() > cloudformation::MAX_TEMPLATE_BODY {
        eprintln!(
            "hotcold infra: note: the template is {} bytes, over the {} bytes `--template-body` takes: upload it to \
             S3 and give `--template-url` (docs/deploy.md)",
            text.len(),
            cloudformation::MAX_TEMPLATE_BODY
        );
    }
    match &args.out {
        Some(out) => {
            // As `simulate --out` does, a missing directory is made.
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))
                    .map_err(Failure::Failed)?;
            }
            std::fs::write(out, &text)
                .with_context(|| format!("cannot write the template {}", out.display()))
                .map_err(Failure::Failed)?;
            let shards: u64 = deployment.caches.iter().map(|c| c.shards).sum();
            println!(
                "hotcold infra: {} (seed {}, sample {}), {:.2} USD a month: {} tables, {} replication groups ({} shards) \
                 in {}",
                plan.summary.scenario,
                plan.summary.seed,
                plan.summary.sample,
                plan.summary.cost_usd_month.total,
                deployment.tables.len(),
                deployment.caches.len(),
                shards,
                deployment.regions.join(", ")
            );
            println!("  template        {} (a StackSet over those regions: docs/deploy.md)", out.display());
        }
        None => print!("{text}"),
    }
    if let Some(dir) = &args.monitoring {
        let written = monitoring::write(&plan, dir).map_err(Failure::Failed)?;
        for path in written {
            // With the template on standard output, the list goes to standard error.
            let line = format!("  monitoring      {}", path.display());
            if args.out.is_some() {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    Ok(())
}

fn bad(message: String) -> Failure {
    Failure::BadInput(anyhow!(message))
}

/// Reads `path` as a run directory, a serve config or a scenario.
fn read_input(path: &Path, args: &Args) -> Result<Input, Failure> {
    let is_run_json = path.file_name().is_some_and(|name| name == "run.json");
    if path.is_dir() || is_run_json {
        let dir = if is_run_json { path.parent().unwrap_or_else(|| Path::new(".")) } else { path };
        refuse_scenario_options(args, dir)?;
        return Plan::from_run_dir(dir).map(|plan| Input::Plan(Box::new(plan)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("{}: cannot read it ({e})", path.display())))?;
    if looks_like_serve_config(&text) {
        let config = ServeConfig::parse(&text, &path.display().to_string()).map_err(|e| Failure::BadInput(e.into()))?;
        return Ok(Input::Config(Box::new(config)));
    }
    Plan::simulate(path, args).map(|plan| Input::Plan(Box::new(plan)))
}

/// A scenario's options mean nothing to a run already priced.
fn refuse_scenario_options(args: &Args, dir: &Path) -> Result<(), Failure> {
    let given =
        [("--seed", args.seed.is_some()), ("--sample", args.sample.is_some()), ("--set", !args.settings.is_empty())];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        return Err(bad(format!(
            "{flag} applies to a scenario; {} is a run directory, priced with the seed, sample and settings it was run with",
            dir.display()
        )));
    }
    Ok(())
}

/// Whether YAML text is a serve config rather than a scenario: a mapping with one of the keys
/// only a serve config has. Text that does not parse is left to the scenario loader, whose error
/// names the line and column.
fn looks_like_serve_config(text: &str) -> bool {
    const CONFIG_KEYS: [&str; 6] = ["region", "redis", "dynamodb", "auth", "listen", "limits"];
    yaml_serde::from_str::<yaml_serde::Value>(text)
        .ok()
        .as_ref()
        .and_then(yaml_serde::Value::as_mapping)
        .is_some_and(|map| CONFIG_KEYS.iter().any(|key| map.contains_key(*key)))
}

impl Plan {
    /// The plan of a run record: its summary and cost model, as `summary.json` and `costs.csv`
    /// have them.
    pub(crate) fn from_record(record: RunRecord) -> Self {
        let (summary, model) = hotcold_reports::full_summary(&record);
        Self { record, summary, model }
    }

    /// A run directory's plan, read back from its `run.json` without simulating again.
    pub(crate) fn from_run_dir(dir: &Path) -> Result<Self, Failure> {
        let record = hotcold_reports::read_checked_run(dir).map_err(crate::report::failure)?;
        Ok(Self::from_record(record))
    }

    /// A scenario's plan: simulated now, as `hotcold simulate` runs it (`--seed`, `--sample`,
    /// `--set`, a progress bar on stderr unless `--quiet`), and priced; no run directory is
    /// written.
    pub(crate) fn simulate(path: &Path, args: &Args) -> Result<Self, Failure> {
        // A bad --sample is refused by the run itself (exit 2), before anything is simulated.
        let scenario = crate::validate::load(path, &args.settings)?;
        let (bar, progress) = crate::simulate::progress(args.quiet, &scenario);
        let options = hotcold_sim::RunOptions { seed: args.seed, sample: args.sample, progress, ..Default::default() };
        let record = hotcold_sim::run(&scenario, &options).map_err(crate::simulate::bad_run);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(Self::from_record(record?))
    }
}
