//! A small deterministic random source (SplitMix64), so that a lab built from one seed is the same fleet
//! every time and fault injection can be replayed.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64: tiny, fast and good enough for simulation choices (not for cryptography).
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// An independent stream for item `index` of a run seeded with `seed`. Both are hashed, so
    /// neighbouring indexes do not produce shifted copies of one sequence.
    pub fn for_stream(seed: u64, index: u64) -> Self {
        SplitMix(mix(mix(seed) ^ mix(index.wrapping_add(0x5EED))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A lock-free shared source: each draw takes the next counter value and mixes it, so concurrent
/// requests draw independent numbers without a mutex.
#[derive(Debug)]
pub struct SharedRng {
    seed: u64,
    counter: AtomicU64,
}

impl SharedRng {
    pub fn new(seed: u64) -> Self {
        SharedRng {
            seed,
            counter: AtomicU64::new(0),
        }
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&self) -> f64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let v = mix(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (v >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_rng_is_roughly_uniform() {
        let r = SharedRng::new(42);
        let n = 100_000;
        let below_tenth = (0..n).filter(|_| r.unit() < 0.1).count();
        assert!((9_000..11_000).contains(&below_tenth), "{below_tenth}");
    }
}
