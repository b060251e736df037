//! [`DynamoAuditLog`]: the audit trail's [`AuditLog`] on DynamoDB.
//!
//! # Table (`audit_table`, on-demand)
//! Partition key `pk` (S), sort key `sk` (S); no index. Three kinds of item:
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | record | `s#<subject, 32 hex>` (`n#<day>` for events of no known user) | [`sort_key`]: `<at ms, 15 digits>#<writer>#<seq, 12 digits>` | `at`, `kind`, `tier`, `region`, `session`, `home`, `version`, `bytes`, `created`, `writer`, `seq`, `prev`, `hash`, `expires_at`; `requests`, `visits`, `think_ms`, `last_request_at` (the event's activity) when not zero |
//! | link | `l#<HMAC-SHA-256 of the user id, 64 hex>` | `link` | `subject`, or `erased_at` and `expires_at` once erased |
//! | head | `h#<writer>` | `head` | `seq`, `hash`, `expires_at` |
//!
//! A user's page is one Query of one partition, newest first (`ScanIndexForward` false), a
//! 1,000-record page about 300 KB: under DynamoDB's 1 MB answer. No user id is stored anywhere
//! in the table; the link's key is keyed by the deployment's [`PseudonymKey`].
//! `expires_at` (the TTL attribute) is `at + compliance_retention`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    Select, WriteRequest,
};

use super::{DynamoAnalytics, DynamoConfig, MAX_BATCH, finish_table, sdk_error};
use crate::analytics::{Activity, writes_summary};
use crate::audit::chain::{self, AuditRecord, ChainHead};
use crate::audit::log::{
    AuditCursor, AuditLog, AuditPage, AuditQuery, Link, MAX_PAGE, StoredRecord, sort_key, sort_key_floor, subject_for,
};
use crate::error::StoreError;
use crate::session::{PseudonymKey, UserId};
use crate::time::Timestamp;

/// How long a process trusts a user's link without reading it again (another process may erase
/// the user meanwhile; records it then writes are linked to nobody, see [`Link::Erased`]).
const LINK_CACHE_TTL: Duration = Duration::from_secs(60);

/// Most links cached; the cache is emptied when full.
const LINK_CACHE_CAPACITY: usize = 100_000;

/// Rounds of BatchWriteItem for items DynamoDB left unprocessed (throttling).
const UNPROCESSED_ROUNDS: u32 = 5;

/// Milliseconds per day, for the partition of events without a user.
const MS_PER_DAY: u64 = 86_400_000;

/// The audit table's log.
#[derive(Debug)]
pub struct DynamoAuditLog {
    client: Client,
    config: DynamoConfig,
    link_key: PseudonymKey,
    links: Mutex<HashMap<UserId, (u128, Instant)>>,
    /// The analytics pipeline: every record that lands is folded into its session's summary.
    analytics: DynamoAnalytics,
    /// Summary updates that failed (the audit record itself landed).
    analytics_failures: Arc<AtomicU64>,
    /// Background summary writes started and not yet finished (see [`Self::summaries_written`]).
    summaries_in_flight: Arc<tokio::sync::watch::Sender<u64>>,
}

impl DynamoAuditLog {
    /// A log over an existing client, whose analytics pipeline writes to `config.analytics_table`
    /// in the client's region, and in [`DynamoConfig::analytics_region`] when that is another one
    /// (the table then has no replica here, and the summaries cross regions).
    pub async fn connect(client: Client, config: DynamoConfig, link_key: PseudonymKey) -> Self {
        let analytics = DynamoAnalytics::of_config(config.analytics_client(&client).await, &config);
        Self::with_analytics(client, analytics, config, link_key)
    }

    /// A log over an existing client; `link_key` addresses users' links (the same secret in every
    /// instance, or users' records split by instance).
    /// Its analytics pipeline writes to `config.analytics_table` through the same client (see
    /// [`Self::connect`] for a table in another region).
    pub fn new(client: Client, config: DynamoConfig, link_key: PseudonymKey) -> Self {
        let analytics = DynamoAnalytics::of_config(client.clone(), &config);
        Self::with_analytics(client, analytics, config, link_key)
    }

    fn with_analytics(
        client: Client,
        analytics: DynamoAnalytics,
        config: DynamoConfig,
        link_key: PseudonymKey,
    ) -> Self {
        Self {
            client,
            config,
            link_key,
            links: Mutex::new(HashMap::new()),
            analytics,
            analytics_failures: Arc::default(),
            summaries_in_flight: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// The analytics table this log feeds.
    pub const fn analytics(&self) -> &DynamoAnalytics {
        &self.analytics
    }

    /// Session summary updates that failed since start (their audit records landed; the
    /// summary misses that event). A metric to alert on.
    pub fn analytics_failures(&self) -> u64 {
        self.analytics_failures.load(Ordering::Relaxed)
    }

    /// Waits, at most `within`, until the summaries of every record this log has written are in
    /// the analytics table (or counted in [`Self::analytics_failures`]); true if they are. They
    /// are written in the background, off the request's path, so a process that ends right after
    /// a drain would lose them: a clean stop waits here, and so does a test that reads the table.
    pub async fn summaries_written(&self, within: Duration) -> bool {
        let mut in_flight = self.summaries_in_flight.subscribe();
        matches!(tokio::time::timeout(within, in_flight.wait_for(|n| *n == 0)).await, Ok(Ok(_)))
    }

    /// Background summary writes not yet finished.
    pub fn summaries_in_flight(&self) -> u64 {
        *self.summaries_in_flight.borrow()
    }

    fn label(&self) -> &str {
        &self.config.label
    }

    fn table(&self) -> &str {
        &self.config.audit_table
    }

    fn link_pk(&self, user: &UserId) -> String {
        format!("l#{}", self.link_key.digest_hex(user.as_str().as_bytes()))
    }

    fn expires_at(&self, at: Timestamp) -> String {
        ((at + self.config.compliance_retention).0 / 1000).to_string()
    }

    fn cached_links(&self) -> MutexGuard<'_, HashMap<UserId, (u128, Instant)>> {
        crate::memory::lock(&self.links)
    }

    /// The user's link as stored (strongly consistent).
    async fn read_link(&self, user: &UserId) -> Result<Option<Link>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", AttributeValue::S(self.link_pk(user)))
            .key("sk", AttributeValue::S("link".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))?;
        let Some(item) = answer.item() else { return Ok(None) };
        if let Some(AttributeValue::S(subject)) = item.get("subject") {
            let subject = u128::from_str_radix(subject, 16).map_err(|_| self.corrupt("link subject"))?;
            return Ok(Some(Link::Subject(subject)));
        }
        match item.get("erased_at") {
            Some(AttributeValue::N(at)) => {
                Ok(Some(Link::Erased(Timestamp(at.parse().map_err(|_| self.corrupt("link erased_at"))?))))
            }
            _ => Err(self.corrupt("link item")),
        }
    }

    /// Stores `link` for `user` if the stored link is still `expected` (two processes linking a
    /// new user at once agree on one subject); answers false if it was not.
    async fn write_link(
        &self,
        user: &UserId,
        expected: Option<Link>,
        link: Link,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(self.table())
            .item("pk", AttributeValue::S(self.link_pk(user)))
            .item("sk", AttributeValue::S("link".into()));
        put = match link {
            Link::Subject(subject) => put.item("subject", AttributeValue::S(format!("{subject:032x}"))),
            Link::Erased(erased_at) => put
                .item("erased_at", AttributeValue::N(erased_at.0.to_string()))
                .item("expires_at", AttributeValue::N(self.expires_at(at))),
        };
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(Link::Subject(subject)) => put
                .condition_expression("subject = :expected")
                .expression_attribute_values(":expected", AttributeValue::S(format!("{subject:032x}"))),
            Some(Link::Erased(erased_at)) => put
                .condition_expression("erased_at = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(erased_at.0.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(sdk_error(self.label(), &e)),
        }
    }

    /// The partition `record` goes to, creating its user's link if needed.
    async fn partition_of(&self, record: &AuditRecord) -> Result<String, StoreError> {
        let at = record.event.at;
        let Some(user) = record.event.user_id.as_ref() else { return Ok(format!("n#{}", at.0 / MS_PER_DAY)) };
        if let Some((subject, since)) = self.cached_links().get(user)
            && since.elapsed() < LINK_CACHE_TTL
        {
            return Ok(subject_partition(*subject));
        }
        // Two rounds cover a race with another process linking the same user.
        for _ in 0..3 {
            let stored = self.read_link(user).await?;
            let (subject, new_link) = subject_for(stored, record);
            if let Some(link) = new_link
                && !self.write_link(user, stored, link, at).await?
            {
                continue;
            }
            if matches!(new_link.or(stored), Some(Link::Subject(s)) if s == subject) {
                let mut cache = self.cached_links();
                if cache.len() >= LINK_CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(user.clone(), (subject, Instant::now()));
            }
            return Ok(subject_partition(subject));
        }
        Err(StoreError::unavailable(self.label(), "the user's audit link kept changing under concurrent writers"))
    }

    fn record_item(&self, partition: String, record: &AuditRecord) -> HashMap<String, AttributeValue> {
        let stored = StoredRecord::of(record, false);
        let n = |v: u64| AttributeValue::N(v.to_string());
        let s = |v: &str| AttributeValue::S(v.to_string());
        let mut item = HashMap::from([
            ("pk".to_string(), AttributeValue::S(partition)),
            ("sk".to_string(), AttributeValue::S(sort_key(record))),
            ("at".to_string(), n(stored.at)),
            ("kind".to_string(), s(stored.kind.as_str())),
            ("tier".to_string(), s(stored.tier.as_str())),
            ("region".to_string(), n(u64::from(stored.region))),
            ("session".to_string(), s(&stored.session)),
            ("home".to_string(), n(u64::from(stored.home))),
            ("version".to_string(), n(stored.version)),
            ("bytes".to_string(), n(stored.data_bytes)),
            ("created".to_string(), n(stored.created_at)),
            ("writer".to_string(), s(&stored.writer)),
            ("seq".to_string(), n(stored.seq)),
            ("prev".to_string(), s(&stored.prev)),
            ("hash".to_string(), s(&stored.hash)),
            ("expires_at".to_string(), AttributeValue::N(self.expires_at(record.event.at))),
        ]);
        // Left out when zero, as in the outbox's lines: such a record reads as one of an
        // earlier version does.
        for (name, value) in Activity::NAMES.into_iter().zip(record.event.activity.numbers()) {
            if value > 0 {
                item.insert(name.to_string(), n(value));
            }
        }
        item
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt { backend: self.label().to_string(), detail: format!("audit table: {what} malformed") }
    }

    fn decode(&self, item: &HashMap<String, AttributeValue>) -> Result<AuditRecord, StoreError> {
        decode_record(item).map_err(|what| self.corrupt(&what))
    }

    /// Writes items with BatchWriteItem, retrying what DynamoDB leaves unprocessed.
    async fn put_items(&self, items: Vec<HashMap<String, AttributeValue>>) -> Result<(), StoreError> {
        for chunk in items.chunks(MAX_BATCH) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map_err(|e| self.corrupt(&e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for round in 0..=UNPROCESSED_ROUNDS {
                if requests.is_empty() {
                    break;
                }
                if round == UNPROCESSED_ROUNDS {
                    return Err(StoreError::Throttled { backend: self.label().to_string() });
                }
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(20 << round)).await;
                }
                let answer = self
                    .client
                    .batch_write_item()
                    .request_items(self.table(), requests)
                    .send()
                    .await
                    .map_err(|e| sdk_error(self.label(), &e))?;
                requests = answer.unprocessed_items().and_then(|u| u.get(self.table())).cloned().unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn write_records(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(records.len());
        let mut partitions = Vec::with_capacity(records.len());
        // One item per record: BatchWriteItem refuses a batch naming one key twice.
        let mut seen = std::collections::HashSet::new();
        for record in records.iter().filter(|r| seen.insert((r.writer.as_str(), r.seq))) {
            let partition = self.partition_of(record).await?;
            items.push(self.record_item(partition.clone(), record));
            partitions.push((record, partition));
        }
        self.put_items(items).await?;
        // The trail has them; the summaries follow in the background, off the request's path (a
        // promotion or a logout does not wait for them) and outside the write's deadline (a late
        // summary must not make the trail deliver the records again, which would count twice).
        // A failure is counted, not returned.
        let analytics = self.analytics.clone();
        let failures = Arc::clone(&self.analytics_failures);
        let summarised: Vec<(AuditRecord, Option<String>)> = partitions
            .into_iter()
            .filter(|(record, _)| writes_summary(record.event.kind))
            .map(|(record, partition)| (record.clone(), partition.strip_prefix("s#").map(str::to_string)))
            .collect();
        if !summarised.is_empty() {
            let in_flight = InFlight::start(Arc::clone(&self.summaries_in_flight));
            tokio::spawn(async move {
                let _finished_when_dropped = in_flight;
                for (record, subject) in summarised {
                    if analytics.record(&record, subject.as_deref()).await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        Ok(())
    }

    /// Counts the records in `partition`.
    async fn count(&self, partition: &str) -> Result<u64, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(partition.to_string()))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(self.label(), &e))?;
            count += u64::try_from(page.count()).unwrap_or(0);
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(count),
            }
        }
    }
}

/// One background summary write counted in flight, until dropped (finished, or aborted with
/// its runtime).
struct InFlight(Arc<tokio::sync::watch::Sender<u64>>);

impl InFlight {
    fn start(counter: Arc<tokio::sync::watch::Sender<u64>>) -> Self {
        counter.send_modify(|n| *n += 1);
        Self(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl AuditLog for DynamoAuditLog {
    /// Bounded by `audit_write_timeout` plus 10 ms a record: an audit write that takes longer
    /// fails (the trail defers the record) rather than holding up the request.
    async fn write(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let deadline = self.config.audit_write_timeout + Duration::from_millis(10) * records.len() as u32;
        match tokio::time::timeout(deadline, self.write_records(records)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(self.label(), format!("audit write took over {deadline:?}"))),
        }
    }

    async fn user_page(&self, user: &UserId, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let Some(Link::Subject(subject)) = self.read_link(user).await? else { return Ok(AuditPage::default()) };
        let partition = subject_partition(subject);
        let low = query.since.map_or_else(|| "0".to_string(), sort_key_floor);
        let high = query.until.map_or_else(|| "~".to_string(), sort_key_floor);
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut start = query.cursor.as_ref().map(|cursor| {
            HashMap::from([
                ("pk".to_string(), AttributeValue::S(partition.clone())),
                ("sk".to_string(), AttributeValue::S(cursor.as_str().to_string())),
            ])
        });
        // One more than the page, to know whether another follows; DynamoDB may cut an answer
        // at 1 MB, so ask again until there are enough or the partition ends.
        let mut records = Vec::with_capacity(limit + 1);
        while records.len() <= limit {
            let page = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(limit + 1 - records.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(self.label(), &e))?;
            for item in page.items() {
                records.push(self.decode(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            let last = records.last().map(sort_key).unwrap_or_default();
            // A page that cannot say where it ended must not pass for the last one.
            Some(AuditCursor::parse(&last).ok_or_else(|| self.corrupt("record sort key"))?)
        } else {
            None
        };
        Ok(AuditPage { records, next_cursor })
    }

    async fn forget_user(&self, user: &UserId, at: Timestamp) -> Result<u64, StoreError> {
        for _ in 0..3 {
            let stored = self.read_link(user).await?;
            let unlinked = match stored {
                Some(Link::Subject(subject)) => self.count(&subject_partition(subject)).await?,
                _ => 0,
            };
            if self.write_link(user, stored, Link::Erased(at), at).await? {
                self.cached_links().remove(user);
                return Ok(unlinked);
            }
        }
        Err(StoreError::unavailable(self.label(), "the user's audit link kept changing under concurrent writers"))
    }

    async fn scan(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<String>), StoreError> {
        let start = match cursor {
            None => None,
            Some(text) => {
                let (pk, sk) = text.split_once('\u{1f}').ok_or_else(|| self.corrupt("scan cursor"))?;
                Some(HashMap::from([
                    ("pk".to_string(), AttributeValue::S(pk.to_string())),
                    ("sk".to_string(), AttributeValue::S(sk.to_string())),
                ]))
            }
        };
        let page = self
            .client
            .scan()
            .table_name(self.table())
            .filter_expression("begins_with(pk, :records) OR begins_with(pk, :anonymous)")
            .expression_attribute_values(":records", AttributeValue::S("s#".into()))
            .expression_attribute_values(":anonymous", AttributeValue::S("n#".into()))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))?;
        let records = page.items().iter().map(|item| self.decode(item)).collect::<Result<Vec<_>, _>>()?;
        let next = page.last_evaluated_key().filter(|key| !key.is_empty()).and_then(|key| {
            match (key.get("pk"), key.get("sk")) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(format!("{pk}\u{1f}{sk}")),
                _ => None,
            }
        });
        Ok((records, next))
    }

    async fn report_head(&self, head: &ChainHead) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let now = Timestamp(u64::try_from(now.as_millis()).unwrap_or(u64::MAX));
        self.client
            .put_item()
            .table_name(self.table())
            .item("pk", AttributeValue::S(format!("h#{}", head.writer)))
            .item("sk", AttributeValue::S("head".into()))
            .item("seq", AttributeValue::N(head.seq.to_string()))
            .item("hash", AttributeValue::S(chain::to_hex(&head.hash)))
            .item("expires_at", AttributeValue::N(self.expires_at(now)))
            .send()
            .await
            .map_err(|e| sdk_error(self.label(), &e))?;
        Ok(())
    }

    async fn heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        let mut heads = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(self.table())
                .filter_expression("begins_with(pk, :heads)")
                .expression_attribute_values(":heads", AttributeValue::S("h#".into()))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error(self.label(), &e))?;
            for item in page.items() {
                let writer = match item.get("pk") {
                    Some(AttributeValue::S(pk)) => pk.strip_prefix("h#").unwrap_or(pk).to_string(),
                    _ => return Err(self.corrupt("head pk")),
                };
                let seq = match item.get("seq") {
                    Some(AttributeValue::N(n)) => n.parse().map_err(|_| self.corrupt("head seq"))?,
                    _ => return Err(self.corrupt("head seq")),
                };
                let hash = match item.get("hash") {
                    Some(AttributeValue::S(h)) => chain::from_hex(h).ok_or_else(|| self.corrupt("head hash"))?,
                    _ => return Err(self.corrupt("head hash")),
                };
                heads.push(ChainHead { writer, seq, hash });
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(heads),
            }
        }
    }
}

/// The partition of a subject's records.
fn subject_partition(subject: u128) -> String {
    format!("s#{subject:032x}")
}

/// A record item back; the error names the attribute that is wrong.
fn decode_record(item: &HashMap<String, AttributeValue>) -> Result<AuditRecord, String> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(format!("attribute {name}")),
    };
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| format!("attribute {name}")),
        _ => Err(format!("attribute {name}")),
    };
    let small = |name: &str| number(name).and_then(|n| u16::try_from(n).map_err(|_| format!("attribute {name}")));
    let counted = |name: &str| if item.contains_key(name) { number(name) } else { Ok(0) };
    fn name<T: serde::de::DeserializeOwned>(text: String) -> Result<T, serde_json::Error> {
        serde_json::from_value(serde_json::Value::String(text))
    }
    let stored = StoredRecord {
        at: number("at")?,
        kind: name(text("kind")?).map_err(|_| "attribute kind".to_string())?,
        tier: name(text("tier")?).map_err(|_| "attribute tier".to_string())?,
        region: small("region")?,
        session: text("session")?,
        home: small("home")?,
        user: None,
        version: number("version")?,
        data_bytes: number("bytes")?,
        created_at: number("created")?,
        // Absent on records of earlier versions and on events that knew no activity.
        requests: counted("requests")?,
        visits: counted("visits")?,
        think_ms: counted("think_ms")?,
        last_request_at: counted("last_request_at")?,
        writer: text("writer")?,
        seq: number("seq")?,
        prev: text("prev")?,
        hash: text("hash")?,
    };
    stored.into_record()
}

/// Creates the audit table (`pk`, `sk`) if it does not exist, waits until it is active, and
/// enables TTL on `expires_at`. An existing table with other keys (an earlier version's
/// `event` key) is an error naming the table: its records cannot be paged by user.
pub(super) async fn create_audit_table(client: &Client, table: &str) -> Result<(), String> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
    let attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let key =
        |name: &str, key_type: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk").map_err(build)?)
        .attribute_definitions(attribute("sk").map_err(build)?)
        .key_schema(key("pk", KeyType::Hash).map_err(build)?)
        .key_schema(key("sk", KeyType::Range).map_err(build)?)
        .send()
        .await;
    finish_table(client, table, created, |description| {
        let keys: Vec<&str> = description.key_schema().iter().map(|k| k.attribute_name()).collect();
        if keys == ["pk", "sk"] {
            Ok(())
        } else {
            Err(format!(
                "audit table {table} has keys {keys:?}, not [\"pk\", \"sk\"]: it was made by an earlier version; \
                 name a new table in dynamodb.audit_table (the old one keeps its records until its TTL ends them)"
            ))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Chain;
    use crate::audit::{AuditEvent, AuditKind, Tier};
    use crate::session::{RegionId, SessionId};

    #[test]
    fn record_items_decode_back_to_the_record_without_the_user() {
        let log = DynamoAuditLog::new(
            Client::from_conf(
                aws_sdk_dynamodb::Config::builder().behavior_version(aws_config::BehaviorVersion::latest()).build(),
            ),
            DynamoConfig::default(),
            PseudonymKey::random(),
        );
        let mut chain = Chain::new("eu-west-1.0123456789abcdef");
        let record = chain.seal(AuditEvent {
            at: Timestamp(1_700_000_000_123),
            kind: AuditKind::Demoted,
            tier: Tier::Cold,
            region: RegionId(2),
            session: SessionId::from_parts([9; 16], RegionId(1)),
            user_id: Some(UserId::new("carol").unwrap()),
            version: 4,
            data_bytes: 0,
            created_at: crate::time::Timestamp(0),
            activity: crate::Activity {
                requests: 7,
                visits: 2,
                think_ms: 41_000,
                last_request_at: Timestamp(1_700_000_000_100),
            },
        });
        let item = log.record_item("s#00".into(), &record);
        assert_eq!(item.get("requests"), Some(&AttributeValue::N("7".into())), "the activity is stored");
        assert!(!item.values().any(|v| matches!(v, AttributeValue::S(s) if s.contains("carol"))), "no user id stored");
        let back = decode_record(&item).unwrap();
        assert_eq!(back.event, AuditEvent { user_id: None, ..record.event.clone() });
        assert!(back.hash_matches());
        // A record of an earlier version (no activity attributes) reads with none.
        let mut old = item.clone();
        for name in ["requests", "visits", "think_ms", "last_request_at"] {
            old.remove(name);
        }
        assert_eq!(decode_record(&old).unwrap().event.activity, crate::Activity::default());
        let mut broken = item;
        broken.insert("kind".into(), AttributeValue::S("exploded".into()));
        assert_eq!(decode_record(&broken).unwrap_err(), "attribute kind");
    }
}
