//! The hot tier's record codec: a session as the one Redis string that holds it, and a session
//! id as the member the idle index, the dirty set and the user indexes hold.
//!
//! The record is a fixed-width ASCII header
//! `hc2|<version>|<created>|<last access>|<persisted>|<holder>|<user length>|<requests>|<visits>|<think ms>|<last request>|`
//! (numbers zero-padded to 20 digits, so the Lua scripts compare them as strings; holder 5
//! digits or `-----`; the last four are the session's [`Activity`]), then the user id, then the
//! data bytes. The scripts read the header at the offsets in [`record`], so a change here is a
//! change of the wire format and of every script.
//!
//! Earlier versions wrote `hc1|`: the same header up to the user length, without the four
//! activity numbers (98 bytes). Such a record still decodes, its activity zero; every script
//! reads and keeps it (the fields up to the user length sit at the same offsets), and the scripts
//! that count requests (`touch.lua`, `add_activity.lua`) rewrite it as `hc2` with those requests
//! as its first. Processes of a version before `hc2` cannot read `hc2` records, so every
//! instance sharing a Redis must run this version before any of them serves.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::analytics::Activity;
use crate::session::{RegionId, Session, SessionData, SessionId, TOMBSTONE_VERSION, UserId};
use crate::time::Timestamp;

/// Byte offsets (0-based) and widths of the record header's fields: `hc2|` then version,
/// created, last access, persisted version (20 digits each), holder (5), user length (3),
/// requests, visits, think time, last request (20 digits each), each followed by `|`.
mod record {
    pub(super) const MAGIC: &[u8] = b"hc2|";
    /// The magic of the records earlier versions wrote: no activity fields.
    pub(super) const MAGIC_V1: &[u8] = b"hc1|";
    pub(super) const VERSION: usize = 4;
    pub(super) const CREATED: usize = 25;
    pub(super) const ACCESS: usize = 46;
    pub(super) const PERSISTED: usize = 67;
    pub(super) const HOLDER: usize = 88;
    pub(super) const USER_LEN: usize = 94;
    /// The header of an `hc1` record ends here (its user id starts here).
    pub(super) const HEADER_V1: usize = 98;
    pub(super) const REQUESTS: usize = 98;
    pub(super) const VISITS: usize = 119;
    pub(super) const THINK: usize = 140;
    pub(super) const LAST_REQUEST: usize = 161;
    pub(super) const HEADER: usize = 182;
    /// Digits of every number: `u64::MAX` has 20.
    pub(super) const NUMBER_WIDTH: usize = 20;
    /// Digits of the holder region: `u16::MAX` has 5.
    pub(super) const HOLDER_WIDTH: usize = 5;
    /// The holder field of a session no failover region holds.
    pub(super) const NO_HOLDER: &[u8] = b"-----";
    /// Digits of the user id's length: user ids are at most 128 bytes.
    pub(super) const USER_LEN_WIDTH: usize = 3;
}

/// Room for a member: 32 hex digits, `.` and a home region of up to 5 digits, rounded up.
pub(super) const MEMBER_CAPACITY: usize = 40;

/// The idle-index and user-index member of a session: `<id hex>.<home>`.
pub(super) fn member(id: &SessionId) -> String {
    let mut member = String::with_capacity(MEMBER_CAPACITY);
    push_member(&mut member, id);
    member
}

/// Appends the member form of `id`; on the hot path, so no per-byte formatting.
pub(super) fn push_member(out: &mut String, id: &SessionId) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for byte in id.hash_bytes() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    let _ = write!(out, ".{}", id.home().0);
}

/// The session id a member names; `None` for anything that is not a member.
pub(super) fn parse_member(member: &str) -> Option<SessionId> {
    let (hex, home) = member.split_once('.')?;
    SessionId::from_hex(hex, RegionId(home.parse().ok()?))
}

/// A number as the record and the scripts hold it: 20 zero-padded digits, so string order is
/// numeric order.
pub(super) fn padded(n: u64) -> String {
    format!("{n:0width$}", width = record::NUMBER_WIDTH)
}

/// The record of a session (see the module documentation).
pub(super) fn encode_record(session: &Session) -> Vec<u8> {
    let user = session.user_id.as_str().as_bytes();
    let mut record = Vec::with_capacity(record::HEADER + user.len() + session.data.len());
    record.extend_from_slice(record::MAGIC);
    for number in [session.version, session.created_at.0, session.last_access.0, session.persisted_version] {
        record.extend_from_slice(padded(number).as_bytes());
        record.push(b'|');
    }
    match session.hot_region {
        Some(region) => {
            record.extend_from_slice(format!("{:0width$}", region.0, width = record::HOLDER_WIDTH).as_bytes());
        }
        None => record.extend_from_slice(record::NO_HOLDER),
    }
    record.push(b'|');
    // User ids are at most 128 bytes (UserId enforces it), so three digits always hold the length.
    record.extend_from_slice(format!("{:0width$}|", user.len(), width = record::USER_LEN_WIDTH).as_bytes());
    for number in session.activity.numbers() {
        record.extend_from_slice(padded(number).as_bytes());
        record.push(b'|');
    }
    record.extend_from_slice(user);
    record.extend_from_slice(session.data.as_bytes());
    record
}

/// Parses a record; the error names what is wrong (never the content: it may be personal data).
pub(super) fn decode_record(id: SessionId, record: impl Into<Bytes>) -> Result<Session, &'static str> {
    // The data is a slice of the reply buffer: no copy on the hot path.
    let record: Bytes = record.into();
    let header = if record.starts_with(record::MAGIC) {
        record::HEADER
    } else if record.starts_with(record::MAGIC_V1) {
        record::HEADER_V1
    } else {
        return Err("not an hc2 or hc1 record");
    };
    if record.len() < header {
        return Err("record shorter than its header");
    }
    let number = |at: usize, width: usize| -> Result<u64, &'static str> {
        let digits = &record[at..at + width];
        if !digits.iter().all(u8::is_ascii_digit) || record[at + width] != b'|' {
            return Err("malformed header number");
        }
        std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or("header number out of range")
    };
    let hot_region = if &record[record::HOLDER..record::HOLDER + record::HOLDER_WIDTH] == record::NO_HOLDER {
        None
    } else {
        let holder = number(record::HOLDER, record::HOLDER_WIDTH)?;
        Some(RegionId(u16::try_from(holder).map_err(|_| "holder out of range")?))
    };
    let user_len = usize::try_from(number(record::USER_LEN, record::USER_LEN_WIDTH)?).map_err(|_| "user length")?;
    let user_end = header + user_len;
    let user = record.get(header..user_end).ok_or("record shorter than its user id")?;
    let version = number(record::VERSION, record::NUMBER_WIDTH)?;
    // A tombstone names no user (an empty id, which no live session can have).
    let user_id = if user.is_empty() && version >= TOMBSTONE_VERSION {
        UserId::removed()
    } else {
        std::str::from_utf8(user).ok().and_then(|u| UserId::new(u).ok()).ok_or("invalid user id")?
    };
    // An hc1 record was written before requests were counted: none known.
    let activity = if header == record::HEADER {
        Activity {
            requests: number(record::REQUESTS, record::NUMBER_WIDTH)?,
            visits: number(record::VISITS, record::NUMBER_WIDTH)?,
            think_ms: number(record::THINK, record::NUMBER_WIDTH)?,
            last_request_at: Timestamp(number(record::LAST_REQUEST, record::NUMBER_WIDTH)?),
        }
    } else {
        Activity::default()
    };
    Ok(Session {
        id,
        user_id,
        data: SessionData::from_stored(record.slice(user_end..)),
        version,
        created_at: Timestamp(number(record::CREATED, record::NUMBER_WIDTH)?),
        last_access: Timestamp(number(record::ACCESS, record::NUMBER_WIDTH)?),
        persisted_version: number(record::PERSISTED, record::NUMBER_WIDTH)?,
        hot_region,
        activity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let id = SessionId::from_parts([3; 16], RegionId(1));
        let mut session = Session {
            id,
            user_id: UserId::new("ü-user|with|bars").unwrap(),
            data: SessionData::from_stored(Bytes::from_static(b"{\"a\":\"|hc1|\"}")),
            version: 7,
            created_at: Timestamp(1_700_000_000_000),
            last_access: Timestamp(1_700_000_000_123),
            persisted_version: 6,
            hot_region: None,
            activity: Activity {
                requests: 9_007_199_254_740_993,
                visits: 3,
                think_ms: 125_000,
                last_request_at: Timestamp(1_700_000_000_123),
            },
        };
        let record = encode_record(&session);
        assert_eq!(&record[record::ACCESS..record::ACCESS + 20], padded(1_700_000_000_123).as_bytes());
        assert_eq!(decode_record(id, record.clone()), Ok(session.clone()));
        session.hot_region = Some(RegionId(2));
        assert_eq!(decode_record(id, encode_record(&session)), Ok(session.clone()));
        let mut short = encode_record(&session);
        short.truncate(record::HEADER + 2);
        for garbage in [&b""[..], b"hc1|", b"hc2|", b"not a record at all, not at all, really not, no", &short] {
            assert!(decode_record(id, Bytes::copy_from_slice(garbage)).is_err());
        }
        let mut bad = encode_record(&session);
        bad[record::VERSION] = b'x';
        assert!(decode_record(id, bad).is_err());
        // Every header number must end at its separator: digits running into the next field are
        // a damaged record, not a number.
        for field in [
            record::VERSION,
            record::CREATED,
            record::ACCESS,
            record::PERSISTED,
            record::REQUESTS,
            record::VISITS,
            record::THINK,
            record::LAST_REQUEST,
        ] {
            let mut bad = encode_record(&session);
            bad[field + record::NUMBER_WIDTH] = b'0';
            assert_eq!(decode_record(id, bad), Err("malformed header number"), "separator after field {field}");
        }
        let mut bad = encode_record(&session);
        bad[record::USER_LEN + record::USER_LEN_WIDTH] = b'0';
        assert_eq!(decode_record(id, bad), Err("malformed header number"), "separator after the user length");
        // A header and nothing else is a record (the smallest), and is then refused for what it
        // lacks: its user id, named as such.
        let mut header_only = encode_record(&session);
        header_only.truncate(record::HEADER);
        header_only[record::USER_LEN..record::USER_LEN + record::USER_LEN_WIDTH].copy_from_slice(b"000");
        assert_eq!(decode_record(id, header_only), Err("invalid user id"));
    }

    #[test]
    fn the_header_is_the_layout_the_scripts_read() {
        let session = Session {
            id: SessionId::from_parts([5; 16], RegionId(0)),
            user_id: UserId::new("bob").unwrap(),
            data: SessionData::from_stored(Bytes::from_static(b"{}")),
            version: 12,
            created_at: Timestamp(1),
            last_access: Timestamp(2),
            persisted_version: 11,
            hot_region: Some(RegionId(65_535)),
            activity: Activity { requests: 4, visits: 2, think_ms: 30, last_request_at: Timestamp(2) },
        };
        let expected = format!(
            "hc2|{}|{}|{}|{}|65535|003|{}|{}|{}|{}|bob{{}}",
            padded(12),
            padded(1),
            padded(2),
            padded(11),
            padded(4),
            padded(2),
            padded(30),
            padded(2)
        );
        assert_eq!(String::from_utf8(encode_record(&session)).unwrap(), expected);
        assert_eq!(expected.find("bob"), Some(record::HEADER));
        assert_eq!(record::HEADER, 182);
        for (at, value) in [(record::REQUESTS, 4), (record::VISITS, 2), (record::THINK, 30), (record::LAST_REQUEST, 2)]
        {
            assert_eq!(&expected[at..at + record::NUMBER_WIDTH + 1], format!("{}|", padded(value)));
        }
    }

    #[test]
    fn an_hc1_record_of_an_earlier_version_decodes_with_no_activity() {
        let id = SessionId::from_parts([8; 16], RegionId(1));
        let hc1 = format!("hc1|{}|{}|{}|{}|00002|005|carol{{\"k\":1}}", padded(3), padded(10), padded(20), padded(2));
        let session = decode_record(id, hc1.into_bytes()).unwrap();
        assert_eq!(
            session,
            Session {
                id,
                user_id: UserId::new("carol").unwrap(),
                data: SessionData::from_stored(Bytes::from_static(b"{\"k\":1}")),
                version: 3,
                created_at: Timestamp(10),
                last_access: Timestamp(20),
                persisted_version: 2,
                hot_region: Some(RegionId(2)),
                activity: Activity::default(),
            }
        );
        // Written back, it is an hc2 record with the same fields.
        let rewritten = encode_record(&session);
        assert!(rewritten.starts_with(b"hc2|"));
        assert_eq!(decode_record(id, rewritten), Ok(session));
        let mut tombstone = encode_record(&Session::tombstone(id, Timestamp(5)));
        tombstone.drain(record::HEADER_V1..record::HEADER);
        tombstone[..4].copy_from_slice(record::MAGIC_V1);
        assert_eq!(decode_record(id, tombstone), Ok(Session::tombstone(id, Timestamp(5))));
    }

    #[test]
    fn a_tombstone_round_trips_with_no_user() {
        let id = SessionId::from_parts([6; 16], RegionId(1));
        let tombstone = Session::tombstone(id, Timestamp(1_700_000_000_000));
        assert_eq!(decode_record(id, encode_record(&tombstone)), Ok(tombstone));
        // Only a tombstone may have no user: a live record without one is corrupt.
        let live = Session { version: 3, persisted_version: 3, ..Session::tombstone(id, Timestamp(1)) };
        assert_eq!(decode_record(id, encode_record(&live)), Err("invalid user id"));
    }

    #[test]
    fn members_round_trip() {
        let id = SessionId::from_parts([7; 16], RegionId(2));
        assert_eq!(parse_member(&member(&id)), Some(id));
        assert_eq!(member(&id), format!("{}.2", id.to_hex()));
        assert_eq!(parse_member("zz.1"), None);
        assert_eq!(parse_member("nodot"), None);
        let farthest = SessionId::from_parts([0xff; 16], RegionId(u16::MAX));
        assert!(member(&farthest).len() <= MEMBER_CAPACITY);
    }
}
