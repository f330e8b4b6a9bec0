//! `OwnedTask`: a background task that belongs to a handle and ends with it.
//!
//! Backends run their watch loops, pollers and keep-alives as Tokio tasks. Whoever holds
//! the [`OwnedTask`] owns the task: dropping the guard aborts it at once, which drops any
//! request it has in flight; [`OwnedTask::stop_within`] first asks it to finish (the task
//! sees its [`Stopping`] signal fire), then aborts it if it has not done so in time. So no
//! task outlives its handle and no shutdown waits longer than its caller allows.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;

/// A spawned task that is aborted when this guard is dropped.
///
/// ```
/// use std::time::Duration;
/// use sd_core::OwnedTask;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sd_core::Error> {
/// let task = OwnedTask::spawn(|stopping| async move {
///     let mut ticks = tokio::time::interval(Duration::from_millis(10));
///     tokio::select! {
///         () = stopping => {} // asked to stop: clean up, then return
///         () = async { loop { ticks.tick().await; } } => {}
///     }
/// })?;
/// task.stop_within(Duration::from_secs(1)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OwnedTask {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl OwnedTask {
    /// Spawns `task` on the current Tokio runtime, handing it the signal that fires when
    /// the task is asked to stop. Fails with [`Error::is_no_runtime`] outside a runtime.
    pub fn spawn<F, Fut>(task: F) -> Result<Self, Error>
    where
        F: FnOnce(Stopping) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::no_runtime())?;
        let (stop, stopping) = oneshot::channel();
        let handle = runtime.spawn(task(Stopping(stopping)));
        Ok(Self {
            stop: Some(stop),
            handle,
        })
    }

    /// True once the task has returned, panicked or been aborted.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Asks the task to stop, waits for it at most `limit`, and aborts it if it is still
    /// running then. Returns once the task is gone, so nothing it does can happen after
    /// this: an abort takes effect as soon as the task's current poll returns.
    pub async fn stop_within(mut self, limit: Duration) {
        if let Some(stop) = self.stop.take() {
            // Gone already when the task has returned; nothing to tell then.
            let _ = stop.send(());
        }
        // A limit too large to add to the clock is no limit.
        if tokio::time::timeout(limit, &mut self.handle).await.is_err() {
            self.handle.abort();
            // Cancelled (or, had it just finished, done): either way, gone.
            let _ = (&mut self.handle).await;
        }
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Fires when the owning [`OwnedTask`] asks its task to stop, or is gone.
#[derive(Debug)]
pub struct Stopping(oneshot::Receiver<()>);

impl Future for Stopping {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A message or a dropped sender: either way the owner wants the task to end.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn dropping_the_guard_aborts_the_task_and_its_work_in_flight() {
        let (tx, rx) = oneshot::channel::<()>();
        let task = OwnedTask::spawn(|_stopping| async move {
            // Holds the sender until aborted: the receiver sees it dropped, not sent.
            let _tx = tx;
            std::future::pending::<()>().await;
        })
        .unwrap();
        drop(task);
        assert!(
            rx.await.is_err(),
            "the task was aborted, dropping what it held"
        );
    }

    #[tokio::test]
    async fn stop_within_lets_the_task_finish_its_cleanup() {
        let cleaned = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&cleaned);
        let task = OwnedTask::spawn(|stopping| async move {
            stopping.await;
            seen.store(true, Ordering::SeqCst);
        })
        .unwrap();
        task.stop_within(Duration::from_secs(30)).await;
        assert!(cleaned.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_within_aborts_a_task_that_ignores_the_signal() {
        let (tx, rx) = oneshot::channel::<()>();
        let task = OwnedTask::spawn(|_stopping| async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        })
        .unwrap();
        task.stop_within(Duration::from_secs(1)).await;
        assert!(rx.await.is_err());
    }

    #[tokio::test]
    async fn an_unbounded_limit_does_not_panic() {
        let task = OwnedTask::spawn(|stopping| stopping).unwrap();
        task.stop_within(Duration::MAX).await;
    }

    #[test]
    fn outside_a_runtime_spawning_is_an_error() {
        let error = OwnedTask::spawn(|stopping| stopping).unwrap_err();
        assert!(error.is_no_runtime());
    }
}
