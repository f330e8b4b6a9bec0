//! `sd eureka register`: registers one instance and keeps it registered (heartbeats, and
//! registering again when the server forgets it) until SIGINT or SIGTERM, then removes it.
//!
//! With `--drain`, a signal first marks the instance `OUT_OF_SERVICE` and waits that long
//! (`Registrar::shutdown`), so that clients stop calling it before it goes.
//!
//! Prints `registered APP ID at URL[,URL...]` once the server has accepted the instance,
//! and `deregistered APP ID` once it has removed it. A first registration that fails is
//! an error, as is a deregistration that fails.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use clap::ValueEnum;
use clap::builder::NonEmptyStringValueParser;
use sd_eureka::{InstanceInfo, Registrar, Status, default_ip};

use super::client::{self, Registry};
use crate::error::Error;
use crate::session;
use crate::text::one_line;

/// Arguments of `sd eureka register`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The app to register in (servers upper-case it).
    #[arg(long, value_name = "APP", value_parser = NonEmptyStringValueParser::new())]
    app: String,
    /// The instance's port.
    #[arg(long, value_name = "PORT")]
    port: u16,
    /// The instance's IP address, also its host name [default: the address of the
    /// interface that routes outwards, else 127.0.0.1]
    #[arg(long, value_name = "IP")]
    ip: Option<IpAddr>,
    /// The instance id [default: IP:app:PORT]
    #[arg(long, value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    instance_id: Option<String>,
    #[command(flatten)]
    registry: Registry,
    /// Seconds between heartbeats.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    renew: u32,
    /// Seconds the server keeps the instance without a heartbeat.
    #[arg(long, value_name = "SECS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..))]
    lease: u32,
    /// The status to register with.
    #[arg(long, value_enum, value_name = "STATUS", default_value_t = StatusArg::Up, ignore_case = true)]
    status: StatusArg,
    // The help is not a doc comment: rustdoc would want markdown that clap prints as is.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "0",
        value_parser = parse_drain,
        help = "On SIGINT or SIGTERM, first mark the instance OUT_OF_SERVICE and wait this \
                long (decimals allowed) for clients to stop calling it, then deregister; a \
                second signal cuts the wait short. 0 deregisters at once"
    )]
    drain: Duration,
    /// A metadata entry KEY=VALUE; repeat it for more.
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_entry)]
    metadata: Vec<(String, String)>,
    /// The instance's zone (the `zone` metadata, as Spring Cloud registers it).
    #[arg(long, value_name = "ZONE", value_parser = NonEmptyStringValueParser::new())]
    zone: Option<String>,
}

/// A number of seconds, zero or more, decimals allowed.
fn parse_drain(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_nan() || secs < 0.0 {
        return Err("must be 0 seconds or more".to_owned());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} seconds is too long"))
}

/// `KEY=VALUE` with a non-empty key; the value may hold `=` and may be empty.
fn parse_entry(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// The `--status` values, spelled as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum StatusArg {
    Up,
    Down,
    Starting,
    OutOfService,
    Unknown,
}

impl From<StatusArg> for Status {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Up => Status::Up,
            StatusArg::Down => Status::Down,
            StatusArg::Starting => Status::Starting,
            StatusArg::OutOfService => Status::OutOfService,
            StatusArg::Unknown => Status::Unknown,
        }
    }
}

/// Runs `sd eureka register` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let instance = instance(args, args.ip.unwrap_or_else(default_ip));
    let name = format!(
        "{} {}",
        one_line(&instance.app),
        one_line(&instance.instance_id)
    );
    client::runtime()?.block_on(async {
        let registrar = Registrar::builder(args.registry.connect(None)?, instance)
            .drain(args.drain)
            .build();
        let urls = client::describe(&args.registry.urls());
        // The drain: out of service, then the wait (`Registrar::shutdown`).
        let drain = async {
            registrar
                .shutdown()
                .await
                .map_err(|source| Error::eureka(format!("cannot deregister {name}"), source))
        };
        session::hold(
            &registrar,
            &name,
            Error::eureka,
            out,
            |_| format!("registered {name} at {urls}"),
            drain,
        )
        .await
    })
}

/// The instance to register: `ip` is its address and host name.
fn instance(args: &Args, ip: IpAddr) -> InstanceInfo {
    let host = ip.to_string();
    let mut builder = InstanceInfo::builder(&args.app, args.port)
        .host(&host)
        .ip(&host)
        .status(args.status.into())
        .renewal_interval_secs(args.renew)
        .lease_duration_secs(args.lease);
    if let Some(id) = &args.instance_id {
        builder = builder.instance_id(id);
    }
    for (key, value) in &args.metadata {
        builder = builder.metadata(key, value);
    }
    if let Some(zone) = &args.zone {
        builder = builder.zone(zone);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use clap::Parser;
    use sd_eureka::Status;

    use super::{Args, instance};

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
    fn defaults_make_a_conventional_up_instance() {
        let args = parse(&["--app", "orders", "--port", "8080"]).unwrap();
        let instance = instance(&args, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(instance.app, "ORDERS");
        assert_eq!(instance.instance_id, "10.0.0.5:orders:8080");
        assert_eq!(
            (instance.host_name.as_str(), instance.ip_addr.as_str()),
            ("10.0.0.5", "10.0.0.5")
        );
        assert_eq!(instance.status, Status::Up);
        let lease = instance.lease_info.unwrap();
        assert_eq!(
            (lease.renewal_interval_in_secs, lease.duration_in_secs),
            (30, 90)
        );
    }

    #[test]
    fn options_override_the_defaults() {
        let args = parse(&[
            "--app",
            "orders",
            "--port",
            "8080",
            "--ip",
            "10.0.0.7",
            "--instance-id",
            "o-1",
            "--renew",
            "5",
            "--lease",
            "15",
            "--status",
            "out_of_service",
        ])
        .unwrap();
        let instance = instance(&args, args.ip.unwrap());
        assert_eq!(instance.instance_id, "o-1");
        assert_eq!(instance.ip_addr, "10.0.0.7");
        assert_eq!(instance.status, Status::OutOfService);
        let lease = instance.lease_info.unwrap();
        assert_eq!(
            (lease.renewal_interval_in_secs, lease.duration_in_secs),
            (5, 15)
        );
    }

    #[test]
    fn unusable_values_are_usage_errors() {
        for bad in [
            &["--app", "", "--port", "80"][..],
            &["--app", "a", "--port", "70000"],
            &["--app", "a", "--port", "80", "--ip", "host.local"],
            &["--app", "a", "--port", "80", "--renew", "0"],
            &["--app", "a", "--port", "80", "--status", "HAPPY"],
            &["--app", "a", "--port", "80", "--instance-id", ""],
            &["--app", "a", "--port", "80", "--metadata", "novalue"],
            &["--app", "a", "--port", "80", "--metadata", "=v"],
            &["--app", "a", "--port", "80", "--zone", ""],
            &["--app", "a", "--port", "80", "--drain", "-1"],
            &["--port", "80"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} is accepted");
        }
    }
}
