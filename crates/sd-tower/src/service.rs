//! `Balanced`: a tower service that sends each request to an endpoint a balancer picks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use sd_core::{BoxError, Endpoint, Instance};
use sd_lb::Balancer;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::Error;

/// How often readiness looks again while there is no endpoint: first, and at most.
const RECHECK: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(100));

/// A [`tower::Service`] over a [`Balancer`] whose endpoints are themselves services: each
/// request goes to the endpoint picked during `poll_ready`.
///
/// Readiness never hangs: while the balancer has no endpoint it looks again with a short,
/// growing pause, and after the ready timeout (default 5 s) fails with
/// [`Error::NoEndpoints`]. A failing endpoint's error says which instance it was
/// ([`Error::Endpoint`]). Each call runs in a `sd.call` tracing span carrying the instance.
///
/// The balancer is shared by clones (use an `Arc` or a cheaply clonable balancer): a clone
/// per task or per connection is how tower stacks use a service.
///
/// ```no_run
/// use std::sync::Arc;
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
/// let service = Balanced::new(Arc::new(RoundRobin::new(endpointer)));
/// let reply = service.oneshot("hello".to_owned()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Balanced<B: Balancer> {
    balancer: B,
    ready_timeout: Duration,
    /// The endpoint picked for the next call, and its service (a clone to call), once
    /// ready.
    ready: Option<(Endpoint<B::Endpoint>, B::Endpoint)>,
    /// An endpoint picked but not ready yet.
    candidate: Option<(Endpoint<B::Endpoint>, B::Endpoint)>,
    waiting: Option<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    deadline: Instant,
    pause: Duration,
    sleep: Pin<Box<Sleep>>,
    /// When readiness last looked; a long gap means the caller gave up on this wait.
    last_poll: Instant,
}

/// A gap between polls this long means the wait was abandoned (a caller's own timeout,
/// a `select!`), not merely delayed: the next wait starts afresh.
const ABANDONED: Duration = Duration::from_secs(1);

impl<B: Balancer> Balanced<B> {
    /// A service over `balancer` with the default ready timeout (5 s).
    pub fn new(balancer: B) -> Self {
        Self::with_ready_timeout(balancer, Duration::from_secs(5))
    }

    /// A service that waits at most `timeout` for an endpoint to appear.
    pub fn with_ready_timeout(balancer: B, timeout: Duration) -> Self {
        Self {
            balancer,
            ready_timeout: timeout,
            ready: None,
            candidate: None,
            waiting: None,
        }
    }

    /// The balancer.
    pub fn balancer(&self) -> &B {
        &self.balancer
    }
}

impl<B> Clone for Balanced<B>
where
    B: Balancer + Clone,
{
    fn clone(&self) -> Self {
        Self::with_ready_timeout(self.balancer.clone(), self.ready_timeout)
    }
}

impl<B, S, Req> Service<Req> for Balanced<B>
where
    B: Balancer<Endpoint = S>,
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = Error;
    type Future = ResponseFuture<S::Future, S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.ready.is_some() {
                return Poll::Ready(Ok(()));
            }
            if let Some((_, service)) = &mut self.candidate {
                let outcome = ready!(service.poll_ready(cx));
                if let Some((endpoint, service)) = self.candidate.take() {
                    return match outcome {
                        Ok(()) => {
                            self.ready = Some((endpoint, service));
                            Poll::Ready(Ok(()))
                        }
                        Err(source) => Poll::Ready(Err(Error::Endpoint {
                            instance: endpoint.instance().clone(),
                            source: source.into(),
                        })),
                    };
                }
            }
            match self.balancer.endpoint() {
                Ok(endpoint) => {
                    self.waiting = None;
                    let service = endpoint.get_ref().clone();
                    self.candidate = Some((endpoint, service));
                }
                Err(sd_lb::Error::Discovery(error)) => {
                    self.waiting = None;
                    return Poll::Ready(Err(Error::Discovery(error)));
                }
                Err(_) => ready!(self.poll_wait(cx))?,
            }
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let Some((endpoint, mut service)) = self.ready.take() else {
            return ResponseFuture::failed(Error::NotReady);
        };
        let span = tracing::debug_span!("sd.call", instance = %endpoint.instance());
        let future = service.call(request).instrument(span);
        ResponseFuture::calling(future, endpoint)
    }
}

impl<B: Balancer> Balanced<B> {
    /// Waits a little for endpoints to appear; `Ready(Ok)` to look again, `Ready(Err)` when
    /// the ready timeout has passed.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let now = Instant::now();
        if self
            .waiting
            .as_ref()
            .is_some_and(|w| now.saturating_duration_since(w.last_poll) > ABANDONED)
        {
            self.waiting = None;
        }
        let timeout = self.ready_timeout;
        let waiting = self.waiting.get_or_insert_with(|| {
            let deadline = now + timeout;
            Waiting {
                deadline,
                pause: RECHECK.0,
                sleep: Box::pin(tokio::time::sleep_until((now + RECHECK.0).min(deadline))),
                last_poll: now,
            }
        });
        waiting.last_poll = now;
        if now >= waiting.deadline {
            self.waiting = None;
            return Poll::Ready(Err(Error::NoEndpoints(self.ready_timeout)));
        }
        ready!(waiting.sleep.as_mut().poll(cx));
        let next = (now + waiting.pause).min(waiting.deadline);
        waiting.pause = (waiting.pause * 2).min(RECHECK.1);
        waiting.sleep.as_mut().reset(next);
        Poll::Ready(Ok(()))
    }
}

pin_project_lite::pin_project! {
    /// The response of [`Balanced`]: the endpoint's, with its error tagged by instance.
    #[derive(Debug)]
    pub struct ResponseFuture<F, S> {
        #[pin]
        inner: Option<tracing::instrument::Instrumented<F>>,
        // Kept whole (one reference) rather than copying the instance on every call: it
        // is read only when the call fails.
        endpoint: Option<Endpoint<S>>,
        failed: Option<Error>,
    }
}

impl<F, S> ResponseFuture<F, S> {
    fn calling(inner: tracing::instrument::Instrumented<F>, endpoint: Endpoint<S>) -> Self {
        Self {
            inner: Some(inner),
            endpoint: Some(endpoint),
            failed: None,
        }
    }

    fn failed(error: Error) -> Self {
        Self {
            inner: None,
            endpoint: None,
            failed: Some(error),
        }
    }
}

impl<F, S, T, E> Future for ResponseFuture<F, S>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(this.failed.take().unwrap_or(Error::NotReady)));
        };
        let result = ready!(inner.poll(cx));
        Poll::Ready(result.map_err(|source| {
            Error::Endpoint {
                instance: this
                    .endpoint
                    .as_ref()
                    .map_or_else(|| Instance::new(""), |e| e.instance().clone()),
                source: source.into(),
            }
        }))
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
