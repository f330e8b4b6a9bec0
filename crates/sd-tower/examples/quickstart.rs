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
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sd_core::{BoxError, EndpointSource, Endpointer, Instance};
use sd_eureka::{Connection, InstanceInfo, Instancer, Registrar, Status};
use sd_eureka_server::EurekaServer;
use sd_lb::RoundRobin;
use sd_tower::{Balanced, RetryLayer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt as _};

/// The app name the services register under and the client looks up.
const APP: &str = "hello";

/// Requests per round.
const REQUESTS: usize = 30;

/// How often the client polls the registry.
const POLL: Duration = Duration::from_secs(1);

/// The bound on every wait (for discovery, for shutdown).
const WAIT: Duration = Duration::from_secs(10);

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
        services.push(HelloService::start(&eureka).await?);
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
        let authority: Authority = instance.id().parse()?;
        Ok::<_, BoxError>(
            http.clone()
                .map_request(move |request: Request<Empty<Bytes>>| aim(request, &authority)),
        )
    })?;
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(3, Duration::from_secs(2)))
        .service(Balanced::new(Arc::new(RoundRobin::new(endpointer.clone()))));
    writeln!(
        out,
        "client    Instancer (1 s poll) → Endpointer → RoundRobin → Balanced + RetryLayer"
    )?;
    wait_until(&endpointer, "the client sees all three services", |ids| {
        ids.len() == services.len()
    })
    .await?;

    let spread = send(&mut client, REQUESTS).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;

    // One service goes DOWN: the registry stops listing it, and at the next poll the
    // client stops sending it requests.
    let down = &services[0];
    down.registrar.set_status(Status::Down).await?;
    let marked = Instant::now();
    wait_until(&endpointer, "the client drops the DOWN service", |ids| {
        !ids.contains(&down.id().as_str())
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

/// A hello service: an axum app on a free port, registered with Eureka.
struct HelloService {
    addr: SocketAddr,
    registrar: Registrar,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl HelloService {
    /// Starts serving `GET /hello`, then registers (a heartbeat every second).
    async fn start(eureka: &Connection) -> Result<Self, BoxError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let reply = format!("hello from {}", addr.port());
        let app = Router::new().route("/hello", get(move || std::future::ready(reply.clone())));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let instance = InstanceInfo::builder(APP, addr.port())
            .renewal_interval_secs(1)
            .build();
        let registrar = Registrar::new(eureka.clone(), instance);
        registrar.register().await?;
        Ok(Self {
            addr,
            registrar,
            stop,
            server,
        })
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The identity discovery gives this service: `ip:port`.
    fn id(&self) -> String {
        self.addr.to_string()
    }

    /// Deregisters, then stops serving.
    async fn stop(self) -> Result<(), BoxError> {
        self.registrar.deregister().await?;
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.server).await???;
        Ok(())
    }
}

/// Points a request (`/hello`) at one instance (`http://ip:port/hello`).
fn aim<B>(mut request: Request<B>, authority: &Authority) -> Request<B> {
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority.clone())
        .path_and_query(path)
        .build()
        .expect("an authority and a path make a URI");
    *request.uri_mut() = uri;
    request
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

/// Waits (at most [`WAIT`]) until `done` holds for the ids of the endpoints on offer.
async fn wait_until(
    source: &impl EndpointSource,
    what: &str,
    done: impl Fn(&[&str]) -> bool,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + WAIT;
    loop {
        let holds = source.with_endpoints(|endpoints| {
            endpoints.is_ok_and(|endpoints| {
                let ids: Vec<&str> = endpoints.iter().map(|e| e.instance().id()).collect();
                done(&ids)
            })
        });
        if holds {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("gave up after {WAIT:?} waiting until {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
