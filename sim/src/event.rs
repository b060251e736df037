//! [`Event`]: what can be due at a moment of simulated time, and its compact form in the event
//! queue.

/// Something due at a moment of simulated time.
///
/// Events of the same moment run in a fixed order (see [`EventQueue`](crate::queue::EventQueue)):
/// users first, then system events by kind in the order of this list, then by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The next request of the user in this slab slot of the
    /// [`Population`](crate::population::Population).
    User(u32),
    /// The next new visitor of this region arrives.
    Arrival(usize),
    /// This region's demotion pass of the sync job is due.
    SyncPass(usize),
    /// This region's write-behind pass is due.
    FlushPass(usize),
    /// The minute tick: returning users, time-series buckets, the daily purge.
    Tick,
    /// The fault at this index of the scenario's `faults` starts.
    FaultStart(usize),
    /// That fault ends.
    FaultEnd(usize),
    /// The warm-up ends: averages count from here.
    WarmupEnd,
    /// A peak window closes.
    PeakWindow,
}

/// Bits of an encoded event.
pub(crate) const ENCODED_BITS: u32 = 28;

/// Marks an encoded system event: every user's code is below it, every system event's code at or
/// above it, so codes of one moment sort users first.
pub(crate) const FIRST_SYSTEM_CODE: u32 = 1 << 27;

/// Most user slots an [`Event::User`] can name: the slots below [`FIRST_SYSTEM_CODE`].
pub(crate) const MAX_USER_SLOTS: usize = FIRST_SYSTEM_CODE as usize;

/// Where a system event's kind sits in its code (3 bits, above its 24-bit index).
const KIND_SHIFT: u32 = 24;
const KIND_MASK: u32 = 0x7;
const INDEX_MASK: u32 = (1 << KIND_SHIFT) - 1;

const ARRIVAL: u32 = 0;
const SYNC_PASS: u32 = 1;
const FLUSH_PASS: u32 = 2;
const TICK: u32 = 3;
const FAULT_START: u32 = 4;
const FAULT_END: u32 = 5;
const WARMUP_END: u32 = 6;
const PEAK_WINDOW: u32 = 7;

impl Event {
    /// The event in [`ENCODED_BITS`] bits: a user as its slot, a system event as
    /// `FIRST_SYSTEM_CODE | kind << 24 | index` (indexes below 2^24). The queue orders events of
    /// one moment by this code.
    #[inline]
    pub(crate) fn encode(self) -> u32 {
        let system = |kind: u32, index: usize| {
            debug_assert!(index <= INDEX_MASK as usize, "event index {index} out of range");
            FIRST_SYSTEM_CODE | (kind << KIND_SHIFT) | (index as u32 & INDEX_MASK)
        };
        match self {
            Self::User(slot) => {
                debug_assert!(slot < FIRST_SYSTEM_CODE, "user slot {slot} out of range");
                slot
            }
            Self::Arrival(region) => system(ARRIVAL, region),
            Self::SyncPass(region) => system(SYNC_PASS, region),
            Self::FlushPass(region) => system(FLUSH_PASS, region),
            Self::Tick => system(TICK, 0),
            Self::FaultStart(index) => system(FAULT_START, index),
            Self::FaultEnd(index) => system(FAULT_END, index),
            Self::WarmupEnd => system(WARMUP_END, 0),
            Self::PeakWindow => system(PEAK_WINDOW, 0),
        }
    }

    /// The event [`Event::encode`] gave `code`.
    #[inline]
    pub(crate) fn decode(code: u32) -> Self {
        if code < FIRST_SYSTEM_CODE {
            return Self::User(code);
        }
        let index = (code & INDEX_MASK) as usize;
        match (code >> KIND_SHIFT) & KIND_MASK {
            ARRIVAL => Self::Arrival(index),
            SYNC_PASS => Self::SyncPass(index),
            FLUSH_PASS => Self::FlushPass(index),
            TICK => Self::Tick,
            FAULT_START => Self::FaultStart(index),
            FAULT_END => Self::FaultEnd(index),
            WARMUP_END => Self::WarmupEnd,
            // PEAK_WINDOW: the last of the eight kinds the three bits hold.
            _ => Self::PeakWindow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_a_round_trip() {
        let mut events = vec![Event::Tick, Event::WarmupEnd, Event::PeakWindow];
        for index in [0, 1, 2, 255, INDEX_MASK as usize] {
            events.extend([
                Event::Arrival(index),
                Event::SyncPass(index),
                Event::FlushPass(index),
                Event::FaultStart(index),
                Event::FaultEnd(index),
            ]);
        }
        events.extend([0, 1, 12_345, FIRST_SYSTEM_CODE - 1].map(Event::User));
        for event in events {
            let code = event.encode();
            assert!(code < 1 << ENCODED_BITS, "{event:?} takes more than {ENCODED_BITS} bits");
            assert_eq!(Event::decode(code), event);
        }
    }

    #[test]
    fn codes_order_users_first_then_system_events_by_kind_then_index() {
        let order = [
            Event::User(0),
            Event::User(FIRST_SYSTEM_CODE - 1),
            Event::Arrival(0),
            Event::Arrival(1),
            Event::SyncPass(0),
            Event::FlushPass(0),
            Event::Tick,
            Event::FaultStart(0),
            Event::FaultEnd(0),
            Event::WarmupEnd,
            Event::PeakWindow,
        ];
        for pair in order.windows(2) {
            assert!(pair[0].encode() < pair[1].encode(), "{:?} before {:?}", pair[0], pair[1]);
        }
    }

    /// The codes the event loop used before the enum: a change here reorders a run's events.
    #[test]
    fn codes_are_pinned() {
        assert_eq!(Event::User(5).encode(), 5);
        assert_eq!(Event::Arrival(2).encode(), (1 << 27) | 2);
        assert_eq!(Event::SyncPass(1).encode(), (1 << 27) | (1 << 24) | 1);
        assert_eq!(Event::FlushPass(0).encode(), (1 << 27) | (2 << 24));
        assert_eq!(Event::Tick.encode(), (1 << 27) | (3 << 24));
        assert_eq!(Event::FaultStart(3).encode(), (1 << 27) | (4 << 24) | 3);
        assert_eq!(Event::FaultEnd(3).encode(), (1 << 27) | (5 << 24) | 3);
        assert_eq!(Event::WarmupEnd.encode(), (1 << 27) | (6 << 24));
        assert_eq!(Event::PeakWindow.encode(), (1 << 27) | (7 << 24));
    }
}
