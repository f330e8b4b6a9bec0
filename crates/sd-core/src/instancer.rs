//! The `Instancer` trait: a discovery source that any number of consumers subscribe to.

use std::any::Any;
use std::sync::Arc;

use tokio::sync::watch;

use crate::Event;

/// A source of [`Event`]s about one service: the whole instance set, or an error.
///
/// A subscriber receives the current state at once and every later change. Backends
/// usually implement this by feeding an [`InstanceCache`](crate::InstanceCache) and handing
/// out its subscriptions.
pub trait Instancer {
    /// Subscribes to the source. Dropping the subscription unsubscribes.
    fn subscribe(&self) -> Subscription;
}

impl<T: Instancer + ?Sized> Instancer for &T {
    fn subscribe(&self) -> Subscription {
        (**self).subscribe()
    }
}

impl<T: Instancer + ?Sized> Instancer for Arc<T> {
    fn subscribe(&self) -> Subscription {
        (**self).subscribe()
    }
}

impl<T: Instancer + ?Sized> Instancer for Box<T> {
    fn subscribe(&self) -> Subscription {
        (**self).subscribe()
    }
}

/// A subscriber's view of an [`Instancer`].
///
/// It holds only the *latest* state: a subscriber that reads slowly skips intermediate
/// states instead of holding up the producer or other subscribers, and one that is dropped
/// costs nobody anything.
#[derive(Clone)]
pub struct Subscription {
    /// `None` until the source has its first state.
    rx: watch::Receiver<Option<Event>>,
    /// Whatever produces the events, held so that subscribing keeps it running.
    keep_alive: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("current", &*self.rx.borrow())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Wraps a watch receiver so that its current value counts as not yet seen: the first
    /// [`next`](Self::next) returns it at once (or, while there is none, the first one).
    pub(crate) fn new(mut rx: watch::Receiver<Option<Event>>) -> Self {
        rx.mark_changed();
        Self {
            rx,
            keep_alive: None,
        }
    }

    /// Keeps `source` alive for as long as this subscription (or a clone) lives. For
    /// instancers whose producer belongs to the handle subscribed to: a consumer that
    /// subscribes, like an [`Endpointer`](crate::Endpointer), then keeps discovery
    /// running even when the caller drops the instancer itself.
    #[must_use]
    pub fn keep_alive(mut self, source: Arc<dyn Any + Send + Sync>) -> Self {
        self.keep_alive = Some(source);
        self
    }

    /// Waits for a state this subscription has not yet returned, and returns it. The first
    /// call returns the current state immediately, if the source has one. `None` once the
    /// source is gone and its last state has been seen.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            self.rx.changed().await.ok()?;
            if let Some(event) = self.rx.borrow_and_update().clone() {
                return Some(event);
            }
        }
    }

    /// The current state, without marking it seen; `None` while the source has none.
    pub fn current(&self) -> Option<Event> {
        self.rx.borrow().clone()
    }

    /// The current state, marked seen: the next [`next`](Self::next) waits for a change.
    pub fn latest(&mut self) -> Option<Event> {
        self.rx.borrow_and_update().clone()
    }
}
