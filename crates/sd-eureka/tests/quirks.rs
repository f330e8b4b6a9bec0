//! The decoders against every quirk of the protocol page ("Quirks a reader must accept",
//! 1–12), in JSON and in XML, on hand-written payloads in `tests/fixtures/`; the lexical
//! forms of XML; the ways a document can be unusable; the reconcile hash code and deltas.
//!
//! Tests assert decoded values, not merely that a document decodes.

// Timestamps are compared with the digits the payloads carry.
#![allow(clippy::unreadable_literal)]

mod common;

use std::path::Path;

use common::{
    app_names, decode_both_ways, fixture, fixture_bytes, format_of, ids, instance, metadata,
    registry, single_app, single_instance,
};
use sd_eureka::{
    AMAZON_DATA_CENTER_CLASS, ActionType, Application, Applications, DEFAULT_DATA_CENTER_CLASS,
    DecodeError, Document, Format, InstanceInfo, LeaseInfo, Port, Status, decode, decode_any,
};

const EMPTY_MAP_CLASS: &str = "java.util.Collections$EmptyMap";

fn decode_err(bytes: &[u8], format: Format) -> DecodeError {
    match decode(bytes, format) {
        Ok(document) => panic!("expected an error, decoded {document:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------
// Quirk 1: ports.

/// What `ports.json` and `ports.xml` both describe, by instance id: (port, securePort).
const PORTS: [(&str, Port, Port); 6] = [
    // `$` a number, `@enabled` a string / enabled="true".
    (
        "gw-1.lab:gateway:8080",
        Port {
            port: 8080,
            enabled: true,
        },
        Port {
            port: 8443,
            enabled: false,
        },
    ),
    // `$` a string, `@enabled` a boolean / enabled="false" on the plain port.
    (
        "gw-2.lab:gateway:8081",
        Port {
            port: 8081,
            enabled: false,
        },
        Port {
            port: 9443,
            enabled: true,
        },
    ),
    // No `@enabled` / no `enabled`: the plain port is enabled, the secure one disabled.
    (
        "gw-3.lab:gateway:8082",
        Port {
            port: 8082,
            enabled: true,
        },
        Port {
            port: 8444,
            enabled: false,
        },
    ),
    // `@enabled` before `$`; padded text in XML.
    (
        "gw-4.lab:gateway:8083",
        Port {
            port: 8083,
            enabled: false,
        },
        Port {
            port: 443,
            enabled: true,
        },
    ),
    // A bare number (JSON) / bare element (XML); no securePort at all.
    (
        "gw-5.lab:gateway:8084",
        Port {
            port: 8084,
            enabled: true,
        },
        Port {
            port: 443,
            enabled: false,
        },
    ),
    // Neither port: Eureka's defaults, 0 enabled and 443 disabled.
    (
        "gw-6.lab:gateway:0",
        Port {
            port: 0,
            enabled: true,
        },
        Port {
            port: 443,
            enabled: false,
        },
    ),
];

#[test]
fn q1_ports_in_every_json_and_xml_form() {
    for file in ["ports.json", "ports.xml"] {
        let apps = registry(fixture(file));
        assert_eq!(
            ids(&apps),
            PORTS.iter().map(|p| p.0).collect::<Vec<_>>(),
            "{file}"
        );
        for (id, port, secure) in PORTS {
            let i = instance(&apps, id);
            assert_eq!(i.port, port, "{file} {id}: port");
            assert_eq!(i.secure_port, secure, "{file} {id}: securePort");
        }
        assert_eq!(
            instance(&apps, "gw-2.lab:gateway:8081").address(),
            "10.40.0.2:8081"
        );
    }
}

#[test]
fn q1_port_number_as_string_and_enabled_as_boolean_in_an_instance_document() {
    let json = br#"{"instance":{"instanceId":"x","app":"X","ipAddr":"10.0.0.9",
        "port":{"$":"65535","@enabled":"TRUE"},"securePort":{"@enabled":true,"$":"1"}}}"#;
    let i = single_instance(decode_both_ways(json, Format::Json, "inline"));
    assert_eq!(i.port, Port::enabled(65535));
    assert_eq!(i.secure_port, Port::enabled(1));
}

// ---------------------------------------------------------------------------------------
// Quirk 2: data centers.

#[test]
fn q2_data_center_my_own_and_amazon() {
    for file in ["data-center.json", "data-center.xml"] {
        let apps = registry(fixture(file));
        assert_eq!(apps.instance_count(), 2, "{file}");

        let own = &instance(&apps, "catalog-1.corp:catalog:7070").data_center_info;
        assert_eq!(own.name, "MyOwn", "{file}");
        assert_eq!(own.class, DEFAULT_DATA_CENTER_CLASS, "{file}");
        assert!(!own.is_amazon(), "{file}");
        assert!(own.metadata.is_empty(), "{file}");
        assert_eq!(own.availability_zone(), None, "{file}");

        let aws = &instance(&apps, "i-07f3c2a9b1d4e5f60").data_center_info;
        assert_eq!(aws.name, "Amazon", "{file}");
        assert_eq!(aws.class, AMAZON_DATA_CENTER_CLASS, "{file}");
        assert!(aws.is_amazon(), "{file}");
        assert_eq!(aws.availability_zone(), Some("eu-west-1b"), "{file}");
        assert_eq!(
            aws.metadata,
            metadata(&[
                ("availability-zone", "eu-west-1b"),
                ("instance-id", "i-07f3c2a9b1d4e5f60"),
                ("local-ipv4", "172.31.9.44"),
                (
                    "public-hostname",
                    "ec2-3-250-17-8.eu-west-1.compute.amazonaws.com"
                ),
                ("public-ipv4", "3.250.17.8"),
                ("instance-type", "c6g.large"),
                ("ami-id", "ami-0f1e2d3c4b5a69788"),
            ]),
            "{file}"
        );
        // The data center's metadata is not the instance's.
        assert!(
            instance(&apps, "i-07f3c2a9b1d4e5f60").metadata.is_empty(),
            "{file}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Quirk 3: metadata.

#[test]
fn q3_metadata_json() {
    let apps = registry(fixture("metadata.json"));
    let meta = |n: u8| &instance(&apps, &format!("profile-{n}:profile:8080")).metadata;
    // {"@class": "java.util.Collections$EmptyMap"} is empty, not a one-entry map.
    assert!(meta(1).is_empty(), "{:?}", meta(1));
    assert_eq!(
        *meta(2),
        metadata(&[
            ("management.port", "8081"),
            ("spring.profiles.active", "prod"),
            ("zone", "zone-2"),
        ])
    );
    // Numbers and booleans become their text.
    assert_eq!(
        *meta(3),
        metadata(&[
            ("weight", "10"),
            ("canary", "true"),
            ("ratio", "0.25"),
            ("management.port", "9090"),
            ("label", "blue"),
        ])
    );
    assert!(meta(4).is_empty(), "null metadata");
    assert!(meta(5).is_empty(), "absent metadata");
    // `@class` is dropped whatever its value; the real entries stay.
    assert_eq!(*meta(6), metadata(&[("team", "identity")]));
    assert!(apps.instances().all(|(_, i)| {
        !i.metadata.contains_key("@class") && !i.metadata.values().any(|v| v == EMPTY_MAP_CLASS)
    }));
}

#[test]
fn q3_metadata_xml() {
    let apps = registry(fixture("metadata.xml"));
    let meta = |n: u8| &instance(&apps, &format!("profile-{n}:profile:8080")).metadata;
    assert!(meta(1).is_empty(), "self-closing EmptyMap: {:?}", meta(1));
    assert_eq!(
        *meta(2),
        metadata(&[
            ("management.port", "8081"),
            ("spring.profiles.active", "prod"),
            ("zone", "zone-2"),
        ])
    );
    assert!(meta(3).is_empty(), "open/close EmptyMap: {:?}", meta(3));
    assert!(meta(4).is_empty(), "absent metadata");
    // Text is trimmed; empty elements are empty strings.
    assert_eq!(
        *meta(5),
        metadata(&[("weight", "10"), ("empty", ""), ("blank", "")])
    );
    assert!(
        apps.instances()
            .all(|(_, i)| !i.metadata.contains_key("class"))
    );
}

// ---------------------------------------------------------------------------------------
// Quirks 4 and 5: overriddenstatus / overriddenStatus; strings vs booleans and numbers.

fn check_ledger(apps: &Applications, what: &str) {
    assert_eq!(apps.versions_delta, Some(42), "{what}");
    assert_eq!(
        apps.apps_hashcode.as_deref(),
        Some("DOWN_1_UP_1_"),
        "{what}"
    );
    assert!(apps.is_consistent(), "{what}");

    let first = instance(apps, "ledger-1.corp:ledger:8000");
    assert_eq!(first.status, Status::Up, "{what}");
    assert_eq!(first.overridden_status, Status::OutOfService, "{what}");
    assert!(first.is_coordinating_discovery_server, "{what}");
    assert_eq!(first.last_updated_timestamp, 1650000000123, "{what}");
    assert_eq!(first.last_dirty_timestamp, 1650000000100, "{what}");
    assert_eq!(first.port, Port::enabled(8000), "{what}");
    assert_eq!(first.secure_port, Port::disabled(8443), "{what}");
    assert_eq!(first.action_type, Some(ActionType::Added), "{what}");

    let second = instance(apps, "ledger-2.corp:ledger:8000");
    assert_eq!(second.status, Status::Down, "{what}");
    assert_eq!(second.overridden_status, Status::Up, "{what}");
    assert!(!second.is_coordinating_discovery_server, "{what}");
    assert_eq!(second.last_updated_timestamp, 1650000000456, "{what}");
    assert_eq!(second.last_dirty_timestamp, 1650000000400, "{what}");
    assert_eq!(second.action_type, Some(ActionType::Modified), "{what}");
}

#[test]
fn q4_q5_old_json_spellings_and_types() {
    // `overriddenstatus`, a numeric versions__delta, boolean isCoordinatingDiscoveryServer,
    // numeric timestamps, string port numbers.
    check_ledger(&registry(fixture("legacy-scalars.json")), "legacy");
}

#[test]
fn q4_q5_current_json_spellings_and_types() {
    // `overriddenStatus`, everything as strings.
    check_ledger(&registry(fixture("current-scalars.json")), "current");
}

#[test]
fn q4_q5_xml_accepts_both_spellings() {
    // The first instance says <overriddenstatus>, the second <overriddenStatus>.
    check_ledger(&registry(fixture("scalars.xml")), "xml");
}

#[test]
fn q4_q5_old_current_and_xml_forms_decode_to_the_same_registry() {
    let legacy = fixture("legacy-scalars.json");
    assert_eq!(legacy, fixture("current-scalars.json"));
    assert_eq!(legacy, fixture("scalars.xml"));
}

// ---------------------------------------------------------------------------------------
// Quirk 6: one-element lists as objects; missing, null and empty lists.

#[test]
fn q6_application_and_instance_as_single_objects() {
    let apps = registry(fixture("single-objects.json"));
    assert_eq!(apps.versions_delta, Some(1));
    assert_eq!(app_names(&apps), ["SOLO"]);
    let solo = &apps.applications[0].instances;
    assert_eq!(solo.len(), 1);
    assert_eq!(solo[0].instance_id, "solo-1.lab:solo:5000");
    assert_eq!(solo[0].port, Port::enabled(5000));
    assert_eq!(solo[0].secure_port, Port::disabled(5443));
    assert!(apps.is_consistent());
}

#[test]
fn q6_mixed_instance_lists_json() {
    let apps = registry(fixture("mixed-lists.json"));
    assert_eq!(app_names(&apps), ["ONE", "TWO", "NONE", "NULLED", "EMPTY"]);
    let counts: Vec<usize> = apps
        .applications
        .iter()
        .map(|a| a.instances.len())
        .collect();
    assert_eq!(counts, [1, 2, 0, 0, 0]);
    assert_eq!(
        ids(&apps),
        ["one-1:one:6001", "two-1:two:6002", "two-2:two:6002"]
    );
    assert_eq!(apps.reconcile_hash_code(), "UP_3_");
    assert!(apps.is_consistent());
}

#[test]
fn q6_mixed_instance_lists_xml() {
    let apps = registry(fixture("mixed-lists.xml"));
    assert_eq!(app_names(&apps), ["ONE", "TWO", "NONE"]);
    let counts: Vec<usize> = apps
        .applications
        .iter()
        .map(|a| a.instances.len())
        .collect();
    assert_eq!(counts, [1, 2, 0]);
    assert_eq!(
        ids(&apps),
        ["one-1:one:6001", "two-1:two:6002", "two-2:two:6002"]
    );
    assert!(apps.is_consistent());
}

#[test]
fn q6_null_and_absent_application_lists() {
    for file in ["null-application.json", "absent-application.json"] {
        let apps = registry(fixture(file));
        assert!(apps.applications.is_empty(), "{file}");
        assert_eq!(apps.versions_delta, Some(3), "{file}");
        assert_eq!(apps.apps_hashcode.as_deref(), Some(""), "{file}");
        assert!(apps.is_consistent(), "{file}");
    }
    // A null registry is an empty one.
    let apps = registry(decode_both_ways(
        br#"{"applications":null}"#,
        Format::Json,
        "null registry",
    ));
    assert_eq!(apps, Applications::default());
}

// ---------------------------------------------------------------------------------------
// Quirk 7: unknown fields.

#[test]
fn q7_unknown_fields_are_ignored() {
    for file in ["unknown-fields.json", "unknown-fields.xml"] {
        let apps = registry(fixture(file));
        // The decoys inside unknown fields are not apps or instances.
        assert_eq!(app_names(&apps), ["MAILER"], "{file}");
        assert_eq!(ids(&apps), ["mailer-1.corp:mailer:2525"], "{file}");
        assert_eq!(apps.versions_delta, Some(11), "{file}");
        assert!(apps.is_consistent(), "{file}");

        let i = instance(&apps, "mailer-1.corp:mailer:2525");
        // Known fields around and after the unknown ones are all read.
        assert_eq!(i.status, Status::Up, "{file}");
        assert_eq!(i.port, Port::enabled(2525), "{file}");
        assert_eq!(i.secure_port, Port::enabled(4650), "{file}");
        assert_eq!(i.app_group_name.as_deref(), Some("MESSAGING"), "{file}");
        assert_eq!(
            i.secure_health_check_url.as_deref(),
            Some("https://mailer-1.corp:4650/health"),
            "{file}"
        );
        assert_eq!(i.vip_address.as_deref(), Some("mailer"), "{file}");
        assert_eq!(
            i.secure_vip_address.as_deref(),
            Some("mailer-secure"),
            "{file}"
        );
        assert_eq!(i.data_center_info.name, "MyOwn", "{file}");
        assert!(i.data_center_info.metadata.is_empty(), "{file}");
        assert_eq!(
            i.lease_info,
            Some(LeaseInfo {
                renewal_interval_in_secs: 15,
                duration_in_secs: 45,
                registration_timestamp: 1700000100000,
                last_renewal_timestamp: 1700000115000,
                eviction_timestamp: 0,
                service_up_timestamp: 1700000100500,
            }),
            "{file}"
        );
        assert_eq!(i.metadata, metadata(&[("queue", "outbound")]), "{file}");
        assert_eq!(i.last_updated_timestamp, 1700000100001, "{file}");
        assert_eq!(i.last_dirty_timestamp, 1700000099999, "{file}");
        assert_eq!(i.action_type, Some(ActionType::Added), "{file}");
    }
    assert_eq!(
        fixture("unknown-fields.json"),
        fixture("unknown-fields.xml")
    );
}

// ---------------------------------------------------------------------------------------
// Quirk 9: the instance id when `instanceId` is missing.

#[test]
fn q9_instance_id_falls_back_to_amazon_instance_id_then_host_name() {
    for file in ["instance-id-fallback.json", "instance-id-fallback.xml"] {
        let apps = registry(fixture(file));
        assert_eq!(
            ids(&apps),
            [
                // No instanceId, Amazon: the data center's instance-id.
                "i-0123abcd4567ef890",
                // No instanceId, MyOwn: the host name.
                "legacy-search.corp",
                // No instanceId, Amazon without an instance-id: the host name.
                "ip-10-20-30-41.ec2.internal",
                // An instanceId always wins.
                "search-7.corp:search:9200",
                // Amazon by name alone (no class).
                "i-0aaa000bbb111ccc2",
                // An empty instanceId counts as missing.
                "blank-id.corp",
            ],
            "{file}"
        );
        for (_, i) in apps.instances() {
            assert_eq!(i.id(), i.instance_id, "{file}");
        }
        let by_name = instance(&apps, "i-0aaa000bbb111ccc2");
        assert!(by_name.data_center_info.is_amazon(), "{file}");
        assert_eq!(by_name.data_center_info.class, "", "{file}");
    }
    assert_eq!(
        fixture("instance-id-fallback.json"),
        fixture("instance-id-fallback.xml")
    );
}

// ---------------------------------------------------------------------------------------
// Quirk 10: unknown statuses.

#[test]
fn q10_unknown_status_strings_are_unknown_json() {
    let apps = registry(fixture("odd-statuses.json"));
    let status = |id: &str| instance(&apps, id).status;
    assert_eq!(status("odd-up"), Status::Up);
    // Case-sensitive: "up" is not UP.
    assert_eq!(status("odd-lower"), Status::Unknown);
    assert_eq!(status("odd-weird"), Status::Unknown);
    assert_eq!(status("odd-blank"), Status::Unknown);
    assert_eq!(status("odd-null"), Status::Unknown);
    assert_eq!(status("odd-number"), Status::Unknown);
    assert_eq!(status("odd-absent"), Status::Unknown);
    assert_eq!(status("odd-down"), Status::Down);
    assert_eq!(status("odd-starting"), Status::Starting);
    assert_eq!(status("odd-oos"), Status::OutOfService);
    assert_eq!(
        instance(&apps, "odd-lower").overridden_status,
        Status::Unknown
    );
    assert_eq!(instance(&apps, "odd-weird").overridden_status, Status::Up);
    // An unknown action type reads as none.
    assert_eq!(instance(&apps, "odd-weird").action_type, None);
    assert_eq!(
        apps.reconcile_hash_code(),
        "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UNKNOWN_6_UP_1_"
    );
    assert!(apps.is_consistent());
}

#[test]
fn q10_unknown_status_strings_are_unknown_xml() {
    let apps = registry(fixture("odd-statuses.xml"));
    let status = |id: &str| instance(&apps, id).status;
    assert_eq!(status("odd-up"), Status::Up);
    assert_eq!(status("odd-lower"), Status::Unknown);
    assert_eq!(status("odd-weird"), Status::Unknown);
    assert_eq!(status("odd-blank"), Status::Unknown);
    assert_eq!(status("odd-spaced"), Status::Unknown);
    assert_eq!(status("odd-absent"), Status::Unknown);
    assert_eq!(status("odd-down"), Status::Down);
    assert_eq!(status("odd-starting"), Status::Starting);
    assert_eq!(status("odd-oos"), Status::OutOfService);
    assert_eq!(
        instance(&apps, "odd-lower").overridden_status,
        Status::Unknown
    );
    assert_eq!(instance(&apps, "odd-weird").action_type, None);
    assert_eq!(
        apps.reconcile_hash_code(),
        "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UNKNOWN_5_UP_1_"
    );
    assert!(apps.is_consistent());
}

// ---------------------------------------------------------------------------------------
// Quirk 11: an OUT_OF_SERVICE instance fetched directly is DOWN in XML.

#[test]
fn q11_out_of_service_instance_rendered_as_down_in_xml() {
    let xml = single_instance(fixture("oos-instance.xml"));
    assert_eq!(xml.status, Status::Down);
    assert_ne!(xml.status, Status::Up);
    assert_eq!(xml.overridden_status, Status::OutOfService);

    let json = single_instance(fixture("oos-instance.json"));
    assert_eq!(json.status, Status::OutOfService);
    assert_eq!(json.overridden_status, Status::OutOfService);

    // Apart from the status, the two renderings are the same instance.
    assert_eq!(
        InstanceInfo {
            status: Status::OutOfService,
            ..xml
        },
        json
    );
}

// ---------------------------------------------------------------------------------------
// Quirk 12: the compact form.

#[test]
fn q12_compact_form_leaves_the_optional_fields_empty() {
    for file in ["compact.json", "compact.xml"] {
        let apps = registry(fixture(file));
        assert_eq!(apps.versions_delta, Some(5), "{file}");
        assert!(apps.is_consistent(), "{file}");
        assert_eq!(
            ids(&apps),
            ["cart-1:cart:8800", "i-0c0ffee0c0ffee000"],
            "{file}"
        );
        for (app, i) in apps.instances() {
            assert_eq!(app, "CART", "{file}");
            assert_eq!(i.lease_info, None, "{file}");
            assert!(i.metadata.is_empty(), "{file}");
            assert_eq!(i.home_page_url, None, "{file}");
            assert_eq!(i.status_page_url, None, "{file}");
            assert_eq!(i.health_check_url, None, "{file}");
            assert_eq!(i.secure_health_check_url, None, "{file}");
            assert_eq!(i.app_group_name, None, "{file}");
            assert_eq!(i.overridden_status, Status::Unknown, "{file}");
            assert_eq!(i.last_dirty_timestamp, 0, "{file}");
            assert_eq!(i.country_id, 1, "{file}");
            assert_eq!(i.vip_address.as_deref(), Some("cart"), "{file}");
            assert_eq!(
                i.secure_vip_address.as_deref(),
                Some("cart-secure"),
                "{file}"
            );
        }
        let first = instance(&apps, "cart-1:cart:8800");
        assert_eq!(first.address(), "10.11.0.1:8800", "{file}");
        assert_eq!(first.host_name, "cart-1.lab", "{file}");
        assert_eq!(first.status, Status::Up, "{file}");
        assert_eq!(first.secure_port, Port::disabled(8843), "{file}");
        assert_eq!(first.last_updated_timestamp, 1720000000001, "{file}");
        let second = instance(&apps, "i-0c0ffee0c0ffee000");
        assert_eq!(second.status, Status::Starting, "{file}");
        assert_eq!(second.secure_port, Port::enabled(8843), "{file}");
        assert_eq!(
            second.data_center_info.availability_zone(),
            Some("ap-south-1c"),
            "{file}"
        );
    }
    assert_eq!(fixture("compact.json"), fixture("compact.xml"));
}

// ---------------------------------------------------------------------------------------
// Empty registries and the three roots.

#[test]
fn empty_registry_json() {
    let bytes = fixture_bytes("empty-registry.json");
    assert_eq!(
        bytes,
        br#"{"applications":{"versions__delta":"1","apps__hashcode":"","application":[]}}"#
    );
    let apps = registry(fixture("empty-registry.json"));
    assert_eq!(apps.versions_delta, Some(1));
    assert_eq!(apps.apps_hashcode.as_deref(), Some(""));
    assert!(apps.applications.is_empty());
    assert_eq!(apps.reconcile_hash_code(), "");
    assert!(apps.is_consistent());
}

#[test]
fn empty_registry_xml() {
    assert_eq!(
        fixture_bytes("empty-registry.xml"),
        b"<applications><apps__hashcode/></applications>"
    );
    let apps = registry(fixture("empty-registry.xml"));
    assert_eq!(apps.versions_delta, None);
    assert_eq!(apps.apps_hashcode.as_deref(), Some(""));
    assert!(apps.applications.is_empty());
    assert!(apps.is_consistent());

    // A self-closing root is an empty registry with no hash code.
    let apps = registry(decode_both_ways(b"<applications/>", Format::Xml, "empty"));
    assert_eq!(apps, Applications::default());
    assert!(!apps.is_consistent());
}

#[test]
fn application_root_in_both_formats() {
    for file in ["root-application.json", "root-application.xml"] {
        let app = single_app(fixture(file));
        assert_eq!(app.name, "INVOICES", "{file}");
        let statuses: Vec<(&str, Status)> = app
            .instances
            .iter()
            .map(|i| (i.instance_id.as_str(), i.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("invoices-1.corp:invoices:7300", Status::Up),
                ("invoices-2.corp:invoices:7300", Status::Down),
            ],
            "{file}"
        );
        for i in &app.instances {
            assert_eq!(i.port, Port::enabled(7300), "{file}");
            assert_eq!(i.secure_port, Port::disabled(7343), "{file}");
            assert!(i.metadata.is_empty(), "{file}");
            assert_eq!(i.action_type, Some(ActionType::Added), "{file}");
        }
        // As a registry: one app, no hash code of its own.
        let apps = Document::Application(app).into_applications();
        assert_eq!(app_names(&apps), ["INVOICES"], "{file}");
        assert_eq!(apps.apps_hashcode, None, "{file}");
        assert_eq!(apps.reconcile_hash_code(), "DOWN_1_UP_1_", "{file}");
    }
    assert_eq!(
        fixture("root-application.json"),
        fixture("root-application.xml")
    );
}

#[test]
fn instance_root_in_both_formats() {
    for file in ["root-instance.json", "root-instance.xml"] {
        let i = single_instance(fixture(file));
        assert_eq!(i.instance_id, "ws-2.lab:websocket:9100", "{file}");
        assert_eq!(i.host_name, "ws-2.lab", "{file}");
        assert_eq!(i.app, "WEBSOCKET", "{file}");
        assert_eq!(i.address(), "192.168.50.2:9100", "{file}");
        assert_eq!(i.status, Status::Starting, "{file}");
        assert_eq!(i.secure_port, Port::enabled(9143), "{file}");
        assert_eq!(
            i.lease_info,
            Some(LeaseInfo {
                renewal_interval_in_secs: 10,
                duration_in_secs: 30,
                registration_timestamp: 1730000000000,
                last_renewal_timestamp: 1730000010000,
                eviction_timestamp: 0,
                service_up_timestamp: 0,
            }),
            "{file}"
        );
        assert_eq!(i.metadata, metadata(&[("protocol", "ws")]), "{file}");
        assert_eq!(
            i.health_check_url.as_deref(),
            Some("http://ws-2.lab:9100/health"),
            "{file}"
        );
        assert_eq!(i.last_updated_timestamp, 1730000000001, "{file}");
        assert_eq!(i.last_dirty_timestamp, 1729999999999, "{file}");
        assert_eq!(i.action_type, None, "{file}");

        // As a registry: one app named after the instance's app.
        let apps = Document::Instance(Box::new(i)).into_applications();
        assert_eq!(app_names(&apps), ["WEBSOCKET"], "{file}");
        assert_eq!(ids(&apps), ["ws-2.lab:websocket:9100"], "{file}");
    }
    assert_eq!(fixture("root-instance.json"), fixture("root-instance.xml"));
}

// ---------------------------------------------------------------------------------------
// XML lexical forms.

#[test]
fn xml_declaration_comments_cdata_entities_and_whitespace() {
    let apps = registry(fixture("lexical.xml"));
    assert_eq!(apps.versions_delta, Some(9));
    assert_eq!(app_names(&apps), ["R&D-TOOLS"]);
    assert_eq!(
        ids(&apps),
        ["rd-1.corp:r&d-tools:8080", "rd-2.corp:r&d-tools:8080"]
    );
    assert!(apps.is_consistent());

    let first = instance(&apps, "rd-1.corp:r&d-tools:8080");
    assert_eq!(first.host_name, "rd-1.corp");
    assert_eq!(first.app, "R&D-TOOLS");
    assert_eq!(first.ip_addr, "10.42.0.7");
    assert_eq!(first.status, Status::Up);
    assert_eq!(first.port, Port::enabled(8080));
    assert_eq!(first.secure_port, Port::disabled(443));
    assert_eq!(first.data_center_info.class, DEFAULT_DATA_CENTER_CLASS);
    assert_eq!(
        first.metadata,
        metadata(&[
            ("query", "a=1&b=2"),
            ("letters", "ABC"),
            ("punctuation", "\"'<>"),
            ("markup", "<not-an-element attr=\"x\"/> & raw"),
            ("mixed", "pre-<b>-post"),
            ("unicode", "caf\u{e9} \u{1f680}"),
        ])
    );
    assert_eq!(
        first.home_page_url.as_deref(),
        Some("http://rd-1.corp:8080/?a=1&b=2")
    );

    let second = instance(&apps, "rd-2.corp:r&d-tools:8080");
    assert_eq!(second.status, Status::Up);
    assert_eq!(second.port, Port::enabled(8080));
}

#[test]
fn xml_with_a_byte_order_mark_and_crlf_line_ends() {
    let body = "\u{feff}<?xml version=\"1.0\"?>\r\n<instance>\r\n  <instanceId>a:b:1</instanceId>\r\n  \
                <status>UP</status>\r\n  <port enabled=\"true\">\r\n1\r\n</port>\r\n</instance>\r\n";
    let i = single_instance(decode_both_ways(body.as_bytes(), Format::Xml, "bom"));
    assert_eq!(i.instance_id, "a:b:1");
    assert_eq!(i.status, Status::Up);
    assert_eq!(i.port, Port::enabled(1));
}

// ---------------------------------------------------------------------------------------
// Deltas.

#[test]
fn delta_action_types_in_both_formats() {
    for file in ["delta.json", "delta.xml"] {
        let delta = registry(fixture(file));
        assert_eq!(delta.versions_delta, Some(8), "{file}");
        assert_eq!(
            delta.apps_hashcode.as_deref(),
            Some("DOWN_1_UP_4_"),
            "{file}"
        );
        let actions: Vec<(&str, &str, Option<ActionType>)> = delta
            .instances()
            .map(|(app, i)| (app, i.instance_id.as_str(), i.action_type))
            .collect();
        assert_eq!(
            actions,
            [
                (
                    "ORDERS",
                    "orders-2.lab:orders:8080",
                    Some(ActionType::Modified)
                ),
                (
                    "ORDERS",
                    "orders-3.lab:orders:8080",
                    Some(ActionType::Added)
                ),
                (
                    "BILLING",
                    "billing-1.lab:billing:9000",
                    Some(ActionType::Modified)
                ),
                ("AUDIT", "audit-1.lab:audit:7000", Some(ActionType::Deleted)),
                (
                    "SEARCH",
                    "search-1.lab:search:9200",
                    Some(ActionType::Added)
                ),
            ],
            "{file}"
        );
        // A delta's hash code describes the whole registry, not the delta.
        assert!(!delta.is_consistent(), "{file}");
    }
    assert_eq!(fixture("delta.json"), fixture("delta.xml"));
    assert_eq!(fixture("base-registry.json"), fixture("base-registry.xml"));
}

#[test]
fn apply_delta_fixture_upserts_removes_and_checks_the_hash_code() {
    for (base_file, delta_file) in [
        ("base-registry.json", "delta.json"),
        ("base-registry.xml", "delta.xml"),
        // Across formats, too.
        ("base-registry.xml", "delta.json"),
    ] {
        let what = format!("{base_file} + {delta_file}");
        let mut apps = registry(fixture(base_file));
        assert_eq!(apps.reconcile_hash_code(), "STARTING_1_UP_3_", "{what}");
        assert!(apps.is_consistent(), "{what}");

        apps.apply_delta(&registry(fixture(delta_file)));

        // AUDIT lost its only instance and is gone; SEARCH is new, at the end.
        assert_eq!(app_names(&apps), ["ORDERS", "BILLING", "SEARCH"], "{what}");
        assert_eq!(
            ids(&apps),
            [
                "orders-1.lab:orders:8080",
                "orders-2.lab:orders:8080",
                "orders-3.lab:orders:8080",
                "billing-1.lab:billing:9000",
                "search-1.lab:search:9200",
            ],
            "{what}"
        );
        // MODIFIED replaced the instance in place.
        let orders_2 = instance(&apps, "orders-2.lab:orders:8080");
        assert_eq!(orders_2.status, Status::Down, "{what}");
        assert_eq!(orders_2.last_updated_timestamp, 1740000000102, "{what}");
        assert_eq!(
            instance(&apps, "billing-1.lab:billing:9000").metadata,
            metadata(&[("version", "2")]),
            "{what}"
        );
        // Untouched instances stay as they were.
        assert_eq!(
            instance(&apps, "orders-1.lab:orders:8080").last_updated_timestamp,
            1740000000001,
            "{what}"
        );
        // The stored instances carry no action type.
        assert!(
            apps.instances().all(|(_, i)| i.action_type.is_none()),
            "{what}"
        );

        assert_eq!(apps.versions_delta, Some(8), "{what}");
        assert_eq!(
            apps.apps_hashcode.as_deref(),
            Some("DOWN_1_UP_4_"),
            "{what}"
        );
        assert_eq!(apps.reconcile_hash_code(), "DOWN_1_UP_4_", "{what}");
        assert!(apps.is_consistent(), "{what}");
    }
}

#[test]
fn apply_delta_to_a_registry_it_was_not_computed_from_is_inconsistent() {
    // Without the base, the delta's upserts give DOWN_1_UP_3_, not the DOWN_1_UP_4_ it
    // announces: the client must fetch in full.
    let mut apps = Applications::default();
    apps.apply_delta(&registry(fixture("delta.json")));
    assert_eq!(apps.reconcile_hash_code(), "DOWN_1_UP_3_");
    assert_eq!(apps.apps_hashcode.as_deref(), Some("DOWN_1_UP_4_"));
    assert!(!apps.is_consistent());

    // A delta whose hash code does not match the result.
    let mut apps = registry(fixture("base-registry.json"));
    let mut delta = registry(fixture("delta.json"));
    delta.apps_hashcode = Some("DOWN_1_UP_5_".to_owned());
    apps.apply_delta(&delta);
    assert_eq!(apps.reconcile_hash_code(), "DOWN_1_UP_4_");
    assert!(!apps.is_consistent());
}

// ---------------------------------------------------------------------------------------
// The reconcile hash code and delta application on hand-built registries.

fn node(app: &str, n: u16, status: Status, action: Option<ActionType>) -> InstanceInfo {
    let mut i = InstanceInfo::new(app, &format!("{}-{n}", app.to_lowercase()), "10.0.0.1", n);
    i.status = status;
    i.action_type = action;
    i
}

fn app(name: &str, instances: Vec<InstanceInfo>) -> Application {
    Application {
        name: name.to_owned(),
        instances,
    }
}

fn apps_of(applications: Vec<Application>, hash: Option<&str>) -> Applications {
    Applications {
        versions_delta: None,
        apps_hashcode: hash.map(str::to_owned),
        applications,
    }
}

#[test]
fn reconcile_hash_code_counts_statuses_in_alphabetical_order() {
    let up = |n| node("ORDERS", n, Status::Up, None);
    let registry = apps_of(
        vec![
            app("ORDERS", vec![up(1), up(2), up(3)]),
            app(
                "BILLING",
                vec![
                    node("BILLING", 1, Status::Up, None),
                    node("BILLING", 2, Status::Down, None),
                    node("BILLING", 3, Status::Up, None),
                ],
            ),
        ],
        Some("DOWN_1_UP_5_"),
    );
    assert_eq!(registry.reconcile_hash_code(), "DOWN_1_UP_5_");
    assert!(registry.is_consistent());

    // Every status, listed in reverse: the hash code sorts them by name (UNKNOWN < UP).
    let all = apps_of(
        vec![app(
            "MIXED",
            vec![
                node("MIXED", 1, Status::Up, None),
                node("MIXED", 2, Status::Unknown, None),
                node("MIXED", 3, Status::Starting, None),
                node("MIXED", 4, Status::OutOfService, None),
                node("MIXED", 5, Status::Down, None),
                node("MIXED", 6, Status::Up, None),
            ],
        )],
        None,
    );
    assert_eq!(
        all.reconcile_hash_code(),
        "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UNKNOWN_1_UP_2_"
    );
    // No hash code received: not consistent, whatever the content.
    assert!(!all.is_consistent());
}

#[test]
fn reconcile_hash_code_of_an_empty_registry_is_empty() {
    assert_eq!(Applications::default().reconcile_hash_code(), "");
    // Apps without instances count for nothing.
    let hollow = apps_of(vec![app("NONE", vec![])], Some(""));
    assert_eq!(hollow.reconcile_hash_code(), "");
    assert!(hollow.is_consistent());
    assert!(!apps_of(vec![], Some("UP_1_")).is_consistent());
}

#[test]
fn apply_delta_upserts_by_instance_id_and_removes_empty_apps() {
    let mut local = apps_of(
        vec![
            app(
                "ORDERS",
                vec![
                    node("ORDERS", 1, Status::Up, None),
                    node("ORDERS", 2, Status::Up, None),
                ],
            ),
            app("AUDIT", vec![node("AUDIT", 1, Status::Up, None)]),
        ],
        Some("UP_3_"),
    );
    assert!(local.is_consistent());

    let delta = apps_of(
        vec![
            // ADDED for an id already present replaces it (no duplicate); MODIFIED for an
            // unknown id inserts it; the app name matches case-insensitively.
            app(
                "orders",
                vec![
                    node("ORDERS", 1, Status::Down, Some(ActionType::Added)),
                    node("ORDERS", 3, Status::Starting, Some(ActionType::Modified)),
                    node("ORDERS", 2, Status::Up, Some(ActionType::Deleted)),
                ],
            ),
            // Deleting the last instance removes the app.
            app(
                "AUDIT",
                vec![node("AUDIT", 1, Status::Up, Some(ActionType::Deleted))],
            ),
            // Deleting what is not there changes nothing.
            app(
                "GHOST",
                vec![node("GHOST", 1, Status::Up, Some(ActionType::Deleted))],
            ),
            // No action type: treated as MODIFIED, in a new app.
            app("NEW", vec![node("NEW", 1, Status::Up, None)]),
        ],
        Some("DOWN_1_STARTING_1_UP_1_"),
    );
    local.apply_delta(&delta);

    assert_eq!(app_names(&local), ["ORDERS", "NEW"]);
    let orders: Vec<(&str, Status)> = local.applications[0]
        .instances
        .iter()
        .map(|i| (i.instance_id.as_str(), i.status))
        .collect();
    assert_eq!(
        orders,
        [
            ("orders-1:orders:1", Status::Down),
            ("orders-3:orders:3", Status::Starting),
        ]
    );
    assert_eq!(ids(&local)[2], "new-1:new:1");
    assert!(local.instances().all(|(_, i)| i.action_type.is_none()));
    assert_eq!(local.reconcile_hash_code(), "DOWN_1_STARTING_1_UP_1_");
    assert!(local.is_consistent());

    // The same delta again: upserts are idempotent, the hash code still matches.
    local.apply_delta(&delta);
    assert_eq!(ids(&local).len(), 3);
    assert!(local.is_consistent());
}

// ---------------------------------------------------------------------------------------
// Unusable documents.

#[test]
fn empty_input_is_an_empty_document() {
    for bytes in [&b""[..], b"   ", b"\n\t \r\n"] {
        for format in [Format::Json, Format::Xml] {
            let e = decode_err(bytes, format);
            assert!(e.is_empty_document(), "{bytes:?} as {format}: {e}");
            assert!(!e.is_syntax() && !e.is_invalid(), "{e}");
            assert_eq!(e.format(), format);
        }
        let e = decode_any(bytes).expect_err("nothing to decode");
        assert!(e.is_empty_document(), "{bytes:?}: {e}");
    }
    // Only a prolog, no root element.
    let e = decode_err(b"<?xml version=\"1.0\"?>\n<!-- nothing -->\n", Format::Xml);
    assert!(e.is_empty_document(), "{e}");
}

#[test]
fn garbage_is_a_syntax_error() {
    let e = decode_any(b"this is neither JSON nor XML").expect_err("garbage");
    assert!(e.is_syntax(), "{e}");

    let e = decode_err(b"this is not JSON", Format::Json);
    assert!(e.is_syntax(), "{e}");
    assert_eq!(e.position(), Some((1, 1)), "{e}");

    let e = decode_err(b"{\"applications\": {,}}", Format::Json);
    assert!(e.is_syntax(), "{e}");
    assert_eq!(e.position().map(|p| p.0), Some(1), "{e}");

    // Mismatched tags.
    let e = decode_err(
        b"<applications>\n  <application>\n  </applications>",
        Format::Xml,
    );
    assert!(e.is_syntax(), "{e}");
    assert_eq!(e.position().map(|p| p.0), Some(3), "{e}");
}

#[test]
fn truncated_json_is_a_syntax_error_with_a_position() {
    let whole = fixture_bytes("root-instance.json");
    let cut = &whole[..whole.len() / 2];
    let e = decode_err(cut, Format::Json);
    assert!(e.is_syntax(), "{e}");
    assert_eq!(e.format(), Format::Json);
    let (line, column) = e.position().expect("a position");
    assert!(line > 1 && column >= 1, "{e}");
    assert!(e.to_string().contains(&format!("line {line}")), "{e}");
}

#[test]
fn truncated_xml_is_a_syntax_error_with_a_position() {
    let whole = fixture_bytes("root-instance.xml");
    let cut = &whole[..whole.len() / 2];
    let e = decode_err(cut, Format::Xml);
    assert!(e.is_syntax(), "{e}");
    assert_eq!(e.format(), Format::Xml);
    let (line, column) = e.position().expect("a position");
    assert!(line > 1 && column >= 1, "{e}");

    // Cut inside a tag, and after a complete child with the root left open.
    for cut in [
        &b"<applications><application><name>A</na"[..],
        b"<applications><application><name>A</name>",
    ] {
        let e = decode_err(cut, Format::Xml);
        assert!(e.is_syntax(), "{e}");
        assert!(e.position().is_some(), "{e}");
    }
}

#[test]
fn every_proper_prefix_of_a_document_is_a_syntax_error() {
    for file in ["root-instance.json", "root-instance.xml", "delta.xml"] {
        let whole = fixture_bytes(file);
        let format = format_of(Path::new(file));
        let end = whole.trim_ascii_end().len();
        for len in 1..end {
            match decode(&whole[..len], format) {
                Ok(_) => panic!("{file}: the first {len} bytes decoded"),
                Err(e) => {
                    assert!(e.is_syntax(), "{file}[..{len}]: {e}");
                    assert!(e.position().is_some(), "{file}[..{len}]: {e}");
                }
            }
        }
    }
}

#[test]
fn json_port_that_is_not_a_number_is_invalid_with_its_path() {
    let json = b"{\"applications\":{\"application\":[{\"name\":\"A\",\"instance\":[\n\
                 {\"instanceId\":\"a\"},\n\
                 {\"instanceId\":\"b\",\"port\":{\"$\":\"abc\",\"@enabled\":\"true\"}}]}]}}";
    let e = decode_err(json, Format::Json);
    assert!(e.is_invalid(), "{e}");
    let path = e.path().expect("a path");
    assert!(path.contains("port"), "{path}");
    assert!(path.contains("instance[1]"), "{path}");
    assert_eq!(e.position().map(|p| p.0), Some(3), "{e}");
    assert!(e.message().contains("abc"), "{e}");
    assert!(e.to_string().contains(path), "{e}");

    let e = decode_err(br#"{"instance":{"port":"abc"}}"#, Format::Json);
    assert!(e.is_invalid(), "{e}");
    assert_eq!(e.path(), Some("instance.port"), "{e}");
}

#[test]
fn xml_port_that_is_not_a_number_is_invalid_with_position_and_path() {
    let xml = b"<applications>\n  <application>\n    <instance>\n      <instanceId>a</instanceId>\n      \
                <port enabled=\"true\">abc</port>\n    </instance>\n  </application>\n</applications>";
    let e = decode_err(xml, Format::Xml);
    assert!(e.is_invalid(), "{e}");
    assert_eq!(e.format(), Format::Xml);
    let (line, column) = e.position().expect("a position");
    assert_eq!(line, 5, "{e}");
    assert!(column > 1, "{e}");
    let path = e.path().expect("a path");
    assert!(path.contains("port"), "{path}");
    assert!(path.starts_with("applications"), "{path}");
    assert!(e.message().contains("abc"), "{e}");
    assert!(e.to_string().contains("line 5"), "{e}");
}

#[test]
fn unknown_root_elements_are_invalid() {
    let e = decode_err(
        b"<?xml version=\"1.0\"?>\n<registry><application/></registry>",
        Format::Xml,
    );
    assert!(e.is_invalid(), "{e}");
    assert!(e.message().contains("registry"), "{e}");
    assert_eq!(e.position().map(|p| p.0), Some(2), "{e}");

    let e = decode_err(br#"{"registry":{"application":[]}}"#, Format::Json);
    assert!(e.is_invalid(), "{e}");
    assert!(e.message().contains("registry"), "{e}");
}

// ---------------------------------------------------------------------------------------
// How unusable input is classified (each of these once failed: kept as regressions).

/// Malformed XML (text outside the root element, a second root, a `<` that opens no valid
/// name) is not well-formed: `is_syntax`, with a position, as garbage JSON is.
#[test]
fn malformed_xml_is_a_syntax_error() {
    let mut wrong = Vec::new();
    for bytes in [
        &b"this is not XML"[..],
        b"<<<>>>",
        b"<applications/>trailing text",
        b"<applications/><applications/>",
    ] {
        let e = decode_err(bytes, Format::Xml);
        if !e.is_syntax() || e.position().is_none() {
            wrong.push(format!("{:?}: {e}", String::from_utf8_lossy(bytes)));
        }
    }
    assert!(
        wrong.is_empty(),
        "not reported as syntax errors:\n{}",
        wrong.join("\n")
    );
}

/// Well-formed JSON that is not a Eureka document (`{}`, `[]`, a two-key root) is
/// `is_invalid`, as `{"registry":...}` is — even where `serde_json` files the error under
/// syntax.
#[test]
fn well_formed_json_that_is_not_eureka_is_invalid() {
    let mut wrong = Vec::new();
    for bytes in [&b"{}"[..], b"[]", br#"{"applications":{},"instance":{}}"#] {
        let e = decode_err(bytes, Format::Json);
        if !e.is_invalid() {
            wrong.push(format!("{}: {e}", String::from_utf8_lossy(bytes)));
        }
    }
    assert!(
        wrong.is_empty(),
        "not reported as invalid:\n{}",
        wrong.join("\n")
    );
}

/// A JSON body that starts with a UTF-8 byte order mark decodes, as an XML one does.
#[test]
fn json_with_a_byte_order_mark_decodes() {
    let body = "\u{feff}{\"instance\":{\"instanceId\":\"a:b:1\",\"status\":\"UP\"}}";
    let (format, document) = decode_any(body.as_bytes()).expect("a JSON body with a BOM");
    assert_eq!(format, Format::Json);
    assert_eq!(single_instance(document).status, Status::Up);
}

/// An out-of-range port names its field in the path, in XML as in JSON.
#[test]
fn xml_out_of_range_port_path_names_the_port() {
    let json = decode_err(br#"{"instance":{"port":{"$":70000}}}"#, Format::Json);
    assert!(json.is_invalid(), "{json}");
    assert_eq!(json.path(), Some("instance.port"), "{json}");

    let xml = decode_err(b"<instance><port>70000</port></instance>", Format::Xml);
    assert!(xml.is_invalid(), "{xml}");
    assert!(xml.message().contains("70000"), "{xml}");
    assert_eq!(xml.path(), Some("instance.port"), "{xml}");
}

/// Nulls and whole floats read as a Java server means them: a null `@enabled` keeps the
/// port's default (secure ports are disabled), null lease intervals keep 30 s / 90 s, and
/// a metadata value of `1.0` stays `"1.0"`.
#[test]
fn nulls_and_whole_floats_keep_their_java_meaning() {
    let body = br#"{"instance":{"instanceId":"a:b:1","status":"UP",
        "port":{"$":80,"@enabled":null},"securePort":{"$":443,"@enabled":null},
        "leaseInfo":{"renewalIntervalInSecs":null,"durationInSecs":null},
        "metadata":{"weight":1.0,"ratio":0.5}}}"#;
    let instance = single_instance(decode(body, Format::Json).unwrap());
    assert!(instance.port.enabled);
    assert!(!instance.secure_port.enabled);
    let lease = instance.lease_info.unwrap();
    assert_eq!(
        (lease.renewal_interval_in_secs, lease.duration_in_secs),
        (30, 90)
    );
    assert_eq!(instance.metadata["weight"], "1.0");
    assert_eq!(instance.metadata["ratio"], "0.5");
}

/// XML text gets XML 1.0's end-of-line handling: `\r\n` and `\r` read as `\n`.
#[test]
fn xml_text_line_ends_are_normalized() {
    let body = b"<instance><instanceId>a:b:1</instanceId><app>line one\r\nline two\rthree</app></instance>";
    let instance = single_instance(decode(body, Format::Xml).unwrap());
    assert_eq!(instance.app, "line one\nline two\nthree");
}

/// The XML writer refuses a data-center class XML cannot carry, as it does element text.
#[test]
fn xml_writer_refuses_a_class_attribute_it_cannot_carry() {
    let mut instance = sd_eureka::InstanceInfo::new("orders", "a", "10.0.0.1", 80);
    instance.data_center_info.class = "bad\u{1}class".to_owned();
    let err = sd_eureka::encode_instance(&instance, Format::Xml).unwrap_err();
    assert!(
        matches!(&err, sd_eureka::EncodeError::XmlChar { field, .. } if field == "dataCenterInfo class"),
        "{err}"
    );
    assert!(sd_eureka::encode_instance(&instance, Format::Json).is_ok());
}
