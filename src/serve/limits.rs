//! `limits` (CONTRACT section 5): a request not answered within `request_timeout` answers 503,
//! more than `max_in_flight` requests at once answer 503 at once (shed, not queued: a queue only
//! turns overload into timeouts), and every 503 carries `Retry-After: 1`. The header timeout is
//! the connection's business (`super::serve_connections`).
//!
//! Built from tower's own layers: `LoadShed` over `GlobalConcurrencyLimit` (a request that finds
//! no permit is refused instead of waiting for one) over `Timeout`, their errors turned into JSON
//! answers by axum's `HandleErrorLayer`. The limit must be the *global* one: axum applies a layer
//! to each route and method separately, and the plain `ConcurrencyLimitLayer` would give each its
//! own permits.
//!
//! A request cut by the timeout is dropped where it stands, like one whose client went away: a
//! write may or may not have happened, as with any request that times out on the network; the
//! client's retry is safe (versions make updates conditional, removals are final).

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::load_shed::error::Overloaded;
use tower::timeout::TimeoutLayer;
use tower::timeout::error::Elapsed;
use tower::{BoxError, ServiceBuilder};

use super::config::Limits;
use super::metrics::Metrics;

/// `router` with every route bounded: time per request and requests in flight.
pub(crate) fn bound(router: Router, limits: Limits, metrics: Metrics) -> Router {
    let timeout = limits.request_timeout;
    let max_in_flight = limits.max_in_flight;
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |error: BoxError| {
                let metrics = metrics.clone();
                async move { refusal(&error, &metrics, timeout, max_in_flight) }
            }))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight))
            .layer(TimeoutLayer::new(timeout)),
    )
}

/// The 503 for a request the limits stopped.
fn refusal(error: &BoxError, metrics: &Metrics, timeout: Duration, max_in_flight: usize) -> Response {
    let (reason, message) = if error.is::<Elapsed>() {
        ("timeout", format!("no answer within the request timeout ({})", humantime::format_duration(timeout)))
    } else if error.is::<Overloaded>() {
        ("overloaded", format!("too many requests in flight (at most {max_in_flight}); retry"))
    } else {
        // No other layer here fails; answered the same way should one ever.
        ("failed", "the request could not be handled; retry".to_string())
    };
    metrics.rejected(reason);
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": message }))).into_response()
}

/// `Retry-After: 1` on every 503 that has none (a backend that is down, readiness, the limits):
/// what is unavailable now is worth a retry soon.
pub(crate) async fn retry_after(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().entry(header::RETRY_AFTER).or_insert(HeaderValue::from_static("1"));
    }
    response
}
