//! [`RunRecord`]: everything one run measured, serializable, so reports (costs, charts, tables)
//! can be rebuilt from `run.json` without re-simulating; and [`Summary`], the `summary.json` of
//! CONTRACT section 3 without the cost, baseline-cost and SLO fields the reports crate adds.
//!
//! Counts in the record are raw (as simulated, not scaled by 1/sample); the summary scales them.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// One run, as measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// The scenario as run (seed and sample overrides applied, every default filled).
    pub scenario: Scenario,
    /// Region names; every per-region vector is in this order.
    pub regions: Vec<String>,
    /// Seed used.
    pub seed: u64,
    /// Fraction of users simulated; scale counts by `1 / sample`.
    pub sample: f64,
    /// Simulated time, seconds.
    pub simulated_seconds: f64,
    /// Warmup excluded from averages and percentiles, seconds.
    pub warmup_seconds: f64,
    /// Width of one time-series bucket, seconds (a multiple of 60).
    pub bucket_seconds: u64,
    /// Whole-run counts (raw).
    pub counts: Counts,
    /// Hot and cold tier sizes (raw session counts).
    pub tiers: Tiers,
    /// Latency histograms after warmup.
    pub latency: Latencies,
    /// Usage per region, in `regions` order.
    pub usage: Vec<RegionUsage>,
    /// DynamoDB storage.
    pub storage: Storage,
    /// Region outages and what they cost.
    pub failover: Failover,
    /// One row per (bucket, region), buckets in time order, regions in `regions` order.
    pub timeseries: Vec<BucketRow>,
    /// Data residency: the rules, writes that broke them, what each home region's sessions had
    /// stored elsewhere and what its users got. Default: empty (older run.json).
    #[serde(default)]
    pub residency: ResidencyRecord,
    /// The rollout from the Redis-only store, when the scenario has a `migration:` block
    /// (absent otherwise, and in older run.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<crate::migration::MigrationRecord>,
    /// How the run went on this machine (wall clock: excluded from determinism).
    pub run: RunStats,
}

/// Whole-run counts, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Requests (creates and lookups).
    pub requests: u64,
    /// Visits begun (arrivals and returns): with `requests` and `created`, what says two runs had
    /// the same traffic.
    #[serde(default)]
    pub visits: u64,
    /// Events processed by the event loop.
    pub events: u64,
    /// Requests that failed because a store needed was down or throttled.
    pub failed_requests: u64,
    /// Sessions created.
    pub created: u64,
    /// Lookups served from a hot tier.
    pub hot_hits: u64,
    /// Lookups served from the cold tier (promoted, or served cold-only while a hot tier was down).
    pub cold_promotions: u64,
    /// Of `cold_promotions`, those served cold-only.
    pub cold_only: u64,
    /// Sessions demoted by the sync job.
    pub demoted: u64,
    /// Hot copies found past their TTL.
    pub expired_hot: u64,
    /// Cold records found or purged past their TTL.
    pub expired_cold: u64,
    /// Sessions ended by logout.
    pub logged_out: u64,
    /// Lookups of unknown, expired or revoked tokens, including lost sessions the system no
    /// longer had at all.
    pub invalid_lookups: u64,
    /// Lookups of a session the user still held that the system no longer had (also counted in
    /// `invalid_lookups`), or had only in an older version than the user last saw (found: also
    /// counted as a hot hit or cold promotion). So `lost` can exceed `invalid_lookups`.
    pub lost: u64,
    /// Session data changes.
    pub updates: u64,
    /// Updates refused (version conflict or store down).
    pub failed_updates: u64,
    /// Sync job invocations (all regions, demotion and write-behind passes).
    pub sync_invocations: u64,
}

/// Tier sizes, raw session counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tiers {
    /// Time average after warmup of sessions in all hot tiers.
    pub hot_avg: f64,
    /// Most sessions held in all hot tiers at once.
    pub hot_peak: u64,
    /// Time average after warmup of records in the cold table.
    pub cold_avg: f64,
    /// Most records held in the cold table.
    pub cold_peak: u64,
}

/// A latency histogram: summary figures in ms and the recorded values (microseconds) for rebuilding
/// it (`Histogram::record_n(value_us, count)` for each pair).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hist {
    /// Values recorded.
    pub count: u64,
    /// Median, ms.
    pub p50: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
    /// Mean, ms.
    pub mean: f64,
    /// `(value_us, count)` for every distinct recorded value (at the histogram's precision).
    pub values_us: Vec<(u64, u64)>,
}

impl Hist {
    /// Summarises an hdrhistogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| round3(us as f64 / 1000.0);
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: round3(h.mean() / 1000.0),
            values_us: h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect(),
        }
    }

    /// Adds the values of `other` and recomputes the summary figures (merging shards' runs).
    pub fn merge(&mut self, other: &Self) {
        if other.count == 0 {
            return;
        }
        let mut values = std::mem::take(&mut self.values_us);
        values.extend_from_slice(&other.values_us);
        *self = Self::from_histogram(&crate::tally::histogram_of(&values));
    }
}

/// Rounds to 3 decimals (stable JSON output).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Latency histograms, after warmup.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latencies {
    /// Lookups served hot.
    pub hot_access: Hist,
    /// Lookups served from the cold tier.
    pub cold_promotion: Hist,
    /// Session creations.
    pub create: Hist,
    /// Per region (the serving region), in `regions` order.
    pub by_region: Vec<RegionLatency>,
}

impl Latencies {
    /// Every session lookup a user made, hot hits and cold promotions together: the latency a
    /// user feels, which a promotion threshold moves (the hot-access percentiles alone hardly
    /// move with it).
    pub fn lookups(&self) -> Hist {
        let mut all = self.hot_access.clone();
        all.merge(&self.cold_promotion);
        all
    }
}

/// One region's latency histograms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegionLatency {
    /// Lookups served hot.
    pub hot_access: Hist,
    /// Lookups served from the cold tier.
    pub cold_promotion: Hist,
}

/// One region's usage over the whole run, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegionUsage {
    /// Region name.
    pub region: String,
    /// DynamoDB write request units written from this region.
    pub wru: u64,
    /// DynamoDB read request units read in this region.
    pub rru: u64,
    /// Write units paid again in the other regions for this region's writes.
    pub replicated_wru: u64,
    /// Bytes replicated out of this region.
    pub replicated_bytes: u64,
    /// DynamoDB calls from this region.
    pub dynamo_calls: u64,
    /// Of those, failed (throttled or down).
    pub dynamo_errors: u64,
    /// Redis calls against this region's tier.
    pub redis_calls: u64,
    /// Most Redis bytes held: (payload + overhead) × fragmentation.
    pub redis_peak_bytes: u64,
    /// Most sessions held in this region's Redis.
    pub redis_peak_sessions: u64,
    /// Time average after warmup of sessions in this region's Redis.
    pub redis_avg_sessions: f64,
    /// Demotion passes run.
    pub sync_invocations: u64,
    /// Sum of their simulated durations, seconds.
    pub sync_seconds: f64,
    /// Write-behind passes run.
    pub flush_invocations: u64,
    /// Sum of their simulated durations, seconds.
    pub flush_seconds: f64,
    /// Redis-only baseline: most bytes this region's Redis would hold if every session stayed hot
    /// until `cold_storage.ttl` after its last access ((payload + overhead) × fragmentation).
    pub baseline_redis_only_peak_bytes: u64,
    /// Audit events written by this region's engine: every lifecycle event (created, promoted,
    /// demoted, updated, expired, logged out, revoked, erased). Default: 0 (older run.json).
    #[serde(default)]
    pub audit_events: u64,
    /// Analytics summary items written by this region: one per session each time it changes tier
    /// or ends (demotions, promotions, logouts, hot and cold expiries, revokes, erases).
    /// Default: 0 (older run.json).
    #[serde(default)]
    pub analytics_writes: u64,
}

/// DynamoDB storage, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Storage {
    /// Time average after warmup of stored item bytes (payload + item overhead).
    pub avg_stored_bytes: f64,
    /// Most item bytes stored.
    pub peak_stored_bytes: u64,
    /// Stored item bytes at the end of the run.
    pub final_stored_bytes: u64,
}

/// Region outages, raw counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Failover {
    /// Region outages that started.
    pub outages: u64,
    /// Live sessions in the failed regions' hot tiers when they failed.
    pub sessions_at_risk: u64,
    /// Of those, sessions whose newest state existed only in the failed hot tier.
    pub sessions_lost: u64,
    /// Each outage.
    pub events: Vec<OutageRecord>,
}

/// One region outage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutageRecord {
    /// Failed region.
    pub region: String,
    /// Where its traffic went.
    pub failover_to: String,
    /// Start, seconds from the start of the run.
    pub at_seconds: f64,
    /// Length, seconds.
    pub duration_seconds: f64,
    /// Live sessions in its hot tier when it failed.
    pub sessions_at_risk: u64,
    /// Of those, sessions with no current copy in the cold tier.
    pub sessions_lost: u64,
    /// Round trip between the failed region and `failover_to`, ms: what each detoured request
    /// paid on top of the latencies measured at the serving region (which leave it out).
    #[serde(default)]
    pub detour_ms: f64,
    /// Requests of the failed region's users served by `failover_to` during the outage.
    #[serde(default)]
    pub detoured_requests: u64,
    /// Sessions moved back into the region's hot tier after the outage (failback), until the run
    /// ends or the region fails again.
    #[serde(default)]
    pub moved_home: u64,
}

/// One (bucket, region) row of the time series, raw counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BucketRow {
    /// Bucket start, seconds from the start of the run.
    pub t: u64,
    /// Region index into `regions`.
    pub region: u16,
    /// Sessions in this region's Redis at the end of the bucket.
    pub hot: u64,
    /// Cold records homed in this region at the end of the bucket.
    pub cold: u64,
    /// Stored item bytes of those records.
    pub cold_bytes: u64,
    /// Users of this region in the middle of a visit at the end of the bucket.
    pub active: u64,
    /// Requests served by this region.
    pub requests: u64,
    /// Of those, hot hits.
    pub hot_hits: u64,
    /// Cold promotions (and cold-only serves).
    pub promotions: u64,
    /// Sessions this region's sync job demoted.
    pub demotions: u64,
    /// Hot and cold expiries recorded by this region.
    pub expiries: u64,
    /// Lost lookups served by this region.
    pub losses: u64,
    /// Failed requests served by this region.
    pub failures: u64,
    /// Request latency percentiles in this bucket, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Redis bytes at the end of the bucket: (payload + overhead) × fragmentation.
    pub redis_bytes: u64,
    /// DynamoDB WRU written from this region in the bucket.
    pub wru: u64,
    /// DynamoDB RRU read in this region in the bucket.
    pub rru: u64,
    /// Sessions created by this region (their home) in the bucket. Default: 0 (older run.json).
    #[serde(default)]
    pub created: u64,
    /// Audit events written by this region in the bucket (see [`RegionUsage::audit_events`]).
    /// Default: 0 (older run.json).
    #[serde(default)]
    pub audit_events: u64,
    /// Analytics items written by this region in the bucket (see
    /// [`RegionUsage::analytics_writes`]). Default: 0 (older run.json).
    #[serde(default)]
    pub analytics_writes: u64,
    /// WRU written in the bucket by the other regions into sessions tables with a replica here:
    /// what this replica pays again (with residency a restricted home's table has replicas only
    /// in its allowed regions). Default: 0 (older run.json).
    #[serde(default)]
    pub replica_wru: u64,
    /// Audit records stored in the bucket by the other regions into audit tables with a replica
    /// here. Default: 0 (older run.json).
    #[serde(default)]
    pub replica_audit_events: u64,
    /// Analytics summary writes in the bucket of sessions homed in this region (whichever region
    /// wrote them): with residency a restricted home's summaries go to its own table. Default: 0
    /// (older run.json).
    #[serde(default)]
    pub home_analytics_writes: u64,
}

/// Data residency in a run (CONTRACT `residency:`), raw counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResidencyRecord {
    /// Home regions with a rule, in `regions` order.
    pub restricted_regions: Vec<String>,
    /// Writes that stored a restricted session's data outside its allowed regions: hot puts and
    /// updates, cold writes and deletes, audit records. 0 whenever the engine keeps the rules.
    pub violations: u64,
    /// Records of restricted sessions found, at the end of the run, in a store of a region
    /// their home does not allow (a scan of every simulated Redis tier and the cold tables).
    #[serde(default)]
    pub stored_outside_at_end: u64,
    /// Per home region, in `regions` order (empty in older run.json).
    pub by_home: Vec<HomeResidency>,
}

impl ResidencyRecord {
    /// The scenario's restricted homes, nothing measured (no violation seen, no home's figures).
    pub fn of_scenario(scenario: &Scenario) -> Self {
        let regions = &scenario.session_config.hot_storage.regions;
        let rules = scenario.residency_rules().unwrap_or_default();
        Self {
            restricted_regions: rules.restricted_homes().filter_map(|r| regions.get(r.index()).cloned()).collect(),
            violations: 0,
            stored_outside_at_end: 0,
            by_home: Vec::new(),
        }
    }
}

/// One home region's sessions: what was stored outside the home region ("elsewhere"), and what its
/// users got (all raw).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HomeResidency {
    /// Region name.
    pub region: String,
    /// Cold writes of its sessions that put a copy in another region (a global table's replicas,
    /// or a writer abroad).
    pub cold_writes_elsewhere: u64,
    /// Item bytes those writes copied into other regions (item × regions other than home).
    pub cold_bytes_elsewhere: u64,
    /// Hot writes (puts and updates) of its sessions into another region's Redis: travellers'
    /// promotions and failover copies.
    pub hot_writes_elsewhere: u64,
    /// Bytes of those hot writes (payload + Redis overhead).
    pub hot_bytes_elsewhere: u64,
    /// Copies of its sessions' audit records stored in other regions (where written, plus the
    /// audit table's replicas).
    pub audit_records_elsewhere: u64,
    /// Requests of its users (wherever served).
    pub requests: u64,
    /// Of those, failed.
    pub failed_requests: u64,
    /// Lookups of its sessions lost (see [`Counts::lost`]).
    pub lost: u64,
    /// Requests of its users served by another region (travel, or its region down).
    pub away_requests: u64,
    /// Lookups of its sessions served by another region, after warmup: what a traveller waits,
    /// round trips to the home's stores included (a failover detour's own round trip is not).
    pub away_lookup: Hist,
    /// Of those, the lookups of travellers (served where they were, which was up).
    #[serde(default)]
    pub travel_lookup: Hist,
    /// Of those, the lookups detoured because the region serving the user was down (a failover).
    #[serde(default)]
    pub detour_lookup: Hist,
}

/// How the run went on this machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Events processed per wall-clock second.
    pub events_per_second: f64,
    /// Requests simulated per wall-clock second.
    pub requests_per_second: f64,
    /// Peak resident memory of the process (VmHWM), bytes; 0 where unknown.
    pub peak_rss_bytes: u64,
    /// Most sessions held in the hot and cold tiers together (raw).
    pub peak_sessions_held: u64,
    /// `rss_bytes_all_processes / peak_sessions_held`.
    pub bytes_per_session_held: f64,
    /// Processes the run was split into: 1 for a run in one process (`--shards N` on threads),
    /// N for N `--shard K/N` processes put together by `hotcold merge`. Default 1 (older run.json).
    #[serde(default = "one")]
    pub processes: u64,
    /// The peak resident memory of every process of the run added up, bytes (`peak_rss_bytes`
    /// for one process): what the run needs when its processes run at once.
    #[serde(default)]
    pub rss_bytes_all_processes: u64,
}

fn one() -> u64 {
    1
}

impl RunStats {
    /// The figures of a run (or shard) done in one process: its wall time and peak memory; the
    /// rates are filled by [`RunStats::fill_rates`].
    pub fn one_process(wall_seconds: f64, peak_rss_bytes: u64) -> Self {
        Self { wall_seconds, peak_rss_bytes, rss_bytes_all_processes: peak_rss_bytes, processes: 1, ..Self::default() }
    }

    /// Fills the rates and the memory per session from `wall_seconds` and the memory figures.
    pub fn fill_rates(&mut self, events: u64, requests: u64, peak_sessions_held: u64) {
        let wall = self.wall_seconds.max(1e-9);
        self.events_per_second = events as f64 / wall;
        self.requests_per_second = requests as f64 / wall;
        self.peak_sessions_held = peak_sessions_held;
        self.bytes_per_session_held =
            if peak_sessions_held > 0 { self.rss_bytes_all_processes as f64 / peak_sessions_held as f64 } else { 0.0 };
    }
}

/// `summary.json`: CONTRACT section 3 without `cost_usd_month`, `baseline_redis_only`,
/// `redis.nodes` and `slo` (added by the reports crate). Counts are scaled by 1/sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Sample fraction.
    pub sample: f64,
    /// Simulated seconds.
    pub simulated_seconds: f64,
    /// Requests.
    pub requests: u64,
    /// Events processed (not scaled: simulator work).
    pub events: u64,
    /// Session lifecycle counts.
    pub sessions: SessionCounts,
    /// Cold promotions per 1,000 requests after warmup ([`RunRecord::promotions_per_1k_requests`]).
    #[serde(default)]
    pub promotions_per_1k_requests: f64,
    /// Tier sizes.
    pub hot_cold: HotCold,
    /// Latencies, ms.
    pub latency_ms: LatencySummary,
    /// Redis.
    pub redis: RedisSummary,
    /// DynamoDB.
    pub dynamodb: DynamoSummary,
    /// Region failover.
    pub failover: FailoverSummary,
    /// Share of requests that did not fail.
    pub availability: f64,
    /// Data residency.
    pub residency: ResidencySummary,
    /// Wall-clock figures (excluded from determinism).
    pub run: RunSummary,
}

/// `residency`: the rules, the writes that broke them, and per home region what its sessions had
/// stored elsewhere (the exposure an architect weighs before pinning) and what its users got
/// (the price of pinning). Counts scaled by 1/sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResidencySummary {
    /// Home regions with a rule.
    pub restricted_regions: Vec<String>,
    /// Writes that stored a restricted session's data outside its allowed regions.
    pub violations: u64,
    /// Records of restricted sessions in a store outside their allowed regions at the end of
    /// the run (a scan of every store; not scaled).
    #[serde(default)]
    pub stored_outside_at_end: u64,
    /// Per home region (absent in older runs).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub by_home: std::collections::BTreeMap<String, HomeResidencySummary>,
}

/// `residency.by_home.<region>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HomeResidencySummary {
    /// Whether the region has a rule.
    pub restricted: bool,
    /// Regions allowed to store its sessions (every region when unrestricted).
    pub allowed: Vec<String>,
    /// What was stored outside the home region.
    pub exposure: ExposureSummary,
    /// Requests of its users, wherever served.
    pub requests: u64,
    /// Share of those that did not fail.
    pub availability: f64,
    /// Lookups of its sessions lost.
    pub lost: u64,
    /// Requests of its users served by another region (travel, or its region down).
    pub away_requests: u64,
    /// Lookups served by another region after warmup, ms (round trips to the home's stores
    /// included; a failover detour's own round trip is not).
    pub away_lookup_ms: PercentilesMean,
    /// Of those, travellers' lookups, ms: the price of a rule outside a failover.
    pub travel_lookup_ms: PercentilesMean,
    /// Of those, lookups detoured by an outage of the region serving the user, ms: the price of
    /// a rule during a failover.
    pub detour_lookup_ms: PercentilesMean,
    /// Outages of this region: sessions at risk and lost.
    pub failover: HomeFailover,
}

/// `residency.by_home.<region>.exposure`: copies of its sessions' data outside the home region.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExposureSummary {
    /// Cold writes that put a copy in another region.
    pub cold_writes_elsewhere: u64,
    /// Bytes those writes copied into other regions.
    pub cold_bytes_elsewhere: u64,
    /// Average item bytes of its cold records held by other regions' replicas after warmup.
    pub cold_avg_bytes_held_elsewhere: f64,
    /// Hot writes (promotions, failover copies, updates) into another region's Redis.
    pub hot_writes_elsewhere: u64,
    /// Bytes of those hot writes.
    pub hot_bytes_elsewhere: u64,
    /// Copies of its audit records stored in other regions.
    pub audit_records_elsewhere: u64,
}

/// `residency.by_home.<region>.failover`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HomeFailover {
    /// Outages of the region.
    pub outages: u64,
    /// Live hot sessions when it failed.
    pub sessions_at_risk: u64,
    /// Of those, lost.
    pub sessions_lost: u64,
    /// sessions_lost / sessions_at_risk (0 without outages).
    pub loss_ratio: f64,
}

/// `sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SessionCounts {
    pub created: u64,
    pub hot_hits: u64,
    pub cold_promotions: u64,
    pub demoted: u64,
    pub expired_hot: u64,
    pub expired_cold: u64,
    pub logged_out: u64,
    pub invalid_lookups: u64,
    pub lost: u64,
}

/// `hot_cold`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct HotCold {
    pub hot_avg: f64,
    pub hot_peak: u64,
    pub cold_avg: f64,
    pub hot_ratio_avg: f64,
}

/// Percentiles of one latency, ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One p95, ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct P95 {
    pub p95: f64,
}

/// Per-region latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RegionP95 {
    pub hot_access: P95,
    pub cold_promotion: P95,
}

/// Percentiles and mean of one latency, ms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct PercentilesMean {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

impl PercentilesMean {
    /// The figures of a recorded histogram.
    pub const fn of(hist: &Hist) -> Self {
        Self { p50: hist.p50, p95: hist.p95, p99: hist.p99, mean: hist.mean, max: hist.max }
    }
}

/// `latency_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LatencySummary {
    pub hot_access: Percentiles,
    pub cold_promotion: Percentiles,
    /// Every session lookup, hot hits and cold promotions together ([`Latencies::lookups`]).
    #[serde(default)]
    pub lookup: PercentilesMean,
    pub create: Percentiles,
    pub by_region: std::collections::BTreeMap<String, RegionP95>,
}

/// `redis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RedisSummary {
    pub peak_bytes: std::collections::BTreeMap<String, u64>,
}

/// `dynamodb`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct DynamoSummary {
    pub wru: u64,
    pub rru: u64,
    pub replicated_wru: u64,
    pub avg_stored_bytes: f64,
}

/// `failover`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FailoverSummary {
    pub outages: u64,
    pub sessions_at_risk: u64,
    pub sessions_lost: u64,
    pub loss_ratio: f64,
    /// Each outage (left out of runs without one, so their summary is as before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<OutageSummary>,
}

/// One entry of `failover.events`: the outage as recorded (counts scaled by 1/sample) and how the
/// region recovered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageSummary {
    /// The outage: region, where its traffic went, when, how long, sessions at risk and lost,
    /// the detour its users paid (not in the latency figures), sessions moved home.
    #[serde(flatten)]
    pub outage: OutageRecord,
    /// Minutes from the end of the outage until the region's p95 is back under
    /// `slo.hot_access_p95_ms` and stays there (see [`RunRecord::slo_recovery_minutes`]); `null`
    /// if it never is within the run.
    pub slo_recovery_minutes: Option<f64>,
}

/// `run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RunSummary {
    pub wall_seconds: f64,
    pub events_per_second: f64,
    pub peak_rss_bytes: u64,
    /// Processes the run was split into (see [`RunStats::processes`]).
    #[serde(default = "one")]
    pub processes: u64,
}

/// How long a region's p95 must stay under the hot access SLO after an outage before it counts as
/// recovered ([`RunRecord::slo_recovery_minutes`]): an hour, long enough that a recovery is not a
/// lull between two waves of users paying the detour, short enough that an unrelated fault later
/// in the run does not hide it.
pub const SLO_RECOVERY_HOLD_SECONDS: u64 = 3600;

impl RunRecord {
    /// Minutes from the end of `outage` until its region's p95 (the time series' p95 over every
    /// request the region served in a bucket) is under `slo.hot_access_p95_ms` in a bucket and in
    /// every bucket of the [`SLO_RECOVERY_HOLD_SECONDS`] that follow (or up to the end of the
    /// run), measured to the start of that first bucket; 0 when the first bucket after the
    /// outage already is. `None` when no bucket after the outage qualifies.
    pub fn slo_recovery_minutes(&self, outage: &OutageRecord) -> Option<f64> {
        let region = self.regions.iter().position(|r| *r == outage.region)?;
        let bucket = self.bucket_seconds.max(1);
        let end = outage.at_seconds + outage.duration_seconds;
        // The buckets from the one the outage ends in, with requests (an idle bucket says nothing).
        let first = (end / bucket as f64).floor() as u64 * bucket;
        let rows: Vec<(u64, f64)> = self
            .timeseries
            .iter()
            .filter(|row| usize::from(row.region) == region && row.t >= first && row.requests > 0)
            .map(|row| (row.t, row.p95_ms))
            .collect();
        let target = self.scenario.slo.hot_access_p95_ms;
        let recovered = rows.iter().enumerate().find(|(i, (t, _))| {
            rows[*i..]
                .iter()
                .take_while(|(later, _)| *later < t + SLO_RECOVERY_HOLD_SECONDS)
                .all(|(_, p95)| *p95 <= target)
        })?;
        let (t, _) = recovered.1;
        Some(round3((*t as f64 - end).max(0.0) / 60.0))
    }

    /// Cold promotions per 1,000 requests after warmup (the time-series buckets the latency
    /// histograms cover): what a promotion threshold trades against the hot tier's size. 0
    /// without requests.
    pub fn promotions_per_1k_requests(&self) -> f64 {
        promotions_per_1k(&self.timeseries, self.warmup_seconds)
    }

    /// The `summary.json` figures, counts scaled by 1/sample.
    pub fn summary(&self) -> Summary {
        let scale = 1.0 / self.sample;
        let s = |n: u64| (n as f64 * scale).round() as u64;
        let c = &self.counts;
        let p = |h: &Hist| Percentiles { p50: h.p50, p95: h.p95, p99: h.p99, max: h.max };
        let hot_avg = self.tiers.hot_avg * scale;
        let cold_avg = self.tiers.cold_avg * scale;
        let replicated = self.scenario.costs.dynamodb.replicated_writes;
        Summary {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            sample: self.sample,
            simulated_seconds: self.simulated_seconds,
            requests: s(c.requests),
            events: c.events,
            promotions_per_1k_requests: self.promotions_per_1k_requests(),
            sessions: SessionCounts {
                created: s(c.created),
                hot_hits: s(c.hot_hits),
                cold_promotions: s(c.cold_promotions),
                demoted: s(c.demoted),
                expired_hot: s(c.expired_hot),
                expired_cold: s(c.expired_cold),
                logged_out: s(c.logged_out),
                invalid_lookups: s(c.invalid_lookups),
                lost: s(c.lost),
            },
            hot_cold: HotCold {
                hot_avg: round3(hot_avg),
                hot_peak: s(self.tiers.hot_peak),
                cold_avg: round3(cold_avg),
                hot_ratio_avg: if hot_avg + cold_avg > 0.0 { round6(hot_avg / (hot_avg + cold_avg)) } else { 0.0 },
            },
            latency_ms: LatencySummary {
                hot_access: p(&self.latency.hot_access),
                cold_promotion: p(&self.latency.cold_promotion),
                lookup: {
                    let h = self.latency.lookups();
                    PercentilesMean { p50: h.p50, p95: h.p95, p99: h.p99, mean: h.mean, max: h.max }
                },
                create: p(&self.latency.create),
                by_region: self
                    .regions
                    .iter()
                    .zip(&self.latency.by_region)
                    .map(|(name, r)| {
                        (
                            name.clone(),
                            RegionP95 {
                                hot_access: P95 { p95: r.hot_access.p95 },
                                cold_promotion: P95 { p95: r.cold_promotion.p95 },
                            },
                        )
                    })
                    .collect(),
            },
            redis: RedisSummary {
                peak_bytes: self.usage.iter().map(|u| (u.region.clone(), s(u.redis_peak_bytes))).collect(),
            },
            dynamodb: DynamoSummary {
                wru: s(self.usage.iter().map(|u| u.wru).sum()),
                rru: s(self.usage.iter().map(|u| u.rru).sum()),
                replicated_wru: if replicated { s(self.usage.iter().map(|u| u.replicated_wru).sum()) } else { 0 },
                avg_stored_bytes: (self.storage.avg_stored_bytes * scale).round(),
            },
            failover: FailoverSummary {
                outages: self.failover.outages,
                sessions_at_risk: s(self.failover.sessions_at_risk),
                sessions_lost: s(self.failover.sessions_lost),
                loss_ratio: if self.failover.sessions_at_risk > 0 {
                    round6(self.failover.sessions_lost as f64 / self.failover.sessions_at_risk as f64)
                } else {
                    0.0
                },
                events: self
                    .failover
                    .events
                    .iter()
                    .map(|o| OutageSummary {
                        outage: OutageRecord {
                            sessions_at_risk: s(o.sessions_at_risk),
                            sessions_lost: s(o.sessions_lost),
                            detoured_requests: s(o.detoured_requests),
                            moved_home: s(o.moved_home),
                            ..o.clone()
                        },
                        slo_recovery_minutes: self.slo_recovery_minutes(o),
                    })
                    .collect(),
            },
            availability: if c.requests > 0 { round6(1.0 - c.failed_requests as f64 / c.requests as f64) } else { 1.0 },
            residency: self.residency_summary(),
            run: RunSummary {
                wall_seconds: round3(self.run.wall_seconds),
                events_per_second: self.run.events_per_second.round(),
                peak_rss_bytes: self.run.peak_rss_bytes,
                processes: self.run.processes,
            },
        }
    }
}

impl RunRecord {
    /// The `residency` block of `summary.json`, counts scaled by 1/sample.
    pub fn residency_summary(&self) -> ResidencySummary {
        let scale = 1.0 / self.sample;
        let s = |n: u64| (n as f64 * scale).round() as u64;
        let rules = self.scenario.residency_rules().unwrap_or_default();
        let allowed_names = |home: usize| -> Vec<String> {
            let id = hotcold_engine::RegionId(u16::try_from(home).unwrap_or(u16::MAX));
            match rules.allowed(id) {
                Some(list) => list.iter().filter_map(|r| self.regions.get(r.index()).cloned()).collect(),
                None => self.regions.clone(),
            }
        };
        let held_elsewhere = cold_bytes_held_elsewhere(self, &rules);
        let by_home = self
            .residency
            .by_home
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let allowed = allowed_names(i);
                let outages: Vec<&OutageRecord> =
                    self.failover.events.iter().filter(|o| o.region == h.region).collect();
                let (at_risk, lost) =
                    outages.iter().fold((0, 0), |(r, l), o| (r + o.sessions_at_risk, l + o.sessions_lost));
                let away = &h.away_lookup;
                let summary = HomeResidencySummary {
                    restricted: self.residency.restricted_regions.contains(&h.region),
                    allowed,
                    exposure: ExposureSummary {
                        cold_writes_elsewhere: s(h.cold_writes_elsewhere),
                        cold_bytes_elsewhere: s(h.cold_bytes_elsewhere),
                        cold_avg_bytes_held_elsewhere: (held_elsewhere.get(i).copied().unwrap_or(0.0) * scale).round(),
                        hot_writes_elsewhere: s(h.hot_writes_elsewhere),
                        hot_bytes_elsewhere: s(h.hot_bytes_elsewhere),
                        audit_records_elsewhere: s(h.audit_records_elsewhere),
                    },
                    requests: s(h.requests),
                    availability: if h.requests > 0 {
                        round6(1.0 - h.failed_requests as f64 / h.requests as f64)
                    } else {
                        1.0
                    },
                    lost: s(h.lost),
                    away_requests: s(h.away_requests),
                    away_lookup_ms: PercentilesMean::of(away),
                    travel_lookup_ms: PercentilesMean::of(&h.travel_lookup),
                    detour_lookup_ms: PercentilesMean::of(&h.detour_lookup),
                    failover: HomeFailover {
                        outages: outages.len() as u64,
                        sessions_at_risk: s(at_risk),
                        sessions_lost: s(lost),
                        loss_ratio: if at_risk > 0 { round6(lost as f64 / at_risk as f64) } else { 0.0 },
                    },
                };
                (h.region.clone(), summary)
            })
            .collect();
        ResidencySummary {
            restricted_regions: self.residency.restricted_regions.clone(),
            violations: s(self.residency.violations),
            stored_outside_at_end: self.residency.stored_outside_at_end,
            by_home,
        }
    }
}

/// Per home region (record order), the average item bytes of its cold records held by replicas
/// outside the home after warmup (raw): its records' bytes (the time series' `cold_bytes`) times
/// the replica regions of its table other than the home itself.
pub fn cold_bytes_held_elsewhere(record: &RunRecord, rules: &hotcold_engine::Residency) -> Vec<f64> {
    let n = record.regions.len();
    let mut sums = vec![0.0; n];
    let mut buckets = vec![0u64; n];
    for row in record.timeseries.iter().filter(|row| row.t as f64 >= record.warmup_seconds) {
        let i = usize::from(row.region);
        if let (Some(sum), Some(count)) = (sums.get_mut(i), buckets.get_mut(i)) {
            *sum += row.cold_bytes as f64;
            *count += 1;
        }
    }
    (0..n)
        .map(|i| {
            let home = hotcold_engine::RegionId(u16::try_from(i).unwrap_or(u16::MAX));
            let others = rules.replicas(home, n).saturating_sub(1);
            if buckets[i] > 0 { sums[i] / buckets[i] as f64 * others as f64 } else { 0.0 }
        })
        .collect()
}

/// Cold promotions per 1,000 requests in the time-series rows starting at or after the warmup.
fn promotions_per_1k(rows: &[BucketRow], warmup_seconds: f64) -> f64 {
    let after = rows.iter().filter(|row| row.t as f64 >= warmup_seconds);
    let (promotions, requests) = after.fold((0u64, 0u64), |(p, r), row| (p + row.promotions, r + row.requests));
    if requests == 0 { 0.0 } else { round6(promotions as f64 * 1000.0 / requests as f64) }
}

/// Rounds to 6 decimals.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::histogram_of;

    #[test]
    fn lookups_merge_hot_hits_and_promotions_exactly() {
        // Values under 256 us are exact at the histograms' precision, so the merge is checked by
        // hand: hot 100 us x3, 200 us x1; cold 200 us x1, 250 us x5.
        let hot = Hist::from_histogram(&histogram_of(&[(100, 3), (200, 1)]));
        let cold = Hist::from_histogram(&histogram_of(&[(200, 1), (250, 5)]));
        let latency = Latencies { hot_access: hot.clone(), cold_promotion: cold, ..Latencies::default() };
        let all = latency.lookups();
        assert_eq!(all.values_us, vec![(100, 3), (200, 2), (250, 5)]);
        assert_eq!(all.count, 10);
        // Mean (3 x 100 + 2 x 200 + 5 x 250) / 10 = 195 us; the 5th of 10 values is 200 us; the
        // 10th (p95 and p99 of 10 values) and the largest are 250 us.
        assert_eq!((all.mean, all.p50, all.p95, all.p99, all.max), (0.195, 0.2, 0.25, 0.25, 0.25));
        // The hot histogram alone is unchanged by the merge, and no promotion leaves it as it is.
        assert_eq!(latency.hot_access.values_us, hot.values_us);
        let hot_only = Latencies { hot_access: hot.clone(), ..Latencies::default() }.lookups();
        assert_eq!((hot_only.values_us, hot_only.mean), (hot.values_us, hot.mean));
        assert_eq!(Latencies::default().lookups().count, 0);
    }

    #[test]
    fn promotions_per_1k_requests_counts_after_warmup_only() {
        let row =
            |t: u64, requests: u64, promotions: u64| BucketRow { t, requests, promotions, ..BucketRow::default() };
        let rows = [row(0, 1000, 500), row(60, 400, 2), row(60, 100, 1), row(120, 500, 9)];
        // After a 60 s warmup: 12 promotions in 1,000 requests.
        assert_eq!(promotions_per_1k(&rows, 60.0), 12.0);
        assert_eq!(promotions_per_1k(&rows, 0.0), 512.0 * 1000.0 / 2000.0);
        assert_eq!(promotions_per_1k(&rows, 180.0), 0.0, "no request after warmup");
    }
}
