//! An axum gateway: `GET /hello` is forwarded to one of the `hello` backends it discovers
//! through Eureka, via an `sd_tower::HttpClient` held as axum state (round robin, retries,
//! outlier ejection), so a backend that refuses the connection or hangs up costs a retry
//! on the next one, not an error.
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
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::Request;
use http_body_util::Full;
use sd_core::BoxError;
use sd_eureka::{Connection, Instancer};
use sd_eureka_server::EurekaServer;
use sd_tower::HttpClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The app the backends register as and the gateway forwards to.
pub(crate) const APP: &str = "hello";

/// How often the gateway polls the registry.
const POLL: Duration = Duration::from_secs(1);

#[path = "support/mod.rs"]
mod support;

pub(crate) use support::{HelloService as HelloBackend, WAIT};

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

/// The gateway: an axum server whose `/hello` goes to a discovered backend.
pub(crate) struct Gateway {
    addr: SocketAddr,
    /// The backends' client (the handlers hold clones).
    client: HttpClient,
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
        let client = HttpClient::builder()
            .ready_timeout(Duration::from_secs(2))
            .build(&Instancer::new(&connection, APP)?)?;
        let app = Router::new()
            .route("/hello", get(hello))
            .route("/backends", get(backends))
            .with_state(client.clone());
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
            client,
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
        ids(&self.client)
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

    /// Stops accepting and finishes the requests in flight (bounded); the backends'
    /// client goes with the last handler.
    pub(crate) async fn stop(self) -> Result<(), BoxError> {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.server).await???;
        Ok(())
    }
}

/// `GET /hello`: forwarded to a backend; what it answered streams back, 502 when no
/// backend did.
async fn hello(State(client): State<HttpClient>) -> Response {
    let request = match Request::get("http://hello/hello").body(Full::default()) {
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

/// `GET /backends`: the backends on offer, one `ip:port` a line.
async fn backends(State(client): State<HttpClient>) -> String {
    ids(&client).join("\n")
}

/// The identities (`ip:port`) of the instances `client` has on offer.
fn ids(client: &HttpClient) -> Vec<String> {
    client
        .instances()
        .iter()
        .map(|instance| instance.id().to_owned())
        .collect()
}
