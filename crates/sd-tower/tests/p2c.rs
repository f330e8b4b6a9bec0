//! `DiscoverInstances` feeding tower's power-of-two-choices balancer, with
//! pending-requests and peak-EWMA load.

mod harness;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use harness::{Behaviour, Closed, Log, Req, bounded, recording, recording_with_close};
use sd_core::{BoxError, InstanceCache, Instances};
use sd_tower::DiscoverInstances;
use tokio::task::JoinSet;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

/// Sends `count` requests through `balance`, numbered from `first`, keeping up to
/// `in_flight` outstanding; every one must succeed.
async fn drive<S>(balance: &mut S, first: u64, count: u64, in_flight: usize)
where
    S: Service<Req, Response = Arc<str>, Error = BoxError>,
    S::Future: Future<Output = Result<Arc<str>, BoxError>> + Send + 'static,
{
    let mut pending: JoinSet<Result<Arc<str>, BoxError>> = JoinSet::new();
    for n in first..first + count {
        while pending.len() >= in_flight {
            let done = bounded("a response", pending.join_next()).await;
            done.expect("one in flight").unwrap().unwrap();
        }
        let ready = bounded("p2c readiness", balance.ready()).await.unwrap();
        pending.spawn(ready.call(Req::new(n)));
    }
    while let Some(done) = bounded("a response", pending.join_next()).await {
        done.unwrap().unwrap();
    }
}

/// Each of `counts`' instances served at least half its fair share of `total`.
fn assert_fair(counts: &BTreeMap<String, usize>, instances: &[&str], total: usize) {
    let fair = total / instances.len();
    for id in instances {
        let got = counts.get(*id).copied().unwrap_or(0);
        assert!(
            got >= fair / 2,
            "{id} served {got} of {total} requests (a fair share is {fair}): {counts:?}"
        );
    }
    assert_eq!(counts.values().sum::<usize>(), total, "{counts:?}");
}

const FOUR: [&str; 4] = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_with_pending_requests_spreads_load_over_discovered_instances() {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(FOUR));
    let discover = DiscoverInstances::new(&cache, recording(&log, |_| Behaviour::Healthy));
    let mut balance = Balance::new(PendingRequestsDiscover::new(
        discover,
        CompleteOnResponse::default(),
    ));

    drive(&mut balance, 0, 4_000, 16).await;
    assert_fair(&log.per_instance(), &FOUR, 4_000);
}

/// Removes one instance and adds another; the removed one gets nothing more and its close
/// hook runs; the added one gets its share; dropping the balancer closes the rest.
async fn follows_set_changes<S>(make: impl FnOnce(&InstanceCache, &Log, &Closed) -> S)
where
    S: Service<Req, Response = Arc<str>, Error = BoxError>,
    S::Future: Future<Output = Result<Arc<str>, BoxError>> + Send + 'static,
{
    let log = Log::default();
    let closed = Closed::default();
    let cache = InstanceCache::with_state(Instances::new(["a:1", "b:1", "c:1"]));
    let mut balance = make(&cache, &log, &closed);

    drive(&mut balance, 0, 600, 8).await;
    let before = harness::count(&log.take());
    assert_fair(&before, &["a:1", "b:1", "c:1"], 600);
    assert!(closed.list().is_empty());

    cache.update(Instances::new(["a:1", "b:1", "d:1"]));
    drive(&mut balance, 1_000, 900, 8).await;
    let after = harness::count(&log.take());
    assert!(
        !after.contains_key("c:1"),
        "the removed instance still got requests: {after:?}"
    );
    assert_fair(&after, &["a:1", "b:1", "d:1"], 900);
    assert_eq!(
        closed.list(),
        ["c:1"],
        "the removed service's close hook ran"
    );

    drop(balance);
    let mut all = closed.list();
    all.sort();
    assert_eq!(
        all,
        ["a:1", "b:1", "c:1", "d:1"],
        "dropping the balancer closes the services it held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_with_pending_requests_follows_set_changes() {
    follows_set_changes(|cache, log, closed| {
        let factory = recording_with_close(log, closed, |_| Behaviour::Healthy);
        Balance::new(PendingRequestsDiscover::new(
            DiscoverInstances::new(cache, factory),
            CompleteOnResponse::default(),
        ))
    })
    .await;
}

/// On the paused clock, so that every instance has exactly the same latency: on the real
/// clock peak-EWMA rightly shies away from whichever instance a busy machine happened to
/// delay, which makes shares unpredictable.
#[tokio::test(start_paused = true)]
async fn p2c_with_peak_ewma_follows_set_changes() {
    follows_set_changes(|cache, log, closed| {
        let factory =
            recording_with_close(log, closed, |_| Behaviour::Slow(Duration::from_millis(1)));
        Balance::new(PeakEwmaDiscover::new(
            DiscoverInstances::new(cache, factory),
            Duration::from_millis(10),
            Duration::from_secs(1),
            CompleteOnResponse::default(),
        ))
    })
    .await;
}

/// On the paused clock latencies are exact: with one instance fifty times slower than the
/// others, peak-EWMA sends it far less than a third of the requests.
#[tokio::test(start_paused = true)]
async fn p2c_with_peak_ewma_prefers_faster_instances() {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["fast:1", "fast:2", "slow:1"]));
    let factory = recording(&log, |id| {
        if id.starts_with("slow") {
            Behaviour::Slow(Duration::from_millis(50))
        } else {
            Behaviour::Slow(Duration::from_millis(1))
        }
    });
    let mut balance = Balance::new(PeakEwmaDiscover::new(
        DiscoverInstances::new(&cache, factory),
        Duration::from_millis(10),
        Duration::from_secs(10),
        CompleteOnResponse::default(),
    ));

    drive(&mut balance, 0, 900, 6).await;
    let counts = log.per_instance();
    let slow = counts.get("slow:1").copied().unwrap_or(0);
    assert!(
        slow < 900 / 3 / 2,
        "the slow instance served {slow} of 900 requests: {counts:?}"
    );
    assert!(counts.get("fast:1").is_some_and(|&n| n > 900 / 3));
    assert!(counts.get("fast:2").is_some_and(|&n| n > 900 / 3));
}

#[tokio::test]
async fn discover_stream_keeps_services_on_an_error_event() {
    let log = Log::default();
    let cache = InstanceCache::with_state(Instances::new(["a:1", "b:1"]));
    let mut balance = Balance::new(PendingRequestsDiscover::new(
        DiscoverInstances::new(&cache, recording(&log, |_| Behaviour::Healthy)),
        CompleteOnResponse::default(),
    ));
    drive(&mut balance, 0, 100, 4).await;
    cache.update(sd_core::Event::Error(sd_core::Error::discovery(
        "registry unreachable",
    )));
    log.take();
    drive(&mut balance, 100, 200, 4).await;
    assert_fair(&log.per_instance(), &["a:1", "b:1"], 200);
}

/// p2c with pending-requests load over `cache`, recording into `log`, its readiness
/// waits bounded at 2 s.
fn p2c_with_ready_timeout(
    cache: &InstanceCache,
    log: &Log,
) -> impl Service<Req, Response = Arc<str>, Error = BoxError, Future: Send + 'static>
+ Clone
+ Send
+ 'static
+ use<> {
    tower::ServiceBuilder::new()
        .layer(sd_tower::ReadyTimeoutLayer::new(Duration::from_secs(2)))
        .service(Balance::new(PendingRequestsDiscover::new(
            DiscoverInstances::new(cache, recording(log, |_| Behaviour::Healthy)),
            CompleteOnResponse::default(),
        )))
}

/// Whether `error` is sd-tower's `Unready`.
fn is_unready(error: &BoxError) -> bool {
    error
        .downcast_ref::<sd_tower::Error>()
        .is_some_and(sd_tower::Error::is_unready)
}

/// With no instance discovered yet, p2c is not ready for as long as that lasts; under
/// `ReadyTimeoutLayer` a request's wait is bounded like `Balanced`'s, and once instances
/// appear requests flow.
#[tokio::test(start_paused = true)]
async fn p2c_under_a_ready_timeout_does_not_wait_for_ever() {
    let cache = InstanceCache::new();
    let service = p2c_with_ready_timeout(&cache, &Log::default());
    let began = tokio::time::Instant::now();
    let error = bounded("the wait", service.clone().oneshot(Req::new(0)))
        .await
        .expect_err("answered with no instance");
    assert_eq!(began.elapsed(), Duration::from_secs(2));
    assert!(is_unready(&error), "{error:?}");

    cache.update(Instances::new(["a:1"]));
    let reply = bounded("a request", service.oneshot(Req::new(1)))
        .await
        .unwrap();
    assert_eq!(&*reply, "a:1");
}

/// A request its caller gave up on takes nothing from the next one's wait, and is never
/// sent: once an instance appears, only the request still waiting reaches it.
#[tokio::test(start_paused = true)]
async fn an_abandoned_p2c_request_is_not_sent_and_does_not_shorten_the_next_wait() {
    let cache = InstanceCache::new();
    let log = Log::default();
    let service = p2c_with_ready_timeout(&cache, &log);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(1500),
        service.clone().oneshot(Req::new(1)),
    )
    .await;
    assert!(abandoned.is_err(), "still waiting when abandoned");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let began = tokio::time::Instant::now();
    let error = bounded("the second wait", service.clone().oneshot(Req::new(2)))
        .await
        .expect_err("answered with no instance");
    assert!(is_unready(&error), "{error:?}");
    assert_eq!(began.elapsed(), Duration::from_secs(2), "the whole timeout");

    let waiting = tokio::spawn(service.clone().oneshot(Req::new(3)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    cache.update(Instances::new(["a:1"]));
    let reply = bounded("the third request", waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*reply, "a:1");
    let sent: Vec<(String, u64)> = log.take().into_iter().map(|r| (r.instance, r.n)).collect();
    assert_eq!(
        sent,
        [("a:1".to_owned(), 3)],
        "only the request still waiting was sent"
    );
}

/// Clones share one task and one inner service; dropping the last one stops the task,
/// which drops the balancer and so unsubscribes from discovery.
#[tokio::test]
async fn dropping_the_last_ready_timeout_handle_stops_its_task() {
    let cache = InstanceCache::with_state(Instances::new(["a:1", "b:1"]));
    let service = p2c_with_ready_timeout(&cache, &Log::default());
    let mut clone = service.clone();
    bounded("a request", async {
        clone.ready().await?.call(Req::new(0)).await
    })
    .await
    .unwrap();
    assert_eq!(cache.subscriber_count(), 1);
    drop(service);
    assert_eq!(cache.subscriber_count(), 1, "a clone still holds the task");
    drop(clone);
    bounded("the task to stop", async {
        while cache.subscriber_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// The layer applies anywhere (the task starts with the first request), so a stack can
/// be built before the runtime is.
#[test]
fn a_ready_timeout_built_outside_a_runtime_serves_inside_one() {
    let cache = InstanceCache::with_state(Instances::new(["a:1"]));
    let service = std::thread::scope(|s| {
        s.spawn(|| p2c_with_ready_timeout(&cache, &Log::default()))
            .join()
            .unwrap()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = runtime
        .block_on(bounded("a request", service.oneshot(Req::new(0))))
        .unwrap();
    assert_eq!(&*reply, "a:1");
}
