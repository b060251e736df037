//! The compliance query against DynamoDB: how long one page of a user's audit events takes.
//!
//! ```text
//! source .services/run/env.sh
//! cargo run -p hotcold-engine --features dynamodb --example audit_query_bench
//! cargo run --release -p hotcold-engine --features dynamodb --example audit_query_bench   # figures to quote
//! ```
//!
//! Options: `--events N` (the user's events, default 10,000), `--others N` (events of other
//! users, default 10,000, spread over `--users N` users, default 10), `--iterations N` (queries
//! per row, default 50), `--batch N` (records per log write, default 500).
//!
//! Needs `HOTCOLD_DYNAMODB_ENDPOINT` (`scripts/services.sh start` writes it to
//! `.services/run/env.sh`). Makes fresh tables, writes the events through `DynamoAuditLog::write`
//! (sealed into one writer's chain, the user's and the others' interleaved, one second apart,
//! ending now), then times `DynamoAuditLog::user_page`:
//! - the first page: the 1,000 newest events (no window);
//! - the second page: the next 1,000, from the first page's cursor;
//! - a `since` window holding the user's newest 500 events (one partial page).
//!
//! Each is asked `--iterations` times after 3 unmeasured warm-up calls; every answer is checked
//! (size, order, cursor). The tables are deleted at the end.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hotcold_engine::audit::chain::{AuditRecord, Chain};
use hotcold_engine::audit::log::{AuditLog, AuditQuery, MAX_PAGE};
use hotcold_engine::audit::trail::writer_name;
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::{AuditEvent, AuditKind, PseudonymKey, RegionId, SessionId, Tier, Timestamp, UserId};

const COMMAND: &str = "source .services/run/env.sh && \
                       cargo run -p hotcold-engine --features dynamodb --example audit_query_bench";
const RELEASE_COMMAND: &str = "source .services/run/env.sh && \
                               cargo run --release -p hotcold-engine --features dynamodb --example audit_query_bench";

struct Options {
    events: u64,
    others: u64,
    users: u64,
    iterations: u64,
    batch: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options { events: 10_000, others: 10_000, users: 10, iterations: 50, batch: 500 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value.parse().map_err(|_| format!("{flag} {value}: not a whole number"))?;
        match flag.as_str() {
            "--events" => options.events = number,
            "--others" => options.others = number,
            "--users" => options.users = number.max(1),
            "--iterations" => options.iterations = number.max(1),
            "--batch" => options.batch = usize::try_from(number.max(1)).map_err(|_| "--batch: too large")?,
            _ => return Err(format!("unknown option {flag} (--events, --others, --users, --iterations, --batch)")),
        }
    }
    if options.events < 2 * MAX_PAGE as u64 {
        return Err(format!("--events must be at least {} (two full pages)", 2 * MAX_PAGE));
    }
    Ok(options)
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis())
        .expect("ms fit u64")
}

/// Events one second apart ending now: the user's `events` and the others' `others`
/// interleaved evenly, sealed in time order into one chain.
fn sealed(options: &Options, user: &UserId, others: &[UserId]) -> Vec<AuditRecord> {
    let total = options.events + options.others;
    let start = now_ms() - total * 1_000;
    let mut chain = Chain::new(writer_name("us-east-1"));
    let (mut mine, mut theirs) = (0u64, 0u64);
    (0..total)
        .map(|i| {
            // Bresenham: the user's share of the first i+1 events is (i+1)*events/total.
            let owner = if (i + 1) * options.events / total > mine {
                mine += 1;
                user.clone()
            } else {
                theirs += 1;
                others[(theirs % others.len() as u64) as usize].clone()
            };
            let mut hash = [0u8; 16];
            hash[..8].copy_from_slice(&i.to_le_bytes());
            chain.seal(AuditEvent {
                at: Timestamp(start + i * 1_000),
                kind: AuditKind::ALL[(i % 8) as usize],
                tier: if i % 3 == 0 { Tier::Cold } else { Tier::Hot },
                region: RegionId((i % 3) as u16),
                session: SessionId::from_parts(hash, RegionId(0)),
                user_id: Some(owner),
                version: i % 17,
                data_bytes: 0,
                created_at: hotcold_engine::Timestamp(0),
                activity: hotcold_engine::Activity::default(),
            })
        })
        .collect()
}

struct Row {
    name: &'static str,
    records: usize,
    histogram: Histogram<u64>,
}

/// Asks `query` for `user` 3 times unmeasured, then `iterations` times measured; `check` sees
/// every answer.
async fn measure(
    log: &DynamoAuditLog,
    user: &UserId,
    name: &'static str,
    query: &AuditQuery,
    iterations: u64,
    check: impl Fn(&hotcold_engine::audit::log::AuditPage) -> Result<(), String>,
) -> Result<Row, String> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds");
    let mut records = 0;
    for i in 0..3 + iterations {
        let start = Instant::now();
        let page = log.user_page(user, query).await.map_err(|e| format!("{name}: {e}"))?;
        let took = start.elapsed();
        check(&page).map_err(|e| format!("{name}: {e}"))?;
        records = page.records.len();
        if i >= 3 {
            histogram.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1)).expect("in bounds");
        }
    }
    Ok(Row { name, records, histogram })
}

fn newest_first(page: &hotcold_engine::audit::log::AuditPage) -> Result<(), String> {
    if page.records.windows(2).all(|w| w[0].event.at > w[1].event.at) {
        Ok(())
    } else {
        Err("records not strictly newest first".into())
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

async fn run(options: Options) -> Result<(), String> {
    let endpoint = std::env::var("HOTCOLD_DYNAMODB_ENDPOINT").ok().filter(|e| !e.is_empty()).ok_or(
        "HOTCOLD_DYNAMODB_ENDPOINT is not set: run `scripts/services.sh start && source .services/run/env.sh`",
    )?;
    let name = format!("auditbench-{}-{:x}", std::process::id(), now_ms() & 0xffff_ffff);
    // Patient timeouts: the writes are bulk loading, not the request path this measures.
    let config = DynamoConfig {
        attempt_timeout: Duration::from_secs(10),
        call_timeout: Duration::from_secs(30),
        audit_write_timeout: Duration::from_secs(60),
        ..DynamoConfig::local(&endpoint, format!("{name}-sessions"), format!("{name}-audit"))
    };
    let cold = DynamoColdStore::connect(config.clone(), true).await.map_err(|e| format!("create tables: {e}"))?;
    let log = DynamoAuditLog::new(cold.client().clone(), config.clone(), PseudonymKey::random());
    let result = bench(&options, &log).await;
    for table in [&config.sessions_table, &config.audit_table] {
        if let Err(e) = cold.client().delete_table().table_name(table).send().await {
            eprintln!("could not delete table {table}: {e}");
        }
    }
    result
}

async fn bench(options: &Options, log: &DynamoAuditLog) -> Result<(), String> {
    let user = UserId::new("bench-user").expect("user id");
    let others: Vec<UserId> =
        (0..options.users).map(|i| UserId::new(&format!("other-user-{i}")).expect("user id")).collect();
    let records = sealed(options, &user, &others);
    let mine: Vec<&AuditRecord> = records.iter().filter(|r| r.event.user_id.as_ref() == Some(&user)).collect();

    println!(
        "writing {} events ({} of the user, {} of {} others), {} per DynamoAuditLog::write ...",
        records.len(),
        options.events,
        options.others,
        options.users,
        options.batch
    );
    let mut write_times = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds");
    let start = Instant::now();
    for batch in records.chunks(options.batch) {
        let call = Instant::now();
        log.write(batch).await.map_err(|e| format!("write: {e}"))?;
        write_times.record(u64::try_from(call.elapsed().as_micros()).unwrap_or(u64::MAX).max(1)).expect("in bounds");
    }
    let wrote = start.elapsed();

    let first = AuditQuery { limit: MAX_PAGE, ..AuditQuery::default() };
    let newest_at = mine.last().expect("events").event.at;
    let first_row = measure(log, &user, "first page (1,000 newest)", &first, options.iterations, |page| {
        newest_first(page)?;
        match (page.records.len(), page.records.first(), &page.next_cursor) {
            (MAX_PAGE, Some(r), Some(_)) if r.event.at == newest_at => Ok(()),
            (n, _, cursor) => Err(format!("{n} records, cursor {cursor:?}: not the full newest page")),
        }
    })
    .await?;
    let cursor = log.user_page(&user, &first).await.map_err(|e| e.to_string())?.next_cursor;
    let second = AuditQuery { cursor, ..first.clone() };
    let second_at = mine[mine.len() - 1 - MAX_PAGE].event.at;
    let second_row = measure(log, &user, "second page (cursor)", &second, options.iterations, |page| {
        newest_first(page)?;
        match (page.records.len(), page.records.first()) {
            (MAX_PAGE, Some(r)) if r.event.at == second_at => Ok(()),
            (n, _) => Err(format!("{n} records: not the second page")),
        }
    })
    .await?;
    let since_at = mine[mine.len() - 500].event.at;
    let windowed = AuditQuery { since: Some(since_at), ..first.clone() };
    let window_row = measure(log, &user, "since window (newest 500)", &windowed, options.iterations, |page| {
        newest_first(page)?;
        match (page.records.len(), &page.next_cursor) {
            (500, None) => Ok(()),
            (n, cursor) => Err(format!("{n} records, cursor {cursor:?}: not the 500 of the window")),
        }
    })
    .await?;

    let profile = if cfg!(debug_assertions) { "debug (unoptimised)" } else { "release" };
    println!();
    println!("DynamoAuditLog against DynamoDB Local, {profile} build");
    println!(
        "table: {} events ({} of the measured user, {} of {} other users), one writer",
        records.len(),
        options.events,
        options.others,
        options.users
    );
    println!(
        "writes: {} events in {:.2} s = {:.0} events/s; per write call of {}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        records.len(),
        wrote.as_secs_f64(),
        records.len() as f64 / wrote.as_secs_f64(),
        options.batch,
        ms(write_times.value_at_quantile(0.50)),
        ms(write_times.value_at_quantile(0.99)),
        ms(write_times.max()),
    );
    println!();
    println!("| query (user_page, newest first) | records | n | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in [&first_row, &second_row, &window_row] {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            row.name,
            row.records,
            row.histogram.len(),
            ms(row.histogram.value_at_quantile(0.50)),
            ms(row.histogram.value_at_quantile(0.99)),
            ms(row.histogram.max()),
        );
    }
    println!();
    println!("reproduce: {COMMAND}");
    println!("release:   {RELEASE_COMMAND}");
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("audit_query_bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit_query_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
