//! `Client`: one connection to an etcd cluster and the options every instancer and
//! registrar built on it shares (endpoints, timeouts, reconnect backoff).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sd_core::Backoff;

use crate::Error;

/// The longest duration handed to the gRPC stack (connect timeout, HTTP/2 keep-alive):
/// longer ones mean "practically never" and are cut to this, so that no clock
/// arithmetic underneath can overflow.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A connection to an etcd cluster (v3 gRPC API), shared by [`Instancer`](crate::Instancer)s
/// and [`Registrar`](crate::Registrar)s.
///
/// Connecting is lazy: [`connect`](Self::connect) checks the configuration and returns at
/// once, even while etcd is down; requests then connect (and reconnect) as needed,
/// balanced over the endpoints. Every request requires a leader, so that a member cut
/// off from its cluster fails at once rather than serving stale data. Cloning is cheap
/// and shares the connection.
///
/// ```no_run
/// use std::time::Duration;
/// use sd_etcd::Client;
///
/// # async fn demo() -> Result<(), sd_etcd::Error> {
/// let client = Client::builder(["http://10.0.0.1:2379", "http://10.0.0.2:2379"])
///     .dial_timeout(Duration::from_secs(2))
///     .request_timeout(Duration::from_secs(3))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    raw: etcd_client::Client,
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    endpoints: Vec<String>,
    request_timeout: Duration,
    backoff: Backoff,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.settings.endpoints)
            .field("request_timeout", &self.settings.request_timeout)
            .field("backoff", &self.settings.backoff)
            .finish_non_exhaustive()
    }
}

/// Options for a [`Client`]; see [`Client::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    dial_timeout: Duration,
    request_timeout: Duration,
    keep_alive: Option<(Duration, Duration)>,
    backoff: Backoff,
}

impl Client {
    /// Connects to `endpoints` (`http://host:port`, or `host:port`) with default options.
    pub async fn connect<I, S>(endpoints: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::builder(endpoints).connect().await
    }

    /// Options for a client of `endpoints`: a dial timeout of 5 s, a request timeout of
    /// 5 s, HTTP/2 keep-alive pings every 10 s on open streams (a watch on a silently dead
    /// connection fails within 15 s), and reconnects backing off from 100 ms to 5 s.
    pub fn builder<I, S>(endpoints: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientBuilder {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            keep_alive: Some((Duration::from_secs(10), Duration::from_secs(5))),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        }
    }

    /// The endpoints, as configured.
    pub fn endpoints(&self) -> &[String] {
        &self.settings.endpoints
    }

    /// The underlying `etcd-client` client, for anything this crate does not wrap.
    pub fn raw(&self) -> etcd_client::Client {
        self.raw.clone()
    }

    /// How long one request may take.
    pub fn request_timeout(&self) -> Duration {
        self.settings.request_timeout
    }

    /// A backoff with the client's waits and a jitter of its own.
    pub(crate) fn backoff(&self) -> Backoff {
        self.settings.backoff.clone()
    }

    /// Runs one request of `op` within the request timeout.
    pub(crate) async fn within<T>(
        &self,
        op: &'static str,
        request: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.settings.request_timeout, request).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(Error::etcd(op, error)),
            Err(_) => Err(Error::timeout(op, self.settings.request_timeout)),
        }
    }
}

impl ClientBuilder {
    /// How long connecting to one endpoint may take (default 5 s; at least 1 ms).
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// How long one request (a get, a put, a lease grant...; not a whole watch) may take
    /// (default 5 s; at least 1 ms).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// HTTP/2 keep-alive pings on open streams: one every `interval`, the connection
    /// dropped when an answer takes longer than `timeout` (default 10 s and 5 s). etcd
    /// refuses pings more frequent than every 5 s by default.
    pub fn keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keep_alive = Some((interval, timeout));
        self
    }

    /// No HTTP/2 keep-alive pings: a silently dead connection is noticed only when a
    /// request times out.
    pub fn no_keep_alive(mut self) -> Self {
        self.keep_alive = None;
        self
    }

    /// The waits between reconnects of watches and retries of registrations (default:
    /// 100 ms doubling to 5 s, jittered).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Checks the options and makes the client. Connects lazily: this does not wait for
    /// etcd, and succeeds while it is down.
    pub async fn connect(self) -> Result<Client, Error> {
        let endpoints = check_endpoints(self.endpoints)?;
        let dial_timeout = self.dial_timeout.clamp(Duration::from_millis(1), LONGEST);
        let request_timeout = self.request_timeout.max(Duration::from_millis(1));
        // A member cut off from the leader fails requests and ends watches ("no leader")
        // instead of serving stale data or silence: instancers reconnect, to another
        // endpoint when there is one.
        let mut options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(dial_timeout)
            .with_require_leader(true);
        if let Some((interval, timeout)) = self.keep_alive {
            options = options.with_keep_alive(
                interval.clamp(Duration::from_millis(1), LONGEST),
                timeout.clamp(Duration::from_millis(1), LONGEST),
            );
        }
        let raw = etcd_client::Client::connect(&endpoints, Some(options))
            .await
            .map_err(|e| Error::config(format!("cannot use the endpoints {endpoints:?}: {e}")))?;
        Ok(Client {
            raw,
            settings: Arc::new(Settings {
                endpoints,
                request_timeout,
                backoff: self.backoff,
            }),
        })
    }
}

/// Trims the endpoints and refuses an empty list, empty entries and `https://` (this build
/// has no TLS).
fn check_endpoints(endpoints: Vec<String>) -> Result<Vec<String>, Error> {
    let endpoints: Vec<String> = endpoints.into_iter().map(|e| e.trim().to_owned()).collect();
    if endpoints.is_empty() {
        return Err(Error::config("no endpoints"));
    }
    for endpoint in &endpoints {
        if endpoint.is_empty() {
            return Err(Error::config("an empty endpoint"));
        }
        if endpoint.starts_with("https://") {
            return Err(Error::config(format!(
                "{endpoint}: https endpoints need TLS, which sd-etcd does not support yet"
            )));
        }
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_endpoints_are_configuration_errors() {
        for endpoints in [
            vec![],
            vec![" "],
            vec!["https://10.0.0.1:2379"],
            vec!["http://[::1"],
        ] {
            let error = Client::connect(endpoints.clone()).await.unwrap_err();
            assert!(error.is_config(), "{endpoints:?}: {error}");
        }
    }

    #[tokio::test]
    async fn extreme_durations_do_not_panic_and_connecting_is_lazy() {
        let client = Client::builder(["127.0.0.1:1"])
            .dial_timeout(Duration::MAX)
            .request_timeout(Duration::ZERO)
            .keep_alive(Duration::MAX, Duration::ZERO)
            .backoff(Backoff::new(Duration::MAX, Duration::MAX))
            .connect()
            .await
            .unwrap();
        assert_eq!(client.endpoints(), ["127.0.0.1:1"]);
        assert_eq!(client.request_timeout(), Duration::from_millis(1));
        let error = client
            .within("get", client.raw().get("k", None))
            .await
            .unwrap_err();
        assert!(error.is_timeout() || error.is_etcd(), "{error}");
    }
}
