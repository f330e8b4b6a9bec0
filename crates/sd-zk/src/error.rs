//! The error type of the ZooKeeper backend: bad configuration, an unreachable ensemble,
//! a lost session, a ZooKeeper operation that failed, a deadline.

use std::time::Duration;

/// What went wrong talking to ZooKeeper, or with the configuration given.
///
/// Cheap to clone; callers branch with the `is_*` helpers rather than on the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug, Clone, thiserror::Error)]
enum Kind {
    #[error("invalid ZooKeeper path {path:?}: {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("invalid ZooKeeper configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("cannot reach ZooKeeper at {servers}: {source}")]
    Connect {
        servers: String,
        #[source]
        source: zookeeper_client::Error,
    },
    #[error("no ZooKeeper session with {servers} within {limit:?}")]
    ConnectTimeout { servers: String, limit: Duration },
    #[error("ZooKeeper session lost ({state})")]
    SessionLost { state: &'static str },
    #[error("ZooKeeper {operation} {path} failed: {source}")]
    Operation {
        operation: &'static str,
        path: String,
        #[source]
        source: zookeeper_client::Error,
    },
    #[error("ZooKeeper {operation} did not finish within {limit:?}")]
    Timeout {
        operation: &'static str,
        limit: Duration,
    },
    #[error("no Tokio runtime to run {0} on")]
    NoRuntime(&'static str),
}

impl Error {
    pub(crate) fn invalid_path(path: &str, why: &'static str) -> Self {
        Self {
            kind: Kind::InvalidPath {
                path: path.to_owned(),
                why,
            },
        }
    }

    pub(crate) fn invalid_config(why: &'static str) -> Self {
        Self {
            kind: Kind::InvalidConfig(why),
        }
    }

    pub(crate) fn connect(servers: &str, source: zookeeper_client::Error) -> Self {
        Self {
            kind: Kind::Connect {
                servers: servers.to_owned(),
                source,
            },
        }
    }

    pub(crate) fn connect_timeout(servers: &str, limit: Duration) -> Self {
        Self {
            kind: Kind::ConnectTimeout {
                servers: servers.to_owned(),
                limit,
            },
        }
    }

    pub(crate) fn session_lost(state: zookeeper_client::SessionState) -> Self {
        use zookeeper_client::SessionState;
        let state = match state {
            SessionState::Disconnected => "disconnected",
            SessionState::Expired => "expired",
            SessionState::AuthFailed => "authentication failed",
            SessionState::Closed => "closed",
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => "connected",
        };
        Self {
            kind: Kind::SessionLost { state },
        }
    }

    pub(crate) fn operation(
        operation: &'static str,
        path: &str,
        source: zookeeper_client::Error,
    ) -> Self {
        Self {
            kind: Kind::Operation {
                operation,
                path: path.to_owned(),
                source,
            },
        }
    }

    pub(crate) fn timeout(operation: &'static str, limit: Duration) -> Self {
        Self {
            kind: Kind::Timeout { operation, limit },
        }
    }

    pub(crate) fn no_runtime(what: &'static str) -> Self {
        Self {
            kind: Kind::NoRuntime(what),
        }
    }

    /// True when a path given to a builder is not a valid ZooKeeper node path.
    pub fn is_invalid_path(&self) -> bool {
        matches!(self.kind, Kind::InvalidPath { .. })
    }

    /// True when the configuration cannot work (no servers, a malformed server list).
    pub fn is_invalid_config(&self) -> bool {
        matches!(self.kind, Kind::InvalidConfig(_))
    }

    /// True when no session could be established with the ensemble, in time or at all.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind,
            Kind::Connect { .. } | Kind::ConnectTimeout { .. }
        )
    }

    /// True when an established session was lost: disconnected, expired or closed.
    pub fn is_session_lost(&self) -> bool {
        matches!(self.kind, Kind::SessionLost { .. })
            || self.zookeeper().is_some_and(|e| {
                matches!(
                    e,
                    zookeeper_client::Error::ConnectionLoss
                        | zookeeper_client::Error::SessionExpired
                        | zookeeper_client::Error::ClientClosed
                )
            })
    }

    /// True when an operation or a connection attempt ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            Kind::Timeout { .. } | Kind::ConnectTimeout { .. }
        )
    }

    /// True when a background task was needed outside a Tokio runtime.
    pub fn is_no_runtime(&self) -> bool {
        matches!(self.kind, Kind::NoRuntime(_))
    }

    /// The ZooKeeper client's own error, when one caused this.
    pub fn zookeeper(&self) -> Option<&zookeeper_client::Error> {
        match &self.kind {
            Kind::Connect { source, .. } | Kind::Operation { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_tell_the_kinds_apart() {
        let e = Error::connect("127.0.0.1:1", zookeeper_client::Error::NoHosts);
        assert!(e.is_connect() && !e.is_timeout());
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
        let t = Error::connect_timeout("h:1", Duration::from_secs(2));
        assert!(t.is_connect() && t.is_timeout());
        let lost = Error::session_lost(zookeeper_client::SessionState::Expired);
        assert!(lost.is_session_lost());
        assert_eq!(lost.to_string(), "ZooKeeper session lost (expired)");
        let op = Error::operation("create", "/a", zookeeper_client::Error::ConnectionLoss);
        assert!(op.is_session_lost() && op.zookeeper().is_some());
        assert!(Error::invalid_path("a", "relative").is_invalid_path());
        assert!(Error::invalid_config("no servers").is_invalid_config());
        assert!(Error::no_runtime("x").is_no_runtime());
    }
}
