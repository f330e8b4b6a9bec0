//! The registrar against a real etcd, with an instancer watching what it writes.

mod common;

use std::time::Duration;

use common::{Etcd, Proxy, client_of, ids, until, until_set};
use sd_core::Instancer as _;
use sd_etcd::{Instancer, Registrar};

const PREFIX: &str = "/services/orders/";

/// The leases etcd holds.
async fn leases(raw: &mut etcd_client::Client) -> Vec<i64> {
    let answer = raw.leases().await.unwrap();
    answer
        .leases()
        .iter()
        .map(etcd_client::LeaseStatus::id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrars_and_an_instancer_together_and_deregister_leaves_nothing() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let client = etcd.client().await;
    let instancer = Instancer::new(&client, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &[]).await;

    let a = Registrar::new(client.clone(), PREFIX, "a", "10.0.0.1:80").unwrap();
    let b = Registrar::builder(client.clone(), PREFIX, "b", "10.0.0.2:80")
        .ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    a.deregister().await.unwrap(); // before register: nothing
    a.register().await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    b.register().await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.2:80"]).await;

    // Twice is a no-op: same lease, one registration.
    let before = a.stats();
    a.register().await.unwrap();
    let after = a.stats();
    assert_eq!((after.lease, after.registrations), (before.lease, 1));

    // The key is written under the lease, with the instance as its value.
    let mut raw = etcd.raw().await;
    let got = raw.get(a.key(), None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), b"10.0.0.1:80");
    assert_eq!(Some(got.kvs()[0].lease()), a.stats().lease);

    let lease_a = a.stats().lease.unwrap();
    a.deregister().await.unwrap();
    // Awaited, so already gone: the key, and the lease.
    assert_eq!(raw.get(a.key(), None).await.unwrap().kvs().len(), 0);
    assert!(!leases(&mut raw).await.contains(&lease_a));
    assert!(!a.is_registered());
    until_set(&mut sub, &["10.0.0.2:80"]).await;
    a.deregister().await.unwrap(); // twice: nothing

    b.deregister().await.unwrap();
    until_set(&mut sub, &[]).await;
    let all = etcd_client::GetOptions::new().with_prefix();
    assert_eq!(raw.get(PREFIX, Some(all)).await.unwrap().kvs().len(), 0);
    assert!(leases(&mut raw).await.is_empty());

    // And it registers again after a deregistration.
    b.register().await.unwrap();
    until_set(&mut sub, &["10.0.0.2:80"]).await;
    b.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_lease_is_granted_again_and_the_key_written_again() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let client = etcd.client().await;
    let instancer = Instancer::new(&client, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    let me = Registrar::builder(client, PREFIX, "me", "10.0.0.1:80")
        .ttl(Duration::from_secs(3))
        .build()
        .unwrap();
    me.register().await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    let first = me.stats().lease.unwrap();

    // Someone revokes the lease: the key goes with it, and the next keep-alive hears TTL 0.
    etcd.raw().await.lease_revoke(first).await.unwrap();
    until(&mut sub, "the key written under a new lease", |event| {
        let lease = me.stats().lease;
        ids(event).is_some_and(|ids| ids == ["10.0.0.1:80"]) && lease.is_some_and(|l| l != first)
    })
    .await;
    // Counted once the put has answered, which may be after the watch saw it.
    common::eventually("the second registration counted", || async {
        me.stats().registrations == 2
    })
    .await;
    me.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expired_while_cut_off_is_registered_again() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let proxy = Proxy::start(etcd.port).await;
    let watcher = Instancer::new(&etcd.client().await, PREFIX).unwrap();
    let mut sub = watcher.subscribe();
    // The shortest TTL etcd grants with this election timeout.
    let me = Registrar::builder(client_of(proxy.url()).await, PREFIX, "me", "10.0.0.1:80")
        .ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    me.register().await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    let first = me.stats().lease;

    // No keep-alive gets through: the lease expires and the key goes.
    proxy.cut();
    until_set(&mut sub, &[]).await;
    proxy.restore();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    common::eventually("the second registration counted", || async {
        me.stats().registrations == 2
    })
    .await;
    let stats = me.stats();
    assert_ne!(stats.lease, first, "{stats:?}");
    assert!(stats.failures >= 1, "{stats:?}");
    me.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_while_etcd_is_unreachable_fails_and_keeps_trying() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let proxy = Proxy::start(etcd.port).await;
    proxy.cut();
    let watcher = Instancer::new(&etcd.client().await, PREFIX).unwrap();
    let mut sub = watcher.subscribe();
    let me = Registrar::new(client_of(proxy.url()).await, PREFIX, "me", "10.0.0.1:80").unwrap();
    let error = me.register().await.unwrap_err();
    assert!(error.is_etcd() || error.is_timeout(), "{error}");
    assert!(me.is_registered(), "still trying");
    proxy.restore();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    me.deregister().await.unwrap();
    until_set(&mut sub, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_registrar_removes_the_key_long_before_its_ttl() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let client = etcd.client().await;
    let watcher = Instancer::new(&client, PREFIX).unwrap();
    let mut sub = watcher.subscribe();
    let me = Registrar::builder(client, PREFIX, "me", "10.0.0.1:80")
        .ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    me.register().await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    let clone = me.clone();
    drop(me);
    // A clone still holds it.
    assert!(clone.is_registered());
    drop(clone);
    // A 600 s lease: only the clean-up on drop can remove the key within the wait.
    until_set(&mut sub, &[]).await;
    let raw = etcd.raw().await;
    common::eventually("the lease revoked", || {
        let mut raw = raw.clone();
        async move { leases(&mut raw).await.is_empty() }
    })
    .await;
}
