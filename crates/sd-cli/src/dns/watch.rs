//! `sd dns watch`: follows the SRV records of one name with an `sd_dnssrv::Instancer` and
//! prints a line each time the instances change, until SIGINT or SIGTERM.
//!
//! A line is the time the change was seen (UTC, RFC 3339, to the second), then each
//! instance as `target:port=PRIORITY/WEIGHT`, sorted, space-separated, or `-` for none
//! (the name server says there are no SRV records):
//!
//! ```text
//! 2026-11-30T03:47:01Z a.example.com:8080=10/5 b.example.com:8080=10/5
//! 2026-11-30T03:47:31Z b.example.com:8080=10/5
//! 2026-11-30T03:48:01Z error: SRV lookup of _http._tcp.example.com timed out after 5s
//! ```
//!
//! A failed lookup prints `error: ` and the message, once until something else happens.
//! The name servers are the system's (`/etc/resolv.conf`) unless `--nameserver` is given.
//! Polls happen every `--interval`, sooner when the records' TTL says so. Each line is
//! flushed at once, for readers at the other end of a pipe.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use sd_core::Instance;
use sd_dnssrv::{Instancer, PRIORITY, Transport, WEIGHT};

use crate::error::Error;
use crate::session;
use crate::text::one_line;
use crate::time::parse_secs;

/// Arguments of `sd dns watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The SRV name to follow (`_http._tcp.orders.example.com`).
    #[arg(value_name = "NAME")]
    name: String,
    /// A name server to ask instead of the system's, as ip:port; repeat it for more.
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    name_servers: Vec<SocketAddr>,
    /// Ask over TCP only (by default UDP, and TCP for truncated answers).
    #[arg(long)]
    tcp: bool,
    /// Longest wait between polls, in seconds (decimals allowed); a shorter TTL polls
    /// sooner.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    interval: Duration,
}

/// Runs `sd dns watch` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async {
        let instancer = Instancer::builder(&args.name)
            .name_servers(args.name_servers.iter().copied())
            .transport(if args.tcp {
                Transport::Tcp
            } else {
                Transport::Udp
            })
            .interval(args.interval)
            .build()
            .map_err(|source| Error::dns(format!("cannot follow {}", args.name), source))?;
        session::watch(&instancer, out, show).await
    })
}

/// An instance with its SRV priority and weight (`target:port=PRIORITY/WEIGHT`).
fn show(instance: &Instance) -> String {
    let field = |key| instance.metadata().get(key).map_or("?", String::as_str);
    format!(
        "{}={}/{}",
        one_line(instance.id()),
        one_line(field(PRIORITY)),
        one_line(field(WEIGHT))
    )
}

#[cfg(test)]
mod tests {
    use sd_core::{Event, Instance, Instances};

    use super::show;
    use crate::session::line;

    #[test]
    fn lines_show_targets_with_priority_and_weight_dashes_and_errors() {
        let set = Instances::new([
            Instance::builder("b.example:80")
                .metadata("priority", "10")
                .metadata("weight", "5")
                .build(),
            Instance::new("a.example:81"),
        ]);
        assert_eq!(
            line(&Event::Instances(set), show),
            "a.example:81=?/? b.example:80=10/5"
        );
        assert_eq!(line(&Event::Instances(Instances::empty()), show), "-");
        let error = sd_core::Error::discovery("timed\nout");
        assert_eq!(line(&Event::Error(error), show), "error: timed\\nout");
    }
}
