//! The quickstart: a Eureka registry, three hello services and a client that discovers
//! them, all in this one process.
//!
//! - the registry is `sd-eureka-server`, started on a free port;
//! - each service is a small axum app that keeps itself registered with an
//!   `sd_eureka::Registrar` (a heartbeat every second);
//! - the client follows the services with an `sd_eureka::Instancer` (a poll every second)
//!   and calls them by app name through an `sd_tower::HttpClient`: round robin, retries,
//!   outlier ejection, one connection pool.
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

use http::Request;
use http_body_util::{BodyExt as _, Full};
use sd_core::BoxError;
use sd_eureka::{Connection, Instancer, Status};
use sd_eureka_server::EurekaServer;
use sd_tower::HttpClient;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The app name the services register under and the client looks up.
const APP: &str = "hello";

/// Requests per round.
const REQUESTS: usize = 30;

/// How often the client polls the registry.
const POLL: Duration = Duration::from_secs(1);

#[path = "support/mod.rs"]
mod support;

use support::{HelloService, wait_until};

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

    // The client: the instances of APP, called by app name.
    let connection = Connection::builder()
        .service_url(registry.base_url())
        .poll_interval(POLL)
        .build()?;
    let instancer = Instancer::new(&connection, APP)?;
    let client = HttpClient::builder()
        .timeout(Duration::from_secs(2))
        .build(&instancer)?;
    writeln!(
        out,
        "client    Instancer (1 s poll) → HttpClient (round robin, retries, outlier ejection)"
    )?;
    wait_until("the client sees all three services", || {
        client.instances().len() == services.len()
    })
    .await?;

    let spread = send(&client, REQUESTS).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;

    // One service goes DOWN: the registry stops listing it, and at the next poll the
    // client stops sending it requests.
    let down = &services[0];
    down.registrar().set_status(Status::Down).await?;
    let marked = Instant::now();
    wait_until("the client drops the DOWN service", || {
        !client.instances().iter().any(|i| i.id() == down.id())
    })
    .await?;
    writeln!(
        out,
        "down      :{} marked DOWN; the client dropped it {:.1} s later",
        down.port(),
        marked.elapsed().as_secs_f64()
    )?;

    let spread = send(&client, REQUESTS).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;

    // Shut down: the client first, then each service deregisters and stops, then the
    // registry.
    drop(client);
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
async fn send(client: &HttpClient, count: usize) -> Result<BTreeMap<u16, usize>, BoxError> {
    let mut spread = BTreeMap::new();
    for _ in 0..count {
        let request = Request::get("http://hello/hello").body(Full::default())?;
        let response = client.clone().oneshot(request).await?;
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
