//! A balancer pick over an `Endpointer`, on one and two threads.
//!
//! `cargo bench -p sd-lb --bench balancer`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sd_core::{BoxError, Endpointer, Instance, InstanceCache, Instances};
use sd_lb::{Balancer, Random, RoundRobin};

#[path = "../../sd-core/benches/support/mod.rs"]
mod support;
use support::concurrently;

fn picks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cache =
        InstanceCache::with_state(Instances::new((0..16).map(|i| format!("10.0.0.{i}:8080"))));
    let endpointer = rt
        .block_on(async {
            Endpointer::new(&cache, |i: &Instance| -> Result<Arc<str>, BoxError> {
                Ok(Arc::from(i.id()))
            })
        })
        .expect("inside a runtime");
    // Each thread picks through a clone of its own (see `concurrently`).
    let round_robin = RoundRobin::new(endpointer.clone());
    let random = Random::new(endpointer);

    let mut group = c.benchmark_group("pick");
    for threads in [1, 2] {
        group.bench_function(format!("round robin, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                concurrently(threads, iters, || {
                    let mut round_robin = round_robin.clone();
                    move || drop(black_box(round_robin.endpoint()))
                })
            });
        });
        group.bench_function(format!("random, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                concurrently(threads, iters, || {
                    let mut random = random.clone();
                    move || drop(black_box(random.endpoint()))
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, picks);
criterion_main!(benches);
