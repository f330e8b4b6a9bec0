//! The README's complete service (`examples/service.rs`) against an in-process registry
//! and three ORDERS instances, one of which answers 503: it registers, heartbeats with
//! its health check, calls ORDERS by app name with balancing and retries, and leaves
//! the registry and stops when told.
//!
//! Every wait is bounded; nothing asserts on timings.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use sd_core::FixedInstancer;
use sd_eureka::{Config, Connection, InstanceInfo, Registrar, Status};
use sd_eureka_server::EurekaServer;
use sd_tower::HttpClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, timeout};
use tower::ServiceExt as _;

#[path = "../examples/service.rs"]
#[expect(dead_code, reason = "the example's main")]
mod service;

/// The bound on every wait.
const WAIT: Duration = Duration::from_secs(20);

/// An ORDERS instance answering `GET /orders/1` with `order 1 from PORT` (or `status`),
/// registered in the registry.
async fn orders(eureka: &Connection, status: StatusCode) -> (u16, Registrar) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = format!("order 1 from {port}");
    let router = Router::new().route(
        "/orders/1",
        get(move || std::future::ready((status, answer.clone()))),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let registrar = Registrar::new(
        eureka.clone(),
        InstanceInfo::builder("ORDERS", port).build(),
    );
    registrar.register().await.unwrap();
    (port, registrar)
}

/// Waits until `done` holds of HELLO's registrations (none when the app is unknown).
async fn until(eureka: &Connection, what: &str, done: impl Fn(&[InstanceInfo]) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let instances = eureka
            .application("HELLO")
            .await
            .map(|app| app.instances)
            .unwrap_or_default();
        if done(&instances) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting until {what}: {instances:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_service_registers_calls_orders_and_leaves() {
    let registry = EurekaServer::builder()
        .addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .bind()
        .await
        .unwrap();
    let eureka = Connection::new([registry.base_url()]).unwrap();
    let mut healthy = BTreeSet::new();
    let mut registrars = Vec::new();
    for status in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let (port, registrar) = orders(&eureka, status).await;
        if status == StatusCode::OK {
            healthy.insert(port);
        }
        registrars.push(registrar);
    }

    // The service, configured as a Spring service's environment would.
    let port = {
        let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        free.local_addr().unwrap().port()
    };
    let config: Config = [
        ("EUREKA_URL", registry.base_url()),
        ("SPRING_APPLICATION_NAME", "HELLO".to_owned()),
        ("SERVER_PORT", port.to_string()),
        ("EUREKA_INSTANCE_IPADDRESS", "127.0.0.1".to_owned()),
        (
            "EUREKA_INSTANCE_LEASERENEWALINTERVALINSECONDS",
            "1".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(service::run(config, Duration::from_secs(1), async {
        let _ = stopped.await;
    }));

    // Registered, UP, and heartbeating (its health check asked before each heartbeat).
    until(&eureka, "HELLO is UP and renewed", |instances| {
        instances.iter().any(|i| {
            i.status == Status::Up
                && i.lease_info
                    .as_ref()
                    .is_some_and(|l| l.last_renewal_timestamp > l.registration_timestamp)
        })
    })
    .await;

    // Calls ORDERS by app name: balanced over the two healthy instances, the 503 one
    // retried past.
    let hello = HttpClient::new(&FixedInstancer::new([format!("127.0.0.1:{port}")])).unwrap();
    let mut answered = BTreeSet::new();
    for _ in 0..9 {
        let request = Request::get("/hello").body(Full::default()).unwrap();
        let response = timeout(WAIT, hello.clone().oneshot(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let from: u16 = text
            .strip_prefix("hello; ORDERS says order 1 from ")
            .unwrap_or_else(|| panic!("unexpected answer {text:?}"))
            .parse()
            .unwrap();
        answered.insert(from);
    }
    assert_eq!(
        answered, healthy,
        "both healthy instances answered, the 503 one never"
    );

    // Leaves: OUT_OF_SERVICE, the drain, deregistration; then the server stops.
    stop.send(()).unwrap();
    timeout(WAIT, running)
        .await
        .expect("the service stops in time")
        .unwrap()
        .expect("the service ends cleanly");
    until(&eureka, "HELLO is gone", <[InstanceInfo]>::is_empty).await;

    for registrar in registrars {
        registrar.deregister().await.unwrap();
    }
    registry.shutdown().await;
}
