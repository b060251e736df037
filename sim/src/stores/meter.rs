//! What the simulated stores count: the calls of the operation running now ([`Meter`], drained
//! by the simulator to sample latencies) and each region's request units and bytes over the run
//! ([`RegionLedger`], for the cost model), with the [`Counter`] and time-weighted [`Gauge`] they
//! are made of.

use std::sync::atomic::{AtomicU64, Ordering};

use hotcold_model::metering::Charge;

/// A counter for the single-threaded simulator: a plain load and store, no read-modify-write
/// atomic on the hot path (the atomic is only there because the engine's traits need `Sync`).
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// The value.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the value to `value`.
    #[inline]
    pub(crate) fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value, resetting it to 0.
    #[inline]
    pub(crate) fn take(&self) -> u64 {
        let value = self.get();
        self.set(0);
        value
    }
}

/// A time-weighted gauge: its current value, the integral over time (for averages) and the
/// highest value of the current peak window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Gauge {
    /// Current value.
    pub(crate) value: u64,
    /// Integral of the value over time, in value × milliseconds.
    pub(crate) area: f64,
    /// Highest value since the last [`Gauge::take_window_peak`]: shards of a run record these per
    /// time window so the peak of their sum can be found (the sum of their peaks overstates it).
    window_peak: u64,
    /// Time of the last change, ms.
    since: u64,
}

impl Gauge {
    /// Moves the integral up to `now`.
    #[inline]
    pub(crate) fn advance(&mut self, now: u64) {
        if now > self.since {
            self.area += self.value as f64 * (now - self.since) as f64;
            self.since = now;
        }
    }

    /// Adds `delta` at `now`.
    #[inline]
    pub(crate) fn add(&mut self, now: u64, delta: u64) {
        self.advance(now);
        self.value += delta;
        self.window_peak = self.window_peak.max(self.value);
    }

    /// Subtracts `delta` at `now`.
    #[inline]
    pub(crate) fn sub(&mut self, now: u64, delta: u64) {
        self.advance(now);
        self.value = self.value.saturating_sub(delta);
    }

    /// The highest value since the last call (or the start), starting a new window.
    pub(crate) fn take_window_peak(&mut self) -> u64 {
        let peak = self.window_peak.max(self.value);
        self.window_peak = self.value;
        peak
    }
}

/// The calls one operation made, drained by the simulator after each request to sample latency.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    /// Redis calls.
    pub(crate) redis_calls: Counter,
    /// Round-trip time added by calls to another region's Redis, microseconds.
    pub(crate) rtt_us: Counter,
    /// DynamoDB calls.
    pub(crate) dynamo_calls: Counter,
    /// Extra latency of throttled DynamoDB calls, microseconds.
    pub(crate) throttle_us: Counter,
}

/// Request units and bytes of one region, accumulated over the run (CONTRACT section 4).
#[derive(Debug, Default)]
pub(crate) struct RegionLedger {
    /// Write request units: ceil(item / 1024) per item written or deleted.
    pub(crate) wru: Counter,
    /// Read request units: ceil(item / 4096) per strongly consistent read (1 for a miss).
    pub(crate) rru: Counter,
    /// Write units paid again in every other region of the global table.
    pub(crate) replicated_wru: Counter,
    /// Bytes replicated out of this region (item bytes × other regions).
    pub(crate) replicated_bytes: Counter,
    /// DynamoDB calls (batches count once per 25 items).
    pub(crate) dynamo_calls: Counter,
    /// DynamoDB calls that failed (throttled or down).
    pub(crate) dynamo_errors: Counter,
    /// Redis calls made against this region's tier.
    pub(crate) redis_calls: Counter,
    /// WRU the other regions wrote into sessions tables with a replica here (paid again here).
    pub(crate) replica_wru: Counter,
    /// Audit records the other regions stored into audit tables with a replica here.
    pub(crate) replica_audit_events: Counter,
}

/// What one home region's sessions had stored outside the home region (see
/// `hotcold_model::record::HomeResidency`).
#[derive(Debug, Default)]
pub(crate) struct HomeExposure {
    pub(crate) cold_writes: Counter,
    pub(crate) cold_bytes: Counter,
    pub(crate) hot_writes: Counter,
    pub(crate) hot_bytes: Counter,
    pub(crate) audit_records: Counter,
}

impl RegionLedger {
    /// Adds what one DynamoDB call cost this region.
    #[inline]
    pub(crate) fn charge(&self, charge: Charge) {
        self.wru.add(charge.wru);
        self.rru.add(charge.rru);
        self.replicated_wru.add(charge.replicated_wru);
        self.replicated_bytes.add(charge.replicated_bytes);
    }
}
