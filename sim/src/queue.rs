//! [`EventQueue`]: the simulator's pending events, in time order.
//!
//! Nearly every event is a user's next request a few seconds to minutes ahead, so the queue is a
//! timing wheel: one list head per millisecond over the next [`WHEEL_MS`] milliseconds, the
//! lists threaded through the users' own records ([`Links`]: the record is in cache whenever its
//! link is read or written), and an occupancy bitmap to find the next busy millisecond. Taking
//! the next event walks the wheel forward (sequential memory, no comparisons), where a binary or
//! 4-ary heap of tens of thousands of entries paid a cache miss and a mispredicted branch per
//! level. Events further ahead than the wheel reaches, and system events, wait in a small 4-ary
//! heap beside it, keyed by time and the event's code ([`Event::encode`]).
//!
//! Order: by time; at equal times users before system events, users in the far heap before
//! users on the wheel, users on one wheel millisecond last-pushed first, system events by
//! code (kind, then index). Every rule is deterministic, so a run stays a pure function of its
//! inputs.

use std::cmp::Reverse;

use dary_heap::QuaternaryHeap;

use crate::event::{ENCODED_BITS, Event, FIRST_SYSTEM_CODE};

const CODE_MASK: u64 = (1 << ENCODED_BITS) - 1;
const WHEEL_BITS: u32 = 18;
/// Milliseconds the wheel reaches ahead (about 4.4 minutes: past the 95th percentile of
/// ShopFlow's think times).
const WHEEL_MS: u64 = 1 << WHEEL_BITS;
const WHEEL_MASK: u64 = WHEEL_MS - 1;
const WORDS: usize = (WHEEL_MS / 64) as usize;
/// End of a list.
pub(crate) const NIL: u32 = u32::MAX;

/// Where the wheel's lists are threaded: one link per user slot, kept in the user's record. While
/// a user is pending, nothing but the queue may change its link.
pub(crate) trait Links {
    /// The next user after `user` in its millisecond's list ([`NIL`]: last).
    fn link(&self, user: u32) -> u32;
    /// Sets that link.
    fn set_link(&mut self, user: u32, next: u32);
}

/// Pending events: at most one per user and per system event.
pub(crate) struct EventQueue {
    /// Per wheel millisecond, the first user of its list ([`NIL`]: none).
    heads: Box<[u32]>,
    /// One bit per wheel millisecond with a non-empty list.
    occupied: Box<[u64]>,
    /// Time of the last event taken (ms): every pending event is at or after it, so wheel slot `s`
    /// holds the events at the one time in `[now, now + WHEEL_MS)` congruent to `s`.
    now: u64,
    /// Users on the wheel.
    on_wheel: usize,
    /// System events and users further ahead than the wheel, as `time << ENCODED_BITS | code`.
    far: QuaternaryHeap<Reverse<u64>>,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue").field("now", &self.now).field("len", &self.len()).finish_non_exhaustive()
    }
}

impl EventQueue {
    /// An empty queue at time 0.
    pub(crate) fn new() -> Self {
        Self {
            heads: vec![NIL; WHEEL_MS as usize].into_boxed_slice(),
            occupied: vec![0; WORDS].into_boxed_slice(),
            now: 0,
            on_wheel: 0,
            far: QuaternaryHeap::new(),
        }
    }

    /// Pending events.
    pub(crate) fn len(&self) -> usize {
        self.on_wheel + self.far.len()
    }

    /// Schedules `event` at `at` ms. A time before the last event taken is moved up to it (the
    /// simulator never schedules into the past). `event` must not be pending already.
    pub(crate) fn push(&mut self, at: u64, event: Event, links: &mut impl Links) {
        let at = at.max(self.now);
        if let Event::User(user) = event {
            if at - self.now < WHEEL_MS {
                let slot = (at & WHEEL_MASK) as usize;
                links.set_link(user, self.heads[slot]);
                self.heads[slot] = user;
                self.occupied[slot >> 6] |= 1 << (slot & 63);
                self.on_wheel += 1;
                return;
            }
        }
        self.far.push(Reverse((at << ENCODED_BITS) | u64::from(event.encode())));
    }

    /// Takes the next event: `(time ms, event)`.
    pub(crate) fn pop(&mut self, links: &impl Links) -> Option<(u64, Event)> {
        let wheel = self.next_busy_slot();
        let far = self.far.peek().map(|&Reverse(key)| key);
        match (wheel, far) {
            // A far event first if it is earlier, or at the same time and a user's.
            (Some((time, _)), Some(key)) if key < (time << ENCODED_BITS | u64::from(FIRST_SYSTEM_CODE)) => {
                self.pop_far()
            }
            (Some((time, slot)), _) => {
                let user = self.heads[slot];
                let next = links.link(user);
                self.heads[slot] = next;
                if next == NIL {
                    self.occupied[slot >> 6] &= !(1 << (slot & 63));
                }
                self.on_wheel -= 1;
                self.now = time;
                Some((time, Event::User(user)))
            }
            (None, Some(_)) => self.pop_far(),
            (None, None) => None,
        }
    }

    fn pop_far(&mut self) -> Option<(u64, Event)> {
        let Reverse(key) = self.far.pop()?;
        let time = key >> ENCODED_BITS;
        self.now = self.now.max(time);
        Some((time, Event::decode((key & CODE_MASK) as u32)))
    }

    /// The users of the next two wheel events, most likely the next two events: hints for
    /// prefetching only (a far event may come first).
    pub(crate) fn upcoming_users(&self, links: &impl Links) -> (Option<u32>, Option<u32>) {
        let Some((_, slot)) = self.next_busy_slot() else { return (None, None) };
        let first = self.heads[slot];
        let second = match links.link(first) {
            NIL => self.busy_slot_from((slot + 1) & WHEEL_MASK as usize).map(|s| self.heads[s]),
            next => Some(next),
        };
        (Some(first), second)
    }

    /// Where an event at `at` would be listed, for a prefetch ahead of [`EventQueue::push`].
    pub(crate) fn slot_address(&self, at: u64) -> *const u32 {
        self.heads.as_ptr().wrapping_add((at & WHEEL_MASK) as usize)
    }

    /// The earliest busy wheel slot and its time.
    fn next_busy_slot(&self) -> Option<(u64, usize)> {
        if self.on_wheel == 0 {
            return None;
        }
        let start = (self.now & WHEEL_MASK) as usize;
        let slot = self.busy_slot_from(start)?;
        let ahead = (slot as u64).wrapping_sub(start as u64) & WHEEL_MASK;
        Some((self.now + ahead, slot))
    }

    /// The first busy slot at or after `start`, going round the wheel once.
    fn busy_slot_from(&self, start: usize) -> Option<usize> {
        let mut word = start >> 6;
        let mut bits = self.occupied[word] & (u64::MAX << (start & 63));
        for _ in 0..=WORDS {
            if bits != 0 {
                return Some((word << 6) | bits.trailing_zeros() as usize);
            }
            word = (word + 1) % WORDS;
            bits = self.occupied[word];
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Links in a plain array indexed by user slot.
    impl Links for Vec<u32> {
        fn link(&self, user: u32) -> u32 {
            self[user as usize]
        }

        fn set_link(&mut self, user: u32, next: u32) {
            let user = user as usize;
            if user >= self.len() {
                self.resize(user + 1, NIL);
            }
            self[user] = next;
        }
    }

    /// A queue with its links beside it, as the tests use it.
    struct Queue(EventQueue, Vec<u32>);

    impl Queue {
        fn new() -> Self {
            Self(EventQueue::new(), Vec::new())
        }
        fn push_(&mut self, at: u64, event: Event) {
            self.0.push(at, event, &mut self.1);
        }
        fn pop_(&mut self) -> Option<(u64, Event)> {
            self.0.pop(&self.1)
        }
        fn upcoming_users_(&self) -> (Option<u32>, Option<u32>) {
            self.0.upcoming_users(&self.1)
        }
        fn len(&self) -> usize {
            self.0.len()
        }
    }

    fn drain(queue: &mut Queue) -> Vec<(u64, Event)> {
        std::iter::from_fn(|| queue.pop_()).collect()
    }

    use Event::{Arrival, Tick, User};

    #[test]
    fn events_come_out_in_time_order_users_before_system_events() {
        let mut q = Queue::new();
        q.push_(5, Arrival(1));
        q.push_(5, User(7));
        q.push_(3, User(2));
        q.push_(WHEEL_MS * 3, User(4)); // far ahead: waits in the heap
        q.push_(5, User(9));
        q.push_(5, Tick);
        q.push_(0, Arrival(0));
        assert_eq!(q.len(), 7);
        let order = drain(&mut q);
        assert_eq!(
            order,
            vec![
                (0, Arrival(0)),
                (3, User(2)),
                (5, User(9)),
                (5, User(7)),
                (5, Arrival(1)),
                (5, Tick),
                (WHEEL_MS * 3, User(4))
            ]
        );
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn matches_a_sorted_reference_under_random_pushes_and_pops() {
        // Each popped user schedules its next event 1 ms to 10 wheel-lengths ahead, as think times
        // and returns do; the queue must hand out times that never go back and every event once.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut q = Queue::new();
        let mut pending = std::collections::BTreeSet::new();
        for user in 0..2_000u32 {
            let at = rng.random_range(0..WHEEL_MS * 2);
            q.push_(at, User(user));
            pending.insert((at, user));
        }
        let mut last = 0;
        for _ in 0..200_000 {
            let (time, event) = q.pop_().expect("events pending");
            let User(user) = event else { panic!("{event:?}: only users were pushed") };
            assert!(time >= last, "time went back from {last} to {time}");
            let first = *pending.first().expect("reference has it");
            assert_eq!(time, first.0, "queue skipped an earlier event");
            assert!(pending.remove(&(time, user)), "user {user} popped at {time} was not pending then");
            last = time;
            let ahead =
                if rng.random_bool(0.9) { rng.random_range(1..60_000) } else { rng.random_range(1..WHEEL_MS * 10) };
            q.push_(time + ahead, User(user));
            pending.insert((time + ahead, user));
        }
        assert_eq!(q.len(), pending.len());
    }

    #[test]
    fn upcoming_users_name_the_next_wheel_events() {
        let mut q = Queue::new();
        assert_eq!(q.upcoming_users_(), (None, None));
        q.push_(10, User(1));
        assert_eq!(q.upcoming_users_(), (Some(1), Some(1)), "a lone event is also the one after itself");
        q.push_(WHEEL_MS - 1, User(2));
        assert_eq!(q.upcoming_users_(), (Some(1), Some(2)));
        q.push_(10, User(3));
        assert_eq!(q.upcoming_users_(), (Some(3), Some(1)));
    }

    #[test]
    fn a_time_in_the_past_runs_now() {
        let mut q = Queue::new();
        q.push_(100, User(1));
        assert_eq!(q.pop_(), Some((100, User(1))));
        q.push_(50, User(2));
        q.push_(50, Arrival(0));
        assert_eq!(drain(&mut q), vec![(100, User(2)), (100, Arrival(0))]);
    }
}
