//! Guards against connections that dawdle: a cap on open connections, and an idle timeout.
//! (The header-read timeout is hyper's; see `server.rs`.)
//!
//! Without them, a client opening connections and sending its headers a byte a second
//! (slowloris) holds every file descriptor the process may open, and well-behaved clients
//! time out for as long as it keeps on. Here, at the cap, a new connection closes the one
//! that has been waiting longest for a request (a dawdler's wait began when it connected;
//! a keep-alive client's when its last answer went out): well-behaved clients get in, and
//! the ones pushed out reconnect. Only when every connection is in the middle of a request
//! is the new one closed instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The longest timeout applied: hyper computes `now + timeout`, which panics past the
/// clock's range, so larger values (`Duration::MAX`) mean this.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// `timeout` as applied: `None` for zero (off), at most [`MAX_TIMEOUT`].
pub(crate) fn effective(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then(|| timeout.min(MAX_TIMEOUT))
}

/// The open connections, for the cap.
#[derive(Debug)]
pub(crate) struct Connections {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    max: usize,
    idle_timeout: Option<Duration>,
    /// The origin of `Activity::idle_since`.
    epoch: Instant,
}

/// What one connection is doing.
#[derive(Debug)]
struct Activity {
    /// Requests being handled now.
    in_flight: AtomicUsize,
    /// When it last began waiting for a request, in milliseconds since the epoch.
    idle_since: AtomicU64,
    /// Woken to close the connection.
    close: Notify,
}

/// An admitted connection; leaves the table when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    id: u64,
    activity: Arc<Activity>,
    connections: Arc<Connections>,
}

/// A request being handled on a connection; ends when dropped (also when cancelled).
#[derive(Debug)]
pub(crate) struct InFlight {
    activity: Arc<Activity>,
    connections: Arc<Connections>,
}

impl Connections {
    /// At most `max` connections (at least one), each closed after `idle_timeout` without
    /// a request (`None`: never).
    pub(crate) fn new(max: usize, idle_timeout: Option<Duration>) -> Self {
        Self {
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            max: max.max(1),
            idle_timeout,
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a new connection, closing the longest-waiting idle one when at the cap;
    /// `None` when at the cap and every connection is handling a request.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= self.max {
            let idlest = open
                .iter()
                .filter(|(_, a)| a.in_flight.load(Ordering::SeqCst) == 0)
                .min_by_key(|(_, a)| a.idle_since.load(Ordering::SeqCst))
                .map(|(id, _)| *id);
            let evicted = open.remove(&idlest?)?;
            // A stored permit: the connection closes even if not yet waiting on it.
            evicted.close.notify_one();
            tracing::debug!("connection cap reached; closed the longest-idle connection");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now()),
            close: Notify::new(),
        });
        open.insert(id, Arc::clone(&activity));
        Some(Admitted {
            id,
            activity,
            connections: Arc::clone(self),
        })
    }

    /// How many connections are open (admitted and not closed).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Admitted {
    /// Marks a request as being handled until the returned guard is dropped.
    pub(crate) fn request(&self) -> InFlight {
        self.activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight {
            activity: Arc::clone(&self.activity),
            connections: Arc::clone(&self.connections),
        }
    }

    /// Resolves when the connection must close: pushed out at the cap, or idle (no
    /// request being handled) for the idle timeout.
    pub(crate) async fn must_close(&self) {
        let Some(timeout) = self.connections.idle_timeout else {
            return self.activity.close.notified().await;
        };
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        loop {
            let busy = self.activity.in_flight.load(Ordering::SeqCst) > 0;
            let idle_for = self
                .connections
                .now()
                .saturating_sub(self.activity.idle_since.load(Ordering::SeqCst));
            if !busy && idle_for >= timeout_ms {
                tracing::debug!("closing an idle connection");
                return;
            }
            // Look again when the timeout could next be over.
            let wait = if busy {
                timeout
            } else {
                Duration::from_millis(timeout_ms - idle_for)
            };
            tokio::select! {
                () = self.activity.close.notified() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only its own entry: after an eviction, the id is gone already.
        if open
            .get(&self.id)
            .is_some_and(|a| Arc::ptr_eq(a, &self.activity))
        {
            open.remove(&self.id);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity
            .idle_since
            .store(self.connections.now(), Ordering::SeqCst);
        self.activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let connections = Arc::new(Connections::new(2, None));
        let first = connections.admit().unwrap();
        let busy = connections.admit().unwrap();
        let _request = busy.request();
        // At the cap: `first` is the only idle one, so it goes.
        let third = connections.admit().unwrap();
        assert_eq!(connections.len(), 2);
        drop(first);
        assert_eq!(
            connections.len(),
            2,
            "an evicted connection's drop removes nothing else"
        );
        // Both busy now: a newcomer is refused.
        let _also = third.request();
        assert!(connections.admit().is_none());
        drop(third);
        assert_eq!(connections.len(), 1);
        assert!(connections.admit().is_some());
    }

    #[test]
    fn timeouts_are_capped_and_zero_is_off() {
        assert_eq!(effective(Duration::ZERO), None);
        assert_eq!(effective(Duration::MAX), Some(MAX_TIMEOUT));
        assert_eq!(
            effective(Duration::from_secs(10)),
            Some(Duration::from_secs(10))
        );
        assert!(Instant::now().checked_add(MAX_TIMEOUT).is_some());
    }
}
