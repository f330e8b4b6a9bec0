//! Retry with go-kit's semantics as a tower layer: attempts, one deadline whose error
//! keeps every attempt's, a callback, a retry budget and a jittered backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use sd_core::{Backoff, BoxError};
use sd_lb::{Deposits, ErrorLog, RetryBudget, RetryError};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// Retries failed requests through the inner service — typically a
/// [`Balanced`](crate::Balanced) service, so each attempt gets a freshly picked endpoint —
/// with go-kit's semantics: at most `max_attempts` attempts in total, one deadline over
/// all of them (which also cancels the attempt in flight), and an optional callback that
/// sees each error, may replace it, and decides whether to go on.
///
/// The service's error is a [`BoxError`]: the last attempt's error (the callback's
/// replacement, if any) when attempts stop, or, when the deadline ends the request, an
/// [`sd_lb::RetryError`]`<BoxError>` whose [`is_deadline`](RetryError::is_deadline)
/// holds and which keeps every attempt's error (go-kit's bare "deadline exceeded" loses
/// them). Retries wait sd-core's jittered [`Backoff`] (10 ms doubling to 250 ms), and a
/// [`RetryBudget`] shared by all clones caps them to a share of recent traffic, so a
/// failing backend does not get several times the load. Requests must be `Clone`.
///
/// ```
/// use std::time::Duration;
/// use sd_tower::RetryLayer;
/// use tower::ServiceBuilder;
///
/// let layer = RetryLayer::new(3, Duration::from_secs(2));
/// # let _ = ServiceBuilder::new().layer(layer);
/// ```
#[derive(Clone)]
pub struct RetryLayer<C = KeepTrying> {
    max_attempts: usize,
    timeout: Duration,
    budget: Arc<RetryBudget>,
    backoff: Arc<Backoff>,
    callback: C,
}

/// The default callback: keep trying while attempts and budget last.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepTrying;

/// Decides after a failed attempt whether to try again; may replace the error, which is
/// then what the caller gets if this was the last attempt.
pub trait Callback<E> {
    /// `attempt` counts from 1; returns whether to try again.
    fn keep_trying(&self, attempt: usize, error: &mut E) -> bool;
}

impl<E> Callback<E> for KeepTrying {
    fn keep_trying(&self, _: usize, _: &mut E) -> bool {
        true
    }
}

impl<E, F> Callback<E> for F
where
    F: Fn(usize, &mut E) -> bool,
{
    fn keep_trying(&self, attempt: usize, error: &mut E) -> bool {
        self(attempt, error)
    }
}

impl RetryLayer {
    /// At most `max_attempts` attempts in total (at least one) within `timeout`, with the
    /// default budget: retries may add 20 % to the requests of the last 10 seconds, plus
    /// 10 retries per second whatever the traffic.
    pub fn new(max_attempts: usize, timeout: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            timeout,
            budget: sd_lb::default_budget(),
            backoff: Arc::new(Backoff::default()),
            callback: KeepTrying,
        }
    }
}

impl<C> RetryLayer<C> {
    /// Replaces the budget: retries may add `percent` percent (at most 1000) of the
    /// requests of the last `window`, plus `min_per_sec` retries per second; see
    /// [`RetryBudget`].
    #[must_use]
    pub fn budget(mut self, window: Duration, min_per_sec: u32, percent: u32) -> Self {
        self.budget = Arc::new(RetryBudget::new(window, min_per_sec, percent));
        self
    }

    /// Shares a budget with other retry loops (an [`sd_lb::Retry`], another layer).
    #[must_use]
    pub fn shared_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// The wait before each retry (default: 10 ms doubling to 250 ms, jittered);
    /// [`Backoff::none`] retries at once.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Arc::new(backoff);
        self
    }

    /// Sets the callback (`Fn(attempt, &mut error) -> bool`).
    pub fn callback<C2>(self, callback: C2) -> RetryLayer<C2> {
        RetryLayer {
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            budget: self.budget,
            backoff: self.backoff,
            callback,
        }
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for RetryLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryLayer")
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .field("callback", &self.callback)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, C: Clone> Layer<S> for RetryLayer<C> {
    type Service = RetryService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::with_policy(inner, self.clone().into_policy())
    }
}

impl<C> RetryLayer<C> {
    /// The settings, as every clone of a service built from them shares them.
    pub(crate) fn into_policy(self) -> Arc<Policy<C>> {
        Arc::new(Policy {
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            budget: self.budget,
            backoff: self.backoff,
            callback: self.callback,
        })
    }
}

/// What every clone of a [`RetryService`] shares.
pub(crate) struct Policy<C> {
    max_attempts: usize,
    timeout: Duration,
    budget: Arc<RetryBudget>,
    backoff: Arc<Backoff>,
    callback: C,
}

/// What a request's future needs should its first attempt fail: a service to retry on
/// and the policy. One per service clone, so that holding it (a reference-count
/// increment) writes only memory of this clone's.
pub(crate) struct Spare<S, C> {
    /// Behind a lock only so that the future is `Send` for any `Send` service; it is
    /// locked once per retry, to clone the service. (A clone of a round robin that never
    /// picked takes the next index of its clones' shared sequence, so consecutive
    /// retries move on through the endpoints.)
    service: Mutex<S>,
    policy: Arc<Policy<C>>,
}

/// The service of [`RetryLayer`].
///
/// A request whose first attempt succeeds at once costs a local count (its deposit into
/// the budget, paid in batches) and one reference-count increment of memory this clone
/// owns: no clock, no timer, no allocation. The deadline's timer is armed only when the
/// first attempt has to wait, and the retry machinery only comes into play when it fails.
pub struct RetryService<S, C> {
    inner: S,
    spare: Arc<Spare<S, C>>,
    /// This clone's requests not yet paid into the budget (held here, so that counting a
    /// request does not chase the spare's pointers).
    deposits: Deposits,
}

impl<S: Clone, C> RetryService<S, C> {
    fn with_policy(inner: S, policy: Arc<Policy<C>>) -> Self {
        Self {
            deposits: Deposits::new(policy.budget_arc()),
            spare: Spare::new(inner.clone(), policy),
            inner,
        }
    }
}

impl<S, C> Spare<S, C> {
    pub(crate) fn new(service: S, policy: Arc<Policy<C>>) -> Arc<Self> {
        Arc::new(Self {
            service: Mutex::new(service),
            policy,
        })
    }

    pub(crate) fn policy(&self) -> &Arc<Policy<C>> {
        &self.policy
    }
}

impl<C> Policy<C> {
    pub(crate) fn max_attempts(&self) -> usize {
        self.max_attempts
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn budget_arc(&self) -> Arc<RetryBudget> {
        Arc::clone(&self.budget)
    }
}

impl<S: Clone, C> Clone for RetryService<S, C> {
    fn clone(&self) -> Self {
        Self::with_policy(self.inner.clone(), Arc::clone(&self.spare.policy))
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for RetryService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let policy = &self.spare.policy;
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("max_attempts", &policy.max_attempts)
            .field("timeout", &policy.timeout)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for RetryService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    C: Callback<S::Error> + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryFuture<S, C, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        self.deposits.count();
        // The service polled ready makes the first attempt (it may hold a reservation).
        let first = self.inner.call(request.clone());
        RetryFuture::first(first, request, Arc::clone(&self.spare))
    }
}

impl<S: Service<Req>, C, Req> RetryFuture<S, C, Req> {
    /// The attempts of `request`, the first of which is `first`.
    #[inline]
    pub(crate) fn first(first: S::Future, request: Req, spare: Arc<Spare<S, C>>) -> Self {
        Self {
            state: State::First {
                attempt: first,
                request: Some(request),
                spare,
                deadline: Deadline::Unarmed,
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RetryService`].
    pub struct RetryFuture<S, C, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, C, Req>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    enum State<S, C, Req>
    where
        S: Service<Req>,
    {
        // The first attempt, on the service polled ready.
        First {
            #[pin]
            attempt: S::Future,
            request: Option<Req>,
            spare: Arc<Spare<S, C>>,
            deadline: Deadline,
        },
        // The first attempt failed: the retries.
        Retrying {
            retries: Retries<S::Response>,
        },
    }
}

impl<S, C, Req> Future for RetryFuture<S, C, Req>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    C: Callback<S::Error> + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let retries = match self.as_mut().project().state.project() {
            Projected::Retrying { retries } => return retries.as_mut().poll(cx),
            Projected::First {
                attempt,
                request,
                spare,
                deadline,
            } => match ready!(poll_first(attempt, deadline, |_| spare.policy.timeout, cx)) {
                First::Answered(response) => return Poll::Ready(Ok(response)),
                First::TimedOut(error) => return Poll::Ready(Err(error)),
                First::Failed(error, until) => match request.take() {
                    Some(request) => retrying(Arc::clone(spare), request, error, until),
                    None => return Poll::Ready(Err(error.into())),
                },
            },
        };
        self.as_mut()
            .project()
            .state
            .set(State::Retrying { retries });
        match self.project().state.project() {
            Projected::Retrying { retries } => retries.as_mut().poll(cx),
            Projected::First { .. } => Poll::Pending,
        }
    }
}

/// How a first attempt ended.
pub(crate) enum First<T, E> {
    Answered(T),
    /// The deadline passed first: the error to return.
    TimedOut(BoxError),
    /// It failed; retries must end by the deadline given (`None`: no deadline).
    Failed(E, Option<Instant>),
}

/// The deadline of a request's attempts. It is armed only when the first attempt has to
/// wait, so that an attempt that answers at once reads no clock and arms no timer.
#[derive(Debug, Default)]
pub(crate) enum Deadline {
    /// The first attempt has not had to wait yet.
    #[default]
    Unarmed,
    /// The timeout is too long for the clock: no deadline.
    Never,
    At(Pin<Box<tokio::time::Sleep>>),
}

/// Polls a first attempt, arming the deadline (`timeout()` from now) when it first has
/// to wait; the timeout is looked up only then.
#[inline]
pub(crate) fn poll_first<A, T, E>(
    mut attempt: Pin<&mut A>,
    deadline: &mut Deadline,
    timeout: impl Fn(&A) -> Duration,
    cx: &mut Context<'_>,
) -> Poll<First<T, E>>
where
    A: Future<Output = Result<T, E>>,
{
    let error = match attempt.as_mut().poll(cx) {
        Poll::Ready(Ok(response)) => return Poll::Ready(First::Answered(response)),
        Poll::Ready(Err(error)) => error,
        Poll::Pending => {
            let timeout = || timeout(attempt.as_ref().get_ref());
            if let Deadline::Unarmed = deadline {
                *deadline = match Instant::now().checked_add(timeout()) {
                    Some(at) => Deadline::At(Box::pin(tokio::time::sleep_until(at))),
                    None => Deadline::Never,
                };
            }
            if let Deadline::At(sleep) = deadline {
                ready!(sleep.as_mut().poll(cx));
                let error: RetryError<BoxError> =
                    RetryError::deadline_exceeded(ErrorLog::default(), timeout());
                return Poll::Ready(First::TimedOut(Box::new(error)));
            }
            return Poll::Pending;
        }
    };
    // The deadline counts from the first attempt, armed or not.
    let until = match deadline {
        Deadline::At(sleep) => Some(sleep.deadline()),
        Deadline::Never => None,
        Deadline::Unarmed => Instant::now().checked_add(timeout(attempt.as_ref().get_ref())),
    };
    Poll::Ready(First::Failed(error, until))
}

/// The retries after a failed first attempt, boxed: out of line, so that the first
/// attempt's poll, which inlines into callers, carries neither the retry loop's state
/// machine nor its stack frame.
#[cold]
#[inline(never)]
pub(crate) fn retrying<S, C, Req>(
    spare: Arc<Spare<S, C>>,
    request: Req,
    first: S::Error,
    until: Option<Instant>,
) -> Retries<S::Response>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    C: Callback<S::Error> + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    Box::pin(retry(spare, request, first, until))
}

/// A request's retries, under way.
pub(crate) type Retries<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The retries after a failed first attempt, within the deadline `until` (`None`: none).
async fn retry<S, C, Req>(
    spare: Arc<Spare<S, C>>,
    request: Req,
    first: S::Error,
    until: Option<Instant>,
) -> Result<S::Response, BoxError>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Callback<S::Error>,
    Req: Clone,
{
    let mut errors = ErrorLog::default();
    let timeout = spare.policy.timeout;
    let run = spare.run(request, first, &mut errors);
    let outcome = match until {
        Some(deadline) => tokio::time::timeout_at(deadline, run).await,
        None => Ok(run.await),
    };
    match outcome {
        Ok(result) => result,
        Err(_elapsed) => Err(Box::new(RetryError::deadline_exceeded(errors, timeout))),
    }
}

impl<S, C> Spare<S, C> {
    /// Retries until an attempt succeeds or retrying stops; every failed attempt's error
    /// is recorded in `errors` (which outlives this future, for the deadline's error).
    async fn run<Req>(
        &self,
        request: Req,
        first: S::Error,
        errors: &mut ErrorLog<BoxError>,
    ) -> Result<S::Response, BoxError>
    where
        S: Service<Req> + Clone,
        S::Error: Into<BoxError>,
        C: Callback<S::Error>,
        Req: Clone,
    {
        let policy = &self.policy;
        let mut error = first;
        for attempt in 1.. {
            // The callback sees every failed attempt, the last included, so it can
            // replace the error the caller gets (go-kit's semantics).
            let keep_trying = policy.callback.keep_trying(attempt, &mut error);
            let last = !keep_trying || attempt >= policy.max_attempts;
            let retry_paid = !last && policy.budget.withdraw();
            if !last && !retry_paid {
                tracing::debug!(attempt, "retry budget exhausted; not retrying");
            }
            if last || !retry_paid {
                return Err(error.into());
            }
            // Kept for the deadline's error.
            errors.push(error.into());
            let retry = u32::try_from(attempt).unwrap_or(u32::MAX);
            tokio::time::sleep(policy.backoff.delay(retry)).await;
            let mut service = self
                .service
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let outcome = match service.ready().await {
                Ok(ready) => ready.call(request.clone()).await,
                Err(failed) => Err(failed),
            };
            error = match outcome {
                Ok(response) => return Ok(response),
                Err(failed) => failed,
            };
        }
        Err("retry attempts exhausted".into())
    }
}
