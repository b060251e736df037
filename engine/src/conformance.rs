//! The store conformance suite: one set of behaviour checks, written once against the traits,
//! run against every implementation (in-memory, simulated, Redis standalone and Cluster,
//! DynamoDB). Enabled by the `conformance` feature.
//!
//! A backend provides a [`Harness`]: fresh empty stores, a clock, and a way to let time pass
//! (in memory: move a [`crate::ManualClock`]; against real servers: sleep, since Redis expires
//! keys on its own clock). Each `run_*` function panics with the name of the first check that
//! fails.
//!
//! A harness whose stores deliberately keep less than a real backend (the simulator's) declares
//! it with [`Harness::fidelity`]; see [`Fidelity`] for exactly which checks that relaxes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::audit::{AuditEvent, AuditKind, Tier};
use crate::config::{Durability, EngineConfig, SessionConfig};
use crate::engine::Engine;
use crate::manager::{Lookup, Served, SessionManager, Touched};
use crate::session::{RegionId, Session, SessionData, SessionId, UserId};
use crate::store::{
    AuditSink, ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor, HotLookup, HotStore, HotTouch, HotUpdate,
    HotWrite, IdleEntry,
};
use crate::sync::SyncService;
use crate::time::{Clock, Timestamp};

/// How much of a session the stores under test keep: decides which checks of the suite apply.
///
/// Every check applies to a [`Fidelity::Full`] harness (the default). A [`Fidelity::Compact`]
/// harness is run through every check that its design allows, and only these are relaxed:
///
/// * **Payloads, by length.** Where a check compares data bytes (hot round trip, the newer state
///   surviving a stale `put`, the result of `update`, cold round trip, the engine's hot hit), a
///   compact harness is checked for the same *length* instead: its stores keep only a payload's
///   size and rebuild the data on read.
/// * **User ids, skipped.** The user id read back (hot and cold round trips) is not compared, and
///   the per-user checks are skipped: `sessions_of_user` and `sessions_of_user_page` of the hot
///   and cold stores, and in the engine suite listing a user's sessions (whole or a page at a
///   time), `revoke_user` and `erase_user`. A compact store keeps
///   no user per session, so per-user queries have no meaningful answer. In the engine suite the
///   session that would be revoked is logged out instead, so the checks that follow still run.
/// * **Activity, skipped.** The requests a hot store counts at every lookup
///   ([`Session::activity`]) and the activity a cold record carries are not checked: a compact
///   store keeps no activity (the simulator counts it in its driver).
/// * **Audit content, skipped.** `pseudonymise_user` must succeed but its counts are not checked:
///   a compact audit sink keeps counts of events only, no user ids to pseudonymise. Every
///   `append` is still checked to succeed.
///
/// Everything else (versions, timestamps, failover markers, conditional writes and removals,
/// dirty tracking, idle index, TTLs, batches, deletes, the engine's lifecycle) is checked exactly
/// as for a full harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fidelity {
    /// The stores keep every field of a session, payload bytes and user id included.
    #[default]
    Full,
    /// Payload bytes are not kept, only their length; user ids are not kept per session, so
    /// per-user queries are not supported or meaningful; the audit sink keeps counts only.
    Compact,
}

impl Fidelity {
    fn is_full(self) -> bool {
        self == Self::Full
    }

    /// Whether `got` stands for `want`: the same bytes, or under [`Fidelity::Compact`] the same
    /// length.
    fn same_data(self, got: &SessionData, want: &SessionData) -> bool {
        match self {
            Self::Full => got == want,
            Self::Compact => got.len() == want.len(),
        }
    }
}

/// Asserts that `got` stands for `want` under `fidelity` (see [`Fidelity::same_data`]).
#[track_caller]
fn assert_data(fidelity: Fidelity, got: &SessionData, want: &SessionData, check: &str) {
    assert!(
        fidelity.same_data(got, want),
        "{check} ({fidelity:?}): expected {want:?} ({} bytes), got {got:?} ({} bytes)",
        want.len(),
        got.len()
    );
}

/// What a backend provides to run the suite.
pub trait Harness: Send + Sync {
    /// The hot store type.
    type Hot: HotStore + 'static;
    /// The cold store type.
    type Cold: ColdStore + 'static;
    /// The audit sink type.
    type Audit: AuditSink + 'static;
    /// The clock type.
    type Clock: Clock + 'static;

    /// A fresh, empty hot store for region number `region` (0, 1, 2).
    fn hot(&self, region: u16) -> impl Future<Output = Self::Hot> + Send;
    /// A fresh, empty cold table.
    fn cold(&self) -> impl Future<Output = Self::Cold> + Send;
    /// A fresh audit sink.
    fn audit(&self) -> impl Future<Output = Self::Audit> + Send;
    /// The clock the stores' expiry follows.
    fn clock(&self) -> Self::Clock;
    /// Lets `by` pass on that clock.
    fn elapse(&self, by: Duration) -> impl Future<Output = ()> + Send;
    /// The hot TTL the suite uses for expiry checks: long enough for a few round trips, short
    /// enough to wait out against a real server. Default: 1.5 s.
    fn short_ttl(&self) -> Duration {
        Duration::from_millis(1500)
    }
    /// How much of a session the stores keep (see [`Fidelity`] for the checks this relaxes).
    /// Default: [`Fidelity::Full`], every check.
    fn fidelity(&self) -> Fidelity {
        Fidelity::Full
    }
}

/// A salt drawn once per process, so ids and user names differ between runs and shared servers
/// need no flush between them.
fn run_salt() -> u64 {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SALT.get_or_init(rand::random)
}

/// A unique session id for test `n` in this run.
pub fn test_id(n: u64, home: u16) -> SessionId {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut hash = [0u8; 16];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    hash[8..].copy_from_slice(&(run_salt() ^ call.rotate_left(32)).to_le_bytes());
    SessionId::from_parts(hash, RegionId(home))
}

/// A unique user id for this run.
pub fn test_user(name: &str) -> UserId {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    UserId::new(&format!("{name}-{:x}-{call}", run_salt())).expect("valid test user id")
}

fn session(id: SessionId, user: &UserId, version: u64, at: Timestamp, data: &str) -> Session {
    Session {
        id,
        user_id: user.clone(),
        data: SessionData::from_stored(Bytes::copy_from_slice(data.as_bytes())),
        version,
        created_at: at,
        last_access: at,
        persisted_version: 0,
        hot_region: None,
        activity: crate::Activity::default(),
    }
}

fn json(text: &str) -> SessionData {
    SessionData::from_json_bytes(Bytes::copy_from_slice(text.as_bytes()), 1 << 20).expect("valid JSON")
}

fn hit(lookup: HotLookup, check: &str) -> Session {
    match lookup {
        HotLookup::Hit(session) => session,
        other => panic!("{check}: expected a hot hit, got {other:?}"),
    }
}

/// Every hot-store check.
pub async fn run_hot_store_suite<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let fidelity = harness.fidelity();
    let ttl = Duration::from_secs(3600);
    let store = harness.hot(0).await;
    let user = test_user("hot-user");
    let other_user = test_user("hot-other");

    // round trip and touch
    let t0 = clock.now();
    let a = session(test_id(1, 0), &user, 1, t0, r#"{"cart":["ü",2]}"#);
    assert_eq!(store.put(&a, ttl).await, Ok(HotWrite::Written), "put: a new session is written");
    let later = t0 + Duration::from_millis(5);
    let got = hit(store.get_and_touch(&a.id, later, ttl).await, "get_and_touch: stored session");
    if fidelity.is_full() {
        assert_eq!(got.user_id, a.user_id, "round trip: user id");
    }
    assert_data(fidelity, &got.data, &a.data, "round trip: data bytes");
    assert_eq!(got.version, 1, "round trip: version");
    assert_eq!(got.created_at, t0, "round trip: created_at");
    assert_eq!(got.last_access, later, "get_and_touch: last_access moves to now");
    assert_eq!(got.id, a.id, "round trip: id and home region");
    assert!(
        matches!(store.get_and_touch(&test_id(2, 0), later, ttl).await, HotLookup::Miss),
        "get_and_touch: unknown id is a miss"
    );

    if fidelity.is_full() {
        run_hot_activity_checks(harness, &user, t0, ttl).await;
    }

    // fresher state is kept
    let mut a2 = got.clone();
    a2.version = 2;
    a2.data = json(r#"{"v":2}"#);
    assert_eq!(store.put(&a2, ttl).await, Ok(HotWrite::Written), "put: a newer version overwrites");
    assert_eq!(store.put(&a, ttl).await, Ok(HotWrite::KeptNewer), "put: an older version does not overwrite");
    let now = clock.now() + Duration::from_millis(10);
    let got = hit(store.get_and_touch(&a.id, now, ttl).await, "put: newer kept");
    assert_eq!(got.version, 2, "put: the newer state survives");
    assert_data(fidelity, &got.data, &json(r#"{"v":2}"#), "put: the newer state survives");
    assert_eq!(store.touch(&a.id, now, ttl).await, HotTouch::Hit { version: 2 }, "touch: answers the version");
    assert_eq!(store.touch(&test_id(2, 0), now, ttl).await, HotTouch::Miss, "touch: unknown id is a miss");

    // compare-and-set update
    let new_data = json(r#"{"v":3}"#);
    match store.update(&a.id, &new_data, 1, now, ttl).await {
        Ok(HotUpdate::Conflict { current: 2 }) => {}
        other => panic!("update: a stale expected version conflicts with current 2, got {other:?}"),
    }
    let now = now + Duration::from_millis(1);
    match store.update(&a.id, &new_data, 2, now, ttl).await {
        Ok(HotUpdate::Updated(s)) => {
            assert_eq!((s.version, s.last_access), (3, now), "update: result");
            assert_data(fidelity, &s.data, &new_data, "update: result");
        }
        other => panic!("update: the current version succeeds, got {other:?}"),
    }
    assert!(
        matches!(store.update(&test_id(3, 0), &new_data, 1, now, ttl).await, Ok(HotUpdate::Miss)),
        "update: unknown id is a miss"
    );

    // dirty tracking for write-behind
    let dirty = store.dirty(100).await.expect("dirty");
    assert!(dirty.iter().any(|s| s.id == a.id && s.version == 3), "dirty: an updated session awaits write-behind");
    store.mark_persisted(&a.id, 3).await.expect("mark_persisted");
    let dirty = store.dirty(100).await.expect("dirty");
    assert!(!dirty.iter().any(|s| s.id == a.id), "dirty: a persisted session is clean");
    let clean = Session { persisted_version: 1, ..session(test_id(4, 0), &user, 1, now, "{}") };
    store.put(&clean, ttl).await.expect("put clean");
    assert!(
        !store.dirty(100).await.expect("dirty").iter().any(|s| s.id == clean.id),
        "dirty: a session put with its version persisted is clean"
    );
    // A write-behind batch is never larger than asked for, however the dirty sessions spread (40
    // of them, so that stores sharded like Redis's hold several in some shards).
    let backlog: Vec<SessionId> = (40..80).map(|n| test_id(n, 0)).collect();
    for id in &backlog {
        store.put(&session(*id, &user, 1, now, "{}"), ttl).await.expect("put dirty");
    }
    for limit in [2, 5, 17] {
        assert_eq!(store.dirty(limit).await.expect("dirty").len(), limit, "dirty: at most the limit");
    }
    let all = store.dirty(100).await.expect("dirty");
    assert!(
        backlog.iter().all(|id| all.iter().any(|s| s.id == *id)),
        "dirty: every dirty session within a large limit"
    );
    for id in &backlog {
        store.remove(id).await.expect("remove");
    }

    // users
    let b = session(test_id(5, 0), &other_user, 1, now, "{}");
    store.put(&b, ttl).await.expect("put b");
    if fidelity.is_full() {
        let mut mine: Vec<SessionId> =
            store.sessions_of_user(&user).await.expect("sessions_of_user").iter().map(|s| s.id).collect();
        mine.sort();
        let mut expected = vec![a.id, clean.id];
        expected.sort();
        assert_eq!(mine, expected, "sessions_of_user: exactly the user's sessions");
    }
    assert!(store.session_count().await.expect("count") >= 3, "session_count: counts what is held");

    // conditional removal
    let current = hit(store.get_and_touch(&b.id, now + Duration::from_millis(1), ttl).await, "b");
    assert_eq!(
        store.remove_if_unchanged(&b.id, current.version, now).await,
        Ok(false),
        "remove_if_unchanged: a touched session stays"
    );
    assert_eq!(
        store.remove_if_unchanged(&b.id, current.version + 1, current.last_access).await,
        Ok(false),
        "remove_if_unchanged: another version stays"
    );
    assert_eq!(
        store.remove_if_unchanged(&b.id, current.version, current.last_access).await,
        Ok(true),
        "remove_if_unchanged: an unchanged session goes"
    );
    assert!(matches!(store.get_and_touch(&b.id, now, ttl).await, HotLookup::Miss), "remove_if_unchanged: gone");

    // take and remove
    let took = match store.take(&clean.id).await {
        HotLookup::Hit(s) => s,
        other => panic!("take: returns the session, got {other:?}"),
    };
    assert_eq!(took.id, clean.id, "take: the right session");
    assert!(matches!(store.take(&clean.id).await, HotLookup::Miss), "take: removes it");
    assert_eq!(store.remove(&a.id).await, Ok(true), "remove: existing");
    assert_eq!(store.remove(&a.id).await, Ok(false), "remove: already gone");

    run_idle_index_checks(harness).await;
    run_idle_once_checks(harness).await;
    run_hot_ttl_checks(harness).await;
    run_hot_tombstone_checks(harness).await;
    run_hot_guest_checks(harness).await;
    if fidelity.is_full() {
        run_hot_paging_checks(harness).await;
    }
}

/// The failover copies a hot tier lists for failback ([`HotStore::guests`]): exactly the live
/// copies put with a holder, by home, within the limit; gone once taken, removed, buried,
/// replaced by a copy without a holder, or expired.
/// Every lookup that finds a session counts one request, by [`crate::Activity::record`]: a
/// session created at `t0` and looked up 10 s, 20 s, 40 min and 40 min 5 s later has served 5
/// requests in 2 visits with 25 s of think time, its last request the last lookup. The times are
/// the `now` of each call (no waiting; a store of its own, as they run ahead of the clock), and
/// the last lookup comes within a touch granularity of the one before, so the Redis store answers
/// it with a light touch: both paths count. An update counts nothing.
async fn run_hot_activity_checks<T: Harness>(harness: &T, user: &UserId, t0: Timestamp, ttl: Duration) {
    let store = harness.hot(0).await;
    let created = Session { activity: crate::Activity::first(t0), ..session(test_id(950, 0), user, 1, t0, "{}") };
    store.put(&created, ttl).await.expect("activity: put");
    let mut counted = created.activity;
    // Version-only touches and whole lookups alternate; each lookup shows the touch before it.
    for (i, after) in [10, 20, 40 * 60, 40 * 60 + 5].into_iter().enumerate() {
        let at = t0 + Duration::from_secs(after);
        counted.record(at);
        if i % 2 == 0 {
            assert_eq!(store.touch(&created.id, at, ttl).await, HotTouch::Hit { version: 1 }, "activity: touch");
        } else {
            let got = hit(store.get_and_touch(&created.id, at, ttl).await, "activity: lookup");
            assert_eq!(got.activity, counted, "activity: lookup {} at +{after} s, every request counted once", i + 2);
        }
    }
    let expected = crate::Activity {
        requests: 5,
        visits: 2,
        think_ms: 25_000,
        last_request_at: t0 + Duration::from_secs(40 * 60 + 5),
    };
    assert_eq!(counted, expected, "activity: the rule");
    let data = json(r#"{"v":2}"#);
    match store.update(&created.id, &data, 1, t0 + Duration::from_secs(40 * 60 + 6), ttl).await {
        Ok(HotUpdate::Updated(s)) => assert_eq!(s.activity, expected, "activity: an update counts no request"),
        other => panic!("activity: update, got {other:?}"),
    }
    store.remove(&created.id).await.expect("activity: clean up");
}

async fn run_hot_guest_checks<T: Harness>(harness: &T) {
    let holder = RegionId(1);
    let store = harness.hot(holder.0).await;
    let clock = harness.clock();
    let ttl = Duration::from_secs(3600);
    let user = test_user("guests");
    let now = clock.now();
    let copy =
        |n: u64, home: u16| Session { hot_region: Some(holder), ..session(test_id(n, home), &user, 3, now, "{}") };
    let from_home0: Vec<Session> = (0..5).map(|n| copy(9_100 + n, 0)).collect();
    let from_home2 = copy(9_200, 2);
    let own = session(test_id(9_300, 1), &user, 1, now, "{}");
    for session in from_home0.iter().chain([&from_home2, &own]) {
        store.put(session, ttl).await.expect("put");
    }
    let ids = |sessions: Vec<Session>| {
        let mut ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let listed = store.guests(RegionId(0), 100, now).await.expect("guests");
    assert!(listed.iter().all(|s| s.hot_region == Some(holder) && s.version == 3), "guests: copies as stored");
    assert_eq!(ids(listed), ids(from_home0.clone()), "guests: every copy of home 0's sessions, no other");
    assert_eq!(ids(store.guests(RegionId(2), 100, now).await.expect("guests")), vec![from_home2.id], "guests: by home");
    assert!(
        store.guests(holder, 100, now).await.expect("guests").is_empty(),
        "guests: a session of this region is none"
    );
    assert_eq!(store.guests(RegionId(0), 2, now).await.expect("guests").len(), 2, "guests: at most the limit");

    // Every way a copy leaves.
    assert!(matches!(store.take(&from_home0[0].id).await, HotLookup::Hit(_)), "take a copy");
    assert_eq!(store.remove(&from_home0[1].id).await, Ok(true), "remove a copy");
    let c = &from_home0[2];
    assert_eq!(store.remove_if_unchanged(&c.id, c.version, c.last_access).await, Ok(true), "demote a copy");
    store.put(&Session::tombstone(from_home0[3].id, now), ttl).await.expect("bury a copy");
    let moved = Session { hot_region: None, last_access: now + Duration::from_millis(1), ..from_home0[4].clone() };
    store.put(&moved, ttl).await.expect("a copy replaced by one without a holder");
    assert!(store.guests(RegionId(0), 100, now).await.expect("guests").is_empty(), "guests: none left of home 0");
    let short = copy(9_400, 2);
    store.put(&short, harness.short_ttl()).await.expect("put a copy with a short TTL");
    assert_eq!(
        ids(store.guests(RegionId(2), 100, now).await.expect("guests")),
        ids(vec![from_home2.clone(), short]),
        "guests: both copies of home 2's sessions"
    );
    harness.elapse(harness.short_ttl() + Duration::from_millis(100)).await;
    let later = clock.now();
    assert_eq!(
        ids(store.guests(RegionId(2), 100, later).await.expect("guests")),
        vec![from_home2.id],
        "guests: an expired copy is not listed, a live one stays"
    );
}

/// Page sizes the paging checks walk a user's sessions with: one at a time, sizes that divide
/// the sessions unevenly, and one page for all.
const PAGE_SIZES: [usize; 4] = [1, 4, 7, 100];

/// Checks one page of `user`'s sessions read after `after` against the paging contract
/// ([`HotStore::sessions_of_user_page`]); answers where the next page starts (`None`: a short
/// page, the last).
#[track_caller]
fn check_page(
    page: &[Session],
    after: Option<SessionId>,
    limit: usize,
    user: &UserId,
    check: &str,
) -> Option<SessionId> {
    assert!(page.len() <= limit, "{check}: at most the limit ({} > {limit})", page.len());
    assert!(page.windows(2).all(|w| w[0].id < w[1].id), "{check}: ascending id order");
    assert!(page.iter().all(|s| after.is_none_or(|after| s.id > after)), "{check}: strictly after the cursor");
    assert!(page.iter().all(|s| !s.is_tombstone()), "{check}: never a tombstone");
    assert!(page.iter().all(|s| &s.user_id == user), "{check}: only the user's sessions");
    if page.len() == limit { page.last().map(|s| s.id) } else { None }
}

/// Every listed id in order equals every expected id sorted: each once, none missing or extra.
#[track_caller]
fn assert_paged(listed: &[SessionId], expected: &[SessionId], check: &str) {
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(listed, expected, "{check}: every record exactly once across the pages, in order");
}

/// `sessions_of_user_page` of a hot store, whatever the page size: the user's sessions in id
/// order, each exactly once across the pages, never another user's, never a tombstone or a
/// removed session, a short page only at the end.
async fn run_hot_paging_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let ttl = Duration::from_secs(3600);
    let store = harness.hot(0).await;
    let user = test_user("hot-paging");
    let other = test_user("hot-paging-other");
    let now = clock.now();
    // Homes 0, 1 and 2: ids that share nothing but the user.
    let mine: Vec<Session> = (0..13).map(|n| session(test_id(700 + n, (n % 3) as u16), &user, 1, now, "{}")).collect();
    for s in &mine {
        store.put(s, ttl).await.expect("put a paged session");
    }
    for n in 0..3 {
        store.put(&session(test_id(720 + n, 0), &other, 1, now, "{}"), ttl).await.expect("put another user's");
    }
    // One ended the way the engine ends a session (taken, then a tombstone), one overwritten by
    // a tombstone in place (its index entry stays behind), one removed.
    store.take(&mine[3].id).await;
    store.put(&Session::tombstone(mine[3].id, now), ttl).await.expect("put tombstone");
    store.put(&Session::tombstone(mine[6].id, now), ttl).await.expect("put tombstone in place");
    store.remove(&mine[9].id).await.expect("remove");
    let expected: Vec<SessionId> =
        mine.iter().map(|s| s.id).filter(|id| ![mine[3].id, mine[6].id, mine[9].id].contains(id)).collect();

    for limit in PAGE_SIZES {
        let check = format!("sessions_of_user_page (hot, limit {limit})");
        let mut listed = Vec::new();
        let mut after = None;
        for _ in 0..=expected.len() + 1 {
            let page = store.sessions_of_user_page(&user, after.as_ref(), limit).await.expect("sessions_of_user_page");
            listed.extend(page.iter().map(|s| s.id));
            match check_page(&page, after, limit, &user, &check) {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_paged(&listed, &expected, &check);
    }
    assert!(
        store.sessions_of_user_page(&user, None, 0).await.expect("page").is_empty(),
        "sessions_of_user_page (hot): limit 0 answers nothing"
    );
    let last = expected.iter().max().copied();
    assert!(
        store.sessions_of_user_page(&user, last.as_ref(), 10).await.expect("page").is_empty(),
        "sessions_of_user_page (hot): nothing after the last id"
    );
    assert!(
        store.sessions_of_user_page(&UserId::removed(), None, 100).await.expect("page").is_empty(),
        "sessions_of_user_page (hot): tombstones are not indexed under the empty owner"
    );
}

/// The tombstone rules (CONTRACT section 5, "removals are final") as a hot store must keep them:
/// a tombstone is written over any state, no state written after it replaces it, it is read
/// back as one, and it is never listed for a user, never dirty and never changed by an update.
async fn run_hot_tombstone_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let fidelity = harness.fidelity();
    let ttl = Duration::from_secs(3600);
    let store = harness.hot(0).await;
    let user = test_user("hot-tombstone-user");
    let now = clock.now();
    let live = session(test_id(900, 0), &user, 4, now, r#"{"v":4}"#);
    store.put(&live, ttl).await.expect("put live");

    let tombstone = Session::tombstone(live.id, now);
    let counted = store.session_count().await.expect("session_count");
    assert_eq!(store.put(&tombstone, ttl).await, Ok(HotWrite::Written), "tombstone: written over a live state");
    assert_eq!(
        store.session_count().await.expect("session_count"),
        counted - 1,
        "tombstone: no session, not counted as one"
    );
    // As the engine buries a session: take it (out of its user's listing), then the tombstone.
    assert!(matches!(store.take(&live.id).await, HotLookup::Hit(s) if s.is_tombstone()), "tombstone: taken");
    store.put(&live, ttl).await.expect("put live again");
    assert!(matches!(store.take(&live.id).await, HotLookup::Hit(s) if !s.is_tombstone()), "live state taken");
    assert_eq!(store.put(&tombstone, ttl).await, Ok(HotWrite::Written), "tombstone: written where nothing is");
    let later = now + Duration::from_millis(5);
    let newer_live = Session { version: live.version + 1, last_access: later, ..live.clone() };
    assert_eq!(
        store.put(&newer_live, ttl).await,
        Ok(HotWrite::KeptNewer),
        "tombstone: a state written after the removal (read before it) does not replace it"
    );
    let read = hit(store.get_and_touch(&live.id, later, ttl).await, "tombstone: read back");
    assert!(read.is_tombstone(), "tombstone: read back as a tombstone, got version {}", read.version);
    assert_eq!(
        store.touch(&live.id, later, ttl).await,
        HotTouch::Hit { version: tombstone.version },
        "tombstone: a touch answers the tombstone's version"
    );
    match store.update(&live.id, &json(r#"{"v":5}"#), live.version, later, ttl).await {
        Ok(HotUpdate::Conflict { current }) => {
            assert_eq!(current, tombstone.version, "tombstone: an update conflicts with it");
        }
        other => panic!("tombstone: an update based on the removed state conflicts, got {other:?}"),
    }
    assert_eq!(
        store.remove_if_unchanged(&live.id, live.version, live.last_access).await,
        Ok(false),
        "tombstone: a demotion's conditional removal of the old state leaves it"
    );
    assert!(
        !store.dirty(1000).await.expect("dirty").iter().any(|s| s.id == live.id),
        "tombstone: never dirty (write-behind has nothing to copy)"
    );
    if fidelity.is_full() {
        // A tombstone written where the session never was belongs to nobody either.
        store.put(&Session::tombstone(test_id(901, 0), now), ttl).await.expect("put tombstone");
        let listed = store.sessions_of_user(&user).await.expect("sessions_of_user");
        assert!(listed.iter().all(|s| !s.is_tombstone()), "tombstone: not listed for the user whose session it ends");
        assert!(
            store.sessions_of_user(&UserId::removed()).await.expect("sessions_of_user").is_empty(),
            "tombstone: not indexed under the empty owner"
        );
    }
    store.remove(&live.id).await.expect("remove tombstone");
    store.remove(&test_id(901, 0)).await.expect("remove tombstone");
}

/// A demotion pass is offered each session once, even when several accesses share a time stamp
/// (a request that reads and then updates a session within one millisecond, interleaved with
/// another session's): offered twice, the sync job would write it twice, and the second,
/// conditional write would fail and still be charged.
async fn run_idle_once_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let store = harness.hot(2).await;
    let ttl = Duration::from_secs(3600);
    let user = test_user("idle-once");
    let at = clock.now() - Duration::from_secs(600);
    let (a, b) = (test_id(300, 2), test_id(301, 2));
    for id in [a, b] {
        store.put(&session(id, &user, 1, at - Duration::from_secs(1), "{}"), ttl).await.expect("put idle-once");
    }
    hit(store.get_and_touch(&a, at, ttl).await, "idle once: touch a");
    hit(store.get_and_touch(&b, at, ttl).await, "idle once: touch b");
    hit(store.get_and_touch(&a, at, ttl).await, "idle once: touch a again");
    let updated = store.update(&a, &json("{}"), 1, at, ttl).await.expect("update");
    assert!(matches!(updated, HotUpdate::Updated(_)), "idle once: update, got {updated:?}");
    let offered = store.idle_candidates(at + Duration::from_secs(1), 100, clock.now()).await.expect("idle_candidates");
    let mut ids: Vec<SessionId> = offered
        .iter()
        .map(|e| match e {
            IdleEntry::Idle(s) => s.id,
            IdleEntry::Vanished(id) => panic!("idle once: {id} vanished unexpectedly"),
            IdleEntry::Unreadable { detail } => panic!("idle once: unreadable entry: {detail}"),
        })
        .collect();
    ids.sort_by_key(SessionId::to_hex);
    let mut expected = vec![a, b];
    expected.sort_by_key(SessionId::to_hex);
    assert_eq!(ids, expected, "idle_candidates: each idle session offered once");
}

async fn run_idle_index_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let store = harness.hot(1).await;
    let ttl = Duration::from_secs(3600);
    let user = test_user("idle");
    let base = clock.now() - Duration::from_secs(600);
    let ids: Vec<SessionId> = (0..7).map(|i| test_id(100 + i, 1)).collect();
    for (i, id) in ids.iter().enumerate() {
        let at = base + Duration::from_secs(10 * i as u64);
        store.put(&session(*id, &user, 1, at, "{}"), ttl).await.expect("put idle");
    }
    // Session 2 is touched now: no longer idle.
    hit(store.get_and_touch(&ids[2], clock.now(), ttl).await, "touch idle session");
    // Session 3 too, by the version-only touch: it must record the access just the same.
    assert_eq!(store.touch(&ids[3], clock.now(), ttl).await, HotTouch::Hit { version: 1 }, "touch idle session");
    let cutoff = base + Duration::from_secs(45); // sessions 0..=4 were last accessed at or before it
    let first = store.idle_candidates(cutoff, 2, clock.now()).await.expect("idle_candidates");
    let first_ids: Vec<SessionId> = first
        .iter()
        .map(|e| match e {
            IdleEntry::Idle(s) => s.id,
            IdleEntry::Vanished(id) => panic!("idle_candidates: {id} vanished unexpectedly"),
            IdleEntry::Unreadable { detail } => panic!("idle_candidates: unreadable entry: {detail}"),
        })
        .collect();
    assert_eq!(first_ids, vec![ids[0], ids[1]], "idle_candidates: oldest first, limit respected");
    let all = store.idle_candidates(cutoff, 100, clock.now()).await.expect("idle_candidates");
    let all_ids: Vec<SessionId> = all
        .iter()
        .filter_map(|e| match e {
            IdleEntry::Idle(s) => Some(s.id),
            IdleEntry::Vanished(_) | IdleEntry::Unreadable { .. } => None,
        })
        .collect();
    assert_eq!(all_ids, vec![ids[0], ids[1], ids[4]], "idle_candidates: touched and recent sessions are not idle");
    for id in &all_ids[..2] {
        let s = store.get_and_touch(id, clock.now(), ttl).await;
        let s = hit(s, "idle session");
        // touching moved them: undo by removing unconditionally to model a demotion
        store.remove(&s.id).await.expect("remove");
    }
    let rest = store.idle_candidates(cutoff, 100, clock.now()).await.expect("idle_candidates");
    assert_eq!(rest.len(), 1, "idle_candidates: removed sessions leave the index");
    // A session put with an access older than everything indexed since (moved in from another
    // region, or promoted with its own history) is found, oldest first.
    let late = test_id(107, 1);
    store.put(&session(late, &user, 1, base + Duration::from_secs(5), "{}"), ttl).await.expect("put late");
    let with_late: Vec<SessionId> = store
        .idle_candidates(cutoff, 100, clock.now())
        .await
        .expect("idle_candidates")
        .iter()
        .filter_map(|e| match e {
            IdleEntry::Idle(s) => Some(s.id),
            IdleEntry::Vanished(_) | IdleEntry::Unreadable { .. } => None,
        })
        .collect();
    assert_eq!(with_late, vec![late, ids[4]], "idle_candidates: a late put with an old access is found first");
}

/// TTL checks. Against real servers time passes by sleeping, and a loaded machine can oversleep
/// by seconds, so no check here depends on a sleep being short: whatever must still be alive
/// after the wait was given a TTL 40 times the wait (refreshed right after the put, with no sleep
/// in between), and whatever must be gone had only the short TTL.
async fn run_hot_ttl_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let store = harness.hot(2).await;
    let ttl = harness.short_ttl();
    let long = ttl * 40;
    let user = test_user("ttl");
    let kept = session(test_id(200, 2), &user, 1, clock.now(), "{}");
    let dropped = session(test_id(201, 2), &user, 1, clock.now(), "{}");
    let touched = session(test_id(202, 2), &user, 1, clock.now(), "{}");
    let lasting = session(test_id(203, 2), &user, 1, clock.now(), "{}");
    for s in [&kept, &dropped, &touched] {
        store.put(s, ttl).await.expect("put");
    }
    store.put(&lasting, long).await.expect("put");
    hit(store.get_and_touch(&kept.id, clock.now(), long).await, "ttl: alive before its TTL");
    assert_eq!(store.touch(&touched.id, clock.now(), long).await, HotTouch::Hit { version: 1 }, "ttl: touch");
    harness.elapse(ttl * 4 / 3).await;
    hit(store.get_and_touch(&kept.id, clock.now(), long).await, "ttl: a touch refreshed the TTL");
    hit(store.get_and_touch(&touched.id, clock.now(), long).await, "ttl: a version-only touch refreshed the TTL");
    hit(store.get_and_touch(&lasting.id, clock.now(), long).await, "ttl: a put's TTL is kept in full");
    // `dropped` was put dirty (never persisted) and has not been read since it expired:
    // write-behind must not copy it to the cold tier, where a lookup would find it again.
    let dirty = store.dirty(100).await.expect("dirty");
    assert!(!dirty.iter().any(|s| s.id == dropped.id), "ttl: an expired session is never dirty");
    assert!(dirty.iter().any(|s| s.id == kept.id), "ttl: a live unpersisted session stays dirty");
    assert!(
        matches!(store.touch(&dropped.id, clock.now(), ttl).await, HotTouch::Miss | HotTouch::Expired),
        "ttl: touch finds no session past its TTL"
    );
    assert!(
        matches!(store.get_and_touch(&dropped.id, clock.now(), ttl).await, HotLookup::Miss | HotLookup::Expired),
        "ttl: an untouched session is gone after its TTL"
    );
    let idle = store.idle_candidates(clock.now(), 100, clock.now()).await.expect("idle_candidates");
    assert!(
        !idle.iter().any(|e| matches!(e, IdleEntry::Idle(s) if s.id == dropped.id)),
        "ttl: an expired session is never an idle candidate"
    );
}

/// Every cold-store check.
pub async fn run_cold_store_suite<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let fidelity = harness.fidelity();
    let cold = harness.cold().await;
    let region = RegionId(0);
    let user = test_user("cold-user");
    let t0 = clock.now();

    let mut a = session(test_id(300, 0), &user, 2, t0, r#"{"a":[1,2,3],"s":"ü"}"#);
    a.hot_region = Some(RegionId(1));
    a.activity =
        crate::Activity { requests: 7, visits: 2, think_ms: 61_000, last_request_at: t0 - Duration::from_millis(3) };
    assert_eq!(cold.put(&a, region, t0).await, Ok(ColdWrite::Written), "put: new record");
    match cold.get(&a.id, region).await {
        ColdLookup::Found(got) => {
            assert_eq!(
                (&got.id, got.version, got.created_at, got.last_access, got.hot_region),
                (&a.id, a.version, a.created_at, a.last_access, a.hot_region),
                "get: round trip of every field"
            );
            if fidelity.is_full() {
                assert_eq!(got.user_id, a.user_id, "get: round trip of every field (user id)");
            }
            assert_data(fidelity, &got.data, &a.data, "get: round trip of every field (data)");
            if fidelity.is_full() {
                assert_eq!(got.activity, a.activity, "get: round trip of every field (activity)");
            }
        }
        other => panic!("get: stored record, got {other:?}"),
    }
    assert!(matches!(cold.get(&test_id(301, 0), region).await, ColdLookup::Miss), "get: unknown is a miss");

    let older = Session { version: 1, ..a.clone() };
    assert_eq!(cold.put(&older, region, t0).await, Ok(ColdWrite::Stale), "put: an older version never overwrites");
    let same_but_earlier = Session { last_access: t0 - Duration::from_secs(1), ..a.clone() };
    assert_eq!(
        cold.put(&same_but_earlier, region, t0).await,
        Ok(ColdWrite::Stale),
        "put: same version, earlier access never overwrites"
    );
    let moved = Session { hot_region: Some(RegionId(2)), ..a.clone() };
    assert_eq!(cold.put(&moved, region, t0).await, Ok(ColdWrite::Written), "put: an equally fresh state is written");
    match cold.get(&a.id, region).await {
        ColdLookup::Found(got) => assert_eq!(got.hot_region, Some(RegionId(2)), "put: the failover marker moved"),
        other => panic!("get after marker move: {other:?}"),
    }
    let touched = Session { last_access: t0 + Duration::from_secs(1), hot_region: None, ..a.clone() };
    assert_eq!(cold.put(&touched, region, t0).await, Ok(ColdWrite::Written), "put: a later access overwrites");
    let newer = Session { version: 3, data: json(r#"{"v":3}"#), ..touched.clone() };
    assert_eq!(cold.put(&newer, region, t0).await, Ok(ColdWrite::Written), "put: a newer version overwrites");
    match cold.get(&a.id, region).await {
        ColdLookup::Found(got) => assert_eq!((got.version, got.hot_region), (3, None), "put: newest state kept"),
        other => panic!("get after overwrite: {other:?}"),
    }

    // batches larger than DynamoDB's 25, with a stale item inside
    let batch: Vec<Session> = (0..60).map(|i| session(test_id(400 + i, 1), &user, 1, t0, "{}")).collect();
    let results = cold.put_batch(&batch, region, t0).await.expect("put_batch");
    assert_eq!(results, vec![ColdWrite::Written; 60], "put_batch: one answer per session, all written");
    let mut mixed = batch[..30].to_vec();
    for s in &mut mixed[..10] {
        s.version = 2;
    }
    for s in &mut mixed[10..] {
        s.last_access = t0 - Duration::from_secs(1);
    }
    mixed.push(older.clone());
    let results = cold.put_batch(&mixed, region, t0).await.expect("put_batch mixed");
    let mut expected = vec![ColdWrite::Written; 10];
    expected.extend(vec![ColdWrite::Stale; 21]);
    assert_eq!(results, expected, "put_batch: per-item conditional answers, in order");
    for s in &batch[..10] {
        match cold.get(&s.id, region).await {
            ColdLookup::Found(got) => assert_eq!(got.version, 2, "put_batch: newer versions stored"),
            other => panic!("get batch item: {other:?}"),
        }
    }

    if fidelity.is_full() {
        let mut listed: Vec<SessionId> =
            cold.sessions_of_user(&user, region).await.expect("sessions_of_user").iter().map(|s| s.id).collect();
        listed.sort();
        let mut expected_ids: Vec<SessionId> = batch.iter().map(|s| s.id).chain([a.id]).collect();
        expected_ids.sort();
        assert_eq!(listed, expected_ids, "sessions_of_user: every record of the user");
    }

    // tombstones: written over any state, never replaced by a state written after them, never
    // listed for a user
    let ended = session(test_id(500, 0), &user, 7, t0, "{}");
    cold.put(&ended, region, t0).await.expect("put before removal");
    let tombstone = Session::tombstone(ended.id, t0);
    assert_eq!(cold.put(&tombstone, region, t0).await, Ok(ColdWrite::Written), "tombstone: written over a record");
    let late = Session { version: 8, last_access: t0 + Duration::from_secs(5), ..ended.clone() };
    assert_eq!(
        cold.put(&late, region, t0).await,
        Ok(ColdWrite::Stale),
        "tombstone: a state written after the removal never replaces it"
    );
    assert_eq!(
        cold.put_batch(std::slice::from_ref(&late), region, t0).await,
        Ok(vec![ColdWrite::Stale]),
        "tombstone: nor does a batch (the sync job's write)"
    );
    match cold.get(&ended.id, region).await {
        ColdLookup::Found(got) => {
            assert!(got.is_tombstone(), "tombstone: read back as one, got version {}", got.version)
        }
        other => panic!("tombstone: read back, got {other:?}"),
    }
    if fidelity.is_full() {
        let listed = cold.sessions_of_user(&user, region).await.expect("sessions_of_user");
        assert!(
            listed.iter().all(|s| s.id != ended.id && !s.is_tombstone()),
            "tombstone: the ended session is no longer listed for its user"
        );
    }

    let deleted = cold.delete(&a.id, region, t0).await.expect("delete");
    assert_eq!(deleted.map(|s| s.version), Some(3), "delete: returns the deleted record");
    assert!(matches!(cold.get(&a.id, region).await, ColdLookup::Miss), "delete: gone");
    assert_eq!(cold.delete(&a.id, region, t0).await, Ok(None), "delete: unknown is None");

    if fidelity.is_full() {
        run_cold_paging_checks(harness).await;
    }
    run_cold_expiry_checks(harness).await;
}

/// The cold TTL the suite assumes its cold stores were configured with (the ADR's and
/// `DynamoConfig`'s default: DynamoDB's expiry index is bucketed by expiry time).
const SUITE_COLD_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// `expired_page` and the sweep mark: the cold expiry sweep's view of the table.
async fn run_cold_expiry_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let fidelity = harness.fidelity();
    let cold = harness.cold().await;
    let user = test_user("expiry-user");
    let now = clock.now();
    let before = now - SUITE_COLD_TTL + Duration::from_millis(1);
    let hours = |n: u64| Duration::from_secs(3600 * n);
    // Hours apart, so a store that sweeps by expiry hour (DynamoDB) orders them the same way.
    let oldest = session(test_id(700, 0), &user, 3, before - hours(5), "{}");
    let old = session(test_id(701, 0), &user, 1, before - hours(3), "{}");
    let live = session(test_id(702, 0), &user, 1, before + hours(1), "{}");
    let elsewhere = session(test_id(703, 1), &user, 1, before - hours(4), "{}");
    let buried = Session::tombstone(test_id(704, 0), before - hours(4));
    for s in [&oldest, &old, &live, &elsewhere, &buried] {
        cold.put(s, RegionId(0), now).await.expect("put");
    }
    let ids = |page: &ExpiredPage| page.sessions.iter().map(|s| s.id).collect::<Vec<_>>();
    let page = cold.expired_page(RegionId(0), before, None, 10).await.expect("expired_page");
    assert_eq!(
        ids(&page),
        vec![oldest.id, old.id],
        "expired_page: this home's expired records, oldest first, no tombstone"
    );
    let first = &page.sessions[0];
    assert_eq!((first.version, first.last_access), (3, oldest.last_access), "expired_page: version, last access");
    if fidelity.is_full() {
        assert_eq!(first.user_id, user, "expired_page: whose session");
    }
    let one = cold.expired_page(RegionId(0), before, None, 1).await.expect("expired_page");
    assert_eq!(ids(&one), vec![oldest.id], "expired_page: at most `limit`");
    let rest = cold.expired_page(RegionId(0), before, one.next.as_ref(), 10).await.expect("expired_page");
    assert_eq!(ids(&rest), vec![old.id], "expired_page: after the cursor");
    let none = cold.expired_page(RegionId(0), before, rest.next.as_ref(), 10).await.expect("expired_page");
    assert!(none.sessions.is_empty(), "expired_page: nothing after the last");
    let elsewhere_page = cold.expired_page(RegionId(1), before, None, 10).await.expect("expired_page");
    assert_eq!(ids(&elsewhere_page), vec![elsewhere.id], "expired_page: by home");
    let nonsense = ExpiryCursor("nonsense".into());
    assert!(cold.expired_page(RegionId(0), before, Some(&nonsense), 10).await.is_err(), "expired_page: bad cursor");

    assert_eq!(cold.sweep_mark(RegionId(0)).await, Ok(None), "sweep_mark: none at first");
    let mark = rest.next.expect("a cursor after a page");
    cold.set_sweep_mark(RegionId(0), &mark).await.expect("set_sweep_mark");
    assert_eq!(cold.sweep_mark(RegionId(0)).await, Ok(Some(mark)), "sweep_mark: as set");
    assert_eq!(cold.sweep_mark(RegionId(1)).await, Ok(None), "sweep_mark: per home");
}

/// `sessions_of_user_page` of the cold table, as [`run_hot_paging_checks`] for a hot store:
/// the user's records in id order, each once, never another user's or a tombstone.
async fn run_cold_paging_checks<T: Harness>(harness: &T) {
    let clock = harness.clock();
    let cold = harness.cold().await;
    let region = RegionId(0);
    let user = test_user("cold-paging");
    let other = test_user("cold-paging-other");
    let t0 = clock.now();
    let mine: Vec<Session> = (0..30).map(|n| session(test_id(800 + n, (n % 3) as u16), &user, 1, t0, "{}")).collect();
    cold.put_batch(&mine, region, t0).await.expect("put_batch the user's records");
    let theirs: Vec<Session> = (0..3).map(|n| session(test_id(840 + n, 1), &other, 1, t0, "{}")).collect();
    cold.put_batch(&theirs, region, t0).await.expect("put_batch another user's records");
    cold.put(&Session::tombstone(mine[4].id, t0), region, t0).await.expect("put tombstone");
    cold.delete(&mine[17].id, region, t0).await.expect("delete");
    let expected: Vec<SessionId> =
        mine.iter().map(|s| s.id).filter(|id| ![mine[4].id, mine[17].id].contains(id)).collect();

    for limit in PAGE_SIZES {
        let check = format!("sessions_of_user_page (cold, limit {limit})");
        let mut listed = Vec::new();
        let mut after = None;
        for _ in 0..=expected.len() + 1 {
            let page =
                cold.sessions_of_user_page(&user, after.as_ref(), limit, region).await.expect("sessions_of_user_page");
            listed.extend(page.iter().map(|s| s.id));
            match check_page(&page, after, limit, &user, &check) {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_paged(&listed, &expected, &check);
    }
    assert!(
        cold.sessions_of_user_page(&user, None, 0, region).await.expect("page").is_empty(),
        "sessions_of_user_page (cold): limit 0 answers nothing"
    );
    let last = expected.iter().max().copied();
    assert!(
        cold.sessions_of_user_page(&user, last.as_ref(), 10, region).await.expect("page").is_empty(),
        "sessions_of_user_page (cold): nothing after the last id"
    );
}

/// Every audit-sink check.
pub async fn run_audit_suite<T: Harness>(harness: &T) {
    let audit = harness.audit().await;
    let user = test_user("audit-user");
    let other = test_user("audit-other");
    let at = harness.clock().now();
    for (i, kind) in AuditKind::ALL.iter().enumerate() {
        let event = AuditEvent {
            at,
            kind: *kind,
            tier: if i % 2 == 0 { Tier::Hot } else { Tier::Cold },
            region: RegionId(0),
            session: test_id(500 + i as u64, 0),
            user_id: Some(user.clone()),
            version: 1,
            data_bytes: 0,
            created_at: crate::time::Timestamp(0),
            activity: crate::Activity::default(),
        };
        audit.append(event).await.expect("append");
    }
    let event = AuditEvent {
        at,
        kind: AuditKind::Created,
        tier: Tier::Hot,
        region: RegionId(1),
        session: test_id(600, 1),
        user_id: Some(other),
        version: 1,
        data_bytes: 0,
        created_at: crate::time::Timestamp(0),
        activity: crate::Activity::default(),
    };
    audit.append(event).await.expect("append other");
    let pseudonym = user.pseudonym(&crate::session::PseudonymKey::random());
    if !harness.fidelity().is_full() {
        // Counts only: nothing to pseudonymise, but the call must succeed.
        assert!(audit.pseudonymise_user(&user, &pseudonym, at).await.is_ok(), "pseudonymise: succeeds");
        return;
    }
    assert_eq!(
        audit.pseudonymise_user(&user, &pseudonym, at).await,
        Ok(AuditKind::ALL.len() as u64),
        "pseudonymise: every record of the user"
    );
    assert_eq!(audit.pseudonymise_user(&user, &pseudonym, at).await, Ok(0), "pseudonymise: nothing left to change");
}

/// End-to-end checks of [`SessionManager`] and [`SyncService`] over the harness's stores, three
/// regions: create, hot hit, demotion, promotion, travel, failover and failback, update
/// conflicts, logout, revoke and erase.
pub async fn run_engine_suite<T: Harness>(harness: &T) {
    let fidelity = harness.fidelity();
    let regions = [RegionId(0), RegionId(1), RegionId(2)];
    for durability in [Durability::OnDemotion, Durability::WriteThrough] {
        let session_config = SessionConfig::default();
        let engine_config = EngineConfig { durability, ..EngineConfig::default() };
        let hot = vec![harness.hot(0).await, harness.hot(1).await, harness.hot(2).await];
        let engine = Arc::new(
            Engine::new(
                session_config,
                engine_config,
                hot,
                harness.cold().await,
                harness.audit().await,
                harness.clock(),
            )
            .expect("valid engine"),
        );
        let managers: Vec<_> = regions.iter().map(|r| SessionManager::with_token_seed(engine.clone(), *r, 7)).collect();
        let sync = SyncService::new(engine.clone());
        let user = test_user("engine");
        let data = json(r#"{"cart":[1]}"#);

        let created = managers[0].create(user.clone(), data.clone()).await.expect("create");
        let id = created.session.id;
        match managers[0].get(&id).await {
            Lookup::Found { served: Served::Hot, session, .. } => {
                assert_data(fidelity, &session.data, &data, "engine: hot hit");
                if fidelity.is_full() {
                    assert_eq!(session.activity.requests, 2, "engine: the creation and this lookup counted");
                }
            }
            other => panic!("engine ({durability:?}): a new session is a hot hit, got {other:?}"),
        }
        let updated = managers[0].update(&id, json(r#"{"cart":[1,2]}"#), 1).await.expect("update");
        assert_eq!(updated.version, 2, "engine: update bumps the version");
        if fidelity.is_full() {
            assert_eq!(updated.activity.requests, 2, "engine: an update counts no request");
        }
        assert!(
            matches!(
                managers[0].update(&id, json("{}"), 1).await,
                Err(crate::EngineError::VersionConflict { current: 2, .. })
            ),
            "engine: a stale update conflicts"
        );

        // Not idle yet: the sync job keeps it hot.
        let report = sync.run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error.clone()), (0, None), "engine: nothing idle to demote");

        // Idle past the threshold: demoted, then promoted on access. Moving the session's last
        // access back stands in for waiting 30 minutes against a real server.
        let mut aged = match engine.hot(RegionId(0)).take(&id).await {
            HotLookup::Hit(s) => s,
            other => panic!("engine: session hot before demotion, got {other:?}"),
        };
        aged.last_access = engine.clock().now() - Duration::from_secs(1801);
        engine.hot(RegionId(0)).put(&aged, Duration::from_secs(7200)).await.expect("put aged");
        let report = sync.run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error.clone()), (1, None), "engine ({durability:?}): idle session demoted");
        assert!(
            matches!(
                engine.hot(RegionId(0)).get_and_touch(&id, engine.clock().now(), Duration::from_secs(60)).await,
                HotLookup::Miss
            ),
            "engine: demoted session left the hot tier"
        );
        match managers[0].get(&id).await {
            Lookup::Found { served: Served::Promoted, session, hot_region } => {
                assert_eq!(
                    (session.version, hot_region),
                    (2, Some(RegionId(0))),
                    "engine: promoted home with newest data"
                );
                if fidelity.is_full() {
                    assert_eq!(
                        session.activity.requests, 3,
                        "engine ({durability:?}): demotion kept the count, the promoting lookup counted once"
                    );
                }
            }
            other => panic!("engine: cold session promoted, got {other:?}"),
        }
        match managers[1].get(&id).await {
            Lookup::Found { served: Served::Hot, hot_region, session } => {
                assert_eq!(hot_region, Some(RegionId(0)), "engine: a traveller is served from the home hot tier");
                if fidelity.is_full() {
                    assert_eq!(session.activity.requests, 4, "engine: a traveller's hot hit counted");
                }
            }
            other => panic!("engine: travel lookup, got {other:?}"),
        }

        // The version-only lookup: a hot hit from another region, then a promotion.
        assert_eq!(
            managers[2].touch(&id).await,
            Ok(Touched { version: 2, served: Served::Hot, hot_region: Some(RegionId(0)) }),
            "engine: touch from another region reads the home hot tier"
        );
        let mut aged = match engine.hot(RegionId(0)).take(&id).await {
            HotLookup::Hit(s) => s,
            other => panic!("engine: session hot before the second demotion, got {other:?}"),
        };
        aged.last_access = engine.clock().now() - Duration::from_secs(1801);
        engine.hot(RegionId(0)).put(&aged, Duration::from_secs(7200)).await.expect("put aged");
        let report = sync.run_once(RegionId(0)).await;
        assert_eq!((report.demoted, report.error.clone()), (1, None), "engine ({durability:?}): demoted again");
        assert_eq!(
            managers[0].touch(&id).await,
            Ok(Touched { version: 2, served: Served::Promoted, hot_region: Some(RegionId(0)) }),
            "engine ({durability:?}): touch promotes a cold session"
        );
        assert_eq!(
            managers[0].touch(&test_id(999, 0)).await,
            Err(crate::EngineError::NotFound),
            "engine: touch of an unknown session"
        );

        // Listing, revoking, erasing.
        let second = managers[1].create(user.clone(), json("{}")).await.expect("create second");
        if fidelity.is_full() {
            let listed = managers[2].sessions_of_user(&user).await.expect("list");
            assert_eq!(listed.len(), 2, "engine: a user's sessions across regions");
            // A page at a time (one session each): the same two, in id order, each once.
            let mut paged = Vec::new();
            let mut after = None;
            for _ in 0..4 {
                let page = managers[2].sessions_of_user_page(&user, after, 1).await.expect("page");
                assert!(page.sessions.len() <= 1, "engine: a page holds at most its size");
                paged.extend(page.sessions.iter().map(|s| s.id));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let listed: Vec<SessionId> = listed.iter().map(|s| s.id).collect();
            assert_paged(&paged, &listed, "engine: sessions_of_user_page across regions");
        }
        assert_eq!(managers[2].logout(&second.session.id).await, Ok(true), "engine: logout");
        assert!(matches!(managers[1].get(&second.session.id).await, Lookup::Miss), "engine: logged out is gone");
        assert_eq!(managers[2].logout(&second.session.id).await, Ok(false), "engine: logout twice");
        if fidelity.is_full() {
            assert_eq!(managers[1].revoke_user(&user).await, Ok(1), "engine: revoke the remaining session");
        } else {
            // No per-user revocation on compact stores: end the remaining session by id instead.
            assert_eq!(managers[1].logout(&id).await, Ok(true), "engine: logout the remaining session");
        }
        assert!(matches!(managers[0].get(&id).await, Lookup::Miss), "engine: revoked is gone");
        let third = managers[2].create(user.clone(), json("{}")).await.expect("create third");
        if fidelity.is_full() {
            assert_eq!(managers[0].erase_user(&user).await, Ok(1), "engine: erase");
            assert!(matches!(managers[2].get(&third.session.id).await, Lookup::Miss), "engine: erased is gone");
            assert!(
                managers[0].sessions_of_user(&user).await.expect("list").is_empty(),
                "engine: nothing left after erase"
            );
            let page = managers[1].sessions_of_user_page(&user, None, 10).await.expect("page");
            assert_eq!((page.sessions.len(), page.next), (0, None), "engine: no page left after erase");
        } else {
            match managers[0].get(&third.session.id).await {
                Lookup::Found { .. } => {}
                other => panic!("engine: a session created in another region is found, got {other:?}"),
            }
        }
        run_engine_failback_checks(&engine, &managers, &sync, durability).await;
    }
}

/// Failback (see [`crate::failback`]): a failover copy that another region holds, changed there,
/// goes home with its change, by the next access at home or by the holder's failback pass, and
/// leaves no copy behind; a create for another region's user whose hot tier answers goes there.
async fn run_engine_failback_checks<H: HotStore, C: ColdStore, A: AuditSink, K: Clock>(
    engine: &Arc<Engine<H, C, A, K>>,
    managers: &[SessionManager<H, C, A, K>],
    sync: &SyncService<H, C, A, K>,
    durability: Durability,
) {
    let (home, ttl) = (RegionId(0), engine.policy().hot_ttl);
    let user = test_user("failback");
    for (holder, by_access) in [(RegionId(1), true), (RegionId(2), false)] {
        let check = |what: &str| format!("engine ({durability:?}): failback from {holder:?}: {what}");
        let created = managers[0].create(user.clone(), json(r#"{"away":0}"#)).await.expect("create");
        let id = created.session.id;
        // What a failover leaves: the hot copy held elsewhere (and changed there), the cold record
        // naming the holder.
        let mut copy = hit(engine.hot(home).take(&id).await, &check("the new session is hot at home"));
        copy.hot_region = Some(holder);
        engine.cold().put(&copy, holder, engine.clock().now()).await.expect("cold record naming the holder");
        copy.version = 2;
        copy.data = json(r#"{"away":1}"#);
        engine.hot(holder).put(&copy, ttl).await.expect("the failover copy");
        if by_access {
            match managers[0].get(&id).await {
                Lookup::Found { served: Served::Promoted, session, hot_region } => {
                    assert_eq!((session.version, hot_region), (2, Some(home)), "{}", check("home, with the change"));
                }
                other => panic!("{}, got {other:?}", check("the next access at home brings it home")),
            }
        } else {
            let report = sync.move_home(holder).await;
            assert_eq!((report.moved_home, report.error), (1, None), "{}", check("the pass moves the copy"));
            let at_home = hit(engine.hot(home).get_and_touch(&id, engine.clock().now(), ttl).await, &check("at home"));
            assert_eq!((at_home.version, at_home.hot_region), (2, None), "{}", check("home holds the change"));
            assert_eq!(sync.move_home(holder).await.moved_home, 0, "{}", check("nothing left to move"));
        }
        assert!(matches!(engine.hot(holder).take(&id).await, HotLookup::Miss), "{}", check("no copy left"));
        assert_eq!(managers[2].logout(&id).await, Ok(true), "{}", check("logout"));
    }
    // Its own token seed: the suite's managers share one, so their tokens repeat each other's.
    let elsewhere = SessionManager::with_token_seed(Arc::clone(engine), RegionId(1), 0xFA11_BAC4);
    let created = elsewhere.create_in(home, user.clone(), json("{}")).await.expect("create_in");
    assert_eq!((created.session.id.home(), created.hot), (home, true), "engine: create_in homes the session there");
    hit(engine.hot(home).get_and_touch(&created.session.id, engine.clock().now(), ttl).await, "create_in: hot at home");
    let served_at = engine.hot(RegionId(1)).take(&created.session.id).await;
    assert!(
        matches!(served_at, HotLookup::Miss),
        "engine: create_in with home up leaves no copy where it was served, got {served_at:?}"
    );
}
