//! The cost model of CONTRACT section 4: monthly (730-hour) USD per (region, component), the
//! steady-state projection of stored amounts (Little's law), the Redis-only baseline, the audit and
//! analytics tables, and (in [`crate::options`]) the node catalogue, ElastiCache Serverless, unit
//! costs and the growth projection.
//!
//! Everything here is a pure function of a [`RunRecord`], so `hotcold report` rebuilds the same
//! figures from `run.json`.

use hotcold_model::metering::write_units;
use hotcold_model::record::BucketRow;
use hotcold_model::{RegionId, RunRecord};

use crate::options::{Growth, RedisOptions, UnitCosts, growth, redis_options, unit_costs};

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
    /// `redis`, `dynamodb`, `sync`, `transfer`, `audit` or `analytics`.
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
    /// The audit table: writes, replicated writes and storage.
    pub audit: f64,
    /// The analytics table: writes and storage.
    pub analytics: f64,
    /// What stores the sessions: total − audit − analytics (what the Redis-only baseline, which
    /// has neither table, is compared with).
    pub session_storage: f64,
    /// Sum of every component.
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
    /// Whether `steady` was measured over the run's last day (a run that covers the retention)
    /// rather than over the whole post-warmup window.
    pub over_last_day: bool,
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
    /// 1 − session storage / baseline total (0 when the baseline costs nothing): the ADR's
    /// comparison, without the audit and analytics tables the baseline does not have.
    pub saving: f64,
    /// Audit and analytics items written per month, as costed (projected to steady state).
    pub tables: TableVolumes,
    /// Per region (record order): post-warmup figures behind the other projections.
    pub windows: Vec<RegionWindow>,
    /// Every node type of the catalogue and ElastiCache Serverless, for the hybrid and the
    /// Redis-only baseline.
    pub redis_options: RedisOptions,
    /// USD per 1,000 sessions created, overall and per region.
    pub unit_costs: UnitCosts,
    /// The monthly cost at +3, +6 and +12 months of `traffic.growth_per_month`.
    pub growth: Growth,
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

/// Audit and analytics items per month (full population), as the rows cost them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableVolumes {
    /// Per region (record order): audit events written there per month.
    pub audit_events: Vec<f64>,
    /// Per region: analytics items written from there per month.
    pub analytics_writes: Vec<f64>,
    /// Session ends added per created session because the run ended before they happened (every
    /// session ends once at steady state: logout or expiry); 0 when the run outlives the cold TTL.
    pub ends_added_per_session: f64,
}

/// One region's post-warmup sums from the time series (raw, not scaled).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RegionWindow {
    /// Write request units written from the region.
    pub wru: u64,
    /// Read request units read in the region.
    pub rru: u64,
    /// Requests served by the region.
    pub requests: u64,
    /// Sessions created (homed) in the region.
    pub created: u64,
    /// Audit events written by the region.
    pub audit_events: u64,
    /// Analytics items written by the region.
    pub analytics_writes: u64,
    /// Average Redis bytes held in the region (mean of the buckets' end values).
    pub redis_avg_bytes: f64,
    /// WRU the other regions wrote into sessions tables with a replica here.
    pub replica_wru: u64,
    /// Audit records the other regions stored into audit tables with a replica here.
    pub replica_audit_events: u64,
    /// Analytics summary writes of sessions homed in the region.
    pub home_analytics_writes: u64,
    /// Average item bytes of the cold records homed in the region (mean of the buckets' values).
    pub cold_avg_bytes: f64,
}

/// Rounds to cents.
pub(crate) fn cents(x: f64) -> f64 {
    if x.is_finite() { (x * 100.0).round() / 100.0 } else { 0.0 }
}

/// `usd` in whole cents, saturating (`as` saturates, and NaN gives 0). Costs are added up in whole
/// cents so that rows sum exactly to their totals; an absurd price (1e300 USD a node-hour) must
/// give an absurd total, not an overflow.
pub(crate) fn whole_cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

/// The sum of amounts in cents, saturating (see [`whole_cents`]).
pub(crate) fn sum_cents(cents: impl IntoIterator<Item = i64>) -> i64 {
    cents.into_iter().fold(0, i64::saturating_add)
}

pub(crate) fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// Usable bytes of one Redis node: node_memory_gib × 2^30 × (1 − reserved) × (1 − headroom).
pub fn node_capacity_bytes(record: &RunRecord) -> f64 {
    capacity_of(record, record.scenario.costs.redis.node_memory_gib)
}

/// Usable bytes of a node of `memory_gib`: memory × 2^30 × (1 − reserved) × (1 − headroom).
pub fn capacity_of(record: &RunRecord, memory_gib: f64) -> f64 {
    let r = &record.scenario.costs.redis;
    memory_gib * GIB * (1.0 - r.reserved_fraction) * (1.0 - r.headroom)
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

/// Per region, the post-warmup sums of the time series.
pub fn region_windows(record: &RunRecord) -> Vec<RegionWindow> {
    let n = record.regions.len();
    let mut windows = vec![RegionWindow::default(); n];
    let mut buckets = vec![0u64; n];
    for row in post_warmup(record) {
        let i = usize::from(row.region);
        let Some(w) = windows.get_mut(i) else { continue };
        w.wru = w.wru.saturating_add(row.wru);
        w.rru = w.rru.saturating_add(row.rru);
        w.requests = w.requests.saturating_add(row.requests);
        w.created = w.created.saturating_add(row.created);
        w.audit_events = w.audit_events.saturating_add(row.audit_events);
        w.analytics_writes = w.analytics_writes.saturating_add(row.analytics_writes);
        w.redis_avg_bytes += row.redis_bytes as f64;
        w.replica_wru = w.replica_wru.saturating_add(row.replica_wru);
        w.replica_audit_events = w.replica_audit_events.saturating_add(row.replica_audit_events);
        w.home_analytics_writes = w.home_analytics_writes.saturating_add(row.home_analytics_writes);
        w.cold_avg_bytes += row.cold_bytes as f64;
        buckets[i] += 1;
    }
    for (w, b) in windows.iter_mut().zip(buckets) {
        if b > 0 {
            w.redis_avg_bytes /= b as f64;
            w.cold_avg_bytes /= b as f64;
        }
    }
    windows
}

/// Session ends the run did not see, per session created: at steady state every session ends
/// once (logout or expiry) and ends come as fast as creations, but a run shorter than the cold TTL
/// ends before most unattended sessions expire. The shortfall (created − logged out − expired,
/// over the whole run, as a share of created) is added to the audit and analytics volumes as
/// expiry events; 0 when the run outlives the cold TTL.
pub fn ends_added_per_session(record: &RunRecord) -> f64 {
    let cold_ttl = record.scenario.session_config.cold_storage.ttl.as_secs_f64();
    let c = &record.counts;
    if record.simulated_seconds >= cold_ttl || c.created == 0 {
        return 0.0;
    }
    let ended = c.logged_out.saturating_add(c.expired_hot).saturating_add(c.expired_cold);
    c.created.saturating_sub(ended) as f64 / c.created as f64
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
    let d = &costs.dynamodb;
    let dynamo_multiplier = |region: &str| d.region_multiplier.get(region).copied().unwrap_or(1.0);

    let windows = region_windows(record);
    let wru_post_all: u64 = windows.iter().map(|w| w.wru).sum();
    // With residency a restricted home's tables have replicas only in its allowed regions: the
    // replicated writes, storage and audit copies of a region count only the tables it holds.
    let rules = sc.residency_rules().unwrap_or_default();
    let resident = rules.is_configured();
    let region_id = |i: usize| RegionId(u16::try_from(i).unwrap_or(u16::MAX));
    let holds = |home: usize, region: usize| rules.allows(region_id(home), region_id(region));
    let cold_all: f64 = windows.iter().map(|w| w.cold_avg_bytes).sum();
    let cold_share = |region: usize| -> f64 {
        if !resident || cold_all <= 0.0 {
            return 1.0;
        }
        windows.iter().enumerate().filter(|(h, _)| holds(*h, region)).map(|(_, w)| w.cold_avg_bytes).sum::<f64>()
            / cold_all
    };

    let stored = stored_bytes(record, scale, residence);

    // Audit and analytics volumes per month, projected to steady state.
    let ends_added = ends_added_per_session(record);
    let tables = TableVolumes {
        audit_events: windows
            .iter()
            .map(|w| (w.audit_events as f64 + w.created as f64 * ends_added) * month_factor)
            .collect(),
        analytics_writes: windows
            .iter()
            .map(|w| (w.analytics_writes as f64 + w.created as f64 * ends_added) * month_factor)
            .collect(),
        ends_added_per_session: ends_added,
    };
    let audit_wru_each = write_units(d.audit_item_bytes) as f64;
    let analytics_wru_each = write_units(d.analytics_item_bytes) as f64;
    let audit_all: f64 = tables.audit_events.iter().sum();
    let analytics_all: f64 = tables.analytics_writes.iter().sum();
    let ends_note = if ends_added > 0.0 {
        format!(" (with {ends_added:.3} expiry events per session created added: the run ended before they came)")
    } else {
        String::new()
    };

    let mut rows = Vec::new();
    let mut redis_nodes = Vec::with_capacity(n_regions);
    let mut redis_peak_bytes = Vec::with_capacity(n_regions);
    for (i, region) in record.regions.iter().enumerate() {
        let usage = record.usage.get(i).cloned().unwrap_or_default();
        let w = windows.get(i).copied().unwrap_or_default();
        let dm = dynamo_multiplier(region);
        let wru_price = d.wru_usd_per_million * dm;
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
        // DynamoDB writes and reads, at this region's price.
        let wru = w.wru as f64 * month_factor;
        rows.push(CostRow {
            region: region.clone(),
            component: "dynamodb",
            item: "writes",
            quantity: wru / 1e6,
            unit: "million WRU".into(),
            unit_price_usd: wru_price,
            usd_month: cents(wru / 1e6 * wru_price),
            basis: format!(
                "{} WRU (ceil(item/1 KiB) each) in {:.0} s after warmup x 2628000/{:.0} x 1/sample; {} USD x {dm} ({region})",
                w.wru, window_s, window_s, d.wru_usd_per_million
            ),
        });
        let rru = w.rru as f64 * month_factor;
        let rru_price = d.rru_usd_per_million * dm;
        rows.push(CostRow {
            region: region.clone(),
            component: "dynamodb",
            item: "reads",
            quantity: rru / 1e6,
            unit: "million RRU".into(),
            unit_price_usd: rru_price,
            usd_month: cents(rru / 1e6 * rru_price),
            basis: format!(
                "{} RRU (ceil(item/4 KiB) each, strongly consistent) in {:.0} s after warmup x 2628000/{:.0} x 1/sample; {} USD x {dm} ({region})",
                w.rru, window_s, window_s, d.rru_usd_per_million
            ),
        });
        if d.replicated_writes && n_regions > 1 {
            // Each region's writes are written again in every other replica and paid there: this
            // replica pays the other regions' writes (each region's replicated WRU, split evenly
            // over its n − 1 other regions), at this region's price. With residency, only the
            // writes into tables with a replica here (as the simulator metered them).
            let others = if resident { w.replica_wru } else { wru_post_all.saturating_sub(w.wru) };
            let rep = others as f64 * month_factor;
            rows.push(CostRow {
                region: region.clone(),
                component: "dynamodb",
                item: "replicated writes",
                quantity: rep / 1e6,
                unit: "million replicated WRU".into(),
                unit_price_usd: wru_price,
                usd_month: cents(rep / 1e6 * wru_price),
                basis: if resident {
                    format!(
                        "the other regions' {others} WRU after warmup into tables with a replica here (residency: a restricted home's table is replicated only to its allowed regions); {} USD x {dm} ({region})",
                        d.wru_usd_per_million
                    )
                } else {
                    format!(
                        "the other regions' {others} WRU after warmup, written again in this replica (each region's replicated writes split evenly over its {} other regions); {} USD x {dm} ({region})",
                        n_regions - 1,
                        d.wru_usd_per_million
                    )
                },
            });
        }
        // Storage: AWS bills a global table's storage in every replica region, at its price;
        // with residency this region holds only the tables with a replica here.
        let share = cold_share(i);
        let gb = stored.steady * share / GB;
        let storage_price = d.storage_usd_per_gb_month * dm;
        rows.push(CostRow {
            region: region.clone(),
            component: "dynamodb",
            item: "storage",
            quantity: gb,
            unit: "GB-month".into(),
            unit_price_usd: storage_price,
            usd_month: cents(gb * storage_price),
            basis: format!(
                "{}average stored {:.3} GB ({}; measured {:.3} GB); {} USD x {dm} ({region})",
                if resident {
                    format!(
                        "residency: this region holds {:.3} of the stored bytes (the tables with a replica here) of ",
                        share
                    )
                } else {
                    "this replica holds the whole table: ".into()
                },
                stored.steady / GB,
                if stored.projected {
                    format!("projected: inflow x (cold TTL + mean session lifetime = {:.1} d)", residence / 86_400.0)
                } else if stored.over_last_day {
                    "measured over the run's last day: the run covers the cold TTL".into()
                } else {
                    "measured after warmup".into()
                },
                stored.measured / GB,
                d.storage_usd_per_gb_month
            ),
        });
        // Transfer: replicated bytes out of this region, post-warmup share (in proportion to writes).
        let share_post = if usage.wru > 0 { (w.wru as f64 / usage.wru as f64).min(1.0) } else { 0.0 };
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
        // The audit table: one item of audit_item_bytes per lifecycle event.
        let events = tables.audit_events.get(i).copied().unwrap_or(0.0);
        let audit_wru = events * audit_wru_each;
        rows.push(CostRow {
            region: region.clone(),
            component: "audit",
            item: "audit writes",
            quantity: audit_wru / 1e6,
            unit: "million WRU".into(),
            unit_price_usd: wru_price,
            usd_month: cents(audit_wru / 1e6 * wru_price),
            basis: format!(
                "{} audit events after warmup{ends_note}, per month x 1/sample = {events:.0} items x ceil({}/1024) = {audit_wru_each} WRU; {} USD x {dm} ({region})",
                w.audit_events, d.audit_item_bytes, d.wru_usd_per_million
            ),
        });
        // The other regions' audit items written again here: all of them, or with residency
        // those stored in trails with a replica here (plus the expiries the run did not see, in
        // their home's trail).
        let received = if resident {
            let added: f64 = windows
                .iter()
                .enumerate()
                .filter(|(h, _)| *h != i && holds(*h, i))
                .map(|(_, other)| other.created as f64 * ends_added)
                .sum();
            (w.replica_audit_events as f64 + added) * month_factor
        } else {
            audit_all - events
        };
        if d.audit_replicated && n_regions > 1 {
            let other_wru = received * audit_wru_each;
            rows.push(CostRow {
                region: region.clone(),
                component: "audit",
                item: "audit replicated writes",
                quantity: other_wru / 1e6,
                unit: "million replicated WRU".into(),
                unit_price_usd: wru_price,
                usd_month: cents(other_wru / 1e6 * wru_price),
                basis: format!(
                    "the other regions' {received:.0} audit items per month, written again in this replica ({}); {} USD x {dm} ({region})",
                    if resident { "residency: only trails with a replica here" } else { "global table" },
                    d.wru_usd_per_million
                ),
            });
        }
        // Steady state: what arrives per second, kept compliance_retention.
        let retention = sc.session_config.cold_storage.compliance_retention.as_secs_f64();
        let held_events = match (d.audit_replicated, resident) {
            (true, false) => audit_all,
            (true, true) => events + received,
            (false, _) => events,
        };
        let audit_gb = held_events / MONTH_SECONDS * retention * d.audit_item_bytes as f64 / GB;
        rows.push(CostRow {
            region: region.clone(),
            component: "audit",
            item: "audit storage",
            quantity: audit_gb,
            unit: "GB-month".into(),
            unit_price_usd: storage_price,
            usd_month: cents(audit_gb * storage_price),
            basis: format!(
                "{} {held_events:.0} items per month / 2628000 s x {retention:.0} s retention x {} bytes; {} USD x {dm} ({region})",
                match (d.audit_replicated, resident) {
                    (true, false) => "every region's (global table):",
                    (true, true) => "this region's and the trails replicated here (residency):",
                    (false, _) => "this region's:",
                },
                d.audit_item_bytes,
                d.storage_usd_per_gb_month
            ),
        });
        // The analytics table: one item of analytics_item_bytes per summary write; in the first
        // region only unless it is a global table.
        let analytics_retention = sc.session_config.cold_storage.analytics_retention.as_secs_f64();
        // With residency a restricted home's summaries go to its own table, in the home; the
        // rest to the one table in the first region.
        let split = resident && !d.analytics_replicated;
        let table_at = |home: usize| if rules.is_restricted(region_id(home)) { home } else { 0 };
        let in_table_here: f64 = windows
            .iter()
            .enumerate()
            .filter(|(h, _)| table_at(*h) == i)
            .map(|(_, w)| (w.home_analytics_writes as f64 + w.created as f64 * ends_added) * month_factor)
            .sum();
        // A global analytics table with residency: this region holds the shared table's summaries
        // and those of the restricted homes whose allowed regions include it.
        let held_replicated: f64 = if resident {
            windows
                .iter()
                .enumerate()
                .filter(|(h, _)| rules.allows(region_id(*h), region_id(i)))
                .map(|(_, w)| (w.home_analytics_writes as f64 + w.created as f64 * ends_added) * month_factor)
                .sum()
        } else {
            analytics_all
        };
        let analytics_here = if split {
            in_table_here
        } else if d.analytics_replicated {
            held_replicated
        } else {
            analytics_all
        };
        if d.analytics_replicated || i == 0 || (split && table_at(i) == i) {
            let own = tables.analytics_writes.get(i).copied().unwrap_or(0.0);
            let (written, how) = if d.analytics_replicated {
                (own, format!("{} summary writes after warmup{ends_note}", w.analytics_writes))
            } else if split {
                (
                    in_table_here,
                    format!(
                        "residency: the summaries of the sessions homed in the regions whose table is here ({} after warmup{ends_note})",
                        windows
                            .iter()
                            .enumerate()
                            .filter(|(h, _)| table_at(*h) == i)
                            .map(|(_, w)| w.home_analytics_writes)
                            .sum::<u64>()
                    ),
                )
            } else {
                (
                    analytics_all,
                    format!(
                        "every region's summary writes ({} after warmup{ends_note}), sent to the one table in {region} (transfer not costed)",
                        windows.iter().map(|w| w.analytics_writes).sum::<u64>()
                    ),
                )
            };
            let analytics_wru = written * analytics_wru_each;
            rows.push(CostRow {
                region: region.clone(),
                component: "analytics",
                item: "analytics writes",
                quantity: analytics_wru / 1e6,
                unit: "million WRU".into(),
                unit_price_usd: wru_price,
                usd_month: cents(analytics_wru / 1e6 * wru_price),
                basis: format!(
                    "{how}, per month x 1/sample = {written:.0} items x ceil({}/1024) = {analytics_wru_each} WRU; {} USD x {dm} ({region})",
                    d.analytics_item_bytes, d.wru_usd_per_million
                ),
            });
            if d.analytics_replicated && n_regions > 1 {
                let other_items = (held_replicated - own).max(0.0);
                let other_wru = other_items * analytics_wru_each;
                rows.push(CostRow {
                    region: region.clone(),
                    component: "analytics",
                    item: "analytics replicated writes",
                    quantity: other_wru / 1e6,
                    unit: "million replicated WRU".into(),
                    unit_price_usd: wru_price,
                    usd_month: cents(other_wru / 1e6 * wru_price),
                    basis: format!(
                        "the other regions' {other_items:.0} analytics items per month, written again in this replica ({}); {} USD x {dm} ({region})",
                        if resident { "the global tables replicated here (residency)" } else { "global table" },
                        d.wru_usd_per_million
                    ),
                });
            }
            let analytics_gb =
                analytics_here / MONTH_SECONDS * analytics_retention * d.analytics_item_bytes as f64 / GB;
            rows.push(CostRow {
                region: region.clone(),
                component: "analytics",
                item: "analytics storage",
                quantity: analytics_gb,
                unit: "GB-month".into(),
                unit_price_usd: storage_price,
                usd_month: cents(analytics_gb * storage_price),
                basis: format!(
                    "{} {analytics_here:.0} items per month / 2628000 s x {analytics_retention:.0} s retention x {} bytes; {} USD x {dm} ({region})",
                    match (split, d.analytics_replicated && resident) {
                        (true, _) => "this table's",
                        (false, true) => "the tables replicated here (residency):",
                        (false, false) => "every region's",
                    },
                    d.analytics_item_bytes, d.storage_usd_per_gb_month
                ),
            });
        }
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
            Steady {
                measured,
                steady: (measured / run_s * residence).max(measured),
                projected: true,
                over_last_day: false,
            }
        } else {
            Steady { measured, steady: measured, projected: false, over_last_day: false }
        };
        let nodes = nodes_for(peak.steady, capacity, replicas);
        let usd = cents(nodes as f64 * node_month(region));
        baseline.peak_bytes.push(peak);
        baseline.nodes.push(nodes);
        baseline.usd_month.push(usd);
    }
    baseline.total = cents(baseline.usd_month.iter().sum());
    let saving = if baseline.total > 0.0 { 1.0 - totals.session_storage / baseline.total } else { 0.0 };
    let mut model = CostModel {
        rows,
        totals,
        redis_nodes,
        redis_peak_bytes,
        stored_bytes: stored,
        baseline,
        saving: finite(saving),
        tables,
        windows,
        redis_options: RedisOptions::default(),
        unit_costs: UnitCosts::default(),
        growth: Growth::default(),
        mean_session_lifetime_s: lifetime,
        residence_s: residence,
        window_s,
        month_factor,
    };
    model.redis_options = redis_options(record, &model);
    model.unit_costs = unit_costs(record, &model);
    model.growth = growth(record, &model);
    model
}

/// Sums rows by component, in whole cents so that the rows add up exactly to the total.
pub fn totals_of(rows: &[CostRow]) -> ComponentTotals {
    let mut c = [0i64; 6];
    for row in rows {
        let k = match row.component {
            "redis" => 0,
            "dynamodb" => 1,
            "sync" => 2,
            "transfer" => 3,
            "audit" => 4,
            _ => 5,
        };
        c[k] = c[k].saturating_add(whole_cents(row.usd_month));
    }
    let usd = |x: i64| x as f64 / 100.0;
    let total = sum_cents(c);
    ComponentTotals {
        redis: usd(c[0]),
        dynamodb: usd(c[1]),
        sync: usd(c[2]),
        transfer: usd(c[3]),
        audit: usd(c[4]),
        analytics: usd(c[5]),
        session_storage: usd(sum_cents(c[..4].iter().copied())),
        total: usd(total),
    }
}

/// Average stored bytes of the DynamoDB table (one copy), scaled, at steady state. When the run
/// covers the cold TTL the table has stopped growing by its end: measured over the run's last day
/// (one whole daily cycle; the post-warmup average would count the days it was filling up), or
/// after warmup for a run shorter than warmup plus a day. When the run is shorter than the cold
/// TTL: projected as net inflow × residence (Little's law).
fn stored_bytes(record: &RunRecord, scale: f64, residence: f64) -> Steady {
    let measured = finite(record.storage.avg_stored_bytes) * scale;
    let cold_ttl = record.scenario.session_config.cold_storage.ttl.as_secs_f64();
    let total_at = |t: u64| -> u64 {
        record.timeseries.iter().filter(|r| r.t == t).map(|r| r.cold_bytes).fold(0u64, u64::saturating_add)
    };
    if record.simulated_seconds >= cold_ttl {
        const DAY: f64 = 86_400.0;
        let from = record.simulated_seconds - DAY;
        if from > record.warmup_seconds {
            let mut times: Vec<u64> = record.timeseries.iter().map(|r| r.t).filter(|&t| t as f64 >= from).collect();
            times.dedup();
            if !times.is_empty() {
                let sum: f64 = times.iter().map(|&t| total_at(t) as f64).sum();
                let steady = finite(sum / times.len() as f64 * scale);
                return Steady { measured, steady, projected: false, over_last_day: true };
            }
        }
        return Steady { measured, steady: measured, projected: false, over_last_day: false };
    }
    // Net inflow over the post-warmup window: growth of the table (no record reaches its TTL yet).
    let first = post_warmup(record).map(|r| r.t).min();
    let last = record.timeseries.iter().map(|r| r.t).max();
    let inflow = match (first, last) {
        (Some(a), Some(b)) if b > a => (total_at(b) as f64 - total_at(a) as f64) / (b - a) as f64 * scale,
        _ => 0.0,
    };
    let steady = if inflow > 0.0 { (inflow * residence).max(measured) } else { measured };
    Steady { measured, steady: finite(steady), projected: inflow > 0.0, over_last_day: false }
}
