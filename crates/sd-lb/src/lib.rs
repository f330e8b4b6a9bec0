//! Load balancing over `sd-core` endpoints, and retry.
//!
//! A [`Balancer`] picks one endpoint per request from an [`EndpointSource`] (an
//! `Endpointer` following discovery, or a fixed list): [`RoundRobin`] or [`Random`]. Picks
//! take no lock, allocate nothing, read no clock and write no memory another thread uses:
//! like an endpointer, each balancer clone is a reader with its own state (its source's
//! cached list, its cursor or generator), and a pick lends the endpoint. Give each thread
//! or task its own clone; [`RoundRobin::shared`] keeps go-kit's single shared counter for
//! those who need its exact sequence. [`retry()`] and [`retry_with_callback`] make several
//! attempts through a balancer within one deadline, with go-kit's semantics and typed
//! errors.
//!
//! Beyond go-kit, two filters wrap any source and leave the balancer unchanged:
//! [`ZoneAware`] keeps to the caller's zone while it has enough endpoints (see [`zone`]),
//! and [`Outliers`] sets aside, for a growing while, endpoints that keep failing (see
//! [`outliers`]). They compose; put ejection inside zone affinity,
//! `RoundRobin::new(ZoneAware::new(Outliers::new(source, config), zone))`, so that the
//! local zone is judged by the endpoints that were not set aside.
//!
//! ```
//! use std::time::Duration;
//! use sd_core::{BoxError, Endpointer, FixedInstancer, Instance};
//! use sd_lb::{retry, RoundRobin};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let instancer = FixedInstancer::new(["10.0.0.1:80", "10.0.0.2:80"]);
//! let endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     Ok::<_, BoxError>(i.id().to_owned())
//! })?;
//! let mut retry = retry(3, Duration::from_secs(1), RoundRobin::new(endpointer));
//! let reply = retry
//!     .call(|addr| async move { Ok::<_, BoxError>(format!("hello from {}", *addr)) })
//!     .await?;
//! assert_eq!(reply, "hello from 10.0.0.1:80");
//! # Ok(())
//! # }
//! ```
//!
//! [`EndpointSource`]: sd_core::EndpointSource

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod balancer;
mod derived;
mod error;
pub mod outliers;
mod random;
pub mod retry;
mod round_robin;
pub mod zone;

pub use balancer::{Balancer, Pick};
pub use error::Error;
pub use outliers::{Outcome, OutlierConfig, OutlierDetector, Outliers, Reporting};
pub use random::Random;
pub use retry::{
    Decision, Deposits, ErrorLog, KEPT_ERRORS, Retry, RetryBudget, RetryError, default_budget,
    retry, retry_with_callback,
};
pub use round_robin::RoundRobin;
pub use zone::{ZoneAware, ZoneChoice};

/// Compiles the README's Rust snippets as doctests, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
