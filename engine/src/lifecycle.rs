//! Lifecycle policy: which ADR-0010 state a session is in, as pure functions of its last access,
//! `now` and the configuration. The one place these decisions are made.
//!
//! ```text
//! idle = now - last_access
//! hot tier:   Active   idle < active_window            (5 min)
//!             Inactive active_window <= idle < promotion_threshold (30 min)
//!             DueForDemotion  promotion_threshold <= idle < hot ttl  (2 h)
//!             Expired  idle >= hot ttl                  (Redis drops the key)
//! cold tier:  Live     idle < cold ttl                  (30 days)
//!             Expired  idle >= cold ttl                 (never returned, whatever DynamoDB TTL lag does)
//! ```
//! A deadline is reached at the instant itself: a session idle for exactly the threshold is due.

use std::time::Duration;

use crate::config::{EngineConfig, SessionConfig};
use crate::time::Timestamp;

/// How long a removal's cold tombstone outlasts what could still write the removed session back
/// (every hot copy read before the removal has expired by the hot TTL): a request in flight (bounded by the service's request timeout, seconds) or a promotion that read
/// a global-table replica not yet reached by the removal (replication takes about a second on
/// DynamoDB; the simulator caps its delays at ten times their mean). Five minutes covers both by
/// a wide margin while keeping tombstones few.
pub const TOMBSTONE_GUARD: Duration = Duration::from_secs(300);

/// How long a cold session's record is kept after it expires before the backend deletes it
/// (DynamoDB's TTL attribute is set this much later): the sync job's cold expiry sweep, which
/// reports each expiry to the audit trail, runs every demotion pass and so always finds the
/// record first. Lookups never serve an expired record meanwhile.
pub const EXPIRY_GRACE: Duration = Duration::from_secs(86_400);

/// The durations every lifecycle decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// `engine.active_window`.
    pub active_window: Duration,
    /// `session_config.hot_storage.promotion_threshold`.
    pub promotion_threshold: Duration,
    /// `session_config.hot_storage.ttl`.
    pub hot_ttl: Duration,
    /// `session_config.cold_storage.ttl`.
    pub cold_ttl: Duration,
    /// `engine.absolute_lifetime`; `None` when 0 (no limit).
    pub absolute_lifetime: Option<Duration>,
}

impl LifecyclePolicy {
    /// The policy of a (validated) configuration.
    pub fn new(session: &SessionConfig, engine: &EngineConfig) -> Self {
        Self {
            active_window: engine.active_window,
            promotion_threshold: session.hot_storage.promotion_threshold,
            hot_ttl: session.hot_storage.ttl,
            cold_ttl: session.cold_storage.ttl,
            absolute_lifetime: Some(engine.absolute_lifetime).filter(|limit| !limit.is_zero()),
        }
    }

    /// Whether a session created at `created_at` has reached its absolute lifetime at `now`: it
    /// is never served again, however recently it was used.
    pub fn outlived(&self, created_at: Timestamp, now: Timestamp) -> bool {
        self.absolute_lifetime.is_some_and(|limit| now.since(created_at) >= limit)
    }

    /// State of a session held in the hot tier.
    pub fn hot_state(&self, last_access: Timestamp, now: Timestamp) -> HotState {
        let idle = now.since(last_access);
        if idle >= self.hot_ttl {
            HotState::Expired
        } else if idle >= self.promotion_threshold {
            HotState::DueForDemotion
        } else if idle >= self.active_window {
            HotState::Inactive
        } else {
            HotState::Active
        }
    }

    /// State of a session held in the cold tier.
    pub fn cold_state(&self, last_access: Timestamp, now: Timestamp) -> ColdState {
        if now.since(last_access) >= self.cold_ttl { ColdState::Expired } else { ColdState::Live }
    }

    /// Latest last access that makes a session due for demotion at `now`: the sync job's cutoff.
    pub fn demotion_cutoff(&self, now: Timestamp) -> Timestamp {
        now - self.promotion_threshold
    }

    /// The `last_access` of a cold-tier tombstone written at `now`: it expires after the hot TTL
    /// plus [`TOMBSTONE_GUARD`] (the cold TTL, if shorter), by which time every hot copy that was
    /// read before the removal has expired, and no sync pass can write one back.
    pub fn cold_tombstone_access(&self, now: Timestamp) -> Timestamp {
        now - self.cold_ttl.saturating_sub(self.hot_ttl + TOMBSTONE_GUARD)
    }
}

/// A hot session's state (the ADR's state diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HotState {
    /// Accessed within `active_window`.
    Active,
    /// Idle, not yet due for demotion.
    Inactive,
    /// Idle for at least `promotion_threshold`: the sync job moves it to the cold tier.
    DueForDemotion,
    /// Idle for at least the hot TTL: Redis has dropped it.
    Expired,
}

/// A cold session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdState {
    /// May be promoted.
    Live,
    /// Past `cold_storage.ttl`: never returned.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn policy() -> LifecyclePolicy {
        LifecyclePolicy::new(&SessionConfig::default(), &EngineConfig::default())
    }

    fn at(minutes: u64, plus_ms: i64) -> Timestamp {
        Timestamp((1_000_000_000 + minutes * MIN).checked_add_signed(plus_ms).unwrap())
    }

    #[test]
    fn hot_states_change_exactly_at_each_boundary() {
        let p = policy();
        let last = at(0, 0);
        let cases = [
            (at(0, 0), HotState::Active),
            (at(5, -1), HotState::Active),
            (at(5, 0), HotState::Inactive),
            (at(30, -1), HotState::Inactive),
            (at(30, 0), HotState::DueForDemotion),
            (at(120, -1), HotState::DueForDemotion),
            (at(120, 0), HotState::Expired),
            (at(100_000, 0), HotState::Expired),
        ];
        for (now, expected) in cases {
            assert_eq!(p.hot_state(last, now), expected, "now = last + {} ms", now.0 - last.0);
        }
    }

    #[test]
    fn a_clock_behind_the_last_access_counts_as_active() {
        assert_eq!(policy().hot_state(at(10, 0), at(0, 0)), HotState::Active);
        assert_eq!(policy().cold_state(at(10, 0), at(0, 0)), ColdState::Live);
    }

    #[test]
    fn cold_expiry_is_exactly_the_cold_ttl() {
        let p = policy();
        let last = at(0, 0);
        let thirty_days = 30 * 24 * 60;
        assert_eq!(p.cold_state(last, at(thirty_days, -1)), ColdState::Live);
        assert_eq!(p.cold_state(last, at(thirty_days, 0)), ColdState::Expired);
    }

    #[test]
    fn the_demotion_cutoff_is_the_last_access_that_makes_a_session_due() {
        let p = policy();
        let last = at(3, 17);
        let due_at = last + p.promotion_threshold;
        assert_eq!(p.demotion_cutoff(due_at), last);
        assert_eq!(p.hot_state(p.demotion_cutoff(due_at), due_at), HotState::DueForDemotion);
        let just_after = p.demotion_cutoff(due_at) + Duration::from_millis(1);
        assert_eq!(p.hot_state(just_after, due_at), HotState::Inactive);
    }

    #[test]
    fn states_are_monotone_in_time() {
        let p = policy();
        let last = at(0, 0);
        let mut previous = HotState::Active;
        for minute in 0..200 {
            let state = p.hot_state(last, at(minute, 0));
            assert!(state >= previous, "state went back at minute {minute}");
            previous = state;
        }
    }

    #[test]
    fn a_cold_tombstone_lasts_the_hot_ttl_plus_the_guard() {
        let p = policy();
        // Late enough that a cold TTL before it is still a time (timestamps saturate at 0).
        const START: u64 = 100_000;
        let removed_at = at(START, 0);
        let guard_minutes = TOMBSTONE_GUARD.as_secs() / 60;
        // Cold: live until the hot TTL (2 h) plus the guard have passed.
        let cold = p.cold_tombstone_access(removed_at);
        assert_eq!(p.cold_state(cold, at(START + 120 + guard_minutes, -1)), ColdState::Live);
        assert_eq!(p.cold_state(cold, at(START + 120 + guard_minutes, 0)), ColdState::Expired);

        // A cold TTL barely above the hot TTL: it lasts the cold TTL, never dated ahead of now.
        let short = LifecyclePolicy { cold_ttl: p.hot_ttl + Duration::from_secs(1), ..p };
        assert_eq!(short.cold_tombstone_access(removed_at), removed_at);
    }
}
