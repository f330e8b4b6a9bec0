//! `sd etcd ...`: commands for etcd (v3 API), one module each.

mod client;
mod register;
mod watch;

use std::io::Write;

use clap::Subcommand;

use crate::error::Error;

/// The `sd etcd` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the instances under a key prefix each time they change, until SIGINT or
    /// SIGTERM.
    Watch(watch::Args),
    /// Write an instance key under a lease and keep it alive until SIGINT or SIGTERM.
    Register(register::Args),
}

/// Runs one `sd etcd` command, writing its output to `out`.
pub(crate) fn run(command: &Command, out: &mut impl Write) -> Result<(), Error> {
    match command {
        Command::Watch(args) => watch::run(args, out),
        Command::Register(args) => register::run(args, out),
    }
}
