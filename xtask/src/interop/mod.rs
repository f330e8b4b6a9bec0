//! `cargo xtask interop`: third-party Eureka clients against `sd eureka serve`.
//!
//! Installs the Python py-eureka-client (pip, in a venv) and eureka-js-client (npm) under
//! `target/interop/`, at the versions pinned in [`install`], builds and starts the
//! registry on a free loopback port, and drives each client with its script in
//! `xtask/interop/` through register, heartbeat, discovery of an app this task registers
//! itself, a status change where the client has one, and deregistration. After each
//! step the registry's own view (`GET apps/{APP}` as JSON, read with `sd_eureka`) must
//! agree. Prints one `PASS` / `FAIL` line per step, then `interop: N passed, M failed`;
//! a client's log (`target/interop/NAME.log`) is shown when one of its steps fails.

mod child;
mod http;
mod install;

use std::env;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use sd_eureka::{Format, InstanceInfo, Status};

use self::child::Guard;

/// The app this task registers for the clients to discover.
const TARGET_APP: &str = "INTEROP-TARGET";

/// `NO_PROXY` for the clients: the registry is on loopback.
const LOOPBACK: &str = "127.0.0.1,localhost";

/// The bound on the registry printing its `listening on` line.
const SERVER_START: Duration = Duration::from_secs(20);

/// The bound on a client registering (interpreter start, imports, first calls).
const CLIENT_START: Duration = Duration::from_secs(30);

/// How long a client looks for the target app in its local copy of the registry.
const DISCOVERY_SECS: u64 = 10;

/// The bound on a client's answer to one command (above [`DISCOVERY_SECS`]).
const REPLY: Duration = Duration::from_secs(20);

/// The bound on the registry showing a renewal: the clients renew every second.
const RENEWAL: Duration = Duration::from_secs(10);

/// The bound on a process exiting once asked to.
const EXIT: Duration = Duration::from_secs(15);

/// How often the registry's view is polled.
const POLL: Duration = Duration::from_millis(100);

/// How many lines of a client's log are shown after one of its steps failed.
const LOG_TAIL: usize = 20;

/// Runs the whole check; an error when any step failed.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    let target = target_dir(root);
    let scratch = target.join("interop");
    fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let mut report = Report::default();
    let clients = install_clients(root, &scratch, &mut report);
    match install::registry(root, &target).and_then(|sd| Registry::start(&sd, &scratch)) {
        Ok(mut registry) => {
            report.record("registry: start", Ok(registry.url.clone()));
            for client in &clients {
                exercise(&mut registry, client, &scratch, &mut report);
            }
            report.record("registry: stop on SIGTERM", registry.stop());
        }
        Err(e) => {
            report.record("registry: start", Err(e));
        }
    }
    eprintln!("interop: took {:.1}s", started.elapsed().as_secs_f64());
    report.finish()
}

/// The build's target directory (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// PASS / FAIL lines and their count.
#[derive(Debug, Default)]
struct Report {
    /// Steps that passed.
    passed: usize,
    /// Steps that failed.
    failed: usize,
}

impl Report {
    /// Prints one step's outcome (a detail, or why it failed); true when it passed.
    fn record(&mut self, step: &str, outcome: Result<String, String>) -> bool {
        match outcome {
            Ok(detail) => {
                self.passed += 1;
                println!("PASS {step}: {detail}");
                true
            }
            Err(reason) => {
                self.failed += 1;
                println!("FAIL {step}: {reason}");
                false
            }
        }
    }

    /// Prints a step that cannot be run, and why; it counts neither way.
    fn skip(step: &str, why: &str) {
        println!("SKIP {step}: {why}");
    }

    /// Prints the summary line; an error when a step failed.
    fn finish(&self) -> Result<(), String> {
        println!("interop: {} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            Ok(())
        } else {
            Err(format!("{} interop step(s) failed", self.failed))
        }
    }
}

/// One client under test: how to run its script, and what it registers.
#[derive(Debug)]
struct Client {
    /// Its name in the report.
    name: &'static str,
    /// The interpreter.
    program: PathBuf,
    /// The driver script, in `xtask/interop/`.
    script: PathBuf,
    /// Environment the script needs.
    env: Vec<(&'static str, PathBuf)>,
    /// The app it registers.
    app: &'static str,
    /// The port its instance claims (nothing listens there).
    port: u16,
    /// The port of the target instance registered for it to discover.
    target_port: u16,
    /// Whether it has a call to change its status.
    status_calls: bool,
}

impl Client {
    /// The instance id it registers with, `host:app:port` as is the convention.
    fn instance_id(&self) -> String {
        format!("127.0.0.1:{}:{}", self.app.to_ascii_lowercase(), self.port)
    }

    /// A step's name in the report.
    fn step(&self, what: &str) -> String {
        format!("{}: {what}", self.name)
    }
}

/// Installs both clients, one step each; returns those that installed.
fn install_clients(root: &Path, scratch: &Path, report: &mut Report) -> Vec<Client> {
    let scripts = root.join("xtask").join("interop");
    let mut clients = Vec::new();
    let (package, version) = install::PY_CLIENT;
    let installed = install::python_client(scratch);
    if let Ok(python) = &installed {
        clients.push(Client {
            name: "python",
            program: python.clone(),
            script: scripts.join("py_client.py"),
            env: Vec::new(),
            app: "INTEROP-PY",
            port: 7001,
            target_port: 9001,
            status_calls: true,
        });
    }
    let detail = installed.map(|_| format!("{package} {version}"));
    report.record("python: install", detail);
    let (package, version) = install::JS_CLIENT;
    let installed = install::js_client(scratch);
    if let Ok(modules) = &installed {
        clients.push(Client {
            name: "js",
            program: PathBuf::from("node"),
            script: scripts.join("js_client.js"),
            env: vec![("NODE_PATH", modules.clone())],
            app: "INTEROP-JS",
            port: 7002,
            target_port: 9002,
            status_calls: false,
        });
    }
    let detail = installed.map(|_| format!("{package} {version}"));
    report.record("js: install", detail);
    clients
}

/// The running registry.
struct Registry {
    /// The `sd eureka serve` process.
    process: Guard,
    /// Where it listens.
    addr: SocketAddr,
    /// Its service URL, `http://ADDR/eureka/`.
    url: String,
}

impl Registry {
    /// Starts `sd eureka serve` on a free port and reads the URL from its first line.
    fn start(sd: &Path, scratch: &Path) -> Result<Self, String> {
        let log = create_log(&scratch.join("registry.log"))?;
        let process = Guard::spawn(
            "the registry",
            Command::new(sd)
                .args(["eureka", "serve", "--addr", "127.0.0.1:0"])
                .stderr(log),
        )?;
        let line = process.next_line(SERVER_START)?;
        let url = line
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("the registry's first line is {line:?}"))?
            .to_owned();
        let addr = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix("/eureka/"))
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("no address in {url:?}"))?;
        Ok(Self { process, addr, url })
    }

    /// Sends SIGTERM; the registry must exit 0 within [`EXIT`].
    fn stop(&mut self) -> Result<String, String> {
        if let Some(status) = self.process.exited() {
            return Err(format!("it had exited before the signal ({status})"));
        }
        let pid = self.process.id().to_string();
        child::run_bounded(Command::new("kill").args(["-TERM", &pid]), EXIT)?;
        let status = self.process.wait(EXIT)?;
        if status.success() {
            Ok("exited 0".to_owned())
        } else {
            Err(format!("exited with {status}"))
        }
    }
}

/// Creates a log file for a child's stderr.
fn create_log(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// Runs one client through every step; shows its log if a step failed.
fn exercise(registry: &mut Registry, client: &Client, scratch: &Path, report: &mut Report) {
    let failed_before = report.failed;
    let log = scratch.join(format!("{}.log", client.name));
    match spawn_client(registry, client, &log) {
        Ok(mut process) => run_steps(registry.addr, client, &mut process, report),
        Err(e) => {
            report.record(&client.step("register"), Err(e));
        }
    }
    if report.failed > failed_before {
        if let Some(status) = registry.process.exited() {
            println!("  the registry has exited ({status})");
        }
        show_tail(&log);
    }
}

/// Starts a client's script: `SCRIPT SERVICE_URL APP INSTANCE_ID PORT`.
fn spawn_client(registry: &Registry, client: &Client, log: &Path) -> Result<Guard, String> {
    let log = create_log(log)?;
    let mut command = Command::new(&client.program);
    command
        .arg(&client.script)
        .arg(&registry.url)
        .arg(client.app)
        .arg(client.instance_id())
        .arg(client.port.to_string())
        .envs(client.env.iter().map(|(name, value)| (name, value)))
        .env("NO_PROXY", LOOPBACK)
        .env("no_proxy", LOOPBACK)
        .stderr(log);
    Guard::spawn(&format!("the {} client", client.name), &mut command)
}

/// The steps, in order; nothing after a failed registration.
fn run_steps(addr: SocketAddr, client: &Client, process: &mut Guard, report: &mut Report) {
    if !report.record(&client.step("register"), register(addr, client, process)) {
        return;
    }
    report.record(&client.step("heartbeat"), heartbeat(addr, client));
    report.record(&client.step("discover"), discover(addr, client, process));
    if client.status_calls {
        for status in [Status::OutOfService, Status::Up] {
            let step = client.step(&format!("status {status}"));
            report.record(&step, change_status(addr, client, process, status));
        }
    } else {
        Report::skip(
            &client.step("status"),
            "eureka-js-client has no call to change its status: it registers UP, then only renews",
        );
    }
    report.record(
        &client.step("deregister"),
        deregister(addr, client, process),
    );
}

/// The client says it registered, and the registry has its instance, UP.
fn register(addr: SocketAddr, client: &Client, process: &Guard) -> Result<String, String> {
    expect(&process.next_line(CLIENT_START)?, "registered")?;
    let instance = registered(addr, client)?;
    if instance.status == Status::Up {
        Ok(format!("{}/{} is UP", client.app, instance.id()))
    } else {
        Err(format!("{} is {}, not UP", instance.id(), instance.status))
    }
}

/// The registry's lease of the instance is renewed after its registration.
fn heartbeat(addr: SocketAddr, client: &Client) -> Result<String, String> {
    let renewed = wait_for(RENEWAL, "renewal", || {
        let instance = registered(addr, client)?;
        let lease = instance.lease_info.ok_or("the instance has no leaseInfo")?;
        let after = lease.last_renewal_timestamp - lease.registration_timestamp;
        Ok((after > 0).then_some(after))
    })?;
    Ok(format!("lease renewed {renewed} ms after registration"))
}

/// Registers the target app, asks the client to find it, and cancels it again.
fn discover(addr: SocketAddr, client: &Client, process: &mut Guard) -> Result<String, String> {
    let target = InstanceInfo::new(TARGET_APP, "127.0.0.1", "127.0.0.1", client.target_port);
    let body = sd_eureka::encode_instance(&target, Format::Json)
        .map_err(|e| format!("cannot encode the target: {e}"))?;
    let path = format!("/eureka/apps/{TARGET_APP}");
    expect_status(&http::send(addr, "POST", &path, Some(&body))?, 204)?;
    let answer = ask(process, &format!("discover {TARGET_APP} {DISCOVERY_SECS}"));
    let cancel_path = format!("{path}/{}", target.instance_id);
    let cancelled = http::send(addr, "DELETE", &cancel_path, None);
    let found = format!(
        "found {} 127.0.0.1:{} UP",
        target.instance_id, client.target_port
    );
    expect(&answer?, &found)?;
    expect_status(&cancelled?, 200)?;
    Ok(format!(
        "{TARGET_APP}/{} (registered after the client started)",
        target.instance_id
    ))
}

/// Asks the client to change its status; the registry must show it, as an override
/// that a later heartbeat leaves in place.
fn change_status(
    addr: SocketAddr,
    client: &Client,
    process: &mut Guard,
    status: Status,
) -> Result<String, String> {
    expect(
        &ask(process, &format!("status {status}"))?,
        &format!("status {status}"),
    )?;
    let changed = registered(addr, client)?;
    if (changed.status, changed.overridden_status) != (status, status) {
        return Err(format!(
            "the registry shows status {} (override {}), not {status}",
            changed.status, changed.overridden_status
        ));
    }
    let renewed_at = renewal(&changed);
    let later = wait_for(RENEWAL, "renewal after the change", || {
        let instance = registered(addr, client)?;
        Ok((renewal(&instance) > renewed_at).then_some(instance))
    })?;
    if later.status == status {
        Ok(format!("{status} (override), kept across a heartbeat"))
    } else {
        Err(format!("{} after a heartbeat, not {status}", later.status))
    }
}

/// Asks the client to stop; it must exit, and the registry must no longer have it.
fn deregister(addr: SocketAddr, client: &Client, process: &mut Guard) -> Result<String, String> {
    expect(&ask(process, "stop")?, "stopped")?;
    let status = process.wait(EXIT)?;
    if !status.success() {
        return Err(format!("the client exited with {status}"));
    }
    match http::instance(addr, client.app, &client.instance_id())? {
        None => Ok(format!(
            "{} is gone (GET apps/{} is 404)",
            client.instance_id(),
            client.app
        )),
        Some(instance) => Err(format!("still registered, {}", instance.status)),
    }
}

/// The registry's copy of the client's instance; an error when it has none.
fn registered(addr: SocketAddr, client: &Client) -> Result<InstanceInfo, String> {
    let id = client.instance_id();
    http::instance(addr, client.app, &id)?
        .ok_or_else(|| format!("the registry has no {}/{id}", client.app))
}

/// When the lease was last renewed (0 without lease).
fn renewal(instance: &InstanceInfo) -> i64 {
    instance
        .lease_info
        .as_ref()
        .map_or(0, |lease| lease.last_renewal_timestamp)
}

/// Sends a command to a client's script and reads its one-line answer.
fn ask(process: &mut Guard, command: &str) -> Result<String, String> {
    process.send(command)?;
    process.next_line(REPLY)
}

/// A client's line must be `expected`.
fn expect(line: &str, expected: &str) -> Result<(), String> {
    if line == expected {
        Ok(())
    } else {
        Err(format!("the client said {line:?}, expected {expected:?}"))
    }
}

/// A registry reply must have `status`.
fn expect_status(reply: &http::Reply, status: u16) -> Result<(), String> {
    if reply.status == status {
        Ok(())
    } else {
        Err(format!(
            "the registry answered {} ({}), expected {status}",
            reply.status,
            reply.text()
        ))
    }
}

/// Polls `probe` until it finds something, for at most `limit`.
fn wait_for<T>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe()? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(format!("no {what} within {}s", limit.as_secs()));
        }
        thread::sleep(POLL);
    }
}

/// Prints the end of a client's log under its failed step.
fn show_tail(log: &Path) {
    let Ok(text) = fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    println!("  {} (last {LOG_TAIL} lines):", log.display());
    for line in &lines[lines.len().saturating_sub(LOG_TAIL)..] {
        println!("  | {line}");
    }
}
