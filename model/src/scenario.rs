//! Scenario files (CONTRACT section 2): parsing, defaults, validation, sweep points.
//!
//! Every key has the default CONTRACT states; unknown keys are errors; a bad file is reported with
//! the file, the line and column where the parser knows them, and the key path
//! (`traffic.regions.eu-west-1.sessions_per_day`) of the offending value.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use hotcold_engine::config::duration;
use hotcold_engine::{EngineConfig, Residency, SessionConfig};
use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Count, DistSpec, Quantity, Seconds, short_number};
use crate::yaml::{YamlError, parse_yaml};

/// A scenario file that cannot be used: where (file, line and column, key path) and what was
/// expected. Fatal for the run (exit 2).
pub type ScenarioError = YamlError;

/// Most points a `sweep:` grid may have. Each point is a whole simulation writing a run directory
/// of its own, so a thousand is already hours of runs; and the grid's size is the product of its
/// axes' lengths, which a few long axes make astronomically large (the grid, built, would exhaust
/// memory before the first run).
pub const MAX_SWEEP_POINTS: usize = 1_000;

/// Longest round trip between two regions, ms: real ones are well under a second, so anything
/// over a minute is a unit mistake (and every cross-region call of the simulation adds it up).
const MAX_RTT_MS: f64 = 60_000.0;

/// Largest `traffic.growth_per_month`: +1000 % a month. The report compounds it over a year,
/// and costs grown by a factor past 11^12 (3e12) stop meaning anything.
const MAX_GROWTH_PER_MONTH: f64 = 10.0;

/// Largest DynamoDB item, bytes: the service's limit of 400 KB per item. The item sizes of
/// `costs.dynamodb` cannot be larger.
const MAX_ITEM_BYTES: u64 = 400 * 1024;

/// Largest `costs.redis.bytes_overhead_per_session`: 1 MiB. Redis's own overhead per key is a few
/// hundred bytes; the simulator adds this to every session it holds.
const MAX_SESSION_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// A whole scenario, every default filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; used in the default run directory. Required.
    pub name: String,
    /// Seed of every random stream. Default: 42.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Simulated time. Default: 7d.
    #[serde(default = "defaults::duration", with = "duration")]
    pub duration: Duration,
    /// Excluded from steady-state averages and percentiles. Default: 1d.
    #[serde(default = "defaults::warmup", with = "duration")]
    pub warmup: Duration,
    /// Fraction of users simulated, in (0, 1]; counts are scaled back by 1/sample. Default: 1.0.
    #[serde(default = "defaults::one")]
    pub sample: f64,
    /// The ADR-0010 block. Default: the ADR's values.
    #[serde(default)]
    pub session_config: SessionConfig,
    /// The engine block. Default: `on_demotion`, write-behind every 60 s.
    #[serde(default)]
    pub engine: EngineConfig,
    /// The synthetic traffic. Required (at least `regions`).
    pub traffic: Traffic,
    /// Simulated backend latencies.
    #[serde(default)]
    pub latency: LatencyConfig,
    /// Injected faults. Default: none.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// List prices for the cost report.
    #[serde(default)]
    pub costs: Costs,
    /// The ADR's success metrics.
    #[serde(default)]
    pub slo: Slo,
    /// Data residency: home region => the regions allowed to store its sessions (hot, cold,
    /// audit, analytics). Checked by [`hotcold_engine::Residency::from_names`]. Always written
    /// out (`{}` when empty) so `residency.<home>` can be swept or `--set`. Default: `{}` (every
    /// region may hold every session).
    #[serde(default)]
    pub residency: BTreeMap<String, Vec<String>>,
    /// ADR-0010 phase 3: the rollout from a Redis-only store (see [`crate::migration`]). Default:
    /// none (the hybrid store serves all traffic from the start); an empty block is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<crate::migration::Migration>,
    /// Where a calibrated scenario's numbers came from (written by `hotcold calibrate`; changes
    /// nothing in a run, shown by the report). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibrate::Provenance>,
    /// `hotcold sweep` grid: key path => values. Default: empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sweep: BTreeMap<String, Vec<yaml_serde::Value>>,
}

/// `traffic`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Arrivals per serving region. Required; keys must be configured regions.
    pub regions: BTreeMap<String, RegionTraffic>,
    /// What one visit does.
    #[serde(default)]
    pub visit: Visit,
    /// Later visits reusing the token.
    #[serde(default)]
    pub returns: Returns,
    /// Share of requests served by a region other than the session's home (ignored with a single
    /// region). Default: 0.01.
    #[serde(default = "defaults::travel")]
    pub travel_probability: f64,
    /// Traffic growth per month (0.05: 5 % more each month; greater than -1); the report projects
    /// the monthly cost at +3, +6 and +12 months. Default: 0.0.
    #[serde(default)]
    pub growth_per_month: f64,
}

/// `traffic.regions.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionTraffic {
    /// New sessions per day (the daily average). Required.
    pub sessions_per_day: f64,
    /// Local time offset from UTC, hours. Default: 0.
    #[serde(default)]
    pub utc_offset: f64,
    /// Local hour of peak traffic. Default: 20.
    #[serde(default = "defaults::peak_hour")]
    pub peak_hour: f64,
    /// Peak rate over trough rate (1.0: constant). Default: 3.0.
    #[serde(default = "defaults::peak_to_trough")]
    pub peak_to_trough: f64,
}

/// `traffic.visit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Visit {
    /// Requests in one visit (rounded, at least 1). Default: lognormal median 8, p95 40.
    pub requests: DistSpec<Count>,
    /// Time between two requests of a visit. Default: lognormal median 20 s, p95 3 m.
    pub think_time: DistSpec<Seconds>,
    /// Session data size, drawn once per session. Default: lognormal median 1500, p95 8000.
    pub payload_bytes: DistSpec<Bytes>,
    /// Share of requests that also change the session data. Default: 0.2.
    pub update_fraction: f64,
    /// Probability that a visit ends with a logout. Default: 0.15.
    pub logout_probability: f64,
}

impl Default for Visit {
    fn default() -> Self {
        Self {
            requests: DistSpec::Lognormal { median: Count(8.0), p95: Some(Count(40.0)), p99: None },
            think_time: DistSpec::Lognormal { median: Seconds(20.0), p95: Some(Seconds(180.0)), p99: None },
            payload_bytes: DistSpec::Lognormal { median: Bytes(1500.0), p95: Some(Bytes(8000.0)), p99: None },
            update_fraction: 0.2,
            logout_probability: 0.15,
        }
    }
}

/// `traffic.returns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Returns {
    /// Probability that a visit not ended by logout is followed by another. Default: 0.45.
    pub probability: f64,
    /// Time from a visit's last request to the next visit. Default: lognormal median 2 h, p95 5 d.
    pub gap: DistSpec<Seconds>,
}

impl Default for Returns {
    fn default() -> Self {
        Self {
            probability: 0.45,
            gap: DistSpec::Lognormal { median: Seconds(7200.0), p95: Some(Seconds(432_000.0)), p99: None },
        }
    }
}

/// `latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// One Redis call in the same region. Default: lognormal median 0.4 ms, p99 1.3 ms.
    pub redis: DistSpec<Seconds>,
    /// One DynamoDB call against the local replica. Default: lognormal median 4 ms, p99 15 ms.
    pub dynamodb: DistSpec<Seconds>,
    /// Round trip between two regions, ms, keyed `a/b`. Default: the three ADR regions' figures;
    /// every pair of configured regions must be known.
    pub rtt_ms: BTreeMap<String, f64>,
}

/// Round-trip times of the ADR's regions, ms.
const DEFAULT_RTT: [(&str, &str, f64); 3] =
    [("us-east-1", "eu-west-1", 70.0), ("us-east-1", "ap-southeast-1", 212.0), ("eu-west-1", "ap-southeast-1", 181.0)];

impl Default for LatencyConfig {
    fn default() -> Self {
        Self {
            redis: DistSpec::Lognormal { median: Seconds(0.0004), p95: None, p99: Some(Seconds(0.0013)) },
            dynamodb: DistSpec::Lognormal { median: Seconds(0.004), p95: None, p99: Some(Seconds(0.015)) },
            rtt_ms: DEFAULT_RTT.iter().map(|(a, b, ms)| (format!("{a}/{b}"), *ms)).collect(),
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// A region's hot tier is lost (wiped) and down for `duration`; its traffic fails over to the
    /// nearest region by round-trip time.
    RegionOutage {
        /// Start, from the beginning of the run.
        #[serde(with = "duration")]
        at: Duration,
        /// The failed region.
        region: String,
        /// How long it stays down.
        #[serde(with = "duration")]
        duration: Duration,
    },
    /// The region's sync job does not run for `duration`.
    SyncOutage {
        /// Start.
        #[serde(with = "duration")]
        at: Duration,
        /// The region.
        region: String,
        /// Length.
        #[serde(with = "duration")]
        duration: Duration,
    },
    /// DynamoDB throttles: every call is slower by `extra_latency` and fails with `error_rate`.
    DynamodbThrottle {
        /// Start.
        #[serde(with = "duration")]
        at: Duration,
        /// Length.
        #[serde(with = "duration")]
        duration: Duration,
        /// Added to every DynamoDB call. Default: 50 ms.
        #[serde(default = "defaults::throttle_latency")]
        extra_latency: Seconds,
        /// Share of DynamoDB calls that fail. Default: 0.05.
        #[serde(default = "defaults::throttle_errors")]
        error_rate: f64,
    },
}

impl Fault {
    /// Start and end, from the beginning of the run.
    pub fn window(&self) -> (Duration, Duration) {
        match self {
            Self::RegionOutage { at, duration, .. }
            | Self::SyncOutage { at, duration, .. }
            | Self::DynamodbThrottle { at, duration, .. } => (*at, at.saturating_add(*duration)),
        }
    }
}

/// `costs`: on-demand list prices in USD; a month is 730 hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Costs {
    /// ElastiCache.
    pub redis: RedisCosts,
    /// DynamoDB on demand.
    pub dynamodb: DynamoCosts,
    /// The sync job (Lambda).
    pub sync: SyncCosts,
    /// USD per GB (10^9 bytes) replicated out of each region. Default: 0.02, 0.02, 0.09 for the
    /// ADR's regions, 0.02 for others.
    pub transfer_usd_per_gb: BTreeMap<String, f64>,
}

/// `costs.redis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisCosts {
    /// Node type. Default: cache.r7g.large.
    pub node_type: String,
    /// USD per node-hour. Default: 0.219.
    pub node_usd_per_hour: f64,
    /// Memory per node, GiB. Default: 13.07.
    pub node_memory_gib: f64,
    /// ElastiCache reserved memory share. Default: 0.25.
    pub reserved_fraction: f64,
    /// Planned free memory share on top of the peak. Default: 0.20.
    pub headroom: f64,
    /// Replicas per shard. Default: 1.
    pub replicas_per_shard: u32,
    /// Redis bytes per session on top of its payload. Default: 200.
    pub bytes_overhead_per_session: u64,
    /// Allocator fragmentation factor (at least 1). Default: 1.2.
    pub fragmentation: f64,
    /// Regional price multiplier. Default: 1.0, 1.08, 1.12 for the ADR's regions, 1.0 for others.
    pub region_multiplier: BTreeMap<String, f64>,
    /// Node types the report prices the same peak on (the cheapest is marked). Default:
    /// cache.m7g.large (0.158 USD/h, 6.38 GiB), cache.r7g.large (0.219, 13.07), cache.r7g.xlarge
    /// (0.437, 26.32).
    pub catalogue: Vec<NodeOption>,
    /// ElastiCache Serverless, compared with the node types. Default: 0.125 USD per GB-hour,
    /// 0.0034 USD per million ECPUs, 1 GB minimum.
    pub serverless: ServerlessCosts,
}

/// One entry of `costs.redis.catalogue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOption {
    /// Node type, e.g. `cache.m7g.large`. Required.
    pub node_type: String,
    /// USD per node-hour (us-east-1; `region_multiplier` applies). Required.
    pub node_usd_per_hour: f64,
    /// Memory per node, GiB. Required.
    pub node_memory_gib: f64,
}

/// `costs.redis.serverless`: ElastiCache Serverless for Redis OSS / Valkey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerlessCosts {
    /// USD per GB-hour of data stored. Default: 0.125.
    pub usd_per_gb_hour: f64,
    /// USD per million ElastiCache Processing Units (one per request per KiB transferred).
    /// Default: 0.0034.
    pub usd_per_million_ecpu: f64,
    /// Smallest amount of data billed, GB. Default: 1.
    pub min_gb: f64,
}

impl Default for ServerlessCosts {
    // AWS ElastiCache pricing page (Serverless for Redis OSS, us-east-1), list prices as of 2026-11.
    fn default() -> Self {
        Self { usd_per_gb_hour: 0.125, usd_per_million_ecpu: 0.0034, min_gb: 1.0 }
    }
}

/// The default node catalogue: AWS ElastiCache on-demand pricing page (us-east-1), list prices as of
/// 2026-11; memory from the ElastiCache node-type table.
const DEFAULT_CATALOGUE: [(&str, f64, f64); 3] =
    [("cache.m7g.large", 0.158, 6.38), ("cache.r7g.large", 0.219, 13.07), ("cache.r7g.xlarge", 0.437, 26.32)];

impl Default for RedisCosts {
    fn default() -> Self {
        Self {
            node_type: "cache.r7g.large".into(),
            node_usd_per_hour: 0.219,
            node_memory_gib: 13.07,
            reserved_fraction: 0.25,
            headroom: 0.20,
            replicas_per_shard: 1,
            bytes_overhead_per_session: 200,
            fragmentation: 1.2,
            region_multiplier: BTreeMap::new(),
            catalogue: DEFAULT_CATALOGUE
                .iter()
                .map(|(node_type, usd, gib)| NodeOption {
                    node_type: (*node_type).into(),
                    node_usd_per_hour: *usd,
                    node_memory_gib: *gib,
                })
                .collect(),
            serverless: ServerlessCosts::default(),
        }
    }
}

/// `costs.dynamodb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoCosts {
    /// USD per million write request units. Default: 0.625.
    pub wru_usd_per_million: f64,
    /// USD per million read request units. Default: 0.125.
    pub rru_usd_per_million: f64,
    /// USD per GB-month stored. Default: 0.25.
    pub storage_usd_per_gb_month: f64,
    /// Bytes per item on top of the payload. Default: 100.
    pub item_overhead_bytes: u64,
    /// Global table: every write is also paid in each other region. Default: true.
    pub replicated_writes: bool,
    /// List-price ratio of each region to us-east-1 (requests and storage). Default: 1.0, 1.13,
    /// 1.14 for the ADR's regions, 1.0 for others.
    pub region_multiplier: BTreeMap<String, f64>,
    /// Bytes of one audit table item (one per lifecycle event, kept `compliance_retention`).
    /// Default: 300.
    pub audit_item_bytes: u64,
    /// Bytes of one analytics table item (one per session summary write, kept
    /// `analytics_retention`). Default: 400.
    pub analytics_item_bytes: u64,
    /// The audit table is a global table: its writes are paid again, and its storage billed, in
    /// every other region. Default: true.
    pub audit_replicated: bool,
    /// The analytics table is a global table too; otherwise it lives in the first region of
    /// `hot_storage.regions`. Default: false.
    pub analytics_replicated: bool,
}

impl Default for DynamoCosts {
    fn default() -> Self {
        Self {
            wru_usd_per_million: 0.625,
            rru_usd_per_million: 0.125,
            storage_usd_per_gb_month: 0.25,
            item_overhead_bytes: 100,
            replicated_writes: true,
            region_multiplier: BTreeMap::new(),
            audit_item_bytes: 300,
            analytics_item_bytes: 400,
            audit_replicated: true,
            analytics_replicated: false,
        }
    }
}

/// `costs.sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncCosts {
    /// USD per million invocations. Default: 0.20.
    pub usd_per_million_invocations: f64,
    /// USD per GB-second. Default: 0.0000166667.
    pub usd_per_gb_second: f64,
    /// Memory of the function, GB. Default: 0.5.
    pub memory_gb: f64,
}

impl Default for SyncCosts {
    fn default() -> Self {
        Self { usd_per_million_invocations: 0.20, usd_per_gb_second: 0.000_016_666_7, memory_gb: 0.5 }
    }
}

/// `slo`: the ADR's success metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slo {
    /// Hot access p95, ms. Default: 5.
    pub hot_access_p95_ms: f64,
    /// Cold promotion p95, ms. Default: 50.
    pub cold_promotion_p95_ms: f64,
    /// Largest acceptable failover loss ratio. Default: 0.01.
    pub failover_session_loss: f64,
    /// Availability target. Default: 0.9999.
    pub availability: f64,
    /// Required cost reduction against Redis-only. Default: 0.5.
    pub cost_reduction_vs_redis_only: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Self {
            hot_access_p95_ms: 5.0,
            cold_promotion_p95_ms: 50.0,
            failover_session_loss: 0.01,
            availability: 0.9999,
            cost_reduction_vs_redis_only: 0.5,
        }
    }
}

mod defaults {
    use std::time::Duration;

    use crate::units::Seconds;

    pub(super) const fn seed() -> u64 {
        42
    }
    pub(super) const fn duration() -> Duration {
        Duration::from_secs(7 * 86_400)
    }
    pub(super) const fn warmup() -> Duration {
        Duration::from_secs(86_400)
    }
    pub(super) const fn one() -> f64 {
        1.0
    }
    pub(super) const fn travel() -> f64 {
        0.01
    }
    pub(super) const fn peak_hour() -> f64 {
        20.0
    }
    pub(super) const fn peak_to_trough() -> f64 {
        3.0
    }
    pub(super) const fn throttle_latency() -> Seconds {
        Seconds(0.05)
    }
    pub(super) const fn throttle_errors() -> f64 {
        0.05
    }
}

const DEFAULT_MULTIPLIER: [(&str, f64); 3] = [("us-east-1", 1.0), ("eu-west-1", 1.08), ("ap-southeast-1", 1.12)];
/// DynamoDB list-price ratios to us-east-1, from the AWS DynamoDB on-demand pricing page, list
/// prices as of 2026-11: per million WRU, us-east-1 0.625 USD, eu-west-1 0.7063 (1.13),
/// ap-southeast-1 0.7125 (1.14).
const DEFAULT_DYNAMO_MULTIPLIER: [(&str, f64); 3] = [("us-east-1", 1.0), ("eu-west-1", 1.13), ("ap-southeast-1", 1.14)];
const DEFAULT_TRANSFER: [(&str, f64); 3] = [("us-east-1", 0.02), ("eu-west-1", 0.02), ("ap-southeast-1", 0.09)];

impl Scenario {
    /// Reads, parses, resolves and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: None,
            column: None,
            path: None,
            message: format!("cannot read the scenario: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses, resolves and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Self = parse_yaml(text, file)?;
        scenario.resolve(file)?;
        Ok(scenario)
    }

    /// The scenario as YAML, every default filled (what `hotcold validate` prints).
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).unwrap_or_else(|e| format!("# cannot serialize the scenario: {e}\n"))
    }

    /// Fills the region-keyed defaults and validates every value.
    fn resolve(&mut self, file: &str) -> Result<(), ScenarioError> {
        // `sweep.seeds` is another name for the `seed` axis (a sweep over seeds reads better
        // plural); resolved first so the resolved file, the points and their directories say `seed`.
        if let Some(seeds) = self.sweep.remove("seeds") {
            if self.sweep.contains_key("seed") {
                return Err(invalid(
                    file,
                    "sweep.seeds".into(),
                    "is another name for sweep.seed: write one of them, not both",
                ));
            }
            self.sweep.insert("seed".into(), seeds);
        }
        let regions = self.session_config.hot_storage.regions.clone();
        let fill = |map: &mut BTreeMap<String, f64>, table: &[(&str, f64)], fallback: f64| {
            for region in &regions {
                if !map.contains_key(region) {
                    let value = table.iter().find(|(r, _)| r == region).map_or(fallback, |(_, v)| *v);
                    map.insert(region.clone(), value);
                }
            }
        };
        let check_keys = |map: &BTreeMap<String, f64>, key: &str| -> Result<(), ScenarioError> {
            for name in map.keys() {
                if !regions.contains(name) {
                    return Err(invalid(
                        file,
                        format!("{key}.{name}"),
                        format!("{name:?} is not a configured region ({})", regions.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        check_keys(&self.costs.redis.region_multiplier, "costs.redis.region_multiplier")?;
        check_keys(&self.costs.transfer_usd_per_gb, "costs.transfer_usd_per_gb")?;
        check_keys(&self.costs.dynamodb.region_multiplier, "costs.dynamodb.region_multiplier")?;
        fill(&mut self.costs.redis.region_multiplier, &DEFAULT_MULTIPLIER, 1.0);
        fill(&mut self.costs.dynamodb.region_multiplier, &DEFAULT_DYNAMO_MULTIPLIER, 1.0);
        fill(&mut self.costs.transfer_usd_per_gb, &DEFAULT_TRANSFER, 0.02);

        // Round trips: validate what was written, keep only configured pairs, fill known defaults.
        let mut rtt = BTreeMap::new();
        for (pair, ms) in &self.latency.rtt_ms {
            let key = format!("latency.rtt_ms.{pair}");
            let Some((a, b)) = pair.split_once('/') else {
                return Err(invalid(file, key, "expected a region pair written \"a/b\""));
            };
            let configured = regions.iter().any(|r| r == a) && regions.iter().any(|r| r == b);
            let is_default = DEFAULT_RTT.iter().any(|(x, y, _)| (*x, *y) == (a, b) || (*y, *x) == (a, b));
            if !configured {
                if is_default {
                    continue; // a default pair of regions this scenario does not use
                }
                return Err(invalid(file, key, format!("{pair:?} names a region that is not configured")));
            }
            if a == b {
                return Err(invalid(file, key, "a region pair needs two different regions"));
            }
            non_negative(file, &key, *ms)?;
            if *ms > MAX_RTT_MS {
                return Err(invalid(
                    file,
                    key,
                    format!("must be at most {MAX_RTT_MS} ms (a minute), got {}", short_number(*ms)),
                ));
            }
            let (first, second) =
                if regions.iter().position(|r| r == a) < regions.iter().position(|r| r == b) { (a, b) } else { (b, a) };
            let canonical = format!("{first}/{second}");
            if rtt.insert(canonical, *ms).is_some() {
                return Err(invalid(file, key, "this region pair is given twice"));
            }
        }
        for (i, a) in regions.iter().enumerate() {
            for b in &regions[i + 1..] {
                let canonical = format!("{a}/{b}");
                if rtt.contains_key(&canonical) {
                    continue;
                }
                let known = DEFAULT_RTT
                    .iter()
                    .find(|(x, y, _)| (x, y) == (&a.as_str(), &b.as_str()) || (y, x) == (&a.as_str(), &b.as_str()));
                match known {
                    Some((_, _, ms)) => {
                        rtt.insert(canonical, *ms);
                    }
                    None => {
                        return Err(invalid(
                            file,
                            format!("latency.rtt_ms.{canonical}"),
                            "missing: every pair of configured regions needs a round-trip time in ms",
                        ));
                    }
                }
            }
        }
        self.latency.rtt_ms = rtt;
        if self.migration.as_ref().is_some_and(crate::migration::Migration::is_empty) {
            self.migration = None;
        }
        self.validate(file)
    }

    fn validate(&self, file: &str) -> Result<(), ScenarioError> {
        let err = |key: &str, message: String| Err(invalid(file, key.to_string(), message));
        if self.name.is_empty()
            || self.name.len() > 100
            || !self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            || self.name.starts_with('.')
        {
            return err("name", format!("{:?}: use 1 to 100 characters of A-Z, a-z, 0-9, '-', '_', '.'", self.name));
        }
        if self.duration < Duration::from_secs(60) || self.duration > Duration::from_secs(400 * 86_400) {
            return err("duration", "must be between 1 minute and 400 days".into());
        }
        if self.warmup >= self.duration {
            return err("warmup", "must be shorter than duration".into());
        }
        if !(self.sample > 0.0 && self.sample <= 1.0) {
            return err("sample", format!("must be in (0, 1], got {}", self.sample));
        }
        self.session_config.validate().map_err(|e| invalid(file, e.key, e.message))?;
        self.engine.validate().map_err(|e| invalid(file, e.key, e.message))?;
        let regions = &self.session_config.hot_storage.regions;

        let traffic = &self.traffic;
        if traffic.regions.is_empty() {
            return err("traffic.regions", "at least one region needs traffic".into());
        }
        for (name, region) in &traffic.regions {
            let key = |k: &str| format!("traffic.regions.{name}.{k}");
            if !regions.contains(name) {
                return err(
                    &format!("traffic.regions.{name}"),
                    format!("{name:?} is not in session_config.hot_storage.regions ({})", regions.join(", ")),
                );
            }
            if !(region.sessions_per_day.is_finite() && region.sessions_per_day >= 0.0)
                || region.sessions_per_day > 1e10
            {
                return err(&key("sessions_per_day"), "must be a number between 0 and 1e10".into());
            }
            if !(-12.0..=14.0).contains(&region.utc_offset) {
                return err(&key("utc_offset"), "must be between -12 and 14 hours".into());
            }
            if !(0.0..24.0).contains(&region.peak_hour) {
                return err(&key("peak_hour"), "must be in [0, 24)".into());
            }
            if !(region.peak_to_trough.is_finite() && region.peak_to_trough >= 1.0) {
                return err(&key("peak_to_trough"), "must be a number of at least 1.0 (1.0 is constant)".into());
            }
        }
        check_dist(file, "traffic.visit.requests", &traffic.visit.requests)?;
        if !traffic.visit.requests.mean().is_finite() || traffic.visit.requests.mean() > 1e6 {
            return err("traffic.visit.requests", "the mean number of requests must be finite (at most 1e6)".into());
        }
        check_dist(file, "traffic.visit.think_time", &traffic.visit.think_time)?;
        check_dist(file, "traffic.visit.payload_bytes", &traffic.visit.payload_bytes)?;
        check_dist(file, "traffic.returns.gap", &traffic.returns.gap)?;
        probability(file, "traffic.visit.update_fraction", traffic.visit.update_fraction)?;
        probability(file, "traffic.visit.logout_probability", traffic.visit.logout_probability)?;
        probability(file, "traffic.returns.probability", traffic.returns.probability)?;
        probability(file, "traffic.travel_probability", traffic.travel_probability)?;
        check_dist(file, "latency.redis", &self.latency.redis)?;
        check_dist(file, "latency.dynamodb", &self.latency.dynamodb)?;

        for (i, fault) in self.faults.iter().enumerate() {
            let key = |k: &str| format!("faults[{i}].{k}");
            let (start, end) = fault.window();
            if start >= self.duration {
                return err(&key("at"), "must be before the end of the run".into());
            }
            if end <= start {
                return err(&key("duration"), "must be greater than 0".into());
            }
            match fault {
                Fault::RegionOutage { region, .. } | Fault::SyncOutage { region, .. } => {
                    if !regions.contains(region) {
                        return err(&key("region"), format!("{region:?} is not a configured region"));
                    }
                    if matches!(fault, Fault::RegionOutage { .. }) && regions.len() < 2 {
                        return err(&key("region"), "a region outage needs another region to fail over to".into());
                    }
                }
                Fault::DynamodbThrottle { extra_latency, error_rate, .. } => {
                    probability(file, &key("error_rate"), *error_rate)?;
                    non_negative(file, &key("extra_latency"), extra_latency.base())?;
                    if extra_latency.base() > Seconds::MAX {
                        return err(&key("extra_latency"), format!("must be at most {}", Seconds::MAX_TEXT));
                    }
                }
            }
        }

        let redis = &self.costs.redis;
        for (key, value) in [
            ("costs.redis.node_usd_per_hour", redis.node_usd_per_hour),
            ("costs.dynamodb.wru_usd_per_million", self.costs.dynamodb.wru_usd_per_million),
            ("costs.dynamodb.rru_usd_per_million", self.costs.dynamodb.rru_usd_per_million),
            ("costs.dynamodb.storage_usd_per_gb_month", self.costs.dynamodb.storage_usd_per_gb_month),
            ("costs.sync.usd_per_million_invocations", self.costs.sync.usd_per_million_invocations),
            ("costs.sync.usd_per_gb_second", self.costs.sync.usd_per_gb_second),
            ("costs.sync.memory_gb", self.costs.sync.memory_gb),
            ("slo.hot_access_p95_ms", self.slo.hot_access_p95_ms),
            ("slo.cold_promotion_p95_ms", self.slo.cold_promotion_p95_ms),
        ] {
            non_negative(file, key, value)?;
        }
        if !(redis.node_memory_gib.is_finite() && redis.node_memory_gib > 0.0) {
            return err("costs.redis.node_memory_gib", "must be greater than 0".into());
        }
        for (key, value) in
            [("costs.redis.reserved_fraction", redis.reserved_fraction), ("costs.redis.headroom", redis.headroom)]
        {
            if !(0.0..1.0).contains(&value) {
                return err(key, "must be in [0, 1)".into());
            }
        }
        if !(redis.fragmentation.is_finite() && redis.fragmentation >= 1.0) {
            return err("costs.redis.fragmentation", "must be at least 1.0".into());
        }
        let dynamodb = &self.costs.dynamodb;
        for (key, bytes, max, why) in [
            (
                "costs.redis.bytes_overhead_per_session",
                redis.bytes_overhead_per_session,
                MAX_SESSION_OVERHEAD_BYTES,
                "1 MiB",
            ),
            (
                "costs.dynamodb.item_overhead_bytes",
                dynamodb.item_overhead_bytes,
                MAX_ITEM_BYTES,
                "DynamoDB's item limit",
            ),
            ("costs.dynamodb.audit_item_bytes", dynamodb.audit_item_bytes, MAX_ITEM_BYTES, "DynamoDB's item limit"),
            (
                "costs.dynamodb.analytics_item_bytes",
                dynamodb.analytics_item_bytes,
                MAX_ITEM_BYTES,
                "DynamoDB's item limit",
            ),
        ] {
            if bytes > max {
                return err(key, format!("must be at most {max} bytes ({why}), got {bytes}"));
            }
        }
        for (name, value) in &redis.region_multiplier {
            non_negative(file, &format!("costs.redis.region_multiplier.{name}"), *value)?;
        }
        for (name, value) in &self.costs.dynamodb.region_multiplier {
            non_negative(file, &format!("costs.dynamodb.region_multiplier.{name}"), *value)?;
        }
        for (i, option) in redis.catalogue.iter().enumerate() {
            let key = |k: &str| format!("costs.redis.catalogue[{i}].{k}");
            if option.node_type.is_empty() {
                return err(&key("node_type"), "must not be empty".into());
            }
            non_negative(file, &key("node_usd_per_hour"), option.node_usd_per_hour)?;
            if !(option.node_memory_gib.is_finite() && option.node_memory_gib > 0.0) {
                return err(&key("node_memory_gib"), "must be greater than 0".into());
            }
        }
        let serverless = &redis.serverless;
        for (key, value) in [
            ("costs.redis.serverless.usd_per_gb_hour", serverless.usd_per_gb_hour),
            ("costs.redis.serverless.usd_per_million_ecpu", serverless.usd_per_million_ecpu),
            ("costs.redis.serverless.min_gb", serverless.min_gb),
        ] {
            non_negative(file, key, value)?;
        }
        if !(traffic.growth_per_month > -1.0 && traffic.growth_per_month <= MAX_GROWTH_PER_MONTH) {
            return err(
                "traffic.growth_per_month",
                format!(
                    "must be a number greater than -1 and at most {MAX_GROWTH_PER_MONTH} (+1000 % a month), got {}",
                    short_number(traffic.growth_per_month)
                ),
            );
        }
        for (name, value) in &self.costs.transfer_usd_per_gb {
            non_negative(file, &format!("costs.transfer_usd_per_gb.{name}"), *value)?;
        }
        self.residency_rules().map_err(|e| invalid(file, e.key, e.message))?;
        if let Some(migration) = &self.migration {
            migration.validate(self.duration).map_err(|e| invalid(file, e.key, e.message))?;
        }
        probability(file, "slo.failover_session_loss", self.slo.failover_session_loss)?;
        probability(file, "slo.availability", self.slo.availability)?;
        probability(file, "slo.cost_reduction_vs_redis_only", self.slo.cost_reduction_vs_redis_only)?;

        // Before any value is checked: a grid too large is refused whatever its values.
        self.sweep_size(file)?;
        for (key, values) in &self.sweep {
            let sweep_key = format!("sweep.{key}");
            if values.is_empty() {
                return err(&sweep_key, "needs at least one value".into());
            }
            if key.starts_with("sweep") || key == "name" {
                return err(&sweep_key, "this key cannot be swept".into());
            }
            for (i, value) in values.iter().enumerate() {
                let point = self.without_sweep().with_overrides(&[(key.clone(), value.clone())], file);
                if let Err(e) = point {
                    return Err(ScenarioError {
                        path: Some(format!("{sweep_key}[{i}]")),
                        line: None,
                        column: None,
                        ..e
                    });
                }
            }
        }
        Ok(())
    }

    fn without_sweep(&self) -> Self {
        Self { sweep: BTreeMap::new(), ..self.clone() }
    }

    /// This scenario with values replaced at dotted key paths (a sweep point), re-validated; the
    /// point has no `sweep:` grid of its own.
    pub fn with_overrides(&self, overrides: &[(String, yaml_serde::Value)], file: &str) -> Result<Self, ScenarioError> {
        let mut point = self.without_sweep().overridden(overrides, file)?;
        point.sweep = BTreeMap::new();
        Ok(point)
    }

    /// This scenario with the command line's `--set` values applied (CONTRACT section 1),
    /// re-resolved and re-validated. Unlike [`Scenario::with_overrides`] the `sweep:` grid is kept:
    /// `hotcold sweep --set` changes the base scenario and runs the grid over it (each point is
    /// validated against the changed base). An error names the setting as typed, and has no line
    /// or column: they would point into generated text, not the file.
    pub fn with_settings(&self, settings: &[Setting], file: &str) -> Result<Self, ScenarioError> {
        if settings.is_empty() {
            return Ok(self.clone());
        }
        let overrides: Vec<(String, yaml_serde::Value)> =
            settings.iter().map(|s| (s.key.clone(), s.value.clone())).collect();
        self.overridden(&overrides, file).map_err(|e| {
            // Name the settings the error is about; all of them when it is about another key
            // (two settings can be invalid only together, as a threshold above a new TTL).
            let about = |s: &&Setting| e.path.as_deref().is_some_and(|path| keys_overlap(path, &s.key));
            let named: Vec<&Setting> = match settings.iter().filter(about).collect::<Vec<_>>() {
                named if named.is_empty() => settings.iter().collect(),
                named => named,
            };
            let typed: Vec<String> = named.iter().map(|s| format!("--set {}={}", s.key, s.text)).collect();
            ScenarioError { line: None, column: None, message: format!("{} ({})", e.message, typed.join(", ")), ..e }
        })
    }

    /// This scenario (with its grid, if any) with `overrides` applied, parsed and validated again.
    fn overridden(&self, overrides: &[(String, yaml_serde::Value)], file: &str) -> Result<Self, ScenarioError> {
        let mut tree = yaml_serde::to_value(self)
            .map_err(|e| invalid(file, String::new(), format!("cannot serialize the scenario: {e}")))?;
        for (path, value) in overrides {
            set_at_path(&mut tree, path, value, file)?;
        }
        let text = yaml_serde::to_string(&tree)
            .map_err(|e| invalid(file, String::new(), format!("cannot serialize the scenario: {e}")))?;
        Self::parse(&text, file)
    }

    /// This scenario with a `seed` axis of `count` seeds added to its grid: its own seed, the
    /// next one, and so on (`hotcold sweep --seeds N`, to see how much a figure owes to chance).
    /// Refused when the grid already has a seed axis, for `count` 0, or when the seeds would pass
    /// the largest seed; the grid is validated again (its size included).
    pub fn with_seed_axis(&self, count: u64, file: &str) -> Result<Self, ScenarioError> {
        let key = "--seeds";
        if count == 0 {
            return Err(invalid(file, key.into(), "needs at least 1 seed, got 0"));
        }
        if self.sweep.contains_key("seed") {
            return Err(invalid(
                file,
                key.into(),
                "the sweep: grid already has a seed axis (sweep.seed or sweep.seeds): drop one of them",
            ));
        }
        let Some(last) = self.seed.checked_add(count - 1) else {
            return Err(invalid(
                file,
                key.into(),
                format!("seed {} + {count} seeds passes the largest seed", self.seed),
            ));
        };
        // Counted before the values are built: a huge count must not be allocated.
        let others = self.sweep.values().try_fold(1u64, |size, values| size.checked_mul(values.len() as u64));
        if others.and_then(|size| size.checked_mul(count)).is_none_or(|size| size > MAX_SWEEP_POINTS as u64) {
            return Err(invalid(
                file,
                key.into(),
                format!("{count} seeds make the grid larger than {MAX_SWEEP_POINTS} points: use fewer seeds"),
            ));
        }
        let mut grid = self.clone();
        grid.sweep.insert("seed".into(), (self.seed..=last).map(yaml_serde::Value::from).collect());
        grid.overridden(&[], file)
    }

    /// The number of points of the `sweep:` grid (1 without a grid, 0 with an empty axis), or,
    /// when that is more than [`MAX_SWEEP_POINTS`], an error naming every axis and the limit. The
    /// product of the axes' lengths is counted with checked multiplication, without building
    /// anything: a few long axes overflow it.
    pub fn sweep_size(&self, file: &str) -> Result<usize, ScenarioError> {
        let size = self.sweep.values().try_fold(1usize, |size, values| size.checked_mul(values.len()));
        match size {
            Some(size) if size <= MAX_SWEEP_POINTS => Ok(size),
            _ if self.sweep.values().any(Vec::is_empty) => Ok(0),
            _ => {
                let axes: Vec<String> =
                    self.sweep.iter().map(|(key, values)| format!("{key}: {} values", values.len())).collect();
                let size = size.map_or_else(|| format!("more than {}", usize::MAX), |size| size.to_string());
                Err(invalid(
                    file,
                    "sweep".into(),
                    format!(
                        "the grid has {size} points ({}); at most {MAX_SWEEP_POINTS} points can be run: sweep fewer \
                         keys or values",
                        axes.join(" × ")
                    ),
                ))
            }
        }
    }

    /// Every point of the `sweep:` grid (cartesian product, keys in sorted order), each as the
    /// overrides to apply with [`Scenario::with_overrides`]. One empty point when there is no grid.
    /// A grid of more than [`MAX_SWEEP_POINTS`] is refused (see [`Scenario::sweep_size`]) before
    /// any of it is built; `file` names the scenario in that error.
    pub fn sweep_points(&self, file: &str) -> Result<Vec<Vec<(String, yaml_serde::Value)>>, ScenarioError> {
        self.sweep_size(file)?;
        let mut points: Vec<Vec<(String, yaml_serde::Value)>> = vec![Vec::new()];
        for (key, values) in &self.sweep {
            points = points
                .into_iter()
                .flat_map(|point| {
                    values.iter().map(move |v| {
                        let mut next = point.clone();
                        next.push((key.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        Ok(points)
    }

    /// The `residency:` rules, checked against the configured regions (an error names the key,
    /// e.g. `residency.eu-west-1[0]`).
    pub fn residency_rules(&self) -> Result<Residency, hotcold_engine::ConfigError> {
        Residency::from_names(&self.session_config, &self.residency, "residency")
    }

    /// Round trip between two configured regions, ms (0 for the same region).
    pub fn rtt_ms(&self, a: &str, b: &str) -> f64 {
        if a == b {
            return 0.0;
        }
        self.latency
            .rtt_ms
            .get(&format!("{a}/{b}"))
            .or_else(|| self.latency.rtt_ms.get(&format!("{b}/{a}")))
            .copied()
            .unwrap_or(0.0)
    }
}

/// One `--set KEY=VALUE` of the command line (CONTRACT section 1): a scenario key by its dotted
/// path, as in `sweep:`, and a value parsed as YAML, so `900`, `15m`, `cache.m7g.large` and
/// `[us-east-1, eu-west-1]` mean what they mean in a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Dotted key path, e.g. `session_config.hot_storage.promotion_threshold`; a number indexes
    /// a list (`faults.0.at`).
    pub key: String,
    /// The value.
    pub value: yaml_serde::Value,
    /// The value as typed, for messages.
    pub text: String,
}

impl std::str::FromStr for Setting {
    type Err = String;

    /// Parses `KEY=VALUE`, splitting at the first `=`.
    fn from_str(setting: &str) -> Result<Self, String> {
        let Some((key, text)) = setting.split_once('=') else {
            return Err(format!(
                "{setting:?}: expected KEY=VALUE, a dotted scenario key and a YAML value \
                 (session_config.hot_storage.promotion_threshold=900)"
            ));
        };
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!("{key:?}: not a dotted scenario key (costs.redis.node_type, say)"));
        }
        // YAML reads an empty value as null, which a string key would take as the text "null".
        if text.trim().is_empty() {
            return Err(format!("{key}=: no value (write {key}='\"\"' for an empty string)"));
        }
        let value =
            yaml_serde::from_str(text).map_err(|e| format!("{key}={text}: the value is not a YAML value: {e}"))?;
        Ok(Self { key: key.to_string(), value, text: text.to_string() })
    }
}

/// Whether an error at key path `path` is about the setting of `key`: the same key, a key inside
/// it (`traffic.regions.x.sessions_per_day` for `traffic.regions.x`), or one containing it.
fn keys_overlap(path: &str, key: &str) -> bool {
    let inside = |long: &str, short: &str| {
        long.strip_prefix(short).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    };
    inside(path, key) || inside(key, path)
}

/// Puts `value` at the dotted key path `path` of a scenario's YAML tree. Every part but the last
/// must exist (a number indexes a list); the last may be new in a mapping (a region added to
/// `traffic.regions`, a `p99` added to a distribution), and parsing the tree then refuses a key
/// the scenario does not have.
fn set_at_path(
    tree: &mut yaml_serde::Value,
    path: &str,
    value: &yaml_serde::Value,
    file: &str,
) -> Result<(), ScenarioError> {
    use yaml_serde::Value;
    let not_a_key = || invalid(file, path.to_string(), "not a key of the resolved scenario");
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = parts.split_last() else { return Err(not_a_key()) };
    if parts.iter().any(|part| part.is_empty()) {
        return Err(not_a_key());
    }
    let mut node = tree;
    for part in parents {
        node = match node {
            Value::Mapping(map) => map.get_mut(*part),
            Value::Sequence(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(not_a_key)?;
    }
    match node {
        Value::Mapping(map) => {
            map.insert(Value::String((*last).to_string()), value.clone());
        }
        Value::Sequence(items) => {
            let item = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)).ok_or_else(not_a_key)?;
            *item = value.clone();
        }
        _ => return Err(not_a_key()),
    }
    Ok(())
}

fn invalid(file: &str, path: String, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        file: file.to_string(),
        line: None,
        column: None,
        path: (!path.is_empty()).then_some(path),
        message: message.into(),
    }
}

fn probability(file: &str, key: &str, value: f64) -> Result<(), ScenarioError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(file, key.to_string(), format!("must be a probability in [0, 1], got {value}")))
    }
}

fn non_negative(file: &str, key: &str, value: f64) -> Result<(), ScenarioError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(file, key.to_string(), format!("must be a non-negative number, got {value}")))
    }
}

fn check_dist<Q: Quantity>(file: &str, key: &str, spec: &DistSpec<Q>) -> Result<(), ScenarioError> {
    spec.check().map_err(|message| invalid(file, key.to_string(), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: t\ntraffic:\n  regions:\n    us-east-1: { sessions_per_day: 1000 }\n";

    #[test]
    fn minimal_scenario_gets_every_default() {
        let s = Scenario::parse(MINIMAL, "t.yaml").unwrap();
        assert_eq!(s.seed, 42);
        assert_eq!(s.duration, Duration::from_secs(604_800));
        assert_eq!(s.traffic.returns.probability, 0.45);
        assert_eq!(s.costs.redis.region_multiplier["eu-west-1"], 1.08);
        assert_eq!(s.costs.dynamodb.region_multiplier["us-east-1"], 1.0);
        assert_eq!(s.costs.redis.catalogue.len(), 3);
        assert_eq!(s.traffic.growth_per_month, 0.0);
        assert_eq!(s.rtt_ms("ap-southeast-1", "us-east-1"), 212.0);
        let again = Scenario::parse(&s.to_yaml(), "resolved.yaml").unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn errors_name_the_place() {
        let e = Scenario::parse("name: t\ntraffic:\n  regions: {}\n  visti: 3\n", "f.yaml").unwrap_err();
        assert!(e.to_string().starts_with("f.yaml:4:"), "{e}");
        assert!(e.to_string().contains("visti"), "{e}");
        let bad = MINIMAL.replace("1000", "-5");
        let e = Scenario::parse(&bad, "f.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("traffic.regions.us-east-1.sessions_per_day"), "{e}");
    }

    #[test]
    fn cost_keys_have_defaults_and_are_validated() {
        let s = Scenario::parse(MINIMAL, "t.yaml").unwrap();
        let d = &s.costs.dynamodb;
        assert_eq!((d.region_multiplier["eu-west-1"], d.region_multiplier["ap-southeast-1"]), (1.13, 1.14));
        assert_eq!(
            (d.audit_item_bytes, d.analytics_item_bytes, d.audit_replicated, d.analytics_replicated),
            (300, 400, true, false)
        );
        assert_eq!(
            s.costs.redis.serverless,
            ServerlessCosts { usd_per_gb_hour: 0.125, usd_per_million_ecpu: 0.0034, min_gb: 1.0 }
        );
        let bad = [
            ("  growth_per_month: -1.0\n", "traffic.growth_per_month"), // under MINIMAL's traffic
            (
                "costs:\n  dynamodb:\n    region_multiplier: { mars-north-1: 1.2 }\n",
                "costs.dynamodb.region_multiplier.mars-north-1",
            ),
            (
                "costs:\n  dynamodb:\n    region_multiplier: { eu-west-1: -1 }\n",
                "costs.dynamodb.region_multiplier.eu-west-1",
            ),
            (
                "costs:\n  redis:\n    catalogue: [{ node_type: x, node_usd_per_hour: 1, node_memory_gib: 0 }]\n",
                "costs.redis.catalogue[0].node_memory_gib",
            ),
            ("costs:\n  redis:\n    serverless: { min_gb: -1 }\n", "costs.redis.serverless.min_gb"),
        ];
        for (extra, path) in bad {
            let e = Scenario::parse(&format!("{MINIMAL}{extra}"), "c.yaml").unwrap_err();
            assert_eq!(e.path.as_deref(), Some(path), "{e}");
        }
        let e = Scenario::parse(&format!("{MINIMAL}costs:\n  dynamodb:\n    audit_bytes: 3\n"), "c.yaml").unwrap_err();
        assert!(e.to_string().contains("audit_bytes"), "unknown keys stay errors: {e}");
    }

    #[test]
    fn sweep_points_apply_and_validate() {
        let text = format!(
            "{MINIMAL}sweep:\n  session_config.hot_storage.promotion_threshold: [600, 1200]\n  engine.durability: [on_demotion, write_through]\n"
        );
        let s = Scenario::parse(&text, "s.yaml").unwrap();
        let points = s.sweep_points("s.yaml").unwrap();
        assert_eq!(points.len(), 4);
        let p = s.with_overrides(&points[3], "s.yaml").unwrap();
        assert_eq!(p.session_config.hot_storage.promotion_threshold, Duration::from_secs(1200));
        let bad = format!("{MINIMAL}sweep:\n  session_config.hot_storage.promotion_threshold: [600, 9000]\n");
        let e = Scenario::parse(&bad, "s.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("sweep.session_config.hot_storage.promotion_threshold[1]"), "{e}");
    }

    #[test]
    fn sweep_seeds_is_the_seed_axis_under_another_name() {
        let plural = Scenario::parse(&format!("{MINIMAL}sweep:\n  seeds: [42, 43]\n"), "s.yaml").unwrap();
        let singular = Scenario::parse(&format!("{MINIMAL}sweep:\n  seed: [42, 43]\n"), "s.yaml").unwrap();
        assert_eq!(plural, singular);
        assert!(plural.to_yaml().contains("sweep:\n  seed:\n"), "{}", plural.to_yaml());
        let both = format!("{MINIMAL}sweep:\n  seed: [1]\n  seeds: [2]\n");
        let e = Scenario::parse(&both, "s.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("sweep.seeds"), "{e}");
    }

    #[test]
    fn a_seed_axis_counts_up_from_the_scenarios_seed() {
        let text = format!("{MINIMAL}seed: 7\nsweep:\n  engine.durability: [on_demotion, write_through]\n");
        let s = Scenario::parse(&text, "s.yaml").unwrap();
        let grid = s.with_seed_axis(3, "s.yaml").unwrap();
        let seeds: Vec<u64> = grid.sweep["seed"].iter().filter_map(yaml_serde::Value::as_u64).collect();
        assert_eq!(seeds, [7, 8, 9]);
        assert_eq!(grid.sweep_points("s.yaml").unwrap().len(), 6);
        let path = |e: ScenarioError| e.path.unwrap_or_default();
        assert_eq!(path(s.with_seed_axis(0, "s.yaml").unwrap_err()), "--seeds");
        assert_eq!(path(grid.with_seed_axis(2, "s.yaml").unwrap_err()), "--seeds", "already has a seed axis");
        assert_eq!(path(s.with_seed_axis(u64::MAX, "s.yaml").unwrap_err()), "--seeds");
        assert_eq!(path(s.with_seed_axis(501, "s.yaml").unwrap_err()), "--seeds", "1002 points");
        let top = Scenario { seed: u64::MAX, ..s };
        assert_eq!(path(top.with_seed_axis(2, "s.yaml").unwrap_err()), "--seeds");
        assert!(top.with_seed_axis(1, "s.yaml").is_ok());
    }

    #[test]
    fn durations_are_bounded_to_a_century() {
        let century = "3155760000"; // 100 years of 365.25 days, in seconds
        let at_most = format!("{MINIMAL}session_config:\n  cold_storage: {{ ttl: {century} }}\n");
        let s = Scenario::parse(&at_most, "d.yaml").unwrap();
        assert_eq!(s.session_config.cold_storage.ttl, duration::MAX);
        let bad = [
            ("session_config:\n  cold_storage: { ttl: 3155760001 }\n", "session_config.cold_storage.ttl"),
            ("session_config:\n  cold_storage: { ttl: 3e11 }\n", "session_config.cold_storage.ttl"),
            ("session_config:\n  sync: { cross_region_delay: 40000d }\n", "session_config.sync.cross_region_delay"),
            ("engine: { write_behind_interval: 1e300 }\n", "engine.write_behind_interval"),
            ("  visit:\n    think_time: { dist: constant, value: 3e11 }\n", "traffic.visit.think_time"),
            ("  returns:\n    gap: { dist: lognormal, median: 1h, p99: 1e300 }\n", "traffic.returns.gap"),
            ("latency:\n  redis: { dist: uniform, min: 0, max: 3e11 }\n", "latency.redis"),
            (
                "faults:\n  - { at: 1h, kind: dynamodb_throttle, duration: 5m, extra_latency: 3e11 }\n",
                "faults[0].extra_latency",
            ),
        ];
        for (extra, path) in bad {
            let e = Scenario::parse(&format!("{MINIMAL}{extra}"), "d.yaml").unwrap_err();
            assert_eq!(e.path.as_deref(), Some(path), "{e}");
            assert!(e.message.contains("100 years (3155760000 s)"), "{e}");
        }
    }

    #[test]
    fn sums_of_scenario_values_cannot_overflow() {
        let bad = [
            ("latency:\n  rtt_ms: { us-east-1/eu-west-1: 1e300 }\n", "latency.rtt_ms.us-east-1/eu-west-1"),
            ("  growth_per_month: 3e11\n", "traffic.growth_per_month"),
            ("  growth_per_month: .nan\n", "traffic.growth_per_month"),
            (
                "costs:\n  redis: { bytes_overhead_per_session: 18446744073709551615 }\n",
                "costs.redis.bytes_overhead_per_session",
            ),
            ("costs:\n  dynamodb: { item_overhead_bytes: 409601 }\n", "costs.dynamodb.item_overhead_bytes"),
            ("costs:\n  dynamodb: { audit_item_bytes: 1e15 }\n", "costs.dynamodb.audit_item_bytes"),
        ];
        let two_regions = MINIMAL
            .replace("traffic:", "session_config:\n  hot_storage: { regions: [us-east-1, eu-west-1] }\ntraffic:");
        for (extra, path) in bad {
            let e = Scenario::parse(&format!("{two_regions}{extra}"), "o.yaml").unwrap_err();
            assert_eq!(e.path.as_deref(), Some(path), "{e}");
        }
        let at_most =
            "costs:\n  dynamodb: { item_overhead_bytes: 409600 }\n  redis: { bytes_overhead_per_session: 1048576 }\n";
        Scenario::parse(&format!("{two_regions}  growth_per_month: 10\n{at_most}"), "o.yaml").unwrap();
    }

    #[test]
    fn a_sweep_grid_is_counted_before_it_is_built() {
        let axis = |key: &str, n: usize| {
            format!("  {key}: [{}]\n", (1..=n).map(|v| v.to_string()).collect::<Vec<_>>().join(", "))
        };
        let keys = ["seed", "slo.hot_access_p95_ms", "slo.cold_promotion_p95_ms", "costs.sync.memory_gb"];
        let grid = |sizes: &[usize]| -> String {
            let axes: String = keys.iter().zip(sizes).map(|(key, n)| axis(key, *n)).collect();
            format!("{MINIMAL}sweep:\n{axes}")
        };
        let full = Scenario::parse(&grid(&[10, 10, 10]), "g.yaml").unwrap();
        assert_eq!(full.sweep_size("g.yaml"), Ok(MAX_SWEEP_POINTS));
        assert_eq!(full.sweep_points("g.yaml").unwrap().len(), MAX_SWEEP_POINTS);

        let e = Scenario::parse(&grid(&[10, 10, 10, 2]), "g.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("sweep"), "{e}");
        for fragment in ["2000 points", "seed: 10 values", "costs.sync.memory_gb: 2 values", "at most 1000 points"] {
            assert!(e.message.contains(fragment), "{e} does not say {fragment:?}");
        }
        // A grid built after parsing (the fields are public) is refused before it is built too,
        // even when its size does not fit in a usize.
        let mut huge = full;
        // 8 axes of 256 values: 2^64 points, one more than a u64 holds.
        let values: Vec<yaml_serde::Value> = (0..256u64).map(yaml_serde::Value::from).collect();
        for i in 0..8 {
            huge.sweep.insert(format!("axis{i}"), values.clone());
        }
        let e = huge.sweep_points("g.yaml").unwrap_err();
        assert!(e.message.contains(&format!("more than {} points", usize::MAX)), "{e}");
    }

    #[test]
    fn residency_rules_are_checked_and_sweepable() {
        let three = "name: t\ntraffic:\n  regions:\n    us-east-1: { sessions_per_day: 1000 }\n";
        let s = Scenario::parse(three, "r.yaml").unwrap();
        assert!(s.residency.is_empty() && !s.residency_rules().unwrap().is_configured());
        assert!(s.to_yaml().contains("residency: {}"), "shown resolved, so it can be set: {}", s.to_yaml());
        let pinned = Scenario::parse(&format!("{three}residency: {{ eu-west-1: [eu-west-1] }}\n"), "r.yaml").unwrap();
        assert!(pinned.residency_rules().unwrap().is_configured());
        assert_eq!(Scenario::parse(&pinned.to_yaml(), "again.yaml").unwrap(), pinned);

        let bad = [
            ("residency: { eu-west-1: [mars-1] }\n", "residency.eu-west-1[0]", "mars-1"),
            ("residency: { eu-west-1: [] }\n", "residency.eu-west-1", "at least the home"),
            ("residency: { eu-west-1: [us-east-1] }\n", "residency.eu-west-1", "must include"),
            ("residency: { eu-west-1: [eu-west-1, eu-west-1] }\n", "residency.eu-west-1[1]", "twice"),
            ("residency: { mars-1: [eu-west-1] }\n", "residency.mars-1", "mars-1"),
        ];
        for (extra, path, says) in bad {
            let e = Scenario::parse(&format!("{three}{extra}"), "r.yaml").unwrap_err();
            assert_eq!(e.path.as_deref(), Some(path), "{e}");
            assert!(e.message.contains(says), "{e} does not say {says:?}");
        }
        let e = Scenario::parse(&format!("{three}residency: {{ eu-west-1: eu-west-1 }}\n"), "r.yaml").unwrap_err();
        assert!(e.to_string().contains("residency"), "a list is expected: {e}");

        // A rule can be swept or set like any key.
        let grid = format!("{three}sweep:\n  residency.eu-west-1: [[eu-west-1], [eu-west-1, us-east-1]]\n");
        let s = Scenario::parse(&grid, "r.yaml").unwrap();
        let points = s.sweep_points("r.yaml").unwrap();
        let second = s.with_overrides(&points[1], "r.yaml").unwrap();
        assert_eq!(second.residency["eu-west-1"], vec!["eu-west-1".to_string(), "us-east-1".to_string()]);
        let set = Scenario::parse(three, "r.yaml")
            .unwrap()
            .with_settings(&[setting("residency.ap-southeast-1=[nowhere]")], "r.yaml");
        assert_eq!(set.unwrap_err().path.as_deref(), Some("residency.ap-southeast-1[0]"));
        let bad_grid = format!("{three}sweep:\n  residency.eu-west-1: [[eu-west-1], [us-east-1]]\n");
        let e = Scenario::parse(&bad_grid, "r.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("sweep.residency.eu-west-1[1]"), "{e}");
    }

    fn setting(text: &str) -> Setting {
        text.parse().unwrap()
    }

    #[test]
    fn settings_parse_as_yaml_and_refuse_what_is_not_key_equals_value() {
        let s = setting("session_config.hot_storage.promotion_threshold=15m");
        assert_eq!(s.key, "session_config.hot_storage.promotion_threshold");
        assert_eq!(s.value, yaml_serde::Value::String("15m".into()));
        assert_eq!(setting("seed=9").value, yaml_serde::to_value(9).unwrap());
        assert!(setting("session_config.hot_storage.regions=[us-east-1, eu-west-1]").value.is_sequence());
        for bad in ["seed", "=3", "a..b=1", "seed=", "seed=[1,"] {
            assert!(bad.parse::<Setting>().is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_apply_keep_the_grid_and_name_what_is_wrong() {
        let text = format!("{MINIMAL}sweep:\n  engine.durability: [on_demotion, write_through]\n");
        let s = Scenario::parse(&text, "s.yaml").unwrap();
        let set = s
            .with_settings(
                &[setting("session_config.hot_storage.promotion_threshold=900"), setting("costs.redis.headroom=0.3")],
                "s.yaml",
            )
            .unwrap();
        assert_eq!(set.session_config.hot_storage.promotion_threshold, Duration::from_secs(900));
        assert_eq!(set.costs.redis.headroom, 0.3);
        assert_eq!(set.sweep, s.sweep, "the grid is kept");
        assert_eq!(
            set.with_overrides(&set.sweep_points("s.yaml").unwrap()[1], "s.yaml").unwrap().costs.redis.headroom,
            0.3
        );

        let e = s.with_settings(&[setting("session_config.hot_storage.nope=1")], "s.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("session_config.hot_storage.nope"), "{e}");
        assert!(e.line.is_none() && e.to_string().contains("--set session_config.hot_storage.nope=1"), "{e}");
        let e = s.with_settings(&[setting("no.such=1")], "s.yaml").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("no.such"), "{e}");
        let e = s.with_settings(&[setting("seed=3"), setting("costs.redis.headroom=lots")], "s.yaml").unwrap_err();
        assert!(e.to_string().contains("--set costs.redis.headroom=lots") && !e.to_string().contains("seed=3"), "{e}");
    }
}
