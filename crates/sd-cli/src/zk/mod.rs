//! `sd zk ...`: commands for Apache `ZooKeeper`, one module each.

mod ensemble;
mod register;
mod watch;

use std::io::Write;

use clap::Subcommand;

use crate::error::Error;

/// The `sd zk` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the instances under a path each time they change, until SIGINT or SIGTERM.
    Watch(watch::Args),
    /// Register an instance under a path and keep it registered until SIGINT or SIGTERM.
    Register(register::Args),
}

/// Runs one `sd zk` command, writing its output to `out`.
pub(crate) fn run(command: &Command, out: &mut impl Write) -> Result<(), Error> {
    match command {
        Command::Watch(args) => watch::run(args, out),
        Command::Register(args) => register::run(args, out),
    }
}
