//! `Endpointer`: endpoints kept in step with an instancer, readable without locks.

mod cache;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::oneshot;
use tokio::time::Instant;

use self::cache::{Closers, EndpointCache, Snapshot};
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
/// [`endpoints`](EndpointSource::endpoints) is lock-free and allocation-free: a background
/// task does all the work and publishes each new list with an atomic pointer swap. The
/// task belongs to the endpointer: [`close`](Self::close), or dropping the last clone,
/// closes every live endpoint at once and stops the task, which unsubscribes as it ends.
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
/// let endpointer = Endpointer::new(&instancer, |instance: &Instance| {
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
}

impl<E> Clone for Endpointer<E> {
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
        }
    }
}

struct Handle<E> {
    core: Arc<Core<E>>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// Shared by the handle and the task.
struct Core<E> {
    published: ArcSwap<Snapshot<E>>,
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
            self.core
                .published
                .store(Arc::new(Snapshot::Failed(Error::closed())));
            closers
        };
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

    fn with_endpoints<R>(&self, f: impl FnOnce(Result<&Endpoints<E>, &Error>) -> R) -> R {
        let snapshot = self.handle.core.published.load();
        f(snapshot.read(Instant::now))
    }
}

impl<E> fmt::Debug for Endpointer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.handle.core.published.load();
        let mut d = f.debug_struct("Endpointer");
        match &**snapshot {
            Snapshot::Ready(eps) => d.field("endpoints", &eps.len()),
            Snapshot::Stale {
                endpoints, error, ..
            } => d.field("endpoints", &endpoints.len()).field("error", error),
            Snapshot::Failed(error) => d.field("error", error),
        };
        d.finish()
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
            published: ArcSwap::from_pointee(cache.snapshot()),
            cache: Mutex::new(cache),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        runtime.spawn(drive(Arc::clone(&core), subscription, stop_rx));
        Ok(Endpointer {
            handle: Arc::new(Handle {
                core,
                stop: Mutex::new(Some(stop_tx)),
            }),
        })
    }
}
