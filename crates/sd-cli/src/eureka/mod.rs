//! `sd eureka ...`: commands for Netflix Eureka, one module each.

mod decode;
mod serve;

use std::io::Write;

use clap::Subcommand;

use crate::error::Error;

/// The `sd eureka` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Decode a Eureka document (JSON or XML) and list its instances.
    Decode(decode::Args),
    /// Run a Eureka-compatible development registry until SIGINT or SIGTERM.
    Serve(serve::Args),
}

/// Runs one `sd eureka` command, writing its output to `out`.
pub(crate) fn run(command: &Command, out: &mut impl Write) -> Result<(), Error> {
    match command {
        Command::Decode(args) => decode::run(args, out),
        Command::Serve(args) => serve::run(args, out),
    }
}
