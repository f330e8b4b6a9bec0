//! tower adapters for `sd`: discovery-backed services for tower, axum and hyper stacks.
//!
//! - [`HttpClient`] (feature `http`, on by default): call an HTTP service by its app
//!   name, `HttpClient::new(&instancer)?` — each request goes to a discovered instance
//!   (https on its secure port with the `tls` feature), balanced, retried on the next
//!   instance, failing instances set aside, one connection pool; one boxed
//!   `Clone + Send + Sync` type for axum state. See [`http`].
//! - [`Balanced`] (and [`BalancedLayer`]): each request goes to the endpoint a
//!   [`sd_lb::Balancer`] over an [`sd_core::Endpointer`] picks; readiness waits a bounded
//!   time for a ready endpoint, setting aside ones that fail or stay not ready; errors
//!   name the instance; calls are traced with it.
//! - [`RetryLayer`]: go-kit's retry (attempts, one deadline, a callback), with a jittered
//!   backoff, a retry budget so retries cannot multiply load under failure, and a typed
//!   deadline error ([`sd_lb::RetryError`]) that keeps every attempt's error. Over a
//!   `Balanced`, prefer [`Balanced::retry`]: the same retries fused in
//!   ([`RetryBalanced`]), so that a request writes one reference count, not two.
//! - [`DiscoverInstances`]: an [`sd_core::Instancer`] as a [`tower::discover::Discover`],
//!   for `tower::balance::p2c` with `PeakEwma` or pending-requests load; under a
//!   [`ReadyTimeoutLayer`] its callers get the same bounded wait `Balanced` gives.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use sd_core::{BoxError, Endpointer, FixedInstancer, Instance};
//! use sd_lb::RoundRobin;
//! use sd_tower::{Balanced, RetryLayer};
//! use tower::{service_fn, ServiceExt};
//!
//! # async fn demo() -> Result<(), BoxError> {
//! let instancer = FixedInstancer::new(["10.0.0.1:80", "10.0.0.2:80"]);
//! let endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     let addr = i.id().to_owned();
//!     Ok::<_, BoxError>(service_fn(move |req: String| {
//!         let addr = addr.clone();
//!         async move { Ok::<_, BoxError>(format!("{addr}: {req}")) }
//!     }))
//! })?;
//! // `RetryLayer` in front of `Balanced` behaves the same; fused, it costs less.
//! let client = Balanced::new(RoundRobin::new(endpointer))
//!     .retry(RetryLayer::new(3, Duration::from_secs(2)));
//! let reply = client.oneshot("hello".to_owned()).await?;
//! # Ok(()) }
//! ```

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod discover;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod ready_timeout;
mod retry;
mod retry_balanced;
mod service;

pub use discover::DiscoverInstances;
pub use error::Error;
#[cfg(feature = "http")]
pub use http::{HttpClient, HttpClientBuilder, HttpError, Tls};
pub use ready_timeout::{ReadyTimeout, ReadyTimeoutFuture, ReadyTimeoutLayer};
pub use retry::{Callback, KeepTrying, RetryLayer, RetryService};
pub use retry_balanced::{RetryBalanced, RetryBalancedFuture};
pub use service::{Balanced, BalancedLayer, ResponseFuture};
