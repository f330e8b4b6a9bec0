//! `ReadyTimeout`: a bounded readiness wait for any service, such as tower's p2c
//! balancer over [`DiscoverInstances`](crate::DiscoverInstances).

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use sd_core::{BoxError, OwnedTask};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::Error;

/// How many requests may wait for the inner service at once; more wait to be queued,
/// within their own deadline.
const QUEUE: usize = 1024;

/// Bounds how long a request waits for the inner service to be ready: one that waited
/// `timeout` fails with [`Error::Unready`] instead of waiting on.
///
/// tower's p2c `Balance` is not ready while discovery has found no instance yet (or
/// while every instance is pending), and would keep its callers waiting for ever; under
/// this layer they get the same bounded wait [`Balanced`](crate::Balanced) gives.
///
/// Like tower's `Buffer`, it owns the inner service on a task of its own and hands it
/// the requests in order, so the handle is `Clone` (one per task or connection) even
/// when the inner service is not. The wait belongs to the request: `poll_ready` is
/// always ready, and each request's future waits, at most `timeout` from when it was
/// first polled, until the task has found the inner service ready and called it. A
/// request whose caller gave up (dropped its future) is never sent to the inner service,
/// and takes nothing from the next request's wait. The response itself is not bounded:
/// that is a timeout's or a retry's deadline. The task starts with the first request and
/// stops when the last handle and request are gone.
///
/// ```
/// use std::time::Duration;
/// use sd_tower::ReadyTimeoutLayer;
/// use tower::ServiceBuilder;
///
/// let layer = ReadyTimeoutLayer::<String>::new(Duration::from_secs(5));
/// # let _ = ServiceBuilder::new().layer(layer);
/// ```
pub struct ReadyTimeout<Req, F> {
    queue: mpsc::Sender<Message<Req, F>>,
    shared: Arc<Shared>,
    timeout: Duration,
}

/// A request for the task, and where to send the inner service's response future.
struct Message<Req, F> {
    request: Req,
    reply: oneshot::Sender<Result<F, BoxError>>,
}

/// What the handles share: how to start the task, then the task itself (stopped when
/// the last handle and request are gone).
struct Shared {
    start: Mutex<Option<Start>>,
    task: OnceLock<Result<OwnedTask, sd_core::Error>>,
}

type Start = Box<dyn FnOnce() -> Result<OwnedTask, sd_core::Error> + Send>;

impl<Req, F> ReadyTimeout<Req, F>
where
    Req: Send + 'static,
    F: Send + 'static,
{
    /// `inner`, whose readiness each request waits for at most `timeout`
    /// (`Duration::MAX`: no limit).
    pub fn new<S>(inner: S, timeout: Duration) -> Self
    where
        S: Service<Req, Future = F> + Send + 'static,
        S::Error: Into<BoxError>,
    {
        let (queue, requests) = mpsc::channel(QUEUE);
        // Started by the first request, which runs where tasks can be spawned; so this
        // constructor (and `Layer::layer`) works anywhere.
        let start: Start = Box::new(move || OwnedTask::spawn(|_| serve(inner, requests)));
        Self {
            queue,
            shared: Arc::new(Shared {
                start: Mutex::new(Some(start)),
                task: OnceLock::new(),
            }),
            timeout,
        }
    }
}

impl Shared {
    /// Starts the task unless it is running; the reason it cannot run otherwise.
    fn ensure_started(&self) -> Result<(), BoxError> {
        let task = self.task.get_or_init(|| {
            let start = self
                .start
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            match start {
                Some(start) => start(),
                // Unreachable: `get_or_init` runs this once.
                None => Err(sd_core::Error::closed()),
            }
        });
        match task {
            Ok(_) => Ok(()),
            Err(error) => Err(Box::new(error.clone())),
        }
    }
}

/// The task: hands each request, in order, to `inner` once it is ready, skipping those
/// whose caller gave up.
async fn serve<S, Req>(mut inner: S, mut requests: mpsc::Receiver<Message<Req, S::Future>>)
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    while let Some(Message { request, mut reply }) = requests.recv().await {
        let readiness = tokio::select! {
            biased;
            // The caller gave up: its deadline passed, or it dropped the request.
            () = reply.closed() => continue,
            readiness = poll_fn(|cx| inner.poll_ready(cx)) => readiness,
        };
        let answer = match readiness {
            Ok(()) => Ok(inner.call(request)),
            // The error goes to this request; the next one polls the service afresh.
            Err(error) => Err(error.into()),
        };
        // Gone only when the caller gave up at this very moment; nothing to do then.
        let _ = reply.send(answer);
    }
}

impl<Req, F> Clone for ReadyTimeout<Req, F> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            shared: Arc::clone(&self.shared),
            timeout: self.timeout,
        }
    }
}

impl<Req, F> fmt::Debug for ReadyTimeout<Req, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyTimeout")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<Req, F, T, E> Service<Req> for ReadyTimeout<Req, F>
where
    Req: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
    T: Send + 'static,
{
    type Response = T;
    type Error = BoxError;
    type Future = ReadyTimeoutFuture<T>;

    /// Always ready: the wait is the request's.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let queue = self.queue.clone();
        let shared = Arc::clone(&self.shared);
        let timeout = self.timeout;
        ReadyTimeoutFuture {
            inner: Box::pin(async move {
                shared.ensure_started()?;
                let (reply, answer) = oneshot::channel();
                let waiting = async move {
                    // Only a task that ended (aborted or panicked) drops these.
                    let gone =
                        || -> BoxError { Box::new(Error::Discovery(sd_core::Error::closed())) };
                    queue
                        .send(Message { request, reply })
                        .await
                        .map_err(|_| gone())?;
                    answer.await.map_err(|_| gone())?
                };
                let called = match Instant::now().checked_add(timeout) {
                    Some(deadline) => tokio::time::timeout_at(deadline, waiting)
                        .await
                        .map_err(|_| -> BoxError { Box::new(Error::Unready(timeout)) })??,
                    // A timeout too long for the clock: no end.
                    None => waiting.await?,
                };
                called.await.map_err(Into::into)
            }),
            _response: PhantomData,
        }
    }
}

/// The response of [`ReadyTimeout`]: the wait for the inner service, then its response.
pub struct ReadyTimeoutFuture<T> {
    inner: Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>,
    _response: PhantomData<fn() -> T>,
}

impl<T> Future for ReadyTimeoutFuture<T> {
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ReadyTimeoutFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadyTimeoutFuture")
    }
}

/// A [`Layer`] of [`ReadyTimeout`] for requests of type `Req`.
pub struct ReadyTimeoutLayer<Req> {
    timeout: Duration,
    _request: PhantomData<fn(Req)>,
}

impl<Req> ReadyTimeoutLayer<Req> {
    /// Readiness waits of at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            _request: PhantomData,
        }
    }
}

impl<Req> Clone for ReadyTimeoutLayer<Req> {
    fn clone(&self) -> Self {
        Self::new(self.timeout)
    }
}

impl<Req> fmt::Debug for ReadyTimeoutLayer<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyTimeoutLayer")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<S, Req> Layer<S> for ReadyTimeoutLayer<Req>
where
    S: Service<Req> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    Req: Send + 'static,
{
    type Service = ReadyTimeout<Req, S::Future>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadyTimeout::new(inner, self.timeout)
    }
}
