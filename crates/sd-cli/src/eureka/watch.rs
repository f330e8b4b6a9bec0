//! `sd eureka watch`: follows the instances of one app and prints a line each time the set
//! changes, until SIGINT or SIGTERM.
//!
//! A line is the sorted `ip:port` list, space-separated, or `-` for the empty set; a poll
//! that fails prints `error: ` and the error message. The first line is the state of the
//! first poll, so an app without instances starts with `-`. Each line is flushed at once,
//! for readers at the other end of a pipe.

use std::io::Write;
use std::time::Duration;

use sd_core::{Event, Instancer as _};
use sd_eureka::{Connection, Instancer};

use super::client::{self, Registry};
use crate::error::Error;
use crate::text::one_line;
use sd_eureka::ShutdownSignal as Shutdown;

/// Arguments of `sd eureka watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The app to follow (case-insensitive).
    #[arg(value_name = "APP")]
    app: String,
    #[command(flatten)]
    registry: Registry,
    /// Seconds between polls of the registry (decimals allowed).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    interval: Duration,
    /// Follow instances of every status, not only UP ones.
    #[arg(long)]
    all_statuses: bool,
}

/// Runs `sd eureka watch` until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    client::runtime()?.block_on(async {
        let mut shutdown = Shutdown::listen().map_err(Error::Signal)?;
        let connection = args.registry.connect(Some(args.interval))?;
        let mut printer = Printer { out, last: None };
        tokio::select! {
            result = watch(&connection, args, &mut printer) => result,
            result = shutdown.wait() => result.map_err(Error::Signal),
        }
    })
}

/// Prints every change of the followed set; returns only if the instancer goes away.
async fn watch(
    connection: &Connection,
    args: &Args,
    printer: &mut Printer<'_, impl Write>,
) -> Result<(), Error> {
    let builder = Instancer::builder(connection).app(&args.app);
    let builder = if args.all_statuses {
        builder.all_statuses()
    } else {
        builder
    };
    let instancer = builder
        .build()
        .map_err(|source| Error::eureka(format!("cannot watch {}", one_line(&args.app)), source))?;
    // The instancer has no state until its first poll, so the first line is real.
    let mut states = instancer.subscribe();
    while let Some(event) = states.next().await {
        match event {
            Event::Instances(set) => printer.set(set.ids())?,
            Event::Error(error) => printer.error(&error)?,
        }
    }
    Ok(())
}

/// Writes the lines, each flushed, skipping one that repeats the line before (a change
/// of attributes only, such as metadata, leaves the `ip:port` list as it was).
struct Printer<'a, W> {
    out: &'a mut W,
    last: Option<String>,
}

impl<W: Write> Printer<'_, W> {
    fn set<'i>(&mut self, ids: impl Iterator<Item = &'i str>) -> Result<(), Error> {
        let line = ids.map(one_line).collect::<Vec<_>>().join(" ");
        self.line(if line.is_empty() {
            "-".to_owned()
        } else {
            line
        })
    }

    fn error(&mut self, error: &sd_core::Error) -> Result<(), Error> {
        self.line(format!("error: {}", one_line(&error.to_string())))
    }

    fn line(&mut self, line: String) -> Result<(), Error> {
        if self.last.as_ref() == Some(&line) {
            return Ok(());
        }
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(Error::Write)?;
        self.last = Some(line);
        Ok(())
    }
}

/// A positive number of seconds, decimals allowed (`30`, `0.5`).
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err("must be more than 0 seconds".to_owned());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} seconds is too long"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Printer, parse_secs};

    #[test]
    fn lines_are_sets_dashes_and_errors_without_repeats() {
        let mut out = Vec::new();
        let mut printer = Printer {
            out: &mut out,
            last: None,
        };
        printer.set([].into_iter()).unwrap();
        printer
            .set(["10.0.0.1:80", "10.0.0.2:80"].into_iter())
            .unwrap();
        printer
            .set(["10.0.0.1:80", "10.0.0.2:80"].into_iter())
            .unwrap();
        printer
            .error(&sd_core::Error::discovery("down\nhard"))
            .unwrap();
        printer.set([].into_iter()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-\n10.0.0.1:80 10.0.0.2:80\nerror: down\\nhard\n-\n"
        );
    }

    #[test]
    fn seconds_may_have_decimals() {
        assert_eq!(parse_secs("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("NaN").is_err());
        assert!(parse_secs("inf").is_err());
        assert!(parse_secs("soon").is_err());
    }
}
