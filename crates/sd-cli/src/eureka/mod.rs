//! `sd eureka ...`: commands for Netflix Eureka, one module each.

mod decode;

use std::io::Write;

use clap::Subcommand;

use crate::error::Error;

/// The `sd eureka` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Decode a Eureka document (JSON or XML) and list its instances.
    Decode(decode::Args),
}

/// Runs one `sd eureka` command, writing its output to `out`.
pub(crate) fn run(command: &Command, out: &mut impl Write) -> Result<(), Error> {
    match command {
        Command::Decode(args) => decode::run(args, out),
    }
}
