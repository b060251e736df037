//! End-to-end tests of the `hotcold` binary: `validate` and `simulate` on good and bad scenarios,
//! `--set KEY=VALUE` on `validate`, `simulate` and `sweep`, and inputs whose arithmetic would
//! overflow (a `load` speedup, a sweep grid, durations past any timestamp), refused as bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{assert_bad_input, hotcold};

fn scratch_dir(label: &str) -> PathBuf {
    common::scratch_dir("cli", label)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const GOOD: &str = "name: t
duration: 2h
warmup: 10m
session_config:
  hot_storage: { ttl: 20m, promotion_threshold: 5m, regions: [us-east-1, eu-west-1] }
traffic:
  regions:
    us-east-1: { sessions_per_day: 1000 }
";

/// Each malformed scenario, and a fragment the error message must contain to name the place.
fn malformed() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("typo-top-level", GOOD.replace("duration: 2h", "durration: 2h"), ":2:1"),
        ("typo-nested", format!("{GOOD}  visit:\n    think: 5s\n"), "traffic.visit"),
        ("missing-name", GOOD.replace("name: t\n", ""), "missing field `name`"),
        ("missing-traffic", "name: t\n".to_string(), "missing field `traffic`"),
        ("bad-duration-unit", GOOD.replace("duration: 2h", "duration: 2x"), "duration"),
        ("sample-zero", format!("{GOOD}sample: 0\n"), "sample"),
        ("sample-too-big", format!("{GOOD}sample: 1.5\n"), "sample"),
        (
            "unconfigured-traffic-region",
            GOOD.replace("us-east-1: { sessions_per_day: 1000 }", "mars-1: { sessions_per_day: 1000 }"),
            "traffic.regions.mars-1",
        ),
        (
            "negative-sessions",
            GOOD.replace("sessions_per_day: 1000", "sessions_per_day: -3"),
            "traffic.regions.us-east-1.sessions_per_day",
        ),
        (
            "fault-region",
            format!("{GOOD}faults:\n  - {{ at: 1h, kind: region_outage, region: ap-southeast-1, duration: 5m }}\n"),
            "faults[0].region",
        ),
        (
            "fault-after-end",
            format!("{GOOD}faults:\n  - {{ at: 3h, kind: sync_outage, region: us-east-1, duration: 5m }}\n"),
            "faults[0].at",
        ),
        (
            "fault-kind",
            format!("{GOOD}faults:\n  - {{ at: 1h, kind: meteor, region: us-east-1, duration: 5m }}\n"),
            "faults[0]",
        ),
        ("rtt-not-a-pair", format!("{GOOD}latency:\n  rtt_ms: {{ us-east-1: 70 }}\n"), "latency.rtt_ms.us-east-1"),
        (
            "unknown-distribution",
            format!("{GOOD}  visit:\n    think_time: {{ dist: gamma, median: 5s }}\n"),
            "traffic.visit.think_time",
        ),
        (
            "lognormal-without-tail",
            format!("{GOOD}  visit:\n    think_time: {{ dist: lognormal, median: 5s }}\n"),
            "traffic.visit.think_time",
        ),
        (
            "bad-byte-unit",
            format!("{GOOD}  visit:\n    payload_bytes: {{ dist: constant, value: 3 parsecs }}\n"),
            "traffic.visit.payload_bytes",
        ),
        (
            "threshold-over-ttl",
            GOOD.replace("promotion_threshold: 5m", "promotion_threshold: 1h"),
            "session_config.hot_storage.promotion_threshold",
        ),
        ("yaml-syntax", GOOD.replace("regions: [us-east-1, eu-west-1] }", "regions: [us-east-1, eu-west-1 }"), ":5:"),
        ("wrong-type", format!("{GOOD}seed: abc\n"), "seed"),
        ("empty-file", String::new(), "t.yaml"),
        (
            "sweep-unknown-key",
            format!("{GOOD}sweep:\n  session_config.hot_storage.nope: [1]\n"),
            "sweep.session_config.hot_storage.nope",
        ),
        ("sweep-bad-value", format!("{GOOD}sweep:\n  engine.durability: [sometimes]\n"), "sweep.engine.durability[0]"),
        ("cost-fraction", format!("{GOOD}costs:\n  redis:\n    headroom: 1.5\n"), "costs.redis.headroom"),
        ("probability", format!("{GOOD}  travel_probability: 2\n"), "traffic.travel_probability"),
        // Durations so long that a timestamp a session carries (last access + TTL) would overflow.
        (
            "cold-ttl-huge",
            with_session_config(GOOD, "  cold_storage: { ttl: 3e11 }\n"),
            "session_config.cold_storage.ttl",
        ),
        (
            "retention-huge",
            with_session_config(GOOD, "  cold_storage: { analytics_retention: 40000d }\n"),
            "session_config.cold_storage.analytics_retention",
        ),
        ("engine-window-huge", format!("{GOOD}engine: {{ active_window: 3e11 }}\n"), "engine.active_window"),
        (
            "fault-duration-huge",
            format!("{GOOD}faults:\n  - {{ at: 1h, kind: sync_outage, region: us-east-1, duration: 3e11 }}\n"),
            // An internally tagged enum: serde knows the item, not the key inside it (the line says).
            "faults[0]",
        ),
        ("residency-unknown-region", format!("{GOOD}residency: {{ eu-west-1: [mars-1] }}\n"), "residency.eu-west-1[0]"),
        ("residency-empty", format!("{GOOD}residency: {{ eu-west-1: [] }}\n"), "residency.eu-west-1"),
        ("residency-without-home", format!("{GOOD}residency: {{ eu-west-1: [us-east-1] }}\n"), "must include"),
        ("residency-not-a-list", format!("{GOOD}residency: {{ eu-west-1: eu-west-1 }}\n"), "residency"),
        (
            "think-time-huge",
            format!("{GOOD}  visit:\n    think_time: {{ dist: constant, value: 3e11 }}\n"),
            "traffic.visit.think_time",
        ),
    ]
}

/// `scenario` with `lines` added to its `session_config:` block.
fn with_session_config(scenario: &str, lines: &str) -> String {
    scenario.replace("session_config:\n", &format!("session_config:\n{lines}"))
}

#[test]
fn malformed_scenarios_exit_2_naming_the_place() {
    let dir = scratch_dir("bad");
    let cases = malformed();
    assert_eq!(cases.len(), 33);
    // Each case has a directory of its own: no label may be used twice.
    let mut labels: Vec<&str> = cases.iter().map(|(label, _, _)| *label).collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), cases.len(), "duplicate labels");
    for (label, text, place) in cases {
        let path = dir.join(label).join("t.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        for command in ["validate", "simulate"] {
            let output = hotcold().arg(command).arg(&path).output().unwrap();
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{label} ({command}): {err}");
            assert!(err.contains(place), "{label} ({command}): {err:?} does not name {place:?}");
            assert!(err.contains("t.yaml"), "{label} ({command}): {err:?} does not name the file");
            assert!(!err.contains("panicked"), "{label} ({command}): {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{label} ({command}): one line expected: {err}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [vec!["frobnicate"], vec!["simulate"], vec!["simulate", "scenarios/tiny.yaml", "--bogus"]] {
        let output = hotcold().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    }
    let output = hotcold().args(["validate", "no/such/file.yaml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no/such/file.yaml"));
    let output = hotcold().args(["simulate", "scenarios/tiny.yaml", "--sample", "0", "--quiet"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--sample"));
    for shards in ["0", "65"] {
        let output =
            hotcold().args(["simulate", "scenarios/tiny.yaml", "--shards", shards, "--quiet"]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "--shards {shards}");
        assert!(stderr(&output).contains("--shards"), "{}", stderr(&output));
    }
}

#[test]
fn every_shipped_scenario_validates_and_round_trips() {
    for name in ["tiny", "shopflow-baseline", "shopflow-failover", "threshold-sweep"] {
        let output = hotcold().args(["validate", &format!("scenarios/{name}.yaml")]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        let resolved = String::from_utf8(output.stdout).unwrap();
        assert!(resolved.contains(&format!("name: {name}")));
        assert!(resolved.contains("bytes_overhead_per_session: 200"), "defaults are filled");
        // The resolved file is itself a valid scenario that resolves to the same text.
        let dir = scratch_dir("resolved");
        let path = dir.join("resolved.yaml");
        std::fs::write(&path, &resolved).unwrap();
        let again = hotcold().arg("validate").arg(&path).output().unwrap();
        assert_eq!(again.status.code(), Some(0), "{name}: {}", stderr(&again));
        assert_eq!(String::from_utf8(again.stdout).unwrap(), resolved, "{name}");
    }
}

fn simulate(out: &Path, extra: &[&str]) -> serde_json::Value {
    let output =
        hotcold().args(["simulate", "scenarios/tiny.yaml", "--quiet", "--out"]).arg(out).args(extra).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("hot access"), "{stdout}");
    assert!(stdout.lines().count() <= 25, "one screen: {stdout}");
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn simulate_tiny_writes_the_run_directory() {
    let dir = scratch_dir("tiny");
    let summary = simulate(&dir, &[]);
    for file in ["summary.json", "scenario.resolved.yaml", "run.json"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let resolved = std::fs::read_to_string(dir.join("scenario.resolved.yaml")).unwrap();
    assert!(resolved.contains("name: tiny") && resolved.contains("seed: 7"));

    assert_eq!(summary["scenario"], "tiny");
    assert_eq!(summary["seed"], 7);
    assert_eq!(summary["simulated_seconds"], 7200.0);
    let requests = summary["requests"].as_u64().unwrap();
    let s = &summary["sessions"];
    let n = |key: &str| s[key].as_u64().unwrap_or_else(|| panic!("sessions.{key} missing"));
    assert!(requests > 10_000, "{requests}");
    // Every request is a create, a hot hit, a promotion, an invalid lookup or a failure.
    assert!(n("created") + n("hot_hits") + n("cold_promotions") + n("invalid_lookups") >= requests - requests / 100);
    assert!(n("hot_hits") > n("cold_promotions") && n("cold_promotions") > 0 && n("demoted") > 0);
    assert!(n("logged_out") > 0 && n("lost") > 0, "tiny has an outage, so some sessions are lost");
    let hc = &summary["hot_cold"];
    let ratio = hc["hot_ratio_avg"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0);
    assert!(hc["hot_peak"].as_f64().unwrap() >= hc["hot_avg"].as_f64().unwrap());
    let lat = &summary["latency_ms"];
    for class in ["hot_access", "cold_promotion", "create"] {
        let p = &lat[class];
        let (p50, p95, p99, max) = (
            p["p50"].as_f64().unwrap(),
            p["p95"].as_f64().unwrap(),
            p["p99"].as_f64().unwrap(),
            p["max"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{class}: {p}");
    }
    assert!(lat["cold_promotion"]["p50"].as_f64() > lat["hot_access"]["p50"].as_f64());
    for region in ["us-east-1", "eu-west-1"] {
        assert!(summary["redis"]["peak_bytes"][region].as_u64().unwrap() > 0);
        assert!(lat["by_region"][region]["hot_access"]["p95"].as_f64().unwrap() > 0.0);
    }
    let d = &summary["dynamodb"];
    assert!(d["wru"].as_u64().unwrap() > 0 && d["rru"].as_u64().unwrap() > 0);
    assert!(d["replicated_wru"].as_u64().unwrap() > 0 && d["avg_stored_bytes"].as_f64().unwrap() > 0.0);
    let f = &summary["failover"];
    assert_eq!(f["outages"], 1);
    let (at_risk, lost) = (f["sessions_at_risk"].as_u64().unwrap(), f["sessions_lost"].as_u64().unwrap());
    assert!(at_risk > 0 && lost <= at_risk);
    assert!((f["loss_ratio"].as_f64().unwrap() - lost as f64 / at_risk as f64).abs() < 1e-6);
    let outage = &f["events"][0];
    assert_eq!((outage["region"].as_str(), outage["failover_to"].as_str()), (Some("us-east-1"), Some("eu-west-1")));
    assert_eq!((outage["sessions_at_risk"].as_u64(), outage["sessions_lost"].as_u64()), (Some(at_risk), Some(lost)));
    assert!(outage["detoured_requests"].as_u64().unwrap() > 0, "{outage}");
    assert!(outage["moved_home"].as_u64().unwrap() > 0, "{outage}");
    assert!(outage["detour_ms"].as_f64().is_some() && outage.get("slo_recovery_minutes").is_some(), "{outage}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for words in ["detoured requests", "moved home after", "p95 back under SLO after", "do not include the detour"] {
        assert!(html.contains(words), "the report's failover section lacks {words:?}");
    }
    let availability = summary["availability"].as_f64().unwrap();
    assert!(availability > 0.9 && availability < 1.0, "throttling fails some requests: {availability}");
    assert!(summary["run"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    // The reports crate completes it (cost, baseline and SLO fields; tested in tests/reports.rs).
    assert!(summary.get("cost_usd_month").is_some() && summary.get("slo").is_some());

    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    let rows = run["timeseries"].as_array().unwrap();
    assert_eq!(rows.len(), 120 * 2, "one row per minute and region");
    let total: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(total, requests);
}

#[test]
fn same_seed_same_summary_other_seed_different() {
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("run");
        serde_json::to_string(&v).unwrap()
    };
    let a = scratch_dir("det-a");
    let b = scratch_dir("det-b");
    let c = scratch_dir("det-c");
    let first = simulate(&a, &[]);
    let second = simulate(&b, &[]);
    assert_eq!(strip(first.clone()), strip(second));
    // Byte for byte, apart from the "run" object.
    let text = |dir: &Path| {
        let raw = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        raw[..raw.find("\"run\"").unwrap()].to_string()
    };
    assert_eq!(text(&a), text(&b));
    let other = simulate(&c, &["--seed", "8"]);
    assert_eq!(other["seed"], 8);
    assert_ne!(strip(first), strip(other));
}

#[test]
fn sample_scales_counts_back() {
    let dir = scratch_dir("sample");
    let full = simulate(&scratch_dir("sample-full"), &[]);
    let half = simulate(&dir, &["--sample", "0.5"]);
    assert_eq!(half["sample"], 0.5);
    let (f, h) = (full["requests"].as_f64().unwrap(), half["requests"].as_f64().unwrap());
    assert!((h - f).abs() / f < 0.1, "scaled requests {h} vs {f}");
}

// ---------------------------------------------------------------------------------------------
// --set KEY=VALUE

#[test]
fn set_overrides_show_in_validate_and_in_the_resolved_scenario() {
    let sets = [
        "--set",
        "session_config.hot_storage.promotion_threshold=4m",
        "--set",
        "costs.redis.node_type=cache.m7g.large",
        "--set",
        "session_config.hot_storage.regions=[eu-west-1, us-east-1]",
    ];
    let output = hotcold().args(["validate", "scenarios/tiny.yaml"]).args(sets).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let resolved = String::from_utf8(output.stdout).unwrap();
    for line in ["promotion_threshold: 240", "node_type: cache.m7g.large", "- eu-west-1\n    - us-east-1"] {
        assert!(resolved.contains(line), "validate does not show {line:?}:\n{resolved}");
    }
    let dir = scratch_dir("set-resolved");
    simulate(&dir, &sets);
    let written = std::fs::read_to_string(dir.join("scenario.resolved.yaml")).unwrap();
    assert_eq!(written, resolved, "the run's resolved scenario is what validate printed");
}

#[test]
fn a_numeric_set_changes_the_result() {
    let plain = simulate(&scratch_dir("set-plain"), &[]);
    let shorter =
        simulate(&scratch_dir("set-shorter"), &["--set", "session_config.hot_storage.promotion_threshold=90"]);
    let promotions = |s: &serde_json::Value| s["sessions"]["cold_promotions"].as_u64().unwrap();
    let per_1k = |s: &serde_json::Value| s["promotions_per_1k_requests"].as_f64().unwrap();
    // Demoted after 90 s idle instead of 5 min: more lookups find their session cold.
    assert!(promotions(&shorter) > promotions(&plain), "{} vs {}", promotions(&shorter), promotions(&plain));
    assert!(per_1k(&shorter) > per_1k(&plain));
    assert_eq!(shorter["requests"], plain["requests"], "the same traffic");
}

#[test]
fn bad_sets_exit_2_naming_the_key_and_value() {
    let out = scratch_dir("set-bad");
    let cases: [(&str, &[&str]); 4] = [
        ("session_config.hot_storage.no_such_key=3", &["session_config.hot_storage.no_such_key"]),
        ("no.such.section=1", &["no.such.section"]),
        ("session_config.hot_storage.promotion_threshold=soon", &["promotion_threshold", "soon"]),
        ("costs.redis.headroom=1.5", &["costs.redis.headroom", "1.5"]),
    ];
    for (set, fragments) in cases {
        for command in ["validate", "simulate", "sweep"] {
            let output = hotcold()
                .args([command, "scenarios/tiny.yaml", "--set", set])
                .args(if command == "validate" { vec![] } else { vec!["--out".into(), out.join(command)] })
                .output()
                .unwrap();
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{command} --set {set}: {err}");
            for fragment in fragments {
                assert!(err.contains(fragment), "{command} --set {set}: {err:?} does not name {fragment:?}");
            }
            assert!(err.contains("scenarios/tiny.yaml") && !err.contains("panicked"), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        }
    }
    assert!(!out.join("simulate").join("summary.json").exists(), "nothing is run");
    // Without `=`, or with nothing usable on either side: a usage error.
    for set in ["session_config.hot_storage.promotion_threshold", "=5", "costs..redis=1", "seed=", "seed=[1,"] {
        for command in ["validate", "simulate", "sweep"] {
            let output = hotcold().args([command, "scenarios/tiny.yaml", "--set", set]).output().unwrap();
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{command} --set {set}: {err}");
            assert!(err.contains("--set") && !err.contains("panicked"), "{command} --set {set}: {err}");
        }
    }
}

#[test]
fn sweep_with_set_keeps_the_grid() {
    let dir = scratch_dir("set-sweep");
    let tiny = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.yaml")).unwrap();
    let scenario = dir.join("grid.yaml");
    std::fs::write(
        &scenario,
        format!("{tiny}\nsweep:\n  session_config.hot_storage.promotion_threshold: [120, 600]\n"),
    )
    .unwrap();
    let out = dir.join("out");
    let output = hotcold()
        .arg("sweep")
        .arg(&scenario)
        .args(["--set", "traffic.travel_probability=0.02", "--set", "costs.redis.node_type=cache.m7g.large"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 points"));
    let mut thresholds = Vec::new();
    for entry in std::fs::read_dir(&out).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let resolved = std::fs::read_to_string(entry.path().join("scenario.resolved.yaml")).unwrap();
        assert!(resolved.contains("travel_probability: 0.02"), "{resolved}");
        assert!(resolved.contains("node_type: cache.m7g.large"));
        let threshold = resolved.lines().find(|l| l.trim_start().starts_with("promotion_threshold:")).unwrap();
        thresholds.push(threshold.trim().to_string());
    }
    thresholds.sort();
    assert_eq!(thresholds, ["promotion_threshold: 120", "promotion_threshold: 600"]);
    // A setting that makes a grid point invalid (a TTL shorter than a swept threshold) is bad input.
    let output = hotcold()
        .arg("sweep")
        .arg(&scenario)
        .args(["--set", "session_config.hot_storage.ttl=8m", "--out"])
        .arg(dir.join("out-bad"))
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("sweep.session_config.hot_storage.promotion_threshold[1]"), "{err}");
    assert!(err.contains("--set session_config.hot_storage.ttl=8m"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Inputs whose arithmetic would overflow: bad input, not a panic

/// A `hotcold serve` config for the three regions of `scenarios/load-smoke.yaml` whose backends
/// do not exist: a command that got as far as connecting would fail with exit 1, not 2.
const UNREACHABLE_CONFIG: &str = "region: us-east-1
session_config:
  hot_storage: { regions: [us-east-1, eu-west-1, ap-southeast-1] }
redis:
  us-east-1: { url: redis://127.0.0.1:1 }
  eu-west-1: { url: redis://127.0.0.1:1 }
  ap-southeast-1: { url: redis://127.0.0.1:1 }
dynamodb: { endpoint: http://127.0.0.1:1 }
";

#[test]
fn load_refuses_a_speedup_that_is_not_positive_or_stretches_time_past_timestamps() {
    let dir = scratch_dir("speedup");
    let config = dir.join("serve.yaml");
    std::fs::write(&config, UNREACHABLE_CONFIG).unwrap();
    let out = dir.join("out");
    // load-smoke keeps the default analytics retention of a year: 100 years at most is 0.01.
    let stretched: &[&str] = &["session_config.cold_storage.analytics_retention", "100 years", "at least 0.01"];
    let cases: [(&str, &[&str]); 8] = [
        ("1e-300", &["--speedup 1e-300", "use a speedup of at least 0.01"]),
        ("1e-9", stretched),
        ("0.005", stretched),
        ("0", &["--speedup", "positive", "0"]),
        ("-1", &["--speedup", "positive", "-1"]),
        ("nan", &["--speedup", "positive", "NaN"]),
        ("inf", &["--speedup", "positive", "inf"]),
        ("1e300", &["--speedup 1e300", "lower --speedup"]),
    ];
    for (speedup, fragments) in cases {
        let output = hotcold()
            .args(["load", "scenarios/load-smoke.yaml", "--config"])
            .arg(&config)
            .arg(format!("--speedup={speedup}"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_bad_input(&output, &format!("--speedup {speedup}"), fragments);
    }
    assert!(!out.exists(), "nothing is run");
}

/// `tiny.yaml` with a `sweep:` grid of `keys` axes of 20 values each.
fn tiny_with_grid(keys: &[&str]) -> String {
    let tiny = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.yaml")).unwrap();
    let values: Vec<String> = (1..=20).map(|v| v.to_string()).collect();
    let axes: String = keys.iter().map(|key| format!("  {key}: [{}]\n", values.join(", "))).collect();
    format!("{tiny}\nsweep:\n{axes}")
}

/// Sweepable keys that take any small positive number.
const NUMERIC_KEYS: [&str; 16] = [
    "seed",
    "costs.redis.node_usd_per_hour",
    "costs.redis.node_memory_gib",
    "costs.redis.bytes_overhead_per_session",
    "costs.redis.replicas_per_shard",
    "costs.dynamodb.wru_usd_per_million",
    "costs.dynamodb.rru_usd_per_million",
    "costs.dynamodb.storage_usd_per_gb_month",
    "costs.dynamodb.item_overhead_bytes",
    "costs.dynamodb.audit_item_bytes",
    "costs.sync.usd_per_million_invocations",
    "costs.sync.usd_per_gb_second",
    "costs.sync.memory_gb",
    "costs.redis.serverless.min_gb",
    "slo.hot_access_p95_ms",
    "slo.cold_promotion_p95_ms",
];

#[test]
fn a_sweep_grid_too_large_is_refused_before_it_is_built() {
    let dir = scratch_dir("sweep-huge");
    // 20^8 = 25,600,000,000 points; 20^16 does not even fit in 64 bits. Built, either grid would
    // exhaust memory long before the run started.
    for (label, axes) in [("large", 8), ("overflowing", 16)] {
        let keys = &NUMERIC_KEYS[..axes];
        let scenario = dir.join(format!("{label}.yaml"));
        std::fs::write(&scenario, tiny_with_grid(keys)).unwrap();
        let out = dir.join(format!("{label}-out"));
        for command in ["sweep", "validate"] {
            let output = hotcold()
                .arg(command)
                .arg(&scenario)
                .args(if command == "sweep" { vec!["--out".into(), out.clone()] } else { vec![] })
                .output()
                .unwrap();
            // The message names every axis with its number of values, and the limit.
            let mut fragments: Vec<String> = keys.iter().map(|key| format!("{key}: 20 values")).collect();
            fragments.push("at most 1000 points".into());
            fragments
                .push(if axes == 8 { "25600000000 points" } else { "more than 18446744073709551615 points" }.into());
            let fragments: Vec<&str> = fragments.iter().map(String::as_str).collect();
            assert_bad_input(&output, &format!("{command} {label}"), &fragments);
        }
        assert!(!out.exists(), "{label}: nothing is run");
    }
}

#[test]
fn serve_refuses_a_duration_past_any_timestamp() {
    let dir = scratch_dir("serve-ttl");
    for (key, text) in [
        ("session_config.cold_storage.ttl", "  cold_storage: { ttl: 3e11 }\n"),
        ("session_config.cold_storage.compliance_retention", "  cold_storage: { compliance_retention: 40000d }\n"),
        ("session_config.sync.cross_region_delay", "  sync: { cross_region_delay: 3e11 }\n"),
    ] {
        let config = dir.join("serve.yaml");
        std::fs::write(&config, with_session_config(UNREACHABLE_CONFIG, text)).unwrap();
        let output = hotcold().args(["serve", "--config"]).arg(&config).output().unwrap();
        assert_bad_input(&output, key, &[key, "100 years", "serve.yaml"]);
    }
}

/// A `migration:` block (ADR-0010 phase 3): a bad one is exit 2 naming its key; a good one writes
/// the `migration` object, `migration.csv`, the weekly chart and the timeseries' rollout columns,
/// and `hotcold report` rebuilds them from `run.json`; `--shard` processes merge to the one-process run.
#[test]
fn a_migration_block_is_checked_simulated_and_reported() {
    let dir = scratch_dir("migration");
    for (label, block, key) in [
        ("order", "  rollout: [ { at: 0s, percent: 10 }, { at: 0s, percent: 50 } ]\n", "migration.rollout[1].at"),
        ("percent", "  rollout: [ { at: 0s, percent: 120 } ]\n", "migration.rollout[0].percent"),
        ("after-end", "  rollout: [ { at: 3h, percent: 50 } ]\n", "migration.rollout[0].at"),
        (
            "rate",
            "  rollout: [ { at: 0s, percent: 50 } ]\n  bulk_import: { at: 1h, rate: 0 }\n",
            "migration.bulk_import.rate",
        ),
    ] {
        let path = dir.join(format!("{label}.yaml"));
        std::fs::write(&path, format!("{GOOD}migration:\n{block}")).unwrap();
        for command in ["validate", "simulate"] {
            let quiet: &[&str] = if command == "simulate" { &["--quiet"] } else { &[] };
            let output = hotcold().arg(command).arg(&path).args(quiet).output().unwrap();
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{label} ({command}): {err}");
            assert!(err.contains(key), "{label} ({command}): {err:?} does not name {key:?}");
            assert!(!err.contains("panicked"), "{label}: {err}");
        }
    }
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        format!(
            "{GOOD}migration:\n  rollout: [ {{ at: 0s, percent: 20 }}, {{ at: 1h, percent: 100 }} ]\n  bulk_import: {{ at: 1h, rate: 0.02 }}\n"
        ),
    )
    .unwrap();
    let out = dir.join("run");
    let output = hotcold().arg("simulate").arg(&good).args(["--quiet", "--out"]).arg(&out).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let migration = &summary["migration"];
    assert_eq!(migration["rollout"][1]["percent"], 100.0);
    assert!(migration["migrated"].as_u64().unwrap() > 0, "{migration}");
    assert_eq!(summary["sessions"]["lost"], 0);
    assert_eq!(migration["weeks"].as_array().unwrap().len(), 1);
    let csv = std::fs::read_to_string(out.join("migration.csv")).unwrap();
    assert!(csv.starts_with("week,start_hours,hours,percent_avg,region,design,component,nodes,usd\n"), "{csv}");
    assert!(csv.contains(",rollout,legacy_redis,") && csv.contains(",hybrid_end_state,dynamodb,"), "{csv}");
    let header = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(
        header
            .lines()
            .next()
            .unwrap()
            .ends_with("rollout_percent,legacy_requests,migrated,rolled_back,bulk_imported,legacy_redis_bytes")
    );
    assert!(out.join("charts/migration_cost.svg").is_file() && out.join("charts/migration_cost.png").is_file());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"migration\""), "the report has a migration section");
    // Rebuilt from run.json: the same summary and table.
    std::fs::remove_file(out.join("migration.csv")).unwrap();
    let before = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let output = hotcold().arg("report").arg(&out).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let after = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let cut = |s: &str| s[..s.find("\"run\"").unwrap()].to_string();
    assert_eq!(cut(&after), cut(&before));
    assert_eq!(std::fs::read_to_string(out.join("migration.csv")).unwrap(), csv);
    // Two shard processes and their merge give the summary of `--shards 2` in one process.
    let shards: Vec<PathBuf> = (0..2).map(|k| dir.join(format!("shard-{k}"))).collect();
    for (k, shard) in shards.iter().enumerate() {
        let output = hotcold()
            .arg("simulate")
            .arg(&good)
            .args(["--quiet", "--shard", &format!("{k}/2"), "--out"])
            .arg(shard)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let merged = dir.join("merged");
    let output = hotcold().arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let one = dir.join("one-process");
    let output =
        hotcold().arg("simulate").arg(&good).args(["--quiet", "--shards", "2", "--out"]).arg(&one).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let read = |d: &Path| cut(&std::fs::read_to_string(d.join("summary.json")).unwrap());
    assert_eq!(read(&merged), read(&one));
    assert!(read(&merged).contains("\"hybrid_end_state_usd\""));
}

#[test]
fn the_shopflow_migration_scenario_validates_and_round_trips() {
    let output = hotcold().args(["validate", "scenarios/shopflow-migration.yaml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let resolved = String::from_utf8(output.stdout).unwrap();
    assert!(resolved.contains("\nmigration:\n") && resolved.contains("bulk_import:"), "{resolved}");
    let path = scratch_dir("migration-resolved").join("resolved.yaml");
    std::fs::write(&path, &resolved).unwrap();
    let again = hotcold().arg("validate").arg(&path).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), resolved);
}
