//! A copy of a document that XML can carry, for registrations it cannot.
//!
//! JSON can carry any metadata key and any character; XML 1.0 cannot carry a metadata key
//! that is not an element name (`"bad key"`) nor most control characters, not even as
//! character references. A real server accepts such a registration (204) and keeps
//! answering reads with 200, so this one does too: the registry keeps the instance exactly
//! as sent (JSON answers show it so), and only an XML answer that cannot be written as is
//! is written from this copy, where
//!
//! * each character XML cannot carry becomes U+FFFD (the replacement character), in every
//!   text: ids, host names, URLs, metadata values;
//! * a metadata key that is not an XML name gets each offending character replaced by `_`,
//!   and a leading `_` when it starts with a digit, a `-`, a `.` or `xml`; a key that then
//!   collides with another is left out of the XML (the key that needed no change wins).
//!
//! So one client's odd registration never makes the registry unreadable for others.

use sd_eureka::{Application, Applications, DataCenterInfo, Document, InstanceInfo, Metadata};

/// The document with every text XML cannot carry replaced, as described above.
pub(crate) fn xml_safe(document: &Document) -> Document {
    match document {
        Document::Applications(apps) => Document::Applications(applications(apps)),
        Document::Application(app) => Document::Application(application(app)),
        Document::Instance(instance) => Document::Instance(Box::new(self::instance(instance))),
    }
}

fn applications(apps: &Applications) -> Applications {
    Applications {
        versions_delta: apps.versions_delta,
        apps_hashcode: apps.apps_hashcode.as_deref().map(text),
        applications: apps.applications.iter().map(application).collect(),
    }
}

fn application(app: &Application) -> Application {
    Application {
        name: text(&app.name),
        instances: app.instances.iter().map(instance).collect(),
    }
}

fn instance(original: &InstanceInfo) -> InstanceInfo {
    let mut i = original.clone();
    for field in [
        &mut i.instance_id,
        &mut i.host_name,
        &mut i.app,
        &mut i.ip_addr,
    ] {
        *field = text(field);
    }
    for field in [
        &mut i.app_group_name,
        &mut i.home_page_url,
        &mut i.status_page_url,
        &mut i.health_check_url,
        &mut i.secure_health_check_url,
        &mut i.vip_address,
        &mut i.secure_vip_address,
    ] {
        *field = field.as_deref().map(text);
    }
    i.metadata = metadata(&i.metadata);
    let dc = &i.data_center_info;
    i.data_center_info = DataCenterInfo {
        name: text(&dc.name),
        class: text(&dc.class),
        metadata: metadata(&dc.metadata),
    };
    i
}

fn metadata(original: &Metadata) -> Metadata {
    let mut safe = Metadata::new();
    // Keys that need no change first, so that a changed key never displaces one.
    let (valid, invalid): (Vec<_>, Vec<_>) = original.iter().partition(|(k, _)| is_name(k));
    for (key, value) in valid {
        safe.insert(key.clone(), text(value));
    }
    for (key, value) in invalid {
        safe.entry(name(key)).or_insert_with(|| text(value));
    }
    safe
}

/// `text` with each character XML 1.0 cannot carry replaced by U+FFFD.
fn text(text: &str) -> String {
    text.chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// An element name made from `key`, as described in the module docs.
fn name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| if is_name_char(c) { c } else { '_' })
        .collect();
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    let reserved = name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("xml"));
    if !starts_well || reserved {
        name.insert(0, '_');
    }
    name
}

/// The element names written as they are: a letter or `_` first, then letters, digits,
/// `-`, `_` or `.`, not starting with `xml` (as conservative as the encoder's check, so
/// that whatever passes here the encoder writes).
fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(is_name_char)
        && !key.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("xml"))
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_texts_become_writable() {
        assert_eq!(name("bad key"), "bad_key");
        assert_eq!(name("1st"), "_1st");
        assert_eq!(name("xmlns"), "_xmlns");
        assert_eq!(name(""), "_");
        assert_eq!(name("a\u{1}b"), "a_b");
        assert!(is_name(&name("-x y")));
        assert_eq!(text("a\u{1}b\u{FFFE}\tc"), "a\u{FFFD}b\u{FFFD}\tc");

        let mut odd = Metadata::new();
        odd.insert("bad key".into(), "one".into());
        odd.insert("bad_key".into(), "two".into());
        odd.insert("zone".into(), "a\u{7}".into());
        let safe = metadata(&odd);
        assert_eq!(safe.len(), 2);
        assert_eq!(safe["bad_key"], "two", "the key that needed no change wins");
        assert_eq!(safe["zone"], "a\u{FFFD}");
    }
}
