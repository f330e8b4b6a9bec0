//! Netflix Eureka for `sd`: register a service and discover others, behind the sd-core
//! traits.
//!
//! Register — what a go-kit user does with a fargo config, an instance, `NewRegistrar` and
//! `Register()` with a deferred `Deregister()`:
//!
//! ```
//! use sd_eureka::{Connection, InstanceInfo, Registrar};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = sd_eureka_server::EurekaServer::builder().addr("127.0.0.1:0".parse()?).bind().await?;
//! # let eureka_url = server.base_url();
//! let connection = Connection::new([eureka_url])?;
//! let registrar = Registrar::new(connection, InstanceInfo::builder("hello", 8080).build());
//! registrar.register().await?;
//! // ... serve until shutdown ...
//! registrar.deregister().await?;
//! # Ok(()) }
//! ```
//!
//! A service's whole life — the address other machines reach, a Spring estate's
//! configuration, a health check that drives the status, and a graceful exit on Ctrl-C or
//! SIGTERM (`OUT_OF_SERVICE`, a drain while clients forget the instance, deregistration):
//!
//! ```no_run
//! use std::time::Duration;
//! use sd_eureka::{Config, Registrar, ShutdownSignal, Status};
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! // EUREKA_CLIENT_SERVICEURL_DEFAULTZONE, SPRING_APPLICATION_NAME, SERVER_PORT,
//! // EUREKA_INSTANCE_PREFERIPADDRESS, EUREKA_INSTANCE_METADATAMAP_* ... as a Spring
//! // service reads them (or their eureka.client.serviceUrl.defaultZone property forms).
//! let config = Config::from_env();
//! let instance = config.instance().ok_or("SPRING_APPLICATION_NAME is not set")?;
//! let mut signal = ShutdownSignal::listen()?; // before registering: no signal is lost
//! let registrar = Registrar::builder(config.connection()?, instance)
//!     .health_check(|| async { Status::Up }) // asked before each heartbeat
//!     .drain(Duration::from_secs(30))
//!     .build();
//! registrar.register().await?;
//! // ... serve ...
//! registrar.shutdown_on(signal.wait()).await?; // OUT_OF_SERVICE, drain, deregister
//! # Ok(()) }
//! ```
//!
//! Discover — what `NewInstancer(conn, "hello", logger)` does, feeding an sd-core
//! endpointer:
//!
//! ```
//! use sd_core::{BoxError, Endpointer, Instance};
//! use sd_eureka::{Connection, Instancer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = sd_eureka_server::EurekaServer::builder().addr("127.0.0.1:0".parse()?).bind().await?;
//! # let eureka_url = server.base_url();
//! let connection = Connection::new([eureka_url])?;
//! let instancer = Instancer::new(&connection, "hello")?;
//! let endpointer = Endpointer::new(&instancer, |i: &Instance| {
//!     Ok::<_, BoxError>(format!("http://{}/", i.id()))
//! })?;
//! # Ok(()) }
//! ```
//!
//! Underneath: [`Connection`] speaks the REST API with failover across service URLs;
//! [`Registrar`] heartbeats and re-registers; [`Instancer`] follows an app or VIP through
//! one delta-fetching poller per connection. The wire model ([`InstanceInfo`],
//! [`Applications`]...) and its tolerant XML and JSON codecs ([`decode`], [`encode`]) are
//! public too, as are the reconcile hash code and delta application.

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod codec;
mod config;
mod connection;
mod delta;
mod error;
mod host;
mod instancer;
mod model;
mod registrar;
mod signal;

pub use codec::{
    Format, decode, decode_any, encode, encode_application, encode_applications, encode_instance,
};
pub use config::{Config, DEFAULT_SERVICE_URL};
pub use connection::{Connection, ConnectionBuilder, redact_url, split_service_urls};
pub use delta::reconcile_hash_code;
pub use error::{DecodeError, EncodeError, Error};
pub use host::{default_ip, hostname, outward_ip};
pub use instancer::{Instancer, InstancerBuilder, InstancerStats};
pub use model::{
    AMAZON_DATA_CENTER_CLASS, ActionType, Application, Applications, DEFAULT_DATA_CENTER_CLASS,
    DataCenterInfo, Document, InstanceBuilder, InstanceInfo, LeaseInfo, Metadata, Port, Status,
};
pub use registrar::{Registrar, RegistrarBuilder, RegistrarStats, now_millis};
pub use signal::ShutdownSignal;
