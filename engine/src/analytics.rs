//! The analytics pipeline's unit: one summary per session, folded from the session's audit
//! records as they land in the audit table (so it is as durable as the trail: a record waiting in
//! the outbox updates the summary when it is delivered).
//!
//! A summary is written when the session changes tier or ends ([`writes_summary`]): promoted,
//! demoted, expired, logged out, revoked or erased; creates and updates are seen through the
//! version and times those events carry. What it does not hold: the number of requests (a hot hit
//! writes nothing anywhere, and counting it would add a write to every request).

use crate::audit::{AuditEvent, AuditKind};

/// Whether an event of `kind` writes its session's summary.
pub const fn writes_summary(kind: AuditKind) -> bool {
    !matches!(kind, AuditKind::Created | AuditKind::Updated)
}

/// Why a session ended, by the kind of the event that ended it; `None` for a tier change.
pub const fn end_reason(kind: AuditKind) -> Option<&'static str> {
    match kind {
        AuditKind::Expired => Some("expired"),
        AuditKind::LoggedOut => Some("logged_out"),
        AuditKind::Revoked => Some("revoked"),
        AuditKind::Erased => Some("erased"),
        // The session left the hybrid store for the legacy one: its summary here ends.
        AuditKind::RolledBack => Some("rolled_back"),
        AuditKind::Created
        | AuditKind::Promoted
        | AuditKind::Demoted
        | AuditKind::Updated
        | AuditKind::MovedHome
        | AuditKind::Migrated => None,
    }
}

/// Whether an event of `kind` reopens an ended summary: an import into the hybrid store, which
/// may follow a rollback that ended the session's summary here (`rolled_back`).
pub const fn reopens(kind: AuditKind) -> bool {
    matches!(kind, AuditKind::Migrated)
}

/// One session's summary, as the analytics table holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session id (32 hex digits, a one-way digest of the token).
    pub session_id: String,
    /// The region that created it.
    pub home_region: u16,
    /// The owner's audit subject (32 hex digits, random): the same for all of a user's sessions,
    /// so fraud tools can group them, and no user id. Erasing the user shreds the only link from
    /// the user id to it (see [`crate::audit::log`]), so summaries, like audit records, stay
    /// counted and stop identifying anyone.
    pub subject: Option<String>,
    /// Created, ms since the epoch (0 if no event said).
    pub created_at: u64,
    /// The last summarised event, ms.
    pub last_event_at: u64,
    /// When it ended, ms; `None` while open.
    pub ended_at: Option<u64>,
    /// `expired`, `logged_out`, `revoked`, `erased`, `rolled_back` (handed back to the legacy
    /// store during a migration), or `None` while open.
    pub end_reason: Option<String>,
    /// The session's version at the last summarised event: 1 + the updates made by then.
    pub version: u64,
    /// Promotions (cold to hot).
    pub promotions: u64,
    /// Demotions (hot to cold).
    pub demotions: u64,
    /// Regions whose engine did something to it (numbers, ascending).
    pub regions: Vec<u16>,
    /// The largest data size seen at a summarised event, bytes.
    pub largest_payload_bytes: u64,
}

impl SessionSummary {
    /// Updates made: every update adds one to the version, which starts at 1.
    pub const fn updates(&self) -> u64 {
        self.version.saturating_sub(1)
    }

    /// Folds `event` (one that [`writes_summary`]) into the summary, `subject` being its
    /// owner's: the in-memory form of what the DynamoDB pipeline does with one UpdateItem.
    pub fn fold(&mut self, event: &AuditEvent, subject: Option<String>) {
        self.session_id = event.session.to_hex();
        self.home_region = event.session.home().0;
        if subject.is_some() {
            self.subject = subject;
        }
        if event.created_at.0 > 0 {
            self.created_at = event.created_at.0;
        }
        self.last_event_at = event.at.0;
        self.version = event.version;
        match event.kind {
            AuditKind::Promoted => self.promotions += 1,
            AuditKind::Demoted => self.demotions += 1,
            _ => {}
        }
        if let Some(reason) = end_reason(event.kind) {
            self.ended_at = Some(event.at.0);
            self.end_reason = Some(reason.to_string());
        }
        if reopens(event.kind) {
            self.ended_at = None;
            self.end_reason = None;
        }
        if !self.regions.contains(&event.region.0) {
            self.regions.push(event.region.0);
            self.regions.sort_unstable();
        }
        self.largest_payload_bytes = self.largest_payload_bytes.max(event.data_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Tier;
    use crate::session::{RegionId, SessionId, UserId};
    use crate::time::Timestamp;

    fn event(kind: AuditKind, at: u64, region: u16, version: u64, data_bytes: u64) -> AuditEvent {
        AuditEvent {
            at: Timestamp(at),
            kind,
            tier: Tier::Hot,
            region: RegionId(region),
            session: SessionId::from_parts([5; 16], RegionId(1)),
            user_id: Some(UserId::new("gus").unwrap()),
            version,
            data_bytes,
            created_at: Timestamp(100),
        }
    }

    #[test]
    fn a_history_folds_into_its_summary() {
        let history = [
            event(AuditKind::Demoted, 2_000, 1, 3, 700),
            event(AuditKind::Promoted, 3_000, 0, 3, 700),
            event(AuditKind::Demoted, 4_000, 0, 4, 90),
            event(AuditKind::Promoted, 5_000, 2, 4, 90),
            event(AuditKind::LoggedOut, 6_000, 2, 4, 90),
        ];
        let mut summary = SessionSummary::default();
        for e in &history {
            assert!(writes_summary(e.kind));
            summary.fold(e, Some("ab".repeat(16)));
        }
        assert_eq!(
            summary,
            SessionSummary {
                session_id: "05".repeat(16),
                home_region: 1,
                subject: Some("ab".repeat(16)),
                created_at: 100,
                last_event_at: 6_000,
                ended_at: Some(6_000),
                end_reason: Some("logged_out".into()),
                version: 4,
                promotions: 2,
                demotions: 2,
                regions: vec![0, 1, 2],
                largest_payload_bytes: 700,
            }
        );
        assert_eq!(summary.updates(), 3);
    }

    #[test]
    fn a_rollback_ends_a_summary_and_the_next_import_opens_it_again() {
        let mut summary = SessionSummary::default();
        summary.fold(&event(AuditKind::Migrated, 1_000, 0, 1, 50), None);
        summary.fold(&event(AuditKind::RolledBack, 2_000, 0, 1, 50), None);
        assert_eq!((summary.ended_at, summary.end_reason.as_deref()), (Some(2_000), Some("rolled_back")));
        summary.fold(&event(AuditKind::Migrated, 3_000, 0, 2, 60), None);
        assert_eq!((summary.ended_at, summary.end_reason.as_deref()), (None, None), "open again");
        assert_eq!((summary.version, summary.last_event_at), (2, 3_000));
    }

    #[test]
    fn creates_and_updates_write_no_summary_and_only_ends_have_a_reason() {
        assert!(!writes_summary(AuditKind::Created) && !writes_summary(AuditKind::Updated));
        let reasons: Vec<_> = AuditKind::ALL.iter().map(|k| end_reason(*k)).collect();
        assert_eq!(
            reasons,
            [
                None,
                None,
                None,
                None,
                Some("expired"),
                Some("logged_out"),
                Some("revoked"),
                Some("erased"),
                None,
                None,
                Some("rolled_back")
            ]
        );
    }
}
