//! Tamper evidence: each writer (one engine process) chains the records it seals. A record's
//! hash is SHA-256 of the previous record's hash and the record's own fields, so changing,
//! removing or inserting a record anywhere but before the first one kept breaks the chain that
//! [`verify`] walks. Writers report their head (last sequence number and hash) to the trail; an
//! auditor who keeps the reported heads can also tell a truncated tail.
//!
//! The user is not hashed: records carry no user id (see [`super::log`]), so erasing a user's link
//! leaves every chain intact.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuditEvent;
use crate::analytics::Activity;

/// A SHA-256 chain hash.
pub type ChainHash = [u8; 32];

/// The `prev` of a writer's first record.
pub const GENESIS: ChainHash = [0; 32];

/// A sealed audit record: the event and its place in its writer's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// What happened. `user_id` is set on records being written and `None` on records read back
    /// (the trail stores no user ids).
    pub event: AuditEvent,
    /// The writer that sealed it: `<region name>.<16 hex digits>`, one per engine process.
    pub writer: String,
    /// Its number in the writer's chain, from 1.
    pub seq: u64,
    /// The hash of the writer's record `seq - 1` ([`GENESIS`] for the first).
    pub prev: ChainHash,
    /// [`record_hash`] of this record.
    pub hash: ChainHash,
}

impl AuditRecord {
    /// True if `hash` is what the fields give.
    pub fn hash_matches(&self) -> bool {
        record_hash(&self.prev, &self.event, &self.writer, self.seq) == self.hash
    }
}

/// The hash of a record: SHA-256 over `prev` and the record's fields in a fixed binary layout
/// (lengths before variable fields, so no two records share an encoding).
pub fn record_hash(prev: &ChainHash, event: &AuditEvent, writer: &str, seq: u64) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update((writer.len() as u64).to_be_bytes());
    hasher.update(writer.as_bytes());
    hasher.update(seq.to_be_bytes());
    hasher.update(event.at.0.to_be_bytes());
    hasher.update([event.kind as u8, event.tier as u8]);
    hasher.update(event.region.0.to_be_bytes());
    hasher.update(event.session.hash_bytes());
    hasher.update(event.session.home().0.to_be_bytes());
    hasher.update(event.version.to_be_bytes());
    hasher.update(event.data_bytes.to_be_bytes());
    hasher.update(event.created_at.0.to_be_bytes());
    // The activity is sealed too, but only when there is one: records sealed before it existed
    // (all zero) keep the hash they were sealed with, so old chains still verify.
    if event.activity != Activity::default() {
        for n in event.activity.numbers() {
            hasher.update(n.to_be_bytes());
        }
    }
    hasher.finalize().into()
}

/// One writer's chain: seals events in the order they are appended.
#[derive(Debug, Clone)]
pub struct Chain {
    writer: String,
    last_seq: u64,
    last_hash: ChainHash,
}

impl Chain {
    /// A new chain for `writer` (its first record will be number 1).
    pub fn new(writer: impl Into<String>) -> Self {
        Self { writer: writer.into(), last_seq: 0, last_hash: GENESIS }
    }

    /// The writer's name.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// Seals `event` as the next record.
    pub fn seal(&mut self, event: AuditEvent) -> AuditRecord {
        let seq = self.last_seq + 1;
        let hash = record_hash(&self.last_hash, &event, &self.writer, seq);
        let record = AuditRecord { event, writer: self.writer.clone(), seq, prev: self.last_hash, hash };
        self.last_seq = seq;
        self.last_hash = hash;
        record
    }

    /// The last record sealed; `None` before the first.
    pub fn head(&self) -> Option<ChainHead> {
        (self.last_seq > 0).then(|| ChainHead { writer: self.writer.clone(), seq: self.last_seq, hash: self.last_hash })
    }
}

/// A writer's reported head: its last record when the report was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The writer.
    pub writer: String,
    /// The last record's number.
    pub seq: u64,
    /// The last record's hash.
    #[serde(with = "hex_hash")]
    pub hash: ChainHash,
}

/// What [`verify`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// A record whose fields do not give its hash: it was changed.
    Altered {
        /// Writer.
        writer: String,
        /// Record number.
        seq: u64,
    },
    /// A record whose `prev` is not the hash of the record before it: a record before it was
    /// replaced, or it was inserted.
    BrokenLink {
        /// Writer.
        writer: String,
        /// Record number.
        seq: u64,
    },
    /// Records `from..=to` are missing between two kept ones: removed (or never delivered, which
    /// the writer's `failed` metric then shows).
    Missing {
        /// Writer.
        writer: String,
        /// First missing number.
        from: u64,
        /// Last missing number.
        to: u64,
    },
    /// Two different records with one number.
    Duplicate {
        /// Writer.
        writer: String,
        /// Record number.
        seq: u64,
    },
    /// The reported head is not in the trail, or differs: the tail was cut or changed.
    HeadMismatch {
        /// Writer.
        writer: String,
        /// The head's record number.
        seq: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Altered { writer, seq } => write!(f, "{writer} #{seq}: fields do not match its hash (altered)"),
            Self::BrokenLink { writer, seq } => {
                write!(f, "{writer} #{seq}: does not chain to the record before it (replaced or inserted)")
            }
            Self::Missing { writer, from, to } => write!(f, "{writer} #{from}..#{to}: missing (removed)"),
            Self::Duplicate { writer, seq } => write!(f, "{writer} #{seq}: two different records"),
            Self::HeadMismatch { writer, seq } => {
                write!(f, "{writer} #{seq}: the reported head is not in the trail (tail cut or changed)")
            }
        }
    }
}

/// One writer's chain as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriterSummary {
    /// The writer.
    pub writer: String,
    /// Records kept.
    pub records: u64,
    /// The first record kept (records before it have passed retention, or the chain starts
    /// there).
    pub first_seq: u64,
    /// The last record kept.
    pub last_seq: u64,
    /// The hash of the last record kept (hex).
    pub last_hash: String,
    /// The head the writer last reported, if any.
    pub reported_head: Option<u64>,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Records checked.
    pub records: u64,
    /// Each writer's chain, by writer name.
    pub writers: Vec<WriterSummary>,
    /// Everything wrong, by writer then record number. Empty: the trail is intact.
    pub problems: Vec<Problem>,
}

impl Verification {
    /// True if nothing is wrong.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walks every writer's chain in `records` (any order) against the writers' reported `heads`.
/// Records before a writer's first kept one are not missing (retention ends them first).
pub fn verify(records: impl IntoIterator<Item = AuditRecord>, heads: &[ChainHead]) -> Verification {
    let mut by_writer: BTreeMap<String, BTreeMap<u64, AuditRecord>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut total = 0;
    for record in records {
        total += 1;
        let chain = by_writer.entry(record.writer.clone()).or_default();
        match chain.get(&record.seq) {
            Some(kept) if kept.hash == record.hash && kept.event == record.event => {}
            Some(_) => problems.push(Problem::Duplicate { writer: record.writer.clone(), seq: record.seq }),
            None => {
                chain.insert(record.seq, record);
            }
        }
    }
    let heads: BTreeMap<&str, &ChainHead> = heads.iter().map(|h| (h.writer.as_str(), h)).collect();
    let mut writers = Vec::new();
    for (writer, chain) in &by_writer {
        let mut previous: Option<&AuditRecord> = None;
        for record in chain.values() {
            if !record.hash_matches() {
                problems.push(Problem::Altered { writer: writer.clone(), seq: record.seq });
            }
            match previous {
                Some(before) if before.seq + 1 < record.seq => {
                    problems.push(Problem::Missing {
                        writer: writer.clone(),
                        from: before.seq + 1,
                        to: record.seq - 1,
                    });
                }
                Some(before) if before.hash != record.prev => {
                    problems.push(Problem::BrokenLink { writer: writer.clone(), seq: record.seq });
                }
                None if record.seq == 1 && record.prev != GENESIS => {
                    problems.push(Problem::BrokenLink { writer: writer.clone(), seq: record.seq });
                }
                _ => {}
            }
            previous = Some(record);
        }
        let head = heads.get(writer.as_str());
        if let Some(head) = head
            && chain.get(&head.seq).is_none_or(|r| r.hash != head.hash)
        {
            problems.push(Problem::HeadMismatch { writer: writer.clone(), seq: head.seq });
        }
        let (Some(first), Some(last)) = (chain.values().next(), chain.values().next_back()) else { continue };
        writers.push(WriterSummary {
            writer: writer.clone(),
            records: chain.len() as u64,
            first_seq: first.seq,
            last_seq: last.seq,
            last_hash: to_hex(&last.hash),
            reported_head: head.map(|h| h.seq),
        });
    }
    // A writer that reported a head but has no record left at all: its whole trail is gone.
    for (writer, head) in &heads {
        if !by_writer.contains_key(*writer) {
            problems.push(Problem::HeadMismatch { writer: (*writer).to_string(), seq: head.seq });
        }
    }
    Verification { records: total, writers, problems }
}

/// Lowercase hex of a hash.
pub fn to_hex(hash: &ChainHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`to_hex`] output; `None` for anything else.
pub fn from_hex(text: &str) -> Option<ChainHash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = GENESIS;
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

/// Serde of a [`ChainHash`] as hex text.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::ChainHash;

    pub(super) fn serialize<S: Serializer>(hash: &ChainHash, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::to_hex(hash))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ChainHash, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::from_hex(&text).ok_or_else(|| D::Error::custom("not a 64-digit hex hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditKind, Tier};
    use crate::session::{RegionId, SessionId, UserId};
    use crate::time::Timestamp;

    fn event(at: u64) -> AuditEvent {
        AuditEvent {
            at: Timestamp(at),
            kind: AuditKind::Updated,
            tier: Tier::Hot,
            region: RegionId(1),
            session: SessionId::from_parts([7; 16], RegionId(0)),
            user_id: Some(UserId::new("alice").unwrap()),
            version: at,
            data_bytes: 0,
            created_at: crate::time::Timestamp(0),
            activity: crate::Activity::default(),
        }
    }

    fn sealed(count: u64) -> (Vec<AuditRecord>, ChainHead) {
        let mut chain = Chain::new("us-east-1.00");
        let records: Vec<_> = (1..=count).map(|i| chain.seal(event(i))).collect();
        (records, chain.head().unwrap())
    }

    #[test]
    fn an_untouched_chain_verifies_in_any_order() {
        let (mut records, head) = sealed(5);
        records.reverse();
        let verification = verify(records, &[head]);
        assert!(verification.intact(), "{:?}", verification.problems);
        assert_eq!(verification.records, 5);
        assert_eq!(verification.writers[0].first_seq, 1);
        assert_eq!(verification.writers[0].last_seq, 5);
        assert_eq!(verification.writers[0].reported_head, Some(5));
    }

    #[test]
    fn a_changed_field_is_altered() {
        let (mut records, head) = sealed(5);
        records[2].event.kind = AuditKind::Created;
        assert_eq!(verify(records, &[head]).problems, vec![Problem::Altered { writer: "us-east-1.00".into(), seq: 3 }]);
    }

    #[test]
    fn a_removed_record_is_missing_and_a_cut_tail_misses_the_head() {
        let (mut records, head) = sealed(5);
        records.remove(2);
        assert_eq!(
            verify(records.clone(), std::slice::from_ref(&head)).problems,
            vec![Problem::Missing { writer: "us-east-1.00".into(), from: 3, to: 3 }]
        );
        records.pop();
        let problems = verify(records, &[head]).problems;
        assert!(problems.contains(&Problem::HeadMismatch { writer: "us-east-1.00".into(), seq: 5 }), "{problems:?}");
    }

    #[test]
    fn a_resealed_replacement_breaks_the_next_link() {
        let (mut records, head) = sealed(4);
        // A forger recomputes record 2's hash after changing it: record 3 no longer chains.
        records[1].event.version = 99;
        records[1].hash = record_hash(&records[1].prev, &records[1].event, &records[1].writer, 2);
        assert_eq!(
            verify(records, &[head]).problems,
            vec![Problem::BrokenLink { writer: "us-east-1.00".into(), seq: 3 }]
        );
    }

    #[test]
    fn an_expired_prefix_is_not_a_problem_and_a_lost_writer_is() {
        let (records, head) = sealed(5);
        let verification = verify(records[2..].to_vec(), std::slice::from_ref(&head));
        assert!(verification.intact());
        assert_eq!(verification.writers[0].first_seq, 3);
        assert_eq!(verify(Vec::new(), &[head]).problems.len(), 1);
    }

    #[test]
    fn hashes_round_trip_as_hex() {
        let (records, _) = sealed(1);
        assert_eq!(from_hex(&to_hex(&records[0].hash)), Some(records[0].hash));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }
}
