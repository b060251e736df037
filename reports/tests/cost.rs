//! Cost model against cases worked out on paper: one region, constant traffic.
#![allow(missing_docs)]

use hotcold_model::record::{BucketRow, Counts, Failover, Latencies, RegionUsage, RunStats, Storage, Tiers};
use hotcold_model::{RunRecord, Scenario};
use hotcold_reports::cost::{CostModel, cost_model, nodes_for};
use hotcold_reports::full_summary;

/// One region, constant visits of one request (so a session lives 0 s between creation and last
/// access), payload 1500 bytes, never returning. `cold_ttl` decides whether a 2-day run reaches
/// steady state.
fn scenario(cold_ttl: &str) -> Scenario {
    let yaml = format!(
        r"
name: paper
duration: 2d
warmup: 1d
session_config:
  hot_storage: {{ regions: [us-east-1] }}
  cold_storage: {{ ttl: {cold_ttl} }}
traffic:
  regions:
    us-east-1: {{ sessions_per_day: 1000, peak_to_trough: 1.0 }}
  visit:
    requests: {{ dist: constant, value: 1 }}
    payload_bytes: {{ dist: constant, value: 1500 }}
  returns: {{ probability: 0.0 }}
  travel_probability: 0.0
"
    );
    match Scenario::parse(&yaml, "paper.yaml") {
        Ok(s) => s,
        Err(e) => panic!("test scenario: {e}"),
    }
}

/// A 2-day run in 1-hour buckets with constant rates: 10 DynamoDB writes/s of a 1600-byte item
/// (1500 payload + 100 item overhead => ceil(1600/1024) = 2 WRU each) and 5 strongly consistent
/// reads/s (ceil(1600/4096) = 1 RRU each). Per bucket: 10 x 2 x 3600 = 72,000 WRU and
/// 5 x 3600 = 18,000 RRU. The cold table grows by 1000 bytes/s (cold_bytes = 1000 x t).
fn record(scenario: Scenario) -> RunRecord {
    let timeseries: Vec<BucketRow> = (0..48u64)
        .map(|h| BucketRow {
            t: h * 3600,
            region: 0,
            wru: 72_000,
            rru: 18_000,
            cold_bytes: 1000 * h * 3600,
            ..BucketRow::default()
        })
        .collect();
    RunRecord {
        scenario,
        regions: vec!["us-east-1".into()],
        seed: 42,
        sample: 1.0,
        simulated_seconds: 172_800.0,
        warmup_seconds: 86_400.0,
        bucket_seconds: 3600,
        counts: Counts::default(),
        tiers: Tiers::default(),
        latency: Latencies::default(),
        usage: vec![RegionUsage {
            region: "us-east-1".into(),
            wru: 48 * 72_000,
            rru: 48 * 18_000,
            // Peak of 20 GB of Redis memory in the hybrid design, 60 GB in the Redis-only one.
            redis_peak_bytes: 20_000_000_000,
            baseline_redis_only_peak_bytes: 60_000_000_000,
            // A pass every 300 s over 2 days = 576 passes of 0.1 s each.
            sync_invocations: 576,
            sync_seconds: 57.6,
            ..RegionUsage::default()
        }],
        storage: Storage { avg_stored_bytes: 40e9, peak_stored_bytes: 0, final_stored_bytes: 0 },
        failover: Failover::default(),
        timeseries,
        residency: Default::default(),
        migration: None,
        run: RunStats::default(),
    }
}

fn row(model: &CostModel, item: &str) -> (f64, f64) {
    let r = model.rows.iter().find(|r| r.item == item).unwrap_or_else(|| panic!("no row {item}"));
    (r.quantity, r.usd_month)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn steady_state_run_worked_on_paper() {
    // Cold TTL 1 day: the 2-day run outlives it, so nothing is projected.
    let model = cost_model(&record(scenario("1d")));

    // Redis: usable bytes per cache.r7g.large = 13.07 x 2^30 x (1 - 0.25) x (1 - 0.20)
    //   = 8,420,283,383.8 bytes; 20e9 / 8.42e9 = 2.375 -> 3 shards x (1 + 1 replica) = 6 nodes;
    //   6 x 0.219 USD/h x 1.0 (us-east-1) x 730 h = 959.22 USD.
    assert_eq!(model.redis_nodes, vec![6]);
    let (nodes, usd) = row(&model, "nodes");
    assert_eq!(nodes, 6.0);
    assert!(close(usd, 959.22), "{usd}");

    // Writes after warmup: 24 buckets x 72,000 = 1,728,000 WRU in 86,400 s; a month is
    // 2,628,000 s, so x 30.41667 = 52,560,000 WRU = 52.56 million x 0.625 = 32.85 USD.
    let (mwru, usd) = row(&model, "writes");
    assert!(close(mwru, 52.56), "{mwru}");
    assert!(close(usd, 32.85), "{usd}");
    // Reads: 24 x 18,000 = 432,000 RRU -> 13,140,000 per month = 13.14 million x 0.125 = 1.6425
    //   -> 1.64 USD.
    let (mrru, usd) = row(&model, "reads");
    assert!(close(mrru, 13.14), "{mrru}");
    assert!(close(usd, 1.64), "{usd}");
    // One region: no replicated writes, no transfer.
    assert!(model.rows.iter().all(|r| r.item != "replicated writes" && r.component != "transfer"));
    // Storage: measured average 40e9 bytes = 40 GB x 0.25 = 10.00 USD.
    assert!(!model.stored_bytes.projected);
    let (gb, usd) = row(&model, "storage");
    assert!(close(gb, 40.0), "{gb}");
    assert!(close(usd, 10.0), "{usd}");
    // Sync: 576 passes in 172,800 s -> 8,760 per month = 0.00876 million x 0.20 = 0.0018 -> 0.00;
    //   57.6 s -> 876 s per month x 0.5 GB = 438 GB-s x 0.0000166667 = 0.0073 -> 0.01 USD.
    let (minv, usd) = row(&model, "invocations");
    assert!(close(minv, 0.00876), "{minv}");
    assert_eq!(usd, 0.0);
    let (gbs, usd) = row(&model, "compute");
    assert!(close(gbs, 438.0), "{gbs}");
    assert_eq!(usd, 0.01);

    // Total: 959.22 + 32.85 + 1.64 + 10.00 + 0.00 + 0.01 = 1003.72.
    assert!(close(model.totals.total, 1003.72), "{}", model.totals.total);
    assert!(close(model.totals.redis, 959.22));
    assert!(close(model.totals.dynamodb, 44.49));
    assert!(close(model.totals.sync, 0.01));
    assert_eq!(model.totals.transfer, 0.0);
    let sum: f64 = model.rows.iter().map(|r| r.usd_month).sum();
    assert!(close(sum, model.totals.total));

    // Redis-only: 60e9 / 8.42e9 = 7.126 -> 8 shards x 2 = 16 nodes x 159.87 = 2557.92 USD.
    assert_eq!(model.baseline.nodes, vec![16]);
    assert!(!model.baseline.peak_bytes[0].projected);
    assert!(close(model.baseline.total, 2557.92), "{}", model.baseline.total);
    // Saving: 1 - 1003.72 / 2557.92 = 0.60760...
    assert!((model.saving - (1.0 - 1003.72 / 2557.92)).abs() < 1e-9);
}

#[test]
fn a_run_past_the_cold_ttl_measures_the_table_over_its_last_day() {
    // Cold TTL 1 day, warmup 12 h: the run's last day (hours 24 to 47) comes after the warmup, so
    // the steady state is the table's average over it: cold_bytes = 1000 x t, t from 24 x 3600
    // to 47 x 3600 s, mean 35.5 x 3600 s => 127,800,000 bytes; not the post-warmup average
    // (40e9 in the record), which would count the hours the table was filling up.
    let mut r = record(scenario("1d"));
    r.warmup_seconds = 43_200.0;
    let model = cost_model(&r);
    let stored = model.stored_bytes;
    assert!(!stored.projected && stored.over_last_day, "{stored:?}");
    assert!(close(stored.steady, 127_800_000.0), "{}", stored.steady);
    assert_eq!(stored.measured, 40e9);
    let basis = &model.rows.iter().find(|row| row.item == "storage").map(|row| row.basis.clone()).unwrap_or_default();
    assert!(basis.contains("last day"), "{basis}");
    // With the warmup covering all but the last day, the post-warmup average is that day's.
    let model = cost_model(&record(scenario("1d")));
    assert!(!model.stored_bytes.over_last_day);
    assert_eq!(model.stored_bytes.steady, 40e9);
}

#[test]
fn short_run_projects_storage_and_baseline_with_littles_law() {
    // Cold TTL 30 days, run 2 days: nothing has expired yet, so stored amounts are projected.
    let model = cost_model(&record(scenario("30d")));
    // One request per visit and no returns: a session's lifetime (creation to last access) is 0,
    // so residence = 30 d = 2,592,000 s.
    assert_eq!(model.mean_session_lifetime_s, 0.0);
    assert_eq!(model.residence_s, 2_592_000.0);
    // DynamoDB: the table grows by 1000 bytes/s after warmup -> 1000 x 2,592,000 = 2.592e9 bytes
    //   = 2.592 GB x 0.25 = 0.648 -> 0.65 USD. The measured 40 GB average is kept beside it (the
    //   projection never goes below what was measured, so here it stays at 40 GB).
    assert!(model.stored_bytes.projected);
    assert_eq!(model.stored_bytes.steady, 40e9);
    // Redis-only: 60e9 bytes reached in 172,800 s = 347,222 bytes/s inflow x 2,592,000 s
    //   = 900e9 bytes; / 8.42e9 = 106.88 -> 107 shards x 2 = 214 nodes x 159.87 = 34,212.18 USD.
    let b = model.baseline.peak_bytes[0];
    assert!(b.projected);
    assert!(close(b.measured, 60e9));
    assert!(close(b.steady, 900e9), "{}", b.steady);
    assert_eq!(model.baseline.nodes, vec![214]);
    assert!(close(model.baseline.total, 34_212.18), "{}", model.baseline.total);
}

#[test]
fn short_run_storage_projection_from_inflow() {
    let mut r = record(scenario("30d"));
    // A small measured average: the projection (2.592e9 bytes, see above) is above it and is used.
    r.storage.avg_stored_bytes = 1.3e8;
    let model = cost_model(&r);
    assert!(model.stored_bytes.projected);
    assert!(close(model.stored_bytes.steady, 2.592e9), "{}", model.stored_bytes.steady);
    let (gb, usd) = row(&model, "storage");
    assert!(close(gb, 2.592));
    assert_eq!(usd, 0.65);
    // And summary.json reports both.
    let (s, _) = full_summary(&r);
    assert_eq!(s.dynamodb.avg_stored_bytes, 2.592e9);
    assert_eq!(s.dynamodb.measured.avg_stored_bytes, 1.3e8);
    assert!(s.steady_state.storage_projected && s.steady_state.baseline_projected);
}

#[test]
fn node_count_rules() {
    let cap = 1000.0;
    assert_eq!(nodes_for(0.0, cap, 1), 2, "an empty region still runs one shard and its replica");
    assert_eq!(nodes_for(1000.0, cap, 1), 2);
    assert_eq!(nodes_for(1001.0, cap, 1), 4);
    assert_eq!(nodes_for(2500.0, cap, 0), 3);
    assert_eq!(nodes_for(f64::NAN, cap, 2), 3);
    assert_eq!(nodes_for(1e300, cap, 1), 2_000_000_000_000, "absurd peaks saturate, no panic");
}

#[test]
fn slo_verdicts_follow_targets() {
    let r = record(scenario("1d"));
    let (s, model) = full_summary(&r);
    let names: Vec<&str> = s.slo.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "hot_access_p95_ms",
            "cold_promotion_p95_ms",
            "failover_session_loss",
            "availability",
            "cost_reduction_vs_redis_only"
        ]
    );
    let cost = &s.slo[4];
    assert_eq!(cost.target, 0.5);
    assert!((cost.actual - model.saving).abs() < 1e-6);
    assert!(cost.pass, "a 60.8% saving meets the 50% target");
    // No requests at all: availability 1.0 passes, latencies 0 pass.
    assert!(s.slo.iter().all(|x| x.pass));
    assert!(s.slo_pass);
    assert_eq!(s.redis.nodes.get("us-east-1"), Some(&6));
    assert_eq!(s.baseline_redis_only.redis_nodes.get("us-east-1"), Some(&16));
    assert_eq!(s.cost_usd_month.total, 1003.72);
}
