//! `hotcold infra` end to end, through the built binary: the CloudFormation template passes
//! `cfn-lint` (the pinned one `scripts/services.sh` installs), its node counts and table settings
//! are the ones the run's `costs.csv` and resolved scenario (or serve config) say, its tables are
//! the ones the engine creates (compared live on DynamoDB Local), and every bad input is exit 2
//! with one line. Expected figures are read from the run directory, never written here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_bad_input, env, hotcold, scratch_dir};
use serde_json::Value;

fn run(command: &mut Command) -> Output {
    command.output().expect("run hotcold")
}

fn ok(output: &Output, what: &str) -> String {
    assert!(output.status.success(), "{what}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `hotcold simulate SCENARIO --quiet ARGS...` into a fresh run directory.
fn simulate(label: &str, scenario: &str, extra: &[&str]) -> PathBuf {
    let dir = scratch_dir("infra", label);
    let output = run(hotcold().args(["simulate", scenario, "--quiet", "--out"]).arg(&dir).args(extra));
    ok(&output, &format!("simulate {scenario} {extra:?}"));
    dir
}

/// `hotcold infra ARGS... --format cloudformation --out FILE`: the template, parsed.
fn infra(label: &str, args: &[&str]) -> (PathBuf, Value) {
    let file = scratch_dir("infra", label).join("template.json");
    let output =
        run(hotcold().arg("infra").args(args).args(["--format", "cloudformation", "--quiet", "--out"]).arg(&file));
    ok(&output, &format!("infra {args:?}"));
    let text = std::fs::read_to_string(&file).expect("read the template");
    (file, serde_json::from_str(&text).expect("the template is JSON"))
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("a UTF-8 scratch path")
}

/// `cfn-lint` over the template, for the plan's regions, informational checks included: any
/// finding fails.
fn cfn_lint(template: &Path, regions: &[String]) {
    let bin = env("HOTCOLD_CFN_LINT");
    assert!(
        Path::new(&bin).is_file(),
        "HOTCOLD_CFN_LINT={bin} does not exist: run scripts/test.sh (scripts/services.sh install puts cfn-lint there)"
    );
    let output = Command::new(&bin)
        .args(["--include-checks", "I", "--regions"])
        .args(regions)
        .arg("--")
        .arg(template)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    assert!(
        output.status.success(),
        "cfn-lint finds problems in {} (exit {:?}):\n{}{}",
        template.display(),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A row of `costs.csv`.
#[derive(Debug, Clone)]
struct CostRow {
    region: String,
    component: String,
    item: String,
    quantity: f64,
    unit: String,
}

/// Splits one CSV line (RFC 4180 quoting; `costs.csv` has no newlines inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("a field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("a field").push(c),
        }
    }
    fields
}

fn costs_csv(run_dir: &Path) -> Vec<CostRow> {
    let text = std::fs::read_to_string(run_dir.join("costs.csv")).expect("read costs.csv");
    let mut lines = text.lines();
    let header = csv_fields(lines.next().expect("a header"));
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (region, component, item, quantity, unit) =
        (column("region"), column("component"), column("item"), column("quantity"), column("unit"));
    lines
        .map(|line| {
            let f = csv_fields(line);
            CostRow {
                region: f[region].clone(),
                component: f[component].clone(),
                item: f[item].clone(),
                quantity: f[quantity].parse().expect("a quantity"),
                unit: f[unit].clone(),
            }
        })
        .collect()
}

/// The run's resolved scenario (`scenario.resolved.yaml`), as JSON.
fn resolved(run_dir: &Path) -> Value {
    let text = std::fs::read_to_string(run_dir.join("scenario.resolved.yaml")).expect("read the resolved scenario");
    let yaml: yaml_serde::Value = yaml_serde::from_str(&text).expect("the resolved scenario is YAML");
    serde_json::to_value(yaml).expect("as JSON")
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().expect("a list").iter().map(|v| v.as_str().expect("a string").to_string()).collect()
}

/// The region a resource's stack creates it in (its condition's `AWS::Region` value), or `None`
/// for a resource every region's stack creates.
fn created_in(template: &Value, resource: &Value) -> Option<String> {
    let condition = resource.get("Condition")?.as_str().expect("a condition name");
    let equals = &template["Conditions"][condition]["Fn::Equals"];
    assert_eq!(equals[0], serde_json::json!({ "Ref": "AWS::Region" }), "{condition} tests the region");
    Some(equals[1].as_str().expect("a region").to_string())
}

fn resources<'a>(template: &'a Value, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
    template["Resources"].as_object().expect("Resources").iter().filter(move |(_, r)| r["Type"] == kind)
}

fn tag(tags: &Value, key: &str) -> Option<String> {
    tags.as_array()?.iter().find(|t| t["Key"] == key).and_then(|t| t["Value"].as_str()).map(str::to_string)
}

/// A table of the template: what it holds (its `hotcold:component` tag), its properties and the
/// regions holding a copy (a global table's replicas; a regional table's stack region, or every
/// region of `regions` when every stack creates it).
struct TemplateTable {
    component: String,
    properties: Value,
    global: bool,
    regions: Vec<String>,
    created_in: Option<String>,
}

fn tables(template: &Value, regions: &[String]) -> Vec<TemplateTable> {
    let mut found = Vec::new();
    for (_, resource) in resources(template, "AWS::DynamoDB::GlobalTable") {
        let properties = resource["Properties"].clone();
        let replicas = properties["Replicas"].as_array().expect("replicas");
        let component = tag(&replicas[0]["Tags"], "hotcold:component").expect("a component tag");
        let regions = replicas.iter().map(|r| r["Region"].as_str().expect("a region").to_string()).collect();
        found.push(TemplateTable {
            component,
            created_in: created_in(template, resource),
            properties,
            global: true,
            regions,
        });
    }
    for (_, resource) in resources(template, "AWS::DynamoDB::Table") {
        let properties = resource["Properties"].clone();
        let component = tag(&properties["Tags"], "hotcold:component").expect("a component tag");
        let at = created_in(template, resource);
        let regions = at.clone().map_or_else(|| regions.to_vec(), |r| vec![r]);
        found.push(TemplateTable { component, properties, global: false, regions, created_in: at });
    }
    found
}

fn table<'a>(tables: &'a [TemplateTable], component: &str) -> &'a TemplateTable {
    let mut matching = tables.iter().filter(|t| t.component == component);
    let first = matching.next().unwrap_or_else(|| panic!("no {component} table"));
    assert!(matching.next().is_none(), "two {component} tables");
    first
}

/// Every replication group and table of `template` against the run's `costs.csv` and resolved
/// scenario: per region, one group of the priced node type whose shards x (1 + replicas) is the
/// `redis,nodes` quantity; the sessions table global over every region; the audit table global
/// exactly when `costs.csv` pays audit replicated writes; an analytics table in exactly the
/// regions `costs.csv` pays analytics writes in; on-demand billing and point-in-time recovery
/// everywhere; residency homes' tables replicated to their allowed regions only.
fn check_against_run(template: &Value, run_dir: &Path) {
    let rows = costs_csv(run_dir);
    let scenario = resolved(run_dir);
    let regions = strings(&scenario["session_config"]["hot_storage"]["regions"]);
    let replicas = scenario["costs"]["redis"]["replicas_per_shard"].as_u64().expect("replicas_per_shard");
    let groups: Vec<(String, &Value)> = resources(template, "AWS::ElastiCache::ReplicationGroup")
        .map(|(_, r)| (created_in(template, r).expect("a replication group is regional"), &r["Properties"]))
        .collect();
    assert_eq!(groups.len(), regions.len(), "one replication group per region");
    for region in &regions {
        let row = rows
            .iter()
            .find(|r| &r.region == region && r.component == "redis" && r.item == "nodes")
            .unwrap_or_else(|| panic!("costs.csv has no redis nodes row for {region}"));
        let node_type = row.unit.strip_suffix(" node-month").expect("unit `<node type> node-month`");
        let (_, group) = groups.iter().find(|(r, _)| r == region).unwrap_or_else(|| panic!("no group in {region}"));
        assert_eq!(group["CacheNodeType"], node_type, "{region}: node type");
        let nodes = row.quantity as u64;
        let shards = if let Some(groups) = group["NumNodeGroups"].as_u64() {
            assert_eq!(group["ReplicasPerNodeGroup"].as_u64(), Some(replicas), "{region}: replicas per shard");
            assert_eq!(group["ClusterMode"], "Enabled", "{region}");
            groups
        } else {
            assert_eq!(group["NumCacheClusters"].as_u64(), Some(1 + replicas), "{region}: one shard of 1 + replicas");
            assert_eq!(group["ClusterMode"], "Disabled", "{region}");
            1
        };
        assert_eq!(shards * (1 + replicas), nodes, "{region}: shards x (1 + replicas) = costs.csv's nodes");
        if shards > 1 {
            assert_eq!(group["ClusterMode"], "Enabled", "{region}: more than one shard is a Cluster");
        }
        assert_eq!(group["AtRestEncryptionEnabled"], true, "{region}");
        assert_eq!(group["TransitEncryptionEnabled"], true, "{region}");
        assert_eq!(group["MultiAZEnabled"], replicas >= 1, "{region}: Multi-AZ with a replica");
        assert_eq!(group["AutomaticFailoverEnabled"], replicas >= 1 || shards > 1, "{region}: failover");
    }

    let tables = tables(template, &regions);
    for t in &tables {
        assert_eq!(t.properties["BillingMode"], "PAY_PER_REQUEST", "{}: on demand, as priced", t.component);
        assert_eq!(t.properties["TimeToLiveSpecification"]["Enabled"], true, "{}: TTL", t.component);
        if t.global {
            for replica in t.properties["Replicas"].as_array().expect("replicas") {
                assert_eq!(replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
            }
            let creator = t.created_in.as_ref().expect("a global table is created by one region's stack");
            assert!(t.regions.contains(creator), "{}: created from one of its replica regions", t.component);
        } else {
            assert_eq!(t.properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
        }
    }
    let rules: BTreeMap<String, Vec<String>> = scenario["residency"]
        .as_object()
        .map(|m| m.iter().map(|(home, allowed)| (home.clone(), strings(allowed))).collect())
        .unwrap_or_default();
    let sessions = table(&tables, "sessions");
    assert!(sessions.global, "the sessions table is a global table");
    assert_eq!(sessions.regions, regions, "the sessions table has a replica per region");
    let audit_replicated = rows.iter().any(|r| r.item == "audit replicated writes");
    let audit = table(&tables, "audit");
    assert_eq!(audit.global, audit_replicated, "the audit table is global exactly when costs.csv pays its replicas");
    assert_eq!(audit.regions, regions, "an audit table in every region");
    for (home, allowed) in &rules {
        for kind in ["sessions", "audit"] {
            let t = table(&tables, &format!("{kind}-{home}"));
            assert_eq!(&t.regions, allowed, "{kind} table of {home}: replicas only in the allowed regions");
            assert_eq!(t.created_in.as_ref(), Some(home), "{kind} table of {home}: created by the home's stack");
        }
    }
    let priced: BTreeSet<&String> = rows.iter().filter(|r| r.item == "analytics writes").map(|r| &r.region).collect();
    let analytics: Vec<&TemplateTable> = tables.iter().filter(|t| t.component.starts_with("analytics")).collect();
    let held: BTreeSet<&String> = analytics.iter().flat_map(|t| &t.regions).collect();
    assert_eq!(held, priced, "analytics tables are where costs.csv pays analytics writes");
    assert_eq!(analytics.len(), 1 + rules.len(), "the shared analytics table and one per restricted home");
}

/// The one-shard template of `tiny` (cluster mode off), a many-shard one (nodes shrunk so the
/// same peak needs several shards of three nodes: cluster mode on) and one without replicas (no
/// failover) and with an audit table per region all pass cfn-lint.
#[test]
fn the_template_passes_cfn_lint_with_one_shard_and_with_many() {
    for (label, extra) in [
        ("one-shard", vec![]),
        ("many", vec!["--set", "costs.redis.node_memory_gib=0.0005", "--set", "costs.redis.replicas_per_shard=2"]),
        (
            "no-replica",
            vec!["--set", "costs.redis.replicas_per_shard=0", "--set", "costs.dynamodb.audit_replicated=false"],
        ),
    ] {
        let mut args = vec!["scenarios/tiny.yaml"];
        args.extend(extra.iter().copied());
        let (file, template) = infra(&format!("lint-{label}"), &args);
        let regions = strings(&template["Metadata"]["hotcold"]["regions"]);
        assert!(!regions.is_empty());
        cfn_lint(&file, &regions);
    }
}

/// The template of a run directory has the run's `costs.csv` node counts and table placements,
/// with one shard and with many; and a scenario gives the same template as its run directory
/// (the run directory is priced again, not simulated again, and nothing else differs).
#[test]
fn node_counts_and_table_settings_match_the_runs_costs_csv_and_scenario() {
    for (label, extra) in [
        ("one-shard", vec![]),
        ("many", vec!["--set", "costs.redis.node_memory_gib=0.0005", "--set", "costs.redis.replicas_per_shard=2"]),
        (
            "no-replica",
            vec!["--set", "costs.redis.replicas_per_shard=0", "--set", "costs.dynamodb.audit_replicated=false"],
        ),
    ] {
        let run_dir = simulate(label, "scenarios/tiny.yaml", &extra);
        let (_, template) = infra(&format!("costs-{label}"), &[path(&run_dir)]);
        check_against_run(&template, &run_dir);
        let mut args = vec!["scenarios/tiny.yaml"];
        args.extend(extra.iter().copied());
        let (_, from_scenario) = infra(&format!("costs-{label}-scenario"), &args);
        assert_eq!(from_scenario, template, "{label}: the scenario's template is its run directory's");
    }
}

/// The many-shard run really has more than one shard (else the test above would not see cluster
/// mode), and the no-replica run none: the checks above cover what they claim.
#[test]
fn the_shard_settings_of_the_tests_reach_cluster_mode() {
    let (_, many) = infra(
        "reach-many",
        &[
            "scenarios/tiny.yaml",
            "--set",
            "costs.redis.node_memory_gib=0.0005",
            "--set",
            "costs.redis.replicas_per_shard=2",
        ],
    );
    let shards: Vec<u64> = resources(&many, "AWS::ElastiCache::ReplicationGroup")
        .map(|(_, r)| r["Properties"]["NumNodeGroups"].as_u64().unwrap_or(1))
        .collect();
    assert!(shards.iter().all(|s| *s > 1), "every region needs several shards: {shards:?}");
}

/// A key schema: (attribute, HASH or RANGE), in order.
type Keys = Vec<(String, String)>;

/// What the template and DynamoDB must agree on for one table.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    key_schema: Keys,
    attributes: BTreeSet<(String, String)>,
    /// By index name: its key schema, projection type and non-key attributes.
    indexes: BTreeMap<String, (Keys, String, BTreeSet<String>)>,
    billing_mode: String,
    ttl_attribute: String,
}

impl Shape {
    /// A table's shape as the template writes it.
    fn of_template(properties: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let pairs = |list: &Value, a: &str, b: &str| -> Keys {
            list.as_array().map(|l| l.iter().map(|e| (text(&e[a]), text(&e[b]))).collect()).unwrap_or_default()
        };
        let indexes = properties["GlobalSecondaryIndexes"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|index| {
                        let projection = &index["Projection"];
                        let non_key = projection["NonKeyAttributes"]
                            .as_array()
                            .map(|a| a.iter().map(text).collect())
                            .unwrap_or_default();
                        let keys = pairs(&index["KeySchema"], "AttributeName", "KeyType");
                        (text(&index["IndexName"]), (keys, text(&projection["ProjectionType"]), non_key))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            key_schema: pairs(&properties["KeySchema"], "AttributeName", "KeyType"),
            attributes: pairs(&properties["AttributeDefinitions"], "AttributeName", "AttributeType")
                .into_iter()
                .collect(),
            indexes,
            billing_mode: text(&properties["BillingMode"]),
            ttl_attribute: text(&properties["TimeToLiveSpecification"]["AttributeName"]),
        }
    }
}

/// The template's tables have the key schema, attribute definitions, indexes, billing mode and
/// TTL attribute of the tables the engine creates: created here with the engine's own
/// `create_tables` on DynamoDB Local and read back with DescribeTable and DescribeTimeToLive.
#[test]
fn the_tables_are_the_ones_the_engine_creates_on_dynamodb_local() {
    let endpoint = env("HOTCOLD_DYNAMODB_ENDPOINT");
    let (_, template) = infra("engine", &["scenarios/tiny.yaml"]);
    let regions = strings(&template["Metadata"]["hotcold"]["regions"]);
    let tables = tables(&template, &regions);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let prefix = format!("infra-{}-{:x}", std::process::id(), nanos & 0xffff_ffff);
    let config = hotcold_engine::backends::dynamodb::DynamoConfig::local(
        endpoint,
        format!("{prefix}-sessions"),
        format!("{prefix}-audit"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let client = config.client().await;
        config.create_tables(&client).await.expect("the engine creates its tables on DynamoDB Local");
        for (component, name) in [
            ("sessions", &config.sessions_table),
            ("audit", &config.audit_table),
            ("analytics", &config.analytics_table),
        ] {
            let described = client.describe_table().table_name(name).send().await.expect("describe");
            let live = described.table().expect("a table");
            // The SDK's types are not nameable here (the crate is the engine's dependency), so
            // a macro rather than a function reads a key schema.
            macro_rules! keys {
                ($schema:expr) => {
                    $schema
                        .iter()
                        .map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string()))
                        .collect::<Keys>()
                };
            }
            let ttl = client.describe_time_to_live().table_name(name).send().await.expect("describe TTL");
            let engine = Shape {
                key_schema: keys!(live.key_schema()),
                attributes: live
                    .attribute_definitions()
                    .iter()
                    .map(|a| (a.attribute_name().to_string(), a.attribute_type().as_str().to_string()))
                    .collect(),
                indexes: live
                    .global_secondary_indexes()
                    .iter()
                    .map(|index| {
                        let projection = index.projection().expect("a projection");
                        let kind = projection.projection_type().map(|p| p.as_str().to_string()).unwrap_or_default();
                        let non_key = projection.non_key_attributes().iter().cloned().collect();
                        (index.index_name().unwrap_or_default().to_string(), (keys!(index.key_schema()), kind, non_key))
                    })
                    .collect(),
                billing_mode: live
                    .billing_mode_summary()
                    .and_then(|b| b.billing_mode())
                    .map(|b| b.as_str().to_string())
                    .expect("a billing mode"),
                ttl_attribute: ttl
                    .time_to_live_description()
                    .and_then(|t| t.attribute_name())
                    .expect("a TTL attribute")
                    .to_string(),
            };
            assert_eq!(Shape::of_template(&table(&tables, component).properties), engine, "{component} table");
        }
        for name in [&config.sessions_table, &config.audit_table, &config.analytics_table] {
            let _ = client.delete_table().table_name(name).send().await;
        }
    });
}

/// A short, sampled ShopFlow residency run: eu-west-1's sessions, audit records and summaries get
/// tables of their own, replicated only to eu-west-1 and created by its stack; the template
/// passes cfn-lint and matches the run's `costs.csv`.
#[test]
fn residency_homes_get_tables_replicated_only_to_their_allowed_regions() {
    let run_dir = simulate(
        "residency",
        "scenarios/shopflow-residency.yaml",
        &["--sample", "0.002", "--set", "duration=1d", "--set", "warmup=2h", "--set", "faults=[]"],
    );
    let scenario = resolved(&run_dir);
    assert!(scenario["residency"].as_object().is_some_and(|r| !r.is_empty()), "the scenario restricts a home");
    let (file, template) = infra("residency", &[path(&run_dir)]);
    check_against_run(&template, &run_dir);
    cfn_lint(&file, &strings(&scenario["session_config"]["hot_storage"]["regions"]));
}

/// A serve config with a plan: table names, cluster flags and residency tables from the config,
/// sizes from the plan; `--plan SCENARIO` gives the template `--plan RUN_DIR` does; cfn-lint passes.
#[test]
fn a_serve_config_names_the_tables_and_clusters_and_the_plan_sizes_them() {
    let settings = ["--set", "residency.eu-west-1=[eu-west-1]"];
    let run_dir = simulate("config-plan", "scenarios/tiny.yaml", &settings);
    let dir = scratch_dir("infra", "config");
    let config = dir.join("serve.yaml");
    std::fs::write(
        &config,
        "\
region: us-east-1
session_config:
  hot_storage: { regions: [us-east-1, eu-west-1] }
residency: { eu-west-1: [eu-west-1] }
redis:
  us-east-1: { url: rediss://redis.us-east-1.example:6379 }
  eu-west-1: { url: rediss://redis.eu-west-1.example:6379, cluster: true }
dynamodb:
  sessions_table: shop-sessions
  audit_table: shop-audit
  analytics_table: shop-analytics
  residency_tables:
    eu-west-1: { sessions_table: shop-eu-sessions }
auth: { disabled: true }
",
    )
    .expect("write the config");
    let (file, template) = infra("config", &[path(&config), "--plan", path(&run_dir)]);
    let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
    let tables = tables(&template, &regions);
    let name = |component: &str| table(&tables, component).properties["TableName"].as_str().unwrap_or("").to_string();
    assert_eq!(name("sessions"), "shop-sessions");
    assert_eq!(name("audit"), "shop-audit");
    assert_eq!(name("analytics"), "shop-analytics");
    assert_eq!(name("sessions-eu-west-1"), "shop-eu-sessions", "the config's residency table name");
    assert_eq!(name("audit-eu-west-1"), "shop-audit-eu-west-1", "the serve config's default: -<home>");
    let mode = |region: &str| {
        resources(&template, "AWS::ElastiCache::ReplicationGroup")
            .find(|(_, r)| created_in(&template, r).as_deref() == Some(region))
            .map(|(_, r)| r["Properties"]["ClusterMode"].as_str().unwrap_or("").to_string())
            .expect("a group")
    };
    assert_eq!(mode("eu-west-1"), "Enabled", "cluster: true in the config");
    assert_eq!(mode("us-east-1"), "Disabled", "one shard, no cluster flag");
    check_against_run(&template, &run_dir);
    cfn_lint(&file, &regions);

    let mut args = vec![path(&config), "--plan", "scenarios/tiny.yaml"];
    args.extend(settings);
    let (_, from_scenario) = infra("config-scenario", &args);
    assert_eq!(from_scenario, template, "--plan SCENARIO prices what --plan RUN_DIR read back");
}

/// Every bad input is exit 2 with one line naming what is wrong.
#[test]
fn bad_inputs_are_exit_2_with_one_line() {
    let dir = scratch_dir("infra", "bad");
    let malformed = dir.join("malformed.yaml");
    std::fs::write(&malformed, "name: [unclosed\nseed: 1\n").expect("write");
    let empty_run = dir.join("not-a-run");
    std::fs::create_dir_all(&empty_run).expect("mkdir");
    let config_text = "\
region: us-east-1
session_config:
  hot_storage: { regions: [us-east-1, eu-west-1] }
redis:
  us-east-1: { url: rediss://a.example:6379 }
  eu-west-1: { url: rediss://b.example:6379 }
";
    let config = dir.join("serve.yaml");
    std::fs::write(&config, config_text).expect("write");
    let other_regions = dir.join("other-regions.yaml");
    std::fs::write(&other_regions, config_text.replace("eu-west-1", "ap-southeast-1")).expect("write");
    let bad_config = dir.join("bad-config.yaml");
    std::fs::write(&bad_config, config_text.replace("redis:", "redis_typo: 1\nredis:")).expect("write");
    // An eu-west-1 instance of a plan with one analytics table (in us-east-1) must reach it there.
    let analytics_elsewhere = dir.join("analytics-elsewhere.yaml");
    let eu_instance =
        config_text.replacen("region: us-east-1", "region: eu-west-1", 1) + "dynamodb: { region: eu-west-1 }\n";
    std::fs::write(&analytics_elsewhere, &eu_instance).expect("write");
    let run_dir = simulate("bad-plan", "scenarios/tiny.yaml", &["--set", "costs.redis.node_memory_gib=0.0005"]);
    let one_shard_plan = simulate("analytics-plan", "scenarios/tiny.yaml", &[]);
    let (config, other_regions, bad_config, malformed, empty_run, run_dir) =
        (path(&config), path(&other_regions), path(&bad_config), path(&malformed), path(&empty_run), path(&run_dir));
    let (analytics_elsewhere, one_shard_plan) = (path(&analytics_elsewhere), path(&one_shard_plan));
    let cf = ["--format", "cloudformation"];
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("missing file", vec!["/nonexistent/scenario.yaml"], vec!["/nonexistent/scenario.yaml", "cannot read"]),
        ("malformed YAML", vec![malformed], vec!["malformed.yaml:"]),
        (
            "unknown format",
            vec!["scenarios/tiny.yaml", "--format", "terraform"],
            vec!["--format terraform", "cloudformation"],
        ),
        ("run dir without run.json", vec![empty_run], vec!["run.json"]),
        ("config without a plan", vec![config], vec!["serve config", "--plan"]),
        ("config with a serve config as plan", vec![config, "--plan", config], vec!["--plan", "serve config"]),
        ("invalid config", vec![bad_config, "--plan", run_dir], vec!["bad-config.yaml", "redis_typo"]),
        (
            "config of other regions",
            vec![other_regions, "--plan", run_dir],
            vec!["hot_storage.regions", "ap-southeast-1"],
        ),
        ("standalone config, many shards", vec![config, "--plan", run_dir], vec!["redis.us-east-1.cluster", "shards"]),
        (
            "an eu-west-1 config that writes summaries to a table the plan does not make",
            vec![analytics_elsewhere, "--plan", one_shard_plan],
            vec!["dynamodb.analytics_region", "us-east-1"],
        ),
        (
            "--plan with a scenario",
            vec!["scenarios/tiny.yaml", "--plan", run_dir],
            vec!["--plan applies to a serve config"],
        ),
        ("--seed with a run dir", vec![run_dir, "--seed", "3"], vec!["--seed applies to a scenario"]),
        ("bad --sample", vec!["scenarios/tiny.yaml", "--sample", "2"], vec!["--sample"]),
        ("bad --set", vec!["scenarios/tiny.yaml", "--set", "costs.redis.nope=1"], vec!["costs.redis.nope"]),
    ];
    for (what, args, fragments) in cases {
        let mut command = hotcold();
        command.arg("infra").args(&args);
        if !args.contains(&"--format") {
            command.args(cf);
        }
        let output = run(command.arg("--quiet"));
        assert_bad_input(&output, what, &fragments);
    }
    // The same eu-west-1 instance reaching the analytics table through us-east-1 is the plan's.
    let reaching = dir.join("analytics-there.yaml");
    let text = std::fs::read_to_string(analytics_elsewhere).expect("read");
    std::fs::write(
        &reaching,
        text.replace("{ region: eu-west-1 }", "{ region: eu-west-1, analytics_region: us-east-1 }"),
    )
    .expect("write");
    let output = run(hotcold().arg("infra").arg(&reaching).args(["--plan", one_shard_plan, "--quiet"]).args(cf));
    ok(&output, "an eu-west-1 config with analytics_region: us-east-1");
}

/// `--monitoring DIR` writes the plan's alert rules and dashboard (src/infra/monitoring.rs) next
/// to the template and lists them.
#[test]
fn monitoring_writes_the_alert_rules_and_dashboard_it_lists() {
    let dir = scratch_dir("infra", "monitoring");
    let out = dir.join("not-yet/template.json"); // the directory is made, as `simulate --out` does
    let monitoring = dir.join("monitoring");
    let output = run(hotcold()
        .args(["infra", "scenarios/tiny.yaml", "--format", "cloudformation", "--quiet", "--out"])
        .arg(&out)
        .arg("--monitoring")
        .arg(&monitoring));
    let stdout = ok(&output, "infra --monitoring");
    let listed: Vec<&str> =
        stdout.lines().filter_map(|l| l.trim_start().strip_prefix("monitoring")).map(str::trim).collect();
    assert!(!listed.is_empty(), "the files written are listed: {stdout}");
    for file in listed {
        let meta = std::fs::metadata(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(meta.len() > 0, "{file} is empty");
        assert!(Path::new(file).starts_with(&monitoring), "{file} is under --monitoring");
    }
    assert!(out.is_file(), "the template is written too");
}
