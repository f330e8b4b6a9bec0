//! `sd`: the command line of the `sd` service discovery crates.
//!
//! Commands are grouped by backend (`sd eureka ...`), one module per command. A command is
//! a function that writes to any [`Write`] and returns a [`Result`], so that this file only
//! parses arguments, picks the command and turns its outcome into an exit status.

// Any input, however broken, must end as one `error:` line and status 1, never a panic.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod dns;
mod error;
mod etcd;
mod eureka;
mod input;
mod log;
mod session;
mod text;
mod time;
mod zk;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Error;

/// Client-side service discovery: decode, inspect and work with service registries.
#[derive(Debug, Parser)]
#[command(
    name = "sd",
    version,
    after_help = "Environment:\n  \
                  EUREKA_URL  The registry of `sd eureka apps|watch|register` when --url is \
                  absent: comma-separated service URLs. The place for credentials \
                  (http://USER:PASSWORD@host:8761/eureka/), which --url would show in `ps`. \
                  Without it, a Spring service's EUREKA_CLIENT_SERVICEURL_* variables.\n  \
                  RUST_LOG    Log to stderr what the directives select (`debug`, \
                  `sd_eureka=trace`...); unset, nothing is logged. Logs never show credentials."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Netflix Eureka registries and documents.
    #[command(subcommand)]
    Eureka(eureka::Command),
    /// DNS SRV records.
    #[command(subcommand)]
    Dns(dns::Command),
    /// etcd (v3 API): watch a key prefix, register an instance under a lease.
    #[command(subcommand)]
    Etcd(etcd::Command),
    // The help is not a doc comment: clippy wants the product name in backticks there.
    #[command(
        subcommand,
        about = "Apache ZooKeeper paths, as go-kit's sd/zk uses them."
    )]
    Zk(zk::Command),
}

fn main() -> ExitCode {
    // Usage errors exit with clap's status 2 here, before any command runs.
    let cli = Cli::parse();
    if let Some(warning) = log::install() {
        // The command runs all the same; only its logs are lost.
        let _ = writeln!(io::stderr(), "{warning}");
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let result = match &cli.command {
        Command::Eureka(command) => eureka::run(command, &mut out),
        Command::Dns(command) => dns::run(command, &mut out),
        Command::Etcd(command) => etcd::run(command, &mut out),
        Command::Zk(command) => zk::run(command, &mut out),
    }
    .and_then(|()| out.flush().map_err(Error::Write));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`sd ... | head`): it has all it wanted, which is no failure.
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            // With stderr gone there is nowhere left to report to; the status still says it.
            let _ = writeln!(
                io::stderr(),
                "error: {}",
                text::one_line(&error.to_string())
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
