//! `hotcold migrate` end to end: the binary against a legacy Redis of the test's own (filled with
//! connect-redis sessions), the shared test Redis and DynamoDB Local that `scripts/test.sh` starts
//! (a missing server fails the test with a message saying so). What was imported is read back
//! through the engine, the DynamoDB table and the audit trail (`hotcold audit`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{OwnRedis, env, free_port, unique};

use hotcold_engine::backends::dynamodb::{DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::memory::MemoryAudit;
use hotcold_engine::migration::{LegacyId, Rollout};
use hotcold_engine::{
    ColdLookup, ColdStore, Engine, EngineConfig, Lookup, RegionId, Served, SessionConfig, SessionId, SessionManager,
    SystemClock,
};
use serde_json::{Value, json};

/// The legacy store: a private `redis-server` on a free port, stopped when dropped.
struct LegacyRedis {
    server: OwnRedis,
}

impl LegacyRedis {
    fn start() -> Self {
        Self { server: OwnRedis::start_on(free_port()) }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.server.port)
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url()).expect("redis url").get_connection().expect("connect to the legacy redis")
    }

    /// Every key the legacy store holds.
    fn keys(&self) -> BTreeSet<String> {
        redis::cmd("KEYS").arg("*").query::<Vec<String>>(&mut self.connection()).expect("KEYS").into_iter().collect()
    }
}

/// What kind of legacy session a fixture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its cookie expires a day from now (minus a minute): used a minute ago, so the import puts
    /// it in the hot tier too (cold TTL one day, promotion threshold 30 minutes).
    Active,
    /// Expires in two hours: idle for 22 hours, DynamoDB only.
    Idle,
    /// A browser-session cookie (`expires: null`): the key's TTL (3 hours) is its expiry.
    BrowserSession,
    /// `cookie.expires` has passed, but Redis still holds the key.
    Expired,
    /// Not JSON.
    Malformed,
}

impl Kind {
    const fn imported(self) -> bool {
        matches!(self, Self::Active | Self::Idle | Self::BrowserSession)
    }
}

/// One session written to the legacy store.
#[derive(Debug, Clone)]
struct Legacy {
    /// The express-session id (32 base64url characters): a secret nothing may print.
    id: String,
    kind: Kind,
    user: String,
    /// The value as JSON (`Null` for the malformed one).
    value: Value,
}

impl Legacy {
    fn session_id(&self) -> SessionId {
        LegacyId::parse(&self.id).expect("a valid legacy id").session_id(RegionId(0))
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Writes `counts` sessions of each kind (in connect-redis's layout, `sess:<id>` with a PX TTL)
/// plus one key under the prefix that is not a session id; answers the sessions.
fn fill(legacy: &LegacyRedis, tag: &str, counts: &[(Kind, usize)]) -> Vec<Legacy> {
    let mut connection = legacy.connection();
    let mut pipe = redis::pipe();
    let mut sessions = Vec::new();
    let now = SystemTime::now();
    let mut n = 0usize;
    for &(kind, count) in counts {
        for _ in 0..count {
            n += 1;
            // uid-safe draws 24 random bytes; deterministic here, in the same alphabet.
            let id = format!("{tag}_{n:0>27}");
            assert_eq!(id.len(), 32, "tags are 4 characters");
            let user = format!("u{}", n % 4);
            let (expires, ttl_ms): (Value, u64) = match kind {
                Kind::Active => (json!(rfc3339(now + Duration::from_secs(86_340))), 86_340_000),
                Kind::Idle => (json!(rfc3339(now + Duration::from_secs(7_200))), 7_200_000),
                Kind::BrowserSession => (Value::Null, 10_800_000),
                Kind::Expired | Kind::Malformed => (json!(rfc3339(now - Duration::from_secs(60))), 3_600_000),
            };
            let value = json!({
                "cookie": { "originalMaxAge": if expires.is_null() { Value::Null } else { json!(ttl_ms) },
                            "expires": expires, "httpOnly": true, "path": "/" },
                "passport": { "user": user },
                "cart": [n, { "sku": format!("sku-{n}"), "qty": n % 3 + 1 }],
            });
            let bytes = match kind {
                Kind::Malformed => format!("{{\"cookie\": {{\"expires\": broken {n}"),
                _ => value.to_string(),
            };
            pipe.cmd("SET").arg(format!("sess:{id}")).arg(bytes).arg("PX").arg(ttl_ms).ignore();
            let value = if kind == Kind::Malformed { Value::Null } else { value };
            sessions.push(Legacy { id, kind, user, value });
        }
    }
    pipe.cmd("SET").arg("sess:not.a.session.id").arg("{}").arg("PX").arg(3_600_000).ignore();
    let () = pipe.query(&mut connection).expect("fill the legacy store");
    sessions
}

/// A deployment of one region (us-east-1) on the shared test Redis and DynamoDB Local, fresh
/// key prefix and tables, migrating from `legacy` at `rollout_percent`.
struct Deployment {
    redis_url: String,
    prefix: String,
    table: String,
    dir: PathBuf,
    config: PathBuf,
}

impl Deployment {
    fn new(label: &str, legacy_url: &str, rollout_percent: u32) -> Self {
        let redis_url = env("HOTCOLD_REDIS_URLS").split(',').next().unwrap_or_default().to_owned();
        let endpoint = env("HOTCOLD_DYNAMODB_ENDPOINT");
        let (prefix, table) = (unique("mig"), unique("mig"));
        let dir = common::scratch_dir("migrate", label);
        let config = dir.join("serve.yaml");
        let deployment = Self { redis_url, prefix, table, dir, config };
        deployment.write_config(&endpoint, legacy_url, rollout_percent);
        deployment
    }

    fn write_config(&self, endpoint: &str, legacy_url: &str, rollout_percent: u32) {
        let text = format!(
            "region: us-east-1
session_config:
  hot_storage: {{ ttl: 7200, promotion_threshold: 1800, regions: [us-east-1] }}
  cold_storage: {{ ttl: 86400 }}
redis:
  us-east-1: {{ url: {}, key_prefix: {} }}
dynamodb: {{ endpoint: {endpoint}, sessions_table: {table}-sessions, audit_table: {table}-audit, analytics_table: {table}-analytics, create_tables: true }}
legacy: {{ url: {legacy_url}, rollout_percent: {rollout_percent} }}
",
            self.redis_url,
            self.prefix,
            table = self.table,
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    fn checkpoint(&self) -> PathBuf {
        self.dir.join("migrate.checkpoint")
    }

    /// `hotcold migrate` on this deployment with the test's checkpoint and `extra` flags.
    fn migrate_command(&self, extra: &[&str]) -> Command {
        let mut command = common::hotcold();
        command.args(["migrate", "--config"]).arg(&self.config).arg("--checkpoint").arg(self.checkpoint()).args(extra);
        command
    }

    fn migrate(&self, extra: &[&str]) -> Output {
        self.migrate_command(extra).output().expect("run hotcold migrate")
    }

    /// The checkpoint as JSON (`None` while there is none or it cannot be read whole).
    fn read_checkpoint(&self) -> Option<Value> {
        let text = std::fs::read(self.checkpoint()).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The engine on this deployment's stores (audit records kept in memory, unused).
    fn manager(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> SessionManager<RedisHotStore, DynamoColdStore, MemoryAudit, SystemClock> {
        runtime.block_on(async {
            let hot =
                RedisHotStore::connect(RedisHotConfig::standalone(self.redis_url.clone()).with_prefix(&self.prefix))
                    .await
                    .expect("connect the hot tier");
            let cold = DynamoColdStore::connect(self.dynamo_config(), false).await.expect("connect DynamoDB");
            let mut config = SessionConfig::default();
            config.hot_storage.regions = vec!["us-east-1".into()];
            config.hot_storage.ttl = Duration::from_secs(7200);
            config.hot_storage.promotion_threshold = Duration::from_secs(1800);
            config.cold_storage.ttl = Duration::from_secs(86_400);
            let engine =
                Engine::new(config, EngineConfig::default(), vec![hot], cold, MemoryAudit::default(), SystemClock)
                    .expect("engine");
            SessionManager::new(Arc::new(engine), RegionId(0))
        })
    }

    fn dynamo_config(&self) -> DynamoConfig {
        let mut config = DynamoConfig::local(
            env("HOTCOLD_DYNAMODB_ENDPOINT"),
            format!("{}-sessions", self.table),
            format!("{}-audit", self.table),
        );
        config.cold_ttl = Duration::from_secs(86_400);
        config
    }

    /// The cold record of every session, by the legacy id.
    fn cold_records(&self, runtime: &tokio::runtime::Runtime, sessions: &[Legacy]) -> BTreeMap<String, ColdLookup> {
        runtime.block_on(async {
            let cold = DynamoColdStore::connect(self.dynamo_config(), false).await.expect("connect DynamoDB");
            let mut records = BTreeMap::new();
            for session in sessions {
                records.insert(session.id.clone(), cold.get(&session.session_id(), RegionId(0)).await);
            }
            records
        })
    }

    /// `migrated` audit events per session (by the hex id the audit trail names it by), from
    /// `hotcold audit` of every user in `sessions`.
    fn migrated_events(&self, sessions: &[Legacy]) -> BTreeMap<String, usize> {
        let users: BTreeSet<&str> = sessions.iter().map(|s| s.user.as_str()).collect();
        let mut events = BTreeMap::new();
        for user in users {
            let output =
                common::hotcold().args(["audit", user, "--config"]).arg(&self.config).output().expect("run audit");
            assert!(output.status.success(), "hotcold audit {user}: {}", String::from_utf8_lossy(&output.stderr));
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                let event: Value = serde_json::from_str(line).expect("a JSON event");
                if event["kind"] == "migrated" {
                    *events.entry(event["session_id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
                }
            }
        }
        events
    }
}

fn count(checkpoint: &Value, name: &str) -> u64 {
    checkpoint["counts"][name].as_u64().unwrap_or_else(|| panic!("no count {name} in {checkpoint}"))
}

/// The checkpoint's counts add up: every session seen is in exactly one of them.
fn assert_adds_up(checkpoint: &Value) {
    let parts =
        ["imported_hot", "imported_cold", "already_migrated", "expired", "removed", "left_legacy", "gone", "failed"];
    let sum: u64 = parts.iter().map(|name| count(checkpoint, name)).sum();
    assert_eq!(sum, count(checkpoint, "seen"), "{checkpoint:#}");
}

/// Nothing the process wrote names a legacy id (they are bearer secrets) or a user's data.
fn assert_no_secrets(output: &Output, sessions: &[Legacy]) {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!text.contains("panicked"), "{text}");
    for session in sessions {
        assert!(!text.contains(&session.id), "a legacy id was printed: {text}");
    }
    assert!(!text.contains("sku-"), "session data was printed: {text}");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

/// Every imported session is in DynamoDB once (version 1) with the legacy data, and the engine
/// serves it: the active ones from the hot tier, the idle ones promoted from DynamoDB. Answers
/// how many active ones were not in the hot tier (an import cut short between its DynamoDB and
/// its Redis write).
fn assert_imported_once(deployment: &Deployment, runtime: &tokio::runtime::Runtime, sessions: &[Legacy]) -> usize {
    let records = deployment.cold_records(runtime, sessions);
    for session in sessions {
        match &records[&session.id] {
            ColdLookup::Found(record) => {
                assert_eq!(record.version, 1, "{:?} was written more than once", session.kind);
                assert_eq!(record.data.to_json(), session.value, "{:?}", session.kind);
                assert_eq!(record.user_id.as_str(), session.user);
            }
            other => panic!("{:?} session not in DynamoDB: {other:?}", session.kind),
        }
    }
    let manager = deployment.manager(runtime);
    let mut active_not_hot = 0;
    for session in sessions {
        match runtime.block_on(manager.get(&session.session_id())) {
            Lookup::Found { session: found, served, .. } => {
                assert_eq!(found.data.to_json(), session.value);
                match (session.kind, served) {
                    (Kind::Active, Served::Hot) | (Kind::Idle | Kind::BrowserSession, Served::Promoted) => {}
                    (Kind::Active, Served::Promoted) => active_not_hot += 1,
                    (kind, served) => panic!("{kind:?} session served {served:?}"),
                }
            }
            other => panic!("{:?} session not served by the engine: {other:?}", session.kind),
        }
    }
    active_not_hot
}

/// Issue 19: a full migration at rollout 100 %: every valid session imported once with its data,
/// the active ones to the hot tier too, the expired ones dropped, the malformed one left in the
/// legacy store with its reason, and the counts add up. A second run has nothing left to do.
#[test]
fn a_full_migration_imports_every_session_once_and_the_counts_add_up() {
    let legacy = LegacyRedis::start();
    let kinds =
        [(Kind::Active, 12), (Kind::Idle, 40), (Kind::BrowserSession, 5), (Kind::Expired, 8), (Kind::Malformed, 2)];
    let sessions = fill(&legacy, "full", &kinds);
    // A key of a session id's form holding a hash (not connect-redis's): it cannot be read.
    let hash_key = format!("sess:full_hash_{:0>22}", 0);
    let () = redis::cmd("HSET").arg(&hash_key).arg("field").arg("value").query(&mut legacy.connection()).expect("HSET");
    let deployment = Deployment::new("full", &legacy.url(), 100);
    let output = deployment.migrate(&["--rate", "2000/s"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_no_secrets(&output, &sessions);
    let text = stdout(&output);
    assert!(
        text.contains("walk complete") && text.contains("every session goes") && text.contains(": adds up"),
        "{text}"
    );

    let checkpoint = deployment.read_checkpoint().expect("a checkpoint");
    assert_eq!(checkpoint["complete"], true);
    assert_adds_up(&checkpoint);
    let expected = [
        ("seen", 68),
        ("imported_hot", 12),
        ("imported_cold", 45),
        ("already_migrated", 0),
        ("expired", 8),
        ("removed", 0),
        ("left_legacy", 0),
        ("gone", 0),
        ("failed", 3),
        ("not_session_keys", 1),
    ];
    for (name, value) in expected {
        assert_eq!(count(&checkpoint, name), value, "{name}: {checkpoint:#}");
    }
    let reasons = checkpoint["counts"]["failures"].as_object().expect("failures");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    for (reason, failed) in reasons {
        let expected = if reason.contains("not a JSON object") {
            2
        } else {
            assert!(reason.contains("not a string") && reason.contains("WRONGTYPE"), "{reason}");
            1
        };
        assert_eq!(failed, expected, "{reason}");
        assert!(text.contains(reason.as_str()), "the summary lists the reason: {text}");
    }

    // The legacy store keeps what could not be imported, and the key that is not a session.
    let mut left: BTreeSet<String> =
        sessions.iter().filter(|s| s.kind == Kind::Malformed).map(|s| format!("sess:{}", s.id)).collect();
    left.extend(["sess:not.a.session.id".to_owned(), hash_key.clone()]);
    assert_eq!(legacy.keys(), left);

    let runtime = runtime();
    let imported: Vec<Legacy> = sessions.iter().filter(|s| s.kind.imported()).cloned().collect();
    let events = deployment.migrated_events(&imported);
    for session in &imported {
        assert_eq!(events.get(&session.session_id().to_hex()), Some(&1), "one `migrated` event per session");
    }
    let expired: Vec<Legacy> = sessions.iter().filter(|s| s.kind == Kind::Expired).cloned().collect();
    for (_, record) in deployment.cold_records(&runtime, &expired) {
        assert!(matches!(record, ColdLookup::Miss), "an expired session was imported: {record:?}");
    }
    assert_eq!(assert_imported_once(&deployment, &runtime, &imported), 0, "every active session is hot");

    let again = deployment.migrate(&[]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(stdout(&again).contains("already complete"), "{}", stdout(&again));
    assert_eq!(deployment.read_checkpoint().expect("checkpoint"), checkpoint, "nothing more was done");

    // Two legacy copies come back, as a crash between an import and the legacy delete leaves
    // them: one of a session still live in the hybrid store (already migrated: not imported a
    // second time), one of a session logged out since (removed before: never imported again).
    let (live, logged_out) = (&imported[0], &imported[1]);
    let manager = deployment.manager(&runtime);
    assert!(runtime.block_on(manager.logout(&logged_out.session_id())).expect("logout"));
    let mut connection = legacy.connection();
    for session in [live, logged_out] {
        let () = redis::cmd("SET")
            .arg(format!("sess:{}", session.id))
            .arg(session.value.to_string())
            .arg("PX")
            .arg(3_600_000)
            .query(&mut connection)
            .expect("SET");
    }
    let output = deployment.migrate(&["--restart"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let checkpoint = deployment.read_checkpoint().expect("checkpoint");
    assert_adds_up(&checkpoint);
    let expected = [("seen", 5), ("imported_hot", 0), ("imported_cold", 0), ("already_migrated", 1), ("removed", 1)];
    for (name, value) in expected {
        assert_eq!(count(&checkpoint, name), value, "{name}: {checkpoint:#}");
    }
    assert_eq!(legacy.keys(), left, "both legacy copies deleted");
    let events = deployment.migrated_events(std::slice::from_ref(live));
    assert_eq!(events.get(&live.session_id().to_hex()), Some(&1), "not imported again");
    match &deployment.cold_records(&runtime, std::slice::from_ref(live))[&live.id] {
        ColdLookup::Found(record) => assert_eq!(record.version, 1),
        other => panic!("{other:?}"),
    }
    assert!(matches!(runtime.block_on(manager.get(&logged_out.session_id())), Lookup::Miss), "stays logged out");

    // A kill after the checkpoint counted a session and before its legacy copy was deleted: the
    // replay of the page deletes it and counts nothing again (the page's other sessions, kept,
    // are skipped).
    let hex = |id: &str| LegacyId::parse(id).expect("legacy id").session_id(RegionId(0)).to_hex();
    let mut cut_short = checkpoint.clone();
    cut_short["complete"] = json!(false);
    cut_short["cursor"] = json!(0);
    cut_short["page_moved"] = json!([live.session_id().to_hex()]);
    let mut kept: Vec<String> =
        sessions.iter().filter(|s| s.kind == Kind::Malformed).map(|s| s.session_id().to_hex()).collect();
    kept.push(hex(hash_key.trim_start_matches("sess:")));
    cut_short["page_kept"] = json!(kept);
    // The keys that are not sessions are counted when their page ends: not yet.
    cut_short["counts"]["not_session_keys"] = json!(0);
    std::fs::write(deployment.checkpoint(), cut_short.to_string()).expect("write");
    let () = redis::cmd("SET")
        .arg(format!("sess:{}", live.id))
        .arg(live.value.to_string())
        .arg("PX")
        .arg(3_600_000)
        .query(&mut connection)
        .expect("SET");
    let output = deployment.migrate(&[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let replayed = deployment.read_checkpoint().expect("checkpoint");
    assert_eq!(replayed["counts"], checkpoint["counts"], "nothing counted twice");
    assert_eq!(replayed["complete"], true);
    assert_eq!(legacy.keys(), left, "the legacy copy of the counted session deleted");
}

/// The Show of issue 19: the bulk job killed half-way (SIGKILL, no chance to clean up) and run
/// again: it resumes from the checkpoint and every session is imported exactly once (version 1,
/// at most one `migrated` audit event each), the counts of both runs together add up to the
/// store, and the legacy store ends empty.
#[test]
fn a_migration_killed_half_way_resumes_and_imports_every_session_exactly_once() {
    let legacy = LegacyRedis::start();
    let sessions = fill(&legacy, "kill", &[(Kind::Active, 10), (Kind::Idle, 70)]);
    let deployment = Deployment::new("kill", &legacy.url(), 100);
    // 40 a second: 2 s for the 80 sessions; killed after a fifth of them.
    let mut child = deployment
        .migrate_command(&["--rate", "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hotcold migrate");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(checkpoint) = deployment.read_checkpoint()
            && count(&checkpoint, "imported_hot") + count(&checkpoint, "imported_cold") >= 16
        {
            break;
        }
        assert!(child.try_wait().expect("poll").is_none(), "hotcold migrate ended before it was killed");
        assert!(Instant::now() < deadline, "no progress in the checkpoint within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), None, "killed by a signal");
    let killed = deployment.read_checkpoint().expect("checkpoint");
    assert_eq!(killed["complete"], false);
    assert_adds_up(&killed);
    let remaining = legacy.keys().len() - 1;
    assert!(remaining >= 40, "killed half-way: {remaining} sessions still in the legacy store");

    let output = deployment.migrate(&["--rate", "2000"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_no_secrets(&output, &sessions);
    let checkpoint = deployment.read_checkpoint().expect("checkpoint");
    assert_eq!(checkpoint["complete"], true);
    assert_adds_up(&checkpoint);
    let imported = count(&checkpoint, "imported_hot") + count(&checkpoint, "imported_cold");
    let already = count(&checkpoint, "already_migrated");
    // Every session is counted once across the two runs: imported, or (the one the kill caught
    // between its import and its legacy delete) found already migrated.
    assert_eq!((count(&checkpoint, "seen"), imported + already), (80, 80), "{checkpoint:#}");
    assert!(already <= 1, "{checkpoint:#}");
    let hot = count(&checkpoint, "imported_hot");
    assert!(hot + already >= 10 && hot <= 10, "{checkpoint:#}");
    // An import lock the kill caught between a legacy delete and the lock's release stays until
    // its TTL ends it (that is what the TTL is for); nothing else is left but the foreign key.
    let (locks, left): (BTreeSet<String>, BTreeSet<String>) =
        legacy.keys().into_iter().partition(|key| key.starts_with("hotcold-import-lock:"));
    assert_eq!(left, BTreeSet::from(["sess:not.a.session.id".to_owned()]));
    assert!(locks.len() <= 1, "at most the lock of the import the kill caught: {locks:?}");
    for lock in &locks {
        let ttl: i64 = redis::cmd("PTTL").arg(lock).query(&mut legacy.connection()).expect("PTTL");
        assert!(ttl > 0, "a lock left by a killed importer expires by itself: {lock} has PTTL {ttl}");
    }

    let events = deployment.migrated_events(&sessions);
    let once = sessions.iter().filter(|s| events.get(&s.session_id().to_hex()) == Some(&1)).count();
    assert!(events.values().all(|n| *n == 1), "a session imported twice: {events:?}");
    // The kill may have caught one import between its DynamoDB write and its audit record.
    assert!(once as u64 + already >= 80, "{once} sessions with a `migrated` event, {already} already migrated");
    let runtime = runtime();
    assert!(assert_imported_once(&deployment, &runtime, &sessions) as u64 <= already, "active sessions not hot");
}

/// At rollout 50 % only the sessions the split gives the hybrid store are imported; the others
/// stay in the legacy store untouched. A later run at 100 % (`--restart`, after the walk at 50 %
/// completed) imports the rest, and a changed percentage in the middle of a walk is refused.
#[test]
fn a_partial_rollout_imports_only_the_hybrid_share() {
    let legacy = LegacyRedis::start();
    let sessions = fill(&legacy, "half", &[(Kind::Idle, 50)]);
    let rollout = Rollout::new(50.0, "rollout").expect("rollout");
    let (hybrid, kept): (Vec<Legacy>, Vec<Legacy>) =
        sessions.iter().cloned().partition(|s| rollout.serves_hybrid(&s.session_id()));
    assert!(hybrid.len() >= 10 && kept.len() >= 10, "the split of 50 sessions: {} / {}", hybrid.len(), kept.len());
    let deployment = Deployment::new("half", &legacy.url(), 50);
    let output = deployment.migrate(&[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout(&output).contains("(rollout 50 %)"), "{}", stdout(&output));
    let checkpoint = deployment.read_checkpoint().expect("checkpoint");
    assert_adds_up(&checkpoint);
    assert_eq!(count(&checkpoint, "imported_cold"), hybrid.len() as u64);
    assert_eq!(count(&checkpoint, "left_legacy"), kept.len() as u64);
    let mut left: BTreeSet<String> = kept.iter().map(|s| format!("sess:{}", s.id)).collect();
    left.insert("sess:not.a.session.id".into());
    assert_eq!(legacy.keys(), left, "the legacy side is untouched");
    let runtime = runtime();
    for (_, record) in deployment.cold_records(&runtime, &kept) {
        assert!(matches!(record, ColdLookup::Miss), "a legacy-side session was imported: {record:?}");
    }
    assert_eq!(assert_imported_once(&deployment, &runtime, &hybrid), 0);

    // Raised to 100 %: the completed walk says so until --restart.
    deployment.write_config(&env("HOTCOLD_DYNAMODB_ENDPOINT"), &legacy.url(), 100);
    let complete = deployment.migrate(&[]);
    assert!(complete.status.success() && stdout(&complete).contains("--restart"), "{}", stdout(&complete));
    let output = deployment.migrate(&["--restart"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let checkpoint = deployment.read_checkpoint().expect("checkpoint");
    assert_eq!(
        (count(&checkpoint, "seen"), count(&checkpoint, "imported_cold")),
        (kept.len() as u64, kept.len() as u64)
    );
    assert_eq!(legacy.keys(), BTreeSet::from(["sess:not.a.session.id".to_owned()]));

    // A walk in progress at one percentage is not finished at another.
    let mut half_done = checkpoint;
    half_done["complete"] = json!(false);
    half_done["cursor"] = json!(17);
    std::fs::write(deployment.checkpoint(), half_done.to_string()).expect("write");
    deployment.write_config(&env("HOTCOLD_DYNAMODB_ENDPOINT"), &legacy.url(), 50);
    let refused = deployment.migrate(&[]);
    common::assert_bad_input(&refused, "another percentage", &["migrate.checkpoint", "rollout_percent", "--restart"]);
}

/// Bad input is exit 2 on one line naming the problem; a legacy store that does not answer is
/// exit 1 on one line. None of them needs DynamoDB: each stops before reaching it.
#[test]
fn bad_input_and_a_legacy_store_that_is_down_are_refused_on_one_line() {
    let dir = common::scratch_dir("migrate", "bad");
    let down = format!("redis://127.0.0.1:{}", free_port());
    let config = |legacy: &str| {
        format!(
            "region: us-east-1
session_config: {{ hot_storage: {{ regions: [us-east-1] }} }}
redis: {{ us-east-1: {{ url: redis://127.0.0.1:1 }} }}
dynamodb: {{ endpoint: http://127.0.0.1:1 }}
{legacy}"
        )
    };
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let run = |config: &Path, extra: &[&str]| -> Output {
        common::hotcold()
            .args(["migrate", "--config"])
            .arg(config)
            .arg("--checkpoint")
            .arg(dir.join("walk.checkpoint"))
            .args(extra)
            .output()
            .expect("run hotcold migrate")
    };
    let without = write("without.yaml", &config(""));
    common::assert_bad_input(&run(&without, &[]), "no legacy block", &["without.yaml", "legacy"]);

    let with = write("with.yaml", &config(&format!("legacy: {{ url: {down}, rollout_percent: 100 }}\n")));
    for rate in ["0", "0/s", "lots"] {
        common::assert_bad_input(&run(&with, &["--rate", rate]), "a bad rate", &["--rate", rate]);
    }
    let bad_percent = write("percent.yaml", &config(&format!("legacy: {{ url: {down}, rollout_percent: 150 }}\n")));
    common::assert_bad_input(&run(&bad_percent, &[]), "a bad percentage", &["legacy.rollout_percent"]);

    let output = run(&with, &[]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked") && err.trim_end().lines().count() == 1, "{err}");
    assert!(err.contains("legacy store (legacy.url)"), "{err}");

    std::fs::write(dir.join("walk.checkpoint"), "{ \"format\": \"hotcold-migrate/1\", \"cursor\": ").expect("write");
    common::assert_bad_input(&run(&with, &[]), "a corrupt checkpoint", &["walk.checkpoint", "--restart"]);
    // --restart does not read it: the run goes on to the legacy store (down: exit 1).
    assert_eq!(run(&with, &["--restart"]).status.code(), Some(1));
}
