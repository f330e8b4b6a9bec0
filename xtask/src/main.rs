//! Project automation, run as `cargo xtask <task>`.
//!
//! * `ci` — what CI runs: format check, clippy with warnings denied, the README's test
//!   command, and the docs with warnings denied.
//! * `deny` — installs cargo-deny when missing and checks bans, licenses and sources
//!   (advisories need a database these machines cannot fetch).
//! * `bench [ARGS..]` — the criterion benches of every crate; figures go in BENCHMARKS.md.

use std::env;
use std::process::{Command, ExitCode};

/// The README's test command; CI runs exactly this.
const TEST_COMMAND: &[&str] = &["test", "--workspace"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("deny") => deny(),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci | deny | bench [criterion args]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(TEST_COMMAND, &[])?;
    cargo(
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

fn deny() -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        cargo(&["install", "--locked", "cargo-deny"], &[])?;
    }
    cargo(&["deny", "check", "bans", "licenses", "sources"], &[])
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--workspace", "--"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args, &[])
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("+ cargo {}", args.join(" "));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
