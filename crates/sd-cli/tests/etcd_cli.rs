//! `sd etcd watch` and `sd etcd register`, run as real processes against a real etcd
//! started by the test: what they print, what the watcher sees of the registration, how
//! they stop on SIGTERM, and how `register` fails against an unreachable etcd.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sd_testkit::{ServerProcess, free_port};

/// The bound on every wait: a line, an exit, etcd starting.
const LIMIT: Duration = Duration::from_secs(30);

/// A real etcd on free loopback ports and its URL, or `None` (and one skip line).
fn etcd() -> Option<(ServerProcess, String)> {
    let (server, port) = sd_testkit::etcd("sd-cli etcd")?;
    Some((server, format!("http://127.0.0.1:{port}")))
}

/// An `sd` process, killed when the test ends; stdout read line by line by a thread.
struct Sd {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Sd {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sd"))
            .args(args)
            .env_remove("ETCD_ENDPOINTS")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let stdout = child.stdout.take().unwrap();
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

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("no line from sd ({e}); stderr: {}", self.stderr()))
    }

    /// The next line of `sd etcd watch`, without its time (checked for its shape).
    fn entry(&mut self) -> String {
        let line = self.line();
        let (time, rest) = line.split_once(' ').expect("a time and the rest");
        assert!(time.len() == 20 && time.ends_with('Z'), "{line:?}");
        rest.to_owned()
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
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
            .unwrap();
        assert!(sent.success());
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_sees_register_come_and_go() {
    let Some((_etcd, url)) = etcd() else { return };
    let mut watch = Sd::spawn(&["etcd", "watch", "/services/orders/", "--endpoints", &url]);
    // The first line is the listing: etcd answers (errors until it has elected itself).
    loop {
        let entry = watch.entry();
        if entry == "-" {
            break;
        }
        assert!(entry.starts_with("error: "), "{entry:?}");
    }

    let mut register = Sd::spawn(&[
        "etcd",
        "register",
        "/services/orders/",
        "a",
        "10.0.0.1:80",
        "--endpoints",
        &url,
        "--ttl",
        "5",
    ]);
    assert_eq!(
        register.line(),
        format!("registered /services/orders/a at {url}")
    );
    assert_eq!(watch.entry(), "10.0.0.1:80");

    assert!(register.terminate().success(), "{}", register.stderr());
    assert_eq!(register.line(), "deregistered /services/orders/a");
    assert_eq!(watch.entry(), "-");
    assert!(watch.terminate().success(), "{}", watch.stderr());
}

#[test]
fn register_against_an_unreachable_etcd_fails_with_one_error_line() {
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut register = Sd::spawn(&[
        "etcd",
        "register",
        "/svc/",
        "a",
        "10.0.0.1:80",
        "--endpoints",
        &url,
    ]);
    let status = register.wait();
    assert_eq!(status.code(), Some(1));
    let stderr = register.stderr();
    assert!(
        stderr.starts_with("error: cannot register /svc/a: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_key_with_a_slash_is_refused() {
    let mut register = Sd::spawn(&["etcd", "register", "/svc/", "a/b", "10.0.0.1:80"]);
    assert_eq!(register.wait().code(), Some(1));
    assert!(register.stderr().contains("without '/'"));
}
