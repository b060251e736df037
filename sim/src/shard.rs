//! One shard of a run as a process of its own (`hotcold simulate --shard K/N`), written to a
//! directory, and the merge of such shards into the run (`hotcold merge`).
//!
//! A shard process runs exactly what shard `K` of `hotcold simulate --shards N` runs on its
//! thread, and writes what the in-process merge would take from it: its [`RunRecord`], its peak
//! windows and its time-series latency values. [`ShardMerge`] adds them up in shard order with
//! the code the in-process run uses, so the merged `summary.json` is byte for byte the one of
//! `--shards N` in one process (but for its wall-clock `"run"` object).
//!
//! A shard directory holds `shard.json` (what the shard is, readable, small: merge reads these
//! first to order and check the shards) and `shard.msgpack` (everything measured, MessagePack:
//! floats keep every bit, which JSON text would not promise). A shard of a scenario with a
//! `migration:` block also runs the same shard without the block and keeps it there: the merge
//! prices the migration's end state from them, as [`crate::run()`] does in one process.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hotcold_model::record::{RunRecord, RunStats};
use hotcold_model::scenario::Scenario;
use hotcold_model::tally::peak_rss_bytes;
use serde::{Deserialize, Serialize};

use crate::merge::{Merger, ShardResult, end_state_weeks};
use crate::run::{ProgressReporter, ProgressTotals, RunOptions, SimError, prepare, run_shard};

/// The readable description of a shard, in its directory.
pub const SHARD_HEADER_FILE: &str = "shard.json";

/// What the shard measured, in its directory.
pub const SHARD_DATA_FILE: &str = "shard.msgpack";

/// The version of the shard files' layout; a merge refuses any other.
const FORMAT: &str = "hotcold-shard/1";

/// Why shards could not be written, read or merged.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A file could not be read or written (exit 1 for a write, 2 for a read of a missing path).
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
        /// Whether the file is missing (bad input) rather than unwritable (a failed run).
        missing: bool,
    },
    /// The shards do not make one run: not shard files, shards of different runs, a shard
    /// twice or missing (bad input: exit 2).
    #[error("{0}")]
    Mismatch(String),
}

impl ShardError {
    fn io(path: &Path, e: &std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), message: e.to_string(), missing: e.kind() == std::io::ErrorKind::NotFound }
    }
}

/// `shard.json`: which shard of which run, and how it went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardHeader {
    /// [`FORMAT`].
    pub format: String,
    /// This shard's index, from 0.
    pub shard: usize,
    /// Shards of the run.
    pub shards: usize,
    /// The scenario's name.
    pub scenario: String,
    /// Seed of the run (the shard's own streams are derived from it).
    pub seed: u64,
    /// Fraction of users simulated.
    pub sample: f64,
    /// Requests the shard simulated.
    pub requests: u64,
    /// Wall-clock seconds the shard took.
    pub wall_seconds: f64,
    /// Peak resident memory of the shard's process, bytes.
    pub peak_rss_bytes: u64,
}

/// `shard.msgpack`: everything the merge needs from one shard.
#[derive(Serialize, Deserialize)]
struct ShardData {
    format: String,
    shard: usize,
    shards: usize,
    record: RunRecord,
    peaks: Vec<u64>,
    bucket_values: Vec<Vec<(u64, u64)>>,
    /// With a `migration:` block, the same shard of the run without it (the end state): its
    /// record and peak windows, for the weekly usage (absent otherwise, and in older shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_state: Option<EndStateShard>,
}

/// One shard of a migration's end state: what [`crate::merge::end_state_weeks`] needs.
#[derive(Serialize, Deserialize)]
struct EndStateShard {
    record: RunRecord,
    peaks: Vec<u64>,
}

/// One shard, run and ready to write.
pub struct ShardRun {
    header: ShardHeader,
    data: ShardData,
}

impl std::fmt::Debug for ShardRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardRun").field("header", &self.header).finish_non_exhaustive()
    }
}

impl ShardRun {
    /// Which shard it is and how it went.
    pub fn header(&self) -> &ShardHeader {
        &self.header
    }

    /// Writes `shard.json` and `shard.msgpack` into `dir` (created if missing). The data file is
    /// written under a temporary name and renamed, so a merge never reads half a shard.
    pub fn write(&self, dir: &Path) -> Result<(), ShardError> {
        std::fs::create_dir_all(dir).map_err(|e| ShardError::io(dir, &e))?;
        let data = rmp_serde::to_vec_named(&self.data).map_err(|e| ShardError::Io {
            path: dir.join(SHARD_DATA_FILE),
            message: format!("cannot encode the shard: {e}"),
            missing: false,
        })?;
        let header = serde_json::to_vec_pretty(&self.header).map_err(|e| ShardError::Io {
            path: dir.join(SHARD_HEADER_FILE),
            message: format!("cannot encode the shard header: {e}"),
            missing: false,
        })?;
        // The header last: a directory with a header has its data.
        for (name, bytes) in [(SHARD_DATA_FILE, data), (SHARD_HEADER_FILE, header)] {
            let path = dir.join(name);
            let partial = dir.join(format!("{name}.partial"));
            std::fs::write(&partial, bytes).map_err(|e| ShardError::io(&partial, &e))?;
            std::fs::rename(&partial, &path).map_err(|e| ShardError::io(&path, &e))?;
        }
        Ok(())
    }
}

/// Runs shard `shard` of `shards` of `scenario` alone: what that shard's thread does in
/// [`crate::run()`] with `--shards shards`. `options.shards` is ignored.
pub fn run_one_shard(
    scenario: &Scenario,
    options: &RunOptions,
    shard: usize,
    shards: usize,
) -> Result<ShardRun, SimError> {
    let (scenario, _) = prepare(scenario, &RunOptions { shards: Some(shards), ..options.clone() })?;
    if shard >= shards {
        return Err(SimError::InvalidOption(format!("--shard {shard}/{shards}: the index must be below {shards}")));
    }
    let started = Instant::now();
    let totals = ProgressTotals::default();
    let ShardResult { mut record, peaks, bucket_values, .. } =
        run_shard(&scenario, shard, shards, ProgressReporter::new(options.progress.as_ref(), &totals), false)?;
    // A migration's end state: the same shard of the same traffic without the block.
    let end_state = match scenario.migration {
        Some(_) => {
            let plain = Scenario { migration: None, ..scenario.clone() };
            let end = run_shard(&plain, shard, shards, ProgressReporter::new(None, &totals), false)?;
            Some(EndStateShard { record: end.record, peaks: end.peaks })
        }
        None => None,
    };
    let peak_rss = peak_rss_bytes();
    record.run = RunStats::one_process(started.elapsed().as_secs_f64(), peak_rss);
    let header = ShardHeader {
        format: FORMAT.into(),
        shard,
        shards,
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        sample: scenario.sample,
        requests: record.counts.requests,
        wall_seconds: record.run.wall_seconds,
        peak_rss_bytes: peak_rss,
    };
    Ok(ShardRun {
        header,
        data: ShardData { format: FORMAT.into(), shard, shards, record, peaks, bucket_values, end_state },
    })
}

/// Reads a shard directory's `shard.json`.
pub fn read_header(dir: &Path) -> Result<ShardHeader, ShardError> {
    let path = dir.join(SHARD_HEADER_FILE);
    let text = std::fs::read(&path).map_err(|e| ShardError::io(&path, &e))?;
    let header: ShardHeader = serde_json::from_slice(&text)
        .map_err(|e| ShardError::Mismatch(format!("{}: not a hotcold shard header: {e}", path.display())))?;
    if header.format != FORMAT {
        return Err(ShardError::Mismatch(format!(
            "{}: shard format {:?}, this hotcold reads {FORMAT:?}: merge with the hotcold that ran the shards",
            path.display(),
            header.format
        )));
    }
    Ok(header)
}

/// Shard directories put together into one run, one shard in memory at a time.
pub fn merge_shard_dirs(dirs: &[PathBuf]) -> Result<RunRecord, ShardError> {
    let started = Instant::now();
    let mut headers = Vec::with_capacity(dirs.len());
    for dir in dirs {
        headers.push((read_header(dir)?, dir));
    }
    let Some((first, first_dir)) = headers.first().cloned() else {
        return Err(ShardError::Mismatch("no shard directories given".into()));
    };
    let shards = first.shards;
    let same_run = |h: &ShardHeader| (h.scenario.clone(), h.seed, h.sample.to_bits(), h.shards);
    if let Some((other, dir)) = headers.iter().find(|(h, _)| same_run(h) != same_run(&first)) {
        return Err(ShardError::Mismatch(format!(
            "{} is shard {}/{} of {} (seed {}, sample {}) but {} is shard {}/{} of {} (seed {}, sample {}): \
             shards of different runs",
            first_dir.display(),
            first.shard,
            first.shards,
            first.scenario,
            first.seed,
            first.sample,
            dir.display(),
            other.shard,
            other.shards,
            other.scenario,
            other.seed,
            other.sample
        )));
    }
    headers.sort_by_key(|(h, _)| h.shard);
    for pair in headers.windows(2) {
        if pair[0].0.shard == pair[1].0.shard {
            return Err(ShardError::Mismatch(format!(
                "shard {}/{shards} is given twice: {} and {}",
                pair[0].0.shard,
                pair[0].1.display(),
                pair[1].1.display()
            )));
        }
    }
    let missing: Vec<String> =
        (0..shards).filter(|k| headers.iter().all(|(h, _)| h.shard != *k)).map(|k| k.to_string()).collect();
    if !missing.is_empty() {
        return Err(ShardError::Mismatch(format!(
            "the run has {shards} shards; missing shard {} of {shards} (run them with --shard K/{shards})",
            missing.join(", ")
        )));
    }

    // In shard order, as the in-process merge adds them: floating-point sums depend on order.
    let mut merger: Option<Merger> = None;
    let mut end_state: Option<Merger> = None;
    let (mut slowest, mut largest, mut all_rss) = (0.0_f64, 0_u64, 0_u64);
    for (header, dir) in &headers {
        let data = read_data(dir, header)?;
        // The headers agree on the name, seed and sample; the whole scenario must agree too
        // (MessagePack kept every bit, so equal scenarios compare equal).
        if merger.as_ref().is_some_and(|merger| *merger.scenario() != data.record.scenario) {
            return Err(ShardError::Mismatch(format!(
                "{} was run from a different scenario than shard 0 ({}): same name, seed and sample, \
                 other settings; run every shard from the same scenario file and --set arguments",
                dir.display(),
                headers[0].1.display()
            )));
        }
        slowest = slowest.max(data.record.run.wall_seconds);
        largest = largest.max(data.record.run.peak_rss_bytes);
        all_rss += data.record.run.peak_rss_bytes;
        if let Some(end) = data.end_state {
            let result =
                ShardResult { record: end.record, peaks: end.peaks, bucket_values: Vec::new(), analytics: Vec::new() };
            match &mut end_state {
                None => end_state = Some(Merger::new(result)),
                Some(merger) => merger.add(result),
            }
        }
        let result = ShardResult {
            record: data.record,
            peaks: data.peaks,
            bucket_values: data.bucket_values,
            analytics: Vec::new(),
        };
        match &mut merger {
            None => merger = Some(Merger::new(result)),
            Some(merger) => merger.add(result),
        }
    }
    let Some(merger) = merger else { unreachable!("at least one shard was read") };
    // The shards ran at once on a scheduler: the run took as long as the slowest, plus the merge.
    let run = RunStats {
        wall_seconds: slowest + started.elapsed().as_secs_f64(),
        peak_rss_bytes: largest,
        rss_bytes_all_processes: all_rss,
        processes: shards as u64,
        ..RunStats::default()
    };
    let mut record = merger.finish(run);
    if let (Some(migration), Some(end_state)) = (record.migration.as_mut(), end_state) {
        migration.end_state_weeks = end_state_weeks(end_state);
    }
    Ok(record)
}

/// Reads a shard directory's `shard.msgpack` and checks it is the shard its header says.
fn read_data(dir: &Path, header: &ShardHeader) -> Result<ShardData, ShardError> {
    let path = dir.join(SHARD_DATA_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ShardError::io(&path, &e))?;
    let data: ShardData = rmp_serde::from_slice(&bytes)
        .map_err(|e| ShardError::Mismatch(format!("{}: not a readable hotcold shard: {e}", path.display())))?;
    if data.format != FORMAT || data.shard != header.shard || data.shards != header.shards {
        return Err(ShardError::Mismatch(format!(
            "{}: holds shard {}/{} ({}) but {SHARD_HEADER_FILE} says {}/{}: the directory was overwritten \
             while it was read, or mixed by hand",
            path.display(),
            data.shard,
            data.shards,
            data.format,
            header.shard,
            header.shards
        )));
    }
    Ok(data)
}
