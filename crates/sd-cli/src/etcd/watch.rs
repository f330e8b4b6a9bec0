//! `sd etcd watch`: follows the instances under a key prefix and prints a line each time
//! they change, until SIGINT or SIGTERM.
//!
//! A line is the time the change was seen (UTC, RFC 3339, to the second), then the
//! instances (the values of the keys right below the prefix), sorted, space-separated, or
//! `-` for none; a failure prints the time, `error: ` and the message, and the instances
//! again once etcd is back:
//!
//! ```text
//! 2026-11-30T03:47:01Z 10.0.0.5:8080 10.0.0.6:8080
//! 2026-11-30T03:47:09Z 10.0.0.5:8080
//! ```
//!
//! Each line is flushed at once, for readers at the other end of a pipe.

use std::io::Write;

use sd_etcd::Instancer;

use super::client::{self, Cluster};
use crate::error::Error;
use crate::session;

/// Arguments of `sd etcd watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The key prefix to follow (`/services/orders/`).
    #[arg(value_name = "PREFIX")]
    prefix: String,
    #[command(flatten)]
    cluster: Cluster,
}

/// Runs `sd etcd watch` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    client::runtime()?.block_on(async {
        let etcd = args.cluster.connect().await?;
        let instancer = Instancer::new(&etcd, &args.prefix)
            .map_err(|source| Error::etcd("cannot watch", source))?;
        session::watch(&instancer, out, session::id).await
    })
}
