//! The error type shared by instancers, endpointers and everything built on them.

use std::fmt;
use std::sync::Arc;

/// A boxed error, as produced by backends and factories.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from service discovery.
///
/// Errors travel inside [`Event`](crate::Event)s to every subscriber, so they are cheap to
/// clone (one reference-count increment) and comparable: two errors are equal when they are
/// of the same kind and say the same thing, which lets the instance cache skip repeats of
/// an identical failure. An error is one pointer, so a read's `Result` fits in two
/// registers.
#[derive(Clone)]
pub struct Error {
    repr: Arc<Repr>,
}

enum Repr {
    Discovery(BoxError),
    Closed,
    NoRuntime,
}

impl Error {
    fn new(repr: Repr) -> Self {
        Self {
            repr: Arc::new(repr),
        }
    }

    /// Wraps a backend's failure to produce the instance set (an unreachable server, a bad
    /// payload, ...). Its message is the backend error's message.
    pub fn discovery(source: impl Into<BoxError>) -> Self {
        Self::new(Repr::Discovery(source.into()))
    }

    /// The error an [`Endpointer`](crate::Endpointer) returns once it has been closed.
    pub fn closed() -> Self {
        Self::new(Repr::Closed)
    }

    pub(crate) fn no_runtime() -> Self {
        Self::new(Repr::NoRuntime)
    }

    /// True when the discovery backend failed.
    pub fn is_discovery(&self) -> bool {
        matches!(*self.repr, Repr::Discovery(_))
    }

    /// True when the endpointer this came from has been closed.
    pub fn is_closed(&self) -> bool {
        matches!(*self.repr, Repr::Closed)
    }

    /// True when a background task was needed but no Tokio runtime was running.
    pub fn is_no_runtime(&self) -> bool {
        matches!(*self.repr, Repr::NoRuntime)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            // Transparent: the backend's message is the message users need to see.
            Repr::Discovery(source) => fmt::Display::fmt(source, f),
            Repr::Closed => f.write_str("endpointer closed"),
            Repr::NoRuntime => f.write_str("no Tokio runtime to run the background task on"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Discovery(source) => f.debug_tuple("Discovery").field(source).finish(),
            Repr::Closed => f.write_str("Closed"),
            Repr::NoRuntime => f.write_str("NoRuntime"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.repr {
            // Display already forwards the source's message; skip a level so error-chain
            // printers do not repeat it.
            Repr::Discovery(source) => source.source(),
            Repr::Closed | Repr::NoRuntime => None,
        }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.repr, &other.repr) {
            return true;
        }
        match (&*self.repr, &*other.repr) {
            (Repr::Discovery(a), Repr::Discovery(b)) => a.to_string() == b.to_string(),
            (Repr::Closed, Repr::Closed) | (Repr::NoRuntime, Repr::NoRuntime) => true,
            _ => false,
        }
    }
}

impl Eq for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_errors_compare_by_message() {
        let a = Error::discovery("connection refused");
        let b = Error::discovery("connection refused");
        let c = Error::discovery("timed out");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, Error::closed());
        assert_eq!(a.to_string(), "connection refused");
        assert!(a.is_discovery() && !a.is_closed());
        assert!(Error::closed().is_closed());
    }

    #[test]
    fn an_error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<&u8, Error>>(),
            2 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn source_chain_does_not_repeat_the_message() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Error::discovery(Outer(std::io::Error::other("inner")));
        assert_eq!(e.to_string(), "outer");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("inner"));
    }
}
