//! The HTTP API of CONTRACT section 5 over one region's [`SessionManager`].
//!
//! Every error is JSON (`{"error": "..."}`): bad input is 400 (malformed JSON, token, user id, data
//! over `engine.max_data_bytes`, a body over that plus 64 KiB, a bad page size or cursor), unknown
//! sessions 404, stale versions 409, a backend that is down (or a session that kept moving between
//! tiers under an update) 503 with `Retry-After`. A missing or unknown credential is 401, a service
//! credential on an admin route 403 (`auth.rs`); a request over the time or in-flight limits 503
//! (`limits.rs`). No handler panics on input, and no token or credential is ever logged or echoed:
//! errors and metrics name operations, not sessions.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use hotcold_engine::audit::log::{AuditCursor, AuditPage, AuditQuery, sort_key};
use hotcold_engine::residency::{ResidentAudit, ResidentCold};

use crate::audit::{parse_time, rfc3339};
use hotcold_engine::audit::trail::Trail;
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore};
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::{
    Engine, EngineError, Lookup, RegionId, Served, Session, SessionData, SessionId, SessionManager, SystemClock,
    Timestamp, UserId,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{self, Gate};
use super::config::Limits;
use super::legacy::{Migration, Presented, Side};
use super::limits;
use super::metrics::{Metrics, Timed};

/// Room for the JSON around the data in a request body.
const BODY_ENVELOPE_BYTES: usize = 64 * 1024;

/// Sessions in a page of a user's listing when the request names no `limit`.
const DEFAULT_PAGE: usize = 100;

/// The largest page of a listing (DESIGN: "everything is bounded").
const MAX_PAGE: usize = 1000;

pub(crate) type Hot = Timed<RedisHotStore>;
/// One sessions table (its calls timed for the metrics).
pub(crate) type ColdTable = Timed<DynamoColdStore>;
/// The sessions tables: the global table, plus one per home restricted by `residency`.
pub(crate) type Cold = ResidentCold<ColdTable>;
/// One audit trail: an audit table, with a Redis list as its outbox.
pub(crate) type AuditTrail = Trail<DynamoAuditLog, RedisHotStore>;
/// The audit trails: the shared one (this region's Redis as its outbox), plus one per home
/// restricted by `residency` (its tables and outbox in that home).
pub(crate) type Audit = ResidentAudit<AuditTrail>;
pub(crate) type LiveEngine = Engine<Hot, Cold, Audit, SystemClock>;
pub(crate) type Manager = SessionManager<Hot, Cold, Audit, SystemClock>;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) engine: Arc<LiveEngine>,
    pub(crate) manager: Manager,
    pub(crate) metrics: Metrics,
    /// The region this instance serves: its Redis decides readiness, the others' do not.
    pub(crate) region: RegionId,
    /// The region legacy ids are homed in (`legacy.region`, default the first region).
    pub(crate) legacy_home: RegionId,
    /// The migration from the Redis-only store, when `legacy:` is configured.
    pub(crate) migration: Option<Migration>,
}

/// The routes of CONTRACT section 5, every one behind the credential check (`gate`) and the
/// `limits`; anything else answers a JSON 404.
pub(crate) fn router(state: Arc<AppState>, gate: Arc<Gate>, limits: Limits) -> Router {
    let body_limit = state.engine.engine_config().max_data_bytes + BODY_ENVELOPE_BYTES;
    let counted = state.metrics.clone();
    let routes = Router::new()
        .route("/v1/sessions", post(create))
        .route("/v1/sessions/{token}", get(lookup).put(update).delete(logout))
        .route("/v1/users/{user_id}/sessions", get(list).delete(revoke))
        .route("/v1/users/{user_id}/erase", post(erase))
        .route("/v1/users/{user_id}/audit", get(audit_query))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // Every route above, and no handler can skip it: `auth::required_role` says which
        // credential each needs (admin unless listed otherwise).
        .route_layer(middleware::from_fn_with_state(gate, auth::authenticate))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    limits::bound(routes, limits, counted).layer(middleware::map_response(limits::retry_after))
}

/// A JSON error answer.
fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Why a request failed: its status, message and outcome label for the metrics.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    outcome: &'static str,
    /// The session's version, on a version conflict (so the client can reread and retry).
    current_version: Option<u64>,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), outcome: "bad_request", current_version: None }
    }

    fn into_response(self) -> Response {
        match self.current_version {
            Some(current) => {
                (self.status, Json(json!({ "error": self.message, "current_version": current }))).into_response()
            }
            None => failure(self.status, self.message),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let (status, outcome) = match error {
            EngineError::MalformedToken
            | EngineError::InvalidUserId(_)
            | EngineError::InvalidData(_)
            | EngineError::DataTooLarge { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            EngineError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            EngineError::VersionConflict { .. } => (StatusCode::CONFLICT, "conflict"),
            // A store that is down, or a session moving between tiers under an update: both pass,
            // so the client retries.
            EngineError::Store(_) | EngineError::Contention => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        let (message, current_version) = match error {
            EngineError::VersionConflict { expected, current } => (
                format!("version conflict: the request was based on version {expected}, the session is at {current}"),
                Some(current),
            ),
            other => (other.to_string(), None),
        };
        Self { status, message, outcome, current_version }
    }
}

impl From<BytesRejection> for ApiError {
    /// A body too large or unreadable is bad input (400), whatever axum would answer.
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::bad_request("request body too large")
        } else {
            Self::bad_request(format!("unreadable request body: {}", rejection.body_text()))
        }
    }
}

impl From<PathRejection> for ApiError {
    /// A path segment that cannot be decoded (bad percent-encoding).
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(format!("malformed path: {}", rejection.body_text()))
    }
}

/// Parses a JSON body into `T`; the error says what was wrong and where.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// Runs one operation, recording its outcome and latency.
async fn measured(
    state: &AppState,
    op: &'static str,
    work: impl Future<Output = Result<Response, ApiError>>,
) -> Response {
    let started = Instant::now();
    let (response, outcome) = match work.await {
        Ok(response) => (response, "ok"),
        Err(error) => {
            let outcome = error.outcome;
            (error.into_response(), outcome)
        }
    };
    state.metrics.request(op, outcome, started.elapsed());
    response
}

/// The session a path names: a hotcold token, or a legacy store's id (see `legacy.rs`).
fn token_of(state: &AppState, path: Result<Path<String>, PathRejection>) -> Result<Presented, ApiError> {
    let Path(wire) = path?;
    Ok(Presented::parse(&wire, state)?)
}

fn user_of(path: Result<Path<String>, PathRejection>) -> Result<UserId, ApiError> {
    let Path(user) = path?;
    Ok(UserId::new(&user)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    user_id: String,
    data: Value,
    /// The region the user belongs to, when it is not this one: a load balancer that sent a down
    /// region's users here says so, and the session is homed there and goes home when it recovers
    /// (failback). Default: this instance's region.
    #[serde(default)]
    home: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    data: Value,
    version: u64,
}

fn data_of(state: &AppState, value: &Value) -> Result<SessionData, ApiError> {
    Ok(SessionData::from_json(value, state.engine.engine_config().max_data_bytes)?)
}

/// When a session expires unless it is used again: `cold_storage.ttl` after its last access.
fn expires_at(state: &AppState, session: &Session) -> Timestamp {
    session.last_access + state.engine.session_config().cold_storage.ttl
}

async fn create(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    measured(&state, "create", async {
        let request: CreateBody = parse_body(&body?)?;
        let user = UserId::new(&request.user_id)?;
        let data = data_of(&state, &request.data)?;
        let home = match &request.home {
            None => state.region,
            Some(name) => state.engine.session_config().region_id(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "home: {name:?} is not a configured region (session_config.hot_storage.regions)"
                ))
            })?,
        };
        if let Some(migration) = &state.migration {
            // A migration runs: a legacy-format id, on the side the split gives it (`home` is
            // the legacy sessions' home).
            let (legacy, session, hybrid) = migration.create(&state, user, data).await?;
            let answer = json!({
                "token": legacy.as_str(),
                "version": 1,
                "tier": if hybrid { "hot" } else { "legacy" },
                "expires_at": rfc3339(session.expires_at),
            });
            return Ok((StatusCode::CREATED, Json(answer)).into_response());
        }
        let created = state.manager.create_in(home, user, data).await?;
        let answer = json!({
            "token": created.token.to_wire(state.engine.session_config()),
            "version": created.session.version,
            // "cold" when the hot tier was down: the session was created in DynamoDB only.
            "tier": if created.hot { "hot" } else { "cold" },
            "expires_at": rfc3339(expires_at(&state, &created.session)),
        });
        Ok((StatusCode::CREATED, Json(answer)).into_response())
    })
    .await
}

async fn lookup(State(state): State<Arc<AppState>>, path: Result<Path<String>, PathRejection>) -> Response {
    measured(&state, "get", async {
        let presented = token_of(&state, path)?;
        let started = Instant::now();
        if let Side::Legacy(migration, legacy) = state.side(&presented).await? {
            let held = migration.hold(&state, legacy).await?.ok_or(EngineError::NotFound)?;
            let answer = json!({
                "user_id": held.user_id.as_str(),
                "data": held.data.to_json(),
                // The legacy store keeps no versions, creation or access times.
                "version": 1,
                "tier": "legacy",
                "created_at": null,
                "last_access": null,
                "expires_at": rfc3339(held.expires_at),
            });
            return Ok(Json(answer).into_response());
        }
        match state.manager.get(&presented.id(state.legacy_home)).await {
            Lookup::Found { session, served, .. } => {
                let took = started.elapsed();
                let tier = match served {
                    Served::Hot => "hot",
                    Served::Promoted => {
                        state.metrics.promotion();
                        "promoted"
                    }
                    // Found in DynamoDB while no hot tier could take it: served, but still cold.
                    Served::ColdOnly => "cold",
                };
                state.metrics.lookup(state.engine.session_config().region_name(state.region), tier, took);
                let answer = json!({
                    "user_id": session.user_id.as_str(),
                    "data": session.data.to_json(),
                    "version": session.version,
                    "tier": tier,
                    "created_at": rfc3339(session.created_at),
                    "last_access": rfc3339(session.last_access),
                    "expires_at": rfc3339(expires_at(&state, &session)),
                });
                Ok(Json(answer).into_response())
            }
            Lookup::Expired | Lookup::Miss => Err(EngineError::NotFound.into()),
            Lookup::Unavailable(e) => Err(EngineError::Store(e).into()),
        }
    })
    .await
}

async fn update(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state, "update", async {
        let presented = token_of(&state, path)?;
        let request: UpdateBody = parse_body(&body?)?;
        let data = data_of(&state, &request.data)?;
        if let Side::Legacy(migration, legacy) = state.side(&presented).await? {
            // Last writer wins, as in the legacy store; its sessions stay at version 1.
            if !migration.replace(&state, legacy, &data).await? {
                return Err(EngineError::NotFound.into());
            }
            return Ok(Json(json!({ "version": 1 })).into_response());
        }
        let updated = state.manager.update(&presented.id(state.legacy_home), data, request.version).await?;
        Ok(Json(json!({ "version": updated.version })).into_response())
    })
    .await
}

async fn logout(State(state): State<Arc<AppState>>, path: Result<Path<String>, PathRejection>) -> Response {
    measured(&state, "logout", async {
        let presented = token_of(&state, path)?;
        // Gone from both stores, whichever side serves it: the legacy copy first, then a removal
        // marker in the engine, so neither an import nor a rollback can bring it back.
        if let (Presented::Legacy(legacy), Some(migration)) = (&presented, &state.migration) {
            migration.store.remove(legacy).await.map_err(EngineError::from)?;
        }
        // Logging out a session that is already gone is not an error: the client's goal is met.
        state.manager.logout(&presented.id(state.legacy_home)).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `?limit=N&cursor=C` of a listing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// A page request checked: its size, and the hashed id the page starts after.
fn page_of(query: Result<Query<PageQuery>, QueryRejection>) -> Result<(usize, Option<String>), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(format!("malformed query: {}", e.body_text())))?;
    let limit = limit_of(query.limit, DEFAULT_PAGE)?;
    let after = query.cursor.map(|cursor| cursor_position(&cursor)).transpose()?;
    Ok((limit, after))
}

/// A page's `limit`: `default` when absent, else a whole number from 1 to [`MAX_PAGE`], or a 400.
fn limit_of(limit: Option<String>, default: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!("limit must be a whole number from 1 to {MAX_PAGE}"))),
        },
    }
}

/// The opaque cursor of a page that ends at the session with hashed id `hex`.
fn cursor_after(hex: &str) -> String {
    URL_SAFE_NO_PAD.encode(hex)
}

/// Where a cursor points: a hashed session id (32 lowercase hex digits), or a 400.
fn cursor_position(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| ApiError::bad_request("malformed cursor (pass back the `next_cursor` of the previous page)"))
}

/// A user's live sessions, a page at a time in the order of their hashed ids (stable while
/// sessions come and go, unlike creation order across regions). Each page is read from the
/// stores a page at a time (`SessionManager::sessions_of_user_page`), so a user with thousands
/// of sessions costs what one page costs.
async fn list(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    measured(&state, "list", async {
        let user = user_of(path)?;
        let (limit, after) = page_of(query)?;
        // The cursor carries the digest only: start after every id with that digest (the home
        // region is the id's last part in its order, so the largest one does that).
        let after = after
            .map(|hex| {
                SessionId::from_hex(&hex, RegionId(u16::MAX)).ok_or_else(|| ApiError::bad_request("malformed cursor"))
            })
            .transpose()?;
        let page = state.manager.sessions_of_user_page(&user, after, limit).await?;
        let config = state.engine.session_config();
        let listed: Vec<Value> = page
            .sessions
            .iter()
            .map(|s| {
                json!({
                    // A one-way digest of the token: identifies the session, cannot be used as one.
                    "session_id": s.id.to_hex(),
                    "home_region": config.region_name(s.id.home()),
                    "version": s.version,
                    "created_at": rfc3339(s.created_at),
                    "last_access": rfc3339(s.last_access),
                    "expires_at": rfc3339(expires_at(&state, s)),
                })
            })
            .collect();
        let next_cursor = page.next.map(|id| cursor_after(&id.to_hex()));
        Ok(Json(json!({ "sessions": listed, "next_cursor": next_cursor })).into_response())
    })
    .await
}

async fn revoke(State(state): State<Arc<AppState>>, path: Result<Path<String>, PathRejection>) -> Response {
    measured(&state, "revoke", async {
        let user = user_of(path)?;
        let revoked = state.manager.revoke_user(&user).await?;
        Ok(Json(json!({ "revoked": revoked })).into_response())
    })
    .await
}

async fn erase(State(state): State<Arc<AppState>>, path: Result<Path<String>, PathRejection>) -> Response {
    measured(&state, "erase", async {
        let user = user_of(path)?;
        let erased = state.manager.erase_user(&user).await?;
        Ok(Json(json!({ "erased": erased })).into_response())
    })
    .await
}

/// `?since=T&until=T&limit=N&cursor=C` of the compliance query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The compliance query: a page of the user's audit events, newest first (one DynamoDB Query of
/// the user's partition, see `DynamoAuditLog`).
async fn audit_query(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    measured(&state, "audit", async {
        let user = user_of(path)?;
        let Query(params) = query.map_err(|e| ApiError::bad_request(format!("malformed query: {}", e.body_text())))?;
        let time = |name: &str, text: Option<String>| {
            text.map(|t| parse_time(&t).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))).transpose()
        };
        let limit = limit_of(params.limit, MAX_PAGE)?;
        // The cursor travels as URL-safe base64 of the last record's sort key (which holds `#`,
        // the start of a URL's fragment): passed back verbatim in a URL, as the listing's is.
        let cursor = params
            .cursor
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(&c)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .and_then(|text| AuditCursor::parse(&text))
                    .ok_or_else(|| {
                        ApiError::bad_request("malformed cursor (pass back the `next_cursor` of the previous page)")
                    })
            })
            .transpose()?;
        let request =
            AuditQuery { since: time("since", params.since)?, until: time("until", params.until)?, limit, cursor };
        let page = user_audit_page(state.engine.audit(), &user, &request).await.map_err(EngineError::Store)?;
        let config = state.engine.session_config();
        let events: Vec<Value> = page.records.iter().map(|r| crate::audit::event_json(config, r)).collect();
        let next_cursor = page.next_cursor.map(|c| URL_SAFE_NO_PAD.encode(c.as_str()));
        Ok(Json(json!({ "events": events, "next_cursor": next_cursor })).into_response())
    })
    .await
}

/// The OpenAPI description of these routes (`src/serve/openapi.json`; a test checks that it
/// lists exactly the routes served, each with the credential `auth::required_role` asks for).
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when this region's Redis answers PING and DynamoDB counts the sessions table's items (and,
/// for a region restricted by `residency`, its own sessions table's);
/// another region's Redis being down shows in `checks` but leaves this region ready (DESIGN: "one
/// region's trouble stays in that region"). The checks run concurrently, so a dead backend costs
/// one timeout, not one each.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let (ready, checks) = readiness(&state).await;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready, "checks": checks }))).into_response()
}

/// What `/readyz` answers: ready or not, and each backend's check.
async fn readiness(state: &AppState) -> (bool, serde_json::Map<String, Value>) {
    let config = state.engine.session_config();
    let mut checks = serde_json::Map::new();
    let pings = state.engine.hot_stores().map(|(region, hot)| async move { (region, hot.inner().ping().await) });
    // The shared table ("dynamodb"), and each restricted home's ("dynamodb <home>"), which only
    // that home's readiness needs (its sessions live there).
    let tables =
        state.engine.cold().tables().map(|(home, table)| async move { (home, table.inner().item_count().await) });
    let (pings, tables) = tokio::join!(join_all(pings), join_all(tables));
    let mut ready = true;
    for (region, answer) in pings {
        if region == state.region {
            ready &= answer.is_ok();
        }
        checks.insert(format!("redis {}", config.region_name(region)), check_json(answer.map(|()| Value::Null)));
    }
    for (home, answer) in tables {
        if home.is_none_or(|home| home == state.region) {
            ready &= answer.is_ok();
        }
        let name = home.map_or_else(|| "dynamodb".to_string(), |home| format!("dynamodb {}", config.region_name(home)));
        checks.insert(name, check_json(answer.map(|_| Value::Null)));
    }
    (ready, checks)
}

fn check_json(answer: Result<Value, hotcold_engine::StoreError>) -> Value {
    match answer {
        Ok(_) => json!("ok"),
        Err(e) => json!(e.to_string()),
    }
}

/// The metrics, `hotcold_ready` checked first: alert rules see readiness at every scrape without
/// probing `/readyz` themselves (the checks run concurrently, so a dead backend costs one timeout).
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (ready, _) = readiness(&state).await;
    state.metrics.set_ready(state.engine.session_config().region_name(state.region), ready);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// A page of `user`'s audit records across every trail (a user's sessions may be homed in
/// restricted regions, whose records their own trails hold): each trail's page after the same
/// cursor, merged newest first and cut at `limit`. Sort keys order records across trails (time,
/// writer, sequence), so the last record kept is where every trail's next page starts.
pub(crate) async fn user_audit_page(
    audit: &Audit,
    user: &UserId,
    query: &AuditQuery,
) -> Result<AuditPage, hotcold_engine::StoreError> {
    let mut records = Vec::new();
    let mut more = false;
    for (_, trail) in audit.trails() {
        let page = trail.user_page(user, query).await?;
        more |= page.next_cursor.is_some();
        records.extend(page.records);
    }
    records.sort_by_key(|r| std::cmp::Reverse(sort_key(r)));
    more |= records.len() > query.limit;
    records.truncate(query.limit);
    let next_cursor = if more { records.last().and_then(|r| AuditCursor::parse(&sort_key(r))) } else { None };
    Ok(AuditPage { records, next_cursor })
}
