//! A balancer pick runs on every request: it must not allocate.
//!
//! dhat counts every thread's allocations, so this binary runs without libtest's harness
//! (`harness = false`): its main thread is the only thread there is, and nothing else can
//! allocate while it measures, however loaded the machine.

use std::sync::Arc;

use sd_core::{BoxError, Endpointer, FixedEndpointer, Instance, InstanceCache, Instances};
use sd_lb::{Balancer, Outcome, OutlierConfig, Outliers, Random, RoundRobin, ZoneAware};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

fn main() {
    picks_do_not_allocate();
    filtered_picks_and_reports_do_not_allocate();
    // The closing line test runners print, for whoever reads the log.
    println!("pick_allocations: 2 passed, 0 failed");
}

fn picks_do_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache =
        InstanceCache::with_state(Instances::new((0..16).map(|i| format!("10.0.0.{i}:80"))));
    let endpointer = rt
        .block_on(async {
            Endpointer::new(&cache, |i: &Instance| -> Result<Arc<str>, BoxError> {
                Ok(Arc::from(i.id()))
            })
        })
        .unwrap();
    // Each balancer reads through its own clone of the endpointer, as threads do; the
    // shared-counter round robin writes one atomic, which allocates nothing either.
    let mut round_robin = RoundRobin::new(endpointer.clone());
    let mut round_robin_clone = round_robin.clone();
    let mut shared = RoundRobin::shared(endpointer.clone());
    let mut random = Random::with_seed(endpointer.clone(), 3);
    let mut random_clone = random.clone();
    let mut fixed = RoundRobin::new(FixedEndpointer::new([("a:1", 1u8), ("b:1", 2)]));
    let mut fixed_clone = fixed.clone();
    // arc-swap registers each reading thread once, on its first load.
    let _ = round_robin.endpoint();

    let n = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(round_robin.endpoint().is_ok());
            assert!(round_robin_clone.endpoint().is_ok());
            assert!(shared.endpoint().is_ok());
            assert!(random.endpoint().is_ok());
            assert!(random_clone.endpoint().is_ok());
            assert!(fixed.endpoint().is_ok());
            assert!(fixed_clone.endpoint().is_ok());
        }
    });
    assert_eq!(n, 0, "picks allocated {n} blocks");

    let mut empty = RoundRobin::new(FixedEndpointer::<u8>::new(Vec::<(&str, u8)>::new()));
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(empty.endpoint().unwrap_err().is_no_endpoints());
        }
    });
    assert_eq!(n, 0, "failing picks allocated {n} blocks");
}

/// `ZoneAware` and `Outliers` filter a published list once; reads of the same list, and
/// reports about instances in it, allocate nothing (here with one endpoint set aside, so
/// the read path also reads the clock).
fn filtered_picks_and_reports_do_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let source = FixedEndpointer::new((0..16).map(|i| {
        let zone = if i % 2 == 0 { "a" } else { "b" };
        (
            Instance::builder(format!("10.0.0.{i}:80"))
                .zone(zone)
                .build(),
            i,
        )
    }));
    let mut picker = RoundRobin::new(ZoneAware::new(
        Outliers::new(source, OutlierConfig::default().consecutive_failures(1)),
        "a",
    ));
    // The first read filters (and allocates); then set one endpoint aside, and read again.
    let first = picker.endpoint().unwrap().clone();
    let detector = picker.source().source().detector().clone();
    detector.report(first.instance(), Outcome::Failure);
    let _ = picker.endpoint();
    // A clone, as another thread would have, once it has read the filtered lists too.
    let mut clone = picker.clone();
    let _ = clone.endpoint();

    let n = allocations_during(|| {
        for _ in 0..10_000 {
            for picker in [&mut picker, &mut clone] {
                let endpoint = picker.endpoint().unwrap();
                assert_eq!(endpoint.instance().zone(), Some("a"));
                assert_ne!(endpoint.instance().id(), first.instance().id());
                detector.report(endpoint.instance(), Outcome::Success);
            }
        }
        detector.report_id("10.0.0.2:80", Outcome::Failure);
        detector.report_id("10.0.0.2:80", Outcome::Success);
    });
    assert_eq!(n, 0, "filtered picks and reports allocated {n} blocks");
}
