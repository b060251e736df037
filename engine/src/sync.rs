//! [`SyncService`]: the background job that demotes idle hot sessions to the cold tier, and (with
//! write-behind) copies changed hot sessions. It does one pass per call; a driver calls it when
//! its [`SyncSchedule`] says a pass is due (a tokio loop in production, the event loop in the
//! simulator).

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditEvent, AuditKind, Tier};
use crate::config::{Durability, EngineConfig, SessionConfig};
use crate::engine::Engine;
use crate::error::StoreError;
use crate::failback::MoveHome;
use crate::session::{RegionId, Session};
use crate::store::{AuditSink, ColdStore, ColdWrite, HotStore, IdleEntry};
use crate::time::Clock;

/// Batches in a row a demotion pass may write without demoting anything before it stops: a store
/// whose idle index keeps naming sessions it will not let go of must not keep the pass spinning.
/// Three tells a persistent pattern from one unlucky batch; the sessions stay hot and the next
/// pass tries again.
const MAX_FRUITLESS_BATCHES: u32 = 3;

/// Batches one write-behind pass writes at most, so a pass ends even if the store keeps naming
/// the same dirty sessions: a million batches is far beyond any real backlog (at the default
/// batch size, a hundred million sessions).
const MAX_FLUSH_BATCHES: u64 = 1_000_000;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Sessions written to the cold tier and removed from the hot tier.
    pub demoted: u64,
    /// Of those, sessions the cold tier already held a fresher state of (a stale hot copy).
    pub stale_dropped: u64,
    /// Sessions touched while being demoted: written to cold, left hot.
    pub kept_hot: u64,
    /// Hot copies found gone past their TTL (expired in Redis before demotion).
    pub expired_hot: u64,
    /// Index entries whose record did not decode: skipped and quarantined by the store (see
    /// [`IdleEntry::Unreadable`]), so one bad record never stalls demotion.
    pub unreadable: u64,
    /// Removals' hot tombstones cleared once past their guard (see [`crate::lifecycle::TOMBSTONE_GUARD`]).
    pub tombstones_cleared: u64,
    /// Sessions copied by write-behind.
    pub copied: u64,
    /// Cold sessions past the cold TTL reported by the expiry sweep, each with an `expired`
    /// audit event ([`SyncService::expire_cold`]).
    pub expired_cold: u64,
    /// Failover copies this region held moved to their home hot tier ([`SyncService::move_home`]).
    pub moved_home: u64,
    /// Batches written.
    pub batches: u64,
    /// Why the pass stopped early, if it did; the next pass picks up where this one stopped.
    pub error: Option<StoreError>,
}

/// The hot/cold sync job of a deployment.
#[derive(Debug)]
pub struct SyncService<H, C, A, K> {
    engine: Arc<Engine<H, C, A, K>>,
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> SyncService<H, C, A, K> {
    /// The sync job over `engine`'s stores.
    pub const fn new(engine: Arc<Engine<H, C, A, K>>) -> Self {
        Self { engine }
    }

    /// When each pass of this job is due, from the engine's configuration.
    pub fn schedule(&self) -> SyncSchedule {
        SyncSchedule::new(self.engine.session_config(), self.engine.engine_config())
    }

    /// One demotion pass over `region`: every hot session idle for at least
    /// `promotion_threshold` is written to the cold tier (batches of `batch_size`), then removed
    /// from the hot tier only if unchanged since it was read. A failure stops the pass; sessions
    /// not yet handled stay hot and are retried next pass.
    pub async fn run_once(&self, region: RegionId) -> SyncReport {
        let engine = &*self.engine;
        let mut report = SyncReport::default();
        if !engine.has_region(region) {
            return report;
        }
        let hot = engine.hot(region);
        let now = engine.clock().now();
        let cutoff = engine.policy().demotion_cutoff(now);
        let batch_size = engine.session_config().sync.batch_size;
        let mut fruitless_batches = 0;
        loop {
            let entries = match hot.idle_candidates(cutoff, batch_size, now).await {
                Ok(entries) if entries.is_empty() => break,
                Ok(entries) => entries,
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            };
            let mut batch: Vec<Session> = Vec::with_capacity(entries.len());
            for entry in entries {
                match entry {
                    IdleEntry::Idle(tombstone) if tombstone.is_tombstone() => {
                        // A removal's marker past its guard: nothing to demote, clear it (unless a
                        // newer removal refreshed it meanwhile).
                        let (id, version, last_access) = (tombstone.id, tombstone.version, tombstone.last_access);
                        if let Err(e) = hot.remove_if_unchanged(&id, version, last_access).await {
                            report.error = Some(e);
                            return report;
                        }
                        report.tombstones_cleared += 1;
                    }
                    IdleEntry::Idle(mut session) => {
                        session.hot_region = None;
                        batch.push(session);
                    }
                    IdleEntry::Unreadable { .. } => report.unreadable += 1,
                    IdleEntry::Vanished(id) => {
                        report.expired_hot += 1;
                        let event = AuditEvent {
                            at: now,
                            kind: AuditKind::Expired,
                            tier: Tier::Hot,
                            region,
                            session: id,
                            user_id: None,
                            version: 0,
                            data_bytes: 0,
                            created_at: crate::time::Timestamp(0),
                            activity: crate::Activity::default(),
                        };
                        engine.record(event).await;
                    }
                }
            }
            if batch.is_empty() {
                continue;
            }
            let written = match engine.cold().put_batch(&batch, region, now).await {
                Ok(written) => written,
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            };
            report.batches += 1;
            let before = report.demoted;
            for (session, outcome) in batch.iter().zip(written) {
                match hot.remove_if_unchanged(&session.id, session.version, session.last_access).await {
                    Ok(true) => {
                        report.demoted += 1;
                        if outcome == ColdWrite::Stale {
                            report.stale_dropped += 1;
                        }
                        engine.record(AuditEvent::about(session, AuditKind::Demoted, Tier::Cold, region, now)).await;
                    }
                    Ok(false) => report.kept_hot += 1,
                    Err(e) => {
                        report.error = Some(e);
                        return report;
                    }
                }
            }
            // A store whose index keeps naming sessions it will not let go of must not spin.
            fruitless_batches = if report.demoted == before { fruitless_batches + 1 } else { 0 };
            if fruitless_batches >= MAX_FRUITLESS_BATCHES {
                break;
            }
        }
        report
    }

    /// One write-behind pass over `region`: copies every hot session whose data the cold tier
    /// lacks, in batches of `batch_size`.
    pub async fn flush_dirty(&self, region: RegionId) -> SyncReport {
        let engine = &*self.engine;
        let mut report = SyncReport::default();
        if !engine.has_region(region) {
            return report;
        }
        let hot = engine.hot(region);
        let now = engine.clock().now();
        let batch_size = engine.session_config().sync.batch_size;
        let mut batches = 0;
        loop {
            let batch = match hot.dirty(batch_size).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => batch,
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            };
            if let Err(e) = engine.cold().put_batch(&batch, region, now).await {
                report.error = Some(e);
                break;
            }
            report.batches += 1;
            for session in &batch {
                if let Err(e) = hot.mark_persisted(&session.id, session.version).await {
                    report.error = Some(e);
                    return report;
                }
                report.copied += 1;
            }
            batches += 1;
            if batches >= MAX_FLUSH_BATCHES {
                break;
            }
        }
        report
    }
}

/// Pages one expiry sweep reads at most, so a pass ends however large the backlog (the next pass
/// goes on): at the default batch size, 100,000 sessions.
const MAX_EXPIRY_PAGES: u64 = 1000;

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> SyncService<H, C, A, K> {
    /// One cold expiry sweep for the sessions homed in `region`: every cold record that has
    /// passed the cold TTL since the sweep's mark is reported as `expired` (tier cold, at the
    /// moment it expired), and the mark moves past it. Nothing is deleted: DynamoDB's TTL does
    /// that for free, a day after expiry (`EXPIRY_GRACE` in the DynamoDB adapter), so the sweep
    /// sees every record first; a lookup never serves an expired record either way.
    ///
    /// At least once: a pass that stops between reporting a page and moving the mark (a crash, a
    /// store error) reports that page again next time.
    pub async fn expire_cold(&self, region: RegionId) -> SyncReport {
        let engine = &*self.engine;
        let mut report = SyncReport::default();
        if !engine.has_region(region) {
            return report;
        }
        let now = engine.clock().now();
        let cold_ttl = engine.policy().cold_ttl;
        // Expired at `now` means idle for at least the cold TTL (`LifecyclePolicy::cold_state`).
        let before = now - cold_ttl + Duration::from_millis(1);
        let page_size = engine.session_config().sync.batch_size.max(1);
        let mut mark = match engine.cold().sweep_mark(region).await {
            Ok(mark) => mark,
            Err(e) => {
                report.error = Some(e);
                return report;
            }
        };
        for _ in 0..MAX_EXPIRY_PAGES {
            let page = match engine.cold().expired_page(region, before, mark.as_ref(), page_size).await {
                Ok(page) => page,
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            };
            for session in &page.sessions {
                let expired_at = (session.last_access + cold_ttl).min(now);
                engine.record(AuditEvent::about(session, AuditKind::Expired, Tier::Cold, region, expired_at)).await;
                report.expired_cold += 1;
            }
            report.batches += 1;
            if let Some(next) = page.next {
                if let Err(e) = engine.cold().set_sweep_mark(region, &next).await {
                    report.error = Some(e);
                    break;
                }
                mark = Some(next);
            }
            if page.sessions.len() < page_size {
                break;
            }
        }
        report
    }
}

/// Batches one failback pass moves at most per home region, so a pass ends however many copies a
/// failover left (the next pass goes on): at the default batch size, a million sessions.
const MAX_FAILBACK_BATCHES: u64 = 10_000;

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> SyncService<H, C, A, K> {
    /// One failback pass over `region`: the failover copies its hot tier holds of sessions homed
    /// in other regions (put here while their home hot tier was down) move home, in batches of
    /// `batch_size`, for every home whose hot tier answers (see [`crate::failback`]). A home that
    /// does not answer is left for the next pass after one try (and none for
    /// [`crate::failback::HOT_DOWN_BACKOFF`] after a failure), so an outage costs the pass one
    /// call, and it is no error of this region's job. Copies touched since they were listed go
    /// home too, with their change; a session accessed at home meanwhile was already moved by
    /// that access.
    pub async fn move_home(&self, region: RegionId) -> SyncReport {
        let engine = &*self.engine;
        let mut report = SyncReport::default();
        if !engine.has_region(region) {
            return report;
        }
        let hot = engine.hot(region);
        let batch_size = engine.session_config().sync.batch_size.max(1);
        for (home, _) in engine.hot_stores() {
            if home == region || engine.hot_seems_down(home, engine.clock().now()) {
                continue;
            }
            for _ in 0..MAX_FAILBACK_BATCHES {
                let now = engine.clock().now();
                let copies = match hot.guests(home, batch_size, now).await {
                    Ok(copies) if copies.is_empty() => break,
                    Ok(copies) => copies,
                    Err(e) => {
                        report.error = Some(e);
                        return report;
                    }
                };
                report.batches += 1;
                let before = report.moved_home;
                let mut home_down = false;
                for copy in copies {
                    match engine.move_home(copy, region, now).await {
                        MoveHome::Moved => report.moved_home += 1,
                        MoveHome::Gone => {}
                        MoveHome::HomeDown(_) => {
                            home_down = true;
                            break;
                        }
                        MoveHome::HolderDown(e) => {
                            report.error = Some(e);
                            return report;
                        }
                    }
                }
                // A batch that moved nothing may be listed again as it is: stop, the next pass
                // goes on (copies that went meanwhile are no longer listed then).
                if home_down || report.moved_home == before {
                    break;
                }
            }
        }
        report
    }
}

/// A pass of the sync job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pass {
    /// [`SyncService::run_once`]: demote idle hot sessions to the cold tier.
    Demotion,
    /// [`SyncService::flush_dirty`]: copy changed hot sessions to the cold tier (write-behind, and
    /// the repair of failed write-throughs).
    Flush,
}

impl Pass {
    /// Every pass, in the order a driver runs them when both are due at the same instant.
    pub const ALL: [Self; 2] = [Self::Demotion, Self::Flush];
}

/// When the passes of a region's sync job are due: every positive multiple of the pass's interval
/// since the schedule's start (CONTRACT: "The sync job runs in each region at every multiple of
/// `sync_interval` from the start of the run"), never at the start itself.
///
/// - Demotion: every `session_config.sync.sync_interval`.
/// - Flush: every `engine.write_behind_interval` with `write_behind`; every `sync_interval` with
///   `write_through` (to repair write-throughs that failed); never with `on_demotion`.
///
/// Times are durations since the start of the schedule, so the type is pure: a driver adds them
/// to its own start instant (a tokio `Instant` in production, event time in the simulator). An
/// interval of zero, which configuration validation rejects, is a pass that never runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSchedule {
    demotion: Duration,
    flush: Option<Duration>,
}

impl SyncSchedule {
    /// The schedule the configuration asks for.
    pub fn new(session_config: &SessionConfig, engine_config: &EngineConfig) -> Self {
        let sync_interval = session_config.sync.sync_interval;
        let flush = match engine_config.durability {
            Durability::OnDemotion => None,
            Durability::WriteBehind => Some(engine_config.write_behind_interval),
            Durability::WriteThrough => Some(sync_interval),
        };
        Self { demotion: sync_interval, flush }
    }

    /// How often `pass` runs; `None` for a pass that never runs.
    pub fn interval(&self, pass: Pass) -> Option<Duration> {
        let interval = match pass {
            Pass::Demotion => Some(self.demotion),
            Pass::Flush => self.flush,
        };
        interval.filter(|interval| !interval.is_zero())
    }

    /// The passes that run, in the order a driver runs them when both are due at once.
    pub fn passes(&self) -> impl Iterator<Item = Pass> + '_ {
        Pass::ALL.into_iter().filter(|pass| self.interval(*pass).is_some())
    }

    /// The first instant strictly after `after` at which `pass` is due; `None` for a pass that
    /// never runs.
    pub fn next_due(&self, pass: Pass, after: Duration) -> Option<Duration> {
        let interval = self.interval(pass)?.as_nanos();
        let multiples_done = after.as_nanos() / interval;
        Some(duration_from_nanos((multiples_done + 1) * interval))
    }

    /// The first instant strictly after `after` at which any pass is due; `None` if none runs.
    pub fn next_any_due(&self, after: Duration) -> Option<Duration> {
        self.passes().filter_map(|pass| self.next_due(pass, after)).min()
    }

    /// True if `pass` is due at `at`: `at` is a positive multiple of its interval.
    pub fn is_due(&self, pass: Pass, at: Duration) -> bool {
        self.interval(pass).is_some_and(|interval| !at.is_zero() && at.as_nanos() % interval.as_nanos() == 0)
    }
}

/// `nanos` as a duration, saturating at [`Duration::MAX`] (a multiple beyond it is never reached).
fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SECOND: u128 = 1_000_000_000;
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND);
    // The remainder is below a billion, so it always fits.
    let subsec_nanos = u32::try_from(nanos % NANOS_PER_SECOND).unwrap_or(0);
    seconds.map_or(Duration::MAX, |seconds| Duration::new(seconds, subsec_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(durability: Durability, sync_ms: u64, write_behind_ms: u64) -> SyncSchedule {
        let mut session_config = SessionConfig::default();
        session_config.sync.sync_interval = Duration::from_millis(sync_ms);
        let engine_config = EngineConfig {
            durability,
            write_behind_interval: Duration::from_millis(write_behind_ms),
            ..EngineConfig::default()
        };
        SyncSchedule::new(&session_config, &engine_config)
    }

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn intervals_follow_the_durability() {
        let on_demotion = schedule(Durability::OnDemotion, 300_000, 60_000);
        assert_eq!(on_demotion.interval(Pass::Demotion), Some(secs(300)));
        assert_eq!(on_demotion.interval(Pass::Flush), None);
        assert_eq!(on_demotion.passes().collect::<Vec<_>>(), [Pass::Demotion]);

        let write_behind = schedule(Durability::WriteBehind, 300_000, 60_000);
        assert_eq!(write_behind.interval(Pass::Demotion), Some(secs(300)));
        assert_eq!(write_behind.interval(Pass::Flush), Some(secs(60)));
        assert_eq!(write_behind.passes().collect::<Vec<_>>(), [Pass::Demotion, Pass::Flush]);

        let write_through = schedule(Durability::WriteThrough, 300_000, 60_000);
        assert_eq!(write_through.interval(Pass::Flush), Some(secs(300)), "write-through repairs every sync");
        assert_eq!(write_through.passes().collect::<Vec<_>>(), [Pass::Demotion, Pass::Flush]);
    }

    #[test]
    fn the_defaults_demote_every_five_minutes_and_never_flush() {
        let schedule = SyncSchedule::new(&SessionConfig::default(), &EngineConfig::default());
        assert_eq!(schedule.next_due(Pass::Demotion, Duration::ZERO), Some(secs(300)));
        assert_eq!(schedule.next_due(Pass::Flush, Duration::ZERO), None);
    }

    #[test]
    fn next_due_is_the_first_multiple_strictly_after() {
        let schedule = schedule(Durability::WriteBehind, 300_000, 60_000);
        let cases = [
            // (after, next demotion, next flush)
            (Duration::ZERO, secs(300), secs(60)),
            (Duration::from_nanos(1), secs(300), secs(60)),
            (secs(59), secs(300), secs(60)),
            (secs(60), secs(300), secs(120)),
            (secs(299), secs(300), secs(300)),
            (secs(300), secs(600), secs(360)),
            (secs(300) - Duration::from_nanos(1), secs(300), secs(300)),
            (secs(301), secs(600), secs(360)),
            (secs(86_400), secs(86_700), secs(86_460)),
        ];
        for (after, demotion, flush) in cases {
            assert_eq!(schedule.next_due(Pass::Demotion, after), Some(demotion), "demotion after {after:?}");
            assert_eq!(schedule.next_due(Pass::Flush, after), Some(flush), "flush after {after:?}");
            assert_eq!(schedule.next_any_due(after), Some(demotion.min(flush)), "any after {after:?}");
        }
    }

    #[test]
    fn is_due_exactly_at_positive_multiples() {
        let schedule = schedule(Durability::WriteBehind, 300_000, 60_000);
        assert!(!schedule.is_due(Pass::Demotion, Duration::ZERO), "never at the start");
        assert!(!schedule.is_due(Pass::Flush, Duration::ZERO), "never at the start");
        assert!(schedule.is_due(Pass::Demotion, secs(300)));
        assert!(schedule.is_due(Pass::Demotion, secs(3000)));
        assert!(!schedule.is_due(Pass::Demotion, secs(60)));
        assert!(!schedule.is_due(Pass::Demotion, secs(300) + Duration::from_nanos(1)));
        assert!(!schedule.is_due(Pass::Demotion, secs(300) - Duration::from_nanos(1)));
        assert!(schedule.is_due(Pass::Flush, secs(60)));
        assert!(schedule.is_due(Pass::Flush, secs(300)), "both passes due at once");
        assert!(!schedule.is_due(Pass::Flush, secs(90)));
    }

    #[test]
    fn on_demotion_has_no_flush_pass() {
        let schedule = schedule(Durability::OnDemotion, 300_000, 60_000);
        for at in [Duration::ZERO, secs(60), secs(300), secs(600)] {
            assert!(!schedule.is_due(Pass::Flush, at), "{at:?}");
            assert_eq!(schedule.next_due(Pass::Flush, at), None);
        }
        assert_eq!(schedule.next_any_due(secs(60)), Some(secs(300)));
    }

    #[test]
    fn sub_second_intervals_are_exact() {
        let schedule = schedule(Durability::WriteBehind, 1_500, 250);
        assert_eq!(schedule.next_due(Pass::Demotion, Duration::ZERO), Some(Duration::from_millis(1_500)));
        assert_eq!(schedule.next_due(Pass::Demotion, Duration::from_millis(1_500)), Some(secs(3)));
        assert_eq!(schedule.next_due(Pass::Demotion, Duration::from_millis(2_999)), Some(secs(3)));
        assert_eq!(schedule.next_due(Pass::Flush, Duration::from_millis(1_000)), Some(Duration::from_millis(1_250)));
        assert_eq!(
            schedule.next_due(Pass::Flush, Duration::from_micros(1_249_999)),
            Some(Duration::from_millis(1_250))
        );
        assert!(schedule.is_due(Pass::Demotion, Duration::from_millis(4_500)));
        assert!(!schedule.is_due(Pass::Demotion, Duration::from_millis(4_000)));
        assert!(schedule.is_due(Pass::Flush, Duration::from_millis(750)));
        assert!(!schedule.is_due(Pass::Flush, Duration::from_millis(760)));
    }

    #[test]
    fn a_zero_interval_never_runs() {
        let schedule = schedule(Durability::WriteBehind, 0, 0);
        assert_eq!(schedule.passes().count(), 0);
        assert_eq!(schedule.next_any_due(Duration::ZERO), None);
        assert_eq!(schedule.next_due(Pass::Demotion, secs(10)), None);
        assert!(!schedule.is_due(Pass::Demotion, secs(10)));
    }

    #[test]
    fn multiples_beyond_the_largest_duration_saturate() {
        let schedule = schedule(Durability::OnDemotion, 300_000, 60_000);
        assert_eq!(schedule.next_due(Pass::Demotion, Duration::MAX), Some(Duration::MAX));
    }
}
