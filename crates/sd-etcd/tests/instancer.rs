//! The instancer against a real etcd: go-kit's semantics, bad data, compaction, and
//! what dropping it stops.

mod common;

use common::{Etcd, Proxy, client_of, eventually, ids, until, until_set};
use etcd_client::{CompactionOptions, PutOptions};
use sd_core::{Event, Instancer as _};
use sd_etcd::Instancer;

const PREFIX: &str = "/services/orders/";

/// etcd's gauge of open watchers.
const WATCHERS: &str = "etcd_debugging_mvcc_watcher_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_sorted_set_on_every_change_and_current_state_on_subscribe() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let mut raw = etcd.raw().await;
    raw.put(format!("{PREFIX}b"), "10.0.0.2:80", None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}c"), "10.0.0.3:80", None)
        .await
        .unwrap();
    // Another service under a sibling prefix is not ours.
    raw.put("/services/other/x", "10.9.9.9:80", None)
        .await
        .unwrap();

    let instancer = Instancer::new(&etcd.client().await, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["10.0.0.2:80", "10.0.0.3:80"]).await;

    raw.put(format!("{PREFIX}a"), "10.0.0.1:80", None)
        .await
        .unwrap();
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]).await;

    raw.delete(format!("{PREFIX}c"), None).await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.2:80"]).await;

    // A changed value replaces the instance under that key.
    raw.put(format!("{PREFIX}b"), "10.0.0.4:80", None)
        .await
        .unwrap();
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.4:80"]).await;

    // A late subscriber gets the current state at once.
    let mut late = instancer.subscribe();
    let now = late.next().await.unwrap();
    assert_eq!(ids(&now).unwrap(), ["10.0.0.1:80", "10.0.0.4:80"]);

    // Everything deleted: an empty set, not an error.
    raw.delete(
        PREFIX,
        Some(etcd_client::DeleteOptions::new().with_prefix()),
    )
    .await
    .unwrap();
    until_set(&mut sub, &[]).await;
    let stats = instancer.stats();
    assert_eq!((stats.lists, stats.failures), (1, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_data_is_skipped_and_the_good_set_kept() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let mut raw = etcd.raw().await;
    raw.put(format!("{PREFIX}good"), "10.0.0.1:80", None)
        .await
        .unwrap();
    // Bad from the start: seen by the listing.
    raw.put(format!("{PREFIX}empty"), "", None).await.unwrap();
    raw.put(format!("{PREFIX}binary"), vec![0xff, 0xfe, 0x00], None)
        .await
        .unwrap();

    let instancer = Instancer::new(&etcd.client().await, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["10.0.0.1:80"]).await;

    // Bad later: seen by the watch, each with a good change after it.
    raw.put(format!("{PREFIX}dir/nested"), "10.0.0.7:80", None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}json"), "{\"host\": \"10.0.0.8\"}", None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}spaces"), "10.0.0.9 :80", None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}long"), "a".repeat(5000), None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}good2"), "10.0.0.2:80", None)
        .await
        .unwrap();
    let event = until_set(&mut sub, &["10.0.0.1:80", "10.0.0.2:80"]).await;
    assert!(event.error().is_none());

    // A good instance whose value turns bad is no instance any more; the rest stands.
    raw.put(format!("{PREFIX}good2"), "", None).await.unwrap();
    until_set(&mut sub, &["10.0.0.1:80"]).await;
    assert_eq!(instancer.stats().skipped, 7, "{:?}", instancer.stats());
    // A nested key's deletion changes nothing and panics nothing.
    raw.delete(format!("{PREFIX}dir/nested"), None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}good3"), "10.0.0.3:80", None)
        .await
        .unwrap();
    until_set(&mut sub, &["10.0.0.1:80", "10.0.0.3:80"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_resume_revision_lists_again() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let proxy = Proxy::start(etcd.port).await;
    let mut raw = etcd.raw().await;
    raw.put(format!("{PREFIX}a"), "10.0.0.1:80", None)
        .await
        .unwrap();

    let instancer = Instancer::new(&client_of(proxy.url()).await, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["10.0.0.1:80"]).await;

    // Cut the instancer off once it watches, change things behind its back, and compact
    // the history it would resume from.
    eventually("the watch", || async { instancer.stats().watches == 1 }).await;
    proxy.cut();
    until(&mut sub, "an error event", |e| e.error().is_some()).await;
    raw.delete(format!("{PREFIX}a"), None).await.unwrap();
    raw.put(format!("{PREFIX}b"), "10.0.0.2:80", None)
        .await
        .unwrap();
    let latest = raw
        .put(format!("{PREFIX}c"), "10.0.0.3:80", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    raw.compact(latest, Some(CompactionOptions::new().with_physical()))
        .await
        .unwrap();
    proxy.restore();

    until_set(&mut sub, &["10.0.0.2:80", "10.0.0.3:80"]).await;
    let stats = instancer.stats();
    assert_eq!(stats.lists, 2, "{stats:?}");
    assert!(stats.revision >= latest, "{stats:?}");

    // And it watches on from there.
    raw.put(format!("{PREFIX}d"), "10.0.0.4:80", None)
        .await
        .unwrap();
    until_set(&mut sub, &["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_watch_loses_and_repeats_nothing() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let proxy = Proxy::start(etcd.port).await;
    let mut raw = etcd.raw().await;
    let instancer = Instancer::new(&client_of(proxy.url()).await, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &[]).await;
    eventually("the watch", || async { instancer.stats().watches == 1 }).await;

    proxy.cut();
    let error = until(&mut sub, "an error event", |e| e.error().is_some()).await;
    assert!(error.error().unwrap().is_discovery());
    // Changes while cut off, one of them undone again: the resumed watch replays them all.
    raw.put(format!("{PREFIX}a"), "10.0.0.1:80", None)
        .await
        .unwrap();
    raw.put(format!("{PREFIX}b"), "10.0.0.2:80", None)
        .await
        .unwrap();
    raw.delete(format!("{PREFIX}a"), None).await.unwrap();
    proxy.restore();

    until_set(&mut sub, &["10.0.0.2:80"]).await;
    let stats = instancer.stats();
    assert_eq!(stats.lists, 1, "resumed, not listed again: {stats:?}");
    assert!(stats.watches >= 2 && stats.failures >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_instancer_and_its_subscriptions_cancels_the_watch() {
    let Some(etcd) = Etcd::start().await else {
        return;
    };
    let client = etcd.client().await;
    let instancer = Instancer::new(&client, PREFIX).unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &[]).await;
    eventually("the watch on the server", || async {
        etcd.metric(WATCHERS).await >= 1.0
    })
    .await;

    // The subscription alone keeps the watch going.
    drop(instancer);
    let mut raw = etcd.raw().await;
    raw.put(format!("{PREFIX}a"), "10.0.0.1:80", Some(PutOptions::new()))
        .await
        .unwrap();
    until_set(&mut sub, &["10.0.0.1:80"]).await;

    // The last handle gone: the task stops, its watch is cancelled on the server, and
    // the subscription ends.
    let mut clone = sub.clone();
    drop(sub);
    assert!(matches!(clone.latest(), Some(Event::Instances(_))));
    drop(clone);
    eventually("the watch to be cancelled", || async {
        etcd.metric(WATCHERS).await < 1.0
    })
    .await;
    // The client (a shared connection) is still usable.
    drop(client);
}
