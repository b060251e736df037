//! The cost of a rollout from the Redis-only store (a scenario's `migration:` block), week by
//! week: what is billed in each week of the run for the legacy Redis and the hybrid store side by
//! side, against the Redis-only baseline and the hybrid store alone (the end state) for the same
//! traffic. `summary.json`'s `migration` object, `migration.csv` and the `migration_cost` chart.
//!
//! # What a week is billed
//! Weeks start at the end of the warm-up, 168 hours each, the last one ending with the run (pro
//! rata). A week is priced by the formulas of CONTRACT section 4 on what the week itself used,
//! rather than on the steady-state month of the run's cost model:
//! - Redis (legacy, hybrid and Redis-only alike): the nodes the week's peak bytes need, for the
//!   week's hours; a legacy store that held nothing all week costs nothing (decommissioned);
//! - DynamoDB reads, writes, replicated writes, transfer: the week's request units and bytes;
//!   storage: the week's average stored bytes (in every replica region) for the week's hours;
//! - the sync job: the run's passes in proportion to the week's length;
//! - audit and analytics tables: the week's writes, and storage of every item written since the
//!   start of the run (their retention outlives the run) for the week's hours.
//!
//! Counts are scaled by 1/sample. With residency, replicated writes and storage count the tables
//! with a replica in each region, as the monthly model does; a restricted home's own analytics
//! table is priced with the shared one, in the first region (a few cents a week). The end state is the same traffic run without the `migration:`
//! block (the simulator runs it alongside), its weeks priced the same way.

use std::collections::BTreeMap;

use hotcold_model::RunRecord;
use hotcold_model::metering::write_units;
use hotcold_model::migration::{MigrationRecord, RegionWeek, WeekUsage};
use hotcold_model::record::{Hist, Percentiles, round3, round6};
use serde::{Deserialize, Serialize};

use crate::cost::{GB, MONTH_HOURS, cents, node_capacity_bytes, nodes_for, sum_cents, whole_cents};

/// What one region's hybrid store is billed in a span, USD by component.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HybridBill {
    /// Redis nodes of the hybrid store (replicas included).
    pub redis_nodes: u64,
    /// Redis.
    pub redis: f64,
    /// DynamoDB writes, reads, replicated writes and storage.
    pub dynamodb: f64,
    /// The sync job.
    pub sync: f64,
    /// Cross-region replication traffic.
    pub transfer: f64,
    /// The audit table.
    pub audit: f64,
    /// The analytics table.
    pub analytics: f64,
}

impl HybridBill {
    /// The components in `migration.csv`'s order, by name.
    pub fn components(&self) -> [(&'static str, f64); 6] {
        [
            ("redis", self.redis),
            ("dynamodb", self.dynamodb),
            ("sync", self.sync),
            ("transfer", self.transfer),
            ("audit", self.audit),
            ("analytics", self.analytics),
        ]
    }

    /// Sum of the components, in whole cents.
    pub fn total(&self) -> f64 {
        sum_cents(self.components().iter().map(|(_, usd)| whole_cents(*usd))) as f64 / 100.0
    }
}

/// One span's bill, every region: the rollout (legacy + hybrid) and the two comparisons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanBill {
    /// Per region (record order): legacy Redis nodes.
    pub legacy_nodes: Vec<u64>,
    /// Per region: legacy Redis USD.
    pub legacy: Vec<f64>,
    /// Per region: the hybrid store.
    pub hybrid: Vec<HybridBill>,
    /// Per region: Redis-only nodes.
    pub redis_only_nodes: Vec<u64>,
    /// Per region: the Redis-only baseline, USD.
    pub redis_only: Vec<f64>,
}

impl SpanBill {
    /// Legacy Redis, all regions.
    pub fn legacy_total(&self) -> f64 {
        cents_sum(self.legacy.iter().copied())
    }

    /// The hybrid store, all regions.
    pub fn hybrid_total(&self) -> f64 {
        cents_sum(self.hybrid.iter().map(HybridBill::total))
    }

    /// The Redis-only baseline, all regions.
    pub fn redis_only_total(&self) -> f64 {
        cents_sum(self.redis_only.iter().copied())
    }
}

fn cents_sum(usd: impl Iterator<Item = f64>) -> f64 {
    sum_cents(usd.map(whole_cents)) as f64 / 100.0
}

/// What `usage` (one week, or any span: [`combined`]) is billed, priced with `record`'s scenario.
pub fn price_span(record: &RunRecord, usage: &WeekUsage) -> SpanBill {
    let sc = &record.scenario;
    let costs = &sc.costs;
    let d = &costs.dynamodb;
    let scale = if record.sample > 0.0 && record.sample.is_finite() { 1.0 / record.sample } else { 1.0 };
    let hours = usage.hours();
    let month_share = hours / MONTH_HOURS;
    let capacity = node_capacity_bytes(record);
    let replicas = costs.redis.replicas_per_shard;
    let n_regions = record.regions.len();
    let rules = sc.residency_rules().unwrap_or_default();
    let resident = rules.is_configured();
    let region_id = |i: usize| hotcold_model::RegionId(u16::try_from(i).unwrap_or(u16::MAX));
    let regions = &usage.regions;
    let all = |f: &dyn Fn(&RegionWeek) -> f64| -> f64 { regions.iter().map(f).sum() };
    let audit_wru_each = write_units(d.audit_item_bytes) as f64;
    let analytics_wru_each = write_units(d.analytics_item_bytes) as f64;
    let mut bill = SpanBill::default();
    for (i, name) in record.regions.iter().enumerate() {
        let w = regions.get(i).cloned().unwrap_or_default();
        let node_hour = costs.redis.node_usd_per_hour * costs.redis.region_multiplier.get(name).copied().unwrap_or(1.0);
        let redis_cost = |peak: u64| -> (u64, f64) {
            let nodes = nodes_for(peak as f64 * scale, capacity, replicas);
            (nodes, cents(nodes as f64 * node_hour * hours))
        };
        let (legacy_nodes, legacy) = if w.legacy_peak_bytes == 0 { (0, 0.0) } else { redis_cost(w.legacy_peak_bytes) };
        bill.legacy_nodes.push(legacy_nodes);
        bill.legacy.push(legacy);
        let (only_nodes, only) = redis_cost(w.baseline_peak_bytes);
        bill.redis_only_nodes.push(only_nodes);
        bill.redis_only.push(only);

        let (redis_nodes, redis) = redis_cost(w.hot_peak_bytes);
        let dm = d.region_multiplier.get(name).copied().unwrap_or(1.0);
        let wru_price = d.wru_usd_per_million * dm / 1e6;
        let storage_price = d.storage_usd_per_gb_month * dm * month_share / GB;
        let mut dynamodb = w.wru as f64 * scale * wru_price + w.rru as f64 * scale * d.rru_usd_per_million * dm / 1e6;
        if d.replicated_writes && n_regions > 1 {
            let others = if resident { w.replica_wru as f64 } else { all(&|r| r.wru as f64) - w.wru as f64 };
            dynamodb += others * scale * wru_price;
        }
        let stored: f64 = if resident {
            regions
                .iter()
                .enumerate()
                .filter(|(home, _)| rules.allows(region_id(*home), region_id(i)))
                .map(|(_, r)| r.cold_avg_bytes)
                .sum()
        } else {
            all(&|r| r.cold_avg_bytes)
        };
        dynamodb += stored * scale * storage_price;
        let transfer = if n_regions > 1 {
            w.replicated_bytes * scale / GB * costs.transfer_usd_per_gb.get(name).copied().unwrap_or(0.0)
        } else {
            0.0
        };
        let s = &costs.sync;
        let sync = w.sync_invocations / 1e6 * s.usd_per_million_invocations
            + w.sync_seconds * scale * s.memory_gb * s.usd_per_gb_second;
        let mut audit = w.audit_events as f64 * audit_wru_each * scale * wru_price;
        let audit_held = if d.audit_replicated && n_regions > 1 {
            let others = if resident {
                w.replica_audit_events as f64
            } else {
                all(&|r| r.audit_events as f64) - w.audit_events as f64
            };
            audit += others * audit_wru_each * scale * wru_price;
            all(&|r| r.audit_held_avg)
        } else {
            w.audit_held_avg
        };
        audit += audit_held * d.audit_item_bytes as f64 * scale * storage_price;
        // The analytics table: one table in the first region, or a global table in every one.
        let analytics = if d.analytics_replicated || i == 0 {
            let writes = all(&|r| r.analytics_writes as f64);
            let held = all(&|r| r.analytics_held_avg);
            writes * analytics_wru_each * scale * wru_price
                + held * d.analytics_item_bytes as f64 * scale * storage_price
        } else {
            0.0
        };
        bill.hybrid.push(HybridBill {
            redis_nodes,
            redis,
            dynamodb: cents(dynamodb),
            sync: cents(sync),
            transfer: cents(transfer),
            audit: cents(audit),
            analytics: cents(analytics),
        });
    }
    bill
}

/// Consecutive weeks as one span: counts and bytes added, averages weighted by hours, peaks the
/// highest. [`price_span`] of it is what the whole span costs with each cluster sized once for the
/// span's peak: the weeks' bills add up to it when no week needs other node counts.
pub fn combined(weeks: &[WeekUsage]) -> WeekUsage {
    let (Some(first), Some(last)) = (weeks.first(), weeks.last()) else { return WeekUsage::default() };
    let regions = first.regions.len();
    let total_hours: f64 = weeks.iter().map(WeekUsage::hours).sum();
    let mut out = WeekUsage {
        week: first.week,
        start_s: first.start_s,
        end_s: last.end_s,
        regions: vec![RegionWeek::default(); regions],
    };
    for week in weeks {
        let weight = if total_hours > 0.0 { week.hours() / total_hours } else { 0.0 };
        for (sum, r) in out.regions.iter_mut().zip(&week.regions) {
            sum.hot_peak_bytes = sum.hot_peak_bytes.max(r.hot_peak_bytes);
            sum.legacy_peak_bytes = sum.legacy_peak_bytes.max(r.legacy_peak_bytes);
            sum.baseline_peak_bytes = sum.baseline_peak_bytes.max(r.baseline_peak_bytes);
            sum.wru += r.wru;
            sum.rru += r.rru;
            sum.replica_wru += r.replica_wru;
            sum.cold_avg_bytes += r.cold_avg_bytes * weight;
            sum.replicated_bytes += r.replicated_bytes;
            sum.sync_invocations += r.sync_invocations;
            sum.sync_seconds += r.sync_seconds;
            sum.audit_events += r.audit_events;
            sum.replica_audit_events += r.replica_audit_events;
            sum.audit_held_avg += r.audit_held_avg * weight;
            sum.analytics_writes += r.analytics_writes;
            sum.analytics_held_avg += r.analytics_held_avg * weight;
            sum.requests += r.requests;
            sum.legacy_requests += r.legacy_requests;
            sum.migrated += r.migrated;
            sum.rolled_back += r.rolled_back;
            sum.bulk_imported += r.bulk_imported;
        }
    }
    out
}

/// `summary.json`'s `migration` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigrationOut {
    /// The rollout as run: `at` in seconds from the start, the percentage from then on.
    pub rollout: Vec<RolloutOut>,
    /// The bulk import as configured (`null` without one).
    pub bulk_import: Option<BulkImportOut>,
    /// Sessions imported on their next access (scaled).
    pub migrated: u64,
    /// Sessions handed back to the legacy store on their next access (scaled).
    pub rolled_back: u64,
    /// Sessions imported by the bulk import (scaled).
    pub bulk_imported: u64,
    /// Of those, into the cold tier only (scaled).
    pub bulk_imported_cold: u64,
    /// Seconds from the bulk import's start until no legacy session on the hybrid side was left
    /// (`null` without a bulk import, or when it did not finish within the run).
    pub bulk_import_seconds: Option<f64>,
    /// Sessions created in the legacy store (scaled; `sessions.created` counts the engine's).
    pub legacy_created: u64,
    /// Requests the legacy store served (scaled; counted as hot hits and creates too).
    pub legacy_requests: u64,
    /// Moves that failed because a store was down (scaled).
    pub failed_moves: u64,
    /// Latency of the requests that moved a session, and of those the legacy store served, ms.
    pub latency_ms: MigrationLatencyOut,
    /// Each week after the warm-up.
    pub weeks: Vec<WeekOut>,
    /// The weeks added up.
    pub total: TotalOut,
}

/// One step of `migration.rollout`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RolloutOut {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// Percentage of sessions on the hybrid side from then on.
    pub percent: f64,
}

/// `migration.bulk_import`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BulkImportOut {
    /// Start, seconds from the start of the run.
    pub at_s: f64,
    /// Most sessions a second.
    pub rate: f64,
}

/// `migration.latency_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrationLatencyOut {
    /// Requests that imported their session (legacy read + cold write + hot put).
    pub migrate: Percentiles,
    /// Requests that handed their session back (the engine's read and removal + legacy write).
    pub rollback: Percentiles,
    /// Requests the legacy store served.
    pub legacy: Percentiles,
}

impl Default for MigrationLatencyOut {
    fn default() -> Self {
        let zero = || Percentiles { p50: 0.0, p95: 0.0, p99: 0.0, max: 0.0 };
        Self { migrate: zero(), rollback: zero(), legacy: zero() }
    }
}

/// The cost of the rollout in a span, USD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RolloutCostOut {
    /// The legacy Redis.
    pub legacy_redis: f64,
    /// The hybrid store.
    pub hybrid: f64,
    /// Both.
    pub total: f64,
}

/// One week of `migration.weeks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WeekOut {
    /// From 1.
    pub week: u32,
    /// Start, seconds from the start of the run.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
    /// Hours billed (168 but for a last, partial week).
    pub hours: f64,
    /// Time-weighted mean rollout percentage.
    pub percent_avg: f64,
    /// Legacy Redis nodes per region (replicas included; 0 once it held nothing all week).
    pub legacy_redis_nodes: BTreeMap<String, u64>,
    /// Hybrid Redis nodes per region.
    pub hybrid_redis_nodes: BTreeMap<String, u64>,
    /// What the week is billed.
    pub cost_usd: RolloutCostOut,
    /// The Redis-only baseline for the same traffic that week.
    pub redis_only_usd: f64,
    /// The hybrid store alone for the same traffic that week (the end state).
    pub hybrid_end_state_usd: f64,
    /// Requests (scaled).
    pub requests: u64,
    /// Of those, served by the legacy store.
    pub legacy_requests: u64,
    /// Sessions imported on access.
    pub migrated: u64,
    /// Sessions handed back.
    pub rolled_back: u64,
    /// Sessions imported by the bulk import.
    pub bulk_imported: u64,
}

/// `migration.total`: the weeks added up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TotalOut {
    /// Hours.
    pub hours: f64,
    /// The rollout.
    pub cost_usd: RolloutCostOut,
    /// The Redis-only baseline.
    pub redis_only_usd: f64,
    /// The hybrid store alone.
    pub hybrid_end_state_usd: f64,
}

/// Every week of a migration run priced: `(week, its bill, the end state's bill)`.
pub fn weekly_bills(record: &RunRecord, migration: &MigrationRecord) -> Vec<(WeekUsage, SpanBill, SpanBill)> {
    migration
        .weeks
        .iter()
        .enumerate()
        .map(|(i, week)| {
            let end_state = migration.end_state_weeks.get(i).cloned().unwrap_or_default();
            (week.clone(), price_span(record, week), price_span(record, &end_state))
        })
        .collect()
}

/// `summary.json`'s `migration` object, when the run has a `migration:` block.
pub fn migration_out(record: &RunRecord) -> Option<MigrationOut> {
    let migration = record.migration.as_ref()?;
    let block = record.scenario.migration.as_ref();
    let scale = if record.sample > 0.0 && record.sample.is_finite() { 1.0 / record.sample } else { 1.0 };
    let s = |n: u64| (n as f64 * scale).round() as u64;
    let p = |h: &Hist| Percentiles { p50: h.p50, p95: h.p95, p99: h.p99, max: h.max };
    let by_region =
        |v: &[u64]| -> BTreeMap<String, u64> { record.regions.iter().cloned().zip(v.iter().copied()).collect() };
    let mut total = TotalOut::default();
    let (mut legacy_cents, mut hybrid_cents, mut only_cents, mut end_cents) = (0i64, 0i64, 0i64, 0i64);
    let weeks = weekly_bills(record, migration)
        .into_iter()
        .map(|(week, bill, end_state)| {
            let (legacy, hybrid) = (bill.legacy_total(), bill.hybrid_total());
            legacy_cents = legacy_cents.saturating_add(whole_cents(legacy));
            hybrid_cents = hybrid_cents.saturating_add(whole_cents(hybrid));
            only_cents = only_cents.saturating_add(whole_cents(bill.redis_only_total()));
            end_cents = end_cents.saturating_add(whole_cents(end_state.hybrid_total()));
            total.hours += week.hours();
            let sum = |f: &dyn Fn(&RegionWeek) -> u64| s(week.regions.iter().map(f).sum());
            WeekOut {
                week: week.week,
                start_s: week.start_s,
                end_s: week.end_s,
                hours: round3(week.hours()),
                percent_avg: round6(block.map_or(0.0, |m| m.mean_percent(week.start_s, week.end_s))),
                legacy_redis_nodes: by_region(&bill.legacy_nodes),
                hybrid_redis_nodes: by_region(&bill.hybrid.iter().map(|h| h.redis_nodes).collect::<Vec<_>>()),
                cost_usd: RolloutCostOut {
                    legacy_redis: legacy,
                    hybrid,
                    total: (whole_cents(legacy) + whole_cents(hybrid)) as f64 / 100.0,
                },
                redis_only_usd: bill.redis_only_total(),
                hybrid_end_state_usd: end_state.hybrid_total(),
                requests: sum(&|r| r.requests),
                legacy_requests: sum(&|r| r.legacy_requests),
                migrated: sum(&|r| r.migrated),
                rolled_back: sum(&|r| r.rolled_back),
                bulk_imported: sum(&|r| r.bulk_imported),
            }
        })
        .collect();
    let usd = |c: i64| c as f64 / 100.0;
    total.hours = round3(total.hours);
    total.cost_usd = RolloutCostOut {
        legacy_redis: usd(legacy_cents),
        hybrid: usd(hybrid_cents),
        total: usd(legacy_cents.saturating_add(hybrid_cents)),
    };
    total.redis_only_usd = usd(only_cents);
    total.hybrid_end_state_usd = usd(end_cents);
    let bulk = block.and_then(|m| m.bulk_import.as_ref());
    Some(MigrationOut {
        rollout: block
            .map(|m| m.rollout.iter().map(|r| RolloutOut { at_s: r.at.as_secs_f64(), percent: r.percent }).collect())
            .unwrap_or_default(),
        bulk_import: bulk.map(|b| BulkImportOut { at_s: b.at.as_secs_f64(), rate: b.rate }),
        migrated: s(migration.migrated),
        rolled_back: s(migration.rolled_back),
        bulk_imported: s(migration.bulk_imported),
        bulk_imported_cold: s(migration.bulk_imported_cold),
        bulk_import_seconds: match (bulk, migration.bulk_import_done_s) {
            (Some(b), Some(done)) => Some(round3((done - b.at.as_secs_f64()).max(0.0))),
            _ => None,
        },
        legacy_created: s(migration.legacy_created),
        legacy_requests: s(migration.legacy_requests),
        failed_moves: s(migration.failed_moves),
        latency_ms: MigrationLatencyOut {
            migrate: p(&migration.migrate_latency),
            rollback: p(&migration.rollback_latency),
            legacy: p(&migration.legacy_latency),
        },
        weeks,
        total,
    })
}

/// One row of `migration.csv`: a week, a region, a design and one of its components.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationRow {
    /// Week number, from 1.
    pub week: u32,
    /// Start, hours from the start of the run.
    pub start_hours: f64,
    /// Hours billed.
    pub hours: f64,
    /// Time-weighted mean rollout percentage of the week.
    pub percent_avg: f64,
    /// Region.
    pub region: String,
    /// `rollout` (what the week is billed: its rows add up to `cost_usd.total`), `redis_only` or
    /// `hybrid_end_state` (the comparisons).
    pub design: &'static str,
    /// `legacy_redis`, or a hybrid component (`redis`, `dynamodb`, `sync`, `transfer`, `audit`,
    /// `analytics`); `redis` for the Redis-only design.
    pub component: &'static str,
    /// Redis nodes for Redis rows, 0 otherwise.
    pub nodes: u64,
    /// USD billed in the week.
    pub usd: f64,
}

/// `migration.csv`'s rows: per week, region and design, each component.
pub fn migration_rows(record: &RunRecord) -> Vec<MigrationRow> {
    let Some(migration) = record.migration.as_ref() else { return Vec::new() };
    let block = record.scenario.migration.as_ref();
    let mut rows = Vec::new();
    for (week, bill, end_state) in weekly_bills(record, migration) {
        let percent_avg = round6(block.map_or(0.0, |m| m.mean_percent(week.start_s, week.end_s)));
        for (i, region) in record.regions.iter().enumerate() {
            let mut row = |design: &'static str, component: &'static str, nodes: u64, usd: f64| {
                rows.push(MigrationRow {
                    week: week.week,
                    start_hours: round3(week.start_s / 3600.0),
                    hours: round3(week.hours()),
                    percent_avg,
                    region: region.clone(),
                    design,
                    component,
                    nodes,
                    usd,
                });
            };
            row("rollout", "legacy_redis", bill.legacy_nodes[i], bill.legacy[i]);
            let hybrid = &bill.hybrid[i];
            for (component, usd) in hybrid.components() {
                row("rollout", component, if component == "redis" { hybrid.redis_nodes } else { 0 }, usd);
            }
            row("redis_only", "redis", bill.redis_only_nodes[i], bill.redis_only[i]);
            let end = end_state.hybrid.get(i).cloned().unwrap_or_default();
            for (component, usd) in end.components() {
                row("hybrid_end_state", component, if component == "redis" { end.redis_nodes } else { 0 }, usd);
            }
        }
    }
    rows
}
