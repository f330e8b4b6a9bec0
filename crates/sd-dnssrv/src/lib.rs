//! DNS SRV discovery for `sd`: go-kit's `sd/dnssrv` on the sd-core traits.
//!
//! An [`Instancer`] polls the SRV records of one name (`_http._tcp.orders.example.com`)
//! and publishes the `target:port` of each as an [`sd_core::Instance`], with its SRV
//! priority and weight as metadata. Feed it to an [`sd_core::Endpointer`], a balancer of
//! `sd-lb` or an `sd_tower::HttpClient` like any other instancer:
//!
//! ```no_run
//! use std::time::Duration;
//! use sd_core::{BoxError, EndpointSource as _, Endpointer, Instance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! // The system's name servers (/etc/resolv.conf), a poll every 30 s or sooner as TTLs ask.
//! let orders = sd_dnssrv::Instancer::new("_http._tcp.orders.example.com")?;
//!
//! // Or name servers of your own, and other timings.
//! let payments = sd_dnssrv::Instancer::builder("_http._tcp.payments.example.com")
//!     .name_server("10.0.0.53:53".parse()?)
//!     .interval(Duration::from_secs(10))
//!     .ttl_floor(Duration::from_secs(2))
//!     .lookup_timeout(Duration::from_secs(3))
//!     .build()?;
//!
//! let mut endpointer = Endpointer::new(&orders, |i: &Instance| {
//!     Ok::<_, BoxError>(format!("http://{}/", i.id())) // http://host.example.com:8080/
//! })?;
//! endpointer.changed().await;
//! println!("{} instances", endpointer.endpoints()?.len());
//! # drop(payments);
//! # Ok(()) }
//! ```
//!
//! What it keeps of go-kit and where it differs:
//!
//! - Every event is the whole sorted set; a subscriber gets the current state at once.
//! - A failed lookup (timeout, `SERVFAIL`, `REFUSED`, an unreadable answer, no
//!   connection) is an error event, and endpointers keep their last good endpoints.
//!   go-kit's poller then waits a whole interval; this one retries sooner, backing off.
//! - go-kit polls at a fixed interval and leaves TTLs to the system resolver's cache,
//!   which can hide changes for a TTL after each poll. Here the resolver's cache is off:
//!   every poll asks a name server, and a TTL shorter than the interval brings the next
//!   poll forward (down to a floor, so a TTL of 0 cannot make it spin).
//! - An authoritative "no SRV records" (`NXDOMAIN`) is an empty set, not an error, so a
//!   service scaled to zero loses its endpoints; see
//!   [`InstancerBuilder::no_records_is_error`] for go-kit's way.
//! - Records that cannot be called (port 0, the root target) are skipped with a warning;
//!   an answer of nothing but such records is an error event, never an empty set.
//! - Every lookup has a deadline; the poller stops, cancelling a lookup in flight, when
//!   the last handle and subscription are dropped.
//!
//! DNS has no registrar: instances are whatever the zone says.

// Library code handles every failure; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod error;
mod instancer;
mod lookup;
mod records;
mod schedule;
mod stats;

pub use config::{
    DEFAULT_INTERVAL, DEFAULT_LOOKUP_TIMEOUT, DEFAULT_TTL_FLOOR, InstancerBuilder, Transport,
};
pub use error::Error;
pub use instancer::Instancer;
pub use records::{PRIORITY, WEIGHT};
pub use stats::InstancerStats;
