//! The rule file: the plan's figures as recording rules, the per-region series the alerts and the
//! dashboard share, and the alerts of the ADR's monitoring list.

use std::fmt::Write as _;

use super::{DRIFT_TOLERANCE, FAST_BURN, SLOW_BURN, Targets, duration, num, quoted};

/// Where each alert's runbook lives: a section of this file per alert, named after it.
pub(super) const RUNBOOK: &str = "deploy/README.md";

/// The offset at which a daily figure's series must already exist for the figure to cover a day.
pub(super) const FULL_DAY: &str = "23h";

/// One recording rule.
#[derive(Debug, Clone)]
pub(super) struct Recording {
    pub(super) name: String,
    pub(super) expr: String,
    pub(super) labels: Vec<(String, String)>,
}

/// One alerting rule. `summary` and `description` may use `{{ $labels.NAME }}` of the labels the
/// expression keeps, nothing else (the promtool cases expand them to compare).
#[derive(Debug, Clone)]
pub(super) struct Alert {
    pub(super) name: &'static str,
    pub(super) expr: String,
    pub(super) for_seconds: f64,
    pub(super) severity: &'static str,
    pub(super) summary: String,
    pub(super) description: String,
}

impl Alert {
    /// The `runbook_url` annotation: the alert's section of [`RUNBOOK`].
    pub(super) fn runbook(&self) -> String {
        format!("{RUNBOOK}#{}", self.name.to_lowercase())
    }
}

/// Every rule of the file, by group.
#[derive(Debug, Clone)]
pub(super) struct RuleSet {
    /// The plan's figures, constant series.
    pub(super) plan: Vec<Recording>,
    /// Per-region series computed from what serve exports.
    pub(super) derived: Vec<Recording>,
    pub(super) alerts: Vec<Alert>,
}

/// `expr` (a per-instance series) summed by `labels` after taking each instance's region from
/// `hotcold_serve_info`.
pub(super) fn per_region(aggregate: &str, labels: &str, expr: &str) -> String {
    format!("{aggregate} by ({labels}) ({expr} * on(job, instance) group_left(region) hotcold_serve_info)")
}

/// Requests that failed for want of a backend or of capacity (503s: `unavailable`, and the
/// request timeout and in-flight limit), the availability SLO's errors.
fn failed_requests(window: &str) -> String {
    format!(
        "(rate(hotcold_requests_total{{outcome=\"unavailable\"}}[{window}]) or rate(hotcold_requests_rejected_total{{reason=~\"timeout|overloaded\"}}[{window}]))"
    )
}

/// Every request the availability SLO counts.
fn all_requests(window: &str) -> String {
    format!(
        "(rate(hotcold_requests_total[{window}]) or rate(hotcold_requests_rejected_total{{reason=~\"timeout|overloaded\"}}[{window}]))"
    )
}

/// The name of the recorded error ratio over `window`.
pub(super) fn error_ratio(window: &str) -> String {
    format!("hotcold:request_errors:ratio_rate{window}")
}

/// The rules for `targets`.
pub(super) fn rule_set(t: &Targets) -> RuleSet {
    let mut plan = vec![
        constant("hotcold:plan_hot_share", t.hot_share, None),
        constant("hotcold:plan_cold_sessions", t.cold_sessions, None),
    ];
    for region in &t.regions {
        let name = Some(region.name.as_str());
        plan.push(constant("hotcold:plan_hot_sessions_peak", region.hot_peak, name));
        plan.push(constant("hotcold:plan_promotions:rate1d", region.promotions_per_s, name));
        plan.push(constant("hotcold:plan_demotions:rate1d", region.demotions_per_s, name));
    }
    let mut derived = vec![
        record("hotcold:hot_sessions:sum", "sum(max by (region) (hotcold_sessions{tier=\"hot\"}))".into()),
        record("hotcold:cold_sessions:max", "max(hotcold_sessions{tier=\"cold\"})".into()),
        record(
            "hotcold:hot_share",
            "hotcold:hot_sessions:sum / (hotcold:hot_sessions:sum + hotcold:cold_sessions:max)".into(),
        ),
        record("hotcold:promotions:rate1d", per_region("sum", "region", "rate(hotcold_promotions_total[1d])")),
        record(
            "hotcold:demotions:rate1d",
            per_region("sum", "region", "rate(hotcold_sync_sessions_total{what=\"demoted\"}[1d])"),
        ),
    ];
    for window in ["5m", "30m", "1h", "6h"] {
        derived.push(record(
            &error_ratio(window),
            format!(
                "{} / {}",
                per_region("sum", "region", &failed_requests(window)),
                per_region("sum", "region", &all_requests(window))
            ),
        ));
    }
    RuleSet { plan, derived, alerts: alerts(t) }
}

fn record(name: &str, expr: String) -> Recording {
    Recording { name: name.to_string(), expr, labels: Vec::new() }
}

fn constant(name: &str, value: f64, region: Option<&str>) -> Recording {
    Recording {
        name: name.to_string(),
        expr: format!("vector({})", num(value)),
        labels: region.map(|r| vec![("region".to_string(), r.to_string())]).unwrap_or_default(),
    }
}

fn alerts(t: &Targets) -> Vec<Alert> {
    let interval = t.sync_interval_s;
    let low = num(1.0 - DRIFT_TOLERANCE);
    let high = num(1.0 + DRIFT_TOLERANCE);
    let absent: Vec<String> =
        t.regions.iter().map(|r| format!("absent(hotcold_serve_info{{region={}}})", quoted(&r.name))).collect();
    let latency = |tier: &str| {
        format!(
            "histogram_quantile(0.95, sum by (region, le) (rate(hotcold_lookup_duration_seconds_bucket{{tier=\"{tier}\"}}[10m])))"
        )
    };
    // A daily figure is judged only once it covers a day: its series existed 23 hours ago (a rate
    // over a day of which Prometheus has an hour reads a 24th of the truth).
    let drift = |figure: &str| {
        format!(
            "(hotcold:{figure}:rate1d < on(region) {low} * hotcold:plan_{figure}:rate1d or hotcold:{figure}:rate1d > on(region) {high} * hotcold:plan_{figure}:rate1d) and on(region) hotcold:{figure}:rate1d offset {FULL_DAY}"
        )
    };
    vec![
        Alert {
            name: "HotcoldRegionNotReady",
            expr: "max by (region) (hotcold_ready) == 0".into(),
            for_seconds: 120.0,
            severity: "critical",
            summary: "No hotcold instance of {{ $labels.region }} is ready".into(),
            description: "Every instance serving {{ $labels.region }} answers /readyz 503: its Redis or the sessions table does not answer. Requests of the region fail or fail over. Check /readyz on an instance (its checks name the backend) and the backend itself.".into(),
        },
        Alert {
            name: "HotcoldInstanceNotReady",
            expr: "hotcold_ready == 0".into(),
            for_seconds: 300.0,
            severity: "warning",
            summary: "A hotcold instance of {{ $labels.region }} is not ready".into(),
            description: "{{ $labels.instance }} answers /readyz 503 while other instances of {{ $labels.region }} may still serve. Check its /readyz checks and its network path to Redis and DynamoDB.".into(),
        },
        Alert {
            name: "HotcoldRegionAbsent",
            expr: absent.join(" or "),
            for_seconds: 300.0,
            severity: "critical",
            summary: "No hotcold instance of {{ $labels.region }} reports metrics".into(),
            description: "The plan has a region {{ $labels.region }} but no scraped instance serves it: it is down, or Prometheus cannot scrape it. Check the instances and the scrape targets.".into(),
        },
        Alert {
            name: "HotcoldSyncLagHigh",
            expr: format!(
                "{} > {}",
                per_region("max", "region", "hotcold_sync_lag_seconds"),
                num(2.0 * interval)
            ),
            for_seconds: interval,
            severity: "warning",
            summary: "The sync job of {{ $labels.region }} has not completed a clean pass in two sync intervals".into(),
            description: "hotcold_sync_lag_seconds has passed twice sync_interval: idle sessions are not being demoted, so Redis fills beyond the plan. Check hotcold_sync_passes_total{result=\"error\"}, the region's Redis and DynamoDB, and the lease holder's log.".into(),
        },
        Alert {
            name: "HotcoldSyncNotRunning",
            expr: format!("{} == 0", per_region("max", "region", "hotcold_sync_lease_held")),
            for_seconds: 4.0 * interval,
            severity: "warning",
            summary: "No instance of {{ $labels.region }} holds the sync lease".into(),
            description: "No instance has run the region's sync job for longer than the lease lives (three sync intervals) plus one: nothing demotes or expires its sessions. Check the instances' hotcold_sync_passes_total and the region's Redis, where the lease lives.".into(),
        },
        Alert {
            name: "HotcoldAuditEventsPending",
            expr: format!("{} > 0", per_region("max", "region", "hotcold_audit_events_pending")),
            for_seconds: 900.0,
            severity: "warning",
            summary: "Audit records of {{ $labels.region }} wait to reach the audit table".into(),
            description: "hotcold_audit_events_pending has stayed above 0 for 15 minutes although the outbox drains every second: the audit table does not take records, and the compliance trail is behind. Check the audit table (throttling, permissions) and hotcold_backend_call_duration_seconds_count{backend=\"dynamodb\",result=\"error\"}.".into(),
        },
        Alert {
            name: "HotcoldAuditEventsLost",
            expr: format!(
                "{} > 0",
                per_region("sum", "region", "increase(hotcold_audit_events_total{outcome=\"failed\"}[15m])")
            ),
            for_seconds: 60.0,
            severity: "critical",
            summary: "Audit records of {{ $labels.region }} were lost".into(),
            description: "Neither the audit table nor the outbox took some records: the trail has gaps (the ADR asks for 100% retention). Run `hotcold audit --verify` to find them; check the audit table and the region's Redis, which holds the outbox.".into(),
        },
        Alert {
            name: "HotcoldAnalyticsWritesFailing",
            expr: format!(
                "{} > 0",
                per_region("sum", "region", "increase(hotcold_analytics_writes_failed_total[15m])")
            ),
            for_seconds: 900.0,
            severity: "warning",
            summary: "Session summaries of {{ $labels.region }} are not reaching the analytics table".into(),
            description: "Summary updates have failed for 15 minutes (their audit records landed): BI and fraud tools see stale or missing sessions. Check that the analytics table exists where this instance reaches it (dynamodb.analytics_region when the plan keeps one table, in the first region) and its DynamoDB errors.".into(),
        },
        Alert {
            name: "HotcoldBackendErrors",
            expr: format!(
                "{} / {} > {}",
                per_region(
                    "sum",
                    "region, backend",
                    "rate(hotcold_backend_call_duration_seconds_count{result=\"error\"}[5m])"
                ),
                per_region("sum", "region, backend", "rate(hotcold_backend_call_duration_seconds_count[5m])"),
                num(FAST_BURN * t.error_budget)
            ),
            for_seconds: 600.0,
            severity: "warning",
            summary: "{{ $labels.backend }} calls from {{ $labels.region }} are failing".into(),
            description: "More {{ $labels.backend }} calls fail than the availability target allows if each reached a user (a fast error-budget burn). Check the backend's health, throttling and timeouts, and hotcold_backend_call_duration_seconds by call.".into(),
        },
        Alert {
            name: "HotcoldErrorBudgetFastBurn",
            expr: format!(
                "{} > {budget} and {} > {budget}",
                error_ratio("1h"),
                error_ratio("5m"),
                budget = num(FAST_BURN * t.error_budget)
            ),
            for_seconds: 120.0,
            severity: "critical",
            summary: "{{ $labels.region }} is spending its availability error budget fast".into(),
            description: "Requests fail with 503 (a backend down, the request timeout, the in-flight limit) at a rate that would spend a month's budget of the availability SLO in about two days. Check /readyz, the backend error alerts and hotcold_requests_rejected_total.".into(),
        },
        Alert {
            name: "HotcoldErrorBudgetSlowBurn",
            expr: format!(
                "{} > {budget} and {} > {budget}",
                error_ratio("6h"),
                error_ratio("30m"),
                budget = num(SLOW_BURN * t.error_budget)
            ),
            for_seconds: 900.0,
            severity: "warning",
            summary: "{{ $labels.region }} is spending its availability error budget".into(),
            description: "Requests fail with 503 at a rate that would spend a month's budget of the availability SLO in five days. Check which operations fail (hotcold_requests_total{outcome=\"unavailable\"} by op) and the backends.".into(),
        },
        Alert {
            name: "HotcoldHotAccessSlowerThanSlo",
            expr: format!("{} > {}", latency("hot"), num(t.hot_access_p95_s)),
            for_seconds: 900.0,
            severity: "warning",
            summary: "Hot lookups in {{ $labels.region }} are slower than the SLO".into(),
            description: "The 95th percentile of lookups served from Redis is above slo.hot_access_p95_ms. Check the region's Redis (CPU, memory, evictions, network) and hotcold_backend_call_duration_seconds{backend=\"redis\"}.".into(),
        },
        Alert {
            name: "HotcoldColdPromotionSlowerThanSlo",
            expr: format!("{} > {}", latency("promoted"), num(t.cold_promotion_p95_s)),
            for_seconds: 900.0,
            severity: "warning",
            summary: "Cold promotions in {{ $labels.region }} are slower than the SLO".into(),
            description: "The 95th percentile of lookups promoted from DynamoDB is above slo.cold_promotion_p95_ms. Check DynamoDB latency and throttling, and hotcold_backend_call_duration_seconds{backend=\"dynamodb\",call=\"get\"}.".into(),
        },
        Alert {
            name: "HotcoldHotSessionsAbovePlan",
            expr: format!(
                "max by (region) (hotcold_sessions{{tier=\"hot\"}}) > on(region) {} * hotcold:plan_hot_sessions_peak",
                num(1.0 + t.headroom)
            ),
            for_seconds: 1800.0,
            severity: "warning",
            summary: "Redis of {{ $labels.region }} holds more sessions than the plan's peak plus headroom".into(),
            description: "The hot tier has outgrown what its nodes were priced for (the plan's peak plus costs.redis.headroom). Check that demotion runs (sync lag), whether traffic has grown past the scenario's, and re-plan the node type or count.".into(),
        },
        Alert {
            name: "HotcoldHotShareBelowPlan",
            expr: format!(
                "avg_over_time(hotcold:hot_share[1d]) < {low} * hotcold:plan_hot_share and hotcold:hot_share offset {FULL_DAY}"
            ),
            for_seconds: 3600.0,
            severity: "warning",
            summary: "Fewer sessions are hot than the plan expects".into(),
            description: "The day's average hot share (hot / (hot + cold)) is below the plan's: more lookups pay a promotion, or the cold table holds more than planned. Check the sessions table's TTL attribute (expired items must be deleted), promotion_threshold, and hotcold_promotions_total against the plan.".into(),
        },
        Alert {
            name: "HotcoldHotShareAbovePlan",
            expr: format!(
                "avg_over_time(hotcold:hot_share[1d]) > {high} * hotcold:plan_hot_share and hotcold:cold_sessions:max >= {low} * hotcold:plan_cold_sessions and hotcold:hot_share offset {FULL_DAY}"
            ),
            for_seconds: 3600.0,
            severity: "warning",
            summary: "More sessions are hot than the plan expects".into(),
            description: "The day's average hot share is above the plan's while the cold table has reached its planned size (before that, a filling table explains a high share): sessions stay in Redis longer than planned, which costs memory. Check demotion (sync lag, hotcold_sync_sessions_total{what=\"demoted\"}) and promotion_threshold.".into(),
        },
        Alert {
            name: "HotcoldPromotionRateOffPlan",
            expr: drift("promotions"),
            for_seconds: 3600.0,
            severity: "warning",
            summary: "Promotions in {{ $labels.region }} are far from the plan's rate".into(),
            description: "The day's cold promotions per second differ from the plan's by more than half: returning users or thresholds differ from the scenario, so the DynamoDB reads and the latency the plan priced are off. Compare hotcold:promotions:rate1d with hotcold:plan_promotions:rate1d and re-plan with the observed traffic (`hotcold calibrate`).".into(),
        },
        Alert {
            name: "HotcoldDemotionRateOffPlan",
            expr: drift("demotions"),
            for_seconds: 3600.0,
            severity: "warning",
            summary: "Demotions in {{ $labels.region }} are far from the plan's rate".into(),
            description: "The day's demotions per second differ from the plan's by more than half: sessions go idle at another rate than the scenario's, so the DynamoDB writes the plan priced are off. Check the sync job (lag, errors), compare hotcold:demotions:rate1d with hotcold:plan_demotions:rate1d, and re-plan with the observed traffic.".into(),
        },
    ]
}

/// The rule file's text.
pub(super) fn render(t: &Targets) -> String {
    let set = rule_set(t);
    let mut out = String::new();
    let _ = writeln!(out, "# hotcold alert rules, generated by `hotcold infra --monitoring` from {}.", t.provenance());
    let _ = writeln!(out, "# What each alert means and what to do: {RUNBOOK}. Do not edit by hand: regenerate.");
    out.push_str("groups:\n");
    for (name, rules) in [("hotcold-plan", &set.plan), ("hotcold-series", &set.derived)] {
        let _ = writeln!(out, "  - name: {name}\n    rules:");
        for rule in rules {
            let _ = writeln!(out, "      - record: {}\n        expr: {}", rule.name, quoted(&rule.expr));
            if !rule.labels.is_empty() {
                out.push_str("        labels:\n");
                for (key, value) in &rule.labels {
                    let _ = writeln!(out, "          {key}: {}", quoted(value));
                }
            }
        }
    }
    out.push_str("  - name: hotcold-alerts\n    rules:\n");
    for alert in &set.alerts {
        let _ = writeln!(out, "      - alert: {}", alert.name);
        let _ = writeln!(out, "        expr: {}", quoted(&alert.expr));
        let _ = writeln!(out, "        for: {}", duration(alert.for_seconds));
        let _ = writeln!(out, "        labels:\n          severity: {}", alert.severity);
        let _ = writeln!(out, "        annotations:");
        let _ = writeln!(out, "          summary: {}", quoted(&alert.summary));
        let _ = writeln!(out, "          description: {}", quoted(&alert.description));
        let _ = writeln!(out, "          runbook_url: {}", quoted(&alert.runbook()));
    }
    out
}
