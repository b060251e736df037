//! A tower-sessions record as the engine stores it: the session data is one JSON document,
//! `{"expires_at_ms": <Unix ms>, "data": {<the record's map>}}`.
//!
//! The engine has no per-session expiry of its own (its TTLs are deployment-wide), so the
//! record's `expiry_date` travels inside the document and the store checks it on every load.
//! The record's id is not stored: it is the client's token, which no store may hold.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::Error;

/// Nanoseconds in a millisecond: the engine counts time in milliseconds.
const NANOS_PER_MILLI: i128 = 1_000_000;

/// What is written: borrows the record's map, so a save copies the data once (into JSON).
#[derive(Serialize)]
struct Outgoing<'a> {
    expires_at_ms: i64,
    data: &'a HashMap<String, serde_json::Value>,
}

/// What is read back. Unknown fields are refused: a document of another shape is not a
/// tower-sessions record (e.g. a session created through `hotcold serve`'s HTTP API).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    expires_at_ms: i64,
    data: HashMap<String, serde_json::Value>,
}

/// A record read back from the engine, with its expiry in the engine's unit.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The record, under the id it was loaded by.
    pub(crate) record: Record,
    /// `record.expiry_date` in milliseconds since the Unix epoch.
    pub(crate) expires_at_ms: i64,
}

/// `expiry_date` in milliseconds since the Unix epoch (saturating: `OffsetDateTime` reaches
/// further than an `i64` of milliseconds does, and such dates are "never" either way).
pub(crate) fn expiry_millis(expiry_date: OffsetDateTime) -> i64 {
    let millis = expiry_date.unix_timestamp_nanos() / NANOS_PER_MILLI;
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

/// The JSON document for `record`.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, Error> {
    let outgoing = Outgoing { expires_at_ms: expiry_millis(record.expiry_date), data: &record.data };
    serde_json::to_vec(&outgoing).map_err(|e| Error::Encode(format!("hotcold: session data: {e}")))
}

/// The record `id` names, from the document the engine holds.
pub(crate) fn decode(id: Id, bytes: &[u8]) -> Result<Stored, Error> {
    let incoming: Incoming = serde_json::from_slice(bytes)
        .map_err(|e| Error::Decode(format!("hotcold: the session's data is not a tower-sessions record: {e}")))?;
    let nanos = i128::from(incoming.expires_at_ms) * NANOS_PER_MILLI;
    let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|e| Error::Decode(format!("hotcold: the session's expiry date is out of range: {e}")))?;
    Ok(Stored { record: Record { id, data: incoming.data, expiry_date }, expires_at_ms: incoming.expires_at_ms })
}
