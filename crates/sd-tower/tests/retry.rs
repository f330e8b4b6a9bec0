//! `RetryLayer` over `Balanced`, and `Balanced::retry` (the same retries fused in):
//! attempts on fresh endpoints, one deadline, the callback, and the retry budget. Every
//! test runs on both stacks, which must behave alike.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{Behaviour, Log, Req, bounded, recording};
use sd_core::{BoxError, Endpointer, Instance, InstanceCache, Instances};
use sd_lb::{Balancer, RoundRobin};
use sd_tower::{Balanced, Callback, Error, RetryLayer};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt, service_fn};

/// The two ways to stack retries over a balanced service.
#[derive(Debug, Clone, Copy)]
enum Stack {
    /// `RetryLayer` in front of `Balanced`.
    Layered,
    /// `Balanced::retry`.
    Fused,
}

impl Stack {
    fn build<B, C>(
        self,
        retry: RetryLayer<C>,
        ready_timeout: Duration,
        balancer: B,
    ) -> BoxCloneService<Req, Arc<str>, BoxError>
    where
        B: Balancer + Clone + Send + 'static,
        B::Endpoint:
            Service<Req, Response = Arc<str>, Error = BoxError> + Clone + Send + Sync + 'static,
        <B::Endpoint as Service<Req>>::Future: Send + 'static,
        C: Callback<Error> + Clone + Send + Sync + 'static,
    {
        let service = Balanced::with_ready_timeout(balancer, ready_timeout);
        match self {
            Stack::Layered => BoxCloneService::new(retry.layer(service)),
            Stack::Fused => BoxCloneService::new(service.retry(retry)),
        }
    }
}

/// Runs a test once on each [`Stack`]: `NAME::layered` and `NAME::fused`.
macro_rules! on_both_stacks {
    ($(#[$attr:meta])* async fn $name:ident($stack:ident: Stack) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$attr])*
            async fn layered() {
                run(Stack::Layered).await;
            }

            $(#[$attr])*
            async fn fused() {
                run(Stack::Fused).await;
            }

            async fn run($stack: Stack) $body
        }
    };
}

/// The error of a request the deadline ended: typed, with the attempts' errors.
fn deadline_error(error: &BoxError) -> &sd_lb::RetryError<BoxError> {
    let deadline = error
        .downcast_ref::<sd_lb::RetryError<BoxError>>()
        .unwrap_or_else(|| panic!("not a retry deadline error: {error:?}"));
    assert!(deadline.is_deadline(), "{deadline:?}");
    deadline
}

/// The error a `RetryLayer` stack returned, as the balanced service's error.
fn balanced_error(error: &BoxError) -> &Error {
    error
        .downcast_ref::<Error>()
        .unwrap_or_else(|| panic!("not an sd_tower::Error: {error:?}"))
}

fn endpointer_over(
    cache: &InstanceCache,
    log: &Log,
    behaviour: impl Fn(&str) -> Behaviour + Send + 'static,
) -> Endpointer<
    impl Service<Req, Response = Arc<str>, Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static,
> {
    Endpointer::new(cache, recording(log, behaviour)).unwrap()
}

on_both_stacks! {
#[tokio::test]
async fn a_failing_instance_is_retried_on_a_fresh_endpoint(stack: Stack) {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = endpointer_over(&cache, &log, |id| {
        if id == "10.0.0.1:80" {
            Behaviour::Failing
        } else {
            Behaviour::Healthy
        }
    });
    let mut client = stack.build(RetryLayer::new(3, Duration::from_secs(5)), Duration::from_secs(1), RoundRobin::new(endpointer.clone()));

    // Round robin sends every other request to the failing instance first; it fails there
    // and is retried until it reaches the other one. (Retries pick from a balancer of
    // their own, which goes round on its own: it may come back to the failing instance,
    // as go-kit's random balancer may; `Outliers` is the cure for an instance that keeps
    // failing.)
    let mut retried = 0;
    for n in 0..20 {
        let reply = bounded("a request", client.ready().await.unwrap().call(Req::new(n)))
            .await
            .unwrap();
        assert_eq!(&*reply, "10.0.0.2:80");
        let attempts = log.attempts_of(n);
        assert_eq!(attempts.last().map(String::as_str), Some("10.0.0.2:80"));
        assert!(
            attempts[..attempts.len() - 1]
                .iter()
                .all(|a| a == "10.0.0.1:80"),
            "request {n}: {attempts:?}"
        );
        if attempts.len() > 1 {
            retried += 1;
        }
    }
    assert_eq!(
        retried, 10,
        "every other request started on the failing instance"
    );

    // go-kit's shared counter: every pick, first attempt or retry, takes the next index.
    let mut client = stack.build(RetryLayer::new(3, Duration::from_secs(5)), Duration::from_secs(1), RoundRobin::shared(endpointer));
    for n in 100..110 {
        let reply = bounded("a request", client.ready().await.unwrap().call(Req::new(n)))
            .await
            .unwrap();
        assert_eq!(&*reply, "10.0.0.2:80");
        assert_eq!(
            log.attempts_of(n),
            ["10.0.0.1:80", "10.0.0.2:80"],
            "request {n}"
        );
    }
}
}

on_both_stacks! {
#[tokio::test]
async fn healthy_requests_are_not_retried(stack: Stack) {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = endpointer_over(&cache, &log, |_| Behaviour::Healthy);
    let client = stack.build(RetryLayer::new(3, Duration::from_secs(5)), Duration::from_secs(5), RoundRobin::new(endpointer));
    for n in 0..10 {
        bounded("a request", client.clone().oneshot(Req::new(n)))
            .await
            .unwrap();
    }
    assert_eq!(log.len(), 10);
}
}

on_both_stacks! {
#[tokio::test]
async fn attempts_stop_at_max_attempts_with_the_last_error(stack: Stack) {
    let log = Log::default();
    let ids = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"];
    let cache = InstanceCache::with_state(Instances::new(ids));
    let endpointer = endpointer_over(&cache, &log, |_| Behaviour::Failing);
    let client = stack.build(RetryLayer::new(3, Duration::from_secs(5)), Duration::from_secs(5), RoundRobin::new(endpointer));

    let error = bounded("a failing request", client.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    assert_eq!(
        log.attempts_of(0),
        &ids[..3],
        "three attempts, each on the next instance"
    );
    let error = balanced_error(&error);
    assert_eq!(
        error.instance().map(Instance::id),
        Some("10.0.0.3:80"),
        "the last attempt's error"
    );
}
}

/// A backend that never answers, and counts how many of its calls were dropped unfinished.
#[derive(Debug, Clone, Default)]
struct Cancelled(Arc<AtomicUsize>);

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

on_both_stacks! {
#[tokio::test(start_paused = true)]
async fn the_deadline_cancels_the_attempt_in_flight(stack: Stack) {
    let cancelled = Cancelled::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (factory_cancelled, factory_calls) = (cancelled.clone(), Arc::clone(&calls));
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    let endpointer = Endpointer::new(&cache, move |_: &Instance| {
        let (cancelled, calls) = (factory_cancelled.clone(), Arc::clone(&factory_calls));
        Ok::<_, BoxError>(service_fn(move |_: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            let guard = CountDrop(Arc::clone(&cancelled.0));
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(guard);
                Ok::<Arc<str>, BoxError>(Arc::from("never"))
            }
        }))
    })
    .unwrap();
    let client = stack.build(RetryLayer::new(3, Duration::from_secs(2)), Duration::from_secs(5), RoundRobin::new(endpointer));

    let began = Instant::now();
    let error = bounded("a request past its deadline", client.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    let deadline = deadline_error(&error);
    assert_eq!(deadline.timeout(), Some(Duration::from_secs(2)));
    assert!(
        deadline.raw_errors().is_empty(),
        "the only attempt was cut off"
    );
    assert!(began.elapsed() >= Duration::from_secs(2));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        cancelled.0.load(Ordering::SeqCst),
        1,
        "the attempt in flight was dropped"
    );
}
}

on_both_stacks! {
#[tokio::test(start_paused = true)]
async fn one_deadline_covers_all_attempts(stack: Stack) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = Endpointer::new(&cache, move |_: &Instance| {
        let counted = Arc::clone(&counted);
        Ok::<_, BoxError>(service_fn(move |_: Req| {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Err::<Arc<str>, BoxError>("slow failure".into())
            }
        }))
    })
    .unwrap();
    // Ten attempts allowed, each failing after a second, within 2.5 s: the attempts
    // started at 0 s, 1 s and 2 s; the third is cut off.
    let client = stack.build(RetryLayer::new(10, Duration::from_millis(2_500)), Duration::from_secs(5), RoundRobin::new(endpointer));

    let error = bounded("a request past its deadline", client.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    // The deadline's error keeps the errors of the attempts that failed before it.
    let deadline = deadline_error(&error);
    assert_eq!(deadline.raw_errors().len(), 2, "{deadline}");
    assert!(
        deadline
            .raw_errors()
            .iter()
            .all(|e| e.to_string().ends_with("slow failure")),
        "{deadline}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "retry deadline of 2.5s exceeded (previously: {}; {})",
            deadline.raw_errors()[0],
            deadline.raw_errors()[1]
        )
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}
}

on_both_stacks! {
#[tokio::test]
async fn the_callback_sees_attempts_can_stop_early_and_replace_the_error(stack: Stack) {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = endpointer_over(&cache, &log, |_| Behaviour::Failing);
    let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let callback = move |attempt: usize, error: &mut Error| {
        let instance = error.instance().map_or("?", Instance::id).to_owned();
        record.lock().unwrap().push((attempt, instance));
        if attempt < 2 {
            return true;
        }
        *error = Error::Endpoint {
            instance: Instance::new("replaced:0"),
            source: "gave up after two attempts".into(),
        };
        false
    };
    let client = stack.build(RetryLayer::new(5, Duration::from_secs(5)).callback(callback), Duration::from_secs(5), RoundRobin::new(endpointer));

    let error = bounded("a failing request", client.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, "10.0.0.1:80".to_owned()), (2, "10.0.0.2:80".to_owned())],
        "the callback sees each attempt's number and error"
    );
    assert_eq!(
        log.attempts_of(0).len(),
        2,
        "stopped after two of five attempts"
    );
    let error = balanced_error(&error);
    assert_eq!(error.instance().map(Instance::id), Some("replaced:0"));
    assert_eq!(error.to_string(), "replaced:0: gave up after two attempts");
}
}

on_both_stacks! {
#[tokio::test]
async fn a_callback_that_never_continues_means_one_attempt(stack: Stack) {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    let endpointer = endpointer_over(&cache, &log, |_| Behaviour::Failing);
    let client = stack.build(RetryLayer::new(5, Duration::from_secs(5)).callback(|_: usize, _: &mut Error| false), Duration::from_secs(5), RoundRobin::new(endpointer));
    let error = bounded("a failing request", client.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    assert_eq!(log.attempts_of(0).len(), 1);
    assert_eq!(
        balanced_error(&error).instance().map(Instance::id),
        Some("10.0.0.1:80")
    );
}
}

on_both_stacks! {
/// With every backend failing and up to four attempts per request, the budget lets
/// retries add only `RETRY_PERCENT` of the requests plus `MIN_PER_SEC` per second of the
/// budget's window, across all clones of the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_caps_retries_when_every_backend_fails(stack: Stack) {
    const TASKS: u64 = 4;
    const PER_TASK: u64 = 150;
    const MAX_ATTEMPTS: usize = 4;
    const TTL: Duration = Duration::from_secs(1);
    const MIN_PER_SEC: u32 = 2;
    const RETRY_PERCENT: u32 = 10;
    let retry_share = f64::from(RETRY_PERCENT) / 100.0;

    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = endpointer_over(&cache, &log, |_| Behaviour::Failing);
    let client = stack.build(RetryLayer::new(MAX_ATTEMPTS, Duration::from_secs(5)).budget(
                TTL,
                MIN_PER_SEC,
                RETRY_PERCENT,
            ), Duration::from_secs(5), RoundRobin::new(endpointer));

    let began = Instant::now();
    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let mut client = client.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                let ready = client.ready().await.unwrap();
                let outcome = ready.call(Req::new(t * PER_TASK + i)).await;
                assert!(outcome.is_err(), "every backend fails");
            }
        });
    }
    while let Some(done) = bounded("a client task", tasks.join_next()).await {
        done.unwrap();
    }
    let elapsed = began.elapsed();

    let requests = u32::try_from(TASKS * PER_TASK).unwrap();
    let attempts = u32::try_from(log.len()).unwrap();
    // The floor: `MIN_PER_SEC` retries per second for the window before the first
    // request and for every second the run took.
    let seconds = u32::try_from(TTL.as_secs() + elapsed.as_secs() + 1).unwrap();
    let allowance = MIN_PER_SEC * seconds;
    let ratio = f64::from(attempts) / f64::from(requests);
    let most = 1.0 + retry_share + f64::from(allowance) / f64::from(requests);
    assert!(
        ratio <= most,
        "{attempts} attempts for {requests} requests in {elapsed:?}: {ratio:.3} attempts per \
         request, more than {most:.3} (unbudgeted it would be {MAX_ATTEMPTS})"
    );
    // Each client clone pays its requests into the budget in batches, so up to a batch
    // per clone is not paid yet: half the share is still a clear lower bound.
    let least = 1.0 + retry_share / 2.0;
    assert!(
        ratio > least,
        "{attempts} attempts for {requests} requests: the budget allowed hardly any retries"
    );
}
}

on_both_stacks! {
/// The callback sees every failed attempt, the last included, and can replace the error
/// the caller gets (go-kit's semantics; this once stopped at `max_attempts` first).
#[tokio::test]
async fn the_callback_sees_the_last_attempt_too(stack: Stack) {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = endpointer_over(&cache, &log, |_| Behaviour::Failing);
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let record = Arc::clone(&seen);
    let callback = move |attempt: usize, error: &mut Error| {
        record.lock().unwrap().push(attempt);
        *error = Error::Endpoint {
            instance: Instance::new("replaced:0"),
            source: format!("attempt {attempt} failed").into(),
        };
        true
    };
    let client = stack.build(RetryLayer::new(3, Duration::from_secs(5)).callback(callback), Duration::from_secs(5), RoundRobin::new(endpointer));

    let error = bounded("a failing request", client.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    assert_eq!(log.attempts_of(0).len(), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        [1, 2, 3],
        "the callback sees every failed attempt"
    );
    assert_eq!(
        balanced_error(&error).to_string(),
        "replaced:0: attempt 3 failed",
        "the caller gets the callback's replacement of the last error"
    );
}
}

on_both_stacks! {
/// With no endpoint ready at once, a request waits for discovery, then makes its
/// attempts within the one deadline; what it waited counts against that deadline.
#[tokio::test]
async fn a_request_waits_for_an_endpoint_then_retries(stack: Stack) {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(Vec::<String>::new()));
    let endpointer = endpointer_over(&cache, &log, |id| {
        if id == "10.0.0.1:80" {
            Behaviour::Failing
        } else {
            Behaviour::Healthy
        }
    });
    let client = stack.build(
        RetryLayer::new(3, Duration::from_secs(5)),
        Duration::from_secs(5),
        RoundRobin::new(endpointer),
    );
    let request = tokio::spawn(client.clone().oneshot(Req::new(0)));
    // The request is waiting: nothing to pick yet.
    tokio::task::yield_now().await;
    assert_eq!(log.len(), 0);
    cache.update(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let reply = bounded("the waiting request", request).await.unwrap().unwrap();
    assert_eq!(&*reply, "10.0.0.2:80");
    assert_eq!(log.attempts_of(0).last().map(String::as_str), Some("10.0.0.2:80"));

    // With nothing ever to pick, the ready timeout ends the wait with a typed error.
    let empty = InstanceCache::with_state(Instances::new(Vec::<String>::new()));
    let client = stack.build(
        RetryLayer::new(3, Duration::from_secs(5)),
        Duration::from_millis(50),
        RoundRobin::new(endpointer_over(&empty, &log, |_| Behaviour::Healthy)),
    );
    let error = bounded("a request with nothing to pick", client.oneshot(Req::new(1)))
        .await
        .unwrap_err();
    assert!(balanced_error(&error).is_no_endpoints(), "{error:?}");
}
}
