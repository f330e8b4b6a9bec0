//! `DiscoverInstances`: an instancer as the `Insert` / `Remove` stream tower's balancers
//! consume.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use sd_core::factory::Closer;
use sd_core::{BoxError, Event, Factory, Instancer, Subscription};
use tower::discover::Change;

type NextEvent = Pin<Box<dyn Future<Output = (Subscription, Option<Event>)> + Send>>;

/// Turns an [`Instancer`] and a [`Factory`] into a [`tower::discover::Discover`]: a stream
/// of `Change::Insert(id, service)` for instances that appear and `Change::Remove(id)` for
/// those that leave, keyed by instance id. Feed it to `tower::balance::p2c::Balance`,
/// wrapped in a load measure (`PeakEwmaDiscover`, `PendingRequestsDiscover`) to choose p2c
/// with that load.
///
/// Error events keep the current services (last known good), as an
/// [`Endpointer`](sd_core::Endpointer) does; a factory error skips that instance until it
/// is listed again. A removed service's close hook runs at removal; the stream ends when
/// the instancer goes away.
pub struct DiscoverInstances<F: Factory> {
    factory: F,
    next: Option<NextEvent>,
    /// Instance id → close hook of the service inserted for it.
    current: BTreeMap<String, Option<Closer>>,
    changes: VecDeque<Change<String, F::Endpoint>>,
}

impl<F: Factory> DiscoverInstances<F> {
    /// Subscribes to `instancer`.
    pub fn new(instancer: &(impl Instancer + ?Sized), factory: F) -> Self {
        Self {
            factory,
            next: Some(next_event(instancer.subscribe())),
            current: BTreeMap::new(),
            changes: VecDeque::new(),
        }
    }

    fn apply(&mut self, event: Event) {
        let Event::Instances(set) = event else {
            if let Event::Error(error) = event {
                tracing::warn!(%error, "discovery error; keeping the current services");
            }
            return;
        };
        let listed: BTreeMap<&str, &sd_core::Instance> = set.iter().map(|i| (i.id(), i)).collect();
        let gone: Vec<String> = self
            .current
            .keys()
            .filter(|id| !listed.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Some(Some(closer)) = self.current.remove(&id) {
                closer.close();
            }
            self.changes.push_back(Change::Remove(id));
        }
        for (id, instance) in listed {
            if self.current.contains_key(id) {
                continue;
            }
            match self.factory.build(instance) {
                Ok(built) => {
                    let (service, closer) = built.into_parts();
                    self.current.insert(id.to_owned(), closer);
                    self.changes
                        .push_back(Change::Insert(id.to_owned(), service));
                }
                Err(error) => {
                    tracing::warn!(instance = %instance, %error, "endpoint factory failed; skipping instance");
                }
            }
        }
    }
}

fn next_event(mut subscription: Subscription) -> NextEvent {
    Box::pin(async move {
        let event = subscription.next().await;
        (subscription, event)
    })
}

// No field is ever pinned in place (the event future is boxed), so moving the stream is
// always fine, whatever the endpoint type.
impl<F: Factory> Unpin for DiscoverInstances<F> {}

impl<F: Factory> Stream for DiscoverInstances<F> {
    type Item = Result<Change<String, F::Endpoint>, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(change) = this.changes.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            let Some(next) = this.next.as_mut() else {
                return Poll::Ready(None);
            };
            let (subscription, event) = std::task::ready!(next.as_mut().poll(cx));
            match event {
                Some(event) => {
                    this.next = Some(next_event(subscription));
                    this.apply(event);
                }
                None => this.next = None,
            }
        }
    }
}

impl<F: Factory> Drop for DiscoverInstances<F> {
    fn drop(&mut self) {
        for closer in std::mem::take(&mut self.current).into_values().flatten() {
            closer.close();
        }
    }
}

impl<F: Factory> fmt::Debug for DiscoverInstances<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoverInstances")
            .field("instances", &self.current.keys().collect::<Vec<_>>())
            .field("pending_changes", &self.changes.len())
            .finish_non_exhaustive()
    }
}
