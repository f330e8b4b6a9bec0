//! `sd zk register`: registers one instance string under a `ZooKeeper` path (an ephemeral
//! sequential node, as go-kit's registrar makes) and keeps it registered — a new node on
//! a new session if the old one expires — until SIGINT or SIGTERM, then removes it.
//!
//! Prints `registered VALUE at NODE` once the node exists, and `deregistered VALUE` once
//! it is deleted and the session closed. A first registration that fails is an error, as
//! is a deregistration that fails.

use std::io::Write;

use clap::builder::NonEmptyStringValueParser;
use sd_eureka::ShutdownSignal as Shutdown;
use sd_zk::Registrar;

use super::ensemble::{self, Ensemble};
use crate::error::Error;
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
    let registrar = Registrar::new(&config, &args.path, &args.value)
        .map_err(|source| Error::zk(format!("cannot register {name}"), source))?;
    ensemble::runtime()?.block_on(async {
        // Before the announcement: a signal sent as soon as it is read must be caught.
        let mut shutdown = Shutdown::listen().map_err(Error::Signal)?;
        let registered = tokio::select! {
            result = registrar.register() => Some(result),
            result = shutdown.wait() => {
                result.map_err(Error::Signal)?;
                None
            }
        };
        match registered {
            // Stopped while registering: leave no registration behind.
            None => return deregister(&registrar, &name).await,
            Some(Ok(())) => {}
            Some(Err(source)) => {
                // The registrar retries in the background: stop it, closing its session.
                let _ = registrar.deregister().await;
                return Err(Error::zk(
                    format!("cannot register {name} at {}", args.ensemble.describe()),
                    source,
                ));
            }
        }
        let node = registrar.stats().node.unwrap_or_default();
        let announced = writeln!(
            out,
            "registered {} at {}",
            one_line(&args.value),
            one_line(&node)
        )
        .and_then(|()| out.flush())
        .map_err(Error::Write);
        // Without a reader for the announcement, stop at once; deregister either way.
        let stopped = match announced {
            Ok(()) => shutdown.wait().await.map_err(Error::Signal),
            Err(error) => Err(error),
        };
        deregister(&registrar, &name).await?;
        stopped?;
        writeln!(out, "deregistered {}", one_line(&args.value))
            .and_then(|()| out.flush())
            .map_err(Error::Write)
    })
}

async fn deregister(registrar: &Registrar, name: &str) -> Result<(), Error> {
    registrar
        .deregister()
        .await
        .map_err(|source| Error::zk(format!("cannot deregister {name}"), source))
}
