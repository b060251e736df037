//! `hotcold analytics export`: the analytics table's session summaries as Parquet (or CSV with a
//! `.csv` path) for BI and fraud tools; the columns are documented in
//! [`hotcold_reports::analytics`].

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use hotcold_engine::backends::dynamodb::{DynamoAnalytics, DynamoColdStore};
use hotcold_reports::analytics::{AnalyticsRow, write};

use crate::Failure;
use crate::audit::window;
use crate::serve::config::ServeConfig;

/// The command line of `hotcold analytics export`.
#[derive(Debug)]
pub(crate) struct ExportArgs {
    pub(crate) config: PathBuf,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) out: PathBuf,
}

/// Runs `hotcold analytics export`: every session active in the window (created before
/// `until`, last event at or after `since`), one row each.
pub(crate) fn export(args: &ExportArgs) -> Result<(), Failure> {
    let bad = |e: anyhow::Error| Failure::BadInput(e);
    let config = ServeConfig::load(&args.config).map_err(|e| bad(anyhow!(e)))?;
    let (since, until) = window(args.since.as_deref(), args.until.as_deref()).map_err(bad)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    let summaries = runtime.block_on(async {
        // The shared analytics table, then each residency-restricted home's.
        let mut summaries = Vec::new();
        for dynamo in config.dynamo_configs() {
            let cold = DynamoColdStore::connect(dynamo.clone(), false)
                .await
                .with_context(|| format!("cannot reach {}", dynamo.label))?;
            let analytics = DynamoAnalytics::of_config(dynamo.analytics_client(cold.client()).await, &dynamo);
            let table = analytics
                .all()
                .await
                .with_context(|| format!("cannot read the analytics table `{}`", dynamo.analytics_table))?;
            summaries.extend(table);
        }
        anyhow::Ok(summaries)
    });
    let summaries = summaries.map_err(Failure::Failed)?;
    let mut rows: Vec<AnalyticsRow> = summaries
        .iter()
        .filter(|s| until.is_none_or(|until| s.created_at < until.0))
        .filter(|s| since.is_none_or(|since| s.last_event_at >= since.0))
        .map(|s| AnalyticsRow::of_summary(s, &config.session_config))
        .collect();
    AnalyticsRow::sort_for_export(&mut rows);
    write(&rows, &args.out).with_context(|| format!("cannot write {}", args.out.display())).map_err(Failure::Failed)?;
    eprintln!("hotcold analytics: {} session summaries written to {}", rows.len(), args.out.display());
    Ok(())
}
