//! Work on a schedule: the minute tick and the sync job's passes.

use std::time::Duration;

use hotcold_engine::lifecycle::EXPIRY_GRACE;
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{AuditKind, Pass, RegionId, Tier};

use crate::event::Event;
use crate::sim::{Sim, millis};

/// The tick's period, one minute: the return calendar and the Redis-only baseline's expiry
/// calendar hold one bucket per tick.
pub(crate) const MINUTE_MS: u64 = 60_000;

/// Ticks between DynamoDB's TTL deletions: one a simulated day.
const PURGE_EVERY_TICKS: u64 = 1440;

impl Sim {
    /// The minute tick at `t` ms: closes the time-series bucket that ends now, purges expired
    /// cold records once a day, and releases the users returning in this minute and the baseline
    /// sessions expiring in it.
    pub(crate) fn tick(&mut self, t: u64) {
        let minute = t / MINUTE_MS;
        self.population.next_tick_minute = minute + 1;
        self.push(t + MINUTE_MS, Event::Tick);
        if t > 0 && t % self.timing.bucket_ms == 0 {
            self.close_bucket();
        }
        let ttl = self.scenario.session_config.cold_storage.ttl;
        self.backends.cold.purge_tombstones(ttl);
        if t > 0 && minute % PURGE_EVERY_TICKS == 0 {
            // Records stay `EXPIRY_GRACE` past their expiry, as DynamoDB's TTL attribute says.
            for (home, ended) in self.backends.cold.purge_expired(ttl + EXPIRY_GRACE).into_iter().enumerate() {
                self.backends.audit.add(home, AuditKind::Expired, Tier::Cold, ended);
            }
        }
        for (user, offset) in self.population.take_returns(minute) {
            let Some(slot) = self.population.alloc(user) else { return };
            self.push(t + u64::from(offset), Event::User(slot));
        }
        self.baseline.expire_due(minute);
        if self.migration.is_some() {
            self.migration_tick(t);
        }
    }

    /// Schedules region `region`'s next `pass` after `t` (ms), as the engine's schedule says.
    pub(crate) fn push_next_pass(&mut self, pass: Pass, region: usize, t: u64) {
        if let Some(due) = self.backends.schedule.next_due(pass, Duration::from_millis(t)) {
            let event = match pass {
                Pass::Demotion => Event::SyncPass(region),
                Pass::Flush => Event::FlushPass(region),
            };
            self.push(millis(due), event);
        }
    }

    /// One demotion pass of `region`'s sync job, unless its sync is down.
    pub(crate) fn sync_pass(&mut self, region: usize) {
        if !self.faults.sync_is_down(region) {
            self.backends.context.begin(region);
            // Failover copies held here go home once their region is back (failback), before the
            // demotion pass: an idle copy demoted here would have its cold record written from
            // here, which home's replica sees only after the replication delay.
            let _report = now_or_panic(self.backends.sync.move_home(RegionId(region as u16)));
            let _report = now_or_panic(self.backends.sync.run_once(RegionId(region as u16)));
            let us = self.backends.drain_latency_us();
            let totals = &mut self.meters.passes[region];
            totals.sync_invocations += 1;
            totals.sync_us = totals.sync_us.saturating_add(us);
        }
    }

    /// One write-behind pass of `region`, unless its sync is down.
    pub(crate) fn flush_pass(&mut self, region: usize) {
        if !self.faults.sync_is_down(region) {
            self.backends.context.begin(region);
            let _report = now_or_panic(self.backends.sync.flush_dirty(RegionId(region as u16)));
            let us = self.backends.drain_latency_us();
            let totals = &mut self.meters.passes[region];
            totals.flush_invocations += 1;
            totals.flush_us = totals.flush_us.saturating_add(us);
        }
    }
}
