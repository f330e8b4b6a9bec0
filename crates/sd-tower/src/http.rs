//! Calling an HTTP service by its app name: [`HttpClient`], one [`tower::Service`] that
//! points each request at a discovered instance, balances, retries and sets aside
//! instances that keep failing.
//!
//! ```no_run
//! use http::Request;
//! use http_body_util::Full;
//! use sd_eureka::{Connection, Instancer};
//! use sd_tower::HttpClient;
//! use tower::ServiceExt as _;
//!
//! # async fn demo() -> Result<(), sd_core::BoxError> {
//! let eureka = Connection::new(["http://registry:8761/eureka/"])?;
//! let orders = HttpClient::new(&Instancer::new(&eureka, "ORDERS")?)?;
//! let request = Request::get("http://orders/orders/1").body(Full::default())?;
//! let response = orders.oneshot(request).await?; // the answer of ORDERS' instance
//! # let _ = response; Ok(()) }
//! ```
//!
//! # What happens to a request
//!
//! The stack is [`Balanced`] with [`RetryLayer`]'s retries fused in
//! ([`RetryBalanced`](crate::RetryBalanced)) over round robin over [`Outliers`] over an
//! [`Endpointer`] of [`HttpEndpoint`]s, all sharing one hyper-util connection pool:
//!
//! 1. **Addressing.** A relative request (`/orders/1`) or one addressed to the app
//!    (`http://orders/orders/1`, as with Spring's load-balanced clients; the authority is
//!    replaced whatever it is) goes to `http://ip:port/orders/1` of the instance picked,
//!    or `https://ip:securePort/...` when the instance enables its secure port (see
//!    [`Tls`]). A `Host` header that names the app is dropped, so that hyper sends the
//!    instance's; any other is kept.
//! 2. **Classification.** Connection errors and answers `5xx` or `429` are failures
//!    ([`HttpError`]). A failure counts against the instance for outlier ejection
//!    whatever the method.
//! 3. **Retry.** A failure is retried on the next instance when the method is
//!    idempotent (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`, `TRACE`) or
//!    [`retry_non_idempotent`](HttpClientBuilder::retry_non_idempotent) is set; a
//!    connect error (the request never left) is retried whatever the method. Attempts,
//!    one deadline, budget and backoff are [`RetryLayer`]'s.
//! 4. **The answer.** A failing answer (`503`...) is still an answer: when attempts stop,
//!    the caller gets the last one as `Ok`, as from any HTTP client. Errors are the
//!    other failures: a connection error ([`HttpError`] inside
//!    [`Error::Endpoint`](crate::Error::Endpoint)), no instance
//!    ([`Error::NoEndpoints`](crate::Error)), or the deadline ([`sd_lb::RetryError`]).
//!
//! Requests are retried, so their body must be `Clone`: a buffered body such as
//! `Full<Bytes>` (the default), `Empty<Bytes>` or `String`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use sd_core::{BoxError, EndpointSource, Endpointer, Instance, Instancer};
use sd_lb::{OutlierConfig, OutlierDetector, Outliers, RoundRobin};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder};

use crate::{Balanced, Callback, RetryLayer};

/// Idle pooled connections are closed after this: servers close idle keep-alive
/// connections after 20 s or so (Tomcat, sd-eureka-server), and a request must not race
/// the server's close on a connection that looked reusable.
const POOL_IDLE: Duration = Duration::from_secs(15);

/// The hyper-util client [`HttpClientBuilder::build`] makes: with the `tls` feature, one
/// that speaks both http and https (rustls, webpki roots).
#[cfg(feature = "tls")]
pub type DefaultConnector = hyper_rustls::HttpsConnector<HttpConnector>;
/// The hyper-util client [`HttpClientBuilder::build`] makes: with the `tls` feature, one
/// that speaks both http and https (rustls, webpki roots).
#[cfg(not(feature = "tls"))]
pub type DefaultConnector = HttpConnector;

/// When a request goes over https to an instance's secure port.
///
/// A request addressed `https://app/...` always goes over https (to the secure port when
/// the instance enables one, else to its port): the caller chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tls {
    /// https to the secure port when the instance enables one (Eureka's
    /// `securePort enabled="true"`), else http to its port. The default with the `tls`
    /// feature; without it, connections to such instances fail unless the client given
    /// to [`HttpClientBuilder::build_with`] speaks TLS.
    #[cfg_attr(feature = "tls", default)]
    Auto,
    /// http to the instance's port, whatever it enables. The default without the `tls`
    /// feature.
    #[cfg_attr(not(feature = "tls"), default)]
    Off,
    /// https always: to the secure port when the instance enables one, else to its port.
    Always,
}

/// Where an [`HttpEndpoint`] sends requests: scheme and authority, for requests that leave
/// the scheme to the policy and for those that ask for https.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    chosen: (Scheme, Authority),
    https: (Scheme, Authority),
}

impl Target {
    /// The target for `instance` under `tls`; fails when its identity is no `host:port`.
    fn new(instance: &Instance, tls: Tls) -> Result<Self, BoxError> {
        let plain: Authority = instance.id().parse()?;
        let secure = match instance.secure_port() {
            Some(port) => {
                let host = plain.host();
                // An IPv6 literal needs its brackets back next to a port.
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                Some(format!("{host}:{port}").parse::<Authority>()?)
            }
            None => None,
        };
        let https = (
            Scheme::HTTPS,
            secure.clone().unwrap_or_else(|| plain.clone()),
        );
        let chosen = match (tls, secure) {
            (Tls::Auto, Some(secure)) => (Scheme::HTTPS, secure),
            (Tls::Always, _) => https.clone(),
            (Tls::Auto | Tls::Off, _) => (Scheme::HTTP, plain),
        };
        Ok(Self { chosen, https })
    }

    /// Points `request` at the instance, keeping its path and query.
    fn aim<B>(&self, mut request: Request<B>) -> Result<Request<B>, http::Error> {
        let uri = request.uri();
        let (scheme, authority) = if uri.scheme() == Some(&Scheme::HTTPS) {
            &self.https
        } else {
            &self.chosen
        };
        // A Host header naming the app is the app's, not the instance's: hyper then sends
        // the instance's authority. One set for any other reason (a virtual host) stays.
        let names_app = uri.authority().is_some_and(|app| {
            request
                .headers()
                .get(http::header::HOST)
                .is_some_and(|host| {
                    host.as_bytes()
                        .eq_ignore_ascii_case(app.as_str().as_bytes())
                })
        });
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query(path)
            .build()?;
        if names_app {
            request.headers_mut().remove(http::header::HOST);
        }
        Ok(request)
    }
}

/// What counts as a failure, and which failures are worth another instance.
#[derive(Debug, Clone, Copy, Default)]
struct Classifier {
    retry_non_idempotent: bool,
}

impl Classifier {
    /// Whether an answer with `status` is a failure: `5xx`, or `429 Too Many Requests`.
    fn fails(status: StatusCode) -> bool {
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
    }

    /// Whether a failed request with `method` may be sent again.
    fn retries(self, method: &Method) -> bool {
        self.retry_non_idempotent || method.is_idempotent()
    }
}

/// The endpoint for one instance: the shared hyper-util client (one connection pool for
/// every instance), with each request pointed at the instance and its outcome classified.
///
/// A response is `Ok` unless it is a failure (`5xx`, `429`), which comes back as an
/// [`HttpError`] holding the response, so that retry and outlier ejection, which look
/// at errors, see it. [`HttpClient`] gives such answers back as `Ok` in the end.
pub struct HttpEndpoint<C, B> {
    client: hyper_util::client::legacy::Client<C, B>,
    target: Arc<Target>,
    classifier: Classifier,
}

impl<C: Clone, B> Clone for HttpEndpoint<C, B> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            target: Arc::clone(&self.target),
            classifier: self.classifier,
        }
    }
}

impl<C, B> std::fmt::Debug for HttpEndpoint<C, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, authority) = &self.target.chosen;
        f.debug_struct("HttpEndpoint")
            .field("target", &format_args!("{scheme}://{authority}"))
            .finish_non_exhaustive()
    }
}

impl<C, B> HttpEndpoint<C, B> {
    /// The endpoint for `instance` through `client`, choosing https by `tls`. Failures of
    /// non-idempotent methods are retry-worthy only when `retry_non_idempotent`. Fails
    /// when the instance's identity is not `host:port`.
    pub fn new(
        client: hyper_util::client::legacy::Client<C, B>,
        instance: &Instance,
        tls: Tls,
        retry_non_idempotent: bool,
    ) -> Result<Self, BoxError> {
        Ok(Self {
            client,
            target: Arc::new(Target::new(instance, tls)?),
            classifier: Classifier {
                retry_non_idempotent,
            },
        })
    }

    /// Where requests go that leave the scheme to the policy: `http://ip:port` or
    /// `https://ip:securePort`.
    pub fn base(&self) -> String {
        let (scheme, authority) = &self.target.chosen;
        format!("{scheme}://{authority}")
    }
}

impl<C, B> Service<Request<B>> for HttpEndpoint<C, B>
where
    C: Connect + Clone + Send + Sync + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, HttpError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), HttpError>> {
        // The pool takes any number of requests.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let retryable = self.classifier.retries(request.method());
        let sent = self
            .target
            .aim(request)
            .map(|aimed| self.client.request(aimed));
        Box::pin(async move {
            let response = match sent {
                Ok(sent) => sent.await,
                Err(error) => return Err(HttpError::new(Kind::Address(error), false)),
            };
            match response {
                Ok(response) if Classifier::fails(response.status()) => {
                    Err(HttpError::new(Kind::Status(Box::new(response)), retryable))
                }
                Ok(response) => Ok(response),
                Err(error) => {
                    // Refused or unreachable: the request never left, so any method may go
                    // to another instance.
                    let retryable = retryable || error.is_connect();
                    Err(HttpError::new(Kind::Request(error), retryable))
                }
            }
        })
    }
}

/// A failed call to one instance: a failing answer (`5xx`, `429`, kept whole), a request
/// that failed (refused, reset, ...), or a request that could not be addressed.
pub struct HttpError {
    kind: Kind,
    retryable: bool,
}

enum Kind {
    Status(Box<Response<Incoming>>),
    Request(hyper_util::client::legacy::Error),
    Address(http::Error),
}

impl HttpError {
    fn new(kind: Kind, retryable: bool) -> Self {
        Self { kind, retryable }
    }

    /// True when the instance answered with a failing status.
    pub fn is_status(&self) -> bool {
        matches!(self.kind, Kind::Status(_))
    }

    /// True when no connection could be made (refused, unreachable, connect timeout).
    pub fn is_connect(&self) -> bool {
        matches!(&self.kind, Kind::Request(error) if error.is_connect())
    }

    /// True when another instance may be tried: see the [module docs](self).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The failing answer's status.
    pub fn status(&self) -> Option<StatusCode> {
        self.response().map(Response::status)
    }

    /// The failing answer.
    pub fn response(&self) -> Option<&Response<Incoming>> {
        match &self.kind {
            Kind::Status(response) => Some(response),
            _ => None,
        }
    }

    /// The failing answer, or the error when there was none.
    pub fn into_response(self) -> Result<Response<Incoming>, Self> {
        match self.kind {
            Kind::Status(response) => Ok(*response),
            kind => Err(Self { kind, ..self }),
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Status(response) => write!(f, "answered {}", response.status()),
            Kind::Request(error) => write!(f, "request failed: {error}"),
            Kind::Address(error) => write!(f, "cannot address the instance: {error}"),
        }
    }
}

impl std::fmt::Debug for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("HttpError");
        match &self.kind {
            Kind::Status(response) => d.field("status", &response.status()),
            Kind::Request(error) => d.field("request", error),
            Kind::Address(error) => d.field("address", error),
        };
        d.field("retryable", &self.retryable).finish()
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Status(_) => None,
            Kind::Request(error) => Some(error),
            Kind::Address(error) => Some(error),
        }
    }
}

/// The [`RetryLayer`] callback of [`HttpClient`]: tries again after an
/// [`HttpError`] that [`is_retryable`](HttpError::is_retryable), and after nothing
/// else (no instance in time, a discovery failure, other errors).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryWorthy;

impl Callback<crate::Error> for RetryWorthy {
    fn keep_trying(&self, _attempt: usize, error: &mut crate::Error) -> bool {
        match error {
            crate::Error::Endpoint { source, .. } => source
                .downcast_ref::<HttpError>()
                .is_some_and(HttpError::is_retryable),
            _ => false,
        }
    }
}

/// Options for an [`HttpClient`].
///
/// ```no_run
/// use std::time::Duration;
/// use sd_core::FixedInstancer;
/// use sd_lb::OutlierConfig;
/// use sd_tower::{HttpClient, Tls};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sd_core::Error> {
/// let instancer = FixedInstancer::new(["10.0.0.1:8080", "10.0.0.2:8080"]);
/// let client: HttpClient = HttpClient::builder()
///     .attempts(2)
///     .timeout(Duration::from_secs(3))
///     .tls(Tls::Off)
///     .outliers(OutlierConfig::default().consecutive_failures(3))
///     .build(&instancer)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpClientBuilder {
    attempts: usize,
    timeout: Duration,
    ready_timeout: Duration,
    tls: Tls,
    retry_non_idempotent: bool,
    outliers: OutlierConfig,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            attempts: 3,
            timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(5),
            tls: Tls::default(),
            retry_non_idempotent: false,
            outliers: OutlierConfig::default(),
        }
    }
}

impl HttpClientBuilder {
    /// At most `attempts` attempts per request, each on the next instance (default 3;
    /// at least 1).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts;
        self
    }

    /// The deadline of one request, all attempts and backoff included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a request waits for an instance when there is none, such as at start-up
    /// before discovery's first answer (default 5 s); see [`Balanced`].
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// When to use https; see [`Tls`].
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// Retries failures of non-idempotent methods (`POST`, `PATCH`) too, for services
    /// that make them safe to repeat (default: only connect errors are).
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.retry_non_idempotent = retry;
        self
    }

    /// When to set failing instances aside (default: [`OutlierConfig::default`], five
    /// failures in a row).
    pub fn outliers(mut self, config: OutlierConfig) -> Self {
        self.outliers = config;
        self
    }

    /// The client over the instances of `instancer`, with a hyper-util client of its
    /// own (one connection pool for all instances; http, and https with the `tls`
    /// feature).
    ///
    /// Fails only when called outside a Tokio runtime.
    pub fn build<B>(
        self,
        instancer: &(impl Instancer + ?Sized),
    ) -> Result<HttpClient<B>, sd_core::Error>
    where
        B: Body + Clone + Send + Sync + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(default_connector());
        self.build_with(instancer, client)
    }

    /// The client over the instances of `instancer`, sending through `client` (your
    /// connector, TLS set-up or pool settings).
    ///
    /// Fails only when called outside a Tokio runtime.
    pub fn build_with<C, B>(
        self,
        instancer: &(impl Instancer + ?Sized),
        client: hyper_util::client::legacy::Client<C, B>,
    ) -> Result<HttpClient<B>, sd_core::Error>
    where
        C: Connect + Clone + Send + Sync + 'static,
        B: Body + Clone + Send + Sync + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let detector = OutlierDetector::new(self.outliers);
        let reporter = detector.clone();
        let (tls, retry_non_idempotent) = (self.tls, self.retry_non_idempotent);
        let endpointer = Endpointer::new(instancer, move |instance: &Instance| {
            let endpoint = HttpEndpoint::new(client.clone(), instance, tls, retry_non_idempotent)?;
            // The endpoint's errors are exactly its failures: they count against it.
            Ok::<_, BoxError>(reporter.reporting(
                instance.clone(),
                endpoint,
                sd_lb::outliers::ErrorsAreFailures,
            ))
        })?;
        let view = Mutex::new(endpointer.clone());
        let balanced = Balanced::with_ready_timeout(
            RoundRobin::new(Outliers::with_detector(endpointer, detector.clone())),
            self.ready_timeout,
        );
        let service = ServiceBuilder::new().map_result(last_answer).service(
            balanced.retry(RetryLayer::new(self.attempts, self.timeout).callback(RetryWorthy)),
        );
        Ok(HttpClient {
            service: BoxCloneSyncService::new(service),
            shared: Arc::new(Shared {
                detector,
                instances: Box::new(move || {
                    let mut reader = view.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    reader.endpoints().map_or_else(
                        |_| Vec::new(),
                        |endpoints| endpoints.iter().map(|e| e.instance().clone()).collect(),
                    )
                }),
            }),
        })
    }
}

fn default_connector() -> DefaultConnector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    #[cfg(feature = "tls")]
    {
        http.enforce_http(false);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http)
    }
    #[cfg(not(feature = "tls"))]
    http
}

/// A failing answer is still the answer: once attempts stop, the caller gets it as from
/// any HTTP client; other errors stay errors.
fn last_answer(
    result: Result<Response<Incoming>, BoxError>,
) -> Result<Response<Incoming>, BoxError> {
    let error = match result {
        Ok(response) => return Ok(response),
        Err(error) => error,
    };
    let error = match error.downcast::<crate::Error>() {
        Ok(error) => *error,
        Err(other) => return Err(other),
    };
    let crate::Error::Endpoint { instance, source } = error else {
        return Err(Box::new(error));
    };
    match source.downcast::<HttpError>() {
        Ok(http) => match http.into_response() {
            Ok(response) => Ok(response),
            Err(http) => Err(Box::new(crate::Error::Endpoint {
                instance,
                source: Box::new(http),
            })),
        },
        Err(source) => Err(Box::new(crate::Error::Endpoint { instance, source })),
    }
}

/// What every clone of an [`HttpClient`] shares.
struct Shared {
    detector: OutlierDetector,
    instances: Box<dyn Fn() -> Vec<Instance> + Send + Sync>,
}

/// An HTTP client of one discovered service: a `tower::Service<http::Request<B>>` that
/// sends each request to the instance a round robin picks, retries failures on the next,
/// and sets aside instances that keep failing; see the [module docs](self) for the rules.
///
/// It is one nameable type, `Clone + Send + Sync + 'static`, whose future is a boxed
/// `Send` future and whose error is [`BoxError`]: it goes straight into axum state
/// (`State<HttpClient>`) and can be awaited in a handler. (A stack of generic tower
/// layers awaited in a handler can make rustc fail with "implementation of `From` is not
/// general enough ... `Box<dyn Error + Send + Sync>`": the handler's future must be
/// `Send`, and rustc cannot prove it through the stack's nested future types,
/// rust-lang/rust#64552. The boxed future here has no such types to see through; for a
/// stack of your own, box it the same way with [`tower::util::BoxCloneSyncService`].)
///
/// Each clone is a reader of its own, as tower stacks use services (a clone per task or
/// connection): its own cursor and copy of the instance list, over the one connection
/// pool, retry budget and outlier detector that every clone shares.
///
/// ```no_run
/// use axum::extract::State;
/// use axum::http::StatusCode;
/// use http::Request;
/// use http_body_util::{BodyExt as _, Full};
/// use sd_tower::HttpClient;
/// use tower::ServiceExt as _;
///
/// async fn order(State(orders): State<HttpClient>) -> Result<String, StatusCode> {
///     let request = Request::get("/orders/1").body(Full::default()).map_err(|_| StatusCode::BAD_REQUEST)?;
///     let response = orders.oneshot(request).await.map_err(|_| StatusCode::BAD_GATEWAY)?;
///     let body = response.into_body().collect().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
///     Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
/// }
///
/// # fn app(orders: HttpClient) -> axum::Router {
/// axum::Router::new().route("/order", axum::routing::get(order)).with_state(orders)
/// # }
/// ```
pub struct HttpClient<B = Full<Bytes>> {
    service: BoxCloneSyncService<Request<B>, Response<Incoming>, BoxError>,
    shared: Arc<Shared>,
}

impl HttpClient {
    /// A client over the instances of `instancer` with the default options (3 attempts
    /// within 10 s, the default [`Tls`] and [`OutlierConfig`]), for requests with a
    /// `Full<Bytes>` body; [`builder`](Self::builder) for others.
    ///
    /// Fails only when called outside a Tokio runtime.
    pub fn new(instancer: &(impl Instancer + ?Sized)) -> Result<Self, sd_core::Error> {
        HttpClientBuilder::default().build(instancer)
    }

    /// Options for a client.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }
}

impl<B> HttpClient<B> {
    /// The instances on offer now (before outlier ejection), in identity order; none
    /// while discovery has failed.
    pub fn instances(&self) -> Vec<Instance> {
        (self.shared.instances)()
    }

    /// The outlier detector: whether an instance is set aside, or to report outcomes
    /// learnt elsewhere.
    pub fn detector(&self) -> &OutlierDetector {
        &self.shared.detector
    }
}

impl<B> Clone for HttpClient<B> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B> std::fmt::Debug for HttpClient<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("detector", &self.shared.detector)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for HttpClient<B> {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.service.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn aimed(instance: &Instance, tls: Tls, uri: &str) -> String {
        let target = Target::new(instance, tls).unwrap();
        let request = Request::get(uri).body(()).unwrap();
        target.aim(request).unwrap().uri().to_string()
    }

    #[test]
    fn relative_and_app_addressed_requests_go_to_the_instance() {
        let plain = Instance::new("10.0.0.1:8080");
        for uri in ["/orders/1?x=2", "http://orders/orders/1?x=2"] {
            assert_eq!(
                aimed(&plain, Tls::Auto, uri),
                "http://10.0.0.1:8080/orders/1?x=2"
            );
        }
        assert_eq!(
            aimed(&plain, Tls::Auto, "http://orders"),
            "http://10.0.0.1:8080/"
        );
    }

    #[test]
    fn https_goes_to_the_secure_port_when_enabled_or_chosen() {
        let secure = Instance::builder("10.0.0.1:8080").secure_port(8443).build();
        let plain = Instance::new("10.0.0.1:8080");
        assert_eq!(aimed(&secure, Tls::Auto, "/a"), "https://10.0.0.1:8443/a");
        assert_eq!(aimed(&secure, Tls::Off, "/a"), "http://10.0.0.1:8080/a");
        assert_eq!(aimed(&plain, Tls::Always, "/a"), "https://10.0.0.1:8080/a");
        assert_eq!(
            aimed(&plain, Tls::Auto, "https://orders/a"),
            "https://10.0.0.1:8080/a"
        );
        assert_eq!(
            aimed(&secure, Tls::Off, "https://orders/a"),
            "https://10.0.0.1:8443/a"
        );
        let v6 = Instance::builder("[::1]:8080").secure_port(8443).build();
        assert_eq!(aimed(&v6, Tls::Auto, "/a"), "https://[::1]:8443/a");
    }

    #[test]
    fn a_host_header_naming_the_app_is_dropped_and_others_kept() {
        let target = Target::new(&Instance::new("10.0.0.1:8080"), Tls::Off).unwrap();
        let request = Request::get("http://orders/a")
            .header("host", "ORDERS")
            .body(())
            .unwrap();
        assert!(target.aim(request).unwrap().headers().get("host").is_none());
        let request = Request::get("/a")
            .header("host", "shop.example")
            .body(())
            .unwrap();
        let aimed = target.aim(request).unwrap();
        assert_eq!(
            aimed.headers().get("host"),
            Some(&HeaderValue::from_static("shop.example"))
        );
    }

    #[test]
    fn an_identity_that_is_no_address_makes_no_endpoint() {
        assert!(Target::new(&Instance::new("not an address"), Tls::Auto).is_err());
    }

    #[test]
    fn failures_and_retry_worthiness() {
        assert!(Classifier::fails(StatusCode::SERVICE_UNAVAILABLE));
        assert!(Classifier::fails(StatusCode::TOO_MANY_REQUESTS));
        assert!(!Classifier::fails(StatusCode::NOT_FOUND));
        let default = Classifier::default();
        assert!(default.retries(&Method::GET) && default.retries(&Method::PUT));
        assert!(!default.retries(&Method::POST) && !default.retries(&Method::PATCH));
        let any = Classifier {
            retry_non_idempotent: true,
        };
        assert!(any.retries(&Method::POST));
    }
}
