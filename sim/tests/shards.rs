//! Runs split into shards of the user population: what must hold whatever the shard count.

use hotcold_model::{RunRecord, Scenario};
use hotcold_sim::{RunOptions, SimError, run};

fn tiny() -> Scenario {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml")).unwrap();
    Scenario::parse(&text, "tiny.yaml").unwrap()
}

fn run_with(shards: usize) -> RunRecord {
    run(&tiny(), &RunOptions { shards: Some(shards), ..RunOptions::default() }).unwrap()
}

/// The merged record adds up: time-series rows sum to the run's counts, sync passes (which every
/// shard runs at the same moments) count once, and merged peaks lie between what was seen at
/// bucket ends and the sum of the per-region peaks.
#[test]
fn merged_records_add_up() {
    let one = run_with(1);
    for shards in [1, 2, 3] {
        let r = run_with(shards);
        let c = &r.counts;
        let sum = |f: fn(&hotcold_model::record::BucketRow) -> u64| r.timeseries.iter().map(f).sum::<u64>();
        assert_eq!(sum(|b| b.requests), c.requests, "{shards} shards");
        assert_eq!(sum(|b| b.hot_hits), c.hot_hits, "{shards} shards");
        assert_eq!(sum(|b| b.losses), c.lost, "{shards} shards");
        assert_eq!(c.sync_invocations, one.counts.sync_invocations, "{shards} shards: passes count once");
        assert_eq!(r.failover.outages, 1, "{shards} shards");
        assert_eq!(r.timeseries.len(), one.timeseries.len(), "{shards} shards: same buckets");

        let buckets = r.timeseries.iter().map(|b| b.t).max().unwrap_or(0) as usize + 1;
        let mut hot_at_bucket_end = vec![0u64; buckets];
        for b in &r.timeseries {
            hot_at_bucket_end[b.t as usize] += b.hot;
        }
        let seen = hot_at_bucket_end.into_iter().max().unwrap_or(0);
        let region_peaks: u64 = r.usage.iter().map(|u| u.redis_peak_sessions).sum();
        assert!(seen <= r.tiers.hot_peak, "{shards} shards: bucket-end hot {seen} > peak {}", r.tiers.hot_peak);
        assert!(r.tiers.hot_peak <= region_peaks, "{shards} shards: peak of a sum exceeds the sum of peaks");
        for (u, row) in r.usage.iter().zip(0..) {
            let hot_rows = r.timeseries.iter().filter(|b| b.region == row).map(|b| b.hot);
            assert!(hot_rows.max().unwrap_or(0) <= u.redis_peak_sessions, "{shards} shards: {}", u.region);
            assert!(u.redis_peak_bytes > 0 && u.baseline_redis_only_peak_bytes >= u.redis_peak_bytes / 2);
        }
        let latency = &r.latency.hot_access;
        assert_eq!(latency.count, latency.values_us.iter().map(|(_, n)| n).sum::<u64>(), "{shards} shards");
    }
}

/// Shards simulate disjoint shares of the same traffic: totals agree with a one-shard run within
/// Poisson noise (five standard deviations), and more shards are not a different model.
#[test]
fn shard_counts_agree_within_noise() {
    let one = run_with(1);
    let two = run_with(2);
    for (name, a, b) in [
        ("requests", one.counts.requests, two.counts.requests),
        ("created", one.counts.created, two.counts.created),
        ("hot hits", one.counts.hot_hits, two.counts.hot_hits),
        ("promotions", one.counts.cold_promotions, two.counts.cold_promotions),
    ] {
        // Requests come in visits of ~6, so their variance is ~6x Poisson's; 5 sd of that.
        let tolerance = 5.0 * (6.0 * a as f64).sqrt();
        assert!((a as f64 - b as f64).abs() < tolerance, "{name}: {a} with one shard, {b} with two");
    }
}

#[test]
fn same_shards_same_record() {
    let strip = |mut r: RunRecord| {
        r.run = Default::default();
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(strip(run_with(3)), strip(run_with(3)));
    assert_ne!(strip(run_with(1)), strip(run_with(2)), "shards draw their own users");
}

#[test]
fn shard_counts_out_of_range_are_refused() {
    for shards in [0, hotcold_sim::MAX_SHARDS + 1] {
        let error = run(&tiny(), &RunOptions { shards: Some(shards), ..RunOptions::default() }).unwrap_err();
        assert!(matches!(error, SimError::InvalidOption(_)), "{shards}: {error}");
        assert!(error.to_string().contains("--shards"), "{error}");
    }
}
