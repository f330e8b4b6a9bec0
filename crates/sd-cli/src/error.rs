//! The ways a command can fail. `main` prints each as a single `error:` line.

use std::fmt;
use std::io;

use sd_eureka::{DecodeError, EncodeError};

/// Why a command failed. Each variant names the input it was working on, so the message
/// stands on its own.
#[derive(Debug)]
pub(crate) enum Error {
    /// The input could not be read.
    Read { input: String, source: io::Error },
    /// The input is not a Eureka document.
    Decode { input: String, source: DecodeError },
    /// A decoded document could not be written back out.
    Encode { input: String, source: EncodeError },
    /// Standard output failed.
    Write(io::Error),
    /// The registry could not start (address in use, no runtime...).
    Serve { addr: String, source: io::Error },
    /// A call to a Eureka registry failed; `action` says what was being done
    /// (`cannot read the registry`, `cannot register ORDERS a:orders:80`...).
    Eureka {
        action: String,
        source: Box<sd_eureka::Error>,
    },
    /// DNS SRV discovery could not start; `action` says what was being done.
    Dns {
        action: String,
        source: sd_dnssrv::Error,
    },
    /// A call to etcd failed; `action` says what was being done.
    Etcd {
        action: String,
        source: Box<sd_etcd::Error>,
    },
    /// A `ZooKeeper` command failed; `action` says what was being done.
    Zk {
        action: String,
        source: Box<sd_zk::Error>,
    },
    /// The async runtime of a client command could not start.
    Runtime(io::Error),
    /// SIGINT and SIGTERM could not be listened for.
    Signal(io::Error),
}

impl Error {
    /// A failed call to a Eureka registry, while doing `action`.
    pub(crate) fn eureka(action: impl Into<String>, source: sd_eureka::Error) -> Self {
        Error::Eureka {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// DNS SRV discovery could not start, while doing `action`.
    pub(crate) fn dns(action: impl Into<String>, source: sd_dnssrv::Error) -> Self {
        Error::Dns {
            action: action.into(),
            source,
        }
    }

    /// A failed call to etcd, while doing `action`.
    pub(crate) fn etcd(action: impl Into<String>, source: sd_etcd::Error) -> Self {
        Error::Etcd {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// A failed `ZooKeeper` operation, while doing `action`.
    pub(crate) fn zk(action: impl Into<String>, source: sd_zk::Error) -> Self {
        Error::Zk {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// True when standard output was closed by its reader.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Write(error) if error.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { input, source } => write!(f, "cannot read {input}: {source}"),
            Error::Decode { input, source } => write!(f, "cannot decode {input}: {source}"),
            Error::Encode { input, source } => write!(f, "cannot encode {input}: {source}"),
            Error::Write(source) => write!(f, "cannot write the output: {source}"),
            Error::Serve { addr, source } => write!(f, "cannot serve on {addr}: {source}"),
            Error::Eureka { action, source } => write!(f, "{action}: {source}"),
            Error::Dns { action, source } => write!(f, "{action}: {source}"),
            Error::Etcd { action, source } => write!(f, "{action}: {source}"),
            Error::Zk { action, source } => write!(f, "{action}: {source}"),
            Error::Runtime(source) => write!(f, "cannot start the async runtime: {source}"),
            Error::Signal(source) => write!(f, "cannot listen for signals: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. }
            | Error::Write(source)
            | Error::Serve { source, .. }
            | Error::Runtime(source)
            | Error::Signal(source) => Some(source),
            Error::Decode { source, .. } => Some(source),
            Error::Encode { source, .. } => Some(source),
            Error::Eureka { source, .. } => Some(&**source),
            Error::Dns { source, .. } => Some(source),
            Error::Etcd { source, .. } => Some(&**source),
            Error::Zk { source, .. } => Some(&**source),
        }
    }
}
