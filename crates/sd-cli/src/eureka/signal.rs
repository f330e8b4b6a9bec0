//! Waiting for SIGINT (Ctrl-C) or SIGTERM, the end of every long-running command.

use std::io;

/// Listens for SIGINT and SIGTERM from the moment it is created.
///
/// The handlers are installed by [`listen`](Self::listen), not on the first wait. A command
/// creates this before it announces itself (`listening on ...`, `registered ...`), so a
/// signal sent as soon as the announcement is read is caught and ends the command cleanly,
/// instead of killing the process with the default action.
#[derive(Debug)]
pub(crate) struct Shutdown {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Installs the handlers. Must be called within a Tokio runtime.
    pub(crate) fn listen() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for SIGINT or SIGTERM.
    pub(crate) async fn wait(&mut self) -> io::Result<()> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    }
}
