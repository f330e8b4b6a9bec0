//! Endpoints as the read path sees them, and the `EndpointSource` trait balancers read from.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

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
/// [`FixedEndpointer`](crate::FixedEndpointer), a filter over another source, or your own.
/// Balancers read from it on every request.
///
/// # A reader per clone
///
/// Reading takes `&mut self` because each value is one *reader* with state of its own: an
/// `Endpointer` clone caches the last published list and, on each read, only checks that
/// the list it holds is still the published one (one atomic load of a generation that
/// changes only when discovery does). So a read writes nothing that another thread reads
/// or writes: no reference count, no lock, no shared counter; threads reading at once do
/// not slow each other down. Give each thread or task its own clone, as tower stacks do
/// with services; clones are cheap, and share everything but that cache.
pub trait EndpointSource {
    /// The user's endpoint value.
    type Endpoint;

    /// The current endpoints, lent from this reader, or the error that stands in for them.
    ///
    /// This is the hot path: implementations must not block, allocate or write shared
    /// memory when nothing changed since the last read. (The error is handed out owned, a
    /// reference-count increment, so that `?` works anywhere; it is not the hot path.)
    fn endpoints(&mut self) -> Result<&Endpoints<Self::Endpoint>, Error>;

    /// Ready once the source published since this reader last read it or was told of a
    /// change (a new list, an error, or the source closing), and marks that publish as
    /// seen, as `tokio::sync::watch` does; otherwise `cx` is woken when it happens.
    ///
    /// Lets a caller with nothing to pick wait for discovery instead of polling. Spurious
    /// wake-ups are possible, as with any waker. The default, for sources that never
    /// change, is never ready.
    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Pending
    }

    /// Waits until the endpoints change; see [`poll_changed`](Self::poll_changed).
    ///
    /// ```
    /// use sd_core::{BoxError, EndpointSource, Endpointer, InstanceCache, Instances};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sd_core::Error> {
    /// let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    /// let mut endpointer = Endpointer::new(&cache, |_: &sd_core::Instance| Ok::<_, BoxError>(()))?;
    /// assert_eq!(endpointer.endpoints()?.len(), 1);
    ///
    /// cache.update(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    /// endpointer.changed().await;
    /// assert_eq!(endpointer.endpoints()?.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    fn changed(&mut self) -> impl Future<Output = ()> + '_
    where
        Self: Sized,
    {
        std::future::poll_fn(|cx| self.poll_changed(cx))
    }
}

impl<T: EndpointSource + ?Sized> EndpointSource for &mut T {
    type Endpoint = T::Endpoint;

    #[inline]
    fn endpoints(&mut self) -> Result<&Endpoints<Self::Endpoint>, Error> {
        (**self).endpoints()
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_changed(cx)
    }
}

impl<T: EndpointSource + ?Sized> EndpointSource for Box<T> {
    type Endpoint = T::Endpoint;

    #[inline]
    fn endpoints(&mut self) -> Result<&Endpoints<Self::Endpoint>, Error> {
        (**self).endpoints()
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_changed(cx)
    }
}
