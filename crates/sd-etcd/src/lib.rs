//! etcd for `sd`: discover the instances under a key prefix and keep your own instance
//! registered under a lease, behind the sd-core traits — go-kit's `sd/etcdv3`, on etcd's
//! v3 gRPC API.
//!
//! An instance is one key right below a prefix whose value is the instance string, as in
//! go-kit: `/services/orders/10.0.0.5:8080` = `10.0.0.5:8080`.
//!
//! ```no_run
//! use sd_core::{BoxError, EndpointSource, Endpointer, Instance};
//! use sd_etcd::{Client, Instancer, Registrar};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect(["http://127.0.0.1:2379"]).await?;
//!
//! // Keep this service registered: a lease with keep-alive, the key written again if the
//! // lease is ever lost.
//! let registrar = Registrar::new(client.clone(), "/services/orders/", "10.0.0.5:8080", "10.0.0.5:8080")?;
//! registrar.register().await?;
//!
//! // Follow the instances of a service: the whole sorted set on every change.
//! let instancer = Instancer::new(&client, "/services/orders/")?;
//! let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     Ok::<_, BoxError>(format!("http://{}/", i.id()))
//! })?;
//! endpointer.changed().await;
//! println!("{:?}", endpointer.endpoints()?);
//!
//! registrar.deregister().await?; // deletes the key and revokes the lease
//! # Ok(()) }
//! ```
//!
//! Modules, one concept each: [`Client`] (endpoints, timeouts, backoff; a lazy, shared
//! gRPC connection), [`Instancer`] (list, then watch from the next revision; resume after
//! a disconnect, list again after a compaction), [`Registrar`] (lease, keep-alive,
//! re-registration, bounded deregistration), and [`Error`].

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod entry;
mod error;
mod instancer;
mod registrar;

pub use client::{Client, ClientBuilder};
pub use entry::MAX_INSTANCE_LEN;
pub use error::Error;
pub use instancer::{Instancer, InstancerStats};
pub use registrar::{Registrar, RegistrarBuilder, RegistrarStats};
