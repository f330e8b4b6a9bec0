//! `Config`: which ZooKeeper ensemble to talk to and how patiently — the servers, the
//! session timeout, the connect timeout and the backoff between attempts — shared by the
//! instancers and registrars that open sessions with it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sd_core::Backoff;

use crate::Error;

/// The session timeout asked for by default: go-kit's `DefaultSessionTimeout`.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one attempt to open a session may take by default: go-kit's
/// `DefaultConnectTimeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The shortest session timeout asked for; shorter ones are raised to it. (The server
/// raises any request to at least twice its tick time anyway.)
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(100);

/// The longest session timeout asked for; longer ones are lowered to it. ZooKeeper's
/// protocol carries the timeout as 32-bit milliseconds (about 24.8 days).
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_millis(0x7fff_ffff);

/// How to reach one ZooKeeper ensemble.
///
/// A configuration is only a description: every [`Instancer`](crate::Instancer) and
/// [`Registrar`](crate::Registrar) built from it opens and owns a session of its own, so
/// that a registrar can close its session (removing its node at once) without touching
/// anyone's watches. Cloning is cheap.
///
/// ```
/// use std::time::Duration;
/// use sd_zk::Config;
///
/// let config = Config::builder(["zk1:2181", "zk2:2181", "zk3:2181"])
///     .session_timeout(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(config.servers(), "zk1:2181,zk2:2181,zk3:2181");
/// # Ok::<(), sd_zk::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    inner: Arc<Inner>,
}

struct Inner {
    servers: String,
    session_timeout: Duration,
    connect_timeout: Duration,
    backoff: Backoff,
}

/// Options for a [`Config`]; see [`Config::builder`].
#[derive(Debug)]
#[must_use]
pub struct ConfigBuilder {
    servers: Vec<String>,
    session_timeout: Duration,
    connect_timeout: Duration,
    backoff: Backoff,
}

impl Config {
    /// The ensemble at `servers` (`"host:port"` each) with default timeouts and backoff.
    pub fn new<I>(servers: I) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::builder(servers).build()
    }

    /// Options for the ensemble at `servers` (`"host:port"` each; a lone `"host"` means
    /// port 2181).
    pub fn builder<I>(servers: I) -> ConfigBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        ConfigBuilder {
            servers: servers.into_iter().map(Into::into).collect(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    /// The servers as a ZooKeeper connect string: `host:port` entries joined by commas.
    pub fn servers(&self) -> &str {
        &self.inner.servers
    }

    /// The session timeout asked of the server (which may grant another within its own
    /// bounds).
    pub fn session_timeout(&self) -> Duration {
        self.inner.session_timeout
    }

    /// How long one attempt to open a session may take.
    pub fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// The waits between failed attempts: a clone with a jitter of its own.
    pub fn backoff(&self) -> Backoff {
        self.inner.backoff.clone()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("servers", &self.inner.servers)
            .field("session_timeout", &self.inner.session_timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("backoff", &self.inner.backoff)
            .finish()
    }
}

impl ConfigBuilder {
    /// The session timeout to ask for (default 5 s), kept within
    /// [`MIN_SESSION_TIMEOUT`]..=[`MAX_SESSION_TIMEOUT`]. A registrar's node outlives a
    /// crashed process by about this long; an ensemble unreachable for longer ends the
    /// session, and a new one is opened.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long one attempt to open a session may take (default 2 s); zero leaves it to
    /// the session timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The waits between failed attempts to connect or to register (default 200 ms
    /// doubling up to 10 s, jittered).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Checks the server list and finishes the configuration.
    pub fn build(self) -> Result<Config, Error> {
        if self.servers.is_empty() {
            return Err(Error::invalid_config("no servers given"));
        }
        for server in &self.servers {
            if server.is_empty() {
                return Err(Error::invalid_config("a server is empty"));
            }
            if server
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '/')
            {
                return Err(Error::invalid_config(
                    "a server must be host:port, with no whitespace, ',' or '/'",
                ));
            }
            if !valid_port(server) {
                return Err(Error::invalid_config(
                    "a server's port must be a number from 0 to 65535",
                ));
            }
        }
        let session_timeout = self
            .session_timeout
            .clamp(MIN_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT);
        let connect_timeout = if self.connect_timeout.is_zero() {
            session_timeout
        } else {
            self.connect_timeout
        };
        Ok(Config {
            inner: Arc::new(Inner {
                servers: self.servers.join(","),
                session_timeout,
                connect_timeout,
                backoff: self.backoff,
            }),
        })
    }
}

/// Whether the port of `host[:port]` (an IPv6 host in brackets) is absent or a `u16`.
fn valid_port(server: &str) -> bool {
    let port = if let Some(rest) = server.strip_prefix('[') {
        let Some((_, after)) = rest.split_once(']') else {
            return false;
        };
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(port) => port,
            None => return false,
        }
    } else {
        match server.rsplit_once(':') {
            Some((_, port)) => port,
            None => return true,
        }
    };
    port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_durations_are_kept_in_range() {
        let config = Config::builder(["h:1"])
            .session_timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .backoff(Backoff::new(Duration::MAX, Duration::MAX))
            .build()
            .unwrap();
        assert_eq!(config.session_timeout(), MAX_SESSION_TIMEOUT);
        assert_eq!(config.connect_timeout(), Duration::MAX);
        let zero = Config::builder(["h:1"])
            .session_timeout(Duration::ZERO)
            .connect_timeout(Duration::ZERO)
            .backoff(Backoff::none())
            .build()
            .unwrap();
        assert_eq!(zero.session_timeout(), MIN_SESSION_TIMEOUT);
        assert_eq!(zero.connect_timeout(), MIN_SESSION_TIMEOUT);
    }

    #[test]
    fn bad_server_lists_are_configuration_errors() {
        let none: [&str; 0] = [];
        for servers in [
            &none[..],
            &[""][..],
            &["a:1,b:2"][..],
            &["a:1 "][..],
            &["a:1/chroot"][..],
            &["a:http"][..],
            &["a:70000"][..],
            &["[::1"][..],
            &["[::1]x"][..],
        ] {
            let error = Config::new(servers.iter().copied()).unwrap_err();
            assert!(error.is_invalid_config(), "{servers:?}: {error}");
        }
        assert_eq!(Config::new(["a:1", "b"]).unwrap().servers(), "a:1,b");
        assert!(Config::new(["[::1]:2181", "[::1]", "10.0.0.1:0"]).is_ok());
    }
}
