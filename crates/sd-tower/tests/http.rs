//! `HttpClient` against real hyper servers on loopback: addressing, balancing, retry by
//! method and failure, outlier ejection, and the client inside an axum handler.
//!
//! Every wait is bounded; nothing asserts on timings.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{any, get};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use sd_core::{BoxError, FixedInstancer};
use sd_lb::OutlierConfig;
use sd_tower::HttpClient;
use tokio::net::TcpListener;
use tokio::time::timeout;
use tower::ServiceExt as _;

/// The bound on a whole test.
const TEST: Duration = Duration::from_secs(60);

/// A backend on a free port: answers any request with `PORT METHOD PATH` and the status
/// it is told to, counting requests.
struct Backend {
    port: u16,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
}

impl Backend {
    async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let (answer, count) = (Arc::clone(&status), Arc::clone(&hits));
        let router = Router::new().fallback(any(move |request: Request<axum::body::Body>| {
            count.fetch_add(1, Ordering::SeqCst);
            let status = StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap();
            let text = format!("{port} {} {}", request.method(), request.uri());
            async move { (status, text) }
        }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { port, status, hits }
    }

    fn id(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn backends(count: usize) -> Vec<Backend> {
    let mut started = Vec::new();
    for _ in 0..count {
        started.push(Backend::start().await);
    }
    started
}

fn instancer(backends: &[Backend]) -> FixedInstancer {
    FixedInstancer::new(backends.iter().map(Backend::id).collect::<Vec<_>>())
}

/// Outlier ejection out of the way, for tests about retry alone.
fn no_ejection() -> OutlierConfig {
    OutlierConfig::default().consecutive_failures(1000)
}

/// Sends `method uri`; the status and the answering backend's port.
async fn send(client: &HttpClient, method: Method, uri: &str) -> (StatusCode, u16) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let port = text.split(' ').next().unwrap().parse().unwrap();
    (status, port)
}

#[tokio::test]
async fn relative_and_app_addressed_requests_reach_the_instances_in_turn() {
    timeout(TEST, async {
        let backends = backends(3).await;
        let client = HttpClient::new(&instancer(&backends)).unwrap();
        let mut seen = BTreeMap::new();
        for uri in ["/orders/1?x=2", "http://orders/orders/1?x=2"].repeat(3) {
            let request = Request::get(uri).body(Full::default()).unwrap();
            let response = client.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8(body.to_vec()).unwrap();
            let (port, rest) = text.split_once(' ').unwrap();
            assert_eq!(rest, "GET /orders/1?x=2", "path and query are kept");
            *seen.entry(port.parse::<u16>().unwrap()).or_insert(0) += 1;
        }
        let expected: BTreeMap<u16, usize> = backends.iter().map(|b| (b.port, 2)).collect();
        assert_eq!(seen, expected, "round robin over the three");
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn a_failing_answer_is_retried_on_another_instance_for_get_but_not_post() {
    timeout(TEST, async {
        let backends = backends(3).await;
        backends[0].answer(503);
        let client = HttpClient::builder()
            .outliers(no_ejection())
            .build(&instancer(&backends))
            .unwrap();

        for _ in 0..6 {
            let (status, port) = send(&client, Method::GET, "/a").await;
            assert_eq!(status, StatusCode::OK);
            assert_ne!(port, backends[0].port);
        }
        assert!(backends[0].hits() > 0, "the failing one was tried");

        // Round robin: one POST in three lands on the failing instance, and its answer
        // comes back as it is.
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(send(&client, Method::POST, "/a").await.0);
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::SERVICE_UNAVAILABLE
            ]
        );

        let told = HttpClient::builder()
            .outliers(no_ejection())
            .retry_non_idempotent(true)
            .build(&instancer(&backends))
            .unwrap();
        for _ in 0..3 {
            assert_eq!(send(&told, Method::POST, "/a").await.0, StatusCode::OK);
        }
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn when_every_attempt_fails_the_last_answer_comes_back() {
    timeout(TEST, async {
        let backends = backends(3).await;
        for backend in &backends {
            backend.answer(429);
        }
        let client = HttpClient::builder()
            .attempts(3)
            .outliers(no_ejection())
            .build(&instancer(&backends))
            .unwrap();
        let (status, _) = send(&client, Method::GET, "/a").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        let hits: Vec<usize> = backends.iter().map(Backend::hits).collect();
        assert_eq!(hits, [1, 1, 1], "three attempts, one per instance");
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn a_refused_connection_is_retried_whatever_the_method() {
    timeout(TEST, async {
        let backends = backends(2).await;
        // A port nobody listens on any more.
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut ids: Vec<String> = backends.iter().map(Backend::id).collect();
        ids.push(format!("127.0.0.1:{closed_port}"));
        let client = HttpClient::builder()
            .outliers(no_ejection())
            .build(&FixedInstancer::new(ids))
            .unwrap();
        for _ in 0..6 {
            let (status, port) = send(&client, Method::POST, "/a").await;
            assert_eq!(status, StatusCode::OK);
            assert_ne!(port, closed_port);
        }
        assert_eq!(backends.iter().map(Backend::hits).sum::<usize>(), 6);
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn an_instance_that_keeps_failing_is_set_aside() {
    timeout(TEST, async {
        let backends = backends(3).await;
        backends[0].answer(500);
        let client = HttpClient::builder()
            .outliers(
                OutlierConfig::default()
                    .consecutive_failures(2)
                    .base_ejection(Duration::from_secs(600)),
            )
            .build(&instancer(&backends))
            .unwrap();
        // Every third request lands on it; it is set aside after its second failure.
        let failing = backends[0].id();
        for _ in 0..30 {
            if client.detector().is_ejected(&failing) {
                break;
            }
            assert_eq!(send(&client, Method::GET, "/a").await.0, StatusCode::OK);
        }
        assert!(client.detector().is_ejected(&failing));
        let hits = backends[0].hits();
        assert_eq!(hits, 2);
        for _ in 0..12 {
            let (status, port) = send(&client, Method::GET, "/a").await;
            assert_eq!(status, StatusCode::OK);
            assert_ne!(port, backends[0].port);
        }
        assert_eq!(backends[0].hits(), hits, "no request reaches it any more");
    })
    .await
    .expect("the test finishes in time");
}

/// An axum handler that awaits the client and turns its error with `?`: compiling this is
/// half the test (a stack whose future rustc cannot see through fails here with
/// "implementation of `From` is not general enough").
async fn forward(State(orders): State<HttpClient>) -> Result<String, Failed> {
    let request = Request::get("http://orders/orders/1").body(Full::default())?;
    let response = orders.oneshot(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(format!("via gateway: {}", String::from_utf8_lossy(&body)))
}

/// Any error, as a 502.
struct Failed(BoxError);

impl<E: Into<BoxError>> From<E> for Failed {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl axum::response::IntoResponse for Failed {
    fn into_response(self) -> axum::response::Response {
        (StatusCode::BAD_GATEWAY, self.0.to_string()).into_response()
    }
}

#[tokio::test]
async fn the_client_serves_as_axum_state_in_a_handler() {
    timeout(TEST, async {
        let backends = backends(2).await;
        let orders = HttpClient::new(&instancer(&backends)).unwrap();
        let app = Router::new()
            .route("/order", get(forward))
            .with_state(orders);
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let outside = HttpClient::new(&FixedInstancer::new([addr.to_string()])).unwrap();
        let request = Request::get("/order").body(Full::default()).unwrap();
        let response = outside.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let (port, rest) = text
            .strip_prefix("via gateway: ")
            .and_then(|rest| rest.split_once(' '))
            .unwrap();
        assert!(
            backends.iter().any(|b| b.port.to_string() == port),
            "{text}"
        );
        assert_eq!(rest, "GET /orders/1");
    })
    .await
    .expect("the test finishes in time");
}
