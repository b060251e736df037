//! [`SyncService`]: the background job that demotes idle hot sessions to the cold tier, and (with
//! write-behind) copies changed hot sessions. It does one pass per call; a driver calls it on a
//! schedule (a tokio interval in production, the event loop in the simulator).

use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditKind;
use crate::config::Durability;
use crate::engine::Engine;
use crate::error::StoreError;
use crate::session::{RegionId, Session};
use crate::store::{AuditSink, ColdStore, ColdWrite, HotStore, IdleEntry};
use crate::time::Clock;

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
    /// Sessions copied by write-behind.
    pub copied: u64,
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

    /// How often [`SyncService::run_once`] should run in each region: `sync.sync_interval`.
    pub fn demotion_interval(&self) -> Duration {
        self.engine.session_config().sync.sync_interval
    }

    /// How often [`SyncService::flush_dirty`] should run: `write_behind_interval` with
    /// write-behind, `sync_interval` with write-through (to repair failed write-throughs), never
    /// with on-demotion.
    pub fn flush_interval(&self) -> Option<Duration> {
        match self.engine.engine_config().durability {
            Durability::OnDemotion => None,
            Durability::WriteBehind => Some(self.engine.engine_config().write_behind_interval),
            Durability::WriteThrough => Some(self.engine.session_config().sync.sync_interval),
        }
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
        let mut idle_passes = 0;
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
                    IdleEntry::Idle(mut session) => {
                        session.hot_region = None;
                        batch.push(session);
                    }
                    IdleEntry::Vanished(id) => {
                        report.expired_hot += 1;
                        engine.record(AuditKind::Expired, region, id, None, 0, now).await;
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
                        engine
                            .record(
                                AuditKind::Demoted,
                                region,
                                session.id,
                                Some(session.user_id.clone()),
                                session.version,
                                now,
                            )
                            .await;
                    }
                    Ok(false) => report.kept_hot += 1,
                    Err(e) => {
                        report.error = Some(e);
                        return report;
                    }
                }
            }
            // A store whose index keeps naming sessions it will not let go of must not spin.
            idle_passes = if report.demoted == before { idle_passes + 1 } else { 0 };
            if idle_passes >= 3 {
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
        let mut idle_passes = 0;
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
            idle_passes += 1;
            if idle_passes > 1_000_000 {
                break;
            }
        }
        report
    }
}
