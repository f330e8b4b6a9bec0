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
use std::time::SystemTime;

use sd_core::{Event, Instancer as _};
use sd_etcd::Instancer;
use sd_eureka::ShutdownSignal as Shutdown;

use super::client::{self, Cluster};
use crate::error::Error;
use crate::text::one_line;
use crate::time::rfc3339;

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
        let mut shutdown = Shutdown::listen().map_err(Error::Signal)?;
        let etcd = args.cluster.connect().await?;
        let instancer = Instancer::new(&etcd, &args.prefix)
            .map_err(|source| Error::etcd("cannot watch", source))?;
        let mut events = instancer.subscribe();
        let print = async {
            while let Some(event) = events.next().await {
                writeln!(out, "{} {}", rfc3339(SystemTime::now()), line(&event))
                    .and_then(|()| out.flush())
                    .map_err(Error::Write)?;
            }
            Ok(())
        };
        tokio::select! {
            result = print => result,
            result = shutdown.wait() => result.map_err(Error::Signal),
        }
    })
}

/// One event as a line, without its time.
fn line(event: &Event) -> String {
    match event {
        Event::Instances(set) if set.is_empty() => "-".to_owned(),
        Event::Instances(set) => set.ids().map(one_line).collect::<Vec<_>>().join(" "),
        Event::Error(error) => format!("error: {}", one_line(&error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use sd_core::{Error, Event, Instances};

    use super::line;

    #[test]
    fn sets_dashes_and_errors() {
        assert_eq!(line(&Event::from(Instances::empty())), "-");
        assert_eq!(
            line(&Event::from(Instances::new(["b:1", "a:1"]))),
            "a:1 b:1"
        );
        assert_eq!(
            line(&Event::from(Error::discovery("down\nhard"))),
            "error: down\\nhard"
        );
    }
}
