//! `Balanced` and the readiness contract of its endpoints and its own callers.
//!
//! tower services may hold what `poll_ready` reserved (a concurrency permit, a buffer
//! slot) in the very instance that was polled; a clone starts unreserved. So the instance
//! polled ready must be the one called. And a caller may give up on a readiness wait
//! (a `select!`, a shorter timeout) and come back later: the new wait gets the full ready
//! timeout.

mod harness;

use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use harness::{Behaviour, Log, Req, balanced, bounded, recording};
use sd_core::{BoxError, Endpointer, Instance, InstanceCache, Instances};
use tokio::time::Instant;
use tower::limit::ConcurrencyLimit;
use tower::{Service, ServiceExt};

/// An endpoint that, like tower's `ConcurrencyLimit` or `Buffer`, remembers in the polled
/// instance that `poll_ready` succeeded; a clone starts not ready. A call on an instance
/// that was not polled ready fails.
#[derive(Debug)]
struct Reserving {
    id: Arc<str>,
    reserved: bool,
}

impl Clone for Reserving {
    fn clone(&self) -> Self {
        Self {
            id: Arc::clone(&self.id),
            reserved: false,
        }
    }
}

impl Service<Req> for Reserving {
    type Response = Arc<str>;
    type Error = BoxError;
    type Future = Ready<Result<Arc<str>, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.reserved = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Req) -> Self::Future {
        if std::mem::take(&mut self.reserved) {
            ready(Ok(Arc::clone(&self.id)))
        } else {
            ready(Err("called on an instance that was not polled ready".into()))
        }
    }
}

/// `Balanced` must call the very service it polled ready, not a clone of it (a clone holds
/// no reservation). A regression test: the first version did call a clone.
#[tokio::test]
async fn the_endpoint_polled_ready_is_the_one_called() {
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    let endpointer = Endpointer::new(&cache, |i: &Instance| {
        Ok::<_, BoxError>(Reserving {
            id: Arc::from(i.id()),
            reserved: false,
        })
    })
    .unwrap();
    let mut service = balanced(&endpointer, Duration::from_secs(5));

    let outcome = service.ready().await.unwrap().call(Req::new(0)).await;
    assert!(
        outcome.is_ok(),
        "the call went to an instance that was not polled ready: {:?}",
        outcome.err().map(|e| e.to_string())
    );
}

/// The same with a real tower middleware: calling a clone of a concurrency-limited
/// endpoint panics (`max requests in-flight; poll_ready must be called first`).
#[tokio::test]
async fn endpoints_with_a_concurrency_limit_can_be_called() {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    let factory = recording(&log, |_| Behaviour::Healthy);
    let endpointer = Endpointer::new(&cache, move |i: &Instance| {
        let inner = sd_core::Factory::build(&factory, i)?.into_parts().0;
        Ok::<_, BoxError>(ConcurrencyLimit::new(inner, 4))
    })
    .unwrap();
    let service = balanced(&endpointer, Duration::from_secs(5));

    let outcome = tokio::spawn(service.oneshot(Req::new(0))).await;
    match outcome {
        Ok(reply) => assert_eq!(&*reply.unwrap(), "10.0.0.1:80"),
        Err(panicked) => panic!(
            "calling a concurrency-limited endpoint through Balanced panicked: {:?}",
            panicked
                .into_panic()
                .downcast_ref::<&str>()
                .copied()
                .unwrap_or("(no message)")
        ),
    }
}

/// A wait the caller abandoned leaves no stale deadline behind: the next request on the
/// same service waits the full ready timeout (this once failed at once). The wait lives
/// in the request's future, so giving up on the request ends it.
#[tokio::test(start_paused = true)]
async fn an_abandoned_wait_does_not_shorten_the_next_one() {
    let cache = Arc::new(InstanceCache::with_state(Instances::empty()));
    let endpointer =
        Endpointer::new(&cache, recording(&Log::default(), |_| Behaviour::Healthy)).unwrap();
    let mut service = balanced(&endpointer, Duration::from_secs(1));

    // Readiness does not wait ...
    bounded("readiness", service.ready()).await.unwrap();
    // ... the request does, and the caller stops waiting after 300 ms (its own, shorter
    // timeout) ...
    let abandoned =
        tokio::time::timeout(Duration::from_millis(300), service.call(Req::new(0))).await;
    assert!(abandoned.is_err(), "still waiting when abandoned");
    // ... and comes back two seconds later; an instance appears 200 ms into the new wait,
    // well within the 1 s ready timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let feeder = Arc::clone(&cache);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        feeder.update(Instances::new(["10.0.0.1:80"]));
    });
    let began = Instant::now();
    let outcome = bounded("the second wait", ready_and_call(&mut service, 1))
        .await
        .map(drop);
    assert!(
        outcome.is_ok(),
        "the second wait failed after {:?} instead of waiting up to the 1 s ready timeout: \
         {:?}",
        began.elapsed(),
        outcome.err().map(|e| e.to_string())
    );
}

/// One request: readiness (which never waits), then the call (which may).
async fn ready_and_call<S: Service<Req>>(service: &mut S, n: u64) -> Result<S::Response, S::Error> {
    service.ready().await?.call(Req::new(n)).await
}

/// What an endpoint's `poll_ready` does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Readiness {
    Ready,
    Never,
    Fails,
}

/// An endpoint whose readiness is as its instance's name says (`never-…`, `fails-…`),
/// and which answers with its instance's name.
#[derive(Debug, Clone)]
struct Moody {
    id: Arc<str>,
    readiness: Readiness,
}

impl Service<Req> for Moody {
    type Response = Arc<str>;
    type Error = BoxError;
    type Future = Ready<Result<Arc<str>, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self.readiness {
            Readiness::Ready => Poll::Ready(Ok(())),
            // Never woken either: only a timer can get a caller out.
            Readiness::Never => Poll::Pending,
            Readiness::Fails => Poll::Ready(Err("overloaded".into())),
        }
    }

    fn call(&mut self, _: Req) -> Self::Future {
        ready(Ok(Arc::clone(&self.id)))
    }
}

fn moody(cache: &InstanceCache) -> Endpointer<Moody> {
    Endpointer::new(cache, |i: &Instance| {
        let readiness = if i.id().starts_with("never") {
            Readiness::Never
        } else if i.id().starts_with("fails") {
            Readiness::Fails
        } else {
            Readiness::Ready
        };
        Ok::<_, BoxError>(Moody {
            id: Arc::from(i.id()),
            readiness,
        })
    })
    .unwrap()
}

/// An endpoint that is never ready, or whose readiness fails, is set aside within the
/// ready timeout, and every request reaches the healthy one.
#[tokio::test(start_paused = true)]
async fn endpoints_that_are_never_ready_or_fail_readiness_are_set_aside() {
    for bad in ["never-ready:80", "fails-ready:80"] {
        let cache = InstanceCache::with_state(Instances::new([bad, "ok:80"]));
        let endpointer = moody(&cache);
        let mut service = balanced(&endpointer, Duration::from_secs(5));
        for n in 0..6 {
            let reply = bounded("a ready endpoint", async {
                service.ready().await?.call(Req::new(n)).await
            })
            .await;
            assert_eq!(&*reply.unwrap(), "ok:80", "{bad}, request {n}");
        }
    }
}

/// With nothing but an endpoint that is never ready, the wait ends at the ready timeout
/// with a typed error; with nothing but failing ones, at once with the last failure.
#[tokio::test(start_paused = true)]
async fn a_wait_on_unready_endpoints_ends_with_a_typed_error() {
    let cache = InstanceCache::with_state(Instances::new(["never-a:80", "never-b:80"]));
    let endpointer = moody(&cache);
    let mut service = balanced(&endpointer, Duration::from_secs(2));
    let began = Instant::now();
    let error = bounded("the wait", ready_and_call(&mut service, 0))
        .await
        .unwrap_err();
    assert!(error.is_unready(), "{error:?}");
    assert_eq!(began.elapsed(), Duration::from_secs(2));
    assert_eq!(error.to_string(), "no endpoint became ready within 2s");

    let cache = InstanceCache::with_state(Instances::new(["fails-a:80", "fails-b:80"]));
    let endpointer = moody(&cache);
    let mut service = balanced(&endpointer, Duration::from_secs(2));
    let began = Instant::now();
    let error = bounded("the wait", ready_and_call(&mut service, 0))
        .await
        .unwrap_err();
    assert_eq!(
        began.elapsed(),
        Duration::ZERO,
        "nothing else to try: no waiting"
    );
    let instance = error.instance().map(Instance::id);
    assert!(
        matches!(instance, Some("fails-a:80" | "fails-b:80")),
        "{error:?}"
    );
    assert!(error.to_string().ends_with(": overloaded"), "{error}");
}

/// A wait on an endpoint that is never ready moves on when discovery replaces it.
#[tokio::test(start_paused = true)]
async fn a_pending_endpoint_removed_by_discovery_is_not_waited_on() {
    let cache = Arc::new(InstanceCache::with_state(Instances::new(["never-a:80"])));
    let endpointer = moody(&cache);
    let mut service = balanced(&endpointer, Duration::from_secs(30));
    let feeder = Arc::clone(&cache);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        feeder.update(Instances::new(["ok-b:80"]));
    });
    let began = Instant::now();
    let reply = bounded("the new endpoint", async {
        service.ready().await?.call(Req::new(0)).await
    })
    .await;
    assert_eq!(&*reply.unwrap(), "ok-b:80");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
}

/// A ready timeout too long for the clock means no limit, not a panic.
#[tokio::test(start_paused = true)]
async fn an_endless_ready_timeout_does_not_panic() {
    let cache = Arc::new(InstanceCache::with_state(Instances::empty()));
    let endpointer = moody(&cache);
    let mut service = balanced(&endpointer, Duration::MAX);
    let mut request = std::pin::pin!(ready_and_call(&mut service, 0));
    let waited = tokio::time::timeout(Duration::from_secs(3600), &mut request).await;
    assert!(waited.is_err(), "still waiting after an hour, as asked");
    // The same request goes on waiting, and is woken by discovery, not by a timer.
    cache.update(Instances::new(["ok:80"]));
    let reply = bounded("an endpoint", request).await;
    assert_eq!(&*reply.unwrap(), "ok:80");
}
