//! [`HotTable`]: a hot tier's sessions, as compact records in a slab of stable slots.

use hotcold_engine::session::TOMBSTONE_VERSION;
use hotcold_engine::{RegionId, SessionId};
use rustc_hash::FxHashMap;

/// A hot session as the simulated Redis holds it (no payload, only its size): 64 bytes, aligned
/// to one cache line, so reading or prefetching a record is one line (a large `Vec` from malloc
/// starts 16 bytes past a line, and every unaligned record would straddle two).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(super) struct HotRec {
    pub(super) id: SessionId,
    pub(super) created_at: u64,
    pub(super) last_access: u64,
    pub(super) expires_at: u64,
    pub(super) version: u32,
    pub(super) persisted: u32,
    pub(super) data_len: u32,
    /// Stamp of this session's current entry in the idle index
    /// ([`IdleIndex`](super::idle::IdleIndex)); entries with another stamp are stale.
    pub(super) listing: u32,
    pub(super) hot_region: u16,
}

const _: () = assert!(size_of::<HotRec>() == 64, "a hot record is one cache line");

impl HotRec {
    /// 1 for a session, 0 for a removal's tombstone: what the session gauges count (a tombstone
    /// takes Redis memory, counted in bytes, but is no session).
    pub(super) fn sessions(&self) -> u64 {
        u64::from(u64::from(self.version) < TOMBSTONE_VERSION)
    }
}

/// No session: marks a vacant slot (no real session is homed in region `u16::MAX`).
pub(super) const VACANT: SessionId = SessionId::from_parts([0; 16], RegionId(u16::MAX));

/// A hot tier's sessions: records in a slab of fixed slots, found by an index from id to slot.
///
/// The slot of a session is stable while it stays hot, so the simulator can remember it per user
/// (the hint of [`StoreContext::begin_request`](crate::stores::StoreContext::begin_request)) and
/// ask the CPU to fetch the record one event ahead
/// ([`SimHotStore::prefetch`](super::SimHotStore::prefetch)): at full scale a hash probe into the
/// hot tier is a cache miss on almost every request.
#[derive(Debug, Default)]
pub(super) struct HotTable {
    index: FxHashMap<SessionId, u32>,
    /// The slab: records by slot; a vacant slot holds [`VACANT`].
    pub(super) slots: Vec<HotRec>,
    free: Vec<u32>,
}

impl HotTable {
    pub(super) fn slot(&self, id: &SessionId) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// `hint` if it is the slot of `id` (checked: a stale hint only costs the index probe).
    pub(super) fn hinted(&self, hint: Option<u32>, id: &SessionId) -> Option<u32> {
        let hint = hint?;
        self.slots.get(hint as usize).is_some_and(|held| held.id == *id).then_some(hint)
    }

    pub(super) fn get(&self, id: &SessionId) -> Option<&HotRec> {
        self.slot(id).map(|i| &self.slots[i as usize])
    }

    pub(super) fn get_mut(&mut self, id: &SessionId) -> Option<&mut HotRec> {
        self.slot(id).map(|i| &mut self.slots[i as usize])
    }

    /// Stores `rec`; returns its slot and the record it replaced.
    pub(super) fn insert(&mut self, rec: HotRec) -> (u32, Option<HotRec>) {
        if let Some(i) = self.slot(&rec.id) {
            return (i, Some(std::mem::replace(&mut self.slots[i as usize], rec)));
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = rec;
                i
            }
            None => {
                self.slots.push(rec);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(rec.id, i);
        (i, None)
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<HotRec> {
        let i = self.index.remove(id)?;
        let slot = &mut self.slots[i as usize];
        let rec = *slot;
        slot.id = VACANT;
        self.free.push(i);
        Some(rec)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &HotRec> {
        self.index.values().map(|&i| &self.slots[i as usize])
    }
}
