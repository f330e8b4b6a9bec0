//! Errors of the codecs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::Format;

/// A document that could not be decoded: what failed and where.
///
/// The message names the field (as a path such as
/// `applications.application[0].instance[2].port`) when the document was well-formed but a
/// value was not, and the position (line and column, from 1) whenever it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    format: Format,
    kind: DecodeErrorKind,
    path: Option<String>,
    position: Option<(usize, usize)>,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// Not well-formed JSON / XML.
    Syntax,
    /// Well-formed, but not a Eureka document, or a value that cannot mean anything.
    Invalid,
}

impl DecodeError {
    pub(crate) fn empty(format: Format) -> Self {
        Self::new(
            format,
            DecodeErrorKind::Empty,
            "the document is empty".to_owned(),
        )
    }

    pub(crate) fn syntax(format: Format, message: impl Into<String>) -> Self {
        Self::new(format, DecodeErrorKind::Syntax, message.into())
    }

    pub(crate) fn invalid(format: Format, message: impl Into<String>) -> Self {
        Self::new(format, DecodeErrorKind::Invalid, message.into())
    }

    fn new(format: Format, kind: DecodeErrorKind, message: String) -> Self {
        Self {
            format,
            kind,
            path: None,
            position: None,
            message,
        }
    }

    pub(crate) fn at(mut self, line: usize, column: usize) -> Self {
        self.position = Some((line, column));
        self
    }

    /// Sets the position from a byte offset into `input`.
    // Runs once per failed decode, so a plain count is fine.
    #[allow(clippy::naive_bytecount)]
    pub(crate) fn at_offset(self, input: &[u8], offset: usize) -> Self {
        let before = &input[..offset.min(input.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        self.at(line, column)
    }

    pub(crate) fn in_field(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        if !path.is_empty() && path != "." {
            self.path = Some(path);
        }
        self
    }

    /// The format being decoded.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The field that failed, as a dotted path, when the document was well-formed.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Line and column (from 1) of the failure, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }

    /// What went wrong, without the position or path.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the input held nothing but whitespace.
    pub fn is_empty_document(&self) -> bool {
        self.kind == DecodeErrorKind::Empty
    }

    /// True when the input is not well-formed JSON / XML (truncated, garbage...).
    pub fn is_syntax(&self) -> bool {
        self.kind == DecodeErrorKind::Syntax
    }

    /// True when the input is well-formed but not a valid Eureka document.
    pub fn is_invalid(&self) -> bool {
        self.kind == DecodeErrorKind::Invalid
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Eureka {}", self.format)?;
        if let Some((line, column)) = self.position {
            write!(f, " at line {line}, column {column}")?;
        }
        if let Some(path) = &self.path {
            write!(f, " in {path}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

/// A value that cannot be written in the requested format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A metadata key that is not a valid XML element name.
    #[error("metadata key {0:?} is not a valid XML element name")]
    XmlName(String),
    /// Text holding a character XML 1.0 cannot carry (most control characters).
    #[error("{field} holds a character XML cannot carry: {value:?}")]
    XmlChar {
        /// The element being written.
        field: String,
        /// The offending text.
        value: String,
    },
    /// `serde_json` failed (it does not for these types, but its API says it may).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Why a call to a Eureka server failed.
///
/// The kinds a caller branches on have `is_*` helpers. The message names the service URL
/// the error came from, without its credentials. When an operation tried several service
/// URLs and every one failed, the error is the last URL's, and [`earlier`](Self::earlier)
/// holds the others' in the order they were tried; the message shows them all. Cloning is
/// cheap.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    url: Option<Arc<str>>,
    earlier: Arc<[Error]>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ErrorKind {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0} needs a Tokio runtime")]
    NoRuntime(&'static str),
    // The whole chain: hyper's own message ("client error (Connect)") hides the cause
    // ("Connection refused") in its sources.
    #[error("cannot reach the server: {}", chain(.0.as_ref()))]
    Transport(Arc<dyn std::error::Error + Send + Sync>),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the server answered {status}{}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) }, if *.no_base_path { BASE_PATH_HINT } else { "" })]
    Status {
        status: http::StatusCode,
        body: String,
        /// A 404 from a URL whose path names no `eureka`: most likely the base path is
        /// missing, the commonest mistake in a service URL.
        no_base_path: bool,
    },
    #[error("the answer is larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("the answer is not valid gzip: {0}")]
    Gzip(Arc<std::io::Error>),
    #[error("the server answered {0}, where {1} was asked for")]
    Unexpected(&'static str, &'static str),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Encode(Arc<EncodeError>),
}

/// What a 404 from a URL without `eureka` in its path adds to the message.
const BASE_PATH_HINT: &str = " (is the base path missing? service URLs include it, as in \
                              http://host:8761/eureka/ for Spring's servers)";

impl From<EncodeError> for ErrorKind {
    fn from(error: EncodeError) -> Self {
        Self::Encode(Arc::new(error))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(url) = &self.url {
            write!(f, " ({url})")?;
        }
        for (n, earlier) in self.earlier.iter().enumerate() {
            f.write_str(if n == 0 { "; before that: " } else { "; " })?;
            write!(f, "{earlier}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Transport(e) => Some(e.as_ref()),
            ErrorKind::Gzip(e) => Some(e.as_ref()),
            ErrorKind::Decode(e) => Some(e),
            ErrorKind::Encode(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            url: None,
            earlier: Arc::new([]),
        }
    }

    pub(crate) fn from_kind(kind: impl Into<ErrorKind>) -> Self {
        Self::new(kind.into())
    }

    pub(crate) fn at(mut self, url: &Arc<str>) -> Self {
        self.url = Some(Arc::clone(url));
        self
    }

    /// The last of `tried` (the errors of one operation's URLs, in order), carrying the
    /// others; `None` when nothing was tried.
    pub(crate) fn of_attempts(mut tried: Vec<Error>) -> Option<Self> {
        let mut last = tried.pop()?;
        last.earlier = tried.into();
        Some(last)
    }

    /// The service URL this error came from (without credentials), when a server was
    /// involved.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The errors of the service URLs the operation tried before this one, in order.
    pub fn earlier(&self) -> &[Error] {
        &self.earlier
    }

    /// The configuration is unusable (no service URL, a malformed one...).
    pub fn is_config(&self) -> bool {
        matches!(self.kind, ErrorKind::Config(_))
    }

    /// The call was made outside a Tokio runtime, where it cannot run its tasks.
    pub fn is_no_runtime(&self) -> bool {
        matches!(self.kind, ErrorKind::NoRuntime(_))
    }

    /// The server could not be reached (refused, reset, DNS...).
    pub fn is_transport(&self) -> bool {
        matches!(self.kind, ErrorKind::Transport(_))
    }

    /// The server did not answer in time (or the operation's time ran out).
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout(_))
    }

    /// The HTTP status of an unexpected answer.
    pub fn status(&self) -> Option<http::StatusCode> {
        match &self.kind {
            ErrorKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server does not know the instance (a 404): a heartbeat must register again.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(http::StatusCode::NOT_FOUND)
    }

    /// The answer exceeded the response size cap.
    pub fn is_too_large(&self) -> bool {
        matches!(self.kind, ErrorKind::TooLarge(_))
    }

    /// The answer was not a Eureka document (or not valid gzip), or not the document
    /// asked for.
    pub fn is_decode(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Decode(_) | ErrorKind::Unexpected(..) | ErrorKind::Gzip(_)
        )
    }

    /// The decoding failure behind [`is_decode`](Self::is_decode), when the answer was
    /// not a well-formed Eureka document.
    pub fn decode_error(&self) -> Option<&DecodeError> {
        match &self.kind {
            ErrorKind::Decode(e) => Some(e),
            _ => None,
        }
    }

    /// Whether an attempt failed because of the server at that URL (unreachable, slow,
    /// an unusable status or body), so that the next URL is worth trying; `false` for
    /// failures of our own making (configuration, a body we cannot encode).
    pub(crate) fn is_server_fault(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Config(_) | ErrorKind::NoRuntime(_) | ErrorKind::Encode(_)
        )
    }
}

/// `error: cause: cause...`, skipping a cause whose message its parent already shows.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
