//! Puts the shards of a run together into one [`RunRecord`].

use std::time::Instant;

use hotcold_model::analytics::AnalyticsRow;
use hotcold_model::record::{BucketRow, Counts, HomeResidency, Latencies, RegionUsage, RunRecord, RunStats};
use hotcold_model::tally::{BucketPercentiles, histogram_of, peak_rss_bytes};

use hotcold_model::migration::{WeekPeaks, WeekUsage, week_spans, week_usage};

use crate::measure::PeakLayout;
use crate::sim::peak_window_ms;

/// What one shard measured, with what merging needs beyond its [`RunRecord`].
pub(crate) struct ShardResult {
    pub(crate) record: RunRecord,
    /// Per peak window, the highest value of each gauge, as [`PeakLayout`] lays them out.
    pub(crate) peaks: Vec<u64>,
    /// Per time-series row, the row's latencies as `(value_us, count)` (for merged percentiles).
    pub(crate) bucket_values: Vec<Vec<(u64, u64)>>,
    /// The shard's analytics table (`--analytics`; empty otherwise): taken out before the merge.
    pub(crate) analytics: Vec<AnalyticsRow>,
}

/// Puts the shards of a run together, one shard at a time (a merge of shards read from files
/// holds one shard besides the sum): counts, request units and averages add up; sync passes,
/// which every shard runs at the same moments, count once; latency histograms merge; peaks are
/// the highest sum over shards of a peak window (see [`PeakLayout`]). Add the shards in shard
/// order: floating-point sums depend on the order, and every merge of a run must give the same
/// bytes.
pub(crate) struct Merger {
    merged: RunRecord,
    peak_sums: Vec<u64>,
    /// Per time-series row, the `(value_us, count)` pairs of every shard added so far, sorted by
    /// value with one pair per value.
    values: Vec<Vec<(u64, u64)>>,
}

impl Merger {
    /// Starts from the first shard.
    pub(crate) fn new(first: ShardResult) -> Self {
        let ShardResult { record, peaks, bucket_values, .. } = first;
        Self { merged: record, peak_sums: peaks, values: bucket_values }
    }

    /// The scenario of the shards added so far (every shard of a run has the same).
    pub(crate) const fn scenario(&self) -> &hotcold_model::Scenario {
        &self.merged.scenario
    }

    /// Adds another shard.
    pub(crate) fn add(&mut self, shard: ShardResult) {
        let ShardResult { record: shard, peaks, bucket_values, .. } = shard;
        let merged = &mut self.merged;
        add_counts(&mut merged.counts, &shard.counts);
        merged.tiers.hot_avg += shard.tiers.hot_avg;
        merged.tiers.cold_avg += shard.tiers.cold_avg;
        add_latencies(&mut merged.latency, &shard.latency);
        for (sum, part) in merged.usage.iter_mut().zip(&shard.usage) {
            add_usage(sum, part);
        }
        merged.storage.avg_stored_bytes += shard.storage.avg_stored_bytes;
        merged.storage.final_stored_bytes += shard.storage.final_stored_bytes;
        merged.failover.sessions_at_risk += shard.failover.sessions_at_risk;
        merged.failover.sessions_lost += shard.failover.sessions_lost;
        for (sum, part) in merged.failover.events.iter_mut().zip(&shard.failover.events) {
            sum.sessions_at_risk += part.sessions_at_risk;
            sum.sessions_lost += part.sessions_lost;
            sum.detoured_requests += part.detoured_requests;
            sum.moved_home += part.moved_home;
        }
        for (sum, part) in merged.timeseries.iter_mut().zip(&shard.timeseries) {
            add_bucket_row(sum, part);
        }
        merged.residency.violations += shard.residency.violations;
        merged.residency.stored_outside_at_end += shard.residency.stored_outside_at_end;
        for (sum, part) in merged.residency.by_home.iter_mut().zip(&shard.residency.by_home) {
            add_home(sum, part);
        }
        for (sum, part) in self.values.iter_mut().zip(bucket_values) {
            *sum = merge_sorted_values(sum, &part);
        }
        if let (Some(sum), Some(part)) = (merged.migration.as_mut(), shard.migration.as_ref()) {
            sum.add(part);
        }
        for (sum, part) in self.peak_sums.iter_mut().zip(peaks) {
            *sum += part;
        }
    }

    /// The merged record, with `run` as its wall-clock figures.
    pub(crate) fn finish(self, run: RunStats) -> RunRecord {
        let Self { mut merged, peak_sums, values } = self;
        if !values.is_empty() {
            for (row, values) in merged.timeseries.iter_mut().zip(&values) {
                let percentiles = BucketPercentiles::of(&histogram_of(values));
                (row.p50_ms, row.p95_ms, row.p99_ms) = (percentiles.p50_ms, percentiles.p95_ms, percentiles.p99_ms);
            }
        }

        // Peaks: the highest window of each gauge, summed over shards.
        let layout = PeakLayout { regions: merged.regions.len(), migration: merged.migration.is_some() };
        let peak = |gauge: usize| peak_sums.chunks_exact(layout.row_len()).map(|w| w[gauge]).max().unwrap_or(0);
        let fragmentation = merged.scenario.costs.redis.fragmentation;
        let redis_bytes = |bytes: u64| (bytes as f64 * fragmentation).round() as u64;
        merged.tiers.hot_peak = peak(PeakLayout::HOT_TOTAL);
        merged.tiers.cold_peak = peak(PeakLayout::COLD_RECORDS);
        merged.storage.peak_stored_bytes = peak(PeakLayout::COLD_BYTES);
        for (r, usage) in merged.usage.iter_mut().enumerate() {
            usage.redis_peak_sessions = peak(layout.hot_sessions(r));
            usage.redis_peak_bytes = redis_bytes(peak(layout.hot_bytes(r)));
            usage.baseline_redis_only_peak_bytes = redis_bytes(peak(layout.baseline_bytes(r)));
        }
        if merged.migration.is_some() {
            let weeks = week_usage(&merged, &week_peaks(&merged, &peak_sums, layout));
            if let Some(migration) = merged.migration.as_mut() {
                migration.weeks = weeks;
            }
        }
        merged.run = run;
        merged.run.fill_rates(
            merged.counts.events,
            merged.counts.requests,
            merged.tiers.hot_peak + merged.tiers.cold_peak,
        );
        merged
    }
}

/// Per week of the run ([`week_spans`]), per region, the highest bytes of the hybrid store's
/// Redis, the legacy store and the Redis-only baseline (× fragmentation): the highest window sum
/// over shards among the peak windows that start in the week.
fn week_peaks(record: &RunRecord, peak_sums: &[u64], layout: PeakLayout) -> Vec<Vec<WeekPeaks>> {
    let window_ms = peak_window_ms((record.simulated_seconds * 1000.0).round() as u64) as f64;
    let fragmentation = record.scenario.costs.redis.fragmentation;
    let redis_bytes = |bytes: u64| (bytes as f64 * fragmentation).round() as u64;
    let spans = week_spans(record);
    let mut weeks = vec![vec![WeekPeaks::default(); layout.regions]; spans.len()];
    for (index, window) in peak_sums.chunks_exact(layout.row_len()).enumerate() {
        let start_s = index as f64 * window_ms / 1000.0;
        let Some(week) = spans.iter().position(|&(from, to)| start_s >= from && start_s < to) else { continue };
        for (region, peaks) in weeks[week].iter_mut().enumerate() {
            peaks.hot = peaks.hot.max(redis_bytes(window[layout.hot_bytes(region)]));
            peaks.baseline = peaks.baseline.max(redis_bytes(window[layout.baseline_bytes(region)]));
            if layout.migration {
                peaks.legacy = peaks.legacy.max(redis_bytes(window[layout.legacy_bytes(region)]));
            }
        }
    }
    weeks
}

/// The weekly usage of a run merged from `shards` (for the end state of a migration: the same
/// run without its `migration:` block).
pub(crate) fn merged_weeks(shards: Vec<ShardResult>) -> Vec<WeekUsage> {
    let mut shards = shards.into_iter();
    let Some(first) = shards.next() else { return Vec::new() };
    let mut merger = Merger::new(first);
    for shard in shards {
        merger.add(shard);
    }
    end_state_weeks(merger)
}

/// The weekly usage of the shards added to `merger` (a run without a `migration:` block: the end
/// state of one with it).
pub(crate) fn end_state_weeks(merger: Merger) -> Vec<WeekUsage> {
    let layout = PeakLayout { regions: merger.merged.regions.len(), migration: false };
    let peaks = week_peaks(&merger.merged, &merger.peak_sums, layout);
    let merged = merger.finish(RunStats::default());
    week_usage(&merged, &peaks)
}

/// Puts the shards of one process together (see [`Merger`]); `started` is when the run began,
/// for its wall-clock figures.
pub(crate) fn merge(shards: Vec<ShardResult>, started: Instant) -> RunRecord {
    let mut shards = shards.into_iter();
    let Some(first) = shards.next() else { unreachable!("a run has at least one shard") };
    let mut merger = Merger::new(first);
    for shard in shards {
        merger.add(shard);
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    merger.finish(RunStats::one_process(wall, peak_rss_bytes()))
}

/// Two lists of `(value, count)` sorted by value with one pair per value, as one such list.
fn merge_sorted_values(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let ((va, ca), (vb, cb)) = (a[i], b[j]);
        match va.cmp(&vb) {
            std::cmp::Ordering::Less => {
                out.push((va, ca));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push((vb, cb));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((va, ca + cb));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Adds a shard's counts to `sum`, all but the sync invocations (every shard runs the same passes).
fn add_counts(sum: &mut Counts, part: &Counts) {
    sum.requests += part.requests;
    sum.visits += part.visits;
    sum.events += part.events;
    sum.failed_requests += part.failed_requests;
    sum.created += part.created;
    sum.hot_hits += part.hot_hits;
    sum.cold_promotions += part.cold_promotions;
    sum.cold_only += part.cold_only;
    sum.demoted += part.demoted;
    sum.expired_hot += part.expired_hot;
    sum.expired_cold += part.expired_cold;
    sum.logged_out += part.logged_out;
    sum.invalid_lookups += part.invalid_lookups;
    sum.lost += part.lost;
    sum.updates += part.updates;
    sum.failed_updates += part.failed_updates;
}

/// Merges a shard's latency histograms into `sum`.
fn add_latencies(sum: &mut Latencies, part: &Latencies) {
    sum.hot_access.merge(&part.hot_access);
    sum.cold_promotion.merge(&part.cold_promotion);
    sum.create.merge(&part.create);
    for (sum, part) in sum.by_region.iter_mut().zip(&part.by_region) {
        sum.hot_access.merge(&part.hot_access);
        sum.cold_promotion.merge(&part.cold_promotion);
    }
}

/// Adds a shard's usage of one region to `sum`, but its sync invocations (counted once) and its
/// peaks (found from the peak windows).
fn add_usage(sum: &mut RegionUsage, part: &RegionUsage) {
    sum.wru += part.wru;
    sum.rru += part.rru;
    sum.replicated_wru += part.replicated_wru;
    sum.replicated_bytes += part.replicated_bytes;
    sum.dynamo_calls += part.dynamo_calls;
    sum.dynamo_errors += part.dynamo_errors;
    sum.redis_calls += part.redis_calls;
    sum.redis_avg_sessions += part.redis_avg_sessions;
    sum.sync_seconds += part.sync_seconds;
    sum.flush_seconds += part.flush_seconds;
    sum.audit_events += part.audit_events;
    sum.analytics_writes += part.analytics_writes;
}

/// Adds a shard's figures of one home region to `sum`.
fn add_home(sum: &mut HomeResidency, part: &HomeResidency) {
    sum.cold_writes_elsewhere += part.cold_writes_elsewhere;
    sum.cold_bytes_elsewhere += part.cold_bytes_elsewhere;
    sum.hot_writes_elsewhere += part.hot_writes_elsewhere;
    sum.hot_bytes_elsewhere += part.hot_bytes_elsewhere;
    sum.audit_records_elsewhere += part.audit_records_elsewhere;
    sum.requests += part.requests;
    sum.failed_requests += part.failed_requests;
    sum.lost += part.lost;
    sum.away_requests += part.away_requests;
    sum.away_lookup.merge(&part.away_lookup);
    sum.travel_lookup.merge(&part.travel_lookup);
    sum.detour_lookup.merge(&part.detour_lookup);
}

/// Adds a shard's time-series row to `sum`, but its percentiles (merged from the values).
fn add_bucket_row(sum: &mut BucketRow, part: &BucketRow) {
    sum.hot += part.hot;
    sum.cold += part.cold;
    sum.cold_bytes += part.cold_bytes;
    sum.active += part.active;
    sum.requests += part.requests;
    sum.hot_hits += part.hot_hits;
    sum.promotions += part.promotions;
    sum.demotions += part.demotions;
    sum.expiries += part.expiries;
    sum.losses += part.losses;
    sum.failures += part.failures;
    sum.redis_bytes += part.redis_bytes;
    sum.wru += part.wru;
    sum.rru += part.rru;
    sum.created += part.created;
    sum.audit_events += part.audit_events;
    sum.analytics_writes += part.analytics_writes;
    sum.replica_wru += part.replica_wru;
    sum.replica_audit_events += part.replica_audit_events;
    sum.home_analytics_writes += part.home_analytics_writes;
}
