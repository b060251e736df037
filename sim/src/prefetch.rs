//! CPU prefetch hints: the simulator works ahead of its memory latency by asking the CPU to load
//! what the next events will most likely touch. Hints only: they never change a result.

/// Asks the CPU to start loading `value`'s cache line.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    prefetch_address(std::ptr::from_ref(value));
}

/// [`prefetch`] by address; the address may be stale or dangling, as a prefetch never faults.
#[inline(always)]
pub(crate) fn prefetch_address<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache hierarchy: it reads nothing into the program and
    // cannot fault, whatever the address; SSE is part of every x86_64 target.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
