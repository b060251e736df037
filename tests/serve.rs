//! `hotcold serve` and `hotcold load` end to end: the binary against the real Redis servers and
//! DynamoDB Local that `scripts/test.sh` starts (a missing server fails the test with a message
//! saying so); `serve` is spoken to over HTTP/1.1 on a loopback socket.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A variable of the services' env file, or a failure that says how to get it.
fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: the serve tests need the real servers. Run `scripts/test.sh` (it installs, starts \
             and stops them), or `scripts/services.sh start && source .services/run/env.sh` before `cargo test`."
        ),
    }
}

/// A name no other test run uses (key prefixes, tables).
fn unique(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{what}-{}-{:x}-{}", std::process::id(), nanos & 0xffff_ffff, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A running `hotcold serve`; killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    /// Sends SIGTERM and waits for the process: the graceful stop a supervisor asks for.
    fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for hotcold serve") {
                return status;
            }
            assert!(Instant::now() < deadline, "hotcold serve did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config of a 3-region deployment serving us-east-1: fresh key prefix and tables, a
/// 2-second demotion threshold and a 1-second sync interval so demotion happens within a test.
fn config_text(redis_urls: &[String], dynamodb: &str, durability: &str) -> String {
    let prefix = unique("srv");
    let table = unique("srv");
    format!(
        "region: us-east-1
session_config:
  hot_storage: {{ ttl: 7200, promotion_threshold: 2, regions: [us-east-1, eu-west-1, ap-southeast-1] }}
  sync: {{ sync_interval: 1 }}
engine: {{ durability: {durability} }}
listen: 127.0.0.1:0
redis:
  us-east-1: {{ url: {}, key_prefix: {prefix} }}
  eu-west-1: {{ url: {}, key_prefix: {prefix} }}
  ap-southeast-1: {{ url: {}, key_prefix: {prefix} }}
dynamodb: {{ endpoint: {dynamodb}, sessions_table: {table}-sessions, audit_table: {table}-audit, create_tables: true }}
",
        redis_urls[0], redis_urls[1], redis_urls[2]
    )
}

fn shared_redis_urls() -> Vec<String> {
    let urls: Vec<String> = env("HOTCOLD_REDIS_URLS").split(',').map(str::to_string).collect();
    assert_eq!(urls.len(), 3, "HOTCOLD_REDIS_URLS must list 3 servers");
    urls
}

/// Starts `hotcold serve` on `config` and waits for its "listening on" line.
fn start(config: &str, label: &str) -> Server {
    let dir = common::scratch_dir("serve", label);
    let path = dir.join("serve.yaml");
    std::fs::write(&path, config).expect("write config");
    let mut child = common::hotcold()
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hotcold serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(address) = line.split("listening on http://").nth(1) {
            let address = address.trim().to_string();
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return Server { child, address };
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("hotcold serve did not start; stderr:\n{}", seen.join("\n"));
}

/// One HTTP/1.1 request; answers the status and the body.
fn http(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_raw(&server.address, method, path, body.map(str::as_bytes))
}

fn http_raw(address: &str, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to hotcold serve");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    // The server may answer (400 for a body too large) before reading all of it.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_string())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts an error answer: the status and a JSON `error` message containing `words`.
fn assert_error(answer: (u16, String), status: u16, words: &str) {
    assert_eq!(answer.0, status, "answer: {}", answer.1);
    let message = json_of(&answer.1)["error"].as_str().map(str::to_string).unwrap_or_default();
    assert!(message.contains(words), "error {message:?} should mention {words:?}");
}

fn create(server: &Server, user: &str, data: &Value) -> String {
    let (status, body) =
        http(server, "POST", "/v1/sessions", Some(&json!({ "user_id": user, "data": data }).to_string()));
    assert_eq!(status, 201, "{body}");
    let created = json_of(&body);
    assert_eq!(created["tier"], "hot");
    assert_eq!(created["version"], 1);
    assert!(created["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{created}");
    created["token"].as_str().expect("token").to_string()
}

fn metric(server: &Server, line_start: &str) -> f64 {
    let (status, text) = http(server, "GET", "/metrics", None);
    assert_eq!(status, 200);
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_session_lives_its_whole_life_through_the_api() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "life");
    assert_eq!(http(&server, "GET", "/healthz", None).0, 200);
    let (status, ready) = http(&server, "GET", "/readyz", None);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(json_of(&ready)["ready"], true);

    let user = unique("alice");
    let token = create(&server, &user, &json!({ "cart": [1, 2] }));
    assert!(token.ends_with(".us-east-1"), "the token names its home region");
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{token}"), None);
    assert_eq!(status, 200, "{body}");
    let found = json_of(&body);
    assert_eq!((found["tier"].as_str(), found["version"].as_u64()), (Some("hot"), Some(1)));
    assert_eq!(found["data"], json!({ "cart": [1, 2] }));
    assert_eq!(found["user_id"], user.as_str());

    // Optimistic concurrency: the second writer based on version 1 loses.
    let update = json!({ "data": { "cart": [3] }, "version": 1 }).to_string();
    let (status, body) = http(&server, "PUT", &format!("/v1/sessions/{token}"), Some(&update));
    assert_eq!((status, json_of(&body)["version"].as_u64()), (200, Some(2)), "{body}");
    let conflict = http(&server, "PUT", &format!("/v1/sessions/{token}"), Some(&update));
    assert_error(conflict.clone(), 409, "version conflict");
    assert_eq!(json_of(&conflict.1)["current_version"], 2);

    // Idle past the 2 s threshold, the sync job (every 1 s) demotes it; the next read promotes it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&server, "hotcold_sync_sessions_total{what=\"demoted\"}") < 1.0 {
        assert!(Instant::now() < deadline, "no demotion within 30 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{token}"), None);
    assert_eq!(status, 200, "{body}");
    let promoted = json_of(&body);
    assert_eq!((promoted["tier"].as_str(), promoted["version"].as_u64()), (Some("promoted"), Some(2)));
    assert_eq!(promoted["data"], json!({ "cart": [3] }));
    assert_eq!(metric(&server, "hotcold_promotions_total"), 1.0);

    // The user's sessions are listed without tokens.
    let second = create(&server, &user, &json!(null));
    let (status, body) = http(&server, "GET", &format!("/v1/users/{user}/sessions"), None);
    assert_eq!(status, 200, "{body}");
    let listed = json_of(&body);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let secret = |t: &str| t.split('.').next().unwrap_or_default().to_string();
    assert!(!body.contains(&secret(&token)) && !body.contains(&secret(&second)), "a listing must not hold tokens");

    // Logout, revoke, erase.
    assert_eq!(http(&server, "DELETE", &format!("/v1/sessions/{token}"), None).0, 204);
    assert_error(http(&server, "GET", &format!("/v1/sessions/{token}"), None), 404, "no such session");
    assert_eq!(http(&server, "DELETE", &format!("/v1/sessions/{token}"), None).0, 204, "logout is idempotent");
    let (status, body) = http(&server, "DELETE", &format!("/v1/users/{user}/sessions"), None);
    assert_eq!((status, json_of(&body)["revoked"].as_u64()), (200, Some(1)), "{body}");
    assert_error(http(&server, "GET", &format!("/v1/sessions/{second}"), None), 404, "no such session");
    let third = create(&server, &user, &json!({ "n": 3 }));
    let (status, body) = http(&server, "POST", &format!("/v1/users/{user}/erase"), None);
    assert_eq!((status, json_of(&body)["erased"].as_u64()), (200, Some(1)), "{body}");
    assert_error(http(&server, "GET", &format!("/v1/sessions/{third}"), None), 404, "no such session");

    assert_eq!(metric(&server, "hotcold_requests_total{op=\"update\",outcome=\"conflict\"}"), 1.0);
    assert!(
        metric(
            &server,
            "hotcold_backend_call_duration_seconds_count{backend=\"redis\",call=\"get_and_touch\",result=\"ok\"}"
        ) >= 2.0
    );
    let (_, text) = http(&server, "GET", "/metrics", None);
    for gauge in [
        "hotcold_sessions{region=\"us-east-1\",tier=\"hot\"}",
        "hotcold_sessions{region=\"\",tier=\"cold\"}",
        "hotcold_sync_lag_seconds",
    ] {
        assert!(text.contains(gauge), "{gauge} missing from /metrics");
    }
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
}

#[test]
fn bad_requests_answer_400_with_a_json_error_and_the_server_keeps_serving() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "write_through"), "bad");
    let token = create(&server, &unique("bob"), &json!({ "ok": true }));
    let wrong_region = format!("{}.mars-1", token.split('.').next().unwrap_or_default());
    let too_long = format!("A{token}");
    let cases: Vec<(&str, String, Option<String>, &str)> = vec![
        ("POST", "/v1/sessions".into(), Some("{\"user_id\": \"bob\",".into()), "malformed JSON body"),
        ("POST", "/v1/sessions".into(), Some("[1, 2]".into()), "malformed JSON body"),
        (
            "POST",
            "/v1/sessions".into(),
            Some("{\"user_id\": \"bob\", \"data\": {}, \"admin\": true}".into()),
            "unknown field",
        ),
        ("POST", "/v1/sessions".into(), Some("{\"data\": {}}".into()), "missing field `user_id`"),
        ("POST", "/v1/sessions".into(), Some("{\"user_id\": \"\", \"data\": {}}".into()), "invalid user id"),
        (
            "POST",
            "/v1/sessions".into(),
            Some(json!({ "user_id": "bob", "data": "x".repeat(360_000) }).to_string()),
            "more than the limit",
        ),
        (
            "POST",
            "/v1/sessions".into(),
            Some(format!("{{\"user_id\": \"bob\", \"data\": \"{}\"}}", "x".repeat(500_000))),
            "too large",
        ),
        ("GET", "/v1/sessions/garbage".into(), None, "malformed session token"),
        ("GET", format!("/v1/sessions/{wrong_region}"), None, "malformed session token"),
        ("GET", format!("/v1/sessions/{too_long}"), None, "malformed session token"),
        ("GET", "/v1/sessions/%FF%FE".into(), None, "malformed"),
        ("PUT", format!("/v1/sessions/{token}"), Some("{\"data\": {}}".into()), "missing field `version`"),
        ("PUT", format!("/v1/sessions/{token}"), Some("{\"data\": {}, \"version\": -1}".into()), "malformed JSON body"),
        ("DELETE", "/v1/sessions/not.a-token".into(), None, "malformed session token"),
        ("GET", "/v1/users/bob%01/sessions".into(), None, "invalid user id"),
        ("POST", format!("/v1/users/{}/erase", "u".repeat(300)), None, "invalid user id"),
    ];
    for (method, path, body, words) in cases {
        let answer = http(&server, method, &path, body.as_deref());
        assert_eq!(answer.0, 400, "{method} {path}: {}", answer.1);
        assert_error(answer, 400, words);
    }
    assert_error(http(&server, "GET", "/v2/anything", None), 404, "no such route");
    // Still serving, and the session untouched by all of that.
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{token}"), None);
    assert_eq!((status, json_of(&body)["data"].clone()), (200, json!({ "ok": true })), "{body}");
    assert!(metric(&server, "hotcold_requests_total{op=\"create\",outcome=\"bad_request\"}") >= 7.0);
}

/// A private `redis-server` on a free port (so stopping it disturbs no other test).
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start_on(port: u16) -> Self {
        let binary = env("HOTCOLD_REDIS_SERVER_BIN");
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[test]
fn a_redis_outage_answers_503_and_the_service_recovers_when_it_returns() {
    let port = free_port();
    let mut redis = OwnRedis::start_on(port);
    let mut urls = shared_redis_urls();
    urls[0] = format!("redis://127.0.0.1:{}", redis.port);
    let server = start(&config_text(&urls, &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "outage");
    let user = unique("carol");
    // With on_demotion this session lives only in us-east-1's Redis.
    let hot_only = create(&server, &user, &json!({ "step": 1 }));

    redis.stop();
    // Erasing a user needs every store to answer: 503 naming the one that cannot, and nothing
    // half-done to lose (the call can be repeated).
    assert_error(http(&server, "POST", &format!("/v1/users/{user}/erase"), None), 503, "redis us-east-1");
    // Its newest state existed only in the failed Redis: lost with the region, as on_demotion
    // says (CONTRACT section 4), so the client signs in again.
    assert_error(http(&server, "GET", &format!("/v1/sessions/{hot_only}"), None), 404, "no such session");
    let (status, ready) = http(&server, "GET", "/readyz", None);
    assert_eq!(status, 503, "{ready}");
    let checks = &json_of(&ready)["checks"];
    assert_ne!(checks["redis us-east-1"], "ok", "{ready}");
    assert_eq!(checks["dynamodb"], "ok", "{ready}");
    // A new session goes to DynamoDB only while its home hot tier is down, and is served from there.
    let (status, body) =
        http(&server, "POST", "/v1/sessions", Some(&json!({ "user_id": user, "data": 2 }).to_string()));
    assert_eq!((status, json_of(&body)["tier"].as_str()), (201, Some("cold")), "{body}");
    let cold_created = json_of(&body)["token"].as_str().expect("token").to_string();
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{cold_created}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("cold")), "{body}");
    assert_eq!(metric(&server, "hotcold_requests_total{op=\"erase\",outcome=\"unavailable\"}"), 1.0);

    // Redis returns empty (no persistence): the store reconnects without a restart of the service.
    let _redis = OwnRedis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(&server, "GET", "/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "not ready again within 30 s of Redis returning");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{cold_created}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("promoted")), "{body}");
    assert_eq!(json_of(&body)["data"], json!(2));
    // The hot-only session stays lost: the returning Redis is empty.
    assert_error(http(&server, "GET", &format!("/v1/sessions/{hot_only}"), None), 404, "no such session");
    create(&server, &user, &json!({ "step": 3 }));
}

#[test]
fn start_up_fails_with_exit_1_naming_the_backend_that_is_down() {
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let mut urls = shared_redis_urls();
    urls[1] = dead;
    let dir = common::scratch_dir("serve", "down");
    let path = dir.join("serve.yaml");
    std::fs::write(&path, config_text(&urls, &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion")).expect("write");
    let output = common::hotcold().args(["serve", "--config"]).arg(&path).output().expect("run hotcold serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redis eu-west-1"), "{stderr}");

    let dead_dynamo = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(&path, config_text(&shared_redis_urls(), &dead_dynamo, "on_demotion")).expect("write");
    let output = common::hotcold().args(["serve", "--config"]).arg(&path).output().expect("run hotcold serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DynamoDB"), "{stderr}");
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let dir = common::scratch_dir("serve", "badconfig");
    let path = dir.join("serve.yaml");
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion")
        .replace("region: us-east-1\nsession", "region: mars-1\nsession");
    std::fs::write(&path, text).expect("write");
    let output = common::hotcold().args(["serve", "--config"]).arg(&path).output().expect("run hotcold serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("region") && stderr.contains("mars-1"), "{stderr}");
}

fn write_config(label: &str, text: &str) -> std::path::PathBuf {
    let path = common::scratch_dir("load", label).join("config.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn summary_of(dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    json_of(&text)
}

#[test]
fn load_drives_the_scenario_against_live_backends_and_agrees_with_simulate() {
    let config =
        write_config("run", &config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"));
    let live_dir = common::scratch_dir("load", "live");
    let output = common::hotcold()
        .args(["load", "scenarios/load-smoke.yaml", "--speedup", "60", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&live_dir)
        .output()
        .expect("run hotcold load");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("hotcold load: load-smoke"), "{stdout}");
    for file in ["summary.json", "run.json", "report.html", "costs.csv", "timeseries.csv", "scenario.resolved.yaml"] {
        assert!(live_dir.join(file).is_file(), "{file} missing from the run directory");
    }
    // One shard: the traffic of the scenario's seed itself, as `load` draws it.
    let sim_dir = common::scratch_dir("load", "sim");
    let output = common::hotcold()
        .args(["simulate", "scenarios/load-smoke.yaml", "--shards", "1", "--quiet", "--out"])
        .arg(&sim_dir)
        .output()
        .expect("run hotcold simulate");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (live, sim) = (summary_of(&live_dir), summary_of(&sim_dir));
    let number = |v: &Value, path: &[&str]| path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);
    // The same traffic generator, the same seed and the same order of draws: the same traffic,
    // exactly (no draw depends on what the backends answer, and `load` draws in scenario-time
    // order). Sessions created include re-creates after a session expired, which the backends
    // decide, on the same timestamps.
    let counts = |dir: &std::path::Path| -> Value {
        json_of(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))["counts"].clone()
    };
    let (live_counts, sim_counts) = (counts(&live_dir), counts(&sim_dir));
    for key in ["requests", "visits", "created", "updates", "logged_out"] {
        assert_eq!(live_counts[key], sim_counts[key], "{key}: load {live_counts}, simulate {sim_counts}");
    }
    // What the backends decide (which lookups are hot, when the sync job demotes) differs only by
    // real timing: within 15 % (promotions, about 60 of them, 25 %). A Redis that recorded
    // accesses coarser than the compressed threshold made 60 % too many promotions.
    for (path, margin) in [
        (&["sessions", "hot_hits"][..], 0.15),
        (&["sessions", "demoted"], 0.15),
        (&["sessions", "cold_promotions"], 0.25),
    ] {
        let (l, s) = (number(&live, path), number(&sim, path));
        assert!(l > 0.0 && (l - s).abs() <= margin * s, "{path:?}: load {l}, simulate {s}");
    }
    assert_eq!(number(&live, &["sessions", "lost"]), 0.0, "{live}");
    assert_eq!(number(&live, &["availability"]), 1.0, "{live}");
    assert!(number(&live, &["hot_cold", "hot_avg"]) > 0.0, "{live}");
    assert!(number(&live, &["dynamodb", "wru"]) > 0.0, "{live}");
    assert!(number(&live, &["latency_ms", "hot_access", "p50"]) > 0.0, "{live}");
}

#[test]
fn load_refuses_what_it_cannot_do_with_exit_2() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let config = write_config("refuse", &text);
    let two_regions = write_config(
        "refuse-2",
        &text
            .replace("  ap-southeast-1:", "  # ap-southeast-1:")
            .replace("regions: [us-east-1, eu-west-1, ap-southeast-1]", "regions: [us-east-1, eu-west-1]"),
    );
    let cases: [(&str, &str, &std::path::Path, &str); 4] = [
        ("scenarios/tiny.yaml", "60", &config, "faults"),
        ("scenarios/load-smoke.yaml", "0", &config, "--speedup"),
        ("scenarios/load-smoke.yaml", "1000", &config, "at --speedup 1000"),
        ("scenarios/load-smoke.yaml", "60", &two_regions, "redis.ap-southeast-1"),
    ];
    for (scenario, speedup, config, words) in cases {
        let output = common::hotcold()
            .args(["load", scenario, "--speedup", speedup, "--config"])
            .arg(config)
            .output()
            .expect("run hotcold load");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{scenario} at {speedup}: {stderr}");
        assert!(stderr.contains(words), "{scenario} at {speedup}: {stderr:?} should mention {words:?}");
    }
}
