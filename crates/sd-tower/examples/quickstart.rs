//! The quickstart: a Eureka registry, three hello services and a client that discovers
//! them, all in this one process.
//!
//! - the registry is `sd-eureka-server`, started on a free port;
//! - each service is a small axum app that keeps itself registered with an
//!   `sd_eureka::Registrar` (a heartbeat every second);
//! - the client follows the services with an `sd_eureka::Instancer` (a poll every second),
//!   makes a hyper client per instance with an `sd_core::Endpointer`, and sends each
//!   request through `sd_tower::Balanced` over an `sd_lb::RoundRobin` balancer, with
//!   `sd_tower::RetryLayer` on top.
//!
//! It spreads requests over the three services, marks one DOWN, shows the traffic move to
//! the other two within one poll, and shuts everything down.
//!
//! Run with `cargo run -p sd-tower --example quickstart`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sd_core::{BoxError, Endpointer, Instance};
use sd_eureka::{Connection, Instancer, Status};
use sd_eureka_server::EurekaServer;
use sd_lb::RoundRobin;
use sd_tower::{Balanced, RetryLayer};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt as _};

/// The app name the services register under and the client looks up.
const APP: &str = "hello";

/// Requests per round.
const REQUESTS: usize = 30;

/// How often the client polls the registry.
const POLL: Duration = Duration::from_secs(1);

#[path = "support/mod.rs"]
mod support;

use support::{HelloService, aimed, endpoint_ids, wait_until};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    run(&mut std::io::stdout()).await
}

/// The whole quickstart, writing its report to `out`.
pub(crate) async fn run(out: &mut impl Write) -> Result<(), BoxError> {
    let started = Instant::now();

    // The registry, on a free port.
    let registry = EurekaServer::builder()
        .addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .bind()
        .await?;
    writeln!(out, "registry  {} (in process)", registry.base_url())?;

    // Three services, each registering itself.
    let eureka = Connection::new([registry.base_url()])?;
    let mut services = Vec::new();
    for _ in 0..3 {
        services.push(HelloService::start(&eureka, APP).await?);
    }
    let mut ports: Vec<u16> = services.iter().map(HelloService::port).collect();
    ports.sort_unstable();
    let ports: Vec<String> = ports.iter().map(|port| format!(":{port}")).collect();
    writeln!(
        out,
        "services  {APP} on {}, each kept registered by a Registrar",
        ports.join(" ")
    )?;

    // The client: instancer → endpointer (a hyper client per instance) → round robin →
    // balanced service, with retry on top.
    let connection = Connection::builder()
        .service_url(registry.base_url())
        .poll_interval(POLL)
        .build()?;
    let instancer = Instancer::new(&connection, APP)?;
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let endpointer = Endpointer::new(&instancer, move |instance: &Instance| {
        aimed(&http, instance)
    })?;
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(3, Duration::from_secs(2)))
        .service(Balanced::new(RoundRobin::new(endpointer.clone())));
    writeln!(
        out,
        "client    Instancer (1 s poll) → Endpointer → RoundRobin → Balanced + RetryLayer"
    )?;
    wait_until("the client sees all three services", || {
        endpoint_ids(&mut endpointer.clone()).len() == services.len()
    })
    .await?;

    let spread = send(&mut client, REQUESTS).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;

    // One service goes DOWN: the registry stops listing it, and at the next poll the
    // client stops sending it requests.
    let down = &services[0];
    down.registrar().set_status(Status::Down).await?;
    let marked = Instant::now();
    wait_until("the client drops the DOWN service", || {
        !endpoint_ids(&mut endpointer.clone()).contains(&down.id())
    })
    .await?;
    writeln!(
        out,
        "down      :{} marked DOWN; the client dropped it {:.1} s later",
        down.port(),
        marked.elapsed().as_secs_f64()
    )?;

    let spread = send(&mut client, REQUESTS).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;

    // Shut down: the client first, then each service deregisters and stops, then the
    // registry.
    drop(client);
    endpointer.close();
    drop(instancer);
    for service in services {
        service.stop().await?;
    }
    registry.shutdown().await;
    writeln!(
        out,
        "done      deregistered the services, stopped everything ({:.1} s in all)",
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// Sends `count` requests through `client`, one after another; counts the answers per
/// service port.
async fn send<S>(client: &mut S, count: usize) -> Result<BTreeMap<u16, usize>, BoxError>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>, Error = BoxError>,
{
    let mut spread = BTreeMap::new();
    for _ in 0..count {
        let request = Request::get("/hello").body(Empty::new())?;
        let response = client.ready().await?.call(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        let text = std::str::from_utf8(&body)?;
        let port: u16 = text
            .strip_prefix("hello from ")
            .ok_or_else(|| format!("unexpected answer {text:?}"))?
            .parse()?;
        *spread.entry(port).or_default() += 1;
    }
    Ok(spread)
}

/// `:41001 10, :41002 10, ...`
fn show(spread: &BTreeMap<u16, usize>) -> String {
    let mut line = String::new();
    for (port, count) in spread {
        if !line.is_empty() {
            line.push_str(", ");
        }
        let _ = write!(line, ":{port} {count}");
    }
    line
}
