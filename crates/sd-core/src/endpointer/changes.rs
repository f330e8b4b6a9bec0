//! `Changes`: wakes the readers waiting for an endpointer to publish.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// Wakers bounded in number: a reader that gave up waiting leaves its waker here until
/// the next publish, so past this many the wakers are woken early (a spurious wake-up,
/// which every waker must allow) rather than kept.
const MOST_WAITING: usize = 256;

/// The wakers of readers waiting for the next publish.
///
/// Only the slow path uses it: a reader registers when it has nothing it wants to read,
/// and the writer wakes everyone after each publish. Reads never touch it.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    wakers: Mutex<Vec<Waker>>,
}

impl Changes {
    /// Wakes `waker` at the next [`notify`](Self::notify).
    pub(crate) fn register(&self, waker: &Waker) {
        let early = {
            let mut wakers = self.lock();
            if wakers.iter().any(|w| w.will_wake(waker)) {
                return;
            }
            let early = if wakers.len() >= MOST_WAITING {
                std::mem::take(&mut *wakers)
            } else {
                Vec::new()
            };
            wakers.push(waker.clone());
            early
        };
        early.into_iter().for_each(Waker::wake);
    }

    /// Wakes every registered waker (outside the lock: a waker may run code).
    pub(crate) fn notify(&self) {
        let wakers = std::mem::take(&mut *self.lock());
        wakers.into_iter().for_each(Waker::wake);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waker_is_kept_once_and_woken_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let changes = Changes::default();
        changes.register(&waker);
        changes.register(&waker);
        changes.notify();
        changes.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn abandoned_wakers_do_not_pile_up() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let changes = Changes::default();
        for _ in 0..10 * MOST_WAITING {
            // A distinct waker each time, as from callers that gave up.
            let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
            changes.register(&waker);
        }
        assert!(changes.lock().len() <= MOST_WAITING);
        changes.register(&Waker::from(Arc::clone(&count)));
        changes.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
