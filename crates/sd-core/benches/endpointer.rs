//! The read path (`endpoints()`) on one and two threads, and the write path (an update
//! that diffs a large set).
//!
//! `cargo bench -p sd-core --bench endpointer`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sd_core::{
    BoxError, EndpointSource, Endpointer, Endpoints, Instance, InstanceCache, Instances,
};

mod support;
use support::concurrently;

fn addrs(n: usize, port: usize) -> Instances {
    Instances::new(
        (0..n).map(|i| format!("10.{}.{}.{}:{port}", i / 65536, (i / 256) % 256, i % 256)),
    )
}

fn endpointer(rt: &tokio::runtime::Runtime, cache: &InstanceCache) -> Endpointer<Arc<str>> {
    rt.block_on(async {
        Endpointer::new(cache, |i: &Instance| -> Result<Arc<str>, BoxError> {
            Ok(Arc::from(i.id()))
        })
    })
    .expect("inside a runtime")
}

fn read_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cache = InstanceCache::with_state(addrs(100, 8080));
    let endpointer = endpointer(&rt, &cache);
    let mut group = c.benchmark_group("endpoints");
    for threads in [1, 2] {
        group.bench_function(format!("100 endpoints, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                concurrently(threads, iters, || {
                    let mut endpointer = endpointer.clone();
                    move || {
                        black_box(endpointer.endpoints().map_or(0, |e| e.len()));
                    }
                })
            });
        });
    }
    group.finish();
}

fn write_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("update");
    group.sample_size(20);
    // Alternate between two 10,000-instance sets sharing half their members: each update
    // builds 5,000 endpoints, closes 5,000 and keeps 5,000.
    let (a, b) = (addrs(10_000, 1), {
        let mut both: Vec<Instance> = addrs(5_000, 1).to_vec();
        both.extend(addrs(5_000, 2).iter().cloned());
        Instances::new(both)
    });
    let cache = InstanceCache::with_state(a.clone());
    let mut endpointer = endpointer(&rt, &cache);
    // Outside the routine: criterion calls it several times, and an update to the set
    // already published is (rightly) not published again.
    let mut flip = false;
    group.bench_function("10,000 instances, half replaced", |bench| {
        bench.iter(|| {
            flip = !flip;
            let before = endpointer.endpoints().ok().cloned();
            cache.update(if flip { b.clone() } else { a.clone() });
            // Wait until the endpointer's task has published the new list.
            while let (Some(before), Ok(now)) = (&before, endpointer.endpoints()) {
                if !Endpoints::ptr_eq(before, now) {
                    break;
                }
                std::hint::spin_loop();
            }
        });
    });
    group.finish();
}

criterion_group!(benches, read_path, write_path);
criterion_main!(benches);
