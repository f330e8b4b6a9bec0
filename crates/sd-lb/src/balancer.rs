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

/// A value on cache lines of its own. The shared counter every pick writes must not sit on
/// a line with the fields every pick only reads (the source pointer), or each write by one
/// core evicts the other core's copy of those too. 128 bytes: adjacent-line prefetching
/// pulls lines in pairs on x86.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);
