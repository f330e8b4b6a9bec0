//! A balancer pick runs on every request: it must not allocate.
//!
//! dhat counts every thread's allocations, so this binary runs without libtest's harness
//! (`harness = false`): its main thread is the only thread there is, and nothing else can
//! allocate while it measures, however loaded the machine.

use std::sync::Arc;

use sd_core::{BoxError, Endpointer, FixedEndpointer, Instance, InstanceCache, Instances};
use sd_lb::{Balancer, Random, RoundRobin};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

fn main() {
    picks_do_not_allocate();
    // The closing line test runners print, for whoever reads the log.
    println!("pick_allocations: 1 passed, 0 failed");
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
    let round_robin = RoundRobin::new(&endpointer);
    let random = Random::with_seed(&endpointer, 3);
    let fixed = RoundRobin::new(FixedEndpointer::new([("a:1", 1u8), ("b:1", 2)]));
    // arc-swap registers each reading thread once, on its first load.
    let _ = round_robin.endpoint();

    let n = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(round_robin.endpoint().is_ok());
            assert!(random.endpoint().is_ok());
            assert!(fixed.endpoint().is_ok());
        }
    });
    assert_eq!(n, 0, "picks allocated {n} blocks");

    let empty = RoundRobin::new(FixedEndpointer::<u8>::new(Vec::<(&str, u8)>::new()));
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(empty.endpoint().unwrap_err().is_no_endpoints());
        }
    });
    assert_eq!(n, 0, "failing picks allocated {n} blocks");
}
