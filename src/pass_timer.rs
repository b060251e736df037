//! [`PassTimer`]: a region's sync passes in wall time, on the engine's [`SyncSchedule`], for the
//! drivers that run the live engine (`hotcold serve` and `hotcold load`).

use std::time::Duration;

use hotcold_engine::{Pass, SyncSchedule};

/// Sleeps until the schedule's next due instant and says which passes are due then (demotion first
/// when both are). Instants count from the timer's creation. A pass that overruns the next due
/// instant makes the timer skip it rather than make up for it in a burst.
#[derive(Debug)]
pub(crate) struct PassTimer {
    schedule: SyncSchedule,
    start: tokio::time::Instant,
    /// The last instant served.
    done: Duration,
}

impl PassTimer {
    /// A timer starting now.
    pub(crate) fn new(schedule: SyncSchedule) -> Self {
        Self { schedule, start: tokio::time::Instant::now(), done: Duration::ZERO }
    }

    /// Waits for the next due instant; the passes due then, or `None` when no pass ever runs.
    /// Cancel-safe: a call dropped while it waits serves nothing.
    pub(crate) async fn next(&mut self) -> Option<Vec<Pass>> {
        let due = self.schedule.next_any_due(self.done.max(self.start.elapsed()))?;
        tokio::time::sleep_until(self.start + due).await;
        self.done = due;
        Some(self.schedule.passes().filter(|pass| self.schedule.is_due(*pass, due)).collect())
    }
}

#[cfg(test)]
mod tests {
    use hotcold_engine::{Durability, EngineConfig, SessionConfig};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn both_passes_due_at_once_are_both_served_demotion_first() {
        let mut session = SessionConfig::default();
        session.sync.sync_interval = Duration::from_secs(300);
        let engine = EngineConfig {
            durability: Durability::WriteBehind,
            write_behind_interval: Duration::from_secs(60),
            ..EngineConfig::default()
        };
        let mut timer = PassTimer::new(SyncSchedule::new(&session, &engine));
        let mut served = Vec::new();
        for _ in 0..6 {
            served.push((timer.start.elapsed().as_secs(), timer.next().await.expect("passes run")));
        }
        let flush = vec![Pass::Flush];
        assert_eq!(served[0].1, flush);
        assert_eq!(served[3].1, flush);
        assert_eq!(served[4].1, vec![Pass::Demotion, Pass::Flush], "{served:?}");
        assert_eq!(served[5].1, flush);
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrun_skips_the_missed_instants() {
        let mut session = SessionConfig::default();
        session.sync.sync_interval = Duration::from_secs(60);
        let mut timer = PassTimer::new(SyncSchedule::new(&session, &EngineConfig::default()));
        assert_eq!(timer.next().await, Some(vec![Pass::Demotion]));
        // The pass takes 150 s: the instants at 120 s and 180 s are skipped, the next is 240 s.
        tokio::time::advance(Duration::from_secs(150)).await;
        assert_eq!(timer.next().await, Some(vec![Pass::Demotion]));
        assert_eq!(timer.start.elapsed(), Duration::from_secs(240));
    }
}
