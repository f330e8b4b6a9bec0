//! Retry over a balancer, with go-kit's semantics and without its defects.

mod budget;
mod error;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::budget::{Deposits, RetryBudget};
pub use self::error::RetryError;
use crate::Balancer;
use sd_core::{Backoff, Endpoint};
use tokio::time::Instant;

/// What a [`Callback`] decides after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<E> {
    /// Make another attempt (within the deadline).
    Retry,
    /// Give up with the attempt's error.
    Stop,
    /// Give up with this error instead.
    StopWith(E),
}

/// Decides, after each failed attempt, whether to keep trying.
///
/// Called with the attempt number (from 1) and the attempt's error exactly as the endpoint
/// (or the balancer) returned it. Any `Fn(usize, &E) -> Decision<E>` is a callback.
pub trait Callback<E> {
    /// Decides what to do after attempt number `attempt` failed with `error`.
    fn decide(&self, attempt: usize, error: &E) -> Decision<E>;
}

impl<E, F> Callback<E> for F
where
    F: Fn(usize, &E) -> Decision<E>,
{
    fn decide(&self, attempt: usize, error: &E) -> Decision<E> {
        self(attempt, error)
    }
}

/// The callback of [`retry`]: keep trying until `max` attempts in total have been made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAttempts(pub usize);

impl<E> Callback<E> for MaxAttempts {
    fn decide(&self, attempt: usize, _: &E) -> Decision<E> {
        if attempt < self.0 {
            Decision::Retry
        } else {
            Decision::Stop
        }
    }
}

/// How many raw errors a [`RetryError`] keeps: the most recent ones. A call that retries
/// forever (no deadline, a callback that always says retry) cannot grow it without bound.
pub const KEPT_ERRORS: usize = 16;

/// Retries calls through a balancer; see [`retry`] and [`retry_with_callback`].
///
/// Between attempts it waits a jittered, growing [`Backoff`] (10 ms doubling up to
/// 250 ms by default: a short pause, different for every caller, so that callers that
/// failed together do not retry together), and each retry after a failed call must be
/// paid for from a retry [budget](Self::budget) shared by the clones of this `Retry`
/// (by default, 20 % of the calls of the last 10 s plus 10 retries a second), so that a
/// failing backend does not get several times its load. Waits when the balancer had no
/// endpoint cost no budget: they add no load.
#[derive(Debug, Clone)]
pub struct Retry<B, C> {
    balancer: B,
    timeout: Duration,
    callback: C,
    backoff: Backoff,
    budget: Arc<RetryBudget>,
}

/// The default retry budget: retries may add 20 % to the calls of the last 10 seconds,
/// plus 10 retries per second whatever the traffic.
pub fn default_budget() -> Arc<RetryBudget> {
    Arc::new(RetryBudget::default())
}

/// Makes up to `max_attempts` attempts in total (at least one), each through a fresh pick
/// from `balancer`, all within one `timeout`.
///
/// ```
/// use std::time::Duration;
/// use sd_core::{BoxError, FixedEndpointer};
/// use sd_lb::{retry, RoundRobin};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Two replicas; the first is broken.
/// let replicas = FixedEndpointer::new([("10.0.0.1:80", false), ("10.0.0.2:80", true)]);
/// let mut retry = retry(3, Duration::from_secs(1), RoundRobin::new(replicas));
///
/// let answer = retry
///     .call(|replica| async move {
///         if *replica { Ok(replica.instance().id().to_owned()) } else { Err(BoxError::from("refused")) }
///     })
///     .await
///     .unwrap();
/// assert_eq!(answer, "10.0.0.2:80");
/// # }
/// ```
pub fn retry<B>(max_attempts: usize, timeout: Duration, balancer: B) -> Retry<B, MaxAttempts> {
    retry_with_callback(timeout, balancer, MaxAttempts(max_attempts))
}

/// Makes attempts through `balancer` until `callback` says stop or `timeout` passes.
pub fn retry_with_callback<B, C>(timeout: Duration, balancer: B, callback: C) -> Retry<B, C> {
    Retry {
        balancer,
        timeout,
        callback,
        backoff: Backoff::default(),
        budget: default_budget(),
    }
}

impl<B, C> Retry<B, C> {
    /// How long to wait before each retry (default: 10 ms doubling up to 250 ms,
    /// jittered), after a failed call and when the balancer had no endpoint alike.
    /// [`Backoff::none`] retries at once, as go-kit does.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The retry budget, to share between several `Retry`s (or with sd-tower's
    /// `RetryLayer`); see [`default_budget`]. When it is spent, a failed call is not
    /// retried and the call ends with its error ([`RetryError::is_budget_exhausted`]).
    #[must_use]
    pub fn budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// The balancer.
    pub fn balancer(&self) -> &B {
        &self.balancer
    }

    /// Calls `attempt` with a freshly picked endpoint until it succeeds, the callback
    /// stops, or the deadline passes.
    ///
    /// A balancer error (no endpoints, a discovery failure) counts as a failed attempt; it
    /// is converted with `E::from` and the next attempt waits a short, growing backoff
    /// instead of spinning. At the deadline the attempt in flight is dropped, which
    /// cancels it; dropping the returned future does the same.
    pub async fn call<T, E, F, Fut>(&mut self, mut attempt: F) -> Result<T, RetryError<E>>
    where
        B: Balancer,
        C: Callback<E>,
        E: From<crate::Error>,
        F: FnMut(Endpoint<B::Endpoint>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut raw_errors = ErrorLog::default();
        self.budget.deposit(1);
        let timeout = self.timeout;
        let attempts = self.attempts(&mut attempt, &mut raw_errors);
        // A timeout too large to represent means no deadline.
        let outcome = match Instant::now().checked_add(timeout) {
            Some(deadline) => tokio::time::timeout_at(deadline, attempts).await,
            None => Ok(attempts.await),
        };
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Ended::Stopped(replacement))) => {
                Err(RetryError::stopped(raw_errors, replacement))
            }
            Ok(Err(Ended::Budget)) => Err(RetryError::budget(raw_errors)),
            Err(_elapsed) => Err(RetryError::deadline_exceeded(raw_errors, timeout)),
        }
    }

    /// The attempt loop. Ends with the value, or with why it stopped; errors accumulate
    /// in `raw_errors`, which outlives this future so the deadline path can report them.
    async fn attempts<T, E, F, Fut>(
        &mut self,
        attempt: &mut F,
        raw_errors: &mut ErrorLog<E>,
    ) -> Result<T, Ended<E>>
    where
        B: Balancer,
        C: Callback<E>,
        E: From<crate::Error>,
        F: FnMut(Endpoint<B::Endpoint>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        for n in 1_usize.. {
            // The attempt owns its endpoint (one reference-count increment) so that the
            // balancer is free again while the attempt runs.
            let picked = self.balancer.endpoint().cloned();
            let (error, no_endpoint) = match picked {
                Ok(endpoint) => match attempt(endpoint).await {
                    Ok(value) => return Ok(value),
                    Err(e) => (e, false),
                },
                Err(e) => (E::from(e), true),
            };
            let decision = self.callback.decide(n, &error);
            raw_errors.push(error);
            match decision {
                Decision::Retry => {
                    if !no_endpoint && !self.budget.withdraw() {
                        tracing::debug!(attempt = n, "retry budget exhausted; not retrying");
                        return Err(Ended::Budget);
                    }
                    let retry = u32::try_from(n).unwrap_or(u32::MAX);
                    tokio::time::sleep(self.backoff.delay(retry)).await;
                }
                Decision::Stop => return Err(Ended::Stopped(None)),
                Decision::StopWith(replacement) => return Err(Ended::Stopped(Some(replacement))),
            }
        }
        // `1..` over usize ends only after usize::MAX attempts.
        Err(Ended::Stopped(None))
    }
}

/// Why the attempt loop ended without a value.
enum Ended<E> {
    /// The callback (or the attempt limit) stopped; `Some` when it replaced the error.
    Stopped(Option<E>),
    /// A retry was due and the budget had nothing left.
    Budget,
}

/// The raw errors of one call's attempts, as a [`RetryError`] keeps them: the most recent
/// [`KEPT_ERRORS`], and a count of the older ones let go. Public for retry loops outside
/// this crate (sd-tower's `RetryLayer`), so every loop in `sd` bounds its errors alike.
pub struct ErrorLog<E> {
    kept: Vec<E>,
    dropped: usize,
}

impl<E> Default for ErrorLog<E> {
    fn default() -> Self {
        Self {
            kept: Vec::new(),
            dropped: 0,
        }
    }
}

impl<E> ErrorLog<E> {
    /// Records one attempt's error, letting the oldest go past [`KEPT_ERRORS`].
    pub fn push(&mut self, error: E) {
        if self.kept.len() == KEPT_ERRORS {
            self.kept.remove(0);
            self.dropped = self.dropped.saturating_add(1);
        }
        self.kept.push(error);
    }

    fn into_parts(self) -> (Vec<E>, usize) {
        (self.kept, self.dropped)
    }
}
