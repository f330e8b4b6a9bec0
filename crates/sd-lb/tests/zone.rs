//! Zone affinity: `ZoneAware` keeps to the caller's zone while it has enough endpoints.

mod common;

use common::{Swappable, ep, ids, zoned};
use sd_core::{EndpointSource, Endpoints, Error as CoreError, FixedEndpointer, Instance};
use sd_lb::{Balancer, Error, Random, RoundRobin, ZoneAware, ZoneChoice};

#[test]
fn picks_stay_in_the_local_zone() {
    let source = Swappable::new(vec![
        zoned("a1", "a"),
        zoned("b1", "b"),
        zoned("a2", "a"),
        zoned("b2", "b"),
    ]);
    let mut rr = RoundRobin::new(ZoneAware::new(source.clone(), "a"));
    let picks: Vec<String> = (0..6).map(|_| (**rr.endpoint().unwrap()).clone()).collect();
    assert_eq!(picks, ["a1", "a2", "a1", "a2", "a1", "a2"]);
    assert_eq!(rr.source().choice(), Some(ZoneChoice::Local));

    let mut random = Random::with_seed(ZoneAware::new(source, "b"), 9);
    for _ in 0..100 {
        assert!(random.endpoint().unwrap().starts_with('b'));
    }
}

#[test]
fn falls_back_to_all_zones_when_the_local_zone_is_empty_and_returns() {
    let source = Swappable::new(vec![zoned("a1", "a"), zoned("b1", "b"), zoned("b2", "b")]);
    let mut zoned_source = ZoneAware::new(source.clone(), "a");
    assert_eq!(ids(&mut zoned_source), ["a1"]);

    source.set(vec![zoned("b1", "b"), zoned("b2", "b")]);
    assert_eq!(ids(&mut zoned_source), ["b1", "b2"]);
    assert_eq!(zoned_source.choice(), Some(ZoneChoice::AllZones));

    source.set(vec![zoned("b1", "b"), zoned("a3", "a"), zoned("b2", "b")]);
    assert_eq!(ids(&mut zoned_source), ["a3"]);
    assert_eq!(zoned_source.choice(), Some(ZoneChoice::Local));
}

#[test]
fn too_few_by_count_or_by_share_falls_back() {
    let source = Swappable::new(vec![
        zoned("a1", "a"),
        zoned("b1", "b"),
        zoned("b2", "b"),
        zoned("b3", "b"),
    ]);
    let mut by_count = ZoneAware::new(source.clone(), "a").min_local(2);
    assert_eq!(ids(&mut by_count).len(), 4);
    assert_eq!(by_count.choice(), Some(ZoneChoice::AllZones));
    // 1 of 4 is 25 %: enough for 25 %, not for 26 %.
    let mut quarter = ZoneAware::new(source.clone(), "a").min_local_percent(25);
    assert_eq!(ids(&mut quarter), ["a1"]);
    let mut more = ZoneAware::new(source.clone(), "a").min_local_percent(26);
    assert_eq!(ids(&mut more).len(), 4);

    source.set(vec![
        zoned("a1", "a"),
        zoned("b1", "b"),
        zoned("a2", "a"),
        zoned("b3", "b"),
    ]);
    assert_eq!(ids(&mut by_count), ["a1", "a2"]);
    assert_eq!(ids(&mut more), ["a1", "a2"]);
    // 0 counts as 1 and percentages above 100 as 100: nothing panics, an empty zone
    // still falls back.
    let mut extreme = ZoneAware::new(source.clone(), "a")
        .min_local(0)
        .min_local_percent(255);
    assert_eq!(ids(&mut extreme).len(), 4);
    let mut max = ZoneAware::new(source, "a").min_local(usize::MAX);
    assert_eq!(ids(&mut max).len(), 4);
}

#[test]
fn instances_without_a_zone_are_in_no_zone() {
    let source = FixedEndpointer::new([
        (Instance::new("plain:1"), 0),
        (Instance::builder("a:1").zone("a").build(), 1),
        (Instance::builder("A:1").zone("A").build(), 2),
    ]);
    let mut zoned_source = ZoneAware::new(source.clone(), "a");
    assert_eq!(ids(&mut zoned_source), ["a:1"]);
    let mut nowhere = ZoneAware::new(source, "");
    assert_eq!(ids(&mut nowhere).len(), 3);
    assert_eq!(nowhere.choice(), Some(ZoneChoice::AllZones));
}

#[test]
fn a_published_list_is_filtered_once() {
    let source = Swappable::new(vec![zoned("a1", "a"), zoned("b1", "b"), zoned("a2", "a")]);
    let mut zoned_source = ZoneAware::new(source.clone(), "a");
    let first = zoned_source.endpoints().unwrap().clone();
    let second = zoned_source.endpoints().unwrap();
    assert!(
        Endpoints::ptr_eq(&first, second),
        "the filtered list is reused"
    );
    // So is it by a clone, which filters nothing itself.
    let mut clone = zoned_source.clone();
    assert!(Endpoints::ptr_eq(&first, clone.endpoints().unwrap()));

    // When every endpoint is local, or on fall-back, the inner list itself is handed on.
    let mut all_local = Swappable::new(vec![zoned("a1", "a"), zoned("a2", "a")]);
    let mut zoned_all = ZoneAware::new(all_local.clone(), "a");
    let inner = all_local.endpoints().unwrap().clone();
    assert!(Endpoints::ptr_eq(zoned_all.endpoints().unwrap(), &inner));
    let mut none_local = ZoneAware::new(all_local, "c");
    assert!(Endpoints::ptr_eq(none_local.endpoints().unwrap(), &inner));

    // A new publication, even with equal contents, is filtered anew.
    source.set(vec![zoned("a1", "a"), zoned("b1", "b"), zoned("a2", "a")]);
    let third = zoned_source.endpoints().unwrap();
    assert!(!Endpoints::ptr_eq(&first, third));
    assert_eq!(ids(&mut zoned_source), ["a1", "a2"]);
}

#[test]
fn errors_and_empty_lists_pass_through() {
    let source = Swappable::new(vec![zoned("a1", "a"), ep("x")]);
    let mut rr = RoundRobin::new(ZoneAware::new(source.clone(), "a"));
    assert_eq!(**rr.endpoint().unwrap(), "a1");

    source.fail(CoreError::discovery("registry unreachable"));
    assert_eq!(
        rr.endpoint().unwrap_err(),
        Error::Discovery(CoreError::discovery("registry unreachable"))
    );
    source.set(Vec::new());
    assert_eq!(rr.endpoint().unwrap_err(), Error::NoEndpoints);
    // An empty list keeps the last choice rather than inventing one.
    assert_eq!(rr.source().choice(), Some(ZoneChoice::Local));
}
