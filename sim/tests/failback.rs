//! Failback in the simulator: after a region's outage its users' sessions come home, so the
//! region's p95 is back under the hot access SLO within minutes of the recovery, and the report
//! says what the outage cost its users (the detour) and how long the recovery took.

use hotcold_model::Scenario;
use hotcold_sim::{RunOptions, run};

/// `tiny.yaml` with only its region outage (us-east-1, 10 minutes from 70m), a 70 ms round trip
/// between the two regions, no travellers (each would pay the round trip in every bucket) and a
/// promotion threshold long enough that the returns of its 8-minute gap are hot hits: before the
/// outage every bucket of us-east-1 is well under 5 ms at p95.
fn scenario() -> Scenario {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml")).unwrap();
    let yaml = |text: &str| yaml_serde::from_str::<yaml_serde::Value>(text).unwrap();
    Scenario::parse(&text, "tiny.yaml")
        .unwrap()
        .with_overrides(
            &[
                ("faults".into(), yaml("[{ at: 70m, kind: region_outage, region: us-east-1, duration: 10m }]")),
                ("latency.rtt_ms".into(), yaml("{ us-east-1/eu-west-1: 70 }")),
                ("traffic.travel_probability".into(), yaml("0")),
                ("session_config.hot_storage.promotion_threshold".into(), yaml("30m")),
                ("session_config.hot_storage.ttl".into(), yaml("1h")),
            ],
            "tiny.yaml",
        )
        .unwrap()
}

#[test]
fn after_an_outage_the_regions_sessions_come_home_and_its_p95_recovers_within_minutes() {
    let scenario = scenario();
    let record = run(&scenario, &RunOptions::default()).unwrap();
    let outage = &record.failover.events[0];
    assert_eq!((outage.region.as_str(), outage.failover_to.as_str()), ("us-east-1", "eu-west-1"));
    assert_eq!(outage.detour_ms, 70.0, "the detour is the round trip between the two regions");
    assert!(outage.detoured_requests > 1_000, "us-east-1's users were served by eu-west-1: {outage:?}");
    assert!(outage.moved_home > 100, "the sessions held by eu-west-1 came home: {outage:?}");

    let target = scenario.slo.hot_access_p95_ms;
    let end = (outage.at_seconds + outage.duration_seconds) as u64;
    let us_east: Vec<_> = record.timeseries.iter().filter(|row| row.region == 0 && row.requests > 0).collect();
    let before: Vec<_> =
        us_east.iter().filter(|row| row.t + record.bucket_seconds <= outage.at_seconds as u64).collect();
    assert!(before.iter().all(|row| row.p95_ms <= target), "the scenario is under the SLO before the outage");
    // From 15 minutes after the recovery on, every bucket (the bar; in fact from the
    // second minute on).
    let after: Vec<_> = us_east.iter().filter(|row| row.t >= end + 15 * 60).collect();
    assert!(after.len() >= 20, "the run goes on for a while after the recovery");
    for row in after {
        assert!(row.p95_ms <= target, "p95 {} ms at {} s, {} s after the recovery", row.p95_ms, row.t, row.t - end);
    }
    let recovery = record.slo_recovery_minutes(outage).expect("the p95 recovers within the run");
    assert!(recovery <= 15.0, "back under the SLO {recovery} minutes after the recovery");

    // The summary carries the outage's figures, scaled like every count.
    let summary = serde_json::to_value(record.summary()).unwrap();
    let event = &summary["failover"]["events"][0];
    assert_eq!(event["moved_home"].as_u64(), Some(outage.moved_home));
    assert_eq!(event["slo_recovery_minutes"].as_f64(), Some(recovery));
}

#[test]
fn a_run_without_outages_has_no_failover_events_in_its_summary() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml")).unwrap();
    let yaml = yaml_serde::from_str::<yaml_serde::Value>("[]").unwrap();
    let scenario =
        Scenario::parse(&text, "tiny.yaml").unwrap().with_overrides(&[("faults".into(), yaml)], "x").unwrap();
    let record = run(&scenario, &RunOptions::default()).unwrap();
    let summary = serde_json::to_value(record.summary()).unwrap();
    assert!(summary["failover"].get("events").is_none(), "{}", summary["failover"]);
}
