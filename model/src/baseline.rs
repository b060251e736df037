//! [`RedisOnlyBaseline`]: what Redis alone would have to hold, for the cost comparison (CONTRACT
//! section 4: "the same traffic with every session kept in Redis until `cold_storage.ttl` after
//! its last access"). The simulator and `hotcold load` both keep one.

/// A minute, ms: the expiry calendar's step.
const MINUTE_MS: u64 = 60_000;

/// The bytes a Redis-only deployment (no cold tier) would hold per home region: every session
/// from its first request until its user logs out or it expires at the cold TTL (what the
/// hybrid keeps in DynamoDB, Redis alone would keep in memory), with the highest value of the
/// current peak window.
pub struct RedisOnlyBaseline {
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
    /// Nothing held in `regions` regions, with an expiry calendar of `minutes` minutes (sessions
    /// expiring later are held to the end).
    pub fn new(regions: usize, minutes: usize, overhead: u64) -> Self {
        Self { bytes: vec![0; regions], window_peak: vec![0; regions], expiries: vec![Vec::new(); minutes], overhead }
    }

    /// A session of `payload` bytes starts (a new visitor, or a user signing in again).
    pub fn add(&mut self, region: usize, payload: u32) {
        self.bytes[region] += u64::from(payload) + self.overhead;
        self.window_peak[region] = self.window_peak[region].max(self.bytes[region]);
    }

    /// A session of `payload` bytes ends now (a logout).
    pub fn remove(&mut self, region: usize, payload: u32) {
        let bytes = &mut self.bytes[region];
        *bytes = bytes.saturating_sub(u64::from(payload) + self.overhead);
    }

    /// A session of `payload` bytes expires at `at` ms (past the calendar: never).
    pub fn expire_at(&mut self, region: usize, payload: u32, at: u64) {
        let minute = (at / MINUTE_MS) as usize;
        if let Some(bucket) = self.expiries.get_mut(minute) {
            bucket.push((region as u16, payload.saturating_add(self.overhead as u32)));
        }
    }

    /// Drops the sessions that expire in `minute` (minutes from the start; call it once for
    /// each minute, in order, at the minute's start).
    pub fn expire_due(&mut self, minute: u64) {
        if let Some(expiring) = self.expiries.get_mut(minute as usize) {
            for (region, session_bytes) in std::mem::take(expiring) {
                let bytes = &mut self.bytes[usize::from(region)];
                *bytes = bytes.saturating_sub(u64::from(session_bytes));
            }
        }
    }

    /// The bytes `region` holds now.
    pub fn bytes(&self, region: usize) -> u64 {
        self.bytes.get(region).copied().unwrap_or(0)
    }

    /// The highest bytes held by `region` since the last call (or the start), starting a new
    /// peak window.
    pub fn take_window_peak(&mut self, region: usize) -> u64 {
        let peak = self.window_peak[region].max(self.bytes[region]);
        self.window_peak[region] = self.bytes[region];
        peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_count_from_their_start_to_their_logout_or_expiry_minute() {
        let mut baseline = RedisOnlyBaseline::new(2, 10, 100);
        baseline.add(0, 900); // 1,000 bytes
        baseline.add(0, 400); // 500
        baseline.add(1, 0); // 100
        assert_eq!(baseline.take_window_peak(0), 1_500);
        baseline.remove(0, 400);
        baseline.expire_at(0, 900, 3 * MINUTE_MS + 5);
        baseline.expire_at(1, 0, 60 * MINUTE_MS); // past the calendar: held to the end
        baseline.expire_due(2);
        assert_eq!(baseline.take_window_peak(0), 1_500, "a window counts what was held at its start");
        baseline.expire_due(3);
        assert_eq!(baseline.take_window_peak(0), 1_000, "the logout came before this window");
        assert_eq!(baseline.take_window_peak(0), 0, "expired in minute 3");
        assert_eq!(baseline.take_window_peak(1), 100);
    }
}
