//! What `hotcold serve` adds to a session read: `GET /v1/sessions/{token}` over keep-alive
//! HTTP/1.1 against the service, beside the same engine called in-process
//! (`SessionManager::get`), at 1, 16 and 64 concurrent clients.
//!
//! ```text
//! cargo build --release && cargo build --release --example serve_bench
//! source .services/run/env.sh
//! target/release/examples/serve_bench --seconds 5 --sessions 1000 --concurrency 1,16,64
//! ```
//!
//! Needs `HOTCOLD_REDIS_URLS` (three standalone Redis: us-east-1, eu-west-1, ap-southeast-1) and
//! `HOTCOLD_DYNAMODB_ENDPOINT` (`scripts/services.sh start` writes both to `.services/run/env.sh`),
//! and the release binary `target/release/hotcold` (or `--hotcold PATH`).
//!
//! Three ways of reading the same sessions, side by side in one run:
//! - `in-process`: the engine on the same Redis and DynamoDB, called from tokio tasks (no HTTP,
//!   no JSON, no credential check, no limits);
//! - `bare`: the service with `auth: { disabled: true }` and its limits as loose as the config
//!   allows (the layers stay in the path, they just never fire): the closest stand-in for the
//!   service before credentials and limits existed;
//! - `guarded`: the service with credentials on (a Bearer credential on every request) and the
//!   limits at their defaults (request_timeout 5s, max_in_flight 1024, header_timeout 10s).
//!
//! Each client is one task with one connection, sending its next request when the previous
//! answer is in. Latencies are recorded after a warm-up; Redis commands are counted with
//! `INFO commandstats` over the whole point (warm-up included), so "Redis commands per GET" is
//! exact: the commands the client of Redis sent (EVALSHA of the touch script, or a plain GET or
//! GETEX; the GETEX, SET and ZADD a script runs inside Redis are counted by commandstats too and
//! taken out), divided by the GETs answered.
//!
//! The sessions live under a key prefix and in DynamoDB tables of their own, removed at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use clap::{CommandFactory, Parser, ValueEnum};
use hdrhistogram::Histogram;
use hotcold_engine::audit::trail::{MemoryOutbox, Trail};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::{
    Engine, EngineConfig, Lookup, Served, SessionConfig, SessionId, SessionManager, SessionToken, SystemClock,
};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The regions of the default `session_config`, in the order of `HOTCOLD_REDIS_URLS`.
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// The served region (the first of [`REGIONS`]): every session is homed and read there.
const REGION: &str = "us-east-1";

/// Distinct users the sessions are spread over.
const USERS: usize = 100;

/// Connections creating the sessions.
const CREATE_CONNECTIONS: usize = 8;

/// Longest wait for the service's start-up line (it creates the DynamoDB tables).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Longest wait for the service to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Latencies above this are recorded as this (one minute, in microseconds).
const MAX_LATENCY_US: u64 = 60_000_000;

/// What reads the sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Mode {
    /// `SessionManager::get` called in this process.
    InProcess,
    /// `hotcold serve`, auth disabled, limits loose.
    Bare,
    /// `hotcold serve`, credentials on, limits at their defaults.
    Guarded,
}

impl Mode {
    const fn name(self) -> &'static str {
        match self {
            Self::InProcess => "in-process",
            Self::Bare => "bare",
            Self::Guarded => "guarded",
        }
    }
}

/// `GET /v1/sessions/{token}` against `hotcold serve` (credentials on and off) beside the same
/// engine called in-process: requests/s and p50/p95/p99 per concurrency, and the Redis commands
/// each GET sent. Needs `source .services/run/env.sh` and `cargo build --release`.
#[derive(Debug, Parser)]
#[command(name = "serve_bench")]
struct Args {
    /// Seconds measured per point (after the warm-up).
    #[arg(long, default_value = "5", value_parser = positive_seconds)]
    seconds: f64,
    /// Seconds of warm-up per point, not measured.
    #[arg(long, default_value = "1", value_parser = warmup_seconds)]
    warmup: f64,
    /// Sessions created (via POST) and read in turn by every client.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    sessions: u32,
    /// Concurrent clients per point, comma-separated (1 to 1024 each).
    #[arg(long, default_value = "1,16,64", value_delimiter = ',', value_parser = concurrency)]
    concurrency: Vec<usize>,
    /// Which readers to measure, comma-separated.
    #[arg(long, default_value = "in-process,bare,guarded", value_delimiter = ',', value_enum)]
    modes: Vec<Mode>,
    /// Rounds over every point; a point's figures pool its rounds, and the readers take turns
    /// going first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Approximate size of each session's data, in bytes of JSON.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(16..=300_000))]
    data_bytes: u32,
    /// Also write the table as CSV to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The `hotcold` binary. Default: target/release/hotcold of this workspace.
    #[arg(long)]
    hotcold: Option<PathBuf>,
    /// Start the bare service before the guarded one (a control: which process starts first
    /// should not matter).
    #[arg(long, hide = true)]
    bare_first: bool,
    /// Ignored (what `cargo bench` passes to a harness-less bench).
    #[arg(long, hide = true)]
    bench: bool,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.1..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds from 0.1 to 3600")),
    }
}

fn warmup_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=600.0).contains(&s) => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds from 0 to 600")),
    }
}

fn concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a number of clients from 1 to 1024")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let env = match Env::from_env() {
        Ok(env) => env,
        Err(e) => Args::command().error(clap::error::ErrorKind::MissingRequiredArgument, e).exit(),
    };
    let binary =
        args.hotcold.clone().unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/hotcold"));
    if !binary.is_file() {
        Args::command()
            .error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "no hotcold binary at {} (run `cargo build --release`, or pass --hotcold PATH)",
                    binary.display()
                ),
            )
            .exit();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("serve_bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, &env, &binary)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve_bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The live backends, from the environment `scripts/services.sh` writes.
#[derive(Debug)]
struct Env {
    redis_urls: Vec<String>,
    dynamodb_endpoint: String,
}

impl Env {
    fn from_env() -> Result<Self, String> {
        let hint = "source .services/run/env.sh (written by scripts/services.sh start)";
        let urls = std::env::var("HOTCOLD_REDIS_URLS").map_err(|_| format!("HOTCOLD_REDIS_URLS is not set: {hint}"))?;
        let redis_urls: Vec<String> = urls.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
        if redis_urls.len() != REGIONS.len() || redis_urls.iter().any(|u| !u.starts_with("redis://")) {
            return Err(format!(
                "HOTCOLD_REDIS_URLS must hold {} redis:// URLs, one per region ({}); got `{urls}`",
                REGIONS.len(),
                REGIONS.join(", ")
            ));
        }
        let dynamodb_endpoint = std::env::var("HOTCOLD_DYNAMODB_ENDPOINT")
            .map_err(|_| format!("HOTCOLD_DYNAMODB_ENDPOINT is not set: {hint}"))?;
        Ok(Self { redis_urls, dynamodb_endpoint })
    }
}

/// Names of this run's keys and tables, and its scratch directory.
#[derive(Debug)]
struct Names {
    key_prefix: String,
    sessions_table: String,
    audit_table: String,
    dir: PathBuf,
    credential: String,
}

impl Names {
    fn new() -> Self {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let id = format!("{stamp}-{}", std::process::id());
        Self {
            key_prefix: format!("servebench-{id}"),
            sessions_table: format!("hotcold-servebench-{id}-sessions"),
            audit_table: format!("hotcold-servebench-{id}-audit"),
            dir: std::env::temp_dir().join(format!("hotcold-serve-bench-{id}")),
            credential: format!("{:032x}", rand::random::<u128>()),
        }
    }
}

async fn run(args: &Args, env: &Env, binary: &Path) -> anyhow::Result<()> {
    let names = Names::new();
    let mut counters = Vec::new();
    for url in &env.redis_urls {
        let client = redis::Client::open(url.as_str()).with_context(|| format!("bad Redis URL {url}"))?;
        counters.push(client.get_multiplexed_async_connection().await.with_context(|| format!("cannot reach {url}"))?);
    }
    std::fs::create_dir_all(&names.dir).with_context(|| format!("cannot create {}", names.dir.display()))?;
    let outcome = bench(args, env, binary, &names, &counters).await;
    // Whatever happened: the scratch directory, the keys and the tables go.
    let _ = std::fs::remove_dir_all(&names.dir);
    let removed = remove_keys(&counters, &names.key_prefix).await;
    let dropped = drop_tables(env, &names).await;
    match (&outcome, removed, dropped) {
        (_, Ok(keys), Ok(())) => {
            eprintln!("cleaned up: {keys} Redis keys under `{}`, 2 DynamoDB tables", names.key_prefix)
        }
        (_, Err(e), _) | (_, _, Err(e)) => eprintln!("serve_bench: cleanup incomplete: {e:#}"),
    }
    outcome
}

/// What one point measured (or several rounds of it, pooled).
#[derive(Debug)]
struct Point {
    histogram: Histogram<u64>,
    /// Requests started within the measured window.
    measured: u64,
    /// Seconds measured.
    seconds: f64,
    /// Every request answered, warm-up included (the Redis counts cover them all).
    total: u64,
    errors: u64,
    /// Answers served other than from the hot tier (promoted or cold-only).
    not_hot: u64,
    first_error: Option<String>,
    /// `INFO commandstats` deltas of the served region's Redis.
    commands: BTreeMap<String, u64>,
    /// Commands counted on the other regions' Redis (INFO excluded).
    elsewhere: u64,
}

impl Point {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            measured: 0,
            seconds: 0.0,
            total: 0,
            errors: 0,
            not_hot: 0,
            first_error: None,
            commands: BTreeMap::new(),
            elsewhere: 0,
        })
    }

    fn add_task(&mut self, task: TaskResult) -> anyhow::Result<()> {
        self.histogram.add(&task.histogram)?;
        self.measured += task.measured;
        self.total += task.total;
        self.errors += task.errors;
        self.not_hot += task.not_hot;
        if self.first_error.is_none() {
            self.first_error = task.first_error;
        }
        Ok(())
    }

    /// Pools another round of the same point into this one.
    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.histogram.add(&other.histogram)?;
        self.measured += other.measured;
        self.seconds += other.seconds;
        self.total += other.total;
        self.errors += other.errors;
        self.not_hot += other.not_hot;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        for (command, calls) in other.commands {
            *self.commands.entry(command).or_default() += calls;
        }
        self.elsewhere += other.elsewhere;
        Ok(())
    }

    fn count(&self, command: &str) -> u64 {
        self.commands.get(command).copied().unwrap_or(0)
    }

    /// Scripts run (full touches).
    fn evalsha(&self) -> u64 {
        self.count("evalsha") + self.count("eval")
    }

    /// Commands the engine's Redis client sent: the scripts, and the GET / GETEX it sent itself
    /// (commandstats also counts the one GETEX each touch script runs inside Redis).
    fn sent(&self) -> u64 {
        let scripts = self.evalsha();
        scripts + (self.count("get") + self.count("getex")).saturating_sub(scripts)
    }

    /// Commands on the served region's Redis that are neither the reads nor what the scripts ran
    /// inside Redis, plus everything on the other regions' Redis: other clients, or work of the
    /// service besides the GETs.
    fn other(&self) -> u64 {
        let scripts = self.evalsha();
        let inside = |c: &str| self.count(c).min(scripts);
        let known = self.count("get")
            + self.count("getex")
            + scripts
            + inside("set")
            + inside("zadd")
            + inside("pexpire")
            + self.count("info");
        self.commands.values().sum::<u64>().saturating_sub(known) + self.elsewhere
    }

    fn rps(&self) -> f64 {
        if self.seconds > 0.0 { self.measured as f64 / self.seconds } else { 0.0 }
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn per_get(&self, n: u64) -> f64 {
        if self.total == 0 { f64::NAN } else { n as f64 / self.total as f64 }
    }
}

/// One client task's tally.
#[derive(Debug)]
struct TaskResult {
    histogram: Histogram<u64>,
    measured: u64,
    total: u64,
    errors: u64,
    not_hot: u64,
    first_error: Option<String>,
}

impl TaskResult {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            measured: 0,
            total: 0,
            errors: 0,
            not_hot: 0,
            first_error: None,
        })
    }

    /// Records one answer of a request started at `started`.
    fn record(&mut self, window: &Window, started: Instant, ok: bool, hot: bool, error: impl FnOnce() -> String) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.total += 1;
        if !ok {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(error());
            }
        } else if !hot {
            self.not_hot += 1;
        }
        if started >= window.measure_from {
            self.measured += 1;
            self.histogram.saturating_record(micros.max(1));
        }
    }
}

/// When a point's requests are measured: from `measure_from` until `end` (no request starts
/// after `end`).
#[derive(Debug, Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

async fn bench(
    args: &Args,
    env: &Env,
    binary: &Path,
    names: &Names,
    counters: &[redis::aio::MultiplexedConnection],
) -> anyhow::Result<()> {
    let modes: Vec<Mode> = {
        let mut modes = args.modes.clone();
        modes.sort();
        modes.dedup();
        modes
    };
    let session_config = SessionConfig::default();
    // The service creates the sessions, whatever is measured: start the guarded one first (it
    // creates the tables), then the bare one beside it if needed.
    write_credentials(names)?;
    let guarded_config = write_config(env, names, Mode::Guarded)?;
    let start_bare = || -> anyhow::Result<Option<Server>> {
        if modes.contains(&Mode::Bare) {
            Ok(Some(Server::start(binary, &write_config(env, names, Mode::Bare)?, "bare")?))
        } else {
            Ok(None)
        }
    };
    let (guarded, bare) = if args.bare_first {
        let bare = start_bare()?;
        (Server::start(binary, &guarded_config, "guarded")?, bare)
    } else {
        let guarded = Server::start(binary, &guarded_config, "guarded")?;
        (guarded, start_bare()?)
    };
    eprintln!(
        "services: guarded on {}{}",
        guarded.address,
        bare.as_ref().map(|b| format!(", bare on {}", b.address)).unwrap_or_default()
    );

    let started = Instant::now();
    let tokens = create_sessions(guarded.address, &names.credential, args.sessions, args.data_bytes).await?;
    eprintln!(
        "created {} sessions of about {} bytes of data via POST in {:.1} s",
        tokens.len(),
        args.data_bytes,
        started.elapsed().as_secs_f64()
    );
    let paths: Arc<Vec<String>> = Arc::new(tokens.iter().map(|t| format!("/v1/sessions/{t}")).collect());
    let ids: Arc<Vec<SessionId>> = Arc::new(
        tokens
            .iter()
            .map(|t| SessionToken::parse(t, &session_config).map(|token| token.id()))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow!("the service answered a token the engine cannot parse: {e}"))?,
    );
    let manager = if modes.contains(&Mode::InProcess) {
        Some(Arc::new(in_process_manager(env, names, &session_config).await?))
    } else {
        None
    };

    let mut points: BTreeMap<(usize, Mode), Point> = BTreeMap::new();
    let measure = Duration::from_secs_f64(args.seconds);
    let warmup = Duration::from_secs_f64(args.warmup);
    for round in 0..args.rounds as usize {
        for &clients in &args.concurrency {
            for k in 0..modes.len() {
                // The readers take turns going first, round by round.
                let mode = modes[(k + round) % modes.len()];
                let before = commandstats(counters).await?;
                let now = Instant::now();
                let window = Window { measure_from: now + warmup, end: now + warmup + measure };
                let mut tasks = JoinSet::new();
                for client in 0..clients {
                    // Clients start spread over the sessions and read them in turn.
                    let first = client * ids.len() / clients;
                    match mode {
                        Mode::InProcess => {
                            let manager = Arc::clone(manager.as_ref().context("no in-process engine")?);
                            tasks.spawn(read_in_process(manager, Arc::clone(&ids), first, window));
                        }
                        Mode::Bare | Mode::Guarded => {
                            let (address, credential) = match mode {
                                Mode::Bare => (bare.as_ref().context("no bare service")?.address, None),
                                _ => (guarded.address, Some(names.credential.clone())),
                            };
                            tasks.spawn(read_over_http(address, credential, Arc::clone(&paths), first, window));
                        }
                    }
                }
                // This round alone (for the progress line), then pooled with the earlier rounds.
                let mut this_round = Point::new()?;
                while let Some(task) = tasks.join_next().await {
                    this_round.add_task(task.context("a client task panicked")??)?;
                }
                this_round.seconds = measure.as_secs_f64();
                let after = commandstats(counters).await?;
                for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                    for (command, calls) in a {
                        let delta = calls - b.get(command).copied().unwrap_or(0);
                        if i == 0 {
                            *this_round.commands.entry(command.clone()).or_default() += delta;
                        } else if command != "info" {
                            this_round.elsewhere += delta;
                        }
                    }
                }
                eprintln!(
                    "round {}: {:>10} x {clients:>2}: {:>8.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
                    round + 1,
                    mode.name(),
                    this_round.rps(),
                    this_round.ms(0.5),
                    this_round.ms(0.99)
                );
                let point = match points.entry((clients, mode)) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(Point::new()?),
                };
                point.merge(this_round)?;
            }
        }
    }
    drop(manager);
    let guarded_ok = guarded.stop();
    let bare_ok = bare.map(Server::stop);

    print_table(args, &points);
    if let Some(out) = &args.out {
        write_csv(out, &points).with_context(|| format!("cannot write {}", out.display()))?;
        println!("CSV written to {}", out.display());
    }
    let errors: u64 = points.values().map(|p| p.errors).sum();
    guarded_ok?;
    bare_ok.transpose()?;
    if errors > 0 {
        bail!("{errors} GETs did not answer 200 (see the table's notes)");
    }
    Ok(())
}

/// One client over one keep-alive HTTP/1.1 connection: reads the sessions in turn from `first`.
async fn read_over_http(
    address: SocketAddr,
    credential: Option<String>,
    paths: Arc<Vec<String>>,
    first: usize,
    window: Window,
) -> anyhow::Result<TaskResult> {
    let mut result = TaskResult::new()?;
    let mut sender = connect(address).await?;
    let host = HeaderValue::from_str(&address.to_string())?;
    let bearer = credential.map(|c| HeaderValue::from_str(&format!("Bearer {c}"))).transpose()?;
    let mut next = first;
    loop {
        sender.ready().await.context("the connection closed")?;
        let mut request = Request::builder().method(Method::GET).uri(paths[next].as_str()).header(HOST, host.clone());
        if let Some(bearer) = &bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let request = request.body(Full::new(Bytes::new()))?;
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let response = sender.send_request(request).await.context("GET failed")?;
        let status = response.status();
        let body = response.into_body().collect().await.context("reading the answer")?.to_bytes();
        let hot = memchr_str(&body, br#""tier":"hot""#);
        result.record(&window, started, status == StatusCode::OK, hot, || {
            format!("{status} {}", String::from_utf8_lossy(&body[..body.len().min(200)]))
        });
        next = (next + 1) % paths.len();
    }
    Ok(result)
}

/// Whether `needle` occurs in `haystack`.
fn memchr_str(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One client calling the engine in this process: reads the sessions in turn from `first`.
async fn read_in_process(
    manager: Arc<LiveManager>,
    ids: Arc<Vec<SessionId>>,
    first: usize,
    window: Window,
) -> anyhow::Result<TaskResult> {
    let mut result = TaskResult::new()?;
    let mut next = first;
    loop {
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let lookup = manager.get(&ids[next]).await;
        let (ok, hot) = match &lookup {
            Lookup::Found { served, .. } => (true, matches!(served, Served::Hot)),
            _ => (false, false),
        };
        result.record(&window, started, ok, hot, || format!("{lookup:?}"));
        next = (next + 1) % ids.len();
    }
    Ok(result)
}

/// A keep-alive HTTP/1.1 connection to `address`.
async fn connect(address: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address).await.with_context(|| format!("cannot connect to {address}"))?;
    // Requests are small and latency-bound, as the service's answers are.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Creates `n` sessions via `POST /v1/sessions` over a few connections; returns their tokens.
async fn create_sessions(
    address: SocketAddr,
    credential: &str,
    n: u32,
    data_bytes: u32,
) -> anyhow::Result<Vec<String>> {
    let filler = "x".repeat((data_bytes as usize).saturating_sub(16));
    let bearer = HeaderValue::from_str(&format!("Bearer {credential}"))?;
    let host = HeaderValue::from_str(&address.to_string())?;
    let mut tasks = JoinSet::new();
    for connection in 0..CREATE_CONNECTIONS {
        let (bearer, host, filler) = (bearer.clone(), host.clone(), filler.clone());
        tasks.spawn(async move {
            let mut sender = connect(address).await?;
            let mut tokens = Vec::new();
            for i in (connection..n as usize).step_by(CREATE_CONNECTIONS) {
                let body = serde_json::json!({
                    "user_id": format!("bench-user-{}", i % USERS),
                    "data": {"n": i, "note": filler},
                });
                let request = Request::builder()
                    .method(Method::POST)
                    .uri("/v1/sessions")
                    .header(HOST, host.clone())
                    .header(AUTHORIZATION, bearer.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))?;
                sender.ready().await.context("the connection closed")?;
                let response = sender.send_request(request).await.context("POST /v1/sessions failed")?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if status != StatusCode::CREATED {
                    bail!("POST /v1/sessions answered {status}: {}", String::from_utf8_lossy(&body));
                }
                let answer: serde_json::Value = serde_json::from_slice(&body)?;
                let token = answer["token"].as_str().context("no token in the answer to POST /v1/sessions")?;
                tokens.push(token.to_string());
            }
            anyhow::Ok(tokens)
        });
    }
    let mut tokens = Vec::with_capacity(n as usize);
    while let Some(task) = tasks.join_next().await {
        tokens.extend(task.context("a create task panicked")??);
    }
    Ok(tokens)
}

type LiveManager = SessionManager<RedisHotStore, DynamoColdStore, Trail<DynamoAuditLog, MemoryOutbox>, SystemClock>;

/// The engine the service runs, built the way `hotcold serve` builds it (same key prefix, tables
/// and touch granularity), minus the metrics wrapper around each store.
async fn in_process_manager(env: &Env, names: &Names, config: &SessionConfig) -> anyhow::Result<LiveManager> {
    let threshold = config.hot_storage.promotion_threshold;
    let mut hot = Vec::new();
    for (region, url) in REGIONS.iter().zip(&env.redis_urls) {
        let base = RedisHotConfig::standalone(url.clone());
        let granularity = base.touch_granularity.min(threshold / 180);
        let settings = base
            .with_prefix(names.key_prefix.clone())
            .with_label(format!("redis {region}"))
            .with_touch_granularity(granularity);
        hot.push(RedisHotStore::connect(settings).await.with_context(|| format!("cannot reach redis {region}"))?);
    }
    let dynamo = dynamo_config(env, names, config);
    let cold = DynamoColdStore::connect(dynamo.clone(), false).await.context("cannot reach DynamoDB")?;
    let log = DynamoAuditLog::new(cold.client().clone(), dynamo, hotcold_engine::PseudonymKey::random());
    let audit = Trail::new("bench.00", log, MemoryOutbox::new());
    let engine = Engine::new(config.clone(), EngineConfig::default(), hot, cold, audit, SystemClock)
        .context("the engine refused the configuration")?;
    let region = config.region_id(REGION).context("the served region is not configured")?;
    Ok(SessionManager::new(Arc::new(engine), region))
}

fn dynamo_config(env: &Env, names: &Names, config: &SessionConfig) -> DynamoConfig {
    DynamoConfig {
        endpoint: Some(env.dynamodb_endpoint.clone()),
        region: REGION.into(),
        sessions_table: names.sessions_table.clone(),
        audit_table: names.audit_table.clone(),
        cold_ttl: config.cold_storage.ttl,
        compliance_retention: config.cold_storage.compliance_retention,
        ..DynamoConfig::default()
    }
}

fn write_credentials(names: &Names) -> anyhow::Result<()> {
    let admin = format!("{:032x}", rand::random::<u128>());
    for (file, credential) in [("service-credentials", &names.credential), ("admin-credentials", &admin)] {
        let path = names.dir.join(file);
        std::fs::write(&path, format!("# serve_bench\n{credential}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The service's config file for `mode`; both modes share the sessions (key prefix and tables).
fn write_config(env: &Env, names: &Names, mode: Mode) -> anyhow::Result<PathBuf> {
    let mut text = format!("region: {REGION}\nlisten: 127.0.0.1:0\nredis:\n");
    for (region, url) in REGIONS.iter().zip(&env.redis_urls) {
        writeln!(text, "  {region}: {{ url: \"{url}\", key_prefix: {} }}", names.key_prefix)?;
    }
    write!(
        text,
        "dynamodb:\n  endpoint: \"{}\"\n  region: {REGION}\n  sessions_table: {}\n  audit_table: {}\n  create_tables: true\n",
        env.dynamodb_endpoint, names.sessions_table, names.audit_table
    )?;
    text.push_str(match mode {
        Mode::Bare => {
            // The layers stay in the path, but never fire: the nearest the config comes to none.
            "auth: { disabled: true }\nlimits: { request_timeout: 24h, max_in_flight: 1000000, header_timeout: 24h }\n"
        }
        _ => {
            "auth:\n  service_credentials_file: service-credentials\n  admin_credentials_file: admin-credentials\n\
             limits: { request_timeout: 5s, max_in_flight: 1024, header_timeout: 10s }\n"
        }
    });
    let path = names.dir.join(format!("serve-{}.yaml", mode.name()));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A `hotcold serve` child process; killed when dropped without [`Server::stop`].
#[derive(Debug)]
struct Server {
    child: Child,
    address: SocketAddr,
    name: &'static str,
}

impl Server {
    /// Starts the service and waits for its "listening on" line.
    fn start(binary: &Path, config: &Path, name: &'static str) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self { child, address: SocketAddr::from(([127, 0, 0, 1], 0)), name };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut said = Vec::new();
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        server.address = rest.trim().parse().with_context(|| format!("bad start-up line `{line}`"))?;
                        break;
                    }
                    said.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("the {name} service did not start within {START_TIMEOUT:?}: {}", said.join(" | "))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait()?;
                    bail!("the {name} service exited ({status}): {}", said.join(" | "));
                }
            }
        }
        // Anything it says later (it should say nothing until it stops) goes to our stderr.
        std::thread::spawn(move || {
            for line in lines {
                if !line.contains("stopped") {
                    eprintln!("[{name} service] {line}");
                }
            }
        });
        Ok(server)
    }

    /// SIGTERM, then waits for the exit (killed after [`STOP_TIMEOUT`]); an error unless it exited 0.
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(anyhow!("the {} service exited {status}", self.name))
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the {} service did not stop within {STOP_TIMEOUT:?} of SIGTERM (killed)", self.name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `INFO commandstats` of every Redis as (command, calls), in region order.
async fn commandstats(counters: &[redis::aio::MultiplexedConnection]) -> anyhow::Result<Vec<BTreeMap<String, u64>>> {
    let mut all = Vec::new();
    for connection in counters {
        let mut connection = connection.clone();
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut connection).await?;
        all.push(
            info.lines()
                .filter_map(|line| {
                    let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                    let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
                    Some((name.to_string(), calls))
                })
                .collect(),
        );
    }
    Ok(all)
}

/// Deletes this run's keys on every Redis; returns how many.
async fn remove_keys(counters: &[redis::aio::MultiplexedConnection], prefix: &str) -> anyhow::Result<u64> {
    let pattern = format!("*{prefix}*");
    let mut removed = 0;
    for connection in counters {
        let mut connection = connection.clone();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut connection).await?;
                removed += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(removed)
}

/// Drops this run's DynamoDB tables.
async fn drop_tables(env: &Env, names: &Names) -> anyhow::Result<()> {
    let config = dynamo_config(env, names, &SessionConfig::default());
    let cold = DynamoColdStore::connect(config, false).await.context("cannot reach DynamoDB to drop the tables")?;
    for table in [&names.sessions_table, &names.audit_table] {
        // A table the service never created (it failed to start) is not an error here.
        let _ = cold.client().delete_table().table_name(table.as_str()).send().await;
    }
    Ok(())
}

fn print_table(args: &Args, points: &BTreeMap<(usize, Mode), Point>) {
    println!();
    println!(
        "GET /v1/sessions/{{token}}: {} sessions of about {} bytes, {} s measured after {} s warm-up per point, {} round(s)",
        args.sessions, args.data_bytes, args.seconds, args.warmup, args.rounds
    );
    println!();
    println!(
        "| reader | clients | requests/s | p50 ms | p95 ms | p99 ms | Redis commands per GET | of which EVALSHA |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (&(clients, mode), p) in points {
        println!(
            "| {} | {clients} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            mode.name(),
            p.rps(),
            p.ms(0.50),
            p.ms(0.95),
            p.ms(0.99),
            p.per_get(p.sent()),
            p.per_get(p.evalsha()),
        );
    }
    println!();
    // The service's own cost, at the median: what HTTP, JSON, auth and the limits add.
    for &clients in &args.concurrency {
        let p50 = |mode| points.get(&(clients, mode)).map(|p: &Point| p.histogram.value_at_quantile(0.5) as i64);
        let rps = |mode| points.get(&(clients, mode)).map(Point::rps);
        let mut line = format!("{clients:>2} clients:");
        if let (Some(inp), Some(bare)) = (p50(Mode::InProcess), p50(Mode::Bare)) {
            write!(line, " bare - in-process p50 {:+} us;", bare - inp).ok();
        }
        if let (Some(bare), Some(guarded)) = (p50(Mode::Bare), p50(Mode::Guarded)) {
            write!(line, " guarded - bare p50 {:+} us;", guarded - bare).ok();
        }
        if let (Some(inp), Some(guarded)) = (p50(Mode::InProcess), p50(Mode::Guarded)) {
            write!(line, " guarded - in-process p50 {:+} us;", guarded - inp).ok();
        }
        if let (Some(bare), Some(guarded)) = (rps(Mode::Bare), rps(Mode::Guarded)) {
            write!(line, " guarded/bare requests/s {:.2}", guarded / bare).ok();
        }
        println!("{line}");
    }
    println!();
    for (&(clients, mode), p) in points {
        let scripts = p.evalsha();
        println!(
            "{:>10} x {clients:>2}: {} GETs answered (warm-up included), {} commands sent to Redis {REGION}: {scripts} \
             EVALSHA (full touches) + {} GET/GETEX (light touches); other Redis commands: {}",
            mode.name(),
            p.total,
            p.sent(),
            p.sent() - scripts,
            p.other(),
        );
    }
    for (&(clients, mode), p) in points {
        let name = mode.name();
        if p.errors > 0 {
            println!(
                "note: {name} x {clients}: {} of {} GETs failed, first: {}",
                p.errors,
                p.total,
                p.first_error.as_deref().unwrap_or("?")
            );
        }
        if p.not_hot > 0 {
            println!("note: {name} x {clients}: {} GETs were not served from the hot tier", p.not_hot);
        }
        let other = p.other();
        if other > 0 {
            println!(
                "note: {name} x {clients}: {other} other Redis commands during the point (other clients of the \
                 servers, or the service's background work): {:?}",
                p.commands
            );
        }
    }
}

fn write_csv(path: &Path, points: &BTreeMap<(usize, Mode), Point>) -> anyhow::Result<()> {
    let mut text = String::from(
        "reader,clients,requests_measured,seconds,requests_per_s,p50_ms,p95_ms,p99_ms,max_ms,gets_total,errors,\
         not_hot,redis_commands_per_get,evalsha_per_get,other_redis_commands\n",
    );
    for (&(clients, mode), p) in points {
        writeln!(
            text,
            "{},{clients},{},{:.1},{:.1},{:.3},{:.3},{:.3},{:.3},{},{},{},{:.4},{:.4},{}",
            mode.name(),
            p.measured,
            p.seconds,
            p.rps(),
            p.ms(0.50),
            p.ms(0.95),
            p.ms(0.99),
            p.histogram.max() as f64 / 1000.0,
            p.total,
            p.errors,
            p.not_hot,
            p.per_get(p.sent()),
            p.per_get(p.evalsha()),
            p.other(),
        )?;
    }
    std::fs::write(path, text)?;
    Ok(())
}
