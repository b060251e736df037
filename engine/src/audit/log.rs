//! [`AuditLog`]: where sealed records are kept and how the compliance query reads them.
//!
//! Records carry no user id. Each user has a *link*, addressed by a keyed hash of the user id and
//! holding a random subject id; the user's records are kept under the subject, newest first by
//! their sort key ([`sort_key`]: time, writer, number), so one user's page is one range read.
//! Erasure ([`AuditLog::forget_user`]) replaces the link with a marker: the records stay, counted
//! and chained, and nothing that starts from the user id (even with the key) reaches them again.
//! Records of the user that arrive later but happened before the erasure (from an outbox) are
//! kept under a fresh random subject, linked to nobody.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::chain::{self, AuditRecord, ChainHead};
use super::{AuditEvent, AuditKind, Tier};
use crate::analytics::Activity;
use crate::error::StoreError;
use crate::session::{RegionId, SessionId, UserId};
use crate::time::Timestamp;

/// Most records one page of the compliance query answers.
pub const MAX_PAGE: usize = 1000;

/// A page request of the compliance query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Most events in the page (1..=[`MAX_PAGE`]).
    pub limit: usize,
    /// Continue after this record (the previous page's `next_cursor`).
    pub cursor: Option<AuditCursor>,
}

/// Where a page ended: the sort key of its last record. Opaque to callers; parsed back by
/// [`AuditCursor::parse`], which refuses anything that is not a sort key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditCursor(String);

impl AuditCursor {
    /// The cursor text `text` names, or `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '#');
        let (at, writer, seq) = (parts.next()?, parts.next()?, parts.next()?);
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        // Writers are `<region>.<16 hex>`, region names up to 64 characters.
        let writer_ok = !writer.is_empty()
            && writer.len() <= 128
            && writer.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        (digits(at, 15) && digits(seq, 12) && writer_ok).then(|| Self(text.to_string()))
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A page of a user's records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// The records (user id `None`: the trail stores none).
    pub records: Vec<AuditRecord>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_cursor: Option<AuditCursor>,
}

/// The sort key of a record: `<at, 15 digits>#<writer>#<seq, 12 digits>`, so keys order by time,
/// then by writer, then by the writer's sequence.
pub fn sort_key(record: &AuditRecord) -> String {
    format!("{:015}#{}#{:012}", record.event.at.0, record.writer, record.seq)
}

/// The lowest sort key at or after `at`.
pub fn sort_key_floor(at: Timestamp) -> String {
    format!("{:015}#", at.0)
}

/// A record in its stored form: every field as text or number, the session as hex plus home.
/// The outbox, the DynamoDB items and the compliance query's answers share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Milliseconds since the epoch.
    pub at: u64,
    /// The kind.
    pub kind: AuditKind,
    /// The tier.
    pub tier: Tier,
    /// The region number.
    pub region: u16,
    /// The session id, 32 hex digits.
    pub session: String,
    /// The session's home region number.
    pub home: u16,
    /// The user, only while the record is on its way (outbox): never stored in the trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The session's version after the event.
    pub version: u64,
    /// The session's data size after the event, bytes.
    #[serde(default)]
    pub data_bytes: u64,
    /// When the session was created, ms.
    #[serde(default)]
    pub created_at: u64,
    /// The session's requests by then (the event's [`Activity`]). The four activity fields are
    /// left out when zero, so a record written before they existed serialises back to the very
    /// line it was read from (the outbox removes a delivered record by its line).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests: u64,
    /// Its visits by then.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub visits: u64,
    /// Its think time by then, ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub think_ms: u64,
    /// Its last request by then, ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_request_at: u64,
    /// The writer.
    pub writer: String,
    /// Its number in the writer's chain.
    pub seq: u64,
    /// The previous record's hash, hex.
    pub prev: String,
    /// This record's hash, hex.
    pub hash: String,
}

impl StoredRecord {
    /// The stored form of `record`, with its user when `with_user`.
    pub fn of(record: &AuditRecord, with_user: bool) -> Self {
        let event = &record.event;
        Self {
            at: event.at.0,
            kind: event.kind,
            tier: event.tier,
            region: event.region.0,
            session: event.session.to_hex(),
            home: event.session.home().0,
            user: if with_user { event.user_id.as_ref().map(|u| u.as_str().to_string()) } else { None },
            version: event.version,
            data_bytes: event.data_bytes,
            created_at: event.created_at.0,
            requests: event.activity.requests,
            visits: event.activity.visits,
            think_ms: event.activity.think_ms,
            last_request_at: event.activity.last_request_at.0,
            writer: record.writer.clone(),
            seq: record.seq,
            prev: chain::to_hex(&record.prev),
            hash: chain::to_hex(&record.hash),
        }
    }

    /// The record back; the error names the field that is wrong.
    pub fn into_record(self) -> Result<AuditRecord, String> {
        let session =
            SessionId::from_hex(&self.session, RegionId(self.home)).ok_or("field session is not 32 hex digits")?;
        let user_id = self.user.map(|u| UserId::new(&u).map_err(|_| "field user is not a user id")).transpose()?;
        Ok(AuditRecord {
            event: AuditEvent {
                at: Timestamp(self.at),
                kind: self.kind,
                tier: self.tier,
                region: RegionId(self.region),
                session,
                user_id,
                version: self.version,
                data_bytes: self.data_bytes,
                created_at: Timestamp(self.created_at),
                activity: Activity {
                    requests: self.requests,
                    visits: self.visits,
                    think_ms: self.think_ms,
                    last_request_at: Timestamp(self.last_request_at),
                },
            },
            writer: self.writer,
            seq: self.seq,
            prev: chain::from_hex(&self.prev).ok_or("field prev is not a hash")?,
            hash: chain::from_hex(&self.hash).ok_or("field hash is not a hash")?,
        })
    }
}

/// Serde's test for the activity fields left out when zero.
#[allow(clippy::trivially_copy_pass_by_ref)]
const fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where sealed records are kept.
pub trait AuditLog: Send + Sync {
    /// Writes `records`. Idempotent: a record is identified by its writer and number, so writing
    /// it again (an outbox redelivering after a timeout that had in fact succeeded) keeps one.
    fn write(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of `user`'s records, newest first.
    fn user_page(
        &self,
        user: &UserId,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<AuditPage, StoreError>> + Send;

    /// Unlinks `user`'s records (erasure) as of `at`; answers how many records were unlinked.
    fn forget_user(&self, user: &UserId, at: Timestamp) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A page of every record in the trail, in no particular order, for verification; the
    /// second value continues the scan (`None`: done).
    fn scan(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<AuditRecord>, Option<String>), StoreError>> + Send;

    /// Records `head` as its writer's reported head.
    fn report_head(&self, head: &ChainHead) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every writer's reported head.
    fn heads(&self) -> impl Future<Output = Result<Vec<ChainHead>, StoreError>> + Send;
}

impl<T: AuditLog + ?Sized> AuditLog for Arc<T> {
    fn write(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write(records)
    }
    fn user_page(
        &self,
        user: &UserId,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<AuditPage, StoreError>> + Send {
        (**self).user_page(user, query)
    }
    fn forget_user(&self, user: &UserId, at: Timestamp) -> impl Future<Output = Result<u64, StoreError>> + Send {
        (**self).forget_user(user, at)
    }
    fn scan(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<AuditRecord>, Option<String>), StoreError>> + Send {
        (**self).scan(cursor, limit)
    }
    fn report_head(&self, head: &ChainHead) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).report_head(head)
    }
    fn heads(&self) -> impl Future<Output = Result<Vec<ChainHead>, StoreError>> + Send {
        (**self).heads()
    }
}

/// A user's link: the subject their records are kept under, or the time they were erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Records are kept under this subject.
    Subject(u128),
    /// Erased at this time: records from before it are kept under fresh random subjects.
    Erased(Timestamp),
}

/// A fresh random subject id (128 bits from the thread's CSPRNG).
pub fn random_subject() -> u128 {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    u128::from_le_bytes(bytes)
}

/// The subject a record of a user with `link` goes under, and the link to store if it changes
/// (a first record, or the first record after an erasure). A record from before the user's
/// erasure, arriving late, goes under a subject of its own drawn from its hash: linked to nobody,
/// and the same each time it is delivered (so a redelivery is still one record).
pub fn subject_for(link: Option<Link>, record: &AuditRecord) -> (u128, Option<Link>) {
    match link {
        Some(Link::Subject(subject)) => (subject, None),
        Some(Link::Erased(erased_at)) if record.event.at <= erased_at => {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&record.hash[..16]);
            (u128::from_le_bytes(bytes), None)
        }
        _ => {
            let subject = random_subject();
            (subject, Some(Link::Subject(subject)))
        }
    }
}

/// The trail in memory (tests, examples): the same links, keys and pages as the DynamoDB trail.
#[derive(Debug, Default)]
pub struct MemoryAuditLog {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    links: HashMap<UserId, Link>,
    /// `(subject, sort key)` to record; records without a user go under subject 0.
    records: BTreeMap<(u128, String), AuditRecord>,
    heads: BTreeMap<String, ChainHead>,
    available: bool,
}

impl MemoryAuditLog {
    /// An empty trail.
    pub fn new() -> Self {
        Self { state: Mutex::new(MemoryState { available: true, ..MemoryState::default() }) }
    }

    /// Takes the trail down or brings it back.
    pub fn set_available(&self, available: bool) {
        self.lock().available = available;
    }

    /// Every record kept, in key order (tests: to tamper with one, call [`Self::replace`]).
    pub fn records(&self) -> Vec<AuditRecord> {
        self.lock().records.values().cloned().collect()
    }

    /// Replaces the record with the same writer and number (a tamper test's forgery); answers
    /// whether one was there.
    pub fn replace(&self, record: AuditRecord) -> bool {
        let mut state = self.lock();
        let found = state
            .records
            .iter()
            .find(|(_, r)| r.writer == record.writer && r.seq == record.seq)
            .map(|(k, _)| k.clone());
        found.is_some_and(|key| state.records.insert(key, record).is_some())
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        crate::memory::lock(&self.state)
    }

    fn up(&self) -> Result<MutexGuard<'_, MemoryState>, StoreError> {
        let state = self.lock();
        if state.available { Ok(state) } else { Err(StoreError::unavailable("memory audit log", "switched off")) }
    }
}

impl AuditLog for MemoryAuditLog {
    async fn write(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut state = self.up()?;
        for record in records {
            let subject = match &record.event.user_id {
                None => 0,
                Some(user) => {
                    let (subject, new_link) = subject_for(state.links.get(user).copied(), record);
                    if let Some(link) = new_link {
                        state.links.insert(user.clone(), link);
                    }
                    subject
                }
            };
            // Idempotent by writer and number: a redelivered record replaces nothing new.
            let duplicate = state.records.values().any(|r| r.writer == record.writer && r.seq == record.seq);
            if !duplicate {
                let stored =
                    AuditRecord { event: AuditEvent { user_id: None, ..record.event.clone() }, ..record.clone() };
                state.records.insert((subject, sort_key(record)), stored);
            }
        }
        Ok(())
    }

    async fn user_page(&self, user: &UserId, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let state = self.up()?;
        let Some(Link::Subject(subject)) = state.links.get(user).copied() else { return Ok(AuditPage::default()) };
        let low = query.since.map_or_else(String::new, sort_key_floor);
        let mut high = query.until.map_or_else(|| "~".to_string(), sort_key_floor);
        if let Some(cursor) = &query.cursor
            && cursor.0 < high
        {
            high.clone_from(&cursor.0);
        }
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut matching = state.records.range((subject, low)..(subject, high)).rev().map(|(_, r)| r.clone());
        let records: Vec<_> = matching.by_ref().take(limit).collect();
        let next_cursor =
            if matching.next().is_some() { records.last().map(|r| AuditCursor(sort_key(r))) } else { None };
        Ok(AuditPage { records, next_cursor })
    }

    async fn forget_user(&self, user: &UserId, at: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.up()?;
        let unlinked = match state.links.get(user) {
            Some(Link::Subject(subject)) => {
                let subject = *subject;
                state.records.keys().filter(|(s, _)| *s == subject).count() as u64
            }
            _ => 0,
        };
        state.links.insert(user.clone(), Link::Erased(at));
        Ok(unlinked)
    }

    async fn scan(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<String>), StoreError> {
        let state = self.up()?;
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let records: Vec<_> = state.records.values().skip(start).take(limit.max(1)).cloned().collect();
        let end = start + records.len();
        Ok((records, (end < state.records.len()).then(|| end.to_string())))
    }

    async fn report_head(&self, head: &ChainHead) -> Result<(), StoreError> {
        self.up()?.heads.insert(head.writer.clone(), head.clone());
        Ok(())
    }

    async fn heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        Ok(self.up()?.heads.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_sort_keys_only() {
        assert!(AuditCursor::parse("000000000001234#us-east-1.ab#000000000007").is_some());
        for bad in [
            "",
            "x",
            "1#a#1",
            "000000000001234##000000000007",
            "000000000001234#a b#000000000007",
            "0000000000012345#a#000000000007",
        ] {
            assert_eq!(AuditCursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_first_record_links_and_an_erased_user_links_afresh_only_after_the_erasure() {
        let mut chain = crate::audit::chain::Chain::new("t.00");
        let mut at = |t: u64| {
            chain.seal(AuditEvent {
                at: Timestamp(t),
                kind: AuditKind::Created,
                tier: Tier::Hot,
                region: RegionId(0),
                session: SessionId::from_parts([1; 16], RegionId(0)),
                user_id: None,
                version: 1,
                data_bytes: 0,
                created_at: crate::time::Timestamp(0),
                activity: crate::Activity::default(),
            })
        };
        let (five, ten, eleven) = (at(5), at(10), at(11));
        let (subject, link) = subject_for(None, &five);
        assert_eq!(link, Some(Link::Subject(subject)));
        assert_eq!(subject_for(Some(Link::Subject(9)), &five), (9, None));
        let (late, link) = subject_for(Some(Link::Erased(Timestamp(10))), &ten);
        assert_eq!(link, None, "a late record from before the erasure links nothing");
        assert_eq!(subject_for(Some(Link::Erased(Timestamp(10))), &ten).0, late, "the same subject each delivery");
        let (subject, link) = subject_for(Some(Link::Erased(Timestamp(10))), &eleven);
        assert_eq!(link, Some(Link::Subject(subject)), "a new record after the erasure starts a new link");
    }
}
