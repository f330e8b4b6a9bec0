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

    /// Picks an endpoint, or says why none could be picked.
    fn endpoint(&mut self) -> Result<&Endpoint<Self::Endpoint>, Error>;

    /// Ready once the endpoints behind the balancer changed since its last pick; see
    /// [`EndpointSource::poll_changed`](sd_core::EndpointSource::poll_changed). Lets a
    /// caller with nothing to pick wait for discovery rather than poll.
    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl<T: Balancer + ?Sized> Balancer for &mut T {
    type Endpoint = T::Endpoint;

    #[inline]
    fn endpoint(&mut self) -> Result<&Endpoint<Self::Endpoint>, Error> {
        (**self).endpoint()
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_changed(cx)
    }
}

impl<T: Balancer + ?Sized> Balancer for Box<T> {
    type Endpoint = T::Endpoint;

    #[inline]
    fn endpoint(&mut self) -> Result<&Endpoint<Self::Endpoint>, Error> {
        (**self).endpoint()
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_changed(cx)
    }
}

/// The part every balancer shares: turn the source's failure or emptiness into an
/// [`Error`], let `choose` pick an index in `0..len`, and lend that endpoint.
#[inline]
pub(crate) fn pick<E>(
    endpoints: Result<&Endpoints<E>, sd_core::Error>,
    choose: impl FnOnce(usize) -> usize,
) -> Result<&Endpoint<E>, Error> {
    let endpoints = endpoints.map_err(Error::Discovery)?;
    if endpoints.is_empty() {
        return Err(Error::NoEndpoints);
    }
    endpoints
        .get(choose(endpoints.len()))
        .ok_or(Error::NoEndpoints)
}
