//! Retry over a balancer, with go-kit's semantics and without its defects.

mod error;

use std::future::Future;
use std::time::Duration;

use sd_core::Endpoint;
use tokio::time::Instant;

pub use self::error::RetryError;
use crate::Balancer;

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

/// Retries calls through a balancer; see [`retry`] and [`retry_with_callback`].
#[derive(Debug, Clone)]
pub struct Retry<B, C> {
    balancer: B,
    timeout: Duration,
    callback: C,
    backoff: Backoff,
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
/// let retry = retry(3, Duration::from_secs(1), RoundRobin::new(replicas));
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
    }
}

impl<B, C> Retry<B, C> {
    /// How long to wait before trying again when the balancer had no endpoint to give:
    /// `first`, doubling up to `max`. (The defaults, 10 ms up to 250 ms, let a freshly
    /// started service pick up its first endpoints quickly without spinning.)
    #[must_use]
    pub fn no_endpoint_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = Backoff {
            first,
            max: max.max(first),
        };
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
    pub async fn call<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, RetryError<E>>
    where
        B: Balancer,
        C: Callback<E>,
        E: From<crate::Error>,
        F: FnMut(Endpoint<B::Endpoint>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut raw_errors = Vec::new();
        let attempts = self.attempts(&mut attempt, &mut raw_errors);
        // A timeout too large to represent means no deadline.
        let outcome = match Instant::now().checked_add(self.timeout) {
            Some(deadline) => tokio::time::timeout_at(deadline, attempts).await,
            None => Ok(attempts.await),
        };
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(replacement)) => Err(RetryError::stopped(raw_errors, replacement)),
            Err(_elapsed) => Err(RetryError::deadline(raw_errors, self.timeout)),
        }
    }

    /// The attempt loop. Ends with the value, or with the callback's replacement error
    /// (`None` when it kept the last raw error); errors accumulate in `raw_errors`, which
    /// outlives this future so the deadline path can report them.
    async fn attempts<T, E, F, Fut>(
        &self,
        attempt: &mut F,
        raw_errors: &mut Vec<E>,
    ) -> Result<T, Option<E>>
    where
        B: Balancer,
        C: Callback<E>,
        E: From<crate::Error>,
        F: FnMut(Endpoint<B::Endpoint>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut wait = self.backoff.first;
        for n in 1.. {
            let (error, no_endpoint) = match self.balancer.endpoint() {
                Ok(endpoint) => {
                    wait = self.backoff.first;
                    match attempt(endpoint).await {
                        Ok(value) => return Ok(value),
                        Err(e) => (e, false),
                    }
                }
                Err(e) => (E::from(e), true),
            };
            let decision = self.callback.decide(n, &error);
            raw_errors.push(error);
            match decision {
                Decision::Retry if no_endpoint => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.backoff.max);
                }
                Decision::Retry => {}
                Decision::Stop => return Err(None),
                Decision::StopWith(replacement) => return Err(Some(replacement)),
            }
        }
        // `1..` over usize ends only after usize::MAX attempts.
        Err(None)
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    first: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(10),
            max: Duration::from_millis(250),
        }
    }
}
