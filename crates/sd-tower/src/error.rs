//! The errors of the balanced service.

use std::time::Duration;

use sd_core::{BoxError, Instance};

/// Why a request through [`Balanced`](crate::Balanced) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No endpoint became available within the readiness wait.
    #[error("no endpoints available after waiting {0:?}")]
    NoEndpoints(Duration),
    /// No endpoint became ready within the readiness wait (endpoints were there, or, under
    /// a [`ReadyTimeout`](crate::ReadyTimeout), the service did not say).
    #[error("no endpoint became ready within {0:?}")]
    Unready(Duration),
    /// The endpoint source failed (discovery error with invalidation, or closed).
    #[error(transparent)]
    Discovery(sd_core::Error),
    /// The chosen endpoint failed; says which instance.
    #[error("{instance}: {source}")]
    Endpoint {
        /// The instance the request went to.
        instance: Instance,
        /// The endpoint's own error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// True when there was nothing to call.
    pub fn is_no_endpoints(&self) -> bool {
        matches!(self, Error::NoEndpoints(_))
    }

    /// True when endpoints were there but none became ready in time.
    pub fn is_unready(&self) -> bool {
        matches!(self, Error::Unready(_))
    }

    /// The instance whose endpoint failed, when that is what happened.
    pub fn instance(&self) -> Option<&Instance> {
        match self {
            Error::Endpoint { instance, .. } => Some(instance),
            _ => None,
        }
    }
}
