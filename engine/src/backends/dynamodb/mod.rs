//! [`DynamoColdStore`] (the cold table) and [`DynamoAuditLog`] (the audit trail) on DynamoDB or
//! DynamoDB Local (feature `dynamodb`).
//!
//! # Tables
//! Sessions table (`sessions_table`, on-demand billing):
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `id` (partition key) | S | `<id hex>.<home region number>`; sort key of the GSI `by_user` |
//! | `user_id` | S | owner; partition key of the GSI `by_user` (projection ALL), absent on tombstones |
//! | `payload` | B | session data (JSON bytes) |
//! | `version`, `created_at`, `last_access` | N | as in [`Session`] (times in ms) |
//! | `hot_region` | N | failover holder, absent when none |
//! | `requests`, `visits`, `think_ms`, `last_request_at` | N | the session's [`crate::Activity`] (ms), absent while none was counted (items of earlier versions: zero) |
//! | `expires_at` | N | TTL attribute: `last_access + cold_ttl`, epoch seconds |
//!
//! Audit table (`audit_table`): see [`DynamoAuditLog`] (records per user behind an erasable
//! link, newest first).
//!
//! The sessions item codec is in `codec.rs`.
//!
//! # Writes
//! Every session write is a conditional PutItem: it succeeds only if no record exists or the
//! record is not fresher by [`Session::freshness`] (`version`, then `last_access`; an equally
//! fresh state is written, so the failover marker can move); otherwise the answer is
//! [`ColdWrite::Stale`]. BatchWriteItem cannot carry conditions, so
//! [`ColdStore::put_batch`] writes chunks of at most 25 as that many conditional PutItems in
//! flight together (1 WRU per item; TransactWriteItems would cost 2 WRU per item and one stale
//! item would cancel the whole chunk). Throttled items are retried with exponential backoff.
//!
//! # Reads and failures
//! Reads are strongly consistent (`ConsistentRead`); the user index is a GSI and so eventually
//! consistent (milliseconds on DynamoDB; immediate on DynamoDB Local). The index is sorted by
//! `id`, so a page of a user's records after an id is one Query (`ExclusiveStartKey` = that id,
//! `Limit` = the page), repeated only while DynamoDB's 1 MB answer cut it short. A table created
//! by an earlier version has a `by_user` index without sort key (DynamoDB cannot add one to an
//! existing index): the store finds that out once (DescribeTable) and pages such a table by
//! reading all of the user's records and sorting them, correct but not bounded in memory, until
//! the index is rebuilt with the sort key.
//!
//! Expiry is enforced by the engine on read, whatever DynamoDB's TTL deletion lag. Throttling is
//! [`StoreError::Throttled`]; an unreachable endpoint or a timeout is [`StoreError::Unavailable`];
//! an item that does not decode is [`StoreError::Corrupt`]. Nothing panics on what DynamoDB
//! returns.

mod analytics;
mod audit;
mod codec;

pub use analytics::DynamoAnalytics;
pub use audit::DynamoAuditLog;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ReturnValue, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use futures_util::future::join_all;

use crate::error::StoreError;
use crate::session::{RegionId, Session, SessionId, UserId};
use crate::store::{ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor};
use crate::time::Timestamp;
use codec::{BUCKET_SECONDS, EXPIRY_SHARDS, decode_expiring, decode_session, expiry_bucket, key_of, session_item};

/// DynamoDB's limit of items per batch; `put_batch` never has more in flight.
pub const MAX_BATCH: usize = 25;

/// Name of the user index on both tables.
pub const USER_INDEX: &str = "by_user";

/// Name of the sessions table's expiry index: partition `expiry_bucket` (`<home>#<hour it
/// expires in>`, absent on tombstones), sort `last_access`; projects `user_id`, `version`,
/// `created_at`. The sync job reads it to end expired cold sessions with an audit event before
/// DynamoDB's TTL deletes them unseen.
pub const EXPIRY_INDEX: &str = "by_expiry";

/// How far back a region's first expiry sweep looks: records expired longer ago than the grace
/// (plus DynamoDB's TTL lag) are gone.
const EXPIRY_LOOKBACK_HOURS: u64 = 48;

/// How often [`DynamoConfig::create_tables`] asks whether a new table is active.
const TABLE_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How many times it asks (30 s in all: DynamoDB Local is active at once, AWS within seconds)
/// before it goes on regardless.
const TABLE_POLLS: u32 = 300;

/// How to reach DynamoDB and which tables to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoConfig {
    /// Endpoint override (DynamoDB Local: `http://127.0.0.1:8000`); `None` for AWS. Default: None.
    pub endpoint: Option<String>,
    /// AWS region. Default: `us-east-1`.
    pub region: String,
    /// Sessions table name. Default: `hotcold-sessions`.
    pub sessions_table: String,
    /// Audit table name. Default: `hotcold-audit`.
    pub audit_table: String,
    /// Analytics table name (one summary per session). Default: `hotcold-analytics`.
    pub analytics_table: String,
    /// AWS region whose endpoint reaches the analytics table, when that table has no replica in
    /// `region`: the cost model's default plan keeps one analytics table, in the first region,
    /// and every other region's instances write their summaries there. Default: None (`region`).
    pub analytics_region: Option<String>,
    /// Cold sessions expire this long after their last access (sets the TTL attribute).
    /// Default: 30 days (`cold_storage.ttl`).
    pub cold_ttl: Duration,
    /// How long audit records are kept (their TTL attribute). Default: 90 days
    /// (`cold_storage.compliance_retention`).
    pub compliance_retention: Duration,
    /// How long session summaries are kept after their last event. Default: 1 year
    /// (`cold_storage.analytics_retention`).
    pub analytics_retention: Duration,
    /// Upper bound of one attempt of a call. Default: 1 s.
    pub attempt_timeout: Duration,
    /// Upper bound of a call, retries included. Default: 3 s.
    pub call_timeout: Duration,
    /// Attempts per call by the SDK's standard retry strategy (throttling, transient errors).
    /// Default: 3.
    pub max_attempts: u32,
    /// Upper bound of one audit write before the trail defers the record to its outbox (plus
    /// 10 ms per record of a batch), so a slow audit table does not slow requests. Default:
    /// 250 ms.
    pub audit_write_timeout: Duration,
    /// Static credentials `(access key id, secret)`; `None` uses the default AWS chain. With an
    /// endpoint override and no credentials, dummy ones are used (DynamoDB Local ignores them).
    /// Default: None.
    pub static_credentials: Option<(String, String)>,
    /// Name used in errors. Default: `dynamodb`.
    pub label: String,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            sessions_table: "hotcold-sessions".into(),
            audit_table: "hotcold-audit".into(),
            analytics_table: "hotcold-analytics".into(),
            analytics_region: None,
            cold_ttl: Duration::from_secs(2_592_000),
            compliance_retention: Duration::from_secs(7_776_000),
            analytics_retention: Duration::from_secs(31_536_000),
            attempt_timeout: Duration::from_secs(1),
            call_timeout: Duration::from_secs(3),
            max_attempts: 3,
            audit_write_timeout: Duration::from_millis(250),
            static_credentials: None,
            label: "dynamodb".into(),
        }
    }
}

impl DynamoConfig {
    /// DynamoDB Local at `endpoint` with dummy credentials and the given table names (the
    /// analytics table is the audit table's name plus `-analytics`).
    pub fn local(
        endpoint: impl Into<String>,
        sessions_table: impl Into<String>,
        audit_table: impl Into<String>,
    ) -> Self {
        let audit_table = audit_table.into();
        Self {
            endpoint: Some(endpoint.into()),
            sessions_table: sessions_table.into(),
            analytics_table: format!("{audit_table}-analytics"),
            audit_table,
            ..Self::default()
        }
    }

    /// Builds an SDK client for this configuration.
    pub async fn client(&self) -> Client {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.attempt_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.call_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts.max(1)));
        let credentials = match (&self.static_credentials, &self.endpoint) {
            (Some((id, secret)), _) => Some((id.clone(), secret.clone())),
            // DynamoDB Local accepts only letters and digits in the key id.
            (None, Some(_)) => Some(("hotcoldlocal".to_string(), "hotcoldlocal".to_string())),
            (None, None) => None,
        };
        if let Some((id, secret)) = credentials {
            loader = loader.credentials_provider(Credentials::new(id, secret, None, None, "hotcold-static"));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        Client::new(&loader.load().await)
    }

    /// Whether the analytics table is reached through another region than `region`.
    pub fn analytics_elsewhere(&self) -> bool {
        self.analytics_region.as_ref().is_some_and(|analytics| *analytics != self.region)
    }

    /// A client for the analytics table: `client` (this region's) when the table is reached
    /// here, else one built for [`Self::analytics_region`].
    pub async fn analytics_client(&self, client: &Client) -> Client {
        match &self.analytics_region {
            Some(region) if self.analytics_elsewhere() => {
                Self { region: region.clone(), ..self.clone() }.client().await
            }
            _ => client.clone(),
        }
    }

    /// Creates the sessions, audit and analytics tables if they do not exist (the analytics table
    /// in [`Self::analytics_region`]), waits until they are active, and enables TTL on their
    /// `expires_at` attribute.
    pub async fn create_tables(&self, client: &Client) -> Result<(), StoreError> {
        let err = |e: String| StoreError::unavailable(&self.label, e);
        // The sessions' user index is sorted by session id, so a user's sessions page in id order.
        let sessions_index = UserIndex { sort_key: Some("id"), projection: ProjectionType::All };
        create_table(client, &self.sessions_table, "id", sessions_index).await.map_err(err)?;
        ensure_expiry_index(client, &self.sessions_table).await.map_err(err)?;
        audit::create_audit_table(client, &self.audit_table).await.map_err(err)?;
        let analytics_client = self.analytics_client(client).await;
        analytics::create_analytics_table(&analytics_client, &self.analytics_table).await.map_err(err)?;
        Ok(())
    }
}

/// The GSI [`USER_INDEX`] of a table: partition key [`USER_ATTRIBUTE`], and optionally a sort key
/// (one of the table's string attributes).
struct UserIndex {
    sort_key: Option<&'static str>,
    projection: ProjectionType,
}

/// The attribute both tables index their records by user with.
const USER_ATTRIBUTE: &str = "user_id";

async fn create_table(client: &Client, table: &str, key: &str, user_index: UserIndex) -> Result<(), String> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
    let attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let key_element =
        |name: &str, key_type: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
    let mut index = GlobalSecondaryIndex::builder()
        .index_name(USER_INDEX)
        .key_schema(key_element(USER_ATTRIBUTE, KeyType::Hash).map_err(build)?)
        .projection(Projection::builder().projection_type(user_index.projection).build());
    let mut created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(key).map_err(build)?)
        .attribute_definitions(attribute(USER_ATTRIBUTE).map_err(build)?)
        .key_schema(key_element(key, KeyType::Hash).map_err(build)?);
    if let Some(sort_key) = user_index.sort_key {
        index = index.key_schema(key_element(sort_key, KeyType::Range).map_err(build)?);
        if sort_key != key {
            created = created.attribute_definitions(attribute(sort_key).map_err(build)?);
        }
    }
    let created = created
        .global_secondary_indexes(index.build().map_err(build)?)
        .global_secondary_indexes(expiry_index().map_err(build)?)
        .attribute_definitions(attribute_of("expiry_bucket", ScalarAttributeType::S).map_err(build)?)
        .attribute_definitions(attribute_of("last_access", ScalarAttributeType::N).map_err(build)?)
        .send()
        .await;
    finish_table(client, table, created, |_| Ok(())).await
}

/// Finishes a CreateTable of `table`: one that exists already (an earlier start, another
/// instance) is fine; waits until it is active, checking each description with `check` (the
/// audit table refuses another version's keys), then enables TTL on `expires_at`.
async fn finish_table(
    client: &Client,
    table: &str,
    created: Result<
        aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
        SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>,
    >,
    check: impl Fn(&aws_sdk_dynamodb::types::TableDescription) -> Result<(), String>,
) -> Result<(), String> {
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(format!("create table {table}: {}", sdk_error("dynamodb", &e))),
    }
    for _ in 0..TABLE_POLLS {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("describe table {table}: {}", sdk_error("dynamodb", &e)))?;
        let Some(description) = described.table() else { continue };
        check(description)?;
        if description.table_status() == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(TABLE_POLL_INTERVAL).await;
    }
    let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
    let ttl = TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().map_err(build)?;
    if let Err(e) = client.update_time_to_live().table_name(table).time_to_live_specification(ttl).send().await {
        // Enabling TTL twice is a ValidationException; anything else is reported.
        if e.code() != Some("ValidationException") {
            return Err(format!("enable TTL on {table}: {}", sdk_error("dynamodb", &e)));
        }
    }
    Ok(())
}

/// Where a home region's expiry sweep stands in the sessions table: an item whose key is no
/// session's (`sweep.<home>`), with no user and no expiry bucket, so no index lists it.
fn sweep_mark_key(home: RegionId) -> String {
    format!("sweep.{}", home.0)
}

/// A position in the expiry sweep order of [`DynamoColdStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct SweepPosition {
    hour: u64,
    shard: u64,
    /// The last record read in this bucket: last access and key.
    last: Option<(u64, String)>,
    /// This bucket was read to its end.
    done: bool,
}

impl SweepPosition {
    const fn start(hour: u64) -> Self {
        Self { hour, shard: 0, last: None, done: false }
    }

    fn next_bucket(&self) -> Self {
        if self.shard + 1 < EXPIRY_SHARDS {
            Self { shard: self.shard + 1, ..Self::start(self.hour) }
        } else {
            Self::start(self.hour + 1)
        }
    }

    fn cursor(&self) -> ExpiryCursor {
        let (last_access, key) = match (&self.last, self.done) {
            (_, true) | (None, _) => (0, String::new()),
            (Some((last_access, key)), false) => (*last_access, key.clone()),
        };
        let state = if self.done { "done" } else { "open" };
        ExpiryCursor(format!("{}#{}#{state}#{last_access}#{key}", self.hour, self.shard))
    }

    fn parse(cursor: &ExpiryCursor) -> Option<Self> {
        let mut parts = cursor.0.splitn(5, '#');
        let hour = parts.next()?.parse().ok()?;
        let shard = parts.next()?.parse().ok().filter(|s| *s < EXPIRY_SHARDS)?;
        let done = match parts.next()? {
            "done" => true,
            "open" => false,
            _ => return None,
        };
        let last_access: u64 = parts.next()?.parse().ok()?;
        let key = parts.next()?;
        let last = (!key.is_empty()).then(|| (last_access, key.to_string()));
        if !done && last.is_none() && last_access != 0 {
            return None;
        }
        Some(Self { hour, shard, last, done })
    }
}

/// The sessions table's [`EXPIRY_INDEX`].
fn expiry_index() -> Result<GlobalSecondaryIndex, aws_sdk_dynamodb::error::BuildError> {
    let key =
        |name: &str, key_type: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
    GlobalSecondaryIndex::builder()
        .index_name(EXPIRY_INDEX)
        .key_schema(key("expiry_bucket", KeyType::Hash)?)
        .key_schema(key("last_access", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes("user_id")
                .non_key_attributes("version")
                .non_key_attributes("created_at")
                .build(),
        )
        .build()
}

fn attribute_of(
    name: &str,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, aws_sdk_dynamodb::error::BuildError> {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build()
}

/// Asks DynamoDB to add the expiry index to a sessions table that lacks it (a table made by an
/// earlier version; DynamoDB builds it from the existing items).
async fn ensure_expiry_index(client: &Client, table: &str) -> Result<(), String> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
    let describe = || async {
        client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("describe table {table}: {}", sdk_error("dynamodb", &e)))
    };
    let index_status = |described: &aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput| {
        described
            .table()
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .find(|i| i.index_name() == Some(EXPIRY_INDEX))
            .map(|i| i.index_status().cloned())
    };
    if index_status(&describe().await?).is_none() {
        let index = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
            .index_name(EXPIRY_INDEX)
            .set_key_schema(Some(expiry_index().map_err(build)?.key_schema))
            .set_projection(expiry_index().map_err(build)?.projection)
            .build()
            .map_err(build)?;
        let updated = client
            .update_table()
            .table_name(table)
            .attribute_definitions(attribute_of("expiry_bucket", ScalarAttributeType::S).map_err(build)?)
            .attribute_definitions(attribute_of("last_access", ScalarAttributeType::N).map_err(build)?)
            .global_secondary_index_updates(
                aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder().create(index).build(),
            )
            .send()
            .await;
        if let Err(e) = updated {
            // Another instance adding it at the same time.
            if !e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) {
                return Err(format!("add index {EXPIRY_INDEX} to {table}: {}", sdk_error("dynamodb", &e)));
            }
        }
    }
    // Not waited for: on a large table DynamoDB backfills a new index for hours, and the
    // service must start meanwhile. Until it is active the expiry sweep's queries fail (a
    // failed sync pass in the metrics) and DynamoDB's TTL ends expired records unaudited.
    Ok(())
}

/// Maps an SDK failure: throttling to [`StoreError::Throttled`], everything else (unreachable,
/// timeout, service error) to [`StoreError::Unavailable`].
fn sdk_error<E>(label: &str, error: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(service) = error {
        return service_error(label, service.err().code(), service.err().message());
    }
    StoreError::unavailable(label, DisplayErrorContext(error).to_string())
}

/// Maps a service error by its code: throttling codes to [`StoreError::Throttled`], the rest to
/// [`StoreError::Unavailable`] with code and message.
fn service_error(label: &str, code: Option<&str>, message: Option<&str>) -> StoreError {
    const THROTTLING: [&str; 4] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
    ];
    let code = code.unwrap_or("unknown service error");
    if THROTTLING.contains(&code) {
        return StoreError::Throttled { backend: label.to_string() };
    }
    StoreError::unavailable(label, format!("{code}: {}", message.unwrap_or("")))
}

/// The cold table on DynamoDB. One client serves every region (a global table's replicas are
/// reached through the region's endpoint in production; `reader`/`writer` are not needed for
/// consistency because reads are strongly consistent on the replica the client talks to).
#[derive(Debug, Clone)]
pub struct DynamoColdStore {
    client: Client,
    config: DynamoConfig,
    /// Whether the sessions table's user index is sorted by `id` (false for a table made by an
    /// earlier version); asked once, on the first page of a user's records.
    user_index_sorted: OnceLock<bool>,
}

impl DynamoColdStore {
    /// A store over an existing client.
    pub const fn new(client: Client, config: DynamoConfig) -> Self {
        Self { client, config, user_index_sorted: OnceLock::new() }
    }

    /// Builds a client from `config` (and creates the tables first when `create_tables`).
    pub async fn connect(config: DynamoConfig, create_tables: bool) -> Result<Self, StoreError> {
        let client = config.client().await;
        if create_tables {
            config.create_tables(&client).await?;
        }
        Ok(Self::new(client, config))
    }

    /// The SDK client (for tests and tools).
    pub const fn client(&self) -> &Client {
        &self.client
    }

    /// `DescribeTable` of the sessions table: is DynamoDB reachable and the table there
    /// (readiness probes)? Answers the table's item count, which DynamoDB refreshes about every
    /// six hours: a gauge for dashboards, not a figure to reconcile.
    pub async fn item_count(&self) -> Result<u64, StoreError> {
        let described = self.describe_sessions_table().await?;
        Ok(described.table().and_then(|t| t.item_count()).map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// `DescribeTable` of the sessions table.
    async fn describe_sessions_table(
        &self,
    ) -> Result<aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput, StoreError> {
        self.client
            .describe_table()
            .table_name(&self.config.sessions_table)
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))
    }

    fn label(&self) -> &str {
        &self.config.label
    }

    /// Whether the user index is sorted by session id, from DescribeTable the first time.
    async fn user_index_sorted(&self) -> Result<bool, StoreError> {
        if let Some(sorted) = self.user_index_sorted.get() {
            return Ok(*sorted);
        }
        let described = self.describe_sessions_table().await?;
        let sorted = described.table().is_some_and(|table| {
            table.global_secondary_indexes().iter().any(|index| {
                index.index_name() == Some(USER_INDEX)
                    && index.key_schema().iter().any(|k| k.key_type() == &KeyType::Range && k.attribute_name() == "id")
            })
        });
        Ok(*self.user_index_sorted.get_or_init(|| sorted))
    }

    /// One Query of the user index: up to `limit` items after `start`, in index order.
    async fn query_user(
        &self,
        user: &UserId,
        start: Option<HashMap<String, AttributeValue>>,
        limit: Option<usize>,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        self.client
            .query()
            .table_name(&self.config.sessions_table)
            .index_name(USER_INDEX)
            .key_condition_expression("#u = :u")
            .expression_attribute_names("#u", USER_ATTRIBUTE)
            .expression_attribute_values(":u", AttributeValue::S(user.as_str().to_string()))
            .set_exclusive_start_key(start)
            .set_limit(limit.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))
    }

    /// A page from a table whose user index has no sort key: every record of the user, sorted,
    /// cut to the page (see the module documentation).
    async fn unsorted_index_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let mut sessions: Vec<Session> = self
            .sessions_of_user(user, RegionId(0))
            .await?
            .into_iter()
            .filter(|s| after.is_none_or(|after| &s.id > after))
            .collect();
        sessions.sort_unstable_by_key(|s| s.id);
        sessions.truncate(limit);
        Ok(sessions)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { backend: self.config.label.clone(), detail: detail.into() }
    }

    fn decode(&self, item: &HashMap<String, AttributeValue>) -> Result<Session, StoreError> {
        decode_session(item).map_err(|detail| self.corrupt(detail))
    }

    /// One conditional PutItem. Its retries are the SDK's alone (`max_attempts`, with backoff,
    /// within `call_timeout`): one budget per call. (A retry loop here used to multiply the SDK's,
    /// up to 15 PutItems for one item under throttling.)
    async fn put_one(&self, session: &Session) -> Result<ColdWrite, StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.config.sessions_table)
            .set_item(Some(session_item(session, self.config.cold_ttl)))
            .condition_expression("attribute_not_exists(#id) OR #v < :v OR (#v = :v AND #a <= :a)")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#a", "last_access")
            .expression_attribute_values(":v", AttributeValue::N(session.version.to_string()))
            .expression_attribute_values(":a", AttributeValue::N(session.last_access.0.to_string()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(ColdWrite::Written),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(ColdWrite::Stale)
            }
            Err(e) => Err(sdk_error(self.label(), &e)),
        }
    }
}

impl ColdStore for DynamoColdStore {
    async fn get(&self, id: &SessionId, _reader: RegionId) -> ColdLookup {
        let got = self
            .client
            .get_item()
            .table_name(&self.config.sessions_table)
            .key("id", AttributeValue::S(key_of(id)))
            .consistent_read(true)
            .send()
            .await;
        match got {
            Ok(output) => match output.item() {
                None => ColdLookup::Miss,
                Some(item) => match self.decode(item) {
                    Ok(session) if session.id == *id => ColdLookup::Found(session),
                    Ok(_) => ColdLookup::Unavailable(self.corrupt("record key does not match its id")),
                    Err(e) => ColdLookup::Unavailable(e),
                },
            },
            Err(e) => ColdLookup::Unavailable(sdk_error(self.label(), &e)),
        }
    }

    async fn put(&self, session: &Session, _writer: RegionId, _now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.put_one(session).await
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        _writer: RegionId,
        _now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        let mut results = Vec::with_capacity(sessions.len());
        for chunk in sessions.chunks(MAX_BATCH) {
            for answer in join_all(chunk.iter().map(|s| self.put_one(s))).await {
                results.push(answer?);
            }
        }
        Ok(results)
    }

    async fn delete(&self, id: &SessionId, _writer: RegionId, _now: Timestamp) -> Result<Option<Session>, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.config.sessions_table)
            .key("id", AttributeValue::S(key_of(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))?;
        deleted.attributes().map(|item| self.decode(item)).transpose()
    }

    async fn sessions_of_user(&self, user: &UserId, _reader: RegionId) -> Result<Vec<Session>, StoreError> {
        let mut sessions = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self.query_user(user, start.take(), None).await?;
            // An item that does not decode is left out: one corrupt record must not block
            // listing, revoking or erasing the user's other sessions.
            sessions.extend(page.items().iter().filter_map(|item| self.decode(item).ok()));
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(sessions)
    }

    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        _reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if !self.user_index_sorted().await? {
            return self.unsorted_index_page(user, after, limit).await;
        }
        // A GSI's start key is its own key (user, id) plus the table's (id).
        let mut start = after.map(|id| {
            HashMap::from([
                (USER_ATTRIBUTE.to_string(), AttributeValue::S(user.as_str().to_string())),
                ("id".to_string(), AttributeValue::S(key_of(id))),
            ])
        });
        let mut sessions = Vec::new();
        // DynamoDB answers at most 1 MB per Query, and corrupt items are left out (as in
        // `sessions_of_user`): ask again after the last key until the page is full or the
        // user's records end.
        while sessions.len() < limit {
            let page = self.query_user(user, start.take(), Some(limit - sessions.len())).await?;
            sessions.extend(page.items().iter().filter_map(|item| self.decode(item).ok()));
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(sessions)
    }

    /// Sweep order: expiry hour, shard, last access, id, over completed hours only (an hour's
    /// buckets still take records until it ends), so a record is reported up to an hour after
    /// it expires, well within [`crate::lifecycle::EXPIRY_GRACE`]. Cursor: `<hour>#<shard>#<last access>#<key>`,
    /// the key empty once that bucket was read to its end.
    async fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<ExpiredPage, StoreError> {
        let ttl = self.config.cold_ttl.as_secs();
        // The hour records expiring now expire in: only hours before it are complete.
        let current_hour = (before.0 / 1000 + ttl) / BUCKET_SECONDS;
        let mut position = match after {
            Some(cursor) => SweepPosition::parse(cursor).ok_or_else(|| self.corrupt("expiry cursor malformed"))?,
            None => SweepPosition::start(current_hour.saturating_sub(EXPIRY_LOOKBACK_HOURS)),
        };
        let mut sessions = Vec::new();
        let mut moved = false;
        while position.hour < current_hour && sessions.len() < limit {
            if position.done {
                position = position.next_bucket();
                continue;
            }
            let start = position.last.as_ref().map(|(last_access, key)| {
                HashMap::from([
                    (
                        "expiry_bucket".to_string(),
                        AttributeValue::S(expiry_bucket(home, position.hour, position.shard)),
                    ),
                    ("last_access".to_string(), AttributeValue::N(last_access.to_string())),
                    ("id".to_string(), AttributeValue::S(key.clone())),
                ])
            });
            let page = self
                .client
                .query()
                .table_name(&self.config.sessions_table)
                .index_name(EXPIRY_INDEX)
                .key_condition_expression("expiry_bucket = :b AND last_access < :before")
                .expression_attribute_values(
                    ":b",
                    AttributeValue::S(expiry_bucket(home, position.hour, position.shard)),
                )
                .expression_attribute_values(":before", AttributeValue::N(before.0.to_string()))
                .limit(i32::try_from(limit - sessions.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(self.label(), &e))?;
            for item in page.items() {
                let session = decode_expiring(item).map_err(|what| self.corrupt(what))?;
                position.last = Some((session.last_access.0, key_of(&session.id)));
                sessions.push(session);
            }
            moved = true;
            if page.last_evaluated_key().is_none_or(HashMap::is_empty) {
                position.done = true;
            }
        }
        let next = moved.then(|| position.cursor());
        Ok(ExpiredPage { sessions, next })
    }

    async fn sweep_mark(&self, home: RegionId) -> Result<Option<ExpiryCursor>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.config.sessions_table)
            .key("id", AttributeValue::S(sweep_mark_key(home)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))?;
        match answer.item().and_then(|item| item.get("mark")) {
            None => Ok(None),
            Some(AttributeValue::S(mark)) => Ok(Some(ExpiryCursor(mark.clone()))),
            Some(_) => Err(self.corrupt("sweep mark malformed")),
        }
    }

    async fn set_sweep_mark(&self, home: RegionId, mark: &ExpiryCursor) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.config.sessions_table)
            .item("id", AttributeValue::S(sweep_mark_key(home)))
            .item("mark", AttributeValue::S(mark.0.clone()))
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::primitives::Blob;

    use super::*;

    #[test]
    fn throttling_codes_are_throttled_and_the_rest_unavailable() {
        for code in ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"] {
            assert_eq!(
                service_error("dynamodb", Some(code), None),
                StoreError::Throttled { backend: "dynamodb".into() }
            );
        }
        for code in [Some("ResourceNotFoundException"), Some("InternalServerError"), None] {
            assert!(matches!(service_error("dynamodb", code, Some("x")), StoreError::Unavailable { .. }), "{code:?}");
        }
    }

    #[test]
    fn malformed_items_are_corrupt_not_panics() {
        let store = DynamoColdStore::new(
            Client::from_conf(aws_sdk_dynamodb::Config::builder().behavior_version(BehaviorVersion::latest()).build()),
            DynamoConfig::default(),
        );
        let cases = [
            HashMap::new(),
            HashMap::from([("id".to_string(), AttributeValue::S("zz".into()))]),
            HashMap::from([
                ("id".to_string(), AttributeValue::S(key_of(&SessionId::from_parts([1; 16], RegionId(0))))),
                ("user_id".to_string(), AttributeValue::S("alice".into())),
                ("payload".to_string(), AttributeValue::S("not binary".into())),
            ]),
            HashMap::from([
                ("id".to_string(), AttributeValue::S(key_of(&SessionId::from_parts([1; 16], RegionId(0))))),
                ("user_id".to_string(), AttributeValue::S("alice".into())),
                ("payload".to_string(), AttributeValue::B(Blob::new(b"{}".to_vec()))),
                ("version".to_string(), AttributeValue::N("-1".into())),
            ]),
        ];
        for item in cases {
            assert!(matches!(store.decode(&item), Err(StoreError::Corrupt { .. })));
        }
    }
}
