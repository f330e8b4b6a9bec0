//! Shared by the sd-tower suites: backends (`tower::service_fn`) that record which instance
//! served each request and when, factories that build them per instance, and bounded waits.
//!
//! Every wait is bounded by [`DEADLINE`] and polls a condition: the suites assert what
//! happened, never how fast.

// Each suite uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sd_core::factory::{Built, closing};
use sd_core::{BoxError, EndpointSource, Endpointer, Factory, Instance};
use sd_lb::RoundRobin;
use sd_tower::Balanced;
use tokio::time::Instant;
use tower::{Service, service_fn};

/// How long any one wait may take before the test fails: generous, so that a loaded
/// machine does not make the suite flaky; a passing run never waits this long.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// A request: a number the test chooses, and when the client started it — before
/// `poll_ready`, so before the balancer picked the endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req {
    pub(crate) n: u64,
    pub(crate) started: Instant,
}

impl Req {
    /// Request `n`, started now.
    pub(crate) fn new(n: u64) -> Self {
        Self {
            n,
            started: Instant::now(),
        }
    }
}

/// One call, as the backend saw it.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// The instance whose backend was called.
    pub(crate) instance: String,
    /// The request's number.
    pub(crate) n: u64,
    /// When the client started the request.
    pub(crate) started: Instant,
    /// When the backend was called.
    pub(crate) at: Instant,
}

/// Every call of every backend made with it, in call order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<Served>>>);

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Served>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record(&self, instance: &str, req: &Req) {
        self.lock().push(Served {
            instance: instance.to_owned(),
            n: req.n,
            started: req.started,
            at: Instant::now(),
        });
    }

    /// All calls so far.
    pub(crate) fn rows(&self) -> Vec<Served> {
        self.lock().clone()
    }

    /// All calls so far, clearing the log.
    pub(crate) fn take(&self) -> Vec<Served> {
        std::mem::take(&mut *self.lock())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Calls per instance.
    pub(crate) fn per_instance(&self) -> BTreeMap<String, usize> {
        count(&self.rows())
    }

    /// The instances request `n` was sent to, attempt by attempt.
    pub(crate) fn attempts_of(&self, n: u64) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|s| s.n == n)
            .map(|s| s.instance.clone())
            .collect()
    }
}

/// Calls per instance in `rows`.
pub(crate) fn count(rows: &[Served]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row.instance.clone()).or_default() += 1;
    }
    counts
}

/// How a backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Answers with its instance id after yielding once.
    Healthy,
    /// Fails with "`<id>` refused" after yielding once.
    Failing,
    /// Answers after sleeping this long.
    Slow(Duration),
}

/// A backend for instance `id`: records every call in `log`, then behaves as told.
/// The response is the instance id.
pub(crate) fn backend(
    id: &str,
    log: &Log,
    behaviour: Behaviour,
) -> impl Service<Req, Response = Arc<str>, Error = BoxError, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static
+ use<> {
    let id: Arc<str> = Arc::from(id);
    let log = log.clone();
    service_fn(move |req: Req| {
        log.record(&id, &req);
        let id = Arc::clone(&id);
        async move {
            match behaviour {
                Behaviour::Healthy => {
                    tokio::task::yield_now().await;
                    Ok(id)
                }
                Behaviour::Failing => {
                    tokio::task::yield_now().await;
                    Err(BoxError::from(format!("{id} refused")))
                }
                Behaviour::Slow(pause) => {
                    tokio::time::sleep(pause).await;
                    Ok(id)
                }
            }
        }
    })
}

/// A factory of [`backend`]s; `behaviour` decides per instance id.
pub(crate) fn recording<B>(
    log: &Log,
    behaviour: B,
) -> impl Factory<
    Endpoint = impl Service<Req, Response = Arc<str>, Error = BoxError, Future: Send + 'static>
               + Clone
               + Send
               + Sync
               + 'static
               + use<B>,
> + use<B>
where
    B: Fn(&str) -> Behaviour + Send + 'static,
{
    let log = log.clone();
    move |i: &Instance| -> Result<_, BoxError> { Ok(backend(i.id(), &log, behaviour(i.id()))) }
}

/// Instance ids whose close hooks have run, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Closed(Arc<Mutex<Vec<String>>>);

impl Closed {
    pub(crate) fn list(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Like [`recording`] with healthy backends whose close hooks record the instance in
/// `closed`.
pub(crate) fn recording_with_close<B>(
    log: &Log,
    closed: &Closed,
    behaviour: B,
) -> impl Factory<
    Endpoint = impl Service<Req, Response = Arc<str>, Error = BoxError, Future: Send + 'static>
               + Clone
               + Send
               + Sync
               + 'static
               + use<B>,
> + use<B>
where
    B: Fn(&str) -> Behaviour + Send + 'static,
{
    let log = log.clone();
    let closed = closed.clone();
    closing(move |i: &Instance| {
        let id = i.id().to_owned();
        let closed = closed.clone();
        let service = backend(&id, &log, behaviour(&id));
        Ok(Built::with_closer(service, move || {
            closed
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(id);
        }))
    })
}

/// A round-robin `Balanced` service over `endpointer`.
pub(crate) fn balanced<E>(
    endpointer: &Endpointer<E>,
    ready_timeout: Duration,
) -> Balanced<RoundRobin<Endpointer<E>>> {
    Balanced::with_ready_timeout(RoundRobin::new(endpointer.clone()), ready_timeout)
}

/// Waits (bounded by [`DEADLINE`]) until the instance ids `endpointer` lists satisfy
/// `condition`, looking again at each of its publishes rather than on a timer.
pub(crate) async fn wait_until<E>(
    what: &str,
    endpointer: &Endpointer<E>,
    mut condition: impl FnMut(&[String]) -> bool,
) {
    let mut reader = endpointer.clone();
    bounded(what, async {
        loop {
            let ids = reader.endpoints().map_or_else(
                |_| Vec::new(),
                |e| e.iter().map(|e| e.instance().id().to_owned()).collect(),
            );
            if condition(&ids) {
                return;
            }
            reader.changed().await;
        }
    })
    .await;
}

/// Runs `future` for at most [`DEADLINE`], failing the test with `what` if it does not
/// finish.
pub(crate) async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {DEADLINE:?}"))
}
