//! `RoundRobin`: every endpoint in turn.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use crossbeam_utils::CachePadded;

use sd_core::{EndpointSource, Endpoints};

use crate::{Balancer, Error, Pick};

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
    /// The index this clone picks next. On the fast path it is an index of the list, so
    /// one comparison with the list's length covers every other case: [`NOT_STARTED`]
    /// until the first pick, [`SHARED`] for go-kit's semantics, the end of the list
    /// (wrap), a set that shrank below it, and an empty list.
    next: usize,
    /// The sequence first picks take their start from, or go-kit's one counter; on cache
    /// lines of its own.
    counter: Arc<CachePadded<AtomicUsize>>,
}

/// `next` of a clone that has not picked yet.
const NOT_STARTED: usize = usize::MAX;
/// `next` of a balancer whose clones share one counter.
const SHARED: usize = usize::MAX - 1;

impl<S> RoundRobin<S> {
    /// A round-robin balancer over `source`, with a cursor per clone.
    pub fn new(source: S) -> Self {
        Self {
            source,
            next: NOT_STARTED,
            counter: Arc::default(),
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
            next: SHARED,
            counter: Arc::default(),
        }
    }

    /// The endpoint source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<S: Clone> Clone for RoundRobin<S> {
    /// A clone of a balancer that has picked goes on from its position; one of a
    /// balancer that never picked (a template, such as a service in axum state) takes its
    /// start from the shared sequence at its first pick.
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            next: self.next,
            counter: Arc::clone(&self.counter),
        }
    }
}

impl<S> Balancer for RoundRobin<S>
where
    S: EndpointSource,
{
    type Endpoint = S::Endpoint;

    #[inline]
    fn pick(&mut self) -> Result<Pick<'_, S::Endpoint>, Error> {
        let list = self.source.endpoints().map_err(Error::Discovery)?;
        let index = self.next;
        // One comparison covers every case but the common one: an empty list, a clone
        // that has not picked, the shared counter, and a cursor at or beyond the end.
        match Pick::new(list, index) {
            Some(pick) => {
                self.next = index + 1;
                Ok(pick)
            }
            None if index == SHARED => shared(&self.counter, list),
            None => restart(&mut self.next, &self.counter, list),
        }
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.source.poll_changed(cx)
    }
}

/// A pick of go-kit's round robin: the next index of the one counter all clones share.
#[inline]
fn shared<'a, E>(counter: &AtomicUsize, list: &'a Endpoints<E>) -> Result<Pick<'a, E>, Error> {
    let len = list.len();
    if len == 0 {
        return Err(Error::NoEndpoints);
    }
    // Relaxed: picks need a fair share, not an order relative to other memory.
    let index = counter.fetch_add(1, Ordering::Relaxed) % len;
    Pick::new(list, index).ok_or(Error::NoEndpoints)
}

/// The pick of a clone whose cursor is not an index of the list: out of line, so that the
/// common pick is a comparison and an increment.
#[cold]
#[inline(never)]
fn restart<'a, E>(
    next: &mut usize,
    counter: &AtomicUsize,
    list: &'a Endpoints<E>,
) -> Result<Pick<'a, E>, Error> {
    let len = list.len();
    let index = match *next {
        _ if len == 0 => return Err(Error::NoEndpoints),
        NOT_STARTED => return shared(counter, list).inspect(|pick| *next = pick.index() + 1),
        // Past the end: wrap (when the set shrank below the cursor, from where the cursor
        // would have been).
        beyond if beyond == len => 0,
        beyond => beyond % len,
    };
    *next = index + 1;
    Pick::new(list, index).ok_or(Error::NoEndpoints)
}

impl<S: fmt::Debug> fmt::Debug for RoundRobin<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cursor = match self.next {
            SHARED => self.counter.load(Ordering::Relaxed),
            NOT_STARTED => 0,
            next => next,
        };
        f.debug_struct("RoundRobin")
            .field("source", &self.source)
            .field("cursor", &cursor)
            .field("shared", &(self.next == SHARED))
            .finish()
    }
}
