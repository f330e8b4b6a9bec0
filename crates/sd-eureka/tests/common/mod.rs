//! Helpers shared by the wire-level tests (`quirks.rs`, `shared_fixtures.rs`): reading
//! payload files (gzipped or not), decoding them with both entry points, and picking
//! documents and instances apart.

// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use sd_eureka::{
    Application, Applications, Document, Format, InstanceInfo, Metadata, decode, decode_any,
};

/// The crate's own fixtures: `crates/sd-eureka/tests/fixtures`.
pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The bytes of a file, decompressed when its name ends in `.gz`.
pub(crate) fn read_bytes(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("gunzip {}: {e}", path.display()));
        out
    } else {
        raw
    }
}

/// The format a file's name announces: `.json` or `.xml`, before any `.gz`.
pub(crate) fn format_of(path: &Path) -> Format {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        Some("xml") => Format::Xml,
        _ => panic!("{name}: neither .json nor .xml"),
    }
}

/// Decodes `bytes` as `format`, and checks that `decode_any` detects that same format and
/// produces the same document.
pub(crate) fn decode_both_ways(bytes: &[u8], format: Format, what: &str) -> Document {
    let document = decode(bytes, format).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (detected, again) = decode_any(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(detected, format, "{what}: detected format");
    assert_eq!(again, document, "{what}: decode_any and decode disagree");
    document
}

/// Reads and decodes a file (format from its name).
pub(crate) fn decode_path(path: &Path) -> Document {
    let format = format_of(path);
    decode_both_ways(&read_bytes(path), format, &path.display().to_string())
}

/// Decodes one of the crate's own fixtures.
pub(crate) fn fixture(name: &str) -> Document {
    decode_path(&fixtures_dir().join(name))
}

/// The raw bytes of one of the crate's own fixtures.
pub(crate) fn fixture_bytes(name: &str) -> Vec<u8> {
    read_bytes(&fixtures_dir().join(name))
}

/// `applications`, `application` or `instance`.
pub(crate) fn root_kind(document: &Document) -> &'static str {
    match document {
        Document::Applications(_) => "applications",
        Document::Application(_) => "application",
        Document::Instance(_) => "instance",
    }
}

/// The registry of a document whose root must be `applications`.
pub(crate) fn registry(document: Document) -> Applications {
    match document {
        Document::Applications(apps) => apps,
        other => panic!(
            "expected an <applications> root, got <{}>",
            root_kind(&other)
        ),
    }
}

/// The app of a document whose root must be `application`.
pub(crate) fn single_app(document: Document) -> Application {
    match document {
        Document::Application(app) => app,
        other => panic!(
            "expected an <application> root, got <{}>",
            root_kind(&other)
        ),
    }
}

/// The instance of a document whose root must be `instance`.
pub(crate) fn single_instance(document: Document) -> InstanceInfo {
    match document {
        Document::Instance(instance) => *instance,
        other => panic!("expected an <instance> root, got <{}>", root_kind(&other)),
    }
}

/// The instance with id `id`, wherever it is in the registry.
pub(crate) fn instance<'a>(apps: &'a Applications, id: &str) -> &'a InstanceInfo {
    apps.instances()
        .map(|(_, i)| i)
        .find(|i| i.instance_id == id)
        .unwrap_or_else(|| panic!("no instance {id:?} in {:?}", ids(apps)))
}

/// Every instance id, in document order.
pub(crate) fn ids(apps: &Applications) -> Vec<&str> {
    apps.instances()
        .map(|(_, i)| i.instance_id.as_str())
        .collect()
}

/// Every app name, in document order.
pub(crate) fn app_names(apps: &Applications) -> Vec<&str> {
    apps.applications.iter().map(|a| a.name.as_str()).collect()
}

/// A metadata map from pairs.
pub(crate) fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
