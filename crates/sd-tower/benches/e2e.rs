//! Requests per second end to end, through sd's tower stack and without it.
//!
//! Three hyper HTTP/1 servers on loopback answer every request with `ok`. One hyper-util
//! client (one connection pool) is aimed at each of them, as the examples' factory does
//! (`support::aimed`: the request's URI rewritten to the instance). Then, for a fixed
//! time, [`TASKS`] tasks each send requests one after another and read every answer:
//!
//! - `direct`: each task calls the three aimed clients in turn, by index;
//! - `balanced`: each task calls `RetryLayer` (3 attempts within 2 s) over `Balanced`
//!   over `RoundRobin` over an `Endpointer` of the three instances whose endpoints are
//!   those aimed clients; each task has its own stack over its own endpointer clone, as
//!   each connection or task of a service would.
//!
//! The rounds alternate (direct, balanced, direct, …) so that a change in the machine's
//! load falls on both; the figure is the median rate of each. Servers and clients share
//! one runtime with two workers, on the two cores: the ratio, not the rate, is the point.
//!
//! A bench binary rather than an example: it belongs with the benches (`cargo bench`
//! builds it optimized, `cargo test` does not build it at all), and `cargo xtask
//! bench-peers` runs it after the criterion benches.
//!
//! `cargo bench -p sd-tower --bench e2e [-- --secs S --rounds R]` prints `e2e direct
//! RATE` and `e2e balanced RATE` (requests/s); other arguments, such as the `--bench`
//! cargo passes or criterion options from `cargo xtask bench`, are ignored.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sd_core::{BoxError, Endpointer, FixedInstancer, Instance};
use sd_lb::RoundRobin;
use sd_tower::{Balanced, RetryLayer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Layer as _, Service, ServiceExt as _};

#[path = "../examples/support/mod.rs"]
mod support;

/// Requests in flight at once: one per task.
const TASKS: usize = 32;

/// Measured seconds per round, and rounds per side, unless the arguments say otherwise.
const SECS: f64 = 3.0;
const ROUNDS: usize = 3;

fn main() {
    let (secs, rounds) = options();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut servers = Vec::new();
        for _ in 0..3 {
            servers.push(serve().await);
        }
        let backends: Vec<Instance> = servers.iter().map(|a| a.to_string().into()).collect();
        let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let aimed: Vec<_> = backends
            .iter()
            .map(|instance| support::aimed(&http, instance).expect("an address"))
            .collect();
        let instancer = FixedInstancer::new(backends);
        let endpointer = Endpointer::new(&instancer, move |instance: &Instance| {
            support::aimed(&http, instance)
        })
        .expect("inside a runtime");
        let retry = RetryLayer::new(3, Duration::from_secs(2));

        let direct = || InTurn {
            services: aimed.clone(),
            next: 0,
        };
        // RetryService clones its inner service for each request, so the balancer must be
        // `Clone`: here an `Arc`, one per task (a counter of its own, as the other side's
        // index is).
        let balanced = || {
            let round_robin = RoundRobin::new(endpointer.clone());
            retry.layer(Balanced::new(Arc::new(round_robin)))
        };

        println!(
            "# {TASKS} tasks, {rounds} round(s) of {secs} s per side, alternating; \
             3 servers on loopback"
        );
        // Warm up both: connections, pools, the allocator.
        rate(&direct, secs / 2.0).await;
        rate(&balanced, secs / 2.0).await;
        let (mut direct_rates, mut balanced_rates) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            direct_rates.push(rate(&direct, secs).await);
            balanced_rates.push(rate(&balanced, secs).await);
        }
        println!("# direct rounds: {direct_rates:.0?}");
        println!("# balanced rounds: {balanced_rates:.0?}");
        println!("e2e direct {:.0}", median(&mut direct_rates));
        println!("e2e balanced {:.0}", median(&mut balanced_rates));
        endpointer.close();
    });
}

/// `--secs S` and `--rounds R` from the arguments, else the defaults; the rest is ignored.
fn options() -> (f64, usize) {
    let (mut secs, mut rounds) = (SECS, ROUNDS);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--secs" => secs = pair[1].parse().expect("--secs takes a number of seconds"),
            "--rounds" => rounds = pair[1].parse().expect("--rounds takes a count"),
            _ => {}
        }
    }
    (secs, rounds.max(1))
}

/// The requests per second that [`TASKS`] tasks, each with a service from `make`, get
/// through in `secs` seconds.
async fn rate<S>(make: &impl Fn() -> S, secs: f64) -> f64
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let mut service = make();
        tasks.spawn(async move {
            let mut done = 0_u64;
            while Instant::now() < deadline {
                let request = Request::get("/").body(Empty::new()).expect("a request");
                let ready = service.ready().await.map_err(Into::<BoxError>::into);
                let answer = ready.expect("a ready service").call(request).await;
                let response = answer.map_err(Into::<BoxError>::into).expect("an answer");
                let body = response.into_body().collect().await.expect("a body");
                assert_eq!(body.to_bytes(), "ok");
                done += 1;
            }
            done
        });
    }
    let done: u64 = tasks.join_all().await.into_iter().sum();
    // Counts of requests stay far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let done = done as f64;
    done / started.elapsed().as_secs_f64()
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// The direct side: the aimed clients in turn, by index, as a tower service.
struct InTurn<S> {
    services: Vec<S>,
    next: usize,
}

impl<S: Service<R>, R> Service<R> for InTurn<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.services[self.next].poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        let future = self.services[self.next].call(request);
        self.next = (self.next + 1) % self.services.len();
        future
    }
}

/// A hyper HTTP/1 server on a free loopback port that answers everything with `ok`.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|_: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}
