//! `hotcold simulate --analytics`: the analytics table the simulated sessions would have
//! produced, one summary per session with the live export's columns.
//!
//! The engine writes a summary when a session changes tier or ends, folding the audit event
//! ([`SessionSummary::fold`]) with the activity the hot tier counted up to then. The simulated hot
//! tier keeps compact records without activity, so here the driver counts each session's
//! requests ([`SimAnalytics::request`]) by the same rule the engine's stores use
//! ([`Activity::record_with_gap`], the visit gap being the scenario's promotion threshold), and
//! every summarised audit event takes the count as it stands. Sessions the simulated sync job
//! expires in the cold tier are counted, not named (the daily purge), so their rows stay open.

use std::sync::Mutex;

use hotcold_engine::analytics::{Activity, SessionSummary, writes_summary};
use hotcold_engine::{AuditEvent, AuditKind, SessionConfig, SessionId, Timestamp};
use hotcold_model::analytics::AnalyticsRow;
use hotcold_model::rng::splitmix;
use rustc_hash::FxHashMap;

/// One shard's analytics table, kept only when a run asks for it.
#[derive(Debug)]
pub(crate) struct SimAnalytics {
    sessions: Mutex<FxHashMap<SessionId, Entry>>,
    visit_gap_ms: u64,
}

/// A session's activity so far and its summary as last written.
#[derive(Debug, Default)]
struct Entry {
    live: Activity,
    summary: Option<SessionSummary>,
}

impl SimAnalytics {
    /// An empty table whose visits are split by idle gaps longer than `visit_gap_ms`.
    pub(crate) fn new(visit_gap_ms: u64) -> Self {
        Self { sessions: Mutex::new(FxHashMap::default()), visit_gap_ms }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FxHashMap<SessionId, Entry>) -> T) -> T {
        // One thread per shard: the lock is never contended, and a poisoned one still holds data.
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut sessions)
    }

    /// The session `id` was created by a request at `at_ms`.
    pub(crate) fn created(&self, id: &SessionId, at_ms: u64) {
        self.with(|sessions| sessions.entry(*id).or_default().live = Activity::first(Timestamp(at_ms)));
    }

    /// A request at `at_ms` looks the session `id` up (counted before the lookup, as the engine
    /// counts a promotion's request before the promotion's audit event).
    pub(crate) fn request(&self, id: &SessionId, at_ms: u64) {
        let gap = self.visit_gap_ms;
        self.with(|sessions| sessions.entry(*id).or_default().live.record_with_gap(Timestamp(at_ms), gap));
    }

    /// An audit event: a tier change or an end writes the session's summary.
    pub(crate) fn event(&self, event: &AuditEvent) {
        if !writes_summary(event.kind) {
            return;
        }
        self.with(|sessions| {
            let entry = sessions.entry(event.session).or_default();
            if event.kind == AuditKind::Migrated && entry.live.requests == 0 {
                // Imported on access: that request is its first here.
                entry.live = Activity::first(event.at);
            }
            let summary = entry.summary.get_or_insert_with(SessionSummary::default);
            summary.fold(event, Some(subject(&event.session)));
            summary.activity = entry.live;
        });
    }

    /// The table: one row per session that has a summary, regions named by `config`, in no
    /// particular order (the run sorts every shard's rows together, [`AnalyticsRow::sort_for_export`]).
    pub(crate) fn rows(&self, config: &SessionConfig) -> Vec<AnalyticsRow> {
        self.with(|sessions| {
            sessions
                .values()
                .filter_map(|entry| entry.summary.as_ref())
                .map(|s| AnalyticsRow::of_summary(s, config))
                .collect()
        })
    }
}

/// A simulated session's audit subject: every simulated user holds one session, so the subject
/// is drawn from the session id (32 hex digits, like the engine's random subjects).
fn subject(id: &SessionId) -> String {
    let bytes = id.hash_bytes();
    let (low, high) = bytes.split_at(8);
    let word = |b: &[u8]| b.iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    format!("{:016x}{:016x}", splitmix(word(low) ^ 0x7375_626a), splitmix(word(high) ^ 0x0065_6374))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_engine::{RegionId, Tier};

    fn event(kind: AuditKind, at: u64) -> AuditEvent {
        AuditEvent {
            at: Timestamp(at),
            kind,
            tier: Tier::Hot,
            region: RegionId(1),
            session: SessionId::from_parts([7; 16], RegionId(1)),
            user_id: None,
            version: 1,
            data_bytes: 300,
            created_at: Timestamp(1_000),
            activity: Activity::default(),
        }
    }

    /// A deployment whose regions are named `names`.
    fn regions(names: &[&str]) -> SessionConfig {
        let mut config = SessionConfig::default();
        config.hot_storage.regions = names.iter().map(|n| (*n).to_string()).collect();
        config
    }

    #[test]
    fn a_summary_takes_the_activity_counted_when_it_was_written() {
        let analytics = SimAnalytics::new(1_800_000);
        let id = SessionId::from_parts([7; 16], RegionId(1));
        analytics.created(&id, 1_000);
        analytics.request(&id, 11_000);
        analytics.event(&event(AuditKind::Demoted, 2_000_000));
        // After the demotion: a return (a new visit) that the summary does not see until the next
        // summarised event, and an update, which writes no summary.
        analytics.request(&id, 5_000_000);
        analytics.event(&event(AuditKind::Updated, 5_000_000));
        let regions = regions(&["a", "b"]);
        let rows = analytics.rows(&regions);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row.requests, row.visits, row.think_ms, row.last_request_at_ms), (2, 1, 10_000, 11_000));
        assert_eq!((row.home_region.as_str(), row.demotions, row.end_reason.as_str()), ("b", 1, "open"));
        analytics.event(&event(AuditKind::Promoted, 5_000_000));
        let row = &analytics.rows(&regions)[0];
        assert_eq!((row.requests, row.visits, row.promotions), (3, 2, 1));
        assert_eq!(row.user_subject.as_ref().map(String::len), Some(32));
    }

    #[test]
    fn sessions_without_a_summarised_event_have_no_row() {
        let analytics = SimAnalytics::new(1_800_000);
        analytics.created(&SessionId::from_parts([9; 16], RegionId(0)), 5);
        assert!(analytics.rows(&regions(&["a"])).is_empty());
    }
}
