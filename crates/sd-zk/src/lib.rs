//! Apache ZooKeeper for `sd`: go-kit's `sd/zk` on the sd-core traits.
//!
//! A service registers itself with a [`Registrar`]: an ephemeral sequential node under a
//! path, holding its instance string, kept for as long as the service runs (and made again
//! on a new session if the old one expires). Clients follow the path with an
//! [`Instancer`]: the children's data, as the whole sorted set of instances on every
//! change, which an [`sd_core::Endpointer`] (or `sd_tower::HttpClient`) turns into
//! endpoints. While ZooKeeper cannot be reached the instancer publishes an error event, so
//! endpointers keep their last good endpoints, and it publishes the set again on recovery.
//!
//! ```no_run
//! use sd_core::{BoxError, EndpointSource, Endpointer, Instance};
//! use sd_zk::{Config, Instancer, Registrar};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(["127.0.0.1:2181"])?;
//!
//! // The service: registered under /services/hello as long as it runs.
//! let registrar = Registrar::new(&config, "/services/hello", "10.0.0.5:8080")?;
//! registrar.register().await?;
//!
//! // A client: endpoints for every instance registered there.
//! let instancer = Instancer::new(&config, "/services/hello")?;
//! let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     Ok::<_, BoxError>(format!("http://{}/", i.id()))
//! })?;
//! endpointer.changed().await;
//! assert_eq!(endpointer.endpoints()?.len(), 1);
//!
//! registrar.deregister().await?; // the node is deleted and the session closed
//! # Ok(()) }
//! ```
//!
//! Every instancer and registrar opens a session of its own from a [`Config`] (servers,
//! session and connect timeouts, backoff) and owns one background task, which ends with
//! its last handle.

// Library code handles every failure; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod data;
mod error;
mod instancer;
mod path;
mod registrar;
mod session;

pub use config::{
    Config, ConfigBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT,
    MIN_SESSION_TIMEOUT,
};
pub use data::MAX_INSTANCE_LEN;
pub use error::Error;
pub use instancer::Instancer;
pub use registrar::{DEFAULT_DEREGISTER_TIMEOUT, Registrar, RegistrarBuilder, RegistrarStats};
