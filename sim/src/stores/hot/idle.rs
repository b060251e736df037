//! [`IdleIndex`]: a hot tier's sessions by the minute of their last access, for the sync job.

use std::collections::VecDeque;

/// Milliseconds in a minute: the idle index's bucket width.
pub(super) const MINUTE_MS: u64 = 60_000;

/// Idle-index entries a pass looks ahead to prefetch slab records.
pub(super) const IDLE_PREFETCH_AHEAD: usize = 8;

/// Most empty buckets added in front for a session older than every bucket held (a week); older
/// ones go to that oldest bucket, which every pass reaches.
const MAX_BUCKETS_BEFORE: u64 = 7 * 1440;

/// The idle index: hot sessions listed in buckets by the minute of their last access as of when
/// they were listed, oldest minute first.
///
/// Requests do not touch it (Redis's sorted set costs production one write per access; here
/// that would be the simulator's largest memory stream): a session is listed when it is put, and
/// a demotion pass that finds a listed session touched since moves it to the bucket of its
/// current last access. Entries whose session is gone or listed elsewhere are stale and dropped
/// when a pass reaches them. A pass so looks at about two entries per visit instead of one per
/// request, and still demotes exactly the sessions whose last access is at or before its cutoff.
///
/// An entry names the session's slab slot and the stamp it was listed with (8 bytes): a pass reads
/// the slot's record directly, prefetching a few entries ahead, with no index probe. A slot freed
/// or reused since holds another stamp (or no session), so its entry is stale.
#[derive(Debug, Default)]
pub(super) struct IdleIndex {
    /// The minute of the first bucket.
    pub(super) first_minute: u64,
    /// Per minute from `first_minute`, the entries `(slot, stamp)` listed in it.
    pub(super) buckets: VecDeque<Vec<(u32, u32)>>,
    /// The stamp of the next entry (wraps after 2^32 listings, far beyond any run).
    next_listing: u32,
}

impl IdleIndex {
    /// Lists the session in `slot` in the bucket of `minute`; returns the entry's stamp.
    pub(super) fn add(&mut self, minute: u64, slot: u32) -> u32 {
        if self.buckets.is_empty() {
            self.first_minute = minute;
        }
        if minute < self.first_minute {
            let minute = minute.max(self.first_minute.saturating_sub(MAX_BUCKETS_BEFORE));
            for _ in minute..self.first_minute {
                self.buckets.push_front(Vec::new());
            }
            self.first_minute = minute;
        }
        let offset = usize::try_from(minute.max(self.first_minute) - self.first_minute).unwrap_or(usize::MAX);
        while self.buckets.len() <= offset {
            self.buckets.push_back(Vec::new());
        }
        let listing = self.next_listing;
        self.next_listing = self.next_listing.wrapping_add(1);
        self.buckets[offset].push((slot, listing));
        listing
    }
}
