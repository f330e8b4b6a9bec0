//! Request handling: routing the REST API, content negotiation, gzip, auth, body limits.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use sd_eureka::{Document, Format, Metadata, Status};

use crate::encode::{Encoder, SharedRegistry};
use crate::gate::ReadGate;
use crate::registry::{Refused, Registry};
use crate::server::REDACTED;
use crate::server::now_millis;

/// Shared by every connection.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) registry: SharedRegistry,
    /// Encodes whole-registry answers off the workers; caches full-registry ones.
    pub(crate) encoder: Encoder,
    pub(crate) config: Config,
}

pub(crate) struct Config {
    /// The base64 `user:password` a Basic `Authorization` header must carry, when auth
    /// is on. Never shown by `Debug`.
    credentials: Option<String>,
    max_body: usize,
    /// Registry reads answer 403 while it is shut (see [`ReadGate`]).
    read_gate: ReadGate,
    /// What the status page shows of the server.
    page: crate::page::Settings,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("credentials", &self.credentials.as_ref().map(|_| REDACTED))
            .field("max_body", &self.max_body)
            .field("read_gate", &self.read_gate)
            .field("page", &self.page)
            .finish()
    }
}

impl Config {
    pub(crate) fn new(
        credentials: Option<&(String, String)>,
        max_body: usize,
        read_gate: ReadGate,
        page: crate::page::Settings,
    ) -> Self {
        let credentials = credentials.map(|(user, password)| {
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        });
        Self {
            credentials,
            max_body,
            read_gate,
            page,
        }
    }
}

pub(crate) type Reply = Response<Full<Bytes>>;

/// A request that gets an error status instead of its answer.
#[derive(Debug)]
pub(crate) struct Rejection {
    status: StatusCode,
    message: String,
}

impl Rejection {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn into_reply(self) -> Reply {
        plain(self.status, &self.message)
    }
}

/// The operations of the protocol page, after the base path.
enum Route<'a> {
    Apps,
    Delta,
    App(String),
    Instance(String, String),
    Status(String, String),
    Metadata(String, String),
    InstanceById(String),
    Vip(String, bool),
    Page,
    Unknown(&'a str),
}

impl Route<'_> {
    /// The methods the resource answers, for `Allow` on a 405.
    fn methods(&self) -> &'static str {
        match self {
            Route::App(_) => "GET, HEAD, POST",
            Route::Instance(..) => "GET, HEAD, PUT, DELETE",
            Route::Status(..) => "PUT, DELETE",
            Route::Metadata(..) => "PUT",
            Route::Apps
            | Route::Delta
            | Route::InstanceById(_)
            | Route::Vip(..)
            | Route::Page
            | Route::Unknown(_) => "GET, HEAD",
        }
    }

    /// Whether a GET of it reads the registry: what the read gate refuses. The status
    /// page is the dashboard, not the API, and stays readable (as a real server's does).
    fn reads_registry(&self) -> bool {
        matches!(
            self,
            Route::Apps
                | Route::Delta
                | Route::App(_)
                | Route::Instance(..)
                | Route::InstanceById(_)
                | Route::Vip(..)
        )
    }
}

fn route(path: &str) -> Route<'_> {
    let rest = path
        .strip_prefix("/eureka/v2/")
        .or_else(|| path.strip_prefix("/eureka/"));
    let Some(rest) = rest else {
        return if matches!(path, "/" | "" | "/eureka" | "/eureka/") {
            Route::Page
        } else {
            Route::Unknown(path)
        };
    };
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match s.as_slice() {
        [""] => Route::Page,
        ["apps"] => Route::Apps,
        ["apps", "delta"] => Route::Delta,
        ["apps", app] => Route::App((*app).to_owned()),
        ["apps", app, id] => Route::Instance((*app).to_owned(), (*id).to_owned()),
        ["apps", app, id, "status"] => Route::Status((*app).to_owned(), (*id).to_owned()),
        ["apps", app, id, "metadata"] => Route::Metadata((*app).to_owned(), (*id).to_owned()),
        ["instances", id] => Route::InstanceById((*id).to_owned()),
        ["vips", vip] => Route::Vip((*vip).to_owned(), false),
        ["svips", vip] => Route::Vip((*vip).to_owned(), true),
        _ => Route::Unknown(path),
    }
}

impl State {
    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Reply {
        if !self.authorized(request.headers()) {
            return unauthorized();
        }
        let (parts, body) = request.into_parts();
        let negotiated = Negotiated::from(&parts.headers);
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let now = now_millis();
        // HEAD is answered as GET; hyper leaves the body out.
        let method = if parts.method == Method::HEAD {
            Method::GET
        } else {
            parts.method.clone()
        };
        let route = route(parts.uri.path());
        let allowed = route.methods();
        if let Some(refused) = self.read_gate(&method, &route) {
            return refused;
        }
        let reply = match (&method, route) {
            (&Method::GET, Route::Page) => {
                let refused_for = self.config.read_gate.remaining(Instant::now());
                // The lock is held for the snapshot only, not for the HTML.
                let snapshot = self.lock_registry().page_snapshot(now);
                crate::page::render(&snapshot, now, &self.config.page, refused_for)
            }
            (&Method::GET, Route::Apps) => {
                self.encoder.full_registry(&self.registry, negotiated).await
            }
            (&Method::GET, Route::Delta) => {
                let delta = move |registry: &mut Registry| registry.delta(now);
                self.encoder
                    .document(&self.registry, negotiated, delta)
                    .await
            }
            (&Method::GET, Route::App(app)) => match self.lock_registry().application(&app) {
                Some(app) => negotiated.document(&Document::Application(app)),
                None => plain(StatusCode::NOT_FOUND, "no such application"),
            },
            (&Method::POST, Route::App(app)) => {
                match read_body(body, &parts.headers, self.config.max_body).await {
                    // Dated on arrival of the whole body, not of the headers.
                    Ok((bytes, format)) => self.register(&app, &bytes, format, now_millis()),
                    Err(rejection) => rejection.into_reply(),
                }
            }
            (&Method::GET, Route::Instance(app, id)) => self.instance(negotiated, Some(&app), &id),
            (&Method::GET, Route::InstanceById(id)) => self.instance(negotiated, None, &id),
            (&Method::PUT, Route::Instance(app, id)) => {
                // `status` is not read: a heartbeat does not set it (see `Registry::renew`).
                let dirty = param("lastDirtyTimestamp").and_then(|t| t.parse().ok());
                let renewed = self.lock_registry().renew(&app, &id, dirty, now);
                outcome(renewed)
            }
            (&Method::DELETE, Route::Instance(app, id)) => {
                outcome(self.lock_registry().cancel(&app, &id, now))
            }
            (&Method::PUT, Route::Status(app, id)) => match param("value") {
                Some(value) => {
                    let status = Status::from_wire(value);
                    outcome(self.lock_registry().set_override(&app, &id, status, now))
                }
                None => plain(StatusCode::BAD_REQUEST, "missing value"),
            },
            (&Method::DELETE, Route::Status(app, id)) => {
                let status = param("value").map(Status::from_wire);
                outcome(self.lock_registry().remove_override(&app, &id, status, now))
            }
            (&Method::PUT, Route::Metadata(app, id)) => {
                let entries: Metadata = query.iter().cloned().collect();
                outcome(self.lock_registry().merge_metadata(&app, &id, entries, now))
            }
            (&Method::GET, Route::Vip(vip, secure)) => {
                let apps = self.lock_registry().by_vip(&vip, secure);
                if apps.applications.is_empty() {
                    plain(StatusCode::NOT_FOUND, "no instance has that VIP")
                } else {
                    negotiated.document(&Document::Applications(apps))
                }
            }
            (_, Route::Unknown(path)) => {
                plain(StatusCode::NOT_FOUND, &format!("no such resource: {path}"))
            }
            _ => {
                let mut reply = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
                reply
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allowed));
                reply
            }
        };
        tracing::debug!(method = %parts.method, path = %parts.uri.path(), status = %reply.status(), "request");
        reply
    }

    /// The 403 of the read gate, for a registry read while it is shut.
    fn read_gate(&self, method: &Method, route: &Route<'_>) -> Option<Reply> {
        if method != Method::GET || !route.reads_registry() {
            return None;
        }
        let left = self.config.read_gate.remaining(Instant::now())?;
        Some(plain(
            StatusCode::FORBIDDEN,
            &format!(
                "registry reads are refused for a while after start, as a real server that got \
                 nothing from its peers does ({}); writes are accepted",
                left_text(left)
            ),
        ))
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.config.credentials else {
            return true;
        };
        // The scheme is case-insensitive (RFC 9110 §11.1); the credentials are not.
        headers
            .get(AUTHORIZATION)
            .and_then(|given| given.to_str().ok())
            .and_then(|given| given.trim().split_once(' '))
            .is_some_and(|(scheme, token)| {
                let matches = constant_time_eq(token.trim().as_bytes(), expected.as_bytes());
                scheme.eq_ignore_ascii_case("basic") && matches
            })
    }

    fn register(&self, app: &str, body: &[u8], format: Format, now: i64) -> Reply {
        let intake = crate::intake::inspect(body, format);
        let instance = match sd_eureka::decode(&intake.body, format) {
            Ok(Document::Instance(instance)) => *instance,
            Ok(_) => return plain(StatusCode::BAD_REQUEST, "the body is not an instance"),
            Err(error) => return plain(StatusCode::BAD_REQUEST, &error.to_string()),
        };
        // The checks real servers make before accepting a registration.
        let missing = [
            ("dataCenterInfo", !intake.has_data_center),
            ("instanceId", instance.instance_id.is_empty()),
            ("hostName", instance.host_name.is_empty()),
            ("ipAddr", instance.ip_addr.is_empty()),
            (
                "dataCenterInfo name",
                instance.data_center_info.name.is_empty(),
            ),
        ];
        if let Some((field, _)) = missing.iter().find(|(_, missing)| *missing) {
            return plain(StatusCode::BAD_REQUEST, &format!("missing {field}"));
        }
        if !instance.app.is_empty() && !instance.app.eq_ignore_ascii_case(app) {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!(
                    "mismatched app name: {} in the body, {app} in the path",
                    instance.app
                ),
            );
        }
        self.lock_registry().register(app, instance, now);
        empty(StatusCode::NO_CONTENT)
    }

    fn instance(&self, negotiated: Negotiated, app: Option<&str>, id: &str) -> Reply {
        match self.lock_registry().instance(app, id) {
            Some(instance) => negotiated.document(&Document::Instance(Box::new(instance))),
            None => plain(StatusCode::NOT_FOUND, "no such instance"),
        }
    }
}

/// What the client asked for: its `Accept` and `Accept-Encoding`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Negotiated {
    pub(crate) format: Format,
    pub(crate) gzip: bool,
}

impl From<&HeaderMap> for Negotiated {
    fn from(headers: &HeaderMap) -> Self {
        let has = |name, needle: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.to_ascii_lowercase().contains(needle))
        };
        Self {
            format: if has(ACCEPT, "application/json") {
                Format::Json
            } else {
                Format::Xml
            },
            gzip: has(ACCEPT_ENCODING, "gzip"),
        }
    }
}

impl Negotiated {
    fn document(self, document: &Document) -> Reply {
        self.body(document)
            .map_or_else(Rejection::into_reply, |body| self.reply(body))
    }

    /// The encoded, and if asked compressed, body. A document XML cannot carry as is (odd
    /// metadata keys, control characters) is written from its XML-safe copy, so that no
    /// registration makes reads fail (see `xml_safe`); a 500 only if even that fails.
    pub(crate) fn body(self, document: &Document) -> Result<Bytes, Rejection> {
        let fail = |error: &dyn std::fmt::Display| {
            Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
        };
        let encoded = match sd_eureka::encode(document, self.format) {
            Ok(encoded) => encoded,
            Err(_) if self.format == Format::Xml => {
                sd_eureka::encode(&crate::xml_safe::xml_safe(document), Format::Xml)
                    .map_err(|e| fail(&e))?
            }
            Err(error) => return Err(fail(&error)),
        };
        self.compress(encoded).map_err(|e| fail(&e))
    }

    fn compress(self, body: Vec<u8>) -> std::io::Result<Bytes> {
        if !self.gzip {
            return Ok(Bytes::from(body));
        }
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 8),
            flate2::Compression::fast(),
        );
        encoder.write_all(&body)?;
        encoder.finish().map(Bytes::from)
    }

    /// A 200 with an already encoded (and, if asked, compressed) body.
    pub(crate) fn reply(self, body: Bytes) -> Reply {
        let mut reply = Response::new(Full::new(body));
        let headers = reply.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(self.format.media_type()),
        );
        if self.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        reply
    }
}

/// Reads a request body: at most `max` bytes after gunzipping, in the format its
/// `Content-Type` names (JSON, or XML for XML types, `*/*` and none; anything else 415).
async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    max: usize,
) -> Result<(Vec<u8>, Format), Rejection> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let format = match content_type.as_deref() {
        Some("application/json") => Format::Json,
        None | Some("application/xml" | "text/xml" | "*/*") => Format::Xml,
        Some(other) => {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content type {other}"),
            ));
        }
    };
    let too_large = || Rejection::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    let raw = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(_) => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "could not read the body",
            ));
        }
    };
    let gzipped = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzipped {
        return Ok((raw.to_vec(), format));
    }
    let mut plain_body = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    match flate2::read::GzDecoder::new(&raw[..])
        .take(limit)
        .read_to_end(&mut plain_body)
    {
        Ok(n) if n > max => Err(too_large()),
        Ok(_) => Ok((plain_body, format)),
        Err(_) => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "the gzip body is corrupt",
        )),
    }
}

/// `"12 s left"`, or `"until it stops"` for a gate that never opens.
fn left_text(left: Duration) -> String {
    if left == Duration::MAX {
        "until it stops".to_owned()
    } else {
        // Rounded up: "0 s left" would read as open.
        let secs = left
            .as_secs()
            .saturating_add(u64::from(left.subsec_nanos() > 0));
        format!("{secs} s left")
    }
}

/// Whether `given` equals `expected`, in a time that depends on their lengths only: a
/// byte-by-byte comparison that stops at the first difference would tell a client, by its
/// timing, how much of a guessed password is right. (The length of the expected token is
/// no secret worth keeping: it only bounds the password's length.)
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    let difference = given
        .iter()
        .zip(expected)
        .fold(0_u8, |acc, (a, b)| acc | (a ^ b));
    // Kept opaque, so that the optimizer cannot turn the fold back into an early exit.
    std::hint::black_box(difference) == 0
}

fn unauthorized() -> Reply {
    let mut reply = plain(StatusCode::UNAUTHORIZED, "authentication required");
    reply.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"eureka\""),
    );
    reply
}

fn outcome(result: Result<(), Refused>) -> Reply {
    match result {
        Ok(()) => empty(StatusCode::OK),
        Err(refused) => plain(StatusCode::NOT_FOUND, &refused.to_string()),
    }
}

fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    reply
}

pub(crate) fn plain(status: StatusCode, message: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"ZGV2OnMzY3JldA==", b"ZGV2OnMzY3JldA=="));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"ZGV2OnMzY3JldA==", b"ZGV2OnMzY3JldA=!"));
        assert!(!constant_time_eq(b"XGV2OnMzY3JldA==", b"ZGV2OnMzY3JldA=="));
        assert!(!constant_time_eq(b"ZGV2", b"ZGV2OnMzY3JldA=="));
    }
}
