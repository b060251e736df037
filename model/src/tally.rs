//! The pieces that build a [`crate::RunRecord`], shared by the simulator and `hotcold load`:
//! latency histograms of one shape, the time-series bucket width, and the latency tally that
//! feeds both the run's percentiles and each bucket's.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::record::{Hist, Latencies, RegionLatency, round3};

/// Largest latency recorded, microseconds (1 minute); larger values are clamped to it.
pub const HIST_MAX_US: u64 = 60_000_000;
/// Significant digits of every latency histogram: 1 % resolution, small enough to merge cheaply.
const HIST_DIGITS: u8 = 2;
/// Most time-series buckets a run has per region (charts and tables stay small).
pub const MAX_BUCKETS: u64 = 4_000;
/// Bucket widths a run may use, minutes: the finest that keeps a run within [`MAX_BUCKETS`].
const BUCKET_MINUTES: [u64; 6] = [1, 5, 15, 60, 360, 1440];
/// A minute, ms.
const MINUTE_MS: u64 = 60_000;

/// An empty latency histogram: 1 us to [`HIST_MAX_US`] at 1 % resolution.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; the fallback is never taken.
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_DIGITS)
        .unwrap_or_else(|_| Histogram::new(HIST_DIGITS).unwrap_or_else(|_| unreachable!()))
}

/// A histogram holding `(value_us, count)` pairs.
pub fn histogram_of(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = latency_histogram();
    for &(value, count) in values {
        let _ = h.record_n(value.min(HIST_MAX_US), count);
    }
    h
}

/// Width of a run's time-series buckets, ms: the finest of 1, 5, 15, 60, 360 and 1,440 minutes
/// that keeps a run of `duration` within [`MAX_BUCKETS`] buckets.
pub fn bucket_ms(duration: Duration) -> u64 {
    let end_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let minutes = BUCKET_MINUTES.into_iter().find(|m| end_ms.div_ceil(m * MINUTE_MS) <= MAX_BUCKETS);
    minutes.unwrap_or(BUCKET_MINUTES[BUCKET_MINUTES.len() - 1]) * MINUTE_MS
}

/// What a request was, for the latency histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// A lookup served from the hot tier.
    HotAccess = 0,
    /// A lookup served from the cold tier (promoted, or served cold while the hot tier was down).
    ColdPromotion = 1,
    /// A request that created the session.
    Create = 2,
    /// Anything else (a failed request, a lookup that found nothing and could not create).
    Other = 3,
}

/// Percentiles of one time-series bucket, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BucketPercentiles {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl BucketPercentiles {
    /// The percentiles of `h` (zeros when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |p: f64| if h.is_empty() { 0.0 } else { round3(h.value_at_quantile(p) as f64 / 1000.0) };
        Self { p50_ms: q(0.50), p95_ms: q(0.95), p99_ms: q(0.99) }
    }
}

/// Every request's latency, recorded once into its region's current bucket; a closed bucket is
/// added to the run's totals (hot access, cold promotion, create; overall and per region) when it
/// lies after the warmup.
#[derive(Debug)]
pub struct LatencyTally {
    hot: Histogram<u64>,
    cold: Histogram<u64>,
    create: Histogram<u64>,
    region_hot: Vec<Histogram<u64>>,
    region_cold: Vec<Histogram<u64>>,
    /// The current bucket of each region, one histogram per [`RequestClass`].
    bucket: Vec<[Histogram<u64>; 4]>,
    /// The closing bucket's classes together.
    scratch: Histogram<u64>,
    /// Every closed bucket's values, when kept (shards merge their percentiles from them).
    bucket_values: Option<Vec<Vec<(u64, u64)>>>,
}

impl LatencyTally {
    /// A tally for `regions` regions; `keep_bucket_values` keeps each closed bucket's values.
    pub fn new(regions: usize, keep_bucket_values: bool) -> Self {
        Self {
            hot: latency_histogram(),
            cold: latency_histogram(),
            create: latency_histogram(),
            region_hot: (0..regions).map(|_| latency_histogram()).collect(),
            region_cold: (0..regions).map(|_| latency_histogram()).collect(),
            bucket: (0..regions).map(|_| std::array::from_fn(|_| latency_histogram())).collect(),
            scratch: latency_histogram(),
            bucket_values: keep_bucket_values.then(Vec::new),
        }
    }

    /// Records one request of `region` that took `latency_us`.
    #[inline]
    pub fn record(&mut self, region: usize, class: RequestClass, latency_us: u64) {
        if let Some(bucket) = self.bucket.get_mut(region) {
            let _ = bucket[class as usize].record(latency_us.min(HIST_MAX_US));
        }
    }

    /// Closes `region`'s current bucket: its percentiles over every request; added to the totals
    /// when `after_warmup`.
    pub fn close_bucket(&mut self, region: usize, after_warmup: bool) -> BucketPercentiles {
        if !self.scratch.is_empty() {
            self.scratch.reset();
        }
        let Some(bucket) = self.bucket.get_mut(region) else { return BucketPercentiles::default() };
        for (class, h) in bucket.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            let _ = self.scratch.add(h);
            if after_warmup {
                let _ = match class {
                    0 => self.hot.add(h).and_then(|()| self.region_hot[region].add(h)),
                    1 => self.cold.add(h).and_then(|()| self.region_cold[region].add(h)),
                    2 => self.create.add(h),
                    _ => Ok(()),
                };
            }
        }
        if let Some(values) = &mut self.bucket_values {
            values.push(self.scratch.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect());
        }
        bucket.iter_mut().filter(|h| !h.is_empty()).for_each(Histogram::reset);
        BucketPercentiles::of(&self.scratch)
    }

    /// The run's latencies so far (closed buckets after the warmup).
    pub fn latencies(&self) -> Latencies {
        Latencies {
            hot_access: Hist::from_histogram(&self.hot),
            cold_promotion: Hist::from_histogram(&self.cold),
            create: Hist::from_histogram(&self.create),
            by_region: self
                .region_hot
                .iter()
                .zip(&self.region_cold)
                .map(|(hot, cold)| RegionLatency {
                    hot_access: Hist::from_histogram(hot),
                    cold_promotion: Hist::from_histogram(cold),
                })
                .collect(),
        }
    }

    /// Every closed bucket's `(value_us, count)` pairs, in closing order (empty unless kept).
    pub fn take_bucket_values(&mut self) -> Vec<Vec<(u64, u64)>> {
        self.bucket_values.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

/// Peak resident set size of this process (VmHWM), bytes; 0 where /proc is not available.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb * 1024))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_the_finest_width_within_4000() {
        let width = |secs: u64| bucket_ms(Duration::from_secs(secs)) / MINUTE_MS;
        assert_eq!(width(2 * 3600), 1);
        assert_eq!(width(4000 * 60), 1);
        assert_eq!(width(4000 * 60 + 1), 5);
        assert_eq!(width(7 * 86_400), 5);
        assert_eq!(width(30 * 86_400), 15);
        assert_eq!(width(400 * 86_400), 360);
    }

    /// Within the histograms' 1 % resolution.
    fn near(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.01
    }

    #[test]
    fn a_bucket_reports_every_request_and_the_totals_only_after_warmup() {
        let mut tally = LatencyTally::new(2, true);
        tally.record(0, RequestClass::HotAccess, 1_000);
        tally.record(0, RequestClass::Other, 9_000);
        let first = tally.close_bucket(0, false);
        assert!(near(first.p99_ms, 9.0), "{first:?}");
        assert_eq!(tally.latencies().hot_access.count, 0, "warmup buckets stay out of the totals");
        tally.record(0, RequestClass::HotAccess, 2_000);
        tally.record(0, RequestClass::ColdPromotion, 12_000);
        tally.record(1, RequestClass::Create, 3_000);
        let second = tally.close_bucket(0, true);
        assert!(near(second.p50_ms, 2.0) && near(second.p99_ms, 12.0), "{second:?}");
        tally.close_bucket(1, true);
        let latencies = tally.latencies();
        assert_eq!(latencies.hot_access.count, 1);
        assert_eq!(latencies.cold_promotion.count, 1);
        assert_eq!(latencies.create.count, 1);
        assert_eq!(latencies.by_region[0].cold_promotion.count, 1);
        assert_eq!(latencies.by_region[1].hot_access.count, 0);
        let values = tally.take_bucket_values();
        assert_eq!(values.len(), 3);
        assert_eq!(values[1].iter().map(|(_, n)| n).sum::<u64>(), 2);
        // A closed bucket starts empty.
        assert_eq!(tally.close_bucket(0, true), BucketPercentiles::default());
    }

    #[test]
    fn latencies_beyond_the_range_are_clamped() {
        let mut tally = LatencyTally::new(1, false);
        tally.record(0, RequestClass::HotAccess, u64::MAX);
        tally.close_bucket(0, true);
        assert!(tally.latencies().hot_access.max <= HIST_MAX_US as f64 / 1000.0 * 1.01);
        assert!(tally.take_bucket_values().is_empty());
    }
}
