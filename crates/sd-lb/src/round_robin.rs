//! `RoundRobin`: every endpoint in turn.

use std::sync::atomic::{AtomicUsize, Ordering};

use sd_core::{Endpoint, EndpointSource};

use crate::balancer::{Padded, pick};
use crate::{Balancer, Error};

/// Picks endpoints in turn, with go-kit's semantics: one atomic counter starting at 0, the
/// n-th successful pick takes index `n % len`; the counter does not move when there is
/// nothing to pick, and does not reset when the set changes.
///
/// ```
/// use sd_core::FixedEndpointer;
/// use sd_lb::{Balancer, RoundRobin};
///
/// let rr = RoundRobin::new(FixedEndpointer::new([("a:1", 'a'), ("b:1", 'b')]));
/// let picks: String = (0..4).map(|_| *rr.endpoint().unwrap()).collect();
/// assert_eq!(picks, "abab");
/// ```
#[derive(Debug)]
pub struct RoundRobin<S> {
    source: S,
    counter: Padded<AtomicUsize>,
}

impl<S> RoundRobin<S> {
    /// A round-robin balancer over `source`.
    pub fn new(source: S) -> Self {
        Self {
            source,
            counter: Padded(AtomicUsize::new(0)),
        }
    }

    /// The endpoint source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<S> Balancer for RoundRobin<S>
where
    S: EndpointSource,
{
    type Endpoint = S::Endpoint;

    fn endpoint(&self) -> Result<Endpoint<S::Endpoint>, Error> {
        self.source.with_endpoints(|endpoints| {
            pick(endpoints, |len| {
                // Relaxed: picks need a fair share, not an order relative to other memory.
                self.counter.0.fetch_add(1, Ordering::Relaxed) % len
            })
        })
    }
}
