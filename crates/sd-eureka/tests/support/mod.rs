//! Helpers for the client suites (`integration.rs`, `faults.rs`, `docker.rs`): short
//! intervals, bounded waits, readers of the server's view, and a tiny raw HTTP server whose
//! behaviour a test switches at will (serve a canned answer, stall, close, forward).
//!
//! Every wait here is bounded by a generous deadline and polls a condition: no test asserts
//! how long something took, only that it happened.

// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sd_core::{BoxError, EndpointSource, Endpointer, Event, Instance, Subscription};
use sd_eureka::{Applications, Connection, Format, InstanceInfo, Status, encode_applications};
use sd_eureka_server::EurekaServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// How often instancers poll in these tests.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// The renewal interval registrars use in these tests (the lease's smallest: 1 s).
pub(crate) const RENEWAL_SECS: u32 = 1;

/// How long any one wait may take before the test fails: generous, so that a loaded
/// machine does not make the suite flaky; a passing run never waits this long.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// A development registry on a free loopback port.
pub(crate) async fn server() -> EurekaServer {
    EurekaServer::builder()
        .addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .bind()
        .await
        .expect("bind a loopback registry")
}

/// A connection to `urls` that polls every [`POLL`].
pub(crate) fn connection(urls: &[&str]) -> Connection {
    connection_builder(urls)
        .build()
        .expect("a valid connection")
}

/// The options of [`connection`], for tests that change some.
pub(crate) fn connection_builder(urls: &[&str]) -> sd_eureka::ConnectionBuilder {
    let mut builder = Connection::builder()
        .poll_interval(POLL)
        .request_timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_secs(1));
    for url in urls {
        builder = builder.service_url(*url);
    }
    builder
}

/// An UP instance of `app` at `127.0.0.1:port` that renews every [`RENEWAL_SECS`].
pub(crate) fn instance(app: &str, port: u16) -> InstanceInfo {
    let mut i = InstanceInfo::new(app, "127.0.0.1", "127.0.0.1", port);
    let lease = i.lease_info.as_mut().expect("a default lease");
    lease.renewal_interval_in_secs = RENEWAL_SECS;
    i
}

/// An endpointer whose endpoints are the instance strings themselves.
pub(crate) fn ids(instancer: &impl sd_core::Instancer) -> Endpointer<String> {
    Endpointer::new(instancer, |i: &Instance| -> Result<String, BoxError> {
        Ok(i.id().to_owned())
    })
    .expect("within a runtime")
}

/// The endpointer's endpoints, or the error standing in for them.
pub(crate) fn endpoints_of(endpointer: &Endpointer<String>) -> Result<Vec<String>, String> {
    // A reader of its own: a fresh clone reads the current list.
    endpointer
        .clone()
        .endpoints()
        .map(|e| e.iter().map(|e| e.get_ref().clone()).collect())
        .map_err(|e| e.to_string())
}

/// Waits (bounded) until `condition` holds; `what` names it in the failure message.
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {DEADLINE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`wait_until`] for a condition that needs to await (e.g. asks a server).
pub(crate) async fn wait_until_async<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !condition().await {
        assert!(
            Instant::now() < until,
            "gave up after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded by [`DEADLINE`]) until the endpointer holds exactly `want`.
pub(crate) async fn eventually(endpointer: &Endpointer<String>, want: &[&str]) {
    eventually_within(endpointer, want, DEADLINE).await;
}

/// Waits until the endpointer holds exactly `want`, for at most `limit`.
pub(crate) async fn eventually_within(
    endpointer: &Endpointer<String>,
    want: &[&str],
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    loop {
        let got = endpoints_of(endpointer);
        if got.as_ref().is_ok_and(|got| got == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "endpoints {got:?}, wanted {want:?} (gave up after {limit:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) for the next event of `subscription` that satisfies `wanted`.
pub(crate) async fn next_event(
    subscription: &mut Subscription,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    let outcome = tokio::time::timeout(DEADLINE, async {
        loop {
            let event = subscription
                .next()
                .await
                .expect("the instancer outlives the subscription");
            if wanted(&event) {
                return event;
            }
        }
    })
    .await;
    outcome.unwrap_or_else(|_| {
        panic!(
            "no event with {what} within {DEADLINE:?}; last: {:?}",
            subscription.current()
        )
    })
}

/// The ids of an event's instances, or `None` for an error event.
pub(crate) fn event_ids(event: &Event) -> Option<Vec<String>> {
    event
        .instances()
        .map(|set| set.ids().map(str::to_owned).collect())
}

/// The message of an error event (the eureka error's own message: sd-core's discovery
/// error is transparent).
pub(crate) fn error_message(event: &Event) -> String {
    event.error().expect("an error event").to_string()
}

/// `(address, status)` of every instance of `app` in a registry, sorted.
pub(crate) fn server_view(apps: &Applications, app: &str) -> Vec<(String, Status)> {
    let mut view: Vec<(String, Status)> = apps
        .application(app)
        .map(|a| {
            a.instances
                .iter()
                .map(|i| (i.address(), i.status))
                .collect()
        })
        .unwrap_or_default();
    view.sort();
    view
}

/// The addresses of the instances of `app` in a registry, whatever their status, sorted.
pub(crate) fn server_addresses(apps: &Applications, app: &str) -> Vec<String> {
    server_view(apps, app).into_iter().map(|(a, _)| a).collect()
}

/// A service URL on a loopback port nothing listens on: connections are refused.
pub(crate) async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}/eureka/")
}

/// Writes one line straight to the process's stderr, past the test harness's capture.
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A registry document of `instances` (JSON), with `hashcode` as its `apps__hashcode`
/// (`None`: the right one).
pub(crate) fn registry_json(instances: &[InstanceInfo], hashcode: Option<&str>) -> Vec<u8> {
    let mut apps = Applications::default();
    for instance in instances {
        let position = apps
            .applications
            .iter()
            .position(|a| a.name == instance.app);
        let index = position.unwrap_or_else(|| {
            apps.applications.push(sd_eureka::Application {
                name: instance.app.clone(),
                instances: Vec::new(),
            });
            apps.applications.len() - 1
        });
        apps.applications[index].instances.push(instance.clone());
    }
    apps.versions_delta = Some(1);
    apps.apps_hashcode = Some(hashcode.map_or_else(|| apps.reconcile_hash_code(), str::to_owned));
    encode_applications(&apps, Format::Json).expect("encodable")
}

/// An empty delta that claims the registry holds `hashcode`.
pub(crate) fn empty_delta_json(hashcode: &str) -> Vec<u8> {
    format!(
        r#"{{"applications":{{"versions__delta":"2","apps__hashcode":"{hashcode}","application":[]}}}}"#
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------
// A raw HTTP/1.1 server, for faults a real server never makes.
// ---------------------------------------------------------------------------------------

/// One request as the raw server read it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path and query, as sent.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A header's value (names match case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the raw server does with one request. Every answer closes the connection after it.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// A complete response.
    Full {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// These bytes exactly, then close (e.g. a body shorter than its `Content-Length`).
    Raw(Vec<u8>),
    /// These bytes, then nothing more, with the connection held open.
    Stall(Vec<u8>),
    /// Read the request and never answer.
    Silent,
    /// Read the request, never answer, and count the client hanging up
    /// ([`RawServer::hung_up`]).
    Hold,
    /// Close at once without answering.
    Close,
    /// Forward the request to this server and relay its answer.
    Proxy(SocketAddr),
    /// Wait this long, then forward as [`Reply::Proxy`] does, whether or not the client
    /// is still there: a proxy that holds requests back.
    ProxyAfter(SocketAddr, Duration),
}

impl Reply {
    /// A JSON answer with status 200.
    pub(crate) fn json(body: impl Into<Vec<u8>>) -> Self {
        Self::Full {
            status: 200,
            content_type: "application/json",
            body: body.into(),
        }
    }

    /// A plain-text answer with this status.
    pub(crate) fn status(status: u16, text: &str) -> Self {
        Self::Full {
            status,
            content_type: "text/plain",
            body: text.as_bytes().to_vec(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A loopback HTTP server answering each request as its handler says, recording every
/// request it read and counting the connections it accepted. Stops when dropped.
pub(crate) struct RawServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    relayed: Arc<AtomicUsize>,
    relayed_late: Arc<AtomicUsize>,
    hung_up: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RawServer {
    /// Starts a server on a free loopback port.
    pub(crate) async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), handler).await
    }

    /// Starts a server on `addr`.
    pub(crate) async fn start_on(
        addr: SocketAddr,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind a raw server");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let relayed = Arc::new(AtomicUsize::new(0));
        let relayed_late = Arc::new(AtomicUsize::new(0));
        let hung_up = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = tokio::spawn(accept_loop(
            listener,
            handler,
            Arc::clone(&requests),
            Arc::clone(&connections),
            Arc::clone(&relayed),
            Arc::clone(&relayed_late),
            Arc::clone(&hung_up),
        ));
        Self {
            addr,
            requests,
            connections,
            relayed,
            relayed_late,
            hung_up,
            task,
        }
    }

    /// Its address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A service URL for it: `http://ADDR/eureka/`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/eureka/", self.addr)
    }

    /// Every request read so far.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests had this method and path (without query).
    pub(crate) fn count(&self, method: &str, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.method == method && r.path() == path)
            .count()
    }

    /// How many connections it accepted.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many requests it forwarded upstream and had answered there.
    pub(crate) fn relayed(&self) -> usize {
        self.relayed.load(Ordering::SeqCst)
    }

    /// How many clients hung up on a request it held ([`Reply::Hold`]).
    pub(crate) fn hung_up(&self) -> usize {
        self.hung_up.load(Ordering::SeqCst)
    }

    /// How many of those it had held back first ([`Reply::ProxyAfter`]).
    pub(crate) fn relayed_late(&self) -> usize {
        self.relayed_late.load(Ordering::SeqCst)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which ends every connection.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    relayed: Arc<AtomicUsize>,
    relayed_late: Arc<AtomicUsize>,
    hung_up: Arc<AtomicUsize>,
) {
    let mut open = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = open.join_next(), if !open.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                open.spawn(serve_one(
                    stream,
                    Arc::clone(&handler),
                    Arc::clone(&requests),
                    Arc::clone(&relayed),
                    Arc::clone(&relayed_late),
                    Arc::clone(&hung_up),
                ));
            }
        }
    }
}

async fn serve_one(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Request>>>,
    relayed: Arc<AtomicUsize>,
    relayed_late: Arc<AtomicUsize>,
    hung_up: Arc<AtomicUsize>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request.clone());
    match handler(&request) {
        Reply::Full {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reason(status),
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::Stall(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
            std::future::pending::<()>().await;
        }
        Reply::Silent => std::future::pending::<()>().await,
        Reply::Hold => {
            let mut sink = [0_u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            hung_up.fetch_add(1, Ordering::SeqCst);
        }
        Reply::Close => {}
        Reply::Proxy(upstream) => {
            if let Some(answer) = forward(&request, upstream).await {
                relayed.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(&answer).await;
            }
            let _ = stream.shutdown().await;
        }
        Reply::ProxyAfter(upstream, delay) => {
            tokio::time::sleep(delay).await;
            if let Some(answer) = forward(&request, upstream).await {
                relayed.fetch_add(1, Ordering::SeqCst);
                relayed_late.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(&answer).await;
            }
            let _ = stream.shutdown().await;
        }
    }
}

/// Reads one request: the head, then a body of `Content-Length` bytes.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > 64 << 10 {
            return None;
        }
        let mut chunk = [0_u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0_u8; length - body.len()];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Sends `request` to `upstream` on a connection of its own (`Connection: close`) and
/// returns the whole answer as it came.
async fn forward(request: &Request, upstream: SocketAddr) -> Option<Vec<u8>> {
    let mut out = TcpStream::connect(upstream).await.ok()?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("connection") {
            // Writing to a String cannot fail.
            let _ = write!(head, "{name}: {value}\r\n");
        }
    }
    head.push_str("connection: close\r\n\r\n");
    out.write_all(head.as_bytes()).await.ok()?;
    out.write_all(&request.body).await.ok()?;
    let mut answer = Vec::new();
    out.read_to_end(&mut answer).await.ok()?;
    Some(answer)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}
