//! The errors of the DNS SRV backend: configuration mistakes found when an instancer is
//! built, and lookup failures, which travel to subscribers inside error events.

use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::ResolveError;

/// An error of the DNS SRV backend.
///
/// Configuration errors come back from [`InstancerBuilder::build`](crate::InstancerBuilder::build);
/// lookup errors reach subscribers as [`sd_core::Event::Error`]s, each an
/// [`sd_core::Error::discovery`] with this error's message. Cheap to clone. Ask what went
/// wrong with the `is_*` methods.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug, Clone, thiserror::Error)]
enum Kind {
    #[error("invalid SRV name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("invalid DNS SRV configuration: {0}")]
    Config(&'static str),
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemConfig(#[source] Arc<ResolveError>),
    #[error("no Tokio runtime to run the DNS SRV poller on")]
    NoRuntime,
    #[error("SRV lookup of {name} timed out after {after:?}")]
    Timeout { name: String, after: Duration },
    #[error("no SRV records for {name} ({code})")]
    NoRecords { name: String, code: String },
    #[error("SRV lookup of {name} failed: the name server answered {code}")]
    Server { name: String, code: String },
    #[error("SRV lookup of {name} failed: {source}")]
    Lookup {
        name: String,
        #[source]
        source: Arc<ResolveError>,
    },
    #[error(
        "none of the {count} SRV records of {name} is usable (port 0, root target or a \
         target that is no host name)"
    )]
    NoUsableRecords { name: String, count: usize },
}

impl Error {
    pub(crate) fn invalid_name(name: &str, reason: impl Into<String>) -> Self {
        Self::from(Kind::InvalidName {
            name: name.to_owned(),
            reason: reason.into(),
        })
    }

    pub(crate) fn config(what: &'static str) -> Self {
        Self::from(Kind::Config(what))
    }

    pub(crate) fn system_config(source: ResolveError) -> Self {
        Self::from(Kind::SystemConfig(Arc::new(source)))
    }

    pub(crate) fn no_runtime() -> Self {
        Self::from(Kind::NoRuntime)
    }

    pub(crate) fn timeout(name: &str, after: Duration) -> Self {
        Self::from(Kind::Timeout {
            name: name.to_owned(),
            after,
        })
    }

    pub(crate) fn no_records(name: &str, code: &str) -> Self {
        Self::from(Kind::NoRecords {
            name: name.to_owned(),
            code: code.to_owned(),
        })
    }

    pub(crate) fn server(name: &str, code: &str) -> Self {
        Self::from(Kind::Server {
            name: name.to_owned(),
            code: code.to_owned(),
        })
    }

    pub(crate) fn lookup(name: &str, source: ResolveError) -> Self {
        Self::from(Kind::Lookup {
            name: name.to_owned(),
            source: Arc::new(source),
        })
    }

    pub(crate) fn no_usable_records(name: &str, count: usize) -> Self {
        Self::from(Kind::NoUsableRecords {
            name: name.to_owned(),
            count,
        })
    }

    /// True for a configuration the builder refused: an SRV name that is no DNS name, or
    /// a zero duration.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::InvalidName { .. } | Kind::Config(_))
    }

    /// True when the system's DNS configuration (`/etc/resolv.conf`) could not be read.
    pub fn is_system_config(&self) -> bool {
        matches!(self.kind, Kind::SystemConfig(_))
    }

    /// True when the instancer was built outside a Tokio runtime.
    pub fn is_no_runtime(&self) -> bool {
        matches!(self.kind, Kind::NoRuntime)
    }

    /// True for any failure of a lookup (what error events carry), as opposed to a
    /// configuration error.
    pub fn is_lookup(&self) -> bool {
        matches!(
            self.kind,
            Kind::Timeout { .. }
                | Kind::NoRecords { .. }
                | Kind::Server { .. }
                | Kind::Lookup { .. }
                | Kind::NoUsableRecords { .. }
        )
    }

    /// True when a lookup did not finish within its deadline (no answer, or only answers
    /// that could not be read).
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout { .. })
    }

    /// True when the name server said there are no SRV records (`NXDOMAIN`, or no SRV
    /// records at an existing name) and the instancer was told to treat that as an error
    /// ([`InstancerBuilder::no_records_is_error`](crate::InstancerBuilder::no_records_is_error)).
    pub fn is_no_records(&self) -> bool {
        matches!(self.kind, Kind::NoRecords { .. })
    }

    /// True when the name server answered with a failure code (`SERVFAIL`, `REFUSED`...).
    pub fn is_server_failure(&self) -> bool {
        matches!(self.kind, Kind::Server { .. })
    }

    /// True when the lookup failed otherwise: the connection (refused, reset), or an
    /// answer that is no valid DNS message.
    pub fn is_transport(&self) -> bool {
        matches!(self.kind, Kind::Lookup { .. })
    }

    /// True when the answer held SRV records but none that can be used.
    pub fn is_no_usable_records(&self) -> bool {
        matches!(self.kind, Kind::NoUsableRecords { .. })
    }
}

impl From<Kind> for Error {
    fn from(kind: Kind) -> Self {
        Self { kind }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_tell_the_kinds_apart() {
        let timeout = Error::timeout("_x._tcp.a.", Duration::from_secs(5));
        assert!(timeout.is_timeout() && timeout.is_lookup() && !timeout.is_config());
        assert_eq!(
            timeout.to_string(),
            "SRV lookup of _x._tcp.a. timed out after 5s"
        );
        let servfail = Error::server("n", "SERVFAIL");
        assert!(servfail.is_server_failure() && servfail.is_lookup());
        assert!(Error::no_records("n", "NXDOMAIN").is_no_records());
        let bad = Error::no_usable_records("n", 2);
        assert!(bad.is_no_usable_records() && bad.is_lookup());
        assert!(Error::config("the interval must be more than zero").is_config());
        assert!(Error::invalid_name("", "empty").is_config());
        let no_runtime = Error::no_runtime();
        assert!(no_runtime.is_no_runtime() && !no_runtime.is_lookup());
    }

    #[test]
    fn errors_are_send_sync_and_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }
}
