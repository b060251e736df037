//! tower-sessions' counter example (its `examples/counter.rs`) with the sessions in hotcold: the
//! only change to the app is the store. Each session is hot in this region's Redis; after 30
//! idle minutes the sync job below moves it to DynamoDB, and the next request brings it back.
//!
//! ```sh
//! source .services/run/env.sh     # or set the variables below by hand
//! cargo run --example tower_sessions_counter
//! curl -c jar -b jar http://127.0.0.1:3000/          # Current count: 0, 1, 2, ...
//! curl -c jar -b jar http://127.0.0.1:3000/logout
//! ```
//!
//! Configuration, from the environment:
//! - `HOTCOLD_REDIS_URLS`: one Redis URL per region, comma-separated (required);
//! - `HOTCOLD_REDIS_REGIONS`: the regions' names, in the same order. Default:
//!   `us-east-1,eu-west-1,ap-southeast-1`;
//! - `HOTCOLD_REGION`: the region this instance serves. Default: the first;
//! - `HOTCOLD_DYNAMODB_ENDPOINT`: DynamoDB Local's URL; unset, AWS (credentials and region from
//!   the usual AWS chain);
//! - `HOTCOLD_TABLE_PREFIX`: tables `<prefix>-sessions` and `<prefix>-audit`, created when missing.
//!   Default: `hotcold-tower-sessions`;
//! - `HOTCOLD_LISTEN`: the address to serve on. Default: `127.0.0.1:3000`.
//!
//! `tower-sessions/tests/counter_app.rs` runs this app (its [`app`]) against the real servers.

use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use hotcold_engine::audit::trail::{Trail, writer_name};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::{
    AuditSink, Clock, ColdStore, Engine, EngineConfig, HotStore, PseudonymKey, RegionId, SessionConfig,
};
use hotcold_engine::{SyncService, SystemClock};
use hotcold_tower_sessions::HotcoldStore;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

const COUNTER_KEY: &str = "counter";

/// Key prefix of this app's Redis keys, apart from any `hotcold serve` sharing the servers.
const REDIS_PREFIX: &str = "tower-sessions";

#[derive(Default, Deserialize, Serialize)]
struct Counter(usize);

/// The app: `/` answers how many times this session visited before; `/logout` ends the session.
/// Sessions last a day of inactivity, longer than the 30 minutes after which they go cold.
pub(crate) fn app<S: SessionStore + Clone>(store: S) -> Router {
    let sessions =
        SessionManagerLayer::new(store).with_secure(false).with_expiry(Expiry::OnInactivity(Duration::days(1)));
    Router::new().route("/", get(count)).route("/logout", get(logout)).layer(sessions)
}

async fn count(session: Session) -> Result<String, StatusCode> {
    let counter: Counter = session.get(COUNTER_KEY).await.map_err(unavailable)?.unwrap_or_default();
    session.insert(COUNTER_KEY, counter.0 + 1).await.map_err(unavailable)?;
    Ok(format!("Current count: {}", counter.0))
}

async fn logout(session: Session) -> Result<&'static str, StatusCode> {
    session.flush().await.map_err(unavailable)?;
    Ok("Logged out")
}

/// A store that could not answer: the client retries. The error names no token (the store's
/// errors never do), so it can be logged.
fn unavailable(error: tower_sessions::session::Error) -> StatusCode {
    eprintln!("session store: {error}");
    StatusCode::SERVICE_UNAVAILABLE
}

/// The sync job of `region`: demotes idle sessions and expires cold ones every `sync_interval`
/// (`hotcold serve` runs the same passes on the engine's full schedule).
async fn sync_forever<H: HotStore, C: ColdStore, A: AuditSink, K: Clock>(
    engine: Arc<Engine<H, C, A, K>>,
    region: RegionId,
) {
    let sync = SyncService::new(Arc::clone(&engine));
    let mut ticks = tokio::time::interval(engine.session_config().sync.sync_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        for report in [sync.run_once(region).await, sync.expire_cold(region).await] {
            if let Some(error) = report.error {
                eprintln!("sync pass of region {}: {error}", region.0);
            }
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|value| !value.is_empty()).unwrap_or_else(|| default.to_string())
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_string).collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let urls = list(&std::env::var("HOTCOLD_REDIS_URLS").context("set HOTCOLD_REDIS_URLS (one Redis URL per region)")?);
    let regions = list(&env_or("HOTCOLD_REDIS_REGIONS", "us-east-1,eu-west-1,ap-southeast-1"));
    if urls.len() != regions.len() {
        bail!("HOTCOLD_REDIS_URLS has {} URLs but HOTCOLD_REDIS_REGIONS names {} regions", urls.len(), regions.len());
    }
    let mut session_config = SessionConfig::default();
    session_config.hot_storage.regions = regions;
    let served = env_or("HOTCOLD_REGION", &session_config.hot_storage.regions[0]);
    let region =
        session_config.region_id(&served).with_context(|| format!("HOTCOLD_REGION {served} is not configured"))?;

    let mut hot = Vec::new();
    for (url, name) in urls.iter().zip(&session_config.hot_storage.regions) {
        let config =
            RedisHotConfig::standalone(url.as_str()).with_prefix(REDIS_PREFIX).with_label(format!("redis {name}"));
        hot.push(RedisHotStore::connect(config).await.with_context(|| format!("connect to the Redis of {name}"))?);
    }
    let prefix = env_or("HOTCOLD_TABLE_PREFIX", "hotcold-tower-sessions");
    let (sessions_table, audit_table) = (format!("{prefix}-sessions"), format!("{prefix}-audit"));
    let dynamo = match std::env::var("HOTCOLD_DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => DynamoConfig::local(endpoint, sessions_table, audit_table),
        _ => DynamoConfig {
            analytics_table: format!("{audit_table}-analytics"),
            sessions_table,
            audit_table,
            ..DynamoConfig::default()
        },
    };
    let cold = DynamoColdStore::connect(dynamo.clone(), true).await.context("connect to DynamoDB")?;
    // Audit records that DynamoDB cannot take at once wait in this region's Redis, as in
    // `hotcold serve`. The link key is random here; a deployment shares one secret between its
    // instances (`PseudonymKey::from_secret`) so that every instance finds a user's audit links.
    let outbox_config =
        RedisHotConfig::standalone(urls[region.index()].as_str()).with_prefix(format!("{REDIS_PREFIX}.audit"));
    let outbox = RedisHotStore::connect(outbox_config).await.context("connect the audit outbox")?;
    let audit_log = DynamoAuditLog::new(cold.client().clone(), dynamo, PseudonymKey::random());
    let audit = Trail::new(writer_name(&served), audit_log, outbox);
    let engine = Engine::new(session_config, EngineConfig::default(), hot, cold, audit, SystemClock)
        .context("the engine refused the configuration")?;
    let engine = Arc::new(engine);

    let store = HotcoldStore::new(Arc::clone(&engine), region)?;
    tokio::spawn(sync_forever(engine, region));
    let listen = env_or("HOTCOLD_LISTEN", "127.0.0.1:3000");
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listen on {listen}"))?;
    println!("counter app of region {served} on http://{listen}/");
    axum::serve(listener, app(store)).await.context("serve")?;
    Ok(())
}
