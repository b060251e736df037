//! `hotcold serve --config FILE`: the production Session Manager of one region. The HTTP API
//! (CONTRACT section 5) and `/metrics` over the engine on live Redis and DynamoDB, plus the region's
//! sync job in a tokio loop on the engine's [`hotcold_engine::SyncSchedule`] (DESIGN: "a tokio
//! loop calls `run_once` every `sync_interval`").
//!
//! Start-up needs this region's Redis and DynamoDB (exit 1 naming the one that is down); another
//! region's Redis may be down (DESIGN: "one region's trouble stays in that region"): its store
//! connects in the background and answers 503 for what needs it meanwhile. After start-up an
//! outage answers 503 for what needs the missing backend, `/readyz` says which, and the stores
//! reconnect on their own.
//!
//! However many instances serve a region, one runs its sync job: the one holding the region's
//! sync lease in the region's Redis (`hotcold_sync_lease_held`).
//!
//! SIGINT or SIGTERM stops accepting, lets requests in flight finish, stops the sync job, and with
//! `write_behind` or `write_through` copies the region's changed sessions to DynamoDB one last
//! time, then exits 0.

mod api;
pub(crate) mod auth;
pub(crate) mod config;
pub(crate) mod legacy;
mod limits;
pub(crate) mod metrics;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use axum::Router;
use hotcold_engine::audit::trail::{Trail, TrailCounts, writer_name};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::legacy::LegacyStore;
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::residency::{ResidentAudit, ResidentCold};
use hotcold_engine::{
    Durability, Engine, Pass, PseudonymKey, RegionId, SessionManager, SyncReport, SyncService, SystemClock,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Failure;
use crate::pass_timer::PassTimer;
use api::{AppState, LiveEngine};
use auth::{Access, Gate};
use config::{Limits, ServeConfig};
use legacy::Migration;
use metrics::{Metrics, Timed};

/// The sync lease lives this many sync intervals: a holder renews it before every pass (at least
/// once an interval), so it lapses only when the holder has missed two renewals.
const LEASE_INTERVALS: u32 = 3;

/// Rounds of the last write-behind flush at shutdown: each copies up to the engine's batch limit,
/// and the flush goes on while a round copies something.
const FINAL_FLUSH_ROUNDS: usize = 100;

/// Arguments of `hotcold serve`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) config: PathBuf,
}

/// Runs the service until SIGINT or SIGTERM.
pub(crate) fn serve(args: &Args) -> Result<(), Failure> {
    let bad = |e: anyhow::Error| Failure::BadInput(e);
    let config = ServeConfig::load(&args.config).map_err(|e| bad(anyhow!(e)))?;
    let file = args.config.display().to_string();
    let auth = config.require_auth(&file).map_err(|e| bad(anyhow!(e)))?;
    let config_dir = args.config.parent().unwrap_or_else(|| Path::new("."));
    let access = Access::from_config(auth, config_dir).map_err(|e| bad(anyhow!("{file}: {e}")))?;
    let pseudonym_key = auth::pseudonym_key(auth, config_dir).map_err(|e| bad(anyhow!("{file}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    runtime.block_on(run(config, access, pseudonym_key))
}

async fn run(config: ServeConfig, access: Access, pseudonym_key: Option<PseudonymKey>) -> Result<(), Failure> {
    let metrics = Metrics::new().context("cannot register the metrics").map_err(Failure::Failed)?;
    metrics.set_region(&config.region);
    let keyed = pseudonym_key.is_some();
    let link_key = pseudonym_key.clone().unwrap_or_else(public_link_key);
    let mut engine = connect(&config, &metrics, link_key).await.map_err(Failure::Failed)?;
    if let Some(key) = pseudonym_key {
        engine = engine.with_pseudonym_key(key);
    }
    let engine = Arc::new(engine);
    let region = config.region_id();
    let manager = SessionManager::new(Arc::clone(&engine), region);
    let migration = match (&config.legacy, config.legacy_plan()) {
        (Some(legacy), Some((layout, rollout))) => {
            let store = LegacyStore::connect(&legacy.url, layout, legacy.timeout)
                .await
                .context("cannot start: the legacy store (legacy.url)")
                .map_err(Failure::Failed)?;
            Some(Migration { store, rollout })
        }
        _ => None,
    };
    let legacy_home = config.legacy_home();
    let state = Arc::new(AppState {
        engine: Arc::clone(&engine),
        manager,
        metrics: metrics.clone(),
        region,
        legacy_home,
        migration,
    });
    let open = matches!(access, Access::Open);
    let gate = Arc::new(Gate { access, metrics: metrics.clone() });
    let app = api::router(state, gate, config.limits);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))
        .map_err(Failure::Failed)?;
    let address = listener.local_addr().map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    let (stop_tx, stop_rx) = watch::channel(false);
    let sync = tokio::spawn(sync_loop(Arc::clone(&engine), region, metrics.clone(), stop_rx.clone()));
    let audit = tokio::spawn(audit_loop(Arc::clone(&engine), metrics.clone(), stop_rx));
    // One line a supervisor or a test can wait for; it names no session and no credential.
    let mut warning = String::new();
    if open {
        warning.push_str("auth disabled (WARNING: no credential is checked, every route is open to anyone): ");
    }
    if !keyed {
        warning.push_str(
            "no auth.pseudonym_key_file (WARNING: audit links use a public key, so whoever reads the audit table can \
             test a candidate user id against the links of users not erased): ",
        );
    }
    eprintln!("hotcold serve: {warning}region {} listening on http://{address}", config.region);
    serve_connections(listener, app, config.limits, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = sync.await;
    let _ = audit.await;
    write_held_counts(&engine).await;
    final_flush(&engine, region, &metrics).await;
    final_audit_drain(&engine, &metrics).await;
    eprintln!("hotcold serve: stopped");
    Ok(())
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then stops accepting (the listener is
/// closed, so new connections are refused) and waits for the requests in flight, at most one
/// request timeout plus one header timeout (every request is answered or cut by then).
///
/// hyper's own connection builder rather than `axum::serve`, which cannot bound the time a
/// client takes to send its headers: here a connection that has not sent a whole request head
/// within `limits.header_timeout` (of its start, or of the previous answer) is closed.
async fn serve_connections(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_per_connection(&e) => continue,
                Err(_) => {
                    // Out of file descriptors or the like: wait for some to free up.
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        // Answers are small and latency-bound: send them at once.
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's error (the client went away, sent garbage or was too slow) ends
            // that connection only; there is nothing to log that would not risk a token.
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.request_timeout + limits.header_timeout, graceful.shutdown()).await;
}

/// Accept errors that concern one connection only (it was reset before it was accepted).
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(error.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset)
}

/// Connects every region's Redis and DynamoDB (creating the tables when configured to), all at
/// once. This region's Redis and DynamoDB must answer; another region's Redis may be down and is
/// connected in the background ([`RedisHotStore::connect_lazy`]).
pub(crate) async fn connect(
    config: &ServeConfig,
    metrics: &Metrics,
    link_key: PseudonymKey,
) -> anyhow::Result<LiveEngine> {
    let mut redis = Vec::new();
    // Validation gave every region a Redis entry, so the settings come in region order.
    for (settings, region) in config.redis_configs().into_iter().zip(config.session_config.region_ids()) {
        let own = region == config.region_id();
        redis.push(tokio::spawn(async move {
            let label = settings.label.clone();
            let store =
                if own { RedisHotStore::connect(settings).await } else { RedisHotStore::connect_lazy(settings).await };
            store.with_context(|| format!("cannot start: {label}"))
        }));
    }
    let cold = connect_cold(config.dynamo_config(), config.dynamodb.create_tables, link_key.clone());
    let (cold, audit_log) = cold.await?;
    let mut hot = Vec::new();
    for store in redis {
        let store = store.await.context("connecting to Redis panicked")??;
        hot.push(Timed::new(store, "redis", metrics.clone()));
    }
    // The audit outbox is this region's Redis, on a connection of its own.
    let own = config.redis_configs().swap_remove(config.region_id().index());
    let label = format!("{} (audit outbox)", own.label);
    let outbox = RedisHotStore::connect(own.with_label(label.clone()))
        .await
        .with_context(|| format!("cannot start: {label}"))?;
    let audit = Trail::new(writer_name(&config.region), audit_log, outbox);
    let cold = Timed::new(cold, "dynamodb", metrics.clone());
    let residency = config.residency();
    let (mut tables, mut trails) = (Vec::new(), Vec::new());
    for home in residency.restricted_homes() {
        let (table, trail) = connect_resident(config, home, metrics, link_key.clone()).await?;
        tables.push((home, table));
        trails.push((home, trail));
    }
    let cold = ResidentCold::new(residency.clone(), cold, tables).context("residency")?;
    let audit = ResidentAudit::new(&residency, audit, trails).context("residency")?;
    Ok(Engine::new(config.session_config.clone(), config.engine.clone(), hot, cold, audit, SystemClock)
        .context("the engine refused the configuration")?
        .with_residency(residency))
}

/// The sessions table and the audit trail of restricted home `home`
/// ([`ServeConfig::dynamo_config_for`]): its audit records wait, when its audit table does not
/// answer, in a list of their own in `home`'s Redis (never in a region they may not be stored in).
async fn connect_resident(
    config: &ServeConfig,
    home: RegionId,
    metrics: &Metrics,
    link_key: PseudonymKey,
) -> anyhow::Result<(api::ColdTable, api::AuditTrail)> {
    let name = config.session_config.region_name(home);
    let (table, audit_log) = connect_cold(config.dynamo_config_for(home), config.dynamodb.create_tables, link_key)
        .await
        .with_context(|| format!("residency tables of {name}"))?;
    let redis = config.redis_configs().swap_remove(home.index());
    let prefix = format!("{}.residency", redis.key_prefix);
    let label = format!("{} (audit outbox of {name}'s restricted sessions)", redis.label);
    let outbox = RedisHotStore::connect_lazy(redis.with_prefix(prefix).with_label(label.clone()))
        .await
        .with_context(|| format!("cannot start: {label}"))?;
    let trail = Trail::new(writer_name(&config.region), audit_log, outbox);
    Ok((Timed::new(table, "dynamodb", metrics.clone()), trail))
}

/// Connects the given Redis tiers (in region order) and DynamoDB; every one must answer once
/// (`hotcold load` drives every region, so it needs them all).
pub(crate) async fn connect_backends(
    redis: Vec<RedisHotConfig>,
    dynamo: DynamoConfig,
    create_tables: bool,
    link_key: PseudonymKey,
) -> anyhow::Result<(Vec<RedisHotStore>, DynamoColdStore, DynamoAuditLog)> {
    let mut hot = Vec::new();
    for config in redis {
        let label = config.label.clone();
        hot.push(RedisHotStore::connect(config).await.with_context(|| format!("cannot start: {label}"))?);
    }
    let (cold, audit) = connect_cold(dynamo, create_tables, link_key).await?;
    Ok((hot, cold, audit))
}

/// Connects DynamoDB and checks the sessions table answers.
pub(crate) async fn connect_cold(
    dynamo: DynamoConfig,
    create_tables: bool,
    link_key: PseudonymKey,
) -> anyhow::Result<(DynamoColdStore, DynamoAuditLog)> {
    let cold = DynamoColdStore::connect(dynamo.clone(), create_tables).await.context("cannot start: DynamoDB")?;
    // Reachable and the table exists: a wrong table name must stop start-up, not the first request.
    cold.item_count().await.with_context(|| format!("cannot start: DynamoDB table `{}`", dynamo.sessions_table))?;
    let audit = DynamoAuditLog::connect(cold.client().clone(), dynamo, link_key).await;
    Ok((cold, audit))
}

/// The key of audit links when no `auth.pseudonym_key_file` is configured: public, so every
/// instance (and `hotcold audit`) finds the same links; the start-up line warns about it.
pub(crate) fn public_link_key() -> PseudonymKey {
    PseudonymKey::from_secret(b"hotcold public audit link key: configure auth.pseudonym_key_file")
        .unwrap_or_else(|| unreachable!("the default secret is long enough"))
}

/// How often the audit outbox is drained and the audit metrics refreshed.
const AUDIT_DRAIN_INTERVAL: Duration = Duration::from_secs(1);

/// Delivers the audit records waiting in the outbox every [`AUDIT_DRAIN_INTERVAL`] and keeps the
/// audit metrics current, until `stop`.
async fn audit_loop(engine: Arc<LiveEngine>, metrics: Metrics, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(AUDIT_DRAIN_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        let mut pending = Some(0);
        for (_, trail) in engine.audit().trails() {
            let waiting = match trail.drain().await {
                Ok(drained) => Some(drained.pending),
                Err(_) => trail.pending().await.ok(),
            };
            pending = pending.zip(waiting).map(|(a, b)| a + b);
        }
        metrics.set_audit(audit_counts(&engine), pending);
        let failed = engine.audit().trails().map(|(_, trail)| trail.log().analytics_failures()).sum();
        metrics.set_analytics_failed(failed);
    }
}

/// What every audit trail of the engine counted, summed.
fn audit_counts(engine: &LiveEngine) -> TrailCounts {
    engine.audit().trails().fold(TrailCounts::default(), |sum, (_, trail)| {
        let counts = trail.counts();
        TrailCounts {
            written: sum.written + counts.written,
            deferred: sum.deferred + counts.deferred,
            delivered: sum.delivered + counts.delivered,
            failed: sum.failed + counts.failed,
        }
    })
}

/// On a clean stop (of `serve`, or at the end of a `load` run): the request counts the Redis
/// stores hold from light touches go to their records (they would die with the process; see
/// `RedisHotStore::write_held_counts`).
pub(crate) async fn write_held_counts<C: hotcold_engine::ColdStore, A: hotcold_engine::AuditSink>(
    engine: &hotcold_engine::Engine<api::Hot, C, A, hotcold_engine::SystemClock>,
) {
    let now = hotcold_engine::Clock::now(&hotcold_engine::SystemClock);
    for (_, hot) in engine.hot_stores() {
        hot.inner().write_held_counts(now, true).await;
    }
}

/// How long a clean stop waits for the analytics summaries still being written.
const SUMMARY_WAIT: Duration = Duration::from_secs(10);

/// On a clean stop (of `serve`, or at the end of a `load` run, whose export must hold every
/// session): waits up to [`SUMMARY_WAIT`] for the analytics summaries `log` still writes in the
/// background, which die with the process if it ends first; says how many are lost if some are
/// not done. `command` names the process in that message.
pub(crate) async fn wait_for_summaries(log: &DynamoAuditLog, command: &str) {
    if !log.summaries_written(SUMMARY_WAIT).await {
        let late = log.summaries_in_flight();
        eprintln!("hotcold {command}: analytics: {late} summary writes unfinished after {SUMMARY_WAIT:?} are lost");
    }
}

/// On shutdown: one more drain, so records deferred in this process's spill queue (which dies
/// with it) reach the table if it answers; says what is left.
async fn final_audit_drain(engine: &Arc<LiveEngine>, metrics: &Metrics) {
    for (_, trail) in engine.audit().trails() {
        final_trail_drain(trail).await;
    }
    metrics.set_audit(audit_counts(engine), None);
}

/// [`final_audit_drain`] of one trail.
async fn final_trail_drain(trail: &api::AuditTrail) {
    match trail.drain().await {
        Ok(drained) if drained.pending == 0 => {}
        Ok(drained) => {
            eprintln!("hotcold serve: audit: {} records wait in the outbox for the next instance", drained.pending)
        }
        Err(e) => eprintln!("hotcold serve: audit: records may wait in the outbox for the next instance: {e}"),
    }
    wait_for_summaries(trail.log(), "serve").await;
    let lost = trail.spilled();
    if lost > 0 {
        // Neither the table nor the outbox took them: they end with this process (each is a gap
        // in its writer's chain, which `hotcold audit --verify` shows).
        eprintln!("hotcold serve: audit: {lost} records held in process are lost");
    }
}

/// The region's sync lease in the region's own Redis: `holder` is this process (a random id, so
/// two instances on one host differ too).
struct SyncLease {
    name: String,
    holder: String,
    ttl: Duration,
}

impl SyncLease {
    fn new(engine: &LiveEngine, region: RegionId) -> Self {
        let config = engine.session_config();
        Self {
            name: format!("sync:{}", config.region_name(region)),
            holder: format!("{:016x}-{}", rand::random::<u64>(), std::process::id()),
            ttl: config.sync.sync_interval * LEASE_INTERVALS,
        }
    }

    /// Takes or renews the lease: true when this instance holds it now.
    async fn hold(&self, engine: &LiveEngine, region: RegionId) -> Result<bool, hotcold_engine::StoreError> {
        engine.hot(region).inner().acquire_lease(&self.name, &self.holder, self.ttl).await
    }

    /// Gives the lease up, so another instance takes over at its next pass, not a TTL later.
    async fn release(&self, engine: &LiveEngine, region: RegionId) {
        let _ = engine.hot(region).inner().release_lease(&self.name, &self.holder).await;
    }
}

/// The region's sync job on the engine's [`hotcold_engine::SyncSchedule`]: a demotion pass at
/// every multiple of `sync_interval` since start-up and write-behind copies at every multiple of
/// theirs (demotion first when both fall due at once), the gauges refreshed at start-up and after
/// each demotion pass. A pass that overruns the next due instant skips it rather than making up
/// for it in a burst. Stops when `stop` turns true.
///
/// Before the passes due at an instant, the instance takes or renews the region's sync lease; an
/// instance another one holds it from skips them (`hotcold_sync_passes_total{result="skipped"}`)
/// and reports a sync lag of 0, the holder's lag being the region's. A lease that cannot be
/// checked (the region's Redis is down) counts as a failed pass.
async fn sync_loop(engine: Arc<LiveEngine>, region: RegionId, metrics: Metrics, mut stop: watch::Receiver<bool>) {
    let sync = SyncService::new(Arc::clone(&engine));
    let mut timer = PassTimer::new(sync.schedule());
    let lease = SyncLease::new(&engine, region);
    let mut held = false;
    let mut last_clean = Instant::now();
    refresh_gauges(&engine, &metrics).await;
    metrics.set_lease_held(false);
    loop {
        let passes = tokio::select! {
            _ = stop.changed() => break,
            passes = timer.next() => match passes {
                Some(passes) => passes,
                None => break,
            },
        };
        // Err: the lease could not be checked (the region's Redis is down), so no pass can run.
        let holding = lease.hold(&engine, region).await.map_err(|error| {
            metrics.sync_pass(&SyncReport { error: Some(error), ..SyncReport::default() });
        });
        held = holding == Ok(true);
        metrics.set_lease_held(held);
        for pass in passes {
            match (pass, holding) {
                (Pass::Demotion, Ok(true)) => {
                    // Failback first: the failover copies held here go home once their region's
                    // Redis answers again (an idle copy demoted here instead would have its cold
                    // record written from here, which home's replica sees only later).
                    metrics.sync_pass(&sync.move_home(region).await);
                    let report = sync.run_once(region).await;
                    metrics.sync_pass(&report);
                    // The cold expiry sweep of this region's sessions rides on the demotion pass.
                    let expiry = sync.expire_cold(region).await;
                    metrics.sync_pass(&expiry);
                    if report.error.is_none() {
                        last_clean = Instant::now();
                    }
                    refresh_gauges(&engine, &metrics).await;
                }
                (Pass::Flush, Ok(true)) => metrics.sync_pass(&sync.flush_dirty(region).await),
                (Pass::Demotion, Ok(false)) => {
                    metrics.sync_pass_skipped();
                    refresh_gauges(&engine, &metrics).await;
                }
                (Pass::Flush, Ok(false)) => metrics.sync_pass_skipped(),
                // Counted once above, as a failed pass.
                (_, Err(())) => {}
            }
        }
        if holding == Ok(false) {
            // Another instance runs the job: its lag is the region's.
            last_clean = Instant::now();
        }
        metrics.set_sync_lag(last_clean.elapsed());
    }
    if held {
        lease.release(&engine, region).await;
        metrics.set_lease_held(false);
    }
}

/// With `write_behind` or `write_through`, copies the region's changed hot sessions to DynamoDB
/// one last time (the server has stopped, so no request changes one meanwhile), and logs how
/// many: what write-behind had not copied yet is not left to the next instance's first pass. With
/// `on_demotion` the hot tier is the only copy by design, and nothing is copied.
async fn final_flush(engine: &Arc<LiveEngine>, region: RegionId, metrics: &Metrics) {
    if !matches!(engine.engine_config().durability, Durability::WriteBehind | Durability::WriteThrough) {
        return;
    }
    let sync = SyncService::new(Arc::clone(engine));
    let mut copied = 0;
    let mut error = None;
    for _ in 0..FINAL_FLUSH_ROUNDS {
        let report = sync.flush_dirty(region).await;
        metrics.sync_pass(&report);
        copied += report.copied;
        if report.error.is_some() || report.copied == 0 {
            error = report.error;
            break;
        }
    }
    match error {
        None => eprintln!("hotcold serve: final write-behind flush copied {copied} sessions to DynamoDB"),
        Some(e) => {
            eprintln!("hotcold serve: final write-behind flush copied {copied} sessions to DynamoDB, then failed: {e}")
        }
    }
}

/// Hot sessions per region and the cold table's item count; a backend that is down keeps its
/// last value (its outage shows in the backend latency series and in `/readyz`).
async fn refresh_gauges(engine: &LiveEngine, metrics: &Metrics) {
    use hotcold_engine::HotStore as _;
    let config = engine.session_config();
    for (region, hot) in engine.hot_stores() {
        if let Ok(count) = hot.session_count().await {
            metrics.set_sessions("hot", config.region_name(region), count);
        }
    }
    let mut count = Some(0);
    for (_, table) in engine.cold().tables() {
        count = count.zip(table.inner().item_count().await.ok()).map(|(a, b)| a + b);
    }
    if let Some(count) = count {
        metrics.set_sessions("cold", "", count);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
