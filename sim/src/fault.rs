//! Faults injected on purpose (the scenario's `faults`): a region's Redis tier lost, a region's
//! sync job down, DynamoDB throttled; and where traffic goes while a region is down.

use hotcold_engine::AuditKind;
use hotcold_model::record::{Failover, OutageRecord};
use hotcold_model::scenario::{Fault, Scenario};

use crate::backends::Backends;
use crate::sim::Sim;

/// The faults in force. Faults of one kind may overlap, so each is a count of those in force.
pub(crate) struct Faults {
    /// Region outages in force, per region.
    down: Vec<u32>,
    /// Sync outages in force, per region.
    sync_down: Vec<u32>,
    /// DynamoDB throttles in force.
    throttles: u32,
    /// Per region, the other regions by round-trip time from it, nearest first: where its
    /// traffic fails over to.
    nearest: Vec<Vec<usize>>,
    /// What the region outages cost.
    pub(crate) failover: Failover,
    /// Per region, requests of its users served by another region because it was down.
    pub(crate) detoured: Vec<u64>,
    /// Per outage in `failover.events`: its region's index, and the region's detoured requests
    /// and `moved_home` audit events when it began (the outage's own are counted from there).
    outage_starts: Vec<OutageStart>,
}

/// Counters of a region when one of its outages began.
#[derive(Debug, Clone, Copy)]
struct OutageStart {
    region: usize,
    detoured: u64,
    moved_home: u64,
}

impl Faults {
    /// No fault in force, in `scenario`'s regions.
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let names = &scenario.session_config.hot_storage.regions;
        let regions = names.len();
        let nearest = (0..regions)
            .map(|r| {
                let rtt_to = |other: usize| scenario.rtt_ms(&names[r], &names[other]);
                let mut others: Vec<usize> = (0..regions).filter(|o| *o != r).collect();
                others.sort_by(|a, b| rtt_to(*a).total_cmp(&rtt_to(*b)).then(a.cmp(b)));
                others
            })
            .collect();
        Self {
            down: vec![0; regions],
            sync_down: vec![0; regions],
            throttles: 0,
            nearest,
            failover: Failover::default(),
            detoured: vec![0; regions],
            outage_starts: Vec::new(),
        }
    }

    /// The region that serves traffic meant for `region`: `region`, or the nearest region up if
    /// `region` is down.
    pub(crate) fn route(&self, region: usize) -> usize {
        if self.down[region] == 0 {
            return region;
        }
        self.nearest[region].iter().copied().find(|o| self.down[*o] == 0).unwrap_or(region)
    }

    /// Fills in each outage's detoured requests and failback moves: those of its region from its
    /// start to the next outage of the region (or the end of the run). `moved_home(r)` is region
    /// `r`'s `moved_home` audit events so far.
    pub(crate) fn settle_outages(&mut self, moved_home: impl Fn(usize) -> u64) {
        for (i, start) in self.outage_starts.iter().enumerate() {
            let next = self.outage_starts[i + 1..].iter().find(|later| later.region == start.region);
            let (detoured, moved) = next.map_or_else(
                || (self.detoured[start.region], moved_home(start.region)),
                |next| (next.detoured, next.moved_home),
            );
            if let Some(event) = self.failover.events.get_mut(i) {
                event.detoured_requests = detoured - start.detoured;
                event.moved_home = moved - start.moved_home;
            }
        }
    }

    /// True while `region`'s sync job is down.
    pub(crate) fn sync_is_down(&self, region: usize) -> bool {
        self.sync_down[region] != 0
    }
}

impl Sim {
    /// The fault at `index` of the scenario's `faults` starts at `t` ms.
    pub(crate) fn fault_start(&mut self, index: usize, t: u64) {
        let Some(fault) = self.scenario.faults.get(index) else { return };
        let names = &self.scenario.session_config.hot_storage.regions;
        let faults = &mut self.faults;
        let backends = &self.backends;
        match fault {
            Fault::RegionOutage { region, duration, .. } => {
                let Some(r) = names.iter().position(|n| n == region) else { return };
                let now = Backends::timestamp(t).0;
                let mut at_risk = 0;
                let mut lost = 0;
                for entry in backends.hot[r].wipe() {
                    if entry.expires_at > now {
                        at_risk += 1;
                        if backends.cold.newest_version(&entry.id).is_none_or(|v| v < entry.version) {
                            lost += 1;
                        }
                    }
                }
                backends.hot[r].set_available(false);
                faults.down[r] += 1;
                let to = faults.route(r);
                let moved_home = self.backends.audit.count(r, AuditKind::MovedHome);
                faults.outage_starts.push(OutageStart { region: r, detoured: faults.detoured[r], moved_home });
                let failover = &mut faults.failover;
                failover.outages += 1;
                failover.sessions_at_risk += at_risk;
                failover.sessions_lost += lost;
                failover.events.push(OutageRecord {
                    region: region.clone(),
                    failover_to: names[to].clone(),
                    at_seconds: t as f64 / 1000.0,
                    duration_seconds: duration.as_secs_f64(),
                    sessions_at_risk: at_risk,
                    sessions_lost: lost,
                    detour_ms: self.scenario.rtt_ms(region, &names[to]),
                    ..OutageRecord::default()
                });
            }
            Fault::SyncOutage { region, .. } => {
                let Some(r) = names.iter().position(|n| n == region) else { return };
                faults.sync_down[r] += 1;
            }
            Fault::DynamodbThrottle { extra_latency, error_rate, .. } => {
                faults.throttles += 1;
                let extra_us = (extra_latency.0 * 1e6).round() as u64;
                let error_ppm = (error_rate * 1e6).round() as u64;
                backends.context.set_throttle(extra_us, error_ppm);
                backends.context.set_throttled(faults.throttles > 0);
            }
        }
    }

    /// The fault at `index` of the scenario's `faults` ends.
    pub(crate) fn fault_end(&mut self, index: usize) {
        let Some(fault) = self.scenario.faults.get(index) else { return };
        let names = &self.scenario.session_config.hot_storage.regions;
        let faults = &mut self.faults;
        match fault {
            Fault::RegionOutage { region, .. } => {
                let Some(r) = names.iter().position(|n| n == region) else { return };
                faults.down[r] = faults.down[r].saturating_sub(1);
                if faults.down[r] == 0 {
                    self.backends.hot[r].set_available(true);
                }
            }
            Fault::SyncOutage { region, .. } => {
                let Some(r) = names.iter().position(|n| n == region) else { return };
                faults.sync_down[r] = faults.sync_down[r].saturating_sub(1);
            }
            Fault::DynamodbThrottle { .. } => {
                faults.throttles = faults.throttles.saturating_sub(1);
                self.backends.context.set_throttled(faults.throttles > 0);
            }
        }
    }
}
