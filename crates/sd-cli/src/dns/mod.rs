//! `sd dns ...`: commands for DNS SRV discovery, one module each.

mod watch;

use std::io::Write;

use clap::Subcommand;

use crate::error::Error;

/// The `sd dns` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the targets of an SRV name each time they change, until SIGINT or SIGTERM.
    Watch(watch::Args),
}

/// Runs one `sd dns` command, writing its output to `out`.
pub(crate) fn run(command: &Command, out: &mut impl Write) -> Result<(), Error> {
    match command {
        Command::Watch(args) => watch::run(args, out),
    }
}
