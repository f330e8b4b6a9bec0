//! The quickstart's pattern on DNS SRV: call a service by name through an
//! `sd_tower::HttpClient` whose instances come from an `sd_dnssrv::Instancer`.
//!
//! Everything runs in this one process, on loopback, so it runs on a fresh machine:
//!
//! - three small axum `hello` services, each on a free port;
//! - an authoritative DNS server (hickory's) for the zone `sd.test.`, whose SRV records
//!   `_http._tcp.hello.sd.test.` point at `localhost.` and each service's port, TTL 1 s;
//! - the client: `HttpClient::new(&sd_dnssrv::Instancer::...)`, round robin, retries and
//!   outlier ejection over whatever the SRV records say.
//!
//! It spreads requests over the three services, removes one record from the zone, shows
//! the traffic move to the other two once the TTL runs out, and stops.
//!
//! Run with `cargo run -p sd-dnssrv --example dns_quickstart`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hickory_server::ServerFuture;
use hickory_server::authority::{AuthorityObject, Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryAuthority;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use sd_core::BoxError;
use sd_tower::HttpClient;
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The SRV name the client follows.
const SRV_NAME: &str = "_http._tcp.hello.sd.test.";

/// Requests per round.
const REQUESTS: usize = 30;

/// The bound on every wait.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    run(&mut std::io::stdout()).await
}

/// The whole example, writing its report to `out`.
pub(crate) async fn run(out: &mut impl Write) -> Result<(), BoxError> {
    let started = Instant::now();

    // Three services, each on a free port.
    let mut ports = Vec::new();
    for _ in 0..3 {
        ports.push(hello_service().await?);
    }
    ports.sort_unstable();
    let shown: Vec<String> = ports.iter().map(|port| format!(":{port}")).collect();
    writeln!(out, "services  hello on {}", shown.join(" "))?;

    // The DNS server, with one SRV record per service.
    let dns = Zone::start().await?;
    dns.set_srv(&ports).await?;
    writeln!(
        out,
        "dns       {} (in process): {SRV_NAME} SRV → localhost.:port, TTL 1 s",
        dns.addr
    )?;

    // The client: the quickstart's one line, with a DNS SRV instancer.
    let instancer = sd_dnssrv::Instancer::builder(SRV_NAME)
        .name_server(dns.addr)
        .interval(Duration::from_secs(30))
        .build()?;
    let client = HttpClient::new(&instancer)?;
    writeln!(
        out,
        "client    sd_dnssrv::Instancer → HttpClient (round robin, retries, outlier ejection)"
    )?;
    wait_until("the client sees all three services", || {
        client.instances().len() == 3
    })
    .await?;

    let spread = send(&client).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;

    // One record leaves the zone: once its TTL has run out the instancer polls again, and
    // the client stops calling that service.
    let gone = ports[0];
    dns.set_srv(&ports[1..]).await?;
    let removed = Instant::now();
    wait_until("the client drops the removed service", || {
        !client
            .instances()
            .iter()
            .any(|i| i.id().ends_with(&format!(":{gone}")))
    })
    .await?;
    writeln!(
        out,
        "removed   :{gone} from the zone; the client dropped it {:.1} s later",
        removed.elapsed().as_secs_f64()
    )?;

    let spread = send(&client).await?;
    writeln!(out, "spread    {REQUESTS} requests: {}", show(&spread))?;
    writeln!(out, "done      in {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(())
}

/// Starts an axum app on a free port answering `GET /hello` with `hello from PORT`, for
/// as long as the runtime runs; returns the port.
async fn hello_service() -> Result<u16, BoxError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();
    let reply = format!("hello from {port}");
    let router = Router::new().route("/hello", get(move || std::future::ready(reply.clone())));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

/// An authoritative DNS server for `sd.test.` on a free loopback UDP port.
struct Zone {
    addr: SocketAddr,
    authority: Arc<InMemoryAuthority>,
    _server: ServerFuture<Catalog>,
}

impl Zone {
    async fn start() -> Result<Self, BoxError> {
        let origin = Name::from_str("sd.test.")?;
        let soa = SOA::new(
            Name::from_str("ns.sd.test.")?,
            Name::from_str("admin.sd.test.")?,
            1,
            3600,
            600,
            86_400,
            1,
        );
        let mut soa_set = RecordSet::new(origin.clone(), RecordType::SOA, 1);
        soa_set.insert(Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)), 1);
        let records = BTreeMap::from([(
            RrKey::new(LowerName::new(&origin), RecordType::SOA),
            soa_set,
        )]);
        let authority = Arc::new(InMemoryAuthority::new(
            origin.clone(),
            records,
            ZoneType::Primary,
            false,
        )?);
        let mut catalog = Catalog::new();
        let zone: Arc<dyn AuthorityObject> = authority.clone();
        catalog.upsert(LowerName::new(&origin), vec![zone]);
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = socket.local_addr()?;
        let mut server = ServerFuture::new(catalog);
        server.register_socket(socket);
        Ok(Self {
            addr,
            authority,
            _server: server,
        })
    }

    /// Makes the SRV records of [`SRV_NAME`] one per port, each `localhost.:port`.
    async fn set_srv(&self, ports: &[u16]) -> Result<(), BoxError> {
        let owner = Name::from_str(SRV_NAME)?;
        let target = Name::from_str("localhost.")?;
        let mut set = RecordSet::new(owner.clone(), RecordType::SRV, 2);
        for &port in ports {
            let srv = SRV::new(10, 10, port, target.clone());
            set.insert(Record::from_rdata(owner.clone(), 1, RData::SRV(srv)), 2);
        }
        let key = RrKey::new(LowerName::new(&owner), RecordType::SRV);
        self.authority
            .records_mut()
            .await
            .insert(key, Arc::new(set));
        Ok(())
    }
}

/// Sends [`REQUESTS`] requests through `client`, one after another; counts the answers
/// per service port.
async fn send(client: &HttpClient) -> Result<BTreeMap<u16, usize>, BoxError> {
    let mut spread = BTreeMap::new();
    for _ in 0..REQUESTS {
        let request = Request::get("http://hello/hello").body(Full::default())?;
        let response = client.clone().oneshot(request).await?;
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

/// Waits (at most [`WAIT`]) until `done` holds, looking every 20 ms.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), BoxError> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() >= deadline {
            return Err(format!("gave up after {WAIT:?} waiting until {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
