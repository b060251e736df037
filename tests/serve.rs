//! `hotcold serve` and `hotcold load` end to end: the binary against the real Redis servers and
//! DynamoDB Local that `scripts/test.sh` starts (a missing server fails the test with a message
//! saying so); `serve` is spoken to over HTTP/1.1 on a loopback socket.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{OwnRedis, env, free_port, unique};

use serde_json::{Value, json};

/// A running `hotcold serve`; killed when dropped.
struct Server {
    child: Child,
    address: String,
    /// Every line the process wrote, stderr and stdout, as read so far.
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Sends SIGTERM and waits for the process: the graceful stop a supervisor asks for.
    fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.wait_for_exit(Duration::from_secs(30))
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
    }

    /// Waits up to `limit` for the process to exit.
    fn wait_for_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for hotcold serve") {
                return status;
            }
            assert!(Instant::now() < deadline, "hotcold serve did not stop within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the process wrote, once it has exited (the readers have reached end of file).
    fn output_after_exit(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&self.output) > 1 {
            assert!(Instant::now() < deadline, "the output of hotcold serve was not closed");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.output.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service credential of every test server: the session routes accept it.
const SERVICE: &str = "service-credential-of-the-tests-0001";
/// The admin credential of every test server: every route accepts it.
const ADMIN: &str = "admin-credential-of-the-tests-00001";

/// The `auth` block of [`config_text`]: two credential files (written once per test process),
/// with a comment and a blank line each, as an operator would write them.
fn auth_block() -> &'static str {
    static BLOCK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| {
        let dir = common::scratch_dir("serve", "credentials");
        let service = dir.join("service-credentials");
        let admin = dir.join("admin-credentials");
        std::fs::write(&service, format!("# the API gateway\n\n{SERVICE}\n")).expect("write credentials");
        std::fs::write(&admin, format!("# operators\n{ADMIN}\n\n")).expect("write credentials");
        format!(
            "auth:\n  service_credentials_file: {}\n  admin_credentials_file: {}\n",
            service.display(),
            admin.display()
        )
    })
}

/// The config of a 3-region deployment serving us-east-1: fresh key prefix and tables, a
/// 2-second demotion threshold and a 1-second sync interval so demotion happens within a test,
/// and the test credentials ([`SERVICE`], [`ADMIN`]).
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
dynamodb: {{ endpoint: {dynamodb}, sessions_table: {table}-sessions, audit_table: {table}-audit, analytics_table: {table}-analytics, create_tables: true }}
{}",
        redis_urls[0],
        redis_urls[1],
        redis_urls[2],
        auth_block()
    )
}

fn shared_redis_urls() -> Vec<String> {
    let urls: Vec<String> = env("HOTCOLD_REDIS_URLS").split(',').map(str::to_string).collect();
    assert_eq!(urls.len(), 3, "HOTCOLD_REDIS_URLS must list 3 servers");
    urls
}

/// Starts `hotcold serve` on `config` and waits for its "listening on" line.
fn start(config: &str, label: &str) -> Server {
    start_with_env(config, label, &[])
}

/// [`start`] with extra environment variables; stdout and stderr are kept in [`Server::output`].
fn start_with_env(config: &str, label: &str, vars: &[(&str, &str)]) -> Server {
    let dir = common::scratch_dir("serve", label);
    let path = dir.join("serve.yaml");
    std::fs::write(&path, config).expect("write config");
    let mut child = common::hotcold()
        .args(["serve", "--config"])
        .arg(&path)
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hotcold serve");
    let output = Arc::new(Mutex::new(Vec::new()));
    // Keep draining stdout so the server never blocks on a full pipe.
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let kept = Arc::clone(&output);
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            kept.lock().unwrap_or_else(PoisonError::into_inner).push(format!("stdout: {line}"));
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        output.lock().unwrap_or_else(PoisonError::into_inner).push(line.clone());
        if let Some(address) = line.split("listening on http://").nth(1) {
            let address = address.trim().to_string();
            // Keep draining stderr too.
            let kept = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    kept.lock().unwrap_or_else(PoisonError::into_inner).push(line);
                }
            });
            return Server { child, address, output };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "hotcold serve did not start; output:\n{}",
        output.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    );
}

/// The credential a well-behaved caller sends: the service one on the session routes, the admin
/// one elsewhere.
fn credential_for(path: &str) -> &'static str {
    if path.starts_with("/v1/sessions") { SERVICE } else { ADMIN }
}

/// One HTTP/1.1 request with the credential its route needs; answers the status and the body.
fn http(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let answer = request(&server.address, method, path, body.map(str::as_bytes), Some(credential_for(path)));
    (answer.status, answer.body)
}

/// An HTTP answer: status, head (status line and headers) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if the answer has it.
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }
}

/// The head of a request, `credential` (if any) as a bearer token.
fn request_head(address: &str, method: &str, path: &str, length: usize, credential: Option<&str>) -> String {
    let authorization = credential.map(|c| format!("Authorization: Bearer {c}\r\n")).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// Reads an answer to its end (the requests say `Connection: close`).
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer { status, head: head.to_string(), body: body.to_string() }
}

/// One HTTP/1.1 request sending `credential` (none: no `Authorization` header).
fn request(address: &str, method: &str, path: &str, body: Option<&[u8]>, credential: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(address).expect("connect to hotcold serve");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let body = body.unwrap_or_default();
    stream.write_all(request_head(address, method, path, body.len(), credential).as_bytes()).expect("send head");
    // The server may answer (400 for a body too large) before reading all of it.
    let _ = stream.write_all(body);
    read_answer(&mut stream)
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

/// The value of the sample `series` (name and labels, exactly) in `/metrics`, if there is one.
fn metric_sample(server: &Server, series: &str) -> Option<f64> {
    let (status, text) = http(server, "GET", "/metrics", None);
    assert_eq!(status, 200, "{text}");
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The value of the sample `series`; a series missing from `/metrics` fails the test (a renamed
/// metric or label must not read as 0).
fn metric(server: &Server, series: &str) -> f64 {
    metric_sample(server, series).unwrap_or_else(|| panic!("{series} missing from /metrics"))
}

/// Polls `/metrics` until the sync job has demoted at least `count` sessions (60 s at most).
fn wait_for_demotions(server: &Server, count: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    // The series appears with the first demotion.
    while metric_sample(server, "hotcold_sync_sessions_total{what=\"demoted\"}").unwrap_or(0.0) < count {
        assert!(Instant::now() < deadline, "fewer than {count} demotions within 60 s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The backends `/readyz` checks for the 3-region configs of these tests.
const READY_CHECKS: [&str; 4] = ["redis us-east-1", "redis eu-west-1", "redis ap-southeast-1", "dynamodb"];

/// Asserts `/readyz`'s `checks`: exactly the backends of [`READY_CHECKS`], each `"ok"` except those
/// of `down`, whose message must contain the given words (a missing key is no pass).
fn assert_checks(ready: &str, down: &[(&str, &str)]) {
    let checks = json_of(ready)["checks"].as_object().cloned().unwrap_or_else(|| panic!("no checks: {ready}"));
    let mut names: Vec<&str> = checks.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = READY_CHECKS.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "{ready}");
    for name in READY_CHECKS {
        let state = checks[name].as_str().unwrap_or_else(|| panic!("{name}: not a string in {ready}"));
        match down.iter().find(|(n, _)| *n == name) {
            Some((_, words)) => {
                assert!(state != "ok" && state.contains(words), "{name}: {state:?} should say {words:?}")
            }
            None => assert_eq!(state, "ok", "{name} in {ready}"),
        }
    }
}

#[test]
fn a_session_lives_its_whole_life_through_the_api() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "life");
    assert_eq!(http(&server, "GET", "/healthz", None).0, 200);
    let (status, ready) = http(&server, "GET", "/readyz", None);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(json_of(&ready)["ready"], true);
    assert_checks(&ready, &[]);

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
    wait_for_demotions(&server, 1.0);
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
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(listed["next_cursor"], Value::Null, "{listed}");
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
    // Samples, not just their # HELP lines: a gauge never set must not pass.
    for gauge in [
        "hotcold_sessions{region=\"us-east-1\",tier=\"hot\"}",
        "hotcold_sessions{region=\"\",tier=\"cold\"}",
        "hotcold_sync_lag_seconds",
    ] {
        assert!(metric(&server, gauge) >= 0.0, "{gauge}");
    }
    assert!(metric(&server, "hotcold_sync_passes_total{result=\"ok\"}") >= 1.0);
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
            Some("{\"user_id\": \"bob\", \"data\": {}, \"home\": \"mars-1\"}".into()),
            "not a configured region",
        ),
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
    // half-done to lose (the call can be repeated); a 503 says when to retry.
    let erase = request(&server.address, "POST", &format!("/v1/users/{user}/erase"), None, Some(ADMIN));
    assert_eq!(erase.header("retry-after").as_deref(), Some("1"), "{erase:?}");
    assert_error((erase.status, erase.body), 503, "redis us-east-1");
    // Its newest state existed only in the failed Redis: lost with the region, as on_demotion
    // says (CONTRACT section 4), so the client signs in again.
    assert_error(http(&server, "GET", &format!("/v1/sessions/{hot_only}"), None), 404, "no such session");
    let (status, ready) = http(&server, "GET", "/readyz", None);
    assert_eq!(status, 503, "{ready}");
    assert_eq!(json_of(&ready)["ready"], false, "{ready}");
    assert_checks(&ready, &[("redis us-east-1", "redis us-east-1 unavailable")]);
    // The scrape checks readiness too, for the alert rules (deploy/README.md).
    assert_eq!(metric(&server, "hotcold_ready{region=\"us-east-1\"}"), 0.0);
    // A new session goes to DynamoDB only while its home hot tier is down, and is served from there.
    let (status, body) =
        http(&server, "POST", "/v1/sessions", Some(&json!({ "user_id": user, "data": 2 }).to_string()));
    assert_eq!((status, json_of(&body)["tier"].as_str()), (201, Some("cold")), "{body}");
    let cold_created = json_of(&body)["token"].as_str().expect("token").to_string();
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{cold_created}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("cold")), "{body}");
    assert_eq!(metric(&server, "hotcold_requests_total{op=\"erase\",outcome=\"unavailable\"}"), 1.0);
    assert_eq!(metric(&server, "hotcold_lookup_duration_seconds_count{region=\"us-east-1\",tier=\"cold\"}"), 1.0);

    // Redis returns empty (no persistence): the store reconnects without a restart of the service.
    let _redis = OwnRedis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(&server, "GET", "/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "not ready again within 30 s of Redis returning");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(metric(&server, "hotcold_ready{region=\"us-east-1\"}"), 1.0);
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{cold_created}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("promoted")), "{body}");
    assert_eq!(json_of(&body)["data"], json!(2));
    // The hot-only session stays lost: the returning Redis is empty.
    assert_error(http(&server, "GET", &format!("/v1/sessions/{hot_only}"), None), 404, "no such session");
    create(&server, &user, &json!({ "step": 3 }));
}

/// service.md: start-up needs this region's Redis and DynamoDB (another region's Redis may be
/// down: `another_regions_redis_down_...` below).
#[test]
fn start_up_fails_with_exit_1_naming_the_backend_that_is_down() {
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let mut urls = shared_redis_urls();
    urls[0] = dead;
    let dir = common::scratch_dir("serve", "down");
    let path = dir.join("serve.yaml");
    std::fs::write(&path, config_text(&urls, &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion")).expect("write");
    let output = common::hotcold().args(["serve", "--config"]).arg(&path).output().expect("run hotcold serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redis us-east-1"), "{stderr}");

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

/// `hotcold load SCENARIO --speedup 60 --config CONFIG --out OUT`, run to its end.
fn load_at_60x(scenario: &str, config: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    common::hotcold()
        .args(["load", scenario, "--speedup", "60", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run hotcold load")
}

fn summary_of(dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    json_of(&text)
}

/// The figures `load` and `simulate` are compared on, per session created, and their place in
/// `summary.json`.
const COMPARED: [(&str, &[&str]); 6] = [
    ("hot_hits", &["sessions", "hot_hits"]),
    ("demoted", &["sessions", "demoted"]),
    ("cold_promotions", &["sessions", "cold_promotions"]),
    ("hot_avg", &["hot_cold", "hot_avg"]),
    ("wru", &["dynamodb", "wru"]),
    ("rru", &["dynamodb", "rru"]),
];

/// The seeds whose spread the live run is judged against: 20 seeds other than the scenario's own
/// (11), so the reference does not contain the draw it judges.
const SPREAD_SEEDS: [u64; 20] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
/// The live figure must lie within mean ± K·sd of those seeds.
const SPREAD_K: f64 = 3.5;
/// The live figure and `simulate` on the scenario's own seed (the same traffic, draw for draw) must
/// differ by at most PAIRED_K·sd of the seed-to-seed spread.
const PAIRED_K: f64 = 2.0;

/// `hotcold simulate SCENARIO --shards 1 --set seed=N` for each seed, two at a time (one shard:
/// the traffic of each seed itself, as `load` draws it); answers each run's `summary.json` and
/// `run.json` counts in the order of `seeds`.
fn simulate_seeds(scenario: &std::path::Path, seeds: &[u64]) -> Vec<(Value, Value)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![(Value::Null, Value::Null); seeds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seed) = seeds.get(i) else { break };
                    let dir = common::scratch_dir("load", &format!("sim-{seed}"));
                    let output = common::hotcold()
                        .arg("simulate")
                        .arg(scenario)
                        .args(["--shards", "1", "--quiet", "--set"])
                        .arg(format!("seed={seed}"))
                        .arg("--out")
                        .arg(&dir)
                        .output()
                        .expect("run hotcold simulate");
                    assert!(output.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&output.stderr));
                    let summary = summary_of(&dir);
                    assert_eq!(summary["seed"], *seed, "--set seed={seed} was not applied");
                    let counts = run_counts(&dir);
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = (summary, counts);
                    let _ = std::fs::remove_dir_all(&dir);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `counts` of a run directory's `run.json` (they include `visits` and `updates`).
fn run_counts(dir: &std::path::Path) -> Value {
    json_of(&std::fs::read_to_string(dir.join("run.json")).expect("run.json"))["counts"].clone()
}

/// A figure of `summary.json` per session created.
fn per_created(summary: &Value, path: &[&str]) -> f64 {
    let number = |path: &[&str]| path.iter().fold(summary, |v, k| &v[*k]).as_f64();
    let figure = number(path).unwrap_or_else(|| panic!("{path:?} missing from {summary}"));
    let created = number(&["sessions", "created"]).filter(|c| *c > 0.0).expect("sessions created");
    figure / created
}

fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance.sqrt())
}

/// `load` against live backends, judged against `simulate` with stated power.
///
/// Per session created, for each figure of [`COMPARED`]:
///
/// - **Spread**: the live figure lies within mean ± 3.5 sd of `simulate` on 20 other seeds. The
///   live run's traffic is the scenario's seed 11, one draw of the model: it sits where that seed
///   sits (at most 2.1 sd from the mean, for WRU; table in docs/validation.md, "Statistical power
///   of the load check"), plus the drift real timing adds (up to 1.1 sd measured on the loaded
///   2-core machine). 3.5 sd leaves at least 1.3 sd for that; with 20 seeds the sd is known to
///   about ±16 %, and a seed drawn at random falls outside 3.5 sd about 0.3 % of the time (t with
///   19 degrees of freedom).
/// - **Paired**: the live figure and `simulate` on seed 11 itself (the same traffic, draw for draw)
///   differ by at most 2 sd of the seed-to-seed spread: only real timing separates them (measured:
///   up to 1.1 sd for demotions and the hot average, under 0.7 sd for the others).
///
/// Power: the smallest relative bias caught from the mean is k·sd/mean. Measured 2026-11-30 (debug
/// build), sd/mean was hot_hits 4.2 %, demoted 4.4 %, cold_promotions 9.2 %, hot_avg 3.9 %, wru
/// 7.4 %, rru 9.7 %: the spread check (k = 3.5) catches biases of 15 %, 16 %, 32 %, 14 %, 26 % and
/// 34 %, the paired one (k = 2) 8 %, 9 %, 18 %, 8 %, 15 % and 19 %. 60 % too many promotions is
/// 6.5 sd on seed 11: 3 sd past the spread bound, and past the paired one by 3.4 sd more than the
/// largest timing drift seen, so it is caught every time. The bug behind that figure (Redis
/// recording accesses every 10 s of wall time, not capped to 1/180 of the compressed threshold)
/// gives +31 % promotions on this scenario, and fails this test on four figures.
#[test]
fn load_drives_the_scenario_against_live_backends_and_agrees_with_simulate() {
    let config =
        write_config("run", &config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"));
    let live_dir = common::scratch_dir("load", "live");
    let output = load_at_60x("scenarios/load-smoke.yaml", &config, &live_dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("hotcold load: load-smoke"), "{stdout}");
    for file in ["summary.json", "run.json", "report.html", "costs.csv", "timeseries.csv", "scenario.resolved.yaml"] {
        assert!(live_dir.join(file).is_file(), "{file} missing from the run directory");
    }
    let live = summary_of(&live_dir);
    let seed = live["seed"].as_u64().expect("seed in summary.json");
    assert!(!SPREAD_SEEDS.contains(&seed), "the reference seeds must not include the live run's seed {seed}");
    // Simulated after the live run, so they take no CPU from its timing. One shard: the traffic of
    // each seed itself, as `load` draws it.
    let mut seeds = vec![seed];
    seeds.extend(SPREAD_SEEDS);
    let mut simulated = simulate_seeds(std::path::Path::new("scenarios/load-smoke.yaml"), &seeds);
    let spread: Vec<Value> = simulated.split_off(1).into_iter().map(|(summary, _)| summary).collect();
    let (same_seed, sim_counts) = simulated.pop().expect("the same seed's run");

    // The same traffic generator, the same seed and the same order of draws: the same traffic,
    // exactly (no draw depends on what the backends answer, and `load` draws in scenario-time
    // order). Sessions created include re-creates after a session expired, which the backends
    // decide, on the same timestamps.
    // Every failure is collected and reported together.
    let mut failures = Vec::new();
    let live_counts = run_counts(&live_dir);
    for key in ["requests", "visits", "created", "updates", "logged_out"] {
        assert!(live_counts[key].as_u64().is_some_and(|n| n > 0), "{key} missing or 0: {live_counts}");
        if live_counts[key] != sim_counts[key] {
            failures.push(format!("{key}: load {}, simulate {}", live_counts[key], sim_counts[key]));
        }
    }

    for (name, path) in COMPARED {
        let reference: Vec<f64> = spread.iter().map(|s| per_created(s, path)).collect();
        let (mean, sd) = mean_and_sd(&reference);
        assert!(sd > 0.0 && mean > 0.0, "{name}: no spread across seeds ({reference:?})");
        let (l, s) = (per_created(&live, path), per_created(&same_seed, path));
        let line = format!(
            "{name} per session created: load {l:.4}, simulate seed {seed} {s:.4}, {} seeds {mean:.4} ± {sd:.4} \
             (load at {:+.2} sd, paired difference {:+.2} sd)",
            SPREAD_SEEDS.len(),
            (l - mean) / sd,
            (l - s) / sd
        );
        eprintln!("{line}");
        if (l - mean).abs() > SPREAD_K * sd {
            failures.push(format!("outside mean ± {SPREAD_K} sd: {line}"));
        }
        if (l - s).abs() > PAIRED_K * sd {
            failures.push(format!("paired difference over {PAIRED_K} sd: {line}"));
        }
    }
    assert!(
        failures.is_empty(),
        "load disagrees with simulate:\n{}\nload {live_counts}\nsimulate {sim_counts}",
        failures.join("\n")
    );
    let number = |v: &Value, path: &[&str]| path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);
    assert_eq!(number(&live, &["sessions", "lost"]), 0.0, "{live}");
    assert_eq!(number(&live, &["availability"]), 1.0, "{live}");
    assert!(number(&live, &["latency_ms", "hot_access", "p50"]) > 0.0, "{live}");
}

/// `hotcold calibrate --metrics http://.../metrics` reads a live `/metrics` page with the admin
/// credential from `HOTCOLD_ADMIN_TOKEN`: without it (or with the service credential) the
/// server's 401 (403) is the error, naming the variable; with it the Redis histogram is fitted
/// (150 hot reads) and the command refuses, exit 2, for DynamoDB, which these requests never
/// called (creates on demotion durability write nothing there).
#[test]
fn calibrate_reads_a_live_metrics_page_with_the_admin_credential() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let server = start(&text, "calibrate-metrics");
    let token = create(&server, "calibrated-user", &json!({ "cart": [1, 2] }));
    for _ in 0..150 {
        let (status, body) = http(&server, "GET", &format!("/v1/sessions/{token}"), None);
        assert_eq!(status, 200, "{body}");
    }
    let url = format!("http://{}/metrics", server.address);
    let out = common::scratch_dir("serve", "calibrate-metrics").join("fitted.yaml");
    let calibrate = |credential: Option<&str>| {
        let mut command = common::hotcold();
        command.args(["calibrate", "--metrics", &url, "--base", "scenarios/calibration-base.yaml", "--out"]).arg(&out);
        command.env_remove("HOTCOLD_ADMIN_TOKEN");
        if let Some(credential) = credential {
            command.env("HOTCOLD_ADMIN_TOKEN", credential);
        }
        command.output().expect("run hotcold calibrate")
    };
    for (credential, status) in [(None, "401"), (Some(SERVICE), "403")] {
        let output = calibrate(credential);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(status) && stderr.contains("HOTCOLD_ADMIN_TOKEN"), "{stderr}");
    }
    let output = calibrate(Some(ADMIN));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot fit latency.dynamodb"), "the Redis histogram was read and fitted first: {stderr}");
    assert!(!out.exists(), "nothing written when a fit is refused");
}

/// The seeds the calibrated scenario is simulated on to judge the live run against.
const CALIBRATED_SEEDS: [u64; 8] = [101, 102, 103, 104, 105, 106, 107, 108];
/// The live count must lie within mean ± K·sd of the calibrated scenario's seeds.
const CALIBRATED_K: f64 = 4.0;

/// Issue 22's live round trip: a `load` run against the test servers, calibrated from its own
/// analytics export and `/metrics` histograms (`metrics.prom`, written by `load`), then simulated:
/// the calibrated plan's lifecycle counts against the live run's.
///
/// The tolerance: the live count is one draw of its traffic (sd s, about the seed-to-seed sd of
/// the calibrated scenario, measured here on 8 seeds), and the calibrated scenario's mean is off
/// the true one by the fits' error, which rests on the same ~1,100 sessions and so is of the
/// same order (the rate's Poisson error is about s for `created`): the difference has an sd of
/// about 1.4 s, and 4 s is 2.8 of those (0.5 % two-sided), with the sd itself known to about
/// ±25 % from 8 seeds. A calibration that ignored the export (the base's 1 session a day) or
/// mis-scaled the times by the speedup (visits merged, returns lost) is off by far more.
#[test]
fn a_load_run_calibrated_from_its_own_export_and_metrics_simulates_to_its_lifecycle() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let config = write_config("calibrate", &text);
    let live_dir = common::scratch_dir("load", "calibrate-live");
    let output = load_at_60x("scenarios/calibration-load.yaml", &config, &live_dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metrics = live_dir.join("metrics.prom");
    assert!(metrics.is_file(), "load writes the run's /metrics exposition as metrics.prom");
    let export = live_dir.join("analytics.parquet");
    let output = common::hotcold()
        .args(["analytics", "export", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&export)
        .output()
        .expect("run hotcold analytics export");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The base: the scenario with its traffic cut off (every traffic value but the regions'
    // flat curves must come from the export).
    let scenario = std::fs::read_to_string("scenarios/calibration-load.yaml").expect("scenario");
    let head = &scenario[..scenario.find("\ntraffic:").expect("traffic: comes last")];
    let base = format!(
        "{head}\ntraffic:\n  regions:\n    us-east-1: {{ sessions_per_day: 1, peak_to_trough: 1.0 }}\n    eu-west-1: {{ \
         sessions_per_day: 1, peak_to_trough: 1.0 }}\n    ap-southeast-1: {{ sessions_per_day: 1, peak_to_trough: 1.0 \
         }}\n"
    );
    let base_path = live_dir.join("base.yaml");
    std::fs::write(&base_path, base).expect("write base");
    let fitted = live_dir.join("fitted.yaml");
    let output = common::hotcold()
        .args(["calibrate", "--analytics"])
        .arg(&export)
        .arg("--metrics")
        .arg(&metrics)
        .arg("--base")
        .arg(&base_path)
        .args(["--speedup", "60", "--out"])
        .arg(&fitted)
        .output()
        .expect("run hotcold calibrate");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{printed}");
    for key in ["latency.redis", "latency.dynamodb", "traffic.visit.requests", "traffic.returns.gap"] {
        assert!(printed.contains(key), "{key} fitted:\n{printed}");
    }

    let live = summary_of(&live_dir);
    let runs: Vec<Value> = simulate_seeds(&fitted, &CALIBRATED_SEEDS).into_iter().map(|(summary, _)| summary).collect();
    let mut failures = Vec::new();
    for count in ["created", "cold_promotions", "demoted", "logged_out", "hot_hits"] {
        let of = |summary: &Value| summary["sessions"][count].as_f64().unwrap_or_else(|| panic!("{count}: {summary}"));
        let simulated: Vec<f64> = runs.iter().map(of).collect();
        let (mean, sd) = mean_and_sd(&simulated);
        let l = of(&live);
        let line = format!(
            "sessions.{count}: load {l}, calibrated plan {mean:.1} ± {sd:.1} over {} seeds ({:+.2} sd, {:+.1} %)",
            CALIBRATED_SEEDS.len(),
            (l - mean) / sd,
            100.0 * (l / mean - 1.0)
        );
        eprintln!("{line}");
        assert!(sd > 0.0, "{count}: no spread across seeds ({simulated:?})");
        if (l - mean).abs() > CALIBRATED_K * sd {
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "the calibrated plan disagrees with the live run:\n{}", failures.join("\n"));
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
    let pinned = write_config("refuse-3", &text.replace("listen:", "residency: { eu-west-1: [eu-west-1] }\nlisten:"));
    let cases: [(&str, &str, &std::path::Path, &str); 5] = [
        ("scenarios/tiny.yaml", "60", &config, "faults"),
        ("scenarios/load-smoke.yaml", "60", &pinned, "`residency:` is not supported by `load`"),
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

/// A DynamoDB Local of the test's own (HOTCOLD_DYNAMODB_LOCAL_CMD, as `scripts/services.sh` starts
/// one), killed when dropped. Pausing it (SIGSTOP) makes it unreachable without losing its
/// in-memory tables, so it comes back as it was.
struct OwnDynamo {
    child: Child,
    port: u16,
}

impl OwnDynamo {
    fn start() -> Self {
        Self::start_command(&env("HOTCOLD_DYNAMODB_LOCAL_CMD"))
    }

    /// A DynamoDB Local without `-sharedDb`: one database per region (and access key), as AWS
    /// keeps a table in each region apart, so a table made through one region is missing in another.
    fn start_per_region() -> Self {
        let command = env("HOTCOLD_DYNAMODB_LOCAL_CMD");
        assert!(command.contains(" -sharedDb"), "HOTCOLD_DYNAMODB_LOCAL_CMD passes -sharedDb: {command}");
        Self::start_command(&command.replace(" -sharedDb", ""))
    }

    fn start_command(command: &str) -> Self {
        let port = free_port();
        let child = Command::new("sh")
            .args(["-c", command, "sh", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start DynamoDB Local");
        let mut own = Self { child, port };
        // Java starts slowly on a loaded machine: poll until it answers HTTP.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !own.answers_http() {
            if let Ok(Some(status)) = own.child.try_wait() {
                panic!("DynamoDB Local on port {port} exited at start ({status})");
            }
            assert!(Instant::now() < deadline, "DynamoDB Local did not answer on port {port} within 120 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        own
    }

    fn answers_http(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port);
        let mut answer = [0u8; 12];
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && answer.starts_with(b"HTTP/1.")
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} DynamoDB Local");
    }
}

impl Drop for OwnDynamo {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The command records its pid and port under the services' pid directory, when there is one.
        if let Ok(dir) = std::env::var("HOTCOLD_SERVICES_DIR") {
            for file in [format!("pids/dynamodb-{}.pid", self.port), format!("pids/dynamodb-{}.port", self.port)] {
                let _ = std::fs::remove_file(std::path::Path::new(&dir).join(file));
            }
        }
    }
}

/// service.md, "Start-up, outages and shutdown": after start-up "the service keeps running: what
/// needs the missing backend answers 503, `/readyz` says which backend is down, and the stores
/// reconnect when it returns". Here DynamoDB goes away (frozen, so its tables survive) and comes
/// back.
#[test]
fn a_dynamodb_outage_after_start_up_answers_503_for_what_needs_it_and_recovers() {
    let dynamo = OwnDynamo::start();
    let server = start(&config_text(&shared_redis_urls(), &dynamo.endpoint(), "on_demotion"), "ddb-outage");
    let user = unique("dora");
    // A session the sync job moves to DynamoDB, then one that is hot when DynamoDB goes away.
    let cold = create(&server, &user, &json!({ "tier": "cold" }));
    wait_for_demotions(&server, 1.0);
    let hot = create(&server, &user, &json!({ "tier": "hot" }));

    dynamo.signal("-STOP");
    let (status, ready) = http(&server, "GET", "/readyz", None);
    assert_eq!(status, 503, "{ready}");
    assert_eq!(json_of(&ready)["ready"], false, "{ready}");
    assert_checks(&ready, &[("dynamodb", "dynamodb unavailable")]);
    // What needs DynamoDB answers 503 naming it: a cold session's lookup, erasing a user.
    assert_error(http(&server, "GET", &format!("/v1/sessions/{cold}"), None), 503, "dynamodb unavailable");
    assert_error(http(&server, "POST", &format!("/v1/users/{user}/erase"), None), 503, "dynamodb unavailable");
    // What needs only Redis still works: a hot lookup, an update, a new session (on_demotion
    // writes DynamoDB only when the sync job demotes).
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{hot}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("hot")), "{body}");
    let update = json!({ "data": { "tier": "hot", "n": 2 }, "version": 1 }).to_string();
    let (status, body) = http(&server, "PUT", &format!("/v1/sessions/{hot}"), Some(&update));
    assert_eq!((status, json_of(&body)["version"].as_u64()), (200, Some(2)), "{body}");
    let during = create(&server, &user, &json!({ "during": true }));
    assert!(metric(&server, "hotcold_requests_total{op=\"get\",outcome=\"unavailable\"}") >= 1.0);
    assert!(server.child.id() > 0 && http(&server, "GET", "/healthz", None).0 == 200, "still alive");

    // DynamoDB returns: ready again without a restart, and the cold session is served.
    dynamo.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, ready) = http(&server, "GET", "/readyz", None);
        if status == 200 {
            assert_checks(&ready, &[]);
            break;
        }
        assert!(Instant::now() < deadline, "not ready within 60 s of DynamoDB returning: {ready}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{cold}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (json_of(&body)["tier"].as_str(), json_of(&body)["data"].clone()),
        (Some("promoted"), json!({ "tier": "cold" }))
    );
    let (status, body) = http(&server, "POST", &format!("/v1/users/{user}/erase"), None);
    assert_eq!((status, json_of(&body)["erased"].as_u64()), (200, Some(3)), "{body}");
    for token in [&cold, &hot, &during] {
        assert_error(http(&server, "GET", &format!("/v1/sessions/{token}"), None), 404, "no such session");
    }
    assert_eq!(server.terminate().code(), Some(0));
}

/// service.md: on "SIGINT or SIGTERM" the service "stops accepting, finishes requests in flight and
/// exits 0". The request in flight is a create whose body is still arriving when SIGINT comes: it
/// cannot finish before the test sends the rest, whatever the machine's speed.
#[test]
fn sigint_finishes_the_requests_in_flight_stops_accepting_and_exits_0() {
    let mut server =
        start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "write_through"), "sigint");
    let user = unique("ivan");
    let body = json!({ "user_id": user, "data": { "in_flight": true } }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&server.address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let head = request_head(&server.address, "POST", "/v1/sessions", body.len(), Some(SERVICE));
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(first.as_bytes()).expect("send half the body");
    stream.flush().expect("flush");
    // Give the server ample time to read the head (it has nothing else to do); any longer is fine.
    std::thread::sleep(Duration::from_secs(2));
    server.signal("-INT");

    // It stops accepting: new connections are refused (polled: the signal takes effect soon, not at once).
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&server.address).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 30 s after SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    }
    // ... but is still running, waiting for the request in flight.
    std::thread::sleep(Duration::from_secs(1));
    assert!(server.child.try_wait().expect("try_wait").is_none(), "exited with a request in flight");

    stream.write_all(rest.as_bytes()).expect("send the rest of the body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 201"), "the request in flight was not answered: {answer:?}");
    let created = json_of(body);
    assert_eq!(created["tier"], "hot", "{body}");
    assert!(created["token"].as_str().is_some_and(|t| t.ends_with(".us-east-1")), "{body}");

    let status = server.wait_for_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "SIGINT is a clean stop: {status}");
    let output = server.output_after_exit();
    assert!(output.lines().last().is_some_and(|l| l.contains("stopped")), "{output}");
}

/// service.md: "Tokens never appear in logs, errors or metrics. The service logs two lines: the
/// address it listens on and that it stopped." Run with every log filter turned up, through a
/// session's life and the errors that concern a token (404 for a made-up one, 409, 400 for a
/// malformed one, 503 with its backend down), then scanned for tokens in clear.
#[test]
fn tokens_never_appear_in_logs_errors_or_metrics() {
    let port = free_port();
    let mut redis = OwnRedis::start_on(port);
    let mut urls = shared_redis_urls();
    urls[0] = format!("redis://127.0.0.1:{port}");
    let verbose = [("RUST_LOG", "trace"), ("RUST_BACKTRACE", "full"), ("AWS_LOG_LEVEL", "trace")];
    let mut server =
        start_with_env(&config_text(&urls, &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "tokens", &verbose);
    let user = unique("tess");
    let mut tokens = Vec::new();
    let answers = std::cell::RefCell::new(Vec::new());
    let answer = |server: &Server, method: &str, path: &str, body: Option<&str>| {
        let got = http(server, method, path, body);
        // The answer only (the request's path holds the token).
        answers.borrow_mut().push(format!("{method} answered {} {}", got.0, got.1));
        got
    };

    let token = create(&server, &user, &json!({ "cart": [1] }));
    tokens.push(token.clone());
    let secret = token.split('.').next().expect("secret part").to_string();
    // A well-formed token of no session: the same shape, another secret.
    let flipped = if secret.starts_with('A') { 'B' } else { 'A' };
    let made_up = format!("{flipped}{}.us-east-1", &secret[1..]);
    tokens.push(made_up.clone());
    let malformed = format!("{secret}x.us-east-1");
    tokens.push(malformed.clone());
    let wrong_region = format!("{secret}.mars-1");
    tokens.push(wrong_region.clone());

    assert_eq!(answer(&server, "GET", &format!("/v1/sessions/{token}"), None).0, 200);
    let update = json!({ "data": { "cart": [2] }, "version": 1 }).to_string();
    assert_eq!(answer(&server, "PUT", &format!("/v1/sessions/{token}"), Some(&update)).0, 200);
    let conflict = answer(&server, "PUT", &format!("/v1/sessions/{token}"), Some(&update));
    assert_error(conflict, 409, "version conflict");
    assert_error(answer(&server, "GET", &format!("/v1/sessions/{made_up}"), None), 404, "no such session");
    assert_error(answer(&server, "PUT", &format!("/v1/sessions/{made_up}"), Some(&update)), 404, "no such session");
    for bad in [&malformed, &wrong_region] {
        assert_error(answer(&server, "GET", &format!("/v1/sessions/{bad}"), None), 400, "malformed session token");
        assert_error(answer(&server, "DELETE", &format!("/v1/sessions/{bad}"), None), 400, "malformed session token");
    }
    // Demoted and promoted: the sync job's path through both tiers.
    wait_for_demotions(&server, 1.0);
    assert_eq!(answer(&server, "GET", &format!("/v1/sessions/{token}"), None).0, 200);
    let (status, listed) = answer(&server, "GET", &format!("/v1/users/{user}/sessions"), None);
    assert_eq!(status, 200, "{listed}");
    // Its Redis down: a 503 error body, and the backend's error text, must not carry the token either.
    let second = create(&server, &user, &json!(null));
    tokens.push(second.clone());
    redis.stop();
    assert_error(answer(&server, "GET", &format!("/v1/sessions/{second}"), None), 404, "no such session");
    assert_error(answer(&server, "POST", &format!("/v1/users/{user}/erase"), None), 503, "redis us-east-1");
    assert_eq!(answer(&server, "GET", "/readyz", None).0, 503);
    let (status, metrics) = answer(&server, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(metrics.contains("hotcold_requests_total{op=\"get\",outcome=\"not_found\"}"), "{metrics}");

    server.signal("-INT");
    assert_eq!(server.wait_for_exit(Duration::from_secs(30)).code(), Some(0));
    let output = server.output_after_exit();
    // The whole log: the start and stop lines docs/service.md promises, and between them only
    // the audit trail's shutdown line (its outbox, this region's Redis, is down here).
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines.len() >= 2, "the service logs its start and its stop; it wrote:\n{output}");
    assert!(lines[0].contains("listening on http://"), "{output}");
    assert!(lines[lines.len() - 1].contains("stopped"), "{output}");
    assert!(lines[1..lines.len() - 1].iter().all(|l| l.starts_with("hotcold serve: audit: ")), "{output}");

    for credential in [SERVICE, ADMIN] {
        assert!(!output.contains(credential), "a credential in the log:\n{output}");
        assert!(answers.borrow().iter().all(|a| !a.contains(credential)), "a credential in an answer");
    }
    for token in &tokens {
        let secret = token.split('.').next().unwrap_or_default();
        assert!(secret.len() >= 22, "{token}");
        assert!(!output.contains(secret), "a token in the log:\n{output}");
        for answer in answers.borrow().iter() {
            assert!(!answer.contains(secret), "a token in an answer: {answer}");
        }
    }
}

/// Runs `hotcold serve` on `config`, expecting it to exit by itself within 60 s (a config it must
/// refuse); its output. A server that starts instead fails the test rather than hang it.
fn serve_to_exit(config: &str, label: &str) -> std::process::Output {
    let path = common::scratch_dir("serve", label).join("serve.yaml");
    std::fs::write(&path, config).expect("write config");
    let mut child = common::hotcold()
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hotcold serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "hotcold serve did not exit within 60 s: it should have refused the config. Output:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// A credential no test server knows, of the same shape as the real ones.
const UNKNOWN: &str = "admin-credential-of-the-tests-00002";

/// CONTRACT section 5: every `/v1` route needs `Authorization: Bearer <credential>`; session routes
/// take a service or admin credential, user-wide routes and `/metrics` an admin one; missing or
/// unknown is 401 with `WWW-Authenticate: Bearer`, a service credential on an admin route 403; the
/// probes need none. Refused requests change nothing, and no credential reaches the log or the
/// metrics.
#[test]
fn every_v1_route_and_metrics_need_the_right_credential() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "auth");
    let user = unique("ann");
    let other = unique("otto");
    let token = create(&server, &user, &json!({ "n": 1 }));
    let session = format!("/v1/sessions/{token}");
    let create_body = json!({ "user_id": user, "data": { "n": 0 } }).to_string();
    let update_body = json!({ "data": { "n": 2 }, "version": 1 }).to_string();
    let session_routes: [(&str, &str, Option<&str>); 4] = [
        ("POST", "/v1/sessions", Some(&create_body)),
        ("GET", &session, None),
        ("PUT", &session, Some(&update_body)),
        ("DELETE", &session, None),
    ];
    let user_sessions = format!("/v1/users/{user}/sessions");
    let other_sessions = format!("/v1/users/{other}/sessions");
    let other_erase = format!("/v1/users/{other}/erase");
    let admin_routes: [(&str, &str, Option<&str>); 4] = [
        ("GET", &user_sessions, None),
        ("DELETE", &other_sessions, None),
        ("POST", &other_erase, None),
        ("GET", "/metrics", None),
    ];
    let send = |method: &str, path: &str, body: Option<&str>, credential: Option<&str>| {
        request(&server.address, method, path, body.map(str::as_bytes), credential)
    };
    for (method, path, body) in session_routes.iter().chain(&admin_routes) {
        for credential in [None, Some(UNKNOWN), Some(&UNKNOWN[..UNKNOWN.len() - 1]), Some("")] {
            let answer = send(method, path, *body, credential);
            assert_eq!(answer.status, 401, "{method} {path} with {credential:?}: {answer:?}");
            assert!(answer.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{answer:?}");
            assert!(json_of(&answer.body)["error"].as_str().is_some_and(|e| e.contains("credential")), "{answer:?}");
        }
        // The right credential under another scheme is no bearer credential.
        let mut stream = TcpStream::connect(&server.address).expect("connect");
        let head = request_head(&server.address, method, path, 0, None).replacen(
            "\r\n",
            &format!("\r\nAuthorization: Basic {ADMIN}\r\n"),
            1,
        );
        stream.write_all(head.as_bytes()).expect("send");
        assert_eq!(read_answer(&mut stream).status, 401, "{method} {path} with Basic");
    }
    for (method, path, body) in &admin_routes {
        let answer = send(method, path, *body, Some(SERVICE));
        assert_eq!(answer.status, 403, "{method} {path} with the service credential: {answer:?}");
        assert!(json_of(&answer.body)["error"].as_str().is_some_and(|e| e.contains("admin")), "{answer:?}");
    }
    // Nothing refused was done: the session is still at version 1, undeleted.
    let (status, body) = http(&server, "GET", &session, None);
    assert_eq!((status, json_of(&body)["version"].as_u64()), (200, Some(1)), "{body}");

    // The right credentials: service (or admin) on session routes, admin on the others.
    assert_eq!(send("POST", "/v1/sessions", Some(&create_body), Some(SERVICE)).status, 201);
    assert_eq!(send("POST", "/v1/sessions", Some(&create_body), Some(ADMIN)).status, 201);
    assert_eq!(send("GET", &session, None, Some(ADMIN)).status, 200, "admin includes service");
    let updated = send("PUT", &session, Some(&update_body), Some(SERVICE));
    assert_eq!((updated.status, json_of(&updated.body)["version"].as_u64()), (200, Some(2)), "{updated:?}");
    let listed = send("GET", &user_sessions, None, Some(ADMIN));
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(json_of(&listed.body)["sessions"].as_array().map(Vec::len), Some(3), "{listed:?}");
    assert_eq!(send("DELETE", &other_sessions, None, Some(ADMIN)).status, 200);
    assert_eq!(send("POST", &other_erase, None, Some(ADMIN)).status, 200);
    assert_eq!(send("DELETE", &session, None, Some(SERVICE)).status, 204);
    // The probes need nothing.
    assert_eq!(send("GET", "/healthz", None, None).status, 200);
    assert_eq!(send("GET", "/readyz", None, None).status, 200);

    let metrics = send("GET", "/metrics", None, Some(ADMIN));
    assert_eq!(metrics.status, 200);
    // 8 routes x 5 refusals without a known credential, 4 admin routes refused the service one.
    assert_eq!(metric(&server, "hotcold_requests_rejected_total{reason=\"unauthenticated\"}"), 40.0);
    assert_eq!(metric(&server, "hotcold_requests_rejected_total{reason=\"forbidden\"}"), 4.0);
    assert!(!metrics.body.contains(SERVICE) && !metrics.body.contains(ADMIN), "a credential in /metrics");
    assert_eq!(server.terminate().code(), Some(0));
}

/// CONTRACT section 5: "A config without `auth` does not start (exit 2 naming the key) unless it
/// says `auth: { disabled: true }`, which the start-up line then warns about"; a credentials file
/// with no credential is refused the same way.
#[test]
fn serve_refuses_a_config_without_credentials_unless_auth_is_disabled() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let output = serve_to_exit(&text.replace(auth_block(), ""), "bare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("auth: missing"), "{stderr}");

    let dir = common::scratch_dir("serve", "empty-credentials");
    let empty = dir.join("service-credentials");
    std::fs::write(&empty, "# nobody yet\n\n").expect("write");
    let from = auth_block().find("service_credentials_file: ").expect("key") + "service_credentials_file: ".len();
    let to = from + auth_block()[from..].find('\n').expect("line end");
    let with_empty = text.replace(&auth_block()[from..to], &empty.display().to_string());
    let output = serve_to_exit(&with_empty, "empty");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("auth.service_credentials_file") && stderr.contains("no credential"), "{stderr}");

    let server = start(&text.replace(auth_block(), "auth: { disabled: true }\n"), "open");
    let first = server.output.lock().unwrap_or_else(PoisonError::into_inner).join("\n");
    assert!(first.contains("WARNING") && first.contains("auth disabled"), "the start-up line must warn: {first}");
    let user = unique("nina");
    let answer = request(
        &server.address,
        "POST",
        "/v1/sessions",
        Some(json!({ "user_id": user, "data": 1 }).to_string().as_bytes()),
        None,
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(request(&server.address, "GET", &format!("/v1/users/{user}/sessions"), None, None).status, 200);
    assert_eq!(request(&server.address, "GET", "/metrics", None, None).status, 200);
    assert_eq!(server.terminate().code(), Some(0));
}

/// Sends the head and half the body of a create, so the request is in flight until the rest
/// comes (or the server gives up on it); the stream and the rest of the body.
fn half_sent_create(server: &Server) -> (TcpStream, String) {
    let body = json!({ "user_id": unique("slow"), "data": { "slow": true } }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&server.address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let head = request_head(&server.address, "POST", "/v1/sessions", body.len(), Some(SERVICE));
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(first.as_bytes()).expect("send half the body");
    stream.flush().expect("flush");
    (stream, rest.to_string())
}

/// CONTRACT section 5: "A request that is not answered within `limits.request_timeout` answers
/// 503", with `Retry-After`. The slow request is one whose body stops halfway: nothing the server
/// does can answer it in time, whatever the machine's speed.
#[test]
fn a_request_not_answered_within_the_request_timeout_answers_503_with_retry_after() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let server = start(&format!("{text}limits: {{ request_timeout: 1s }}\n"), "timeout");
    let (mut stream, _) = half_sent_create(&server);
    let started = Instant::now();
    let answer = read_answer(&mut stream);
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after").as_deref(), Some("1"), "{answer:?}");
    assert_error((answer.status, answer.body.clone()), 503, "request timeout");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(10), "answered after {took:?}");
    // Prompt requests are still served.
    create(&server, &unique("tom"), &json!(1));
    assert_eq!(metric(&server, "hotcold_requests_rejected_total{reason=\"timeout\"}"), 1.0);
}

/// CONTRACT section 5: "more than `limits.max_in_flight` requests at once answer 503 at once" (not
/// queued behind the one in flight), with `Retry-After`; the one in flight is not disturbed.
#[test]
fn more_requests_than_max_in_flight_answer_503_at_once() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let server = start(&format!("{text}limits: {{ max_in_flight: 1, request_timeout: 60s }}\n"), "in-flight");
    let (mut slow, rest) = half_sent_create(&server);
    // Ample time for the server to read the head and take the only slot.
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let refused = request(&server.address, "GET", "/v1/sessions/garbage", None, Some(SERVICE));
    let took = started.elapsed();
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"), "{refused:?}");
    assert_error((refused.status, refused.body.clone()), 503, "too many requests in flight");
    assert!(took < Duration::from_secs(5), "not at once: {took:?}");
    // The request in flight completes as if nothing happened, and frees its slot.
    slow.write_all(rest.as_bytes()).expect("send the rest");
    let created = read_answer(&mut slow);
    assert_eq!(created.status, 201, "{created:?}");
    assert_error(http(&server, "GET", "/v1/sessions/garbage", None), 400, "malformed session token");
    assert_eq!(metric(&server, "hotcold_requests_rejected_total{reason=\"overloaded\"}"), 1.0);
}

/// CONTRACT section 5: "a client that sends its headers slower than `limits.header_timeout` is
/// disconnected" (a slow-loris client must not hold a connection for ever).
#[test]
fn a_client_sending_its_headers_too_slowly_is_disconnected() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let server = start(&format!("{text}limits: {{ header_timeout: 1s }}\n"), "slow-headers");
    let mut stream = TcpStream::connect(&server.address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Still-Typ").expect("send half a head");
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(read.is_ok(), "still connected {took:?} later: {read:?}");
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(8), "closed after {took:?}");
    assert!(!String::from_utf8_lossy(&answer).contains(" 200 "), "the half request was served");
    assert_eq!(http(&server, "GET", "/healthz", None).0, 200, "prompt clients are still served");
}

/// DESIGN: "one region's trouble stays in that region: readiness, start-up and failover of a
/// region depend on its own backends". Another region's Redis is down when the service starts: it
/// starts, is ready, says which backend is down, answers 503 for what needs it, and uses it once
/// it comes up, without a restart.
#[test]
fn another_regions_redis_down_neither_stops_start_up_nor_makes_this_region_unready() {
    let port = free_port();
    let mut urls = shared_redis_urls();
    urls[1] = format!("redis://127.0.0.1:{port}");
    let server = start(&config_text(&urls, &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "other-down");
    let (status, ready) = http(&server, "GET", "/readyz", None);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(json_of(&ready)["ready"], true, "{ready}");
    assert_checks(&ready, &[("redis eu-west-1", "redis eu-west-1 unavailable")]);
    // This region's sessions are served.
    let user = unique("olga");
    let token = create(&server, &user, &json!({ "n": 1 }));
    assert_eq!(http(&server, "GET", &format!("/v1/sessions/{token}"), None).0, 200);
    // Erasing a user must reach every region's Redis: 503 naming the one it cannot.
    assert_error(http(&server, "POST", &format!("/v1/users/{user}/erase"), None), 503, "redis eu-west-1");
    // A user of eu-west-1 sent here by a failover: homed in eu-west-1, held hot here meanwhile.
    let traveller = unique("piet");
    let body = json!({ "user_id": traveller, "data": { "n": 2 }, "home": "eu-west-1" }).to_string();
    let (status, created) = http(&server, "POST", "/v1/sessions", Some(&body));
    assert_eq!((status, json_of(&created)["tier"].as_str()), (201, Some("hot")), "{created}");
    let away = json_of(&created)["token"].as_str().expect("token").to_string();
    assert!(away.ends_with(".eu-west-1"), "homed in the user's region: {away}");
    assert_eq!(http(&server, "GET", &format!("/v1/sessions/{away}"), None).0, 200);

    let _redis = OwnRedis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, ready) = http(&server, "GET", "/readyz", None);
        if json_of(&ready)["checks"]["redis eu-west-1"] == "ok" {
            assert_eq!(status, 200, "{ready}");
            assert_checks(&ready, &[]);
            break;
        }
        assert!(Instant::now() < deadline, "eu-west-1's Redis not used within 30 s of coming up: {ready}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = http(&server, "POST", &format!("/v1/users/{user}/erase"), None);
    assert_eq!((status, json_of(&body)["erased"].as_u64()), (200, Some(1)), "{body}");
    // eu-west-1 answers again: this region's sync job moves the copy it held home within a
    // sync_interval or two (the user keeps using it meanwhile, so it is never idle enough to be
    // demoted instead: the threshold here is 2 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&server, "hotcold_sync_sessions_total{what=\"moved_home\"}") < 1.0 {
        assert!(Instant::now() < deadline, "the failover copy was not moved home within 60 s");
        assert_eq!(http(&server, "GET", &format!("/v1/sessions/{away}"), None).0, 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, found) = http(&server, "GET", &format!("/v1/sessions/{away}"), None);
    assert_eq!((status, json_of(&found)["data"].clone()), (200, json!({ "n": 2 })), "{found}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// service.md: on SIGTERM, with `write_behind` (or `write_through`), the service copies what
/// write-behind has not copied yet before it exits, and logs how many sessions. The copy interval
/// is an hour and the demotion threshold too, so only that last flush can have put the update in
/// DynamoDB; a second instance with an empty hot tier then finds it there.
#[test]
fn sigterm_copies_what_write_behind_had_not_copied_yet() {
    let text =
        config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "write_behind, write_behind_interval: 1h")
            .replace("promotion_threshold: 2", "promotion_threshold: 3600");
    let server = start(&text, "flush");
    let user = unique("fred");
    let token = create(&server, &user, &json!({ "v": 1 }));
    let update = json!({ "data": { "v": 2 }, "version": 1 }).to_string();
    let (status, body) = http(&server, "PUT", &format!("/v1/sessions/{token}"), Some(&update));
    assert_eq!((status, json_of(&body)["version"].as_u64()), (200, Some(2)), "{body}");
    assert_eq!(metric_sample(&server, "hotcold_sync_sessions_total{what=\"copied\"}").unwrap_or(0.0), 0.0);

    let mut server = server;
    server.signal("-TERM");
    assert_eq!(server.wait_for_exit(Duration::from_secs(30)).code(), Some(0));
    // Same tables, another key prefix: nothing hot, so the answer comes from DynamoDB.
    let second = start(&text.replace("key_prefix: srv-", "key_prefix: cold-srv-"), "flush-2");
    let (status, body) = http(&second, "GET", &format!("/v1/sessions/{token}"), None);
    assert_eq!(status, 200, "the update never reached DynamoDB: {body}");
    let found = json_of(&body);
    assert_eq!((found["version"].as_u64(), found["data"].clone()), (Some(2), json!({ "v": 2 })), "{body}");
    assert_eq!(found["tier"], "promoted", "{body}");

    // One line says how many sessions the last flush copied.
    let output = server.output_after_exit();
    assert!(output.contains("final write-behind flush copied 1 sessions"), "{output}");
    assert!(output.lines().last().is_some_and(|l| l.contains("stopped")), "{output}");
    let secret = token.split('.').next().unwrap_or_default();
    assert!(!output.contains(secret), "a token in the log:\n{output}");
}

/// service.md, "Sync lease": however many instances serve a region, one runs its sync job. Two
/// instances share a region's Redis and tables: one holds the lease and runs every pass, the other
/// skips them; when the holder stops, the other takes over.
#[test]
fn two_instances_of_a_region_run_its_sync_job_once() {
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let mut servers = vec![start(&text, "lease-a"), start(&text, "lease-b")];
    let user = unique("lea");
    for (i, server) in servers.iter().enumerate() {
        create(server, &user, &json!({ "i": i }));
    }
    create(&servers[0], &user, &json!({ "i": 2 }));
    let demoted =
        |server: &Server| metric_sample(server, "hotcold_sync_sessions_total{what=\"demoted\"}").unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while servers.iter().map(demoted).sum::<f64>() < 3.0 {
        assert!(Instant::now() < deadline, "fewer than 3 demotions within 60 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    let held: Vec<f64> = servers.iter().map(|s| metric(s, "hotcold_sync_lease_held")).collect();
    assert_eq!(held.iter().sum::<f64>(), 1.0, "exactly one holder: {held:?}");
    let holder = servers.remove(if held[0] == 1.0 { 0 } else { 1 });
    let other = servers.pop().expect("the other instance");
    assert!(metric(&holder, "hotcold_sync_passes_total{result=\"ok\"}") >= 1.0);
    assert_eq!(demoted(&holder), 3.0);
    assert_eq!(
        metric_sample(&other, "hotcold_sync_passes_total{result=\"ok\"}").unwrap_or(0.0),
        0.0,
        "both ran passes"
    );
    assert_eq!(demoted(&other), 0.0);
    assert!(metric(&other, "hotcold_sync_passes_total{result=\"skipped\"}") >= 1.0);

    // The holder stops and gives the lease up: the other takes over at its next pass.
    assert_eq!(holder.terminate().code(), Some(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&other, "hotcold_sync_lease_held") != 1.0 {
        assert!(Instant::now() < deadline, "the lease was not taken over within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(other.terminate().code(), Some(0));
}

/// CONTRACT section 5: `GET /v1/users/{user_id}/sessions?limit=N&cursor=C` answers
/// `{"sessions": [...], "next_cursor": null or "..."}`, a page at a time; a bad limit or cursor is
/// 400.
#[test]
fn a_users_sessions_are_listed_a_page_at_a_time() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "pages");
    let user = unique("paula");
    let tokens: Vec<String> = (0..5).map(|i| create(&server, &user, &json!({ "i": i }))).collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => format!("/v1/users/{user}/sessions?limit=2"),
            Some(cursor) => format!("/v1/users/{user}/sessions?limit=2&cursor={cursor}"),
        };
        let (status, body) = http(&server, "GET", &path, None);
        assert_eq!(status, 200, "{body}");
        for token in &tokens {
            assert!(!body.contains(token.split('.').next().unwrap_or_default()), "a token in a listing");
        }
        let page = json_of(&body);
        let sessions = page["sessions"].as_array().unwrap_or_else(|| panic!("no sessions: {body}"));
        assert!(!sessions.is_empty() && sessions.len() <= 2, "{body}");
        seen.extend(sessions.iter().map(|s| s["session_id"].as_str().expect("session_id").to_string()));
        pages += 1;
        match &page["next_cursor"] {
            Value::Null => break,
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("next_cursor {other}"),
        }
        assert!(pages < 5, "more pages than sessions: {body}");
    }
    assert_eq!(pages, 3);
    let mut distinct = seen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!((seen.len(), distinct.len()), (5, 5), "{seen:?}");
    assert_eq!(seen, distinct, "pages follow one order");

    let (status, body) = http(&server, "GET", &format!("/v1/users/{user}/sessions"), None);
    let whole = json_of(&body);
    assert_eq!((status, whole["sessions"].as_array().map(Vec::len)), (200, Some(5)), "{body}");
    assert_eq!(whole["next_cursor"], Value::Null, "{body}");

    for (query, words) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=two", "limit"),
        ("cursor=not-a-cursor!", "cursor"),
        ("cursor=aGVsbG8", "cursor"),
        ("colour=red", "malformed query"),
    ] {
        assert_error(http(&server, "GET", &format!("/v1/users/{user}/sessions?{query}"), None), 400, words);
    }
}

// ---- The audit trail: `GET /v1/users/{user_id}/audit` and `hotcold audit` ----

/// The fields of an audit event, in the order of `hotcold audit --format csv`'s header.
const AUDIT_FIELDS: [&str; 10] =
    ["at", "kind", "tier", "region", "session_id", "home_region", "version", "writer", "seq", "hash"];

/// A config for the audit tests: [`config_text`] with a demotion threshold of an hour (no
/// `demoted`/`promoted` event comes between the ones a test makes) and a pseudonym key file, so
/// the service and `hotcold audit` address users' audit links with the same deployment secret;
/// written to a file of its own for `hotcold audit --config`. The text and the file.
fn audit_config(label: &str) -> (String, std::path::PathBuf) {
    let dir = common::scratch_dir("audit", label);
    let key = dir.join("pseudonym-key");
    std::fs::write(&key, "the audit tests' pseudonym key, 48 bytes long...\n").expect("write key");
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion")
        .replace("promotion_threshold: 2", "promotion_threshold: 3600");
    // The auth block comes last: one more key of it.
    let text = format!("{text}  pseudonym_key_file: {}\n", key.display());
    let path = dir.join("serve.yaml");
    std::fs::write(&path, &text).expect("write config");
    (text, path)
}

/// The table a config's `dynamodb:` entry names under `key` (`audit_table`, `sessions_table`).
fn table_of(config: &str, key: &str) -> String {
    let from = config.find(&format!("{key}: ")).unwrap_or_else(|| panic!("no {key} in {config}")) + key.len() + 2;
    config[from..].split([',', ' ', '}']).next().expect("table name").to_string()
}

/// `text` percent-encoded as a query-string value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /v1/users/{user}/audit?{query}` with the admin credential: the page's events and its
/// `next_cursor`.
fn audit_page(server: &Server, user: &str, query: &str) -> (Vec<Value>, Value) {
    let path = format!("/v1/users/{user}/audit?{query}");
    let (status, body) = http(server, "GET", &path, None);
    assert_eq!(status, 200, "{path}: {body}");
    let page = json_of(&body);
    let events = page["events"].as_array().cloned().unwrap_or_else(|| panic!("no events in {body}"));
    (events, page["next_cursor"].clone())
}

/// A user whose two sessions went through four audited events.
struct AuditedUser {
    name: String,
    /// The hashed id (as the listing shows it) of the session created first, then updated.
    updated: String,
    /// The hashed id of the session created second, then logged out.
    logged_out: String,
    /// The user's events as `GET /v1/users/{user}/audit` first answered them all.
    events: Vec<Value>,
}

/// Creates two sessions of a new user, updates the first and logs the second out (service
/// credential), then waits until the audit query answers the four events (a record the table did
/// not take at once reaches it from the outbox within the drain interval, a second).
fn audited_user(server: &Server) -> AuditedUser {
    let name = unique("audrey");
    let first = create(server, &name, &json!({ "n": 1 }));
    let second = create(server, &name, &json!({ "n": 2 }));
    let update = json!({ "data": { "n": 3 }, "version": 1 }).to_string();
    let (status, body) = http(server, "PUT", &format!("/v1/sessions/{first}"), Some(&update));
    assert_eq!((status, json_of(&body)["version"].as_u64()), (200, Some(2)), "{body}");
    // The listing's hashed ids, told apart by their versions.
    let (status, body) = http(server, "GET", &format!("/v1/users/{name}/sessions"), None);
    assert_eq!(status, 200, "{body}");
    let listed = json_of(&body)["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 2, "{body}");
    let id_at = |version: u64| {
        listed
            .iter()
            .find(|s| s["version"].as_u64() == Some(version))
            .and_then(|s| s["session_id"].as_str())
            .unwrap_or_else(|| panic!("no session at version {version}: {body}"))
            .to_string()
    };
    let (updated, logged_out) = (id_at(2), id_at(1));
    assert_eq!(http(server, "DELETE", &format!("/v1/sessions/{second}"), None).0, 204);
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let (events, _) = audit_page(server, &name, "");
        if events.len() >= 4 {
            break events;
        }
        assert!(Instant::now() < deadline, "fewer than 4 audit events within 30 s: {events:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    AuditedUser { name, updated, logged_out, events }
}

/// `GET /v1/users/{user_id}/audit`: a user's events newest first with the documented fields (the
/// session ids those of the listing), for the admin credential only; pages through `limit` and
/// an opaque `next_cursor` passed back verbatim; `since`/`until` in RFC 3339 or milliseconds; bad
/// parameters 400; nothing once the user is erased; the audit metrics in `/metrics`.
#[test]
fn the_audit_query_lists_a_users_events_newest_first_a_page_at_a_time() {
    let (config, _) = audit_config("query");
    let server = start(&config, "audit-query");
    let user = audited_user(&server);
    let events = &user.events;
    let field = |name: &str| -> Vec<Value> { events.iter().map(|e| e[name].clone()).collect() };
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(field("kind"), [json!("logged_out"), json!("updated"), json!("created"), json!("created")]);
    let (updated, logged_out) = (json!(user.updated), json!(user.logged_out));
    assert_eq!(field("session_id"), [logged_out.clone(), updated.clone(), logged_out, updated]);
    assert_eq!(field("version"), [json!(1), json!(2), json!(1), json!(1)]);
    let writer = events[0]["writer"].as_str().expect("writer").to_string();
    assert!(writer.starts_with("us-east-1."), "{writer}");
    for event in events {
        let mut keys: Vec<&str> = event.as_object().expect("an object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = AUDIT_FIELDS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected, "{event}");
        assert_eq!((event["tier"].as_str(), event["writer"].as_str()), (Some("hot"), Some(writer.as_str())), "{event}");
        assert_eq!((event["region"].as_str(), event["home_region"].as_str()), (Some("us-east-1"), Some("us-east-1")));
        let hash = event["hash"].as_str().unwrap_or_default();
        assert!(hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{event}");
        let at = event["at"].as_str().unwrap_or_default();
        assert!(at.len() == "2026-11-30T12:00:00.000Z".len() && at.ends_with('Z'), "{event}");
    }
    // Newest first: by time (the texts order as the times do), then by the writer's number.
    for pair in events.windows(2) {
        assert!(pair[0]["at"].as_str() >= pair[1]["at"].as_str(), "not newest first: {events:?}");
        assert!(pair[0]["seq"].as_u64() > pair[1]["seq"].as_u64(), "not newest first: {events:?}");
    }

    // The admin credential only.
    let path = format!("/v1/users/{}/audit", user.name);
    let answer = request(&server.address, "GET", &path, None, Some(SERVICE));
    assert_error((answer.status, answer.body), 403, "admin");
    let answer = request(&server.address, "GET", &path, None, None);
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(json_of(&answer.body)["error"].as_str().is_some_and(|e| e.contains("credential")), "{answer:?}");

    // limit=1 pages through every event once, in the same order; the cursor is opaque and safe to
    // put in a URL as it is (as the listing's: docs/service.md's curl examples do so).
    let mut paged = Vec::new();
    let mut query = "limit=1".to_string();
    loop {
        let (page, next) = audit_page(&server, &user.name, &query);
        assert_eq!(page.len(), 1, "{query}: {page:?}");
        paged.extend(page);
        match next {
            Value::Null => break,
            Value::String(cursor) => {
                assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
                query = format!("limit=1&cursor={cursor}");
            }
            other => panic!("next_cursor {other}"),
        }
        assert!(paged.len() <= events.len(), "more pages than events: {paged:?}");
    }
    assert_eq!(&paged, events, "paged with limit=1");
    let (whole, next) = audit_page(&server, &user.name, "limit=4");
    assert_eq!((&whole, next), (events, Value::Null), "a page holding every event has no next_cursor");

    // since/until: RFC 3339 or milliseconds since 1970; since inclusive, until exclusive.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let (later, next) = audit_page(&server, &user.name, &format!("since={}", now_ms + 1));
    assert_eq!((later.len(), next), (0, Value::Null), "since after every event: {later:?}");
    let (all, _) = audit_page(&server, &user.name, &format!("since={}&until={}", now_ms - 3_600_000, now_ms + 1));
    assert_eq!(&all, events, "a window in milliseconds around every event");
    let newest = events[0]["at"].as_str().expect("at");
    let at_or_after: Vec<Value> = events.iter().filter(|e| e["at"].as_str() >= Some(newest)).cloned().collect();
    let before: Vec<Value> = events.iter().filter(|e| e["at"].as_str() < Some(newest)).cloned().collect();
    assert_eq!(audit_page(&server, &user.name, &format!("since={}", query_value(newest))).0, at_or_after);
    assert_eq!(audit_page(&server, &user.name, &format!("until={}", query_value(newest))).0, before);

    for (query, words) in [
        ("cursor=garbage!", "cursor"),
        // Base64 of "hello", and a sort key in clear: neither is a cursor the route gave out.
        ("cursor=aGVsbG8", "cursor"),
        ("cursor=000000000000001%23w%23000000000001", "cursor"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("until=yesterday", "until"),
        ("colour=red", "malformed query"),
    ] {
        assert_error(http(&server, "GET", &format!("{path}?{query}"), None), 400, words);
    }
    assert_error(http(&server, "GET", "/v1/users/bad%01user/audit", None), 400, "invalid user id");

    // Erased: the user's events are out of reach of the query (the records stay, unlinked).
    let (status, body) = http(&server, "POST", &format!("/v1/users/{}/erase", user.name), None);
    assert_eq!((status, json_of(&body)["erased"].as_u64()), (200, Some(1)), "{body}");
    let (gone, next) = audit_page(&server, &user.name, "");
    assert_eq!((gone.len(), next), (0, Value::Null), "events of an erased user: {gone:?}");

    // The trail's metrics: the records written or delivered (4 and the erasure's; updated every
    // second), none waiting, none failed.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let sent = metric_sample(&server, "hotcold_audit_events_total{outcome=\"written\"}").unwrap_or(0.0)
            + metric_sample(&server, "hotcold_audit_events_total{outcome=\"delivered\"}").unwrap_or(0.0);
        let pending = metric(&server, "hotcold_audit_events_pending");
        if sent >= 5.0 && pending == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{sent} audit records sent and {pending} pending after 15 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(metric_sample(&server, "hotcold_audit_events_total{outcome=\"failed\"}").unwrap_or(0.0), 0.0);
    assert_eq!(server.terminate().code(), Some(0));
}

/// One call of DynamoDB's JSON API (`X-Amz-Target: DynamoDB_20120810.<action>`) on the shared
/// DynamoDB Local, which wants an `Authorization` header shaped like SigV4 but checks no
/// signature; the answer's JSON (a failure unless 200).
fn dynamodb(action: &str, body: &Value) -> Value {
    let endpoint = env("HOTCOLD_DYNAMODB_ENDPOINT");
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "hotcoldlocal".into());
    let body = body.to_string();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.{action}\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/dynamodb/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        "0".repeat(64),
        body.len()
    );
    let mut stream = TcpStream::connect(address).expect("connect to DynamoDB Local");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).expect("send");
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 200, "DynamoDB {action}: {answer:?}");
    json_of(&answer.body)
}

/// Runs `hotcold audit ARGS --config CONFIG`: exit code, stdout, stderr.
fn hotcold_audit(args: &[&str], config: &std::path::Path) -> (Option<i32>, String, String) {
    let output = common::hotcold().arg("audit").args(args).arg("--config").arg(config).output().expect("run audit");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).to_string();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// `hotcold audit --verify`'s report and stderr, after checking it exited with `code`.
fn verify_report(config: &std::path::Path, code: i32) -> (Value, String) {
    let (status, stdout, stderr) = hotcold_audit(&["--verify"], config);
    assert_eq!(status, Some(code), "stdout: {stdout}\nstderr: {stderr}");
    (json_of(&stdout), stderr)
}

/// `hotcold audit` on the tables a running service writes: the same events as the HTTP query, as
/// JSON lines or CSV; `--verify` finds the trail intact (erasing a user breaks no chain), then
/// names the record altered in the table behind its back (exit 1); bad input exits 2.
#[test]
fn hotcold_audit_prints_a_users_events_and_verify_finds_an_altered_record() {
    let (config, path) = audit_config("cli");
    let server = start(&config, "audit-cli");
    let user = audited_user(&server);
    let name = user.name.as_str();

    let (status, stdout, stderr) = hotcold_audit(&[name], &path);
    assert_eq!(status, Some(0), "{stderr}");
    let printed: Vec<Value> = stdout.lines().map(json_of).collect();
    assert_eq!(printed, user.events, "hotcold audit and GET /v1/users/{{user}}/audit disagree");

    let (status, stdout, stderr) = hotcold_audit(&[name, "--format", "csv"], &path);
    assert_eq!(status, Some(0), "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(AUDIT_FIELDS.join(",").as_str()), "{stdout}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), user.events.len(), "{stdout}");
    for (row, event) in rows.iter().zip(&user.events) {
        let expected: Vec<String> = AUDIT_FIELDS
            .iter()
            .map(|f| match &event[*f] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(row.split(',').collect::<Vec<_>>(), expected, "{row} vs {event}");
    }

    // --since (inclusive) and --until (exclusive) as the HTTP query has them.
    let newest = user.events[0]["at"].as_str().expect("at");
    let (status, stdout, stderr) = hotcold_audit(&[name, "--until", newest], &path);
    assert_eq!(status, Some(0), "{stderr}");
    let before: Vec<Value> = user.events.iter().filter(|e| e["at"].as_str() < Some(newest)).cloned().collect();
    assert_eq!(stdout.lines().map(json_of).collect::<Vec<_>>(), before);
    let (status, stdout, stderr) = hotcold_audit(&[name, "--since", "4102444800000"], &path);
    assert_eq!((status, stdout.as_str()), (Some(0), ""), "since 2100: {stderr}");

    // Bad input: exit 2, nothing on stdout.
    for (args, words) in [
        (&[name, "--since", "yesterday"][..], "--since"),
        (&[name, "--until", "yesterday"][..], "--until"),
        (&[][..], "USER_ID"),
        (&[name, "--format", "xml"][..], "xml"),
    ] {
        let (status, stdout, stderr) = hotcold_audit(args, &path);
        assert_eq!((status, stdout.as_str()), (Some(2), ""), "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr} should mention {words:?}");
    }

    let writer = user.events[0]["writer"].as_str().expect("writer").to_string();
    let (report, stderr) = verify_report(&path, 0);
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["records"], 4, "{report}");
    assert_eq!(report["writers"].as_array().map(Vec::len), Some(1), "{report}");
    let summary = &report["writers"][0];
    assert_eq!((summary["writer"].as_str(), summary["last_seq"].as_u64()), (Some(writer.as_str()), Some(4)));
    assert!(stderr.contains("verified intact"), "{stderr}");

    // Erasure unlinks the user: nothing to print, and every chain still intact.
    let (status, body) = http(&server, "POST", &format!("/v1/users/{name}/erase"), None);
    assert_eq!(status, 200, "{body}");
    let (status, stdout, stderr) = hotcold_audit(&[name], &path);
    assert_eq!((status, stdout.as_str()), (Some(0), ""), "events of an erased user: {stderr}");
    let (report, _) = verify_report(&path, 0);
    assert_eq!(report["problems"], json!([]), "{report}");

    // The record of the update, changed in the table behind the trail's back.
    let updated = user.events.iter().find(|e| e["kind"] == "updated").expect("the updated event");
    let seq = updated["seq"].as_u64().expect("seq");
    let table = table_of(&config, "audit_table");
    let scanned = dynamodb(
        "Scan",
        &json!({
            "TableName": table,
            "ConsistentRead": true,
            "FilterExpression": "begins_with(pk, :records) AND #writer = :writer AND #seq = :seq",
            "ExpressionAttributeNames": { "#writer": "writer", "#seq": "seq" },
            "ExpressionAttributeValues": {
                ":records": { "S": "s#" }, ":writer": { "S": writer }, ":seq": { "N": seq.to_string() }
            },
        }),
    );
    let items = scanned["Items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{scanned}");
    assert_eq!(items[0]["kind"], json!({ "S": "updated" }), "{scanned}");
    dynamodb(
        "UpdateItem",
        &json!({
            "TableName": table,
            "Key": { "pk": items[0]["pk"], "sk": items[0]["sk"] },
            "UpdateExpression": "SET #version = :version",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": { "#version": "version" },
            "ExpressionAttributeValues": { ":version": { "N": "99" } },
        }),
    );
    let (report, stderr) = verify_report(&path, 1);
    assert_eq!(report["problems"], json!([{ "problem": "altered", "writer": writer, "seq": seq }]), "{report}");
    assert!(stderr.contains("altered") && stderr.contains(&format!("{writer} #{seq}")), "{stderr}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// The hashed ids of `user`'s sessions, by the version the listing shows them at.
fn listed_ids(server: &Server, user: &str) -> Vec<(u64, String)> {
    let (status, body) = http(server, "GET", &format!("/v1/users/{user}/sessions"), None);
    assert_eq!(status, 200, "{body}");
    let listed = json_of(&body)["sessions"].as_array().cloned().unwrap_or_default();
    listed
        .iter()
        .map(|s| (s["version"].as_u64().unwrap_or(0), s["session_id"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// docs/deploy.md: the default plan keeps one analytics table, in the first region. An eu-west-1
/// instance with `dynamodb.analytics_region: us-east-1` writes its summaries there (on a DynamoDB
/// Local that keeps each region's tables apart): the export through us-east-1 finds the session,
/// and eu-west-1 has no analytics table at all.
#[test]
fn summaries_go_to_the_analytics_region_when_the_table_is_not_replicated_here() {
    let dynamo = OwnDynamo::start_per_region();
    let base = config_text(&shared_redis_urls(), &dynamo.endpoint(), "on_demotion")
        .replace("region: us-east-1\nsession", "region: eu-west-1\nsession")
        .replace("create_tables: true }", "create_tables: true, region: eu-west-1 }");
    let text = base.replace("create_tables: true,", "create_tables: true, analytics_region: us-east-1,");
    assert_ne!(text, base, "analytics_region set");
    let config = write_config("analytics-region", &text);
    let server = start(&text, "analytics-region");
    let user = unique("eve");
    let token = create(&server, &user, &json!({ "n": 1 }));
    assert_eq!(http(&server, "DELETE", &format!("/v1/sessions/{token}"), None).0, 204);
    let export = |config: &std::path::Path, out: &std::path::Path| {
        common::hotcold()
            .args(["analytics", "export", "--config"])
            .arg(config)
            .arg("--out")
            .arg(out)
            .output()
            .expect("run hotcold analytics export")
    };
    let dir = common::scratch_dir("analytics", "region");
    let csv = dir.join("sessions.csv");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = export(&config, &csv);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let rows = std::fs::read_to_string(&csv).expect("export written");
        if rows.contains("logged_out") && rows.contains("eu-west-1") {
            break;
        }
        assert!(Instant::now() < deadline, "the summary in us-east-1's table within 30 s:\n{rows}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Through eu-west-1 (no analytics_region) there is no such table: nothing was written there.
    let here = write_config("analytics-here", &base);
    let output = export(&here, &dir.join("here.csv"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read the analytics table"), "{stderr}");
}

/// The analytics pipeline end to end: a scripted set of sessions through the API (one updated
/// twice, demoted, promoted and logged out; one demoted and revoked; one of another user demoted
/// and left open), then `hotcold analytics export` to Parquet, read back with polars: one row per
/// session with its end, counts, regions, largest payload, and the owner's subject (shared by one
/// user's sessions, not the user id). CSV too; bad input exits 2.
#[test]
fn analytics_export_has_one_row_per_session_as_the_script_made_them() {
    use hotcold_reports::tables::{column_f64, column_str, read_csv, read_parquet};
    let text = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let config = write_config("analytics", &text);
    let server = start(&text, "analytics");
    let (ann, bo) = (unique("ann"), unique("bo"));
    let a = create(&server, &ann, &json!({ "n": 1 }));
    let large = json!({ "cart": "x".repeat(300) });
    for (version, data) in [(1, json!({ "n": 3 })), (2, large.clone())] {
        let update = json!({ "data": data, "version": version }).to_string();
        assert_eq!(http(&server, "PUT", &format!("/v1/sessions/{a}"), Some(&update)).0, 200);
    }
    let _b = create(&server, &ann, &json!({ "n": 4 }));
    let _c = create(&server, &bo, &json!({ "n": 5 }));
    let ids = listed_ids(&server, &ann);
    let id_at = |version: u64| ids.iter().find(|(v, _)| *v == version).map(|(_, id)| id.clone()).expect("listed");
    let (a_id, b_id) = (id_at(3), id_at(1));
    let c_id = listed_ids(&server, &bo)[0].1.clone();
    // Demoted 2 s after their last access by the 1 s sync job; then a is promoted by a lookup.
    wait_for_demotions(&server, 3.0);
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{a}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("promoted")), "{body}");
    assert_eq!(http(&server, "DELETE", &format!("/v1/sessions/{a}"), None).0, 204);
    let (status, body) = http(&server, "DELETE", &format!("/v1/users/{ann}/sessions"), None);
    assert_eq!((status, json_of(&body)["revoked"].as_u64()), (200, Some(1)), "{body}");

    // The summaries follow the audit records in the background: export until all three ended.
    let dir = common::scratch_dir("analytics", "export");
    let parquet = dir.join("sessions.parquet");
    let export = |out: &std::path::Path, extra: &[&str]| {
        common::hotcold()
            .args(["analytics", "export", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .expect("run hotcold analytics export")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (df, row_of) = loop {
        let output = export(&parquet, &[]);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let df = read_parquet(&parquet).expect("read back with polars");
        let ids = column_str(&df, "session_id").expect("session_id");
        let reasons = column_str(&df, "end_reason").expect("end_reason");
        let row_of = |id: &str| ids.iter().position(|x| x == id);
        let ready = [(&a_id, "logged_out"), (&b_id, "revoked"), (&c_id, "open")]
            .iter()
            .all(|(id, reason)| row_of(id).is_some_and(|i| reasons[i] == *reason));
        if ready {
            let rows: Vec<Option<usize>> = [&a_id, &b_id, &c_id].iter().map(|id| row_of(id)).collect();
            break (df, rows);
        }
        assert!(Instant::now() < deadline, "the three summaries within 30 s: ids {ids:?} reasons {reasons:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let (ra, rb, rc) = (row_of[0].unwrap(), row_of[1].unwrap(), row_of[2].unwrap());
    let number = |column: &str, row: usize| column_f64(&df, column).expect(column)[row];
    let text_at = |column: &str, row: usize| column_str(&df, column).expect(column)[row].clone();
    // a: two updates, demoted once, promoted once, logged out; its largest data was the cart.
    assert_eq!((number("updates", ra), number("promotions", ra), number("demotions", ra)), (2.0, 1.0, 1.0));
    assert_eq!(text_at("end_reason", ra), "logged_out");
    assert_eq!(text_at("home_region", ra), "us-east-1");
    assert_eq!(text_at("regions", ra), "us-east-1");
    assert!(number("largest_payload_bytes", ra) >= 300.0, "the cart, seen at its demotion");
    // b: demoted, then revoked; c: demoted and still open (no end).
    assert_eq!((number("updates", rb), number("promotions", rb), number("demotions", rb)), (0.0, 0.0, 1.0));
    assert_eq!(text_at("end_reason", rb), "revoked");
    assert_eq!((text_at("end_reason", rc), number("demotions", rc)), ("open".to_string(), 1.0));
    assert!(column_f64(&df, "ended_at_ms").expect("ended_at_ms")[rc].is_nan(), "open: no end");
    assert!(number("ended_at_ms", ra) >= number("created_at_ms", ra) && number("created_at_ms", ra) > 0.0);
    // One user's sessions share a subject; another user's differs; no user id anywhere.
    let subject = |row| text_at("user_subject", row);
    assert_eq!(subject(ra), subject(rb));
    assert_ne!(subject(ra), subject(rc));
    assert_eq!(subject(ra).len(), 32);
    let everything = format!("{df:?}");
    assert!(!everything.contains(&ann) && !everything.contains(&bo), "a user id in the export:\n{everything}");

    // CSV for a .csv path, the same rows; a window after everything exports nothing of these.
    let csv = dir.join("sessions.csv");
    assert_eq!(export(&csv, &[]).status.code(), Some(0));
    let from_csv = read_csv(&csv).expect("read the CSV");
    assert_eq!(from_csv.height(), df.height());
    let later = export(&dir.join("later.parquet"), &["--since", "4102444800000"]);
    assert_eq!(later.status.code(), Some(0));
    assert_eq!(read_parquet(&dir.join("later.parquet")).expect("read").height(), 0);
    // Bad input: exit 2, nothing written.
    for args in [&["--since", "yesterday"][..], &["--until", "soon"][..]] {
        let output = export(&dir.join("bad.parquet"), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(!dir.join("bad.parquet").exists());
    }
}

/// The config of [`residency_keeps_a_pinned_regions_sessions_in_it_through_a_failover`]: three
/// regions on the given Redis ports, eu-west-1's sessions pinned to eu-west-1, fresh tables.
fn pinned_config(region: &str, ports: &[u16; 3], prefix: &str, table: &str) -> String {
    format!(
        "region: {region}
session_config:
  hot_storage: {{ ttl: 7200, promotion_threshold: 2, regions: [us-east-1, eu-west-1, ap-southeast-1] }}
  sync: {{ sync_interval: 1 }}
engine: {{ durability: write_through }}
residency: {{ eu-west-1: [eu-west-1] }}
listen: 127.0.0.1:0
redis:
  us-east-1: {{ url: redis://127.0.0.1:{}, key_prefix: {prefix} }}
  eu-west-1: {{ url: redis://127.0.0.1:{}, key_prefix: {prefix} }}
  ap-southeast-1: {{ url: redis://127.0.0.1:{}, key_prefix: {prefix} }}
dynamodb: {{ endpoint: {}, sessions_table: {table}-sessions, audit_table: {table}-audit, analytics_table: {table}-analytics, create_tables: true }}
{}",
        ports[0],
        ports[1],
        ports[2],
        env("HOTCOLD_DYNAMODB_ENDPOINT"),
        auth_block()
    )
}

/// Items of session data in DynamoDB Local table `table` (a full scan).
fn dynamo_items(table: &str) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let config = hotcold_engine::backends::dynamodb::DynamoConfig::local(
            env("HOTCOLD_DYNAMODB_ENDPOINT"),
            "unused-sessions",
            "unused-audit",
        );
        let client = config.client().await;
        let mut items = 0;
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
            // Not any session's data: the expiry sweep's bookkeeping (`sweep.<home>`, of the
            // unrestricted homes), and the erasure marker every trail keeps of an erased user (a
            // keyed hash of the user id and the time, so records still on their way to any trail
            // are pseudonymised when they land).
            let data = |item: &&std::collections::HashMap<String, _>| {
                let text = format!("{item:?}");
                let sweep_mark = text.contains("S(\"sweep.");
                let erasure_marker = text.contains("S(\"link\")") && text.contains("\"erased_at\"");
                !(sweep_mark || erasure_marker)
            };
            items += page.items().iter().filter(data).count();
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return items;
            }
        }
    })
}

/// Every key a Redis server holds.
fn redis_keys(port: u16) -> Vec<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("redis url");
    let mut connection = client.get_connection().expect("connect to redis");
    redis::cmd("KEYS").arg("*").query(&mut connection).expect("KEYS")
}

/// Issue 17's live check: with eu-west-1's sessions pinned to eu-west-1, a traveller served by
/// us-east-1 (lookups, an update, a promotion after demotion), an outage of eu-west-1's Redis
/// (lookups and a create for a eu-west-1 user served by us-east-1), a logout and an erasure
/// leave no key in the other regions' Redis and no item in the shared tables: every store is
/// scanned. The eu-west-1 tables hold the sessions and their audit records.
#[test]
fn residency_keeps_a_pinned_regions_sessions_in_it_through_a_failover() {
    let ports = [free_port(), free_port(), free_port()];
    let [us_redis, mut eu_redis, ap_redis] = ports.map(OwnRedis::start_on);
    let (prefix, table) = (unique("res"), unique("res"));
    let eu = start(&pinned_config("eu-west-1", &ports, &prefix, &table), "residency-eu");
    let us = start(&pinned_config("us-east-1", &ports, &prefix, &table), "residency-us");
    let user = unique("eva");
    let (status, body) = http(&eu, "GET", "/readyz", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["checks"]["dynamodb eu-west-1"], "ok", "eu-west-1's own table is checked: {body}");

    let token = create(&eu, &user, &json!({ "cart": 1 }));
    let path = format!("/v1/sessions/{token}");
    let (status, body) = http(&us, "GET", &path, None);
    assert_eq!(status, 200, "a traveller in us-east-1 is served: {body}");
    let update = json!({ "data": { "cart": 2 }, "version": 1 }).to_string();
    let (status, body) = http(&us, "PUT", &path, Some(&update));
    assert_eq!(status, 200, "and can change the session: {body}");
    wait_for_demotions(&eu, 1.0);
    let (status, body) = http(&us, "GET", &path, None);
    assert_eq!(status, 200, "promoted at home for the traveller: {body}");
    assert_eq!(json_of(&body)["data"], json!({ "cart": 2 }));

    // eu-west-1's Redis fails: its users reach us-east-1, which serves them from eu-west-1's
    // cold table and copies nothing to its own Redis.
    eu_redis.stop();
    let (status, body) = http(&us, "GET", &path, None);
    assert_eq!(status, 200, "served from the cold table during the outage: {body}");
    assert_eq!(json_of(&body)["data"], json!({ "cart": 2 }));
    let away = json!({ "user_id": user, "data": { "cart": 0 }, "home": "eu-west-1" }).to_string();
    let (status, body) = http(&us, "POST", "/v1/sessions", Some(&away));
    assert_eq!(status, 201, "{body}");
    assert_eq!(json_of(&body)["tier"], "cold", "no allowed Redis can hold it: {body}");
    let made_away = json_of(&body)["token"].as_str().expect("token").to_string();
    assert!(made_away.ends_with(".eu-west-1"), "homed where its user is");
    let _eu_redis_back = OwnRedis::start_on(ports[1]);
    let (status, body) = http(&us, "DELETE", &format!("/v1/sessions/{made_away}"), None);
    assert_eq!(status, 204, "logout: {body}");
    // The compliance query finds the user's records in eu-west-1's audit table, through the API
    // and `hotcold audit`.
    let (status, body) = http(&us, "GET", &format!("/v1/users/{user}/audit"), None);
    assert_eq!(status, 200, "{body}");
    let events = json_of(&body)["events"].as_array().cloned().unwrap_or_default();
    assert!(events.len() >= 6, "created, updated, demoted, promoted, created, logged out: {body}");
    assert!(events.iter().all(|e| e["home_region"] == "eu-west-1"), "{body}");
    let config_file = write_config("residency-cli", &pinned_config("us-east-1", &ports, &prefix, &table));
    let cli = |args: &[&str]| {
        let output = common::hotcold().args(args).arg("--config").arg(&config_file).output().expect("run hotcold");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(cli(&["audit", &user]).lines().count(), events.len(), "the CLI reads the same tables");
    // Erasure asks every store, eu-west-1's restarted Redis included: a 503 while its
    // connections come back is retried, as the API asks (the call is repeatable).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http(&us, "POST", &format!("/v1/users/{user}/erase"), None);
        if status == 200 {
            break;
        }
        assert!(status == 503 && Instant::now() < deadline, "erasure: {status} {body}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // A graceful stop delivers every deferred audit record before the scan.
    assert!(us.terminate().success());
    assert!(eu.terminate().success());

    for (region, port) in [("us-east-1", us_redis.port), ("ap-southeast-1", ap_redis.port)] {
        let held: Vec<String> =
            redis_keys(port).into_iter().filter(|k| !k.starts_with(&format!("{{{prefix}:lease}}"))).collect();
        assert!(held.is_empty(), "{region}'s Redis holds keys of eu-west-1 sessions: {held:?}");
    }
    for shared in ["sessions", "audit", "analytics"] {
        let items = dynamo_items(&format!("{table}-{shared}"));
        assert_eq!(items, 0, "the shared {shared} table (replicated everywhere) holds eu-west-1 data");
    }
    assert!(dynamo_items(&format!("{table}-sessions-eu-west-1")) >= 2, "eu-west-1's table holds both (tombstones)");
    assert!(dynamo_items(&format!("{table}-audit-eu-west-1")) >= 6, "and their audit records");
    assert!(dynamo_items(&format!("{table}-analytics-eu-west-1")) >= 1, "and their summaries");
    // Both trails' chains verify, and the export reads eu-west-1's summaries.
    cli(&["audit", "--verify"]);
    let export = common::scratch_dir("serve", "residency-export").join("summaries.csv");
    cli(&["analytics", "export", "--out", export.to_str().expect("utf-8 path")]);
    let rows = std::fs::read_to_string(&export).expect("read the export");
    assert_eq!(rows.lines().skip(1).filter(|row| row.contains("eu-west-1")).count(), 2, "{rows}");
}

/// CONTRACT section 5: `GET /v1/openapi.json` needs no credential and describes exactly the routes
/// served: every operation it lists is routed (no "no such route", no 405), and on its paths every
/// other method answers 405.
#[test]
fn the_openapi_description_lists_exactly_the_routes_served() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "openapi");
    let answer = request(&server.address, "GET", "/v1/openapi.json", None, None);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.header("content-type").is_some_and(|v| v.starts_with("application/json")), "{answer:?}");
    let spec = json_of(&answer.body);
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let user = unique("oa");
    let token = create(&server, &user, &json!({ "n": 1 }));
    let paths = spec["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (template, item) in paths {
        let path = template.replace("{token}", &token).replace("{user_id}", &unique("nobody"));
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let listed = item.get(method.to_lowercase()).is_some();
            // The admin credential passes every gate, so what answers is the route itself.
            let answer = request(&server.address, method, &path, None, Some(ADMIN));
            if listed {
                operations += 1;
                assert_ne!(answer.status, 405, "{method} {template} is described but not served: {answer:?}");
                let unrouted = answer.status == 404 && answer.body.contains("no such route");
                assert!(!unrouted, "{method} {template} is described but not routed: {answer:?}");
            } else {
                assert_eq!(answer.status, 405, "{method} {template} is served but not described: {answer:?}");
            }
        }
    }
    assert_eq!(operations, 12, "the contract's 12 operations");
}

/// Metric families of a `/metrics` text and the label names their samples carry (a histogram's
/// `_bucket`, `_count` and `_sum` samples under the histogram).
fn exported_families(text: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut families: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(|n| (n.to_string(), Default::default()))
        .collect();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let family =
            [name, name.trim_end_matches("_bucket"), name.trim_end_matches("_count"), name.trim_end_matches("_sum")]
                .into_iter()
                .find(|n| families.contains_key(*n))
                .unwrap_or_else(|| panic!("sample {line:?} of no # TYPE"))
                .to_string();
        let labels = line.split_once('{').and_then(|(_, rest)| rest.rsplit_once('}')).map_or("", |(inside, _)| inside);
        let keys = labels.split("\",").filter_map(|pair| pair.split_once('=')).map(|(key, _)| key.trim().to_string());
        families.get_mut(&family).expect("a family").extend(keys);
    }
    families
}

/// Every `hotcold_*` series `text` selects, with the label names its selector matches on (the
/// recorded series of the rules, `hotcold:...`, are not exported and not counted).
fn selected_series(text: &str) -> Vec<(String, Vec<String>)> {
    let text = text.replace("\\\"", "\"");
    let mut found = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("hotcold_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        rest = &tail[end..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-' || c == '/') {
            continue;
        }
        let keys = match rest.strip_prefix('{').and_then(|inside| inside.split_once('}')) {
            Some((inside, _)) => inside
                .split(',')
                .filter_map(|m| m.split(['=', '!']).next())
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            None => Vec::new(),
        };
        found.push((tail[..end].to_string(), keys));
    }
    found
}

/// deploy/ (the alert rules, their runbook and the dashboard) names only metrics and labels a live
/// `hotcold serve` exports: scraped after it served a hot lookup, a promotion, a refused request,
/// sync passes and audit records, so every family the files use has samples.
#[test]
fn deploy_queries_only_metrics_serve_exports() {
    let server = start(&config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion"), "deploy");
    assert_eq!(request(&server.address, "GET", "/metrics", None, None).status, 401);
    let token = create(&server, &unique("dora"), &json!({ "cart": [] }));
    assert_eq!(http(&server, "GET", &format!("/v1/sessions/{token}"), None).0, 200);
    wait_for_demotions(&server, 1.0);
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{token}"), None);
    assert_eq!((status, json_of(&body)["tier"].as_str()), (200, Some("promoted")), "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_sample(&server, "hotcold_audit_events_total{outcome=\"written\"}").unwrap_or(0.0) < 1.0 {
        assert!(Instant::now() < deadline, "no audit record counted within 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The metrics the rules added to serve for the ADR's list.
    assert_eq!(metric(&server, "hotcold_serve_info{region=\"us-east-1\"}"), 1.0);
    assert_eq!(metric(&server, "hotcold_ready{region=\"us-east-1\"}"), 1.0);
    assert_eq!(metric(&server, "hotcold_lookup_duration_seconds_count{region=\"us-east-1\",tier=\"hot\"}"), 1.0);
    assert_eq!(metric(&server, "hotcold_lookup_duration_seconds_count{region=\"us-east-1\",tier=\"promoted\"}"), 1.0);

    let (_, text) = http(&server, "GET", "/metrics", None);
    let families = exported_families(&text);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["deploy/prometheus/hotcold-alerts.yaml", "deploy/grafana/hotcold-dashboard.json", "deploy/README.md"] {
        let content = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let selected = selected_series(&content);
        assert!(selected.len() > 10, "{file}: only {selected:?}");
        for (name, keys) in selected {
            let family = [
                name.as_str(),
                name.trim_end_matches("_bucket"),
                name.trim_end_matches("_count"),
                name.trim_end_matches("_sum"),
            ]
            .into_iter()
            .find(|n| families.contains_key(*n))
            .unwrap_or_else(|| panic!("{file} uses {name}, which serve does not export:\n{text}"));
            for key in keys {
                assert!(families[family].contains(&key), "{file}: {name} has no label {key:?} in:\n{text}");
            }
        }
    }
}

/// A legacy store for the migration tests: its own redis-server, filled with connect-redis
/// values, and a connection to look inside.
struct LegacyRedis {
    _server: OwnRedis,
    url: String,
    conn: redis::Connection,
}

impl LegacyRedis {
    fn start() -> Self {
        let port = free_port();
        let server = OwnRedis::start_on(port);
        let url = format!("redis://127.0.0.1:{port}");
        let conn = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).expect("connect to legacy");
        Self { _server: server, url, conn }
    }

    /// Stores a connect-redis session of `user` expiring in an hour, as express-session writes it.
    fn put(&mut self, id: &str, user: &str, cart: u64) {
        let expires = std::time::SystemTime::now() + Duration::from_secs(3600);
        let expires = humantime::format_rfc3339_millis(expires).to_string();
        let value = json!({
            "cookie": { "originalMaxAge": 3_600_000, "expires": expires, "httpOnly": true, "path": "/" },
            "passport": { "user": user },
            "cart": [cart],
        });
        redis::cmd("SET")
            .arg(format!("sess:{id}"))
            .arg(value.to_string())
            .arg("PX")
            .arg(3_600_000)
            .exec(&mut self.conn)
            .expect("SET a legacy session");
    }

    /// The legacy value of `id`, if the store holds it.
    fn value(&mut self, id: &str) -> Option<Value> {
        let value: Option<String> = redis::cmd("GET").arg(format!("sess:{id}")).query(&mut self.conn).expect("GET");
        value.map(|v| json_of(&v))
    }
}

/// A serve config with a `legacy` block at `percent` (the same tables and key prefixes for every
/// percentage of one test: `base` is one [`config_text`]).
fn with_legacy(base: &str, legacy_url: &str, percent: f64) -> String {
    base.replace(
        "listen:",
        &format!("legacy: {{ url: {legacy_url}, layout: connect-redis, rollout_percent: {percent} }}\nlisten:"),
    )
}

/// Whether the split gives legacy id `id` to the hybrid store at `percent` (the engine's own
/// function: the test checks each session landed on the side it names).
fn hybrid_at(id: &str, percent: f64) -> bool {
    use hotcold_engine::migration::{LegacyId, Rollout};
    let id = LegacyId::parse(id).expect("legacy id").session_id(hotcold_engine::RegionId(0));
    Rollout::new(percent, "test").expect("percent").serves_hybrid(&id)
}

#[test]
fn a_rollout_from_0_to_100_and_a_rollback_keep_every_session_on_one_side_with_its_data() {
    let mut legacy = LegacyRedis::start();
    let sessions: Vec<String> = (0..48).map(|i| format!("express{i:04}{}", "Qx7-_k".repeat(4))).collect();
    for (i, id) in sessions.iter().enumerate() {
        legacy.put(id, &format!("user-{i}"), i as u64);
    }
    let base = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    // The cart each session should hold: every step changes it, so a stale copy would show.
    let mut carts: Vec<u64> = (0..sessions.len() as u64).collect();
    let mut step = 0;
    // Up, back down (a rollback), and up again: a session may cross the split several times.
    for percent in [0.0, 10.0, 50.0, 100.0, 50.0, 10.0, 50.0] {
        step += 1;
        let server = start(&with_legacy(&base, &legacy.url, percent), &format!("rollout-{step}"));
        let mut on_hybrid = 0;
        for (i, id) in sessions.iter().enumerate() {
            let (status, body) = http(&server, "GET", &format!("/v1/sessions/{id}"), None);
            assert_eq!(status, 200, "step {step} ({percent} %): session {i} must still be served: {body}");
            let found = json_of(&body);
            assert_eq!(found["data"]["cart"], json!([carts[i]]), "step {step}: session {i} has its newest data");
            assert_eq!(found["user_id"], format!("user-{i}"));
            let hybrid = hybrid_at(id, percent);
            on_hybrid += usize::from(hybrid);
            let tier = found["tier"].as_str().unwrap_or_default().to_string();
            assert_eq!(tier != "legacy", hybrid, "step {step}: session {i} served by the side the split names");
            // One side only: the hybrid side has taken the legacy copy away, the legacy side has it.
            let held = legacy.value(id);
            assert_eq!(held.is_none(), hybrid, "step {step}: session {i} is in the legacy store iff legacy serves it");
            if let Some(held) = held {
                assert_eq!(held["cart"], json!([carts[i]]), "step {step}: the legacy copy is the newest");
                assert!(held["cookie"]["expires"].as_str().is_some_and(|t| t.ends_with('Z')), "{held}");
            }
            // A change on whichever side serves it.
            carts[i] += 100;
            let version = found["version"].as_u64().expect("version");
            let update = json!({ "data": { "cookie": found["data"]["cookie"], "passport": { "user": format!("user-{i}") }, "cart": [carts[i]] }, "version": version });
            let (status, body) = http(&server, "PUT", &format!("/v1/sessions/{id}"), Some(&update.to_string()));
            assert_eq!(status, 200, "step {step}: update of session {i}: {body}");
        }
        let expected = sessions.iter().filter(|id| hybrid_at(id, percent)).count();
        assert_eq!(on_hybrid, expected);
        if percent == 0.0 {
            assert_eq!(on_hybrid, 0, "at 0 % the legacy store serves everything");
        }
        if percent == 100.0 {
            assert_eq!(on_hybrid, sessions.len(), "at 100 % the hybrid store serves everything");
            // Imported on access at this step: what 50 % had left in the legacy store.
            let left = sessions.iter().filter(|id| !hybrid_at(id, 50.0)).count();
            assert_eq!(metric(&server, "hotcold_migration_moves_total{move=\"imported\"}") as usize, left);
        }
        if step == 5 {
            // 100 % -> 50 %: the sessions of the upper half went back to the legacy store.
            let moved = sessions.iter().filter(|id| !hybrid_at(id, 50.0)).count();
            assert_eq!(metric(&server, "hotcold_migration_moves_total{move=\"rolled_back\"}") as usize, moved);
        }
        assert_eq!(server.terminate().code(), Some(0));
    }
}

#[test]
fn new_sessions_and_logouts_during_a_rollout_stay_on_their_side_and_stay_gone() {
    let mut legacy = LegacyRedis::start();
    let base = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "write_through");
    let server = start(&with_legacy(&base, &legacy.url, 50.0), "rollout-new");
    let mut created = Vec::new();
    for i in 0..16 {
        let body = json!({ "user_id": format!("new-{i}"), "data": { "cart": [i] } }).to_string();
        let (status, answer) = http(&server, "POST", "/v1/sessions", Some(&body));
        assert_eq!(status, 201, "{answer}");
        let answer = json_of(&answer);
        let token = answer["token"].as_str().expect("token").to_string();
        assert_eq!(token.len(), 32, "a legacy-format id while a migration runs: {token:?}");
        let hybrid = hybrid_at(&token, 50.0);
        assert_eq!(answer["tier"] == "legacy", !hybrid, "created on the side the split names");
        let held = legacy.value(&token);
        assert_eq!(held.is_some(), !hybrid);
        if let Some(held) = held {
            assert_eq!(held["passport"]["user"], format!("new-{i}"), "the owner where connect-redis apps read it");
            assert_eq!(held["cart"], json!([i]));
        }
        created.push(token);
    }
    assert!(created.iter().any(|t| hybrid_at(t, 50.0)) && created.iter().any(|t| !hybrid_at(t, 50.0)), "both sides");
    // Data the legacy layout cannot hold.
    let body = json!({ "user_id": "new-x", "data": [1, 2] }).to_string();
    assert_error(http(&server, "POST", "/v1/sessions", Some(&body)), 400, "JSON object");
    // A malformed legacy value is a 503 naming the reason, never "unknown" (the user holds it).
    let broken = created.iter().find(|t| !hybrid_at(t, 50.0)).expect("a legacy-side session").clone();
    let good = legacy.value(&broken).expect("held");
    redis::cmd("SET").arg(format!("sess:{broken}")).arg("{not json").exec(&mut legacy.conn).expect("SET");
    assert_error(http(&server, "GET", &format!("/v1/sessions/{broken}"), None), 503, "not a JSON object");
    redis::cmd("SET").arg(format!("sess:{broken}")).arg(good.to_string()).exec(&mut legacy.conn).expect("SET");
    // Log out every session, whichever side holds it.
    for token in &created {
        assert_eq!(http(&server, "DELETE", &format!("/v1/sessions/{token}"), None).0, 204);
        assert_eq!(http(&server, "GET", &format!("/v1/sessions/{token}"), None).0, 404);
        assert!(legacy.value(token).is_none());
    }
    assert_eq!(server.terminate().code(), Some(0));
    // Neither raising nor lowering the percentage brings one back.
    for percent in [100.0, 0.0] {
        let server = start(&with_legacy(&base, &legacy.url, percent), "rollout-gone");
        for token in &created {
            let (status, body) = http(&server, "GET", &format!("/v1/sessions/{token}"), None);
            assert_eq!(status, 404, "{percent} %: a logged-out session stays gone: {body}");
        }
        assert_eq!(server.terminate().code(), Some(0));
    }
}

#[test]
fn the_legacy_store_being_down_answers_503_and_a_bad_legacy_block_exits_2() {
    let mut legacy = LegacyRedis::start();
    let id = format!("downLegacy{}", "a1".repeat(11));
    legacy.put(&id, "user-down", 7);
    let base = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let server = start(&with_legacy(&base, &legacy.url, 0.0), "legacy-down");
    assert_eq!(http(&server, "GET", &format!("/v1/sessions/{id}"), None).0, 200);
    drop(legacy);
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{id}"), None);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("redis legacy") && !body.contains(&id), "names the store, never the id: {body}");
    assert_eq!(server.terminate().code(), Some(0));
    for (block, key) in [
        ("legacy: { url: http://x, rollout_percent: 10 }\n", "legacy.url"),
        ("legacy: { url: redis://127.0.0.1:1, rollout_percent: 101 }\n", "legacy.rollout_percent"),
        ("legacy: { url: redis://127.0.0.1:1, layout: memcached }\n", "legacy.layout"),
        ("legacy: { url: redis://127.0.0.1:1, region: mars-1 }\n", "legacy.region"),
        ("legacy: { url: redis://127.0.0.1:1, user_field: passport.user }\n", "legacy.user_field"),
    ] {
        let output = serve_to_exit(&base.replace("listen:", &format!("{block}listen:")), "bad-legacy");
        assert_eq!(output.status.code(), Some(2), "{block}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key), "{block}: {stderr}");
    }
}

#[test]
fn an_import_waits_for_another_importer_of_the_same_session() {
    let mut legacy = LegacyRedis::start();
    let id = format!("lockedImport{}", "b2".repeat(10));
    legacy.put(&id, "user-lock", 9);
    let base = config_text(&shared_redis_urls(), &env("HOTCOLD_DYNAMODB_ENDPOINT"), "on_demotion");
    let server = start(&with_legacy(&base, &legacy.url, 100.0), "import-lock");
    // Another instance is importing this session: its lock (keyed by the id's digest) is held.
    let digest = hotcold_engine::migration::LegacyId::parse(&id).expect("id").session_id(hotcold_engine::RegionId(0));
    let lock = format!("hotcold-import-lock:{}.0", digest.to_hex());
    redis::cmd("SET").arg(&lock).arg(1).arg("PX").arg(60_000).exec(&mut legacy.conn).expect("SET lock");
    let answer = request(&server.address, "GET", &format!("/v1/sessions/{id}"), None, Some(SERVICE));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.header("Retry-After").is_some(), "the client is told to retry");
    assert!(legacy.value(&id).is_some(), "nothing imported while another importer holds the lock");
    redis::cmd("DEL").arg(&lock).exec(&mut legacy.conn).expect("DEL lock");
    let (status, body) = http(&server, "GET", &format!("/v1/sessions/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["data"]["cart"], json!([9]));
    assert!(legacy.value(&id).is_none(), "imported and removed from the legacy store");
    let locks: Vec<String> = redis::cmd("KEYS").arg("hotcold-import-lock:*").query(&mut legacy.conn).expect("KEYS");
    assert!(locks.is_empty(), "the lock is released: {locks:?}");
    assert_eq!(server.terminate().code(), Some(0));
}
