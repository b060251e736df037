//! [`run`]: a whole run, its options and errors, split into shards on threads of their own.
//!
//! # Shards (`--shards N`, default 2)
//! Sessions never interact, so a run splits its users into `N` independent shards, each a whole
//! simulation (every region, its own stores, a `1 / N` share of every region's arrivals, random
//! streams of its own) on a thread of its own; the records are merged in shard order, so results
//! depend on `N` but not on the machine or the thread schedule. Counts, request units, bytes and
//! averages add up; sync passes run at the same moments in every shard and count once (each
//! shard writes its own batches, so a pass makes up to `N - 1` more partial batches than one
//! process would); latency histograms merge exactly. A peak of the whole (hot sessions, Redis
//! bytes, stored bytes) is the highest sum over shards of their highest values in each 10-second
//! window (longer windows for runs over 30 days): exact with one shard, otherwise an upper bound
//! that can exceed the true peak by at most what the shards add within one window. `--shards 1`
//! is the plain sequential run.
//!
//! # Sampling (`sample < 1`)
//! Only a fraction `sample` of users arrive (each region's arrival rate is multiplied by `sample`)
//! and counts are scaled back by `1 / sample`. Users do not interact (sessions are independent),
//! so means are unbiased; the relative standard error of a count that would be `N` at full scale
//! is about `1 / sqrt(N * sample)` (Poisson), e.g. 1% for a count of 10^6 at `sample = 0.01`.
//! Peaks (`hot_peak`, Redis peak bytes) are scaled too and slightly overestimate (the peak of a
//! noisier series); tail percentiles of rare classes (cold promotions) come from fewer values.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hotcold_model::analytics::AnalyticsRow;
use hotcold_model::record::{Counts, RunRecord};
use hotcold_model::rng::splitmix;
use hotcold_model::scenario::{Scenario, ScenarioError};

use crate::event::MAX_USER_SLOTS;
use crate::merge::{ShardResult, merge, merged_weeks};
use crate::sim::Sim;

/// Shards of a run unless told otherwise: one per core of the 2-core machines this is sized for.
pub const DEFAULT_SHARDS: usize = 2;

/// Most shards a run may have.
pub const MAX_SHARDS: usize = 64;

/// Mixed into the scenario seed to give shard `k > 0` streams of its own.
const SHARD_SEED_SALT: u64 = 0x5348_4152_4400;

/// Why a run could not be done. All variants are fatal for that run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is invalid (bad input: exit 2).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A run option is out of range, e.g. `--sample 0` (bad input: exit 2).
    #[error("{0}")]
    InvalidOption(String),
    /// The engine refused the configuration (bad input: exit 2).
    #[error("engine configuration: {0}")]
    Config(#[from] hotcold_engine::ConfigError),
    /// The scenario needs more than one process can simulate (bad input: exit 2).
    #[error("{0}")]
    TooLarge(String),
}

/// Progress of a running simulation, reported to [`RunOptions::progress`].
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Simulated seconds done.
    pub simulated_seconds: f64,
    /// Simulated seconds in all.
    pub total_seconds: f64,
    /// Events processed so far.
    pub events: u64,
    /// Requests simulated so far.
    pub requests: u64,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of one run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's `seed`.
    pub seed: Option<u64>,
    /// Overrides the scenario's `sample`.
    pub sample: Option<f64>,
    /// Called every few hundred thousand events.
    pub progress: Option<ProgressFn>,
    /// Independent shards of the user population, run on parallel threads ([`DEFAULT_SHARDS`]
    /// when `None`). Results depend on the number of shards, never on the number of cores.
    pub shards: Option<usize>,
    /// Keep the analytics table the simulated sessions would have produced
    /// ([`run_with_analytics`]; `hotcold simulate --analytics`). Default: false.
    pub analytics: bool,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("sample", &self.sample)
            .field("progress", &self.progress.is_some())
            .field("shards", &self.shards)
            .field("analytics", &self.analytics)
            .finish()
    }
}

/// Runs `scenario` with `options` and returns everything it measured.
///
/// With a `migration:` block the same traffic is also run without it (the hybrid store alone,
/// the rollout's end state), after the run itself and without progress reports; its weekly usage
/// goes into the record's `migration.end_state_weeks`. The run's wall-clock figures are the
/// run's own.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunRecord, SimError> {
    run_with_analytics(scenario, options).map(|(record, _)| record)
}

/// [`run()`], and the analytics table the simulated sessions would have produced when
/// `options.analytics` (empty otherwise): one row per session with a summarised event, the
/// shards' rows together, sorted by creation time then session id.
pub fn run_with_analytics(
    scenario: &Scenario,
    options: &RunOptions,
) -> Result<(RunRecord, Vec<AnalyticsRow>), SimError> {
    let (scenario, shards) = prepare(scenario, options)?;
    let started = Instant::now();
    let mut results = run_shards(&scenario, shards, options.progress.as_ref(), options.analytics)?;
    let mut rows: Vec<AnalyticsRow> =
        results.iter_mut().flat_map(|shard| std::mem::take(&mut shard.analytics)).collect();
    AnalyticsRow::sort_for_export(&mut rows);
    let mut record = merge(results, started);
    if scenario.migration.is_some() {
        let end_state = Scenario { migration: None, ..scenario.clone() };
        let weeks = merged_weeks(run_shards(&end_state, shards, None, false)?);
        if let Some(migration) = record.migration.as_mut() {
            migration.end_state_weeks = weeks;
        }
    }
    Ok((record, rows))
}

/// Runs the `shards` shards of `scenario` on threads of their own, keeping their analytics
/// tables when `analytics`.
fn run_shards(
    scenario: &Scenario,
    shards: usize,
    progress: Option<&ProgressFn>,
    analytics: bool,
) -> Result<Vec<ShardResult>, SimError> {
    let totals = ProgressTotals::default();
    let results: Vec<Result<ShardResult, SimError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..shards)
            .map(|shard| {
                let (scenario, totals) = (scenario, &totals);
                // Shard 0 reports for all.
                let callback = if shard == 0 { progress } else { None };
                scope.spawn(move || {
                    run_shard(scenario, shard, shards, ProgressReporter::new(callback, totals), analytics)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.into_iter().collect()
}

/// The scenario as run (`options`' seed and sample applied) and the number of shards, checked.
pub(crate) fn prepare(scenario: &Scenario, options: &RunOptions) -> Result<(Scenario, usize), SimError> {
    let mut scenario = scenario.clone();
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    if let Some(sample) = options.sample {
        if !(sample > 0.0 && sample <= 1.0) {
            return Err(SimError::InvalidOption(format!("--sample must be in (0, 1], got {sample}")));
        }
        scenario.sample = sample;
    }
    let shards = options.shards.unwrap_or(DEFAULT_SHARDS);
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(SimError::InvalidOption(format!("--shards must be between 1 and {MAX_SHARDS}, got {shards}")));
    }
    Ok((scenario, shards))
}

/// Runs shard `shard` of `shards` of `scenario` (on a thread of [`run()`], or alone in a process
/// of its own: [`crate::shard::run_one_shard`]), keeping its analytics table when `analytics`.
pub(crate) fn run_shard(
    scenario: &Scenario,
    shard: usize,
    shards: usize,
    mut progress: ProgressReporter<'_>,
    analytics: bool,
) -> Result<ShardResult, SimError> {
    let mut sim = Sim::new(scenario.clone(), shard_seed(scenario.seed, shard), shards, analytics)?;
    sim.run(&mut progress);
    if sim.ran_out_of_user_slots() {
        return Err(SimError::TooLarge(format!(
            "more than {MAX_USER_SLOTS} users would be in a visit at once; lower \
             traffic.regions.*.sessions_per_day, shorten visits, or pass --sample"
        )));
    }
    Ok(sim.finish())
}

/// The seed of shard `shard`'s random streams: shard 0 uses the scenario seed's own streams, so a
/// one-shard run is the classic run.
fn shard_seed(scenario_seed: u64, shard: usize) -> u64 {
    if shard == 0 { scenario_seed } else { splitmix(scenario_seed ^ splitmix(SHARD_SEED_SALT + shard as u64)) }
}

/// Events and requests done by all shards together, for the progress callback.
#[derive(Debug, Default)]
pub(crate) struct ProgressTotals {
    events: AtomicU64,
    requests: AtomicU64,
}

/// One shard's side of progress reporting: adds its work to the totals of all shards, and calls
/// the callback if it has one.
pub(crate) struct ProgressReporter<'a> {
    callback: Option<&'a ProgressFn>,
    totals: &'a ProgressTotals,
    reported_events: u64,
    reported_requests: u64,
}

impl<'a> ProgressReporter<'a> {
    pub(crate) fn new(callback: Option<&'a ProgressFn>, totals: &'a ProgressTotals) -> Self {
        Self { callback, totals, reported_events: 0, reported_requests: 0 }
    }

    /// Adds the shard's work since the last report (`counts` at `t` ms of `end_ms`) to the
    /// totals, and reports them.
    pub(crate) fn report(&mut self, t: u64, end_ms: u64, counts: &Counts) {
        let totals = self.totals;
        totals.events.fetch_add(counts.events - self.reported_events, Ordering::Relaxed);
        totals.requests.fetch_add(counts.requests - self.reported_requests, Ordering::Relaxed);
        self.reported_events = counts.events;
        self.reported_requests = counts.requests;
        if let Some(callback) = self.callback {
            callback(&Progress {
                simulated_seconds: t as f64 / 1000.0,
                total_seconds: end_ms as f64 / 1000.0,
                events: totals.events.load(Ordering::Relaxed),
                requests: totals.requests.load(Ordering::Relaxed),
            });
        }
    }
}
