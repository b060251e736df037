//! Data residency in the simulator: with eu-west-1's sessions pinned there, a run with travellers
//! and an outage of eu-west-1 writes nothing of theirs anywhere else (no violation counted, none of
//! their records in another region's store at the end), still serves its travellers, and costs
//! less in DynamoDB; the same run without the rule reports what eu-west-1's sessions had stored
//! abroad.

use hotcold_model::{RunRecord, Scenario};
use hotcold_sim::{RunOptions, run};

/// `tiny.yaml` (us-east-1 and eu-west-1, two hours) with eu-west-1 losing its Redis tier for ten
/// minutes from 70m instead of us-east-1, and `residency` as given.
fn scenario(residency: &str) -> Scenario {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/tiny.yaml")).unwrap();
    let yaml = |text: &str| yaml_serde::from_str::<yaml_serde::Value>(text).unwrap();
    Scenario::parse(&text, "tiny.yaml")
        .unwrap()
        .with_overrides(
            &[
                ("faults".into(), yaml("[{ at: 70m, kind: region_outage, region: eu-west-1, duration: 10m }]")),
                ("residency".into(), yaml(residency)),
            ],
            "tiny.yaml",
        )
        .unwrap()
}

fn simulate(residency: &str) -> RunRecord {
    run(&scenario(residency), &RunOptions { shards: Some(2), ..RunOptions::default() }).unwrap()
}

#[test]
fn pinned_sessions_stay_in_their_region_through_travel_and_an_outage() {
    let pinned = simulate("{ eu-west-1: [eu-west-1] }");
    let residency = &pinned.residency;
    assert_eq!(residency.restricted_regions, vec!["eu-west-1".to_string()]);
    assert_eq!(residency.violations, 0, "no write outside eu-west-1");
    assert_eq!(residency.stored_outside_at_end, 0, "no record of theirs in us-east-1's stores");
    let eu = &residency.by_home[1];
    assert_eq!(eu.region, "eu-west-1");
    assert_eq!(
        (eu.cold_writes_elsewhere, eu.hot_writes_elsewhere, eu.audit_records_elsewhere),
        (0, 0, 0),
        "nothing of theirs stored abroad: {eu:?}"
    );
    assert!(eu.away_requests > 1_000, "travellers and the outage served them from us-east-1: {eu:?}");
    assert!(eu.away_lookup.count > 100, "and their lookups were answered: {eu:?}");
    // Served abroad, a pinned session is read from eu-west-1: every lookup pays the round trip.
    assert!(eu.away_lookup.p50 >= 70.0, "{:?}", eu.away_lookup);
    // Split by why: travellers, and users detoured by eu-west-1's outage (served cold-only from
    // eu-west-1's table, across the ocean, while it lasts).
    assert_eq!(eu.travel_lookup.count + eu.detour_lookup.count, eu.away_lookup.count);
    assert!(eu.travel_lookup.count > 0 && eu.detour_lookup.count > 0, "{eu:?}");
    assert!(eu.detour_lookup.p50 >= 70.0, "{:?}", eu.detour_lookup);
    let outage = &pinned.failover.events[0];
    assert_eq!(outage.region, "eu-west-1");

    // The summary says the same.
    let summary = pinned.summary();
    assert_eq!(summary.residency.restricted_regions, vec!["eu-west-1".to_string()]);
    assert_eq!(summary.residency.violations, 0);
    assert!(summary.residency.by_home["eu-west-1"].restricted);
    assert_eq!(summary.residency.by_home["eu-west-1"].allowed, vec!["eu-west-1".to_string()]);
}

#[test]
fn without_the_rule_the_exposure_shows_and_pinning_costs_less_in_dynamodb() {
    let free = simulate("{}");
    assert!(free.residency.restricted_regions.is_empty());
    assert_eq!(free.residency.violations, 0);
    let eu = &free.residency.by_home[1];
    assert!(eu.cold_writes_elsewhere > 0 && eu.cold_bytes_elsewhere > 0, "replicated to us-east-1: {eu:?}");
    assert!(eu.audit_records_elsewhere > 0, "the audit table is a global table: {eu:?}");
    assert!(eu.hot_writes_elsewhere > 0, "failover copies and travellers' promotions in us-east-1: {eu:?}");
    let exposure = &free.summary().residency.by_home["eu-west-1"].exposure;
    assert!(exposure.cold_avg_bytes_held_elsewhere > 0.0, "{exposure:?}");

    let pinned = simulate("{ eu-west-1: [eu-west-1] }");
    let replicated_bytes = |r: &RunRecord| r.usage.iter().map(|u| u.replicated_bytes).sum::<u64>();
    assert!(replicated_bytes(&pinned) < replicated_bytes(&free), "eu-west-1's writes are not replicated");
    let (free_cost, _) = hotcold_reports::full_summary(&free);
    let (pinned_cost, _) = hotcold_reports::full_summary(&pinned);
    let (free_usd, pinned_usd) = (&free_cost.cost_usd_month, &pinned_cost.cost_usd_month);
    assert!(
        pinned_usd.dynamodb < free_usd.dynamodb,
        "fewer replicated writes and one copy of eu-west-1's table: {} against {}",
        pinned_usd.dynamodb,
        free_usd.dynamodb
    );
    assert!(pinned_usd.transfer < free_usd.transfer, "{} against {}", pinned_usd.transfer, free_usd.transfer);
    assert!(pinned_usd.audit < free_usd.audit, "{} against {}", pinned_usd.audit, free_usd.audit);
}
