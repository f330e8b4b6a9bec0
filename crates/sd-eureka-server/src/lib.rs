//! A Eureka-compatible registry for development and tests.
//!
//! It speaks the REST API of Netflix Eureka and Spring Cloud Netflix servers — both base
//! paths (`/eureka/` and `/eureka/v2/`), XML and JSON, gzip, leases with eviction, status
//! overrides, the delta queue and the reconcile hash code — and starts in milliseconds, in
//! process, on any port. It is a development tool, not a replicated production registry.
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

mod gate;
mod page;
mod registry;
mod server;
mod service;

pub use server::{Builder, EurekaServer};
