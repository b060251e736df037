//! The analytics table's rows as exported (`hotcold analytics export`, `hotcold simulate
//! --analytics`): one summary per session, the input of calibration ([`crate::calibrate`]).
//! `hotcold_reports::analytics` writes and reads them as Parquet or CSV; the columns are
//! documented there.

/// The idle gap that starts a new visit: a request more than this long after the session's
/// previous one counts a visit; a shorter gap is think time (30 minutes, the common web-analytics
/// session timeout and the ADR's promotion threshold).
pub use hotcold_engine::analytics::VISIT_GAP_MS;

use hotcold_engine::analytics::SessionSummary;
use hotcold_engine::{RegionId, SessionConfig};

/// One session summary, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnalyticsRow {
    /// The session id (32 hex digits, a one-way digest of the token).
    pub session_id: String,
    /// Its home region's name.
    pub home_region: String,
    /// The owner's audit subject (the same for all of a user's sessions; not the user id).
    pub user_subject: Option<String>,
    /// Created (its first request), ms since 1970 (0 if unknown).
    pub created_at_ms: u64,
    /// The last summarised event (a tier change or the end), ms.
    pub last_event_at_ms: u64,
    /// Ended, ms; `None` while open.
    pub ended_at_ms: Option<u64>,
    /// Why it ended: `expired`, `logged_out`, `revoked`, `erased`, `rolled_back`, or `open`.
    pub end_reason: String,
    /// Data changes (version − 1).
    pub updates: u64,
    /// Promotions (cold to hot).
    pub promotions: u64,
    /// Demotions (hot to cold).
    pub demotions: u64,
    /// Region names whose engine did something to it, ascending by region number.
    pub regions: Vec<String>,
    /// The largest data size seen at a summarised event, bytes.
    pub largest_payload_bytes: u64,
    /// Requests the session served up to the last summarised event, its creation included.
    pub requests: u64,
    /// Visits up to the last summarised event: 1 + the requests that came more than
    /// [`VISIT_GAP_MS`] after the one before.
    pub visits: u64,
    /// The sum of the gaps shorter than [`VISIT_GAP_MS`] between consecutive requests (think
    /// time), ms: `requests − visits` gaps in all.
    pub think_ms: u64,
    /// The last request up to the last summarised event, ms (0 if unknown).
    pub last_request_at_ms: u64,
}

impl AnalyticsRow {
    /// Puts `rows` in the export's order: oldest creation first, then by session id (the live
    /// export and `simulate --analytics` write the same order).
    pub fn sort_for_export(rows: &mut [Self]) {
        rows.sort_unstable_by(|a, b| (a.created_at_ms, &a.session_id).cmp(&(b.created_at_ms, &b.session_id)));
    }

    /// The export row of an engine's session summary, regions named by the deployment's
    /// configuration (the live export and `simulate --analytics` both write them so).
    pub fn of_summary(summary: &SessionSummary, config: &SessionConfig) -> Self {
        let name = |region: u16| config.region_name(RegionId(region)).to_string();
        Self {
            session_id: summary.session_id.clone(),
            home_region: name(summary.home_region),
            user_subject: summary.subject.clone(),
            created_at_ms: summary.created_at,
            last_event_at_ms: summary.last_event_at,
            ended_at_ms: summary.ended_at,
            end_reason: summary.end_reason.clone().unwrap_or_else(|| "open".to_string()),
            updates: summary.updates(),
            promotions: summary.promotions,
            demotions: summary.demotions,
            regions: summary.regions.iter().map(|r| name(*r)).collect(),
            largest_payload_bytes: summary.largest_payload_bytes,
            requests: summary.activity.requests,
            visits: summary.activity.visits,
            think_ms: summary.activity.think_ms,
            last_request_at_ms: summary.activity.last_request_at.0,
        }
    }

    /// True when the row's counts are final for the visits they cover: the session ended, or
    /// its last summarised event was a demotion (it had been idle for the promotion threshold, so
    /// no visit was under way). A row last written by a promotion is mid-visit.
    pub fn is_quiescent(&self) -> bool {
        self.ended_at_ms.is_some() || self.demotions > self.promotions
    }
}
