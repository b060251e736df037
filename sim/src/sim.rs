//! One shard's simulation: simulated time driving the real engine over the simulated stores.
//!
//! Only users in the middle of a visit have a pending event in the event queue (tens of thousands
//! for ShopFlow, on a timing wheel: `EventQueue`); users waiting to return sit in a calendar of
//! one-minute buckets and enter the queue at the minute of their return. System events (arrivals,
//! sync passes, ticks, faults) are a handful of entries. Ties in time are broken by fixed rules
//! (users before system events; see `EventQueue`), and every random draw comes from a seeded
//! stream dedicated to one purpose, so a shard is a pure function of the scenario, its seed and
//! its share of the traffic.
//!
//! # Speed
//! At full scale the loop is bound by memory latency, so it works ahead: each user remembers the
//! slab slot of its hot record, and while one event runs the next event's record, the user
//! record of the one after and the wheel slot of the user's next request are prefetched (hints
//! only: they never change a result).
//!
//! This module is public only for the shard limits, which it re-exports from the crate root.

use std::time::Duration;

use hotcold_engine::Pass;
use hotcold_model::baseline::RedisOnlyBaseline;
use hotcold_model::scenario::{Fault, Scenario};
use hotcold_model::tally::bucket_ms;
use hotcold_model::traffic::TrafficGenerator;

use crate::backends::Backends;
use crate::event::Event;
use crate::fault::Faults;
use crate::measure::Meters;
use crate::migration::Migrator;
use crate::periodic::MINUTE_MS;
use crate::population::Population;
use crate::prefetch::prefetch;
use crate::queue::EventQueue;
use crate::run::{ProgressReporter, SimError};
use crate::stores::{NO_SLOT, SimColdStore};

/// Events between two progress reports (a power of two: the check is a mask).
const PROGRESS_EVERY_EVENTS: u64 = 1 << 18;

/// Shortest peak window, ms.
const MIN_PEAK_WINDOW_MS: u64 = 10_000;

/// Most peak windows in a run (runs over 30 days get longer windows): bounds the memory the peak
/// rows take.
const MAX_PEAK_WINDOWS: u64 = 1 << 18;

/// One shard of a run: its events, its traffic, its users, its backends and what it measures.
pub(crate) struct Sim {
    /// The scenario, as given (the shard's random streams come from a seed of its own).
    pub(crate) scenario: Scenario,
    /// The run's fixed spans.
    pub(crate) timing: Timing,
    /// Pending events (a timing wheel; see [`EventQueue`]).
    pub(crate) events: EventQueue,
    /// This shard's share of the traffic, and every draw of what users do.
    pub(crate) traffic: TrafficGenerator,
    /// The users, in a visit or waiting to return.
    pub(crate) population: Population,
    /// The engine over the simulated stores.
    pub(crate) backends: Backends,
    /// What the shard measures beyond the stores' own meters.
    pub(crate) meters: Meters,
    /// What Redis alone would hold, for the cost comparison.
    pub(crate) baseline: RedisOnlyBaseline,
    /// The faults in force, and what they cost.
    pub(crate) faults: Faults,
    /// The rollout from the legacy store, with a `migration:` block.
    pub(crate) migration: Option<Migrator>,
}

impl Sim {
    /// A shard of `scenario` with one of `shards` shares of the traffic, its random streams drawn
    /// from `seed`; it keeps the analytics table when `analytics` (`--analytics`).
    pub(crate) fn new(scenario: Scenario, seed: u64, shards: usize, analytics: bool) -> Result<Self, SimError> {
        let regions = scenario.session_config.hot_storage.regions.len();
        // The cold table's compact records bound the regions and the run's length.
        SimColdStore::fits(regions, scenario.duration).map_err(SimError::TooLarge)?;
        let timing = Timing::new(&scenario);
        let minutes = timing.end_ms.div_ceil(MINUTE_MS) as usize + 1;
        Ok(Self {
            timing,
            events: EventQueue::new(),
            traffic: TrafficGenerator::new(&scenario, seed, 1.0 / shards as f64),
            population: Population::new(regions, minutes),
            backends: Backends::new(&scenario, seed, analytics)?,
            meters: Meters::new(regions, shards > 1),
            baseline: RedisOnlyBaseline::new(regions, minutes, scenario.costs.redis.bytes_overhead_per_session),
            faults: Faults::new(&scenario),
            migration: Migrator::new(&scenario, seed, shards, minutes),
            scenario,
        })
    }

    /// Runs every event before the end, then what is due at the very end: the sync passes, the
    /// close of the last bucket and of the last peak window.
    pub(crate) fn run(&mut self, progress: &mut ProgressReporter<'_>) {
        self.schedule_first_events();
        while let Some((t, event)) = self.events.pop(&self.population.users) {
            if self.population.too_many_users {
                break;
            }
            if t >= self.timing.end_ms {
                break;
            }
            self.meters.counts.events += 1;
            self.backends.set_time(t);
            self.prefetch_next();
            self.dispatch(event, t);
            if self.meters.counts.events & (PROGRESS_EVERY_EVENTS - 1) == 0 {
                progress.report(t, self.timing.end_ms, &self.meters.counts);
            }
        }
        let end_ms = self.timing.end_ms;
        self.backends.set_time(end_ms);
        // Passes due at the very end run, as the passes at the end of every other bucket do
        // before it closes, so the last bucket's hot count compares with the others.
        let end = Duration::from_millis(end_ms);
        if self.backends.schedule.is_due(Pass::Demotion, end) {
            (0..self.regions()).for_each(|r| self.sync_pass(r));
        }
        if self.backends.schedule.is_due(Pass::Flush, end) {
            (0..self.regions()).for_each(|r| self.flush_pass(r));
        }
        self.close_last_bucket();
        self.record_peaks();
    }

    /// True when the users in a visit at once outgrew the slab: the run must stop with an error.
    pub(crate) fn ran_out_of_user_slots(&self) -> bool {
        self.population.too_many_users
    }

    /// Regions of the scenario.
    pub(crate) fn regions(&self) -> usize {
        self.backends.hot.len()
    }

    /// Schedules `event` at `at` ms.
    pub(crate) fn push(&mut self, at: u64, event: Event) {
        // Nothing at or after the end runs, so later times all become the end: keys stay in range
        // (durations are at most 400 days) whatever a distribution's tail draws.
        let at = at.min(self.timing.end_ms);
        self.events.push(at, event, &mut self.population.users);
    }

    /// The first arrival of each region, the sync passes, the tick, the first peak window, the
    /// end of the warm-up and every fault's start and end.
    fn schedule_first_events(&mut self) {
        for r in 0..self.regions() {
            if self.traffic.has_arrivals(r) {
                if let Some(at) = self.traffic.next_arrival(r, 0) {
                    self.push(at, Event::Arrival(r));
                }
            }
            for pass in self.backends.schedule.passes().collect::<Vec<_>>() {
                self.push_next_pass(pass, r, 0);
            }
        }
        self.push(0, Event::Tick);
        self.push(self.timing.peak_window_ms, Event::PeakWindow);
        self.push(self.timing.warmup_ms, Event::WarmupEnd);
        let windows: Vec<_> = self.scenario.faults.iter().map(Fault::window).collect();
        for (index, (start, end)) in windows.into_iter().enumerate() {
            self.push(millis(start), Event::FaultStart(index));
            self.push(millis(end), Event::FaultEnd(index));
        }
    }

    /// Runs `event`, due at `t` ms; a recurring event schedules its next occurrence first.
    fn dispatch(&mut self, event: Event, t: u64) {
        match event {
            Event::User(slot) => self.user_event(slot, t),
            Event::Arrival(region) => {
                if let Some(next) = self.traffic.next_arrival(region, t) {
                    self.push(next, Event::Arrival(region));
                }
                self.arrival(region, t);
            }
            Event::SyncPass(region) => {
                self.push_next_pass(Pass::Demotion, region, t);
                self.sync_pass(region);
            }
            Event::FlushPass(region) => {
                self.push_next_pass(Pass::Flush, region, t);
                self.flush_pass(region);
            }
            Event::Tick => self.tick(t),
            Event::FaultStart(index) => self.fault_start(index, t),
            Event::FaultEnd(index) => self.fault_end(index),
            Event::WarmupEnd => self.end_warmup(),
            Event::PeakWindow => {
                self.push(t + self.timing.peak_window_ms, Event::PeakWindow);
                self.record_peaks();
            }
        }
    }

    /// Starts loading what the next events will most likely need, so their cache misses overlap
    /// this event's work: the hot record of the next event's user (its slot was remembered), and
    /// the user record of the one after. Only hints: nothing here changes a result.
    #[inline]
    fn prefetch_next(&self) {
        let users = &self.population.users;
        let (next, after) = self.events.upcoming_users(users);
        if let Some(user) = next.and_then(|slot| users.get(slot as usize)) {
            let hint = user.hot_hint;
            if hint != NO_SLOT {
                if let Some(hot) = self.backends.hot.get((hint >> 32) as usize) {
                    hot.prefetch(hint as u32);
                }
            }
        }
        if let Some(user) = after.and_then(|slot| users.get(slot as usize)) {
            prefetch(user);
        }
    }
}

/// The fixed spans of a run, ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The run's length: nothing at or after it runs.
    pub(crate) end_ms: u64,
    /// The warm-up, which averages and percentiles leave out.
    pub(crate) warmup_ms: u64,
    /// A time-series bucket.
    pub(crate) bucket_ms: u64,
    /// A peak window.
    pub(crate) peak_window_ms: u64,
    /// The cold tier's TTL: a session idle longer is expected to be gone.
    pub(crate) cold_ttl_ms: u64,
}

impl Timing {
    fn new(scenario: &Scenario) -> Self {
        let end_ms = millis(scenario.duration);
        Self {
            end_ms,
            warmup_ms: millis(scenario.warmup),
            bucket_ms: bucket_ms(scenario.duration),
            peak_window_ms: peak_window_ms(end_ms),
            cold_ttl_ms: millis(scenario.session_config.cold_storage.ttl),
        }
    }
}

/// The length of a run's peak windows, ms, for a run of `end_ms`.
pub(crate) fn peak_window_ms(end_ms: u64) -> u64 {
    end_ms.div_ceil(MAX_PEAK_WINDOWS).max(MIN_PEAK_WINDOW_MS)
}

/// `duration` in whole milliseconds (saturating).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
