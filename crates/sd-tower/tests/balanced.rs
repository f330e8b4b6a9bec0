//! `Balanced` over an endpointer fed by an `InstanceCache`: requests under load while the
//! set changes, the bounded readiness wait, and errors that say what failed.

mod harness;

use std::collections::{HashMap, VecDeque};
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use harness::{Behaviour, Log, Req, balanced, bounded, recording, wait_until};
use sd_core::{BoxError, EndpointSource, Endpointer, Event, Instance, InstanceCache, Instances};
use sd_lb::RoundRobin;
use sd_tower::{Balanced, BalancedLayer, Error};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

fn addr(n: usize) -> String {
    format!("10.0.{}.{}:8080", n / 256, n % 256)
}

/// Several tasks send requests through clones of one `Balanced` service while a changer
/// adds an instance and removes the oldest, round after round. Every call must reach an
/// instance that had been added by then, and no request started after the endpointer
/// stopped listing an instance may reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_only_live_instances_as_the_set_changes() {
    const CLIENTS: usize = 4;
    const ROUNDS: usize = 30;
    const LIVE: usize = 4;

    let log = Log::default();
    let start = Instant::now();
    let mut live: VecDeque<String> = (0..LIVE).map(addr).collect();
    // When each instance was added (before the cache heard of it) ...
    let mut added: HashMap<String, Instant> = live.iter().map(|id| (id.clone(), start)).collect();
    // ... and when the endpointer was seen no longer listing it.
    let mut gone: HashMap<String, Instant> = HashMap::new();

    let cache = InstanceCache::with_state(Instances::new(live.iter().cloned()));
    let endpointer = Endpointer::new(&cache, recording(&log, |_| Behaviour::Healthy)).unwrap();
    let service = balanced(&endpointer, Duration::from_secs(5));

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let mut service = service.clone();
        let stop = Arc::clone(&stop);
        clients.spawn(async move {
            let mut failures = Vec::new();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = Req::new(sent);
                sent += 1;
                let outcome = match service.ready().await {
                    Ok(ready) => ready.call(req).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = outcome {
                    failures.push(error.to_string());
                }
            }
            (sent, failures)
        });
    }

    let mut next = LIVE;
    for _ in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let new = addr(next);
        next += 1;
        added.insert(new.clone(), Instant::now());
        live.push_back(new);
        cache.update(Instances::new(live.iter().cloned()));

        tokio::time::sleep(Duration::from_millis(5)).await;
        let old = live.pop_front().unwrap();
        cache.update(Instances::new(live.iter().cloned()));
        wait_until(
            "the endpointer drops the removed instance",
            &endpointer,
            |listed| !listed.contains(&old),
        )
        .await;
        gone.insert(old, Instant::now());
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.store(true, Ordering::Relaxed);

    let mut sent = 0;
    while let Some(joined) = bounded("a client", clients.join_next()).await {
        let (n, failures) = joined.unwrap();
        assert!(failures.is_empty(), "requests failed: {failures:?}");
        sent += n;
    }

    let rows = log.rows();
    assert_eq!(
        u64::try_from(rows.len()).unwrap(),
        sent,
        "one call per request"
    );
    for row in &rows {
        let since = added[&row.instance];
        assert!(
            row.at >= since,
            "{} was called {:?} before it was added",
            row.instance,
            since - row.at
        );
        if let Some(&gone_at) = gone.get(&row.instance) {
            assert!(
                row.started < gone_at,
                "request {} started {:?} after {} had left the endpointer, yet reached it",
                row.n,
                row.started - gone_at,
                row.instance
            );
        }
    }
    // Not vacuous: the traffic spread over the changing set.
    let served = harness::count(&rows);
    let removed_with_traffic = gone.keys().filter(|id| served.contains_key(*id)).count();
    assert!(
        removed_with_traffic >= ROUNDS / 2,
        "only {removed_with_traffic} of {ROUNDS} removed instances served anything: {served:?}"
    );
    let added_later_with_traffic = (LIVE..next)
        .filter(|n| served.contains_key(&addr(*n)))
        .count();
    assert!(
        added_later_with_traffic >= ROUNDS / 2,
        "only {added_later_with_traffic} of {ROUNDS} added instances served anything"
    );
}

#[tokio::test]
async fn no_endpoints_fails_after_the_ready_timeout() {
    let timeout = Duration::from_millis(200);
    let cache = InstanceCache::with_state(Instances::empty());
    let endpointer =
        Endpointer::new(&cache, recording(&Log::default(), |_| Behaviour::Healthy)).unwrap();
    let mut service = BalancedLayer::new(timeout).layer(RoundRobin::new(endpointer));

    let began = Instant::now();
    // Readiness does not wait; the request's future does.
    bounded("poll_ready with no endpoints", service.ready())
        .await
        .unwrap();
    let error = bounded("a request with no endpoints", service.call(Req::new(0)))
        .await
        .unwrap_err();
    assert!(error.is_no_endpoints(), "{error:?}");
    assert!(
        matches!(error, Error::NoEndpoints(waited) if waited == timeout),
        "{error:?}"
    );
    assert!(error.instance().is_none());
    assert!(
        began.elapsed() >= timeout,
        "failed before the ready timeout"
    );

    // The next request waits afresh, and fails the same way.
    let error = bounded("a second request", service.oneshot(Req::new(1)))
        .await
        .unwrap_err();
    assert!(error.is_no_endpoints(), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn no_endpoints_on_the_paused_clock_waits_exactly_the_ready_timeout() {
    // A cache with no state yet: "not known yet" has no endpoints either.
    let cache = InstanceCache::new();
    let endpointer =
        Endpointer::new(&cache, recording(&Log::default(), |_| Behaviour::Healthy)).unwrap();
    let service = Balanced::new(RoundRobin::new(endpointer));

    let began = Instant::now();
    let error = bounded("a request with no endpoints", service.oneshot(Req::new(0)))
        .await
        .unwrap_err();
    let waited = began.elapsed();
    assert!(error.is_no_endpoints(), "{error:?}");
    assert!(
        matches!(error, Error::NoEndpoints(d) if d == Duration::from_secs(5)),
        "the default ready timeout is 5 s: {error:?}"
    );
    // Virtual time: no earlier than the timeout, and not a recheck pause later.
    assert!(waited >= Duration::from_secs(5), "{waited:?}");
    assert!(waited <= Duration::from_millis(5_100), "{waited:?}");
}

/// Runs one request on an empty set; an instance appears after `after`.
async fn endpoint_appears_during_the_wait(after: Duration) {
    let log = Log::default();
    let cache = Arc::new(InstanceCache::with_state(Instances::empty()));
    let endpointer = Endpointer::new(&cache, recording(&log, |_| Behaviour::Healthy)).unwrap();
    let service = balanced(&endpointer, Duration::from_secs(5));

    let feeder = Arc::clone(&cache);
    let appear = tokio::spawn(async move {
        tokio::time::sleep(after).await;
        feeder.update(Instances::new(["10.0.0.9:80"]));
    });
    let began = Instant::now();
    let reply = bounded(
        "a request while the set is empty",
        service.oneshot(Req::new(0)),
    )
    .await
    .unwrap();
    assert_eq!(&*reply, "10.0.0.9:80");
    assert!(
        began.elapsed() >= after,
        "answered before anything was there"
    );
    assert_eq!(log.attempts_of(0), ["10.0.0.9:80"]);
    appear.await.unwrap();
}

#[tokio::test]
async fn succeeds_when_an_endpoint_appears_during_the_wait() {
    endpoint_appears_during_the_wait(Duration::from_millis(150)).await;
}

#[tokio::test(start_paused = true)]
async fn succeeds_when_an_endpoint_appears_during_the_wait_on_the_paused_clock() {
    endpoint_appears_during_the_wait(Duration::from_millis(2_500)).await;
}

#[tokio::test]
async fn a_failing_call_names_its_instance() {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80", "10.0.0.2:80"]));
    let endpointer = Endpointer::new(
        &cache,
        recording(&log, |id| {
            if id == "10.0.0.2:80" {
                Behaviour::Failing
            } else {
                Behaviour::Healthy
            }
        }),
    )
    .unwrap();
    let mut service = balanced(&endpointer, Duration::from_secs(5));

    // Round robin: the first call goes to .1, the second to .2.
    let ok = service.ready().await.unwrap().call(Req::new(0)).await;
    assert_eq!(&*ok.unwrap(), "10.0.0.1:80");
    let error = service
        .ready()
        .await
        .unwrap()
        .call(Req::new(1))
        .await
        .unwrap_err();
    assert_eq!(
        error.instance().map(Instance::id),
        Some("10.0.0.2:80"),
        "{error:?}"
    );
    assert!(matches!(error, Error::Endpoint { .. }), "{error:?}");
    assert!(!error.is_no_endpoints());
    assert_eq!(error.to_string(), "10.0.0.2:80: 10.0.0.2:80 refused");
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("10.0.0.2:80 refused"));

    // After discovery changes the list (the failing instance moves from index 1 to 2),
    // a failure still names its own instance: the clone's lease follows the list.
    let mut reader = endpointer.clone();
    cache.update(Instances::new([
        "10.0.0.0:80",
        "10.0.0.1:80",
        "10.0.0.2:80",
    ]));
    bounded("the new list", reader.changed()).await;
    let mut failed = Vec::new();
    for n in 2..5 {
        if let Err(error) = service.ready().await.unwrap().call(Req::new(n)).await {
            failed.push(error.instance().map(|i| i.id().to_owned()));
        }
    }
    assert_eq!(failed, [Some("10.0.0.2:80".to_owned())]);
}

/// An endpoint whose readiness fails.
#[derive(Debug, Clone)]
struct Overloaded;

impl Service<Req> for Overloaded {
    type Response = Arc<str>;
    type Error = BoxError;
    type Future = Ready<Result<Arc<str>, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err("overloaded".into()))
    }

    fn call(&mut self, _: Req) -> Self::Future {
        ready(Err("called though not ready".into()))
    }
}

#[tokio::test]
async fn a_failing_poll_ready_names_its_instance() {
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.7:80"]));
    let endpointer = Endpointer::new(&cache, |_: &Instance| Ok::<_, BoxError>(Overloaded)).unwrap();
    let mut service = balanced(&endpointer, Duration::from_secs(5));

    // Readiness never fails or waits: the request's future finds out, and says who.
    bounded("poll_ready", service.ready()).await.unwrap();
    let error = bounded("the call", service.call(Req::new(0)))
        .await
        .unwrap_err();
    assert_eq!(error.instance().map(Instance::id), Some("10.0.0.7:80"));
    assert_eq!(error.to_string(), "10.0.0.7:80: overloaded");
}

/// A call without `poll_ready` first (or a second call on one readiness) is not an error:
/// its future waits for a ready endpoint itself, as the slow path always does.
#[tokio::test]
async fn a_call_without_poll_ready_finds_its_own_endpoint() {
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    let log = Log::default();
    let endpointer = Endpointer::new(&cache, recording(&log, |_| Behaviour::Healthy)).unwrap();
    let mut service = balanced(&endpointer, Duration::from_secs(5));

    bounded("a call without poll_ready", service.call(Req::new(0)))
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    service.ready().await.unwrap();
    service.call(Req::new(1)).await.unwrap();
    bounded("a second call on one readiness", service.call(Req::new(2)))
        .await
        .unwrap();
    assert_eq!(log.len(), 3, "every call reached the endpoint");
}

#[tokio::test(start_paused = true)]
async fn invalidated_or_closed_endpointer_is_a_discovery_error() {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["10.0.0.1:80"]));
    let endpointer = Endpointer::builder()
        .invalidate_on_error(Duration::from_secs(1))
        .build(&cache, recording(&log, |_| Behaviour::Healthy))
        .unwrap();
    // An hour to wait for endpoints: the errors below must come at once, not after it.
    let service = balanced(&endpointer, Duration::from_secs(3600));
    let at_once = Duration::from_secs(2);

    let mut reader = endpointer.clone();
    cache.update(Event::Error(sd_core::Error::discovery(
        "registry unreachable",
    )));
    reader.changed().await;
    // Within the invalidation timeout the last known endpoints still serve.
    let reply = tokio::time::timeout(at_once, service.clone().oneshot(Req::new(0)))
        .await
        .expect("no wait")
        .unwrap();
    assert_eq!(&*reply, "10.0.0.1:80");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let error = tokio::time::timeout(at_once, service.clone().oneshot(Req::new(1)))
        .await
        .expect("a discovery error comes at once")
        .unwrap_err();
    match &error {
        Error::Discovery(inner) => {
            assert!(inner.is_discovery(), "{inner:?}");
            assert_eq!(inner.to_string(), "registry unreachable");
        }
        other => panic!("expected Error::Discovery, got {other:?}"),
    }
    assert!(!error.is_no_endpoints());
    assert!(error.instance().is_none());

    // A good event brings the endpoints back.
    let mut reader = endpointer.clone();
    cache.update(Instances::new(["10.0.0.2:80"]));
    reader.changed().await;
    let reply = tokio::time::timeout(at_once, service.clone().oneshot(Req::new(2)))
        .await
        .expect("no wait")
        .unwrap();
    assert_eq!(&*reply, "10.0.0.2:80");

    endpointer.close();
    let error = tokio::time::timeout(at_once, service.oneshot(Req::new(3)))
        .await
        .expect("a closed endpointer fails at once")
        .unwrap_err();
    assert!(
        matches!(&error, Error::Discovery(inner) if inner.is_closed()),
        "{error:?}"
    );
    assert_eq!(log.len(), 2, "only the two good requests reached a backend");
}
