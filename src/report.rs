//! `hotcold report RUN_DIR`: rebuilds report.html, charts and tables from `run.json`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::anyhow;
use hotcold_reports::{FullSummary, ReportError};

use crate::Failure;

/// Maps a reports error to the exit code of CONTRACT section 1.
pub(crate) fn failure(e: ReportError) -> Failure {
    if e.is_bad_input() { Failure::BadInput(anyhow!(e)) } else { Failure::Failed(anyhow!(e)) }
}

/// Rebuilds the reports of a run directory.
pub(crate) fn report(dir: &Path) -> Result<(), Failure> {
    let full = hotcold_reports::rebuild(dir).map_err(failure)?;
    print!("{}", verdict_lines(&full));
    println!("  report          {}", dir.join("report.html").display());
    Ok(())
}

/// Cost and SLO lines printed after a run or a rebuild.
pub(crate) fn verdict_lines(s: &FullSummary) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "  cost            session storage {:.2} USD/month (Redis {:.2}, DynamoDB {:.2}, sync {:.2}, transfer {:.2}) against Redis-only {:.2}: saving {:.1}%; with audit {:.2} and analytics {:.2}, total {:.2}",
        s.cost_usd_month.session_storage,
        s.cost_usd_month.redis,
        s.cost_usd_month.dynamodb,
        s.cost_usd_month.sync,
        s.cost_usd_month.transfer,
        s.baseline_redis_only.cost_usd_month.total,
        s.cost_usd_month.saving_vs_redis_only * 100.0,
        s.cost_usd_month.audit,
        s.cost_usd_month.analytics,
        s.cost_usd_month.total
    );
    if let Some(m) = &s.migration {
        let total = &m.total;
        let bulk = m
            .bulk_import_seconds
            .map_or_else(String::new, |took| format!(", {} in bulk ({:.1} h)", m.bulk_imported, took / 3600.0));
        let _ = writeln!(
            t,
            "  migration       {} week{}: rollout {:.2} USD (legacy Redis {:.2} + hybrid {:.2}) against Redis-only {:.2} and the hybrid alone {:.2}; {} imported on access{bulk}, {} rolled back",
            m.weeks.len(),
            if m.weeks.len() == 1 { "" } else { "s" },
            total.cost_usd.total,
            total.cost_usd.legacy_redis,
            total.cost_usd.hybrid,
            total.redis_only_usd,
            total.hybrid_end_state_usd,
            m.migrated,
            m.rolled_back
        );
    }
    let failed: Vec<&str> = s.slo.iter().filter(|r| !r.pass).map(|r| r.name.as_str()).collect();
    if failed.is_empty() {
        let _ = writeln!(t, "  SLOs            all {} pass", s.slo.len());
    } else {
        let _ = writeln!(t, "  SLOs            {} of {} fail: {}", failed.len(), s.slo.len(), failed.join(", "));
    }
    t
}
