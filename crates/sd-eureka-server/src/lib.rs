//! A Eureka-compatible registry for development and tests.
//!
//! It speaks the REST API of Netflix Eureka and Spring Cloud Netflix servers — both base
//! paths (`/eureka/` and `/eureka/v2/`), XML and JSON, gzip, leases with eviction, status
//! overrides, the delta queue and the reconcile hash code — and starts in milliseconds, in
//! process, on any port. It is a development tool, not a replicated production registry.
//!
//! # As a real server
//!
//! Where a real Netflix Eureka server was seen to behave in a particular way, this one does
//! the same:
//!
//! * A registration whose `renewalIntervalInSecs` or `durationInSecs` is 0 or negative
//!   gets the defaults, 30 s and 90 s, and every read shows those (fargo sends zeros when
//!   its caller set no lease).
//! * A registration without `dataCenterInfo` gets 400.
//! * The `status` a heartbeat reports (`PUT apps/{APP}/{ID}?status=...`) changes nothing:
//!   a client changes its status by registering again or through the override call. An
//!   instance whose status is UNKNOWN (after its override was removed without a value) has
//!   its heartbeats answered 404, so that the client registers again.
//! * A registration that XML cannot carry as is — a metadata key that is not an element
//!   name (`"bad key"`), a control character in a value or in the instance id — is
//!   accepted (204), and every read keeps answering 200. The instance is kept exactly as
//!   sent and JSON answers show it so; XML answers show it as XML can: the offending
//!   characters of a text replaced by U+FFFD, those of a metadata key by `_`. Refusing such
//!   registrations with 400 was the other choice; accepting them is what a real server
//!   does, so a client that works against this registry also works against a real one.
//! * Optionally ([`Builder::sync_wait`]), every registry read answers 403 for a while
//!   after start, as a real server that got nothing from its peers does.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = sd_eureka_server::EurekaServer::builder()
//!     .addr("127.0.0.1:0".parse().unwrap())
//!     .bind()
//!     .await?;
//! println!("registry at {}", server.base_url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod conn;
mod encode;
mod gate;
mod intake;
mod page;
mod rate;
mod registry;
mod server;
mod service;
mod xml_safe;

pub use server::{Builder, EurekaServer};
