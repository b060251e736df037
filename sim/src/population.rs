//! The simulated users: those in a visit in a slab of slots whose records carry the event wheel's
//! links, those waiting to return in a calendar by minute.

use hotcold_engine::SessionId;

use crate::event::MAX_USER_SLOTS;
use crate::periodic::MINUTE_MS;
use crate::queue::Links;
use crate::stores::NO_SLOT;

/// What a simulated user holds and is doing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct User {
    /// The session id of the token the user holds (computed once, at create).
    pub(crate) id: SessionId,
    /// Newest version the user has seen.
    pub(crate) version: u32,
    /// Session data size.
    pub(crate) payload: u32,
    /// The user's last request, ms from the start.
    pub(crate) last_access: u64,
    /// Requests left in the current visit; 0 while waiting to return.
    pub(crate) remaining: u32,
    /// Where the hot tier last held the user's session, `region << 32 | slot`
    /// ([`NO_SLOT`](crate::stores::NO_SLOT): unknown): a cache hint only.
    pub(crate) hot_hint: u64,
    /// The region whose traffic the user belongs to.
    pub(crate) home: u16,
    /// False until the first create succeeds.
    pub(crate) has_session: bool,
    /// With a `migration:` block, the bucket of the user's session in the rollout split (see
    /// `migration.rs`); 0 otherwise. (It fits in the record's padding: the record keeps its size.)
    pub(crate) bucket: u16,
    /// The next user in this user's millisecond of the event wheel (see [`Links`]).
    pub(crate) next_event: u32,
}

/// Marks a `hot_hint` that holds the index of a session of the legacy store instead (see
/// [`User::legacy`]): above every real hint (`region << 32 | slot`, regions below 2^16), so the
/// hot stores and the prefetcher, which look a hint's region up, never use it.
const LEGACY_HINT: u64 = 1 << 62;

impl User {
    /// With a `migration:` block, the index of the user's session among the legacy store's
    /// sessions; `None` when the engine holds it. Kept in `hot_hint`, which means nothing while
    /// the engine does not hold the session, so the record keeps its size for runs without one.
    #[inline]
    pub(crate) fn legacy(&self) -> Option<u32> {
        (self.hot_hint != NO_SLOT && self.hot_hint & LEGACY_HINT != 0).then_some(self.hot_hint as u32)
    }

    /// Records that the legacy store holds the user's session at `index` (`None`: it does not;
    /// no hot slot is known either).
    #[inline]
    pub(crate) fn set_legacy(&mut self, index: Option<u32>) {
        self.hot_hint = index.map_or(NO_SLOT, |index| LEGACY_HINT | u64::from(index));
    }
}

/// The event wheel threads its lists through the user records.
impl Links for Vec<User> {
    #[inline]
    fn link(&self, user: u32) -> u32 {
        self[user as usize].next_event
    }

    #[inline]
    fn set_link(&mut self, user: u32, next: u32) {
        self[user as usize].next_event = next;
    }
}

/// Every user of a shard, in a visit or waiting to return.
pub(crate) struct Population {
    /// Users in a visit, by slot (a slab: a slot is reused once its visit ends). An event names
    /// its user by slot ([`Event::User`](crate::event::Event::User)).
    pub(crate) users: Vec<User>,
    /// Slots free for reuse.
    free: Vec<u32>,
    /// Users waiting to return, by minute of return, with the ms into that minute. They leave
    /// the slab meanwhile, so the slab holds only users in a visit and stays cache-resident.
    returns: Vec<Vec<(User, u32)>>,
    /// The first minute whose returns are still in the calendar: a return due before it goes to
    /// the event queue at once.
    pub(crate) next_tick_minute: u64,
    /// Users in a visit, by home region.
    pub(crate) active: Vec<u64>,
    /// Set when the users in a visit at once outgrow [`MAX_USER_SLOTS`]: the run stops with an
    /// error.
    pub(crate) too_many_users: bool,
}

impl Population {
    /// No users yet, in `regions` regions, with a return calendar of `minutes` minutes.
    pub(crate) fn new(regions: usize, minutes: usize) -> Self {
        Self {
            users: Vec::new(),
            free: Vec::new(),
            returns: vec![Vec::new(); minutes],
            next_tick_minute: 0,
            active: vec![0; regions],
            too_many_users: false,
        }
    }

    /// A slot for `user`; `None` (and the run stops) past [`MAX_USER_SLOTS`] users in a visit.
    pub(crate) fn alloc(&mut self, user: User) -> Option<u32> {
        match self.free.pop() {
            Some(slot) => {
                self.users[slot as usize] = user;
                Some(slot)
            }
            None if self.users.len() >= MAX_USER_SLOTS => {
                self.too_many_users = true;
                None
            }
            None => {
                self.users.push(user);
                Some((self.users.len() - 1) as u32)
            }
        }
    }

    /// Frees `slot`: its user left or waits to return in the calendar.
    pub(crate) fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    /// Puts `user` in the calendar to return at `at` ms (a minute past the calendar: never).
    pub(crate) fn wait_to_return(&mut self, user: User, at: u64) {
        if let Some(bucket) = self.returns.get_mut((at / MINUTE_MS) as usize) {
            bucket.push((user, (at % MINUTE_MS) as u32));
        }
    }

    /// Takes the users due to return in `minute`, with the ms into that minute.
    pub(crate) fn take_returns(&mut self, minute: u64) -> Vec<(User, u32)> {
        self.returns.get_mut(minute as usize).map(std::mem::take).unwrap_or_default()
    }
}
