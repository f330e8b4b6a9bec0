//! The registrar where requests are slow or the server forgets: deregistration while a
//! heartbeat is held back leaves nothing registered, a re-registration is dated anew, and
//! no configuration value panics.

mod support;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sd_eureka::{Connection, Instancer, Registrar, Status};
use support::{RawServer, Reply, connection, instance, server, server_addresses, wait_until};

const APP: &str = "registrar";

/// The reproduction: a proxy holds heartbeats back longer than deregistration may
/// take. `deregister()` must cancel the heartbeat in flight rather than wait for it, and
/// when the held-back heartbeat finally reaches the server (and gets its 404), nothing
/// may register the instance again.
///
/// (A registration already on the wire when `deregister()` runs cannot be recalled by any
/// client: a proxy that holds it and delivers it after the `DELETE` registers the
/// instance again, until its lease expires. See `Registrar`'s documentation.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistering_during_a_held_back_heartbeat_leaves_nothing_registered() {
    let live = server().await;
    let upstream = live.local_addr();
    let hold = Arc::new(AtomicBool::new(false));
    let delay = Duration::from_secs(3);
    let flag = Arc::clone(&hold);
    let proxy = RawServer::start(move |request| {
        if request.method == "PUT" && flag.load(Ordering::SeqCst) {
            Reply::ProxyAfter(upstream, delay)
        } else {
            Reply::Proxy(upstream)
        }
    })
    .await;
    let conn = Connection::builder()
        .service_url(proxy.base_url())
        .request_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let registrar = Registrar::builder(conn, instance(APP, 8001))
        // Shorter than the hold: waiting for the heartbeat is not an option.
        .deregister_timeout(Duration::from_secs(2))
        .build();
    registrar.register().await.unwrap();
    let path = format!("/eureka/apps/{}", registrar.instance().app);
    assert_eq!(proxy.count("POST", &path), 1);

    hold.store(true, Ordering::SeqCst);
    let beats = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    wait_until("a heartbeat is held back", || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count()
            > beats
    })
    .await;
    registrar.deregister().await.unwrap();
    assert!(live.applications().applications.is_empty(), "deregistered");

    // The held-back heartbeat reaches the server after the DELETE...
    wait_until("the held-back heartbeat is delivered", || {
        proxy.relayed_late() >= 1
    })
    .await;
    // ...and whatever the registrar would have done with its answer, it would have done
    // at once; give it a moment all the same.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(proxy.count("POST", &path), 1, "nothing registered again");
    assert!(
        live.applications().applications.is_empty(),
        "the instance came back: {:?}",
        live.applications()
    );
    assert!(!registrar.is_registered());
}

/// A status change racing deregistration never outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_racing_deregistration_leaves_nothing_registered() {
    let live = server().await;
    let registrar = Registrar::new(connection(&[&live.base_url()]), instance(APP, 8001));
    for _ in 0..20 {
        registrar.register().await.unwrap();
        let changer = registrar.clone();
        let change = tokio::spawn(async move { changer.set_status(Status::Down).await });
        registrar.deregister().await.unwrap();
        change.await.unwrap().unwrap();
        assert!(live.applications().applications.is_empty());
    }
}

/// Netflix's client marks the instance dirty when a heartbeat finds it forgotten, so the
/// registration that follows carries a new `lastDirtyTimestamp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_after_a_404_heartbeat_is_dated_anew() {
    let live = server().await;
    let conn = connection(&[&live.base_url()]);
    let registrar = Registrar::new(conn.clone(), instance(APP, 8001));
    registrar.register().await.unwrap();
    let id = registrar.instance().instance_id;
    let first = conn.instance(APP, &id).await.unwrap().last_dirty_timestamp;
    assert_eq!(first, registrar.instance().last_dirty_timestamp);
    tokio::time::sleep(Duration::from_millis(20)).await;

    // The server forgets the instance (as after a restart).
    conn.deregister(APP, &id).await.unwrap();
    wait_until("the registrar registers again", || {
        registrar.stats().reregistrations >= 1
            && !server_addresses(&live.applications(), APP).is_empty()
    })
    .await;
    let again = conn.instance(APP, &id).await.unwrap().last_dirty_timestamp;
    assert!(
        again > first,
        "re-registered with {again}, first with {first}"
    );
    assert_eq!(registrar.instance().last_dirty_timestamp, again);
    registrar.deregister().await.unwrap();
}

/// Polls `future` once, outside any runtime.
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn registering_outside_a_runtime_is_an_error_not_a_panic() {
    let conn = Connection::new(["http://127.0.0.1:1/eureka/"]).unwrap();
    let registrar = Registrar::new(conn.clone(), instance(APP, 8001));
    match poll_once(registrar.register()) {
        Poll::Ready(Err(error)) => assert!(error.is_no_runtime(), "{error:?}"),
        other => panic!("expected an error at once, got {other:?}"),
    }
    assert!(!registrar.is_registered());
    let error = Instancer::new(&conn, APP).unwrap_err();
    assert!(error.is_no_runtime(), "{error:?}");
    // Dropping it outside a runtime is fine too.
    drop(registrar);
}

/// Every duration at its extremes, every count at its largest: calls work or fail with an
/// error; nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configuration_value_panics() {
    let live = server().await;
    let dead = support::dead_url().await;
    for extreme in [Duration::MAX, Duration::ZERO] {
        let conn = Connection::builder()
            .service_url(&dead)
            .service_url(live.base_url())
            .connect_timeout(extreme)
            .request_timeout(extreme)
            .quarantine(extreme)
            .poll_interval(extreme)
            .resync_interval(extreme)
            .attempts(usize::MAX)
            .max_response_bytes(usize::MAX)
            .build()
            .unwrap();
        let mut i = instance(APP, 8001);
        if let Some(lease) = i.lease_info.as_mut() {
            lease.renewal_interval_in_secs = u32::MAX;
            lease.duration_in_secs = u32::MAX;
        }
        let registrar = Registrar::builder(conn.clone(), i)
            .deregister_timeout(extreme)
            .build();
        let registered = registrar.register().await;
        let read = conn.applications().await;
        let instancer = Instancer::new(&conn, APP).unwrap();
        if extreme == Duration::ZERO {
            // No time at all: every operation is a timeout, at once.
            let error = registered.unwrap_err();
            assert!(error.is_timeout(), "{error:?}");
            assert!(read.unwrap_err().is_timeout());
        } else {
            registered.unwrap();
            assert_eq!(server_addresses(&read.unwrap(), APP), ["127.0.0.1:8001"]);
        }
        drop(instancer);
        let _ = registrar.deregister().await;
    }
    let failing = Connection::builder()
        .service_url(&dead)
        .quarantine(Duration::MAX)
        .build()
        .unwrap();
    assert!(failing.applications().await.unwrap_err().is_transport());
    assert!(failing.applications().await.unwrap_err().is_transport());
}
