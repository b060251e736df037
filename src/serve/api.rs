//! The HTTP API of CONTRACT section 5 over one region's [`SessionManager`].
//!
//! Every error is JSON (`{"error": "..."}`): bad input is 400 (malformed JSON, token, user id, data
//! over `engine.max_data_bytes`, a body over that plus 64 KiB), unknown sessions 404, stale
//! versions 409, a backend that is down (or a session that kept moving between tiers under an
//! update) 503. No handler panics on input, and no token is ever logged or echoed: errors and
//! metrics name operations, not sessions.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hotcold_engine::backends::dynamodb::{DynamoAudit, DynamoColdStore};
use hotcold_engine::backends::redis::RedisHotStore;
use hotcold_engine::{
    Engine, EngineError, Lookup, Served, Session, SessionData, SessionManager, SessionToken, SystemClock, Timestamp,
    UserId,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::metrics::{Metrics, Timed};

/// Room for the JSON around the data in a request body.
const BODY_ENVELOPE_BYTES: usize = 64 * 1024;

pub(crate) type Hot = Timed<RedisHotStore>;
pub(crate) type Cold = Timed<DynamoColdStore>;
pub(crate) type LiveEngine = Engine<Hot, Cold, DynamoAudit, SystemClock>;
pub(crate) type Manager = SessionManager<Hot, Cold, DynamoAudit, SystemClock>;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) engine: Arc<LiveEngine>,
    pub(crate) manager: Manager,
    pub(crate) metrics: Metrics,
}

/// The routes of CONTRACT section 5; anything else answers a JSON 404.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.engine.engine_config().max_data_bytes + BODY_ENVELOPE_BYTES;
    Router::new()
        .route("/v1/sessions", post(create))
        .route("/v1/sessions/{token}", get(lookup).put(update).delete(logout))
        .route("/v1/users/{user_id}/sessions", get(list).delete(revoke))
        .route("/v1/users/{user_id}/erase", post(erase))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
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

/// A timestamp as RFC 3339 UTC with milliseconds.
fn rfc3339(at: Timestamp) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_millis(at.0);
    humantime::format_rfc3339_millis(time).to_string()
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

fn token_of(state: &AppState, path: Result<Path<String>, PathRejection>) -> Result<SessionToken, ApiError> {
    let Path(wire) = path?;
    Ok(SessionToken::parse(&wire, state.engine.session_config())?)
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
        let created = state.manager.create(user, data).await?;
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
        let token = token_of(&state, path)?;
        match state.manager.get(&token.id()).await {
            Lookup::Found { session, served, .. } => {
                let tier = match served {
                    Served::Hot => "hot",
                    Served::Promoted => {
                        state.metrics.promotion();
                        "promoted"
                    }
                    // Found in DynamoDB while no hot tier could take it: served, but still cold.
                    Served::ColdOnly => "cold",
                };
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
        let token = token_of(&state, path)?;
        let request: UpdateBody = parse_body(&body?)?;
        let data = data_of(&state, &request.data)?;
        let updated = state.manager.update(&token.id(), data, request.version).await?;
        Ok(Json(json!({ "version": updated.version })).into_response())
    })
    .await
}

async fn logout(State(state): State<Arc<AppState>>, path: Result<Path<String>, PathRejection>) -> Response {
    measured(&state, "logout", async {
        let token = token_of(&state, path)?;
        // Logging out a session that is already gone is not an error: the client's goal is met.
        state.manager.logout(&token.id()).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

async fn list(State(state): State<Arc<AppState>>, path: Result<Path<String>, PathRejection>) -> Response {
    measured(&state, "list", async {
        let user = user_of(path)?;
        let sessions = state.manager.sessions_of_user(&user).await?;
        let config = state.engine.session_config();
        let listed: Vec<Value> = sessions
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
        Ok(Json(Value::Array(listed)).into_response())
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

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when every region's Redis answers PING and DynamoDB describes the sessions table.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let config = state.engine.session_config();
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    for (region, hot) in state.engine.hot_stores() {
        let answer = hot.inner().ping().await;
        ready &= answer.is_ok();
        checks.insert(format!("redis {}", config.region_name(region)), check_json(answer.map(|()| Value::Null)));
    }
    let answer = state.engine.cold().inner().item_count().await;
    ready &= answer.is_ok();
    checks.insert("dynamodb".into(), check_json(answer.map(|_| Value::Null)));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready, "checks": checks }))).into_response()
}

fn check_json(answer: Result<Value, hotcold_engine::StoreError>) -> Value {
    match answer {
        Ok(_) => json!("ok"),
        Err(e) => json!(e.to_string()),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
