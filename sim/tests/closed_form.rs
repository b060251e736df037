//! The simulator against answers known in closed form, and its determinism.

use hotcold_model::Scenario;
use hotcold_sim::{RunOptions, run};

/// One region, Poisson arrivals at a constant `rate` per second, single-request visits.
fn scenario(rate: f64, extra: &str) -> Scenario {
    let text = format!(
        "name: closed-form
seed: 11
duration: 6h
warmup: 1h
session_config:
  hot_storage: {{ ttl: 1200, promotion_threshold: 600, regions: [us-east-1] }}
  cold_storage: {{ ttl: 1d }}
  sync: {{ sync_interval: 60 }}
traffic:
  regions:
    us-east-1: {{ sessions_per_day: {spd}, peak_to_trough: 1.0 }}
  visit:
    requests: {{ dist: constant, value: 1 }}
    update_fraction: 0
    logout_probability: 0
  travel_probability: 0
{extra}",
        spd = rate * 86_400.0
    );
    Scenario::parse(&text, "closed-form.yaml").unwrap()
}

/// Little's law: each session is hot from its create at `t` until the first sync run at or after
/// `t + promotion_threshold`, i.e. for `threshold + U(0, sync_interval)` on average
/// `threshold + interval / 2` = 630 s. With 1 arrival per second, `hot_avg` = 630. The time
/// average over 5 hours of a Poisson-driven count near 630 has a standard error well under 1%;
/// the tolerance is 3%.
#[test]
fn hot_sessions_follow_littles_law() {
    let s = scenario(1.0, "  returns: { probability: 0 }\n");
    let record = run(&s, &RunOptions::default()).unwrap();
    let expected = 1.0 * (600.0 + 60.0 / 2.0);
    let hot_avg = record.tiers.hot_avg;
    assert!((hot_avg - expected).abs() / expected < 0.03, "hot_avg {hot_avg} vs {expected}");
    // Nothing is ever looked up again: no hits, no promotions; everything created is demoted
    // except what is still within its threshold at the end.
    let c = &record.counts;
    assert_eq!(c.hot_hits + c.cold_promotions + c.invalid_lookups, 0);
    assert_eq!(c.requests, c.created);
    assert!(c.created - c.demoted < 2 * 660, "{} created, {} demoted", c.created, c.demoted);
    assert_eq!(c.lost, 0);
    assert_eq!(c.expired_hot, 0, "the sync job demotes before the hot TTL");
    // A pass every minute of the 6 hours, the one due at the very end included (it runs before
    // the last bucket closes, as each bucket's closing pass does).
    assert_eq!(c.sync_invocations, 6 * 60);
    // The same count in the per-region figure.
    assert!((record.usage[0].redis_avg_sessions - hot_avg).abs() < 1e-6);
}

/// Every visit returns after a fixed gap of 2 h (> threshold + interval, < cold TTL), so every
/// return finds the session demoted and promotes it. A session created at `t` returns at `t + 2h`
/// and `t + 4h` while those fall within the 6 h run: promotions = λ((D − G) + (D − 2G)) =
/// 5/s × (4 h + 2 h) = 108000 (Poisson: standard deviation under 0.5%); tolerance 2%.
#[test]
fn promotions_count_returns_after_a_fixed_gap() {
    let s = scenario(5.0, "  returns: { probability: 1.0, gap: { dist: constant, value: 2h } }\n");
    let record = run(&s, &RunOptions::default()).unwrap();
    let c = &record.counts;
    let expected = 5.0 * (4.0 + 2.0) * 3600.0;
    let promotions = c.cold_promotions as f64;
    assert!((promotions - expected).abs() / expected < 0.02, "promotions {promotions} vs {expected}");
    assert_eq!(c.hot_hits, 0, "a 2 h gap always finds the session cold");
    assert_eq!(c.invalid_lookups, 0);
    assert_eq!(c.lost, 0);
    assert_eq!(c.requests, c.created + c.cold_promotions);
    // Every promoted session was demoted first.
    assert!(c.demoted >= c.cold_promotions);
    // One DynamoDB read per promotion, each item (1500-ish bytes + 100) is one RRU.
    let rru: u64 = record.usage.iter().map(|u| u.rru).sum();
    assert!(rru >= c.cold_promotions);
}

/// With durability `write_through` a region outage loses nothing: every hot state is in DynamoDB.
#[test]
fn write_through_loses_nothing_in_a_region_outage() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml")).unwrap();
    let base = Scenario::parse(&text, "tiny.yaml").unwrap();
    let lossy = run(&base, &RunOptions::default()).unwrap();
    assert!(lossy.failover.sessions_lost > 0, "on_demotion loses hot-only sessions");
    let durable = base
        .with_overrides(&[("engine.durability".into(), yaml_serde::Value::from("write_through"))], "tiny.yaml")
        .unwrap();
    let record = run(&durable, &RunOptions::default()).unwrap();
    assert_eq!(record.failover.outages, 1);
    assert!(record.failover.sessions_at_risk > 0);
    assert_eq!(record.failover.sessions_lost, 0);
    assert!(record.counts.lost < lossy.counts.lost);
}

#[test]
fn same_seed_same_record_other_seed_different() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml")).unwrap();
    let s = Scenario::parse(&text, "tiny.yaml").unwrap();
    let json = |seed: Option<u64>| {
        let mut record = run(&s, &RunOptions { seed, ..RunOptions::default() }).unwrap();
        record.run = Default::default();
        let mut summary = serde_json::to_value(record.summary()).unwrap();
        summary.as_object_mut().unwrap().remove("run");
        (serde_json::to_string(&record).unwrap(), summary)
    };
    let (a, sa) = json(None);
    let (b, sb) = json(None);
    assert_eq!(a, b, "the whole record is reproducible");
    assert_eq!(sa, sb);
    let (c, _) = json(Some(99));
    assert_ne!(a, c);
}
