//! Polars frames of a run: the time series and the cost rows, written as CSV and Parquet.

use std::fs::File;
use std::path::Path;

use hotcold_model::RunRecord;
use polars::prelude::*;

use crate::ReportError;
use crate::cost::CostRow;

/// Scales a raw count by 1/sample (rounded).
fn scaled(n: u64, scale: f64) -> u64 {
    let x = n as f64 * scale;
    if x.is_finite() && x >= 0.0 { x.round() as u64 } else { 0 }
}

/// One row per (bucket, region): counts scaled to the full population (1/sample), latencies in
/// ms, bytes as simulated × 1/sample.
pub fn timeseries_frame(record: &RunRecord) -> Result<DataFrame, ReportError> {
    let scale = if record.sample > 0.0 { 1.0 / record.sample } else { 1.0 };
    let rows = &record.timeseries;
    let region = |i: u16| record.regions.get(usize::from(i)).cloned().unwrap_or_else(|| format!("region-{i}"));
    let u = |f: &dyn Fn(&hotcold_model::record::BucketRow) -> u64| -> Vec<u64> {
        rows.iter().map(|r| scaled(f(r), scale)).collect()
    };
    let cols = vec![
        Column::new("t_seconds".into(), rows.iter().map(|r| r.t).collect::<Vec<u64>>()),
        Column::new("t_hours".into(), rows.iter().map(|r| r.t as f64 / 3600.0).collect::<Vec<f64>>()),
        Column::new("bucket_seconds".into(), vec![record.bucket_seconds; rows.len()]),
        Column::new("region".into(), rows.iter().map(|r| region(r.region)).collect::<Vec<String>>()),
        Column::new(
            "after_warmup".into(),
            rows.iter().map(|r| r.t as f64 >= record.warmup_seconds).collect::<Vec<bool>>(),
        ),
        Column::new("hot".into(), u(&|r| r.hot)),
        Column::new("cold".into(), u(&|r| r.cold)),
        Column::new("active".into(), u(&|r| r.active)),
        Column::new("requests".into(), u(&|r| r.requests)),
        Column::new("hot_hits".into(), u(&|r| r.hot_hits)),
        Column::new("promotions".into(), u(&|r| r.promotions)),
        Column::new("demotions".into(), u(&|r| r.demotions)),
        Column::new("expiries".into(), u(&|r| r.expiries)),
        Column::new("losses".into(), u(&|r| r.losses)),
        Column::new("failures".into(), u(&|r| r.failures)),
        Column::new("p50_ms".into(), rows.iter().map(|r| r.p50_ms).collect::<Vec<f64>>()),
        Column::new("p95_ms".into(), rows.iter().map(|r| r.p95_ms).collect::<Vec<f64>>()),
        Column::new("p99_ms".into(), rows.iter().map(|r| r.p99_ms).collect::<Vec<f64>>()),
        Column::new("redis_bytes".into(), u(&|r| r.redis_bytes)),
        Column::new("cold_bytes".into(), u(&|r| r.cold_bytes)),
        Column::new("wru".into(), u(&|r| r.wru)),
        Column::new("rru".into(), u(&|r| r.rru)),
        Column::new("audit_events".into(), u(&|r| r.audit_events)),
        Column::new(
            "audit_bytes".into(),
            u(&|r| r.audit_events.saturating_mul(record.scenario.costs.dynamodb.audit_item_bytes)),
        ),
        Column::new("analytics_writes".into(), u(&|r| r.analytics_writes)),
        Column::new(
            "analytics_bytes".into(),
            u(&|r| r.analytics_writes.saturating_mul(record.scenario.costs.dynamodb.analytics_item_bytes)),
        ),
    ];
    let mut cols = cols;
    if let Some(migration) = &record.migration {
        // A rollout's columns, only in runs with a `migration:` block (so every other run's file
        // is as before). Rows beyond the migration's (none, in a whole record) count 0.
        let m = |f: &dyn Fn(&hotcold_model::migration::MigrationBucket) -> u64| -> Vec<u64> {
            (0..rows.len()).map(|i| migration.buckets.get(i).map_or(0, |b| scaled(f(b), scale))).collect()
        };
        let block = record.scenario.migration.as_ref();
        let fragmentation = record.scenario.costs.redis.fragmentation;
        cols.extend([
            Column::new(
                "rollout_percent".into(),
                rows.iter()
                    .map(|r| block.map_or(0.0, |b| b.percent_at(std::time::Duration::from_secs(r.t))))
                    .collect::<Vec<f64>>(),
            ),
            Column::new("legacy_requests".into(), m(&|b| b.legacy_requests)),
            Column::new("migrated".into(), m(&|b| b.migrated)),
            Column::new("rolled_back".into(), m(&|b| b.rolled_back)),
            Column::new("bulk_imported".into(), m(&|b| b.bulk_imported)),
            Column::new("legacy_redis_bytes".into(), m(&|b| (b.legacy_bytes as f64 * fragmentation).round() as u64)),
        ]);
    }
    DataFrame::new(rows.len(), cols).map_err(|e| ReportError::Table(format!("time series frame: {e}")))
}

/// `migration.csv` as a frame: per week, region, design and component, what the week is billed.
pub fn migration_frame(rows: &[crate::migration::MigrationRow]) -> Result<DataFrame, ReportError> {
    let cols = vec![
        Column::new("week".into(), rows.iter().map(|r| r.week).collect::<Vec<u32>>()),
        Column::new("start_hours".into(), rows.iter().map(|r| r.start_hours).collect::<Vec<f64>>()),
        Column::new("hours".into(), rows.iter().map(|r| r.hours).collect::<Vec<f64>>()),
        Column::new("percent_avg".into(), rows.iter().map(|r| r.percent_avg).collect::<Vec<f64>>()),
        Column::new("region".into(), rows.iter().map(|r| r.region.clone()).collect::<Vec<String>>()),
        Column::new("design".into(), rows.iter().map(|r| r.design.to_string()).collect::<Vec<String>>()),
        Column::new("component".into(), rows.iter().map(|r| r.component.to_string()).collect::<Vec<String>>()),
        Column::new("nodes".into(), rows.iter().map(|r| r.nodes).collect::<Vec<u64>>()),
        Column::new("usd".into(), rows.iter().map(|r| r.usd).collect::<Vec<f64>>()),
    ];
    DataFrame::new(rows.len(), cols).map_err(|e| ReportError::Table(format!("migration frame: {e}")))
}

/// `costs.csv` as a frame.
pub fn costs_frame(rows: &[CostRow]) -> Result<DataFrame, ReportError> {
    let cols = vec![
        Column::new("region".into(), rows.iter().map(|r| r.region.clone()).collect::<Vec<String>>()),
        Column::new("component".into(), rows.iter().map(|r| r.component.to_string()).collect::<Vec<String>>()),
        Column::new("item".into(), rows.iter().map(|r| r.item.to_string()).collect::<Vec<String>>()),
        Column::new("quantity".into(), rows.iter().map(|r| round_sig(r.quantity)).collect::<Vec<f64>>()),
        Column::new("unit".into(), rows.iter().map(|r| r.unit.clone()).collect::<Vec<String>>()),
        Column::new("unit_price_usd".into(), rows.iter().map(|r| round_sig(r.unit_price_usd)).collect::<Vec<f64>>()),
        Column::new("usd_month".into(), rows.iter().map(|r| r.usd_month).collect::<Vec<f64>>()),
        Column::new("basis".into(), rows.iter().map(|r| r.basis.clone()).collect::<Vec<String>>()),
    ];
    DataFrame::new(rows.len(), cols).map_err(|e| ReportError::Table(format!("costs frame: {e}")))
}

/// Rounds to 9 significant digits (stable, readable CSV).
pub(crate) fn round_sig(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return 0.0;
    }
    let digits = 9 - 1 - x.abs().log10().floor() as i32;
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Writes a frame as CSV (with a header).
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<(), ReportError> {
    let file = File::create(path).map_err(|e| ReportError::io(path, e))?;
    CsvWriter::new(file)
        .include_header(true)
        .finish(df)
        .map_err(|e| ReportError::Table(format!("cannot write {}: {e}", path.display())))
}

/// Writes a frame as Parquet.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), ReportError> {
    let file = File::create(path).map_err(|e| ReportError::io(path, e))?;
    ParquetWriter::new(file)
        .finish(df)
        .map(|_| ())
        .map_err(|e| ReportError::Table(format!("cannot write {}: {e}", path.display())))
}

/// Reads a CSV file back into a frame (used by tests and tools).
pub fn read_csv(path: &Path) -> Result<DataFrame, ReportError> {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.into()))
        .and_then(|r| r.finish())
        .map_err(|e| ReportError::Table(format!("cannot read {}: {e}", path.display())))
}

/// Reads a CSV file with a header row into a frame of text columns, inferring no types: for
/// tables whose text may look like numbers (an id of 32 hex digits can be all digits, and
/// would lose its leading zeros as a number). The reader casts the columns it needs.
pub fn read_csv_as_text(path: &Path) -> Result<DataFrame, ReportError> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.into()))
        .and_then(|r| r.finish())
        .map_err(|e| ReportError::Table(format!("cannot read {}: {e}", path.display())))
}

/// Reads a Parquet file back into a frame.
pub fn read_parquet(path: &Path) -> Result<DataFrame, ReportError> {
    let file = File::open(path).map_err(|e| ReportError::io(path, e))?;
    ParquetReader::new(file).finish().map_err(|e| ReportError::Table(format!("cannot read {}: {e}", path.display())))
}

/// A column of a frame as floats (cast if needed; nulls become NaN).
pub fn column_f64(df: &DataFrame, name: &str) -> Result<Vec<f64>, ReportError> {
    let s = df
        .column(name)
        .and_then(|c| c.as_materialized_series().cast(&DataType::Float64))
        .map_err(|e| ReportError::Table(format!("column {name}: {e}")))?;
    let ca = s.f64().map_err(|e| ReportError::Table(format!("column {name}: {e}")))?;
    Ok((0..ca.len()).map(|i| ca.get(i).unwrap_or(f64::NAN)).collect())
}

/// A column of a frame as text (cast if needed; nulls become empty).
pub fn column_str(df: &DataFrame, name: &str) -> Result<Vec<String>, ReportError> {
    let s = df
        .column(name)
        .and_then(|c| c.as_materialized_series().cast(&DataType::String))
        .map_err(|e| ReportError::Table(format!("column {name}: {e}")))?;
    let ca = s.str().map_err(|e| ReportError::Table(format!("column {name}: {e}")))?;
    Ok((0..ca.len()).map(|i| ca.get(i).unwrap_or_default().to_string()).collect())
}
