//! The examples as tests: the quickstart from start to finish, and the axum gateway
//! spreading requests, following the registry and retrying past a broken backend.
//!
//! The example files are compiled in as modules, so the tests call the same code `cargo
//! run --example` runs. Every wait is bounded; nothing asserts on timings.

// Each example is a crate of its own and includes `examples/support` itself, so compiling
// two of them here includes it twice.
#![allow(clippy::duplicate_mod)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sd_eureka::{Connection, InstanceInfo, Registrar};
use sd_eureka_server::EurekaServer;
use tokio::net::TcpListener;
use tokio::time::{Instant, timeout};

#[path = "../examples/quickstart.rs"]
#[expect(dead_code, reason = "the example's main")]
mod quickstart;

#[path = "../examples/axum_gateway.rs"]
#[expect(dead_code, reason = "the example's main")]
mod gateway;

use gateway::{APP, Gateway, HelloBackend, WAIT};

/// The bound on a whole test.
const TEST: Duration = Duration::from_secs(60);

/// `spread    30 requests: :41001 10, :41002 10` → {41001: 10, 41002: 10}
fn parse_spread(line: &str) -> BTreeMap<u16, usize> {
    let (_, counts) = line
        .split_once("requests: ")
        .unwrap_or_else(|| panic!("not a spread line: {line:?}"));
    counts
        .split(", ")
        .map(|entry| {
            let (port, count) = entry
                .trim_start_matches(':')
                .split_once(' ')
                .unwrap_or_else(|| panic!("not `:port count`: {entry:?}"));
            (port.parse().unwrap(), count.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn quickstart_spreads_requests_then_moves_them_off_the_down_service() {
    let mut out = Vec::new();
    timeout(TEST, quickstart::run(&mut out))
        .await
        .expect("the quickstart finishes in time")
        .expect("the quickstart succeeds");
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();

    let spreads: Vec<BTreeMap<u16, usize>> = lines
        .iter()
        .filter(|l| l.starts_with("spread"))
        .map(|l| parse_spread(l))
        .collect();
    assert_eq!(spreads.len(), 2, "two rounds of requests:\n{out}");
    let (before, after) = (&spreads[0], &spreads[1]);
    assert_eq!(before.len(), 3, "the first round reaches all three:\n{out}");
    assert!(before.values().all(|&n| n > 0));
    assert_eq!(before.values().sum::<usize>(), 30);

    let down_line = lines
        .iter()
        .find(|l| l.starts_with("down"))
        .unwrap_or_else(|| panic!("a down line:\n{out}"));
    let down: u16 = down_line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.trim_start_matches(':').parse().ok())
        .unwrap_or_else(|| panic!("a port in {down_line:?}"));
    assert!(before.contains_key(&down));

    assert_eq!(
        after.len(),
        2,
        "the second round avoids the DOWN one:\n{out}"
    );
    assert!(!after.contains_key(&down), "{out}");
    assert!(after.keys().all(|port| before.contains_key(port)));
    assert_eq!(after.values().sum::<usize>(), 30);

    assert!(lines[0].starts_with("registry"), "{out}");
    assert!(lines.last().unwrap().starts_with("done"), "{out}");
}

/// A registry, `hello` backends and the gateway, all on free ports.
struct Setup {
    registry: EurekaServer,
    eureka: Connection,
    backends: Vec<HelloBackend>,
    gateway: Gateway,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl Setup {
    async fn start(backends: usize) -> Self {
        let registry = EurekaServer::builder()
            .addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .bind()
            .await
            .unwrap();
        let eureka = Connection::new([registry.base_url()]).unwrap();
        let mut started = Vec::new();
        for _ in 0..backends {
            started.push(HelloBackend::start(&eureka, APP).await.unwrap());
        }
        let gateway = Gateway::start(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            &registry.base_url(),
        )
        .await
        .unwrap();
        Self {
            registry,
            eureka,
            backends: started,
            gateway,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET /hello` through the gateway: the status and the answering backend's port.
    async fn hello(&self) -> (StatusCode, Option<u16>) {
        let request = Request::get(format!("http://{}/hello", self.gateway.addr()))
            .body(Empty::new())
            .unwrap();
        let response = timeout(WAIT, self.http.request(request))
            .await
            .expect("the gateway answers in time")
            .expect("the gateway answers");
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let port = std::str::from_utf8(&body)
            .ok()
            .and_then(|text| text.strip_prefix("hello from "))
            .and_then(|port| port.parse().ok());
        (status, port)
    }

    /// `count` requests through the gateway, all of which must succeed; answers per port.
    async fn spread(&self, count: usize) -> BTreeMap<u16, usize> {
        let mut spread = BTreeMap::new();
        for _ in 0..count {
            let (status, port) = self.hello().await;
            assert_eq!(status, StatusCode::OK);
            *spread.entry(port.expect("a backend's answer")).or_default() += 1;
        }
        spread
    }

    async fn stop(self) {
        self.gateway.stop().await.unwrap();
        for backend in self.backends {
            backend.stop().await.unwrap();
        }
        self.registry.shutdown().await;
    }
}

#[tokio::test]
async fn gateway_spreads_requests_over_the_discovered_backends() {
    timeout(TEST, async {
        let setup = Setup::start(3).await;
        setup
            .gateway
            .wait_for(|seen| seen.len() == 3)
            .await
            .unwrap();

        let spread = setup.spread(30).await;
        let mut ports: Vec<u16> = setup.backends.iter().map(HelloBackend::port).collect();
        ports.sort_unstable();
        assert_eq!(
            spread.keys().copied().collect::<Vec<_>>(),
            ports,
            "every backend answers: {spread:?}"
        );
        assert_eq!(spread.values().sum::<usize>(), 30);

        setup.stop().await;
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn gateway_stops_sending_to_a_deregistered_backend() {
    timeout(TEST, async {
        let setup = Setup::start(3).await;
        setup
            .gateway
            .wait_for(|seen| seen.len() == 3)
            .await
            .unwrap();
        assert!(setup.spread(6).await.len() == 3);

        // It leaves the registry but keeps serving: answers from it mean the gateway still
        // sends it requests.
        let leaving = &setup.backends[0];
        leaving.registrar().deregister().await.unwrap();

        // Round robin over three reaches every backend within three requests; six in a
        // row without it mean it is out of the rotation.
        let deadline = Instant::now() + WAIT;
        let mut without = 0;
        while without < 6 {
            assert!(
                Instant::now() < deadline,
                "the gateway still sends requests to :{} after {WAIT:?}",
                leaving.port()
            );
            let (status, port) = setup.hello().await;
            assert_eq!(status, StatusCode::OK);
            if port == Some(leaving.port()) {
                without = 0;
                tokio::time::sleep(Duration::from_millis(50)).await;
            } else {
                without += 1;
            }
        }
        let spread = setup.spread(20).await;
        assert!(!spread.contains_key(&leaving.port()), "{spread:?}");
        assert_eq!(
            spread.len(),
            2,
            "the other two share the traffic: {spread:?}"
        );
        assert!(
            !setup
                .gateway
                .backends()
                .contains(&format!("127.0.0.1:{}", leaving.port()))
        );

        setup.stop().await;
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn gateway_retries_past_a_registered_backend_that_hangs_up() {
    timeout(TEST, async {
        let setup = Setup::start(2).await;

        // A registered instance that accepts connections and closes them at once.
        let broken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let broken_port = broken.local_addr().unwrap().port();
        let hung_up = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hung_up);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = broken.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                drop(stream);
            }
        });
        let registrar = Registrar::new(
            setup.eureka.clone(),
            InstanceInfo::builder(APP, broken_port)
                .renewal_interval_secs(1)
                .build(),
        );
        registrar.register().await.unwrap();
        setup
            .gateway
            .wait_for(|seen| seen.len() == 3)
            .await
            .unwrap();

        // Every third pick is the broken one; each such request is retried on the next.
        let spread = setup.spread(12).await;
        assert!(!spread.contains_key(&broken_port));
        assert_eq!(spread.values().sum::<usize>(), 12);
        assert!(
            hung_up.load(Ordering::Relaxed) > 0,
            "the broken backend was tried"
        );

        registrar.deregister().await.unwrap();
        server.abort();
        setup.stop().await;
    })
    .await
    .expect("the test finishes in time");
}
