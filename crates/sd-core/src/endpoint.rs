//! Endpoints as the read path sees them, and the `EndpointSource` trait balancers read from.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::{Error, Instance};

/// An endpoint built for one instance: the user's value (an HTTP client, a tower service,
/// a URI...) and the instance it talks to.
///
/// Dereferences to the value, so `endpoint.call(..)` works on the value directly while
/// [`instance`](Self::instance) stays at hand for logs, errors and zone-aware choices.
///
/// Cloning is one reference-count increment whatever the value is, which keeps a balancer
/// pick cheap and means the value need not be `Clone` at all.
pub struct Endpoint<E> {
    entry: Arc<Entry<E>>,
}

// Each entry on cache lines of its own: picks on different cores bump the reference
// counts of neighbouring endpoints, and two entries on one line would make every such
// increment evict the other core's copy (false sharing).
#[repr(align(128))]
struct Entry<E> {
    instance: Instance,
    /// Shared separately so that an instance whose attributes change keeps its value.
    value: Arc<E>,
}

impl<E> Endpoint<E> {
    /// Pairs a value with the instance it was made for.
    pub fn new(instance: impl Into<Instance>, value: E) -> Self {
        Self {
            entry: Arc::new(Entry {
                instance: instance.into(),
                value: Arc::new(value),
            }),
        }
    }

    /// The instance this endpoint talks to.
    pub fn instance(&self) -> &Instance {
        &self.entry.instance
    }

    /// The value.
    pub fn get_ref(&self) -> &E {
        &self.entry.value
    }

    /// The same value, for an instance with the same identity and new attributes.
    pub(crate) fn with_instance(&self, instance: Instance) -> Self {
        Self {
            entry: Arc::new(Entry {
                instance,
                value: Arc::clone(&self.entry.value),
            }),
        }
    }
}

impl<E> Clone for Endpoint<E> {
    fn clone(&self) -> Self {
        Self {
            entry: Arc::clone(&self.entry),
        }
    }
}

impl<E> Deref for Endpoint<E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.entry.value
    }
}

impl<E: fmt::Debug> fmt::Debug for Endpoint<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("instance", &self.instance().id())
            .field("value", self.get_ref())
            .finish()
    }
}

/// An immutable list of endpoints, shared by every reader. Cloning is one reference-count
/// increment.
pub struct Endpoints<E> {
    items: Arc<[Endpoint<E>]>,
}

impl<E> Endpoints<E> {
    /// Wraps `endpoints` in the order given.
    pub fn new(endpoints: Vec<Endpoint<E>>) -> Self {
        Self {
            items: endpoints.into(),
        }
    }

    /// True when both are the same published list (not merely equal contents): a cheap
    /// way for a reader to tell whether anything was published since its last look.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.items, &b.items)
    }
}

impl<E> Clone for Endpoints<E> {
    fn clone(&self) -> Self {
        Self {
            items: Arc::clone(&self.items),
        }
    }
}

impl<E> Deref for Endpoints<E> {
    type Target = [Endpoint<E>];

    fn deref(&self) -> &[Endpoint<E>] {
        &self.items
    }
}

impl<E: fmt::Debug> fmt::Debug for Endpoints<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.items.iter()).finish()
    }
}

impl<E> FromIterator<Endpoint<E>> for Endpoints<E> {
    fn from_iter<I: IntoIterator<Item = Endpoint<E>>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

/// Something that yields the current endpoints: an [`Endpointer`](crate::Endpointer), a
/// [`FixedEndpointer`](crate::FixedEndpointer), or your own. Balancers read from it on
/// every request.
pub trait EndpointSource {
    /// The user's endpoint value.
    type Endpoint;

    /// Runs `f` on the current endpoints, or on the error that stands in for them.
    ///
    /// This is the hot path: implementations must not block or allocate, and `f` gets a
    /// borrow so that reading needs no reference-count traffic on the shared list.
    fn with_endpoints<R>(
        &self,
        f: impl FnOnce(Result<&Endpoints<Self::Endpoint>, &Error>) -> R,
    ) -> R;

    /// The current endpoints, or the error that stands in for them.
    fn endpoints(&self) -> Result<Endpoints<Self::Endpoint>, Error> {
        self.with_endpoints(|r| r.cloned().map_err(Clone::clone))
    }
}

impl<T: EndpointSource + ?Sized> EndpointSource for &T {
    type Endpoint = T::Endpoint;

    fn with_endpoints<R>(
        &self,
        f: impl FnOnce(Result<&Endpoints<Self::Endpoint>, &Error>) -> R,
    ) -> R {
        (**self).with_endpoints(f)
    }
}

impl<T: EndpointSource + ?Sized> EndpointSource for Arc<T> {
    type Endpoint = T::Endpoint;

    fn with_endpoints<R>(
        &self,
        f: impl FnOnce(Result<&Endpoints<Self::Endpoint>, &Error>) -> R,
    ) -> R {
        (**self).with_endpoints(f)
    }
}
