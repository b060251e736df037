//! The DynamoDB item codec: a session as an item of the sessions table (the layout is in the
//! module documentation of [`super`]).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;

use crate::analytics::Activity;
use crate::lifecycle::EXPIRY_GRACE;
use crate::session::{RegionId, Session, SessionData, SessionId, TOMBSTONE_VERSION, UserId};
use crate::time::Timestamp;

/// Milliseconds per second: DynamoDB's TTL attribute is in epoch seconds, the engine's times in
/// milliseconds.
const MS_PER_SECOND: u64 = 1000;

/// The partition key of a session: `<id hex>.<home>`.
pub(super) fn key_of(id: &SessionId) -> String {
    format!("{}.{}", id.to_hex(), id.home().0)
}

/// The session id a partition key names; `None` for anything else.
pub(super) fn parse_key(key: &str) -> Option<SessionId> {
    let (hex, home) = key.split_once('.')?;
    SessionId::from_hex(hex, RegionId(home.parse().ok()?))
}

/// The item of a session, expiring (`expires_at`) `cold_ttl` after its last access.
pub(super) fn session_item(session: &Session, cold_ttl: Duration) -> HashMap<String, AttributeValue> {
    let expires = session.last_access + cold_ttl;
    // A session's record outlives its expiry by the grace, so the expiry sweep reports it before
    // DynamoDB deletes it; a tombstone has nothing to report.
    let grace = if session.is_tombstone() { Duration::ZERO } else { EXPIRY_GRACE };
    let expires_at = (expires + grace).0 / MS_PER_SECOND;
    let mut item = HashMap::from([
        ("id".to_string(), AttributeValue::S(key_of(&session.id))),
        ("payload".to_string(), AttributeValue::B(Blob::new(session.data.as_bytes().to_vec()))),
        ("version".to_string(), AttributeValue::N(session.version.to_string())),
        ("created_at".to_string(), AttributeValue::N(session.created_at.0.to_string())),
        ("last_access".to_string(), AttributeValue::N(session.last_access.0.to_string())),
        ("expires_at".to_string(), AttributeValue::N(expires_at.to_string())),
    ]);
    if let Some(region) = session.hot_region {
        item.insert("hot_region".to_string(), AttributeValue::N(region.0.to_string()));
    }
    // Absent while nothing was counted (tombstones, bulk imports): items of earlier versions
    // look the same and decode as zero.
    if session.activity != Activity::default() {
        for (name, value) in Activity::NAMES.into_iter().zip(session.activity.numbers()) {
            item.insert(name.to_string(), AttributeValue::N(value.to_string()));
        }
    }
    // A tombstone names no user: without the attribute it stays out of the user index (a sparse
    // GSI), so it neither shows in listings nor piles up under one index partition.
    if !session.is_tombstone() {
        item.insert("user_id".to_string(), AttributeValue::S(session.user_id.as_str().to_string()));
        let bucket =
            expiry_bucket(session.id.home(), expires.0 / MS_PER_SECOND / BUCKET_SECONDS, expiry_shard(&session.id));
        item.insert("expiry_bucket".to_string(), AttributeValue::S(bucket));
    }
    item
}

/// Seconds per expiry bucket: the expiry index groups records by the hour they expire in.
pub(super) const BUCKET_SECONDS: u64 = 3600;

/// Write shards of each expiry hour: one index partition takes about 1,000 writes a second, and
/// every session written in the same hour expires in the same hour.
pub(super) const EXPIRY_SHARDS: u64 = 8;

/// The expiry index's partition of a record homed in `home` expiring in `hour` (hours since the
/// epoch), in `shard`: `<home>#<hour>#<shard>`, so the sync job of each home region reads only
/// its own records, an hour at a time.
pub(super) fn expiry_bucket(home: RegionId, hour: u64, shard: u64) -> String {
    format!("{}#{hour}#{shard}", home.0)
}

/// The shard of a session's index entry (its id's first byte: uniform).
pub(super) fn expiry_shard(id: &SessionId) -> u64 {
    u64::from(id.hash_bytes()[0]) % EXPIRY_SHARDS
}

/// A record of the expiry index (projection: keys, `user_id`, `version`, `created_at`): the
/// session without its data.
pub(super) fn decode_expiring(item: &HashMap<String, AttributeValue>) -> Result<Session, String> {
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| format!("attribute {name} is not a u64")),
        _ => Err(format!("attribute {name} missing or not a number")),
    };
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.as_str()),
        _ => Err(format!("attribute {name} missing or not a string")),
    };
    let id = parse_key(text("id")?).ok_or("attribute id is not <hex>.<region>")?;
    let version = number("version")?;
    Ok(Session {
        id,
        user_id: UserId::new(text("user_id")?).map_err(|_| "attribute user_id is not a user id")?,
        data: SessionData::from_stored(Bytes::new()),
        version,
        created_at: Timestamp(number("created_at")?),
        last_access: Timestamp(number("last_access")?),
        persisted_version: version,
        hot_region: None,
        // Not in the expiry index's projection: an expired session's count is in the summary
        // its demotion wrote.
        activity: Activity::default(),
    })
}

/// Parses a session item; the error names the attribute that is wrong (never its content: it may
/// be personal data). The cold copy is persisted by definition, so `persisted_version` is its
/// version.
pub(super) fn decode_session(item: &HashMap<String, AttributeValue>) -> Result<Session, String> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.as_str()),
        _ => Err(format!("attribute {name} missing or not a string")),
    };
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| format!("attribute {name} is not a u64")),
        _ => Err(format!("attribute {name} missing or not a number")),
    };
    let id = parse_key(text("id")?).ok_or("attribute id is not <hex>.<region>")?;
    let data = match item.get("payload") {
        Some(AttributeValue::B(blob)) => SessionData::from_stored(Bytes::copy_from_slice(blob.as_ref())),
        _ => return Err("attribute payload missing or not binary".into()),
    };
    let hot_region = match item.get("hot_region") {
        None | Some(AttributeValue::Null(_)) => None,
        Some(_) => {
            Some(RegionId(u16::try_from(number("hot_region")?).map_err(|_| "attribute hot_region out of range")?))
        }
    };
    let version = number("version")?;
    let counted = |name: &str| if item.contains_key(name) { number(name) } else { Ok(0) };
    let [requests, visits, think_ms, last_request_at] = Activity::NAMES.map(counted);
    let activity = Activity::from_numbers([requests?, visits?, think_ms?, last_request_at?]);
    let user_id = match item.get("user_id") {
        None if version >= TOMBSTONE_VERSION => UserId::removed(),
        _ => UserId::new(text("user_id")?).map_err(|_| "attribute user_id is not a user id")?,
    };
    Ok(Session {
        id,
        user_id,
        data,
        version,
        created_at: Timestamp(number("created_at")?),
        last_access: Timestamp(number("last_access")?),
        persisted_version: version,
        hot_region,
        activity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(hot_region: Option<RegionId>) -> Session {
        Session {
            id: SessionId::from_parts([4; 16], RegionId(2)),
            user_id: UserId::new("alice").unwrap(),
            data: SessionData::from_stored(Bytes::from_static(b"{\"cart\":[1,2]}")),
            version: 5,
            created_at: Timestamp(1_700_000_000_000),
            last_access: Timestamp(1_700_000_360_500),
            persisted_version: 4,
            hot_region,
            activity: Activity {
                requests: 12,
                visits: 2,
                think_ms: 95_000,
                last_request_at: Timestamp(1_700_000_360_500),
            },
        }
    }

    #[test]
    fn keys_round_trip() {
        let id = SessionId::from_parts([9; 16], RegionId(1));
        assert_eq!(parse_key(&key_of(&id)), Some(id));
        assert_eq!(parse_key("nope"), None);
    }

    #[test]
    fn session_items_round_trip_as_persisted() {
        for hot_region in [None, Some(RegionId(1))] {
            let session = session(hot_region);
            let item = session_item(&session, Duration::from_secs(60));
            // Expires at 1,700,000,420 s; DynamoDB deletes it a day (the grace) later.
            assert_eq!(item.get("expires_at"), Some(&AttributeValue::N("1700086820".into())), "TTL in seconds");
            let bucket = format!("{}#{}#{}", session.id.home().0, 1_700_000_420 / 3600, expiry_shard(&session.id));
            assert_eq!(item.get("expiry_bucket"), Some(&AttributeValue::S(bucket)), "indexed by its expiry hour");
            assert_eq!(item.contains_key("hot_region"), hot_region.is_some());
            assert_eq!(item.get("requests"), Some(&AttributeValue::N("12".into())));
            let decoded = decode_session(&item).unwrap();
            assert_eq!(decoded, Session { persisted_version: session.version, ..session });
        }
    }

    #[test]
    fn an_item_without_activity_decodes_as_zero() {
        // An earlier version's item: no activity attributes.
        let mut item = session_item(&session(None), Duration::from_secs(60));
        for name in ["requests", "visits", "think_ms", "last_request_at"] {
            assert!(item.remove(name).is_some(), "{name} written");
        }
        assert_eq!(decode_session(&item).unwrap().activity, Activity::default());
        item.insert("visits".into(), AttributeValue::S("x".into()));
        assert_eq!(decode_session(&item), Err("attribute visits missing or not a number".to_string()));
    }

    #[test]
    fn a_tombstone_round_trips_without_a_user_attribute() {
        let tombstone = Session::tombstone(SessionId::from_parts([4; 16], RegionId(2)), Timestamp(1_700_000_000_000));
        let item = session_item(&tombstone, Duration::from_secs(60));
        assert!(!item.contains_key("user_id"), "a tombstone stays out of the user index");
        assert!(!item.contains_key("expiry_bucket"), "and out of the expiry index");
        assert_eq!(
            item.get("expires_at"),
            Some(&AttributeValue::N("1700000060".into())),
            "no grace: nothing to report"
        );
        assert_eq!(decode_session(&item), Ok(tombstone));
        // Only a tombstone may lack the user: a live session without one is corrupt.
        let mut live = session_item(&session(None), Duration::from_secs(60));
        live.remove("user_id");
        assert_eq!(decode_session(&live), Err("attribute user_id missing or not a string".to_string()));
    }

    #[test]
    fn malformed_session_items_name_the_attribute() {
        let mut item = session_item(&session(None), Duration::from_secs(60));
        item.insert("version".into(), AttributeValue::N("-1".into()));
        assert_eq!(decode_session(&item), Err("attribute version is not a u64".to_string()));
        item.insert("payload".into(), AttributeValue::S("not binary".into()));
        assert_eq!(decode_session(&item), Err("attribute payload missing or not binary".to_string()));
        item.remove("id");
        assert_eq!(decode_session(&item), Err("attribute id missing or not a string".to_string()));
    }
}
