//! `sd eureka ...`: commands for Netflix Eureka, one module each.

mod apps;
mod client;
mod decode;
mod register;
mod serve;
mod watch;

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
    /// List the instances of a running registry.
    Apps(apps::Args),
    /// Print the instances of an app each time they change, until SIGINT or SIGTERM.
    Watch(watch::Args),
    /// Register an instance and keep it registered until SIGINT or SIGTERM.
    Register(register::Args),
}

/// Runs one `sd eureka` command, writing its output to `out`.
pub(crate) fn run(command: &Command, out: &mut impl Write) -> Result<(), Error> {
    match command {
        Command::Decode(args) => decode::run(args, out),
        Command::Serve(args) => serve::run(args, out),
        Command::Apps(args) => apps::run(args, out),
        Command::Watch(args) => watch::run(args, out),
        Command::Register(args) => register::run(args, out),
    }
}
