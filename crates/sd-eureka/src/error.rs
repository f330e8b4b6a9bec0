//! Errors of the codecs.

use std::fmt;

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
