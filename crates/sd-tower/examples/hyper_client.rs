//! A plain hyper service and client (no axum): the backends are three small hyper echo
//! servers, registered in a registry started in process, and the client calls them by
//! app name through an `sd_tower::HttpClient` (round robin, retries, outlier ejection,
//! one hyper-util connection pool). One backend then crashes while still registered:
//! each `POST` that lands on it fails and goes to the next instance, so every request
//! still succeeds. Then it leaves the registry.
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
use hyper_util::rt::TokioIo;
use sd_core::BoxError;
use sd_eureka::{Connection, InstanceInfo, Instancer, Registrar};
use sd_eureka_server::EurekaServer;
use sd_tower::HttpClient;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt as _;

/// The app the backends register as.
const APP: &str = "echo";

#[path = "support/mod.rs"]
mod support;

use support::wait_until;

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

    // The client: the instances of APP, polled every second, called by app name.
    let connection = Connection::builder()
        .service_url(registry.base_url())
        .poll_interval(Duration::from_secs(1))
        .build()?;
    let instancer = Instancer::new(&connection, APP)?;
    // Echoing has no side effects, so a POST may be sent again. Without this only a
    // refused connection would be retried for POST (the request never left), not one
    // cut on a kept-alive connection by the crash (the backend may have acted on it).
    let client = HttpClient::builder()
        .timeout(Duration::from_secs(2))
        .retry_non_idempotent(true)
        .build(&instancer)?;
    println!("client    HttpClient over the Instancer of {APP}");
    wait_until("the client sees every backend", || {
        client.instances().len() == backends.len()
    })
    .await?;

    for n in 1..=3 {
        ping(&client, n).await?;
    }

    // A crash: the first backend stops answering but is still registered.
    let crashed = backends.remove(0);
    let crashed_id = format!("127.0.0.1:{}", crashed.port);
    crashed.server.abort();
    println!("crashed   :{} (still registered)", crashed.port);
    for n in 4..=6 {
        ping(&client, n).await?;
    }

    // Its registration goes too (here by hand; a real crash lets the lease expire).
    crashed.registrar.deregister().await?;
    wait_until("the client drops the crashed backend", || {
        !client.instances().iter().any(|i| i.id() == crashed_id)
    })
    .await?;
    println!(
        "removed   :{} from the registry; the client followed",
        crashed.port
    );
    for n in 7..=8 {
        ping(&client, n).await?;
    }

    drop(client);
    drop(instancer);
    for backend in backends {
        backend.registrar.deregister().await?;
        backend.server.abort();
    }
    registry.shutdown().await;
    println!("done");
    Ok(())
}

/// Sends `POST http://echo/echo` with `ping N` and prints the answer.
async fn ping(client: &HttpClient, n: u32) -> Result<(), BoxError> {
    let request = Request::builder()
        .method(Method::POST)
        .uri("http://echo/echo")
        .body(Full::new(Bytes::from(format!("ping {n}"))))?;
    let response = client.clone().oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("ping {n}    {status} {}", String::from_utf8_lossy(&body));
    Ok(())
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
