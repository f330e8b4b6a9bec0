//! `sd zk watch` and `sd zk register`, run as real processes against a real `ZooKeeper`
//! (Debian's `zookeeper` package, started on a free loopback port): what they print,
//! how they stop on SIGTERM, and how they fail against an unreachable ensemble. The
//! test that needs the server skips, with one line, where it is not installed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sd_testkit::{ServerProcess, free_port};

/// The bound on every wait: a server start, a line, an exit.
const LIMIT: Duration = Duration::from_secs(30);

/// A `ZooKeeper` on a free port and its address, or `None` (said once) where it is not
/// installed.
fn zookeeper() -> Option<(ServerProcess, String)> {
    let (server, addr) = sd_testkit::zookeeper("sd-cli zk")?;
    Some((server, addr.to_string()))
}

/// An `sd` process, killed when the test ends however it ends; stdout read line by line
/// by a thread so that every read is bounded.
struct Sd {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Sd {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sd"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sd");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// The next stdout line, within [`LIMIT`].
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no line from sd within {LIMIT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait();
                panic!("sd closed stdout ({status}); stderr: {}", self.stderr())
            }
        }
    }

    /// The next `sd zk watch` line without its time.
    fn entry(&mut self) -> String {
        let line = self.line();
        let (time, rest) = line.split_once(' ').expect("a time and the rest");
        assert!(time.len() == 20 && time.ends_with('Z'), "{line:?}");
        rest.to_owned()
    }

    /// Waits for a watch line equal to `want`, skipping others (errors from a slow start).
    fn entry_until(&mut self, want: &str) {
        let deadline = Instant::now() + LIMIT;
        while self.entry() != want {
            assert!(Instant::now() < deadline, "no {want:?} line");
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for sd") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sd still running after {LIMIT:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        self.wait()
    }

    fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|reader| reader.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Sd {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn register_and_watch_a_path_until_sigterm() {
    let Some((_server, servers)) = zookeeper() else {
        return;
    };
    let mut watch = Sd::spawn(&["zk", "watch", "/cli/svc", "--servers", &servers]);
    watch.entry_until("-");

    let mut register = Sd::spawn(&[
        "zk",
        "register",
        "/cli/svc",
        "10.0.0.5:8080",
        "--servers",
        &servers,
        "--session-timeout",
        "2",
    ]);
    let announced = register.line();
    assert!(
        announced.starts_with("registered 10.0.0.5:8080 at /cli/svc/instance-"),
        "{announced:?}"
    );
    watch.entry_until("10.0.0.5:8080");

    assert!(register.terminate().success(), "{}", register.stderr());
    assert_eq!(register.line(), "deregistered 10.0.0.5:8080 under /cli/svc");
    // Deleted at once, not when the session times out.
    assert_eq!(watch.entry(), "-");
    assert!(watch.terminate().success(), "{}", watch.stderr());
}

#[test]
fn an_unreachable_ensemble_is_an_error_and_bad_arguments_fail() {
    let dead = format!("127.0.0.1:{}", free_port().expect("a free port"));

    let mut register = Sd::spawn(&["zk", "register", "/cli/svc", "x:1", "--servers", &dead]);
    assert_eq!(register.wait().code(), Some(1));
    let stderr = register.stderr();
    assert!(
        stderr.starts_with("error: cannot register x:1 under /cli/svc") && stderr.contains(&dead),
        "{stderr:?}"
    );

    let mut watch = Sd::spawn(&["zk", "watch", "/cli/svc", "--servers", &dead]);
    let line = watch.entry();
    assert!(
        line.starts_with("error: cannot reach ZooKeeper") && line.contains(&dead),
        "{line:?}"
    );
    assert!(watch.terminate().success());

    for bad in [
        &["zk", "watch", "relative"][..],
        &["zk", "register", "/a", "has space"],
        &["zk", "register", "/a", "x:1", "--servers", "a:1/chroot"],
    ] {
        let mut sd = Sd::spawn(bad);
        assert_eq!(sd.wait().code(), Some(1), "{bad:?}");
        assert!(sd.stderr().starts_with("error: "), "{bad:?}");
    }
    let mut usage = Sd::spawn(&["zk", "watch", "/a", "--session-timeout", "0"]);
    assert_eq!(usage.wait().code(), Some(2));
}
