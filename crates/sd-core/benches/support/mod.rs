//! Shared by the benches of sd-core and sd-lb (the latter includes this file by path).

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs an operation `iters` times on each of `threads` threads at once and returns the
/// wall time of the slowest thread, so criterion's per-iteration figure is the cost of one
/// operation under that much contention.
///
/// Each thread calls `make` once, before the clock starts, for an operation of its own:
/// readers are per thread (a clone each), as in a real service.
pub(crate) fn concurrently<F>(threads: usize, iters: u64, make: impl Fn() -> F + Sync) -> Duration
where
    F: FnMut(),
{
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut op = make();
                    start.wait();
                    let t = Instant::now();
                    (0..iters).for_each(|_| op());
                    t.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}
