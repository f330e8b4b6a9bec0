//! Requests per second end to end, through sd's tower stack and without it.
//!
//! Three hyper HTTP/1 servers on loopback answer every request with `ok`. One hyper-util
//! client (one connection pool) is aimed at each of them with sd-tower's `HttpEndpoint`
//! (the request's URI rewritten to the instance), the same on every side. Then, for a
//! fixed time, [`TASKS`] tasks each send requests one after another and read every answer:
//!
//! - `direct`: each task calls the three aimed clients in turn, by index;
//! - `balanced`: each task calls `Balanced::retry` (3 attempts within 2 s: `RetryLayer`'s
//!   retries fused into `Balanced`) over `RoundRobin` over an `Endpointer` of the three
//!   instances whose endpoints are those aimed clients; each task has its own stack over
//!   its own endpointer clone, as each connection or task of a service would;
//! - `balanced-noretry`: the same without retries, to tell their share apart;
//! - `httpclient`: `sd_tower::HttpClient` over the same client, as users build it (boxed,
//!   with outlier ejection and the HTTP retry classifier).
//!
//! The rounds alternate (direct, balanced, balanced-noretry, httpclient, direct, …) so that a change in the machine's
//! load falls on both; the figures are each side's medians. Servers and clients share
//! one runtime with two workers, on the two cores: the ratio, not the rate, is the point.
//! On a machine shared with other work the rate swings with that work, so each round also
//! takes the process's CPU time per request (user + system, from `/proc/self/stat`:
//! clients and servers together), which other processes' load moves far less.
//!
//! A bench binary rather than an example: it belongs with the benches (`cargo bench`
//! builds it optimized, `cargo test` does not build it at all), and `cargo xtask
//! bench-peers` runs it after the criterion benches.
//!
//! `cargo bench -p sd-tower --bench e2e [-- --secs S --rounds R]` prints, for each SIDE
//! above, `e2e SIDE RATE` (requests/s) and `e2e SIDE-cpu-us US` (CPU µs per request);
//! other arguments, such as the `--bench` cargo passes or criterion options from `cargo
//! xtask bench`, are ignored.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
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
use sd_tower::http::HttpEndpoint;
use sd_tower::{Balanced, HttpClient, RetryLayer, Tls};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Service, ServiceExt as _};

/// Requests in flight at once: one per task.
const TASKS: usize = 32;

/// Measured seconds per round, and rounds per side, unless the arguments say otherwise.
const SECS: f64 = 1.0;
const ROUNDS: usize = 7;

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
        // Both sides aim each request at its server the same way, with sd-tower's
        // `HttpEndpoint` over the one client: what differs is the machinery above it.
        let aim = |http: &Client<_, Empty<Bytes>>, instance: &Instance| {
            HttpEndpoint::new(http.clone(), instance, Tls::Off, false)
        };
        let aimed: Vec<_> = backends
            .iter()
            .map(|instance| aim(&http, instance).expect("an address"))
            .collect();
        let instancer = FixedInstancer::new(backends);
        let client = HttpClient::builder()
            .tls(Tls::Off)
            .build_with(&instancer, http.clone())
            .expect("inside a runtime");
        let endpointer =
            Endpointer::new(&instancer, move |instance: &Instance| aim(&http, instance))
                .expect("inside a runtime");
        let retry = RetryLayer::new(3, Duration::from_secs(2));

        let direct = || InTurn {
            services: aimed.clone(),
            next: 0,
        };
        // A clone per task: its own reader and cursor, as the other side's index is.
        let round_robin = RoundRobin::new(endpointer.clone());
        let balanced = || Balanced::new(round_robin.clone()).retry(retry.clone());
        let noretry = || Balanced::new(round_robin.clone());
        let whole = || client.clone();

        println!(
            "# {TASKS} tasks, {rounds} round(s) of {secs} s per side, alternating; \
             3 servers on loopback"
        );
        // Warm up each: connections, pools, the allocator.
        rate(&direct, secs / 2.0).await;
        rate(&balanced, secs / 2.0).await;
        rate(&noretry, secs / 2.0).await;
        rate(&whole, secs / 2.0).await;
        let (mut direct_rounds, mut balanced_rounds, mut noretry_rounds, mut whole_rounds) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            direct_rounds.push(rate(&direct, secs).await);
            balanced_rounds.push(rate(&balanced, secs).await);
            noretry_rounds.push(rate(&noretry, secs).await);
            whole_rounds.push(rate(&whole, secs).await);
        }
        let sides = [
            ("direct", direct_rounds),
            ("balanced", balanced_rounds),
            ("balanced-noretry", noretry_rounds),
            ("httpclient", whole_rounds),
        ];
        for (side, rounds) in sides {
            println!("# {side} rounds (requests/s, CPU µs per request): {rounds:.1?}");
            let mut rates: Vec<f64> = rounds.iter().map(|r| r.0).collect();
            println!("e2e {side} {:.0}", median(&mut rates));
            let mut cpu: Vec<f64> = rounds.iter().map(|r| r.1).collect();
            println!("e2e {side}-cpu-us {:.2}", median(&mut cpu));
        }
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
/// through in `secs` seconds, and the process's CPU µs per request meanwhile.
async fn rate<S>(make: &impl Fn() -> S, secs: f64) -> (f64, f64)
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let cpu = cpu_ticks();
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
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ticks() - cpu;
    // Counts of requests and of ticks stay far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let (done, cpu) = (done as f64, cpu as f64);
    (done / elapsed, cpu * 1e6 / TICKS_PER_SEC / done)
}

/// The kernel's unit of process CPU time (`USER_HZ`, 100 on every Linux target).
const TICKS_PER_SEC: f64 = 100.0;

/// This process's CPU time so far, user + system, in ticks of [`TICKS_PER_SEC`].
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux's /proc/self/stat");
    // Fields after the command name (which may hold spaces), from field 3 (state) on:
    // utime and stime are fields 14 and 15.
    let (_, after) = stat
        .rsplit_once(')')
        .expect("a command name in parentheses");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a tick count") };
    field(14) + field(15)
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
