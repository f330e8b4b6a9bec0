//! `SplitMix64`: the small, fast generator behind random picks and backoff jitter.
//!
//! Statistical quality is ample for spreading load and waits (it is not for secrets), and
//! a draw is an addition and a few multiplications, with no lock and no allocation.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// The increment of `SplitMix64`: an odd constant near 2^64 / φ, so successive states
/// are well spread before mixing.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Turns a state into an output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A `SplitMix64` generator owned by one reader: drawing writes only its own state, so
/// generators in different threads never touch the same memory.
///
/// ```
/// use sd_core::SplitMix64;
/// let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose outputs are determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the process's hash randomness (different each call).
    pub fn from_entropy() -> Self {
        Self::new(RandomState::new().hash_one(0x5d_u8))
    }

    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }
}

/// The next `SplitMix64` output from an atomic state: one `fetch_add`, then mixing. Any
/// number of threads may draw at once without waiting for each other, for state that
/// must be shared (the jitter of a [`Backoff`](crate::Backoff) shared by clones).
///
/// ```
/// use std::sync::atomic::AtomicU64;
/// let state = AtomicU64::new(42);
/// assert_ne!(sd_core::splitmix64(&state), sd_core::splitmix64(&state));
/// ```
pub fn splitmix64(state: &AtomicU64) -> u64 {
    mix(state
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_and_atomic_draws_agree() {
        let shared = AtomicU64::new(99);
        let mut owned = SplitMix64::new(99);
        for _ in 0..8 {
            assert_eq!(owned.next_u64(), splitmix64(&shared));
        }
    }
}
