//! What a shard measures as it runs: counts, latencies, the time series by bucket, sync work,
//! warm-up marks and peak windows.

use hdrhistogram::Histogram;
use hotcold_engine::AuditKind;
use hotcold_model::record::{BucketRow, Counts, Hist, HomeResidency};
use hotcold_model::tally::{HIST_MAX_US, LatencyTally, latency_histogram};

use crate::sim::Sim;

/// A shard's measurements so far (beyond what the stores meter themselves).
pub(crate) struct Meters {
    /// The run's counts (`created`, `demoted`, expiries and the like are taken from the audit
    /// trail at the end).
    pub(crate) counts: Counts,
    /// Every request's latency, by region and class (the time series and the run's totals).
    pub(crate) latency: LatencyTally,
    /// Per serving region, counts of the current time-series bucket.
    pub(crate) bucket: Vec<BucketCounts>,
    /// Per region, cumulative counters as they stood when the current bucket began.
    marks: Vec<BucketMarks>,
    /// Start of the current bucket, ms.
    bucket_start_ms: u64,
    /// The closed buckets, by bucket then region.
    pub(crate) timeseries: Vec<BucketRow>,
    /// Per region, the sync job's passes and their time.
    pub(crate) passes: Vec<PassTotals>,
    /// Gauge areas at the end of the warm-up, which averages leave out.
    pub(crate) warmup: WarmupAreas,
    /// Per closed peak window, the highest value of each gauge, laid out as [`PeakLayout`] says.
    pub(crate) peaks: Vec<u64>,
    /// Per home region (of the session), what its users got: the price of residency.
    pub(crate) homes: Vec<HomeMeters>,
}

/// One home region's requests, wherever served.
#[derive(Debug)]
pub(crate) struct HomeMeters {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) lost: u64,
    /// Requests served by another region.
    pub(crate) away: u64,
    /// Lookups served by another region after warmup, microseconds.
    pub(crate) away_lookup: Histogram<u64>,
    /// Of those, travellers' (the region serving them was up).
    pub(crate) travel_lookup: Histogram<u64>,
    /// Of those, detoured by an outage of the region serving the user.
    pub(crate) detour_lookup: Histogram<u64>,
}

impl HomeMeters {
    /// The record's figures of home `region` (exposure left for the stores to fill).
    pub(crate) fn record(&self, region: String) -> HomeResidency {
        HomeResidency {
            region,
            requests: self.requests,
            failed_requests: self.failed,
            lost: self.lost,
            away_requests: self.away,
            away_lookup: Hist::from_histogram(&self.away_lookup),
            travel_lookup: Hist::from_histogram(&self.travel_lookup),
            detour_lookup: Hist::from_histogram(&self.detour_lookup),
            ..HomeResidency::default()
        }
    }

    /// Records one lookup served away from home that took `latency_us`; `detoured` when the
    /// region serving the user was down.
    pub(crate) fn record_away_lookup(&mut self, latency_us: u64, detoured: bool) {
        let value = latency_us.clamp(1, HIST_MAX_US);
        let _ = self.away_lookup.record(value);
        let _ = if detoured { self.detour_lookup.record(value) } else { self.travel_lookup.record(value) };
    }
}

/// Per-region counts of the current time-series bucket.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BucketCounts {
    pub(crate) requests: u64,
    pub(crate) hot_hits: u64,
    pub(crate) promotions: u64,
    pub(crate) losses: u64,
    pub(crate) failures: u64,
}

/// Per-region cumulative counters at the last bucket boundary: a bucket's row shows the
/// difference.
#[derive(Debug, Default, Clone, Copy)]
struct BucketMarks {
    demotions: u64,
    expiries: u64,
    wru: u64,
    rru: u64,
    created: u64,
    audit_events: u64,
    analytics_writes: u64,
    replica_wru: u64,
    replica_audit_events: u64,
    home_analytics_writes: u64,
}

/// One region's sync passes: how many, and their summed latency.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassTotals {
    pub(crate) sync_invocations: u64,
    pub(crate) sync_us: u64,
    pub(crate) flush_invocations: u64,
    pub(crate) flush_us: u64,
}

/// Gauge areas (value × ms) at the end of the warm-up.
#[derive(Debug, Default)]
pub(crate) struct WarmupAreas {
    /// Hot sessions, per region.
    pub(crate) hot: Vec<f64>,
    /// Cold records.
    pub(crate) cold: f64,
    /// Cold item bytes.
    pub(crate) cold_bytes: f64,
}

/// Where each gauge's highest value sits in a peak window's row of [`Meters::peaks`]: hot
/// sessions of all regions together, cold records, cold bytes, then per region its hot sessions,
/// its hot bytes and its Redis-only baseline bytes; with a migration, then per region the bytes
/// of its legacy store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeakLayout {
    pub(crate) regions: usize,
    /// Whether the run has a `migration:` block (and rows the legacy store's gauges).
    pub(crate) migration: bool,
}

impl PeakLayout {
    pub(crate) const HOT_TOTAL: usize = 0;
    pub(crate) const COLD_RECORDS: usize = 1;
    pub(crate) const COLD_BYTES: usize = 2;
    /// Gauges of the whole shard, before the per-region ones.
    const SHARD_GAUGES: usize = 3;
    /// Gauges of each region.
    const REGION_GAUGES: usize = 3;

    /// Values in one window's row.
    pub(crate) fn row_len(self) -> usize {
        Self::SHARD_GAUGES + (Self::REGION_GAUGES + usize::from(self.migration)) * self.regions
    }

    pub(crate) fn hot_sessions(self, region: usize) -> usize {
        Self::SHARD_GAUGES + region
    }

    pub(crate) fn hot_bytes(self, region: usize) -> usize {
        Self::SHARD_GAUGES + self.regions + region
    }

    pub(crate) fn baseline_bytes(self, region: usize) -> usize {
        Self::SHARD_GAUGES + 2 * self.regions + region
    }

    /// Only with a migration.
    pub(crate) fn legacy_bytes(self, region: usize) -> usize {
        Self::SHARD_GAUGES + 3 * self.regions + region
    }
}

impl Meters {
    /// Nothing measured yet in `regions` regions; `keep_bucket_values` keeps each bucket's
    /// latencies for merging shards.
    pub(crate) fn new(regions: usize, keep_bucket_values: bool) -> Self {
        Self {
            counts: Counts::default(),
            latency: LatencyTally::new(regions, keep_bucket_values),
            bucket: vec![BucketCounts::default(); regions],
            marks: vec![BucketMarks::default(); regions],
            bucket_start_ms: 0,
            timeseries: Vec::new(),
            passes: vec![PassTotals::default(); regions],
            warmup: WarmupAreas { hot: vec![0.0; regions], ..WarmupAreas::default() },
            peaks: Vec::new(),
            homes: (0..regions)
                .map(|_| HomeMeters {
                    requests: 0,
                    failed: 0,
                    lost: 0,
                    away: 0,
                    away_lookup: latency_histogram(),
                    travel_lookup: latency_histogram(),
                    detour_lookup: latency_histogram(),
                })
                .collect(),
        }
    }
}

impl Sim {
    /// Closes the current time-series bucket: a row per region, and a new bucket from now.
    pub(crate) fn close_bucket(&mut self) {
        let now = self.backends.time();
        let regions = self.regions();
        let fragmentation = self.scenario.costs.redis.fragmentation;
        let backends = &self.backends;
        let meters = &mut self.meters;
        let by_home = backends.cold.by_home();
        for r in 0..regions {
            let ledger = backends.context.ledger(r);
            let (wru, rru) = (ledger.wru.get(), ledger.rru.get());
            let demotions = backends.audit.count(r, AuditKind::Demoted);
            let expiries = backends.audit.count(r, AuditKind::Expired);
            let created = backends.audit.count(r, AuditKind::Created);
            let audit_events = backends.audit.total(r);
            let analytics_writes = backends.audit.analytics_writes(r);
            let replica_wru = ledger.replica_wru.get();
            let replica_audit_events = ledger.replica_audit_events.get();
            let home_analytics_writes = backends.audit.home_analytics_writes(r);
            let warm = meters.bucket_start_ms >= self.timing.warmup_ms;
            let percentiles = meters.latency.close_bucket(r, warm);
            let counts = meters.bucket[r];
            let marks = meters.marks[r];
            let (cold, cold_bytes) = by_home.get(r).copied().unwrap_or((0, 0));
            meters.timeseries.push(BucketRow {
                t: meters.bucket_start_ms / 1000,
                region: r as u16,
                hot: backends.hot[r].count().value,
                cold,
                cold_bytes,
                active: self.population.active[r],
                requests: counts.requests,
                hot_hits: counts.hot_hits,
                promotions: counts.promotions,
                demotions: demotions - marks.demotions,
                expiries: expiries - marks.expiries,
                losses: counts.losses,
                failures: counts.failures,
                p50_ms: percentiles.p50_ms,
                p95_ms: percentiles.p95_ms,
                p99_ms: percentiles.p99_ms,
                redis_bytes: (backends.hot[r].bytes().value as f64 * fragmentation).round() as u64,
                wru: wru - marks.wru,
                rru: rru - marks.rru,
                created: created - marks.created,
                audit_events: audit_events - marks.audit_events,
                analytics_writes: analytics_writes - marks.analytics_writes,
                replica_wru: replica_wru - marks.replica_wru,
                replica_audit_events: replica_audit_events - marks.replica_audit_events,
                home_analytics_writes: home_analytics_writes - marks.home_analytics_writes,
            });
            meters.marks[r] = BucketMarks {
                demotions,
                expiries,
                wru,
                rru,
                created,
                audit_events,
                analytics_writes,
                replica_wru,
                replica_audit_events,
                home_analytics_writes,
            };
            meters.bucket[r] = BucketCounts::default();
        }
        if let Some(migration) = self.migration.as_mut() {
            migration.close_bucket();
        }
        meters.bucket_start_ms = now;
    }

    /// Closes the bucket in progress when the run ends, if it began before the end.
    pub(crate) fn close_last_bucket(&mut self) {
        if self.meters.bucket_start_ms < self.timing.end_ms {
            self.close_bucket();
        }
    }

    /// Closes a peak window: appends the highest value each gauge reached in it, as
    /// [`PeakLayout`] lays them out. Shards close windows at the same simulated times, so the peak
    /// of a sum over shards is the highest window sum (exact for one shard; with more, an upper
    /// bound within one window's change, as shards may peak at different moments in it).
    pub(crate) fn record_peaks(&mut self) {
        let regions = self.regions();
        let backends = &self.backends;
        let peaks = &mut self.meters.peaks;
        peaks.push(backends.context.take_hot_total_window_peak());
        let (cold_count, cold_bytes) = backends.cold.take_window_peaks();
        peaks.extend([cold_count, cold_bytes]);
        let hot: Vec<(u64, u64)> = backends.hot.iter().map(|hot| hot.take_window_peaks()).collect();
        peaks.extend(hot.iter().map(|(count, _)| *count));
        peaks.extend(hot.iter().map(|(_, bytes)| *bytes));
        for r in 0..regions {
            peaks.push(self.baseline.take_window_peak(r));
        }
        if let Some(migration) = self.migration.as_mut() {
            peaks.extend((0..regions).map(|r| migration.store.take_window_peak(r)));
        }
    }

    /// The warm-up ends: averages count from now.
    pub(crate) fn end_warmup(&mut self) {
        let warmup = &mut self.meters.warmup;
        for (area, hot) in warmup.hot.iter_mut().zip(&self.backends.hot) {
            *area = hot.count().area;
        }
        warmup.cold = self.backends.cold.count().area;
        warmup.cold_bytes = self.backends.cold.bytes().area;
    }
}
