//! The XML codec: a pull decoder over quick-xml's zero-copy reader, and a plain writer.
//!
//! The decoder walks the tree it expects and skips everything else, so unknown elements
//! (`sid`, `asgName`, `registeredApplicationsEmpty`...) cost nothing but a scan. Text is
//! trimmed, entity and character references are resolved, CDATA is read as text.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::Reader;
use quick_xml::escape::{escape, resolve_xml_entity};
use quick_xml::events::{BytesStart, Event};

use super::Format;
use crate::error::{DecodeError, EncodeError};
use crate::model::{
    ActionType, Application, Applications, DataCenterInfo, Document, InstanceInfo, LeaseInfo,
    Metadata, Port, Status,
};

type Result<T> = std::result::Result<T, DecodeError>;

pub(super) fn decode(input: &[u8]) -> Result<Document> {
    let mut x = XmlDecoder::new(input);
    let (root, empty) = x.root()?;
    let document = match root.local_name().as_ref() {
        "applications" => Document::Applications(x.applications(empty)?),
        "application" => Document::Application(x.application(empty)?),
        "instance" => Document::Instance(Box::new(x.instance(empty)?)),
        // quick-xml's tokenizer is lax about names: `<<<>` arrives as an element `<<`.
        other if !is_xml_name(other) => {
            return Err(x.malformed("the root element's name is not a valid XML name"));
        }
        other => {
            let name = other.to_owned();
            return Err(x.invalid(format!(
                "the root element is <{name}>, not <applications>, <application> or <instance>"
            )));
        }
    };
    x.end_of_document()?;
    Ok(document)
}

struct XmlDecoder<'a> {
    reader: Reader<&'a [u8]>,
    input: &'a [u8],
    /// The elements being read, for error messages.
    path: Vec<&'static str>,
}

impl<'a> XmlDecoder<'a> {
    fn new(input: &'a [u8]) -> Self {
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        Self {
            reader: Reader::from_reader(input),
            input,
            path: Vec::with_capacity(8),
        }
    }

    fn read(&mut self) -> Result<Event<'a>> {
        self.reader.read_event().map_err(|e| {
            let offset = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
            DecodeError::syntax(Format::Xml, e.to_string())
                .in_field(self.path.join("."))
                .at_offset(self.input, offset)
        })
    }

    fn invalid(&self, message: impl Into<String>) -> DecodeError {
        let offset = usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX);
        DecodeError::invalid(Format::Xml, message)
            .in_field(self.path.join("."))
            .at_offset(self.input, offset)
    }

    /// Not well-formed XML, found by this decoder rather than by quick-xml.
    fn malformed(&self, message: &str) -> DecodeError {
        let offset = usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX);
        DecodeError::syntax(Format::Xml, message)
            .in_field(self.path.join("."))
            .at_offset(self.input, offset)
    }

    fn eof(&self) -> DecodeError {
        let offset = self.input.len();
        DecodeError::syntax(Format::Xml, "unexpected end of document (truncated?)")
            .in_field(self.path.join("."))
            .at_offset(self.input, offset)
    }

    /// The root element, past any declaration, comments or doctype.
    fn root(&mut self) -> Result<(BytesStart<'a>, bool)> {
        loop {
            match self.read()? {
                Event::Start(e) => return Ok((e, false)),
                Event::Empty(e) => return Ok((e, true)),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => return Err(DecodeError::empty(Format::Xml)),
                _ => return Err(self.malformed("text before the root element")),
            }
        }
    }

    /// Only whitespace, comments and processing instructions may follow the root.
    fn end_of_document(&mut self) -> Result<()> {
        loop {
            match self.read()? {
                Event::Eof => return Ok(()),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => return Err(self.malformed("content after the root element")),
            }
        }
    }

    /// The next child element of the element being read, or `None` at its end tag.
    /// Stray text between children is ignored.
    fn next_child(&mut self) -> Result<Option<(BytesStart<'a>, bool)>> {
        loop {
            match self.read()? {
                Event::Start(e) => return Ok(Some((e, false))),
                Event::Empty(e) => return Ok(Some((e, true))),
                Event::End(_) => return Ok(None),
                Event::Eof => return Err(self.eof()),
                _ => {}
            }
        }
    }

    /// Skips the element just opened, with everything in it.
    fn skip(&mut self, start: &BytesStart<'a>, empty: bool) -> Result<()> {
        if empty {
            return Ok(());
        }
        self.reader
            .read_to_end(start.name())
            .map(drop)
            .map_err(|e| {
                let offset = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
                DecodeError::syntax(Format::Xml, e.to_string())
                    .in_field(self.path.join("."))
                    .at_offset(self.input, offset)
            })
    }

    /// The trimmed text of the element just opened, up to its end tag. Borrowed from the
    /// input unless references had to be resolved.
    fn text(&mut self, empty: bool) -> Result<Cow<'a, str>> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        let mut text: Cow<'a, str> = Cow::Borrowed("");
        loop {
            match self.read()? {
                // XML 1.0 end-of-line handling (\r\n and \r read as \n); borrows unless a
                // \r is present.
                Event::Text(t) => append(&mut text, t.xml10_content()),
                Event::CData(c) => append(&mut text, c.into_inner()),
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => c.to_string(),
                            _ => return Err(self.invalid("invalid character reference")),
                        }
                    } else {
                        let name = r.into_inner();
                        match resolve_xml_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => {
                                return Err(self.invalid(format!("unknown entity &{name};")));
                            }
                        }
                    };
                    append(&mut text, Cow::Owned(resolved));
                }
                Event::Start(e) => self.skip(&e, false)?,
                Event::End(_) => break,
                Event::Eof => return Err(self.eof()),
                _ => {}
            }
        }
        Ok(match text {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        })
    }

    fn string(&mut self, empty: bool) -> Result<String> {
        self.text(empty).map(Cow::into_owned)
    }

    fn opt_string(&mut self, empty: bool) -> Result<Option<String>> {
        self.string(empty).map(Some)
    }

    fn int(&mut self, empty: bool, field: &'static str) -> Result<i64> {
        self.number(empty, field)
    }

    /// An integer element that must fit `T`; empty text is 0. Errors name the field.
    fn number<T: TryFrom<i64>>(&mut self, empty: bool, field: &'static str) -> Result<T> {
        self.path.push(field);
        let text = self.text(empty)?;
        let n = if text.is_empty() {
            Ok(0)
        } else {
            text.parse()
                .map_err(|_| self.invalid(format!("expected an integer, found {text:?}")))
        };
        let n = n.and_then(|n| {
            T::try_from(n).map_err(|_| self.invalid(format!("{field} {n} is out of range")))
        });
        self.path.pop();
        n
    }

    fn attribute(&self, start: &BytesStart<'a>, name: &str) -> Result<Option<String>> {
        match start.try_get_attribute(name) {
            Ok(Some(a)) => a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| Some(v.into_owned()))
                .map_err(|e| self.invalid(format!("attribute {name}: {e}"))),
            Ok(None) => Ok(None),
            Err(e) => Err(self.invalid(format!("attributes: {e}"))),
        }
    }

    fn applications(&mut self, empty: bool) -> Result<Applications> {
        self.path.push("applications");
        let mut apps = Applications::default();
        if !empty {
            while let Some((e, empty)) = self.next_child()? {
                match e.local_name().as_ref() {
                    "versions__delta" => {
                        apps.versions_delta = Some(self.int(empty, "versions__delta")?);
                    }
                    "apps__hashcode" => apps.apps_hashcode = Some(self.string(empty)?),
                    "application" => apps.applications.push(self.application(empty)?),
                    _ => self.skip(&e, empty)?,
                }
            }
        }
        self.path.pop();
        Ok(apps)
    }

    fn application(&mut self, empty: bool) -> Result<Application> {
        self.path.push("application");
        let mut app = Application::default();
        if !empty {
            while let Some((e, empty)) = self.next_child()? {
                match e.local_name().as_ref() {
                    "name" => app.name = self.string(empty)?,
                    "instance" => app.instances.push(self.instance(empty)?),
                    _ => self.skip(&e, empty)?,
                }
            }
        }
        self.path.pop();
        Ok(app)
    }

    fn instance(&mut self, empty: bool) -> Result<InstanceInfo> {
        self.path.push("instance");
        let mut i = InstanceInfo::default();
        if !empty {
            while let Some((e, empty)) = self.next_child()? {
                match e.local_name().as_ref() {
                    "instanceId" => i.instance_id = self.string(empty)?,
                    "hostName" => i.host_name = self.string(empty)?,
                    "app" => i.app = self.string(empty)?,
                    "ipAddr" => i.ip_addr = self.string(empty)?,
                    "status" => i.status = Status::from_wire(&self.text(empty)?),
                    "overriddenstatus" | "overriddenStatus" => {
                        i.overridden_status = Status::from_wire(&self.text(empty)?);
                    }
                    "port" => i.port = self.port(&e, empty, "port", true)?,
                    "securePort" => i.secure_port = self.port(&e, empty, "securePort", false)?,
                    "countryId" => i.country_id = self.number(empty, "countryId")?,
                    "dataCenterInfo" => i.data_center_info = self.data_center(&e, empty)?,
                    "leaseInfo" => i.lease_info = Some(self.lease(empty)?),
                    "metadata" => i.metadata = self.metadata(empty, "metadata")?,
                    "appGroupName" => i.app_group_name = self.opt_string(empty)?,
                    "homePageUrl" => i.home_page_url = self.opt_string(empty)?,
                    "statusPageUrl" => i.status_page_url = self.opt_string(empty)?,
                    "healthCheckUrl" => i.health_check_url = self.opt_string(empty)?,
                    "secureHealthCheckUrl" => i.secure_health_check_url = self.opt_string(empty)?,
                    "vipAddress" => i.vip_address = self.opt_string(empty)?,
                    "secureVipAddress" => i.secure_vip_address = self.opt_string(empty)?,
                    "isCoordinatingDiscoveryServer" => {
                        i.is_coordinating_discovery_server =
                            super::lenient::parse_bool(&self.text(empty)?);
                    }
                    "lastUpdatedTimestamp" => {
                        i.last_updated_timestamp = self.int(empty, "lastUpdatedTimestamp")?;
                    }
                    "lastDirtyTimestamp" => {
                        i.last_dirty_timestamp = self.int(empty, "lastDirtyTimestamp")?;
                    }
                    "actionType" => i.action_type = ActionType::from_wire(&self.text(empty)?),
                    _ => self.skip(&e, empty)?,
                }
            }
        }
        self.path.pop();
        Ok(i)
    }

    /// `<port enabled="true">8080</port>`; an absent `enabled` means `enabled_by_default`
    /// (true for `port`, false for `securePort`: quirk 1).
    fn port(
        &mut self,
        start: &BytesStart<'a>,
        empty: bool,
        field: &'static str,
        enabled_by_default: bool,
    ) -> Result<Port> {
        let enabled = self
            .attribute(start, "enabled")?
            .map_or(enabled_by_default, |v| super::lenient::parse_bool(&v));
        let port = self.number(empty, field)?;
        Ok(Port { port, enabled })
    }

    fn data_center(&mut self, start: &BytesStart<'a>, empty: bool) -> Result<DataCenterInfo> {
        self.path.push("dataCenterInfo");
        let mut dc = DataCenterInfo {
            class: self.attribute(start, "class")?.unwrap_or_default(),
            ..DataCenterInfo::default()
        };
        if !empty {
            while let Some((e, empty)) = self.next_child()? {
                match e.local_name().as_ref() {
                    "name" => dc.name = self.string(empty)?,
                    "metadata" => dc.metadata = self.metadata(empty, "metadata")?,
                    _ => self.skip(&e, empty)?,
                }
            }
        }
        self.path.pop();
        Ok(dc)
    }

    fn lease(&mut self, empty: bool) -> Result<LeaseInfo> {
        self.path.push("leaseInfo");
        let mut lease = LeaseInfo::default();
        if !empty {
            while let Some((e, empty)) = self.next_child()? {
                match e.local_name().as_ref() {
                    "renewalIntervalInSecs" => {
                        lease.renewal_interval_in_secs =
                            self.number(empty, "renewalIntervalInSecs")?;
                    }
                    "durationInSecs" => {
                        lease.duration_in_secs = self.number(empty, "durationInSecs")?;
                    }
                    "registrationTimestamp" => {
                        lease.registration_timestamp = self.int(empty, "registrationTimestamp")?;
                    }
                    "lastRenewalTimestamp" => {
                        lease.last_renewal_timestamp = self.int(empty, "lastRenewalTimestamp")?;
                    }
                    "evictionTimestamp" => {
                        lease.eviction_timestamp = self.int(empty, "evictionTimestamp")?;
                    }
                    "serviceUpTimestamp" => {
                        lease.service_up_timestamp = self.int(empty, "serviceUpTimestamp")?;
                    }
                    _ => self.skip(&e, empty)?,
                }
            }
        }
        self.path.pop();
        Ok(lease)
    }

    /// `<metadata><key>value</key>...</metadata>`; the `class` attribute is Java's marker.
    fn metadata(&mut self, empty: bool, field: &'static str) -> Result<Metadata> {
        let mut metadata = Metadata::new();
        if empty {
            return Ok(metadata);
        }
        self.path.push(field);
        while let Some((e, empty)) = self.next_child()? {
            let key = e.name().as_ref().to_owned();
            let value = self.string(empty)?;
            metadata.insert(key, value);
        }
        self.path.pop();
        Ok(metadata)
    }
}

/// Appends `more` to `text`, borrowing while there is only one piece.
fn append<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else if !more.is_empty() {
        text.to_mut().push_str(&more);
    }
}

pub(super) fn encode_instance(
    instance: &InstanceInfo,
) -> std::result::Result<Vec<u8>, EncodeError> {
    let mut w = XmlWriter::default();
    w.instance(instance)?;
    Ok(w.out.into_bytes())
}

pub(super) fn encode_application(app: &Application) -> std::result::Result<Vec<u8>, EncodeError> {
    let mut w = XmlWriter::default();
    w.application(app)?;
    Ok(w.out.into_bytes())
}

pub(super) fn encode_applications(
    apps: &Applications,
) -> std::result::Result<Vec<u8>, EncodeError> {
    let mut w = XmlWriter::default();
    w.out.push_str("<applications>");
    if let Some(version) = apps.versions_delta {
        w.element("versions__delta", &version.to_string())?;
    }
    match &apps.apps_hashcode {
        Some(hash) => w.element("apps__hashcode", hash)?,
        None => w.element("apps__hashcode", &apps.reconcile_hash_code())?,
    }
    for app in &apps.applications {
        w.application(app)?;
    }
    w.out.push_str("</applications>");
    Ok(w.out.into_bytes())
}

#[derive(Default)]
struct XmlWriter {
    out: String,
}

impl XmlWriter {
    fn application(&mut self, app: &Application) -> std::result::Result<(), EncodeError> {
        self.out.push_str("<application>");
        self.element("name", &app.name)?;
        for instance in &app.instances {
            self.instance(instance)?;
        }
        self.out.push_str("</application>");
        Ok(())
    }

    fn instance(&mut self, i: &InstanceInfo) -> std::result::Result<(), EncodeError> {
        self.out.push_str("<instance>");
        self.element("instanceId", &i.instance_id)?;
        self.element("hostName", &i.host_name)?;
        self.element("app", &i.app)?;
        self.element("ipAddr", &i.ip_addr)?;
        self.element("status", i.status.as_str())?;
        self.element("overriddenstatus", i.overridden_status.as_str())?;
        self.port("port", i.port);
        self.port("securePort", i.secure_port);
        self.element("countryId", &i.country_id.to_string())?;
        let dc = &i.data_center_info;
        let class = dc.class_or_default();
        check_text("dataCenterInfo class", class)?;
        self.out.push_str("<dataCenterInfo class=\"");
        self.out.push_str(&escape(class));
        self.out.push_str("\">");
        self.element("name", &dc.name)?;
        if !dc.metadata.is_empty() {
            self.metadata(&dc.metadata)?;
        }
        self.out.push_str("</dataCenterInfo>");
        let lease = i.lease_info.unwrap_or_default();
        self.out.push_str("<leaseInfo>");
        self.element(
            "renewalIntervalInSecs",
            &lease.renewal_interval_in_secs.to_string(),
        )?;
        self.element("durationInSecs", &lease.duration_in_secs.to_string())?;
        self.element(
            "registrationTimestamp",
            &lease.registration_timestamp.to_string(),
        )?;
        self.element(
            "lastRenewalTimestamp",
            &lease.last_renewal_timestamp.to_string(),
        )?;
        self.element("evictionTimestamp", &lease.eviction_timestamp.to_string())?;
        self.element(
            "serviceUpTimestamp",
            &lease.service_up_timestamp.to_string(),
        )?;
        self.out.push_str("</leaseInfo>");
        if i.metadata.is_empty() {
            self.out
                .push_str("<metadata class=\"java.util.Collections$EmptyMap\"/>");
        } else {
            self.metadata(&i.metadata)?;
        }

        for (name, value) in i.optional_fields() {
            if let Some(value) = value {
                self.element(name, value)?;
            }
        }
        let coordinating = if i.is_coordinating_discovery_server {
            "true"
        } else {
            "false"
        };
        self.element("isCoordinatingDiscoveryServer", coordinating)?;
        self.element(
            "lastUpdatedTimestamp",
            &i.last_updated_timestamp.to_string(),
        )?;
        self.element("lastDirtyTimestamp", &i.last_dirty_timestamp.to_string())?;
        if let Some(action) = i.action_type {
            self.element("actionType", action.as_str())?;
        }
        self.out.push_str("</instance>");
        Ok(())
    }

    fn port(&mut self, name: &str, port: Port) {
        let enabled = if port.enabled { "true" } else { "false" };
        // Writing to a String cannot fail.
        let _ = write!(
            self.out,
            "<{name} enabled=\"{enabled}\">{}</{name}>",
            port.port
        );
    }

    fn metadata(&mut self, metadata: &Metadata) -> std::result::Result<(), EncodeError> {
        self.out.push_str("<metadata>");
        for (key, value) in metadata {
            if !is_xml_name(key) {
                return Err(EncodeError::XmlName(key.clone()));
            }
            self.element(key, value)?;
        }
        self.out.push_str("</metadata>");
        Ok(())
    }

    fn element(&mut self, name: &str, text: &str) -> std::result::Result<(), EncodeError> {
        check_text(name, text)?;
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
    }
}

/// Fails for text XML cannot carry, naming where it was to go.
fn check_text(field: &str, text: &str) -> std::result::Result<(), EncodeError> {
    if text.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(EncodeError::XmlChar {
            field: field.to_owned(),
            value: text.to_owned(),
        })
    }
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A conservative XML element name: a letter or `_` first, then letters, digits, `-`,
/// `_` or `.` (dotted keys like `management.port` are common).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("xml"))
}
