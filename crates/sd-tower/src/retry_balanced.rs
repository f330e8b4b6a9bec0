//! `RetryBalanced`: [`Balanced`] with [`RetryLayer`]'s retries fused in, so that a
//! request that succeeds at once pays for one lease, not two.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use sd_core::BoxError;
use sd_lb::{Balancer, Deposits};
use tower::Service;

use crate::retry::{Callback, Deadline, First, Retries, RetryFuture, Spare, poll_first, retrying};
use crate::service::{CallSpan, Leased, Picker, endpoint_error};
use crate::{Balanced, Error, RetryLayer};

/// The spare a retrying service's requests retry on: a [`Balanced`] over a clone of the
/// balancer, and the retry settings.
type RetrySpare<B, C> = Arc<Spare<Balanced<B>, C>>;

/// A [`Balanced`] service that retries as a [`RetryLayer`] in front of it would:
/// the same attempts, deadline, callback, budget and backoff, and the same errors (the
/// service's error is a [`BoxError`], as [`RetryService`](crate::RetryService)'s is).
/// Made by [`Balanced::retry`].
///
/// # Why fused
///
/// A request's future must own what it needs should its first attempt fail: a service to
/// retry on and the settings. A `RetryLayer` in front of `Balanced` gives each request a
/// reference to its clone's spare, and `Balanced` gives it one to its clone's lease (the
/// list the endpoint came from, to name the instance in an error): two reference counts
/// written per request. Here the spare rides in the lease, so a request whose first
/// attempt answers at once writes one count, of memory only this clone uses, and reads
/// no clock, arms no timer and allocates nothing; the retry machinery comes into play
/// only when the first attempt waits (the deadline is armed) or fails.
///
/// ```
/// use std::time::Duration;
/// use sd_core::FixedEndpointer;
/// use sd_lb::RoundRobin;
/// use sd_tower::{Balanced, RetryLayer};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sd_core::BoxError> {
/// let echo = service_fn(|req: String| async move { Ok::<_, sd_core::BoxError>(req) });
/// let endpoints = FixedEndpointer::new([("10.0.0.1:80", echo)]);
/// let service = Balanced::new(RoundRobin::new(endpoints))
///     .retry(RetryLayer::new(3, Duration::from_secs(2)));
/// assert_eq!(service.oneshot("hello".to_owned()).await?, "hello");
/// # Ok(()) }
/// ```
pub struct RetryBalanced<B: Balancer, C> {
    picker: Picker<B, RetrySpare<B, C>>,
    /// This clone's requests not yet paid into the budget (held here, so that counting a
    /// request does not chase the spare's pointers).
    deposits: Deposits,
}

impl<B: Balancer> Balanced<B> {
    /// This service, retrying as `layer` in front of it would, with the retries fused in
    /// (see [`RetryBalanced`]).
    pub fn retry<C>(self, layer: RetryLayer<C>) -> RetryBalanced<B, C>
    where
        B: Clone,
    {
        RetryBalanced::new(self, &layer.into_policy())
    }
}

impl<B: Balancer + Clone, C> RetryBalanced<B, C> {
    fn new(balanced: Balanced<B>, policy: &Arc<crate::retry::Policy<C>>) -> Self {
        let ready_timeout = balanced.ready_timeout();
        let picks = balanced.balancer().clone();
        Self {
            picker: Picker::new(
                picks,
                ready_timeout,
                Spare::new(balanced, Arc::clone(policy)),
            ),
            deposits: Deposits::new(policy.budget_arc()),
        }
    }

    /// The balancer.
    pub fn balancer(&self) -> &B {
        self.picker.balancer()
    }

    fn spare(&self) -> &RetrySpare<B, C> {
        self.picker.extra()
    }

    /// A request that found no endpoint ready at once: a `RetryLayer` over a `Balanced`
    /// that waits for one, on the same spare. Out of line, so that the fast path inlines
    /// into callers without the wait's state machine.
    #[cold]
    #[inline(never)]
    fn waiting<S, Req>(
        &self,
        request: Req,
    ) -> Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>
    where
        B: Balancer<Endpoint = S> + Send + 'static,
        S: Service<Req> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Response: Send + 'static,
        S::Error: Into<BoxError>,
        C: Callback<Error> + Send + Sync + 'static,
        Req: Clone + Send + 'static,
    {
        let spare = Arc::clone(self.spare());
        let mut waiting = Balanced::with_ready_timeout(
            self.picker.balancer().clone(),
            self.picker.ready_timeout(),
        );
        let first = waiting.call(request.clone());
        Box::pin(RetryFuture::first(first, request, spare))
    }
}

impl<B: Balancer + Clone, C> Clone for RetryBalanced<B, C> {
    /// Another service over a clone of the balancer, with a lease and a spare of its own.
    fn clone(&self) -> Self {
        let balanced =
            Balanced::with_ready_timeout(self.balancer().clone(), self.picker.ready_timeout());
        Self::new(balanced, self.spare().policy())
    }
}

impl<B: Balancer + std::fmt::Debug, C> std::fmt::Debug for RetryBalanced<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let policy = self.picker.extra().policy();
        f.debug_struct("RetryBalanced")
            .field("balancer", self.picker.balancer())
            .field("ready_timeout", &self.picker.ready_timeout())
            .field("max_attempts", &policy.max_attempts())
            .field("timeout", &policy.timeout())
            .finish_non_exhaustive()
    }
}

impl<B, S, C, Req> Service<Req> for RetryBalanced<B, C>
where
    B: Balancer<Endpoint = S> + Clone + Send + 'static,
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    C: Callback<Error> + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryBalancedFuture<B, S, C, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.picker.poll_ready(cx);
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        self.deposits.count();
        let state = match self.picker.take() {
            Some((lease, index, mut service)) => {
                let span = CallSpan::new(&lease, index);
                let inner = span.in_scope(|| service.call(request.clone()));
                State::Calling {
                    inner,
                    span,
                    lease,
                    index,
                    request: Some(request),
                    deadline: Deadline::default(),
                }
            }
            None => State::Waiting {
                inner: self.waiting(request),
            },
        };
        RetryBalancedFuture { state }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RetryBalanced`].
    pub struct RetryBalancedFuture<B, S, C, Req>
    where
        B: Balancer,
        S: Service<Req>,
    {
        #[pin]
        state: State<B, S, C, Req>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    enum State<B, S, C, Req>
    where
        B: Balancer,
        S: Service<Req>,
    {
        // An endpoint was ready at once: the first attempt, as `Balanced` makes it, with
        // what a retry needs (the spare rides in the lease).
        Calling {
            #[pin]
            inner: S::Future,
            span: CallSpan,
            lease: Leased<S, RetrySpare<B, C>>,
            index: usize,
            request: Option<Req>,
            deadline: Deadline,
        },
        // No endpoint was ready at once: waiting for one, then the attempts.
        Waiting {
            inner: Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>,
        },
        // The first attempt failed: the retries.
        Retrying {
            retries: Retries<S::Response>,
        },
    }
}

impl<B, S, C, Req> std::fmt::Debug for RetryBalancedFuture<B, S, C, Req>
where
    B: Balancer,
    S: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Waiting { .. } => "waiting for an endpoint",
            State::Retrying { .. } => "retrying",
        };
        f.debug_struct("RetryBalancedFuture")
            .field("state", &state)
            .finish()
    }
}

impl<B, S, C, Req> Future for RetryBalancedFuture<B, S, C, Req>
where
    B: Balancer<Endpoint = S> + Clone + Send + 'static,
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    C: Callback<Error> + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let retries = match self.as_mut().project().state.project() {
            Projected::Retrying { retries } => return retries.as_mut().poll(cx),
            Projected::Waiting { inner } => return inner.as_mut().poll(cx),
            Projected::Calling {
                inner,
                span,
                lease,
                index,
                request,
                deadline,
            } => {
                let timeout = |_: &_| lease.extra.policy().timeout();
                let attempt = span.in_scope(|| poll_first(inner, deadline, timeout, cx));
                match ready!(attempt) {
                    First::Answered(response) => return Poll::Ready(Ok(response)),
                    First::TimedOut(error) => return Poll::Ready(Err(error)),
                    First::Failed(source, until) => {
                        let error = endpoint_error(lease, *index, source.into());
                        match request.take() {
                            Some(request) => {
                                let spare = Arc::clone(&lease.extra);
                                retrying(spare, request, error, until)
                            }
                            None => return Poll::Ready(Err(error.into())),
                        }
                    }
                }
            }
        };
        self.as_mut()
            .project()
            .state
            .set(State::Retrying { retries });
        match self.project().state.project() {
            Projected::Retrying { retries } => retries.as_mut().poll(cx),
            _ => Poll::Pending,
        }
    }
}
