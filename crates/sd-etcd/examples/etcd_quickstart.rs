//! The quickstart on etcd: two hello services keep themselves registered with an
//! `sd_etcd::Registrar`, and a client finds them with an `sd_etcd::Instancer` and calls
//! them by name through an `sd_tower::HttpClient` (round robin, retries, outlier
//! ejection, one connection pool).
//!
//! It spreads requests over both services, deregisters one and shows the traffic move to
//! the other as soon as the watch tells, then cleans up. It needs a running etcd:
//!
//! ```text
//! docker compose up -d etcd      # or Debian's etcd-server: `etcd`
//! SD_ETCD_URL=http://127.0.0.1:2379 cargo run -p sd-etcd --example etcd_quickstart
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use sd_core::BoxError;
use sd_etcd::{Client, Instancer, Registrar};
use sd_tower::HttpClient;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Where the services register, and what the client follows.
const PREFIX: &str = "/sd-quickstart/hello/";

/// The variable naming etcd's client URL(s), comma-separated.
const URL_VARIABLE: &str = "SD_ETCD_URL";

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(urls) = std::env::var(URL_VARIABLE) else {
        eprintln!(
            "set {URL_VARIABLE} to a running etcd's client URL, e.g. \
             {URL_VARIABLE}=http://127.0.0.1:2379 (start one with `docker compose up -d etcd`, \
             or `etcd` from Debian's etcd-server package)"
        );
        return ExitCode::from(2);
    };
    match run(urls.split(',').map(str::trim).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(urls: Vec<&str>) -> Result<(), BoxError> {
    let etcd = Client::connect(urls).await?;

    // Two services, each serving on a free port and registering itself under a lease.
    let mut services = Vec::new();
    for _ in 0..2 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let reply = format!("hello from {}", addr.port());
        let router = Router::new().route("/hello", get(move || std::future::ready(reply.clone())));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let registrar = Registrar::builder(
            etcd.clone(),
            PREFIX,
            addr.port().to_string(),
            addr.to_string(),
        )
        .ttl(Duration::from_secs(10))
        .build()?;
        registrar.register().await?;
        println!("service   {addr}, registered at {}", registrar.key());
        services.push((addr, registrar));
    }

    // The client: the instances under PREFIX, called by name (the host is not looked up).
    let instancer = Instancer::new(&etcd, PREFIX)?;
    let client = HttpClient::new(&instancer)?;
    wait_until(|| client.instances().len() == services.len()).await?;
    println!("spread    {}", show(&send(&client, 10).await?));

    // One service leaves: the watch tells the client at once.
    let (gone, registrar) = services.remove(0);
    registrar.deregister().await?;
    wait_until(|| client.instances().len() == services.len()).await?;
    println!("left      {gone} deregistered");
    println!("spread    {}", show(&send(&client, 10).await?));

    for (_, registrar) in services {
        registrar.deregister().await?;
    }
    println!("done      every key deleted, every lease revoked");
    Ok(())
}

/// Sends `count` requests, one after another; counts the answers per service.
async fn send(client: &HttpClient, count: usize) -> Result<BTreeMap<String, usize>, BoxError> {
    let mut spread = BTreeMap::new();
    for _ in 0..count {
        let request = Request::get("http://hello/hello").body(Full::default())?;
        let response = client.clone().oneshot(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        *spread
            .entry(String::from_utf8_lossy(&body).into_owned())
            .or_default() += 1;
    }
    Ok(spread)
}

fn show(spread: &BTreeMap<String, usize>) -> String {
    spread
        .iter()
        .map(|(who, count)| format!("{count} × {who}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits at most 10 s for `done`, looking every 20 ms.
async fn wait_until(mut done: impl FnMut() -> bool) -> Result<(), BoxError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return Err("the client did not see the change within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
