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

/// How long a picked endpoint may stay not ready before another is tried: at most this,
/// and at most a quarter of the ready timeout.
const PATIENCE: Duration = Duration::from_millis(500);

/// How many picks in a row may land on endpoints whose readiness already failed in this
/// wait before the wait gives up with the last failure (there is nothing else to try).
const REPEATS: u32 = 3;

/// A [`tower::Service`] over a [`Balancer`] whose endpoints are themselves services: each
/// request goes to the endpoint picked during `poll_ready`.
///
/// Readiness never hangs, whatever the endpoints do:
/// - While the balancer has no endpoint it looks again with a short, growing pause.
/// - A picked endpoint whose `poll_ready` fails is set aside for this wait and another
///   is picked; when picks keep landing on endpoints that failed, the wait ends with the
///   last failure, which names its instance ([`Error::Endpoint`]).
/// - A picked endpoint that stays not ready for its patience (a quarter of the ready
///   timeout, at most 500 ms) is set aside for another; one removed by discovery stops
///   being picked.
/// - After the ready timeout (default 5 s) the wait fails: [`Error::NoEndpoints`] when
///   there was nothing to pick, [`Error::Unready`] when nothing picked became ready, or
///   the last endpoint failure.
///
/// A failing call's error says which instance it was ([`Error::Endpoint`]). Each call
/// runs in a `sd.call` tracing span carrying the instance.
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
    candidate: Option<Candidate<B::Endpoint>>,
    waiting: Option<Waiting>,
}

#[derive(Debug)]
struct Candidate<S> {
    endpoint: Endpoint<S>,
    service: S,
    /// When its patience runs out; set when it is first found not ready.
    patience: Option<Instant>,
}

/// One readiness wait: from the first `poll_ready` that found nothing ready to the one
/// that returns.
#[derive(Debug)]
struct Waiting {
    /// `None`: a ready timeout too long for the clock, so no end.
    deadline: Option<Instant>,
    /// The pause before looking again for endpoints.
    pause: Duration,
    sleep: Pin<Box<Sleep>>,
    /// When readiness last looked; a long gap means the caller gave up on this wait.
    last_poll: Instant,
    /// Instances whose readiness failed in this wait, and the last failure.
    failed: Vec<Instance>,
    last_failure: Option<Error>,
    /// Picks in a row that landed on a failed instance.
    repeats: u32,
    /// Whether any endpoint was picked in this wait.
    picked: bool,
}

/// A gap between polls this long means the wait was abandoned (a caller's own timeout,
/// a `select!`), not merely delayed: the next wait starts afresh.
const ABANDONED: Duration = Duration::from_secs(1);

impl<B: Balancer> Balanced<B> {
    /// A service over `balancer` with the default ready timeout (5 s).
    pub fn new(balancer: B) -> Self {
        Self::with_ready_timeout(balancer, Duration::from_secs(5))
    }

    /// A service that waits at most `timeout` for an endpoint to be ready
    /// (`Duration::MAX`: no limit).
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

    fn patience(&self) -> Duration {
        (self.ready_timeout / 4).min(PATIENCE)
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

/// What the next step of a readiness wait is.
enum Step {
    /// Look again at once.
    Again,
    /// Sleep until this instant (or until woken), then look again.
    SleepUntil(Instant),
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
        if self.ready.is_some() {
            return Poll::Ready(Ok(()));
        }
        // The common case, without a clock or a timer: a fresh pick that is ready at once.
        if self.waiting.is_none() && self.candidate.is_none() {
            if let Ok(endpoint) = self.balancer.endpoint() {
                let mut service = endpoint.get_ref().clone();
                match service.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        self.ready = Some((endpoint, service));
                        return Poll::Ready(Ok(()));
                    }
                    // Not ready yet: the wait below takes it from here.
                    Poll::Pending => {
                        self.candidate = Some(Candidate {
                            endpoint,
                            service,
                            patience: None,
                        });
                    }
                    Poll::Ready(Err(source)) => {
                        self.begin_wait(Instant::now());
                        if let Some(waiting) = self.waiting.as_mut() {
                            waiting.fail(endpoint.instance().clone(), source.into());
                        }
                    }
                }
            }
        }
        loop {
            let now = Instant::now();
            self.begin_wait(now);
            let step = match self.step(cx, now) {
                Ok(Some(step)) => step,
                Ok(None) => {
                    self.waiting = None;
                    return Poll::Ready(Ok(()));
                }
                Err(error) => {
                    self.waiting = None;
                    self.candidate = None;
                    return Poll::Ready(Err(error));
                }
            };
            let Step::SleepUntil(until) = step else {
                continue;
            };
            let Some(waiting) = self.waiting.as_mut() else {
                continue;
            };
            let until = waiting.deadline.map_or(until, |d| until.min(d));
            if waiting.sleep.deadline() != until {
                waiting.sleep.as_mut().reset(until);
            }
            ready!(waiting.sleep.as_mut().poll(cx));
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
    /// Starts a readiness wait unless one is under way (and not abandoned).
    fn begin_wait(&mut self, now: Instant) {
        if self
            .waiting
            .as_ref()
            .is_some_and(|w| now.saturating_duration_since(w.last_poll) > ABANDONED)
        {
            self.waiting = None;
            self.candidate = None;
        }
        let timeout = self.ready_timeout;
        let waiting = self.waiting.get_or_insert_with(|| Waiting {
            deadline: now.checked_add(timeout),
            pause: RECHECK.0,
            sleep: Box::pin(tokio::time::sleep_until(now)),
            last_poll: now,
            failed: Vec::new(),
            last_failure: None,
            repeats: 0,
            picked: false,
        });
        waiting.last_poll = now;
    }

    /// One step of the wait: `Ok(None)` once an endpoint is ready (in `self.ready`),
    /// what to do next otherwise, or why the wait failed.
    fn step<S, Req>(&mut self, cx: &mut Context<'_>, now: Instant) -> Result<Option<Step>, Error>
    where
        B: Balancer<Endpoint = S>,
        S: Service<Req> + Clone,
        S::Error: Into<BoxError>,
    {
        let patience = self.patience();
        let Some(waiting) = self.waiting.as_mut() else {
            return Ok(Some(Step::Again));
        };
        if let Some(candidate) = &mut self.candidate {
            match candidate.service.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some(c) = self.candidate.take() {
                        self.ready = Some((c.endpoint, c.service));
                    }
                    return Ok(None);
                }
                Poll::Ready(Err(source)) => {
                    waiting.fail(candidate.endpoint.instance().clone(), source.into());
                    self.candidate = None;
                }
                Poll::Pending
                    if now
                        < *candidate
                            .patience
                            .get_or_insert_with(|| now.checked_add(patience).unwrap_or(now)) =>
                {
                    if waiting.deadline.is_some_and(|d| now >= d) {
                        return Err(unready(waiting, self.ready_timeout));
                    }
                    // Woken by the endpoint, or at the end of its patience.
                    let until = candidate.patience.unwrap_or(now);
                    return Ok(Some(Step::SleepUntil(until)));
                }
                Poll::Pending => {
                    // Patience spent: another endpoint, if the balancer has one. The
                    // pending one is kept only when the balancer offers it again.
                    tracing::debug!(instance = %candidate.endpoint.instance(), "endpoint not ready in time; trying another");
                    self.candidate = None;
                }
            }
        }
        if waiting.deadline.is_some_and(|d| now >= d) {
            return Err(unready(waiting, self.ready_timeout));
        }
        match self.balancer.endpoint() {
            Ok(endpoint) => {
                waiting.picked = true;
                waiting.pause = RECHECK.0;
                if waiting.failed.contains(endpoint.instance()) {
                    waiting.repeats += 1;
                    if waiting.repeats >= REPEATS {
                        return Err(unready(waiting, self.ready_timeout));
                    }
                } else {
                    waiting.repeats = 0;
                }
                let service = endpoint.get_ref().clone();
                self.candidate = Some(Candidate {
                    endpoint,
                    service,
                    patience: None,
                });
                Ok(Some(Step::Again))
            }
            Err(sd_lb::Error::Discovery(error)) => Err(Error::Discovery(error)),
            Err(_) => {
                let until = now.checked_add(waiting.pause).unwrap_or(now);
                waiting.pause = (waiting.pause * 2).min(RECHECK.1);
                Ok(Some(Step::SleepUntil(until)))
            }
        }
    }
}

impl Waiting {
    /// Sets aside an endpoint whose readiness failed in this wait.
    fn fail(&mut self, instance: Instance, source: BoxError) {
        tracing::debug!(%instance, "endpoint not ready: its readiness failed; picking another");
        if self.failed.len() < 64 && !self.failed.contains(&instance) {
            self.failed.push(instance.clone());
        }
        self.last_failure = Some(Error::Endpoint { instance, source });
    }
}

/// Why a wait ended without a ready endpoint: the last endpoint failure, else whether
/// anything was picked at all.
fn unready(waiting: &mut Waiting, timeout: Duration) -> Error {
    match waiting.last_failure.take() {
        Some(failure) => failure,
        None if waiting.picked => Error::Unready(timeout),
        None => Error::NoEndpoints(timeout),
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
