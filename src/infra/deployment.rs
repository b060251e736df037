//! What `hotcold infra` deploys, independent of the output format: every DynamoDB table with the
//! regions that hold it, and every region's ElastiCache replication group. It is derived from a
//! priced [`Plan`] (node type, shard and replica counts, which tables are global) and, when one is
//! given, a serve config (table names, Redis cluster flags, residency tables), and it places each
//! table where the cost model priced it (`reports/src/cost.rs`), so `costs.csv` and the template
//! describe one deployment.

use std::collections::BTreeMap;

use hotcold_engine::backends::dynamodb::DynamoConfig;
use hotcold_engine::{RegionId, Residency};

use super::Plan;
use crate::serve::config::ServeConfig;

/// ElastiCache's bound on the shards (node groups) of one replication group.
const MAX_SHARDS: u64 = 500;

/// ElastiCache's bound on the replicas of one shard.
const MAX_REPLICAS_PER_SHARD: u32 = 5;

/// The deployment a plan priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deployment {
    /// `session_config.hot_storage.regions`, in order (the engine numbers regions by it).
    pub(crate) regions: Vec<String>,
    /// Every table: the shared three, then each restricted home's three.
    pub(crate) tables: Vec<Table>,
    /// One replication group per region, in `regions` order.
    pub(crate) caches: Vec<Cache>,
    /// What an operator should know that does not stop the template (printed on stderr).
    pub(crate) notes: Vec<String>,
}

/// What a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    /// Cold sessions (`dynamodb.sessions_table`).
    Sessions,
    /// The audit trail (`dynamodb.audit_table`).
    Audit,
    /// Session summaries (`dynamodb.analytics_table`).
    Analytics,
}

impl TableKind {
    /// The word used in names, tags and descriptions.
    pub(crate) const fn word(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::Audit => "audit",
            Self::Analytics => "analytics",
        }
    }
}

/// One DynamoDB table and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// What it holds.
    pub(crate) kind: TableKind,
    /// Its name, as the serve config names it.
    pub(crate) name: String,
    /// The restricted home whose tables these are (`residency:`); `None` for the shared tables.
    pub(crate) home: Option<String>,
    /// Where it lives.
    pub(crate) placement: Placement,
}

/// Where a table lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A global table with a replica in each of `replicas`, created by the stack of `created_in`
    /// (one of them: CloudFormation creates a global table from one of its replica regions).
    Global {
        /// The region whose stack creates it.
        created_in: String,
        /// Its replica regions, in plan order.
        replicas: Vec<String>,
    },
    /// One regional table, in `region` (the cost model prices one copy there).
    Single {
        /// The region that holds it.
        region: String,
    },
    /// A regional table of this name in every planned region, each holding that region's
    /// records (the audit trail when `costs.dynamodb.audit_replicated` is false).
    EveryRegion,
}

impl Placement {
    /// Whether `region` holds a copy.
    pub(crate) fn holds(&self, region: &str) -> bool {
        match self {
            Self::Global { replicas, .. } => replicas.iter().any(|r| r == region),
            Self::Single { region: here } => here == region,
            Self::EveryRegion => true,
        }
    }
}

/// One region's ElastiCache replication group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cache {
    /// The region.
    pub(crate) region: String,
    /// `costs.redis.node_type`.
    pub(crate) node_type: String,
    /// Shards (node groups): the priced nodes over (1 + replicas).
    pub(crate) shards: u64,
    /// `costs.redis.replicas_per_shard`.
    pub(crate) replicas_per_shard: u32,
    /// Cluster mode enabled: more than one shard, or the serve config says `cluster: true`.
    pub(crate) cluster_mode: bool,
}

impl Cache {
    /// Nodes, replicas included: the quantity of the region's `redis,nodes` row of `costs.csv`.
    pub(crate) fn nodes(&self) -> u64 {
        self.shards.saturating_mul(1 + u64::from(self.replicas_per_shard))
    }
}

impl Deployment {
    /// The deployment of `plan`, with names, cluster flags and residency from `config` when
    /// given (`config_file` names it in errors). An error is a bad input, one line saying what
    /// disagrees and what to change.
    pub(crate) fn new(plan: &Plan, config: Option<(&ServeConfig, &str)>) -> Result<Self, String> {
        let scenario = &plan.record.scenario;
        let regions = plan.record.regions.clone();
        if let Some((config, file)) = config {
            check_config_matches_plan(plan, config, file)?;
        }
        let residency = scenario.residency_rules().map_err(|e| format!("the plan's {}: {}", e.key, e.message))?;
        let tables = tables(plan, &residency, config)?;
        let caches = caches(plan, config)?;
        let mut notes = Vec::new();
        if let Some((config, file)) = config {
            for (region, entry) in &config.redis {
                if entry.url.starts_with("redis://") {
                    notes.push(format!(
                        "{file}: redis.{region}.url is redis:// but the template requires TLS in transit: use \
                         rediss://<the RedisUrl output>"
                    ));
                }
            }
        }
        if !scenario.costs.dynamodb.replicated_writes && regions.len() > 1 {
            notes.push(
                "the plan was priced with costs.dynamodb.replicated_writes: false, but the sessions table is a global \
                 table (the engine reads every session from its home's replica): its replicated writes are not in \
                 costs.csv"
                    .into(),
            );
        }
        Ok(Self { regions, tables, caches, notes })
    }
}

/// A serve config and a plan describe one deployment only if the plan priced the config's regions
/// (in the config's order: the engine numbers regions by it) and its residency.
fn check_config_matches_plan(plan: &Plan, config: &ServeConfig, file: &str) -> Result<(), String> {
    let scenario = &plan.record.scenario;
    let config_regions = &config.session_config.hot_storage.regions;
    if *config_regions != plan.record.regions {
        return Err(format!(
            "{file}: session_config.hot_storage.regions is [{}] but the plan ({}) priced [{}]: price a scenario with \
             the config's regions, in the same order",
            config_regions.join(", "),
            scenario.name,
            plan.record.regions.join(", ")
        ));
    }
    if config.residency != scenario.residency {
        return Err(format!(
            "{file}: residency is {} but the plan ({}) priced {}: price a scenario with the config's residency (it \
             decides which tables and replicas are paid for)",
            describe_rules(&config.residency),
            scenario.name,
            describe_rules(&scenario.residency)
        ));
    }
    // One analytics table in the first region: an instance elsewhere must reach it there.
    let first = &plan.record.regions[0];
    let analytics_at = config.dynamodb.analytics_region.as_ref().unwrap_or(&config.dynamodb.region);
    if !scenario.costs.dynamodb.analytics_replicated && analytics_at != first {
        return Err(format!(
            "{file}: dynamodb.analytics_region: the plan ({}) keeps one analytics table, in {first} \
             (costs.dynamodb.analytics_replicated: false), but this config reaches it through {analytics_at}: set \
             dynamodb.analytics_region: {first}, or price a plan with costs.dynamodb.analytics_replicated: true",
            scenario.name
        ));
    }
    Ok(())
}

fn describe_rules(rules: &BTreeMap<String, Vec<String>>) -> String {
    if rules.is_empty() {
        return "{}".into();
    }
    let rules: Vec<String> = rules.iter().map(|(home, allowed)| format!("{home}: [{}]", allowed.join(", "))).collect();
    format!("{{{}}}", rules.join(", "))
}

/// The table names of one set of tables, and the AWS region the engine reaches them through.
struct TableNames {
    sessions: String,
    audit: String,
    analytics: String,
    region: String,
}

impl TableNames {
    fn of(config: &DynamoConfig) -> Self {
        Self {
            sessions: config.sessions_table.clone(),
            audit: config.audit_table.clone(),
            analytics: config.analytics_table.clone(),
            region: config.region.clone(),
        }
    }

    /// A restricted home's tables without a serve config: the defaults of
    /// `dynamodb.residency_tables` (the shared names suffixed with `-<home>`, reached through the
    /// home), as `ServeConfig::dynamo_config_for` gives them.
    fn default_for(home: &str) -> Self {
        let shared = DynamoConfig::default();
        Self {
            sessions: format!("{}-{home}", shared.sessions_table),
            audit: format!("{}-{home}", shared.audit_table),
            analytics: format!("{}-{home}", shared.analytics_table),
            region: home.to_string(),
        }
    }
}

/// Every table, placed as the cost model priced it: the sessions table global over every region
/// (a restricted home's over its allowed regions); the audit table global when
/// `audit_replicated`, else one per region (a restricted home's in the home); the analytics table
/// global when `analytics_replicated`, else one in the first region (a restricted home's in the
/// home).
fn tables(plan: &Plan, residency: &Residency, config: Option<(&ServeConfig, &str)>) -> Result<Vec<Table>, String> {
    let scenario = &plan.record.scenario;
    let regions = &plan.record.regions;
    let costs = &scenario.costs.dynamodb;
    let primary = regions.first().cloned().ok_or("the plan has no region")?;
    let shared = TableNames::of(&config.map_or_else(DynamoConfig::default, |(c, _)| c.dynamo_config()));
    let every = Placement::Global { created_in: primary.clone(), replicas: regions.clone() };
    let mut tables = vec![
        Table { kind: TableKind::Sessions, name: shared.sessions, home: None, placement: every.clone() },
        Table {
            kind: TableKind::Audit,
            name: shared.audit,
            home: None,
            placement: if costs.audit_replicated { every.clone() } else { Placement::EveryRegion },
        },
        Table {
            kind: TableKind::Analytics,
            name: shared.analytics,
            home: None,
            placement: if costs.analytics_replicated { every } else { Placement::Single { region: primary } },
        },
    ];
    for home in residency.restricted_homes() {
        let home_name = region_name(regions, home)?;
        let allowed: Vec<String> = residency
            .allowed(home)
            .unwrap_or_default()
            .iter()
            .map(|r| region_name(regions, *r).map(str::to_string))
            .collect::<Result<_, _>>()?;
        let names = match config {
            Some((config, file)) => {
                let names = TableNames::of(&config.dynamo_config_for(home));
                if !allowed.contains(&names.region) {
                    return Err(format!(
                        "{file}: dynamodb.residency_tables.{home_name}.region is {} but residency.{home_name} allows \
                         only [{}]: the tables of a restricted home live in its allowed regions",
                        names.region,
                        allowed.join(", ")
                    ));
                }
                names
            }
            None => TableNames::default_for(home_name),
        };
        let resident = Placement::Global { created_in: names.region.clone(), replicas: allowed };
        let in_home = Placement::Single { region: names.region.clone() };
        let home = Some(home_name.to_string());
        tables.push(Table {
            kind: TableKind::Sessions,
            name: names.sessions,
            home: home.clone(),
            placement: resident.clone(),
        });
        tables.push(Table {
            kind: TableKind::Audit,
            name: names.audit,
            home: home.clone(),
            placement: if costs.audit_replicated { resident.clone() } else { in_home.clone() },
        });
        tables.push(Table {
            kind: TableKind::Analytics,
            name: names.analytics,
            home,
            placement: if costs.analytics_replicated { resident } else { in_home },
        });
    }
    Ok(tables)
}

fn region_name(regions: &[String], region: RegionId) -> Result<&str, String> {
    regions.get(region.index()).map(String::as_str).ok_or_else(|| format!("the plan has no region number {}", region.0))
}

/// Each region's replication group: the cost model's nodes (`costs.csv`) as shards of
/// 1 + `replicas_per_shard` nodes of `node_type`.
fn caches(plan: &Plan, config: Option<(&ServeConfig, &str)>) -> Result<Vec<Cache>, String> {
    let redis = &plan.record.scenario.costs.redis;
    let replicas = redis.replicas_per_shard;
    if replicas > MAX_REPLICAS_PER_SHARD {
        return Err(format!(
            "the plan has costs.redis.replicas_per_shard {replicas}; ElastiCache allows at most \
             {MAX_REPLICAS_PER_SHARD} replicas per shard"
        ));
    }
    let mut caches = Vec::with_capacity(plan.record.regions.len());
    for (i, region) in plan.record.regions.iter().enumerate() {
        let nodes =
            plan.model.redis_nodes.get(i).copied().ok_or_else(|| format!("the plan has no nodes for {region}"))?;
        let shards = nodes / (1 + u64::from(replicas));
        if shards == 0 || shards > MAX_SHARDS {
            return Err(format!(
                "the plan needs {shards} shards of {} in {region}; one ElastiCache replication group holds 1 to \
                 {MAX_SHARDS}: price a larger node type (costs.redis.node_type)",
                redis.node_type
            ));
        }
        let configured_cluster = match config {
            Some((config, file)) => {
                let entry = config.redis.get(region).ok_or_else(|| format!("{file}: redis: no entry for {region}"))?;
                if !entry.cluster && shards > 1 {
                    return Err(format!(
                        "{file}: redis.{region}.cluster is false but the plan needs {shards} shards in {region} (a \
                         Redis Cluster): set cluster: true"
                    ));
                }
                entry.cluster
            }
            None => false,
        };
        caches.push(Cache {
            region: region.clone(),
            node_type: redis.node_type.clone(),
            shards,
            replicas_per_shard: replicas,
            cluster_mode: shards > 1 || configured_cluster,
        });
    }
    Ok(caches)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The residency tables' default names here are the serve config's defaults.
    #[test]
    fn default_residency_names_are_the_serve_configs() {
        let text = "\
region: us-east-1
session_config:
  hot_storage: { regions: [us-east-1, eu-west-1] }
residency: { eu-west-1: [eu-west-1] }
redis:
  us-east-1: { url: redis://127.0.0.1:6379 }
  eu-west-1: { url: redis://127.0.0.1:6380 }
";
        let config = ServeConfig::parse(text, "serve.yaml").expect("valid");
        let from_config = TableNames::of(&config.dynamo_config_for(RegionId(1)));
        let default = TableNames::default_for("eu-west-1");
        assert_eq!(
            (from_config.sessions, from_config.audit, from_config.analytics, from_config.region),
            (default.sessions, default.audit, default.analytics, default.region)
        );
    }
}
