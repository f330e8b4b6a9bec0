//! Child processes with bounds: every wait has a limit, and a [`Guard`] kills its
//! process when dropped, whatever the path out of the task.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How often a bounded wait looks at a process.
const POLL: Duration = Duration::from_millis(50);

/// A running child whose stdout is read line by line and whose stdin takes commands;
/// killed (and reaped) on drop unless it has already exited.
pub(super) struct Guard {
    /// What the process is, for messages.
    name: String,
    /// The process.
    child: Child,
    /// Its stdin, for [`send`](Self::send).
    stdin: Option<ChildStdin>,
    /// Its stdout lines, read by a thread of their own.
    lines: Receiver<String>,
}

impl Guard {
    /// Spawns `command` with stdin and stdout piped (stderr is left as configured).
    pub(super) fn spawn(name: &str, command: &mut Command) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name} has no stdout pipe"));
        };
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin,
            lines,
        })
    }

    /// The process id.
    pub(super) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has already exited.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The next line the process prints, waiting at most `limit`.
    pub(super) fn next_line(&self, limit: Duration) -> Result<String, String> {
        self.lines.recv_timeout(limit).map_err(|e| match e {
            RecvTimeoutError::Timeout => {
                format!("{} printed nothing within {}s", self.name, limit.as_secs())
            }
            RecvTimeoutError::Disconnected => format!("{} closed its output", self.name),
        })
    }

    /// Writes one line to the process's stdin.
    pub(super) fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{} has no stdin", self.name))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to {}: {e}", self.name))
    }

    /// Waits at most `limit` for the process to exit.
    pub(super) fn wait(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        wait_for_exit(&mut self.child, limit).map_err(|e| format!("{}: {e}", self.name))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs `command` to completion within `limit`, its output sent to stderr (stdout
/// carries the report); kills it at the limit.
pub(super) fn run_bounded(command: &mut Command, limit: Duration) -> Result<(), String> {
    let shown = describe(command);
    eprintln!("+ {shown}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(io::stderr())
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    match wait_for_exit(&mut child, limit) {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`{shown}` failed ({status})")),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("`{shown}`: {e}"))
        }
    }
}

/// Polls `child` until it exits or `limit` passes.
fn wait_for_exit(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => return Err(format!("still running after {}s", limit.as_secs())),
            Err(e) => return Err(format!("cannot wait: {e}")),
        }
    }
}

/// `program arg..`, for messages.
fn describe(command: &Command) -> String {
    let mut shown = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}
