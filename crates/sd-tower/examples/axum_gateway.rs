//! An axum gateway: `GET /hello` is forwarded to one of the `hello` backends it discovers
//! through Eureka, via `sd_tower::Balanced` (round robin) under `sd_tower::RetryLayer`, so
//! a backend that refuses the connection costs a retry on the next one, not an error.
//! `GET /backends` lists the backends the gateway currently sees.
//!
//! For a self-contained demo, `main` also starts a registry (`sd-eureka-server`) and three
//! backends registered with it, all in process. Run it with
//! `cargo run -p sd-tower --example axum_gateway [ADDR]` (ADDR defaults to
//! `127.0.0.1:3000`), then `curl http://127.0.0.1:3000/hello`; Ctrl-C stops it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sd_core::{BoxError, Endpointer, Instance};
use sd_eureka::{Connection, Instancer};
use sd_eureka_server::EurekaServer;
use sd_lb::RoundRobin;
use sd_tower::{BalancedLayer, RetryLayer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt as _};

/// The app the backends register as and the gateway forwards to.
pub(crate) const APP: &str = "hello";

/// How often the gateway polls the registry.
const POLL: Duration = Duration::from_secs(1);

#[path = "support/mod.rs"]
mod support;

pub(crate) use support::{HelloService as HelloBackend, WAIT};
use support::{aimed, endpoint_ids};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:3000")
        .parse()?;

    let registry = EurekaServer::builder()
        .addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .bind()
        .await?;
    let eureka = Connection::new([registry.base_url()])?;
    let mut backends = Vec::new();
    for _ in 0..3 {
        backends.push(HelloBackend::start(&eureka, APP).await?);
    }

    let gateway = Gateway::start(listen, &registry.base_url()).await?;
    gateway
        .wait_for(|seen| seen.len() == backends.len())
        .await?;
    println!("registry  {}", registry.base_url());
    let ports: Vec<String> = backends.iter().map(|b| format!(":{}", b.port())).collect();
    println!("backends  {APP} on {}", ports.join(" "));
    println!(
        "gateway   http://{}/hello (and /backends); Ctrl-C to stop",
        gateway.addr()
    );

    tokio::signal::ctrl_c().await?;
    gateway.stop().await?;
    for backend in backends {
        backend.stop().await?;
    }
    registry.shutdown().await;
    println!("stopped");
    Ok(())
}

/// The gateway's view of one backend: the shared hyper client, aimed at that instance.
type Upstream = BoxCloneSyncService<Request<Empty<Bytes>>, http::Response<Incoming>, BoxError>;

/// The gateway: an axum server whose `/hello` goes to a discovered backend.
pub(crate) struct Gateway {
    addr: SocketAddr,
    endpointer: Endpointer<Upstream>,
    /// Kept for as long as the gateway runs: the registry poller stops with the last
    /// instancer.
    _instancer: Instancer,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    /// Starts the gateway on `listen` (port 0 picks a free one), discovering `hello`
    /// backends through the Eureka registry at `registry`.
    pub(crate) async fn start(listen: SocketAddr, registry: &str) -> Result<Self, BoxError> {
        let connection = Connection::builder()
            .service_url(registry)
            .poll_interval(POLL)
            .build()?;
        let instancer = Instancer::new(&connection, APP)?;
        let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let endpointer = Endpointer::new(&instancer, move |instance: &Instance| {
            let upstream = aimed(&http, instance)?.map_err(BoxError::from);
            Ok::<_, BoxError>(BoxCloneSyncService::new(upstream))
        })?;
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(3, Duration::from_secs(5)))
            .layer(BalancedLayer::new(Duration::from_secs(2)))
            .service(RoundRobin::new(endpointer.clone()));

        let discovered = endpointer.clone();
        let app = Router::new()
            .route("/hello", get(move || forward(client.clone(), "/hello")))
            .route(
                "/backends",
                get(move || std::future::ready(endpoint_ids(&mut discovered.clone()).join("\n"))),
            );
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            addr,
            endpointer,
            _instancer: instancer,
            stop,
            server,
        })
    }

    /// Where the gateway listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backends the gateway currently sends requests to (`ip:port`).
    pub(crate) fn backends(&self) -> Vec<String> {
        endpoint_ids(&mut self.endpointer.clone())
    }

    /// Waits (at most [`WAIT`]) until the backends on offer satisfy `done`.
    pub(crate) async fn wait_for(&self, done: impl Fn(&[String]) -> bool) -> Result<(), BoxError> {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.backends();
            if done(&seen) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("after {WAIT:?} the gateway still sees {seen:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops accepting, finishes the requests in flight (bounded), and closes the
    /// backends' endpoints.
    pub(crate) async fn stop(self) -> Result<(), BoxError> {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.server).await???;
        self.endpointer.close();
        Ok(())
    }
}

/// Sends `GET path` through the balanced, retrying client and streams back what the
/// backend answered; 502 when no backend did.
async fn forward<S>(client: S, path: &'static str) -> Response
where
    S: tower::Service<Request<Empty<Bytes>>, Response = http::Response<Incoming>, Error = BoxError>,
{
    let request = match Request::get(path).body(Empty::new()) {
        Ok(request) => request,
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
        }
    };
    match client.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            format!("no backend answered: {error}\n"),
        )
            .into_response(),
    }
}
