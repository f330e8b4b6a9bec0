//! The crate's error type: what went wrong talking to etcd, or with the configuration.

use std::sync::Arc;
use std::time::Duration;

/// An error from the etcd backend.
///
/// Cheap to clone (errors reach every waiter of a registration and every subscriber of an
/// instancer). Branch on the `is_*` helpers rather than on the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug, Clone, thiserror::Error)]
enum Kind {
    #[error("invalid etcd configuration: {0}")]
    Config(String),
    #[error("etcd {op} failed: {source}")]
    Etcd {
        op: &'static str,
        #[source]
        source: Arc<etcd_client::Error>,
    },
    #[error("etcd {op} answered nothing within {after:?}")]
    Timeout { op: &'static str, after: Duration },
    #[error("etcd {op} failed: {reason}")]
    Protocol { op: &'static str, reason: String },
    #[error("{0} needs a Tokio runtime")]
    NoRuntime(&'static str),
}

impl Error {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self {
            kind: Kind::Config(reason.into()),
        }
    }

    pub(crate) fn etcd(op: &'static str, source: etcd_client::Error) -> Self {
        Self {
            kind: Kind::Etcd {
                op,
                source: Arc::new(source),
            },
        }
    }

    pub(crate) fn timeout(op: &'static str, after: Duration) -> Self {
        Self {
            kind: Kind::Timeout { op, after },
        }
    }

    pub(crate) fn protocol(op: &'static str, reason: impl Into<String>) -> Self {
        Self {
            kind: Kind::Protocol {
                op,
                reason: reason.into(),
            },
        }
    }

    pub(crate) fn no_runtime(what: &'static str) -> Self {
        Self {
            kind: Kind::NoRuntime(what),
        }
    }

    /// True when a builder was given something unusable (no endpoints, a zero timeout, a
    /// key with a `/`...): retrying will not help.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }

    /// True when etcd did not answer within the request timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout { .. })
    }

    /// True when etcd could not be reached or refused the request (a transport error or a
    /// gRPC status), or answered something unusable: worth retrying later.
    pub fn is_etcd(&self) -> bool {
        matches!(self.kind, Kind::Etcd { .. } | Kind::Protocol { .. })
    }

    /// True when a background task was needed but no Tokio runtime was running.
    pub fn is_no_runtime(&self) -> bool {
        matches!(self.kind, Kind::NoRuntime(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation() {
        let e = Error::timeout("get", Duration::from_secs(2));
        assert!(e.is_timeout() && !e.is_etcd());
        assert_eq!(e.to_string(), "etcd get answered nothing within 2s");
        let e = Error::etcd("watch", etcd_client::Error::WatchError("gone".into()));
        assert!(e.is_etcd());
        assert_eq!(e.to_string(), "etcd watch failed: watch error: gone");
        assert!(std::error::Error::source(&e).is_some());
        assert!(Error::config("no endpoints").is_config());
        assert!(Error::no_runtime("an Instancer").is_no_runtime());
    }
}
