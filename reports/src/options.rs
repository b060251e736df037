//! What finance asks beside the monthly bill: the same peak on every node type of the catalogue
//! and on ElastiCache Serverless (for the hybrid and the Redis-only baseline alike), the cost per
//! 1,000 sessions created (overall and per region), and the monthly cost after months of traffic
//! growth. Pure functions of a [`RunRecord`] and its [`CostModel`].

use hotcold_model::RunRecord;

use crate::cost::{CostModel, GB, MONTH_HOURS, capacity_of, cents, finite, nodes_for, sum_cents, whole_cents};

/// Months ahead the growth projection looks.
pub const GROWTH_MONTHS: [u32; 3] = [3, 6, 12];

/// One way to run the Redis tier: a node type of the catalogue, or ElastiCache Serverless.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisOption {
    /// Node type, or `serverless`.
    pub name: String,
    /// Per region (record order): nodes, replicas included (empty for Serverless).
    pub nodes: Vec<u64>,
    /// Per region: USD per month.
    pub usd_month: Vec<f64>,
    /// Sum over regions, USD per month.
    pub total: f64,
    /// How the figure was obtained.
    pub basis: String,
    /// Whether this is the cheapest option of its design.
    pub cheapest: bool,
}

/// The Redis tier priced every way, for both designs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisOptions {
    /// The hybrid's Redis tier: each catalogue entry, then Serverless.
    pub hybrid: Vec<RedisOption>,
    /// The Redis-only baseline: each catalogue entry, then Serverless.
    pub baseline: Vec<RedisOption>,
}

/// One region's unit cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionUnitCost {
    /// Sessions created (homed) in the region per month.
    pub created_month: f64,
    /// The region's cost rows, USD per month.
    pub usd_month: f64,
    /// `usd_month / created_month × 1000` (0 when nothing was created).
    pub usd_per_1k_sessions_created: f64,
}

/// Cost per 1,000 sessions created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitCosts {
    /// Sessions created per month, all regions.
    pub created_month: f64,
    /// Total / created × 1000.
    pub usd_per_1k_sessions_created: f64,
    /// Per region (record order).
    pub by_region: Vec<RegionUnitCost>,
}

/// The monthly cost `months` ahead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrowthPoint {
    /// Months from now.
    pub months: u32,
    /// Traffic factor (1 + growth_per_month)^months.
    pub factor: f64,
    /// Hybrid Redis nodes, all regions.
    pub redis_nodes: u64,
    /// Hybrid total, USD per month.
    pub total: f64,
    /// Of which the audit table.
    pub audit: f64,
    /// Of which the analytics table.
    pub analytics: f64,
    /// Total − audit − analytics.
    pub session_storage: f64,
    /// The Redis-only baseline (nodes recomputed the same way).
    pub baseline_total: f64,
}

/// The growth projection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Growth {
    /// `traffic.growth_per_month`.
    pub growth_per_month: f64,
    /// Now (months 0, the cost model as it stands), then each of [`GROWTH_MONTHS`].
    pub points: Vec<GrowthPoint>,
}

/// The Redis tier on every catalogue entry and on Serverless, for the hybrid (its peak and
/// average Redis bytes) and for the Redis-only baseline (its steady-state peak, which also stands
/// for its average: a population kept for the cold TTL barely moves within a day).
pub fn redis_options(record: &RunRecord, model: &CostModel) -> RedisOptions {
    let scale = scale_of(record);
    let hybrid_avg: Vec<f64> = model.windows.iter().map(|w| w.redis_avg_bytes * scale).collect();
    let baseline_peak: Vec<f64> = model.baseline.peak_bytes.iter().map(|p| p.steady).collect();
    RedisOptions {
        hybrid: options_for(record, model, &model.redis_peak_bytes, &hybrid_avg),
        baseline: options_for(record, model, &baseline_peak, &baseline_peak),
    }
}

fn scale_of(record: &RunRecord) -> f64 {
    if record.sample > 0.0 && record.sample.is_finite() { 1.0 / record.sample } else { 1.0 }
}

/// Every option for one design, given its per-region peak and average Redis bytes.
fn options_for(record: &RunRecord, model: &CostModel, peaks: &[f64], averages: &[f64]) -> Vec<RedisOption> {
    let redis = &record.scenario.costs.redis;
    let multiplier = |region: &str| redis.region_multiplier.get(region).copied().unwrap_or(1.0);
    let mut options: Vec<RedisOption> = redis
        .catalogue
        .iter()
        .map(|entry| {
            let capacity = capacity_of(record, entry.node_memory_gib);
            let nodes: Vec<u64> = record
                .regions
                .iter()
                .enumerate()
                .map(|(i, _)| nodes_for(peaks.get(i).copied().unwrap_or(0.0), capacity, redis.replicas_per_shard))
                .collect();
            let usd_month: Vec<f64> = record
                .regions
                .iter()
                .zip(&nodes)
                .map(|(region, n)| cents(*n as f64 * entry.node_usd_per_hour * multiplier(region) * MONTH_HOURS))
                .collect();
            RedisOption {
                name: entry.node_type.clone(),
                total: cents(usd_month.iter().sum()),
                basis: format!(
                    "the same formula on {} GiB nodes at {} USD/h x region multiplier x 730 h",
                    entry.node_memory_gib, entry.node_usd_per_hour
                ),
                nodes,
                usd_month,
                cheapest: false,
            }
        })
        .collect();
    // Serverless: data stored (at least min_gb) per GB-hour, and one ECPU per request per KiB.
    let s = &redis.serverless;
    let payload = finite(record.scenario.traffic.visit.payload_bytes.mean()).max(0.0);
    let ecpu_each = (payload / 1024.0).ceil().max(1.0);
    let usd_month: Vec<f64> = record
        .regions
        .iter()
        .enumerate()
        .map(|(i, region)| {
            let gb = (averages.get(i).copied().unwrap_or(0.0) / GB).max(s.min_gb);
            let requests = model.windows.get(i).map_or(0.0, |w| w.requests as f64) * model.month_factor;
            let ecpus = requests * ecpu_each;
            cents((gb * s.usd_per_gb_hour * MONTH_HOURS + ecpus / 1e6 * s.usd_per_million_ecpu) * multiplier(region))
        })
        .collect();
    options.push(RedisOption {
        name: "serverless".into(),
        nodes: Vec::new(),
        total: cents(usd_month.iter().sum()),
        basis: format!(
            "max({} GB, average GB held) x {} USD/GB-hour x 730 h + requests x ceil(mean payload {payload:.0} B / 1 KiB) = {ecpu_each} ECPU each x {} USD/million, x region multiplier",
            s.min_gb, s.usd_per_gb_hour, s.usd_per_million_ecpu
        ),
        usd_month,
        cheapest: false,
    });
    let cheapest = options.iter().enumerate().min_by(|a, b| a.1.total.total_cmp(&b.1.total)).map(|(i, _)| i);
    if let Some(i) = cheapest {
        options[i].cheapest = true;
    }
    options
}

/// USD per 1,000 sessions created: the total over the sessions created per month, and each
/// region's cost rows over the sessions homed there.
pub fn unit_costs(record: &RunRecord, model: &CostModel) -> UnitCosts {
    let per_1k = |usd: f64, created: f64| if created > 0.0 { finite(usd / created * 1000.0) } else { 0.0 };
    let by_region: Vec<RegionUnitCost> = record
        .regions
        .iter()
        .enumerate()
        .map(|(i, region)| {
            let created_month = model.windows.get(i).map_or(0.0, |w| w.created as f64) * model.month_factor;
            let cents_sum =
                sum_cents(model.rows.iter().filter(|r| &r.region == region).map(|r| whole_cents(r.usd_month)));
            let usd_month = cents_sum as f64 / 100.0;
            RegionUnitCost { created_month, usd_month, usd_per_1k_sessions_created: per_1k(usd_month, created_month) }
        })
        .collect();
    let created_month: f64 = by_region.iter().map(|r| r.created_month).sum();
    UnitCosts { created_month, usd_per_1k_sessions_created: per_1k(model.totals.total, created_month), by_region }
}

/// The monthly cost after `months` of growth g: Redis nodes recomputed in whole steps from
/// peak × (1 + g)^months (the Redis-only baseline too), sync invocations unchanged (a schedule),
/// every other row (request units, transfer, sync compute, and storage, which holds the inflow of
/// a retention period and so grows with it) × (1 + g)^months.
pub fn growth(record: &RunRecord, model: &CostModel) -> Growth {
    let g = record.scenario.traffic.growth_per_month;
    let redis = &record.scenario.costs.redis;
    let capacity = capacity_of(record, redis.node_memory_gib);
    let mut points = Vec::new();
    for months in std::iter::once(0).chain(GROWTH_MONTHS) {
        let factor = finite((1.0 + g).powi(months as i32));
        let mut cents_by = [0i64; 3]; // session storage, audit, analytics
        let mut redis_nodes = 0;
        for row in &model.rows {
            let usd = match (row.component, row.item) {
                ("redis", "nodes") => {
                    let i = record.regions.iter().position(|r| r == &row.region).unwrap_or(0);
                    let peak = model.redis_peak_bytes.get(i).copied().unwrap_or(0.0) * factor;
                    let nodes = nodes_for(peak, capacity, redis.replicas_per_shard);
                    redis_nodes = u64::saturating_add(redis_nodes, nodes);
                    cents(nodes as f64 * row.unit_price_usd)
                }
                (_, "invocations") => row.usd_month,
                _ if months == 0 => row.usd_month,
                _ => cents(row.quantity * factor * row.unit_price_usd),
            };
            let k = match row.component {
                "audit" => 1,
                "analytics" => 2,
                _ => 0,
            };
            cents_by[k] = cents_by[k].saturating_add(whole_cents(usd));
        }
        let baseline_cents = sum_cents(record.regions.iter().enumerate().map(|(i, region)| {
            let peak = model.baseline.peak_bytes.get(i).map_or(0.0, |p| p.steady) * factor;
            let nodes = nodes_for(peak, capacity, redis.replicas_per_shard);
            let price =
                redis.node_usd_per_hour * redis.region_multiplier.get(region).copied().unwrap_or(1.0) * MONTH_HOURS;
            whole_cents(cents(nodes as f64 * price))
        }));
        let usd = |c: i64| c as f64 / 100.0;
        points.push(GrowthPoint {
            months,
            factor,
            redis_nodes,
            total: usd(sum_cents(cents_by)),
            audit: usd(cents_by[1]),
            analytics: usd(cents_by[2]),
            session_storage: usd(cents_by[0]),
            baseline_total: usd(baseline_cents),
        });
    }
    Growth { growth_per_month: g, points }
}
