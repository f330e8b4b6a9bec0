//! `Connection`: the Eureka REST API as typed async calls, over one or more service URLs
//! with failover.

mod service_url;
mod standing;

use std::fmt;
use std::future::Future;
use std::io::Read as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tokio::time::{Instant, Sleep};

use self::service_url::ServiceUrl;
pub use self::service_url::{redact_url, split_service_urls};
use self::standing::Standings;
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

/// How long an idle pooled connection is kept: below the 20 s after which servers close
/// theirs.
const POOL_IDLE: Duration = Duration::from_secs(15);

/// Answers larger than this (as received; a sixteenth of it when gzipped) are gunzipped
/// and decoded on tokio's blocking pool: a 10,000-instance registry takes tens of milliseconds, which would stall every
/// task sharing the runtime worker.
const OFF_WORKER_BYTES: usize = 64 << 10;

/// A client of one Eureka cluster: every operation of the REST API as a typed call.
///
/// **Failover.** Each operation tries the service URLs in order, URLs set aside after
/// recent failures last, at most `attempts` URLs. It moves to the next URL on anything
/// that is not this operation's answer: a transport error, a timeout, any status other
/// than 2xx and the few the operation expects (a heartbeat's 404 means "register again";
/// a read's 403 from a server still waiting for its peers is not), or a 2xx whose body
/// cannot be decoded or is too large. A failing URL is set aside for the quarantine
/// period, doubled with each failure in a row (up to 10 minutes), so a URL that keeps
/// failing is tried ever more rarely; one success restores it. When every URL fails, the
/// error is the last one's and carries the others ([`Error::earlier`]), each naming its
/// URL.
///
/// **Time.** An operation has one deadline, [`request_timeout`](ConnectionBuilder::request_timeout)
/// (10 s by default), covering every URL it tries and, for each, the whole answer: head,
/// body, gunzip and decoding. Each URL gets an equal share of the time that is left (the
/// first of three URLs a third): when a URL has used its share without answering, the
/// next one starts beside it, and the first good answer wins (the others are cancelled).
/// So a URL that never answers cannot starve the next, and a healthy but slow URL still
/// has the whole deadline. At worst an operation takes `request_timeout`; an instancer's
/// poll is one operation, or two when a delta is followed by a full fetch.
///
/// Credentials in a URL's userinfo become HTTP Basic auth for that URL and never appear
/// in logs, errors or `Debug`. Cloning is cheap and clones share connections.
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
    standings: Standings,
    format: Format,
    request_timeout: Duration,
    max_response: usize,
    attempts: usize,
    bytes_received: AtomicU64,
    poll_interval: Duration,
    resync_interval: Duration,
    /// The poller shared by this connection's instancers, while any lives.
    poller: Mutex<Weak<PollerHandle>>,
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
    resync_interval: Duration,
}

impl Default for ConnectionBuilder {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            format: Format::Json,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response: 64 << 20,
            attempts: 3,
            quarantine: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
            resync_interval: Duration::from_secs(5 * 60),
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
            .field("resync_interval", &self.resync_interval)
            .finish()
    }
}

impl ConnectionBuilder {
    /// Adds a service URL (base path included, e.g. `http://host:8761/eureka/`); userinfo
    /// means Basic auth. Percent-encode `/`, `?`, `#` and `@` in credentials: a URL with
    /// an `@` after its host is refused rather than guessed at.
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

    /// How long to wait for a TCP (and TLS) connection (default 5 s); within the
    /// operation's deadline in any case.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one operation may take, across every service URL it tries, answers read
    /// and decoded (default 10 s). `Duration::MAX` means no deadline.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest answer accepted, after decompression (default 64 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// How many service URLs one operation may try (default 3).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// How long a failing URL is first set aside (default 30 s); doubled for each further
    /// failure in a row, up to 10 minutes.
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

    /// How often the instancers fetch the whole registry even though deltas reconcile
    /// (default 5 minutes).
    ///
    /// The safety net for stale deltas: a real server can serve a cached delta computed
    /// while a registration was in flight, for up to 180 s, and its hash code matches its
    /// own stale content, so reconciliation cannot notice. A periodic full fetch bounds
    /// how long such an instance stays unseen to this interval plus one poll. On a
    /// 10,000-instance registry a full fetch costs about 1 MB of gzip on the wire and a
    /// few tens of milliseconds of decoding (see BENCHMARKS.md); `Duration::MAX` turns
    /// the net off.
    pub fn resync_interval(mut self, interval: Duration) -> Self {
        self.resync_interval = interval;
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
        // Servers close idle keep-alive connections after 20 s (Tomcat under a real
        // Eureka server, and sd-eureka-server): let them go sooner here, so that a request
        // never races the server's close on a connection that looked reusable.
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        let count = urls.len();
        Ok(Connection {
            inner: Arc::new(Inner {
                client,
                urls,
                standings: Standings::new(count, self.quarantine),
                format: self.format,
                request_timeout: self.request_timeout,
                max_response: self.max_response,
                attempts: self.attempts,
                bytes_received: AtomicU64::new(0),
                poll_interval: self.poll_interval,
                resync_interval: self.resync_interval,
                poller: Mutex::new(Weak::new()),
            }),
        })
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

/// What an operation makes of an answer.
#[derive(Debug, Clone, Copy)]
struct Expect {
    /// Statuses besides 2xx that are this operation's answer; any other sends the
    /// operation to the next URL.
    statuses: &'static [StatusCode],
    /// The document a 2xx body must hold, or `None` when the body is not read.
    document: Option<Shape>,
}

impl Expect {
    /// A write: any 2xx, the body ignored.
    const WRITE: Self = Self {
        statuses: &[],
        document: None,
    };
}

/// The kind of document an operation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Any registry document: applications, one application (or one instance).
    Registry,
    /// One application, or applications holding it.
    Application,
    /// One instance.
    Instance,
}

/// One attempt of an operation in flight.
struct Running<'a> {
    /// The URL's index.
    index: usize,
    started: Instant,
    attempt: Pin<Box<dyn Future<Output = Result<Answer, Error>> + Send + 'a>>,
}

/// What woke an operation up.
enum Event {
    /// Attempt `n` (of those running) ended.
    Done(usize, Result<Answer, Error>),
    /// The running attempts had their share of time: the next URL starts beside them.
    HandOver,
    /// The operation's time is up.
    Deadline,
}

/// One URL's answer: a status the operation expects, with its body decoded when it is a
/// 2xx that holds a document.
struct Answer {
    status: StatusCode,
    body: Bytes,
    document: Option<Document>,
    /// The service URL that answered, for error messages.
    url: Arc<str>,
}

impl Answer {
    /// The error for an expected non-2xx status (a heartbeat's 404...).
    fn status_error(&self) -> Error {
        status_error(self.status, &self.body, &self.url)
    }

    /// `Ok(())` for a 2xx, the status as an error otherwise.
    fn success(self) -> Result<(), Error> {
        if self.status.is_success() {
            Ok(())
        } else {
            Err(self.status_error())
        }
    }
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

    pub(crate) fn resync_interval(&self) -> Duration {
        self.inner.resync_interval
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
        self.call(
            Method::POST,
            &path,
            Some(Bytes::from(body)),
            Expect::WRITE,
            None,
        )
        .await?
        .success()
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
        let expect = Expect {
            statuses: &[StatusCode::NOT_FOUND],
            document: None,
        };
        self.call(Method::PUT, &path, None, expect, None)
            .await?
            .success()
    }

    /// `DELETE apps/{APP}/{ID}`: removes the instance. Removing an unknown instance is not
    /// an error.
    pub async fn deregister(&self, app: &str, id: &str) -> Result<(), Error> {
        self.deregister_within(app, id, None).await
    }

    /// [`deregister`](Self::deregister) within `limit` (the operation's deadline when
    /// `None`).
    pub(crate) async fn deregister_within(
        &self,
        app: &str,
        id: &str,
        limit: Option<Duration>,
    ) -> Result<(), Error> {
        let path = format!("apps/{}/{}", segment(app), segment(id));
        let expect = Expect {
            statuses: &[StatusCode::NOT_FOUND],
            document: None,
        };
        self.call(Method::DELETE, &path, None, expect, limit)
            .await
            .map(drop)
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
        self.call(Method::PUT, &path, None, Expect::WRITE, None)
            .await?
            .success()
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
        self.call(Method::DELETE, &path, None, Expect::WRITE, None)
            .await?
            .success()
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
        self.call(Method::PUT, &path, None, Expect::WRITE, None)
            .await?
            .success()
    }

    /// `GET apps`: the full registry. Any answer but a 2xx registry moves on to the next
    /// service URL, as Netflix's client does.
    pub async fn applications(&self) -> Result<Applications, Error> {
        let expect = Expect {
            statuses: &[],
            document: Some(Shape::Registry),
        };
        let answer = self.call(Method::GET, "apps", None, expect, None).await?;
        Ok(registry(answer.document))
    }

    /// `GET apps/delta`: changes of the last few minutes. A 403 or 404 means the server
    /// serves no deltas (disabled, or not ready): check [`Error::status`] and fetch in
    /// full instead.
    pub async fn delta(&self) -> Result<Applications, Error> {
        let expect = Expect {
            statuses: &[StatusCode::FORBIDDEN, StatusCode::NOT_FOUND],
            document: Some(Shape::Registry),
        };
        let answer = self
            .call(Method::GET, "apps/delta", None, expect, None)
            .await?;
        if !answer.status.is_success() {
            return Err(answer.status_error());
        }
        Ok(registry(answer.document))
    }

    /// `GET apps/{APP}`: one app. An unknown app, or one with no instances, is an empty
    /// app, not an error (real servers answer 404).
    pub async fn application(&self, app: &str) -> Result<Application, Error> {
        let path = format!("apps/{}", segment(app));
        let expect = Expect {
            statuses: &[StatusCode::NOT_FOUND],
            document: Some(Shape::Application),
        };
        let answer = self.call(Method::GET, &path, None, expect, None).await?;
        Ok(match answer.document {
            Some(Document::Application(app)) => app,
            Some(other) => other
                .into_applications()
                .applications
                .into_iter()
                .next()
                .unwrap_or_default(),
            None => Application {
                name: app.to_ascii_uppercase(),
                instances: Vec::new(),
            },
        })
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
        self.get_selection(&format!("vips/{}", segment(vip))).await
    }

    /// `GET svips/{SVIP}`: the instances with that secure VIP address; empty when none.
    pub async fn secure_vip(&self, svip: &str) -> Result<Applications, Error> {
        self.get_selection(&format!("svips/{}", segment(svip)))
            .await
    }

    /// A registry document that a 404 leaves empty.
    async fn get_selection(&self, path: &str) -> Result<Applications, Error> {
        let expect = Expect {
            statuses: &[StatusCode::NOT_FOUND],
            document: Some(Shape::Registry),
        };
        let answer = self.call(Method::GET, path, None, expect, None).await?;
        Ok(registry(answer.document))
    }

    async fn get_instance(&self, path: &str) -> Result<InstanceInfo, Error> {
        let expect = Expect {
            statuses: &[StatusCode::NOT_FOUND],
            document: Some(Shape::Instance),
        };
        let answer = self.call(Method::GET, path, None, expect, None).await?;
        match answer.document {
            Some(Document::Instance(instance)) => Ok(*instance),
            _ => Err(answer.status_error()),
        }
    }

    /// Runs one operation: tries service URLs in turn until one gives an answer `expect`
    /// accepts, all within one deadline (`limit`, else the connection's request timeout).
    ///
    /// A URL that fails hands over to the next at once. A URL that is merely slow keeps
    /// going when its share of the time left is used up (`left / URLs not yet started`),
    /// and the next URL starts beside it: the first good answer wins and the others are
    /// dropped, which cancels them. So a URL that never answers costs the next one only
    /// its share, and a healthy but slow URL still has the whole deadline to answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        expect: Expect,
        limit: Option<Duration>,
    ) -> Result<Answer, Error> {
        let limit = limit.unwrap_or(self.inner.request_timeout);
        let start = Instant::now();
        // No instant that far ahead: no deadline.
        let deadline = start.checked_add(limit);
        let tries: Vec<usize> = self
            .inner
            .standings
            .order(start)
            .into_iter()
            .take(self.inner.attempts)
            .collect();
        let mut deadline_sleep = deadline.map(|at| Box::pin(tokio::time::sleep_until(at)));
        let mut hand_over: Option<Pin<Box<Sleep>>>;
        let mut running: Vec<Running<'_>> = Vec::new();
        let mut next = 0;
        let mut failed = Vec::new();
        // Each turn of the loop starts the next URL (first, after a failure, or when the
        // running ones had their share), then waits for something to happen.
        loop {
            hand_over = None;
            if let Some((&index, url)) = tries
                .get(next)
                .and_then(|index| Some((index, self.inner.urls.get(*index)?)))
            {
                next += 1;
                let now = Instant::now();
                let attempt = self.attempt(url, method.clone(), path, body.clone(), expect);
                running.push(Running {
                    index,
                    started: now,
                    attempt: Box::pin(attempt),
                });
                // When the URLs not yet started get their turn: an equal share each of
                // the time left.
                if let (Some(deadline), true) = (deadline, next < tries.len()) {
                    let waiting = u32::try_from(tries.len() - next + 1).unwrap_or(u32::MAX);
                    let share = deadline.saturating_duration_since(now) / waiting;
                    hand_over = Some(Box::pin(tokio::time::sleep(share)));
                }
            }
            if running.is_empty() {
                break;
            }
            let event = std::future::poll_fn(|cx| {
                // First, and by the clock too: the timer may fire late, and a passed
                // deadline wins over an answer that came after it.
                if deadline_sleep
                    .as_mut()
                    .is_some_and(|s| s.as_mut().poll(cx).is_ready())
                    || deadline.is_some_and(|at| Instant::now() >= at)
                {
                    return Poll::Ready(Event::Deadline);
                }
                for (n, run) in running.iter_mut().enumerate() {
                    if let Poll::Ready(outcome) = run.attempt.as_mut().poll(cx) {
                        return Poll::Ready(Event::Done(n, outcome));
                    }
                }
                if hand_over
                    .as_mut()
                    .is_some_and(|s| s.as_mut().poll(cx).is_ready())
                {
                    return Poll::Ready(Event::HandOver);
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::HandOver => {}
                Event::Done(n, outcome) => {
                    let run = running.remove(n);
                    let url = &self.inner.urls[run.index].base;
                    match outcome {
                        Ok(answer) => {
                            // An expected refusal (a 403 delta, a 404 heartbeat) says
                            // nothing about the URL's health.
                            if answer.status.is_success() {
                                self.inner.standings.succeeded(run.index);
                            }
                            return Ok(answer);
                        }
                        Err(error) if error.is_server_fault() => {
                            let error = error.at(url);
                            let set_aside =
                                self.inner
                                    .standings
                                    .failed(run.index, run.started, Instant::now());
                            tracing::warn!(url = %url, %method, path, %error, ?set_aside, "eureka server failed; trying the next");
                            // Its turn is over: the next URL starts now.
                            failed.push(error);
                        }
                        Err(error) => return Err(error.at(url)),
                    }
                }
                Event::Deadline => {
                    let now = Instant::now();
                    for run in running.drain(..) {
                        let url = &self.inner.urls[run.index].base;
                        self.inner.standings.failed(run.index, run.started, now);
                        let error = Error::new(ErrorKind::Timeout(limit)).at(url);
                        tracing::warn!(url = %url, %method, path, %error, "eureka server did not answer in time");
                        failed.push(error);
                    }
                    break;
                }
            }
        }
        Err(Error::of_attempts(failed).unwrap_or_else(|| Error::new(ErrorKind::Timeout(limit))))
    }

    /// One request to one URL: the answer read whole, gunzipped and, when `expect` says
    /// so, decoded. A status `expect` does not accept is an error.
    async fn attempt(
        &self,
        url: &ServiceUrl,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        expect: Expect,
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
        let response = self
            .inner
            .client
            .request(request)
            .await
            .map_err(|e| Error::new(ErrorKind::Transport(Arc::new(e))))?;
        let (parts, body) = response.into_parts();
        let raw = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(Error::new(ErrorKind::TooLarge(limit)));
            }
            Err(e) => return Err(Error::new(ErrorKind::Transport(Arc::from(e)))),
        };
        self.inner
            .bytes_received
            .fetch_add(raw.len() as u64, Ordering::Relaxed);
        let status = parts.status;
        let gzipped = parts
            .headers
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let shape = expect.document.filter(|_| status.is_success());
        // Gzip shrinks a registry ten- to twentyfold: judge a gzipped body by what it
        // will become.
        let large = raw.len() > OFF_WORKER_BYTES || (gzipped && raw.len() > OFF_WORKER_BYTES / 16);
        let unpack = move || -> Result<(Bytes, Option<Document>), Error> {
            let body = if gzipped { gunzip(&raw, limit)? } else { raw };
            let document = shape.map(|shape| document(&body, shape)).transpose()?;
            Ok((body, document))
        };
        let (body, document) = if large {
            tokio::task::spawn_blocking(unpack)
                .await
                .map_err(|e| Error::new(ErrorKind::Transport(Arc::new(e))))??
        } else {
            unpack()?
        };
        if !status.is_success() && !expect.statuses.contains(&status) {
            return Err(status_error(status, &body, &url.base));
        }
        Ok(Answer {
            status,
            body,
            document,
            url: Arc::clone(&url.base),
        })
    }
}

/// The registry a read answered, or an empty one (a 404 where the operation allows it).
fn registry(document: Option<Document>) -> Applications {
    document
        .map(Document::into_applications)
        .unwrap_or_default()
}

/// Decodes `body` as a document of `shape`; anything else is a decode error, which sends
/// the operation to the next URL.
fn document(body: &[u8], shape: Shape) -> Result<Document, Error> {
    let (_, document) = decode_any(body).map_err(|e| Error::new(ErrorKind::Decode(e)))?;
    let fits = match (&document, shape) {
        (_, Shape::Registry)
        | (Document::Instance(_), Shape::Instance)
        | (Document::Application(_) | Document::Applications(_), Shape::Application) => true,
        (_, Shape::Instance | Shape::Application) => false,
    };
    if fits {
        Ok(document)
    } else {
        let wanted = match shape {
            Shape::Instance => "an instance",
            Shape::Application | Shape::Registry => "an application",
        };
        let got = match document {
            Document::Instance(_) => "an instance",
            Document::Application(_) => "an application",
            Document::Applications(_) => "applications",
        };
        Err(Error::new(ErrorKind::Unexpected(got, wanted)))
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
        Err(e) => Err(Error::new(ErrorKind::Gzip(Arc::new(e)))),
    }
}

/// An unexpected status as an error, with the start of the body for context.
fn status_error(status: StatusCode, body: &[u8], url: &Arc<str>) -> Error {
    let body = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_owned();
    let no_base_path = status == StatusCode::NOT_FOUND && !names_eureka(url);
    Error::new(ErrorKind::Status {
        status,
        body,
        no_base_path,
    })
    .at(url)
}

/// Whether the path of `url` (an operation's URL) has a segment starting with `eureka`,
/// as the base path of every known server does (`/eureka/`, `/eureka/v2/`).
fn names_eureka(url: &str) -> bool {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.find('/').map_or("", |at| &rest[at..]));
    path.split('/')
        .any(|segment| segment.to_ascii_lowercase().starts_with("eureka"))
}

fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}
