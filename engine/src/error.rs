//! Errors of the engine. One enum for what callers of the engine see ([`EngineError`]), one for
//! what a store reports ([`StoreError`]), one for configuration ([`ConfigError`]).

use thiserror::Error;

/// A configuration value that is missing, malformed or inconsistent. Fatal: fix the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// Dotted key path of the offending value, e.g. `session_config.hot_storage.promotion_threshold`.
    pub key: String,
    /// What was expected.
    pub message: String,
}

impl ConfigError {
    /// A new error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// What a store adapter reports when a call did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the call (connection refused, timeout, region
    /// outage). Not fatal: retry later; the engine maps it to "unavailable".
    #[error("{backend} unavailable: {detail}")]
    Unavailable {
        /// Which backend, e.g. `redis us-east-1` or `dynamodb`.
        backend: String,
        /// What the adapter saw.
        detail: String,
    },
    /// The backend throttled the call (DynamoDB provisioned throughput exceeded). Not fatal: back
    /// off and retry.
    #[error("{backend} throttled the request")]
    Throttled {
        /// Which backend.
        backend: String,
    },
    /// The backend returned something the adapter cannot decode (a foreign or corrupted record).
    /// Not fatal for the process; that record is unusable.
    #[error("{backend} returned a malformed record: {detail}")]
    Corrupt {
        /// Which backend.
        backend: String,
        /// What was wrong.
        detail: String,
    },
}

impl StoreError {
    /// Shorthand for [`StoreError::Unavailable`].
    pub fn unavailable(backend: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Unavailable { backend: backend.into(), detail: detail.into() }
    }
}

/// What callers of [`crate::SessionManager`] and the session types can get wrong, or meet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The token is not one this engine issued (wrong length, alphabet or unknown region). Bad
    /// input: answer 400.
    #[error("malformed session token")]
    MalformedToken,
    /// The user id is empty, too long or contains control characters. Bad input: answer 400.
    #[error("invalid user id: {0}")]
    InvalidUserId(&'static str),
    /// Session data is not valid JSON. Bad input: answer 400.
    #[error("session data is not valid JSON: {0}")]
    InvalidData(String),
    /// Session data exceeds the configured limit. Bad input: answer 400 (or 413).
    #[error("session data is {size} bytes, more than the limit of {limit} bytes")]
    DataTooLarge {
        /// Size of the data offered.
        size: usize,
        /// The configured maximum, `engine.max_data_bytes`.
        limit: usize,
    },
    /// No live session has this token (unknown, expired, logged out or revoked). Answer 404.
    #[error("no such session")]
    NotFound,
    /// An update named a version that is not the current one. Answer 409; the caller rereads.
    #[error("version conflict: expected {expected}, current {current}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: u64,
        /// The version the store holds.
        current: u64,
    },
    /// An update found the session, but each time it went to change it where it lived the copy
    /// had moved on: a demotion, or a promotion by a concurrent request, took the session to
    /// another tier in between, three times in a row. Nothing was changed. Not fatal: answer 503
    /// and retry (by then the session has settled in one tier).
    #[error("the session kept moving between tiers; retry")]
    Contention,
    /// A store needed for this operation is down. Not fatal: answer 503 and retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}
