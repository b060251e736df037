//! [`HotState`]: what one simulated Redis tier holds, behind its store's lock.

use std::collections::BTreeSet;
use std::sync::Arc;

use hotcold_engine::{HotLookup, SessionId};

use super::idle::{IdleIndex, MINUTE_MS};
use super::table::{HotRec, HotTable, VACANT};
use crate::stores::StoreContext;
use crate::stores::meter::Gauge;

/// A tier's sessions, their idle index, the write-behind work list and the tier's gauges.
#[derive(Debug)]
pub(super) struct HotState {
    pub(super) context: Arc<StoreContext>,
    pub(super) map: HotTable,
    /// Sessions by the minute they were last seen idle-listed (see [`IdleIndex`]).
    pub(super) idle: IdleIndex,
    /// Sessions the cold tier lacks the newest data of (only kept when a write-behind pass runs),
    /// ordered so each pass takes the first `limit` in O(limit) and in a deterministic order.
    pub(super) dirty: Option<BTreeSet<SessionId>>,
    /// Failover copies held (sessions put with `hot_region` set), for `HotStore::guests`;
    /// empty outside failovers, so keeping it costs the hot path one emptiness check.
    pub(super) guests: BTreeSet<SessionId>,
    /// Sessions held.
    pub(super) count: Gauge,
    /// Redis bytes held, before fragmentation: sum of (payload + overhead).
    pub(super) bytes: Gauge,
}

/// What an idle-index entry stands for, at a demotion pass.
pub(super) enum Indexed {
    /// Idle since the pass's cutoff or longer: a candidate.
    Live(HotRec),
    /// Past its TTL: drop it.
    Expired(SessionId),
    /// A removal's tombstone past its TTL: dropped quietly (no session expired).
    Ended(SessionId),
    /// Touched since it was listed: list it again in the bucket of this minute.
    Touched(u64),
    /// Removed, or listed in another bucket: drop the entry.
    Stale,
}

impl HotState {
    /// An empty tier; `track_dirty` keeps the write-behind work list.
    pub(super) fn new(context: Arc<StoreContext>, track_dirty: bool) -> Self {
        Self {
            context,
            map: HotTable::default(),
            idle: IdleIndex::default(),
            dirty: track_dirty.then(BTreeSet::new),
            guests: BTreeSet::new(),
            count: Gauge::default(),
            bytes: Gauge::default(),
        }
    }

    /// What the entry `(slot, listing)` stands for at a pass with `cutoff`.
    pub(super) fn classify(&self, slot: u32, listing: u32, cutoff: u64, now: u64) -> Indexed {
        match self.map.slots.get(slot as usize) {
            Some(rec) if rec.listing == listing && rec.id != VACANT => {
                if rec.expires_at <= now && rec.sessions() == 0 {
                    Indexed::Ended(rec.id)
                } else if rec.expires_at <= now {
                    Indexed::Expired(rec.id)
                } else if rec.last_access <= cutoff {
                    Indexed::Live(*rec)
                } else {
                    Indexed::Touched(rec.last_access / MINUTE_MS)
                }
            }
            _ => Indexed::Stale,
        }
    }

    pub(super) fn count_add(&mut self, now: u64, n: u64) {
        self.count.add(now, n);
        self.context.hot_added(n);
    }

    pub(super) fn count_sub(&mut self, now: u64, n: u64) {
        self.count.sub(now, n);
        self.context.hot_removed(n);
    }

    pub(super) fn remove(&mut self, id: &SessionId, now: u64, overhead: u64) -> Option<HotRec> {
        let rec = self.map.remove(id)?;
        if let Some(dirty) = &mut self.dirty {
            dirty.remove(id);
        }
        if !self.guests.is_empty() {
            self.guests.remove(id);
        }
        self.count_sub(now, rec.sessions());
        self.bytes.sub(now, u64::from(rec.data_len) + overhead);
        Some(rec)
    }

    /// The live record (looked for in the `hint` slot first), dropping it if its TTL ran out.
    #[allow(clippy::result_large_err, reason = "the error is a Miss, never the large Hit")]
    pub(super) fn live(
        &mut self,
        hint: Option<u32>,
        id: &SessionId,
        now: u64,
        overhead: u64,
    ) -> Result<&mut HotRec, HotLookup> {
        let Some(slot) = self.map.hinted(hint, id).or_else(|| self.map.slot(id)) else {
            return Err(HotLookup::Miss);
        };
        if self.map.slots[slot as usize].expires_at <= now {
            // A tombstone that ran out is simply gone, as in Redis: no session expired.
            let was_session = self.map.slots[slot as usize].sessions() == 1;
            self.remove(id, now, overhead);
            return Err(if was_session { HotLookup::Expired } else { HotLookup::Miss });
        }
        Ok(&mut self.map.slots[slot as usize])
    }
}
