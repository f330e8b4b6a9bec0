//! The `Balancer` trait.

use std::sync::Arc;

use sd_core::{Endpoint, Endpoints};

use crate::Error;

/// Picks one endpoint per call.
///
/// Picks are the hot path of every request: implementations in this crate take no lock
/// and allocate nothing.
pub trait Balancer {
    /// The user's endpoint value.
    type Endpoint;

    /// Picks an endpoint, or says why none could be picked.
    fn endpoint(&self) -> Result<Endpoint<Self::Endpoint>, Error>;
}

impl<T: Balancer + ?Sized> Balancer for &T {
    type Endpoint = T::Endpoint;

    fn endpoint(&self) -> Result<Endpoint<Self::Endpoint>, Error> {
        (**self).endpoint()
    }
}

impl<T: Balancer + ?Sized> Balancer for Arc<T> {
    type Endpoint = T::Endpoint;

    fn endpoint(&self) -> Result<Endpoint<Self::Endpoint>, Error> {
        (**self).endpoint()
    }
}

/// The part every balancer shares: read the source, turn its failure or emptiness into
/// an [`Error`], let `choose` pick an index in `0..len`, and clone that endpoint.
pub(crate) fn pick<E>(
    endpoints: Result<&Endpoints<E>, &sd_core::Error>,
    choose: impl FnOnce(usize) -> usize,
) -> Result<Endpoint<E>, Error> {
    let endpoints = endpoints.map_err(|e| Error::Discovery(e.clone()))?;
    if endpoints.is_empty() {
        return Err(Error::NoEndpoints);
    }
    let index = choose(endpoints.len());
    endpoints.get(index).cloned().ok_or(Error::NoEndpoints)
}
