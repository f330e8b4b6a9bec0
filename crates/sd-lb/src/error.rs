//! What a balancer pick can fail with.

/// Why a balancer could not pick an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source has no endpoints (go-kit's message, so logs read the same).
    #[error("no endpoints available")]
    NoEndpoints,
    /// The endpoint source failed; its error, unchanged.
    #[error(transparent)]
    Discovery(#[from] sd_core::Error),
}

impl Error {
    /// True when there was nothing to pick from.
    pub fn is_no_endpoints(&self) -> bool {
        matches!(self, Error::NoEndpoints)
    }

    /// True when the endpoint source failed.
    pub fn is_discovery(&self) -> bool {
        matches!(self, Error::Discovery(_))
    }
}
