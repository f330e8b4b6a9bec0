//! `Reporting`: a tower service that reports its own outcomes to an [`OutlierDetector`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use sd_core::Instance;
use tower::Service;

use super::{Outcome, OutlierDetector};

/// Says whether a call's result counts against the endpoint.
///
/// Any `Fn(&Result<T, E>) -> Outcome` is a classifier; [`ErrorsAreFailures`] is the
/// default.
pub trait Classify<T, E> {
    /// The outcome of `result`.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: every error is a failure, every response a success.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAreFailures;

impl<T, E> Classify<T, E> for ErrorsAreFailures {
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        Outcome::from(result)
    }
}

/// A tower service for one instance that reports how each call went to an
/// [`OutlierDetector`]: readiness errors are failures, and each call's result is what the
/// classifier says. Made by [`OutlierDetector::reporting`], typically in the endpoint
/// factory, so that a balancer over [`Outliers`](crate::Outliers) (including
/// `sd_tower::Balanced`) learns outcomes without any code on the request path.
///
/// Cloning is one reference-count increment plus the inner service's clone.
///
/// ```
/// use sd_core::{BoxError, FixedEndpointer, Instance};
/// use sd_lb::{Balancer, OutlierConfig, OutlierDetector, Outliers, Outcome, RoundRobin};
/// use tower::{Service, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let detector = OutlierDetector::new(OutlierConfig::default().consecutive_failures(1));
/// // A service per instance; the one at 10.0.0.2 answers 503.
/// let endpoint = |id: &str| {
///     let status = if id == "10.0.0.2:80" { 503 } else { 200 };
///     let service = service_fn(move |_: ()| async move { Ok::<u16, BoxError>(status) });
///     // Answers of 500 and above count as failures, as do errors.
///     let classify = |r: &Result<u16, BoxError>| match r {
///         Ok(status) if *status < 500 => Outcome::Success,
///         _ => Outcome::Failure,
///     };
///     (id.to_owned(), detector.reporting(Instance::new(id), service, classify))
/// };
/// let source = FixedEndpointer::new(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"].map(endpoint));
/// let mut rr = RoundRobin::new(Outliers::with_detector(source, detector.clone()));
/// let mut statuses = Vec::new();
/// for _ in 0..6 {
///     let mut service = rr.endpoint().unwrap().get_ref().clone();
///     statuses.push(service.call(()).await.unwrap());
/// }
/// assert_eq!(statuses, [200, 503, 200, 200, 200, 200]);
/// # }
/// ```
pub struct Reporting<S, C = ErrorsAreFailures> {
    inner: S,
    reporter: Arc<Reporter<C>>,
}

struct Reporter<C> {
    instance: Instance,
    detector: OutlierDetector,
    classify: C,
}

impl OutlierDetector {
    /// Wraps `service`, the endpoint for `instance`, so that it reports its outcomes here,
    /// as `classify` judges them; see [`Reporting`].
    pub fn reporting<S, C>(&self, instance: Instance, service: S, classify: C) -> Reporting<S, C> {
        Reporting {
            inner: service,
            reporter: Arc::new(Reporter {
                instance,
                detector: self.clone(),
                classify,
            }),
        }
    }
}

impl<S, C> Reporting<S, C> {
    /// The instance this service calls.
    pub fn instance(&self) -> &Instance {
        &self.reporter.instance
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, C> Clone for Reporting<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            reporter: Arc::clone(&self.reporter),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for Reporting<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporting")
            .field("instance", &self.reporter.instance.id())
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for Reporting<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ReportingFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let ready = ready!(self.inner.poll_ready(cx));
        if ready.is_err() {
            let reporter = &self.reporter;
            reporter
                .detector
                .report(&reporter.instance, Outcome::Failure);
        }
        Poll::Ready(ready)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        ReportingFuture {
            inner: self.inner.call(request),
            reporter: Some(Arc::clone(&self.reporter)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`Reporting`] call: the inner future, reporting its result once.
    pub struct ReportingFuture<F, C> {
        #[pin]
        inner: F,
        reporter: Option<Arc<Reporter<C>>>,
    }
}

impl<F, C, T, E> Future for ReportingFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(reporter) = this.reporter.take() {
            let outcome = reporter.classify.classify(&result);
            reporter.detector.report(&reporter.instance, outcome);
        }
        Poll::Ready(result)
    }
}
