//! `Endpointer`: endpoints kept in step with an instancer, readable without locks.

mod cache;
mod changes;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::{ArcSwap, Cache};
use tokio::sync::oneshot;
use tokio::time::Instant;

use self::cache::{Closers, EndpointCache, Snapshot};
use self::changes::Changes;
use crate::factory::{Closer, Factory};
use crate::{EndpointSource, Endpoints, Error, Instancer, Subscription};

/// Turns the instances of an [`Instancer`] into endpoints and keeps them current.
///
/// On every event it diffs the new set against the endpoints it holds: the factory runs
/// only for new instances, existing endpoints are kept as they are, and the endpoints of
/// removed instances are closed (see [`Factory`] for what closing means). Endpoints are in
/// lexicographic order of their instance's identity.
///
/// On an error event it keeps serving the last known endpoints. With
/// [`invalidate_on_error`](EndpointerBuilder::invalidate_on_error) it does so only until
/// the first error is `timeout` old; then it closes every endpoint and returns that first
/// error until a good event arrives, which rebuilds everything.
///
/// A background task does all the work and publishes each new list with an atomic pointer
/// swap. Each clone of an endpointer is a reader of its own (see
/// [`EndpointSource`]): it keeps the list it last read and, on each
/// [`endpoints`](EndpointSource::endpoints), only checks that the list is still the
/// published one — one atomic load, with no lock, no allocation, no clock, and no write
/// to memory another thread uses. Give each thread or task its own clone.
/// [`changed`](EndpointSource::changed) waits for the next publish.
///
/// The task belongs to the endpointer: [`close`](Self::close), or dropping the last
/// clone, closes every live endpoint at once and stops the task, which unsubscribes as it
/// ends.
///
/// Times come from [`tokio::time`], so a test can drive invalidation with
/// `tokio::time::pause` and `advance`.
///
/// ```
/// use sd_core::{BoxError, EndpointSource, Endpointer, FixedInstancer, Instance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sd_core::Error> {
/// let instancer = FixedInstancer::new(["10.0.0.2:80", "10.0.0.1:80"]);
/// let mut endpointer = Endpointer::new(&instancer, |instance: &Instance| {
///     Ok::<_, BoxError>(format!("http://{}/", instance.id()))
/// })?;
///
/// let endpoints = endpointer.endpoints()?;
/// let urls: Vec<&str> = endpoints.iter().map(|e| e.as_str()).collect();
/// assert_eq!(urls, ["http://10.0.0.1:80/", "http://10.0.0.2:80/"]);
/// # Ok(())
/// # }
/// ```
pub struct Endpointer<E> {
    handle: Arc<Handle<E>>,
    /// This reader's copy of the published snapshot.
    reader: Cache<Arc<ArcSwap<Snapshot<E>>>, Arc<Snapshot<E>>>,
    /// The address of the snapshot this reader last lent or reported as a change (kept
    /// alive by `reader`, so the address cannot be reused while it is compared): what
    /// "changed" is measured from.
    seen: usize,
}

impl<E> Endpointer<E> {
    fn reader(handle: Arc<Handle<E>>) -> Self {
        let mut reader = Cache::new(Arc::clone(&handle.core.published));
        let seen = Arc::as_ptr(reader.load()).addr();
        Self {
            handle,
            reader,
            seen,
        }
    }

    /// Whether the published snapshot differs from the one last seen; marks it seen.
    fn take_change(&mut self) -> bool {
        let current = Arc::as_ptr(self.reader.load()).addr();
        let changed = current != self.seen;
        self.seen = current;
        changed
    }
}

impl<E> Clone for Endpointer<E> {
    /// Another reader of the same endpoints, starting from the current list.
    fn clone(&self) -> Self {
        Self::reader(Arc::clone(&self.handle))
    }
}

struct Handle<E> {
    core: Arc<Core<E>>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// Shared by the handle and the task.
struct Core<E> {
    published: Arc<ArcSwap<Snapshot<E>>>,
    /// Readers waiting for the next publish.
    changes: Changes,
    /// Held by writers only: the task, `close`, and nothing on the read path.
    cache: Mutex<EndpointCache<E>>,
}

impl<E> Endpointer<E>
where
    E: Send + Sync + 'static,
{
    /// An endpointer with default options; see [`builder`](Self::builder).
    ///
    /// Fails only when called outside a Tokio runtime.
    pub fn new<F>(instancer: &(impl Instancer + ?Sized), factory: F) -> Result<Self, Error>
    where
        F: Factory<Endpoint = E>,
    {
        EndpointerBuilder::default().build(instancer, factory)
    }

    /// Closes every live endpoint before returning, and stops the background task, which
    /// unsubscribes from the instancer as it ends. Later calls do nothing; afterwards
    /// [`endpoints`](EndpointSource::endpoints) fails with an error for which
    /// [`Error::is_closed`] holds.
    pub fn close(&self) {
        self.handle.close();
    }
}

impl Endpointer<()> {
    /// Options for an endpointer. (Defined on `Endpointer<()>`, as hyper does for its
    /// client builder, so callers need not name the endpoint type.)
    pub fn builder() -> EndpointerBuilder {
        EndpointerBuilder::default()
    }
}

impl<E> Handle<E> {
    fn close(&self) {
        // Not `Core::apply`: the closed snapshot needs no endpoints copied, so closing
        // (and so `Drop`) works for any `E`.
        let closers = {
            let mut cache = self.core.lock();
            let closers = cache.close();
            self.core.published.store(Arc::new(Err(Error::closed())));
            closers
        };
        self.core.changes.notify();
        closers.into_iter().for_each(Closer::close);
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            // The task may already be gone (its runtime shut down); nothing to tell then.
            let _ = stop.send(());
        }
    }
}

impl<E> Drop for Handle<E> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<E> Core<E> {
    /// Runs one writer step, publishes the resulting snapshot, then runs close hooks with
    /// no lock held (a hook may call back into the endpointer).
    fn apply(&self, step: impl FnOnce(&mut EndpointCache<E>) -> Closers)
    where
        E: 'static,
    {
        let closers = {
            let mut cache = self.lock();
            let closers = step(&mut cache);
            self.published.store(Arc::new(cache.snapshot()));
            closers
        };
        self.changes.notify();
        closers.into_iter().for_each(Closer::close);
    }

    fn deadline(&self) -> Option<Instant> {
        self.lock().deadline()
    }

    /// A panicking factory or hook must not wedge the endpointer: the cache's invariants
    /// hold between steps, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, EndpointCache<E>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn drive<E: 'static>(
    core: Arc<Core<E>>,
    mut subscription: Subscription,
    mut stop: oneshot::Receiver<()>,
) {
    let mut source_open = true;
    loop {
        let deadline = core.deadline();
        tokio::select! {
            biased;
            _ = &mut stop => break,
            event = subscription.next(), if source_open => match event {
                Some(event) => core.apply(|c| c.update(event, Instant::now())),
                // The instancer is gone: keep the last state, still honour deadlines.
                None => source_open = false,
            },
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                core.apply(|c| c.expire(Instant::now()));
            }
        }
    }
}

impl<E> EndpointSource for Endpointer<E> {
    type Endpoint = E;

    fn endpoints(&mut self) -> Result<&Endpoints<E>, Error> {
        let snapshot = self.reader.load();
        self.seen = Arc::as_ptr(snapshot).addr();
        snapshot.as_ref().as_ref().map_err(Clone::clone)
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take_change() {
            return Poll::Ready(());
        }
        self.handle.core.changes.register(cx.waker());
        // A publish between the check and the registration woke no one: look again.
        if self.take_change() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<E> fmt::Debug for Endpointer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.handle.core.published.load();
        let mut d = f.debug_struct("Endpointer");
        match &**snapshot {
            Ok(endpoints) => d.field("endpoints", &endpoints.len()),
            Err(error) => d.field("error", error),
        };
        d.finish_non_exhaustive()
    }
}

/// Options for an [`Endpointer`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EndpointerBuilder {
    invalidate_after: Option<Duration>,
}

impl EndpointerBuilder {
    /// After an error event, keep serving the last endpoints for at most `timeout`; then
    /// close them and fail with the first error until a good event arrives. Without this,
    /// errors never invalidate endpoints.
    pub fn invalidate_on_error(mut self, timeout: Duration) -> Self {
        self.invalidate_after = Some(timeout);
        self
    }

    /// Subscribes to `instancer`, applies its current state at once when it has one (so
    /// the endpointer is usable immediately; until then it has no endpoints), and spawns
    /// the task that follows it.
    ///
    /// Fails only when called outside a Tokio runtime.
    pub fn build<E, F>(
        self,
        instancer: &(impl Instancer + ?Sized),
        factory: F,
    ) -> Result<Endpointer<E>, Error>
    where
        E: Send + Sync + 'static,
        F: Factory<Endpoint = E>,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::no_runtime())?;
        let mut subscription = instancer.subscribe();
        let mut cache = EndpointCache::new(Box::new(factory), self.invalidate_after);
        if let Some(first) = subscription.latest() {
            let closers = cache.update(first, Instant::now());
            debug_assert!(closers.is_empty(), "a fresh cache has nothing to close");
        }
        let core = Arc::new(Core {
            published: Arc::new(ArcSwap::from_pointee(cache.snapshot())),
            changes: Changes::default(),
            cache: Mutex::new(cache),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        runtime.spawn(drive(Arc::clone(&core), subscription, stop_rx));
        Ok(Endpointer::reader(Arc::new(Handle {
            core,
            stop: Mutex::new(Some(stop_tx)),
        })))
    }
}
