//! The analytics export's table: one row per session summary, for BI and fraud tools
//! (`hotcold analytics export`) and for calibration (`hotcold calibrate`, `hotcold simulate
//! --analytics`). Columns, in order:
//!
//! | column | type | holds |
//! |---|---|---|
//! | `session_id` | str | the session id (a one-way digest of the token) |
//! | `home_region` | str | the region that created it |
//! | `user_subject` | str, null | the owner's audit subject: the same for all of a user's sessions, not the user id; unlinkable once the user is erased |
//! | `created_at_ms` | u64 | created, ms since 1970 (0 if unknown) |
//! | `last_event_at_ms` | u64 | the last tier change or end, ms |
//! | `ended_at_ms` | u64, null | when it ended; null while open |
//! | `end_reason` | str | `logged_out`, `revoked`, `erased`, `expired`, `rolled_back`, or `open` |
//! | `updates` | u64 | data changes (version − 1) |
//! | `promotions`, `demotions` | u64 | moves between the tiers |
//! | `regions` | str | regions that served it, `;`-separated |
//! | `largest_payload_bytes` | u64 | the largest data size seen at a tier change or end |
//! | `requests` | u64 | requests served up to the last tier change or end, the creating one included |
//! | `visits` | u64 | visits by then: 1 + requests that came more than the promotion threshold (30 min) after the one before |
//! | `think_ms` | u64 | the sum of the shorter gaps between requests (think time), ms |
//! | `last_request_at_ms` | u64 | the last request by then, ms (0 if unknown) |
//!
//! Exports written before the last four columns existed still read: they come back as 0.

use std::path::Path;

use polars::prelude::*;

use crate::ReportError;
use crate::tables::{read_csv_as_text, read_parquet, write_csv, write_parquet};

pub use hotcold_model::analytics::AnalyticsRow;

/// The rows as a frame with the documented columns.
pub fn frame(rows: &[AnalyticsRow]) -> Result<DataFrame, ReportError> {
    let cols = vec![
        Column::new("session_id".into(), rows.iter().map(|r| r.session_id.clone()).collect::<Vec<_>>()),
        Column::new("home_region".into(), rows.iter().map(|r| r.home_region.clone()).collect::<Vec<_>>()),
        Column::new("user_subject".into(), rows.iter().map(|r| r.user_subject.clone()).collect::<Vec<_>>()),
        Column::new("created_at_ms".into(), rows.iter().map(|r| r.created_at_ms).collect::<Vec<_>>()),
        Column::new("last_event_at_ms".into(), rows.iter().map(|r| r.last_event_at_ms).collect::<Vec<_>>()),
        Column::new("ended_at_ms".into(), rows.iter().map(|r| r.ended_at_ms).collect::<Vec<_>>()),
        Column::new("end_reason".into(), rows.iter().map(|r| r.end_reason.clone()).collect::<Vec<_>>()),
        Column::new("updates".into(), rows.iter().map(|r| r.updates).collect::<Vec<_>>()),
        Column::new("promotions".into(), rows.iter().map(|r| r.promotions).collect::<Vec<_>>()),
        Column::new("demotions".into(), rows.iter().map(|r| r.demotions).collect::<Vec<_>>()),
        Column::new("regions".into(), rows.iter().map(|r| r.regions.join(";")).collect::<Vec<_>>()),
        Column::new("largest_payload_bytes".into(), rows.iter().map(|r| r.largest_payload_bytes).collect::<Vec<_>>()),
        Column::new("requests".into(), rows.iter().map(|r| r.requests).collect::<Vec<_>>()),
        Column::new("visits".into(), rows.iter().map(|r| r.visits).collect::<Vec<_>>()),
        Column::new("think_ms".into(), rows.iter().map(|r| r.think_ms).collect::<Vec<_>>()),
        Column::new("last_request_at_ms".into(), rows.iter().map(|r| r.last_request_at_ms).collect::<Vec<_>>()),
    ];
    DataFrame::new(rows.len(), cols).map_err(|e| ReportError::Table(format!("analytics frame: {e}")))
}

/// Writes the rows to `path`: CSV when it ends in `.csv`, Parquet otherwise.
pub fn write(rows: &[AnalyticsRow], path: &Path) -> Result<(), ReportError> {
    let mut df = frame(rows)?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        write_csv(&mut df, path)
    } else {
        write_parquet(&mut df, path)
    }
}

/// Reads an export back: CSV when `path` ends in `.csv`, Parquet otherwise. A column the reader
/// needs that is missing, or a value that is not a count, is an error naming the column and the
/// row; the four activity columns may be absent (an older export) and read as 0.
pub fn read(path: &Path) -> Result<Vec<AnalyticsRow>, ReportError> {
    let df = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        read_csv_as_text(path)?
    } else {
        read_parquet(path)?
    };
    let text = |name: &str| -> Result<Vec<Option<String>>, ReportError> {
        let column =
            df.column(name).map_err(|_| ReportError::Table(format!("{}: no column `{name}`", path.display())))?;
        let series = column
            .as_materialized_series()
            .cast(&DataType::String)
            .map_err(|e| ReportError::Table(format!("{}: column `{name}`: {e}", path.display())))?;
        let values =
            series.str().map_err(|e| ReportError::Table(format!("{}: column `{name}`: {e}", path.display())))?;
        Ok(values.iter().map(|v| v.map(str::to_string)).collect())
    };
    let counts = |name: &str, optional: bool| -> Result<Vec<Option<u64>>, ReportError> {
        if optional && df.column(name).is_err() {
            return Ok(vec![Some(0); df.height()]);
        }
        let column =
            df.column(name).map_err(|_| ReportError::Table(format!("{}: no column `{name}`", path.display())))?;
        let series = column.as_materialized_series().strict_cast(&DataType::UInt64).map_err(|_| {
            ReportError::Table(format!(
                "{}: column `{name}` holds values that are not counts (whole numbers ≥ 0)",
                path.display()
            ))
        })?;
        let values =
            series.u64().map_err(|e| ReportError::Table(format!("{}: column `{name}`: {e}", path.display())))?;
        Ok(values.iter().collect())
    };
    let required = |name: &str, values: Vec<Option<u64>>| -> Result<Vec<u64>, ReportError> {
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                v.ok_or_else(|| ReportError::Table(format!("{}: row {}: `{name}` is empty", path.display(), row + 1)))
            })
            .collect()
    };
    // A count column every row fills.
    let every = |name: &str, optional: bool| required(name, counts(name, optional)?);
    let session_id = text("session_id")?;
    let home_region = text("home_region")?;
    let user_subject = text("user_subject")?;
    let created = every("created_at_ms", false)?;
    let last_event = every("last_event_at_ms", false)?;
    let ended = counts("ended_at_ms", false)?;
    let end_reason = text("end_reason")?;
    let updates = every("updates", false)?;
    let promotions = every("promotions", false)?;
    let demotions = every("demotions", false)?;
    let regions = text("regions")?;
    let largest = every("largest_payload_bytes", false)?;
    let requests = every("requests", true)?;
    let visits = every("visits", true)?;
    let think = every("think_ms", true)?;
    let last_request = every("last_request_at_ms", true)?;
    Ok((0..df.height())
        .map(|i| AnalyticsRow {
            session_id: session_id[i].clone().unwrap_or_default(),
            home_region: home_region[i].clone().unwrap_or_default(),
            user_subject: user_subject[i].clone().filter(|s| !s.is_empty()),
            created_at_ms: created[i],
            last_event_at_ms: last_event[i],
            ended_at_ms: ended[i],
            end_reason: end_reason[i].clone().unwrap_or_else(|| "open".to_string()),
            updates: updates[i],
            promotions: promotions[i],
            demotions: demotions[i],
            regions: regions[i]
                .as_deref()
                .unwrap_or_default()
                .split(';')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
            largest_payload_bytes: largest[i],
            requests: requests[i],
            visits: visits[i],
            think_ms: think[i],
            last_request_at_ms: last_request[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{column_str, read_csv, read_parquet};

    fn row(n: u64, ended: bool) -> AnalyticsRow {
        AnalyticsRow {
            session_id: format!("{n:032x}"),
            home_region: "eu-west-1".into(),
            user_subject: (n % 2 == 0).then(|| "ab".repeat(16)),
            created_at_ms: 1_000 + n,
            last_event_at_ms: 2_000 + n,
            ended_at_ms: ended.then_some(3_000 + n),
            end_reason: if ended { "logged_out".into() } else { "open".into() },
            updates: n,
            promotions: 1,
            demotions: 2,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            largest_payload_bytes: 100 * n,
            requests: 3 * n,
            visits: n,
            think_ms: 1_000 * n,
            last_request_at_ms: 2_500 + n,
        }
    }

    #[test]
    fn parquet_and_csv_round_trip_with_the_documented_columns() {
        let dir = std::env::temp_dir().join(format!("hotcold-analytics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = vec![row(1, true), row(2, false)];
        for (name, read) in [("a.parquet", read_parquet as fn(&Path) -> _), ("a.csv", read_csv)] {
            let path = dir.join(name);
            write(&rows, &path).unwrap();
            let df = read(&path).unwrap();
            let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
            assert_eq!(
                names,
                [
                    "session_id",
                    "home_region",
                    "user_subject",
                    "created_at_ms",
                    "last_event_at_ms",
                    "ended_at_ms",
                    "end_reason",
                    "updates",
                    "promotions",
                    "demotions",
                    "regions",
                    "largest_payload_bytes",
                    "requests",
                    "visits",
                    "think_ms",
                    "last_request_at_ms"
                ],
                "{name}"
            );
            assert_eq!(df.height(), 2, "{name}");
            assert_eq!(column_str(&df, "end_reason").unwrap(), ["logged_out", "open"], "{name}");
            assert_eq!(column_str(&df, "regions").unwrap(), ["eu-west-1;us-east-1"; 2], "{name}");
            assert_eq!(df.column("ended_at_ms").unwrap().null_count(), 1, "{name}: open sessions have no end");
            assert_eq!(super::read(&path).unwrap(), rows, "{name}: read back as written");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_malformed_export_is_an_error_naming_the_column_and_an_older_one_reads_as_zero_activity() {
        let dir = std::env::temp_dir().join(format!("hotcold-analytics-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = "session_id,home_region,user_subject,created_at_ms,last_event_at_ms,ended_at_ms,end_reason,\
                      updates,promotions,demotions,regions,largest_payload_bytes";
        let old = dir.join("old.csv");
        std::fs::write(&old, format!("{header}\nab,eu-west-1,,5,6,,open,0,0,1,eu-west-1,10\n")).unwrap();
        let rows = super::read(&old).unwrap();
        assert_eq!((rows.len(), rows[0].requests, rows[0].visits, rows[0].demotions), (1, 0, 0, 1));
        let negative = dir.join("negative.csv");
        std::fs::write(&negative, format!("{header}\nab,eu-west-1,,-5,6,,open,0,0,1,eu-west-1,10\n")).unwrap();
        let error = super::read(&negative).unwrap_err().to_string();
        assert!(error.contains("created_at_ms"), "{error}");
        let missing = dir.join("missing.csv");
        std::fs::write(&missing, "session_id,home_region\nab,eu-west-1\n").unwrap();
        let error = super::read(&missing).unwrap_err().to_string();
        assert!(error.contains("no column `user_subject`"), "{error}");
        let garbage = dir.join("garbage.parquet");
        std::fs::write(&garbage, b"not parquet at all").unwrap();
        assert!(super::read(&garbage).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
