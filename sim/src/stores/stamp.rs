//! [`Stamp`]: a moment in 5 bytes, as the simulated DynamoDB table stores its records' times.
//!
//! The table holds tens of millions of records at full scale, three moments each: as 40-bit
//! millisecond offsets from the table's [`TimeBase`] (the clock's time when the table was made)
//! they take 15 bytes instead of 24, and as byte arrays they need no alignment, so a record packs
//! with no padding.

use std::time::Duration;

/// Largest distance of a stored moment from the table's base, ms: 2^39 - 1 (17.4 years), either
/// way. A run's moments are clock readings from the base to the base plus its duration (the
/// simulator refuses longer runs: [`fits`]); the conformance suite also stores moments a month
/// before the base.
pub(crate) const MAX_OFFSET_MS: u64 = (1 << 39) - 1;

/// The offset kept for the moment 0 (the Unix epoch): a removal's tombstone has `created_at` 0
/// (`Session::tombstone`), far more than [`MAX_OFFSET_MS`] before any base the simulator uses.
const ZERO_MOMENT: i64 = -(1 << 39);

/// A moment as a signed 40-bit millisecond offset from a [`TimeBase`], little-endian, or 0
/// (see [`ZERO_MOMENT`]). Meaningless without the base it was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp([u8; 5]);

impl Stamp {
    fn from_offset(offset: i64) -> Self {
        let b = offset.to_le_bytes();
        Self([b[0], b[1], b[2], b[3], b[4]])
    }

    fn offset(self) -> i64 {
        let [b0, b1, b2, b3, b4] = self.0;
        // The 40 bits at the top of an i64, then an arithmetic shift back: sign-extended.
        i64::from_le_bytes([0, 0, 0, b0, b1, b2, b3, b4]) >> 24
    }
}

/// The moment [`Stamp`]s are offsets from: the clock's time when the table was made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeBase {
    base_ms: u64,
}

impl TimeBase {
    /// Stamps relative to `base_ms` (ms since the Unix epoch).
    pub(crate) const fn new(base_ms: u64) -> Self {
        Self { base_ms }
    }

    /// `at_ms` as a stamp. Exact for 0 and for every moment within [`MAX_OFFSET_MS`] of the base
    /// (a debug build panics on any other; a release build saturates to the nearest end, which
    /// [`fits`] keeps runs from ever needing).
    #[inline]
    pub(crate) fn stamp(self, at_ms: u64) -> Stamp {
        if at_ms == 0 {
            return Stamp::from_offset(ZERO_MOMENT);
        }
        let offset = i128::from(at_ms) - i128::from(self.base_ms);
        let max = i128::from(MAX_OFFSET_MS);
        debug_assert!(
            (-max..=max).contains(&offset),
            "moment {at_ms} ms is more than {MAX_OFFSET_MS} ms from the table's base {} ms",
            self.base_ms
        );
        // In range of an i64 after the clamp.
        Stamp::from_offset(offset.clamp(-max, max) as i64)
    }

    /// The moment `stamp` stands for, ms since the Unix epoch.
    #[inline]
    pub(crate) fn at(self, stamp: Stamp) -> u64 {
        match stamp.offset() {
            ZERO_MOMENT => 0,
            // Never below 0 for a stamp of a moment (0 has its own offset).
            offset => self.base_ms.saturating_add_signed(offset),
        }
    }
}

/// `Err` with the reason when a run lasting `duration` could store a moment its table cannot:
/// every moment a run's stores see is a clock reading between the start (the table's base) and
/// the end. Expiry and retention add nothing stored: TTLs are added to a stored moment when it
/// is compared, never stored.
pub(crate) fn fits(duration: Duration) -> Result<(), String> {
    if duration.as_millis() > u128::from(MAX_OFFSET_MS) {
        return Err(format!(
            "duration {} s is longer than the simulated DynamoDB table can time ({} s, 17.4 years: \
             its records keep 40-bit millisecond offsets from the start)",
            duration.as_secs(),
            MAX_OFFSET_MS / 1000
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simulator's start (2026-01-05).
    const BASE: u64 = 1_767_571_200_000;

    #[test]
    fn moments_within_range_round_trip_exactly() {
        let time = TimeBase::new(BASE);
        let day = 86_400_000;
        for at in [
            BASE,
            BASE + 1,
            BASE - 1,
            BASE + 400 * day,
            BASE - 31 * day,
            BASE + MAX_OFFSET_MS,
            BASE - MAX_OFFSET_MS,
            BASE + (1 << 32),
            BASE - (1 << 32),
            0,
        ] {
            assert_eq!(time.at(time.stamp(at)), at, "{at}");
        }
        // A base near 0 (a test clock): moments just after 0 are offsets too, 0 is still 0.
        let near = TimeBase::new(1_000);
        for at in [0, 1, 999, 1_000, 1_001, MAX_OFFSET_MS] {
            assert_eq!(near.at(near.stamp(at)), at, "{at}");
        }
    }

    #[test]
    fn stamps_are_five_bytes() {
        assert_eq!(size_of::<Stamp>(), 5);
        assert_eq!(align_of::<Stamp>(), 1);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "from the table's base")]
    fn a_moment_out_of_range_is_caught_in_debug_builds() {
        let _ = TimeBase::new(BASE).stamp(BASE + MAX_OFFSET_MS + 1);
    }

    #[test]
    fn runs_longer_than_the_range_are_refused() {
        assert!(fits(Duration::from_secs(400 * 86_400)).is_ok(), "the longest valid scenario");
        assert!(fits(Duration::from_millis(MAX_OFFSET_MS)).is_ok());
        let err = fits(Duration::from_millis(MAX_OFFSET_MS + 1)).unwrap_err();
        assert!(err.contains("17.4 years"), "{err}");
    }
}
