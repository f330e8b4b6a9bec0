//! `Endpointer`: endpoints kept in step with an instancer, readable without locks.

mod cache;
mod changes;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;
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
/// published one — one atomic load of a generation number, with no lock, no allocation,
/// no clock, and no write to memory another thread uses. Give each thread or task its own clone.
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
    /// The handle's core, held directly: one pointer hop fewer on every read.
    core: Arc<Core<E>>,
    /// This reader's copy of the published list, held inline (the list's own pointer and
    /// length, not a pointer to them) so that a read makes one hop fewer, and the
    /// generation it was published as (or an earlier one: a publish between reading the
    /// generation and loading the snapshot only makes the next read load it again).
    ///
    /// While the published snapshot is an error, `generation` is [`FAILED`], which no
    /// publish reaches: every read then takes the slow path, which returns the error, and
    /// a read of a good list is one comparison, with no test of which kind it holds.
    list: Endpoints<E>,
    generation: u64,
    /// The generation this reader last lent or reported as a change: what "changed" is
    /// measured from. Set whenever a read refreshes, so a read that finds nothing new has
    /// nothing to write.
    seen: u64,
}

/// The `generation` of a reader whose snapshot is an error. The published generation
/// starts at 0 and grows by one per publish: it never gets here.
const FAILED: u64 = u64::MAX;

impl<E> Endpointer<E> {
    fn reader(handle: Arc<Handle<E>>) -> Self {
        let core = Arc::clone(&handle.core);
        let current = core.generation.load(Ordering::Acquire);
        let (list, generation) = match &**core.published.load() {
            Ok(list) => (list.clone(), current),
            // Never read while `generation` is `FAILED`.
            Err(_) => (Endpoints::new(Vec::new()), FAILED),
        };
        Self {
            handle,
            core,
            list,
            generation,
            seen: current,
        }
    }

    /// The slow half of [`endpoints`](EndpointSource::endpoints), out of line so that the
    /// read path inlines into its callers: a newer snapshot was published, or the one
    /// held is an error.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self, current: u64) -> Result<&Endpoints<E>, Error> {
        self.seen = current;
        match &**self.core.published.load() {
            Ok(list) => {
                self.list.clone_from(list);
                self.generation = current;
                Ok(&self.list)
            }
            Err(error) => {
                self.generation = FAILED;
                Err(error.clone())
            }
        }
    }

    /// Whether a snapshot was published since the one last seen; marks it seen.
    fn take_change(&mut self) -> bool {
        let current = self.core.generation.load(Ordering::Acquire);
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
    /// Bumped after each publish: what readers check on every read. On cache lines of
    /// its own, so that writes to the fields below never evict it from readers' caches.
    generation: CachePadded<AtomicU64>,
    published: ArcSwap<Snapshot<E>>,
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
            self.core.publish(Err(Error::closed()));
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
            self.publish(cache.snapshot());
            closers
        };
        self.changes.notify();
        closers.into_iter().for_each(Closer::close);
    }

    /// Makes `snapshot` the one readers read. Writers hold the cache lock, so publishes
    /// are in order.
    fn publish(&self, snapshot: Snapshot<E>) {
        self.published.store(Arc::new(snapshot));
        // Release: a reader that sees the new generation then loads this snapshot.
        self.generation.fetch_add(1, Ordering::Release);
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

    #[inline]
    fn endpoints(&mut self) -> Result<&Endpoints<E>, Error> {
        // Acquire: pairs with the writer's Release, so the snapshot loaded after seeing
        // a generation is at least as new as the one published under it.
        let current = self.core.generation.load(Ordering::Acquire);
        if current != self.generation {
            return self.refresh(current);
        }
        Ok(&self.list)
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
            generation: CachePadded::new(AtomicU64::new(0)),
            published: ArcSwap::from_pointee(cache.snapshot()),
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
