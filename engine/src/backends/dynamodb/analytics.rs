//! [`DynamoAnalytics`]: the analytics table, one summary item per session
//! ([`SessionSummary`]), updated by [`super::DynamoAuditLog`] as each audit record that
//! [`writes_summary`] lands (one UpdateItem, about 1 WRU).
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `session` (partition key) | S | the session id, `<hex>.<home>` |
//! | `home_region`, `created_at`, `last_event_at`, `version` | N | as in [`SessionSummary`] (ms) |
//! | `subject` | S | the owner's audit subject, absent when unknown |
//! | `promotions`, `demotions` | N | counters (`ADD`) |
//! | `regions`, `payload_sizes` | NS | regions that acted on it; data sizes seen (`ADD`; the largest is the summary's) |
//! | `activities` | SS | the activities events carried, each `<requests>\|<visits>\|<think ms>\|<last request>` (20 zero-padded digits each, so string order is that of [`Activity::numbers`]; `ADD`; the largest is the summary's), absent while none was counted |
//! | `ended_at`, `end_reason` | N, S | set by the event that ended it |
//! | `expires_at` | N | TTL: last event + `analytics_retention`, epoch seconds |
//!
//! A record delivered late (from an outbox) after a later one moves `last_event_at` and
//! `version` back to its own; the counters and sets are exact whatever the order, so the
//! activity, a maximum over a set, never goes back (and a reopen after a rollback keeps it), as
//! in [`SessionSummary::fold`]. Keeping the maximum this way needs no condition and no read: one
//! UpdateItem still, and a redelivery adds nothing (a set).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

use super::codec::{key_of, parse_key};
use super::sdk_error;
use crate::analytics::{Activity, SessionSummary, end_reason, reopens, writes_summary};
use crate::audit::chain::AuditRecord;
use crate::error::StoreError;

/// The analytics table.
#[derive(Debug, Clone)]
pub struct DynamoAnalytics {
    client: Client,
    table: String,
    retention: Duration,
    label: String,
}

impl DynamoAnalytics {
    /// The table `table` over `client`, summaries kept `retention` after their last event.
    pub fn new(client: Client, table: impl Into<String>, retention: Duration, label: impl Into<String>) -> Self {
        Self { client, table: table.into(), retention, label: label.into() }
    }

    /// `config`'s analytics table over `client`, with `config`'s retention and label.
    pub fn of_config(client: Client, config: &super::DynamoConfig) -> Self {
        Self::new(client, config.analytics_table.clone(), config.analytics_retention, config.label.clone())
    }

    /// Folds `record` into its session's summary if it [`writes_summary`]; `subject` is its
    /// owner's audit subject.
    pub async fn record(&self, record: &AuditRecord, subject: Option<&str>) -> Result<(), StoreError> {
        let event = &record.event;
        if !writes_summary(event.kind) {
            return Ok(());
        }
        let n = |v: u64| AttributeValue::N(v.to_string());
        let expires_at = (event.at + self.retention).0 / 1000;
        let mut sets =
            vec!["home_region = :home", "last_event_at = :at", "version = :version", "expires_at = :expires"];
        let mut values = HashMap::from([
            (":home".to_string(), n(u64::from(event.session.home().0))),
            (":at".to_string(), n(event.at.0)),
            (":version".to_string(), n(event.version)),
            (":expires".to_string(), n(expires_at)),
            (":region".to_string(), AttributeValue::Ns(vec![event.region.0.to_string()])),
            (":size".to_string(), AttributeValue::Ns(vec![event.data_bytes.to_string()])),
            (":promoted".to_string(), n(u64::from(event.kind == crate::audit::AuditKind::Promoted))),
            (":demoted".to_string(), n(u64::from(event.kind == crate::audit::AuditKind::Demoted))),
        ]);
        if event.created_at.0 > 0 {
            sets.push("created_at = :created");
            values.insert(":created".into(), n(event.created_at.0));
        }
        if let Some(subject) = subject {
            sets.push("subject = :subject");
            values.insert(":subject".into(), AttributeValue::S(subject.to_string()));
        }
        if let Some(reason) = end_reason(event.kind) {
            sets.push("ended_at = :at");
            sets.push("end_reason = :reason");
            values.insert(":reason".into(), AttributeValue::S(reason.to_string()));
        }
        let mut adds = "regions :region, payload_sizes :size, promotions :promoted, demotions :demoted".to_string();
        if event.activity != Activity::default() {
            adds.push_str(", activities :activity");
            values.insert(":activity".into(), AttributeValue::Ss(vec![encode_activity(&event.activity)]));
        }
        // An import after a rollback opens the session's summary again.
        let reopen = if reopens(event.kind) { " REMOVE ended_at, end_reason" } else { "" };
        let expression = format!("SET {} ADD {adds}{reopen}", sets.join(", "));
        self.client
            .update_item()
            .table_name(&self.table)
            .key("session", AttributeValue::S(key_of(&event.session)))
            .update_expression(expression)
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| sdk_error(&self.label, &e))?;
        Ok(())
    }

    /// Every summary in the table (a Scan, a page at a time): the export's input.
    pub async fn all(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut summaries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&self.label, &e))?;
            for item in page.items() {
                summaries.push(decode_summary(item).map_err(|what| StoreError::Corrupt {
                    backend: self.label.clone(),
                    detail: format!("analytics table: {what}"),
                })?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(summaries),
            }
        }
    }
}

/// An activity as an element of the `activities` set: string order is that of
/// [`Activity::numbers`].
fn encode_activity(activity: &Activity) -> String {
    let [requests, visits, think, last] = activity.numbers();
    format!("{requests:020}|{visits:020}|{think:020}|{last:020}")
}

/// An element of the `activities` set back.
fn decode_activity(text: &str) -> Option<Activity> {
    let mut numbers = text.split('|').map(|n| n.parse::<u64>().ok());
    let activity = Activity::from_numbers([numbers.next()??, numbers.next()??, numbers.next()??, numbers.next()??]);
    numbers.next().is_none().then_some(activity)
}

/// A summary item back; the error names the attribute that is wrong.
fn decode_summary(item: &HashMap<String, AttributeValue>) -> Result<SessionSummary, String> {
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map(Some).map_err(|_| format!("attribute {name}")),
        None => Ok(None),
        _ => Err(format!("attribute {name}")),
    };
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
        None => Ok(None),
        _ => Err(format!("attribute {name}")),
    };
    let numbers = |name: &str| match item.get(name) {
        Some(AttributeValue::Ns(values)) => {
            values.iter().map(|v| v.parse::<u64>().map_err(|_| format!("attribute {name}"))).collect()
        }
        None => Ok(Vec::new()),
        _ => Err(format!("attribute {name}")),
    };
    let id = text("session")?.and_then(|key| parse_key(&key)).ok_or("attribute session")?;
    let mut regions: Vec<u16> = numbers("regions")?
        .into_iter()
        .map(|r| u16::try_from(r).map_err(|_| "attribute regions"))
        .collect::<Result<_, _>>()?;
    regions.sort_unstable();
    let activity = match item.get("activities") {
        Some(AttributeValue::Ss(values)) => values
            .iter()
            .map(|v| decode_activity(v).ok_or("attribute activities"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max_by_key(Activity::numbers)
            .unwrap_or_default(),
        None => Activity::default(),
        _ => return Err("attribute activities".into()),
    };
    Ok(SessionSummary {
        session_id: id.to_hex(),
        home_region: id.home().0,
        subject: text("subject")?,
        created_at: number("created_at")?.unwrap_or(0),
        last_event_at: number("last_event_at")?.unwrap_or(0),
        ended_at: number("ended_at")?,
        end_reason: text("end_reason")?,
        version: number("version")?.unwrap_or(0),
        promotions: number("promotions")?.unwrap_or(0),
        demotions: number("demotions")?.unwrap_or(0),
        regions,
        largest_payload_bytes: numbers("payload_sizes")?.into_iter().max().unwrap_or(0),
        activity,
    })
}

/// Creates the analytics table (`session`) if it does not exist, waits until it is active, and
/// enables TTL on `expires_at`.
pub(super) async fn create_analytics_table(client: &Client, table: &str) -> Result<(), String> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("session")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        )
        .key_schema(
            KeySchemaElement::builder().attribute_name("session").key_type(KeyType::Hash).build().map_err(build)?,
        )
        .send()
        .await;
    super::finish_table(client, table, created, |_| Ok(())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn activities_order_as_strings_as_the_fold_orders_them() {
        let activity = |requests, visits, think_ms, last| Activity {
            requests,
            visits,
            think_ms,
            last_request_at: Timestamp(last),
        };
        let all = [activity(9, 1, 0, 5), activity(10, 1, 0, 1), activity(10, 2, 0, 0), activity(u64::MAX, 0, 0, 0)];
        for a in &all {
            assert_eq!(decode_activity(&encode_activity(a)), Some(*a));
            for b in &all {
                assert_eq!(encode_activity(a).cmp(&encode_activity(b)), a.numbers().cmp(&b.numbers()));
            }
        }
        assert_eq!(decode_activity("1|2|3"), None);
        assert_eq!(decode_activity("1|2|3|4|5"), None);
    }
}
