//! Sources that never change: for static configuration and tests.

use crate::{
    Endpoint, EndpointSource, Endpoints, Error, Instance, InstanceCache, Instancer, Instances,
    Subscription,
};

/// An [`Instancer`] with a set fixed at construction.
///
/// ```
/// use sd_core::{Event, FixedInstancer, Instancer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let instancer = FixedInstancer::new(["10.0.0.1:80"]);
/// let mut sub = instancer.subscribe();
/// assert!(matches!(sub.next().await, Some(Event::Instances(set)) if set.len() == 1));
/// # }
/// ```
#[derive(Debug)]
pub struct FixedInstancer {
    cache: InstanceCache,
}

impl FixedInstancer {
    /// An instancer that always reports `instances` (sorted, deduplicated).
    pub fn new<I>(instances: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Instance>,
    {
        Self {
            cache: InstanceCache::with_state(Instances::new(instances)),
        }
    }
}

impl Instancer for FixedInstancer {
    fn subscribe(&self) -> Subscription {
        self.cache.subscribe()
    }
}

/// An [`EndpointSource`] with endpoints fixed at construction, in the order given.
///
/// ```
/// use sd_core::{EndpointSource, FixedEndpointer};
///
/// let mut fixed = FixedEndpointer::new([("10.0.0.1:80", "a"), ("10.0.0.2:80", "b")]);
/// assert_eq!(fixed.endpoints().unwrap().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct FixedEndpointer<E> {
    endpoints: Endpoints<E>,
}

impl<E> FixedEndpointer<E> {
    /// Endpoints from `(instance, value)` pairs.
    pub fn new<I, T>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = (T, E)>,
        T: Into<Instance>,
    {
        Self {
            endpoints: endpoints
                .into_iter()
                .map(|(instance, e)| Endpoint::new(instance, e))
                .collect(),
        }
    }
}

impl<E> From<Endpoints<E>> for FixedEndpointer<E> {
    fn from(endpoints: Endpoints<E>) -> Self {
        Self { endpoints }
    }
}

impl<E> EndpointSource for FixedEndpointer<E> {
    type Endpoint = E;

    fn endpoints(&mut self) -> Result<&Endpoints<E>, Error> {
        Ok(&self.endpoints)
    }
}
