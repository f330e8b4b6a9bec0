//! The core of `sd`: backend-neutral client-side service discovery.
//!
//! A discovery backend (Eureka, a fixed list, your own) implements [`Instancer`]: it
//! publishes [`Event`]s, each the whole current set of [`Instance`]s or an [`Error`],
//! usually through an [`InstanceCache`]. An [`Endpointer`] follows an instancer and turns
//! instances into endpoints with your [`Factory`], keeping them across updates and closing
//! removed ones. Balancers (in `sd-lb`) read the endpoints on every request through
//! [`EndpointSource`], which never locks or allocates. A [`Registrar`] keeps a service's own
//! instance registered.
//!
//! ```
//! use sd_core::{BoxError, EndpointSource, Endpointer, FixedInstancer, Instance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sd_core::Error> {
//! let instancer = FixedInstancer::new(["10.0.0.1:8080", "10.0.0.2:8080"]);
//! let endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     Ok::<_, BoxError>(format!("http://{}", i.id()))
//! })?;
//! assert_eq!(endpointer.endpoints()?.len(), 2);
//! endpointer.close();
//! assert!(endpointer.endpoints().unwrap_err().is_closed());
//! # Ok(())
//! # }
//! ```

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod backoff;
mod cache;
mod endpoint;
mod endpointer;
mod error;
mod event;
pub mod factory;
mod fixed;
mod instance;
mod instancer;
mod registrar;

pub use backoff::{Backoff, splitmix64};
pub use cache::InstanceCache;
pub use endpoint::{Endpoint, EndpointSource, Endpoints};
pub use endpointer::{Endpointer, EndpointerBuilder};
pub use error::{BoxError, Error};
pub use event::{Event, Instances};
pub use factory::Factory;
pub use fixed::{FixedEndpointer, FixedInstancer};
pub use instance::{Instance, InstanceBuilder};
pub use instancer::{Instancer, Subscription};
pub use registrar::Registrar;
