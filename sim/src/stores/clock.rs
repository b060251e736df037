//! [`SimClock`]: simulated time, as the engine and the stores read it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hotcold_engine::{Clock, Timestamp};

/// Simulated time: moved by one thread only (a shard's event loop), read by the engine and the
/// stores. With one writer a move is a plain load and store, where the engine's
/// [`hotcold_engine::ManualClock`] pays a locked compare-and-swap on every event.
#[derive(Debug)]
pub struct SimClock {
    now_ms: AtomicU64,
}

impl SimClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self { now_ms: AtomicU64::new(start.0) }
    }

    /// Moves the clock to `to`; a move backwards is ignored. Only one thread may move a clock.
    #[inline]
    pub fn set(&self, to: Timestamp) {
        if to.0 > self.now_ms.load(Ordering::Relaxed) {
            self.now_ms.store(to.0, Ordering::Relaxed);
        }
    }

    /// Moves the clock forward by `by`. Only one thread may move a clock.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_ms.store(self.now_ms.load(Ordering::Relaxed).saturating_add(by), Ordering::Relaxed);
    }
}

impl Clock for SimClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::Relaxed))
    }
}
