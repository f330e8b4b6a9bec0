//! What sd-tower's `Balanced` costs per request over calling the endpoint directly, on one
//! and two threads.
//!
//! The endpoint is a cheap `Clone` tower service whose future is immediately ready, so the
//! figures are the machinery alone. Each measured request is: `poll_ready`, `call`, and one
//! poll of the response future with a no-op waker (it is ready at once).
//!
//! - `direct`: clone the endpoint service, then the request on it.
//! - `balanced`: the request through a `Balanced` over `RoundRobin` over an `Endpointer` of
//!   16 endpoints (the pick, the endpoint service's clone, the tracing span, the response
//!   future that keeps the endpoint to name it in errors).
//! - `balanced + retry`: the same behind sd-tower's `RetryLayer` (3 attempts, 10 s
//!   deadline).
//! - `retry balanced`: `Balanced::retry` with the same settings: the retries fused into
//!   `Balanced` (one lease per request instead of two references), the stack the README
//!   recommends.
//! - `pick only`: the balancer pick alone (`RoundRobin::endpoint()`): the part of
//!   `balanced` that is sd-lb's and sd-core's rather than sd-tower's.
//!
//! The overhead is `balanced` (or `balanced + retry`) − `direct`. On two threads each thread has its own `Balanced`
//! clone (as each task or connection has in a tower stack) over the one shared balancer,
//! and the figure is the time of one request while the other thread does the same.
//!
//! `cargo bench -p sd-tower --bench overhead`

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sd_core::{BoxError, Endpointer, Instance, InstanceCache, Instances};
use sd_lb::{Balancer, RoundRobin};
use sd_tower::{Balanced, RetryLayer};
use tower::{Service, ServiceBuilder};

/// A cheap endpoint: copies the request back, at once.
#[derive(Debug, Clone)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request))
    }
}

/// One request on `service`: `poll_ready`, `call`, one poll of the response future.
fn request<S>(service: &mut S, cx: &mut Context<'_>, n: u64) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        other => panic!("not ready: {other:?}"),
    }
    let future = pin!(service.call(n));
    match future.poll(cx) {
        Poll::Ready(Ok(reply)) => reply,
        Poll::Ready(Err(error)) => panic!("failed: {error:?}"),
        Poll::Pending => panic!("an immediately ready endpoint was pending"),
    }
}

/// Runs `iters` requests on each of `threads` threads at once, each thread with its own
/// state from `make`, and returns the wall time of the slowest thread: criterion's
/// per-iteration figure is then the time of one request under that much contention.
fn per_thread<T>(
    rt: &tokio::runtime::Runtime,
    threads: usize,
    iters: u64,
    make: impl Fn() -> T + Sync,
    op: impl Fn(&mut T, &mut Context<'_>, u64) + Sync,
) -> Duration {
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // RetryLayer's deadline needs the runtime's timer.
                    let _runtime = rt.enter();
                    let mut state = make();
                    let mut cx = Context::from_waker(Waker::noop());
                    start.wait();
                    let t = Instant::now();
                    for n in 0..iters {
                        op(&mut state, &mut cx, n);
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

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let cache =
        InstanceCache::with_state(Instances::new((0..16).map(|i| format!("10.0.0.{i}:8080"))));
    let endpointer = rt
        .block_on(async {
            Endpointer::new(&cache, |_: &Instance| -> Result<Echo, BoxError> {
                Ok(Echo)
            })
        })
        .expect("inside a runtime");
    let round_robin = RoundRobin::new(endpointer);
    let balanced = Balanced::new(round_robin.clone());
    let retried = ServiceBuilder::new()
        .layer(RetryLayer::new(3, Duration::from_secs(10)))
        .service(balanced.clone());
    let fused = balanced
        .clone()
        .retry(RetryLayer::new(3, Duration::from_secs(10)));
    let endpoint = Echo;

    let mut group = c.benchmark_group("request");
    for threads in [1, 2] {
        group.bench_function(format!("direct, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                per_thread(
                    &rt,
                    threads,
                    iters,
                    || black_box(endpoint.clone()),
                    |endpoint, cx, n| {
                        let mut service = endpoint.clone();
                        black_box(request(&mut service, cx, black_box(n)));
                    },
                )
            });
        });
        group.bench_function(format!("pick only, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                per_thread(
                    &rt,
                    threads,
                    iters,
                    || round_robin.clone(),
                    |balancer, _, _| {
                        black_box(balancer.endpoint().is_ok());
                    },
                )
            });
        });
        group.bench_function(format!("balanced, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                per_thread(
                    &rt,
                    threads,
                    iters,
                    || balanced.clone(),
                    |service, cx, n| {
                        black_box(request(service, cx, black_box(n)));
                    },
                )
            });
        });
        group.bench_function(format!("balanced + retry, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                per_thread(
                    &rt,
                    threads,
                    iters,
                    || retried.clone(),
                    |service, cx, n| {
                        black_box(request(service, cx, black_box(n)));
                    },
                )
            });
        });
        group.bench_function(format!("retry balanced, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                per_thread(
                    &rt,
                    threads,
                    iters,
                    || fused.clone(),
                    |service, cx, n| {
                        black_box(request(service, cx, black_box(n)));
                    },
                )
            });
        });
    }
    group.finish();
    drop(rt);
}

criterion_group!(benches, overhead);
criterion_main!(benches);
