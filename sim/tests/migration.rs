//! A scenario's `migration:` block (ADR-0010 phase 3): the rollout from a Redis-only store, its
//! moves both ways, the bulk import and the weekly cost, on tiny scenarios.

use hotcold_model::migration::Migration;
use hotcold_model::{RunRecord, Scenario};
use hotcold_reports::migration::{combined, migration_rows, price_span};
use hotcold_reports::{full_summary, summary_json};
use hotcold_sim::{RunOptions, run};

/// Two hours, two regions, no faults (a fault loses sessions on purpose).
const TINY: &str = "
name: tiny-migration
seed: 7
duration: 2h
warmup: 20m
session_config:
  hot_storage: { ttl: 20m, promotion_threshold: 5m, regions: [us-east-1, eu-west-1] }
  cold_storage: { ttl: 1h }
  sync: { sync_interval: 1m, cross_region_delay: 2s }
traffic:
  regions:
    us-east-1: { sessions_per_day: 40000, utc_offset: -5 }
    eu-west-1: { sessions_per_day: 20000, utc_offset: 0, peak_to_trough: 1.0 }
  visit:
    requests:   { dist: lognormal, median: 4, p95: 15 }
    think_time: { dist: exponential, mean: 15s }
  returns: { probability: 0.6, gap: { dist: lognormal, median: 8m, p95: 40m } }
  travel_probability: 0.05
";

/// Sixteen days of light traffic with a three-day cold TTL: two whole weeks after the warm-up and
/// a partial third one.
const WEEKS: &str = "
name: weeks-migration
seed: 11
duration: 16d
warmup: 1d
session_config:
  hot_storage: { ttl: 2h, promotion_threshold: 30m, regions: [us-east-1, eu-west-1] }
  cold_storage: { ttl: 3d }
traffic:
  regions:
    us-east-1: { sessions_per_day: 1500, utc_offset: -5 }
    eu-west-1: { sessions_per_day: 1000, utc_offset: 0 }
  returns: { probability: 0.5, gap: { dist: lognormal, median: 2h, p95: 2d } }
";

fn scenario(base: &str, migration: &str) -> Scenario {
    Scenario::parse(&format!("{base}{migration}"), "migration-test.yaml").unwrap()
}

fn simulate(scenario: &Scenario, shards: usize) -> RunRecord {
    run(scenario, &RunOptions { shards: Some(shards), ..RunOptions::default() }).unwrap()
}

/// `summary.json` as a JSON value, without its wall-clock `run` object.
fn summary(record: &RunRecord) -> serde_json::Value {
    let (full, _) = full_summary(record);
    let mut value: serde_json::Value = serde_json::from_str(&summary_json(&full).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("run");
    value
}

#[test]
fn an_empty_block_is_no_block() {
    let plain = scenario(TINY, "");
    assert_eq!(scenario(TINY, "migration: {}\n"), plain);
    assert_eq!(scenario(TINY, "migration: { rollout: [] }\n"), plain);
    assert!(!plain.to_yaml().contains("\nmigration:"), "the resolved scenario is as before");
    let record = simulate(&plain, 1);
    assert!(record.migration.is_none());
    assert!(summary(&record).get("migration").is_none(), "no migration object without a block");
}

/// At 100 % from the start every session is hybrid: the run is the plain run in every figure
/// (no random draw depends on the block), and each week costs what the end state costs.
#[test]
fn a_rollout_at_100_percent_from_the_start_is_the_plain_hybrid_run() {
    let plain = simulate(&scenario(TINY, ""), 2);
    let full = simulate(&scenario(TINY, "migration: { rollout: [ { at: 0s, percent: 100 } ] }\n"), 2);
    let mut with = summary(&full);
    let migration = with.as_object_mut().unwrap().remove("migration").expect("a migration object");
    let mut without = summary(&plain);
    // The scenario name is the same; nothing else may differ.
    without.as_object_mut().unwrap().remove("migration");
    assert_eq!(with, without);
    assert_eq!(migration["migrated"], 0);
    assert_eq!(migration["legacy_requests"], 0);
    assert_eq!(migration["legacy_created"], 0);
    let weeks = migration["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 1, "100 minutes after warm-up: one partial week");
    for week in weeks {
        assert_eq!(week["cost_usd"]["legacy_redis"], 0.0);
        assert_eq!(week["cost_usd"]["hybrid"], week["hybrid_end_state_usd"], "{week}");
        assert!(week["hybrid_end_state_usd"].as_f64().unwrap() > 0.0);
        assert_eq!(week["percent_avg"], 100.0);
    }
}

/// At 0 % the legacy store serves every request: the engine holds nothing, DynamoDB is never
/// called, and the legacy Redis costs exactly what the Redis-only baseline does.
#[test]
fn at_0_percent_the_legacy_store_is_the_redis_only_store() {
    let record = simulate(&scenario(TINY, "migration: { rollout: [ { at: 0s, percent: 0 } ] }\n"), 1);
    let m = record.migration.as_ref().unwrap();
    assert_eq!(record.usage.iter().map(|u| u.wru + u.rru).sum::<u64>(), 0, "no DynamoDB usage");
    assert_eq!(record.counts.created, 0, "the engine created nothing");
    assert_eq!(m.legacy_requests, record.counts.requests, "the legacy store served every request");
    assert!(m.legacy_created > 0);
    assert_eq!(record.counts.lost, 0);
    for week in &m.weeks {
        for region in &week.regions {
            assert_eq!(region.legacy_peak_bytes, region.baseline_peak_bytes, "the same bytes, the same rule");
        }
    }
    let s = summary(&record);
    for week in s["migration"]["weeks"].as_array().unwrap() {
        assert_eq!(week["cost_usd"]["legacy_redis"], week["redis_only_usd"], "{week}");
        assert!(week["redis_only_usd"].as_f64().unwrap() > 0.0);
    }
}

/// Up, down and up again: every session moves on its next access, none is lost, and the moves
/// are counted once each, in the time series as in the totals.
#[test]
fn no_session_is_lost_through_a_rollout_and_a_rollback() {
    let block = "migration:
  rollout: [ { at: 0s, percent: 10 }, { at: 30m, percent: 50 }, { at: 60m, percent: 100 }, { at: 80m, percent: 30 }, { at: 100m, percent: 100 } ]
";
    for shards in [1, 2] {
        let record = simulate(&scenario(TINY, block), shards);
        let m = record.migration.as_ref().unwrap();
        assert_eq!(record.counts.lost, 0, "{shards} shards: a session the user still held was lost");
        assert_eq!(record.counts.failed_requests, 0, "{shards} shards");
        assert_eq!(m.failed_moves, 0, "{shards} shards");
        assert!(m.migrated > 100, "{shards} shards: {} imported on access", m.migrated);
        assert!(m.rolled_back > 10, "{shards} shards: {} handed back", m.rolled_back);
        assert!(m.legacy_created > 0 && m.legacy_requests > m.legacy_created);
        assert_eq!(m.buckets.len(), record.timeseries.len(), "one migration row per time-series row");
        assert_eq!(m.buckets.iter().map(|b| b.migrated).sum::<u64>(), m.migrated);
        assert_eq!(m.buckets.iter().map(|b| b.rolled_back).sum::<u64>(), m.rolled_back);
        assert_eq!(m.buckets.iter().map(|b| b.legacy_requests).sum::<u64>(), m.legacy_requests);
        // The engine audited each move once.
        assert_eq!(summary(&record)["migration"]["migrated"], m.migrated);
        assert!(m.migrate_latency.count == m.migrated && m.rollback_latency.count == m.rolled_back);
        assert!(m.migrate_latency.p50 > m.legacy_latency.p50, "an import writes DynamoDB");
    }
}

/// The bulk import moves every legacy session on the hybrid side at its rate, idle ones into the
/// cold tier only, and leaves the legacy store empty at 100 %.
#[test]
fn the_bulk_import_empties_the_legacy_store_at_its_rate() {
    let block = "migration:
  rollout: [ { at: 0s, percent: 0 }, { at: 60m, percent: 100 } ]
  bulk_import: { at: 60m, rate: 0.5 }
";
    let record = simulate(&scenario(TINY, block), 1);
    let m = record.migration.as_ref().unwrap();
    assert_eq!(record.counts.lost, 0);
    assert!(m.bulk_imported > 50, "{} imported in bulk", m.bulk_imported);
    assert!(m.bulk_imported_cold > 0 && m.bulk_imported_cold < m.bulk_imported, "idle ones cold only");
    assert_eq!(m.buckets.iter().map(|b| b.bulk_imported).sum::<u64>(), m.bulk_imported);
    let done = m.bulk_import_done_s.expect("the bulk import finished within the run");
    // 0.5 sessions a second: 30 a minute, at most one minute's worth ahead.
    let took = done - 3600.0;
    assert!(took + 120.0 >= m.bulk_imported as f64 / 0.5, "{} sessions in {took} s", m.bulk_imported);
    // Nothing is left on the legacy side: every session the legacy store created or took back
    // was imported (on access or in bulk), logged out or expired.
    let last: Vec<_> = m.buckets.iter().rev().take(record.regions.len()).collect();
    assert!(last.iter().all(|b| b.legacy_bytes == 0), "{last:?}");
    assert!(m.migrated + m.bulk_imported <= m.legacy_created + m.rolled_back);
    let s = summary(&record);
    assert_eq!(s["migration"]["bulk_imported"], m.bulk_imported);
    assert!((s["migration"]["bulk_import_seconds"].as_f64().unwrap() - took).abs() < 1e-6);
}

/// The weeks' bills add up to the bill of the whole span priced at once (the clusters need the
/// same nodes every week at this traffic), and `migration.csv`'s rollout rows to each week's total.
#[test]
fn weekly_costs_add_up_to_the_span() {
    let block = "migration:
  rollout: [ { at: 1d, percent: 10 }, { at: 4d, percent: 50 }, { at: 8d, percent: 100 } ]
  bulk_import: { at: 8d, rate: 2000 }
";
    let record = simulate(&scenario(WEEKS, block), 1);
    let m = record.migration.as_ref().unwrap();
    assert_eq!(m.weeks.len(), 3);
    assert_eq!(m.end_state_weeks.len(), 3);
    let hours: Vec<f64> = m.weeks.iter().map(|w| w.hours()).collect();
    assert_eq!(hours, vec![168.0, 168.0, 24.0], "two whole weeks and the last day pro rata");
    let s = summary(&record);
    let weeks = s["migration"]["weeks"].as_array().unwrap();
    let sum = |key: &dyn Fn(&serde_json::Value) -> f64| weeks.iter().map(key).sum::<f64>();
    let span = price_span(&record, &combined(&m.weeks));
    // The legacy store is gone once it holds nothing for a whole week: priced over the weeks it
    // held something.
    let with_legacy: Vec<_> =
        m.weeks.iter().filter(|w| w.regions.iter().any(|r| r.legacy_peak_bytes > 0)).cloned().collect();
    let legacy_span = price_span(&record, &combined(&with_legacy));
    let cents = |x: f64| (x * 100.0).round();
    let hybrid = sum(&|w| w["cost_usd"]["hybrid"].as_f64().unwrap());
    let legacy = sum(&|w| w["cost_usd"]["legacy_redis"].as_f64().unwrap());
    // Rounding: one cent per component, region and week at most.
    let tolerance = 0.01 * 6.0 * 2.0 * 3.0 + 1e-9;
    assert!((hybrid - span.hybrid_total()).abs() <= tolerance, "weeks {hybrid} vs span {}", span.hybrid_total());
    assert!(
        (legacy - legacy_span.legacy_total()).abs() <= 0.01 * 2.0 * 3.0 + 1e-9,
        "{legacy} vs {}",
        legacy_span.legacy_total()
    );
    let only = sum(&|w| w["redis_only_usd"].as_f64().unwrap());
    assert!((only - span.redis_only_total()).abs() <= 0.07, "{only} vs {}", span.redis_only_total());
    assert_eq!(cents(s["migration"]["total"]["cost_usd"]["hybrid"].as_f64().unwrap()), cents(hybrid));
    // The rollout's rows of migration.csv add up to each week's total.
    let rows = migration_rows(&record);
    for week in weeks {
        let n = week["week"].as_u64().unwrap() as u32;
        let rollout: f64 = rows.iter().filter(|r| r.week == n && r.design == "rollout").map(|r| r.usd).sum::<f64>();
        assert_eq!(cents(rollout), cents(week["cost_usd"]["total"].as_f64().unwrap()), "week {n}");
        let end: f64 = rows.iter().filter(|r| r.week == n && r.design == "hybrid_end_state").map(|r| r.usd).sum();
        assert_eq!(cents(end), cents(week["hybrid_end_state_usd"].as_f64().unwrap()), "week {n}");
    }
    // Week 1 (10 % then 50 %) leans on the legacy store; by week 3 the bulk import has emptied it.
    assert!(weeks[0]["cost_usd"]["legacy_redis"].as_f64().unwrap() > 0.0);
    assert_eq!(weeks[2]["cost_usd"]["legacy_redis"].as_f64().unwrap(), 0.0, "{}", weeks[2]);
    assert!(weeks[0]["cost_usd"]["hybrid"].as_f64().unwrap() < weeks[0]["hybrid_end_state_usd"].as_f64().unwrap());
}

/// Shards on threads merge to one record deterministically; the counts of a rollout add up over
/// shards as every other count does.
#[test]
fn a_migration_run_is_deterministic_for_a_shard_count() {
    let block = "migration:
  rollout: [ { at: 0s, percent: 20 }, { at: 40m, percent: 100 } ]
  bulk_import: { at: 40m, rate: 1 }
";
    let s = scenario(TINY, block);
    assert_eq!(summary(&simulate(&s, 2)), summary(&simulate(&s, 2)));
    assert_eq!(summary(&simulate(&s, 3)), summary(&simulate(&s, 3)));
}

#[test]
fn the_schedule_is_checked() {
    let bad = |block: &str| Scenario::parse(&format!("{TINY}{block}"), "bad.yaml").unwrap_err();
    let e = bad("migration: { rollout: [ { at: 0s, percent: 10 }, { at: 0s, percent: 50 } ] }\n");
    assert_eq!(e.path.as_deref(), Some("migration.rollout[1].at"), "{e}");
    let e = bad("migration: { rollout: [ { at: 0s, percent: 150 } ] }\n");
    assert_eq!(e.path.as_deref(), Some("migration.rollout[0].percent"), "{e}");
    let e = bad("migration: { rollout: [ { at: 3h, percent: 50 } ] }\n");
    assert_eq!(e.path.as_deref(), Some("migration.rollout[0].at"), "{e}");
    let e = bad("migration: { rollout: [ { at: 0s, percent: 50 } ], bulk_import: { at: 1h, rate: -1 } }\n");
    assert_eq!(e.path.as_deref(), Some("migration.bulk_import.rate"), "{e}");
    let e = bad("migration: { rollout: [ { at: 0s, percent: 50 } ], bulk_import: { at: 1h, rate: 5, speed: 2 } }\n");
    assert!(e.to_string().contains("speed"), "unknown keys are errors: {e}");
    let ok = scenario(TINY, "migration: { rollout: [ { at: 10m, percent: 50 } ] }\n");
    let block: &Migration = ok.migration.as_ref().unwrap();
    assert_eq!(block.percent_at(std::time::Duration::ZERO), 0.0, "0 % before the first step");
}

/// `--shard K/N` processes merged by `hotcold merge` give the summary of `--shards N` in one
/// process, the migration's weeks and end state included.
#[test]
fn shard_processes_merge_to_the_run_of_one_process() {
    let block = "migration:
  rollout: [ { at: 0s, percent: 30 }, { at: 50m, percent: 100 }, { at: 90m, percent: 60 } ]
  bulk_import: { at: 50m, rate: 1 }
";
    let s = scenario(TINY, block);
    let in_process = simulate(&s, 3);
    let base = std::env::temp_dir().join(format!("hotcold-migration-shards-{}", std::process::id()));
    let dirs: Vec<_> = (0..3).map(|k| base.join(format!("shard-{k}"))).collect();
    for (k, dir) in dirs.iter().enumerate() {
        let shard = hotcold_sim::shard::run_one_shard(&s, &RunOptions::default(), k, 3).unwrap();
        shard.write(dir).unwrap();
    }
    let merged = hotcold_sim::shard::merge_shard_dirs(&dirs).unwrap();
    let _ = std::fs::remove_dir_all(&base);
    let m = merged.migration.as_ref().unwrap();
    assert_eq!(m.end_state_weeks.len(), 1, "the end state came through the shard files");
    assert_eq!(merged.counts.lost, 0, "up, bulk import, down: no session lost");
    assert!(m.rolled_back > 0 && m.bulk_imported > 0);
    assert_eq!(summary(&merged), summary(&in_process));
}

/// Down and up again with a bulk import: sessions the engine had (at versions past 1) go back to
/// the legacy store on access, then into the engine in bulk while their users are away, where
/// the engine numbers their versions afresh; their users' next requests find them, none lost.
#[test]
fn a_session_handed_back_then_imported_in_bulk_is_not_lost() {
    let block = "migration:
  rollout: [ { at: 0s, percent: 100 }, { at: 30m, percent: 10 }, { at: 60m, percent: 100 } ]
  bulk_import: { at: 60m, rate: 100 }
";
    let record = simulate(&scenario(TINY, block), 1);
    let m = record.migration.as_ref().unwrap();
    assert!(m.rolled_back > 100 && m.bulk_imported > 100, "{} back, {} in bulk", m.rolled_back, m.bulk_imported);
    assert_eq!(record.counts.lost, 0);
}
