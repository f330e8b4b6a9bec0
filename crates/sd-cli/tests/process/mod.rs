//! An `sd` process for the CLI tests: spawned from the built binary, killed when the test
//! ends however it ends, its stdout read line by line by a thread so that every read is
//! bounded.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The bound on every wait: a line, an exit.
pub const LIMIT: Duration = Duration::from_secs(30);

/// An `sd` process, killed when the test ends however it ends. Its stdout is read line by
/// line by a thread, so that every read can be bounded.
pub struct Sd {
    child: Child,
    lines: Receiver<String>,
    /// Reads stderr all along, so that a chatty process (`RUST_LOG=trace`) never blocks on
    /// a full pipe; its text once the process has closed it.
    stderr: Option<JoinHandle<String>>,
}

impl Sd {
    /// Starts `sd` with `args`, none of the variables it reads set.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_variables(args, &[])
    }

    /// Starts `sd` with `args` and these environment variables; the others `sd` reads
    /// (`EUREKA_URL`, `ETCD_ENDPOINTS`, `RUST_LOG`) are unset unless given, whatever the
    /// test's own environment holds.
    pub fn spawn_with_variables(args: &[&str], variables: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sd"));
        command
            .args(args)
            .env_remove("EUREKA_URL")
            .env_remove("ETCD_ENDPOINTS")
            .env_remove("RUST_LOG")
            .envs(variables.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn sd");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).expect("read stderr");
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
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no line from sd within {LIMIT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait();
                panic!("sd closed stdout ({status}); stderr: {}", self.stderr())
            }
        }
    }

    /// Waits for a watch entry equal to `want`, skipping others (errors from a slow start).
    pub fn entry_until(&mut self, want: &str) {
        let deadline = Instant::now() + LIMIT;
        while self.entry() != want {
            assert!(Instant::now() < deadline, "no {want:?} line");
        }
    }

    /// The next line of a `watch` command, its time checked (`YYYY-MM-DDTHH:MM:SSZ`, within
    /// a day of now, as the test's clock is the process's) and taken off.
    pub fn entry(&mut self) -> String {
        let line = self.line();
        let (time, rest) = line.split_once(' ').expect("a time and the rest");
        let shape = time.len() == 20
            && time.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        assert!(shape, "not an RFC 3339 UTC time: {line:?}");
        let year: u64 = time[..4].parse().expect("a year");
        let this_year = 1970
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs()
                / 31_556_952;
        assert!(year.abs_diff(this_year) <= 1, "{line:?}");
        rest.to_owned()
    }

    /// Every stdout line still to come, once it has exited.
    pub fn rest(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        loop {
            match self.lines.recv_timeout(LIMIT) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => panic!("stdout still open after {LIMIT:?}"),
            }
        }
    }

    /// Waits at most [`LIMIT`] for the exit; panics past it (the drop kills it).
    pub fn wait(&mut self) -> ExitStatus {
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

    /// Sends SIGTERM and returns at once.
    pub fn signal_terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal_terminate();
        self.wait()
    }

    /// Its whole stderr, once it has exited.
    pub fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|reader| reader.join().expect("the stderr reader"))
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
