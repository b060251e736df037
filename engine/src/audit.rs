//! Audit trail records: one per lifecycle event, kept `compliance_retention`.
//!
//! Records carry the [`SessionId`] (a one-way digest), never the token.

use serde::{Deserialize, Serialize};

use crate::session::{RegionId, SessionId, UserId};
use crate::time::Timestamp;

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// Created in the hot tier.
    Created,
    /// Read from the cold tier and put back into a hot tier.
    Promoted,
    /// Written to the cold tier and removed from the hot tier by the sync job.
    Demoted,
    /// Data changed.
    Updated,
    /// Found past its TTL (hot or cold) and dropped.
    Expired,
    /// Ended by its user.
    LoggedOut,
    /// Ended by an administrator or by "revoke all sessions of a user".
    Revoked,
    /// Removed everywhere at the user's request (GDPR/CCPA erasure).
    Erased,
}

impl AuditKind {
    /// Every kind, in a fixed order (for counters and reports).
    pub const ALL: [Self; 8] = [
        Self::Created,
        Self::Promoted,
        Self::Demoted,
        Self::Updated,
        Self::Expired,
        Self::LoggedOut,
        Self::Revoked,
        Self::Erased,
    ];

    /// The snake_case name used in records and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Promoted => "promoted",
            Self::Demoted => "demoted",
            Self::Updated => "updated",
            Self::Expired => "expired",
            Self::LoggedOut => "logged_out",
            Self::Revoked => "revoked",
            Self::Erased => "erased",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub kind: AuditKind,
    /// The region whose engine did it.
    pub region: RegionId,
    /// Which session.
    pub session: SessionId,
    /// Whose session; `None` when the store no longer knew (a hot copy that expired in Redis).
    pub user_id: Option<UserId>,
    /// The session's version after the event (0 when unknown).
    pub version: u64,
}
