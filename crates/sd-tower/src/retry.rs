//! Retry with go-kit's semantics on tower's retry machinery, capped by a retry budget.

use std::future::Ready;
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, Retry};
use tower::timeout::Timeout;

/// Retries failed requests through the inner service — typically a
/// [`Balanced`](crate::Balanced) service, so each attempt gets a freshly picked endpoint —
/// with go-kit's semantics: at most `max_attempts` attempts in total, one deadline over
/// all of them (tower's `Timeout` outermost, which also cancels the attempt in flight),
/// and an optional callback that sees each error, may replace it, and decides whether to
/// go on.
///
/// A [`TpsBudget`] shared by all clones caps retries to a share of recent traffic, so a
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
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
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

    /// Sets the callback (`Fn(attempt, &mut error) -> bool`).
    pub fn callback<C2>(self, callback: C2) -> RetryLayer<C2> {
        RetryLayer {
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            budget: self.budget,
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
    type Service = Timeout<Retry<RetryPolicy<C>, S>>;

    fn layer(&self, inner: S) -> Self::Service {
        let policy = RetryPolicy {
            attempt: 0,
            max_attempts: self.max_attempts,
            budget: Arc::clone(&self.budget),
            callback: self.callback.clone(),
        };
        Timeout::new(Retry::new(policy, inner), self.timeout)
    }
}

/// The policy behind [`RetryLayer`]; tower clones it per request, so `attempt` counts the
/// attempts of one request.
#[derive(Clone)]
pub struct RetryPolicy<C> {
    attempt: usize,
    max_attempts: usize,
    budget: Arc<TpsBudget>,
    callback: C,
}

impl<C> std::fmt::Debug for RetryPolicy<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl<Req, Res, E, C> Policy<Req, Res, E> for RetryPolicy<C>
where
    Req: Clone,
    C: Callback<E>,
{
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Ready<()>> {
        let Err(error) = result else {
            return None;
        };
        self.attempt += 1;
        // The callback sees every failed attempt, the last included, so it can replace the
        // error the caller gets (go-kit's semantics).
        let keep_trying = self.callback.keep_trying(self.attempt, error);
        if !keep_trying || self.attempt >= self.max_attempts {
            return None;
        }
        if !self.budget.withdraw() {
            tracing::debug!(
                attempt = self.attempt,
                "retry budget exhausted; not retrying"
            );
            return None;
        }
        Some(std::future::ready(()))
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        // Called before every attempt; only a request's first attempt earns budget.
        if self.attempt == 0 {
            self.budget.deposit();
        }
        Some(request.clone())
    }
}
