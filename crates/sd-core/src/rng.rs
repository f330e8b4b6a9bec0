//! `WyRand`: the small, fast generator behind random picks and backoff jitter.
//!
//! Statistical quality is ample for spreading load and waits (it passes the usual test
//! batteries; it is not for secrets), and a draw is an addition and one 64×64→128-bit
//! multiplication, with no lock and no allocation: the least work of the well-tested
//! generators, which matters because a random pick draws once per request.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// What each draw adds to the state (wyrand's increment, odd, so the state goes through
/// every value before repeating).
const INCREMENT: u64 = 0xa076_1d64_78bd_642f;
/// What the state is mixed with before the multiplication.
const MIX: u64 = 0xe703_7ed1_a0b4_28db;

/// Turns a state into an output: the two halves of the full product, folded.
#[inline]
fn mix(state: u64) -> u64 {
    let product = u128::from(state) * u128::from(state ^ MIX);
    // Truncations on purpose: the high half and the low half.
    #[allow(clippy::cast_possible_truncation)]
    let (high, low) = ((product >> 64) as u64, product as u64);
    high ^ low
}

/// A `WyRand` generator owned by one reader: drawing writes only its own state, so
/// generators in different threads never touch the same memory.
///
/// ```
/// use sd_core::WyRand;
/// let (mut a, mut b) = (WyRand::new(7), WyRand::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct WyRand {
    state: u64,
}

impl WyRand {
    /// A generator whose outputs are determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the process's hash randomness (different each call).
    pub fn from_entropy() -> Self {
        Self::new(RandomState::new().hash_one(0x5d_u8))
    }

    /// The next output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(INCREMENT);
        mix(self.state)
    }
}

/// The next `WyRand` output from an atomic state: one `fetch_add`, then mixing. Any
/// number of threads may draw at once without waiting for each other, for state that
/// must be shared (the jitter of a [`Backoff`](crate::Backoff) shared by clones).
///
/// ```
/// use std::sync::atomic::AtomicU64;
/// let state = AtomicU64::new(42);
/// assert_ne!(sd_core::wyrand(&state), sd_core::wyrand(&state));
/// ```
pub fn wyrand(state: &AtomicU64) -> u64 {
    mix(state
        .fetch_add(INCREMENT, Ordering::Relaxed)
        .wrapping_add(INCREMENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_and_atomic_draws_agree() {
        let shared = AtomicU64::new(99);
        let mut owned = WyRand::new(99);
        for _ in 0..8 {
            assert_eq!(owned.next_u64(), wyrand(&shared));
        }
    }

    #[test]
    fn draws_spread_over_both_halves_and_every_bit() {
        // A coarse check that the folding keeps both halves of the product: over 4096
        // draws every bit is set sometimes and clear sometimes, and each of 16 buckets of
        // the top bits gets a fair share.
        let mut generator = WyRand::new(1);
        let (mut ones, mut zeros, mut buckets) = (0_u64, 0_u64, [0_u32; 16]);
        for _ in 0..4096 {
            let draw = generator.next_u64();
            ones |= draw;
            zeros |= !draw;
            buckets[usize::try_from(draw >> 60).unwrap_or(0)] += 1;
        }
        assert_eq!((ones, zeros), (u64::MAX, u64::MAX));
        assert!(
            buckets.iter().all(|&n| (128..=384).contains(&n)),
            "{buckets:?}"
        );
    }
}
