//! Balancer semantics, including go-kit's own scenarios.

use std::time::Duration;

use sd_core::{
    BoxError, EndpointSource, Endpointer, Error as CoreError, FixedEndpointer, Instance,
    InstanceCache, Instances,
};
use sd_lb::{Balancer, Error, Random, RoundRobin};
use tokio::runtime::Runtime;

fn fixed(n: usize) -> FixedEndpointer<usize> {
    FixedEndpointer::new((0..n).map(|i| (format!("10.0.0.{i}:80"), i)))
}

#[test]
fn round_robin_picks_in_turn_from_zero() {
    let mut rr = RoundRobin::new(fixed(3));
    let picks: Vec<usize> = (0..7).map(|_| **rr.endpoint().unwrap()).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
}

/// Publishes `ids` and waits until `balancer` sees the new list.
fn settle<B: Balancer>(rt: &Runtime, cache: &InstanceCache, balancer: &mut B, ids: &[&str]) {
    assert!(
        cache.update(Instances::new(ids.iter().copied())),
        "a new state"
    );
    rt.block_on(async {
        let changed = std::future::poll_fn(|cx| balancer.poll_changed(cx));
        tokio::time::timeout(Duration::from_secs(10), changed)
            .await
            .expect("the endpointer publishes the new list");
    });
}

#[test]
fn round_robin_counter_holds_on_errors_and_survives_set_changes() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let cache = InstanceCache::new();
    let endpointer = Endpointer::new(&cache, |i: &Instance| -> Result<String, BoxError> {
        Ok(i.id().to_owned())
    })
    .unwrap();
    let mut rr = RoundRobin::new(endpointer);

    let err = rr.endpoint().unwrap_err();
    assert!(err.is_no_endpoints());
    assert_eq!(err.to_string(), "no endpoints available");

    settle(&rt, &cache, &mut rr, &["a", "b", "c"]);
    // The failed pick did not move the counter: the first pick is index 0.
    assert_eq!(rr.endpoint().unwrap().get_ref(), "a");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "b");
    // A new set does not reset the counter: the third pick is index 2 of the new set.
    settle(&rt, &cache, &mut rr, &["a", "b", "c", "d"]);
    assert_eq!(rr.endpoint().unwrap().get_ref(), "c");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "d");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "a");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "b");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "c");
    // An empty set fails the pick and leaves the cursor (at 3) where it was.
    settle(&rt, &cache, &mut rr, &[]);
    assert!(rr.endpoint().unwrap_err().is_no_endpoints());
    // A set that shrank below the cursor: it wraps (3 of a set of 2 is index 1), and
    // goes on in turn from there.
    settle(&rt, &cache, &mut rr, &["a", "b"]);
    assert_eq!(rr.endpoint().unwrap().get_ref(), "b");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "a");
    assert_eq!(rr.endpoint().unwrap().get_ref(), "b");
}

#[test]
fn random_is_uniform_over_seven_endpoints() {
    let mut random = Random::with_seed(fixed(7), 1);
    let mut counts = [0u32; 7];
    let picks = 1_000_000;
    for _ in 0..picks {
        counts[**random.endpoint().unwrap()] += 1;
    }
    let mean = f64::from(picks) / 7.0;
    for (i, &c) in counts.iter().enumerate() {
        let off = (f64::from(c) - mean).abs() / mean;
        assert!(off < 0.01, "endpoint {i}: {c} picks, {off:.4} off the mean");
    }
}

#[test]
fn random_is_reproducible_by_seed() {
    let mut a = Random::with_seed(fixed(100), 99);
    let mut b = Random::with_seed(fixed(100), 99);
    let seq = |r: &mut Random<_>| (0..50).map(|_| **r.endpoint().unwrap()).collect::<Vec<_>>();
    let first = seq(&mut a);
    assert_eq!(first, seq(&mut b));
    assert!(
        first.iter().any(|&i| i != first[0]),
        "not constant: {first:?}"
    );
}

/// Each thread picks through a clone of its own, with a generator of its own.
#[test]
fn random_is_safe_and_uniform_across_threads() {
    let random = Random::new(fixed(4));
    let counts: Vec<[u32; 4]> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let mut random = random.clone();
                s.spawn(move || {
                    let mut counts = [0u32; 4];
                    for _ in 0..100_000 {
                        counts[**random.endpoint().unwrap()] += 1;
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for i in 0..4 {
        let total: u32 = counts.iter().map(|c| c[i]).sum();
        // 400,000 picks over 4: mean 100,000, standard deviation about 274.
        assert!((95_000..105_000).contains(&total), "endpoint {i}: {total}");
    }
}

#[test]
fn empty_sources_fail_with_no_endpoints() {
    let empty: FixedEndpointer<usize> = FixedEndpointer::new(Vec::<(&str, usize)>::new());
    assert!(
        RoundRobin::new(empty.clone())
            .endpoint()
            .unwrap_err()
            .is_no_endpoints()
    );
    assert!(Random::new(empty).endpoint().unwrap_err().is_no_endpoints());
}

#[tokio::test(start_paused = true)]
async fn endpointer_errors_pass_through_unchanged() {
    let cache = InstanceCache::with_state(Instances::new(["a"]));
    let mut endpointer = Endpointer::builder()
        .invalidate_on_error(Duration::ZERO)
        .build(&cache, |i: &Instance| -> Result<String, BoxError> {
            Ok(i.id().to_owned())
        })
        .unwrap();
    cache.update(CoreError::discovery("registry unreachable"));
    endpointer.changed().await;
    for err in [
        RoundRobin::new(endpointer.clone()).endpoint().unwrap_err(),
        Random::new(endpointer.clone()).endpoint().unwrap_err(),
    ] {
        assert_eq!(
            err,
            Error::Discovery(CoreError::discovery("registry unreachable"))
        );
        assert_eq!(err.to_string(), "registry unreachable");
    }
    endpointer.close();
    let closed = RoundRobin::new(endpointer.clone()).endpoint().unwrap_err();
    assert!(matches!(closed, Error::Discovery(e) if e.is_closed()));
    assert!(endpointer.endpoints().is_err());
}

#[test]
fn picks_carry_the_instance() {
    let source = FixedEndpointer::new([(Instance::builder("a:1").zone("z").build(), ())]);
    let mut rr = RoundRobin::new(source);
    let picked = rr.endpoint().unwrap();
    assert_eq!(picked.instance().zone(), Some("z"));
}
