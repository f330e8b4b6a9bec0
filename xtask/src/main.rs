//! Project automation, run as `cargo xtask <task>`.
//!
//! * `ci` — what CI runs: format check, clippy with warnings denied, the README's test
//!   command, and the docs with warnings denied.
//! * `deny` — installs cargo-deny when missing and checks bans, licenses and sources
//!   (advisories need a database these machines cannot fetch).
//! * `bench [ARGS..]` — the criterion benches of every crate; figures go in BENCHMARKS.md.
//! * `bench-peers [--quick]` — installs Debian's Go and go-kit when missing, runs sd's
//!   read-path benches and a go-kit program doing the same (`xtask/peers/gokit/`) back to
//!   back, then sd-tower's overhead and end-to-end benches, and prints sd against go-kit
//!   with the ratio (see [`peers`]).
//! * `fuzz [TARGET] [-- LIBFUZZER ARGS..]` — installs cargo-fuzz when missing and fuzzes
//!   the sd-eureka decoders (the project in `fuzz/`): TARGET, else every target in turn,
//!   each for 60 seconds unless the libFuzzer arguments bound the run. Works with the
//!   stable toolchain (see [`fuzz`]); crashes are saved under `fuzz/artifacts/TARGET/`.
//! * `interop` — installs the Python py-eureka-client (pip) and eureka-js-client (npm) under
//!   `target/interop/` and checks each against `sd eureka serve`: register, heartbeat,
//!   discovery, status change, deregistration (see [`interop`]). CI runs it after `ci`.
//! * `compose-test` — starts the real Eureka server of `docker-compose.yml`, waits until it
//!   answers, runs sd-eureka's Docker suite against it (`SD_EUREKA_URL`), and stops it.
//!   Without a Docker engine it says so in one line and succeeds, unless
//!   `SD_REQUIRE_DOCKER` (anything but empty or `0`) demands the suite: then it fails.

use std::env;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod interop;
mod peers;

/// The README's test command; CI runs exactly this.
const TEST_COMMAND: &[&str] = &["test", "--workspace"];

/// The targets in `fuzz/fuzz_targets`, fuzzed in this order when none is named.
const FUZZ_TARGETS: &[&str] = &["decode_json", "decode_xml", "decode_any"];

/// The bound each target runs with when the libFuzzer arguments set none.
const FUZZ_TIME: &str = "-max_total_time=60";

/// libFuzzer options that end a run by themselves.
const FUZZ_BOUNDS: &[&str] = &["-max_total_time=", "-runs="];

/// The service URL of the `docker-compose.yml` server, handed to the Docker suite.
const COMPOSE_URL: &str = "http://localhost:8761/eureka/";

/// Where that server listens, for the readiness check.
const COMPOSE_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 8761);

/// How long the server may take to be pulled, started and ready (a JVM).
const COMPOSE_READY: Duration = Duration::from_secs(180);

/// Set (to anything but empty or `0`), the Docker suite must run: no skipping.
const REQUIRE_DOCKER: &str = "SD_REQUIRE_DOCKER";

/// The Docker suite, as `compose-test` runs it.
const DOCKER_TESTS: &[&str] = &["test", "-p", "sd-eureka", "--test", "docker"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("deny") => deny(),
        Some("bench") => bench(&args[1..]),
        Some("bench-peers") => workspace_root().and_then(|root| peers::run(root, &args[1..])),
        Some("fuzz") => fuzz(&args[1..]),
        Some("interop") => workspace_root().and_then(interop::run),
        Some("compose-test") => workspace_root().and_then(compose_test),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | deny | bench [criterion args] | bench-peers [--quick] \
                 | fuzz [{}] [-- libfuzzer args] | interop | compose-test>",
                FUZZ_TARGETS.join(" | ")
            );
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
    // Features off by default still have to build: TLS for service URLs.
    cargo(
        &[
            "clippy",
            "-p",
            "sd-eureka",
            "--features",
            "tls",
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
    install_if_missing("deny", "cargo-deny")?;
    cargo(&["deny", "check", "bans", "licenses", "sources"], &[])
}

/// Installs `package` from crates.io unless `cargo <subcommand>` already runs.
fn install_if_missing(subcommand: &str, package: &str) -> Result<(), String> {
    let installed = Command::new("cargo")
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        Ok(())
    } else {
        cargo(&["install", "--locked", package], &[])
    }
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--workspace", "--"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args, &[])
}

/// Fuzzes TARGET, or every target, with cargo-fuzz on the stable toolchain.
///
/// cargo-fuzz asks for nightly only for its sanitizers (`-Zsanitizer`): with
/// `--sanitizer none` every flag it passes (`-Cpasses=sancov-module`, `-Cllvm-args=...`)
/// is stable. sd-eureka forbids unsafe code, so the address sanitizer would add little
/// but would cut the executions per second several-fold. `RUSTC_BOOTSTRAP=1`, set for
/// this command only (its build lives apart, in `fuzz/target`), lets stable accept the
/// `-Z` flags a newer cargo-fuzz may pass.
fn fuzz(args: &[String]) -> Result<(), String> {
    let (named, libfuzzer) = match args.iter().position(|a| a == "--") {
        Some(dash) => (&args[..dash], &args[dash + 1..]),
        None => (args, &[][..]),
    };
    let targets: Vec<&str> = match named {
        [] => FUZZ_TARGETS.to_vec(),
        [target] if FUZZ_TARGETS.contains(&target.as_str()) => vec![target.as_str()],
        _ => {
            return Err(format!(
                "fuzz takes one target of {} (got {named:?}), then `--` and libFuzzer arguments",
                FUZZ_TARGETS.join(", ")
            ));
        }
    };
    let root = workspace_root()?;
    let fuzz_dir = root.join("fuzz");
    let fuzz_dir = fuzz_dir
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", fuzz_dir.display()))?;
    let mut libfuzzer: Vec<&str> = libfuzzer.iter().map(String::as_str).collect();
    if !libfuzzer
        .iter()
        .any(|a| FUZZ_BOUNDS.iter().any(|bound| a.starts_with(bound)))
    {
        libfuzzer.push(FUZZ_TIME);
    }
    install_if_missing("fuzz", "cargo-fuzz")?;
    for target in targets {
        let mut args = vec![
            "fuzz",
            "run",
            "--sanitizer",
            "none",
            "--fuzz-dir",
            fuzz_dir,
            target,
            "--",
        ];
        args.extend(&libfuzzer);
        cargo(&args, &[("RUSTC_BOOTSTRAP", "1")])?;
    }
    Ok(())
}

/// Runs sd-eureka's Docker suite against the real Eureka server of `docker-compose.yml`:
/// `docker compose up -d`, a wait until it answers `GET /eureka/apps`, the suite with
/// `SD_EUREKA_URL` pointing at it, then `docker compose down` whatever the outcome.
fn compose_test(root: &Path) -> Result<(), String> {
    if !docker_engine() {
        if docker_required() {
            return Err(format!(
                "{REQUIRE_DOCKER} is set, but there is no Docker engine (`docker info` fails)"
            ));
        }
        eprintln!("compose-test: skipped, no Docker engine (`docker info` fails)");
        return Ok(());
    }
    // Only the Eureka server: the file's other services are for other crates.
    let outcome = docker(root, &["compose", "up", "-d", "eureka"])
        .and_then(|()| wait_for_eureka())
        .and_then(|()| cargo(DOCKER_TESTS, &[("SD_EUREKA_URL", COMPOSE_URL)]));
    // Down even after a failed up: it may have left a container or a network behind.
    let down = docker(root, &["compose", "down"]);
    outcome.and(down)
}

/// Whether `SD_REQUIRE_DOCKER` demands the Docker suite, as the suite itself reads it.
fn docker_required() -> bool {
    env::var(REQUIRE_DOCKER).is_ok_and(|value| !matches!(value.trim(), "" | "0"))
}

/// Whether the docker CLI is there and its engine answers.
fn docker_engine() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until the compose server answers a full fetch with 200.
fn wait_for_eureka() -> Result<(), String> {
    let addr = SocketAddr::from(COMPOSE_ADDR);
    eprintln!("waiting for the Eureka server at {COMPOSE_URL}");
    let deadline = Instant::now() + COMPOSE_READY;
    loop {
        if registry_answers(addr) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the Eureka server at {COMPOSE_URL} did not answer within {COMPOSE_READY:?}"
            ));
        }
        thread::sleep(Duration::from_secs(1));
    }
}

/// One `GET /eureka/apps` over a plain socket: true on a 200.
fn registry_answers(addr: SocketAddr) -> bool {
    let limit = Duration::from_secs(5);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, limit) else {
        return false;
    };
    let request = "GET /eureka/apps HTTP/1.1\r\nHost: localhost:8761\r\n\
                   Accept: application/json\r\nConnection: close\r\n\r\n";
    let mut head = [0_u8; 12];
    stream.set_read_timeout(Some(limit)).is_ok()
        && stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.1 200")
}

fn docker(root: &Path, args: &[&str]) -> Result<(), String> {
    eprintln!("+ docker {}", args.join(" "));
    let status = Command::new("docker")
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`docker {}` failed ({status})", args.join(" ")))
    }
}

/// The workspace's root directory: the parent of this crate's.
fn workspace_root() -> Result<&'static Path, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| "xtask is not inside the workspace".to_owned())
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let mut shown = String::new();
    for (name, value) in envs {
        // Writing to a String cannot fail.
        let _ = write!(shown, "{name}={value:?} ");
    }
    eprintln!("+ {shown}cargo {}", args.join(" "));
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
