//! A whole service, from the README alone: registers in Eureka as its
//! `SPRING_APPLICATION_NAME` (say HELLO) with a health check, serves `GET /hello` with
//! axum by calling ORDERS by app name (balanced, retried, failing instances set aside),
//! and on Ctrl-C or SIGTERM leaves cleanly: `OUT_OF_SERVICE`, a drain while it keeps
//! serving, deregistration, then the server stops.
//!
//! `SPRING_APPLICATION_NAME=HELLO SERVER_PORT=8080 EUREKA_URL=http://127.0.0.1:8761/eureka/
//! cargo run -p sd-tower --example service`

use axum::http::{Request, StatusCode};
use axum::{BoxError, Router, extract::State, routing::get};
use http_body_util::{BodyExt as _, Full};
use sd_eureka::{Config, Instancer, Registrar, ShutdownSignal, Status};
use sd_tower::HttpClient;
use tower::ServiceExt as _;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut signal = ShutdownSignal::listen()?; // before registering: no signal is lost
    let stop = async move { signal.wait().await.unwrap_or_default() };
    run(Config::from_env(), std::time::Duration::from_secs(30), stop).await
}

/// The service: registered and serving until `stop`, then drained for `drain` and gone.
pub(crate) async fn run(
    config: Config,
    drain: std::time::Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let eureka = config.connection()?;
    let instance = config.instance().ok_or("no SPRING_APPLICATION_NAME")?;
    let tcp = tokio::net::TcpListener::bind(("0.0.0.0", instance.port.port)).await?;
    let orders = HttpClient::new(&Instancer::new(&eureka, "ORDERS")?)?;
    let registrar = Registrar::builder(eureka, instance)
        .health_check(|| async { Status::Up }) // asked before each heartbeat
        .drain(drain)
        .build();
    registrar.register().await?;
    let app = Router::new().route("/hello", get(hello)).with_state(orders);
    // Serving on while it leaves: OUT_OF_SERVICE, the drain, deregistration (a failure is
    // the registrar's to log); then the server finishes its requests and stops.
    let leave = async move { registrar.shutdown_on(stop).await.unwrap_or_default() };
    Ok(axum::serve(tcp, app).with_graceful_shutdown(leave).await?)
}

/// `GET /hello`: order 1, from whichever ORDERS instance answers.
async fn hello(State(orders): State<HttpClient>) -> Result<String, StatusCode> {
    let order = async {
        let request = Request::get("http://orders/orders/1").body(Full::default())?;
        let body = orders.oneshot(request).await?.into_body().collect().await?;
        Ok::<_, BoxError>(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    };
    let order = order.await.map_err(|_| StatusCode::BAD_GATEWAY)?; // no internals shown
    Ok(format!("hello; ORDERS says {order}"))
}
