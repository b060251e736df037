//! hotcold-reports: turns a run's [`RunRecord`] into the run directory of CONTRACT section 3:
//! the complete `summary.json` (costs, Redis-only baseline, SLO verdicts), `costs.csv`,
//! `timeseries.parquet`/`.csv`, charts (SVG and PNG) and a self-contained `report.html`; and runs
//! sweeps (`sweep.csv`, `frontier.svg`, `sweep-spread.csv`), in one process or point by point.
//!
//! The cost model ([`cost`]) follows CONTRACT section 4 exactly; monthly figures are steady-state
//! figures, projected with Little's law where the run is shorter than a retention period.

pub mod analytics;
pub mod charts;
pub mod cost;
pub mod frontier;
mod html;
pub mod migration;
pub mod options;
pub mod summary;
pub mod sweep;
pub mod tables;

use std::path::{Path, PathBuf};

pub use cost::{CostModel, CostRow, cost_model};
use hotcold_model::RunRecord;
pub use summary::{FullSummary, SloResult, full_summary};

/// Why a report could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Bad input: a missing run directory, an unreadable or corrupt `run.json`, a bad scenario.
    #[error("{0}")]
    BadInput(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A table could not be built or written.
    #[error("table: {0}")]
    Table(String),
    /// A chart could not be drawn.
    #[error("chart: {0}")]
    Chart(String),
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    /// Whether this is bad input (exit 2) rather than a failed run (exit 1).
    pub const fn is_bad_input(&self) -> bool {
        matches!(self, Self::BadInput(_))
    }
}

/// Serializes the complete summary as `summary.json` text (pretty, trailing newline).
pub fn summary_json(summary: &FullSummary) -> Result<String, ReportError> {
    let mut text =
        serde_json::to_string_pretty(summary).map_err(|e| ReportError::Table(format!("summary.json: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// Writes a whole run directory into `out` (which must exist): the run's record (`run.json`), the
/// scenario as run (`scenario.resolved.yaml`) and every report file ([`write_reports`]). Returns the
/// complete summary.
pub fn write_run_directory(out: &Path, record: &RunRecord) -> Result<FullSummary, ReportError> {
    let write = |name: &str, bytes: &[u8]| -> Result<(), ReportError> {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| ReportError::io(&path, e))
    };
    write("scenario.resolved.yaml", record.scenario.to_yaml().as_bytes())?;
    let run = serde_json::to_vec(record).map_err(|e| ReportError::Table(format!("run.json: {e}")))?;
    write("run.json", &run)?;
    write_reports(out, record)
}

/// Writes every report file of a run into `out` (which must exist): `summary.json`, `costs.csv`,
/// `timeseries.parquet`, `timeseries.csv`, `charts/*.svg|png` and `report.html` (and with a
/// migration `migration.csv`). Returns the
/// complete summary. `run.json` and `scenario.resolved.yaml` are the caller's.
pub fn write_reports(out: &Path, record: &RunRecord) -> Result<FullSummary, ReportError> {
    let (summary, model) = full_summary(record);
    let write = |name: &str, bytes: &[u8]| -> Result<(), ReportError> {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| ReportError::io(&path, e))
    };
    write("summary.json", summary_json(&summary)?.as_bytes())?;
    let mut costs = tables::costs_frame(&model.rows)?;
    tables::write_csv(&mut costs, &out.join("costs.csv"))?;
    let baseline_rows = baseline_rows(record, &model);
    let mut baseline = tables::costs_frame(&baseline_rows)?;
    tables::write_csv(&mut baseline, &out.join("baseline_costs.csv"))?;
    if record.migration.is_some() {
        let mut weekly = tables::migration_frame(&migration::migration_rows(record))?;
        tables::write_csv(&mut weekly, &out.join("migration.csv"))?;
    }
    let mut ts = tables::timeseries_frame(record)?;
    tables::write_parquet(&mut ts, &out.join("timeseries.parquet"))?;
    tables::write_csv(&mut ts, &out.join("timeseries.csv"))?;
    let charts = charts::run_charts(record, &model, &out.join("charts"))?;
    let html = html::report_html(record, &summary, &model, &charts);
    write("report.html", html.as_bytes())?;
    Ok(summary)
}

/// The Redis-only baseline as cost rows (`baseline_costs.csv`).
pub fn baseline_rows(record: &RunRecord, model: &CostModel) -> Vec<CostRow> {
    let r = &record.scenario.costs.redis;
    let capacity = cost::node_capacity_bytes(record);
    record
        .regions
        .iter()
        .enumerate()
        .map(|(i, region)| {
            let nodes = model.baseline.nodes.get(i).copied().unwrap_or(0);
            let peak = model.baseline.peak_bytes.get(i).copied().unwrap_or_default();
            let mult = r.region_multiplier.get(region).copied().unwrap_or(1.0);
            CostRow {
                region: region.clone(),
                component: "redis",
                item: "nodes (Redis-only)",
                quantity: nodes as f64,
                unit: format!("{} node-month", r.node_type),
                unit_price_usd: r.node_usd_per_hour * mult * cost::MONTH_HOURS,
                usd_month: model.baseline.usd_month.get(i).copied().unwrap_or(0.0),
                basis: format!(
                    "every session kept in Redis until cold TTL after its last access: peak {:.3} GiB{} / {:.3} GiB usable per node",
                    peak.steady / cost::GIB,
                    if peak.projected {
                        format!(" (projected; {:.3} GiB reached in the run)", peak.measured / cost::GIB)
                    } else {
                        String::new()
                    },
                    capacity / cost::GIB
                ),
            }
        })
        .collect()
}

/// Reads `run.json` of a run directory.
pub fn read_run(dir: &Path) -> Result<RunRecord, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::BadInput(format!("{}: not a run directory", dir.display())));
    }
    let path = dir.join("run.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        ReportError::BadInput(format!("{}: cannot read ({e}); is this a run directory?", path.display()))
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ReportError::BadInput(format!("{}: not a valid run record: {e}", path.display())))
}

/// Reads `run.json` of a run directory and checks that the reports can be built from it: what
/// `hotcold report` and `hotcold infra RUN_DIR` read, so a run is priced again without being
/// simulated again.
pub fn read_checked_run(dir: &Path) -> Result<RunRecord, ReportError> {
    let record = read_run(dir)?;
    if record.regions.is_empty() || record.usage.len() != record.regions.len() {
        return Err(ReportError::BadInput(format!(
            "{}: run.json lists {} regions but {} usage entries",
            dir.join("run.json").display(),
            record.regions.len(),
            record.usage.len()
        )));
    }
    Ok(record)
}

/// `hotcold report RUN_DIR`: rebuilds the reports from `run.json` without re-simulating.
pub fn rebuild(dir: &Path) -> Result<FullSummary, ReportError> {
    let record = read_checked_run(dir)?;
    write_reports(dir, &record)
}
