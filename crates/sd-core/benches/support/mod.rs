//! Shared by the benches of sd-core and sd-lb (the latter includes this file by path).

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `op` `iters` times on each of `threads` threads at once and returns the wall time
/// of the slowest thread, so criterion's per-iteration figure is the cost of one operation
/// under that much contention.
pub(crate) fn concurrently(threads: usize, iters: u64, op: impl Fn() + Sync) -> Duration {
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
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
