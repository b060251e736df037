//! The cost model of CONTRACT section 4: monthly (730-hour) USD per (region, component), the
//! steady-state projection of stored amounts (Little's law) and the Redis-only baseline.
//!
//! Everything here is a pure function of a [`RunRecord`], so `hotcold report` rebuilds the same
//! figures from `run.json`.

use hotcold_model::RunRecord;
use hotcold_model::record::BucketRow;

/// Hours in a billing month.
pub const MONTH_HOURS: f64 = 730.0;
/// Seconds in a billing month.
pub const MONTH_SECONDS: f64 = MONTH_HOURS * 3600.0;
/// Bytes in a GiB (Redis node memory is quoted in GiB).
pub const GIB: f64 = 1_073_741_824.0;
/// Bytes in a GB (DynamoDB storage and data transfer are billed per 10^9 bytes).
pub const GB: f64 = 1e9;

/// One row of `costs.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    /// Region that pays.
    pub region: String,
    /// `redis`, `dynamodb`, `sync` or `transfer`.
    pub component: &'static str,
    /// What is billed, e.g. `nodes`, `writes`, `replicated writes`, `storage`.
    pub item: &'static str,
    /// Quantity per month, in `unit`.
    pub quantity: f64,
    /// Unit of `quantity`.
    pub unit: String,
    /// USD per `unit`.
    pub unit_price_usd: f64,
    /// USD per month, rounded to cents (the rows sum exactly to the total).
    pub usd_month: f64,
    /// How the quantity was obtained (the figures behind it), for auditing.
    pub basis: String,
}

/// The monthly cost of the hybrid design, by component, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ComponentTotals {
    /// Redis nodes.
    pub redis: f64,
    /// DynamoDB writes, reads, replicated writes and storage.
    pub dynamodb: f64,
    /// The sync job (Lambda).
    pub sync: f64,
    /// Cross-region replication traffic.
    pub transfer: f64,
    /// Sum of the above.
    pub total: f64,
}

/// A stored amount: as measured in the run, and at steady state (projected when the run is shorter
/// than the retention that bounds it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Steady {
    /// As measured (scaled by 1/sample).
    pub measured: f64,
    /// Steady-state figure used for the monthly cost.
    pub steady: f64,
    /// Whether `steady` was projected (Little's law) rather than measured.
    pub projected: bool,
}

/// The Redis-only baseline for the same traffic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// Per region (record order): peak Redis bytes, measured and steady state.
    pub peak_bytes: Vec<Steady>,
    /// Per region: nodes (replicas included).
    pub nodes: Vec<u64>,
    /// Per region: USD per month.
    pub usd_month: Vec<f64>,
    /// Sum over regions.
    pub total: f64,
}

/// The whole cost picture of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostModel {
    /// `costs.csv`.
    pub rows: Vec<CostRow>,
    /// Totals by component (sums of `rows`).
    pub totals: ComponentTotals,
    /// Per region (record order): Redis nodes of the hybrid design (replicas included).
    pub redis_nodes: Vec<u64>,
    /// Per region: peak Redis bytes (scaled by 1/sample).
    pub redis_peak_bytes: Vec<f64>,
    /// Average bytes stored in the DynamoDB table (one copy), measured and steady state.
    pub stored_bytes: Steady,
    /// The Redis-only baseline.
    pub baseline: Baseline,
    /// 1 − total / baseline total (0 when the baseline costs nothing).
    pub saving: f64,
    /// Mean time from a session's creation to its last access, seconds (estimated from the
    /// scenario's visit and return distributions); used in the projections.
    pub mean_session_lifetime_s: f64,
    /// Residence time used for projections: cold TTL + mean session lifetime, seconds.
    pub residence_s: f64,
    /// Post-warmup window the rates were measured over, seconds.
    pub window_s: f64,
    /// Factor turning a post-warmup count into a monthly full-population count.
    pub month_factor: f64,
}

/// Rounds to cents.
fn cents(x: f64) -> f64 {
    if x.is_finite() { (x * 100.0).round() / 100.0 } else { 0.0 }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// Usable bytes of one Redis node: node_memory_gib × 2^30 × (1 − reserved) × (1 − headroom).
pub fn node_capacity_bytes(record: &RunRecord) -> f64 {
    let r = &record.scenario.costs.redis;
    r.node_memory_gib * GIB * (1.0 - r.reserved_fraction) * (1.0 - r.headroom)
}

/// Nodes for a peak: max(1, ceil(peak / capacity)) × (1 + replicas_per_shard).
pub fn nodes_for(peak_bytes: f64, capacity_bytes: f64, replicas_per_shard: u32) -> u64 {
    let shards = if capacity_bytes > 0.0 && peak_bytes.is_finite() && peak_bytes > 0.0 {
        (peak_bytes / capacity_bytes).ceil().max(1.0)
    } else {
        1.0
    };
    let shards = if shards < 1e12 { shards as u64 } else { 1_000_000_000_000 };
    shards.saturating_mul(1 + u64::from(replicas_per_shard))
}

/// Mean time from a session's creation to its last access, seconds, from the scenario's
/// distributions: a visit lasts (requests − 1) think times; after each visit the session comes
/// back with probability p = (1 − logout) × returns.probability, after a gap (capped at the cold
/// TTL: a longer gap finds the session expired); so E[lifetime] = (1 + E[N]) E[visit] + E[N] E[gap]
/// with E[N] = p / (1 − p).
pub fn mean_session_lifetime(record: &RunRecord) -> f64 {
    let t = &record.scenario.traffic;
    let ttl = record.scenario.session_config.cold_storage.ttl.as_secs_f64();
    let requests = finite(t.visit.requests.mean()).max(1.0);
    let think = finite(t.visit.think_time.mean()).min(ttl);
    let gap = finite(t.returns.gap.mean()).min(ttl);
    let p = ((1.0 - t.visit.logout_probability) * t.returns.probability).clamp(0.0, 0.999);
    let n = p / (1.0 - p);
    finite((1.0 + n) * (requests - 1.0) * think + n * gap)
}

/// Rows of the time series after warmup.
fn post_warmup(record: &RunRecord) -> impl Iterator<Item = &BucketRow> {
    let warm = record.warmup_seconds;
    record.timeseries.iter().filter(move |r| r.t as f64 >= warm)
}

/// The post-warmup window, seconds: from the first post-warmup bucket to the end of the run.
pub fn window_seconds(record: &RunRecord) -> f64 {
    let start = post_warmup(record).map(|r| r.t).min().map_or(record.warmup_seconds, |t| t as f64);
    let w = record.simulated_seconds - start;
    if w > 0.0 { w } else { record.simulated_seconds.max(1.0) }
}

/// The cost model of a run.
pub fn cost_model(record: &RunRecord) -> CostModel {
    let sc = &record.scenario;
    let costs = &sc.costs;
    let n_regions = record.regions.len();
    let scale = if record.sample > 0.0 && record.sample.is_finite() { 1.0 / record.sample } else { 1.0 };
    let window_s = window_seconds(record);
    let month_factor = MONTH_SECONDS / window_s * scale;
    let lifetime = mean_session_lifetime(record);
    let cold_ttl = sc.session_config.cold_storage.ttl.as_secs_f64();
    let residence = cold_ttl + lifetime;
    let capacity = node_capacity_bytes(record);
    let replicas = costs.redis.replicas_per_shard;
    let multiplier = |region: &str| costs.redis.region_multiplier.get(region).copied().unwrap_or(1.0);
    let node_month = |region: &str| costs.redis.node_usd_per_hour * multiplier(region) * MONTH_HOURS;

    // Post-warmup per-region sums from the time series.
    let mut wru_post = vec![0u64; n_regions];
    let mut rru_post = vec![0u64; n_regions];
    for row in post_warmup(record) {
        let i = usize::from(row.region);
        if i < n_regions {
            wru_post[i] = wru_post[i].saturating_add(row.wru);
            rru_post[i] = rru_post[i].saturating_add(row.rru);
        }
    }
    let wru_post_all: u64 = wru_post.iter().sum();

    let stored = stored_bytes(record, scale, residence);
    // Share of the stored bytes homed in each region (for a table without replicas).
    let homed = homed_share(record);

    let mut rows = Vec::new();
    let mut redis_nodes = Vec::with_capacity(n_regions);
    let mut redis_peak_bytes = Vec::with_capacity(n_regions);
    for (i, region) in record.regions.iter().enumerate() {
        let usage = record.usage.get(i).cloned().unwrap_or_default();
        // Redis.
        let peak = usage.redis_peak_bytes as f64 * scale;
        let nodes = nodes_for(peak, capacity, replicas);
        redis_nodes.push(nodes);
        redis_peak_bytes.push(peak);
        let price = node_month(region);
        rows.push(CostRow {
            region: region.clone(),
            component: "redis",
            item: "nodes",
            quantity: nodes as f64,
            unit: format!("{} node-month", costs.redis.node_type),
            unit_price_usd: price,
            usd_month: cents(nodes as f64 * price),
            basis: format!(
                "peak {:.3} GiB / {:.3} GiB usable per node ({} GiB x (1-{}) x (1-{})) -> {} shard(s) x (1+{} replica); {} USD/h x {} x 730 h",
                peak / GIB,
                capacity / GIB,
                costs.redis.node_memory_gib,
                costs.redis.reserved_fraction,
                costs.redis.headroom,
                nodes / (1 + u64::from(replicas)),
                replicas,
                costs.redis.node_usd_per_hour,
                multiplier(region)
            ),
        });
        // DynamoDB writes and reads.
        let d = &costs.dynamodb;
        let wru = wru_post[i] as f64 * month_factor;
        rows.push(CostRow {
            region: region.clone(),
            component: "dynamodb",
            item: "writes",
            quantity: wru / 1e6,
            unit: "million WRU".into(),
            unit_price_usd: d.wru_usd_per_million,
            usd_month: cents(wru / 1e6 * d.wru_usd_per_million),
            basis: format!(
                "{} WRU (ceil(item/1 KiB) each) in {:.0} s after warmup x 2628000/{:.0} x 1/sample",
                wru_post[i], window_s, window_s
            ),
        });
        let rru = rru_post[i] as f64 * month_factor;
        rows.push(CostRow {
            region: region.clone(),
            component: "dynamodb",
            item: "reads",
            quantity: rru / 1e6,
            unit: "million RRU".into(),
            unit_price_usd: d.rru_usd_per_million,
            usd_month: cents(rru / 1e6 * d.rru_usd_per_million),
            basis: format!(
                "{} RRU (ceil(item/4 KiB) each, strongly consistent) in {:.0} s after warmup x 2628000/{:.0} x 1/sample",
                rru_post[i], window_s, window_s
            ),
        });
        if d.replicated_writes && n_regions > 1 {
            let others = wru_post_all.saturating_sub(wru_post[i]);
            let rep = others as f64 * month_factor;
            rows.push(CostRow {
                region: region.clone(),
                component: "dynamodb",
                item: "replicated writes",
                quantity: rep / 1e6,
                unit: "million replicated WRU".into(),
                unit_price_usd: d.wru_usd_per_million,
                usd_month: cents(rep / 1e6 * d.wru_usd_per_million),
                basis: format!("the other regions' {others} WRU after warmup, written again in this replica"),
            });
        }
        // Storage: CONTRACT section 4 bills the average stored bytes once (AWS bills each replica of
        // a global table; the contract's formula, which finance audits, does not), split across
        // regions by where the items are homed.
        let (share, how) = (homed.get(i).copied().unwrap_or(0.0), "share of the items homed here");
        let gb = stored.steady * share / GB;
        rows.push(CostRow {
            region: region.clone(),
            component: "dynamodb",
            item: "storage",
            quantity: gb,
            unit: "GB-month".into(),
            unit_price_usd: d.storage_usd_per_gb_month,
            usd_month: cents(gb * d.storage_usd_per_gb_month),
            basis: format!(
                "{how}: average stored {:.3} GB ({}; measured {:.3} GB)",
                stored.steady / GB,
                if stored.projected {
                    format!("projected: inflow x (cold TTL + mean session lifetime = {:.1} d)", residence / 86_400.0)
                } else {
                    "measured after warmup".into()
                },
                stored.measured / GB
            ),
        });
        // Transfer: replicated bytes out of this region, post-warmup share (in proportion to writes).
        let share_post = if usage.wru > 0 { (wru_post[i] as f64 / usage.wru as f64).min(1.0) } else { 0.0 };
        let bytes = usage.replicated_bytes as f64 * share_post * month_factor;
        let price = costs.transfer_usd_per_gb.get(region).copied().unwrap_or(0.0);
        if n_regions > 1 {
            rows.push(CostRow {
                region: region.clone(),
                component: "transfer",
                item: "replication out",
                quantity: bytes / GB,
                unit: "GB".into(),
                unit_price_usd: price,
                usd_month: cents(bytes / GB * price),
                basis: format!(
                    "{} bytes replicated out in the run, {:.3} of them after warmup (by writes), per month",
                    usage.replicated_bytes, share_post
                ),
            });
        }
        // Sync job: invocations are on a schedule (not scaled by 1/sample); their duration grows
        // with the work, so GB-seconds are scaled.
        let s = &costs.sync;
        let run_s = record.simulated_seconds.max(1.0);
        let invocations = (usage.sync_invocations + usage.flush_invocations) as f64 * MONTH_SECONDS / run_s;
        let seconds = (usage.sync_seconds + usage.flush_seconds) * MONTH_SECONDS / run_s * scale;
        let gb_s = seconds * s.memory_gb;
        rows.push(CostRow {
            region: region.clone(),
            component: "sync",
            item: "invocations",
            quantity: invocations / 1e6,
            unit: "million invocations".into(),
            unit_price_usd: s.usd_per_million_invocations,
            usd_month: cents(invocations / 1e6 * s.usd_per_million_invocations),
            basis: format!(
                "{} passes in {:.0} s of run, per month",
                usage.sync_invocations + usage.flush_invocations,
                run_s
            ),
        });
        rows.push(CostRow {
            region: region.clone(),
            component: "sync",
            item: "compute",
            quantity: gb_s,
            unit: "GB-second".into(),
            unit_price_usd: s.usd_per_gb_second,
            usd_month: cents(gb_s * s.usd_per_gb_second),
            basis: format!(
                "{:.3} s of passes in the run x {} GB, per month, x 1/sample",
                usage.sync_seconds + usage.flush_seconds,
                s.memory_gb
            ),
        });
    }
    let totals = totals_of(&rows);

    // Redis-only baseline.
    let mut baseline = Baseline::default();
    let run_s = record.simulated_seconds.max(1.0);
    for (i, region) in record.regions.iter().enumerate() {
        let measured = record.usage.get(i).map_or(0, |u| u.baseline_redis_only_peak_bytes) as f64 * scale;
        let peak = if run_s < cold_ttl {
            // Nothing has reached its TTL yet: the store holds what flowed in (bytes/s = measured /
            // run), and at steady state holds inflow x residence.
            Steady { measured, steady: (measured / run_s * residence).max(measured), projected: true }
        } else {
            Steady { measured, steady: measured, projected: false }
        };
        let nodes = nodes_for(peak.steady, capacity, replicas);
        let usd = cents(nodes as f64 * node_month(region));
        baseline.peak_bytes.push(peak);
        baseline.nodes.push(nodes);
        baseline.usd_month.push(usd);
    }
    baseline.total = cents(baseline.usd_month.iter().sum());
    let saving = if baseline.total > 0.0 { 1.0 - totals.total / baseline.total } else { 0.0 };
    CostModel {
        rows,
        totals,
        redis_nodes,
        redis_peak_bytes,
        stored_bytes: stored,
        baseline,
        saving: finite(saving),
        mean_session_lifetime_s: lifetime,
        residence_s: residence,
        window_s,
        month_factor,
    }
}

/// Sums rows by component, in whole cents so that the rows add up exactly to the total.
pub fn totals_of(rows: &[CostRow]) -> ComponentTotals {
    let mut c = [0i64; 4];
    for row in rows {
        let k = match row.component {
            "redis" => 0,
            "dynamodb" => 1,
            "sync" => 2,
            _ => 3,
        };
        c[k] += (row.usd_month * 100.0).round() as i64;
    }
    let usd = |x: i64| x as f64 / 100.0;
    ComponentTotals {
        redis: usd(c[0]),
        dynamodb: usd(c[1]),
        sync: usd(c[2]),
        transfer: usd(c[3]),
        total: usd(c.iter().sum()),
    }
}

/// Average stored bytes of the DynamoDB table (one copy), scaled: measured after warmup, or, when
/// the run is shorter than the cold TTL, projected as net inflow × residence.
fn stored_bytes(record: &RunRecord, scale: f64, residence: f64) -> Steady {
    let measured = finite(record.storage.avg_stored_bytes) * scale;
    let cold_ttl = record.scenario.session_config.cold_storage.ttl.as_secs_f64();
    if record.simulated_seconds >= cold_ttl {
        return Steady { measured, steady: measured, projected: false };
    }
    // Net inflow over the post-warmup window: growth of the table (no record reaches its TTL yet).
    let total_at = |t: u64| -> u64 {
        record.timeseries.iter().filter(|r| r.t == t).map(|r| r.cold_bytes).fold(0u64, u64::saturating_add)
    };
    let first = post_warmup(record).map(|r| r.t).min();
    let last = record.timeseries.iter().map(|r| r.t).max();
    let inflow = match (first, last) {
        (Some(a), Some(b)) if b > a => (total_at(b) as f64 - total_at(a) as f64) / (b - a) as f64 * scale,
        _ => 0.0,
    };
    let steady = if inflow > 0.0 { (inflow * residence).max(measured) } else { measured };
    Steady { measured, steady: finite(steady), projected: inflow > 0.0 }
}

/// Share of the cold bytes homed in each region over the post-warmup window.
fn homed_share(record: &RunRecord) -> Vec<f64> {
    let mut by = vec![0f64; record.regions.len()];
    for row in post_warmup(record) {
        if let Some(b) = by.get_mut(usize::from(row.region)) {
            *b += row.cold_bytes as f64;
        }
    }
    let total: f64 = by.iter().sum();
    if total > 0.0 {
        by.iter().map(|b| b / total).collect()
    } else {
        vec![1.0 / record.regions.len().max(1) as f64; record.regions.len()]
    }
}
