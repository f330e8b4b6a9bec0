//! `sd zk watch`: follows the instances registered under one `ZooKeeper` path and prints a
//! line each time they change, until SIGINT or SIGTERM.
//!
//! A line is the time the change was seen (UTC, RFC 3339, to the second), then each
//! instance string, sorted, space-separated, or `-` for none:
//!
//! ```text
//! 2026-11-30T03:47:01Z 10.0.0.5:8080 10.0.0.6:8080
//! 2026-11-30T03:47:09Z 10.0.0.5:8080
//! ```
//!
//! While `ZooKeeper` cannot be reached, a line holds the time, `error: ` and the error
//! message; the set is printed again once it is back. The path is created when missing,
//! as the instancer does, so the first line of a new path is `-`. Each line is flushed at
//! once, for readers at the other end of a pipe.

use std::io::Write;

use clap::builder::NonEmptyStringValueParser;
use sd_zk::Instancer;

use super::ensemble::{self, Ensemble};
use crate::error::Error;
use crate::session;
use crate::text::one_line;

/// Arguments of `sd zk watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The path whose children are the instances (such as /services/orders).
    #[arg(value_name = "PATH", value_parser = NonEmptyStringValueParser::new())]
    path: String,
    #[command(flatten)]
    ensemble: Ensemble,
}

/// Runs `sd zk watch` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let config = args.ensemble.config()?;
    ensemble::runtime()?.block_on(async {
        let instancer = Instancer::new(&config, &args.path).map_err(|source| {
            Error::zk(format!("cannot watch {}", one_line(&args.path)), source)
        })?;
        session::watch(&instancer, out, session::id).await
    })
}
