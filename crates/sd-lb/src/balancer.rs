//! The `Balancer` trait.

use std::task::{Context, Poll};

use sd_core::{Endpoint, Endpoints};

use crate::Error;

/// Picks one endpoint per call.
///
/// Picks are the hot path of every request. Like an
/// [`EndpointSource`](sd_core::EndpointSource), a balancer is a reader with state of its
/// own (its source's cached list, its round-robin cursor or random generator), so a pick
/// takes `&mut self`, lends the endpoint rather than cloning it, and in this crate's
/// balancers takes no lock, allocates nothing, reads no clock and writes no memory that
/// another thread uses. Give each thread or task its own clone.
pub trait Balancer {
    /// The user's endpoint value.
    type Endpoint;

    /// Picks an endpoint, or says why none could be picked; the [`Pick`] also lends the
    /// list it was picked from.
    fn pick(&mut self) -> Result<Pick<'_, Self::Endpoint>, Error>;

    /// Picks an endpoint, or says why none could be picked.
    #[inline]
    fn endpoint(&mut self) -> Result<&Endpoint<Self::Endpoint>, Error> {
        self.pick().map(Pick::endpoint)
    }

    /// Ready once the endpoints behind the balancer changed since its last pick; see
    /// [`EndpointSource::poll_changed`](sd_core::EndpointSource::poll_changed). Lets a
    /// caller with nothing to pick wait for discovery rather than poll.
    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl<T: Balancer + ?Sized> Balancer for &mut T {
    type Endpoint = T::Endpoint;

    #[inline]
    fn pick(&mut self) -> Result<Pick<'_, Self::Endpoint>, Error> {
        (**self).pick()
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_changed(cx)
    }
}

impl<T: Balancer + ?Sized> Balancer for Box<T> {
    type Endpoint = T::Endpoint;

    #[inline]
    fn pick(&mut self) -> Result<Pick<'_, Self::Endpoint>, Error> {
        (**self).pick()
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_changed(cx)
    }
}

/// One pick: an endpoint, and the list it was picked from.
///
/// Both are lent by the balancer. A caller that needs the endpoint beyond the next pick
/// (a response future that names the instance should the call fail) may keep the
/// endpoint, or keep the list and the index: a list changes only when discovery does, so
/// a caller can hold one copy of it across many picks and compare it
/// ([`Endpoints::ptr_eq`]) rather than take a reference count on every pick.
#[derive(Debug)]
pub struct Pick<'a, E> {
    list: &'a Endpoints<E>,
    index: usize,
    /// `list[index]`, looked up once, when the pick was made.
    endpoint: &'a Endpoint<E>,
}

impl<E> Clone for Pick<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Pick<'_, E> {}

impl<'a, E> Pick<'a, E> {
    /// The endpoint at `index` of `list`; `None` when `index` is out of range.
    #[inline]
    pub fn new(list: &'a Endpoints<E>, index: usize) -> Option<Self> {
        let endpoint = list.get(index)?;
        Some(Self {
            list,
            index,
            endpoint,
        })
    }

    /// The endpoint picked.
    #[inline]
    pub fn endpoint(self) -> &'a Endpoint<E> {
        self.endpoint
    }

    /// The list the endpoint was picked from.
    #[inline]
    pub fn list(self) -> &'a Endpoints<E> {
        self.list
    }

    /// The endpoint's index in [`list`](Self::list).
    #[inline]
    pub fn index(self) -> usize {
        self.index
    }
}
