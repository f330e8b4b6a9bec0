//! The instance cache's contract with subscribers, over its public API.

use std::time::Duration;

use sd_core::{Error, Event, Instance, InstanceCache, Instancer, Instances};

fn ids(event: &Event) -> Vec<String> {
    event
        .instances()
        .map(|s| s.ids().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn subscriber_gets_current_state_at_once_then_changes() {
    let cache = InstanceCache::new();
    cache.update(Instances::new(["b:1", "a:1"]));

    let mut sub = cache.subscribe();
    let first = sub.next().await.expect("current state");
    assert_eq!(ids(&first), ["a:1", "b:1"], "updates are sorted");

    cache.update(Instances::new(["c:1"]));
    let second = sub.next().await.expect("change");
    assert_eq!(ids(&second), ["c:1"]);
}

#[tokio::test]
async fn identical_states_are_not_resent() {
    let cache = InstanceCache::new();
    assert!(cache.update(Instances::new(["a:1"])));
    let mut sub = cache.subscribe();
    sub.next().await.expect("current state");

    assert!(!cache.update(Instances::new(["a:1"])), "same set");
    assert!(cache.update(Error::discovery("down")));
    assert!(
        !cache.update(Error::discovery("down")),
        "identical error is not re-sent"
    );
    let got = sub.next().await.expect("the error");
    assert_eq!(got, Event::Error(Error::discovery("down")));

    // A good state after an error is delivered even though it equals the state before.
    assert!(cache.update(Instances::new(["a:1"])));
    assert_eq!(ids(&sub.next().await.expect("recovery")), ["a:1"]);

    // Nothing else is pending.
    let pending = tokio::time::timeout(Duration::from_millis(50), sub.next()).await;
    assert!(pending.is_err(), "no duplicate was queued: {pending:?}");
}

#[tokio::test]
async fn attribute_change_is_a_change() {
    let cache = InstanceCache::with_state(Instances::new([Instance::new("a:1")]));
    let changed = cache.update(Instances::new([Instance::builder("a:1").zone("z").build()]));
    assert!(changed);
}

#[tokio::test]
async fn slow_and_dropped_subscribers_block_nobody() {
    let cache = InstanceCache::new();
    let _never_reads = cache.subscribe();
    let dropped = cache.subscribe();
    drop(dropped);
    let mut reader = cache.subscribe();
    assert_eq!(cache.subscriber_count(), 2);

    // The producer runs far ahead of both subscribers without waiting.
    for n in 0..10_000 {
        cache.update(Instances::new([format!("10.0.0.1:{n}")]));
    }
    // A reader that comes back sees the latest state, not a backlog.
    let got = reader.next().await.expect("latest");
    assert_eq!(ids(&got), ["10.0.0.1:9999"]);
    let pending = tokio::time::timeout(Duration::from_millis(20), reader.next()).await;
    assert!(pending.is_err(), "no backlog after the latest state");
}

#[tokio::test]
async fn subscription_ends_when_the_source_goes() {
    let cache = InstanceCache::new();
    let mut sub = cache.subscribe();
    cache.update(Instances::new(["a:1"]));
    drop(cache);
    // The last state is still delivered, then the end.
    assert_eq!(ids(&sub.next().await.expect("last state")), ["a:1"]);
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn latest_marks_the_state_seen() {
    let cache = InstanceCache::with_state(Instances::new(["a:1"]));
    let mut sub = cache.subscribe();
    assert_eq!(ids(&sub.latest().unwrap()), ["a:1"]);
    let pending = tokio::time::timeout(Duration::from_millis(20), sub.next()).await;
    assert!(pending.is_err(), "latest() consumed the current state");
    assert_eq!(ids(&sub.current().unwrap()), ["a:1"]);
}

#[tokio::test]
async fn a_new_cache_has_no_state_until_its_first_update() {
    let cache = InstanceCache::new();
    assert_eq!(cache.state(), None);
    let mut sub = cache.subscribe();
    assert_eq!(sub.current(), None);
    let pending = tokio::time::timeout(Duration::from_millis(20), sub.next()).await;
    assert!(
        pending.is_err(),
        "nothing to deliver before the first update"
    );

    cache.update(Instances::empty());
    let first = sub.next().await.expect("the first state");
    assert_eq!(
        first,
        Event::Instances(Instances::empty()),
        "an empty set is a state"
    );
}
