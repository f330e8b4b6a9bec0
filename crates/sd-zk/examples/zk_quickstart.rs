//! The quickstart's pattern on ZooKeeper: three small hello services register themselves
//! under one path with `sd_zk::Registrar`, and a client calls them through
//! `sd_tower::HttpClient::new(&sd_zk::Instancer::new(..)?)`, balanced round-robin. One
//! service deregisters and the traffic moves to the other two; then all leave.
//!
//! It needs a running ZooKeeper (`docker compose up zookeeper`, or Debian's `zookeeper`
//! package):
//!
//! `ZK_SERVERS=127.0.0.1:2181 cargo run -p sd-zk --example zk_quickstart`

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::{Router, routing::get};
use http::Request;
use http_body_util::{BodyExt as _, Full};
use sd_core::BoxError;
use sd_tower::HttpClient;
use sd_zk::{Config, Instancer, Registrar};
use tower::ServiceExt as _;

/// Where the services register, and the client looks.
const PATH: &str = "/sd-example/hello";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let Ok(servers) = std::env::var("ZK_SERVERS") else {
        eprintln!(
            "set ZK_SERVERS to a running ZooKeeper, e.g. ZK_SERVERS=127.0.0.1:2181 \
             (docker compose up zookeeper)"
        );
        std::process::exit(2);
    };
    let config = Config::new(servers.split(','))?;

    // The services: each serves GET /hello and keeps "127.0.0.1:PORT" registered.
    let mut services = Vec::new();
    for _ in 0..3 {
        let tcp = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let port = tcp.local_addr()?.port();
        let app = Router::new().route("/hello", get(move || async move { format!("{port}") }));
        let server = tokio::spawn(async move { axum::serve(tcp, app).await });
        let registrar = Registrar::new(&config, PATH, &format!("127.0.0.1:{port}"))?;
        registrar.register().await?;
        println!(
            "service   :{port} registered as {}",
            registrar.stats().node.unwrap_or_default()
        );
        services.push((port, registrar, server));
    }

    // The client: one line, as in the README, with ZooKeeper as the discovery backend.
    let client = HttpClient::new(&Instancer::new(&config, PATH)?)?;
    wait_for(&client, 3).await?;
    println!("spread    {}", show(&send(&client, 12).await?));

    let (port, leaving, server) = services.remove(0);
    leaving.deregister().await?;
    server.abort();
    wait_for(&client, 2).await?;
    println!("leave     :{port} deregistered");
    println!("spread    {}", show(&send(&client, 12).await?));

    for (_, registrar, server) in services {
        registrar.deregister().await?;
        server.abort();
    }
    wait_for(&client, 0).await?;
    println!("done      every service deregistered; nothing left under {PATH}");
    Ok(())
}

/// Waits (30 s at most) until the client knows `count` instances.
async fn wait_for(client: &HttpClient, count: usize) -> Result<(), BoxError> {
    let wait = async {
        while client.instances().len() != count {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .map_err(|_| format!("the client did not see {count} instances in 30 s").into())
}

/// Sends `count` requests; how many each port answered.
async fn send(client: &HttpClient, count: usize) -> Result<BTreeMap<String, usize>, BoxError> {
    let mut spread = BTreeMap::new();
    for _ in 0..count {
        let request = Request::get("/hello").body(Full::default())?;
        let response = client.clone().oneshot(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        *spread
            .entry(String::from_utf8_lossy(&body).into_owned())
            .or_default() += 1;
    }
    Ok(spread)
}

fn show(spread: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = spread
        .iter()
        .map(|(port, n)| format!(":{port} {n}"))
        .collect();
    format!(
        "{} requests: {}",
        spread.values().sum::<usize>(),
        parts.join(", ")
    )
}
