//! The latest-state instance cache that every backend can feed.

use tokio::sync::watch;

use crate::{Event, Instancer, Subscription};

/// Holds the latest [`Event`] of a discovery source and fans it out to subscribers.
///
/// A backend calls [`update`](Self::update) whenever it learns something; subscribers see
/// the current state at once and then every change. A cache made with [`new`](Self::new)
/// has no state until its first update — "not known yet" is not "no instances" — and its
/// subscribers' first [`next`](crate::Subscription::next) waits for that update. An update equal to the current state
/// (the same instances with the same attributes, or the same error) is not re-sent, but a
/// good state after an error always is, even when it equals the state before the error.
/// Updates never wait for subscribers: each subscriber holds only the newest state.
///
/// ```
/// use sd_core::{Event, InstanceCache, Instancer, Instances};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = InstanceCache::new();
/// cache.update(Instances::new(["10.0.0.2:80", "10.0.0.1:80"]));
///
///
/// let mut sub = cache.subscribe();
/// let Some(Event::Instances(set)) = sub.next().await else { panic!() };
/// assert_eq!(set.ids().collect::<Vec<_>>(), ["10.0.0.1:80", "10.0.0.2:80"]);
/// # }
/// ```
#[derive(Debug)]
pub struct InstanceCache {
    tx: watch::Sender<Option<Event>>,
}

impl InstanceCache {
    /// A cache with no state yet.
    pub fn new() -> Self {
        Self {
            tx: watch::Sender::new(None),
        }
    }

    /// A cache starting from `state`.
    pub fn with_state(state: impl Into<Event>) -> Self {
        Self {
            tx: watch::Sender::new(Some(state.into())),
        }
    }

    /// Replaces the state; returns whether it changed (and so was sent to subscribers).
    pub fn update(&self, event: impl Into<Event>) -> bool {
        let event = Some(event.into());
        self.tx.send_if_modified(|current| {
            if *current == event {
                false
            } else {
                *current = event;
                true
            }
        })
    }

    /// The current state; `None` before the first update of a cache made with
    /// [`new`](Self::new).
    pub fn state(&self) -> Option<Event> {
        self.tx.borrow().clone()
    }

    /// How many subscriptions are alive.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl Default for InstanceCache {
    fn default() -> Self {
        Self::new()
    }
}

impl Instancer for InstanceCache {
    fn subscribe(&self) -> Subscription {
        Subscription::new(self.tx.subscribe())
    }
}
