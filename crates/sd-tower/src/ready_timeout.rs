//! `ReadyTimeout`: a bounded readiness wait for any service, such as tower's p2c
//! balancer over [`DiscoverInstances`](crate::DiscoverInstances).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sd_core::BoxError;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::Error;

/// Bounds how long the inner service may stay not ready: a readiness wait that lasts
/// `timeout` fails with [`Error::Unready`] instead of waiting on.
///
/// tower's p2c `Balance` is not ready while discovery has found no instance yet (or
/// while every instance is pending), and would keep its callers waiting for ever; under
/// this layer they get the same bounded wait [`Balanced`](crate::Balanced) gives. A wait
/// starts at the first `poll_ready` that finds the service not ready and ends when it is
/// ready or fails; a caller that gave up on a wait for longer than a second starts a new
/// one. Calls pass through untouched.
///
/// ```
/// use std::time::Duration;
/// use sd_tower::ReadyTimeoutLayer;
/// use tower::ServiceBuilder;
///
/// let layer = ReadyTimeoutLayer::new(Duration::from_secs(5));
/// # let _ = ServiceBuilder::new().layer(layer);
/// ```
#[derive(Debug)]
pub struct ReadyTimeout<S> {
    inner: S,
    timeout: Duration,
    wait: Option<Wait>,
}

#[derive(Debug)]
struct Wait {
    /// `None` when the timeout is too long for the clock: no end.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Wakes a live wait at least every [`TICK`], so that a longer gap between polls
    /// tells an abandoned wait from a quiet one.
    tick: Pin<Box<Sleep>>,
    last_poll: Instant,
}

/// How often a wait looks in on itself.
const TICK: Duration = Duration::from_millis(250);

/// A gap between polls this long means the wait was abandoned, not merely delayed.
const ABANDONED: Duration = Duration::from_secs(1);

impl<S> ReadyTimeout<S> {
    /// `inner`, whose readiness waits last at most `timeout` (`Duration::MAX`: no limit).
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            wait: None,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for ReadyTimeout<S> {
    /// A clone has no wait under way.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.timeout)
    }
}

impl<S, Req> Service<Req> for ReadyTimeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ErrInto<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Poll::Ready(outcome) = self.inner.poll_ready(cx) {
            self.wait = None;
            return Poll::Ready(outcome.map_err(Into::into));
        }
        let now = Instant::now();
        if self
            .wait
            .as_ref()
            .is_some_and(|w| now.saturating_duration_since(w.last_poll) > ABANDONED)
        {
            self.wait = None;
        }
        let timeout = self.timeout;
        let wait = self.wait.get_or_insert_with(|| Wait {
            sleep: now
                .checked_add(timeout)
                .map(|at| Box::pin(tokio::time::sleep_until(at))),
            tick: Box::pin(tokio::time::sleep_until(now)),
            last_poll: now,
        });
        wait.last_poll = now;
        if let Some(Poll::Ready(())) = wait.sleep.as_mut().map(|s| s.as_mut().poll(cx)) {
            self.wait = None;
            return Poll::Ready(Err(Box::new(Error::Unready(timeout))));
        }
        wait.tick
            .as_mut()
            .reset(now.checked_add(TICK).unwrap_or(now));
        // Registers the wake-up; a tick due at once is simply looked at on the next poll.
        if wait.tick.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn call(&mut self, request: Req) -> Self::Future {
        ErrInto {
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, its error boxed.
    #[derive(Debug)]
    pub struct ErrInto<F> {
        #[pin]
        inner: F,
    }
}

impl<F, T, E> Future for ErrInto<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}

/// A [`Layer`] of [`ReadyTimeout`].
#[derive(Debug, Clone, Copy)]
pub struct ReadyTimeoutLayer {
    timeout: Duration,
}

impl ReadyTimeoutLayer {
    /// Readiness waits of at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for ReadyTimeoutLayer {
    type Service = ReadyTimeout<S>;

    fn layer(&self, inner: S) -> ReadyTimeout<S> {
        ReadyTimeout::new(inner, self.timeout)
    }
}
