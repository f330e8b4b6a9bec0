//! `Connection`: the Eureka REST API as typed async calls, over one or more service URLs
//! with failover.

use std::fmt;
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::instancer::PollerHandle;
use crate::{
    Application, Applications, Document, Format, InstanceInfo, Metadata, Status, decode_any,
    encode_instance,
};

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// Characters escaped in a path segment (app names and instance ids).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A client of one Eureka cluster: every operation of the REST API as a typed call.
///
/// Each call tries the service URLs in order, skipping those set aside after a recent
/// failure, and moves to the next on a transport error, a timeout, a 5xx or an unusable
/// answer, at most `attempts` URLs per call. Credentials in a URL's userinfo become HTTP
/// Basic auth for that URL and never appear in logs, errors or `Debug`. Cloning is cheap
/// and clones share connections.
///
/// ```no_run
/// # async fn demo() -> Result<(), sd_eureka::Error> {
/// let connection = sd_eureka::Connection::builder()
///     .service_url("http://eureka-a:8761/eureka/")
///     .service_url("http://user:secret@eureka-b:8761/eureka/")
///     .build()?;
/// let registry = connection.applications().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<Connector, Full<Bytes>>,
    urls: Vec<ServiceUrl>,
    /// When each URL may be tried again after failing; `None` when it is in good standing.
    set_aside: Mutex<Vec<Option<Instant>>>,
    format: Format,
    request_timeout: Duration,
    max_response: usize,
    attempts: usize,
    quarantine: Duration,
    bytes_received: AtomicU64,
    poll_interval: Duration,
    /// The poller shared by this connection's instancers, while any lives.
    poller: Mutex<Weak<PollerHandle>>,
}

/// A service URL with its credentials split off.
struct ServiceUrl {
    /// `scheme://host:port/path/`, without userinfo.
    base: Arc<str>,
    authorization: Option<HeaderValue>,
}

/// Options for a [`Connection`].
#[derive(Clone)]
#[must_use]
pub struct ConnectionBuilder {
    urls: Vec<String>,
    format: Format,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response: usize,
    attempts: usize,
    quarantine: Duration,
    poll_interval: Duration,
}

impl Default for ConnectionBuilder {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            format: Format::Json,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(8),
            max_response: 64 << 20,
            attempts: 3,
            quarantine: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<_> = self.urls.iter().map(|u| redact_url(u)).collect();
        f.debug_struct("ConnectionBuilder")
            .field("urls", &urls)
            .field("format", &self.format)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_response", &self.max_response)
            .field("attempts", &self.attempts)
            .field("quarantine", &self.quarantine)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// The URLs of a comma-separated list (`EUREKA_URL`'s form), blanks skipped.
///
/// ```
/// assert_eq!(
///     sd_eureka::split_service_urls(" http://a/eureka/ ,,http://b/eureka/"),
///     ["http://a/eureka/", "http://b/eureka/"]
/// );
/// ```
pub fn split_service_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `url` without the userinfo (`user:password@`) of its authority, for messages and logs:
/// credentials must never be printed. Text that is not quite a URL is handled the same
/// way; an `@` in the path is not userinfo.
///
/// ```
/// assert_eq!(
///     sd_eureka::redact_url("http://admin:s3cret@eureka:8761/eureka/"),
///     "http://eureka:8761/eureka/"
/// );
/// ```
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return std::borrow::Cow::Borrowed(url);
    };
    let host_and_path = &rest[at + 1..];
    std::borrow::Cow::Owned(match scheme {
        Some(scheme) => format!("{scheme}://{host_and_path}"),
        None => host_and_path.to_owned(),
    })
}

impl ConnectionBuilder {
    /// Adds a service URL (base path included, e.g. `http://host:8761/eureka/`); userinfo
    /// means Basic auth.
    pub fn service_url(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// Adds several service URLs; each item may itself be a comma-separated list (as in
    /// `EUREKA_URL`).
    pub fn service_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for list in urls {
            self.urls.extend(split_service_urls(list.as_ref()));
        }
        self
    }

    /// The format to ask for and to register in (default JSON).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// How long to wait for a TCP (and TLS) connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may take, answer body included (default 8 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest answer accepted, after decompression (default 64 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// How many service URLs one call may try (default 3).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// How long a failing URL is set aside (default 30 s).
    pub fn quarantine(mut self, period: Duration) -> Self {
        self.quarantine = period;
        self
    }

    /// How often the instancers of this connection poll the registry (default 30 s, as
    /// fargo's `PollIntervalSeconds` and the Java client).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Checks the URLs and builds the connection.
    pub fn build(self) -> Result<Connection, Error> {
        if self.urls.is_empty() {
            return Err(Error::new(ErrorKind::Config("no service URL".into())));
        }
        let urls = self
            .urls
            .iter()
            .map(|u| ServiceUrl::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        #[cfg(feature = "tls")]
        let connector = {
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        };
        #[cfg(not(feature = "tls"))]
        let connector = http;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let count = urls.len();
        Ok(Connection {
            inner: Arc::new(Inner {
                client,
                urls,
                set_aside: Mutex::new(vec![None; count]),
                format: self.format,
                request_timeout: self.request_timeout,
                max_response: self.max_response,
                attempts: self.attempts,
                quarantine: self.quarantine,
                bytes_received: AtomicU64::new(0),
                poll_interval: self.poll_interval,
                poller: Mutex::new(Weak::new()),
            }),
        })
    }
}

impl ServiceUrl {
    fn parse(raw: &str) -> Result<Self, Error> {
        let config = |why: &str| Error::new(ErrorKind::Config(format!("service URL: {why}")));
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| config("missing scheme (http:// or https://)"))?;
        match scheme {
            "http" => {}
            "https" if cfg!(feature = "tls") => {}
            "https" => return Err(config("https needs the `tls` feature of sd-eureka")),
            _ => return Err(config("the scheme must be http or https")),
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(config("missing host"));
        }
        let authorization = userinfo
            .map(|userinfo| {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode_str(user).decode_utf8_lossy();
                let password = percent_decode_str(password).decode_utf8_lossy();
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                HeaderValue::from_str(&format!("Basic {token}"))
                    .map(|mut v| {
                        v.set_sensitive(true);
                        v
                    })
                    .map_err(|_| config("credentials that cannot be sent"))
            })
            .transpose()?;
        let path = path.trim_end_matches('/');
        let base = if path.is_empty() {
            format!("{scheme}://{host}/")
        } else {
            format!("{scheme}://{host}/{path}/")
        };
        base.parse::<http::Uri>()
            .map_err(|e| config(&format!("not a valid URL: {e}")))?;
        Ok(Self {
            base: base.into(),
            authorization,
        })
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials.
        f.write_str(&self.base)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("service_urls", &self.inner.urls)
            .field("format", &self.inner.format)
            .finish_non_exhaustive()
    }
}

/// A successful exchange (any status below 500).
struct Answer {
    status: StatusCode,
    body: Bytes,
    /// The service URL that answered, for error messages.
    url: Arc<str>,
}

impl Connection {
    /// Options for a connection.
    pub fn builder() -> ConnectionBuilder {
        ConnectionBuilder::default()
    }

    /// A connection with default options to these service URLs (each may be a
    /// comma-separated list).
    pub fn new<I, S>(urls: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::builder().service_urls(urls).build()
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    pub(crate) fn poller_slot(&self) -> std::sync::MutexGuard<'_, Weak<PollerHandle>> {
        self.inner
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The format this connection asks for and registers in.
    pub fn format(&self) -> Format {
        self.inner.format
    }

    /// Bytes received from servers so far, as they came over the wire (compressed).
    pub fn bytes_received(&self) -> u64 {
        self.inner.bytes_received.load(Ordering::Relaxed)
    }

    /// `POST apps/{APP}`: registers `instance` (or registers it again).
    pub async fn register(&self, instance: &InstanceInfo) -> Result<(), Error> {
        let body = encode_instance(instance, self.inner.format).map_err(Error::from_kind)?;
        let path = format!("apps/{}", segment(&instance.app));
        let answer = self
            .call(Method::POST, &path, Some(Bytes::from(body)))
            .await?;
        expect(answer, &[StatusCode::NO_CONTENT, StatusCode::OK]).map(drop)
    }

    /// `PUT apps/{APP}/{ID}?status=..&lastDirtyTimestamp=..`: a heartbeat. A 404 means the
    /// server does not know the instance (see [`Error::is_not_found`]): register again.
    pub async fn heartbeat(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: i64,
    ) -> Result<(), Error> {
        let path = format!(
            "apps/{}/{}?status={status}&lastDirtyTimestamp={last_dirty_timestamp}",
            segment(app),
            segment(id)
        );
        let answer = self.call(Method::PUT, &path, None).await?;
        expect(answer, &[StatusCode::OK]).map(drop)
    }

    /// `DELETE apps/{APP}/{ID}`: removes the instance. Removing an unknown instance is not
    /// an error.
    pub async fn deregister(&self, app: &str, id: &str) -> Result<(), Error> {
        let path = format!("apps/{}/{}", segment(app), segment(id));
        let answer = self.call(Method::DELETE, &path, None).await?;
        expect(answer, &[StatusCode::OK, StatusCode::NOT_FOUND]).map(drop)
    }

    /// `PUT apps/{APP}/{ID}/status?value=..`: overrides the instance's status (e.g.
    /// `OUT_OF_SERVICE`) until [`remove_status_override`](Self::remove_status_override).
    pub async fn set_status_override(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: i64,
    ) -> Result<(), Error> {
        let path = format!(
            "apps/{}/{}/status?value={status}&lastDirtyTimestamp={last_dirty_timestamp}",
            segment(app),
            segment(id)
        );
        let answer = self.call(Method::PUT, &path, None).await?;
        expect(answer, &[StatusCode::OK]).map(drop)
    }

    /// `DELETE apps/{APP}/{ID}/status[?value=..]`: removes a status override; the instance
    /// takes `status` when given.
    pub async fn remove_status_override(
        &self,
        app: &str,
        id: &str,
        status: Option<Status>,
        last_dirty_timestamp: i64,
    ) -> Result<(), Error> {
        let mut path = format!(
            "apps/{}/{}/status?lastDirtyTimestamp={last_dirty_timestamp}",
            segment(app),
            segment(id)
        );
        if let Some(status) = status {
            path.push_str("&value=");
            path.push_str(status.as_str());
        }
        let answer = self.call(Method::DELETE, &path, None).await?;
        expect(answer, &[StatusCode::OK]).map(drop)
    }

    /// `PUT apps/{APP}/{ID}/metadata?k=v..`: merges `entries` into the instance's metadata.
    pub async fn update_metadata(
        &self,
        app: &str,
        id: &str,
        entries: &Metadata,
    ) -> Result<(), Error> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(entries)
            .finish();
        let path = format!("apps/{}/{}/metadata?{query}", segment(app), segment(id));
        let answer = self.call(Method::PUT, &path, None).await?;
        expect(answer, &[StatusCode::OK]).map(drop)
    }

    /// `GET apps`: the full registry.
    pub async fn applications(&self) -> Result<Applications, Error> {
        self.get_registry("apps").await?.ok_or_else(not_found)
    }

    /// `GET apps/delta`: changes of the last few minutes. A 403 means the server has
    /// deltas disabled (check [`Error::status`]); fetch in full instead.
    pub async fn delta(&self) -> Result<Applications, Error> {
        self.get_registry("apps/delta").await?.ok_or_else(not_found)
    }

    /// `GET apps/{APP}`: one app. An unknown app, or one with no instances, is an empty
    /// app, not an error (real servers answer 404).
    pub async fn application(&self, app: &str) -> Result<Application, Error> {
        let path = format!("apps/{}", segment(app));
        let answer = self.call(Method::GET, &path, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(Application {
                name: app.to_ascii_uppercase(),
                instances: Vec::new(),
            });
        }
        match Self::document(&expect(answer, &[StatusCode::OK])?)? {
            Document::Application(app) => Ok(app),
            other => Ok(other
                .into_applications()
                .applications
                .into_iter()
                .next()
                .unwrap_or_default()),
        }
    }

    /// `GET apps/{APP}/{ID}`: one instance.
    pub async fn instance(&self, app: &str, id: &str) -> Result<InstanceInfo, Error> {
        self.get_instance(&format!("apps/{}/{}", segment(app), segment(id)))
            .await
    }

    /// `GET instances/{ID}`: one instance, whatever its app.
    pub async fn instance_by_id(&self, id: &str) -> Result<InstanceInfo, Error> {
        self.get_instance(&format!("instances/{}", segment(id)))
            .await
    }

    /// `GET vips/{VIP}`: the instances with that VIP address; empty when none.
    pub async fn vip(&self, vip: &str) -> Result<Applications, Error> {
        let path = format!("vips/{}", segment(vip));
        Ok(self.get_registry(&path).await?.unwrap_or_default())
    }

    /// `GET svips/{SVIP}`: the instances with that secure VIP address; empty when none.
    pub async fn secure_vip(&self, svip: &str) -> Result<Applications, Error> {
        let path = format!("svips/{}", segment(svip));
        Ok(self.get_registry(&path).await?.unwrap_or_default())
    }

    /// A registry document, or `None` on 404.
    async fn get_registry(&self, path: &str) -> Result<Option<Applications>, Error> {
        let answer = self.call(Method::GET, path, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let document = Self::document(&expect(answer, &[StatusCode::OK])?)?;
        Ok(Some(document.into_applications()))
    }

    async fn get_instance(&self, path: &str) -> Result<InstanceInfo, Error> {
        let answer = self.call(Method::GET, path, None).await?;
        match Self::document(&expect(answer, &[StatusCode::OK])?)? {
            Document::Instance(instance) => Ok(*instance),
            _ => Err(Error::new(ErrorKind::Config(
                "the server answered something other than an instance".into(),
            ))),
        }
    }

    fn document(body: &[u8]) -> Result<Document, Error> {
        decode_any(body)
            .map(|(_, document)| document)
            .map_err(|e| Error::new(ErrorKind::Decode(e)))
    }

    /// Sends one request, trying service URLs in turn until one answers with a status
    /// below 500.
    async fn call(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Answer, Error> {
        let order = self.order();
        let mut last = None;
        for index in order.into_iter().take(self.inner.attempts) {
            let url = &self.inner.urls[index];
            match self.once(url, method.clone(), path, body.clone()).await {
                Ok(answer) if !answer.status.is_server_error() => {
                    self.set_aside(index, false);
                    return Ok(answer);
                }
                Ok(answer) => {
                    let error = status_error(&answer);
                    tracing::warn!(url = %url.base, %method, path, %error, "eureka server failed; trying the next");
                    self.set_aside(index, true);
                    last = Some(error);
                }
                Err(error) if error.is_server_fault() => {
                    let error = error.at(&url.base);
                    tracing::warn!(url = %url.base, %method, path, %error, "eureka server failed; trying the next");
                    self.set_aside(index, true);
                    last = Some(error);
                }
                Err(error) => return Err(error.at(&url.base)),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Config("no service URL".into()))))
    }

    /// URLs in good standing first, in configured order; then those set aside, the one
    /// set aside longest ago first.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let set_aside = self
            .inner
            .set_aside
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut good: Vec<usize> = Vec::new();
        let mut resting: Vec<(Instant, usize)> = Vec::new();
        for (index, until) in set_aside.iter().enumerate() {
            match until {
                Some(until) if *until > now => resting.push((*until, index)),
                _ => good.push(index),
            }
        }
        resting.sort();
        good.extend(resting.into_iter().map(|(_, index)| index));
        good
    }

    fn set_aside(&self, index: usize, failed: bool) {
        let mut set_aside = self
            .inner
            .set_aside
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = set_aside.get_mut(index) {
            *slot = failed.then(|| Instant::now() + self.inner.quarantine);
        }
    }

    async fn once(
        &self,
        url: &ServiceUrl,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", url.base))
            .header(ACCEPT, self.inner.format.media_type())
            .header(ACCEPT_ENCODING, "gzip");
        if let Some(authorization) = &url.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, self.inner.format.media_type());
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| Error::new(ErrorKind::Config(format!("cannot build the request: {e}"))))?;
        let limit = self.inner.max_response;
        let exchange = async {
            let response = self
                .inner
                .client
                .request(request)
                .await
                .map_err(|e| Error::new(ErrorKind::Transport(Box::new(e))))?;
            let (parts, body) = response.into_parts();
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(Error::new(ErrorKind::TooLarge(limit)));
                }
                Err(e) => return Err(Error::new(ErrorKind::Transport(e))),
            };
            Ok((parts, bytes))
        };
        let (parts, raw) = tokio::time::timeout(self.inner.request_timeout, exchange)
            .await
            .map_err(|_| Error::new(ErrorKind::Timeout(self.inner.request_timeout)))??;
        self.inner
            .bytes_received
            .fetch_add(raw.len() as u64, Ordering::Relaxed);
        let gzipped = parts
            .headers
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = if gzipped { gunzip(&raw, limit)? } else { raw };
        Ok(Answer {
            status: parts.status,
            body,
            url: Arc::clone(&url.base),
        })
    }
}

fn gunzip(raw: &[u8], limit: usize) -> Result<Bytes, Error> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(8).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    match flate2::read::GzDecoder::new(raw)
        .take(cap)
        .read_to_end(&mut out)
    {
        Ok(n) if n > limit => Err(Error::new(ErrorKind::TooLarge(limit))),
        Ok(_) => Ok(Bytes::from(out)),
        Err(e) => Err(Error::new(ErrorKind::Transport(Box::new(e)))),
    }
}

fn expect(answer: Answer, wanted: &[StatusCode]) -> Result<Bytes, Error> {
    if wanted.contains(&answer.status) {
        Ok(answer.body)
    } else {
        Err(status_error(&answer))
    }
}

fn status_error(answer: &Answer) -> Error {
    let body = String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
        .trim()
        .to_owned();
    Error::new(ErrorKind::Status {
        status: answer.status,
        body,
    })
    .at(&answer.url)
}

fn not_found() -> Error {
    Error::new(ErrorKind::Status {
        status: StatusCode::NOT_FOUND,
        body: String::new(),
    })
}

fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}
