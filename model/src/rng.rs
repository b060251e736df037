//! Random streams: [`StreamRng`] (xoshiro256++ seeded through SplitMix64), one stream per
//! purpose ([`Stream`]), so that adding a draw for one purpose never shifts the draws of another.
//!
//! Simulation needs fast, portable, reproducible numbers, not cryptographic ones (session tokens
//! come from the engine's own ChaCha20 stream). xoshiro256++ is a fixed, documented algorithm, so
//! a seed gives the same stream on every platform and every version of this crate.

use rand::{RngCore, SeedableRng};

/// What a random stream is for. Each purpose has a stream of its own, seeded from the run's seed
/// and the purpose's number; the numbers are fixed (changing one changes every result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Visit lengths, payload sizes, think times.
    Visit,
    /// Travel, update, logout and return decisions.
    Decide,
    /// Gaps before a return.
    ReturnGap,
    /// Simulated backend latencies (the simulator only).
    Latency,
    /// One region's arrivals, by the region's index.
    Arrivals(usize),
}

impl Stream {
    /// The purpose's fixed number.
    pub const fn number(self) -> u64 {
        match self {
            Self::Visit => 1,
            Self::Decide => 2,
            Self::ReturnGap => 3,
            Self::Latency => 4,
            Self::Arrivals(region) => 100 + region as u64,
        }
    }

    /// This purpose's stream for a run seeded with `seed`.
    pub fn rng(self, seed: u64) -> StreamRng {
        StreamRng::seed_from_u64(splitmix(seed ^ splitmix(self.number())))
    }
}

/// SplitMix64: a fast, well-mixed hash of a counter (seeds, deterministic store-side randomness).
#[inline]
pub const fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// xoshiro256++ (Blackman and Vigna).
#[derive(Debug, Clone)]
pub struct StreamRng {
    s: [u64; 4],
}

impl RngCore for StreamRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

impl SeedableRng for StreamRng {
    type Seed = [u8; 32];

    fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (word, bytes) in s.iter_mut().zip(seed.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            *word = u64::from_le_bytes(b);
        }
        if s == [0; 4] {
            s[0] = 1; // the all-zero state is a fixed point
        }
        Self { s }
    }

    fn seed_from_u64(state: u64) -> Self {
        let mut x = state;
        let mut s = [0u64; 4];
        for word in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *word = splitmix(x);
        }
        Self { s }
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn streams_are_reproducible_and_uniform() {
        let mut a = StreamRng::seed_from_u64(5);
        let mut b = StreamRng::seed_from_u64(5);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(StreamRng::seed_from_u64(6).next_u64(), xs[0]);
        let mean = (0..100_000).map(|_| a.random::<f64>()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }
}
