//! `sd eureka watch`: follows the instances of one app and prints a line each time they
//! or their statuses change, until SIGINT or SIGTERM.
//!
//! A line is the time of the poll that saw the change (UTC, RFC 3339, to the second), then
//! each instance as `ip:port=STATUS`, sorted, space-separated, or `-` for none:
//!
//! ```text
//! 2026-11-30T03:47:01Z 10.0.0.5:8080=UP 10.0.0.6:8080=UP
//! 2026-11-30T03:47:31Z 10.0.0.5:8080=UP
//! ```
//!
//! Only UP instances count unless `--all-statuses`, which shows every status, so that an
//! instance going DOWN or `OUT_OF_SERVICE` is a line of its own. A poll that fails prints
//! the time, `error: ` and the error message. The first line is the state of the first
//! poll, so an app without instances starts with `-`. Each line is flushed at once, for
//! readers at the other end of a pipe.

use std::io::Write;
use std::time::{Duration, SystemTime};

use sd_eureka::{Application, Connection, Status};

use super::client::{self, Registry};
use crate::error::Error;
use crate::text::one_line;
use crate::time::{parse_secs, rfc3339};
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
        let connection = args.registry.connect(None)?;
        let mut printer = Printer { out, last: None };
        tokio::select! {
            result = watch(&connection, args, &mut printer) => result,
            result = shutdown.wait() => result.map_err(Error::Signal),
        }
    })
}

/// Polls every interval and prints each change; returns only on a write error. Reads the
/// whole registry, as instancers do, not `apps/APP`: there a 404 cannot tell an app
/// without instances from a URL without the base path, which must fail over instead.
/// (Not an instancer's set either: the line shows statuses.)
async fn watch(
    connection: &Connection,
    args: &Args,
    printer: &mut Printer<'_, impl Write>,
) -> Result<(), Error> {
    loop {
        let now = SystemTime::now();
        match connection.applications().await {
            Ok(registry) => {
                let app = registry.application(&args.app);
                printer.set(now, &instances(app, args.all_statuses))?;
            }
            Err(error) => printer.error(now, &error.to_string())?,
        }
        tokio::time::sleep(args.interval).await;
    }
}

/// The app's instances (none without the app) as `(ip:port, status)`, sorted; only UP ones unless `all`.
fn instances(app: Option<&Application>, all: bool) -> Vec<(String, Status)> {
    let mut instances: Vec<_> = app
        .iter()
        .flat_map(|app| &app.instances)
        .filter(|i| all || i.status == Status::Up)
        .map(|i| (i.address(), i.status))
        .collect();
    instances.sort();
    instances
}

/// Writes the lines, each flushed and dated, skipping one that repeats the line before (a
/// change of attributes only, such as metadata, leaves addresses and statuses as they were).
struct Printer<'a, W> {
    out: &'a mut W,
    /// The last line without its time.
    last: Option<String>,
}

impl<W: Write> Printer<'_, W> {
    fn set(&mut self, at: SystemTime, instances: &[(String, Status)]) -> Result<(), Error> {
        let line = instances
            .iter()
            .map(|(address, status)| format!("{}={status}", one_line(address)))
            .collect::<Vec<_>>()
            .join(" ");
        self.line(
            at,
            if line.is_empty() {
                "-".to_owned()
            } else {
                line
            },
        )
    }

    fn error(&mut self, at: SystemTime, message: &str) -> Result<(), Error> {
        self.line(at, format!("error: {}", one_line(message)))
    }

    fn line(&mut self, at: SystemTime, line: String) -> Result<(), Error> {
        if self.last.as_ref() == Some(&line) {
            return Ok(());
        }
        writeln!(self.out, "{} {line}", rfc3339(at))
            .and_then(|()| self.out.flush())
            .map_err(Error::Write)?;
        self.last = Some(line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use sd_eureka::Status;

    use super::Printer;

    #[test]
    fn lines_are_dated_sets_dashes_and_errors_without_repeats() {
        let mut out = Vec::new();
        let mut printer = Printer {
            out: &mut out,
            last: None,
        };
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let two = [
            ("10.0.0.1:80".to_owned(), Status::Up),
            ("10.0.0.2:80".to_owned(), Status::Down),
        ];
        printer.set(at(0), &[]).unwrap();
        printer.set(at(1), &two).unwrap();
        printer.set(at(2), &two).unwrap();
        printer.error(at(3), "down\nhard").unwrap();
        printer.set(at(4), &[]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1970-01-01T00:00:00Z -\n\
             1970-01-01T00:00:01Z 10.0.0.1:80=UP 10.0.0.2:80=DOWN\n\
             1970-01-01T00:00:03Z error: down\\nhard\n\
             1970-01-01T00:00:04Z -\n"
        );
    }
}
