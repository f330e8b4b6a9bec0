//! `RoundRobin`: every endpoint in turn.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use crossbeam_utils::CachePadded;

use sd_core::{Endpoint, EndpointSource};

use crate::balancer::pick;
use crate::{Balancer, Error};

/// Picks endpoints in turn.
///
/// Each clone has a cursor of its own, so picks on different threads never write the same
/// memory: each successful pick of one clone takes the next index, going round the list.
/// A balancer's first pick takes the next index of a sequence all its clones share (the
/// first balancer's first pick is 0, as go-kit's is), and its later picks go on from there
/// on their own; a clone of a balancer that has picked goes on from where it was. So
/// clones made for a single request each from a template that never picks (as axum
/// handler state is) still go round the endpoints in turn, and long-lived clones (one per
/// connection or thread) spread their picks while writing shared memory only once. The cursor does not
/// move when there is nothing to pick, and does not reset when the set changes (when the
/// set shrinks below it, it wraps).
///
/// [`shared`](Self::shared) keeps go-kit's exact semantics instead: one counter for the
/// balancer and all its clones (the n-th pick of any of them takes index `n % len`), at
/// the price of an atomic write to one shared cache line on every pick, which becomes the
/// bottleneck as threads are added.
///
/// ```
/// use sd_core::FixedEndpointer;
/// use sd_lb::{Balancer, RoundRobin};
///
/// let mut rr = RoundRobin::new(FixedEndpointer::new([("a:1", 'a'), ("b:1", 'b')]));
/// let picks: String = (0..4).map(|_| **rr.endpoint().unwrap()).collect();
/// assert_eq!(picks, "abab");
/// ```
pub struct RoundRobin<S> {
    source: S,
    cursor: Cursor,
}

enum Cursor {
    /// This clone's own position, once it has picked, and the sequence first picks take
    /// their start from.
    Own(Option<usize>, Arc<CachePadded<AtomicUsize>>),
    /// go-kit's one counter, shared by every clone; on cache lines of its own.
    Shared(Arc<CachePadded<AtomicUsize>>),
}

impl<S> RoundRobin<S> {
    /// A round-robin balancer over `source`, with a cursor per clone.
    pub fn new(source: S) -> Self {
        Self {
            source,
            cursor: Cursor::Own(None, Arc::default()),
        }
    }

    /// A round-robin balancer whose clones share go-kit's single counter, for those who
    /// need its exact sequence across threads.
    ///
    /// ```
    /// use sd_core::FixedEndpointer;
    /// use sd_lb::{Balancer, RoundRobin};
    ///
    /// let mut one = RoundRobin::shared(FixedEndpointer::new([("a:1", 'a'), ("b:1", 'b')]));
    /// let mut two = one.clone();
    /// let picks = [**one.endpoint().unwrap(), **two.endpoint().unwrap(), **one.endpoint().unwrap()];
    /// assert_eq!(picks, ['a', 'b', 'a']);
    /// ```
    pub fn shared(source: S) -> Self {
        Self {
            source,
            cursor: Cursor::Shared(Arc::default()),
        }
    }

    /// The endpoint source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<S: Clone> Clone for RoundRobin<S> {
    fn clone(&self) -> Self {
        let cursor = match &self.cursor {
            // A clone of a balancer that has picked goes on from its position; one of a
            // balancer that never picked (a template, such as a service in axum state)
            // takes its start from the shared sequence at its first pick.
            Cursor::Own(next, starts) => Cursor::Own(*next, Arc::clone(starts)),
            Cursor::Shared(counter) => Cursor::Shared(Arc::clone(counter)),
        };
        Self {
            source: self.source.clone(),
            cursor,
        }
    }
}

impl<S> Balancer for RoundRobin<S>
where
    S: EndpointSource,
{
    type Endpoint = S::Endpoint;

    #[inline]
    fn endpoint(&mut self) -> Result<&Endpoint<S::Endpoint>, Error> {
        let cursor = &mut self.cursor;
        pick(self.source.endpoints(), |len| match cursor {
            Cursor::Own(next, starts) => {
                let next = next.get_or_insert_with(|| starts.fetch_add(1, Ordering::Relaxed));
                // A compare instead of `%` on every pick: division is the slowest integer
                // instruction. The cursor stays below `len` except when the set shrank
                // (or the cursor started beyond it), and then one division brings it back.
                if *next >= len {
                    *next %= len;
                }
                let index = *next;
                *next += 1;
                index
            }
            // Relaxed: picks need a fair share, not an order relative to other memory.
            Cursor::Shared(counter) => counter.fetch_add(1, Ordering::Relaxed) % len,
        })
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.source.poll_changed(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for RoundRobin<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cursor = match &self.cursor {
            Cursor::Own(next, _) => next.unwrap_or_default(),
            Cursor::Shared(counter) => counter.load(Ordering::Relaxed),
        };
        f.debug_struct("RoundRobin")
            .field("source", &self.source)
            .field("cursor", &cursor)
            .field("shared", &matches!(self.cursor, Cursor::Shared(_)))
            .finish()
    }
}
