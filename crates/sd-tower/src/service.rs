//! `Balanced`: a tower service that sends each request to an endpoint a balancer picks.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use sd_core::{BoxError, Endpoints, Instance};
use sd_lb::Balancer;
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::Error;

/// How long a picked endpoint may stay not ready before another is tried: at most this,
/// and at most a quarter of the ready timeout.
const PATIENCE: Duration = Duration::from_millis(500);

/// How many picks in a row may land on endpoints whose readiness already failed in this
/// wait before the wait gives up with the last failure (there is nothing else to try).
const REPEATS: u32 = 3;

/// A [`tower::Service`] over a [`Balancer`] whose endpoints are themselves services: each
/// request goes to an endpoint the balancer picks.
///
/// # The fast path
///
/// `poll_ready` picks an endpoint and polls a clone of its service; when that is ready at
/// once (the common case), `call` sends the request to it. This path takes no lock,
/// reads no clock, arms no timer, allocates nothing and writes no memory another clone
/// writes: the balancer's pick writes only the clone's own cursor (see [`Balancer`]), and
/// the response future names its instance through a *lease* of the clone's own, one
/// reference count that only this clone and its requests touch. A lease holds the list
/// the clone's picks come from, and is renewed (one allocation) when discovery publishes
/// a new list; taking a reference to the endpoint itself instead would make every request
/// on every core write the endpoint's shared count.
///
/// # When no endpoint is ready at once
///
/// `poll_ready` never waits: it is ready even when the pick found nothing ready, and the
/// waiting happens inside the request's future, which owns all of its state. So a caller
/// that gives up (drops the future, a `select!`, its own timeout) leaves nothing behind,
/// and the next request waits afresh. The wait never hangs, whatever the endpoints do:
/// - While the balancer has nothing to pick, it waits for discovery to publish a change
///   ([`Balancer::poll_changed`]), with no polling.
/// - A picked endpoint whose `poll_ready` fails is set aside for this wait and another
///   is picked; when picks keep landing on endpoints that failed, the wait ends with the
///   last failure, which names its instance ([`Error::Endpoint`]).
/// - A picked endpoint that stays not ready for its patience (a quarter of the ready
///   timeout, at most 500 ms) is set aside for another; one removed by discovery stops
///   being picked.
/// - After the ready timeout (default 5 s) the wait fails: [`Error::NoEndpoints`] when
///   there was nothing to pick, [`Error::Unready`] when nothing picked became ready, or
///   the last endpoint failure. A discovery failure ends it at once
///   ([`Error::Discovery`]).
///
/// A failing call's error says which instance it was ([`Error::Endpoint`]). Each call
/// runs in a `sd.call` tracing span carrying the instance.
///
/// Each clone has a balancer clone of its own (its own reader and cursor): a clone per
/// task or per connection is how tower stacks use a service.
///
/// ```no_run
/// use sd_core::{BoxError, Endpointer, FixedInstancer, Instance};
/// use sd_lb::RoundRobin;
/// use sd_tower::Balanced;
/// use tower::{service_fn, ServiceExt};
///
/// # async fn demo() -> Result<(), BoxError> {
/// let instancer = FixedInstancer::new(["10.0.0.1:80", "10.0.0.2:80"]);
/// let endpointer = Endpointer::new(&instancer, |i: &Instance| {
///     let addr = i.id().to_owned();
///     Ok::<_, BoxError>(service_fn(move |req: String| {
///         let addr = addr.clone();
///         async move { Ok::<_, BoxError>(format!("{addr} got {req}")) }
///     }))
/// })?;
/// let service = Balanced::new(RoundRobin::new(endpointer));
/// let reply = service.oneshot("hello".to_owned()).await?;
/// # Ok(()) }
/// ```
pub struct Balanced<B: Balancer> {
    picker: Picker<B, ()>,
}

impl<B: Balancer> Balanced<B> {
    /// A service over `balancer` with the default ready timeout (5 s).
    pub fn new(balancer: B) -> Self {
        Self::with_ready_timeout(balancer, Duration::from_secs(5))
    }

    /// A service that waits at most `timeout` for an endpoint to be ready
    /// (`Duration::MAX`: no limit).
    pub fn with_ready_timeout(balancer: B, timeout: Duration) -> Self {
        Self {
            picker: Picker::new(balancer, timeout, ()),
        }
    }

    /// The balancer.
    pub fn balancer(&self) -> &B {
        &self.picker.balancer
    }

    pub(crate) fn ready_timeout(&self) -> Duration {
        self.picker.ready_timeout
    }
}

impl<B> Clone for Balanced<B>
where
    B: Balancer + Clone,
{
    fn clone(&self) -> Self {
        Self {
            picker: self.picker.clone(),
        }
    }
}

impl<B: Balancer + std::fmt::Debug> std::fmt::Debug for Balanced<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balanced")
            .field("balancer", &self.picker.balancer)
            .field("ready_timeout", &self.picker.ready_timeout)
            .finish_non_exhaustive()
    }
}

impl<B, S, Req> Service<Req> for Balanced<B>
where
    B: Balancer<Endpoint = S> + Clone + Send + 'static,
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = Error;
    type Future = ResponseFuture<S::Future, S, S::Response>;

    // Always: behind a `RetryLayer` the inliner otherwise keeps this one call out of
    // line, which cost that stack about 3 ns per request.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.picker.poll_ready(cx);
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let state = match self.picker.take() {
            Some((lease, index, mut service)) => {
                let span = CallSpan::new(&lease, index);
                let inner = span.in_scope(|| service.call(request));
                State::Calling {
                    inner,
                    span,
                    lease,
                    index,
                }
            }
            None => State::Waiting {
                inner: waiting(&self.picker, request),
            },
        };
        ResponseFuture { state }
    }
}

/// The list a clone's picks come from, which each of its requests keeps so that a failed
/// call can name its instance, and what else those requests need from the clone (a
/// retrying service's spare). One per clone, renewed when the list changes; on cache
/// lines of its own, as its reference count is written by every request of the clone.
pub(crate) struct Lease<S, X> {
    list: Endpoints<S>,
    pub(crate) extra: X,
}

pub(crate) type Leased<S, X> = Arc<CachePadded<Lease<S, X>>>;

/// An endpoint found ready: a lease on its list, its index there, and the service to
/// call.
pub(crate) type Ready<S, X> = (Leased<S, X>, usize, S);

impl<S, X> Lease<S, X> {
    /// The instance at `index`, which a pick from this very list gave.
    fn instance(&self, index: usize) -> &Instance {
        // In range: the index came from a pick of this list, which never changes.
        self.list[index].instance()
    }
}

/// What [`Balanced`] and the retrying [`RetryBalanced`](crate::RetryBalanced) share: the
/// balancer, the endpoint `poll_ready` found ready at once, and the clone's lease.
pub(crate) struct Picker<B: Balancer, X> {
    balancer: B,
    ready_timeout: Duration,
    /// The endpoint `poll_ready` found ready: its index in the lease's list, and the
    /// service clone that was polled (a clone to call).
    ready: Option<(usize, B::Endpoint)>,
    lease: Leased<B::Endpoint, X>,
}

impl<B: Balancer, X> Picker<B, X> {
    pub(crate) fn new(balancer: B, ready_timeout: Duration, extra: X) -> Self {
        Self {
            balancer,
            ready_timeout,
            ready: None,
            lease: Arc::new(CachePadded::new(Lease {
                list: Endpoints::new(Vec::new()),
                extra,
            })),
        }
    }

    pub(crate) fn ready_timeout(&self) -> Duration {
        self.ready_timeout
    }

    pub(crate) fn balancer(&self) -> &B {
        &self.balancer
    }

    /// What the lease keeps besides the list.
    pub(crate) fn extra(&self) -> &X {
        &self.lease.extra
    }

    /// Picks, and keeps the pick when its service is ready at once; anything else is the
    /// request future's to deal with.
    #[inline]
    pub(crate) fn poll_ready<Req>(&mut self, cx: &mut Context<'_>)
    where
        B::Endpoint: Service<Req> + Clone,
        X: Clone,
    {
        if self.ready.is_some() {
            return;
        }
        if let Ok(pick) = self.balancer.pick() {
            let mut service = pick.endpoint().get_ref().clone();
            if let Poll::Ready(Ok(())) = service.poll_ready(cx) {
                if !Endpoints::ptr_eq(&self.lease.list, pick.list()) {
                    self.lease = renew(&self.lease, pick.list());
                }
                self.ready = Some((pick.index(), service));
            }
        }
    }

    /// The endpoint `poll_ready` found ready, if any: a lease on its list, its index
    /// there, and the service to call.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Ready<B::Endpoint, X>> {
        let (index, service) = self.ready.take()?;
        Some((Arc::clone(&self.lease), index, service))
    }
}

impl<B: Balancer + Clone, X: Clone> Clone for Picker<B, X> {
    /// Another picker over a clone of the balancer, with a lease of its own.
    fn clone(&self) -> Self {
        Self::new(
            self.balancer.clone(),
            self.ready_timeout,
            self.lease.extra.clone(),
        )
    }
}

/// The `sd.call` span of one request, entered whenever its future is polled; nothing at
/// all when debug spans are disabled. A disabled `tracing::Span` still costs a check to
/// make, to enter on every poll and to drop, which together came to a quarter of the
/// fast path; this is one pointer, tested once per poll and once on drop.
pub(crate) struct CallSpan(Option<Box<tracing::Span>>);

impl CallSpan {
    /// The span of a request to the endpoint at `index` of the lease's list.
    #[inline]
    pub(crate) fn new<S, X>(lease: &Lease<S, X>, index: usize) -> Self {
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            Self::enabled(lease, index)
        } else {
            Self(None)
        }
    }

    #[cold]
    #[inline(never)]
    fn enabled<S, X>(lease: &Lease<S, X>, index: usize) -> Self {
        let span = tracing::debug_span!("sd.call", instance = %lease.instance(index));
        Self((!span.is_disabled()).then(|| Box::new(span)))
    }

    /// Runs `f` in the span, if there is one.
    #[inline]
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            None => f(),
            Some(span) => span.in_scope(f),
        }
    }
}

impl Drop for CallSpan {
    #[inline]
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            close(span);
        }
    }
}

#[cold]
#[inline(never)]
fn close(span: Box<tracing::Span>) {
    drop(span);
}

/// The error of a call to the endpoint at `index` of the lease's list: out of line, as
/// calls mostly succeed.
#[cold]
#[inline(never)]
pub(crate) fn endpoint_error<S, X>(lease: &Lease<S, X>, index: usize, source: BoxError) -> Error {
    Error::Endpoint {
        instance: lease.instance(index).clone(),
        source,
    }
}

/// A lease on `list`, keeping what the old one kept besides: out of line, as it runs only
/// when discovery publishes.
#[cold]
#[inline(never)]
fn renew<S, X: Clone>(old: &Leased<S, X>, list: &Endpoints<S>) -> Leased<S, X> {
    Arc::new(CachePadded::new(Lease {
        list: list.clone(),
        extra: old.extra.clone(),
    }))
}

/// A request that found no endpoint ready at once: its wait, then its call. Out of line,
/// so that the fast path inlines into callers without the wait's state machine.
#[cold]
#[inline(never)]
fn waiting<B, S, Req, X>(
    picker: &Picker<B, X>,
    request: Req,
) -> Pin<Box<dyn Future<Output = Result<S::Response, Error>> + Send>>
where
    B: Balancer<Endpoint = S> + Clone + Send + 'static,
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    Req: Send + 'static,
{
    Box::pin(wait_then_call(
        picker.balancer.clone(),
        picker.ready_timeout,
        request,
    ))
}

/// The slow path: waits, within the ready timeout, for an endpoint that is ready, then
/// calls it.
async fn wait_then_call<B, S, Req>(
    mut balancer: B,
    timeout: Duration,
    request: Req,
) -> Result<S::Response, Error>
where
    B: Balancer<Endpoint = S>,
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    let patience = (timeout / 4).min(PATIENCE);
    let mut wait = Wait::default();
    let picked = match Instant::now().checked_add(timeout) {
        Some(deadline) => {
            tokio::time::timeout_at(deadline, wait.ready(&mut balancer, patience)).await
        }
        // A ready timeout too long for the clock: no end.
        None => Ok(wait.ready(&mut balancer, patience).await),
    };
    let (instance, mut service) = match picked {
        Ok(picked) => picked?,
        Err(_elapsed) => return Err(wait.unready(timeout)),
    };
    let span = tracing::debug_span!("sd.call", %instance);
    service
        .call(request)
        .instrument(span)
        .await
        .map_err(|source| Error::Endpoint {
            instance,
            source: source.into(),
        })
}

/// What one readiness wait has learnt.
#[derive(Default)]
struct Wait {
    /// Instances whose readiness failed in this wait, and the last failure.
    failed: Vec<Instance>,
    last_failure: Option<Error>,
    /// Picks in a row that landed on a failed instance.
    repeats: u32,
    /// Whether any endpoint was picked in this wait.
    picked: bool,
}

impl Wait {
    /// Picks until an endpoint is ready; see [`Balanced`] for the rules.
    async fn ready<B, S, Req>(
        &mut self,
        balancer: &mut B,
        patience: Duration,
    ) -> Result<(Instance, S), Error>
    where
        B: Balancer<Endpoint = S>,
        S: Service<Req> + Clone,
        S::Error: Into<BoxError>,
    {
        loop {
            // Only the instance and a service clone are kept across awaits: an `Endpoint` is
            // `Send` only when its service is also `Sync`.
            let picked = match balancer.endpoint() {
                Ok(endpoint) => Some((endpoint.instance().clone(), endpoint.get_ref().clone())),
                Err(sd_lb::Error::Discovery(error)) => return Err(Error::Discovery(error)),
                Err(_) => None,
            };
            let Some((instance, mut service)) = picked else {
                // Nothing to pick: wake when discovery publishes, not on a timer.
                poll_fn(|cx| balancer.poll_changed(cx)).await;
                continue;
            };
            self.picked = true;
            if self.failed.contains(&instance) {
                self.repeats += 1;
                if self.repeats >= REPEATS {
                    return Err(self.unready(Duration::ZERO));
                }
            } else {
                self.repeats = 0;
            }
            let readiness = poll_fn(|cx| service.poll_ready(cx));
            match tokio::time::timeout(patience, readiness).await {
                Ok(Ok(())) => return Ok((instance, service)),
                Ok(Err(source)) => self.fail(instance, source.into()),
                // Patience spent: another endpoint, if the balancer has one. The pending
                // one is tried again only when the balancer offers it again.
                Err(_) => {
                    tracing::debug!(%instance, "endpoint not ready in time; trying another");
                }
            }
        }
    }

    /// Sets aside an endpoint whose readiness failed in this wait.
    fn fail(&mut self, instance: Instance, source: BoxError) {
        tracing::debug!(%instance, "endpoint not ready: its readiness failed; picking another");
        if self.failed.len() < 64 && !self.failed.contains(&instance) {
            self.failed.push(instance.clone());
        }
        self.last_failure = Some(Error::Endpoint { instance, source });
    }

    /// Why the wait ended without a ready endpoint: the last endpoint failure, else
    /// whether anything was picked at all.
    fn unready(&mut self, timeout: Duration) -> Error {
        match self.last_failure.take() {
            Some(failure) => failure,
            None if self.picked => Error::Unready(timeout),
            None => Error::NoEndpoints(timeout),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of [`Balanced`]: the endpoint's, with its error tagged by instance.
    pub struct ResponseFuture<F, S, T> {
        #[pin]
        state: State<F, S, T>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    enum State<F, S, T> {
        // An endpoint was ready at once: its call.
        Calling {
            #[pin]
            inner: F,
            // The `sd.call` span, entered on every poll, when enabled.
            span: CallSpan,
            // The clone's lease and the endpoint's index in its list: read only when the
            // call fails.
            lease: Leased<S, ()>,
            index: usize,
        },
        // Waiting for an endpoint to be ready, then calling it.
        Waiting {
            inner: Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>,
        },
    }
}

impl<F, S, T> std::fmt::Debug for ResponseFuture<F, S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            State::Calling { lease, index, .. } => f
                .debug_struct("ResponseFuture")
                .field("instance", lease.instance(*index))
                .finish_non_exhaustive(),
            State::Waiting { .. } => f.write_str("ResponseFuture(waiting for an endpoint)"),
        }
    }
}

impl<F, S, T, E> Future for ResponseFuture<F, S, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Projected::Calling {
                inner,
                span,
                lease,
                index,
            } => {
                let result = ready!(span.in_scope(|| inner.poll(cx)));
                Poll::Ready(result.map_err(|source| endpoint_error(lease, *index, source.into())))
            }
            Projected::Waiting { inner, .. } => inner.as_mut().poll(cx),
        }
    }
}

/// A [`Layer`] that turns a [`Balancer`] into a [`Balanced`] service, for
/// `ServiceBuilder::new().layer(..).service(balancer)` stacks.
#[derive(Debug, Clone, Copy)]
pub struct BalancedLayer {
    ready_timeout: Duration,
}

impl BalancedLayer {
    /// A layer whose services wait at most `ready_timeout` for an endpoint.
    pub fn new(ready_timeout: Duration) -> Self {
        Self { ready_timeout }
    }
}

impl Default for BalancedLayer {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

impl<B: Balancer> Layer<B> for BalancedLayer {
    type Service = Balanced<B>;

    fn layer(&self, balancer: B) -> Balanced<B> {
        Balanced::with_ready_timeout(balancer, self.ready_timeout)
    }
}
