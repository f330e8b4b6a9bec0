//! Test support for the backend suites: a real server as a child process on loopback
//! ports, owned by the test, and one skip line per suite where the server is not installed.
//!
//! The suites of `sd-etcd`, `sd-zk` and the others start their server with
//! [`ServerProcess`], stop and restart it to inject faults, and have it killed when the test
//! ends however it ends. Where the program is missing, [`skip`] prints one line for the
//! whole test binary and the tests return early, so `cargo test --workspace` passes on a
//! machine without the servers and says what it did not run.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago. Another process may take it before the
/// server binds it; suites that care retry with a new port.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The first of `names` found on `PATH` or in `also` (directories where a package puts a
/// program outside `PATH`), as an absolute path.
pub fn find_program(names: &[&str], also: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(also.iter().map(PathBuf::from))
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Says once per test binary (a suite) that it skips, and why: the line `cargo test`
/// shows for a suite whose server is not installed.
pub fn skip(suite: &str, why: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Straight to the process's stderr: the test harness captures `eprintln!`, and the
        // line must reach the person (or CI log) running `cargo test`.
        let _ = writeln!(io::stderr(), "skipping the {suite} suite: {why}");
    });
}

/// A server run by a test: a child process with its own scratch directory, killed when
/// this is dropped.
///
/// The command is rebuilt from the same recipe on [`restart`](Self::restart), so the
/// server comes back on the same ports with the same data directory, as after a crash.
pub struct ServerProcess {
    name: String,
    recipe: Box<dyn Fn(&Path) -> Command + Send + Sync>,
    dir: tempfile::TempDir,
    child: Option<Child>,
    starts: u32,
}

impl fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.name)
            .field("dir", &self.dir.path())
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerProcess {
    /// Starts the server `recipe` builds, given a fresh scratch directory (for data and
    /// configuration). Its output goes to a log file in that directory; see [`log`](Self::log).
    pub fn start(
        name: &str,
        recipe: impl Fn(&Path) -> Command + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("sd-{name}-"))
            .tempdir()?;
        let mut server = Self {
            name: name.to_owned(),
            recipe: Box::new(recipe),
            dir,
            child: None,
            starts: 0,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> io::Result<()> {
        self.starts += 1;
        let log = File::create(self.dir.path().join(format!("log.{}", self.starts)))?;
        let child = (self.recipe)(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// The scratch directory the recipe was given.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (as a crash would) and waits until it is gone. Its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts it again from the same recipe.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Everything the server wrote to stdout and stderr since it was last started: for
    /// assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("log.{}", self.starts)))
            .unwrap_or_default()
    }

    /// Waits until `addr` accepts TCP connections, or fails after `limit` (or at once when
    /// the process has exited) with the server's log in the error.
    pub fn wait_for_tcp(&mut self, addr: SocketAddr, limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if !self.is_running() || Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "{} did not listen on {addr} within {limit:?}; its log:\n{}",
                    self.name,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's etcd (`etcd-server`) as a one-node cluster on free loopback ports, serving
/// on the returned client port; or, where `etcd` is not installed, `None` after `suite`'s
/// skip line. Quiet, and quick to elect itself.
///
/// # Panics
/// When etcd is installed but does not start (three tries, in case a chosen port was
/// taken before etcd bound it): the message carries its log.
pub fn etcd(suite: &str) -> Option<(ServerProcess, u16)> {
    let Some(program) = find_program(&["etcd"], &[]) else {
        skip(
            suite,
            "etcd is not installed (Debian: apt-get install etcd-server)",
        );
        return None;
    };
    start_with_retries("etcd", |port| {
        let peer = free_port()?;
        let program = program.clone();
        let server = ServerProcess::start("etcd", move |dir| {
            let client = format!("http://127.0.0.1:{port}");
            let peer = format!("http://127.0.0.1:{peer}");
            let mut command = Command::new(&program);
            command
                .arg("--name=default")
                .arg(format!("--data-dir={}", dir.join("data").display()))
                .arg(format!("--listen-client-urls={client}"))
                .arg(format!("--advertise-client-urls={client}"))
                .arg(format!("--listen-peer-urls={peer}"))
                .arg(format!("--initial-advertise-peer-urls={peer}"))
                .arg(format!("--initial-cluster=default={peer}"))
                .args(["--logger=zap", "--log-level=error"])
                .args(["--heartbeat-interval=50", "--election-timeout=500"]);
            command
        })?;
        Ok((server, port))
    })
    .map_or_else(|error| panic!("etcd did not start: {error}"), Some)
}

/// Debian's `ZooKeeper` 3.8 (`zookeeper`, run with the machine's `java`) on a free
/// loopback port, with a 200 ms tick so that sessions can be short (minimum 400 ms) and
/// the `mntr` and `ruok` four-letter words on; or, where Java or the jar is missing,
/// `None` after `suite`'s skip line.
///
/// # Panics
/// When `ZooKeeper` is installed but does not start (three tries): the message carries its
/// log.
pub fn zookeeper(suite: &str) -> Option<(ServerProcess, SocketAddr)> {
    let jar = PathBuf::from("/usr/share/java/zookeeper.jar");
    let (Some(java), true) = (find_program(&["java"], &[]), jar.is_file()) else {
        skip(
            suite,
            "ZooKeeper is not installed (Debian: apt-get install zookeeper)",
        );
        return None;
    };
    start_with_retries("zookeeper", |port| {
        let (java, jar) = (java.clone(), jar.clone());
        let server = ServerProcess::start("zookeeper", move |dir| {
            let config = dir.join("zoo.cfg");
            // Written anew at each start; a failure shows as the server not starting.
            let _ = std::fs::write(
                &config,
                format!(
                    "tickTime=200\nminSessionTimeout=400\nmaxSessionTimeout=20000\n\
                     clientPort={port}\nclientPortAddress=127.0.0.1\ndataDir={}\n\
                     admin.enableServer=false\n4lw.commands.whitelist=mntr,ruok\n",
                    dir.join("data").display()
                ),
            );
            let mut command = Command::new(&java);
            command
                .args(["-Xmx128m", "-cp"])
                .arg(&jar)
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                .arg(&config);
            command
        })?;
        Ok((server, SocketAddr::from(([127, 0, 0, 1], port))))
    })
    .map_or_else(|error| panic!("ZooKeeper did not start: {error}"), Some)
}

/// Starts what `start` makes on a free port until it listens there, three tries at most.
fn start_with_retries<T>(
    name: &str,
    start: impl Fn(u16) -> io::Result<(ServerProcess, T)>,
) -> io::Result<(ServerProcess, T)> {
    let mut last = io::Error::other(format!("{name} was never started"));
    for _ in 0..3 {
        let port = free_port()?;
        let (mut server, extra) = start(port)?;
        match server.wait_for_tcp(SocketAddr::from(([127, 0, 0, 1], port)), STARTUP) {
            Ok(()) => return Ok((server, extra)),
            // Most likely the port was taken between choosing and binding it.
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// How long a server may take to listen on a loaded machine.
const STARTUP: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_killed_when_dropped_and_comes_back_on_restart() {
        let Some(sleep) = find_program(&["sleep"], &[]) else {
            skip("sd-testkit", "no `sleep` program");
            return;
        };
        let mut server = ServerProcess::start("sleeper", move |_| {
            let mut command = Command::new(&sleep);
            command.arg("30");
            command
        })
        .unwrap();
        assert!(server.is_running());
        server.stop();
        assert!(!server.is_running());
        server.restart().unwrap();
        assert!(server.is_running());
    }

    #[test]
    fn waiting_for_a_port_of_a_dead_server_fails_with_its_log() {
        let Some(sh) = find_program(&["sh"], &[]) else {
            skip("sd-testkit", "no `sh` program");
            return;
        };
        let mut server = ServerProcess::start("quitter", move |_| {
            let mut command = Command::new(&sh);
            command.args(["-c", "echo cannot bind; exit 3"]);
            command
        })
        .unwrap();
        let port = free_port().unwrap();
        let error = server
            .wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(30))
            .unwrap_err();
        assert!(error.to_string().contains("cannot bind"), "{error}");
    }
}
