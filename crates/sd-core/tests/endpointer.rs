//! The Endpointer end to end: its task, the tokio clock, closing and dropping.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_core::factory::{Built, closing};
use sd_core::{
    BoxError, EndpointSource, Endpointer, Error, Factory, Instance, InstanceCache, Instancer,
    Instances,
};

#[derive(Clone, Default)]
struct Closed(Arc<Mutex<Vec<String>>>);

impl Closed {
    fn factory(&self) -> impl Factory<Endpoint = String> + use<> {
        let closed = self.0.clone();
        closing(move |i: &Instance| {
            let closed = closed.clone();
            let id = i.id().to_owned();
            Ok(Built::with_closer(id.clone(), move || {
                closed.lock().unwrap().push(id);
            }))
        })
    }

    fn list(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn ids(endpointer: &mut Endpointer<String>) -> Result<Vec<String>, Error> {
    Ok(endpointer
        .endpoints()?
        .iter()
        .map(|e| e.get_ref().clone())
        .collect())
}

/// Lets the endpointer's task run, for checks that something did *not* happen or that
/// the task ended (no publish to wait for then).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn usable_at_once_and_follows_updates() {
    let cache = InstanceCache::with_state(Instances::new(["b:1", "a:1"]));
    let closed = Closed::default();
    let mut endpointer = Endpointer::new(&cache, closed.factory()).unwrap();
    assert_eq!(ids(&mut endpointer).unwrap(), ["a:1", "b:1"]);

    cache.update(Instances::new(["a:1", "c:1"]));
    endpointer.changed().await;
    assert_eq!(ids(&mut endpointer).unwrap(), ["a:1", "c:1"]);
    assert_eq!(closed.list(), ["b:1"]);
}

#[tokio::test(start_paused = true)]
async fn gokit_invalidation_with_the_tokio_clock() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let closed = Closed::default();
    let mut endpointer = Endpointer::builder()
        .invalidate_on_error(Duration::from_millis(100))
        .build(&cache, closed.factory())
        .unwrap();

    cache.update(Error::discovery("first"));
    endpointer.changed().await;
    assert_eq!(
        ids(&mut endpointer).unwrap(),
        ["a"],
        "+0 ms keeps the endpoint"
    );

    tokio::time::advance(Duration::from_millis(50)).await;
    assert_eq!(
        ids(&mut endpointer).unwrap(),
        ["a"],
        "+50 ms keeps the endpoint"
    );

    tokio::time::advance(Duration::from_millis(100)).await;
    // The task publishes the failure at the deadline; readers read no clock.
    endpointer.changed().await;
    let err = ids(&mut endpointer).unwrap_err();
    assert_eq!(
        err.to_string(),
        "first",
        "+150 ms fails with the first error"
    );
    assert_eq!(
        closed.list(),
        ["a"],
        "the endpoint was closed at the deadline"
    );

    cache.update(Error::discovery("second"));
    endpointer.changed().await;
    assert_eq!(ids(&mut endpointer).unwrap_err().to_string(), "first");
    // Every read while failed returns the error, and so does a reader made meanwhile.
    assert_eq!(ids(&mut endpointer).unwrap_err().to_string(), "first");
    let mut made_while_failed = endpointer.clone();
    assert_eq!(
        ids(&mut made_while_failed).unwrap_err().to_string(),
        "first"
    );

    cache.update(Instances::new(["a"]));
    endpointer.changed().await;
    assert_eq!(
        ids(&mut endpointer).unwrap(),
        ["a"],
        "a good event rebuilds"
    );
    assert_eq!(ids(&mut made_while_failed).unwrap(), ["a"]);
}

#[tokio::test(start_paused = true)]
async fn errors_keep_last_known_good_by_default() {
    let cache = InstanceCache::with_state(Instances::new(["a", "b"]));
    let mut endpointer = Endpointer::new(&cache, Closed::default().factory()).unwrap();
    cache.update(Error::discovery("down"));
    endpointer.changed().await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(ids(&mut endpointer).unwrap(), ["a", "b"]);
}

#[tokio::test]
async fn close_is_idempotent_closes_live_endpoints_and_unsubscribes() {
    let cache = InstanceCache::with_state(Instances::new(["a", "b"]));
    let closed = Closed::default();
    let endpointer = Endpointer::new(&cache, closed.factory()).unwrap();
    let mut clone = endpointer.clone();
    assert_eq!(cache.subscriber_count(), 1);

    endpointer.close();
    assert_eq!(closed.list(), ["a", "b"], "closed before close() returns");
    clone.close();
    assert_eq!(closed.list(), ["a", "b"], "second close does nothing");
    assert!(clone.endpoints().unwrap_err().is_closed());

    cache.update(Instances::new(["c"]));
    settle().await;
    assert_eq!(cache.subscriber_count(), 0, "the task is gone");
    assert_eq!(
        closed.list(),
        ["a", "b"],
        "nothing built or closed after close"
    );
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_task_and_closes() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let closed = Closed::default();
    let endpointer = Endpointer::new(&cache, closed.factory()).unwrap();
    let clone = endpointer.clone();
    drop(endpointer);
    assert!(closed.list().is_empty(), "a clone is still alive");
    drop(clone);
    assert_eq!(closed.list(), ["a"]);
    settle().await;
    assert_eq!(cache.subscriber_count(), 0);
}

#[tokio::test]
async fn factory_runs_only_for_new_instances() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut endpointer = Endpointer::new(&cache, move |i: &Instance| -> Result<String, BoxError> {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(i.id().to_owned())
    })
    .unwrap();
    for set in [&["a", "b"][..], &["a", "b"], &["b"], &["a", "b"]] {
        // An update equal to the current state is not sent, so nothing is published.
        if cache.update(Instances::new(set.iter().copied())) {
            endpointer.changed().await;
        }
    }
    assert_eq!(ids(&mut endpointer).unwrap(), ["a", "b"]);
    // a, b, then a again after it was removed.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_closer_may_call_back_into_the_endpointer() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let slot: Arc<Mutex<Option<Endpointer<String>>>> = Arc::default();
    let seen = Arc::new(Mutex::new(None));
    let (slot2, seen2) = (slot.clone(), seen.clone());
    let factory = closing(move |i: &Instance| {
        let (slot, seen) = (slot2.clone(), seen2.clone());
        Ok(Built::with_closer(i.id().to_owned(), move || {
            let ep = slot.lock().unwrap().clone();
            if let Some(mut ep) = ep {
                *seen.lock().unwrap() = Some(ep.endpoints().map(|e| e.len()));
            }
        }))
    });
    let mut endpointer = Endpointer::new(&cache, factory).unwrap();
    *slot.lock().unwrap() = Some(endpointer.clone());
    cache.update(Instances::empty());
    endpointer.changed().await;
    // The hook ran without deadlocking and saw the list without the removed endpoint.
    assert_eq!(*seen.lock().unwrap(), Some(Ok(0)));
    slot.lock().unwrap().take();
}

#[test]
fn building_outside_a_runtime_is_a_typed_error() {
    let cache = InstanceCache::new();
    let err = Endpointer::new(&cache, |i: &Instance| -> Result<String, BoxError> {
        Ok(i.id().to_owned())
    })
    .unwrap_err();
    assert!(err.is_no_runtime());
}

#[tokio::test]
async fn keeps_last_state_when_the_instancer_goes_away() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let mut endpointer = Endpointer::new(&cache, Closed::default().factory()).unwrap();
    drop(cache);
    settle().await;
    assert_eq!(ids(&mut endpointer).unwrap(), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_on_other_threads_see_every_published_list_whole() {
    let cache = Arc::new(InstanceCache::new());
    let endpointer = Endpointer::new(&*cache, |i: &Instance| -> Result<String, BoxError> {
        Ok(i.id().to_owned())
    })
    .unwrap();
    let reader = {
        let mut endpointer = endpointer.clone();
        tokio::task::spawn_blocking(move || {
            let mut reads = 0u64;
            loop {
                let eps = endpointer.endpoints().unwrap();
                // Every published list is some n: ["0", "1", ..., "n-1"] in byte order.
                let n = eps.len();
                let mut expected: Vec<String> = (0..n).map(|k| k.to_string()).collect();
                expected.sort();
                let got: Vec<String> = eps.iter().map(|e| e.get_ref().clone()).collect();
                assert_eq!(got, expected);
                reads += 1;
                if n == 50 {
                    return reads;
                }
            }
        })
    };
    for n in 1..=50 {
        cache.update(Instances::new((0..n).map(|k| k.to_string())));
        tokio::task::yield_now().await;
    }
    let reads = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("reader finished")
        .unwrap();
    assert!(reads > 0);
}

#[tokio::test]
async fn instancer_trait_objects_work() {
    let cache: Arc<dyn Instancer + Send + Sync> =
        Arc::new(InstanceCache::with_state(Instances::new(["x"])));
    let mut endpointer = Endpointer::new(&cache, Closed::default().factory()).unwrap();
    assert_eq!(ids(&mut endpointer).unwrap(), ["x"]);
}

/// A timeout too long for the clock (`Duration::MAX`) means errors never invalidate; the
/// task lives on and follows later events.
#[tokio::test]
async fn an_endless_invalidation_timeout_keeps_the_task_alive() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let closed = Closed::default();
    let mut endpointer = Endpointer::builder()
        .invalidate_on_error(Duration::MAX)
        .build(&cache, closed.factory())
        .unwrap();
    cache.update(Error::discovery("down"));
    settle().await;
    assert_eq!(ids(&mut endpointer).unwrap(), ["a"]);
    cache.update(Instances::new(["a", "b"]));
    settle().await;
    assert_eq!(
        ids(&mut endpointer).unwrap(),
        ["a", "b"],
        "the task still runs"
    );
    assert!(closed.list().is_empty());
}
