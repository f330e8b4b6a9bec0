//! The server handle: binding, the accept loop, eviction, and a bounded shutdown.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sd_eureka::Applications;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::conn::{self, Connections};
use crate::encode::Encoder;
use crate::gate::ReadGate;
use crate::page;
use crate::registry::Registry;
use crate::service::{Config, State};

/// What `Debug` shows in place of a password.
pub(crate) const REDACTED: &str = "<redacted>";

/// The delta queue's bound by count (see [`Builder::delta_capacity`]).
const DEFAULT_DELTA_CAPACITY: usize = 20_000;

/// How long shutdown waits for open connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(5);

/// A running registry. Dropping it stops the server; [`shutdown`](Self::shutdown) does so
/// and waits (at most a few seconds) for requests in flight.
///
/// Its `Debug` shows where it listens and how many instances it holds, never the
/// credentials nor the registry itself.
pub struct EurekaServer {
    local_addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Configures and starts an [`EurekaServer`]. Its `Debug` shows the user of
/// [`basic_auth`](Self::basic_auth), never the password.
#[derive(Clone)]
#[must_use]
pub struct Builder {
    addr: SocketAddr,
    eviction_interval: Duration,
    delta_retention: Duration,
    delta_capacity: usize,
    response_cache_ttl: Duration,
    credentials: Option<(String, String)>,
    max_body: usize,
    sync_wait: Duration,
    renewals_ahead: bool,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8761)),
            eviction_interval: Duration::from_secs(60),
            delta_retention: Duration::from_secs(180),
            delta_capacity: DEFAULT_DELTA_CAPACITY,
            response_cache_ttl: Duration::from_secs(30),
            credentials: None,
            max_body: 1 << 20,
            sync_wait: Duration::ZERO,
            renewals_ahead: false,
            header_read_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("addr", &self.addr)
            .field("eviction_interval", &self.eviction_interval)
            .field("delta_retention", &self.delta_retention)
            .field("delta_capacity", &self.delta_capacity)
            .field("response_cache_ttl", &self.response_cache_ttl)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("password", &self.credentials.as_ref().map(|_| REDACTED))
            .field("max_body", &self.max_body)
            .field("sync_wait", &self.sync_wait)
            .field("renewals_ahead", &self.renewals_ahead)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Builder {
    /// Where to listen (default `127.0.0.1:8761`; port 0 picks a free one).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// How often expired leases are evicted (default 60 s, as real servers).
    pub fn eviction_interval(mut self, interval: Duration) -> Self {
        self.eviction_interval = interval;
        self
    }

    /// How long changes stay in the delta queue (default 3 min).
    pub fn delta_retention(mut self, retention: Duration) -> Self {
        self.delta_retention = retention;
        self
    }

    /// The most changes the delta queue holds, however recent (default 20,000: twice a
    /// fleet of 10,000 registering at once). When more arrive, the oldest are dropped; a
    /// client that missed one finds its patched copy's hash code wrong and fetches the
    /// full registry, as after a gap longer than the retention. Zero keeps no delta.
    pub fn delta_capacity(mut self, changes: usize) -> Self {
        self.delta_capacity = changes;
        self
    }

    /// How long a cached full-registry response may be served while nothing but lease
    /// renewals happened (default 30 s, the real servers' refresh). Any registration,
    /// cancellation or status change invalidates it at once; zero disables the cache.
    pub fn response_cache_ttl(mut self, ttl: Duration) -> Self {
        self.response_cache_ttl = ttl;
        self
    }

    /// Require HTTP Basic auth with these credentials on every request. The check takes
    /// the same time however much of a wrong password matches.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// The largest request body accepted, after decompression (default 1 MiB); larger
    /// ones get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Show each renewed lease's `lastRenewalTimestamp` one lease duration in the future,
    /// as Netflix's eureka-core does (default false: the renewal's own time). For testing
    /// clients that show renewals: an age computed from such a timestamp is negative.
    /// Expiry counts from the real renewal either way.
    pub fn renewal_timestamps_ahead(mut self, ahead: bool) -> Self {
        self.renewals_ahead = ahead;
        self
    }

    /// Refuse every registry read (`GET apps`, `apps/delta`, `apps/{APP}`, instances,
    /// `vips`, `svips`) with 403 for this long after [`bind`](Self::bind), while still
    /// accepting registrations, heartbeats and the rest of the writes (default zero: no
    /// wait).
    ///
    /// This is what a real server does for `waitTimeInMsWhenSyncEmpty` (5 minutes by
    /// default) when it got no registry from its peers, e.g. when one node of a cluster
    /// restarts; it lets tests show that a client fails over to its next service URL
    /// instead of getting stuck. The status page at `/` stays readable. A wait too large
    /// for the clock keeps reads refused for as long as the server runs.
    pub fn sync_wait(mut self, wait: Duration) -> Self {
        self.sync_wait = wait;
        self
    }

    /// How long a client may take to send a request's headers (HTTP/1; default 20 s, as
    /// Tomcat's `connectionTimeout` under a real server); slower connections are closed.
    /// The clock also runs while a kept-alive connection waits for its next request, so
    /// this is the HTTP/1 keep-alive timeout as well (as Tomcat's `keepAliveTimeout`,
    /// which defaults to it). Zero turns the limit off; values beyond a year mean a year.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a connection may stay open without a request being handled (default
    /// 60 s, twice the clients' fetch interval); it is closed then. This bounds what the
    /// header-read timeout does not: HTTP/2 connections, and connections that never send
    /// enough to tell their protocol. Zero turns the limit off; values beyond a year mean
    /// a year.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The most connections open at once (default 512, well below the usual limit of
    /// 1,024 open files; at least 1). At the cap, a new connection closes the one that has
    /// waited longest for a request, so clients that dawdle cannot lock out the others;
    /// when every connection is handling a request, the new one is closed instead.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Binds and starts serving. Must be called within a Tokio runtime.
    pub async fn bind(self) -> std::io::Result<EurekaServer> {
        let listener = TcpListener::bind(self.addr).await?;
        let local_addr = listener.local_addr()?;
        let mut registry = Registry::new(self.delta_retention, self.delta_capacity);
        registry.show_renewals_ahead(self.renewals_ahead);
        let state = Arc::new(State {
            registry: Arc::new(Mutex::new(registry)),
            encoder: Encoder::new(self.response_cache_ttl),
            config: Config::new(
                self.credentials.as_ref(),
                self.max_body,
                // Counted from the bind: the server is reachable from here on.
                ReadGate::starting_now(self.sync_wait),
                page::Settings {
                    local_addr,
                    started: now_millis(),
                    eviction_interval: self.eviction_interval,
                    delta_retention: self.delta_retention,
                    delta_capacity: self.delta_capacity,
                    response_cache_ttl: self.response_cache_ttl,
                    max_connections: self.max_connections,
                },
            ),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let limits = Limits {
            header_read_timeout: conn::effective(self.header_read_timeout),
            connections: Arc::new(Connections::new(
                self.max_connections,
                conn::effective(self.idle_timeout),
            )),
        };
        let task = tokio::spawn(serve(
            listener,
            Arc::clone(&state),
            self.eviction_interval,
            limits,
            stop_rx,
        ));
        tracing::info!(addr = %local_addr, "eureka registry listening");
        Ok(EurekaServer {
            local_addr,
            state,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

impl fmt::Debug for EurekaServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EurekaServer")
            .field("local_addr", &self.local_addr)
            .field("instances", &self.state.lock_registry().instance_count())
            .field("running", &self.stop.is_some())
            .finish_non_exhaustive()
    }
}

impl EurekaServer {
    /// A builder with the defaults of a real server.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The service URL clients use: `http://ADDR/eureka/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/eureka/", self.local_addr)
    }

    /// The registry as a full fetch would show it now.
    pub fn applications(&self) -> Applications {
        self.state.lock_registry().applications()
    }

    /// Evicts expired leases now, as the eviction task would; returns how many.
    pub fn evict_now(&self) -> usize {
        self.state.lock_registry().evict(now_millis())
    }

    /// Stops accepting connections and waits up to five seconds for requests in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The task bounds its own drain; this bound only guards against a bug there.
            if tokio::time::timeout(DRAIN + Duration::from_secs(1), task)
                .await
                .is_err()
            {
                tracing::warn!("registry did not stop in time");
            }
        }
    }
}

impl Drop for EurekaServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The per-connection limits (see `conn`).
struct Limits {
    header_read_timeout: Option<Duration>,
    connections: Arc<Connections>,
}

async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    eviction_interval: Duration,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's header-read timeout needs a timer (and panics without one).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Owned, so that connections still open after the drain period can be ended.
    let mut connections = JoinSet::new();
    let mut eviction = tokio::time::interval(eviction_interval.max(Duration::from_millis(10)));
    eviction.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            // Reap finished connections so the set does not grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = eviction.tick() => {
                let evicted = state.lock_registry().evict(now_millis());
                if evicted > 0 {
                    tracing::info!(evicted, "evicted expired leases");
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, do not spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(admitted) = limits.connections.admit() else {
                    tracing::warn!(%peer, "every connection is busy; closing a new one");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let admitted = Arc::new(admitted);
                let service = {
                    let (state, admitted) = (Arc::clone(&state), Arc::clone(&admitted));
                    service_fn(move |request| {
                        let state = Arc::clone(&state);
                        let in_flight = admitted.request();
                        async move {
                            let reply = state.handle(request).await;
                            drop(in_flight);
                            Ok::<_, std::convert::Infallible>(reply)
                        }
                    })
                };
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    tokio::select! {
                        ended = connection => if let Err(error) = ended {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        },
                        // Dropping the connection closes it.
                        () = admitted.must_close() => {}
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; ending them");
    }
    connections.shutdown().await;
}

pub(crate) use sd_eureka::now_millis;

impl State {
    pub(crate) fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        crate::encode::lock(&self.registry)
    }
}
