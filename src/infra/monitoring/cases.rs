//! The rule file's unit tests for `promtool test rules`: for every alert, input series on the
//! firing side of its threshold (the alert fires, with its labels and annotations) and on the
//! quiet side (it does not). Thresholds are read from the same [`Targets`], so the cases move with
//! the plan and show that each alert fires where the plan says it should.

use std::fmt::Write as _;

use super::rules::{Alert, RUNBOOK, rule_set};
use super::{DRIFT_TOLERANCE, FAST_BURN, RULES_FILE, SLOW_BURN, Targets, duration, num, quoted};

/// The `job` label of the test series (Prometheus adds `job` and `instance` to every scraped series).
const JOB: &str = "hotcold";

/// One promtool test group: the alert it checks, the input series and the alerts expected.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) alert: &'static str,
    /// `fires` or `stays quiet`, and why.
    pub(super) title: String,
    /// Spacing of the input samples, seconds.
    interval: f64,
    /// `(series, values)` in promtool's expanding notation.
    series: Vec<(String, String)>,
    eval_seconds: f64,
    /// The labels of each alert expected (besides `alertname` and `severity`); empty: none.
    pub(super) expected: Vec<Vec<(String, String)>>,
}

/// A series selector with `job`, `instance` and `extra` labels.
fn series(name: &str, instance: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![format!("job={}", quoted(JOB)), format!("instance={}", quoted(instance))];
    labels.extend(extra.iter().map(|(k, v)| format!("{k}={}", quoted(v))));
    format!("{name}{{{}}}", labels.join(","))
}

/// `count` samples of a constant.
fn constant(value: f64, count: usize) -> String {
    format!("{}x{count}", num(value))
}

/// `count` samples of a counter growing `per_second` at `interval` seconds a sample.
fn counter(per_second: f64, interval: f64, count: usize) -> String {
    format!("0+{}x{count}", num(per_second * interval))
}

/// Samples enough to cover `eval_seconds` at `interval`, and some.
fn samples(eval_seconds: f64, interval: f64) -> usize {
    (eval_seconds / interval).ceil() as usize + 5
}

/// Failing shares on either side of a `threshold` share: twice and half of it (with no budget at
/// all, any failure fires).
fn sides(threshold: f64) -> (f64, f64) {
    if threshold > 0.0 { (2.0 * threshold, 0.5 * threshold) } else { (0.01, 0.0) }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

/// Every case, for the plan's first region (the rules are the same for every region but the
/// plan's figures, which the cases read).
pub(super) fn cases(t: &Targets) -> Vec<Case> {
    let Some(first) = t.regions.first() else { return Vec::new() };
    let region = first.name.as_str();
    let a = format!("{region}-a");
    let b = format!("{region}-b");
    let info = |instance: &str, count: usize| {
        (series("hotcold_serve_info", instance, &[("region", region)]), constant(1.0, count))
    };
    let by_region = || vec![labels(&[("region", region)])];
    let minute = 60.0;
    let mut all = Vec::new();
    let mut case =
        |alert: &'static str, title: &str, interval: f64, eval: f64, series: Vec<(String, String)>, expected| {
            all.push(Case { alert, title: title.to_string(), interval, series, eval_seconds: eval, expected });
        };

    // Readiness.
    let n = samples(600.0, minute);
    let ready = |instance: &str, values: String| (series("hotcold_ready", instance, &[("region", region)]), values);
    case(
        "HotcoldRegionNotReady",
        "fires: the region's only instance is not ready",
        minute,
        600.0,
        vec![ready(&a, constant(0.0, n))],
        by_region(),
    );
    case(
        "HotcoldRegionNotReady",
        "stays quiet: one instance of two is not ready",
        minute,
        600.0,
        vec![ready(&a, constant(0.0, n)), ready(&b, constant(1.0, n))],
        Vec::new(),
    );
    case(
        "HotcoldInstanceNotReady",
        "fires: an instance not ready for 10 minutes",
        minute,
        600.0,
        vec![ready(&a, constant(0.0, n))],
        vec![labels(&[("region", region), ("instance", &a), ("job", JOB)])],
    );
    case(
        "HotcoldInstanceNotReady",
        "stays quiet: an instance not ready for 3 minutes, then ready",
        minute,
        600.0,
        vec![ready(&a, format!("0 0 0 {}", constant(1.0, n)))],
        Vec::new(),
    );
    let others: Vec<(String, String)> = t.regions[1..]
        .iter()
        .map(|r| (series("hotcold_serve_info", &format!("{}-a", r.name), &[("region", &r.name)]), constant(1.0, n)))
        .collect();
    case("HotcoldRegionAbsent", "fires: no instance of the region reports", minute, 600.0, others.clone(), by_region());
    let mut everyone = others;
    everyone.push(info(&a, n));
    case("HotcoldRegionAbsent", "stays quiet: every region reports", minute, 600.0, everyone, Vec::new());

    // Sync.
    let interval = t.sync_interval_s;
    let eval = interval + 600.0;
    let n = samples(eval, minute);
    let lag = |seconds: f64| vec![info(&a, n), (series("hotcold_sync_lag_seconds", &a, &[]), constant(seconds, n))];
    case(
        "HotcoldSyncLagHigh",
        "fires: three sync intervals without a clean pass",
        minute,
        eval,
        lag(3.0 * interval),
        by_region(),
    );
    case("HotcoldSyncLagHigh", "stays quiet: one sync interval", minute, eval, lag(interval), Vec::new());
    let eval = 4.0 * interval + 600.0;
    let n = samples(eval, minute);
    let lease = |held_by_b: f64| {
        vec![
            info(&a, n),
            info(&b, n),
            (series("hotcold_sync_lease_held", &a, &[]), constant(0.0, n)),
            (series("hotcold_sync_lease_held", &b, &[]), constant(held_by_b, n)),
        ]
    };
    case("HotcoldSyncNotRunning", "fires: no instance holds the lease", minute, eval, lease(0.0), by_region());
    case("HotcoldSyncNotRunning", "stays quiet: one instance holds it", minute, eval, lease(1.0), Vec::new());

    // Audit.
    let eval = 1500.0;
    let n = samples(eval, minute);
    let pending =
        |records: f64| vec![info(&a, n), (series("hotcold_audit_events_pending", &a, &[]), constant(records, n))];
    case("HotcoldAuditEventsPending", "fires: records wait for 25 minutes", minute, eval, pending(5.0), by_region());
    case("HotcoldAuditEventsPending", "stays quiet: nothing waits", minute, eval, pending(0.0), Vec::new());
    let eval = 600.0;
    let n = samples(eval, minute);
    let audit = |failed: f64| {
        vec![
            info(&a, n),
            (series("hotcold_audit_events_total", &a, &[("outcome", "failed")]), counter(failed, minute, n)),
            (series("hotcold_audit_events_total", &a, &[("outcome", "delivered")]), counter(5.0, minute, n)),
        ]
    };
    case("HotcoldAuditEventsLost", "fires: records fail", minute, eval, audit(1.0 / minute), by_region());
    case(
        "HotcoldAuditEventsLost",
        "stays quiet: records are delivered, none fail",
        minute,
        eval,
        audit(0.0),
        Vec::new(),
    );
    let eval = 2400.0;
    let n = samples(eval, minute);
    let summaries = |failed: f64| {
        vec![info(&a, n), (series("hotcold_analytics_writes_failed_total", &a, &[]), counter(failed, minute, n))]
    };
    case(
        "HotcoldAnalyticsWritesFailing",
        "fires: summaries fail for 40 minutes",
        minute,
        eval,
        summaries(2.0 / minute),
        by_region(),
    );
    case("HotcoldAnalyticsWritesFailing", "stays quiet: none fail", minute, eval, summaries(0.0), Vec::new());

    // Errors: `share` of the calls or requests fail, against a threshold ratio.
    let (fire, quiet) = sides(FAST_BURN * t.error_budget);
    let eval = 1200.0;
    let n = samples(eval, minute);
    let calls = |share: f64| {
        let total = 10.0;
        vec![
            info(&a, n),
            (
                series(
                    "hotcold_backend_call_duration_seconds_count",
                    &a,
                    &[("backend", "redis"), ("call", "get_and_touch"), ("result", "ok")],
                ),
                counter(total * (1.0 - share), minute, n),
            ),
            (
                series(
                    "hotcold_backend_call_duration_seconds_count",
                    &a,
                    &[("backend", "redis"), ("call", "get_and_touch"), ("result", "error")],
                ),
                counter(total * share, minute, n),
            ),
        ]
    };
    case(
        "HotcoldBackendErrors",
        "fires: twice the threshold's share of Redis calls fail",
        minute,
        eval,
        calls(fire),
        vec![labels(&[("region", region), ("backend", "redis")])],
    );
    case(
        "HotcoldBackendErrors",
        "stays quiet: half the threshold's share fails",
        minute,
        eval,
        calls(quiet),
        Vec::new(),
    );
    for (alert, burn, eval) in
        [("HotcoldErrorBudgetFastBurn", FAST_BURN, 1200.0), ("HotcoldErrorBudgetSlowBurn", SLOW_BURN, 2700.0)]
    {
        let (fire, quiet) = sides(burn * t.error_budget);
        let n = samples(eval, minute);
        let requests = |share: f64| {
            let total = 100.0;
            vec![
                info(&a, n),
                (
                    series("hotcold_requests_total", &a, &[("op", "get"), ("outcome", "ok")]),
                    counter(total * (1.0 - share), minute, n),
                ),
                (
                    series("hotcold_requests_total", &a, &[("op", "get"), ("outcome", "unavailable")]),
                    counter(total * share, minute, n),
                ),
            ]
        };
        case(alert, "fires: twice the burn rate's share of requests fail", minute, eval, requests(fire), by_region());
        case(alert, "stays quiet: half of it", minute, eval, requests(quiet), Vec::new());
    }

    // Latency: every lookup in one bucket, above or below the SLO.
    for (alert, tier, slo) in [
        ("HotcoldHotAccessSlowerThanSlo", "hot", t.hot_access_p95_s),
        ("HotcoldColdPromotionSlowerThanSlo", "promoted", t.cold_promotion_p95_s),
    ] {
        let eval = 1800.0;
        let n = samples(eval, minute);
        let histogram = |low: f64, high: f64| -> Vec<(String, String)> {
            let bucket = |le: String, per_second: f64| {
                let name = "hotcold_lookup_duration_seconds_bucket";
                (series(name, &a, &[("region", region), ("tier", tier), ("le", &le)]), counter(per_second, minute, n))
            };
            vec![bucket(num(low), 0.0), bucket(num(high), 10.0), bucket("+Inf".into(), 10.0)]
        };
        case(
            alert,
            "fires: every lookup takes 2 to 4 times the SLO",
            minute,
            eval,
            histogram(2.0 * slo, 4.0 * slo),
            by_region(),
        );
        case(
            alert,
            "stays quiet: every lookup takes a quarter to half of it",
            minute,
            eval,
            histogram(slo / 4.0, slo / 2.0),
            Vec::new(),
        );
    }

    // The plan: hot tier size, hot share, lifecycle rates.
    let eval = 2400.0;
    let n = samples(eval, minute);
    let hot = |sessions: f64| {
        vec![(series("hotcold_sessions", &a, &[("tier", "hot"), ("region", region)]), constant(sessions, n))]
    };
    let limit = (1.0 + t.headroom) * first.hot_peak;
    case(
        "HotcoldHotSessionsAbovePlan",
        "fires: twice the plan's peak plus headroom",
        minute,
        eval,
        hot(2.0 * limit + 1.0),
        by_region(),
    );
    case(
        "HotcoldHotSessionsAbovePlan",
        "stays quiet: half the plan's peak",
        minute,
        eval,
        hot(first.hot_peak / 2.0),
        Vec::new(),
    );

    // The daily figures count once their series cover a day (`FULL_DAY`), then `for: 1h`.
    let five = 300.0;
    let eval = 25.0 * 3600.0;
    let n = samples(eval, five);
    let cold_planned = t.cold_sessions.max(1000.0);
    // Hot and cold gauges giving the hot `share`, the cold table at `cold`.
    let tiers = |share: f64, cold: f64| {
        let hot = share * cold / (1.0 - share);
        vec![
            (series("hotcold_sessions", &a, &[("tier", "hot"), ("region", region)]), constant(hot, n)),
            (series("hotcold_sessions", &a, &[("tier", "cold"), ("region", "")]), constant(cold, n)),
        ]
    };
    let plan_share = t.hot_share;
    if plan_share > 0.0 {
        let below = (1.0 - DRIFT_TOLERANCE) * plan_share / 2.0;
        case(
            "HotcoldHotShareBelowPlan",
            "fires: half the lowest share allowed",
            five,
            eval,
            tiers(below, cold_planned),
            vec![Vec::new()],
        );
    }
    case(
        "HotcoldHotShareBelowPlan",
        "stays quiet: the plan's share",
        five,
        eval,
        tiers(plan_share, cold_planned),
        Vec::new(),
    );
    let highest = (1.0 + DRIFT_TOLERANCE) * plan_share;
    if highest < 1.0 {
        let above = f64::midpoint(highest, 1.0);
        case(
            "HotcoldHotShareAbovePlan",
            "fires: above the highest share allowed, the cold table full",
            five,
            eval,
            tiers(above, cold_planned),
            vec![Vec::new()],
        );
        case(
            "HotcoldHotShareAbovePlan",
            "stays quiet: the same share while the cold table is still filling",
            five,
            eval,
            tiers(above, cold_planned * (1.0 - DRIFT_TOLERANCE) / 2.0),
            Vec::new(),
        );
    }
    for (alert, metric, extra, planned) in [
        ("HotcoldPromotionRateOffPlan", "hotcold_promotions_total", None, first.promotions_per_s),
        ("HotcoldDemotionRateOffPlan", "hotcold_sync_sessions_total", Some(("what", "demoted")), first.demotions_per_s),
    ] {
        let extra: Vec<(&str, &str)> = extra.into_iter().collect();
        let counted = |per_second: f64, count: usize| {
            vec![info(&a, count), (series(metric, &a, &extra), counter(per_second, five, count))]
        };
        let rate = |per_second: f64| counted(per_second, n);
        case(alert, "fires: twice the plan's rate", five, eval, rate(2.0 * planned + 0.01), by_region());
        if planned > 0.0 {
            case(alert, "fires: a quarter of the plan's rate", five, eval, rate(planned / 4.0), by_region());
        }
        case(alert, "stays quiet: the plan's rate", five, eval, rate(planned), Vec::new());
        let (young, samples) = (7200.0, samples(7200.0, five));
        case(
            alert,
            "stays quiet: twice the plan's rate, but less than a day of data",
            five,
            young,
            counted(2.0 * planned + 0.01, samples),
            Vec::new(),
        );
    }
    all
}

/// `{{ $labels.NAME }}` of `text` replaced by the label's value, as Prometheus expands it.
fn expand(text: &str, labels: &[(String, String)]) -> String {
    labels.iter().fold(text.to_string(), |text, (key, value)| text.replace(&format!("{{{{ $labels.{key} }}}}"), value))
}

/// The test file's text.
pub(super) fn render(t: &Targets) -> String {
    let alerts = rule_set(t).alerts;
    let mut out = String::new();
    let _ = writeln!(out, "# promtool unit tests of {RULES_FILE}, generated with it from {}.", t.provenance());
    let _ = writeln!(out, "# Run: promtool test rules hotcold-alerts.test.yaml (beside {RULES_FILE}). See {RUNBOOK}.");
    let _ = writeln!(out, "rule_files:\n  - {RULES_FILE}\nevaluation_interval: 5m\ntests:");
    for case in cases(t) {
        let Some(alert) = alerts.iter().find(|a| a.name == case.alert) else { continue };
        let _ = writeln!(out, "  - name: {}", quoted(&format!("{} {}", case.alert, case.title)));
        let _ = writeln!(out, "    interval: {}\n    input_series:", duration(case.interval));
        for (series, values) in &case.series {
            let _ = writeln!(out, "      - series: {}\n        values: {}", quoted(series), quoted(values));
        }
        let _ = writeln!(out, "    alert_rule_test:");
        let _ = writeln!(out, "      - eval_time: {}\n        alertname: {}", duration(case.eval_seconds), case.alert);
        if case.expected.is_empty() {
            out.push_str("        exp_alerts: []\n");
            continue;
        }
        out.push_str("        exp_alerts:\n");
        for labels in &case.expected {
            expected_alert(&mut out, alert, labels);
        }
    }
    out
}

fn expected_alert(out: &mut String, alert: &Alert, labels: &[(String, String)]) {
    out.push_str("          - exp_labels:\n");
    let _ = writeln!(out, "              severity: {}", quoted(alert.severity));
    for (key, value) in labels {
        let _ = writeln!(out, "              {key}: {}", quoted(value));
    }
    out.push_str("            exp_annotations:\n");
    let _ = writeln!(out, "              summary: {}", quoted(&expand(&alert.summary, labels)));
    let _ = writeln!(out, "              description: {}", quoted(&expand(&alert.description, labels)));
    let _ = writeln!(out, "              runbook_url: {}", quoted(&alert.runbook()));
}
