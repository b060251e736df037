//! The Grafana dashboard: one row per item of the ADR's monitoring list, what production does
//! against the plan's figures (the `hotcold:plan_*` series of the rule file) and the SLO lines.

use serde_json::{Value, json};

use super::rules::{error_ratio, per_region};
use super::{Targets, num};

/// One panel: a time series of one or more queries.
#[derive(Debug, Clone)]
pub(super) struct Panel {
    pub(super) title: &'static str,
    pub(super) description: &'static str,
    /// Grafana's unit name.
    pub(super) unit: &'static str,
    /// `(PromQL, legend)`.
    pub(super) queries: Vec<(String, &'static str)>,
}

/// The rows of the dashboard and their panels.
pub(super) fn rows(t: &Targets) -> Vec<(&'static str, Vec<Panel>)> {
    let panel =
        |title, description, unit, queries: Vec<(String, &'static str)>| Panel { title, description, unit, queries };
    let lifecycle = |metric: &str| per_region("sum", "region", &format!("rate({metric}[5m])"));
    vec![
        (
            "Availability across regions",
            vec![
                panel(
                    "Ready instances by region",
                    "Instances answering /readyz 200, of those reporting (hotcold_ready, checked at each scrape).",
                    "short",
                    vec![
                        ("sum by (region) (hotcold_ready)".into(), "{{region}} ready"),
                        ("count by (region) (hotcold_serve_info)".into(), "{{region}} reporting"),
                    ],
                ),
                panel(
                    "Failed requests (share) against the availability budget",
                    "503s (a backend down, the request timeout, the in-flight limit) per request, against 1 - slo.availability.",
                    "percentunit",
                    vec![
                        (error_ratio("5m"), "{{region}} 5m"),
                        (error_ratio("1h"), "{{region}} 1h"),
                        (format!("vector({})", num(t.error_budget)), "error budget"),
                    ],
                ),
                panel(
                    "Requests by operation and outcome",
                    "hotcold_requests_total.",
                    "reqps",
                    vec![("sum by (op, outcome) (rate(hotcold_requests_total[5m]))".into(), "{{op}} {{outcome}}")],
                ),
                panel(
                    "Requests refused before a handler",
                    "hotcold_requests_rejected_total: timeout and overloaded count against availability.",
                    "reqps",
                    vec![("sum by (reason) (rate(hotcold_requests_rejected_total[5m]))".into(), "{{reason}}")],
                ),
            ],
        ),
        (
            "Hot and cold tiers",
            vec![
                panel(
                    "Hot sessions by region against the plan's peak",
                    "Sessions in each region's Redis; the plan priced its nodes for the peak plus costs.redis.headroom.",
                    "short",
                    vec![
                        ("max by (region) (hotcold_sessions{tier=\"hot\"})".into(), "{{region}}"),
                        ("hotcold:plan_hot_sessions_peak".into(), "{{region}} plan peak"),
                    ],
                ),
                panel(
                    "Hot share against the plan",
                    "hot / (hot + cold); DynamoDB refreshes its item count about every six hours.",
                    "percentunit",
                    vec![("hotcold:hot_share".into(), "hot share"), ("hotcold:plan_hot_share".into(), "plan")],
                ),
                panel(
                    "Cold sessions against the plan's steady state",
                    "Items in the sessions table; the table fills for one cold TTL after launch.",
                    "short",
                    vec![("hotcold:cold_sessions:max".into(), "cold"), ("hotcold:plan_cold_sessions".into(), "plan")],
                ),
            ],
        ),
        (
            "Promotion and demotion",
            vec![
                panel(
                    "Promotions by region against the plan",
                    "Lookups served from DynamoDB and made hot again, per second.",
                    "ops",
                    vec![
                        (lifecycle("hotcold_promotions_total"), "{{region}}"),
                        ("hotcold:promotions:rate1d".into(), "{{region}} last day"),
                        ("hotcold:plan_promotions:rate1d".into(), "{{region}} plan"),
                    ],
                ),
                panel(
                    "Demotions by region against the plan",
                    "Sessions the sync job moved to DynamoDB, per second.",
                    "ops",
                    vec![
                        (lifecycle("hotcold_sync_sessions_total{what=\"demoted\"}"), "{{region}}"),
                        ("hotcold:demotions:rate1d".into(), "{{region}} last day"),
                        ("hotcold:plan_demotions:rate1d".into(), "{{region}} plan"),
                    ],
                ),
                panel(
                    "Sync lag by region",
                    "Seconds since the lease holder's last clean sync pass; the alert is at twice sync_interval.",
                    "s",
                    vec![
                        (per_region("max", "region", "hotcold_sync_lag_seconds"), "{{region}}"),
                        (format!("vector({})", num(2.0 * t.sync_interval_s)), "alert"),
                    ],
                ),
                panel(
                    "Sync passes by result",
                    "ok, error, skipped (another instance holds the lease).",
                    "ops",
                    vec![(per_region("sum", "region, result", "rate(hotcold_sync_passes_total[5m])"), "{{region}} {{result}}")],
                ),
            ],
        ),
        (
            "Audit trail",
            vec![
                panel(
                    "Audit records pending by region",
                    "Records in the outbox and in process, waiting for the audit table.",
                    "short",
                    vec![(per_region("max", "region", "hotcold_audit_events_pending"), "{{region}}")],
                ),
                panel(
                    "Audit records by outcome",
                    "written, deferred, delivered, failed (lost: a gap in the trail).",
                    "ops",
                    vec![(per_region("sum", "region, outcome", "rate(hotcold_audit_events_total[5m])"), "{{region}} {{outcome}}")],
                ),
            ],
        ),
        (
            "Latency and backends",
            vec![
                panel(
                    "Lookup p95 by tier against the SLOs",
                    "95th percentile of lookups by region and by the tier that served them.",
                    "s",
                    vec![
                        (
                            "histogram_quantile(0.95, sum by (region, tier, le) (rate(hotcold_lookup_duration_seconds_bucket[5m])))".into(),
                            "{{region}} {{tier}}",
                        ),
                        (format!("vector({})", num(t.hot_access_p95_s)), "hot access SLO"),
                        (format!("vector({})", num(t.cold_promotion_p95_s)), "cold promotion SLO"),
                    ],
                ),
                panel(
                    "Backend calls failing (share)",
                    "Redis and DynamoDB calls that failed, per call, by region and backend.",
                    "percentunit",
                    vec![(
                        format!(
                            "{} / {}",
                            per_region("sum", "region, backend", "rate(hotcold_backend_call_duration_seconds_count{result=\"error\"}[5m])"),
                            per_region("sum", "region, backend", "rate(hotcold_backend_call_duration_seconds_count[5m])")
                        ),
                        "{{region}} {{backend}}",
                    )],
                ),
                panel(
                    "Backend call p95",
                    "95th percentile of Redis and DynamoDB calls, the sync job's included.",
                    "s",
                    vec![(
                        "histogram_quantile(0.95, sum by (backend, le) (rate(hotcold_backend_call_duration_seconds_bucket[5m])))".into(),
                        "{{backend}}",
                    )],
                ),
            ],
        ),
    ]
}

/// Every query of the dashboard, in panel order.
#[cfg(test)]
pub(super) fn queries(t: &Targets) -> Vec<String> {
    rows(t).into_iter().flat_map(|(_, panels)| panels).flat_map(|p| p.queries.into_iter().map(|(q, _)| q)).collect()
}

/// The dashboard's JSON (Grafana's import format, its data source chosen at import).
pub(super) fn render(t: &Targets) -> anyhow::Result<String> {
    let datasource = json!({ "type": "prometheus", "uid": "${datasource}" });
    let mut panels = Vec::new();
    let mut id = 0;
    let mut y = 0;
    for (title, row) in rows(t) {
        id += 1;
        panels.push(json!({ "id": id, "type": "row", "title": title, "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": y }, "panels": [] }));
        y += 1;
        let height = 8 * row.len().div_ceil(2);
        for (index, panel) in row.into_iter().enumerate() {
            id += 1;
            let targets: Vec<Value> = panel
                .queries
                .iter()
                .zip('A'..='Z')
                .map(|((expr, legend), ref_id)| {
                    json!({ "refId": ref_id.to_string(), "datasource": datasource, "expr": expr, "legendFormat": legend })
                })
                .collect();
            panels.push(json!({
                "id": id,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
                "datasource": datasource,
                "gridPos": { "h": 8, "w": 12, "x": (index % 2) * 12, "y": y + (index / 2) * 8 },
                "fieldConfig": { "defaults": { "unit": panel.unit }, "overrides": [] },
                "options": { "legend": { "displayMode": "list", "placement": "bottom" }, "tooltip": { "mode": "multi" } },
                "targets": targets,
            }));
        }
        y += height;
    }
    let dashboard = json!({
        "title": format!("hotcold: {}", t.scenario),
        "uid": uid(&t.scenario),
        "description": format!("The ADR-0010 monitoring list against the plan of {}. The plan lines need the rules of hotcold-alerts.yaml loaded.", t.provenance()),
        "tags": ["hotcold"],
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "1m",
        "time": { "from": "now-24h", "to": "now" },
        "timezone": "utc",
        "templating": { "list": [ { "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus" } ] },
        "annotations": { "list": [] },
        "panels": panels,
    });
    Ok(serde_json::to_string_pretty(&dashboard)? + "\n")
}

/// The dashboard's uid: `hotcold-` and the scenario's name, kept to what Grafana accepts (40
/// characters of letters, digits, `-` and `_`), so importing a regenerated file replaces the old one.
fn uid(scenario: &str) -> String {
    let name: String =
        scenario.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("hotcold-{name}").chars().take(40).collect()
}
