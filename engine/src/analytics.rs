//! The analytics pipeline's unit: one summary per session, folded from the session's audit
//! records as they land in the audit table (so it is as durable as the trail: a record waiting in
//! the outbox updates the summary when it is delivered).
//!
//! A summary is written when the session changes tier or ends ([`writes_summary`]): promoted,
//! demoted, expired, logged out, revoked or erased; creates and updates are seen through the
//! version and times those events carry. The requests, visits and think time ([`Activity`]) are
//! counted by the hot tier at every lookup, inside the touch it makes anyway (no extra write or
//! round trip), carried with the session through demotion and promotion, and reach the summary
//! with the next tier change or end: the activity an open session's summary shows is the one
//! its last summarised event carried.

use crate::audit::{AuditEvent, AuditKind};
use crate::time::Timestamp;

/// The idle gap that starts a new visit: a request more than this long after the session's
/// previous one counts a visit; a shorter gap is think time. 30 minutes: the common
/// web-analytics session timeout, and the ADR's promotion threshold.
pub const VISIT_GAP_MS: u64 = 30 * 60 * 1000;

/// What a session's requests have been, counted by the hot tier at every lookup (with no round
/// trip of its own: the Redis store counts in its touch script, or holds a light touch's count
/// until the next one) and carried with the session through demotion and promotion, so the
/// analytics summary can hold them: calibration fits visits, think time and returns from these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Requests served, the creating one included.
    pub requests: u64,
    /// Visits: 1 + the requests that came more than [`VISIT_GAP_MS`] after the one before.
    pub visits: u64,
    /// The sum of the shorter gaps (think time), ms.
    pub think_ms: u64,
    /// The last request (0 before the first).
    pub last_request_at: Timestamp,
}

impl Activity {
    /// The names of the four numbers, in the order of [`Self::numbers`]: the attribute names
    /// every store writes them under.
    pub const NAMES: [&'static str; 4] = ["requests", "visits", "think_ms", "last_request_at"];

    /// Requests, visits, think time (ms) and last request (ms): the order every store writes
    /// them in, and the order a summary keeps the larger of two activities by (requests first).
    pub const fn numbers(&self) -> [u64; 4] {
        [self.requests, self.visits, self.think_ms, self.last_request_at.0]
    }

    /// The activity of [`Self::numbers`].
    pub const fn from_numbers([requests, visits, think_ms, last_request_at]: [u64; 4]) -> Self {
        Self { requests, visits, think_ms, last_request_at: Timestamp(last_request_at) }
    }

    /// A session's activity after its creating request at `at`.
    pub const fn first(at: Timestamp) -> Self {
        Self { requests: 1, visits: 1, think_ms: 0, last_request_at: at }
    }

    /// Counts one more request at `at`: a new visit after a gap of more than [`VISIT_GAP_MS`],
    /// think time otherwise. A request stamped before the last one (clocks of two instances)
    /// counts with no gap.
    pub fn record(&mut self, at: Timestamp) {
        self.record_with_gap(at, VISIT_GAP_MS);
    }

    /// [`Self::record`] with a visit gap of `visit_gap_ms` instead of [`VISIT_GAP_MS`]: the
    /// simulator and `hotcold load` use the scenario's promotion threshold (scaled by `load`'s
    /// speedup), so visits keep their meaning on a compressed clock.
    pub fn record_with_gap(&mut self, at: Timestamp, visit_gap_ms: u64) {
        if self.requests == 0 {
            *self = Self::first(at);
            return;
        }
        let gap = at.0.saturating_sub(self.last_request_at.0);
        if gap > visit_gap_ms {
            self.visits += 1;
        } else {
            self.think_ms += gap;
        }
        self.requests += 1;
        self.last_request_at = self.last_request_at.max(at);
    }
}

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
    /// The session's requests, visits and think time as the summarised event that counted the
    /// most requests carried them ([`Self::fold`]; zero when no event carried any).
    pub activity: Activity,
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
        // The count only grows, so the larger one is the newer: a redelivered older event (an
        // outbox) never lowers it, and a reopen after a rollback keeps it (the requests before
        // the rollback were served too). Ties on requests go to the larger tuple, the order the
        // DynamoDB pipeline's maximum uses, so both give the same summary.
        if event.activity.numbers() > self.activity.numbers() {
            self.activity = event.activity;
        }
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
            activity: Activity::default(),
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
                activity: Activity::default(),
            }
        );
        assert_eq!(summary.updates(), 3);
    }

    #[test]
    fn a_summary_keeps_the_activity_that_counted_most() {
        let with = |kind, at, requests: u64| AuditEvent {
            activity: Activity { requests, visits: 1, think_ms: requests * 10, last_request_at: Timestamp(at) },
            ..event(kind, at, 0, 1, 10)
        };
        let mut summary = SessionSummary::default();
        summary.fold(&with(AuditKind::Demoted, 2_000, 4), None);
        assert_eq!(summary.activity.requests, 4);
        // A redelivered older event (fewer requests) and one that knew none lower nothing.
        summary.fold(&with(AuditKind::Promoted, 1_000, 2), None);
        summary.fold(&event(AuditKind::Expired, 3_000, 0, 1, 10), None);
        assert_eq!(summary.activity, with(AuditKind::Demoted, 2_000, 4).activity);
        // A rollback and a reopen keep the maximum; a later count replaces it.
        summary.fold(&with(AuditKind::RolledBack, 4_000, 3), None);
        summary.fold(&with(AuditKind::Migrated, 5_000, 1), None);
        assert_eq!(summary.activity.requests, 4);
        summary.fold(&with(AuditKind::Demoted, 6_000, 9), None);
        assert_eq!(summary.activity, with(AuditKind::Demoted, 6_000, 9).activity);
    }

    #[test]
    fn activity_counts_visits_and_think_time() {
        let mut activity = Activity::default();
        activity.record(Timestamp(1_000));
        assert_eq!(activity, Activity::first(Timestamp(1_000)));
        activity.record(Timestamp(11_000));
        activity.record(Timestamp(11_000 + VISIT_GAP_MS));
        activity.record(Timestamp(11_001 + 2 * VISIT_GAP_MS));
        // An earlier stamp (another instance's clock) counts with no gap.
        activity.record(Timestamp(5_000));
        assert_eq!(
            activity,
            Activity {
                requests: 5,
                visits: 2,
                think_ms: 10_000 + VISIT_GAP_MS,
                last_request_at: Timestamp(11_001 + 2 * VISIT_GAP_MS)
            }
        );
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
