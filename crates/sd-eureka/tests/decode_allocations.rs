//! Decoding allocates a fixed amount per instance, whatever the registry's size: no
//! quadratic growth, no per-document buffers that scale with the input.
//!
//! One test in this binary, because dhat counts every thread's allocations.

use sd_eureka::{Format, decode, encode_applications};

#[path = "../benches/support/registry.rs"]
mod support;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations_per_instance(format: Format, apps: usize, per_app: usize) -> f64 {
    let bytes = encode_applications(&support::registry(apps, per_app), format).unwrap();
    let before = dhat::HeapStats::get().total_blocks;
    let decoded = decode(&bytes, format).unwrap();
    let blocks = dhat::HeapStats::get().total_blocks - before;
    assert_eq!(decoded.into_applications().instance_count(), apps * per_app);
    #[allow(clippy::cast_precision_loss)]
    let per_instance = blocks as f64 / (apps * per_app) as f64;
    per_instance
}

#[test]
fn allocations_per_instance_do_not_grow_with_the_registry() {
    let _profiler = dhat::Profiler::builder().testing().build();
    for format in [Format::Json, Format::Xml] {
        let small = allocations_per_instance(format, 10, 10);
        let large = allocations_per_instance(format, 100, 100);
        // Vec growth adds O(log n) allocations in all, a vanishing share per instance; the
        // per-document fixed costs shrink per instance as the registry grows.
        assert!(
            large <= small + 0.25,
            "{format}: {small:.2} allocations per instance at 100 instances, {large:.2} at 10,000"
        );
        assert!(
            large > 5.0,
            "{format}: implausibly few allocations ({large:.2})"
        );
        println!(
            "{format}: {small:.2} allocations per instance at 100 instances, {large:.2} at 10,000"
        );
    }
}
