//! `sd etcd register`: writes `PREFIX + KEY` = `VALUE` under a lease and keeps it alive
//! (granting a new lease and writing again when the lease is lost) until SIGINT or
//! SIGTERM, then deletes the key and revokes the lease.
//!
//! Prints `registered KEY at ENDPOINTS` once etcd has the key, and `deregistered KEY`
//! once it is gone. A first registration that fails is an error, as is a deregistration
//! that fails.

use std::io::Write;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use sd_etcd::Registrar;

use super::client::{self, Cluster};
use crate::error::Error;
use crate::session;
use crate::text::one_line;

/// Arguments of `sd etcd register`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The key prefix of the service (`/services/orders/`).
    #[arg(value_name = "PREFIX")]
    prefix: String,
    /// The instance's name below the prefix (no `/`).
    #[arg(value_name = "KEY", value_parser = NonEmptyStringValueParser::new())]
    key: String,
    /// The instance string (`10.0.0.5:8080`).
    #[arg(value_name = "VALUE", value_parser = NonEmptyStringValueParser::new())]
    value: String,
    #[command(flatten)]
    cluster: Cluster,
    /// Seconds the lease lives without a keep-alive (renewed every third of it).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    ttl: u64,
}

/// Runs `sd etcd register` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    client::runtime()?.block_on(async {
        let etcd = args.cluster.connect().await?;
        let registrar = Registrar::builder(etcd, &args.prefix, &args.key, &args.value)
            .ttl(Duration::from_secs(args.ttl))
            .build()
            .map_err(|source| Error::etcd("cannot register", source))?;
        let name = one_line(registrar.key()).into_owned();
        let endpoints = args.cluster.endpoints().join(",");
        session::hold(
            &registrar,
            &name,
            Error::etcd,
            out,
            |_| format!("registered {name} at {endpoints}"),
            async { Ok(()) },
        )
        .await
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        args: Args,
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Command::try_parse_from(std::iter::once("register").chain(args.iter().copied()))
            .map(|command| command.args)
    }

    #[test]
    fn arguments_and_defaults() {
        let args = parse(&["/svc/", "a", "10.0.0.1:80", "--endpoints", "h:2379"]).unwrap();
        assert_eq!((args.key.as_str(), args.ttl), ("a", 10));
        assert_eq!(args.cluster.endpoints(), ["h:2379"]);
        for bad in [
            &["/svc/", "", "10.0.0.1:80"][..],
            &["/svc/", "a", ""],
            &["/svc/", "a", "10.0.0.1:80", "--ttl", "0"],
            &["/svc/", "a"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} is accepted");
        }
    }
}
