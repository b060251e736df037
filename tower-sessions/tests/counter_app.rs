//! The example app (`examples/tower_sessions_counter.rs`, compiled here as it is) against the
//! real servers: its session goes cold and comes back with the counter intact, a logged-out
//! session never comes back, and a cookie the store does not know starts a fresh session.

mod support;

#[allow(dead_code)]
#[path = "../../examples/tower_sessions_counter.rs"]
mod example;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use hotcold_engine::{AuditKind, ColdLookup, ColdStore, Lookup, Served, SyncService};
use http_body_util::BodyExt;
use support::{Live, REGION};
use tower::ServiceExt;
use tower_sessions::SessionStore;
use tower_sessions::cookie::Cookie;
use tower_sessions::session::Id;

/// Longer than the default `promotion_threshold` (1800 s): a session idle this long is due for
/// demotion.
const IDLE: Duration = Duration::from_secs(1801);

/// What one request answered: its body and the session cookie it set, if any.
struct Visit {
    body: String,
    set_cookie: Option<Cookie<'static>>,
}

/// GET `path` with the session cookie `id` (none: a first visit).
async fn visit(app: &Router, path: &str, id: Option<&str>) -> Visit {
    let mut request = Request::builder().uri(path);
    if let Some(id) = id {
        request = request.header(header::COOKIE, Cookie::new("id", id.to_string()).encoded().to_string());
    }
    let response = app.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("infallible");
    assert!(response.status().is_success(), "{path} answered {}", response.status());
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .map(|text| Cookie::parse_encoded(text.to_string()).expect("a cookie"));
    let body = response.into_body().collect().await.expect("body").to_bytes();
    Visit { body: String::from_utf8_lossy(&body).into_owned(), set_cookie }
}

/// A first visit; the session cookie it set.
async fn first_visit(app: &Router) -> String {
    let visit = visit(app, "/", None).await;
    assert_eq!(visit.body, "Current count: 0");
    visit.set_cookie.expect("a new session sets its cookie").value().to_string()
}

/// Whether this region's Redis holds the session's hot copy: its key, read raw.
async fn hot_copy_exists(live: &Live, id: &Id) -> bool {
    let session_id = live.store.session_id(id).expect("an id maps");
    let hot = live.engine.hot(REGION);
    let [key, ..] = hot.keys_of(&session_id);
    hot.raw_get(&key).await.expect("read Redis").is_some()
}

/// Moves the engine's clock past the idle threshold and runs a demotion pass.
async fn demote_idle(live: &Live) -> u64 {
    live.clock.advance(IDLE);
    let report = SyncService::new(live.engine.clone()).run_once(REGION).await;
    assert_eq!(report.error, None, "the demotion pass failed");
    report.demoted
}

fn parse(cookie: &str) -> Id {
    cookie.parse().expect("the cookie is a session id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_survives_a_demotion_and_a_promotion() {
    let live = support::standalone().await;
    let app = example::app(live.store.clone());
    let cookie = first_visit(&app).await;
    assert_eq!(visit(&app, "/", Some(&cookie)).await.body, "Current count: 1");
    let id = parse(&cookie);
    let session_id = live.store.session_id(&id).expect("maps");
    assert!(hot_copy_exists(&live, &id).await, "a new session is hot");

    assert_eq!(demote_idle(&live).await, 1, "the idle session (the only one under this prefix) is demoted");
    assert!(!hot_copy_exists(&live, &id).await, "Redis no longer holds the demoted session");
    match live.engine.cold().get(&session_id, REGION).await {
        ColdLookup::Found(session) => assert_eq!(session.version, 2, "created, then one save"),
        other => panic!("the demoted session is not in DynamoDB: {other:?}"),
    }

    let back = visit(&app, "/", Some(&cookie)).await;
    assert_eq!(back.body, "Current count: 2", "the counter came back from DynamoDB intact");
    assert_eq!(back.set_cookie.expect("the session was saved").value(), cookie, "same session, same cookie");
    assert!(hot_copy_exists(&live, &id).await, "the promoted session is hot again");
    match live.store.manager().get(&session_id).await {
        Lookup::Found { served: Served::Hot, session, .. } => {
            assert_eq!(session.version, 3, "the save after promotion")
        }
        other => panic!("the promoted session is not served hot: {other:?}"),
    }
    assert_eq!(visit(&app, "/", Some(&cookie)).await.body, "Current count: 3");

    let kinds: Vec<AuditKind> =
        live.engine.audit().events().iter().filter(|event| event.session == session_id).map(|e| e.kind).collect();
    for kind in [AuditKind::Created, AuditKind::Updated, AuditKind::Demoted, AuditKind::Promoted] {
        assert!(kinds.contains(&kind), "no {kind:?} in the audit trail: {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_session_never_comes_back() {
    let live = support::standalone().await;
    let app = example::app(live.store.clone());
    let cookie = first_visit(&app).await;
    assert_eq!(visit(&app, "/", Some(&cookie)).await.body, "Current count: 1");
    let id = parse(&cookie);
    // Its data is in DynamoDB (demoted), then promoted again: both tiers have held it.
    assert_eq!(demote_idle(&live).await, 1);
    assert_eq!(visit(&app, "/", Some(&cookie)).await.body, "Current count: 2");
    let stale = live.store.load(&id).await.expect("load").expect("the session exists");

    let logout = visit(&app, "/logout", Some(&cookie)).await;
    assert_eq!(logout.body, "Logged out");
    let removal = logout.set_cookie.expect("the cookie is removed");
    assert_eq!(removal.value(), "", "the removal cookie is empty");

    // Sync passes, and a save from a request that loaded the session before the logout: none
    // brings it back.
    demote_idle(&live).await;
    assert!(live.store.save(&stale).await.is_err(), "a stale save must not revive a removed session");
    let sync = SyncService::new(live.engine.clone());
    assert_eq!(sync.expire_cold(REGION).await.error, None);

    let again = visit(&app, "/", Some(&cookie)).await;
    assert_eq!(again.body, "Current count: 0", "the old cookie starts over");
    let fresh = again.set_cookie.expect("a fresh session sets its cookie");
    assert_ne!(fresh.value(), cookie, "a new session, not the old one");
    assert!(live.store.load(&id).await.expect("load").is_none(), "the old session stays gone");
    assert_eq!(visit(&app, "/", Some(fresh.value())).await.body, "Current count: 1", "the new session counts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_unknown_cookie_starts_a_fresh_session() {
    let live = support::standalone().await;
    let app = example::app(live.store.clone());
    let cookie = first_visit(&app).await;
    assert_eq!(visit(&app, "/", Some(&cookie)).await.body, "Current count: 1");

    // One character changed (still a well-formed id), an id nobody was given, and junk.
    let first = cookie.chars().next().expect("non-empty");
    let tampered = format!("{}{}", if first == 'A' { 'B' } else { 'A' }, &cookie[first.len_utf8()..]);
    let unknown = Id::default().to_string();
    for presented in [tampered.as_str(), unknown.as_str(), "not-a-session", ""] {
        let visit = visit(&app, "/", Some(presented)).await;
        assert_eq!(visit.body, "Current count: 0", "cookie {presented:?} must start a fresh session");
        let fresh = visit.set_cookie.expect("a fresh session sets its cookie");
        assert!(fresh.value() != presented && fresh.value() != cookie, "{presented:?} got {:?}", fresh.value());
    }

    // The real session was not disturbed.
    assert_eq!(visit(&app, "/", Some(&cookie)).await.body, "Current count: 2");
}
