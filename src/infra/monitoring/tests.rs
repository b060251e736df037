//! The generated files against promtool (Debian's `prometheus` package, `$HOTCOLD_PROMTOOL`), the
//! committed deploy/ files against a fresh generation, and the thresholds against the scenario.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hotcold_model::Setting;
use hotcold_sim::RunOptions;

use super::cases::cases;
use super::rules::{RUNBOOK, rule_set};
use super::{DASHBOARD_FILE, FAST_BURN, RULES_FILE, SLOW_BURN, TESTS_FILE, Targets, dashboard, num, write};
use crate::infra::Plan;

/// The plan deploy/ is generated from: the baseline scenario at this sample (a week of it at full
/// scale is too slow for a debug test); deploy/README.md gives the same command.
const DEPLOY_SCENARIO: &str = "scenarios/shopflow-baseline.yaml";
const DEPLOY_SAMPLE: f64 = 0.02;

/// Where deploy/ keeps each generated file.
const DEPLOYED: [(&str, &str); 3] = [
    (RULES_FILE, "deploy/prometheus/hotcold-alerts.yaml"),
    (TESTS_FILE, "deploy/prometheus/hotcold-alerts.test.yaml"),
    (DASHBOARD_FILE, "deploy/grafana/hotcold-dashboard.json"),
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The plan of the baseline scenario with `settings` applied, simulated at `sample`.
fn plan(settings: &[&str], sample: f64) -> Plan {
    let settings: Vec<Setting> = settings.iter().map(|s| s.parse().expect("a valid --set")).collect();
    let scenario = crate::validate::load(&repo(DEPLOY_SCENARIO), &settings).expect("the baseline scenario loads");
    let options = RunOptions { seed: None, sample: Some(sample), ..RunOptions::default() };
    let record = hotcold_sim::run(&scenario, &options).expect("the baseline runs");
    let (summary, model) = hotcold_reports::full_summary(&record);
    Plan { record, summary, model }
}

/// The plan deploy/ is made from, simulated once per test process.
fn baseline() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| plan(&[], DEPLOY_SAMPLE))
}

fn scratch(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hotcold-monitoring-{}-{label}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// promtool, from `$HOTCOLD_PROMTOOL`; its absence fails the test (never skips it).
fn promtool(dir: &Path, args: &[&str]) -> Output {
    let path = std::env::var_os("HOTCOLD_PROMTOOL").filter(|p| Path::new(p).is_file()).unwrap_or_else(|| {
        panic!(
            "HOTCOLD_PROMTOOL is not set or names no file: the alert-rule tests need promtool. Run `scripts/test.sh` \
             (it installs Debian's prometheus package and exports the path), or `scripts/services.sh start && \
             source .services/run/env.sh` before `cargo test`."
        )
    });
    Command::new(path).args(args).current_dir(dir).output().expect("run promtool")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn promtool_checks_the_rules_and_every_case_passes() {
    let dir = scratch("promtool");
    write(baseline(), &dir).expect("write");
    let check = promtool(&dir, &["check", "rules", RULES_FILE]);
    assert!(check.status.success(), "promtool check rules:\n{}", text(&check));
    let tests = promtool(&dir, &["test", "rules", TESTS_FILE]);
    assert!(tests.status.success(), "promtool test rules:\n{}", text(&tests));
}

#[test]
fn every_alert_has_a_case_that_fires_and_one_that_stays_quiet_and_a_runbook() {
    let targets = Targets::of(baseline());
    let set = rule_set(&targets);
    let all = cases(&targets);
    let readme = std::fs::read_to_string(repo(RUNBOOK)).expect("deploy/README.md");
    assert!(!set.alerts.is_empty());
    for alert in &set.alerts {
        let mine = all.iter().filter(|c| c.alert == alert.name);
        let (fires, quiet): (Vec<_>, Vec<_>) = mine.partition(|c| !c.expected.is_empty());
        assert!(!fires.is_empty(), "{}: no case where it fires", alert.name);
        assert!(!quiet.is_empty(), "{}: no case where it stays quiet", alert.name);
        assert!(alert.for_seconds > 0.0, "{}: no for", alert.name);
        assert!(["critical", "warning"].contains(&alert.severity), "{}: severity {}", alert.name, alert.severity);
        assert!(!alert.summary.is_empty() && !alert.description.is_empty(), "{}", alert.name);
        assert!(readme.contains(&format!("\n### {}\n", alert.name)), "{RUNBOOK} has no section for {}", alert.name);
    }
}

/// Every alert made unable to fire: promtool's cases must fail, naming each alert (so each one's
/// firing case is a real check, not one that passes whatever the rule says).
#[test]
fn promtool_cases_fail_when_an_alert_cannot_fire_or_a_threshold_moves() {
    let targets = Targets::of(baseline());
    let dir = scratch("broken");
    write(baseline(), &dir).expect("write");
    let rules = std::fs::read_to_string(dir.join(RULES_FILE)).expect("rules");
    let mut silenced = rules.clone();
    for alert in rule_set(&targets).alerts {
        silenced = silenced.replace(&super::quoted(&alert.expr), "\"vector(0) > 1\"");
    }
    std::fs::write(dir.join(RULES_FILE), &silenced).expect("write");
    let output = promtool(&dir, &["test", "rules", TESTS_FILE]);
    assert!(!output.status.success(), "promtool passed rules that never fire");
    let report = text(&output);
    for alert in rule_set(&targets).alerts {
        assert!(report.contains(alert.name), "no failure names {}:\n{report}", alert.name);
    }
    // The hot-access threshold ten times the SLO: its firing case (2 to 4 times) must fail.
    let threshold = format!("> {}\"", num(targets.hot_access_p95_s));
    assert_eq!(rules.matches(&threshold).count(), 1, "{threshold} in:\n{rules}");
    let moved = rules.replace(&threshold, &format!("> {}\"", num(10.0 * targets.hot_access_p95_s)));
    std::fs::write(dir.join(RULES_FILE), moved).expect("write");
    let output = promtool(&dir, &["test", "rules", TESTS_FILE]);
    assert!(!output.status.success(), "promtool passed a threshold ten times the SLO");
    assert!(text(&output).contains("HotcoldHotAccessSlowerThanSlo"), "{}", text(&output));
}

#[test]
fn the_dashboard_parses_and_every_query_passes_promtool() {
    let targets = Targets::of(baseline());
    let dir = scratch("dashboard");
    write(baseline(), &dir).expect("write");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(DASHBOARD_FILE)).expect("read")).expect("JSON");
    let queries: Vec<String> = json["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("every target has an expr").to_string())
        .collect();
    assert_eq!(queries, dashboard::queries(&targets));
    // Every recorded series a panel draws is one the rule file records.
    let rules = std::fs::read_to_string(dir.join(RULES_FILE)).expect("rules");
    for query in &queries {
        for word in query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if word.starts_with("hotcold:") {
                assert!(rules.contains(&format!("record: {word}\n")), "{word} is not recorded by {RULES_FILE}");
            }
        }
    }
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (index, query) in queries.iter().enumerate() {
        file.push_str(&format!(
            "      - record: hotcold_dashboard:query_{index}\n        expr: {}\n",
            super::quoted(query)
        ));
    }
    std::fs::write(dir.join("dashboard-queries.yaml"), file).expect("write");
    let check = promtool(&dir, &["check", "rules", "dashboard-queries.yaml"]);
    assert!(check.status.success(), "promtool check rules on the dashboard's queries:\n{}", text(&check));
    assert!(text(&check).contains(&format!("{} rules found", queries.len())), "{}", text(&check));
}

/// The rule of `alert` in `rules`.
fn alert_expr(plan: &Plan, alert: &str) -> String {
    let set = rule_set(&Targets::of(plan));
    set.alerts.into_iter().find(|a| a.name == alert).map(|a| a.expr).unwrap_or_else(|| panic!("no {alert}"))
}

#[test]
fn thresholds_follow_the_scenario() {
    let (hot_ms, cold_ms, availability, interval) = (7.0, 80.0, 0.999, 600.0);
    let settings = [
        format!("slo.hot_access_p95_ms={hot_ms}"),
        format!("slo.cold_promotion_p95_ms={cold_ms}"),
        format!("slo.availability={availability}"),
        format!("session_config.sync.sync_interval={interval}"),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let other = plan(&settings, 0.002);
    for (plan, hot_ms, cold_ms, availability, interval) in [
        (
            baseline(),
            baseline().record.scenario.slo.hot_access_p95_ms,
            baseline().record.scenario.slo.cold_promotion_p95_ms,
            baseline().record.scenario.slo.availability,
            baseline().record.scenario.session_config.sync.sync_interval.as_secs_f64(),
        ),
        (&other, hot_ms, cold_ms, availability, interval),
    ] {
        let ends = |alert: &str, value: f64| {
            let expr = alert_expr(plan, alert);
            assert!(expr.ends_with(&format!(" > {}", num(value))), "{alert}: {expr} should end with > {}", num(value));
        };
        ends("HotcoldHotAccessSlowerThanSlo", hot_ms / 1000.0);
        ends("HotcoldColdPromotionSlowerThanSlo", cold_ms / 1000.0);
        ends("HotcoldSyncLagHigh", 2.0 * interval);
        ends("HotcoldBackendErrors", FAST_BURN * (1.0 - availability));
        let fast = alert_expr(plan, "HotcoldErrorBudgetFastBurn");
        assert_eq!(fast.matches(&format!("> {}", num(FAST_BURN * (1.0 - availability)))).count(), 2, "{fast}");
        let slow = alert_expr(plan, "HotcoldErrorBudgetSlowBurn");
        assert_eq!(slow.matches(&format!("> {}", num(SLOW_BURN * (1.0 - availability)))).count(), 2, "{slow}");
    }
    for alert in [
        "HotcoldHotAccessSlowerThanSlo",
        "HotcoldColdPromotionSlowerThanSlo",
        "HotcoldErrorBudgetFastBurn",
        "HotcoldSyncLagHigh",
    ] {
        assert_ne!(alert_expr(baseline(), alert), alert_expr(&other, alert), "{alert} ignores the scenario");
    }
}

#[test]
fn the_plan_figures_are_the_runs() {
    let plan = baseline();
    let targets = Targets::of(plan);
    let names: Vec<&str> = targets.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, plan.record.regions.iter().map(String::as_str).collect::<Vec<_>>());
    let scale = 1.0 / plan.record.sample;
    let window = plan.record.simulated_seconds - plan.record.warmup_seconds;
    for (index, region) in targets.regions.iter().enumerate() {
        let rows = || plan.record.timeseries.iter().filter(move |r| usize::from(r.region) == index);
        let peak = rows().map(|r| r.hot).max().unwrap_or(0) as f64 * scale;
        assert_eq!(region.hot_peak, peak, "{}", region.name);
        let after = || rows().filter(|r| r.t as f64 >= plan.record.warmup_seconds);
        let promotions: u64 = after().map(|r| r.promotions).sum();
        assert_eq!(region.promotions_per_s, promotions as f64 * scale / window, "{}", region.name);
        assert!(region.promotions_per_s > 0.0 && region.demotions_per_s > 0.0, "{region:?}");
    }
    // The cold table at its steady size is at least what the run measured, so the share expected
    // is at most the run's.
    assert!(targets.hot_share > 0.0 && targets.hot_share <= plan.summary.hot_cold.hot_ratio_avg, "{targets:?}");
    let rules = super::rules::render(&targets);
    assert!(rules.contains(&format!("expr: \"vector({})\"", num(targets.hot_share))), "{rules}");
}

#[test]
fn the_same_plan_writes_the_same_bytes() {
    let (one, two) = (scratch("same"), scratch("same"));
    let first = write(baseline(), &one).expect("write");
    let second = write(baseline(), &two).expect("write");
    assert_eq!(first.len(), 3);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(std::fs::read(a).expect("read"), std::fs::read(b).expect("read"), "{}", a.display());
    }
}

/// deploy/ is what the baseline plan writes, byte for byte. `HOTCOLD_BLESS_DEPLOY=1` rewrites
/// deploy/ from a fresh generation instead (then review the diff).
#[test]
fn the_committed_deploy_files_are_what_the_baseline_plan_writes() {
    let dir = scratch("deploy");
    write(baseline(), &dir).expect("write");
    let bless = std::env::var_os("HOTCOLD_BLESS_DEPLOY").is_some_and(|v| v == "1");
    for (name, committed) in DEPLOYED {
        let fresh = std::fs::read(dir.join(name)).expect("read");
        if bless {
            let path = repo(committed);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create deploy/");
            std::fs::write(path, &fresh).expect("write deploy/");
            continue;
        }
        let kept = std::fs::read(repo(committed)).unwrap_or_default();
        assert!(
            kept == fresh,
            "{committed} differs from what {DEPLOY_SCENARIO} at sample {DEPLOY_SAMPLE} writes now: regenerate it \
             (deploy/README.md says how, or HOTCOLD_BLESS_DEPLOY=1 cargo test -p hotcold --bin hotcold \
             monitoring) and review the diff"
        );
    }
}
