//! etcd killed and restarted under a running instancer, endpointer and registrar.

mod common;

use std::time::Duration;

use common::{Etcd, PATIENCE, eventually, until, until_set};
use sd_core::{BoxError, EndpointSource, Endpointer, Instance, Instancer as _};
use sd_etcd::{Instancer, Registrar};

const PREFIX: &str = "/services/orders/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_and_restart_keeps_the_last_good_set_and_recovers() {
    let Some(mut etcd) = Etcd::start().await else {
        return;
    };
    let client = etcd.client().await;
    etcd.raw()
        .await
        .put(format!("{PREFIX}other"), "10.0.0.2:80", None)
        .await
        .unwrap();
    let me = Registrar::builder(client.clone(), PREFIX, "me", "10.0.0.1:80")
        .ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    me.register().await.unwrap();

    let instancer = Instancer::new(&client, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
        Ok::<_, BoxError>(format!("http://{}/", i.id()))
    })
    .unwrap();
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.2:80"]).await;
    tokio::time::timeout(PATIENCE, async {
        while endpointer.endpoints().map_or(0, |e| e.len()) < 2 {
            endpointer.changed().await;
        }
    })
    .await
    .expect("the endpointer to follow");

    etcd.kill();
    let error = until(&mut sub, "an error event", |e| e.error().is_some()).await;
    assert!(error.error().unwrap().is_discovery());
    // The endpointer keeps the last good endpoints through the outage.
    let kept = endpointer.endpoints().unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let keep_alives = me.stats().keep_alives;

    etcd.restart().await;
    // Recovery publishes the current set again (the same set as before the error).
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.2:80"]).await;
    assert_eq!(endpointer.endpoints().unwrap().len(), 2);
    // The registration comes back: the keep-alive renews again, and the key is there.
    eventually("keep-alives after the restart", || async {
        me.stats().keep_alives > keep_alives
    })
    .await;
    let got = etcd.raw().await.get(me.key(), None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), b"10.0.0.1:80");

    // Changes after the restart still flow.
    me.deregister().await.unwrap();
    until_set(&mut sub, &["10.0.0.2:80"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instancer_started_while_etcd_is_down_publishes_an_error_then_the_set() {
    let Some(mut etcd) = Etcd::start().await else {
        return;
    };
    etcd.raw()
        .await
        .put(format!("{PREFIX}a"), "10.0.0.1:80", None)
        .await
        .unwrap();
    etcd.kill();
    let instancer = Instancer::new(&etcd.client().await, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until(&mut sub, "an error event", |e| e.error().is_some()).await;
    etcd.restart().await;
    until_set(&mut sub, &["10.0.0.1:80"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_wiped_and_started_anew_is_listed_again() {
    let Some(mut etcd) = Etcd::start().await else {
        return;
    };
    let mut raw = etcd.raw().await;
    for (key, value) in [
        ("a", "10.0.0.1:80"),
        ("b", "10.0.0.2:80"),
        ("c", "10.0.0.3:80"),
    ] {
        raw.put(format!("{PREFIX}{key}"), value, None)
            .await
            .unwrap();
    }
    let client = etcd.client().await;
    let me = Registrar::builder(client.clone(), PREFIX, "me", "10.0.0.5:80")
        .ttl(Duration::from_secs(3))
        .build()
        .unwrap();
    me.register().await.unwrap();
    let instancer = Instancer::new(&client, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(
        &mut sub,
        &["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.5:80"],
    )
    .await;

    // A new, empty etcd behind the same URL: its revisions start again below the one the
    // watch would resume from, which would otherwise wait for revisions that mean nothing.
    etcd.wipe_and_restart().await;
    etcd.raw()
        .await
        .put(format!("{PREFIX}x"), "10.0.0.9:80", None)
        .await
        .unwrap();
    // The registrar's lease is unknown there: it registers again.
    until_set(&mut sub, &["10.0.0.5:80", "10.0.0.9:80"]).await;
    assert_eq!(instancer.stats().lists, 2, "{:?}", instancer.stats());
    me.deregister().await.unwrap();
    until_set(&mut sub, &["10.0.0.9:80"]).await;
}
