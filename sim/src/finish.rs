//! A shard's run record, once its events are done.

use hotcold_engine::{AuditKind, Tier};
use hotcold_model::record::{RegionUsage, ResidencyRecord, RunRecord, RunStats, Storage, Tiers};

use crate::merge::ShardResult;
use crate::sim::Sim;

impl Sim {
    /// What this shard measured. Peaks are left at 0: [`crate::merge`] finds them from the peak
    /// windows of every shard.
    pub(crate) fn finish(mut self) -> ShardResult {
        let regions = self.regions();
        let names = self.scenario.session_config.hot_storage.regions.clone();
        let timing = self.timing;
        let window_ms = (timing.end_ms - timing.warmup_ms).max(1) as f64;
        let backends = &self.backends;
        let meters = &mut self.meters;

        let mut counts = meters.counts.clone();
        let audit = &backends.audit;
        let audited = |kind| (0..regions).map(|r| audit.count(r, kind)).sum::<u64>();
        let audited_in = |kind, tier| (0..regions).map(|r| audit.count_in(r, kind, tier)).sum::<u64>();
        counts.created = audited(AuditKind::Created);
        counts.demoted = audited(AuditKind::Demoted);
        counts.expired_hot = audited_in(AuditKind::Expired, Tier::Hot);
        counts.expired_cold = audited_in(AuditKind::Expired, Tier::Cold);
        counts.logged_out = audited(AuditKind::LoggedOut);
        counts.sync_invocations = meters.passes.iter().map(|p| p.sync_invocations).sum::<u64>()
            + meters.passes.iter().map(|p| p.flush_invocations).sum::<u64>();

        let hot_gauges: Vec<_> = backends.hot.iter().map(|hot| (hot.count(), hot.bytes())).collect();
        let cold_count = backends.cold.count();
        let cold_bytes = backends.cold.bytes();
        let warmup = &meters.warmup;
        let hot_avg: f64 =
            hot_gauges.iter().zip(&warmup.hot).map(|((count, _), warm)| (count.area - warm) / window_ms).sum();
        let cold_avg = (cold_count.area - warmup.cold) / window_ms;
        let tiers = Tiers { hot_avg, hot_peak: 0, cold_avg, cold_peak: 0 };
        let usage = (0..regions)
            .map(|r| {
                let ledger = backends.context.ledger(r);
                let (count, _) = hot_gauges[r];
                let passes = meters.passes[r];
                RegionUsage {
                    region: names[r].clone(),
                    wru: ledger.wru.get(),
                    rru: ledger.rru.get(),
                    replicated_wru: ledger.replicated_wru.get(),
                    replicated_bytes: ledger.replicated_bytes.get(),
                    dynamo_calls: ledger.dynamo_calls.get(),
                    dynamo_errors: ledger.dynamo_errors.get(),
                    redis_calls: ledger.redis_calls.get(),
                    redis_peak_bytes: 0,
                    redis_peak_sessions: 0,
                    redis_avg_sessions: (count.area - warmup.hot[r]) / window_ms,
                    sync_invocations: passes.sync_invocations,
                    sync_seconds: passes.sync_us as f64 / 1e6,
                    flush_invocations: passes.flush_invocations,
                    flush_seconds: passes.flush_us as f64 / 1e6,
                    baseline_redis_only_peak_bytes: 0,
                    audit_events: audit.total(r),
                    analytics_writes: audit.analytics_writes(r),
                }
            })
            .collect();
        let storage = Storage {
            avg_stored_bytes: (cold_bytes.area - warmup.cold_bytes) / window_ms,
            peak_stored_bytes: 0,
            final_stored_bytes: cold_bytes.value,
        };
        let residency = {
            let mut residency = ResidencyRecord::of_scenario(&self.scenario);
            residency.violations = backends.context.violations();
            residency.stored_outside_at_end =
                backends.hot.iter().map(|hot| hot.stored_outside()).sum::<u64>() + backends.cold.stored_outside();
            residency.by_home = (0..regions)
                .map(|r| {
                    let mut home = meters.homes[r].record(names[r].clone());
                    if let Some(exposure) = backends.context.exposure(r) {
                        home.cold_writes_elsewhere = exposure.cold_writes.get();
                        home.cold_bytes_elsewhere = exposure.cold_bytes.get();
                        home.hot_writes_elsewhere = exposure.hot_writes.get();
                        home.hot_bytes_elsewhere = exposure.hot_bytes.get();
                        home.audit_records_elsewhere = exposure.audit_records.get();
                    }
                    home
                })
                .collect();
            residency
        };
        let latency = meters.latency.latencies();
        let bucket_values = meters.latency.take_bucket_values();
        let record = RunRecord {
            regions: names,
            seed: self.scenario.seed,
            sample: self.scenario.sample,
            simulated_seconds: timing.end_ms as f64 / 1000.0,
            warmup_seconds: timing.warmup_ms as f64 / 1000.0,
            bucket_seconds: timing.bucket_ms / 1000,
            counts,
            tiers,
            latency,
            usage,
            storage,
            failover: {
                let audit = &self.backends.audit;
                self.faults.settle_outages(|r| audit.count(r, AuditKind::MovedHome));
                std::mem::take(&mut self.faults.failover)
            },
            timeseries: std::mem::take(&mut meters.timeseries),
            residency,
            migration: self.migration.take().map(crate::migration::Migrator::finish),
            run: RunStats::default(),
            scenario: self.scenario,
        };
        let analytics = self
            .backends
            .audit
            .analytics()
            .map(|table| table.rows(&record.scenario.session_config))
            .unwrap_or_default();
        ShardResult { record, peaks: std::mem::take(&mut self.meters.peaks), bucket_values, analytics }
    }
}
