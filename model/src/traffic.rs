//! The traffic generator: when users arrive, how long their visits last, what each request does,
//! whether and when they come back (CONTRACT section 2, "Visits and returns").
//!
//! `hotcold simulate` and `hotcold load` both draw their traffic here, from the same random
//! streams (one per purpose, see [`crate::rng::Stream`]), so the same scenario and seed give the
//! same arrivals in both, and the same visits as long as the drivers ask in the same order: each
//! draw is made at the scenario time of the event it belongs to, in the order the methods below
//! document.
//!
//! Per request, in this order: [`TrafficGenerator::visit_requests`] when a returning user starts a
//! visit; [`TrafficGenerator::think_ms`] when more requests follow in the visit;
//! [`TrafficGenerator::serving_region`]; [`TrafficGenerator::updates`] (drawn for every request,
//! used only by a lookup that finds the session); then, for a visit's last request,
//! [`TrafficGenerator::logs_out`], unless it does [`TrafficGenerator::returns`], and if it does
//! [`TrafficGenerator::return_gap_ms`]. No draw depends on what the backends answered, so a live
//! driver whose requests run concurrently makes the same draws as the simulator, as long as it
//! makes them in scenario-time order.

use rand::Rng;

use crate::rng::{Stream, StreamRng};
use crate::scenario::Scenario;
use crate::units::FastSampler;

/// A day, milliseconds.
const DAY_MS: f64 = 86_400_000.0;
/// An hour, milliseconds.
const HOUR_MS: f64 = 3_600_000.0;

/// A new user: the length of the first visit and the size of the session's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor {
    /// Requests in the first visit (at least 1).
    pub requests: u32,
    /// Session data size, bytes (at most `engine.max_data_bytes`).
    pub payload: u32,
}

/// One region's arrivals: a Poisson process whose rate follows a daily sinusoid in local time.
#[derive(Debug, Clone)]
struct ArrivalProcess {
    rng: StreamRng,
    /// Mean arrivals per millisecond.
    base_per_ms: f64,
    /// `(peak_to_trough - 1) / (peak_to_trough + 1)`: the sinusoid's relative amplitude.
    amplitude: f64,
    /// `utc_offset - peak_hour`: hours to add to UTC time for the cosine to peak at the peak hour.
    phase_hours: f64,
}

/// The scenario's synthetic traffic, drawn on demand.
#[derive(Debug)]
pub struct TrafficGenerator {
    arrivals: Vec<ArrivalProcess>,
    /// Visit lengths, payload sizes and think times.
    visit: StreamRng,
    /// Travel, update, logout and return decisions.
    decide: StreamRng,
    /// Gaps before a return.
    gap: StreamRng,
    requests: FastSampler,
    think: FastSampler,
    payload: FastSampler,
    return_gap: FastSampler,
    regions: usize,
    travel_probability: f64,
    update_fraction: f64,
    logout_probability: f64,
    return_probability: f64,
    max_payload: u32,
    end_ms: u64,
}

impl TrafficGenerator {
    /// The traffic of `scenario` drawn from `seed`'s streams, with every region's arrival rate
    /// multiplied by `share` (times the scenario's `sample`): a simulator shard's share of the
    /// users, or 1 for the whole population. Regions are those of `hot_storage.regions`, by index.
    pub fn new(scenario: &Scenario, seed: u64, share: f64) -> Self {
        let names = &scenario.session_config.hot_storage.regions;
        let arrivals = names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let (base_per_ms, amplitude, phase_hours) =
                    scenario.traffic.regions.get(name).map_or((0.0, 0.0, 0.0), |region| {
                        let ratio = region.peak_to_trough;
                        (
                            region.sessions_per_day * scenario.sample * share / DAY_MS,
                            (ratio - 1.0) / (ratio + 1.0),
                            region.utc_offset - region.peak_hour,
                        )
                    });
                ArrivalProcess { rng: Stream::Arrivals(index).rng(seed), base_per_ms, amplitude, phase_hours }
            })
            .collect();
        let traffic = &scenario.traffic;
        Self {
            arrivals,
            visit: Stream::Visit.rng(seed),
            decide: Stream::Decide.rng(seed),
            gap: Stream::ReturnGap.rng(seed),
            requests: traffic.visit.requests.fast_sampler(),
            think: traffic.visit.think_time.fast_sampler(),
            payload: traffic.visit.payload_bytes.fast_sampler(),
            return_gap: traffic.returns.gap.fast_sampler(),
            regions: names.len(),
            travel_probability: traffic.travel_probability,
            update_fraction: traffic.visit.update_fraction,
            logout_probability: traffic.visit.logout_probability,
            return_probability: traffic.returns.probability,
            max_payload: u32::try_from(scenario.engine.max_data_bytes).unwrap_or(u32::MAX),
            end_ms: u64::try_from(scenario.duration.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// True when region `region` has arrivals at all.
    pub fn has_arrivals(&self, region: usize) -> bool {
        self.arrivals.get(region).is_some_and(|process| process.base_per_ms > 0.0)
    }

    /// The next arrival in region `region` after `after_ms` (ms from the start), or `None` when it
    /// would fall at or past the scenario's end: a Poisson process at the peak rate, thinned to the
    /// daily curve.
    pub fn next_arrival(&mut self, region: usize, after_ms: u64) -> Option<u64> {
        let end_ms = self.end_ms as f64;
        let process = self.arrivals.get_mut(region)?;
        if process.base_per_ms <= 0.0 {
            return None;
        }
        let peak_rate = process.base_per_ms * (1.0 + process.amplitude);
        let mut t = after_ms as f64;
        loop {
            let u: f64 = process.rng.random();
            t += -(1.0 - u).ln() / peak_rate;
            if t >= end_ms {
                return None;
            }
            if process.amplitude == 0.0 {
                return Some(t as u64);
            }
            let hours = t / HOUR_MS + process.phase_hours;
            let rate = process.base_per_ms * (1.0 + process.amplitude * (std::f64::consts::TAU * hours / 24.0).cos());
            if process.rng.random::<f64>() * peak_rate < rate {
                return Some(t as u64);
            }
        }
    }

    /// A user who just arrived: the first visit's length, then the session's data size.
    pub fn new_visitor(&mut self) -> Visitor {
        let requests = self.visit_requests();
        let payload = self.payload.sample(&mut self.visit).round();
        let payload = if payload.is_finite() { (payload.max(0.0) as u32).min(self.max_payload) } else { 0 };
        Visitor { requests, payload }
    }

    /// Requests in a visit (at least 1).
    pub fn visit_requests(&mut self) -> u32 {
        let n = self.requests.sample(&mut self.visit).round();
        if n.is_finite() { (n as u32).max(1) } else { 1 }
    }

    /// Think time before the visit's next request, ms (at least 1).
    pub fn think_ms(&mut self) -> u64 {
        let seconds = self.think.sample(&mut self.visit);
        if seconds.is_finite() { ((seconds * 1000.0 + 0.5) as u64).max(1) } else { 1 }
    }

    /// The region that serves a request of a user homed in `home`: `home`, or with
    /// `travel_probability` one of the other regions, uniformly.
    pub fn serving_region(&mut self, home: usize) -> usize {
        if self.regions > 1 && self.travel_probability > 0.0 {
            let travel: f64 = self.decide.random();
            if travel < self.travel_probability {
                let other = self.decide.random_range(0..self.regions - 1);
                return if other >= home { other + 1 } else { other };
            }
        }
        home
    }

    /// Whether this request also changes the session's data (`update_fraction`).
    pub fn updates(&mut self) -> bool {
        self.decide.random::<f64>() < self.update_fraction
    }

    /// Whether the user logs out after the visit's last request (`logout_probability`).
    pub fn logs_out(&mut self) -> bool {
        self.decide.random::<f64>() < self.logout_probability
    }

    /// Whether a user who did not log out comes back later (`returns.probability`).
    pub fn returns(&mut self) -> bool {
        self.decide.random::<f64>() < self.return_probability
    }

    /// The gap from a visit's last request to the return, ms (at least 1; `u64::MAX` if the
    /// distribution's tail gives no finite value).
    pub fn return_gap_ms(&mut self) -> u64 {
        let seconds = self.return_gap.sample(&mut self.gap);
        if seconds.is_finite() { ((seconds * 1000.0 + 0.5) as u64).max(1) } else { u64::MAX }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "name: t
duration: 2d
warmup: 0s
session_config:
  hot_storage: { regions: [us-east-1, eu-west-1] }
traffic:
  regions:
    us-east-1: { sessions_per_day: 24000, utc_offset: -5, peak_hour: 20, peak_to_trough: 3.0 }
    eu-west-1: { sessions_per_day: 12000, peak_to_trough: 1.0 }
  travel_probability: 0.25
";

    fn scenario() -> Scenario {
        Scenario::parse(SCENARIO, "t.yaml").expect("valid scenario")
    }

    fn arrivals(traffic: &mut TrafficGenerator, region: usize) -> Vec<u64> {
        let mut times = Vec::new();
        let mut t = 0;
        while let Some(next) = traffic.next_arrival(region, t) {
            times.push(next);
            t = next;
        }
        times
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic_and_another_seed_other_traffic() {
        let s = scenario();
        let (mut a, mut b, mut c) =
            (TrafficGenerator::new(&s, 1, 1.0), TrafficGenerator::new(&s, 1, 1.0), TrafficGenerator::new(&s, 2, 1.0));
        assert_eq!(arrivals(&mut a, 0), arrivals(&mut b, 0));
        assert_ne!(arrivals(&mut a, 1), arrivals(&mut c, 1));
        let draws = |t: &mut TrafficGenerator| {
            (0..100)
                .map(|_| (t.new_visitor(), t.think_ms(), t.serving_region(0), t.return_gap_ms()))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(&mut a), draws(&mut b));
    }

    #[test]
    fn arrivals_average_the_daily_rate_and_follow_the_daily_curve() {
        let s = scenario();
        let mut traffic = TrafficGenerator::new(&s, 9, 1.0);
        let us = arrivals(&mut traffic, 0);
        let eu = arrivals(&mut traffic, 1);
        // 2 days: 48,000 and 24,000 expected; Poisson sd about 220 and 155.
        assert!((us.len() as f64 - 48_000.0).abs() < 1_000.0, "{}", us.len());
        assert!((eu.len() as f64 - 24_000.0).abs() < 750.0, "{}", eu.len());
        // us-east-1 peaks at 20:00 local = 01:00 UTC and bottoms out 12 hours later, 3:1.
        let in_hour = |times: &[u64], utc_hour: u64| times.iter().filter(|t| (*t / 3_600_000) % 24 == utc_hour).count();
        let (peak, trough) = (in_hour(&us, 1) as f64, in_hour(&us, 13) as f64);
        assert!((peak / trough - 3.0).abs() < 0.4, "peak {peak} trough {trough}");
        // A flat region has no curve.
        let (a, b) = (in_hour(&eu, 1) as f64, in_hour(&eu, 13) as f64);
        assert!((a / b - 1.0).abs() < 0.2, "{a} {b}");
    }

    #[test]
    fn travel_goes_to_another_region_with_the_travel_probability() {
        let s = scenario();
        let mut traffic = TrafficGenerator::new(&s, 3, 1.0);
        let n = 100_000;
        let away = (0..n).filter(|_| traffic.serving_region(1) != 1).count() as f64 / n as f64;
        assert!((away - 0.25).abs() < 0.01, "{away}");
        assert!((0..1000).all(|_| traffic.serving_region(0) < 2));
    }

    #[test]
    fn a_share_scales_the_arrival_rate() {
        let s = scenario();
        let whole = arrivals(&mut TrafficGenerator::new(&s, 4, 1.0), 1).len() as f64;
        let half = arrivals(&mut TrafficGenerator::new(&s, 4, 0.5), 1).len() as f64;
        assert!((half / whole - 0.5).abs() < 0.03, "{half} {whole}");
    }

    #[test]
    fn draws_stay_in_range() {
        let s = scenario();
        let mut traffic = TrafficGenerator::new(&s, 5, 1.0);
        for _ in 0..10_000 {
            let visitor = traffic.new_visitor();
            assert!(visitor.requests >= 1);
            assert!(visitor.payload as usize <= s.engine.max_data_bytes);
            assert!(traffic.think_ms() >= 1);
            assert!(traffic.return_gap_ms() >= 1);
        }
        assert!(!TrafficGenerator::new(&s, 5, 1.0).has_arrivals(7));
    }
}
