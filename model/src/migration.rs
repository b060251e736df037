//! ADR-0010 phase 3 in the simulator: the scenario's `migration:` block (a schedule of rollout
//! percentages and an optional bulk import) and what a run records of it ([`MigrationRecord`]):
//! sessions moved each way, requests the legacy Redis-only store served, and each week's usage
//! ([`WeekUsage`]) for the weekly cost the reports compute.
//!
//! Time in the block is counted from the start of the run. Before the first rollout step the
//! percentage is 0: every session is on the legacy side.

use std::time::Duration;

use hotcold_engine::config::duration;
use serde::{Deserialize, Serialize};

use crate::record::{Hist, RunRecord};

/// Largest `migration.bulk_import.rate`, sessions a second: far beyond what one Redis or one
/// DynamoDB table takes, so a larger value is a unit mistake.
const MAX_BULK_IMPORT_RATE: f64 = 1e9;

/// A week, seconds: the weekly cost's period.
pub const WEEK_SECONDS: f64 = 7.0 * 86_400.0;

/// `migration`: the rollout from the Redis-only store to the hybrid store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    /// The share of sessions the hybrid store serves, from each step's `at` to the next one's.
    /// Default: empty (with no bulk import either, the block is as if absent).
    #[serde(default)]
    pub rollout: Vec<RolloutStep>,
    /// `hotcold migrate`'s bulk import of the legacy sessions on the hybrid side. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_import: Option<BulkImport>,
}

/// One step of `migration.rollout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStep {
    /// When the percentage changes, from the start of the run.
    #[serde(with = "duration")]
    pub at: Duration,
    /// Share of sessions (by a stable hash of the session) served by the hybrid store, in
    /// [0, 100].
    pub percent: f64,
}

/// `migration.bulk_import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkImport {
    /// When `hotcold migrate` starts, from the start of the run.
    #[serde(with = "duration")]
    pub at: Duration,
    /// Most sessions imported a second, all regions together, at full scale.
    pub rate: f64,
}

/// A bad `migration:` block: the key path and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationError {
    /// Key path, e.g. `migration.rollout[1].at`.
    pub key: String,
    /// What was expected.
    pub message: String,
}

impl Migration {
    /// Whether the block says nothing (no step, no bulk import): the run is the plain hybrid run.
    pub fn is_empty(&self) -> bool {
        self.rollout.is_empty() && self.bulk_import.is_none()
    }

    /// Checks the block against a run of `run_length`: percentages in [0, 100], steps strictly
    /// increasing in time and before the end of the run, a bulk import before the end with a
    /// positive rate and a rollout to import for.
    pub fn validate(&self, run_length: Duration) -> Result<(), MigrationError> {
        let fail = |key: String, message: String| Err(MigrationError { key, message });
        for (i, step) in self.rollout.iter().enumerate() {
            let key = |k: &str| format!("migration.rollout[{i}].{k}");
            if !(step.percent.is_finite() && (0.0..=100.0).contains(&step.percent)) {
                return fail(key("percent"), format!("must be a percentage in [0, 100], got {}", step.percent));
            }
            if step.at >= run_length {
                return fail(key("at"), "must be before the end of the run (duration)".into());
            }
            if let Some(previous) = i.checked_sub(1).and_then(|p| self.rollout.get(p)) {
                if step.at <= previous.at {
                    return fail(
                        key("at"),
                        format!("must be later than migration.rollout[{}].at: steps go forward in time", i - 1),
                    );
                }
            }
        }
        if let Some(bulk) = &self.bulk_import {
            if self.rollout.is_empty() {
                return fail(
                    "migration.rollout".into(),
                    "a bulk import needs a rollout: without one every session stays on the legacy side".into(),
                );
            }
            if !(bulk.rate.is_finite() && bulk.rate > 0.0 && bulk.rate <= MAX_BULK_IMPORT_RATE) {
                return fail(
                    "migration.bulk_import.rate".into(),
                    format!("must be a number of sessions a second greater than 0 (at most 1e9), got {}", bulk.rate),
                );
            }
            if bulk.at >= run_length {
                return fail("migration.bulk_import.at".into(), "must be before the end of the run (duration)".into());
            }
        }
        Ok(())
    }

    /// The percentage in force at `t` from the start: the last step at or before `t`, 0 before
    /// the first.
    pub fn percent_at(&self, t: Duration) -> f64 {
        self.rollout.iter().take_while(|step| step.at <= t).last().map_or(0.0, |step| step.percent)
    }

    /// The time-weighted mean percentage over `[from, to)` seconds from the start.
    pub fn mean_percent(&self, from: f64, to: f64) -> f64 {
        if to <= from {
            return self.percent_at(Duration::from_secs_f64(from.max(0.0)));
        }
        let mut edges: Vec<f64> = vec![from];
        edges.extend(self.rollout.iter().map(|s| s.at.as_secs_f64()).filter(|&at| at > from && at < to));
        edges.push(to);
        let weighted: f64 =
            edges.windows(2).map(|span| (span[1] - span[0]) * self.percent_at(Duration::from_secs_f64(span[0]))).sum();
        weighted / (to - from)
    }
}

/// What a run with a `migration:` block measured of it, raw (not scaled by 1/sample).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// Legacy sessions imported into the hybrid store on their next access (audited `migrated`).
    pub migrated: u64,
    /// Hybrid sessions moved back to the legacy store on their next access after the percentage
    /// went down (audited `rolled_back`).
    pub rolled_back: u64,
    /// Legacy sessions imported by the bulk import.
    pub bulk_imported: u64,
    /// Of those, imported into the cold tier only (idle at least `promotion_threshold`).
    pub bulk_imported_cold: u64,
    /// Sessions created in the legacy store.
    pub legacy_created: u64,
    /// Requests the legacy store served (creates and lookups).
    pub legacy_requests: u64,
    /// Moves that failed (a store down); the request failed too.
    pub failed_moves: u64,
    /// When the bulk import had imported every legacy session on the hybrid side, seconds from
    /// the start (the last shard to finish); `None` without a bulk import or when it did not
    /// finish within the run.
    pub bulk_import_done_s: Option<f64>,
    /// Latency of the requests that moved their session to the hybrid store: the legacy read,
    /// the import's cold write and hot put (and an update when the request changed the data).
    pub migrate_latency: Hist,
    /// Latency of the requests that moved their session back: the engine's read and removal and
    /// the legacy write.
    pub rollback_latency: Hist,
    /// Latency of the requests the legacy store served (one Redis call, two with an update).
    pub legacy_latency: Hist,
    /// Per time-series row (the same rows, in the same order, as the record's `timeseries`).
    pub buckets: Vec<MigrationBucket>,
    /// Per week of the run ([`week_spans`]), its usage: what the weekly cost prices.
    pub weeks: Vec<WeekUsage>,
    /// The same weeks of the same traffic (same seed) run with no `migration:` block: the hybrid
    /// store alone, the end state of the rollout.
    pub end_state_weeks: Vec<WeekUsage>,
}

/// One time-series row's migration figures, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationBucket {
    /// Requests the legacy store served in the bucket (served by this row's region).
    pub legacy_requests: u64,
    /// Sessions imported on access in the bucket.
    pub migrated: u64,
    /// Sessions moved back on access in the bucket.
    pub rolled_back: u64,
    /// Sessions the bulk import imported in the bucket (homed in this row's region).
    pub bulk_imported: u64,
    /// Bytes held by this region's legacy Redis at the end of the bucket ((payload + overhead),
    /// before fragmentation).
    pub legacy_bytes: u64,
}

impl MigrationBucket {
    /// Adds `other`'s figures (merging shards).
    pub fn add(&mut self, other: &Self) {
        self.legacy_requests += other.legacy_requests;
        self.migrated += other.migrated;
        self.rolled_back += other.rolled_back;
        self.bulk_imported += other.bulk_imported;
        self.legacy_bytes += other.legacy_bytes;
    }
}

impl MigrationRecord {
    /// Adds a shard's figures (the weeks are computed after the merge).
    pub fn add(&mut self, other: &Self) {
        self.migrated += other.migrated;
        self.rolled_back += other.rolled_back;
        self.bulk_imported += other.bulk_imported;
        self.bulk_imported_cold += other.bulk_imported_cold;
        self.legacy_created += other.legacy_created;
        self.legacy_requests += other.legacy_requests;
        self.failed_moves += other.failed_moves;
        self.bulk_import_done_s = match (self.bulk_import_done_s, other.bulk_import_done_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        self.migrate_latency.merge(&other.migrate_latency);
        self.rollback_latency.merge(&other.rollback_latency);
        self.legacy_latency.merge(&other.legacy_latency);
        for (sum, part) in self.buckets.iter_mut().zip(&other.buckets) {
            sum.add(part);
        }
    }
}

/// One week's usage, all regions (raw counts and bytes: the reports scale them by 1/sample).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WeekUsage {
    /// Week number, from 1.
    pub week: u32,
    /// Start, seconds from the start of the run.
    pub start_s: f64,
    /// End, seconds (a whole week after the start, or the end of the run).
    pub end_s: f64,
    /// Per region, in the record's region order.
    pub regions: Vec<RegionWeek>,
}

impl WeekUsage {
    /// Hours the week lasts (168, or fewer for a last, partial week).
    pub fn hours(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0) / 3600.0
    }
}

/// One region's usage in one week, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RegionWeek {
    /// Most bytes the hybrid store's Redis held ((payload + overhead) × fragmentation).
    pub hot_peak_bytes: u64,
    /// Most bytes the legacy Redis held (same formula).
    pub legacy_peak_bytes: u64,
    /// Most bytes a Redis-only store would have held for the same traffic (same formula).
    pub baseline_peak_bytes: u64,
    /// DynamoDB write units written from the region.
    pub wru: u64,
    /// DynamoDB read units read in the region.
    pub rru: u64,
    /// Write units the other regions wrote into tables with a replica here.
    pub replica_wru: u64,
    /// Mean over the week's buckets of the item bytes of the cold records homed here.
    pub cold_avg_bytes: f64,
    /// Bytes replicated out of the region (its share of the run's by write units).
    pub replicated_bytes: f64,
    /// Sync passes (demotion and write-behind), the run's in proportion to the week's length.
    pub sync_invocations: f64,
    /// Their simulated seconds, likewise.
    pub sync_seconds: f64,
    /// Audit events written by the region.
    pub audit_events: u64,
    /// Audit records the other regions stored into trails with a replica here.
    pub replica_audit_events: u64,
    /// Mean over the week's buckets of the audit events the region had written since the start
    /// (what its trail holds: the compliance retention outlives any run).
    pub audit_held_avg: f64,
    /// Analytics items written by the region.
    pub analytics_writes: u64,
    /// Mean over the week's buckets of the analytics items written since the start.
    pub analytics_held_avg: f64,
    /// Requests served by the region.
    pub requests: u64,
    /// Of those, served by the legacy store.
    pub legacy_requests: u64,
    /// Sessions imported on access, served by the region.
    pub migrated: u64,
    /// Sessions moved back on access.
    pub rolled_back: u64,
    /// Sessions homed here imported by the bulk import.
    pub bulk_imported: u64,
}

/// The weeks the weekly cost covers: from the end of the warm-up (the start of the run without
/// one) a week at a time, the last one ending with the run (pro rata).
pub fn week_spans(record: &RunRecord) -> Vec<(f64, f64)> {
    let end = record.simulated_seconds;
    let mut start = record.warmup_seconds.clamp(0.0, end);
    let mut spans = Vec::new();
    while start < end && spans.len() < 10_000 {
        let stop = (start + WEEK_SECONDS).min(end);
        spans.push((start, stop));
        start = stop;
    }
    spans
}

/// The highest bytes of each gauge in one week, per region, raw (× fragmentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeekPeaks {
    /// The hybrid store's Redis.
    pub hot: u64,
    /// The legacy Redis.
    pub legacy: u64,
    /// The Redis-only baseline.
    pub baseline: u64,
}

/// Each week's usage of a merged run, from its time series (a bucket belongs to the week its
/// start falls in), its whole-run usage (prorated where only the run's total is known) and
/// `peaks[week][region]`, which the simulator finds from its peak windows.
pub fn week_usage(record: &RunRecord, peaks: &[Vec<WeekPeaks>]) -> Vec<WeekUsage> {
    let regions = record.regions.len();
    let run_s = record.simulated_seconds.max(1.0);
    let buckets = record.migration.as_ref().map(|m| m.buckets.as_slice()).unwrap_or_default();
    // Cumulative audit and analytics items per region, bucket by bucket.
    let mut audit_so_far = vec![0u64; regions];
    let mut analytics_so_far = vec![0u64; regions];
    let spans = week_spans(record);
    let mut weeks: Vec<WeekUsage> = spans
        .iter()
        .enumerate()
        .map(|(i, &(start_s, end_s))| WeekUsage {
            week: u32::try_from(i + 1).unwrap_or(u32::MAX),
            start_s,
            end_s,
            regions: vec![RegionWeek::default(); regions],
        })
        .collect();
    let mut bucket_counts = vec![vec![0u64; regions]; weeks.len()];
    for (index, row) in record.timeseries.iter().enumerate() {
        let r = usize::from(row.region);
        if r >= regions {
            continue;
        }
        audit_so_far[r] = audit_so_far[r].saturating_add(row.audit_events);
        analytics_so_far[r] = analytics_so_far[r].saturating_add(row.analytics_writes);
        let t = row.t as f64;
        let Some(w) = spans.iter().position(|&(start, end)| t >= start && t < end) else { continue };
        let week = &mut weeks[w].regions[r];
        week.wru += row.wru;
        week.rru += row.rru;
        week.replica_wru += row.replica_wru;
        week.cold_avg_bytes += row.cold_bytes as f64;
        week.audit_events += row.audit_events;
        week.replica_audit_events += row.replica_audit_events;
        week.audit_held_avg += audit_so_far[r] as f64;
        week.analytics_writes += row.analytics_writes;
        week.analytics_held_avg += analytics_so_far[r] as f64;
        week.requests += row.requests;
        if let Some(bucket) = buckets.get(index) {
            week.legacy_requests += bucket.legacy_requests;
            week.migrated += bucket.migrated;
            week.rolled_back += bucket.rolled_back;
            week.bulk_imported += bucket.bulk_imported;
        }
        bucket_counts[w][r] += 1;
    }
    for (w, week) in weeks.iter_mut().enumerate() {
        let share = (week.end_s - week.start_s) / run_s;
        for (r, region) in week.regions.iter_mut().enumerate() {
            let n = bucket_counts[w][r];
            if n > 0 {
                region.cold_avg_bytes /= n as f64;
                region.audit_held_avg /= n as f64;
                region.analytics_held_avg /= n as f64;
            }
            if let Some(usage) = record.usage.get(r) {
                region.sync_invocations = (usage.sync_invocations + usage.flush_invocations) as f64 * share;
                region.sync_seconds = (usage.sync_seconds + usage.flush_seconds) * share;
                region.replicated_bytes = if usage.wru > 0 {
                    usage.replicated_bytes as f64 * region.wru as f64 / usage.wru as f64
                } else {
                    0.0
                };
            }
            if let Some(p) = peaks.get(w).and_then(|week| week.get(r)) {
                region.hot_peak_bytes = p.hot;
                region.legacy_peak_bytes = p.legacy;
                region.baseline_peak_bytes = p.baseline;
            }
        }
    }
    weeks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(days: u64, percent: f64) -> RolloutStep {
        RolloutStep { at: Duration::from_secs(days * 86_400), percent }
    }

    #[test]
    fn the_percentage_is_zero_before_the_first_step_then_each_steps_until_the_next() {
        let m = Migration { rollout: vec![step(1, 10.0), step(7, 50.0), step(14, 100.0)], bulk_import: None };
        let day = |d: f64| Duration::from_secs_f64(d * 86_400.0);
        assert_eq!(m.percent_at(day(0.0)), 0.0);
        assert_eq!(m.percent_at(day(1.0)), 10.0);
        assert_eq!(m.percent_at(day(6.99)), 10.0);
        assert_eq!(m.percent_at(day(7.0)), 50.0);
        assert_eq!(m.percent_at(day(30.0)), 100.0);
        // Days 0-14: 1 day at 0, 6 at 10, 7 at 50.
        let mean = m.mean_percent(0.0, 14.0 * 86_400.0);
        assert!((mean - (6.0 * 10.0 + 7.0 * 50.0) / 14.0).abs() < 1e-9, "{mean}");
    }

    #[test]
    fn bad_blocks_name_their_key() {
        let week = Duration::from_secs(7 * 86_400);
        let check = |m: Migration| m.validate(week).unwrap_err().key;
        assert_eq!(
            check(Migration { rollout: vec![step(0, 10.0), step(0, 20.0)], bulk_import: None }),
            "migration.rollout[1].at"
        );
        assert_eq!(
            check(Migration { rollout: vec![step(0, 101.0)], bulk_import: None }),
            "migration.rollout[0].percent"
        );
        assert_eq!(
            check(Migration { rollout: vec![step(0, f64::NAN)], bulk_import: None }),
            "migration.rollout[0].percent"
        );
        assert_eq!(check(Migration { rollout: vec![step(7, 10.0)], bulk_import: None }), "migration.rollout[0].at");
        let bulk = |at: u64, rate: f64| Some(BulkImport { at: Duration::from_secs(at), rate });
        assert_eq!(
            check(Migration { rollout: vec![step(0, 10.0)], bulk_import: bulk(0, 0.0) }),
            "migration.bulk_import.rate"
        );
        assert_eq!(
            check(Migration { rollout: vec![step(0, 10.0)], bulk_import: bulk(7 * 86_400, 5.0) }),
            "migration.bulk_import.at"
        );
        assert_eq!(check(Migration { rollout: vec![], bulk_import: bulk(0, 5.0) }), "migration.rollout");
        assert!(
            Migration { rollout: vec![step(0, 0.0), step(1, 100.0)], bulk_import: bulk(3600, 2000.0) }
                .validate(week)
                .is_ok()
        );
    }
}
