//! `hotcold audit`: the compliance query from the command line (a user's events, newest first,
//! from the live audit table) and `--verify` (every writer's hash chain walked against its
//! reported head). The event format is shared with `GET /v1/users/{user_id}/audit`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};
use hotcold_engine::audit::chain::{self, AuditRecord, verify};
use hotcold_engine::audit::log::{AuditCursor, AuditLog, AuditQuery, MAX_PAGE, sort_key};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore};
use hotcold_engine::{SessionConfig, Timestamp, UserId};
use serde_json::{Value, json};

use crate::Failure;
use crate::serve::config::ServeConfig;
use crate::serve::{auth, public_link_key};

/// Records per page of the verification scan.
const SCAN_PAGE: usize = 1000;

/// The command line of `hotcold audit`.
#[derive(Debug)]
pub(crate) struct Args {
    /// Whose events; `None` only with `verify`.
    pub(crate) user: Option<String>,
    pub(crate) config: PathBuf,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) format: Format,
    pub(crate) verify: bool,
}

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header line, then one line per event.
    Csv,
}

/// Runs `hotcold audit`.
pub(crate) fn audit(args: &Args) -> Result<(), Failure> {
    let bad = |e: anyhow::Error| Failure::BadInput(e);
    let config = ServeConfig::load(&args.config).map_err(|e| bad(anyhow!(e)))?;
    let config_dir = args.config.parent().unwrap_or_else(|| Path::new("."));
    let link_key = match &config.auth {
        Some(entry) => auth::pseudonym_key(entry, config_dir)
            .map_err(|e| bad(anyhow!("{}: {e}", args.config.display())))?
            .unwrap_or_else(public_link_key),
        None => public_link_key(),
    };
    let (since, until) = window(args.since.as_deref(), args.until.as_deref()).map_err(Failure::BadInput)?;
    let user = match (&args.user, args.verify) {
        (Some(user), _) => Some(UserId::new(user).map_err(|e| bad(anyhow!("USER_ID: {e}")))?),
        (None, true) => None,
        (None, false) => return Err(bad(anyhow!("a USER_ID is needed (or --verify)"))),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    runtime.block_on(async {
        // The shared audit table, then each residency-restricted home's (a user's records are
        // in the tables of the homes of their sessions).
        let mut logs = Vec::new();
        for mut dynamo in config.dynamo_configs() {
            dynamo.compliance_retention = config.session_config.cold_storage.compliance_retention;
            let cold = DynamoColdStore::connect(dynamo.clone(), false)
                .await
                .with_context(|| format!("cannot reach {}", dynamo.label))
                .map_err(Failure::Failed)?;
            logs.push(DynamoAuditLog::new(cold.client().clone(), dynamo, link_key.clone()));
        }
        match user {
            Some(user) if !args.verify => print_events(&logs, &config.session_config, &user, since, until, args.format)
                .await
                .map_err(Failure::Failed),
            _ => {
                // Every table is verified (and reported) even when one fails.
                let mut problems = Vec::new();
                for log in &logs {
                    if let Err(Failure::Failed(e) | Failure::BadInput(e)) = verify_trail(log).await {
                        problems.push(e.to_string());
                    }
                }
                if problems.is_empty() { Ok(()) } else { Err(Failure::Failed(anyhow!(problems.join("; ")))) }
            }
        }
    })
}

/// Prints every event of `user` in the window, newest first: a page at a time from one table;
/// from several (residency), each table's records read in full and merged.
async fn print_events(
    logs: &[DynamoAuditLog],
    config: &SessionConfig,
    user: &UserId,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    format: Format,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if format == Format::Csv {
        writeln!(out, "at,kind,tier,region,session_id,home_region,version,writer,seq,hash")?;
    }
    let mut merged = Vec::new();
    for log in logs {
        let mut cursor: Option<AuditCursor> = None;
        loop {
            let query = AuditQuery { since, until, limit: MAX_PAGE, cursor: cursor.take() };
            let page = log.user_page(user, &query).await.context("the audit table did not answer")?;
            if logs.len() == 1 {
                for record in &page.records {
                    write_event(&mut out, config, record, format)?;
                }
            } else {
                merged.extend(page.records);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    merged.sort_by_key(|record| std::cmp::Reverse(sort_key(record)));
    for record in &merged {
        write_event(&mut out, config, record, format)?;
    }
    out.flush()?;
    Ok(())
}

/// One event as a line of `format`.
fn write_event(
    out: &mut impl Write,
    config: &SessionConfig,
    record: &AuditRecord,
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Jsonl => writeln!(out, "{}", event_json(config, record)),
        Format::Csv => writeln!(out, "{}", event_csv(config, record)),
    }
}

/// Scans the whole trail and walks every chain; exit 1 when anything is wrong.
async fn verify_trail(log: &DynamoAuditLog) -> Result<(), Failure> {
    let failed = |e: hotcold_engine::StoreError| Failure::Failed(anyhow!("the audit table did not answer: {e}"));
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = log.scan(cursor.take(), SCAN_PAGE).await.map_err(failed)?;
        records.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let heads = log.heads().await.map_err(failed)?;
    let verification = verify(records, &heads);
    let report = serde_json::to_string_pretty(&verification).unwrap_or_default();
    println!("{report}");
    if verification.intact() {
        eprintln!(
            "hotcold audit: {} records in {} chains verified intact",
            verification.records,
            verification.writers.len()
        );
        Ok(())
    } else {
        let problems: Vec<String> = verification.problems.iter().map(ToString::to_string).collect();
        Err(Failure::Failed(anyhow!("the audit trail was tampered with: {}", problems.join("; "))))
    }
}

/// A record as the compliance query answers it (no user id: the caller asked by it).
pub(crate) fn event_json(config: &SessionConfig, record: &AuditRecord) -> Value {
    let event = &record.event;
    json!({
        "at": rfc3339(event.at),
        "kind": event.kind.as_str(),
        "tier": event.tier.as_str(),
        "session_id": event.session.to_hex(),
        "region": config.region_name(event.region),
        "home_region": config.region_name(event.session.home()),
        "version": event.version,
        "writer": record.writer,
        "seq": record.seq,
        "hash": chain::to_hex(&record.hash),
    })
}

fn event_csv(config: &SessionConfig, record: &AuditRecord) -> String {
    let event = &record.event;
    // Region names and writers are [A-Za-z0-9._-]: nothing to quote.
    format!(
        "{},{},{},{},{},{},{},{},{},{}",
        rfc3339(event.at),
        event.kind.as_str(),
        event.tier.as_str(),
        config.region_name(event.region),
        event.session.to_hex(),
        config.region_name(event.session.home()),
        event.version,
        record.writer,
        record.seq,
        chain::to_hex(&record.hash)
    )
}

/// `--since` and `--until` of `audit` and `analytics export`, parsed; the error names the flag.
pub(crate) fn window(
    since: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<(Option<Timestamp>, Option<Timestamp>)> {
    let parse =
        |flag: &str, text: Option<&str>| text.map(|t| parse_time(t).map_err(|e| anyhow!("{flag}: {e}"))).transpose();
    Ok((parse("--since", since)?, parse("--until", until)?))
}

/// A time as RFC 3339 with milliseconds.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_millis(at.0)).to_string()
}

/// A time from the command line or a query string: RFC 3339 (`2026-11-30T12:00:00Z`) or
/// milliseconds since the epoch.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Timestamp(ms));
    }
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|_| format!("`{text}` is not an RFC 3339 time (2026-11-30T12:00:00Z) nor milliseconds since 1970"))?;
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| format!("`{text}` is before 1970"))?;
    u64::try_from(since_epoch.as_millis()).map(Timestamp).map_err(|_| format!("`{text}` is too far ahead"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_milliseconds_and_anything_else_is_named() {
        assert_eq!(parse_time("1700000000123"), Ok(Timestamp(1_700_000_000_123)));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(Timestamp(1_700_000_000_000)));
        assert_eq!(rfc3339(Timestamp(1_700_000_000_123)), "2023-11-14T22:13:20.123Z");
        for bad in ["yesterday", "", "2023-13-14T00:00:00Z", "-5"] {
            assert!(parse_time(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
