//! sd's side of the comparison with go-kit that `cargo xtask bench-peers` prints: the same
//! operations, counts and threads as the Go program in `xtask/peers/gokit/`, under the
//! bench ids that program prints, so the two can be set side by side.
//!
//! Each case reads an `Endpointer` of N endpoints (16 or 100, from a `FixedInstancer`) on
//! T threads at once (1 or 2). Each thread has a reader of its own, as each task or
//! connection has in a service: its own clone of the `Endpointer` or of the balancer
//! (each clone is its own reader, and a balancer's clone has its own cursor or
//! generator). The figure
//! is one call's time while the other thread does the same: the slowest thread's wall
//! time divided by its calls (criterion divides what `iter_custom` returns by the count).
//!
//! - `endpoints-N-tT`: `endpoints()` on the endpointer.
//! - `round_robin-N-tT`: `RoundRobin::endpoint()`, a cursor per clone.
//! - `random-N-tT`: `Random::endpoint()`, a generator per clone.
//! - `round_robin_shared-16-tT`: `RoundRobin::shared`'s `endpoint()`, one counter that
//!   every clone advances: go-kit's round robin, which its peer case measures.
//! - `floor-tT`: the harness alone, a call that only returns a constant: what every
//!   other figure includes besides the operation (the Go program measures its own).
//!
//! Each call's result is consumed as the Go program consumes its own: a read counts when
//! it gave a non-empty list, a pick when it gave an endpoint. Each thread's state goes
//! through `black_box` before every call, so the compiler can neither keep it in
//! registers nor hoist work out of the loop.
//!
//! `cargo bench -p sd-lb --bench peers`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sd_core::{BoxError, EndpointSource, Endpointer, FixedInstancer, Instance};
use sd_lb::{Balancer, Random, RoundRobin};

/// Runs `iters` calls of `op` on each of `threads` threads at once, each on its own state
/// from `make` (made on that thread, before the start), and returns the wall time of the
/// slowest thread.
fn per_thread<T>(
    threads: usize,
    iters: u64,
    make: impl Fn() -> T + Sync,
    op: impl Fn(&mut T) + Sync,
) -> Duration {
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut state = make();
                    start.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        // Through `black_box`, so that nothing of the state is kept in
                        // registers across calls or hoisted out of the loop: every call
                        // reads and writes it as a caller's call would.
                        op(black_box(&mut state));
                    }
                    t.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// What the Go program makes of a read: whether it gave a non-empty list.
fn non_empty<E>(read: Result<&sd_core::Endpoints<E>, sd_core::Error>) -> bool {
    read.is_ok_and(|list| !list.is_empty())
}

/// An endpointer of `n` endpoints whose value is the instance's URL (go-kit's trivial
/// endpoint captures its instance string the same way).
fn endpointer(rt: &tokio::runtime::Runtime, n: usize) -> Endpointer<String> {
    let instancer =
        FixedInstancer::new((0..n).map(|i| format!("10.0.{}.{}:8080", i / 256, i % 256)));
    let endpointer = rt
        .block_on(async {
            Endpointer::new(&instancer, |i: &Instance| -> Result<String, BoxError> {
                Ok(format!("http://{}", i.id()))
            })
        })
        .expect("inside a runtime");
    assert_eq!(
        endpointer.clone().endpoints().map(|e| e.len()).ok(),
        Some(n)
    );
    endpointer
}

fn peers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("peers");
    for threads in [1, 2] {
        group.bench_function(format!("floor-t{threads}"), |b| {
            b.iter_custom(|iters| {
                per_thread(
                    threads,
                    iters,
                    || (),
                    |()| {
                        black_box(1_u8);
                    },
                )
            });
        });
    }
    for n in [16, 100] {
        let endpointer = endpointer(&rt, n);
        for threads in [1, 2] {
            group.bench_function(format!("endpoints-{n}-t{threads}"), |b| {
                b.iter_custom(|iters| {
                    per_thread(
                        threads,
                        iters,
                        || endpointer.clone(),
                        |mine| {
                            black_box(non_empty(mine.endpoints()));
                        },
                    )
                });
            });
            let round_robin = RoundRobin::new(endpointer.clone());
            group.bench_function(format!("round_robin-{n}-t{threads}"), |b| {
                b.iter_custom(|iters| {
                    per_thread(
                        threads,
                        iters,
                        || round_robin.clone(),
                        |mine| {
                            black_box(mine.endpoint().is_ok());
                        },
                    )
                });
            });
            let random = Random::new(endpointer.clone());
            group.bench_function(format!("random-{n}-t{threads}"), |b| {
                b.iter_custom(|iters| {
                    per_thread(
                        threads,
                        iters,
                        || random.clone(),
                        |mine| {
                            black_box(mine.endpoint().is_ok());
                        },
                    )
                });
            });
            if n == 16 {
                // One counter for all clones, as go-kit's round robin has.
                let shared = RoundRobin::shared(endpointer.clone());
                group.bench_function(format!("round_robin_shared-{n}-t{threads}"), |b| {
                    b.iter_custom(|iters| {
                        per_thread(
                            threads,
                            iters,
                            || shared.clone(),
                            |mine| {
                                black_box(mine.endpoint().is_ok());
                            },
                        )
                    });
                });
            }
        }
        endpointer.close();
    }
    group.finish();
    drop(rt);
}

criterion_group!(benches, peers);
criterion_main!(benches);
