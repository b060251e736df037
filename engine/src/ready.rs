//! Driving the engine's futures without a runtime.
//!
//! In-memory and simulated stores answer at once, so the engine's futures complete on their first
//! poll. The simulator and the in-memory tests poll them with a no-op waker; a future that is not
//! ready is a bug (a store doing real I/O in a place that must not) and panics with a clear
//! message rather than hanging.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls `future` once and returns its output.
///
/// # Panics
/// If the future is not ready on its first poll: only stores that answer at once may be used here.
pub fn now_or_panic<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!(
            "an engine future was not ready at once: now_or_panic drives only in-memory or \
             simulated stores; real backends need an async runtime"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_futures_complete() {
        assert_eq!(now_or_panic(async { 41 + 1 }), 42);
    }

    #[test]
    #[should_panic(expected = "not ready at once")]
    fn pending_futures_panic_clearly() {
        now_or_panic(std::future::pending::<()>());
    }
}
