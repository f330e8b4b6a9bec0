//! What the sd-tower examples share: a small axum `hello` service that keeps itself
//! registered, and bounded waits. Each example includes it with `#[path = "support/mod.rs"] mod
//! support;` (so does `tests/examples.rs`, through the examples).

// Each example uses a part of this module.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sd_core::BoxError;
use sd_eureka::{Connection, InstanceInfo, Registrar};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The bound on every wait in the examples (discovery, shutdown).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

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
