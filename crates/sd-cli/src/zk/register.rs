//! `sd zk register`: registers one instance string under a `ZooKeeper` path (an ephemeral
//! sequential node, as go-kit's registrar makes) and keeps it registered — a new node on
//! a new session if the old one expires — until SIGINT or SIGTERM, then removes it.
//!
//! Prints `registered VALUE at NODE` once the node exists, and `deregistered VALUE under PATH` once
//! it is deleted and the session closed. A first registration that fails is an error, as
//! is a deregistration that fails.

use std::io::Write;

use clap::builder::NonEmptyStringValueParser;
use sd_zk::Registrar;

use super::ensemble::{self, Ensemble};
use crate::error::Error;
use crate::session;
use crate::text::one_line;

/// Arguments of `sd zk register`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The path to register under (such as /services/orders); created when missing.
    #[arg(value_name = "PATH", value_parser = NonEmptyStringValueParser::new())]
    path: String,
    /// The instance string the node holds (such as 10.0.0.5:8080, or a URL).
    #[arg(value_name = "VALUE", value_parser = NonEmptyStringValueParser::new())]
    value: String,
    #[command(flatten)]
    ensemble: Ensemble,
}

/// Runs `sd zk register` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let config = args.ensemble.config()?;
    let name = format!("{} under {}", one_line(&args.value), one_line(&args.path));
    let ensemble = args.ensemble.describe();
    let error = |action: String, source| Error::zk(format!("{action} at {ensemble}"), source);
    let registrar = Registrar::new(&config, &args.path, &args.value)
        .map_err(|source| error(format!("cannot register {name}"), source))?;
    ensemble::runtime()?.block_on(session::hold(
        &registrar,
        &name,
        error,
        out,
        |registrar| {
            let node = registrar.stats().node.unwrap_or_default();
            format!(
                "registered {} at {}",
                one_line(&args.value),
                one_line(&node)
            )
        },
        async { Ok(()) },
    ))
}
