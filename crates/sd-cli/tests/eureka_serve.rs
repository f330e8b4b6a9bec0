//! `sd eureka serve`, run as a real process: it announces its address, answers the
//! registry API, stops cleanly on SIGTERM, and fails plainly on a busy address or an
//! incomplete command line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The bound on every wait: the announcement, a reply, an exit.
const LIMIT: Duration = Duration::from_secs(20);

/// An `sd` process, killed when the test ends however it ends.
struct Sd(Child);

impl Sd {
    /// Starts `sd` with `args`, stdout and stderr piped.
    fn spawn(args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_sd"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sd");
        Self(child)
    }

    /// Waits at most [`LIMIT`] for the exit; panics past it (the drop kills it).
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait for sd") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sd still running after {LIMIT:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its whole stderr, once it has exited.
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        self.0
            .stderr
            .take()
            .expect("stderr is piped")
            .read_to_string(&mut text)
            .expect("read stderr");
        text
    }

    /// Its whole stdout, once it has exited.
    fn stdout(&mut self) -> String {
        let mut text = String::new();
        self.0
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_string(&mut text)
            .expect("read stdout");
        text
    }
}

impl Drop for Sd {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Reads the first stdout line (`listening on http://ADDR/eureka/`) within [`LIMIT`];
/// the rest of stdout is drained by the reading thread.
fn announcement(sd: &mut Sd) -> String {
    let stdout = sd.0.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        lines.for_each(drop);
    });
    receiver
        .recv_timeout(LIMIT)
        .expect("sd announces itself in time")
        .expect("sd printed a line")
        .expect("stdout is readable")
}

/// `GET path` over a plain HTTP/1.1 connection; the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a complete reply");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

#[test]
fn serves_the_registry_until_sigterm() {
    let mut sd = Sd::spawn(&["eureka", "serve", "--addr", "127.0.0.1:0"]);
    let line = announcement(&mut sd);
    let addr: SocketAddr = line
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/eureka/"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected announcement {line:?}"));
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "the announced port is the one bound");

    let (status, body) = get(addr, "/eureka/apps");
    assert_eq!(status, 200, "body: {body}");
    assert!(body.contains("<applications>"), "body: {body}");

    let terminated = Command::new("kill")
        .args(["-TERM", &sd.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(terminated.success());
    let status = sd.wait();
    assert_eq!(status.code(), Some(0), "stderr: {}", sd.stderr());
}

#[test]
fn a_busy_address_is_one_error_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut sd = Sd::spawn(&["eureka", "serve", "--addr", &addr]);
    let status = sd.wait();
    let stderr = sd.stderr();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(stderr.contains(&addr), "names the address: {stderr}");
    assert_eq!(sd.stdout(), "", "nothing announced");
}

#[test]
fn user_without_password_is_a_usage_error() {
    let mut sd = Sd::spawn(&[
        "eureka",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--user",
        "admin",
    ]);
    let status = sd.wait();
    let stderr = sd.stderr();
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("--password"), "stderr: {stderr}");
}
