//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network).

use std::fmt::Write as _;

use hotcold_model::RunRecord;
use hotcold_model::record::Percentiles;

use crate::charts::Chart;
use crate::cost::{CostModel, GB, GIB};
use crate::summary::FullSummary;

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn usd(x: f64) -> String {
    let neg = x < 0.0;
    let cents = (x.abs() * 100.0).round() as u64;
    let whole = cents / 100;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}.{:02}", if neg { "-" } else { "" }, cents % 100)
}

fn int(x: f64) -> String {
    let v = if x.is_finite() { x.round() as i64 } else { 0 };
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// A point in the run as "3 d 12 h 5 min".
fn clock(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 { (seconds / 60.0).round() as u64 } else { 0 };
    let (d, h, m) = (total / 1440, (total % 1440) / 60, total % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} d"));
    }
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 || parts.is_empty() {
        parts.push(format!("{m} min"));
    }
    parts.join(" ")
}

fn duration(seconds: f64) -> String {
    if seconds >= 86_400.0 && (seconds % 86_400.0).abs() < 1.0 {
        format!("{:.0} d", seconds / 86_400.0)
    } else if seconds >= 86_400.0 {
        format!("{:.1} d", seconds / 86_400.0)
    } else if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

struct SloText {
    meaning: &'static str,
    fmt: fn(f64) -> String,
    cmp: &'static str,
}

fn slo_text(name: &str) -> SloText {
    match name {
        "hot_access_p95_ms" => SloText {
            meaning: "95% of lookups of a hot session (in Redis) answer within",
            fmt: |x| format!("{x:.3} ms"),
            cmp: "≤",
        },
        "cold_promotion_p95_ms" => SloText {
            meaning: "95% of lookups that promote a cold session from DynamoDB answer within",
            fmt: |x| format!("{x:.3} ms"),
            cmp: "≤",
        },
        "failover_session_loss" => SloText {
            meaning: "share of the failed region's hot sessions lost in a region outage",
            fmt: |x| format!("{:.3}%", x * 100.0),
            cmp: "≤",
        },
        "availability" => SloText {
            meaning: "share of requests answered (not failed by a down or throttled store)",
            fmt: |x| format!("{:.4}%", x * 100.0),
            cmp: "≥",
        },
        "cost_reduction_vs_redis_only" => SloText {
            meaning: "monthly saving against keeping every session in Redis",
            fmt: |x| format!("{:.1}%", x * 100.0),
            cmp: "≥",
        },
        _ => SloText { meaning: "", fmt: |x| format!("{x}"), cmp: "" },
    }
}

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f6f7f9;color:#1d2430;line-height:1.45}
main{max-width:1040px;margin:0 auto;padding:24px 28px 64px;background:#fff;box-shadow:0 0 12px rgba(0,0,0,.06)}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:21px;margin:36px 0 8px;padding-top:8px;border-top:1px solid #e3e6ea}
h3{font-size:16px;margin:20px 0 6px}
.sub{color:#5a6473;margin:0 0 16px}
.verdict{border-radius:8px;padding:14px 18px;margin:16px 0;font-size:17px}
.verdict.pass{background:#e6f4ea;border:1px solid #8bc79a}.verdict.fail{background:#fdecea;border:1px solid #e3a29b}
.verdict b.big{font-size:21px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.kpi{flex:1 1 0;min-width:150px;border:1px solid #e3e6ea;border-radius:8px;padding:10px 14px}
.kpi .v{font-size:22px;font-weight:600}.kpi .l{color:#5a6473;font-size:13px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:14px;width:100%}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f6;font-weight:600}td.r{white-space:nowrap}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass-cell{color:#137333;font-weight:600}.fail-cell{color:#b3261e;font-weight:600}
.note{background:#fff8e1;border-left:4px solid #f2c94c;padding:8px 12px;margin:10px 0;font-size:14px}
.chart{margin:10px 0 4px}.chart svg{width:100%;height:auto;display:block}
.small{font-size:13px;color:#5a6473}.basis{font-size:12px;color:#5a6473}
pre{background:#f6f8fa;border:1px solid #e3e6ea;padding:12px;overflow:auto;font-size:12.5px}
nav a{margin-right:12px;font-size:14px}
"#;

fn chart_block(out: &mut String, chart: &Chart, caption: &str) {
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"chart-{}\" data-chart=\"{}\">{}<figcaption class=\"small\">{} (also <code>charts/{}.svg</code>, <code>charts/{}.png</code>)</figcaption></figure>",
        esc(&chart.name),
        esc(&chart.name),
        strip_xml_decl(&chart.svg),
        caption,
        esc(&chart.name),
        esc(&chart.name)
    );
}

fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The whole page.
pub(crate) fn report_html(record: &RunRecord, s: &FullSummary, model: &CostModel, charts: &[Chart]) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let chart = |name: &str| charts.iter().find(|c| c.name == name);
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>hotcold report: {}</title><style>{CSS}</style></head><body><main>",
        esc(&s.scenario)
    );
    let _ = writeln!(
        h,
        "<h1>Hybrid session store report: {}</h1><p class=\"sub\">Simulated {} of traffic ({} warmup excluded from averages and percentiles) in {} region(s): {}; seed {}, sample {} (counts and costs scaled by 1/sample). Redis holds hot sessions, DynamoDB cold ones (ADR-0010).</p>",
        esc(&s.scenario),
        duration(s.simulated_seconds),
        duration(record.warmup_seconds),
        record.regions.len(),
        esc(&record.regions.join(", ")),
        s.seed,
        s.sample
    );
    h.push_str("<nav><a href=\"#slo\">SLOs</a><a href=\"#latency\">Latency</a><a href=\"#hotcold\">Hot/cold</a><a href=\"#lifecycle\">Lifecycle</a><a href=\"#cost\">Cost</a><a href=\"#failover\">Failover</a><a href=\"#residency\">Residency</a><a href=\"#scenario\">Scenario</a></nav>\n");

    // Verdict.
    let failed: Vec<&str> = s.slo.iter().filter(|r| !r.pass).map(|r| r.name.as_str()).collect();
    let class = if failed.is_empty() { "pass" } else { "fail" };
    let slo_line = if failed.is_empty() {
        format!("<b class=\"big\">All {} SLOs pass.</b>", s.slo.len())
    } else {
        format!("<b class=\"big\">{} of {} SLOs fail:</b> {}.", failed.len(), s.slo.len(), esc(&failed.join(", ")))
    };
    let saving = s.cost_usd_month.saving_vs_redis_only;
    let tables_line = format!(
        " With the audit ({}) and analytics ({}) tables, which Redis-only does not have, the hybrid costs <b>{}</b> per month.",
        usd(s.cost_usd_month.audit),
        usd(s.cost_usd_month.analytics),
        usd(s.cost_usd_month.total)
    );
    let cost_line = if saving >= 0.0 {
        format!(
            "The hybrid store's session storage costs <b>{}</b> per month against <b>{}</b> for Redis only: a saving of <b>{:.1}%</b> ({} per month).{tables_line}",
            usd(s.cost_usd_month.session_storage),
            usd(s.baseline_redis_only.cost_usd_month.total),
            saving * 100.0,
            usd(s.baseline_redis_only.cost_usd_month.total - s.cost_usd_month.session_storage)
        )
    } else {
        format!(
            "The hybrid store's session storage costs <b>{}</b> per month against <b>{}</b> for Redis only: <b>{:.1}% more</b>.{tables_line}",
            usd(s.cost_usd_month.session_storage),
            usd(s.baseline_redis_only.cost_usd_month.total),
            -saving * 100.0
        )
    };
    let _ = writeln!(h, "<div class=\"verdict {class}\" id=\"verdict\">{slo_line}<br>{cost_line}</div>");
    let _ = writeln!(
        h,
        "<div class=\"kpis\"><div class=\"kpi\"><div class=\"v\">{:.2} ms</div><div class=\"l\">hot access p95</div></div><div class=\"kpi\"><div class=\"v\">{:.2} ms</div><div class=\"l\">cold promotion p95</div></div><div class=\"kpi\"><div class=\"v\">{:.1}%</div><div class=\"l\">sessions hot (time average)</div></div><div class=\"kpi\"><div class=\"v\">{}</div><div class=\"l\">hybrid cost per month</div></div><div class=\"kpi\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div></div>",
        s.latency_ms.hot_access.p95,
        s.latency_ms.cold_promotion.p95,
        s.hot_cold.hot_ratio_avg * 100.0,
        usd(s.cost_usd_month.total),
        if s.failover.outages > 0 { format!("{:.3}%", s.failover.loss_ratio * 100.0) } else { "none".into() },
        if s.failover.outages > 0 { "failover session loss" } else { "failover loss: no outage injected" }
    );
    if s.steady_state.storage_projected || s.steady_state.baseline_projected {
        let _ = writeln!(
            h,
            "<div class=\"note\" id=\"projection-note\"><b>Projected to steady state.</b> The run ({}) is shorter than the cold TTL ({}), so stored amounts were still growing when it ended. Monthly figures use steady-state amounts projected with Little's law: measured net inflow × residence time, where residence = cold TTL + mean session lifetime ({} estimated from the scenario's visit and return distributions) = {}. {} The measured values are shown beside the projected ones below and in <code>summary.json</code> under <code>measured</code>.</div>",
            duration(s.simulated_seconds),
            duration(record.scenario.session_config.cold_storage.ttl.as_secs_f64()),
            duration(s.steady_state.mean_session_lifetime_seconds),
            duration(s.steady_state.residence_seconds),
            match (s.steady_state.storage_projected, s.steady_state.baseline_projected) {
                (true, true) => "This applies to DynamoDB storage and to the Redis-only baseline's memory.",
                (true, false) => "This applies to DynamoDB storage.",
                _ => "This applies to the Redis-only baseline's memory.",
            }
        );
    }

    // SLO table.
    h.push_str("<h2 id=\"slo\">Service-level objectives</h2><p class=\"small\">Targets from the scenario's <code>slo:</code> block (the ADR's success metrics by default).</p>\n");
    h.push_str("<table id=\"slo-table\"><thead><tr><th>SLO</th><th>what it means</th><th class=\"n\">target</th><th class=\"n\">measured</th><th>verdict</th></tr></thead><tbody>\n");
    for r in &s.slo {
        let t = slo_text(&r.name);
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{} {}</td><td class=\"n\">{}</td><td class=\"{}\">{}</td></tr>",
            esc(&r.name),
            t.meaning,
            t.cmp,
            (t.fmt)(r.target),
            (t.fmt)(r.actual),
            if r.pass { "pass-cell" } else { "fail-cell" },
            if r.pass { "✔ pass" } else { "✘ FAIL" }
        );
    }
    h.push_str("</tbody></table>\n");
    if s.sessions.cold_promotions == 0 {
        h.push_str("<p class=\"note\">No cold promotion happened after warmup: the cold-promotion latency is 0 and its SLO passes vacuously.</p>\n");
    }

    // Latency.
    let _ = writeln!(
        h,
        "<h2 id=\"latency\">Latency</h2><p>Time to answer a request, measured after warmup. A <i>hot access</i> is served from the region's Redis; a <i>cold promotion</i> misses Redis, reads DynamoDB and writes the session back to Redis. A request served by a region other than the session's home (a travelling user: <code>travel_probability</code> = {}) also pays the round trip between the regions, which shows as a step in the curves below.</p>",
        record.scenario.traffic.travel_probability
    );
    h.push_str("<table><thead><tr><th>operation</th><th class=\"n\">p50 (ms)</th><th class=\"n\">p95 (ms)</th><th class=\"n\">p99 (ms)</th><th class=\"n\">max (ms)</th></tr></thead><tbody>\n");
    for (name, p) in [
        ("hot access", &s.latency_ms.hot_access),
        ("cold promotion", &s.latency_ms.cold_promotion),
        ("create", &s.latency_ms.create),
    ] {
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td></tr>",
            p.p50, p.p95, p.p99, p.max
        );
    }
    h.push_str("</tbody></table><table><thead><tr><th>serving region</th><th class=\"n\">hot access p95 (ms)</th><th class=\"n\">cold promotion p95 (ms)</th></tr></thead><tbody>\n");
    for (region, r) in &s.latency_ms.by_region {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td></tr>",
            esc(region),
            r.hot_access.p95,
            r.cold_promotion.p95
        );
    }
    h.push_str("</tbody></table>\n");
    if let Some(c) = chart("latency-cdf") {
        chart_block(
            &mut h,
            c,
            "Read a curve at a latency on the x axis to get the share of requests that were at least that fast; where a curve crosses the dashed 95% line is its p95. Red lines are the SLO targets.",
        );
    }

    // Hot / cold.
    h.push_str("<h2 id=\"hotcold\">Hot and cold sessions</h2>\n");
    let _ = writeln!(
        h,
        "<p>After warmup, on average <b>{}</b> sessions were hot (peak {}) and <b>{}</b> cold: <b>{:.1}%</b> of live sessions sat in Redis. Sessions idle for {} are demoted to DynamoDB by the sync job (every {}).</p>",
        int(s.hot_cold.hot_avg),
        int(s.hot_cold.hot_peak as f64),
        int(s.hot_cold.cold_avg),
        s.hot_cold.hot_ratio_avg * 100.0,
        duration(record.scenario.session_config.hot_storage.promotion_threshold.as_secs_f64()),
        duration(record.scenario.session_config.sync.sync_interval.as_secs_f64())
    );
    if let Some(c) = chart("hot-cold") {
        let growing = if record.simulated_seconds < record.scenario.session_config.cold_storage.ttl.as_secs_f64() {
            format!(
                " The cold count is still growing at the end of the run: cold sessions live {} after their last access, longer than the {} simulated, so the hot ratio keeps falling; at steady state it settles lower still (see the cost section's projection).",
                duration(record.scenario.session_config.cold_storage.ttl.as_secs_f64()),
                duration(s.simulated_seconds)
            )
        } else {
            String::new()
        };
        chart_block(&mut h, c, &format!("Grey: warmup, excluded from averages. Red bands: region outages.{growing}"));
    }

    // Lifecycle.
    h.push_str("<h2 id=\"lifecycle\">Session lifecycle</h2><table><thead><tr><th>event (whole run)</th><th class=\"n\">count</th></tr></thead><tbody>\n");
    let c = &s.sessions;
    for (name, v) in [
        ("sessions created", c.created),
        ("lookups served hot", c.hot_hits),
        ("lookups promoted from cold", c.cold_promotions),
        ("sessions demoted hot → cold", c.demoted),
        ("hot copies expired (TTL)", c.expired_hot),
        ("cold records expired (TTL)", c.expired_cold),
        ("logouts", c.logged_out),
        ("invalid lookups (unknown, expired, revoked, lost)", c.invalid_lookups),
        ("lost sessions (user still held them)", c.lost),
    ] {
        let _ = writeln!(h, "<tr><td>{name}</td><td class=\"n\">{}</td></tr>", int(v as f64));
    }
    h.push_str("</tbody></table>\n");
    if let Some(c) = chart("lifecycle") {
        chart_block(&mut h, c, "Transitions per minute, all regions, scaled to the full population.");
    }

    // Cost.
    cost_section(&mut h, record, s, model);
    if let Some(c) = chart("cost") {
        chart_block(
            &mut h,
            c,
            "Left: the hybrid store stacked by component (the audit and analytics tables on top). Right: the same traffic with every session kept in Redis until the cold TTL after its last access.",
        );
    }
    if let Some(c) = chart("cost-growth") {
        chart_block(
            &mut h,
            c,
            "The monthly cost now and after 3, 6 and 12 months of traffic growth (traffic.growth_per_month): Redis nodes in whole steps, request units and storage with the traffic.",
        );
    }

    if let Some(migration) = &s.migration {
        migration_section(&mut h, migration, chart("migration_cost"));
    }

    // Failover.
    h.push_str("<h2 id=\"failover\">Failover</h2>\n");
    if record.failover.events.is_empty() {
        h.push_str("<p>No region outage was injected in this scenario (<code>faults:</code>), so failover loss is 0 by construction.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<p>{} region outage(s). When a region's Redis fails its traffic moves to another region, which finds the sessions in DynamoDB if they had been written there; sessions whose newest state existed only in the failed Redis are lost (durability mode <code>{}</code>). Overall {} of {} sessions at risk were lost ({:.3}%).</p>",
            s.failover.outages,
            esc(serde_json::to_value(record.scenario.engine.durability)
                .ok()
                .as_ref()
                .and_then(|v| v.as_str())
                .unwrap_or("?")),
            int(s.failover.sessions_lost as f64),
            int(s.failover.sessions_at_risk as f64),
            s.failover.loss_ratio * 100.0
        );
        h.push_str("<table><thead><tr><th>#</th><th>region</th><th>failed over to</th><th class=\"n\">starts at</th><th class=\"n\">duration</th><th class=\"n\">sessions at risk</th><th class=\"n\">lost</th><th class=\"n\">detour</th><th class=\"n\">detoured requests</th><th class=\"n\">moved home after</th><th class=\"n\">p95 back under SLO after</th></tr></thead><tbody>\n");
        for (i, event) in s.failover.events.iter().enumerate() {
            let o = &event.outage;
            let recovery =
                event.slo_recovery_minutes.map_or_else(|| "not within the run".to_string(), |m| format!("{m:.0} min"));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0} ms</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                i + 1,
                esc(&o.region),
                esc(&o.failover_to),
                clock(o.at_seconds),
                duration(o.duration_seconds),
                int(o.sessions_at_risk as f64),
                int(o.sessions_lost as f64),
                o.detour_ms,
                int(o.detoured_requests as f64),
                int(o.moved_home as f64),
                esc(&recovery)
            );
        }
        h.push_str("</tbody></table>\n");
        let _ = writeln!(
            h,
            "<p>While a region is down its users are served by another region, and each of their requests travels there and back: the <em>detour</em> column, the round trip between the two regions. The latency figures of this report are measured at the serving region and <strong>do not include the detour</strong>: a detoured user's hot access took the serving region's hot access latency plus the detour. Once the region is back, the sessions that failed over come home (<em>moved home</em>): on their next access there (one round trip to the region that held them, once) or, for those not used meanwhile, by the holder's sync job within one <code>sync_interval</code>. <em>p95 back under SLO</em>: minutes from the end of the outage until the region's p95 over all its requests is under the hot access target ({} ms) and stays there for an hour.</p>",
            record.scenario.slo.hot_access_p95_ms
        );
        for (i, _) in record.failover.events.iter().enumerate() {
            if let Some(c) = chart(&format!("failover-{}", i + 1)) {
                chart_block(
                    &mut h,
                    c,
                    "Red band: the outage. Top: where requests were served. Middle: sessions lost and requests failed. Bottom: p95 latency by serving region.",
                );
            }
        }
    }

    residency_section(&mut h, s, model);
    if let Some(calibration) = &record.scenario.calibration {
        calibration_section(&mut h, calibration);
    }

    // Scenario.
    h.push_str("<h2 id=\"scenario\">The scenario as run</h2><p class=\"small\">Every default filled (<code>scenario.resolved.yaml</code>). Run it again with <code>hotcold simulate scenario.resolved.yaml</code>; rebuild this page from <code>run.json</code> with <code>hotcold report DIR</code>.</p><pre>");
    h.push_str(&esc(&record.scenario.to_yaml()));
    h.push_str("</pre>\n<p class=\"small\">Files in this run directory: <code>summary.json</code> (headline figures), <code>costs.csv</code> (one row per region and component), <code>baseline_costs.csv</code>, <code>timeseries.csv</code> and <code>timeseries.parquet</code> (one row per minute bucket and region), <code>charts/</code>, <code>run.json</code> (everything measured).</p>\n</main></body></html>\n");
    h
}

/// Where a calibrated scenario's numbers came from (its `calibration:` block): the sources, each
/// fitted value with its fit and basis, and the keys kept from the base.
fn calibration_section(h: &mut String, c: &hotcold_model::calibrate::Provenance) {
    h.push_str("<h2 id=\"calibration\">Where the numbers come from</h2>\n");
    let mut sources = Vec::new();
    if let Some(analytics) = &c.analytics {
        sources.push(format!("<code>traffic:</code> from the analytics export {}", esc(analytics)));
    }
    if let Some(metrics) = &c.metrics {
        sources.push(format!("<code>latency:</code> from the Prometheus histograms of {}", esc(metrics)));
    }
    sources.push(match &c.base {
        Some(base) => format!("every other key from {}", esc(base)),
        None => "every other key from the defaults".to_string(),
    });
    let _ = writeln!(
        h,
        "<p>This scenario was fitted by <code>hotcold calibrate</code> on {}: {}. Edited by hand since? Then this list may no longer describe it.</p>",
        esc(&c.calibrated_at),
        sources.join("; ")
    );
    h.push_str("<table><thead><tr><th>key</th><th>fitted value</th><th>fit</th><th class=\"n\">from</th></tr></thead><tbody>\n");
    for f in &c.fitted {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&f.key),
            esc(&f.value),
            esc(&f.fit),
            esc(&f.basis)
        );
    }
    h.push_str("</tbody></table>\n");
    if !c.kept.is_empty() {
        h.push_str("<p class=\"small\">Not fitted, kept from the base:</p><ul class=\"small\">");
        for k in &c.kept {
            let _ = write!(h, "<li><code>{}</code>: {}</li>", esc(&k.key), esc(&k.why));
        }
        h.push_str("</ul>\n");
    }
}

/// The residency section: the rules and their violations, what each home region's sessions had
/// stored elsewhere (the exposure, for a run without rules), what its users got, and what the
/// replicated tables cost (the price of pinning, against the same run without the rule).
fn residency_section(h: &mut String, s: &FullSummary, model: &CostModel) {
    let r = &s.residency;
    h.push_str("<h2 id=\"residency\">Data residency</h2>\n");
    if r.restricted_regions.is_empty() {
        h.push_str("<p>No <code>residency:</code> rule: every region may store every session. The table shows each home region's <em>exposure</em>: copies of its sessions' data written outside the home region (global-table replicas, failover copies and travellers' promotions in other regions' Redis, audit-table replicas). Pinning a region (<code>residency: { eu-west-1: [eu-west-1] }</code>) brings its exposure to 0 at the price shown in the last columns.</p>\n");
    } else {
        let class = if r.violations == 0 && r.stored_outside_at_end == 0 { "pass" } else { "fail" };
        let _ = writeln!(
            h,
            "<div class=\"verdict {class}\" id=\"residency-verdict\">Restricted: <b>{}</b>. <b>{}</b> write(s) stored a restricted session's data outside its allowed regions; <b>{}</b> record(s) of restricted sessions were left in a store outside them at the end of the run.</div>",
            esc(&r.restricted_regions.join(", ")),
            int(r.violations as f64),
            int(r.stored_outside_at_end as f64)
        );
        h.push_str("<p>A restricted session is stored only in its allowed regions: its cold record in a table replicated only there, its hot copy only in their Redis, its audit records in its home's trail. A traveller served from another region is served by reading from the home (one round trip per store call: the <em>travellers' lookups</em> latency); while its home's Redis is down it fails over only to another allowed region, or is served cold-only from the home's table.</p>\n");
    }
    if r.by_home.is_empty() {
        return;
    }
    h.push_str("<table><thead><tr><th>home region</th><th>allowed</th><th class=\"n\">cold copies elsewhere</th><th class=\"n\">GB copied</th><th class=\"n\">GB held elsewhere (avg)</th><th class=\"n\">hot copies elsewhere</th><th class=\"n\">audit copies elsewhere</th><th class=\"n\">requests</th><th class=\"n\">availability</th><th class=\"n\">lost lookups</th><th class=\"n\">served away</th><th class=\"n\">travellers' lookups p50 / p95</th><th class=\"n\">detoured lookups p50 / p95</th><th class=\"n\">failover lost / at risk</th></tr></thead><tbody>\n");
    for (region, home) in &r.by_home {
        let e = &home.exposure;
        let _ = writeln!(
            h,
            "<tr><td>{}{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.4}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1} / {:.1} ms</td><td class=\"n\">{:.1} / {:.1} ms</td><td class=\"n\">{} / {}</td></tr>",
            esc(region),
            if home.restricted { " (restricted)" } else { "" },
            esc(&home.allowed.join(", ")),
            int(e.cold_writes_elsewhere as f64),
            e.cold_bytes_elsewhere as f64 / 1e9,
            e.cold_avg_bytes_held_elsewhere / 1e9,
            int(e.hot_writes_elsewhere as f64),
            int(e.audit_records_elsewhere as f64),
            int(home.requests as f64),
            home.availability * 100.0,
            int(home.lost as f64),
            int(home.away_requests as f64),
            home.travel_lookup_ms.p50,
            home.travel_lookup_ms.p95,
            home.detour_lookup_ms.p50,
            home.detour_lookup_ms.p95,
            int(home.failover.sessions_lost as f64),
            int(home.failover.sessions_at_risk as f64)
        );
    }
    h.push_str("</tbody></table>\n");
    let sum = |component: &str, item: &str| -> f64 {
        model.rows.iter().filter(|row| row.component == component && row.item == item).map(|row| row.usd_month).sum()
    };
    let _ = writeln!(
        h,
        "<p>What the replicas cost this month: DynamoDB replicated writes {}, storage {} (billed in every region holding a replica), replication transfer {}, audit replicated writes {} and audit storage {}. With residency a region pays only for the tables it holds a replica of. To see the price of a rule, run the same scenario with and without it (<code>hotcold simulate SCENARIO --set 'residency={{}}'</code>) and compare these figures, the travellers' and detoured lookups' latency (a detour: the user's region was down and another served them), availability and failover loss of the restricted region (<code>summary.json</code> <code>residency.by_home</code>).</p>",
        usd(sum("dynamodb", "replicated writes")),
        usd(sum("dynamodb", "storage")),
        usd(sum("transfer", "replication out")),
        usd(sum("audit", "audit replicated writes")),
        usd(sum("audit", "audit storage"))
    );
}

fn cost_section(h: &mut String, record: &RunRecord, s: &FullSummary, model: &CostModel) {
    let t = &s.cost_usd_month;
    let baseline_total = s.baseline_redis_only.cost_usd_month.total;
    h.push_str("<h2 id=\"cost\">Monthly cost</h2>\n");
    let _ = writeln!(
        h,
        "<p>On-demand list prices from the scenario's <code>costs:</code> block, for a 730-hour month; DynamoDB requests and storage at each paying region's price (<code>costs.dynamodb.region_multiplier</code>). Request units are counted after warmup ({}) and scaled to a month and to the full population.</p>",
        duration(model.window_s)
    );
    // 1. The ADR's comparison: session storage against Redis-only.
    h.push_str("<h3>Session storage against Redis-only (the ADR's comparison)</h3>\n");
    h.push_str("<table id=\"cost-summary\"><thead><tr><th>component</th><th class=\"n\">hybrid (USD/month)</th><th class=\"n\">Redis-only (USD/month)</th></tr></thead><tbody>\n");
    let rows = [
        ("Redis nodes", t.redis, baseline_total),
        ("DynamoDB sessions table (writes, reads, replicated writes, storage in every replica)", t.dynamodb, 0.0),
        ("sync job (Lambda invocations and compute)", t.sync, 0.0),
        ("cross-region transfer", t.transfer, 0.0),
    ];
    for (name, a, b) in rows {
        let _ = writeln!(h, "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>", usd(a), usd(b));
    }
    let _ = writeln!(
        h,
        "<tr><th>session storage</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr><tr><td>saving against Redis-only (SLO <code>cost_reduction_vs_redis_only</code>)</td><td class=\"n\" colspan=\"2\">{:.1}%</td></tr></tbody></table>",
        usd(t.session_storage),
        usd(baseline_total),
        t.saving_vs_redis_only * 100.0
    );
    // 2. What the hybrid adds: the audit and analytics tables; then the total.
    let d = &record.scenario.costs.dynamodb;
    let cold = &record.scenario.session_config.cold_storage;
    let (audit_month, analytics_month): (f64, f64) =
        (model.tables.audit_events.iter().sum(), model.tables.analytics_writes.iter().sum());
    h.push_str("<h3>Audit and analytics tables, and the total</h3>\n<table id=\"cost-tables\"><thead><tr><th>table</th><th class=\"n\">items per month</th><th class=\"n\">items per day</th><th class=\"n\">MB written per day</th><th>kept</th><th class=\"n\">USD/month</th></tr></thead><tbody>\n");
    // A 730-hour month, as every monthly figure here.
    let per_day = |month: f64| month * 24.0 / 730.0;
    let megabytes = |items: f64, bytes: u64| items * bytes as f64 / 1e6;
    let _ = writeln!(
        h,
        "<tr><td>audit ({} B per lifecycle event, {})</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td>{}</td><td class=\"n\">{}</td></tr>",
        d.audit_item_bytes,
        if d.audit_replicated { "global table: written and stored in every region" } else { "one table per region" },
        int(audit_month),
        int(per_day(audit_month)),
        megabytes(per_day(audit_month), d.audit_item_bytes),
        duration(cold.compliance_retention.as_secs_f64()),
        usd(t.audit)
    );
    let _ = writeln!(
        h,
        "<tr><td>analytics ({} B per session summary, {})</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td>{}</td><td class=\"n\">{}</td></tr>",
        d.analytics_item_bytes,
        if d.analytics_replicated {
            "global table".to_string()
        } else {
            format!("one table in {}", esc(record.regions.first().map_or("", String::as_str)))
        },
        int(analytics_month),
        int(per_day(analytics_month)),
        megabytes(per_day(analytics_month), d.analytics_item_bytes),
        duration(cold.analytics_retention.as_secs_f64()),
        usd(t.analytics)
    );
    let _ = writeln!(
        h,
        "<tr><th colspan=\"5\">hybrid total (session storage + audit + analytics)</th><th class=\"n\">{}</th></tr></tbody></table>",
        usd(t.total)
    );
    if model.tables.ends_added_per_session > 0.0 {
        let _ = writeln!(
            h,
            "<p class=\"small\">Every session ends once at steady state (logout or expiry), but the run ended before {:.1}% of the sessions it created did (the cold TTL is longer than the run): their expiry events are added to the audit and analytics volumes.</p>",
            model.tables.ends_added_per_session * 100.0
        );
    }
    // Redis nodes per region.
    h.push_str("<h3>Redis nodes per region</h3><table><thead><tr><th>region</th><th class=\"n\">hybrid peak</th><th class=\"n\">hybrid nodes</th><th class=\"n\">Redis-only peak</th><th class=\"n\">Redis-only nodes</th></tr></thead><tbody>\n");
    for (i, region) in record.regions.iter().enumerate() {
        let b = model.baseline.peak_bytes.get(i).copied().unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}{}</td><td class=\"n\">{}</td></tr>",
            esc(region),
            gib(model.redis_peak_bytes.get(i).copied().unwrap_or(0.0)),
            model.redis_nodes.get(i).copied().unwrap_or(0),
            gib(b.steady),
            if b.projected {
                format!(" <span class=\"small\">(projected; {} reached in the run)</span>", gib(b.measured))
            } else {
                String::new()
            },
            model.baseline.nodes.get(i).copied().unwrap_or(0)
        );
    }
    h.push_str("</tbody></table>\n");
    let r = &record.scenario.costs.redis;
    let _ = writeln!(
        h,
        "<p class=\"small\">Nodes = max(1, ceil(peak bytes / usable bytes per node)) × (1 + {} replica per shard); usable = {} GiB × (1 − {} reserved) × (1 − {} headroom) = {:.3} GiB on a {}. Session bytes in Redis = (payload + {} B overhead) × {} fragmentation. DynamoDB: {} GB stored at steady state{} (measured average {:.3} GB), billed in each of the {} replica regions; every write is paid again in each other region.</p>",
        r.replicas_per_shard,
        r.node_memory_gib,
        r.reserved_fraction,
        r.headroom,
        crate::cost::node_capacity_bytes(record) / GIB,
        esc(&r.node_type),
        r.bytes_overhead_per_session,
        r.fragmentation,
        format_args!("{:.3}", model.stored_bytes.steady / GB),
        match (model.stored_bytes.projected, model.stored_bytes.over_last_day) {
            (true, _) => " (projected)",
            (false, true) => " (over the run's last day)",
            (false, false) => "",
        },
        model.stored_bytes.measured / GB,
        record.regions.len()
    );
    // The node-type table.
    h.push_str("<h3>Node types and ElastiCache Serverless</h3><table id=\"redis-options\"><thead><tr><th>option</th><th class=\"n\">hybrid nodes</th><th class=\"n\">hybrid (USD/month)</th><th class=\"n\">Redis-only nodes</th><th class=\"n\">Redis-only (USD/month)</th></tr></thead><tbody>\n");
    let nodes_text = |nodes: &[u64]| {
        if nodes.is_empty() {
            "serverless".to_string()
        } else {
            nodes.iter().map(u64::to_string).collect::<Vec<_>>().join(" + ")
        }
    };
    let mark = |cheapest: bool| if cheapest { " <b>(cheapest)</b>" } else { "" };
    for (a, b) in model.redis_options.hybrid.iter().zip(&model.redis_options.baseline) {
        let _ = writeln!(
            h,
            "<tr><td>{}{}<div class=\"basis\">{}</div></td><td class=\"n\">{}</td><td class=\"n\">{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}{}</td></tr>",
            esc(&a.name),
            if a.name == r.node_type { " (priced above)" } else { "" },
            esc(&a.basis),
            nodes_text(&a.nodes),
            usd(a.total),
            mark(a.cheapest),
            nodes_text(&b.nodes),
            usd(b.total),
            mark(b.cheapest)
        );
    }
    h.push_str("</tbody></table>\n<p class=\"small\">Nodes per region in <code>hot_storage.regions</code> order. Serverless: the hybrid's average Redis bytes per region; the Redis-only baseline's steady-state peak stands for its average (a population kept for the cold TTL barely moves within a day). The cost rows above keep <code>costs.redis.node_type</code>.</p>\n");
    // Unit costs.
    h.push_str("<h3>Cost per 1,000 sessions created</h3><table id=\"unit-costs\"><thead><tr><th>region</th><th class=\"n\">sessions created per month</th><th class=\"n\">USD/month (its rows)</th><th class=\"n\">USD per 1,000 sessions</th></tr></thead><tbody>\n");
    for (region, u) in record.regions.iter().zip(&model.unit_costs.by_region) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(region),
            int(u.created_month),
            usd(u.usd_month),
            format_args!("${:.4}", u.usd_per_1k_sessions_created)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>all regions</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></tbody></table>",
        int(model.unit_costs.created_month),
        usd(t.total),
        format_args!("${:.4}", model.unit_costs.usd_per_1k_sessions_created)
    );
    // Growth.
    let _ = writeln!(
        h,
        "<h3>Growth projection ({:.1}% a month)</h3><table id=\"cost-growth\"><thead><tr><th class=\"n\">months from now</th><th class=\"n\">traffic</th><th class=\"n\">Redis nodes</th><th class=\"n\">session storage</th><th class=\"n\">audit</th><th class=\"n\">analytics</th><th class=\"n\">total</th><th class=\"n\">Redis-only</th></tr></thead><tbody>",
        model.growth.growth_per_month * 100.0
    );
    for p in &model.growth.points {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">+{}</td><td class=\"n\">×{:.3}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            p.months,
            p.factor,
            p.redis_nodes,
            usd(p.session_storage),
            usd(p.audit),
            usd(p.analytics),
            usd(p.total),
            usd(p.baseline_total)
        );
    }
    h.push_str("</tbody></table>\n<p class=\"small\">Traffic × (1 + growth)^months: Redis nodes recomputed in whole steps from the peak, request units and transfer with the traffic, storage with the inflow it holds over its retention, sync invocations unchanged (a schedule).</p>\n");
    // Every line item.
    h.push_str("<h3>Every line item (<code>costs.csv</code>)</h3><table id=\"cost-rows\"><thead><tr><th>region</th><th>component</th><th>item</th><th class=\"n\">quantity</th><th>unit</th><th class=\"n\">unit price</th><th class=\"n\">USD/month</th></tr></thead><tbody>\n");
    for row in &model.rows {
        let _ = writeln!(
            h,
            "<tr><td class=\"r\">{}</td><td>{}</td><td>{}<div class=\"basis\">{}</div></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&row.region),
            row.component,
            row.item,
            esc(&row.basis),
            fmt_qty(row.quantity),
            esc(&row.unit),
            fmt_price(row.unit_price_usd),
            usd(row.usd_month)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th colspan=\"6\">total (the rows add up to it)</th><th class=\"n\">{}</th></tr></tbody></table>",
        usd(t.total)
    );
    h.push_str("<p class=\"small\">Not costed: NAT/ELB, backups, and the transfer of analytics items to the analytics table's region.</p>\n");
}

fn fmt_qty(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 1000.0 {
        int(x)
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.6}")
    }
}

fn fmt_price(x: f64) -> String {
    let mut t = format!("{x:.10}");
    while t.ends_with('0') && t.len() > t.find('.').map_or(0, |i| i + 3) {
        t.pop();
    }
    format!("${t}")
}

/// Bytes in GiB, or MiB below one GiB.
fn gib(bytes: f64) -> String {
    if bytes >= GIB { format!("{:.2} GiB", bytes / GIB) } else { format!("{:.1} MiB", bytes / 1_048_576.0) }
}

/// The rollout from the Redis-only store, week by week (a scenario with a `migration:` block).
fn migration_section(h: &mut String, m: &crate::migration::MigrationOut, chart: Option<&Chart>) {
    h.push_str("<h2 id=\"migration\">Migration from Redis-only</h2>\n");
    let steps: Vec<String> = m
        .rollout
        .iter()
        .map(|r| {
            let from = if r.at_s > 0.0 { duration(r.at_s) } else { "the start".into() };
            format!("{}% from {from}", r.percent)
        })
        .collect();
    let bulk = match (&m.bulk_import, m.bulk_import_seconds) {
        (Some(b), Some(took)) => format!(
            " The bulk import (at most {} sessions/s from {}) imported {} sessions ({} of them into the cold tier only) in {}.",
            b.rate,
            duration(b.at_s),
            int(m.bulk_imported as f64),
            int(m.bulk_imported_cold as f64),
            duration(took)
        ),
        (Some(b), None) => format!(
            " The bulk import (at most {} sessions/s from {}) imported {} sessions and had not finished when the run ended.",
            b.rate,
            duration(b.at_s),
            int(m.bulk_imported as f64)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        h,
        "<p>Rollout: {}. A session stays on its side of the split (a stable hash) and moves on its next access when the percentage passes it: {} sessions were imported into the hybrid store on access and {} handed back to the legacy store; the legacy store served {} requests and created {} sessions.{} Moves that failed: {}.</p>",
        esc(&steps.join(", ")),
        int(m.migrated as f64),
        int(m.rolled_back as f64),
        int(m.legacy_requests as f64),
        int(m.legacy_created as f64),
        bulk,
        m.failed_moves
    );
    let p95 = |count: u64, p: &Percentiles| {
        if count == 0 { "none".to_string() } else { format!("p95 {} ms (p99 {} ms)", p.p95, p.p99) }
    };
    let _ = writeln!(
        h,
        "<p>Latency (whole run) of a request that imported its session: {}; that handed it back: {}; that the legacy store served: {}.</p>",
        p95(m.migrated, &m.latency_ms.migrate),
        p95(m.rolled_back, &m.latency_ms.rollback),
        p95(m.legacy_requests, &m.latency_ms.legacy)
    );
    h.push_str("<table><thead><tr><th>week</th><th class=\"n\">hours</th><th class=\"n\">mean %</th><th class=\"n\">legacy Redis</th><th class=\"n\">hybrid</th><th class=\"n\">rollout total</th><th class=\"n\">Redis-only</th><th class=\"n\">hybrid end state</th><th class=\"n\">migrated</th><th class=\"n\">bulk imported</th></tr></thead><tbody>\n");
    for w in &m.weeks {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\"><b>{}</b></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            w.week,
            w.hours,
            w.percent_avg,
            usd(w.cost_usd.legacy_redis),
            usd(w.cost_usd.hybrid),
            usd(w.cost_usd.total),
            usd(w.redis_only_usd),
            usd(w.hybrid_end_state_usd),
            int(w.migrated as f64),
            int(w.bulk_imported as f64)
        );
    }
    let t = &m.total;
    let _ = writeln!(
        h,
        "<tr><td><b>all</b></td><td class=\"n\">{}</td><td></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\"><b>{}</b></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td></td><td></td></tr></tbody></table>",
        t.hours,
        usd(t.cost_usd.legacy_redis),
        usd(t.cost_usd.hybrid),
        usd(t.cost_usd.total),
        usd(t.redis_only_usd),
        usd(t.hybrid_end_state_usd)
    );
    h.push_str("<p class=\"small\">Each week is billed what it used (<code>migration.csv</code>): Redis clusters sized for the week's peak for the week's hours (a legacy store that held nothing all week is gone), DynamoDB request units of the week and the bytes it stored. <i>Redis-only</i> is the same traffic kept in Redis alone; <i>hybrid end state</i> the same traffic (same seed) run without the <code>migration:</code> block. Stores start empty at the start of the run: weeks before the stores fill (a cold TTL) show less than a steady state.</p>\n");
    if let Some(c) = chart {
        chart_block(
            h,
            c,
            "Per week: the legacy Redis and the hybrid store stacked (the rollout's bill), the Redis-only store and the hybrid store alone as lines.",
        );
    }
}
