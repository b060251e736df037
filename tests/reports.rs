//! End-to-end tests of the reports: the run directory written by `hotcold simulate`,
//! `hotcold report RUN_DIR`, `hotcold sweep`, and report.html opened in headless Chromium.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hotcold_reports::tables::{column_f64, column_str};
use serde_json::Value;

mod common;

use common::hotcold;

fn scratch_dir(label: &str) -> PathBuf {
    common::scratch_dir("reports", label)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> Output {
    command.output().expect("hotcold runs")
}

/// A run directory of scenarios/tiny.yaml.
fn tiny_run(label: &str) -> PathBuf {
    let dir = scratch_dir(label).join("run");
    let out = run(hotcold().args(["simulate", "scenarios/tiny.yaml", "--quiet", "--out"]).arg(&dir));
    assert!(out.status.success(), "simulate failed: {}", text(&out.stderr));
    dir
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

const CHARTS: [&str; 6] = ["latency-cdf", "hot-cold", "lifecycle", "cost", "cost-growth", "failover-1"];

#[test]
fn run_directory_is_complete_and_costs_add_up() {
    let dir = tiny_run("complete");
    for f in ["summary.json", "costs.csv", "baseline_costs.csv", "timeseries.csv", "timeseries.parquet", "report.html"]
    {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    for c in CHARTS {
        for ext in ["svg", "png"] {
            let p = dir.join("charts").join(format!("{c}.{ext}"));
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            assert!(len > 2000, "{} missing or tiny ({len} bytes)", p.display());
        }
    }
    let png = std::fs::read(dir.join("charts/cost.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let s = json(&dir.join("summary.json"));
    // CONTRACT section 3 fields, including those the reports add.
    for key in ["redis", "dynamodb", "cost_usd_month", "baseline_redis_only", "slo", "failover", "availability", "run"]
    {
        assert!(s.get(key).is_some(), "summary.json lacks {key}");
    }
    for region in ["us-east-1", "eu-west-1"] {
        assert!(s["redis"]["nodes"][region].as_u64().unwrap() >= 2, "one shard and its replica at least");
        assert!(s["baseline_redis_only"]["redis_nodes"][region].as_u64().unwrap() >= 2);
    }
    let cost = &s["cost_usd_month"];
    let parts: f64 =
        ["redis", "dynamodb", "sync", "transfer", "audit", "analytics"].iter().map(|k| cost[k].as_f64().unwrap()).sum();
    let total = cost["total"].as_f64().unwrap();
    assert!((parts - total).abs() < 0.005, "components {parts} vs total {total}");
    let session: f64 = ["redis", "dynamodb", "sync", "transfer"].iter().map(|k| cost[k].as_f64().unwrap()).sum();
    let session_storage = cost["session_storage"].as_f64().unwrap();
    assert!((session - session_storage).abs() < 0.005, "session storage {session_storage} vs its parts {session}");
    assert!(cost["audit"].as_f64().unwrap() > 0.0, "every lifecycle event is an audit item");
    assert!(cost["analytics"].as_f64().unwrap() > 0.0);
    let baseline = s["baseline_redis_only"]["cost_usd_month"]["total"].as_f64().unwrap();
    let saving = cost["saving_vs_redis_only"].as_f64().unwrap();
    assert!((saving - (1.0 - session_storage / baseline)).abs() < 1e-6, "the saving is on session storage");
    for key in ["unit_costs", "redis_options", "growth"] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}");
    }
    assert!(s["dynamodb"]["avg_stored_bytes"].as_f64().unwrap() > 0.0);
    let slo = s["slo"].as_array().unwrap();
    let names: Vec<&str> = slo.iter().map(|x| x["name"].as_str().unwrap()).collect();
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
    for x in slo {
        let (target, actual, pass) =
            (x["target"].as_f64().unwrap(), x["actual"].as_f64().unwrap(), x["pass"].as_bool().unwrap());
        let expect = match x["name"].as_str().unwrap() {
            "availability" | "cost_reduction_vs_redis_only" => actual >= target,
            _ => actual <= target,
        };
        assert_eq!(pass, expect, "{x}");
    }
    // The hot-access SLO compares the summary's own p95.
    assert_eq!(slo[0]["actual"], s["latency_ms"]["hot_access"]["p95"]);

    // costs.csv: one row per (region, component item), and the rows sum to the total. tiny has
    // two regions and the default tables (DynamoDB and audit global tables, analytics in the
    // first region only): per region nodes, writes, reads, replicated writes, storage,
    // replication out, invocations, compute, audit writes, audit replicated writes and audit
    // storage (11), plus analytics writes and storage in us-east-1: 24 rows.
    let csv = std::fs::read_to_string(dir.join("costs.csv")).unwrap();
    assert!(csv.lines().next().unwrap().starts_with("region,component,item,quantity,unit,unit_price_usd,usd_month"));
    let frame = hotcold_reports::tables::read_csv(&dir.join("costs.csv")).unwrap();
    assert_eq!(frame.height(), csv.lines().count() - 1);
    assert_eq!(frame.height(), 24);
    let regions = column_str(&frame, "region").unwrap();
    let items = column_str(&frame, "item").unwrap();
    let mut keys: Vec<(&str, &str)> =
        regions.iter().map(String::as_str).zip(items.iter().map(String::as_str)).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 24, "one row per (region, item)");
    let usd = column_f64(&frame, "usd_month").unwrap();
    let sum: f64 = usd.iter().sum();
    assert!((sum - total).abs() < 0.005, "costs.csv sums to {sum}, summary total {total}");
    let components = column_str(&frame, "component").unwrap();
    for c in ["redis", "dynamodb", "sync", "transfer", "audit", "analytics"] {
        assert!(components.iter().any(|x| x == c), "no {c} row");
    }
    // Each row, in costs.csv and baseline_costs.csv: quantity x unit price = USD, to the cent.
    for file in ["costs.csv", "baseline_costs.csv"] {
        let frame = hotcold_reports::tables::read_csv(&dir.join(file)).unwrap();
        let (quantity, price, usd) = (
            column_f64(&frame, "quantity").unwrap(),
            column_f64(&frame, "unit_price_usd").unwrap(),
            column_f64(&frame, "usd_month").unwrap(),
        );
        let items = column_str(&frame, "item").unwrap();
        assert!(!usd.is_empty(), "{file} has rows");
        for i in 0..usd.len() {
            let cents = |x: f64| (x * 100.0).round() as i64;
            assert_eq!(
                cents(usd[i]),
                cents(quantity[i] * price[i]),
                "{file} row {i} ({}): {} x {} vs {}",
                items[i],
                quantity[i],
                price[i],
                usd[i]
            );
        }
    }

    // Time series: one row per (bucket, region), in CSV and Parquet alike.
    let run_json = json(&dir.join("run.json"));
    let rows = run_json["timeseries"].as_array().unwrap().len();
    assert_eq!(rows, 120 * 2, "2 h of 1-minute buckets, 2 regions");
    let parquet = hotcold_reports::tables::read_parquet(&dir.join("timeseries.parquet")).unwrap();
    let csv_ts = hotcold_reports::tables::read_csv(&dir.join("timeseries.csv")).unwrap();
    assert_eq!(parquet.height(), rows);
    assert_eq!(csv_ts.height(), rows);
    for col in [
        "t_seconds",
        "region",
        "hot",
        "cold",
        "active",
        "requests",
        "hot_hits",
        "promotions",
        "demotions",
        "expiries",
        "losses",
        "p95_ms",
        "redis_bytes",
    ] {
        assert!(parquet.column(col).is_ok(), "timeseries lacks {col}");
    }
    let requests: f64 = column_f64(&parquet, "requests").unwrap().iter().sum();
    assert_eq!(requests, s["requests"].as_f64().unwrap(), "per-bucket requests add up to the run's");
    // The audit and analytics volume: items and bytes per bucket, bytes = items x the item size.
    let events = column_f64(&parquet, "audit_events").unwrap();
    let bytes = column_f64(&parquet, "audit_bytes").unwrap();
    assert!(events.iter().sum::<f64>() > 0.0, "a run writes audit events");
    assert!(events.iter().zip(&bytes).all(|(e, b)| *b == e * 300.0), "300 B per audit item");
    let writes = column_f64(&parquet, "analytics_writes").unwrap();
    let written = column_f64(&parquet, "analytics_bytes").unwrap();
    assert!(writes.iter().zip(&written).all(|(w, b)| *b == w * 400.0), "400 B per summary");
}

/// report.html's residency section: the exposure table without a rule; the rule, its verdict
/// (no violation) and the pinned region's figures with one.
#[test]
fn report_shows_residency_exposure_and_the_rule() {
    let free = tiny_run("residency-free");
    let html = std::fs::read_to_string(free.join("report.html")).unwrap();
    assert!(html.contains("id=\"residency\"") && html.contains("No <code>residency:</code> rule"), "no section");
    let s = json(&free.join("summary.json"));
    assert_eq!(s["residency"]["restricted_regions"], serde_json::json!([]));
    assert!(s["residency"]["by_home"]["eu-west-1"]["exposure"]["cold_writes_elsewhere"].as_u64().unwrap() > 0);

    let dir = scratch_dir("residency-pinned").join("run");
    let out = run(hotcold()
        .args(["simulate", "scenarios/tiny.yaml", "--quiet", "--set", "residency={eu-west-1: [eu-west-1]}", "--out"])
        .arg(&dir));
    assert!(out.status.success(), "simulate failed: {}", text(&out.stderr));
    let s = json(&dir.join("summary.json"));
    assert_eq!(s["residency"]["restricted_regions"], serde_json::json!(["eu-west-1"]));
    assert_eq!(s["residency"]["violations"], 0);
    let eu = &s["residency"]["by_home"]["eu-west-1"];
    assert_eq!(eu["restricted"], true);
    assert_eq!(eu["exposure"]["cold_writes_elsewhere"], 0, "{eu}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"residency-verdict\"") && html.contains("eu-west-1 (restricted)"), "no verdict");
    assert!(html.contains("verdict pass\" id=\"residency-verdict\""), "0 violations is a pass");
}

#[test]
fn report_rebuilds_the_same_summary_from_run_json() {
    let dir = tiny_run("rebuild");
    let before = std::fs::read(dir.join("summary.json")).unwrap();
    let costs_before = std::fs::read(dir.join("costs.csv")).unwrap();
    std::fs::remove_file(dir.join("report.html")).unwrap();
    std::fs::remove_dir_all(dir.join("charts")).unwrap();
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let out = run(hotcold().arg("report").arg(&dir));
    assert!(out.status.success(), "report failed: {}", text(&out.stderr));
    assert_eq!(text(&std::fs::read(dir.join("summary.json")).unwrap()), text(&before));
    assert_eq!(std::fs::read(dir.join("costs.csv")).unwrap(), costs_before);
    assert!(dir.join("report.html").is_file());
    for c in CHARTS {
        assert!(dir.join("charts").join(format!("{c}.svg")).is_file());
    }
    assert!(text(&out.stdout).contains("USD/month"));
}

#[test]
fn same_seed_same_complete_summary() {
    let a = tiny_run("det-a");
    let b = tiny_run("det-b");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("run");
        v
    };
    assert_eq!(strip(json(&a.join("summary.json"))), strip(json(&b.join("summary.json"))));
    assert_eq!(std::fs::read(a.join("costs.csv")).unwrap(), std::fs::read(b.join("costs.csv")).unwrap());
}

fn assert_one_line_error(out: &Output, code: i32, fragment: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(fragment), "{err} should mention {fragment}");
}

#[test]
fn report_bad_input() {
    let base = scratch_dir("bad-report");
    let missing = base.join("no-such-dir");
    assert_one_line_error(&run(hotcold().arg("report").arg(&missing)), 2, "no-such-dir");
    let empty = base.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_one_line_error(&run(hotcold().arg("report").arg(&empty)), 2, "run.json");
    let corrupt = base.join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    for (i, body) in ["{not json", "{}", "[]", "{\"scenario\": 3}", "\u{0}\u{1}binary"].iter().enumerate() {
        std::fs::write(corrupt.join("run.json"), body).unwrap();
        let out = run(hotcold().arg("report").arg(&corrupt));
        assert_one_line_error(&out, 2, "run.json");
        assert!(!corrupt.join("report.html").exists(), "case {i} wrote a report");
    }
    // A truncated real run.json.
    let dir = tiny_run("truncated");
    let full = std::fs::read(dir.join("run.json")).unwrap();
    std::fs::write(dir.join("run.json"), &full[..full.len() / 2]).unwrap();
    assert_one_line_error(&run(hotcold().arg("report").arg(&dir)), 2, "run.json");
    // A file instead of a directory.
    let file = base.join("file");
    std::fs::write(&file, "x").unwrap();
    assert_one_line_error(&run(hotcold().arg("report").arg(&file)), 2, "not a run directory");
}

/// tiny.yaml with a 2 x 2 grid.
fn sweep_scenario(dir: &Path) -> PathBuf {
    let tiny = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.yaml")).unwrap();
    let path = dir.join("tiny-sweep.yaml");
    std::fs::write(
        &path,
        format!(
            "{tiny}\nsweep:\n  session_config.hot_storage.promotion_threshold: [120, 600]\n  engine.durability: [on_demotion, write_through]\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn sweep_writes_one_row_and_one_run_per_point() {
    let dir = scratch_dir("sweep");
    let scenario = sweep_scenario(&dir);
    let out_dir = dir.join("out");
    let out = run(hotcold().arg("sweep").arg(&scenario).arg("--out").arg(&out_dir).args(["--jobs", "2"]));
    assert!(out.status.success(), "sweep failed: {}", text(&out.stderr));
    let frame = hotcold_reports::tables::read_csv(&out_dir.join("sweep.csv")).unwrap();
    assert_eq!(frame.height(), 4, "2 x 2 grid");
    for col in [
        "point",
        "session_config.hot_storage.promotion_threshold",
        "engine.durability",
        "hot_access_p95_ms",
        "cold_promotion_p95_ms",
        "lookup_p99_ms",
        "lookup_mean_ms",
        "promotions_per_1k_requests",
        "hot_ratio",
        "cost_usd_month",
        "failover_loss_ratio",
        "all_slos_pass",
        "cheapest_passing",
        "run_dir",
    ] {
        assert!(frame.column(col).is_ok(), "sweep.csv lacks {col}");
    }
    let svg = std::fs::read_to_string(out_dir.join("frontier.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("#4"), "frontier.svg has a marker label per point");
    let lookup_svg = std::fs::read_to_string(out_dir.join("frontier-lookup.svg")).unwrap();
    assert!(
        lookup_svg.contains("<svg") && lookup_svg.contains("120") && lookup_svg.contains("600"),
        "threshold labels"
    );
    assert!(lookup_svg.contains("promotions per 1,000 requests"));
    let png = std::fs::read(out_dir.join("frontier-lookup.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Each point's run directory exists with its summary; the csv matches it.
    let col_f64 = |name: &str| column_f64(&frame, name).unwrap();
    let col_str = |name: &str| column_str(&frame, name).unwrap();
    let costs = col_f64("cost_usd_month");
    let dirs = col_str("run_dir");
    let pass: Vec<bool> = col_str("all_slos_pass").iter().map(|v| v == "true").collect();
    let cheapest: Vec<bool> = col_str("cheapest_passing").iter().map(|v| v == "true").collect();
    for (cost, run_dir) in costs.iter().zip(&dirs) {
        let s = json(&out_dir.join(run_dir).join("summary.json"));
        assert_eq!(*cost, s["cost_usd_month"]["total"].as_f64().unwrap(), "{run_dir}");
        assert_eq!(s["seed"], 7);
    }
    // The lookup columns, recomputed from each point's run.json.
    let (lookup_p99, lookup_mean, per_1k) =
        (col_f64("lookup_p99_ms"), col_f64("lookup_mean_ms"), col_f64("promotions_per_1k_requests"));
    for (i, run_dir) in dirs.iter().enumerate() {
        let record = json(&out_dir.join(run_dir).join("run.json"));
        let (p99, mean, promotions) = lookups_of(&record);
        assert_eq!((lookup_p99[i], lookup_mean[i], per_1k[i]), (p99, mean, promotions), "{run_dir}");
        let s = json(&out_dir.join(run_dir).join("summary.json"));
        assert_eq!(s["latency_ms"]["lookup"]["p99"].as_f64(), Some(p99), "{run_dir}");
        assert_eq!(s["promotions_per_1k_requests"].as_f64(), Some(promotions), "{run_dir}");
        // A weighted average of the two classes' means.
        let hot = record["latency"]["hot_access"]["mean"].as_f64().unwrap();
        let cold = record["latency"]["cold_promotion"]["mean"].as_f64().unwrap();
        assert!(hot < mean && mean < cold, "{run_dir}: the lookup mean {mean} is not between {hot} and {cold}");
    }
    // A shorter threshold makes more requests pay a promotion.
    let thresholds = col_str("session_config.hot_storage.promotion_threshold");
    let per_1k_at = |t: &str, d: &str| {
        let durability = col_str("engine.durability");
        (0..4).find(|&i| thresholds[i] == t && durability[i] == d).map(|i| per_1k[i]).unwrap()
    };
    assert!(per_1k_at("120", "on_demotion") > per_1k_at("600", "on_demotion"));
    let marked: Vec<usize> = (0..4).filter(|&i| cheapest[i]).collect();
    if pass.iter().any(|&p| p) {
        assert_eq!(marked.len(), 1, "exactly one cheapest passing point");
        let m = marked[0];
        assert!(pass[m]);
        assert!((0..4).filter(|&i| pass[i]).all(|i| costs[i] >= costs[m]));
    } else {
        assert!(marked.is_empty(), "no point passes, none is marked");
    }
    // write_through demotes nothing new at failover: its loss is never above on_demotion's.
    let loss = |d: &str, t: &str| -> f64 {
        let dir = std::fs::read_dir(&out_dir)
            .unwrap()
            .flatten()
            .find(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.contains(&format!("durability={d}")) && n.contains(&format!("promotion_threshold={t}"))
            })
            .unwrap()
            .path();
        json(&dir.join("summary.json"))["failover"]["loss_ratio"].as_f64().unwrap()
    };
    assert!(loss("write_through", "600") <= loss("on_demotion", "600"));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("4 points"), "{stdout}");
    // Same seed, same point: a sweep point equals the same scenario simulated alone (tiny.yaml
    // with the point's values set), summary (but for the wall-clock "run" figures) and costs.
    let point = (0..4)
        .find(|&i| thresholds[i] == "120" && col_str("engine.durability")[i] == "write_through")
        .map(|i| out_dir.join(&dirs[i]))
        .unwrap();
    let alone = dir.join("alone");
    let solo = run(hotcold()
        .args(["simulate", "scenarios/tiny.yaml", "--quiet", "--out"])
        .arg(&alone)
        .args(["--set", "session_config.hot_storage.promotion_threshold=120"])
        .args(["--set", "engine.durability=write_through"]));
    assert!(solo.status.success(), "simulate failed: {}", text(&solo.stderr));
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("run");
        v
    };
    assert_eq!(strip(json(&point.join("summary.json"))), strip(json(&alone.join("summary.json"))));
    assert_eq!(std::fs::read(point.join("costs.csv")).unwrap(), std::fs::read(alone.join("costs.csv")).unwrap());
}

/// Lookup p99 and mean (ms) and promotions per 1,000 requests of a run, recomputed from its
/// run.json: the hot-access and cold-promotion histograms' `(value_us, count)` pairs recorded into
/// one histogram; the time-series rows from the warmup on.
fn lookups_of(record: &Value) -> (f64, f64, f64) {
    let pairs = |class: &str| -> Vec<(u64, u64)> {
        record["latency"][class]["values_us"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap()))
            .collect()
    };
    let mut values = pairs("hot_access");
    values.extend(pairs("cold_promotion"));
    let histogram = hotcold_model::tally::histogram_of(&values);
    let round = |x: f64, digits: f64| (x * digits).round() / digits;
    let p99 = round(histogram.value_at_quantile(0.99) as f64 / 1000.0, 1e3);
    let mean = round(histogram.mean() / 1000.0, 1e3);
    let warmup = record["warmup_seconds"].as_f64().unwrap();
    let (mut promotions, mut requests) = (0, 0);
    for row in record["timeseries"].as_array().unwrap() {
        if row["t"].as_f64().unwrap() >= warmup {
            promotions += row["promotions"].as_u64().unwrap();
            requests += row["requests"].as_u64().unwrap();
        }
    }
    (p99, mean, round(promotions as f64 * 1000.0 / requests as f64, 1e6))
}

#[test]
fn sweep_bad_input() {
    let dir = scratch_dir("bad-sweep");
    assert_one_line_error(&run(hotcold().arg("sweep").arg(dir.join("missing.yaml"))), 2, "missing.yaml");
    // No sweep: block.
    assert_one_line_error(
        &run(hotcold().args(["sweep", "scenarios/tiny.yaml", "--out"]).arg(dir.join("o1"))),
        2,
        "sweep",
    );
    // A grid key that is not a key of the scenario.
    let tiny = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.yaml")).unwrap();
    let bad = dir.join("bad-key.yaml");
    std::fs::write(&bad, format!("{tiny}\nsweep:\n  session_config.hot_storage.no_such_key: [1, 2]\n")).unwrap();
    let out = run(hotcold().arg("sweep").arg(&bad).arg("--out").arg(dir.join("o2")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
    // A grid value of the wrong type.
    let bad = dir.join("bad-value.yaml");
    std::fs::write(&bad, format!("{tiny}\nsweep:\n  engine.durability: [sometimes]\n")).unwrap();
    let out = run(hotcold().arg("sweep").arg(&bad).arg("--out").arg(dir.join("o3")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!dir.join("o3").join("sweep.csv").exists());
    // --jobs 0.
    let good = sweep_scenario(&dir);
    assert_one_line_error(&run(hotcold().arg("sweep").arg(&good).args(["--jobs", "0"])), 2, "--jobs");
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium

fn chromium() -> PathBuf {
    let candidates = [std::env::var("HOTCOLD_CHROMIUM").unwrap_or_default(), "/usr/bin/chromium".into()];
    for c in candidates.iter().filter(|c| !c.is_empty()) {
        if Path::new(c).is_file() {
            return PathBuf::from(c);
        }
    }
    panic!(
        "headless Chromium is required by this test and was not found (/usr/bin/chromium or $HOTCOLD_CHROMIUM); \
         install it with `scripts/services.sh install` (apt-get install chromium)"
    );
}

/// Runs headless Chromium on a page with `args`; returns (stdout, stderr).
fn chromium_on(page: &Path, profile: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(out.status.success(), "chromium failed: {}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

#[test]
fn report_html_loads_in_headless_chromium_with_every_chart_and_the_slo_table() {
    let dir = tiny_run("chromium");
    let scratch = scratch_dir("chromium-profile");
    // The console check must be able to fail: a page with an error is seen as such.
    let control = scratch.join("control.html");
    std::fs::write(&control, "<html><body><script>console.error('control-error'); nope();</script></body></html>")
        .unwrap();
    let (_, err) = chromium_on(&control, &scratch.join("p0"), &["--dump-dom"]);
    assert!(
        console_lines(&err).iter().any(|l| l.contains("control-error")),
        "console messages are not visible in chromium's log: {err}"
    );

    let page = dir.join("report.html").canonicalize().unwrap();
    let (dom, err) = chromium_on(&page, &scratch.join("p1"), &["--dump-dom"]);
    assert!(console_lines(&err).is_empty(), "console messages: {:?}", console_lines(&err));
    assert!(dom.contains("id=\"slo-table\""), "SLO table missing");
    let slo_rows =
        dom.split("id=\"slo-table\"").nth(1).unwrap().split("</table>").next().unwrap().matches("<tr>").count();
    assert_eq!(slo_rows, 6, "header + 5 SLOs");
    for c in CHARTS {
        let fig = dom
            .split(&format!("data-chart=\"{c}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("chart {c} missing from the DOM"));
        let body = fig.split("</figure>").next().unwrap();
        assert!(body.contains("<svg"), "chart {c} has no inline svg");
        assert!(body.matches("<text").count() >= 5, "chart {c} has no axis labels");
    }
    assert!(dom.contains("id=\"verdict\""));
    assert!(dom.contains("Redis-only"));
    // No network: nothing in the page refers to another origin.
    let html = std::fs::read_to_string(&page).unwrap();
    for needle in ["http://", "https://", "<script", "<link", "src="] {
        let hits = html.matches(needle).count();
        let allowed = if needle == "http://" { html.matches("http://www.w3.org").count() } else { 0 };
        assert_eq!(hits, allowed, "report.html must be self-contained ({needle})");
    }
    // And it renders to a real screenshot.
    let shot = scratch.join("report.png");
    let (_, err) = chromium_on(
        &page,
        &scratch.join("p2"),
        &[&format!("--screenshot={}", shot.display()), "--window-size=1280,3000"],
    );
    assert!(console_lines(&err).is_empty(), "console messages: {:?}", console_lines(&err));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.len() > 50_000 && png.starts_with(b"\x89PNG"), "screenshot of {} bytes", png.len());
}
