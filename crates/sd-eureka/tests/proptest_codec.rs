//! Property tests of the codecs.
//!
//! * Round trips: whatever the encoders write, the decoders read back as the value that
//!   was written, in JSON and in XML, for instances, apps, registries and documents.
//!   The generators only leave out what a format cannot carry, and the expected value
//!   spells out what the encoders legitimately normalize; each is commented where it is
//!   done.
//! * What XML cannot carry is refused with a typed error, never a panic.
//! * Robustness: no input — random bytes, random text, token soup, mutated or truncated
//!   documents, deeply nested or huge ones — makes a decoder panic or hang, and truncated
//!   documents are errors.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use sd_eureka::{
    AMAZON_DATA_CENTER_CLASS, ActionType, Application, Applications, DEFAULT_DATA_CENTER_CLASS,
    DataCenterInfo, DecodeError, Document, EncodeError, Format, InstanceInfo, LeaseInfo, Metadata,
    Port, Status, decode, decode_any, encode, encode_application, encode_applications,
    encode_instance,
};

/// Cases per round-trip property: each case is a whole registry, so a few dozen cover the
/// field combinations while the file stays fast in debug builds.
const ROUND_TRIP_CASES: u32 = 96;
/// Cases per robustness property: single decodes of small inputs, so cheaper.
const GARBAGE_CASES: u32 = 256;

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// XML 1.0's `Char` production, as the specification writes it.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A character of JSON text: anything, with the ones that need escaping made likely.
fn json_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => prop::char::range(' ', '~'),
        1 => select(vec!['"', '\\', '/', '\u{0}', '\u{1f}', '\u{7f}', '\u{2028}', '\u{feff}', ' ']),
    ]
}

/// A character XML 1.0 can carry, with markup and whitespace made likely.
fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>().prop_filter("a character XML 1.0 carries", |&c| is_xml_char(c)),
        4 => prop::char::range(' ', '~'),
        2 => select(vec!['<', '>', '&', ';', '#', '\'', '"', ']', '\t', '\n', '\r', ' ', '\u{a0}']),
    ]
}

/// Free text that `format` carries unchanged.
fn text(format: Format) -> BoxedStrategy<String> {
    match format {
        // JSON escapes what it must: every character, control characters and surrounding
        // whitespace included, survives.
        Format::Json => vec(json_char(), 0..16).prop_map(String::from_iter).boxed(),
        // Constraint: only characters of XML's `Char` production (the encoder refuses the
        // others with `EncodeError::XmlChar`, see `xml_refuses_*` below), and no leading
        // or trailing whitespace, because the decoder trims text (as `str::trim` does,
        // which is the trim applied here).
        Format::Xml => vec(xml_char(), 0..16)
            .prop_map(|chars| String::from_iter(chars).trim().to_owned())
            .boxed(),
    }
}

/// A field value: realistic most of the time, free text otherwise.
fn field(format: Format) -> BoxedStrategy<String> {
    prop_oneof![
        2 => "[a-z0-9][a-z0-9.-]{0,20}",
        1 => "https?://[a-z0-9.-]{1,12}(:[0-9]{1,5})?/[a-z/]{0,10}(\\?[a-z]=[a-z0-9&]{0,6})?",
        1 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        3 => text(format),
    ]
    .boxed()
}

/// An instance id. Constraint: never empty, because decoders fill an empty id from the
/// fallbacks (Amazon `instance-id`, host name); `empty_ids_are_filled_*` covers that.
fn instance_id(format: Format) -> BoxedStrategy<String> {
    prop_oneof![
        "[a-z0-9.-]{1,12}:[a-z]{1,8}:[0-9]{1,5}",
        field(format).prop_filter("instance ids are never empty", |id| !id.is_empty()),
    ]
    .boxed()
}

/// A metadata key that is a valid XML element name, dotted keys included.
fn xml_key() -> BoxedStrategy<String> {
    prop_oneof![
        "[A-Za-z_][A-Za-z0-9_.-]{0,12}",
        "[a-z]{1,8}(\\.[a-z][a-z0-9-]{0,7}){1,3}",
        "[a-zé-öα-ω_][a-z0-9é-öα-ω.-]{0,8}",
    ]
    // Constraint: names starting with `xml` (any case) are reserved, and the encoder
    // refuses them with `EncodeError::XmlName`.
    .prop_filter("names starting with xml are reserved", |key| {
        !key.to_ascii_lowercase().starts_with("xml")
    })
    .boxed()
}

/// A metadata key `format` carries.
fn key(format: Format) -> BoxedStrategy<String> {
    match format {
        // Constraint: `@class` is Java's marker class, which decoders drop on read
        // (`json_drops_the_class_marker_key` covers it).
        Format::Json => prop_oneof![xml_key(), text(Format::Json)]
            .prop_filter("@class is not metadata", |key| key != "@class")
            .boxed(),
        // Constraint: metadata keys become element names, so they must be valid ones;
        // the encoder refuses others (`xml_refuses_keys_that_are_not_names`).
        Format::Xml => xml_key(),
    }
}

fn metadata(format: Format) -> BoxedStrategy<Metadata> {
    btree_map(key(format), field(format), 0..5).boxed()
}

fn status() -> impl Strategy<Value = Status> {
    select(vec![
        Status::Up,
        Status::Down,
        Status::Starting,
        Status::OutOfService,
        Status::Unknown,
    ])
}

fn port() -> impl Strategy<Value = Port> {
    (any::<u16>(), any::<bool>()).prop_map(|(port, enabled)| Port { port, enabled })
}

fn lease() -> impl Strategy<Value = LeaseInfo> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(renewal, duration, registered, renewed, evicted, up)| LeaseInfo {
                renewal_interval_in_secs: renewal,
                duration_in_secs: duration,
                registration_timestamp: registered,
                last_renewal_timestamp: renewed,
                eviction_timestamp: evicted,
                service_up_timestamp: up,
            },
        )
}

/// A data center's Java class. Constraint: the class is written as an XML attribute,
/// whose whitespace XML normalizes and which the encoder does not check for characters
/// XML cannot carry, so it is always a Java class name here (or empty, which the encoders
/// replace with the class that fits the name: see `expected_instance`).
fn class() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(AMAZON_DATA_CENTER_CLASS.to_owned()),
        Just(DEFAULT_DATA_CENTER_CLASS.to_owned()),
        "[a-z]{1,6}(\\.[a-z]{1,6}){0,3}\\.[A-Z][A-Za-z]{0,8}(\\$[A-Z][A-Za-z]{0,8})?",
    ]
}

fn data_center(format: Format) -> BoxedStrategy<DataCenterInfo> {
    let amazon_metadata = (
        btree_map(
            select(vec![
                "availability-zone",
                "instance-id",
                "local-ipv4",
                "public-hostname",
                "ami-id",
            ])
            .prop_map(str::to_owned),
            field(format),
            0..5,
        ),
        metadata(format),
    )
        .prop_map(|(mut known, extra)| {
            known.extend(extra);
            known
        });
    let name = prop_oneof![
        Just("MyOwn".to_owned()),
        Just("Amazon".to_owned()),
        Just("Netflix".to_owned()),
        field(format),
    ];
    prop_oneof![
        amazon_metadata.prop_map(DataCenterInfo::amazon),
        Just(DataCenterInfo::my_own()),
        (name, class(), metadata(format)).prop_map(|(name, class, metadata)| DataCenterInfo {
            name,
            class,
            metadata,
        }),
    ]
    .boxed()
}

fn action() -> impl Strategy<Value = Option<ActionType>> {
    option::of(select(vec![
        ActionType::Added,
        ActionType::Modified,
        ActionType::Deleted,
    ]))
}

/// An instance with every field varied.
fn instance(format: Format) -> BoxedStrategy<InstanceInfo> {
    let identity = (
        instance_id(format),
        field(format),
        field(format),
        field(format),
    );
    let state = (
        status(),
        status(),
        port(),
        port(),
        any::<i32>(),
        data_center(format),
        // Lease info absent is written as the default lease: see `expected_instance`.
        option::of(lease()),
        metadata(format),
    );
    let optional = || option::of(field(format));
    let urls = (
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
    );
    let rest = (any::<bool>(), any::<i64>(), any::<i64>(), action());
    (identity, state, urls, rest)
        .prop_map(
            |(
                (instance_id, host_name, app, ip_addr),
                (status, overridden, port, secure_port, country_id, dc, lease_info, metadata),
                (group, home, status_page, health, secure_health, vip, secure_vip),
                (coordinating, updated, dirty, action_type),
            )| InstanceInfo {
                instance_id,
                host_name,
                app,
                ip_addr,
                status,
                overridden_status: overridden,
                port,
                secure_port,
                country_id,
                data_center_info: dc,
                lease_info,
                metadata,
                app_group_name: group,
                home_page_url: home,
                status_page_url: status_page,
                health_check_url: health,
                secure_health_check_url: secure_health,
                vip_address: vip,
                secure_vip_address: secure_vip,
                is_coordinating_discovery_server: coordinating,
                last_updated_timestamp: updated,
                last_dirty_timestamp: dirty,
                action_type,
            },
        )
        .boxed()
}

fn application(format: Format) -> BoxedStrategy<Application> {
    (field(format), vec(instance(format), 0..4))
        .prop_map(|(name, instances)| Application { name, instances })
        .boxed()
}

fn applications(format: Format) -> BoxedStrategy<Applications> {
    let hashcode = prop_oneof!["(DOWN_[0-9]{1,3}_)?(UP_[0-9]{1,3}_)?", text(format),];
    (
        option::of(any::<i64>()),
        // An absent hash code is written as the computed one: see `expected_applications`.
        option::of(hashcode),
        vec(application(format), 0..4),
    )
        .prop_map(
            |(versions_delta, apps_hashcode, applications)| Applications {
                versions_delta,
                apps_hashcode,
                applications,
            },
        )
        .boxed()
}

fn document(format: Format) -> BoxedStrategy<Document> {
    prop_oneof![
        applications(format).prop_map(Document::Applications),
        application(format).prop_map(Document::Application),
        instance(format).prop_map(|i| Document::Instance(Box::new(i))),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// What the encoders legitimately normalize
// ---------------------------------------------------------------------------------------

/// The instance a decoder reads back from what the encoders write for `instance`.
fn expected_instance(instance: &InstanceInfo) -> InstanceInfo {
    let mut expected = instance.clone();
    // Encoders always write a lease, the default one when there is none.
    expected.lease_info.get_or_insert_with(LeaseInfo::default);
    // Encoders always write a class, the one that fits the name when there is none.
    instance
        .data_center_info
        .class_or_default()
        .clone_into(&mut expected.data_center_info.class);
    expected
}

fn expected_application(app: &Application) -> Application {
    Application {
        name: app.name.clone(),
        instances: app.instances.iter().map(expected_instance).collect(),
    }
}

fn expected_applications(apps: &Applications) -> Applications {
    Applications {
        versions_delta: apps.versions_delta,
        // Encoders always write a hash code, the computed one when there is none.
        apps_hashcode: Some(
            apps.apps_hashcode
                .clone()
                .unwrap_or_else(|| apps.reconcile_hash_code()),
        ),
        applications: apps.applications.iter().map(expected_application).collect(),
    }
}

fn expected_document(document: &Document) -> Document {
    match document {
        Document::Applications(apps) => Document::Applications(expected_applications(apps)),
        Document::Application(app) => Document::Application(expected_application(app)),
        Document::Instance(i) => Document::Instance(Box::new(expected_instance(i))),
    }
}

/// Encodes `document`, checks the per-root encoder writes the same bytes as `encode`, and
/// checks both `decode` and `decode_any` read back the expected value.
fn assert_round_trip(document: &Document, format: Format) -> Result<(), TestCaseError> {
    let bytes = encode(document, format).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let direct = match document {
        Document::Applications(apps) => encode_applications(apps, format),
        Document::Application(app) => encode_application(app, format),
        Document::Instance(i) => encode_instance(i, format),
    }
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&direct, &bytes, "encode and the per-root encoder differ");

    let expected = expected_document(document);
    let decoded = decode(&bytes, format);
    prop_assert_eq!(
        decoded.as_ref(),
        Ok(&expected),
        "{} written: {}",
        format,
        String::from_utf8_lossy(&bytes)
    );
    prop_assert_eq!(decode_any(&bytes), Ok((format, expected.clone())));
    // What was read back is written the same way again.
    prop_assert_eq!(encode(&expected, format).ok(), Some(bytes));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ROUND_TRIP_CASES,
        ..ProptestConfig::default()
    })]

    #[test]
    fn instances_round_trip_in_json(instance in instance(Format::Json)) {
        assert_round_trip(&Document::Instance(Box::new(instance)), Format::Json)?;
    }

    #[test]
    fn instances_round_trip_in_xml(instance in instance(Format::Xml)) {
        assert_round_trip(&Document::Instance(Box::new(instance)), Format::Xml)?;
    }

    #[test]
    fn applications_round_trip_in_json(app in application(Format::Json)) {
        assert_round_trip(&Document::Application(app), Format::Json)?;
    }

    #[test]
    fn applications_round_trip_in_xml(app in application(Format::Xml)) {
        assert_round_trip(&Document::Application(app), Format::Xml)?;
    }

    #[test]
    fn registries_round_trip_in_json(apps in applications(Format::Json)) {
        assert_round_trip(&Document::Applications(apps), Format::Json)?;
    }

    #[test]
    fn registries_round_trip_in_xml(apps in applications(Format::Xml)) {
        assert_round_trip(&Document::Applications(apps), Format::Xml)?;
    }

    /// XML-safe values are JSON-safe too, and one value reads back the same from both.
    #[test]
    fn both_formats_read_back_the_same_document(document in document(Format::Xml)) {
        let from_json = decode(&encode(&document, Format::Json).unwrap(), Format::Json);
        let from_xml = decode(&encode(&document, Format::Xml).unwrap(), Format::Xml);
        prop_assert_eq!(&from_json, &from_xml);
        prop_assert_eq!(from_json, Ok(expected_document(&document)));
    }

    /// An empty `instanceId` is filled on read as `InstanceInfo::id` says: the Amazon
    /// `instance-id`, else the host name.
    #[test]
    fn empty_ids_are_filled_from_the_fallbacks(
        mut instance in instance(Format::Xml),
        json in any::<bool>(),
    ) {
        let format = if json { Format::Json } else { Format::Xml };
        instance.instance_id.clear();
        let mut expected = expected_instance(&instance);
        expected.instance_id = instance.id().to_owned();
        let bytes = encode_instance(&instance, format).unwrap();
        prop_assert_eq!(
            decode(&bytes, format),
            Ok(Document::Instance(Box::new(expected)))
        );
    }
}

// ---------------------------------------------------------------------------------------
// What XML cannot carry
// ---------------------------------------------------------------------------------------

/// A character XML 1.0 cannot carry: C0 controls but tab, newline and carriage return,
/// and the non-characters U+FFFE and U+FFFF.
fn non_xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u8..0x20)
            .prop_filter("tab, newline and return are XML", |b| {
                !matches!(b, b'\t' | b'\n' | b'\r')
            })
            .prop_map(char::from),
        Just('\u{FFFE}'),
        Just('\u{FFFF}'),
    ]
}

/// Text field number `which` of a registry of one app with one instance, with the name of
/// the element the XML encoder writes it in.
fn text_field(apps: &mut Applications, which: usize) -> (String, &mut String) {
    const INSTANCE_FIELDS: usize = 13;
    match which % (INSTANCE_FIELDS + 2) {
        0 => (
            "apps__hashcode".to_owned(),
            apps.apps_hashcode.get_or_insert_with(String::new),
        ),
        1 => ("name".to_owned(), &mut apps.applications[0].name),
        n => {
            let i = &mut apps.applications[0].instances[0];
            match n - 2 {
                0 => ("instanceId".to_owned(), &mut i.instance_id),
                1 => ("hostName".to_owned(), &mut i.host_name),
                2 => ("app".to_owned(), &mut i.app),
                3 => ("ipAddr".to_owned(), &mut i.ip_addr),
                4 => ("name".to_owned(), &mut i.data_center_info.name),
                5 => metadata_value(&mut i.metadata, "zone"),
                6 => metadata_value(&mut i.data_center_info.metadata, "availability-zone"),
                7 => (
                    "appGroupName".to_owned(),
                    i.app_group_name.get_or_insert_default(),
                ),
                8 => (
                    "homePageUrl".to_owned(),
                    i.home_page_url.get_or_insert_default(),
                ),
                9 => (
                    "statusPageUrl".to_owned(),
                    i.status_page_url.get_or_insert_default(),
                ),
                10 => (
                    "healthCheckUrl".to_owned(),
                    i.health_check_url.get_or_insert_default(),
                ),
                11 => (
                    "secureHealthCheckUrl".to_owned(),
                    i.secure_health_check_url.get_or_insert_default(),
                ),
                _ => (
                    "vipAddress".to_owned(),
                    i.vip_address.get_or_insert_default(),
                ),
            }
        }
    }
}

/// Some value of `metadata` (adding `key` when it is empty), with its key.
fn metadata_value<'a>(metadata: &'a mut Metadata, key: &str) -> (String, &'a mut String) {
    let key = metadata
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| key.to_owned());
    (key.clone(), metadata.entry(key).or_default())
}

/// Inserts `c` into `s` at the char boundary `at` picks.
fn insert_char(s: &mut String, at: Index, c: char) {
    let chars = s.chars().count();
    let byte = s
        .char_indices()
        .nth(at.index(chars + 1))
        .map_or(s.len(), |(b, _)| b);
    s.insert(byte, c);
}

/// A metadata key that is not a valid XML element name, by construction.
fn non_xml_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("@class".to_owned()),
        // A name starts with a letter or `_`.
        "[0-9.-][a-z0-9]{0,6}",
        // No whitespace, `:` (namespaces) or markup inside.
        r#"[a-z]{1,4}[ \t:@/<>&="'][a-z]{0,4}"#,
        // Reserved.
        "(?i:xml)[a-z.-]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ROUND_TRIP_CASES,
        ..ProptestConfig::default()
    })]

    /// A character XML cannot carry, in any text field, is refused with `XmlChar` naming
    /// the element and the text; JSON carries the same value.
    #[test]
    fn xml_refuses_characters_it_cannot_carry(
        instance in instance(Format::Xml),
        name in field(Format::Xml),
        which in 0usize..15,
        at in any::<Index>(),
        bad in non_xml_char(),
    ) {
        let mut apps = Applications {
            applications: vec![Application { name, instances: vec![instance] }],
            ..Applications::default()
        };
        let (element, value) = text_field(&mut apps, which);
        insert_char(value, at, bad);
        let value = value.clone();
        match encode_applications(&apps, Format::Xml) {
            Err(EncodeError::XmlChar { field, value: refused }) => {
                prop_assert_eq!(field, element);
                prop_assert_eq!(refused, value);
            }
            other => prop_assert!(false, "expected XmlChar, got {:?}", other.map(String::from_utf8)),
        }
        let json = encode_applications(&apps, Format::Json).unwrap();
        prop_assert_eq!(
            decode(&json, Format::Json),
            Ok(Document::Applications(expected_applications(&apps)))
        );
    }

    /// A metadata key that is not an element name is refused with `XmlName`; JSON
    /// carries it (but for `@class`, which it drops).
    #[test]
    fn xml_refuses_keys_that_are_not_names(
        mut instance in instance(Format::Xml),
        key in non_xml_name(),
        value in field(Format::Xml),
        in_data_center in any::<bool>(),
    ) {
        let metadata = if in_data_center {
            &mut instance.data_center_info.metadata
        } else {
            &mut instance.metadata
        };
        metadata.insert(key.clone(), value);
        match encode_instance(&instance, Format::Xml) {
            Err(EncodeError::XmlName(refused)) => prop_assert_eq!(refused, key.clone()),
            other => prop_assert!(false, "expected XmlName, got {:?}", other.map(String::from_utf8)),
        }
        let mut expected = expected_instance(&instance);
        if key == "@class" {
            expected.metadata.remove("@class");
            expected.data_center_info.metadata.remove("@class");
        }
        let json = encode_instance(&instance, Format::Json).unwrap();
        prop_assert_eq!(
            decode(&json, Format::Json),
            Ok(Document::Instance(Box::new(expected)))
        );
    }
}

/// `@class` in metadata is Java's marker, not metadata: JSON drops it on read.
#[test]
fn json_drops_the_class_marker_key() {
    let mut instance = InstanceInfo::new("orders", "a", "10.0.0.1", 80);
    instance
        .metadata
        .insert("@class".to_owned(), "java.util.HashMap".to_owned());
    instance
        .metadata
        .insert("zone".to_owned(), "eu-west-1a".to_owned());
    let bytes = encode_instance(&instance, Format::Json).unwrap();
    let Ok(Document::Instance(decoded)) = decode(&bytes, Format::Json) else {
        panic!("not an instance");
    };
    assert_eq!(
        decoded.metadata.into_iter().collect::<Vec<_>>(),
        [("zone".to_owned(), "eu-west-1a".to_owned())]
    );
}

// ---------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------

/// How long one decode may take before it counts as a hang (debug builds, busy machine).
const HANG: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and fails if it does not finish within [`HANG`], so a hang
/// fails the test instead of stalling the suite. A panic in `f` is a panic here.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {HANG:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it ends"),
        },
    }
}

/// What [`decode_all_bounded`] answers: JSON, XML, detected.
type DecodedAll = (
    Result<Document, DecodeError>,
    Result<Document, DecodeError>,
    Result<(Format, Document), DecodeError>,
);

/// Decodes `input` in both formats and with detection, on a worker thread.
fn decode_all_bounded(input: Vec<u8>) -> DecodedAll {
    let len = input.len();
    bounded(&format!("decoding {len} bytes"), move || {
        (
            decode(&input, Format::Json),
            decode(&input, Format::Xml),
            decode_any(&input),
        )
    })
}

/// Decodes `bytes` every way, checking only what holds for any input: no panic (a panic
/// fails the case), `decode_any` agrees with `decode` in the detected format, and what
/// was decoded and can be written again reads back.
fn decode_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    let json = decode(bytes, Format::Json);
    let xml = decode(bytes, Format::Xml);
    let any = decode_any(bytes);
    match Format::detect(bytes) {
        Some(format) => {
            let direct = if format == Format::Json { &json } else { &xml };
            prop_assert_eq!(&any, &direct.clone().map(|d| (format, d)));
        }
        None => prop_assert!(any.is_err()),
    }
    for (format, decoded) in [(Format::Json, json), (Format::Xml, xml)] {
        if let Ok(document) = decoded {
            if let Ok(again) = encode(&document, format) {
                let reread = decode(&again, format);
                prop_assert!(
                    reread.is_ok(),
                    "{format} decoded, encoded, but not decoded again: {reread:?}\nwritten: {}",
                    String::from_utf8_lossy(&again)
                );
            }
        }
    }
    Ok(())
}

/// Pieces of JSON and XML documents, to build inputs that get past the first byte.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "\n",
    "\"",
    "\\",
    "\"applications\"",
    "\"application\"",
    "\"instance\"",
    "\"name\"",
    "\"port\"",
    "\"securePort\"",
    "\"$\"",
    "\"@enabled\"",
    "\"metadata\"",
    "\"@class\"",
    "\"leaseInfo\"",
    "\"dataCenterInfo\"",
    "\"status\"",
    "\"instanceId\"",
    "\"countryId\"",
    "\"durationInSecs\"",
    "\"versions__delta\"",
    "\"apps__hashcode\"",
    "\"actionType\"",
    "\"UP\"",
    "\"ADDED\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "8080",
    "70000",
    "1e999",
    "0.5",
    "-0",
    "99999999999999999999",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"x\"",
    "<applications>",
    "</applications>",
    "<application>",
    "</application>",
    "<instance>",
    "</instance>",
    "<name>",
    "</name>",
    "<port enabled=\"true\">",
    "<port enabled=>",
    "</port>",
    "<securePort>",
    "<metadata>",
    "</metadata>",
    "<metadata/>",
    "<a:b xmlns:a=\"u\">",
    "</a:b>",
    "<dataCenterInfo class=\"x\">",
    "</dataCenterInfo>",
    "<leaseInfo>",
    "</leaseInfo>",
    "<durationInSecs>",
    "</durationInSecs>",
    "<countryId>",
    "</countryId>",
    "<versions__delta>",
    "</versions__delta>",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#1;",
    "&#0;",
    "&#x10FFFF;",
    "&#x110000;",
    "&bogus;",
    "&",
    "<?xml version=\"1.0\"?>",
    "<!-- c -->",
    "<!DOCTYPE x [",
    "<!ENTITY e \"x\">",
    "<",
    ">",
    "</",
    "/>",
    "=",
    "'",
    "\u{FEFF}",
    "\u{0}",
    "é",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: GARBAGE_CASES,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes)?;
    }

    #[test]
    fn random_text_never_panics(
        prefix in select(vec!["", "{", "[", "<", " \u{FEFF}<", "\u{FEFF}{"]),
        text in any::<String>(),
    ) {
        decode_everything(format!("{prefix}{text}").as_bytes())?;
    }

    #[test]
    fn token_soup_never_panics(
        start in select(vec!["", "{\"applications\":", "{\"instance\":", "<applications>", "<instance>"]),
        tokens in vec(select(TOKENS), 0..48),
    ) {
        decode_everything(format!("{start}{}", tokens.concat()).as_bytes())?;
    }

    /// Valid documents with a few bytes deleted, replaced, inserted or repeated.
    #[test]
    fn mutated_documents_never_panic(
        document in document(Format::Xml),
        json in any::<bool>(),
        edits in vec((0u8..4, any::<Index>(), any::<Index>(), any::<u8>()), 1..6),
    ) {
        let format = if json { Format::Json } else { Format::Xml };
        let mut bytes = encode(&document, format).unwrap();
        for (op, at, to, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => { bytes.remove(i); }
                1 if i < bytes.len() => bytes[i] = byte,
                2 => bytes.insert(i, byte),
                _ => {
                    let j = to.index(bytes.len() + 1);
                    // Repeat a stretch of at most 64 bytes.
                    let (from, until) = (i.min(j), i.max(j).min(i.min(j) + 64));
                    let copy = bytes[from..until].to_vec();
                    bytes.splice(until..until, copy);
                }
            }
        }
        decode_everything(&bytes)?;
    }

    /// A document cut anywhere short of its end is an error, never a panic or a value.
    #[test]
    fn truncated_documents_are_errors(
        document in document(Format::Xml),
        json in any::<bool>(),
        cut in any::<Index>(),
    ) {
        let format = if json { Format::Json } else { Format::Xml };
        let bytes = encode(&document, format).unwrap();
        let prefix = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode(prefix, format).is_err(), "{:?} decoded", String::from_utf8_lossy(prefix));
        prop_assert!(decode_any(prefix).is_err());
        decode_everything(prefix)?;
    }
}

/// A small registry with every kind of field set, for the exhaustive tests.
fn sample_registry() -> Applications {
    let mut orders = InstanceInfo::new("orders", "orders-1.example.com", "10.0.0.1", 8080);
    orders
        .metadata
        .insert("management.port".to_owned(), "8081".to_owned());
    orders
        .metadata
        .insert("zone".to_owned(), "eu-west-1a & <b>".to_owned());
    orders.secure_port = Port::enabled(8443);
    orders.action_type = Some(ActionType::Modified);
    let mut orders2 = InstanceInfo::new("orders", "orders-2.example.com", "10.0.0.2", 8080);
    orders2.status = Status::Down;
    orders2.lease_info = None;
    orders2.data_center_info = DataCenterInfo::amazon(Metadata::from([
        ("availability-zone".to_owned(), "eu-west-1b".to_owned()),
        ("instance-id".to_owned(), "i-0123456789".to_owned()),
    ]));
    let billing = InstanceInfo::new("billing", "billing-1", "10.0.1.1", 9000);
    Applications {
        versions_delta: Some(42),
        apps_hashcode: None,
        applications: vec![
            Application {
                name: "ORDERS".to_owned(),
                instances: vec![orders, orders2],
            },
            Application {
                name: "BILLING".to_owned(),
                instances: vec![billing],
            },
            Application {
                name: "EMPTY".to_owned(),
                instances: Vec::new(),
            },
        ],
    }
}

/// A few whole documents in both formats.
fn sample_documents() -> Vec<(Format, Vec<u8>)> {
    let registry = sample_registry();
    let app = registry.applications[0].clone();
    let instance = app.instances[0].clone();
    let mut documents = Vec::new();
    for format in [Format::Json, Format::Xml] {
        documents.push((format, encode_applications(&registry, format).unwrap()));
        documents.push((format, encode_application(&app, format).unwrap()));
        documents.push((format, encode_instance(&instance, format).unwrap()));
    }
    let mut with_prolog =
        b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- registry -->\n".to_vec();
    with_prolog.extend(encode_applications(&Applications::default(), Format::Xml).unwrap());
    documents.push((Format::Xml, with_prolog));
    documents
}

/// Every prefix of a few documents, cut at every byte, is an error; the whole is not.
#[test]
fn every_prefix_of_a_document_is_an_error() {
    for (format, bytes) in sample_documents() {
        assert!(decode(&bytes, format).is_ok());
        for len in 0..bytes.len() {
            let prefix = &bytes[..len];
            assert!(
                decode(prefix, format).is_err(),
                "{format} prefix of {len} bytes decoded: {}",
                String::from_utf8_lossy(prefix)
            );
            assert!(
                decode_any(prefix).is_err(),
                "{format} prefix of {len} bytes"
            );
        }
    }
}

/// Nesting depth for the deep-input tests.
const DEEP: usize = 10_000;

/// Deep JSON is read or refused without overflowing the stack: `serde_json` skips values
/// it ignores (unknown fields, metadata values it drops) without recursing, so
/// well-formed deep content there is read; deep content where a value is expected, and
/// truncated deep content anywhere, is an error.
#[test]
fn deeply_nested_json_is_read_or_refused() {
    for depth in [DEEP, 10 * DEEP] {
        let open = "[".repeat(depth);
        let close = "]".repeat(depth);
        let objects = "{\"a\":".repeat(depth);
        let objects_closed = format!("{objects}1{}", "}".repeat(depth));
        let well_formed = [
            format!("{{\"applications\":{{\"unknown\":{open}{close}}}}}"),
            format!("{{\"applications\":{{\"application\":{objects_closed}}}}}"),
            format!(
                "{{\"application\":{{\"instance\":[{{\"metadata\":{{\"k\":{open}{close}}}}}]}}}}"
            ),
            format!("{{\"instance\":{{\"leaseInfo\":{objects_closed}}}}}"),
            format!("{{\"instance\":{{\"metadata\":{objects_closed}}}}}"),
            format!("{{\"instance\":{{\"dataCenterInfo\":{{\"metadata\":{objects_closed}}}}}}}"),
            format!("{{\"instance\":{{\"port\":{{\"x\":{open}{close},\"$\":1}}}}}}"),
            // Anything but a known string is UNKNOWN (quirk 10), an array too.
            format!("{{\"instance\":{{\"status\":{open}{close}}}}}"),
        ];
        for input in well_formed {
            let head: String = input.chars().take(40).collect();
            let (json, _, any) = decode_all_bounded(input.into_bytes());
            assert!(json.is_ok(), "{head}...: {json:?}");
            assert_eq!(any.map(|(f, _)| f), Ok(Format::Json));
        }
        let refused = [
            open.clone(),
            format!("{open}{close}"),
            objects.clone(),
            objects_closed.clone(),
            format!("{{\"applications\":{open}"),
            format!("{{\"applications\":{open}{close}}}"),
            format!("{{\"applications\":{{\"unknown\":{open}"),
            format!("{{\"applications\":{{\"application\":{objects}"),
            format!("{{\"application\":{{\"instance\":[{{\"metadata\":{{\"k\":{open}"),
            format!("{{\"instance\":{{\"port\":{{\"$\":{open}{close}}}}}}}"),
            format!("{{\"instance\":{{\"countryId\":{open}{close}}}}}"),
            format!("{{\"instance\":{{\"leaseInfo\":{objects}"),
        ];
        for input in refused {
            let head: String = input.chars().take(40).collect();
            let (json, _, any) = decode_all_bounded(input.into_bytes());
            assert!(json.is_err(), "{head}... decoded as JSON");
            assert!(any.is_err(), "{head}... decoded");
        }
    }
}

/// Deep XML is read or refused without recursion: well-formed deep content of unknown or
/// text elements is skipped, truncated deep content is an error.
#[test]
fn deeply_nested_xml_is_read_or_refused() {
    for depth in [DEEP, 10 * DEEP] {
        let open = "<a>".repeat(depth);
        let close = "</a>".repeat(depth);
        let instance =
            |inside: &str| format!("<instance><instanceId>i</instanceId>{inside}</instance>");
        let well_formed = [
            format!("<applications><unknown>{open}{close}</unknown></applications>"),
            format!(
                "<applications><application><application>{open}{close}</application></application></applications>"
            ),
            instance(&format!("<metadata><k>{open}{close}</k></metadata>")),
            instance(&format!("<hostName>{open}x{close}</hostName>")),
            instance(&format!("<port>{open}{close}80</port>")),
            instance(&format!(
                "<dataCenterInfo><name>{open}{close}</name></dataCenterInfo>"
            )),
        ];
        for input in well_formed {
            let (_, xml, any) = decode_all_bounded(input.into_bytes());
            assert!(xml.is_ok(), "{xml:?}");
            assert_eq!(any.map(|(f, _)| f), Ok(Format::Xml));
        }
        let truncated = [
            open.clone(),
            format!("{open}{close}"),
            format!("<applications>{open}"),
            format!("<applications><application>{open}"),
            instance(&format!("<metadata><k>{open}")),
            instance(&format!("<leaseInfo>{open}")),
            format!("<applications><application>{open}{close}"),
        ];
        for input in truncated {
            let head: String = input.chars().take(40).collect();
            let (_, xml, any) = decode_all_bounded(input.into_bytes());
            assert!(xml.is_err(), "{head}... decoded as XML");
            assert!(any.is_err(), "{head}... decoded");
        }
    }
}

/// About 8 MB of unknown elements or fields (4 MB either side of one real app): read in
/// bounded time, with the app found.
#[test]
fn huge_documents_with_unknown_content_are_read() {
    const SIZE: usize = 4 << 20;
    let app = Application {
        name: "ORDERS".to_owned(),
        instances: vec![InstanceInfo::new("orders", "a", "10.0.0.1", 80)],
    };
    let xml_app = String::from_utf8(encode_application(&app, Format::Xml).unwrap()).unwrap();
    let json_app = String::from_utf8(encode_application(&app, Format::Json).unwrap()).unwrap();
    let json_app = &json_app["{\"application\":".len()..json_app.len() - 1];

    let unknown_element = "<sid region=\"eu\">x &amp; <b>y</b><![CDATA[<z>]]></sid>\n";
    let filler = unknown_element.repeat(SIZE / unknown_element.len());
    let xml = format!(
        "<applications><versions__delta>7</versions__delta>{filler}<application>{}</application>{filler}</applications>",
        &xml_app["<application>".len()..xml_app.len() - "</application>".len()]
    );

    let unknown_field = "\"registeredApplicationsEmpty\":{\"x\":[1,\"two\",null,{\"y\":false}]},";
    let filler = unknown_field.repeat(SIZE / unknown_field.len());
    let json = format!(
        "{{\"applications\":{{{filler}\"versions__delta\":\"7\",\"application\":[{json_app}],{filler}\"end\":0}}}}"
    );

    for (format, input) in [(Format::Xml, xml), (Format::Json, json)] {
        let started = Instant::now();
        let len = input.len();
        let (json, xml, any) = decode_all_bounded(input.into_bytes());
        let direct = if format == Format::Json { json } else { xml };
        let Ok(Document::Applications(apps)) = direct else {
            panic!("{format}: {direct:?}");
        };
        assert_eq!(apps.versions_delta, Some(7));
        assert_eq!(apps.applications.len(), 1);
        assert_eq!(apps.applications[0].instances[0].address(), "10.0.0.1:80");
        assert_eq!(any.map(|(f, _)| f), Ok(format));
        eprintln!(
            "{format}: {len} bytes decoded three times in {:?}",
            started.elapsed()
        );
    }
}

/// A few megabytes of garbage (no structure to skip) is refused, in bounded time.
#[test]
fn huge_garbage_is_refused() {
    let inputs = [
        "{\"applications\":".to_owned() + &"\"x\",".repeat(1 << 20),
        "<applications>".to_owned() + &"<x a='1' a='2'>".repeat(1 << 18),
        "<applications><application><instance><metadata>".to_owned() + &"<k>v</k>".repeat(1 << 19),
        "<".repeat(4 << 20),
        "{".repeat(4 << 20),
    ];
    for input in inputs {
        let head: String = input.chars().take(40).collect();
        let (json, xml, any) = decode_all_bounded(input.into_bytes());
        assert!(
            json.is_err() && xml.is_err() && any.is_err(),
            "{head}... decoded"
        );
    }
}
