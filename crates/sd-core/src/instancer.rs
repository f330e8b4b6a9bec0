//! The `Instancer` trait: a discovery source that any number of consumers subscribe to.

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
#[derive(Debug, Clone)]
pub struct Subscription {
    rx: watch::Receiver<Event>,
}

impl Subscription {
    /// Wraps a watch receiver so that its current value counts as not yet seen: the first
    /// [`next`](Self::next) returns it at once.
    pub fn new(mut rx: watch::Receiver<Event>) -> Self {
        rx.mark_changed();
        Self { rx }
    }

    /// Waits for a state this subscription has not yet returned, and returns it. The first
    /// call returns the current state immediately. `None` once the source is gone and its
    /// last state has been seen.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().clone())
    }

    /// The current state, without marking it seen.
    pub fn current(&self) -> Event {
        self.rx.borrow().clone()
    }

    /// The current state, marked seen: the next [`next`](Self::next) waits for a change.
    pub fn latest(&mut self) -> Event {
        self.rx.borrow_and_update().clone()
    }

    /// The underlying receiver, for adapters (streams, `select!` loops).
    pub fn into_inner(self) -> watch::Receiver<Event> {
        self.rx
    }
}
