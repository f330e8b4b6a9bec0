//! `endpoints()` is the hot path: it must not allocate, whatever state the endpointer is in.
//!
//! dhat counts every thread's allocations, so this binary runs without libtest's harness
//! (`harness = false`): its main thread is the only thread there is, and nothing else can
//! allocate while it measures, however loaded the machine.

use std::sync::Arc;
use std::time::Duration;

use sd_core::{BoxError, EndpointSource, Endpointer, Error, Instance, InstanceCache, Instances};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

fn main() {
    endpoints_does_not_allocate();
    // The closing line test runners print, for whoever reads the log.
    println!("read_path_allocations: 1 passed, 0 failed");
}

fn endpoints_does_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = InstanceCache::with_state(Instances::new(
        (0..100).map(|i| format!("10.0.{}.{}:8080", i / 256, i % 256)),
    ));
    let endpointer = rt.block_on(async {
        Endpointer::builder()
            .invalidate_on_error(Duration::from_secs(3600))
            .build(&cache, |i: &Instance| -> Result<Arc<str>, BoxError> {
                Ok(Arc::from(i.id()))
            })
    });
    let mut endpointer = endpointer.unwrap();
    // arc-swap registers each reading thread once, on its first load; that one-time
    // allocation is not part of the read path.
    let _ = endpointer.endpoints();

    let ready = allocations_during(|| {
        for _ in 0..10_000 {
            let eps = endpointer.endpoints().unwrap();
            assert_eq!(eps.len(), 100);
        }
    });
    assert_eq!(ready, 0, "endpoints() allocated while ready");

    // Pending invalidation: the endpoints still serve, and the first read after the
    // publish refreshes this reader's copy (a reference-count increment, no allocation).
    cache.update(Error::discovery("down"));
    rt.block_on(endpointer.changed());
    let stale = allocations_during(|| {
        for _ in 0..10_000 {
            assert_eq!(endpointer.endpoints().unwrap().len(), 100);
        }
    });
    assert_eq!(
        stale, 0,
        "endpoints() allocated while invalidation was pending"
    );

    endpointer.close();
    let closed = allocations_during(|| {
        for _ in 0..10_000 {
            assert!(endpointer.endpoints().unwrap_err().is_closed());
        }
    });
    assert_eq!(closed, 0, "endpoints() allocated when closed");
}
