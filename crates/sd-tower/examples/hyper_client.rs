//! A plain hyper client (no axum) calling the instances it discovers through Eureka:
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(RetryLayer::new(3, 2 s).callback(..))   // attempts within one deadline
//!     .layer(BalancedLayer::default())               // one endpoint per attempt
//!     .service(RoundRobin::new(endpointer))
//! ```
//!
//! where the endpointer makes a hyper-util client service per instance. The backends are
//! three small hyper echo servers, registered in a registry started in process. One of
//! them then crashes while still registered: each request that lands on it is retried on
//! the next instance, so every request still succeeds. Then it leaves the registry.
//!
//! Run with `cargo run -p sd-tower --example hyper_client`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sd_core::{BoxError, Endpointer, Instance};
use sd_eureka::{Connection, InstanceInfo, Instancer, Registrar};
use sd_eureka_server::EurekaServer;
use sd_lb::RoundRobin;
use sd_tower::{BalancedLayer, RetryLayer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::{Service, ServiceBuilder, ServiceExt as _};

/// The app the backends register as.
const APP: &str = "echo";

#[path = "support/mod.rs"]
mod support;

use support::{aimed, endpoint_ids, wait_until};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let registry = EurekaServer::builder()
        .addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .bind()
        .await?;
    println!("registry  {} (in process)", registry.base_url());

    let eureka = Connection::new([registry.base_url()])?;
    let mut backends = Vec::new();
    for _ in 0..3 {
        backends.push(EchoBackend::start(&eureka).await?);
    }
    let ports: Vec<String> = backends.iter().map(|b| format!(":{}", b.port)).collect();
    println!("backends  {APP} on {} (hyper), registered", ports.join(" "));

    // Discovery: the instances of APP, polled every second; a hyper-util client service
    // per instance, all sharing one connection pool.
    let connection = Connection::builder()
        .service_url(registry.base_url())
        .poll_interval(Duration::from_secs(1))
        .build()?;
    let instancer = Instancer::new(&connection, APP)?;
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let endpointer = Endpointer::new(&instancer, move |instance: &Instance| {
        aimed(&http, instance)
    })?;

    // The stack: retry (3 attempts within 2 s, saying what failed) over a balanced service.
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(3, Duration::from_secs(2)).callback(
            |attempt: usize, error: &mut sd_tower::Error| {
                let at = error.instance().map_or("?", |i| i.id());
                println!(
                    "  attempt {attempt} at {at} failed ({}); retrying",
                    cause(error)
                );
                true
            },
        ))
        .layer(BalancedLayer::default())
        .service(RoundRobin::new(endpointer.clone()));
    println!("client    RetryLayer → BalancedLayer → RoundRobin → Endpointer → hyper-util");
    wait_until("the client sees every backend", || {
        endpoint_ids(&mut endpointer.clone()).len() == backends.len()
    })
    .await?;

    for n in 1..=3 {
        ping(&mut client, n).await?;
    }

    // A crash: the first backend stops answering but is still registered.
    let crashed = backends.remove(0);
    let crashed_id = format!("127.0.0.1:{}", crashed.port);
    crashed.server.abort();
    println!("crashed   :{} (still registered)", crashed.port);
    for n in 4..=6 {
        ping(&mut client, n).await?;
    }

    // Its registration goes too (here by hand; a real crash lets the lease expire).
    crashed.registrar.deregister().await?;
    wait_until("the client drops the crashed backend", || {
        !endpoint_ids(&mut endpointer.clone()).contains(&crashed_id)
    })
    .await?;
    println!(
        "removed   :{} from the registry; the client followed",
        crashed.port
    );
    for n in 7..=8 {
        ping(&mut client, n).await?;
    }

    drop(client);
    endpointer.close();
    drop(instancer);
    for backend in backends {
        backend.registrar.deregister().await?;
        backend.server.abort();
    }
    registry.shutdown().await;
    println!("done");
    Ok(())
}

/// Sends `POST /echo` with `ping N` and prints the answer.
async fn ping<S>(client: &mut S, n: u32) -> Result<(), BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Incoming>, Error = BoxError>,
{
    let request = Request::builder()
        .method(Method::POST)
        .uri("/echo")
        .body(Full::new(Bytes::from(format!("ping {n}"))))?;
    let response = client.ready().await?.call(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("ping {n}    {status} {}", String::from_utf8_lossy(&body));
    Ok(())
}

/// The innermost cause of an error (e.g. "Connection refused (os error 111)").
fn cause(error: &sd_tower::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// An echo server on plain hyper: `POST /echo` answers `echo from PORT: BODY`.
struct EchoBackend {
    port: u16,
    registrar: Registrar,
    /// The accept loop; aborting it closes the listener and every connection.
    server: JoinHandle<()>,
}

impl EchoBackend {
    async fn start(eureka: &Connection) -> Result<Self, BoxError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {} // reap finished ones
                let service = service_fn(move |request| echo(port, request));
                connections
                    .spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        let instance = InstanceInfo::builder(APP, port)
            .renewal_interval_secs(1)
            .build();
        let registrar = Registrar::new(eureka.clone(), instance);
        registrar.register().await?;
        Ok(Self {
            port,
            registrar,
            server,
        })
    }
}

async fn echo(port: u16, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    let body = request.into_body().collect().await?.to_bytes();
    let reply = format!("echo from :{port}: {}", String::from_utf8_lossy(&body));
    Ok(Response::new(Full::new(Bytes::from(reply))))
}
