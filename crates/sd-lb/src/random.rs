//! `Random`: a uniform pick, seedable.

use std::fmt;
use std::task::{Context, Poll};

use sd_core::{EndpointSource, WyRand};

use crate::{Balancer, Error, Pick};

/// Picks an endpoint uniformly at random.
///
/// Each clone draws from a generator of its own (`WyRand`: an addition and one
/// multiplication per pick), so picks on different threads never write the same memory
/// or wait for each other. [`with_seed`](Self::with_seed) makes one balancer's picks
/// reproducible, for tests; its clones are seeded afresh.
///
/// ```
/// use sd_core::FixedEndpointer;
/// use sd_lb::{Balancer, Random};
///
/// let mut random = Random::with_seed(FixedEndpointer::new([("a:1", 1), ("b:1", 2)]), 42);
/// let picked = **random.endpoint().unwrap();
/// assert!(picked == 1 || picked == 2);
/// ```
pub struct Random<S> {
    source: S,
    generator: WyRand,
}

impl<S> Random<S> {
    /// A random balancer seeded from the process's hash randomness.
    pub fn new(source: S) -> Self {
        Self {
            source,
            generator: WyRand::from_entropy(),
        }
    }

    /// A random balancer whose picks are determined by `seed` (for tests).
    pub fn with_seed(source: S, seed: u64) -> Self {
        Self {
            source,
            generator: WyRand::new(seed),
        }
    }

    /// The endpoint source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<S: Clone> Clone for Random<S> {
    /// Another balancer over the same source, with a generator of its own.
    fn clone(&self) -> Self {
        Self::new(self.source.clone())
    }
}

/// Maps a uniform 64-bit value onto `0..len` by multiply-and-shift (Lemire). The bias is
/// at most `len / 2^64`, far below anything measurable, and there is no division.
#[inline]
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

    #[inline]
    fn pick(&mut self) -> Result<Pick<'_, S::Endpoint>, Error> {
        let list = self.source.endpoints().map_err(Error::Discovery)?;
        // An empty list gives index 0, which `Pick::new` refuses: one comparison for both.
        let index = below(self.generator.next_u64(), list.len());
        Pick::new(list, index).ok_or(Error::NoEndpoints)
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.source.poll_changed(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for Random<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Random")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        for len in [1, 2, 7, 1000, u32::MAX as usize, usize::MAX] {
            assert_eq!(below(0, len), 0);
            assert_eq!(below(u64::MAX, len), len - 1);
        }
        assert_eq!(below(u64::MAX, 0), 0);
    }
}
