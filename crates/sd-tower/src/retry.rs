//! Retry with go-kit's semantics as a tower layer: attempts, one deadline whose error
//! keeps every attempt's, a callback, a retry budget and a jittered backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sd_core::{Backoff, BoxError};
use sd_lb::{ErrorLog, RetryError};
use tower::retry::budget::{Budget, TpsBudget};
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
/// [`TpsBudget`] shared by all clones caps them to a share of recent traffic, so a
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
    budget: Arc<TpsBudget>,
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
    /// Replaces the budget: retries may add `retry_percent` (0.0–1000.0) of the requests
    /// of the last `ttl` (1–60 s, clamped), plus `min_per_sec` retries per second.
    #[must_use]
    pub fn budget(mut self, ttl: Duration, min_per_sec: u32, retry_percent: f32) -> Self {
        // TpsBudget asserts these ranges; clamp instead of panicking.
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let percent = if retry_percent.is_finite() {
            retry_percent.clamp(0.0, 1000.0)
        } else {
            0.0
        };
        self.budget = Arc::new(TpsBudget::new(ttl, min_per_sec, percent));
        self
    }

    /// Shares a budget with other retry loops (an `sd_lb::Retry`, another layer).
    #[must_use]
    pub fn shared_budget(mut self, budget: Arc<TpsBudget>) -> Self {
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

impl<S, C: Clone> Layer<S> for RetryLayer<C> {
    type Service = RetryService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            budget: Arc::clone(&self.budget),
            backoff: Arc::clone(&self.backoff),
            callback: self.callback.clone(),
        }
    }
}

/// The service of [`RetryLayer`].
#[derive(Clone)]
pub struct RetryService<S, C> {
    inner: S,
    max_attempts: usize,
    timeout: Duration,
    budget: Arc<TpsBudget>,
    backoff: Arc<Backoff>,
    callback: C,
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for RetryService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for RetryService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    C: Callback<S::Error> + Clone + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The instance polled ready makes the first attempt (it may hold a reservation);
        // a clone takes its place here.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let this = RetryLoop {
            max_attempts: self.max_attempts,
            budget: Arc::clone(&self.budget),
            backoff: Arc::clone(&self.backoff),
            callback: self.callback.clone(),
        };
        let timeout = self.timeout;
        Box::pin(async move {
            this.budget.deposit();
            let mut errors = ErrorLog::default();
            let run = this.run(service, request, &mut errors);
            // A timeout too long for the clock means no deadline.
            let outcome = match tokio::time::Instant::now().checked_add(timeout) {
                Some(deadline) => tokio::time::timeout_at(deadline, run).await,
                None => Ok(run.await),
            };
            match outcome {
                Ok(result) => result,
                Err(_elapsed) => {
                    let error = RetryError::deadline_exceeded(errors, timeout);
                    Err(Box::new(error) as BoxError)
                }
            }
        })
    }
}

/// One request's retry loop, owning what it needs.
struct RetryLoop<C> {
    max_attempts: usize,
    budget: Arc<TpsBudget>,
    backoff: Arc<Backoff>,
    callback: C,
}

impl<C> RetryLoop<C> {
    /// Attempts until one succeeds or retrying stops; every failed attempt's error is
    /// recorded in `errors` (which outlives this future, for the deadline's error).
    async fn run<S, Req>(
        &self,
        mut service: S,
        request: Req,
        errors: &mut ErrorLog<BoxError>,
    ) -> Result<S::Response, BoxError>
    where
        S: Service<Req> + Clone,
        S::Error: Into<BoxError>,
        C: Callback<S::Error>,
        Req: Clone,
    {
        for attempt in 1.. {
            let outcome = if attempt == 1 {
                service.call(request.clone()).await
            } else {
                match service.ready().await {
                    Ok(ready) => ready.call(request.clone()).await,
                    Err(error) => Err(error),
                }
            };
            let mut error = match outcome {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            // The callback sees every failed attempt, the last included, so it can replace
            // the error the caller gets (go-kit's semantics).
            let keep_trying = self.callback.keep_trying(attempt, &mut error);
            let last = !keep_trying || attempt >= self.max_attempts;
            let retry_paid = !last && self.budget.withdraw();
            if !last && !retry_paid {
                tracing::debug!(attempt, "retry budget exhausted; not retrying");
            }
            if last || !retry_paid {
                return Err(error.into());
            }
            // Kept for the deadline's error.
            errors.push(error.into());
            let retry = u32::try_from(attempt).unwrap_or(u32::MAX);
            tokio::time::sleep(self.backoff.delay(retry)).await;
        }
        Err("retry attempts exhausted".into())
    }
}
