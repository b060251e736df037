//! `hotcold calibrate` end to end without servers: simulate a scenario whose traffic is unlike
//! ShopFlow's with `--analytics`, calibrate a base with default traffic from that export, and
//! compare every fitted parameter with the one simulated; then simulate the calibrated scenario
//! and compare its lifecycle counts with the original run's. Also the command's refusals.

mod common;

use std::path::Path;

use common::{assert_bad_input, hotcold, scratch_dir};
use hotcold_model::Scenario;
use hotcold_model::units::DistSpec;

/// Runs `hotcold` with `args`, asserting success; answers stdout.
fn run_ok(args: &[&str]) -> String {
    let output = hotcold().args(args).output().expect("run hotcold");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "hotcold {args:?}: {err}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json parses")
}

/// `|fitted / truth - 1| <= tolerance`.
fn assert_close(what: &str, fitted: f64, truth: f64, tolerance: f64) {
    let off = fitted / truth - 1.0;
    eprintln!(
        "{what}: fitted {fitted:.4}, simulated {truth:.4} ({:+.1} %, tolerance ±{:.0} %)",
        off * 100.0,
        tolerance * 100.0
    );
    assert!(off.abs() <= tolerance, "{what}: fitted {fitted} against {truth} simulated ({:+.1} %)", off * 100.0);
}

fn median_p95<Q: hotcold_model::units::Quantity>(spec: &DistSpec<Q>) -> (f64, f64) {
    (spec.quantile(0.5), spec.quantile(0.95))
}

/// The round trip. Sample sizes (10 simulated days): about 60,000 sessions homed in eu-west-1 and
/// 25,000 in ap-southeast-1; about 40 % of sessions have one visit. Tolerances are about 4 to 5
/// standard errors of each estimator at those sizes (the reasoning beside each), plus the known
/// biases named there; the model crate's unit tests check each estimator more tightly.
#[test]
fn a_simulated_export_calibrates_back_to_the_traffic_simulated() {
    let dir = scratch_dir("calibrate", "round-trip");
    let truth_run = dir.join("truth");
    let truth_run = truth_run.to_str().expect("utf-8 path");
    run_ok(&["simulate", "scenarios/calibration-demo.yaml", "--analytics", "--quiet", "--out", truth_run]);
    let export = Path::new(truth_run).join("analytics.parquet");
    assert!(export.exists(), "simulate --analytics writes analytics.parquet");
    let fitted_path = dir.join("fitted.yaml");
    let printed = run_ok(&[
        "calibrate",
        "--analytics",
        export.to_str().expect("utf-8"),
        "--base",
        "scenarios/calibration-base.yaml",
        "--out",
        fitted_path.to_str().expect("utf-8"),
    ]);
    eprintln!("{printed}");
    // Every fitted value is printed with its fit and its basis.
    for key in ["traffic.visit.requests", "traffic.visit.think_time", "traffic.returns.probability", "sessions"] {
        assert!(printed.contains(key), "the fit table names {key}:\n{printed}");
    }
    let truth = Scenario::load(Path::new("scenarios/calibration-demo.yaml")).expect("truth loads");
    let fitted = Scenario::load(&fitted_path).expect("the calibrated scenario loads");
    let (t, f) = (&truth.traffic, &fitted.traffic);

    // Arrival rates: Poisson, s.e. 0.4 % and 0.6 %; the last 2 h of creations are left out of the
    // count and the first day fills the table, so 3 % leaves room for edge effects.
    for region in ["eu-west-1", "ap-southeast-1"] {
        let (tr, fr) = (&t.regions[region], &f.regions[region]);
        assert_close(&format!("{region} sessions_per_day"), fr.sessions_per_day, tr.sessions_per_day, 0.03);
        // The first harmonic's phase: s.e. under 0.1 h at these counts and amplitudes.
        let hours_off = ((fr.peak_hour - tr.peak_hour + 36.0).rem_euclid(24.0) - 12.0).abs();
        assert!(hours_off <= 0.5, "{region} peak_hour: fitted {} against {}", fr.peak_hour, tr.peak_hour);
        // Peak-to-trough: s.e. about 0.03 (eu, ratio 2) and 0.08 (ap, ratio 4).
        assert_close(&format!("{region} peak_to_trough"), fr.peak_to_trough, tr.peak_to_trough, 0.1);
        assert_eq!(fr.utc_offset, tr.utc_offset, "{region}: the offset comes from the base");
    }
    // Requests per visit from ~35,000 single-visit sessions: the median's s.e. is about 1 %; 1.9 %
    // of returns come back within the 30-minute visit gap and merge into a visit (gap median 8 h,
    // p95 3 d), lengthening visits by under 1 %.
    let ((fm, fp), (tm, tp)) = (median_p95(&f.visit.requests), median_p95(&t.visit.requests));
    assert_close("requests median", fm, tm, 0.06);
    assert_close("requests p95", fp, tp, 0.12);
    let ((fm, fp), (tm, tp)) = (median_p95(&f.visit.think_time), median_p95(&t.visit.think_time));
    assert_close("think median", fm, tm, 0.1);
    assert_close("think p95", fp, tp, 0.15);
    let ((fm, fp), (tm, tp)) = (median_p95(&f.visit.payload_bytes), median_p95(&t.visit.payload_bytes));
    assert_close("payload median", fm, tm, 0.04);
    assert_close("payload p95", fp, tp, 0.08);
    // Shares of hundreds of thousands of requests and tens of thousands of visit ends.
    assert!((f.visit.update_fraction - t.visit.update_fraction).abs() <= 0.01, "update {}", f.visit.update_fraction);
    assert!(
        (f.visit.logout_probability - t.visit.logout_probability).abs() <= 0.02,
        "logout {}",
        f.visit.logout_probability
    );
    assert!((f.returns.probability - t.returns.probability).abs() <= 0.04, "return {}", f.returns.probability);
    // The gap from two-visit sessions, truncated by the window: a few thousand gaps.
    let ((fm, fp), (tm, tp)) = (median_p95(&f.returns.gap), median_p95(&t.returns.gap));
    assert_close("gap median", fm, tm, 0.12);
    assert_close("gap p95", fp, tp, 0.3);
    // Not fitted: kept from the base, and said so.
    assert_eq!(f.travel_probability, 0.0);
    let provenance = fitted.calibration.as_ref().expect("a calibration: block");
    assert!(provenance.kept.iter().any(|k| k.key == "traffic.travel_probability"), "{provenance:?}");
    assert!(provenance.fitted.iter().all(|k| !k.fit.is_empty() && !k.basis.is_empty()), "{provenance:?}");

    // The calibrated plan, simulated (another seed), against the original run's lifecycle.
    let again = dir.join("again");
    let again = again.to_str().expect("utf-8");
    run_ok(&["simulate", fitted_path.to_str().expect("utf-8"), "--seed", "7", "--quiet", "--out", again]);
    let (a, b) = (summary(Path::new(truth_run)), summary(Path::new(again)));
    for count in ["created", "cold_promotions", "logged_out", "demoted"] {
        let (x, y) = (a["sessions"][count].as_f64(), b["sessions"][count].as_f64());
        let (Some(x), Some(y)) = (x, y) else { panic!("sessions.{count} missing: {a} {b}") };
        // Counts of 10^4 to 10^5: Poisson noise is under 1 %; the fits' own errors add a few.
        assert_close(&format!("sessions.{count}"), y, x, 0.06);
    }
    // The report says where the numbers came from.
    let html = std::fs::read_to_string(Path::new(again).join("report.html")).expect("report.html");
    assert!(html.contains("Where the numbers come from") && html.contains("analytics.parquet"), "report section");
}

#[test]
fn calibrate_refuses_what_it_cannot_fit_with_exit_2_naming_it() {
    let dir = scratch_dir("calibrate", "refusals");
    let out = dir.join("out.yaml");
    let out = out.to_str().expect("utf-8");
    let nothing = hotcold().args(["calibrate", "--out", out]).output().expect("run");
    assert_bad_input(&nothing, "no input", &["--analytics", "--metrics"]);
    let missing = hotcold().args(["calibrate", "--analytics", "no/such.parquet", "--out", out]).output().expect("run");
    assert_bad_input(&missing, "missing export", &["no/such.parquet"]);
    let garbage = dir.join("garbage.parquet");
    std::fs::write(&garbage, b"PAR1 this is not parquet").expect("write");
    let bad = hotcold().args(["calibrate", "--analytics", garbage.to_str().expect("utf-8"), "--out", out]).output();
    assert_bad_input(&bad.expect("run"), "malformed export", &["garbage.parquet"]);
    // A tiny export: too few sessions to fit anything.
    let tiny = dir.join("tiny.csv");
    let header = "session_id,home_region,user_subject,created_at_ms,last_event_at_ms,ended_at_ms,end_reason,updates,\
                  promotions,demotions,regions,largest_payload_bytes,requests,visits,think_ms,last_request_at_ms";
    let rows: String = (0..20)
        .map(|i| {
            format!(
                "{i:032x},eu-west-1,,{},{},,open,1,0,1,eu-west-1,500,3,1,40000,{}\n",
                i * 60_000,
                i * 60_000 + 2_000_000,
                i * 60_000 + 40_000
            )
        })
        .collect();
    std::fs::write(&tiny, format!("{header}\n{rows}")).expect("write");
    let few = hotcold().args(["calibrate", "--analytics", tiny.to_str().expect("utf-8"), "--out", out]).output();
    assert_bad_input(&few.expect("run"), "too few sessions", &["cannot fit"]);
    // A damaged time (far past the rest) is named, not fitted into a rate of almost nothing.
    let damaged = dir.join("damaged.csv");
    let text = std::fs::read_to_string(&tiny).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Row 3 (i = 2): created 120000, last event 2120000.
    lines[3] = lines[3].replacen(",2120000,", ",99999999999999999,", 1);
    assert!(lines[3].contains("99999999999999999"), "{}", lines[3]);
    std::fs::write(&damaged, lines.join("\n")).expect("write");
    let far = hotcold().args(["calibrate", "--analytics", damaged.to_str().expect("utf-8"), "--out", out]).output();
    assert_bad_input(&far.expect("run"), "a damaged time", &["more than 10 years", "row 3"]);
    // Metrics alone need a base; an exposition without DynamoDB calls cannot fit latency.dynamodb.
    let prom = dir.join("metrics.prom");
    let mut text = String::from("# TYPE hotcold_backend_call_duration_seconds histogram\n");
    let bounds = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "+Inf"];
    for (bound, count) in bounds.iter().zip([0, 200, 900, 1000, 1000, 1000]) {
        text.push_str(&format!(
            "hotcold_backend_call_duration_seconds_bucket{{backend=\"redis\",call=\"get\",result=\"ok\",le=\"{bound}\"}} {count}\n"
        ));
    }
    text.push_str("hotcold_backend_call_duration_seconds_sum{backend=\"redis\",call=\"get\",result=\"ok\"} 0.4\n");
    text.push_str("hotcold_backend_call_duration_seconds_count{backend=\"redis\",call=\"get\",result=\"ok\"} 1000\n");
    std::fs::write(&prom, text).expect("write");
    let prom = prom.to_str().expect("utf-8");
    let alone = hotcold().args(["calibrate", "--metrics", prom, "--out", out]).output().expect("run");
    assert_bad_input(&alone, "metrics without a base", &["--base"]);
    let base = "scenarios/calibration-base.yaml";
    let no_dynamo = hotcold().args(["calibrate", "--metrics", prom, "--base", base, "--out", out]).output();
    assert_bad_input(&no_dynamo.expect("run"), "no DynamoDB calls", &["latency.dynamodb"]);
    let https = hotcold().args(["calibrate", "--metrics", "https://x/metrics", "--base", base, "--out", out]).output();
    assert_bad_input(&https.expect("run"), "https", &["https"]);
    assert!(!Path::new(out).exists(), "nothing is written when calibration is refused");
    // A shard process cannot write the table (its sessions are not merged).
    let shard_dir = dir.join("shard");
    let shard = hotcold()
        .args(["simulate", "scenarios/calibration-demo.yaml", "--analytics", "--shard", "0/2", "--quiet", "--out"])
        .arg(&shard_dir)
        .output();
    assert_bad_input(&shard.expect("run"), "--analytics with --shard", &["--analytics", "--shard"]);
    // Nor a sample: its table would show a fraction of the sessions.
    let sampled = hotcold()
        .args(["simulate", "scenarios/calibration-demo.yaml", "--analytics", "--sample", "0.5", "--quiet", "--out"])
        .arg(dir.join("sampled"))
        .output();
    assert_bad_input(&sampled.expect("run"), "--analytics with --sample", &["--analytics", "0.5"]);
}
