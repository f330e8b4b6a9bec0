//! Reading and writing Eureka documents in JSON and XML.
//!
//! Decoders are tolerant: they accept every quirk real servers produce (see the protocol
//! page) and fail only on input that cannot be a Eureka document, with a [`DecodeError`]
//! that says what and where. Encoders are strict: they write what real servers accept.

mod json;
pub(crate) mod lenient;
mod xml;

use std::fmt;
use std::str::FromStr;

use crate::error::{DecodeError, EncodeError};
use crate::model::{Application, Applications, Document, InstanceInfo};

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/xml` (what servers answer by default).
    Xml,
}

impl Format {
    /// Guesses the format from the first significant byte: `{` is JSON, `<` is XML.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace())? {
            b'{' | b'[' => Some(Format::Json),
            b'<' => Some(Format::Xml),
            _ => None,
        }
    }

    /// The media type for `Accept` and `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Xml => "XML",
        })
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "xml" => Ok(Format::Xml),
            other => Err(format!("unknown format {other:?} (expected json or xml)")),
        }
    }
}

/// Decodes a document whose root is `applications`, `application` or `instance`.
///
/// ```
/// use sd_eureka::{decode, Document, Format, Status};
///
/// let json = br#"{"instance":{"instanceId":"a:orders:80","app":"ORDERS","ipAddr":"10.0.0.1",
///     "status":"UP","port":{"$":"80","@enabled":"true"}}}"#;
/// let Document::Instance(instance) = decode(json, Format::Json).unwrap() else { panic!() };
/// assert_eq!(instance.status, Status::Up);
/// assert_eq!(instance.address(), "10.0.0.1:80");
/// ```
pub fn decode(bytes: &[u8], format: Format) -> Result<Document, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::empty(format));
    }
    let mut document = match format {
        Format::Json => json::decode(bytes)?,
        Format::Xml => xml::decode(bytes)?,
    };
    document.normalize();
    Ok(document)
}

/// Decodes a document in whichever format it is in (see [`Format::detect`]).
pub fn decode_any(bytes: &[u8]) -> Result<(Format, Document), DecodeError> {
    let format = match Format::detect(bytes) {
        Some(format) => format,
        None if bytes.iter().all(u8::is_ascii_whitespace) => {
            return Err(DecodeError::empty(Format::Json));
        }
        None => {
            return Err(DecodeError::syntax(
                Format::Json,
                "neither JSON nor XML: the document starts with neither '{' nor '<'",
            ));
        }
    };
    decode(bytes, format).map(|document| (format, document))
}

/// Encodes a document as a server writes it.
pub fn encode(document: &Document, format: Format) -> Result<Vec<u8>, EncodeError> {
    match document {
        Document::Applications(apps) => encode_applications(apps, format),
        Document::Application(app) => encode_application(app, format),
        Document::Instance(instance) => encode_instance(instance, format),
    }
}

/// Encodes an instance as a registration body (`POST apps/{APP}`), in the form real
/// servers accept.
pub fn encode_instance(instance: &InstanceInfo, format: Format) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::Json => json::encode_instance(instance),
        Format::Xml => xml::encode_instance(instance),
    }
}

/// Encodes a registry (`GET apps`, `apps/delta`, `vips/...`) as a server does.
pub fn encode_applications(apps: &Applications, format: Format) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::Json => json::encode_applications(apps),
        Format::Xml => xml::encode_applications(apps),
    }
}

/// Encodes one app (`GET apps/{APP}`) as a server does.
pub fn encode_application(app: &Application, format: Format) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::Json => json::encode_application(app),
        Format::Xml => xml::encode_application(app),
    }
}
