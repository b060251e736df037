//! The analytics export's table: one row per session summary, for BI and fraud tools
//! (`hotcold analytics export`). Columns, in order:
//!
//! | column | type | holds |
//! |---|---|---|
//! | `session_id` | str | the session id (a one-way digest of the token) |
//! | `home_region` | str | the region that created it |
//! | `user_subject` | str, null | the owner's audit subject: the same for all of a user's sessions, not the user id; unlinkable once the user is erased |
//! | `created_at_ms` | u64 | created, ms since 1970 (0 if unknown) |
//! | `last_event_at_ms` | u64 | the last tier change or end, ms |
//! | `ended_at_ms` | u64, null | when it ended; null while open |
//! | `end_reason` | str | `logged_out`, `revoked`, `erased`, `expired`, or `open` |
//! | `updates` | u64 | data changes (version − 1) |
//! | `promotions`, `demotions` | u64 | moves between the tiers |
//! | `regions` | str | regions that served it, `;`-separated |
//! | `largest_payload_bytes` | u64 | the largest data size seen at a tier change or end |

use std::path::Path;

use polars::prelude::*;

use crate::ReportError;
use crate::tables::{write_csv, write_parquet};

/// One session summary, as exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsRow {
    /// The session id.
    pub session_id: String,
    /// Its home region's name.
    pub home_region: String,
    /// The owner's audit subject.
    pub user_subject: Option<String>,
    /// Created, ms.
    pub created_at_ms: u64,
    /// Last summarised event, ms.
    pub last_event_at_ms: u64,
    /// Ended, ms.
    pub ended_at_ms: Option<u64>,
    /// Why it ended, or `open`.
    pub end_reason: String,
    /// Data changes.
    pub updates: u64,
    /// Promotions.
    pub promotions: u64,
    /// Demotions.
    pub demotions: u64,
    /// Region names.
    pub regions: Vec<String>,
    /// Largest data size seen, bytes.
    pub largest_payload_bytes: u64,
}

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
                    "largest_payload_bytes"
                ],
                "{name}"
            );
            assert_eq!(df.height(), 2, "{name}");
            assert_eq!(column_str(&df, "end_reason").unwrap(), ["logged_out", "open"], "{name}");
            assert_eq!(column_str(&df, "regions").unwrap(), ["eu-west-1;us-east-1"; 2], "{name}");
            assert_eq!(df.column("ended_at_ms").unwrap().null_count(), 1, "{name}: open sessions have no end");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
