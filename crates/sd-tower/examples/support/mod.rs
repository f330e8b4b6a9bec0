//! What the sd-tower examples share: a hyper client aimed at one discovered instance, a
//! small axum `hello` service that keeps itself registered, and bounded waits on what an
//! endpointer offers. Each example includes it with `#[path = "support/mod.rs"] mod
//! support;` (so does `tests/examples.rs`, through the examples).

// Each example uses a part of this module.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use sd_core::{BoxError, EndpointSource, Instance};
use sd_eureka::{Connection, InstanceInfo, Registrar};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::util::MapRequest;

/// The bound on every wait in the examples (discovery, shutdown).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The hyper client with a request rewrite `F` in front.
pub(crate) type Aimed<B, F> = MapRequest<Client<HttpConnector, B>, F>;

/// An endpoint for `instance`: the shared hyper client (one connection pool for all),
/// with each request's URI pointed at `http://ip:port/...`.
// The rewrite is a closure, so its type can only be written as `impl Fn`.
#[allow(clippy::type_complexity)]
pub(crate) fn aimed<B>(
    http: &Client<HttpConnector, B>,
    instance: &Instance,
) -> Result<Aimed<B, impl Fn(Request<B>) -> Request<B> + Clone + use<B>>, BoxError> {
    let authority: Authority = instance.id().parse()?;
    Ok(MapRequest::new(http.clone(), move |request: Request<B>| {
        aim(request, &authority)
    }))
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

/// The ids (`ip:port`) of the endpoints on offer; none while discovery has failed.
pub(crate) fn endpoint_ids(source: &mut impl EndpointSource) -> Vec<String> {
    source.endpoints().map_or_else(
        |_| Vec::new(),
        |endpoints| {
            endpoints
                .iter()
                .map(|e| e.instance().id().to_owned())
                .collect()
        },
    )
}

/// Waits (at most [`WAIT`]) until `done` holds, looking every 20 ms.
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), BoxError> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() >= deadline {
            return Err(format!("gave up after {WAIT:?} waiting until {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A hello service: an axum app on a free port answering `GET /hello` with
/// `hello from PORT`, registered with Eureka (a heartbeat every second).
pub(crate) struct HelloService {
    addr: SocketAddr,
    registrar: Registrar,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl HelloService {
    /// Starts serving, then registers as `app` through `eureka`.
    pub(crate) async fn start(eureka: &Connection, app: &str) -> Result<Self, BoxError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let reply = format!("hello from {}", addr.port());
        let router = Router::new().route("/hello", get(move || std::future::ready(reply.clone())));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let instance = InstanceInfo::builder(app, addr.port())
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

    /// The port it serves on.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The identity discovery gives it: `ip:port`.
    pub(crate) fn id(&self) -> String {
        self.addr.to_string()
    }

    /// Its registrar (to deregister it, or mark it DOWN, while it keeps serving).
    pub(crate) fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Deregisters (if still registered), then stops serving.
    pub(crate) async fn stop(self) -> Result<(), BoxError> {
        self.registrar.deregister().await?;
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.server).await???;
        Ok(())
    }
}
