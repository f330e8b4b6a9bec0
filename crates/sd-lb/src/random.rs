//! `Random`: a uniform pick, thread-safe and seedable.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::AtomicU64;

use sd_core::{Endpoint, EndpointSource};

use crate::balancer::{Padded, pick};
use crate::{Balancer, Error};

/// Picks an endpoint uniformly at random.
///
/// Safe to share between threads without a lock, and seedable so tests can be
/// reproducible. The generator is `SplitMix64` over an atomic counter: each pick is one
/// `fetch_add` plus a few arithmetic steps, so concurrent picks never wait for each
/// other (a `Mutex<StdRng>` would serialize them, and a thread-local generator could not
/// be seeded per balancer).
///
/// ```
/// use sd_core::FixedEndpointer;
/// use sd_lb::{Balancer, Random};
///
/// let random = Random::with_seed(FixedEndpointer::new([("a:1", 1), ("b:1", 2)]), 42);
/// let picked = *random.endpoint().unwrap();
/// assert!(picked == 1 || picked == 2);
/// ```
#[derive(Debug)]
pub struct Random<S> {
    source: S,
    state: Padded<AtomicU64>,
}

impl<S> Random<S> {
    /// A random balancer seeded from the process's hash randomness.
    pub fn new(source: S) -> Self {
        Self::with_seed(source, RandomState::new().hash_one(0x5d_u8))
    }

    /// A random balancer whose picks are determined by `seed` (for tests).
    pub fn with_seed(source: S, seed: u64) -> Self {
        Self {
            source,
            state: Padded(AtomicU64::new(seed)),
        }
    }

    /// The endpoint source.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn next_u64(&self) -> u64 {
        sd_core::splitmix64(&self.state.0)
    }
}

/// Maps a uniform 64-bit value onto `0..len` by multiply-and-shift (Lemire). The bias is
/// at most `len / 2^64`, far below anything measurable, and there is no division.
fn below(random: u64, len: usize) -> usize {
    let wide = u128::from(random) * len as u128;
    // The high half of a 64×64-bit product with `len` is always below `len`.
    usize::try_from(wide >> 64).unwrap_or(0)
}

impl<S> Balancer for Random<S>
where
    S: EndpointSource,
{
    type Endpoint = S::Endpoint;

    fn endpoint(&self) -> Result<Endpoint<S::Endpoint>, Error> {
        self.source
            .with_endpoints(|endpoints| pick(endpoints, |len| below(self.next_u64(), len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        for len in [1, 2, 7, 1000] {
            assert_eq!(below(0, len), 0);
            assert_eq!(below(u64::MAX, len), len - 1);
        }
    }

    #[test]
    fn same_seed_same_sequence() {
        let a = Random::with_seed((), 7);
        let b = Random::with_seed((), 7);
        let c = Random::with_seed((), 8);
        let seq = |r: &Random<()>| (0..16).map(|_| r.next_u64()).collect::<Vec<_>>();
        assert_eq!(seq(&a), seq(&b));
        assert_ne!(seq(&a), seq(&c));
    }
}
