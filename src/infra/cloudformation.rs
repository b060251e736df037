//! The CloudFormation template of a [`Deployment`]: one template for every planned region,
//! deployed as a StackSet (one stack instance per region of `hot_storage.regions`).
//!
//! Why one template and not one per region: ElastiCache is regional, so each region needs a
//! stack of its own, but a DynamoDB global table is created once, from one of its replica
//! regions, and CloudFormation then creates and manages the other replicas itself. One template
//! with a condition per region (`In<Region>`: `AWS::Region` equals it) says both at once: every
//! region's stack creates its own replication group, and the stack of a table's creating region
//! creates the table with all its replicas. One file, one review, one StackSet update when the
//! plan changes; a rule refuses a region the plan did not price.
//!
//! The tables' key schemas, attribute definitions and indexes are the ones the engine's DynamoDB
//! adapter creates (`engine/src/backends/dynamodb/`); `tests/infra.rs` creates tables with the
//! engine against DynamoDB Local and compares them with the template's.

use hotcold_engine::backends::dynamodb::{EXPIRY_INDEX, USER_INDEX};
use serde_json::{Map, Value, json};

use super::Plan;
use super::deployment::{Cache, Deployment, Placement, Table, TableKind};

/// The TTL attribute of every table (the engine's `expires_at`, epoch seconds).
pub(crate) const TTL_ATTRIBUTE: &str = "expires_at";

/// The Redis engine version of the replication groups (the engine needs Redis 7: GETEX, Lua).
const REDIS_VERSION: &str = "7.1";

/// The port of every replication group.
const REDIS_PORT: u16 = 6379;

/// The largest template CloudFormation takes inline (`--template-body`), in bytes; a larger one
/// (many regions and residency homes) is uploaded to S3 and given by URL.
pub(crate) const MAX_TEMPLATE_BODY: usize = 51_200;

/// CloudFormation's limit on a template's description, in bytes.
const MAX_DESCRIPTION: usize = 1024;

/// The template, as pretty JSON with a trailing newline (CloudFormation reads JSON and YAML; JSON
/// from one serializer is byte-for-byte deterministic).
pub(crate) fn render(plan: &Plan, deployment: &Deployment, config_file: Option<&str>) -> String {
    let template = template(plan, deployment, config_file);
    let mut text = serde_json::to_string_pretty(&template).unwrap_or_default();
    text.push('\n');
    text
}

/// The template as a JSON value.
pub(crate) fn template(plan: &Plan, deployment: &Deployment, config_file: Option<&str>) -> Value {
    let mut resources = Map::new();
    let mut outputs = Map::new();
    for table in &deployment.tables {
        let id = table_id(table);
        resources.insert(id.clone(), table_resource(plan, table));
        let mut output = json!({
            "Description": format!("ARN of the {} (IAM policies of the hotcold serve instances)", table_title(table)),
            "Value": { "Fn::GetAtt": [id, "Arn"] },
        });
        if let Some(condition) = table_condition(table) {
            output["Condition"] = json!(condition);
        }
        outputs.insert(format!("{id}Arn"), output);
    }
    for cache in &deployment.caches {
        let id = format!("Redis{}", camel(&cache.region));
        resources.insert(id.clone(), cache_resource(plan, cache));
        let endpoint = if cache.cluster_mode { "ConfigurationEndPoint" } else { "PrimaryEndPoint" };
        outputs.insert(
            format!("RedisUrl{}", camel(&cache.region)),
            json!({
                "Condition": condition_name(&cache.region),
                "Description": format!(
                    "redis.{}.url of the serve config, with cluster: {}",
                    cache.region, cache.cluster_mode
                ),
                "Value": { "Fn::Sub": format!("rediss://${{{id}.{endpoint}.Address}}:${{{id}.{endpoint}.Port}}") },
            }),
        );
    }
    let conditions: Map<String, Value> = deployment
        .regions
        .iter()
        .map(|region| (condition_name(region), json!({ "Fn::Equals": [{ "Ref": "AWS::Region" }, region] })))
        .collect();
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description(plan, deployment),
        "Metadata": metadata(plan, deployment, config_file),
        "Parameters": parameters(),
        "Rules": {
            "PlannedRegion": {
                "Assertions": [{
                    "Assert": { "Fn::Contains": [deployment.regions, { "Ref": "AWS::Region" }] },
                    "AssertDescription": format!(
                        "The plan priced only these regions: {}. Deploy this StackSet to them.",
                        deployment.regions.join(", ")
                    ),
                }],
            },
        },
        "Conditions": conditions,
        "Resources": resources,
        "Outputs": outputs,
    })
}

/// What priced the template and what it costs, in one line of at most 1024 bytes.
fn description(plan: &Plan, deployment: &Deployment) -> String {
    let s = &plan.summary;
    let mut text = format!(
        "hotcold plan {} (seed {}, sample {}): {:.2} USD a month as costs.csv prices it. Deploy as a StackSet to {}.",
        s.scenario,
        s.seed,
        s.sample,
        s.cost_usd_month.total,
        deployment.regions.join(", ")
    );
    if text.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// The plan behind the template: scenario, seed, sample, the monthly cost by component, and the
/// counts and placements chosen, so a reviewer can set the template beside `costs.csv`.
fn metadata(plan: &Plan, deployment: &Deployment, config_file: Option<&str>) -> Value {
    let s = &plan.summary;
    let c = &s.cost_usd_month;
    let redis: Map<String, Value> = deployment
        .caches
        .iter()
        .map(|cache| {
            (
                cache.region.clone(),
                json!({
                    "node_type": cache.node_type,
                    "shards": cache.shards,
                    "replicas_per_shard": cache.replicas_per_shard,
                    "nodes": cache.nodes(),
                    "cluster_mode": cache.cluster_mode,
                }),
            )
        })
        .collect();
    let tables: Vec<Value> = deployment
        .tables
        .iter()
        .map(|table| {
            let mut entry = json!({
                "name": table.name,
                "holds": table.kind.word(),
                "regions": deployment.regions.iter().filter(|r| table.placement.holds(r)).collect::<Vec<_>>(),
                "global": matches!(table.placement, Placement::Global { .. }),
            });
            if let Some(home) = &table.home {
                entry["residency_home"] = json!(home);
            }
            entry
        })
        .collect();
    // CloudFormation's metadata holds strings, integers, booleans, lists and maps only: no
    // floats, no nulls.
    let mut hotcold = json!({
        "generated_by": format!("hotcold infra {}", env!("CARGO_PKG_VERSION")),
        "plan": {
            "scenario": s.scenario,
            "seed": s.seed,
            "sample": s.sample.to_string(),
            "simulated_days": format!("{:.3}", s.simulated_seconds / 86_400.0),
        },
        "usd_month": {
            "redis": usd(c.redis),
            "dynamodb": usd(c.dynamodb),
            "sync": usd(c.sync),
            "transfer": usd(c.transfer),
            "audit": usd(c.audit),
            "analytics": usd(c.analytics),
            "total": usd(c.total),
        },
        "regions": deployment.regions,
        "redis": redis,
        "tables": tables,
    });
    if let Some(file) = config_file {
        hotcold["serve_config"] = json!(file);
    }
    json!({
        "hotcold": hotcold,
        "AWS::CloudFormation::Interface": {
            "ParameterGroups": [{
                "Label": { "default": "This region's network (differs per stack instance)" },
                "Parameters": ["CacheSubnetGroupName", "CacheSecurityGroupIds"],
            }],
        },
    })
}

/// What the plan cannot know: the network each region's replication group goes in.
fn parameters() -> Value {
    json!({
        "CacheSubnetGroupName": {
            "Type": "String",
            "MinLength": 1,
            "Description": "Name of an ElastiCache subnet group in this region's VPC, with subnets in at least two \
                Availability Zones (Multi-AZ places each shard's replica in another zone). It differs per region: \
                give it per stack instance (--parameter-overrides).",
        },
        "CacheSecurityGroupIds": {
            "Type": "List<AWS::EC2::SecurityGroup::Id>",
            "Description": "Security groups of this region's replication group: they must let the hotcold serve \
                instances of every region reach TCP 6379 (a lookup of a session homed elsewhere reads that \
                region's Redis). Per stack instance, like the subnet group.",
        },
    })
}

/// A monthly amount in USD, as text with cents.
fn usd(amount: f64) -> String {
    format!("{amount:.2}")
}

/// `In<Region>`: true in the stack of `region`.
fn condition_name(region: &str) -> String {
    format!("In{}", camel(region))
}

/// `us-east-1` -> `UsEast1`: a region as a part of a logical id (letters and digits only).
fn camel(region: &str) -> String {
    region
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `SessionsTable`, or `SessionsTableEuWest1` for a restricted home's.
fn table_id(table: &Table) -> String {
    let kind = match table.kind {
        TableKind::Sessions => "SessionsTable",
        TableKind::Audit => "AuditTable",
        TableKind::Analytics => "AnalyticsTable",
    };
    format!("{kind}{}", table.home.as_deref().map(camel).unwrap_or_default())
}

/// `sessions table hotcold-sessions`, with the home for a restricted home's.
fn table_title(table: &Table) -> String {
    match &table.home {
        Some(home) => format!("{} table {} of the sessions homed in {home} (residency)", table.kind.word(), table.name),
        None => format!("{} table {}", table.kind.word(), table.name),
    }
}

/// The condition of the stack that creates `table`: none for a table every region has.
fn table_condition(table: &Table) -> Option<String> {
    match &table.placement {
        Placement::Global { created_in, .. } => Some(condition_name(created_in)),
        Placement::Single { region } => Some(condition_name(region)),
        Placement::EveryRegion => None,
    }
}

/// The key schema, attribute definitions and indexes the engine creates for a table of `kind`.
fn schema(kind: TableKind) -> Map<String, Value> {
    let attribute = |name: &str, kind: &str| json!({ "AttributeName": name, "AttributeType": kind });
    let key = |name: &str, kind: &str| json!({ "AttributeName": name, "KeyType": kind });
    let mut schema = Map::new();
    match kind {
        TableKind::Sessions => {
            schema.insert(
                "AttributeDefinitions".into(),
                json!([
                    attribute("id", "S"),
                    attribute("user_id", "S"),
                    attribute("expiry_bucket", "S"),
                    attribute("last_access", "N"),
                ]),
            );
            schema.insert("KeySchema".into(), json!([key("id", "HASH")]));
            schema.insert(
                "GlobalSecondaryIndexes".into(),
                json!([
                    {
                        "IndexName": USER_INDEX,
                        "KeySchema": [key("user_id", "HASH"), key("id", "RANGE")],
                        "Projection": { "ProjectionType": "ALL" },
                    },
                    {
                        "IndexName": EXPIRY_INDEX,
                        "KeySchema": [key("expiry_bucket", "HASH"), key("last_access", "RANGE")],
                        "Projection": {
                            "ProjectionType": "INCLUDE",
                            "NonKeyAttributes": ["user_id", "version", "created_at"],
                        },
                    },
                ]),
            );
        }
        TableKind::Audit => {
            schema.insert("AttributeDefinitions".into(), json!([attribute("pk", "S"), attribute("sk", "S")]));
            schema.insert("KeySchema".into(), json!([key("pk", "HASH"), key("sk", "RANGE")]));
        }
        TableKind::Analytics => {
            schema.insert("AttributeDefinitions".into(), json!([attribute("session", "S")]));
            schema.insert("KeySchema".into(), json!([key("session", "HASH")]));
        }
    }
    schema
}

fn tags(plan: &Plan, component: &str) -> Value {
    let s = &plan.summary;
    json!([
        { "Key": "hotcold:component", "Value": component },
        { "Key": "hotcold:plan", "Value": format!("{} seed {} sample {}", s.scenario, s.seed, s.sample) },
    ])
}

/// A table: a global table (`AWS::DynamoDB::GlobalTable`, a replica per region, each with
/// point-in-time recovery) or a regional one (`AWS::DynamoDB::Table`), on-demand as the cost model
/// prices it, with the engine's TTL attribute, and kept when the stack is deleted (sessions and
/// the audit trail outlive a stack).
fn table_resource(plan: &Plan, table: &Table) -> Value {
    let mut properties = schema(table.kind);
    properties.insert("TableName".into(), json!(table.name));
    properties.insert("BillingMode".into(), json!("PAY_PER_REQUEST"));
    properties.insert("TimeToLiveSpecification".into(), json!({ "AttributeName": TTL_ATTRIBUTE, "Enabled": true }));
    let component = match &table.home {
        Some(home) => format!("{}-{home}", table.kind.word()),
        None => table.kind.word().to_string(),
    };
    let kind = match &table.placement {
        Placement::Global { replicas, .. } => {
            // A global table of more than one replica needs a stream (replication reads it); one
            // of one replica gets it too, so adding a region later is an update, not a
            // replacement.
            properties.insert("StreamSpecification".into(), json!({ "StreamViewType": "NEW_AND_OLD_IMAGES" }));
            let replicas: Vec<Value> = replicas
                .iter()
                .map(|region| {
                    json!({
                        "Region": region,
                        "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
                        "DeletionProtectionEnabled": true,
                        "Tags": tags(plan, &component),
                    })
                })
                .collect();
            properties.insert("Replicas".into(), json!(replicas));
            "AWS::DynamoDB::GlobalTable"
        }
        Placement::Single { .. } | Placement::EveryRegion => {
            properties.insert("PointInTimeRecoverySpecification".into(), json!({ "PointInTimeRecoveryEnabled": true }));
            properties.insert("DeletionProtectionEnabled".into(), json!(true));
            properties.insert("Tags".into(), tags(plan, &component));
            "AWS::DynamoDB::Table"
        }
    };
    let mut resource = json!({
        "Type": kind,
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    });
    if let Some(condition) = table_condition(table) {
        resource["Condition"] = json!(condition);
    }
    resource
}

/// A region's replication group: the priced node type, shards and replicas per shard; cluster
/// mode when there is more than one shard (or the serve config asks for a Cluster); encrypted at
/// rest and in transit; automatic failover and Multi-AZ when a shard has a replica to fail over
/// to (cluster mode requires automatic failover in any case).
fn cache_resource(plan: &Plan, cache: &Cache) -> Value {
    let failover = cache.replicas_per_shard >= 1;
    let mut properties = json!({
        "ReplicationGroupDescription": format!(
            "hotcold hot tier of {}: {} shard(s) x (1 primary + {} replica(s)) of {}, as priced",
            cache.region, cache.shards, cache.replicas_per_shard, cache.node_type
        ),
        "Engine": "redis",
        "EngineVersion": REDIS_VERSION,
        "CacheNodeType": cache.node_type,
        "Port": REDIS_PORT,
        "AtRestEncryptionEnabled": true,
        "TransitEncryptionEnabled": true,
        "AutomaticFailoverEnabled": failover || cache.cluster_mode,
        "MultiAZEnabled": failover,
        "CacheSubnetGroupName": { "Ref": "CacheSubnetGroupName" },
        "SecurityGroupIds": { "Ref": "CacheSecurityGroupIds" },
        "Tags": tags(plan, "redis"),
    });
    if cache.cluster_mode {
        properties["ClusterMode"] = json!("Enabled");
        properties["CacheParameterGroupName"] = json!("default.redis7.cluster.on");
        properties["NumNodeGroups"] = json!(cache.shards);
        properties["ReplicasPerNodeGroup"] = json!(cache.replicas_per_shard);
    } else {
        properties["ClusterMode"] = json!("Disabled");
        properties["CacheParameterGroupName"] = json!("default.redis7");
        properties["NumCacheClusters"] = json!(1 + cache.replicas_per_shard);
    }
    let basis = plan
        .model
        .rows
        .iter()
        .find(|row| row.region == cache.region && row.component == "redis" && row.item == "nodes")
        .map(|row| json!({ "nodes": row.quantity.to_string(), "usd_month": usd(row.usd_month), "basis": row.basis }));
    let mut resource = json!({
        "Type": "AWS::ElastiCache::ReplicationGroup",
        "Condition": condition_name(&cache.region),
        // A replacement or a deletion keeps a final snapshot: the hot tier holds sessions not yet
        // demoted (all of them, until demotion, under `on_demotion`).
        "DeletionPolicy": "Snapshot",
        "UpdateReplacePolicy": "Snapshot",
        "Properties": properties,
    });
    if let Some(basis) = basis {
        resource["Metadata"] = json!({ "hotcold": { "costs_csv_row": basis } });
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_become_logical_id_parts() {
        assert_eq!(camel("us-east-1"), "UsEast1");
        assert_eq!(camel("ap-southeast-1"), "ApSoutheast1");
        assert_eq!(camel("--x_y--"), "XY");
    }
}
