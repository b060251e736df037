//! [`RedisOnlyBaseline`]: what Redis alone would have to hold, for the cost comparison.

use crate::periodic::MINUTE_MS;

/// The bytes a Redis-only deployment (no cold tier) would hold per home region: every session
/// from its first request until its user logs out or it expires at the cold TTL (what the
/// hybrid keeps in DynamoDB, Redis alone would keep in memory), with the highest value of the
/// current peak window.
pub(crate) struct RedisOnlyBaseline {
    /// Bytes held now, per home region.
    bytes: Vec<u64>,
    /// Highest `bytes` in the current peak window, per home region.
    window_peak: Vec<u64>,
    /// Expiries to come, by minute: `(home region, bytes)`.
    expiries: Vec<Vec<(u16, u32)>>,
    /// Redis's per-session overhead, bytes.
    overhead: u64,
}

impl RedisOnlyBaseline {
    /// Nothing held in `regions` regions, with an expiry calendar of `minutes` minutes.
    pub(crate) fn new(regions: usize, minutes: usize, overhead: u64) -> Self {
        Self { bytes: vec![0; regions], window_peak: vec![0; regions], expiries: vec![Vec::new(); minutes], overhead }
    }

    /// A session of `payload` bytes starts (a new visitor, or a user signing in again).
    pub(crate) fn add(&mut self, region: usize, payload: u32) {
        self.bytes[region] += u64::from(payload) + self.overhead;
        self.window_peak[region] = self.window_peak[region].max(self.bytes[region]);
    }

    /// A session of `payload` bytes ends now (a logout).
    pub(crate) fn remove(&mut self, region: usize, payload: u32) {
        let bytes = &mut self.bytes[region];
        *bytes = bytes.saturating_sub(u64::from(payload) + self.overhead);
    }

    /// A session of `payload` bytes expires at `at` ms (past the calendar: never).
    pub(crate) fn expire_at(&mut self, region: usize, payload: u32, at: u64) {
        let minute = (at / MINUTE_MS) as usize;
        if let Some(bucket) = self.expiries.get_mut(minute) {
            bucket.push((region as u16, payload.saturating_add(self.overhead as u32)));
        }
    }

    /// Drops the sessions that expire in `minute`.
    pub(crate) fn expire_due(&mut self, minute: u64) {
        if let Some(expiring) = self.expiries.get_mut(minute as usize) {
            for (region, session_bytes) in std::mem::take(expiring) {
                let bytes = &mut self.bytes[usize::from(region)];
                *bytes = bytes.saturating_sub(u64::from(session_bytes));
            }
        }
    }

    /// The highest bytes held by `region` since the last call (or the start), starting a new
    /// peak window.
    pub(crate) fn take_window_peak(&mut self, region: usize) -> u64 {
        let peak = self.window_peak[region].max(self.bytes[region]);
        self.window_peak[region] = self.bytes[region];
        peak
    }
}
