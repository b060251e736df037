//! [`RedisHotStore`]: one region's hot tier on Redis, standalone or Cluster (feature `redis`).
//!
//! # Layout
//! Every key starts with a configurable prefix `P` (so tests and tenants can share a server).
//! Sessions are spread over `idle_shards` shards by their id (already a uniform digest); shard
//! `n`'s keys carry the hash tag `{P:n}` so they live in one Cluster slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{P:n}:s:<id hex>.<home>` | string | the session record (below); PEXPIRE = hot TTL |
//! | `{P:n}:idle` | sorted set | member `<id hex>.<home>`, score = the record's last access (ms): the idle index |
//! | `{P:n}:dirty` | set | sessions whose newest version is not in the cold tier (write-behind) |
//! | `{P:g:<home>}` | sorted set | member `<id hex>.<home>`, score 0: failover copies held here of sessions homed in region number `<home>` ([`HotStore::guests`]); written beside the put of a copy with a holder, pruned lazily when listed |
//! | `{P:u:<16 hex of SHA-256(user)>}:ids` | sorted set | member `<id hex>.<home>`, score 0: the user's sessions (list, revoke, erase), read a page at a time in member order (`ZRANGE ... BYLEX LIMIT`) |
//!
//! The record is one string so that a hot access can be a single `GETEX`: a fixed-width ASCII
//! header, then the user id, then the data bytes (`codec.rs` has the layout).
//!
//! A session's record and its idle and dirty entries share a slot, so every change to them is
//! one atomic Lua script (`scripts.rs`, their text in `lua/`); the index is spread over
//! `idle_shards` slots so no single slot is hot.
//! The user index lives in the user's own slot and is written beside the script (in flight
//! together) and pruned lazily: entries whose session is gone are dropped when the user's
//! sessions are listed. Every member has score 0, so the set is ordered by member, and a member
//! `<hex>.<home>` sorts as its [`SessionId`] does for ids with different digests (see
//! [`HotStore::sessions_of_user_page`]): a page after an id is `ZRANGE key (<member> + BYLEX
//! LIMIT 0 n`, however many sessions the user has.
//!
//! Earlier versions kept the index as a plain set at `{P:u:<16 hex>}` (same slot). A listing
//! moves what such a set holds into the sorted set first (`user_set_upgrade.lua`, atomically, a
//! bounded batch per call), so sessions indexed by an older instance, during a rolling upgrade
//! too, are still listed and revoked.
//!
//! # Round trips
//! A hot access ([`HotStore::get_and_touch`]) is one round trip, one command, and counts the
//! request in the session's activity (`Session::activity`, the analytics summary's requests,
//! visits and think time):
//! - a *full touch*, one EVALSHA (`touch.lua`): `GETEX PX ttl`, last access := now in the record,
//!   ZADD into the idle index, the request counted in the record, atomically;
//! - or a *light touch*, when this store itself fully touched the session less than
//!   `min(touch_granularity, ttl / 2)` ago (granularity default 10 s): a plain `GET` (or `GETEX
//!   PX ttl` with `refresh_ttl_on_every_access`), leaving the recorded last access, the index (and
//!   by default the TTL) alone. Its request is counted in this process ([`Held`]) and the answer
//!   shows it; the held counts reach the record with the session's next full touch by this store
//!   (the same EVALSHA), or, when none comes within a granularity, with one `add_activity.lua`
//!   call made by the store's next call after that ([`RedisHotStore::write_held_counts`]; also
//!   before every demotion pass). Counting in the light touch's own command was tried and
//!   dropped: a script on every light touch cut the store's throughput from 79 % to 27 % of a
//!   bare GET's (`redis_hot_path` bench, docs/performance.md). The price: a process that stops
//!   loses the counts of its last granularity of light touches (serve writes them on a graceful
//!   stop). The answer is checked: if the record's last access is in fact older than that window
//!   (someone wrote an older state since), a full touch follows and counts the request.
//!
//! So the recorded last access (and the idle index, which always equals it) and the TTL's start
//! lag the true last access by less than `touch_granularity`, which must be far below
//! `promotion_threshold` (10 s against 30 min by default). The demotion race stays safe: a
//! session is a candidate only if its recorded access is a whole threshold old, so any touch
//! after the sync job read it is a full touch and changes the record, and the conditional
//! removal keeps it hot. `touch_granularity = 0` makes every access a full touch (exact last
//! access and TTL; the server spends about 15x a GET's time on it, see the `redis_hot_path`
//! bench), which is the literal reading of "every access moves the session in the index".
//!
//! Demotion candidates come from the idle index (ZRANGEBYSCORE over the shards, merged oldest
//! first), never from SCAN or keyspace notifications; an index entry whose record has expired is
//! answered as [`IdleEntry::Vanished`] and removed. Commands for different keys are sent
//! concurrently over the multiplexed connection, so they share one round trip's latency.
//!
//! # Failures
//! Every call is bounded by `timeout` (default 250 ms) and any failure is
//! [`StoreError::Unavailable`] ([`HotLookup::Unavailable`] for lookups). The standalone
//! connection is a `ConnectionManager` and the Cluster connection reconnects by itself, so a
//! restarted server is used again without restarting the process. Scripts missing after a
//! restart (NOSCRIPT) are loaded again transparently.

mod codec;
mod lease;
mod outbox;
mod scripts;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, ErrorKind, RedisError, RedisFuture, RedisResult, Script, Value};
use futures_util::future::join_all;
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::analytics::{Activity, VISIT_GAP_MS};
use crate::error::StoreError;
use crate::session::{RegionId, Session, SessionData, SessionId, UserId};
use crate::store::{HotLookup, HotStore, HotUpdate, HotWrite, IdleEntry};
use crate::time::Timestamp;
use codec::{MEMBER_CAPACITY, decode_record, encode_record, member, padded, parse_member, push_member};
use scripts::Scripts;

/// How to reach and lay out one region's hot tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisHotConfig {
    /// `redis://host:port` of the server (standalone), or of one or more Cluster nodes.
    pub urls: Vec<String>,
    /// True for a Redis Cluster. Default: false.
    pub cluster: bool,
    /// Prefix of every key; must not contain `{` or `}`. Default: `hotcold`.
    pub key_prefix: String,
    /// Number of shards (Cluster slots) the sessions and the idle index are spread over.
    /// Default: 64.
    pub idle_shards: u16,
    /// Upper bound of every call, round trip included. Default: 250 ms.
    pub timeout: Duration,
    /// Upper bound of one connection attempt. Default: 1 s.
    pub connect_timeout: Duration,
    /// Name used in errors and logs, e.g. `redis us-east-1`. Default: `redis`.
    pub label: String,
    /// A session this store fully touched less than this long ago is touched lightly (the
    /// request counted, last access and index left alone); see the module documentation. Must be far below
    /// `promotion_threshold`; zero makes every access a full touch. Default: 10 s.
    pub touch_granularity: Duration,
    /// On a light touch (within the granularity), also refresh the TTL (`GETEX PX`) instead of
    /// reading with a `GET`. The GET costs the server what any GET costs (the TTL was refreshed by the
    /// full touch less than `min(granularity, ttl / 2)` ago, so the key expires at most that much
    /// early); GETEX refreshes it exactly, at about 1.8x a GET's server time. Default: false.
    pub refresh_ttl_on_every_access: bool,
    /// For `rediss://` URLs (TLS, rustls): the PEM certificate(s) of the authority that signed
    /// the server's certificate, for a private CA; `None` trusts the operating system's roots.
    /// Default: None.
    pub tls_root_cert: Option<Vec<u8>>,
    /// A request more than this long after the session's previous one starts a new visit in the
    /// session's activity (the analytics summary's visits and think time): the deployment's
    /// promotion threshold. Default: [`VISIT_GAP_MS`], the ADR's 30 minutes.
    pub visit_gap: Duration,
}

impl RedisHotConfig {
    /// A standalone server at `url`, every other setting at its default.
    pub fn standalone(url: impl Into<String>) -> Self {
        Self {
            urls: vec![url.into()],
            cluster: false,
            key_prefix: "hotcold".into(),
            idle_shards: 64,
            timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(1),
            label: "redis".into(),
            touch_granularity: Duration::from_secs(10),
            refresh_ttl_on_every_access: false,
            tls_root_cert: None,
            visit_gap: Duration::from_millis(VISIT_GAP_MS),
        }
    }

    /// A Redis Cluster reached through `seeds`, every other setting at its default.
    pub fn cluster(seeds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self { urls: seeds.into_iter().map(Into::into).collect(), cluster: true, ..Self::standalone("") }
    }

    /// Sets the key prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the label used in errors.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the touch granularity (zero: every access is a full touch).
    #[must_use]
    pub const fn with_touch_granularity(mut self, granularity: Duration) -> Self {
        self.touch_granularity = granularity;
        self
    }

    /// Sets the visit gap (see [`RedisHotConfig::visit_gap`]).
    #[must_use]
    pub const fn with_visit_gap(mut self, gap: Duration) -> Self {
        self.visit_gap = gap;
        self
    }

    /// Sets the per-call timeout.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts the authority of `pem` (its certificates, PEM) for `rediss://` connections.
    #[must_use]
    pub fn with_tls_root_cert(mut self, pem: Vec<u8>) -> Self {
        self.tls_root_cert = Some(pem);
        self
    }

    /// The certificates a TLS connection trusts, when a private authority is configured.
    fn tls_certificates(&self) -> Option<::redis::TlsCertificates> {
        self.tls_root_cert.clone().map(|root| ::redis::TlsCertificates { client_tls: None, root_cert: Some(root) })
    }
}

/// The connection: a reconnecting standalone connection or a Cluster connection. Both are
/// multiplexed and cheap to clone. `Lazy` is one of those still being established in the
/// background ([`RedisHotStore::connect_lazy`]): until it is, every command fails at once.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Lazy(Arc<LazyConn>),
}

/// A connection a background task keeps trying to open (once open, the connection reconnects by
/// itself like any other, so the task ends).
struct LazyConn {
    conn: OnceLock<Conn>,
    /// Why the last attempt failed, for the errors of the commands sent meanwhile.
    last_error: Mutex<String>,
}

impl LazyConn {
    /// The open connection, or the error a command gets while there is none.
    fn current(&self) -> RedisResult<Conn> {
        self.conn.get().cloned().ok_or_else(|| {
            let why = self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            RedisError::from((ErrorKind::Io, "not connected yet", why))
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Lazy(lazy) => {
                let current = lazy.current();
                Box::pin(async move { current?.req_packed_command(cmd).await })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a ::redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Self::Lazy(lazy) => {
                let current = lazy.current();
                Box::pin(async move { current?.req_packed_commands(cmd, offset, count).await })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Lazy(lazy) => lazy.conn.get().map_or(0, Self::get_db),
        }
    }
}

/// One region's hot tier on Redis (standalone or Cluster). See the module documentation for
/// the key layout and the round-trip budget.
pub struct RedisHotStore {
    config: RedisHotConfig,
    conn: Conn,
    scripts: Scripts,
    /// Sessions this store fully touched recently, with the last access it recorded (a hint for
    /// choosing the light touch, checked against the record it returns) and the requests its
    /// light touches counted since.
    recent: Mutex<FxHashMap<SessionId, Recent>>,
    /// When the held counts were last looked through for ones to write ([`Self::write_held_counts`]), ms.
    held_checked_at: AtomicU64,
}

/// A session this store fully touched recently.
#[derive(Debug, Clone, Copy, Default)]
struct Recent {
    /// The last access its last full touch recorded, ms.
    touched_at: u64,
    /// The requests light touches counted since, not yet in the record.
    held: Held,
}

/// Requests counted by light touches and held in the process until they are added to the record
/// (by the next full touch, or [`RedisHotStore::write_held_counts`]): the increments of an
/// [`Activity`], and the latest request.
pub type Held = Activity;

/// Bound of the recent-touch hint map; when full it keeps only the entries holding counts (the
/// rest is only a hint).
const RECENT_CAPACITY: usize = 1 << 20;

/// Retries the redis client makes by itself within one call (reconnecting, following a Cluster
/// slot that moved): enough to ride out a dropped connection or a failover, few enough that the
/// call's `timeout` still bounds them.
const CLIENT_RETRIES: u32 = 2;

/// The client's first wait before a retry, in ms; the waits grow up to [`RETRY_MAX_WAIT_MS`].
const RETRY_MIN_WAIT_MS: u64 = 10;

/// The client's longest wait before a retry, in ms: below the default call timeout (250 ms), so a
/// retry can still answer in time.
const RETRY_MAX_WAIT_MS: u64 = 200;

/// The first connection may take this many `connect_timeout`s: the first attempt and the retries.
const FIRST_CONNECTION_ATTEMPTS: u32 = CLIENT_RETRIES + 1;

/// How often a lazily connecting store tries again to open its first connection.
const LAZY_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Room in a record key beyond the prefix and the member: `{`, `:`, a shard number of up to 5
/// digits and `}:s:`, rounded up.
const KEY_TAG_CAPACITY: usize = 12;

/// Bytes of SHA-256(user id) in a user-index key (16 hex digits). Two users sharing a key only
/// share an index, and listing filters it by user, so a collision costs a read, never a wrong
/// answer.
const USER_KEY_DIGEST_BYTES: usize = 8;

/// Members moved per call of the legacy user-set upgrade script: one call's work on the server
/// stays small however large an old set is.
const USER_SET_UPGRADE_BATCH: usize = 1000;

/// Refuses settings no connection can fix.
fn check_config(config: &RedisHotConfig) -> Result<(), StoreError> {
    let bad = |detail: &str| Err(StoreError::unavailable(&config.label, detail));
    if config.key_prefix.contains(['{', '}']) {
        return bad("the key prefix must not contain '{' or '}'");
    }
    if config.idle_shards == 0 || config.urls.is_empty() {
        return bad("need at least one url and one idle shard");
    }
    Ok(())
}

/// Opens the connection, within the first connection's budget (the attempt and its retries).
async fn open(config: &RedisHotConfig) -> Result<Conn, StoreError> {
    let connecting = async {
        if config.cluster {
            let mut builder = ClusterClientBuilder::new(config.urls.clone())
                .connection_timeout(config.connect_timeout)
                .response_timeout(config.timeout)
                .retries(CLIENT_RETRIES)
                .min_retry_wait(RETRY_MIN_WAIT_MS)
                .max_retry_wait(RETRY_MAX_WAIT_MS);
            if let Some(certificates) = config.tls_certificates() {
                builder = builder.certs(certificates);
            }
            Ok::<_, RedisError>(Conn::Cluster(builder.build()?.get_async_connection().await?))
        } else {
            // `rediss://` is TLS (rustls): with the configured authority, or the system's roots.
            let url = config.urls[0].as_str();
            let client = match config.tls_certificates() {
                Some(certificates) => ::redis::Client::build_with_tls(url, certificates)?,
                None => ::redis::Client::open(url)?,
            };
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.timeout))
                .set_number_of_retries(CLIENT_RETRIES as usize)
                .set_min_delay(Duration::from_millis(RETRY_MIN_WAIT_MS))
                .set_max_delay(Duration::from_millis(RETRY_MAX_WAIT_MS));
            Ok(Conn::Single(ConnectionManager::new_with_config(client, manager_config).await?))
        }
    };
    let budget = config.connect_timeout * FIRST_CONNECTION_ATTEMPTS;
    match tokio::time::timeout(budget, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(StoreError::unavailable(&config.label, e.to_string())),
        Err(_) => Err(StoreError::unavailable(&config.label, format!("no connection within {budget:?}"))),
    }
}

/// The background task of [`RedisHotStore::connect_lazy`]: tries once a second until connected
/// (then loads the scripts, best effort) or until the store is dropped.
async fn keep_connecting(config: RedisHotConfig, lazy: Weak<LazyConn>) {
    loop {
        tokio::time::sleep(LAZY_RETRY_INTERVAL).await;
        if lazy.strong_count() == 0 {
            return;
        }
        let opened = open(&config).await;
        let Some(lazy) = lazy.upgrade() else { return };
        match opened {
            Ok(conn) => {
                for script in Scripts::new().all() {
                    let mut loading = conn.clone();
                    let _ =
                        tokio::time::timeout(config.timeout, script.prepare_invoke().load_async(&mut loading)).await;
                }
                let _ = lazy.conn.set(conn);
                return;
            }
            Err(e) => *lazy.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = e.to_string(),
        }
    }
}

impl fmt::Debug for RedisHotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisHotStore").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The keys of one session.
struct Keys {
    member: String,
    session: String,
    idle: String,
    dirty: String,
}

impl RedisHotStore {
    /// Connects (the first connection must succeed; later outages are survived) and loads the
    /// Lua scripts.
    pub async fn connect(config: RedisHotConfig) -> Result<Self, StoreError> {
        check_config(&config)?;
        let conn = open(&config).await?;
        let store = Self::with_conn(config, conn);
        store.load_scripts().await?;
        Ok(store)
    }

    /// Like [`Self::connect`], but a server that cannot be reached does not fail: the store is
    /// answered at once, every call answers [`StoreError::Unavailable`] until a background task
    /// (one attempt a second) has connected, and the scripts are loaded then. For the other
    /// regions' hot tiers of a service, which must start while one of them is down (DESIGN: "one
    /// region's trouble stays in that region"). Only a bad configuration is an error.
    pub async fn connect_lazy(config: RedisHotConfig) -> Result<Self, StoreError> {
        check_config(&config)?;
        let first = match open(&config).await {
            Ok(conn) => {
                let store = Self::with_conn(config, conn);
                // The server may have gone since; the scripts are loaded on demand then.
                let _ = store.load_scripts().await;
                return Ok(store);
            }
            Err(e) => e,
        };
        let lazy = Arc::new(LazyConn { conn: OnceLock::new(), last_error: Mutex::new(first.to_string()) });
        tokio::spawn(keep_connecting(config.clone(), Arc::downgrade(&lazy)));
        Ok(Self::with_conn(config, Conn::Lazy(lazy)))
    }

    fn with_conn(config: RedisHotConfig, conn: Conn) -> Self {
        Self {
            config,
            conn,
            scripts: Scripts::new(),
            recent: Mutex::new(FxHashMap::default()),
            held_checked_at: AtomicU64::new(0),
        }
    }

    /// Loads every Lua script (on every primary of a Cluster), so the first hot access is a
    /// single EVALSHA. Scripts lost later (server restart) are reloaded on demand.
    async fn load_scripts(&self) -> Result<(), StoreError> {
        for script in self.scripts.all() {
            let mut conn = self.conn.clone();
            let loading = async move { script.prepare_invoke().load_async(&mut conn).await };
            self.timed(loading).await?;
        }
        Ok(())
    }

    /// A bare `GET key` over the store's own connection: the benchmark's baseline.
    pub async fn raw_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(key);
        self.timed(async move { cmd.query_async::<Option<Vec<u8>>>(&mut conn).await }).await
    }

    /// A bare `SET key value` over the store's own connection (benchmark set-up).
    pub async fn raw_set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let cmd = ::redis::cmd("SET").arg(key).arg(value).to_owned();
        self.timed(async move { cmd.query_async::<()>(&mut conn).await }).await
    }

    /// `PING` over the store's own connection: is the server reachable now (readiness probes)?
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.timed(async move { ::redis::cmd("PING").query_async::<()>(&mut conn).await }).await
    }

    /// The keys of a session: its record, its shard's idle index and its shard's dirty set, all in
    /// one Cluster slot (for tools and tests).
    pub fn keys_of(&self, id: &SessionId) -> [String; 3] {
        let keys = self.keys(id);
        [keys.session, keys.idle, keys.dirty]
    }

    /// The shard a session lives in.
    fn shard(&self, id: &SessionId) -> u16 {
        // Ids are SHA-256 digests, but fold every byte anyway so that ids which differ in only a
        // few bytes (tests, tools) still spread.
        let hash = id.hash_bytes();
        let (low, high) = hash.split_at(8);
        let low = u64::from_le_bytes(low.try_into().unwrap_or_default());
        let high = u64::from_le_bytes(high.try_into().unwrap_or_default());
        let folded = (low.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ high.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)) >> 32;
        u16::try_from(folded % u64::from(self.config.idle_shards)).unwrap_or(0)
    }

    fn tag(&self, shard: u16) -> String {
        format!("{{{}:{shard}}}", self.config.key_prefix)
    }

    /// The record key alone (the bare-GETEX path needs nothing else).
    fn session_key(&self, id: &SessionId) -> String {
        use std::fmt::Write as _;
        let mut key = String::with_capacity(self.config.key_prefix.len() + KEY_TAG_CAPACITY + MEMBER_CAPACITY);
        let _ = write!(key, "{{{}:{}}}:s:", self.config.key_prefix, self.shard(id));
        push_member(&mut key, id);
        key
    }

    fn keys(&self, id: &SessionId) -> Keys {
        let member = member(id);
        let tag = self.tag(self.shard(id));
        Keys {
            session: format!("{tag}:s:{member}"),
            idle: format!("{tag}:idle"),
            dirty: format!("{tag}:dirty"),
            member,
        }
    }

    /// The index of failover copies held here of sessions homed in `home`: one sorted set per
    /// home, in its own slot (it holds entries only during and after a failover).
    fn guest_key(&self, home: RegionId) -> String {
        format!("{{{}:g:{}}}", self.config.key_prefix, home.0)
    }

    /// The user's index: a sorted set, in the slot of the hash tag of the legacy set's key.
    fn user_key(&self, user: &UserId) -> String {
        format!("{}:ids", self.legacy_user_key(user))
    }

    /// The plain set earlier versions indexed a user's sessions in (see the module
    /// documentation); its name is the hash tag of [`Self::user_key`].
    fn legacy_user_key(&self, user: &UserId) -> String {
        let digest = Sha256::digest(user.as_str().as_bytes());
        let hex: String = digest[..USER_KEY_DIGEST_BYTES].iter().map(|b| format!("{b:02x}")).collect();
        format!("{{{}:u:{hex}}}", self.config.key_prefix)
    }

    /// Moves whatever an older version left in the user's legacy set into the sorted set, a
    /// batch per script call (each atomic, so no entry is ever in neither). Almost always one
    /// call that finds nothing.
    async fn upgrade_user_set(&self, user: &UserId) -> Result<(), StoreError> {
        let keys = [self.legacy_user_key(user), self.user_key(user)];
        loop {
            let args = vec![USER_SET_UPGRADE_BATCH.to_string().into_bytes()];
            let moved = self.eval(&self.scripts.user_set_upgrade, &[&keys[0], &keys[1]], args).await?;
            match moved {
                Value::Int(n) if usize::try_from(n).is_ok_and(|n| n < USER_SET_UPGRADE_BATCH) => return Ok(()),
                Value::Int(_) => {}
                other => return Err(self.corrupt(format!("unexpected user-set upgrade answer {}", kind(&other)))),
            }
        }
    }

    /// Reads the records `members` (of `user`'s index) name, concurrently: the user's sessions
    /// among them, in the order of `members`. Entries whose record is gone, belongs to someone
    /// else, is a tombstone or does not decode are dropped from the index (lazy pruning): one
    /// corrupt record must not block listing, revoking or erasing the user's other sessions (it
    /// ends with its TTL).
    async fn read_members(&self, user: &UserId, members: &[Value]) -> Result<Vec<Session>, StoreError> {
        let reads = members.iter().map(|member| async move {
            let member = match member {
                Value::BulkString(m) => String::from_utf8_lossy(m).into_owned(),
                _ => return Err(self.corrupt("malformed user-index member")),
            };
            let Some(id) = parse_member(&member) else { return Ok((member, None)) };
            let record = self.query(::redis::cmd("GET").arg(self.keys(&id).session).to_owned()).await?;
            let session = self.decode_optional(id, record).unwrap_or(None);
            Ok((member, session))
        });
        let mut sessions = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        for answer in join_all(reads).await {
            match answer? {
                (_, Some(session)) if &session.user_id == user && !session.is_tombstone() => sessions.push(session),
                (member, _) => gone.push(member),
            }
        }
        if !gone.is_empty() {
            let _ = self.query(::redis::cmd("ZREM").arg(self.user_key(user)).arg(gone).to_owned()).await;
        }
        Ok(sessions)
    }

    fn unavailable(&self, detail: impl Into<String>) -> StoreError {
        StoreError::unavailable(&self.config.label, detail)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { backend: self.config.label.clone(), detail: detail.into() }
    }

    /// Moves an idle-index member that does not decode out of its shard's index into the
    /// quarantine set (`{prefix}:quarantine`, for a person to inspect), so no demotion pass meets
    /// it again; its record, if any, stays until its TTL ends.
    async fn quarantine(&self, shard: u16, member: &str, what: &str) -> Result<Option<IdleEntry>, StoreError> {
        let index = format!("{}:idle", self.tag(shard));
        self.query(::redis::cmd("ZREM").arg(index).arg(member).to_owned()).await?;
        let quarantine = format!("{}:quarantine", self.config.key_prefix);
        self.query(::redis::cmd("SADD").arg(quarantine).arg(member).to_owned()).await?;
        Ok(Some(IdleEntry::Unreadable { detail: format!("{}: {what}", self.config.label) }))
    }

    /// Runs a call under the configured timeout and maps its failure.
    async fn timed<T>(&self, call: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.unavailable(e.to_string())),
            Err(_) => Err(self.unavailable(format!("no answer within {:?}", self.config.timeout))),
        }
    }

    /// Runs a script (EVALSHA; on NOSCRIPT it is loaded and run again).
    async fn eval(&self, script: &Script, keys: &[&str], args: Vec<Vec<u8>>) -> Result<Value, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        self.timed(async move { invocation.invoke_async::<Value>(&mut conn).await }).await
    }

    /// Runs one plain command.
    async fn query(&self, cmd: Cmd) -> Result<Value, StoreError> {
        let mut conn = self.conn.clone();
        self.timed(async move { cmd.query_async::<Value>(&mut conn).await }).await
    }

    fn decode(&self, id: SessionId, record: Vec<u8>) -> Result<Session, StoreError> {
        decode_record(id, record).map_err(|what| self.corrupt(format!("session record: {what}")))
    }

    /// Decodes an answer that is either nil or a record.
    fn decode_optional(&self, id: SessionId, value: Value) -> Result<Option<Session>, StoreError> {
        match value {
            Value::Nil => Ok(None),
            Value::BulkString(record) => self.decode(id, record).map(Some),
            other => Err(self.corrupt(format!("unexpected answer {}", kind(&other)))),
        }
    }

    fn remember_touch(&self, id: &SessionId, at: Timestamp) {
        if self.config.touch_granularity.is_zero() {
            return;
        }
        let mut recent = self.recent();
        if recent.len() >= RECENT_CAPACITY {
            recent.retain(|_, entry| entry.held.requests > 0);
        }
        recent.entry(*id).or_default().touched_at = at.0;
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, FxHashMap<SessionId, Recent>> {
        self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a light touch's request at `now` for the session whose record holds `recorded`:
    /// held in the process; answers the activity with it (the record's plus every held count).
    fn count_light_touch(&self, id: &SessionId, recorded: &Activity, now: Timestamp) -> Activity {
        let gap = u64::try_from(self.config.visit_gap.as_millis()).unwrap_or(u64::MAX);
        let mut recent = self.recent();
        let entry = recent.entry(*id).or_default();
        let before = with_held(recorded, &entry.held);
        let mut after = before;
        after.record_with_gap(now, gap);
        let held = &mut entry.held;
        held.requests = held.requests.saturating_add(1);
        held.visits = held.visits.saturating_add(after.visits.saturating_sub(before.visits));
        held.think_ms = held.think_ms.saturating_add(after.think_ms.saturating_sub(before.think_ms));
        held.last_request_at = held.last_request_at.max(now);
        after
    }

    /// Takes the counts held for `id` (zero if none).
    fn take_held(&self, id: &SessionId) -> Held {
        self.recent().get_mut(id).map(|entry| std::mem::take(&mut entry.held)).unwrap_or_default()
    }

    /// Puts counts taken for a write that failed back, to go with a later one.
    fn restore_held(&self, id: &SessionId, held: Held) {
        if held.requests > 0 {
            let mut recent = self.recent();
            let entry = &mut recent.entry(*id).or_default().held;
            *entry = with_held(entry, &held);
        }
    }

    /// Adds the light touches' counts held for more than a touch granularity (no light touch can
    /// add to them any more; the session's next access is a full touch that would take them, but
    /// it may never come) to their records: one `add_activity.lua` call each, concurrently. Looks
    /// at most once per granularity unless `all`; with `all`, writes every held count (a graceful
    /// stop). Counts whose write fails are dropped: they are analytics, and a retry could add
    /// them twice. Answers how many sessions' counts were written.
    pub async fn write_held_counts(&self, now: Timestamp, all: bool) -> usize {
        if self.config.touch_granularity.is_zero() {
            // Every access a full touch: no light touch, nothing held (and no lock taken on
            // every call to find that out).
            return 0;
        }
        let granularity = u64::try_from(self.config.touch_granularity.as_millis()).unwrap_or(u64::MAX);
        if !all {
            let checked = self.held_checked_at.load(Ordering::Relaxed);
            if now.0.saturating_sub(checked) < granularity
                || self.held_checked_at.compare_exchange(checked, now.0, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                return 0;
            }
        }
        let due: Vec<(SessionId, Held)> = {
            let mut recent = self.recent();
            recent
                .iter_mut()
                .filter(|(_, entry)| {
                    entry.held.requests > 0 && (all || now.0.saturating_sub(entry.touched_at) >= granularity)
                })
                .map(|(id, entry)| (*id, std::mem::take(&mut entry.held)))
                .collect()
        };
        let writes = due.iter().map(|(id, held)| {
            let key = self.session_key(id);
            let args = held.numbers().map(|n| n.to_string().into_bytes()).to_vec();
            async move { self.eval(&self.scripts.add_activity, &[&key], args).await.is_ok() }
        });
        join_all(writes).await.into_iter().filter(|written| *written).count()
    }

    /// How long after a full touch a light touch may serve: the granularity, and at most half
    /// the TTL so a key read with a bare GET always has half its TTL left.
    fn light_window(&self, ttl: Duration) -> Duration {
        self.config.touch_granularity.min(ttl / 2)
    }

    fn recently_touched(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> bool {
        let window = u64::try_from(self.light_window(ttl).as_millis()).unwrap_or(u64::MAX);
        self.recent().get(id).is_some_and(|entry| now.0.saturating_sub(entry.touched_at) < window)
    }

    /// [`HotStore::get_and_touch`] itself: a full touch, or a light one (see the module docs).
    async fn lookup(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        if !self.recently_touched(id, now, ttl) {
            return self.full_touch(id, &self.keys(id), now, ttl).await;
        }
        // Fully touched by us within the window: a light touch, one plain read.
        let cmd = if self.config.refresh_ttl_on_every_access {
            let mut cmd = ::redis::cmd("GETEX");
            cmd.arg(self.session_key(id)).arg("PX").arg(ttl_ms(ttl));
            cmd
        } else {
            let mut cmd = ::redis::cmd("GET");
            cmd.arg(self.session_key(id));
            cmd
        };
        let session = match self.query(cmd).await.and_then(|value| self.decode_optional(*id, value)) {
            Ok(Some(session)) => session,
            Ok(None) => {
                self.take_held(id);
                return HotLookup::Miss;
            }
            Err(e) => return HotLookup::Unavailable(e),
        };
        if now.since(session.last_access) >= self.light_window(ttl) {
            // The hint was wrong (an older state was written since): record this access.
            return self.full_touch(id, &self.keys(id), now, ttl).await;
        }
        if session.is_tombstone() {
            // A removal's marker serves no request.
            return HotLookup::Hit(session);
        }
        let activity = self.count_light_touch(id, &session.activity, now);
        HotLookup::Hit(Session { activity, ..session })
    }

    /// The full touch: one EVALSHA, which also adds the counts this store's light touches held.
    async fn full_touch(&self, id: &SessionId, keys: &Keys, now: Timestamp, ttl: Duration) -> HotLookup {
        let held = self.take_held(id);
        let mut args = vec![
            padded(now.0).into_bytes(),
            ttl_ms(ttl).into_bytes(),
            keys.member.clone().into_bytes(),
            now.0.to_string().into_bytes(),
            self.config.visit_gap.as_millis().to_string().into_bytes(),
            b"1".to_vec(),
        ];
        args.extend(held.numbers().map(|n| n.to_string().into_bytes()));
        let value = match self.eval(&self.scripts.touch, &[&keys.session, &keys.idle], args).await {
            Ok(value) => value,
            Err(e) => {
                self.restore_held(id, held);
                return HotLookup::Unavailable(e);
            }
        };
        match self.decode_optional(*id, value) {
            Ok(Some(session)) => {
                self.remember_touch(id, session.last_access);
                HotLookup::Hit(session)
            }
            Ok(None) => HotLookup::Miss,
            Err(e) => HotLookup::Unavailable(e),
        }
    }

    async fn drop_from_user_index(&self, user: &UserId, member: String) {
        // Best effort: a leftover entry is pruned the next time the user's sessions are listed.
        let _ = self.query(::redis::cmd("ZREM").arg(self.user_key(user)).arg(member).to_owned()).await;
    }

    /// Removes a session; the session removed, if any.
    async fn take_inner(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let keys = self.keys(id);
        let value = self
            .eval(&self.scripts.take, &[&keys.session, &keys.idle, &keys.dirty], vec![keys.member.clone().into_bytes()])
            .await?;
        let mut taken = self.decode_optional(*id, value)?;
        // What this store held for it leaves with it.
        let held = self.take_held(id);
        if let Some(session) = &mut taken {
            if !session.is_tombstone() {
                session.activity = with_held(&session.activity, &held);
            }
            self.drop_from_user_index(&session.user_id, keys.member).await;
        }
        Ok(taken)
    }

    /// The counts this store holds for `id`, left in place.
    fn held(&self, id: &SessionId) -> Held {
        self.recent().get(id).map(|entry| entry.held).unwrap_or_default()
    }
}

/// `recorded` with the `held` counts added (the later of the two last requests).
fn with_held(recorded: &Activity, held: &Held) -> Activity {
    Activity {
        requests: recorded.requests.saturating_add(held.requests),
        visits: recorded.visits.saturating_add(held.visits),
        think_ms: recorded.think_ms.saturating_add(held.think_ms),
        last_request_at: recorded.last_request_at.max(held.last_request_at),
    }
}

impl HotStore for RedisHotStore {
    async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        // Counts held for a granularity go out with this call's command, concurrently.
        let (lookup, _) =
            futures_util::future::join(self.lookup(id, now, ttl), self.write_held_counts(now, false)).await;
        lookup
    }

    async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
        let keys = self.keys(&session.id);
        let args = vec![
            keys.member.clone().into_bytes(),
            encode_record(session),
            ttl_ms(ttl).into_bytes(),
            session.last_access.0.to_string().into_bytes(),
            if session.is_dirty() { b"1".to_vec() } else { b"0".to_vec() },
        ];
        let script_keys = [keys.session.as_str(), keys.idle.as_str(), keys.dirty.as_str()];
        let write = self.eval(&self.scripts.put, &script_keys, args);
        let written = if session.is_tombstone() {
            // A tombstone belongs to no user: no user-index entry.
            write.await
        } else {
            // The script and the index entries go out together: one round trip's latency.
            let user_cmd =
                ::redis::cmd("ZADD").arg(self.user_key(&session.user_id)).arg(0).arg(&keys.member).to_owned();
            let guest = async {
                match session.hot_region {
                    // A failover copy: listed for the sync job that moves it home.
                    Some(_) => self
                        .query(
                            ::redis::cmd("ZADD")
                                .arg(self.guest_key(session.id.home()))
                                .arg(0)
                                .arg(&keys.member)
                                .to_owned(),
                        )
                        .await
                        .map(|_| ()),
                    None => Ok(()),
                }
            };
            let (written, indexed, listed) = futures_util::future::join3(write, self.query(user_cmd), guest).await;
            indexed?;
            listed?;
            written
        };
        match written? {
            Value::Int(1) => Ok(HotWrite::Written),
            Value::Int(0) => Ok(HotWrite::KeptNewer),
            other => Err(self.corrupt(format!("unexpected put answer {}", kind(&other)))),
        }
    }

    async fn update(
        &self,
        id: &SessionId,
        data: &SessionData,
        expected_version: u64,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<HotUpdate, StoreError> {
        let keys = self.keys(id);
        let args = vec![
            data.as_bytes().to_vec(),
            padded(expected_version).into_bytes(),
            padded(expected_version.saturating_add(1)).into_bytes(),
            padded(now.0).into_bytes(),
            ttl_ms(ttl).into_bytes(),
            keys.member.into_bytes(),
        ];
        let value = self.eval(&self.scripts.update, &[&keys.session, &keys.idle, &keys.dirty], args).await?;
        let Value::Array(items) = value else {
            return Err(self.corrupt(format!("unexpected update answer {}", kind(&value))));
        };
        match items.first() {
            Some(Value::Int(0)) => Ok(HotUpdate::Miss),
            Some(Value::Int(1)) => {
                let current =
                    items.get(1).and_then(bulk_u64).ok_or_else(|| self.corrupt("conflict answer without a version"))?;
                Ok(HotUpdate::Conflict { current })
            }
            Some(Value::Int(2)) => match items.get(1) {
                Some(Value::BulkString(record)) => {
                    let mut session = self.decode(*id, record.clone())?;
                    // An update counts no request; the answer shows the ones held, as a lookup's does.
                    session.activity = with_held(&session.activity, &self.held(id));
                    self.remember_touch(id, session.last_access);
                    Ok(HotUpdate::Updated(session))
                }
                _ => Err(self.corrupt("update answer without a record")),
            },
            _ => Err(self.corrupt("unexpected update answer")),
        }
    }

    async fn take(&self, id: &SessionId) -> HotLookup {
        match self.take_inner(id).await {
            Ok(Some(session)) => HotLookup::Hit(session),
            Ok(None) => HotLookup::Miss,
            Err(e) => HotLookup::Unavailable(e),
        }
    }

    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.take_inner(id).await?.is_some())
    }

    async fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> Result<bool, StoreError> {
        let keys = self.keys(id);
        let args =
            vec![padded(version).into_bytes(), padded(last_access.0).into_bytes(), keys.member.clone().into_bytes()];
        let value =
            self.eval(&self.scripts.remove_if_unchanged, &[&keys.session, &keys.idle, &keys.dirty], args).await?;
        match self.decode_optional(*id, value) {
            Ok(None) => Ok(false),
            Ok(Some(removed)) => {
                self.drop_from_user_index(&removed.user_id, keys.member).await;
                Ok(true)
            }
            // Removed, but the record did not decode: the user-index entry is pruned lazily.
            Err(_) => Ok(true),
        }
    }

    async fn idle_candidates(
        &self,
        idle_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<IdleEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A candidate has been idle a whole threshold, so whatever this store held for it is due:
        // written before the pass reads the records it demotes.
        self.write_held_counts(now, false).await;
        // Phase 1: the oldest `limit` entries of every shard (members and scores only), merged.
        let ranges = (0..self.config.idle_shards).map(|shard| {
            let cmd = ::redis::cmd("ZRANGEBYSCORE")
                .arg(format!("{}:idle", self.tag(shard)))
                .arg("-inf")
                .arg(idle_since.0)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .to_owned();
            self.query(cmd)
        });
        let mut indexed: Vec<(u64, String, u16)> = Vec::new();
        for (shard, answer) in (0..self.config.idle_shards).zip(join_all(ranges).await) {
            let Value::Array(items) = answer? else { return Err(self.corrupt("ZRANGEBYSCORE answered a non-array")) };
            for pair in items.chunks(2) {
                let (Some(Value::BulkString(member)), Some(score)) = (pair.first(), pair.get(1)) else {
                    return Err(self.corrupt("malformed ZRANGEBYSCORE answer"));
                };
                let score = match score {
                    Value::Double(d) => *d as u64,
                    other => bulk_f64(other).map(|d| d as u64).ok_or_else(|| self.corrupt("malformed score"))?,
                };
                // A member that is not UTF-8 cannot name a session: it is quarantined below.
                let member = String::from_utf8_lossy(member).into_owned();
                indexed.push((score, member, shard));
            }
        }
        indexed.sort();
        indexed.truncate(limit);

        // Phase 2: check each candidate atomically with its record (all in flight together).
        let idle_since_arg = padded(idle_since.0);
        let checks = indexed.iter().map(|(_, member, shard)| {
            let idle_since_arg = idle_since_arg.clone();
            async move {
                let Some(id) = parse_member(member) else {
                    return self.quarantine(*shard, member, "malformed idle-index member").await;
                };
                let keys = self.keys(&id);
                let args = vec![member.clone().into_bytes(), idle_since_arg.into_bytes()];
                let value =
                    self.eval(&self.scripts.idle_fetch, &[&keys.session, &keys.idle, &keys.dirty], args).await?;
                let Value::Array(items) = value else { return Err(self.corrupt("unexpected idle check answer")) };
                Ok(match items.first() {
                    Some(Value::Int(0)) => Some(IdleEntry::Vanished(id)),
                    Some(Value::Int(1)) => None,
                    Some(Value::Int(2)) => match items.get(1) {
                        Some(Value::BulkString(record)) => match decode_record(id, record.clone()) {
                            Ok(session) => Some(IdleEntry::Idle(session)),
                            Err(what) => return self.quarantine(*shard, member, what).await,
                        },
                        _ => return Err(self.corrupt("idle check answer without a record")),
                    },
                    _ => return Err(self.corrupt("unexpected idle check answer")),
                })
            }
        });
        let mut found = Vec::with_capacity(indexed.len());
        for answer in join_all(checks).await {
            found.extend(answer?);
        }
        Ok(found)
    }

    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for shard in 0..self.config.idle_shards {
            if found.len() >= limit {
                break;
            }
            let dirty_key = format!("{}:dirty", self.tag(shard));
            let cmd = ::redis::cmd("SRANDMEMBER").arg(&dirty_key).arg(limit - found.len()).to_owned();
            let Value::Array(members) = self.query(cmd).await? else {
                return Err(self.corrupt("SRANDMEMBER answered a non-array"));
            };
            let fetches = members.iter().map(|member| {
                let dirty_key = dirty_key.clone();
                async move {
                    let member = match member {
                        Value::BulkString(m) => String::from_utf8_lossy(m).into_owned(),
                        _ => return Err(self.corrupt("malformed dirty member")),
                    };
                    let Some(id) = parse_member(&member) else { return Err(self.corrupt("malformed dirty member")) };
                    let session = self.keys(&id).session;
                    let value = self
                        .eval(&self.scripts.dirty_fetch, &[&session, &dirty_key], vec![member.into_bytes()])
                        .await?;
                    self.decode_optional(id, value)
                }
            });
            for answer in join_all(fetches).await {
                if let Some(session) = answer? {
                    found.push(session);
                }
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
        let keys = self.keys(id);
        let args = vec![padded(version).into_bytes(), keys.member.into_bytes()];
        self.eval(&self.scripts.mark_persisted, &[&keys.session, &keys.dirty], args).await?;
        Ok(())
    }

    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.upgrade_user_set(user).await?;
        let range = ::redis::cmd("ZRANGE").arg(self.user_key(user)).arg(0).arg(-1).to_owned();
        let Value::Array(members) = self.query(range).await? else {
            return Err(self.corrupt("ZRANGE answered a non-array"));
        };
        self.read_members(user, &members).await
    }

    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.upgrade_user_set(user).await?;
        let user_key = self.user_key(user);
        // Exclusive lower bound: strictly after the cursor's member.
        let mut start = after.map_or_else(|| b"-".to_vec(), |id| format!("({}", member(id)).into_bytes());
        let mut sessions = Vec::new();
        // Entries that are pruned (gone, corrupt) leave the page short: read on after them until
        // it is full or the index ends. The bound moves past every member read, so this ends.
        while sessions.len() < limit {
            let wanted = limit - sessions.len();
            let range = ::redis::cmd("ZRANGE")
                .arg(&user_key)
                .arg(&start)
                .arg("+")
                .arg("BYLEX")
                .arg("LIMIT")
                .arg(0)
                .arg(wanted)
                .to_owned();
            let Value::Array(members) = self.query(range).await? else {
                return Err(self.corrupt("ZRANGE answered a non-array"));
            };
            start = match members.last() {
                Some(Value::BulkString(last)) => [b"(".as_slice(), last].concat(),
                Some(_) => return Err(self.corrupt("malformed user-index member")),
                None => break,
            };
            let read = members.len();
            sessions.extend(self.read_members(user, &members).await?);
            if read < wanted {
                break;
            }
        }
        Ok(sessions)
    }

    async fn session_count(&self) -> Result<u64, StoreError> {
        let counts = (0..self.config.idle_shards)
            .map(|shard| self.query(::redis::cmd("ZCARD").arg(format!("{}:idle", self.tag(shard))).to_owned()));
        let mut total = 0;
        for answer in join_all(counts).await {
            match answer? {
                Value::Int(n) => total += u64::try_from(n).unwrap_or(0),
                other => return Err(self.corrupt(format!("ZCARD answered {}", kind(&other)))),
            }
        }
        Ok(total)
    }

    async fn guests(&self, home: RegionId, limit: usize, _now: Timestamp) -> Result<Vec<Session>, StoreError> {
        let key = self.guest_key(home);
        let mut found = Vec::new();
        // Entries whose copy has gone (moved, demoted, expired) are pruned as they are met; a
        // few rounds fill the answer past them, and a short answer after that is still progress.
        for _ in 0..PAGE_ROUNDS {
            if limit == 0 {
                break;
            }
            let range = ::redis::cmd("ZRANGE").arg(&key).arg(0).arg(limit - 1).to_owned();
            let Value::Array(members) = self.query(range).await? else {
                return Err(self.corrupt("ZRANGE answered a non-array"));
            };
            let reads = members.iter().map(|member| async move {
                let member = match member {
                    Value::BulkString(m) => String::from_utf8_lossy(m).into_owned(),
                    _ => return Err(self.corrupt("malformed guest-index member")),
                };
                let Some(id) = parse_member(&member).filter(|id| id.home() == home) else { return Ok((member, None)) };
                let record = self.query(::redis::cmd("GET").arg(self.keys(&id).session).to_owned()).await?;
                Ok((member, self.decode_optional(id, record).unwrap_or(None)))
            });
            let mut gone = Vec::new();
            for answer in join_all(reads).await {
                match answer? {
                    (_, Some(copy)) if copy.hot_region.is_some() && !copy.is_tombstone() => found.push(copy),
                    (member, _) => gone.push(member),
                }
            }
            if !gone.is_empty() {
                self.query(::redis::cmd("ZREM").arg(&key).arg(&gone).to_owned()).await?;
            }
            if !found.is_empty() || members.len() < limit {
                break;
            }
        }
        Ok(found)
    }
}

/// Rounds of reads [`HotStore::guests`] may take to get past entries whose copy has gone.
const PAGE_ROUNDS: usize = 8;

fn ttl_ms(ttl: Duration) -> String {
    ttl.as_millis().max(1).to_string()
}

fn bulk_u64(value: &Value) -> Option<u64> {
    match value {
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn bulk_f64(value: &Value) -> Option<f64> {
    match value {
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::Int(n) => Some(*n as f64),
        _ => None,
    }
}

/// The shape of an answer, for error messages (never its content: it may hold session data).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a string",
        Value::Array(_) => "an array",
        _ => "another type",
    }
}
