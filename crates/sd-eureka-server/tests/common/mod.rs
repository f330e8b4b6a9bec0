//! Helpers shared by the integration tests: a small HTTP client over loopback, instance
//! builders, gzip, decoding of the server's answers and polling with a deadline.

// Each test crate uses its own part of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sd_eureka::{Application, Applications, Document, Format, InstanceInfo, Status};
use sd_eureka_server::{Builder, EurekaServer};

/// Both base paths real servers use; every API test runs under each.
pub(crate) const BASES: [&str; 2] = ["/eureka/", "/eureka/v2/"];

/// The `lastDirtyTimestamp` test instances carry unless a test sets another.
pub(crate) const DIRTY: i64 = 1_700_000_000_000;

/// A bound on any single request, so that a server bug fails a test instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A generous bound for anything polled: never a timing assertion, only a guard.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// A builder listening on an ephemeral loopback port.
pub(crate) fn builder() -> Builder {
    EurekaServer::builder().addr(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// A server with the default settings on an ephemeral port.
pub(crate) async fn start() -> EurekaServer {
    builder().bind().await.expect("bind the registry")
}

/// An answer: status, headers and the body bytes as they came over the wire.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A header's value, when present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of `Content-Type` (parameters dropped), `""` when absent.
    pub(crate) fn media_type(&self) -> String {
        self.header(CONTENT_TYPE.as_str())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// Whether the body is gzipped, per `Content-Encoding`.
    pub(crate) fn is_gzip(&self) -> bool {
        self.header(CONTENT_ENCODING.as_str())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
    }

    /// The body, gunzipped when `Content-Encoding` says gzip.
    pub(crate) fn plain_body(&self) -> Vec<u8> {
        if self.is_gzip() {
            gunzip(&self.body)
        } else {
            self.body.to_vec()
        }
    }

    /// The (gunzipped) body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.plain_body()).expect("a UTF-8 body")
    }

    /// The wire format `Content-Type` names.
    pub(crate) fn format(&self) -> Format {
        match self.media_type().as_str() {
            "application/json" => Format::Json,
            "application/xml" => Format::Xml,
            other => panic!("not a Eureka document: Content-Type {other:?} ({self:?})"),
        }
    }

    /// Asserts a 200 and decodes the body in the format `Content-Type` names.
    pub(crate) fn document(&self) -> Document {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let format = self.format();
        sd_eureka::decode(&self.plain_body(), format)
            .unwrap_or_else(|e| panic!("the {format} body does not decode: {e}\n{}", self.text()))
    }

    /// Asserts a 200 with an `applications` document.
    pub(crate) fn applications(&self) -> Applications {
        match self.document() {
            Document::Applications(apps) => apps,
            other => panic!("expected applications, got {other:?}"),
        }
    }

    /// Asserts a 200 with an `application` document.
    pub(crate) fn application(&self) -> Application {
        match self.document() {
            Document::Application(app) => app,
            other => panic!("expected an application, got {other:?}"),
        }
    }

    /// Asserts a 200 with an `instance` document.
    pub(crate) fn instance(&self) -> InstanceInfo {
        match self.document() {
            Document::Instance(instance) => *instance,
            other => panic!("expected an instance, got {other:?}"),
        }
    }
}

/// A client for one server, over loopback, with a connection pool.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    origin: String,
}

impl Http {
    /// A client of `server`.
    pub(crate) fn new(server: &EurekaServer) -> Self {
        Self::for_addr(server.local_addr())
    }

    /// A client of whatever listens at `addr`.
    pub(crate) fn for_addr(addr: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            origin: format!("http://{addr}"),
        }
    }

    /// Sends a request, panicking on a transport error or when no answer comes in time.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        match self.try_send(method.clone(), path, headers, body).await {
            Ok(reply) => reply,
            Err(error) => panic!("{method} {path}: {error}"),
        }
    }

    /// Sends a request; a transport error or a timeout is an `Err`.
    pub(crate) async fn try_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.origin));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.into()))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
    }

    /// `GET path` with no particular header (so: XML, not gzipped).
    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// `GET path` asking for JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Reply {
        self.send(
            Method::GET,
            path,
            &[("accept", "application/json")],
            Bytes::new(),
        )
        .await
    }

    /// `PUT path` without a body.
    pub(crate) async fn put(&self, path: &str) -> Reply {
        self.send(Method::PUT, path, &[], Bytes::new()).await
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, &[], Bytes::new()).await
    }

    /// Registers `instance` under `{base}apps/{its app}` with a JSON body.
    pub(crate) async fn register(&self, base: &str, instance: &InstanceInfo) -> Reply {
        self.register_as(base, instance, Format::Json).await
    }

    /// Registers `instance` under `{base}apps/{its app}` with a body in `format`.
    pub(crate) async fn register_as(
        &self,
        base: &str,
        instance: &InstanceInfo,
        format: Format,
    ) -> Reply {
        let body = sd_eureka::encode_instance(instance, format).expect("encode the instance");
        self.send(
            Method::POST,
            &format!("{base}apps/{}", instance.app),
            &[("content-type", format.media_type())],
            body,
        )
        .await
    }

    /// Registers `instance` and asserts the 204.
    pub(crate) async fn register_ok(&self, base: &str, instance: &InstanceInfo) {
        let reply = self.register(base, instance).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "register {}: {}",
            instance.instance_id,
            reply.text()
        );
    }

    /// `GET {base}apps` in JSON: the full registry.
    pub(crate) async fn full(&self, base: &str) -> Applications {
        self.get_json(&format!("{base}apps")).await.applications()
    }

    /// `GET {base}apps/delta` in JSON.
    pub(crate) async fn delta(&self, base: &str) -> Applications {
        self.get_json(&format!("{base}apps/delta"))
            .await
            .applications()
    }

    /// `GET {base}apps/{app}/{id}` in JSON; `None` on a 404.
    pub(crate) async fn find(&self, base: &str, instance: &InstanceInfo) -> Option<InstanceInfo> {
        let reply = self.get_json(&instance_path(base, instance)).await;
        if reply.status == StatusCode::NOT_FOUND {
            None
        } else {
            Some(reply.instance())
        }
    }

    /// The instance's status as the server shows it now (panics when it is unknown).
    pub(crate) async fn status_of(&self, base: &str, instance: &InstanceInfo) -> Status {
        self.find(base, instance)
            .await
            .unwrap_or_else(|| panic!("{} is not registered", instance.instance_id))
            .status
    }

    /// A heartbeat reporting `status`, with the instance's own `lastDirtyTimestamp`.
    pub(crate) async fn renew(&self, base: &str, instance: &InstanceInfo, status: &str) -> Reply {
        self.put(&format!(
            "{}?status={status}&lastDirtyTimestamp={}",
            instance_path(base, instance),
            instance.last_dirty_timestamp
        ))
        .await
    }
}

/// `{base}apps/{APP}/{ID}`.
pub(crate) fn instance_path(base: &str, instance: &InstanceInfo) -> String {
    format!("{base}apps/{}/{}", instance.app, instance.instance_id)
}

/// An UP instance of `app` numbered `n`: host `host-{n}`, a distinct IP, port 8080, id
/// `host-{n}:{app}:8080`, VIPs = the app name in lower case, a 30 s / 90 s lease.
pub(crate) fn instance(app: &str, n: u32) -> InstanceInfo {
    let ip = format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    let mut instance = InstanceInfo::new(app, &format!("host-{n}"), &ip, 8080);
    instance.last_dirty_timestamp = DIRTY;
    instance
}

/// The same instance with a lease of `secs` seconds.
pub(crate) fn with_lease(mut instance: InstanceInfo, secs: u32) -> InstanceInfo {
    let mut lease = instance.lease_info.unwrap_or_default();
    lease.duration_in_secs = secs;
    lease.renewal_interval_in_secs = 1;
    instance.lease_info = Some(lease);
    instance
}

/// Instance id → status, over a whole registry.
pub(crate) fn statuses(apps: &Applications) -> BTreeMap<String, Status> {
    apps.instances()
        .map(|(_, i)| (i.instance_id.clone(), i.status))
        .collect()
}

/// Instance id → (app, status, metadata): what a client's copy must agree on.
pub(crate) fn summary(apps: &Applications) -> BTreeMap<String, (String, Status, Vec<String>)> {
    apps.instances()
        .map(|(app, i)| {
            let metadata = i.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (
                i.instance_id.clone(),
                (app.to_ascii_uppercase(), i.status, metadata),
            )
        })
        .collect()
}

/// Gzips `bytes`.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Gunzips `bytes`, panicking when they are not gzip.
pub(crate) fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("a gzip body");
    plain
}

/// Polls `check` every 50 ms until it holds, failing the test after [`DEADLINE`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
