//! Waiting for SIGINT (Ctrl-C) or SIGTERM, the end of a service's life.

use std::io;

/// Listens for SIGINT (Ctrl-C) and SIGTERM from the moment it is created; elsewhere than
/// Unix, for Ctrl-C.
///
/// The handlers are installed by [`listen`](Self::listen), not on the first wait. Create
/// this before the service announces itself (`listening on ...`, `registered ...`), so a
/// signal sent as soon as the announcement is read is caught and ends the service cleanly
/// (e.g. through [`Registrar::shutdown_on`](crate::Registrar::shutdown_on)), instead of
/// killing the process with the default action.
///
/// ```no_run
/// # async fn demo(registrar: sd_eureka::Registrar) -> Result<(), Box<dyn std::error::Error>> {
/// let mut signal = sd_eureka::ShutdownSignal::listen()?;
/// registrar.register().await?;
/// registrar.shutdown_on(signal.wait()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Installs the handlers. Must be called within a Tokio runtime with its I/O driver.
    pub fn listen() -> io::Result<Self> {
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
    pub async fn wait(&mut self) -> io::Result<()> {
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
