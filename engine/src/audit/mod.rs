//! Audit trail records: one per lifecycle event, kept `compliance_retention`.
//!
//! Records carry the [`SessionId`] (a one-way digest), never the token.
//!
//! - [`chain`]: each record is sealed into its writer's hash chain (tamper evidence);
//! - [`log`]: where records are kept, per user behind an erasable link (the compliance query);
//! - [`trail`]: the production sink: log first, a durable outbox when the log cannot take it.

pub mod chain;
pub mod log;
pub mod trail;

use serde::{Deserialize, Serialize};

use crate::analytics::Activity;
use crate::session::{RegionId, Session, SessionId, UserId};
use crate::time::Timestamp;

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// Created (in the hot tier, or in the cold tier only when the hot tier was down).
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
    /// Its hot copy moved from the region that held it during a failover back to its home
    /// region's hot tier (failback: on its next access there, or by the holder's sync job).
    MovedHome,
    /// Imported from the Redis-only store being migrated from (see [`crate::migration`]).
    Migrated,
    /// Handed back to the Redis-only store by a rollback (see [`crate::migration`]).
    RolledBack,
}

impl AuditKind {
    /// Every kind, in a fixed order (for counters and reports).
    pub const ALL: [Self; 11] = [
        Self::Created,
        Self::Promoted,
        Self::Demoted,
        Self::Updated,
        Self::Expired,
        Self::LoggedOut,
        Self::Revoked,
        Self::Erased,
        Self::MovedHome,
        Self::Migrated,
        Self::RolledBack,
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
            Self::MovedHome => "moved_home",
            Self::Migrated => "migrated",
            Self::RolledBack => "rolled_back",
        }
    }
}

/// The tier an audit event happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// A region's hot tier (Redis).
    Hot,
    /// The cold table (DynamoDB).
    Cold,
}

impl Tier {
    /// The snake_case name used in audit records (the `tier` attribute of the audit table).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Cold => "cold",
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
    /// Where it happened, by kind:
    /// - `created`: [`Tier::Hot`]; [`Tier::Cold`] when the region's hot tier was down and the
    ///   session was stored in the cold tier only;
    /// - `promoted`: [`Tier::Hot`], the tier it was promoted into;
    /// - `demoted`: [`Tier::Cold`], the tier it was demoted into;
    /// - `updated`: the tier the change was written to: [`Tier::Hot`], or [`Tier::Cold`] when no
    ///   hot tier could take the session and its cold record was changed directly (a write-through
    ///   copy of a hot update does not make it `Cold`);
    /// - `expired`: the tier whose copy was found past its TTL: [`Tier::Hot`] for a hot copy gone
    ///   or expired in a hot tier (found by a lookup or by the sync job), [`Tier::Cold`] for a
    ///   cold record past `cold_storage.ttl`;
    /// - `logged_out`, `revoked`, `erased`: [`Tier::Hot`] when a hot copy was removed, else
    ///   [`Tier::Cold`] (the cold record, if any, is removed either way);
    /// - `moved_home`: [`Tier::Hot`], the home hot tier it moved into (`region` is the home, as a
    ///   promotion's is the region promoted into, whichever engine moved it: the home's on an
    ///   access there, the holder's sync job otherwise).
    pub tier: Tier,
    /// The region whose engine did it.
    pub region: RegionId,
    /// Which session.
    pub session: SessionId,
    /// Whose session; `None` when the store no longer knew (a hot copy that expired in Redis,
    /// so always with [`Tier::Hot`]); the user's pseudonym once the user is erased.
    pub user_id: Option<UserId>,
    /// The session's version after the event (0 when unknown).
    pub version: u64,
    /// The session's data size after the event, bytes (0 when unknown): the analytics summary's
    /// largest payload.
    pub data_bytes: u64,
    /// When the session was created (0 when unknown).
    pub created_at: Timestamp,
    /// The session's requests, visits and think time as counted by then (zero when unknown):
    /// the analytics summary's activity.
    pub activity: Activity,
}

impl AuditEvent {
    /// The event of `kind` about `session` as it stands (its user and version), in `tier`, by
    /// `region`'s engine at `at`.
    pub(crate) fn about(session: &Session, kind: AuditKind, tier: Tier, region: RegionId, at: Timestamp) -> Self {
        Self {
            at,
            kind,
            tier,
            region,
            session: session.id,
            user_id: Some(session.user_id.clone()),
            version: session.version,
            data_bytes: session.data.len() as u64,
            created_at: session.created_at,
            activity: session.activity,
        }
    }
}
