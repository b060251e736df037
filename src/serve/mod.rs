//! `hotcold serve --config FILE`: the production Session Manager of one region. The HTTP API
//! (CONTRACT section 5) and `/metrics` over the engine on live Redis and DynamoDB, plus the region's
//! sync job in a tokio loop on the engine's [`hotcold_engine::SyncSchedule`] (DESIGN: "a tokio
//! loop calls `run_once` every `sync_interval`").
//!
//! Start-up needs every backend once (exit 1 naming the one that is down); after that an outage
//! answers 503 for what needs the missing backend, `/readyz` says which, and the stores reconnect
//! on their own. SIGINT or SIGTERM stops accepting, lets requests in flight finish, then exits 0.

mod api;
pub(crate) mod config;
pub(crate) mod metrics;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use hotcold_engine::backends::dynamodb::{DynamoAudit, DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::{Engine, Pass, RegionId, SessionManager, SyncService, SystemClock};
use tokio::sync::watch;

use crate::Failure;
use crate::pass_timer::PassTimer;
use api::{AppState, LiveEngine};
use config::ServeConfig;
use metrics::{Metrics, Timed};

/// Arguments of `hotcold serve`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) config: PathBuf,
}

/// Runs the service until SIGINT or SIGTERM.
pub(crate) fn serve(args: &Args) -> Result<(), Failure> {
    let config = ServeConfig::load(&args.config).map_err(|e| Failure::BadInput(anyhow!(e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    runtime.block_on(run(config))
}

async fn run(config: ServeConfig) -> Result<(), Failure> {
    let metrics = Metrics::new().context("cannot register the metrics").map_err(Failure::Failed)?;
    let engine = Arc::new(connect(&config, &metrics).await.map_err(Failure::Failed)?);
    let region = config.region_id();
    let manager = SessionManager::new(Arc::clone(&engine), region);
    let state = Arc::new(AppState { engine: Arc::clone(&engine), manager, metrics: metrics.clone() });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))
        .map_err(Failure::Failed)?;
    let address = listener.local_addr().map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    let (stop_tx, stop_rx) = watch::channel(false);
    let sync = tokio::spawn(sync_loop(Arc::clone(&engine), region, metrics, stop_rx));
    // One line a supervisor or a test can wait for; it names no session.
    eprintln!("hotcold serve: region {} listening on http://{address}", config.region);
    let served = axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = sync.await;
    served.context("the HTTP server failed").map_err(Failure::Failed)?;
    eprintln!("hotcold serve: stopped");
    Ok(())
}

/// Connects every region's Redis and DynamoDB (creating the tables when configured to).
async fn connect(config: &ServeConfig, metrics: &Metrics) -> anyhow::Result<LiveEngine> {
    let (hot, cold, audit) =
        connect_backends(config.redis_configs(), config.dynamo_config(), config.dynamodb.create_tables).await?;
    let hot = hot.into_iter().map(|store| Timed::new(store, "redis", metrics.clone())).collect();
    let cold = Timed::new(cold, "dynamodb", metrics.clone());
    Engine::new(config.session_config.clone(), config.engine.clone(), hot, cold, audit, SystemClock)
        .context("the engine refused the configuration")
}

/// Connects the given Redis tiers (in region order) and DynamoDB; every one must answer once.
pub(crate) async fn connect_backends(
    redis: Vec<RedisHotConfig>,
    dynamo: DynamoConfig,
    create_tables: bool,
) -> anyhow::Result<(Vec<RedisHotStore>, DynamoColdStore, DynamoAudit)> {
    let mut hot = Vec::new();
    for config in redis {
        let label = config.label.clone();
        hot.push(RedisHotStore::connect(config).await.with_context(|| format!("cannot start: {label}"))?);
    }
    let cold = DynamoColdStore::connect(dynamo.clone(), create_tables).await.context("cannot start: DynamoDB")?;
    // Reachable and the table exists: a wrong table name must stop start-up, not the first request.
    cold.item_count().await.with_context(|| format!("cannot start: DynamoDB table `{}`", dynamo.sessions_table))?;
    let audit = DynamoAudit::new(cold.client().clone(), dynamo);
    Ok((hot, cold, audit))
}

/// The region's sync job on the engine's [`hotcold_engine::SyncSchedule`]: a demotion pass at
/// every multiple of `sync_interval` since start-up and write-behind copies at every multiple of
/// theirs (demotion first when both fall due at once), the gauges refreshed at start-up and after
/// each demotion pass. A pass that overruns the next due instant skips it rather than making up
/// for it in a burst. Stops when `stop` turns true.
async fn sync_loop(engine: Arc<LiveEngine>, region: RegionId, metrics: Metrics, mut stop: watch::Receiver<bool>) {
    let sync = SyncService::new(Arc::clone(&engine));
    let mut timer = PassTimer::new(sync.schedule());
    let mut last_clean = Instant::now();
    refresh_gauges(&engine, &metrics).await;
    loop {
        let passes = tokio::select! {
            _ = stop.changed() => return,
            passes = timer.next() => match passes {
                Some(passes) => passes,
                None => return,
            },
        };
        for pass in passes {
            match pass {
                Pass::Demotion => {
                    let report = sync.run_once(region).await;
                    metrics.sync_pass(&report);
                    if report.error.is_none() {
                        last_clean = Instant::now();
                    }
                    refresh_gauges(&engine, &metrics).await;
                }
                Pass::Flush => metrics.sync_pass(&sync.flush_dirty(region).await),
            }
        }
        metrics.set_sync_lag(last_clean.elapsed());
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
    if let Ok(count) = engine.cold().inner().item_count().await {
        metrics.set_sessions("cold", "", count);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
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
