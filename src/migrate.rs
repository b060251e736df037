//! `hotcold migrate --config FILE [--rate N]`: the bulk import of a Redis-only store's sessions
//! (the config's `legacy:` block, ADR-0010 phase 3) into the hybrid store.
//!
//! The job walks the legacy store with SCAN. Every session the rollout assigns to the hybrid side
//! is read, decoded and imported ([`SessionManager::import`] with `accessed = false`: idle sessions
//! go straight to DynamoDB, those active within `promotion_threshold` to their home hot tier too,
//! each keeping the expiry the legacy store gave it); only once the import has returned (the cold
//! write is durable) is the legacy copy deleted. Sessions on the legacy side of the split are
//! counted and left alone: with `rollout_percent: 100` every session goes.
//!
//! At most `--rate` sessions a second are read and imported (those left on the legacy side cost
//! no call). Progress is kept in a checkpoint file (`--checkpoint`, written by a temporary file
//! and a rename, so a crash leaves the old or the new one): the SCAN cursor of the page in
//! progress, the sessions of that page already dealt with, and the running counts. A run resumes
//! from it; a walk that reached the end says so and does nothing more until `--restart`.
//!
//! Every session is imported once, crash or not: a session imported and deleted is no longer in
//! the legacy store; one imported but not yet deleted when the job died is found in DynamoDB with
//! the same data on the next run, counted as already migrated and deleted without a second
//! import; one whose outcome the checkpoint holds is not looked at again. The final counts add up:
//! `seen = imported + already migrated + expired + removed before + left for the legacy side +
//! gone + failed`.
//!
//! Legacy ids are bearer secrets: nothing here prints one, nor any session data; the checkpoint
//! names sessions by the digest the hybrid store keys them by.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hotcold_engine::backends::legacy::{IMPORT_LOCK, LegacyStore};
use hotcold_engine::migration::{Imported, LegacyId, LegacyLayout, Reading, Rollout};
use hotcold_engine::{
    AuditSink, Clock, ColdStore, EngineError, HotStore, RegionId, SessionId, SessionManager, StoreError,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Failure;
use crate::serve::config::{LegacyEntry, ServeConfig};
use crate::serve::metrics::Metrics;
use crate::serve::{auth, connect, public_link_key, shutdown_signal};

/// Sessions a second when `--rate` is not given.
const DEFAULT_RATE: u32 = 500;

/// The checkpoint file when `--checkpoint` is not given, in the current directory.
const DEFAULT_CHECKPOINT: &str = "hotcold-migrate.checkpoint";

/// The `format` of a checkpoint this version writes and reads.
const CHECKPOINT_FORMAT: &str = "hotcold-migrate/1";

/// Keys SCAN is asked to look at per page (Redis may return more or fewer).
const SCAN_COUNT: usize = 100;

/// Calls to a backend that fails for a moment (unavailable, throttled), before the job stops.
const ATTEMPTS: u32 = 4;

/// Wait before the first retry; each later one waits four times longer (0.1 s, 0.4 s, 1.6 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A pacer that fell behind (a slow call) catches up by at most this much, so no second sees
/// more than `rate` sessions plus this share of it.
const PACE_SLACK: Duration = Duration::from_millis(20);

/// Without a terminal, a progress line this often.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(10);

/// Distinct failure reasons kept; further ones are counted under [`OTHER_REASONS`].
const MAX_REASONS: usize = 20;

/// The reason failures beyond [`MAX_REASONS`] distinct ones are counted under.
const OTHER_REASONS: &str = "other reasons";

/// The command line of `hotcold migrate`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) config: PathBuf,
    /// `N` or `N/s`; default [`DEFAULT_RATE`].
    pub(crate) rate: Option<String>,
    /// Default [`DEFAULT_CHECKPOINT`].
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) restart: bool,
}

/// Runs `hotcold migrate`.
pub(crate) fn migrate(args: &Args) -> Result<(), Failure> {
    let bad = |e: anyhow::Error| Failure::BadInput(e);
    let file = args.config.display().to_string();
    let config = ServeConfig::load(&args.config).map_err(|e| bad(anyhow!(e)))?;
    let (Some(legacy), Some((layout, rollout))) = (config.legacy.clone(), config.legacy_plan()) else {
        return Err(bad(anyhow!(
            "{file}: legacy: missing: `hotcold migrate` imports the sessions of the store named there (legacy.url)"
        )));
    };
    let rate = parse_rate(args.rate.as_deref()).map_err(bad)?;
    let config_dir = args.config.parent().unwrap_or_else(|| Path::new("."));
    let pseudonym_key = match &config.auth {
        Some(entry) => auth::pseudonym_key(entry, config_dir).map_err(|e| bad(anyhow!("{file}: {e}")))?,
        None => None,
    };
    let path = args.checkpoint.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CHECKPOINT));
    if path.file_name().is_none() {
        return Err(bad(anyhow!("--checkpoint: `{}` does not name a file", path.display())));
    }
    let home = config.legacy_home();
    let migration = fingerprint(&legacy.url, &layout.prefix, config.session_config.region_name(home));
    let state = if args.restart {
        Checkpoint::new(migration, rollout)
    } else {
        match Checkpoint::load(&path).map_err(bad)? {
            Some(state) => state.check_resumable(&migration, rollout, &path).map_err(bad)?,
            None => Checkpoint::new(migration, rollout),
        }
    };
    if state.complete {
        println!(
            "hotcold migrate: already complete (checkpoint {}); pass --restart to walk the legacy store again",
            path.display()
        );
        print!("{}", summary(&state.counts, state.rollout_percent));
        return Ok(());
    }
    // Written before any backend is touched: a checkpoint that cannot be written stops the job
    // before it imports anything.
    save(&path, &state, true).map_err(Failure::Failed)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    let job = Job { legacy, layout, rollout, home, rate, path };
    runtime.block_on(job.run(config, pseudonym_key, state))
}

/// What one run works with, besides the engine.
struct Job {
    legacy: LegacyEntry,
    layout: LegacyLayout,
    rollout: Rollout,
    home: RegionId,
    rate: u32,
    path: PathBuf,
}

impl Job {
    /// Connects the legacy store and the hybrid store, walks, delivers the audit records, and
    /// prints the counts.
    async fn run(
        self,
        config: ServeConfig,
        pseudonym_key: Option<hotcold_engine::PseudonymKey>,
        state: Checkpoint,
    ) -> Result<(), Failure> {
        let store = LegacyStore::connect(&self.legacy.url, self.layout.clone(), self.legacy.timeout)
            .await
            .map_err(|e| Failure::Failed(anyhow!("cannot reach the legacy store (legacy.url): {e}")))?;
        let metrics = Metrics::new().context("cannot register the metrics").map_err(Failure::Failed)?;
        let link_key = pseudonym_key.clone().unwrap_or_else(public_link_key);
        let mut engine = connect(&config, &metrics, link_key).await.map_err(Failure::Failed)?;
        if let Some(key) = pseudonym_key {
            engine = engine.with_pseudonym_key(key);
        }
        let engine = Arc::new(engine);
        let manager = SessionManager::new(Arc::clone(&engine), config.region_id());
        let mut walk = Walk {
            manager: &manager,
            legacy: &store,
            layout: &self.layout,
            rollout: self.rollout,
            home: self.home,
            path: &self.path,
            state,
            pacer: Pacer::new(self.rate),
            progress: Progress::new(),
        };
        walk.progress.show(&walk.state.counts);
        let ended = tokio::select! {
            result = walk.run() => result.map(|()| true),
            () = shutdown_signal() => Ok(false),
        };
        walk.progress.finish();
        // Records the audit table did not take at once wait in the outbox (the region's Redis)
        // or in this process: deliver them before it ends.
        for (_, trail) in engine.audit().trails() {
            match trail.drain().await {
                Ok(drained) if drained.pending == 0 => {}
                Ok(drained) => {
                    eprintln!(
                        "hotcold migrate: audit: {} records wait in the outbox for hotcold serve",
                        drained.pending
                    );
                }
                Err(e) => eprintln!("hotcold migrate: audit: records may wait in the outbox for hotcold serve: {e}"),
            }
            if trail.spilled() > 0 {
                eprintln!("hotcold migrate: audit: {} records held in process are lost", trail.spilled());
            }
        }
        let counts = &walk.state.counts;
        let resume = format!("progress is saved in {}: run the same command again to resume", self.path.display());
        match ended {
            Ok(true) => {
                println!("hotcold migrate: walk complete (checkpoint {})", self.path.display());
                print!("{}", summary(counts, walk.state.rollout_percent));
                Ok(())
            }
            Ok(false) => {
                println!("hotcold migrate: interrupted");
                print!("{}", summary(counts, walk.state.rollout_percent));
                Err(Failure::Failed(anyhow!("interrupted; {resume}")))
            }
            Err(e) => {
                println!("hotcold migrate: stopped");
                print!("{}", summary(counts, walk.state.rollout_percent));
                Err(Failure::Failed(anyhow!("{e:#}; {resume}")))
            }
        }
    }
}

/// `--rate`: `N` or `N/s`, at least 1.
fn parse_rate(text: Option<&str>) -> anyhow::Result<u32> {
    let Some(text) = text else { return Ok(DEFAULT_RATE) };
    let number = text.trim();
    let number = number.strip_suffix("/s").unwrap_or(number);
    match number.trim().parse::<u32>() {
        Ok(rate) if rate > 0 => Ok(rate),
        _ => Err(anyhow!("--rate: expected a number of sessions a second above 0, such as 500 or 500/s, got `{text}`")),
    }
}

/// Names a migration in its checkpoint: a digest of the legacy store's address (without any
/// credentials in it), the key prefix and the home region, so a checkpoint is never resumed
/// against another store, nor with another home (which would give the sessions other ids).
fn fingerprint(url: &str, prefix: &str, home: &str) -> String {
    let address = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    };
    let digest = Sha256::new()
        .chain_update(b"hotcold-migrate\0")
        .chain_update(address.as_bytes())
        .chain_update(b"\0")
        .chain_update(prefix.as_bytes())
        .chain_update(b"\0")
        .chain_update(home.as_bytes())
        .finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What the walk counted. Every session SCAN returned is `seen` once and lands in exactly one of
/// the other counts (see [`Counts::adds_up`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Counts {
    /// Sessions found (valid legacy ids under the prefix).
    seen: u64,
    /// Imported to DynamoDB and to the home hot tier (active within `promotion_threshold`).
    imported_hot: u64,
    /// Imported to DynamoDB only (idle).
    imported_cold: u64,
    /// The hybrid store held the same session already (an import whose legacy delete a crash
    /// or a concurrent import on access cut short): legacy copy deleted, nothing imported.
    already_migrated: u64,
    /// Past their expiry (`cookie.expires`): nothing imported, legacy copy deleted.
    expired: u64,
    /// The hybrid store holds a removal marker (logged out, revoked or erased after an earlier
    /// import): nothing imported, legacy copy deleted.
    removed: u64,
    /// On the legacy side of the rollout: left alone.
    left_legacy: u64,
    /// No longer in the legacy store when read (imported on access meanwhile, or expired).
    gone: u64,
    /// Could not be imported: left in the legacy store; the reasons are in `failures`.
    failed: u64,
    /// Failed sessions by reason.
    failures: BTreeMap<String, u64>,
    /// Keys under the prefix that are not session ids (counted as their page completes): left
    /// alone, not counted in `seen`.
    not_session_keys: u64,
}

impl Counts {
    fn imported(&self) -> u64 {
        self.imported_hot + self.imported_cold
    }

    /// True when every session seen is in exactly one count, and the reasons cover the failures.
    fn adds_up(&self) -> bool {
        let outcomes = [
            self.imported_hot,
            self.imported_cold,
            self.already_migrated,
            self.expired,
            self.removed,
            self.left_legacy,
            self.gone,
            self.failed,
        ];
        outcomes.iter().try_fold(0u64, |sum, n| sum.checked_add(*n)) == Some(self.seen)
            && self.failures.values().try_fold(0u64, |sum, n| sum.checked_add(*n)) == Some(self.failed)
    }

    /// Counts one session's outcome.
    fn record(&mut self, outcome: &Outcome) {
        self.seen += 1;
        match outcome {
            Outcome::Imported { hot: true } => self.imported_hot += 1,
            Outcome::Imported { hot: false } => self.imported_cold += 1,
            Outcome::AlreadyMigrated => self.already_migrated += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Removed => self.removed += 1,
            Outcome::LeftLegacy => self.left_legacy += 1,
            Outcome::Gone => self.gone += 1,
            Outcome::Failed(reason) => {
                self.failed += 1;
                let reason = if self.failures.contains_key(reason) || self.failures.len() < MAX_REASONS {
                    reason.as_str()
                } else {
                    OTHER_REASONS
                };
                *self.failures.entry(reason.to_owned()).or_default() += 1;
            }
        }
    }

    /// One line for the progress bar or a log.
    fn short(&self) -> String {
        format!(
            "{} seen: {} imported, {} already migrated, {} expired, {} removed before, {} left for the legacy side, \
             {} gone, {} failed",
            self.seen,
            self.imported(),
            self.already_migrated,
            self.expired,
            self.removed,
            self.left_legacy,
            self.gone,
            self.failed
        )
    }
}

/// The counts as the table a run ends with.
fn summary(counts: &Counts, rollout_percent: f64) -> String {
    let rollout = if rollout_percent >= 100.0 {
        "rollout 100 %: every session goes".to_owned()
    } else {
        format!("rollout {rollout_percent} %")
    };
    let line = |label: &str, count: u64, note: &str| {
        let note = if note.is_empty() { String::new() } else { format!("  ({note})") };
        format!("  {label:<26}{count:>10}{note}\n")
    };
    let split = format!("hot tier too: {}, DynamoDB only: {}", counts.imported_hot, counts.imported_cold);
    let mut text = [
        line("sessions seen", counts.seen, ""),
        line("imported", counts.imported(), &split),
        line("already migrated", counts.already_migrated, "found in the hybrid store; legacy copy deleted"),
        line("expired", counts.expired, "not imported; legacy copy deleted"),
        line("removed before", counts.removed, "logged out, revoked or erased; legacy copy deleted"),
        line("left for the legacy side", counts.left_legacy, &rollout),
        line("gone", counts.gone, "no longer in the legacy store when read"),
        line("failed", counts.failed, "left in the legacy store"),
    ]
    .concat();
    for (reason, count) in &counts.failures {
        text.push_str(&format!("    {count:>8}  {reason}\n"));
    }
    if counts.not_session_keys > 0 {
        text.push_str(&line(
            "not session ids",
            counts.not_session_keys,
            "keys under the prefix, left alone; not in `seen`",
        ));
    }
    let verdict = if counts.adds_up() { "adds up" } else { "DOES NOT ADD UP" };
    text.push_str(&format!(
        "  imported + already migrated + expired + removed before + left + gone + failed = seen: {verdict}\n"
    ));
    text
}

/// The checkpoint file: where the walk is, what it counted. JSON, rewritten after every session
/// that touched a backend and after every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    format: String,
    /// [`fingerprint`] of the legacy store, prefix and home region walked.
    migration: String,
    /// `legacy.rollout_percent` of the walk: the split cannot change in the middle of one.
    rollout_percent: f64,
    /// The SCAN cursor of the page in progress (0: the first page, or the end when `complete`).
    cursor: u64,
    /// The walk reached the end.
    complete: bool,
    /// Sessions of the page in progress whose legacy copy is to be deleted (imported, already
    /// migrated, expired, removed before), by [`SessionId::to_hex`]: counted already; if one is
    /// still in the legacy store on a replay of the page, it is deleted and not counted again.
    page_moved: Vec<String>,
    /// Sessions of the page in progress counted already that stay where they are (left for the
    /// legacy side, gone, failed): skipped on a replay of the page.
    page_kept: Vec<String>,
    /// The running counts.
    counts: Counts,
}

impl Checkpoint {
    fn new(migration: String, rollout: Rollout) -> Self {
        Self {
            format: CHECKPOINT_FORMAT.to_owned(),
            migration,
            rollout_percent: rollout.percent(),
            cursor: 0,
            complete: false,
            page_moved: Vec::new(),
            page_kept: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// The checkpoint at `path`; `None` when there is none. A file that is not a checkpoint of
    /// this format is an error naming it.
    fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        let shown = path.display();
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow!("cannot read the checkpoint {shown}: {e}")),
        };
        let corrupt = |detail: String| {
            anyhow!(
                "{shown}: not a hotcold migrate checkpoint ({detail}); delete it or pass --restart to start the walk \
                 over (every session is still imported once)"
            )
        };
        let state: Self = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if state.format != CHECKPOINT_FORMAT {
            return Err(corrupt(format!("format `{}`, expected `{CHECKPOINT_FORMAT}`", state.format)));
        }
        if !state.counts.adds_up() {
            return Err(corrupt("its counts do not add up".to_owned()));
        }
        Ok(Some(state))
    }

    /// This checkpoint, if it belongs to the migration the config describes.
    fn check_resumable(self, migration: &str, rollout: Rollout, path: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        if self.migration != migration {
            return Err(anyhow!(
                "{shown}: this checkpoint is of another migration (legacy.url, legacy.prefix or legacy.region \
                 differ); pass another --checkpoint, or --restart to start over"
            ));
        }
        if self.complete {
            return Ok(self);
        }
        if self.rollout_percent != rollout.percent() {
            return Err(anyhow!(
                "{shown}: the walk began at legacy.rollout_percent {} and the config says {}: finish it at {} or \
                 pass --restart to walk again from the start",
                self.rollout_percent,
                rollout.percent(),
                self.rollout_percent
            ));
        }
        Ok(self)
    }
}

/// Writes `state` to `path` by a temporary file and a rename (a crash leaves the old file or the
/// new one, never half of one); `durable` also waits for the disk.
fn save(path: &Path, state: &Checkpoint, durable: bool) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| anyhow!("cannot write the checkpoint {}: {e}", path.display());
    let text = serde_json::to_vec_pretty(state).map_err(|e| anyhow!("cannot encode the checkpoint: {e}"))?;
    let mut name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(".tmp");
    let temp = path.with_file_name(name);
    let mut file = std::fs::File::create(&temp).map_err(fail)?;
    file.write_all(&text).map_err(fail)?;
    if durable {
        file.sync_all().map_err(fail)?;
    }
    drop(file);
    std::fs::rename(&temp, path).map_err(fail)
}

/// What became of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Imported { hot: bool },
    AlreadyMigrated,
    Expired,
    Removed,
    LeftLegacy,
    Gone,
    Failed(String),
}

impl Outcome {
    /// The legacy copy is to be deleted.
    const fn moves(&self) -> bool {
        matches!(self, Self::Imported { .. } | Self::AlreadyMigrated | Self::Expired | Self::Removed)
    }
}

/// Spaces sessions out to at most `rate` a second.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    fn new(rate: u32) -> Self {
        Self { interval: Duration::from_secs(1) / rate.max(1), next: None }
    }

    /// How long to wait at `now` before the next session; books its slot. A pacer that fell
    /// behind by more than [`PACE_SLACK`] starts afresh rather than catch up in a burst.
    fn delay(&mut self, now: Instant) -> Duration {
        let slot = match self.next {
            Some(next) if next + PACE_SLACK >= now => next,
            _ => now,
        };
        self.next = Some(slot + self.interval);
        slot.saturating_duration_since(now)
    }
}

/// The progress bar (stderr a terminal) or a line every [`PROGRESS_LINE_EVERY`] (a log).
struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} seen: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { bar, last_line: Instant::now() }
    }

    fn show(&mut self, counts: &Counts) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(counts.seen);
                bar.set_message(format!(
                    "imported {}, already {}, left {}, failed {}, other {}",
                    counts.imported(),
                    counts.already_migrated,
                    counts.left_legacy,
                    counts.failed,
                    counts.expired + counts.removed + counts.gone
                ));
            }
            None if self.last_line.elapsed() >= PROGRESS_LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!("hotcold migrate: {}", counts.short());
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether a store failure may pass if the call is made again.
const fn transient(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable { .. } | StoreError::Throttled { .. })
}

/// A legacy key that holds a Redis type other than a string: reading it again will not help.
fn wrong_type(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable { detail, .. } if detail.contains("WRONGTYPE"))
}

/// Calls `call` until it succeeds, fails for good, or has failed [`ATTEMPTS`] times for a
/// moment, with a growing wait between calls.
async fn with_retries<T, E, F, Fut>(mut call: F, transient: impl Fn(&E) -> bool) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if transient(&e) && attempt < ATTEMPTS => {
                tokio::time::sleep(backoff).await;
                backoff *= 4;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One walk over the legacy store, from the checkpoint to the end.
struct Walk<'a, H, C, A, K> {
    manager: &'a SessionManager<H, C, A, K>,
    legacy: &'a LegacyStore,
    layout: &'a LegacyLayout,
    rollout: Rollout,
    home: RegionId,
    path: &'a Path,
    state: Checkpoint,
    pacer: Pacer,
    progress: Progress,
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> Walk<'_, H, C, A, K> {
    /// Walks page by page until SCAN's cursor comes back to 0. An error stops the walk (a backend
    /// that keeps failing, a checkpoint that cannot be written); the checkpoint then holds all
    /// that was done.
    async fn run(&mut self) -> anyhow::Result<()> {
        while !self.state.complete {
            let (legacy, cursor) = (self.legacy, self.state.cursor);
            let page = with_retries(|| legacy.scan(cursor, SCAN_COUNT), transient)
                .await
                .map_err(|e| anyhow!("the legacy store (legacy.url) did not answer a SCAN: {e}"))?;
            for id in &page.ids {
                self.visit(id).await?;
            }
            self.state.counts.not_session_keys += page.foreign_keys;
            self.state.cursor = page.next_cursor;
            self.state.complete = page.next_cursor == 0;
            self.state.page_moved.clear();
            self.state.page_kept.clear();
            save(self.path, &self.state, true)?;
            self.progress.show(&self.state.counts);
        }
        Ok(())
    }

    /// Deals with one session SCAN returned.
    async fn visit(&mut self, legacy_id: &LegacyId) -> anyhow::Result<()> {
        let id = legacy_id.session_id(self.home);
        let key = id.to_hex();
        if self.state.page_kept.contains(&key) {
            return Ok(());
        }
        if self.state.page_moved.contains(&key) {
            // Counted before a crash that came before its legacy copy was deleted.
            return self.delete_legacy(legacy_id).await;
        }
        if !self.rollout.serves_hybrid(&id) {
            self.state.counts.record(&Outcome::LeftLegacy);
            self.state.page_kept.push(key);
            self.progress.show(&self.state.counts);
            return Ok(());
        }
        let delay = self.pacer.delay(Instant::now());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // The same lock `serve` takes to import on access: the session is imported by one of
        // them, and an update accepted after an import on access is never overwritten by this one.
        self.lock_import(&id).await?;
        let outcome = self.import(legacy_id, &id).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                let _ = self.legacy.unlock_import(&id).await;
                return Err(e);
            }
        };
        self.state.counts.record(&outcome);
        let moves = outcome.moves();
        if moves {
            self.state.page_moved.push(key);
        } else {
            self.state.page_kept.push(key);
        }
        // Counted before the legacy copy goes: a crash in between leaves an entry of
        // `page_moved` that the replay of this page finishes.
        save(self.path, &self.state, false)?;
        let deleted = if moves { self.delete_legacy(legacy_id).await } else { Ok(()) };
        // The lock expires by itself if this fails: nothing waits on it for longer.
        let _ = self.legacy.unlock_import(&id).await;
        deleted?;
        self.progress.show(&self.state.counts);
        Ok(())
    }

    /// Takes a session's import lock, waiting while `serve` holds it for an import on access
    /// (a lock lives [`IMPORT_LOCK`] at most, so a crashed holder's lock is gone by then).
    async fn lock_import(&self, id: &SessionId) -> anyhow::Result<()> {
        let deadline = Instant::now() + IMPORT_LOCK * 2;
        loop {
            let taken = with_retries(|| self.legacy.lock_import(id, IMPORT_LOCK), transient)
                .await
                .map_err(|e| anyhow!("the legacy store (legacy.url) did not answer a lock: {e}"))?;
            if taken {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(anyhow!("a session's import lock stayed taken for {:?}", IMPORT_LOCK * 2));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads, decodes and imports one session of the hybrid side. `Err` only for a backend
    /// that keeps failing (the job stops); a session that cannot be imported is
    /// [`Outcome::Failed`].
    async fn import(&self, legacy_id: &LegacyId, id: &SessionId) -> anyhow::Result<Outcome> {
        let value = match with_retries(|| self.legacy.read(legacy_id), |e| transient(e) && !wrong_type(e)).await {
            Ok(value) => value,
            // The store answers other calls: this key cannot be read (a hash, a list...).
            Err(e) if wrong_type(&e) => {
                return Ok(Outcome::Failed("its key holds a Redis type that is not a string (WRONGTYPE)".to_owned()));
            }
            Err(e) if self.legacy.scan(0, 1).await.is_ok() => {
                let detail = match e {
                    StoreError::Unavailable { detail, .. } | StoreError::Corrupt { detail, .. } => detail,
                    StoreError::Throttled { .. } => e.to_string(),
                };
                return Ok(Outcome::Failed(format!("the legacy store cannot read it: {detail}")));
            }
            Err(e) => return Err(anyhow!("the legacy store (legacy.url) did not answer a read: {e}")),
        };
        let Some(value) = value else { return Ok(Outcome::Gone) };
        let reading = Reading::of(self.manager.engine());
        let session = match self.layout.decode(legacy_id, self.home, &value.bytes, value.ttl, reading) {
            Ok(session) => session,
            Err(e) => return Ok(Outcome::Failed(e.to_string())),
        };
        if session.expires_at <= reading.now {
            return Ok(Outcome::Expired);
        }
        // What the hybrid store holds already: the same session means an earlier import whose
        // legacy delete did not happen (a crash, or an import on access racing this one).
        let held = with_retries(
            || self.manager.hybrid_record(id),
            |e: &EngineError| matches!(e, EngineError::Store(s) if transient(s)),
        )
        .await;
        let held = match held {
            Ok(Some(record)) if record.is_tombstone() => return Ok(Outcome::Removed),
            Ok(Some(record)) if record.user_id == session.user_id && record.data == session.data => {
                return Ok(Outcome::AlreadyMigrated);
            }
            Ok(held) => held,
            Err(EngineError::Store(StoreError::Corrupt { .. })) => {
                return Ok(Outcome::Failed("the hybrid store holds a malformed record of it".to_owned()));
            }
            Err(e) => return Err(anyhow!("the hybrid store did not answer: {e}")),
        };
        // The first attempt imports over the record just read; a retry reads it again (whatever
        // made the attempt fail may have changed it).
        let mut first = Some(held);
        let imported = with_retries(
            || {
                let held = first.take();
                let session = session.clone();
                async move {
                    match held {
                        Some(held) => self.manager.import_over(session, false, held.as_ref()).await,
                        None => self.manager.import(session, false).await,
                    }
                }
            },
            |e: &EngineError| {
                matches!(e, EngineError::Contention) || matches!(e, EngineError::Store(s) if transient(s))
            },
        )
        .await;
        match imported {
            Ok(Imported::Imported { hot, .. }) => Ok(Outcome::Imported { hot }),
            Ok(Imported::Removed) => Ok(Outcome::Removed),
            Ok(Imported::Expired) => Ok(Outcome::Expired),
            Err(EngineError::Store(StoreError::Corrupt { .. })) => {
                Ok(Outcome::Failed("the hybrid store holds a malformed record of it".to_owned()))
            }
            Err(e @ (EngineError::Store(_) | EngineError::Contention)) => {
                Err(anyhow!("the hybrid store did not take an import: {e}"))
            }
            Err(e) => Ok(Outcome::Failed(e.to_string())),
        }
    }

    /// Deletes the legacy copy of a session the hybrid store now answers for.
    async fn delete_legacy(&self, legacy_id: &LegacyId) -> anyhow::Result<()> {
        with_retries(|| self.legacy.remove(legacy_id), transient)
            .await
            .map(|_| ())
            .map_err(|e| anyhow!("the legacy store (legacy.url) did not answer a delete: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_a_positive_number_a_second() {
        assert_eq!(parse_rate(None).expect("default"), DEFAULT_RATE);
        assert_eq!(parse_rate(Some("200")).expect("plain"), 200);
        assert_eq!(parse_rate(Some("200/s")).expect("per second"), 200);
        for bad in ["0", "0/s", "-5", "fast", "", "1.5", "200/min"] {
            let error = parse_rate(Some(bad)).expect_err(bad).to_string();
            assert!(error.starts_with("--rate:") && error.contains(&format!("`{bad}`")), "{error}");
        }
    }

    #[test]
    fn the_pacer_keeps_to_the_rate_and_does_not_burst_after_a_stall() {
        let mut pacer = Pacer::new(100);
        let start = Instant::now();
        let mut now = start;
        for _ in 0..100 {
            now += pacer.delay(now);
        }
        // 100 sessions: the first at once, then one every 10 ms.
        assert_eq!(now - start, Duration::from_millis(990));
        // A timer that wakes 3 ms late loses no slot: the next ones catch up.
        now += Duration::from_millis(13);
        assert_eq!(pacer.delay(now), Duration::ZERO);
        assert_eq!(pacer.delay(now), Duration::from_millis(7));
        // A call that took a second: no burst of a hundred sessions to make up for it.
        now += Duration::from_secs(1);
        assert_eq!(pacer.delay(now), Duration::ZERO);
        assert_eq!(pacer.delay(now), Duration::from_millis(10));
    }

    #[test]
    fn every_outcome_is_counted_once_and_the_counts_add_up() {
        let mut counts = Counts::default();
        let outcomes = [
            Outcome::Imported { hot: true },
            Outcome::Imported { hot: false },
            Outcome::AlreadyMigrated,
            Outcome::Expired,
            Outcome::Removed,
            Outcome::LeftLegacy,
            Outcome::Gone,
            Outcome::Failed("bad json".into()),
            Outcome::Failed("bad json".into()),
        ];
        for outcome in &outcomes {
            counts.record(outcome);
        }
        assert_eq!(counts.seen, 9);
        assert_eq!((counts.imported(), counts.failed), (2, 2));
        assert_eq!(counts.failures.get("bad json"), Some(&2));
        assert!(counts.adds_up());
        let table = summary(&counts, 100.0);
        assert!(table.contains("every session goes") && table.contains(": adds up"), "{table}");
        counts.gone += 1;
        assert!(!counts.adds_up());
        assert!(summary(&counts, 50.0).contains("DOES NOT ADD UP"));
        let moving: Vec<bool> = outcomes.iter().map(Outcome::moves).collect();
        assert_eq!(moving, [true, true, true, true, true, false, false, false, false]);
    }

    #[test]
    fn failure_reasons_are_bounded() {
        let mut counts = Counts::default();
        for n in 0..MAX_REASONS + 5 {
            counts.record(&Outcome::Failed(format!("reason {n}")));
        }
        counts.record(&Outcome::Failed("reason 0".into()));
        assert_eq!(counts.failures.len(), MAX_REASONS + 1);
        assert_eq!(counts.failures.get(OTHER_REASONS), Some(&5));
        assert_eq!(counts.failures.get("reason 0"), Some(&2));
        assert!(counts.adds_up());
    }

    #[test]
    fn the_fingerprint_ignores_credentials_but_not_the_store() {
        let plain = fingerprint("redis://10.0.0.5:6379/0", "sess:", "us-east-1");
        assert_eq!(plain, fingerprint("redis://app:s3cret@10.0.0.5:6379/0", "sess:", "us-east-1"));
        assert_eq!(plain.len(), 16);
        assert_ne!(plain, fingerprint("redis://10.0.0.6:6379/0", "sess:", "us-east-1"));
        assert_ne!(plain, fingerprint("redis://10.0.0.5:6379/0", "app:", "us-east-1"));
        assert_ne!(plain, fingerprint("redis://10.0.0.5:6379/0", "sess:", "eu-west-1"));
    }

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hotcold-migrate-unit-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_checkpoint_round_trips_and_a_bad_one_is_named() {
        let dir = scratch("checkpoint");
        let path = dir.join("walk.checkpoint");
        let rollout = Rollout::new(50.0, "legacy.rollout_percent").expect("rollout");
        assert_eq!(Checkpoint::load(&path).expect("no file"), None);
        let mut state = Checkpoint::new("abc".into(), rollout);
        state.cursor = 1234;
        state.counts.record(&Outcome::Imported { hot: false });
        state.page_moved.push("00ff".into());
        save(&path, &state, true).expect("save");
        let loaded = Checkpoint::load(&path).expect("load").expect("present");
        assert_eq!(loaded, state);
        assert!(!dir.join("walk.checkpoint.tmp").exists(), "the temporary file was renamed");
        assert!(loaded.clone().check_resumable("abc", rollout, &path).is_ok());
        let other = loaded.clone().check_resumable("abd", rollout, &path).expect_err("another store").to_string();
        assert!(other.contains("walk.checkpoint") && other.contains("another migration"), "{other}");
        let full = Rollout::new(100.0, "legacy.rollout_percent").expect("rollout");
        let raised = loaded.check_resumable("abc", full, &path).expect_err("other percentage").to_string();
        assert!(raised.contains("rollout_percent 50") && raised.contains("--restart"), "{raised}");

        let cases: [(&str, &str); 4] = [
            ("{ not json", "not a hotcold migrate checkpoint"),
            ("[]", "not a hotcold migrate checkpoint"),
            (&String::from_utf8_lossy(&std::fs::read(&path).expect("read")).replace("/1", "/9"), "format"),
            (
                &String::from_utf8_lossy(&std::fs::read(&path).expect("read")).replace("\"seen\": 1", "\"seen\": 2"),
                "do not add up",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).expect("write");
            let error = Checkpoint::load(&path).expect_err(text).to_string();
            assert!(error.contains("walk.checkpoint") && error.contains(expected), "{error}");
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
