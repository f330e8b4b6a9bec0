//! The core of `sd`: backend-neutral client-side service discovery.
//!
//! A discovery backend (Eureka, a fixed list, your own) implements [`Instancer`]: it
//! publishes [`Event`]s, each the whole current set of [`Instance`]s or an [`Error`],
//! usually through an [`InstanceCache`]. An [`Endpointer`] follows an instancer and turns
//! instances into endpoints with your [`Factory`], keeping them across updates and closing
//! removed ones. Balancers (in `sd-lb`) read the endpoints on every request through
//! [`EndpointSource`], which never locks, allocates, or writes memory shared with another
//! thread: each clone of an endpointer is a reader with its own copy of the published list. A [`Registrar`] keeps a service's own
//! instance registered.
//!
//! ```
//! use sd_core::{BoxError, EndpointSource, Endpointer, FixedInstancer, Instance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sd_core::Error> {
//! let instancer = FixedInstancer::new(["10.0.0.1:8080", "10.0.0.2:8080"]);
//! let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     Ok::<_, BoxError>(format!("http://{}", i.id()))
//! })?;
//! assert_eq!(endpointer.endpoints()?.len(), 2);
//! endpointer.close();
//! assert!(endpointer.endpoints().unwrap_err().is_closed());
//! # Ok(())
//! # }
//! ```

//! # The read path
//!
//! Every request reads the endpoints and picks one, on every core at once, so the read
//! path is built to write nothing that another thread reads or writes: a cache line
//! written on one core must be fetched again by every other core that uses it, and that
//! traffic, not the instructions, is what made reads slow down as threads were added.
//!
//! - **A reader per clone.** Each clone of an [`Endpointer`] keeps its own copy of the
//!   published list (an `Arc`) and the generation it was published as. A read compares
//!   that generation with the published one, one atomic load of a counter that changes
//!   only when discovery does and sits on cache lines of its own, and lends the list: no
//!   reference count moves, no lock is taken, nothing is allocated. Only after a publish
//!   does the next read take the new list (from arc-swap, one reference-count increment
//!   per change per reader).
//! - **Inlined.** The check and the lend are small enough to inline into balancers and
//!   their callers; the refresh after a publish and the clone of an error are kept out
//!   of line, so the common read is a handful of instructions.
//! - **No clock.** Invalidation deadlines are the endpointer's task's business: it
//!   publishes the failure when one falls due, so readers never read the time.
//! - **Lending.** [`EndpointSource::endpoints`] lends the list and balancers lend the
//!   endpoint they pick; the caller clones only what it keeps.
//! - **Waiting without polling.** A reader with nothing it can use waits for the next
//!   publish with [`EndpointSource::changed`]; the writer wakes it.
//!
//! So give each thread or task its own clone, as tower does with services. Balancers in
//! `sd-lb` follow the same rule: each clone has its own cursor or random generator.

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
mod rng;
mod task;

pub use backoff::Backoff;
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
pub use rng::{WyRand, wyrand};
pub use task::{OwnedTask, Stopping};
