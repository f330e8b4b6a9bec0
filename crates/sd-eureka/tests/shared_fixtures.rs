//! Every payload in `../shared/fixtures/eureka/` (real server output collected from public
//! repositories) and `../shared/fixtures/eureka-netflix/` (produced by Netflix's own Eureka
//! server), decoded and checked against what the file itself shows and what its
//! `SOURCES.md` row says.
//!
//! The expectations are tables keyed by file name, one check per file; a test compares
//! the tables with the directory listings so that a new file cannot go unchecked.
//! Without `../shared` (the project does not ship those files) every test here says so on
//! one line and passes.
//!
//! Which documents carry an `apps__hashcode` that matches their own content, and which do
//! not on purpose:
//! - full registries (`GET apps` in any form, the empty ones, the 10k registries, the
//!   prometheus, gitbook, goeureka and steeltoe registries) match;
//! - the fargo samples are trimmed from a registry of 24 instances and keep its
//!   `UP_24_`; the atlas VIP payload keeps its registry's `STARTING_90_UP_828_`; the
//!   asgard list has no hash code at all;
//! - a delta's hash code describes the registry after the delta, not the delta: only
//!   the Netflix delta taken right after every registration (so holding every instance)
//!   matches its content, and `applications-delta.*` (made with the server's codecs, not
//!   by a running server) matches no registry these files hold.

// Timestamps are compared with the digits the payloads carry.
#![allow(clippy::unreadable_literal)]

mod common;

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

use common::{app_names, decode_path, format_of, ids, instance, metadata, root_kind};
use sd_eureka::{
    AMAZON_DATA_CENTER_CLASS, ActionType, Application, Applications, DEFAULT_DATA_CENTER_CLASS,
    Document, Format, InstanceInfo, LeaseInfo, Port, Status,
};

const EUREKA: &str = "eureka";
const NETFLIX: &str = "eureka-netflix";

/// `../shared/fixtures` from the workspace root, or `None` (said once) when it is absent.
fn shared_fixtures() -> Option<PathBuf> {
    static SAID: Once = Once::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if root.is_dir() {
        return Some(root);
    }
    // Through the stderr handle, not eprintln!: the test harness captures the macros, and
    // this line must reach the person (or CI log) running the suite.
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "skipping shared fixtures: ../shared/fixtures not found"
        );
    });
    None
}

/// Decodes `dir/name` (only called once the directory is known to be there).
fn load(dir: &str, name: &str) -> Document {
    let root = shared_fixtures().expect("../shared/fixtures");
    decode_path(&root.join(dir).join(name))
}

/// A decoded shared fixture, handed to its check.
struct Fixture {
    name: &'static str,
    format: Format,
    document: Document,
}

impl Fixture {
    fn expect_format(&self, format: Format) {
        assert_eq!(self.format, format, "{}: format", self.name);
    }

    fn registry(self, format: Format) -> Applications {
        self.expect_format(format);
        common::registry(self.document)
    }

    fn app(self, format: Format) -> Application {
        self.expect_format(format);
        common::single_app(self.document)
    }

    fn instance(self, format: Format) -> InstanceInfo {
        self.expect_format(format);
        common::single_instance(self.document)
    }
}

type Check = fn(Fixture);

/// `../shared/fixtures/eureka/`, every file but `SOURCES.md`.
const EUREKA_FILES: &[(&str, Check)] = &[
    (
        "asgard__ApplicationInstanceSpec.instanceXml.xml",
        asgard_instance_2012,
    ),
    (
        "asgard__EurekaServiceUnitSpec.APP_INSTANCES_LIST_XML.xml",
        asgard_instances_list,
    ),
    (
        "asgard__EurekaServiceUnitSpec.APP_INSTANCE_XML.xml",
        asgard_instance,
    ),
    ("fargo__apps-sample-1-1-post-v122.json", fargo_1_1),
    ("fargo__apps-sample-1-1.json", fargo_1_1),
    ("fargo__apps-sample-1-2.json", fargo_1_2),
    ("fargo__apps-sample-2-2.json", fargo_2_2),
    ("gitbook-notes-15659185023__apps.xml", gitbook_apps),
    (
        "gitbook-notes-15659185023__apps_license-service.xml",
        gitbook_app,
    ),
    (
        "goeureka__goeureka_test.GetServiceInstances.apps_APP.json",
        goeureka_app,
    ),
    (
        "goeureka__goeureka_test.GetServices.apps.json",
        goeureka_apps,
    ),
    (
        "magnus-eureka-server__EurekaServerApplicationTests.catalogLoads.json",
        magnus_empty,
    ),
    (
        "netflix-localeurekaserver__LocalEurekaServer.fullVipPayload.json",
        atlas_vip,
    ),
    (
        "prometheus__eureka_test.TestEurekaSDEmptyList.xml",
        prometheus_empty,
    ),
    (
        "prometheus__eureka_test.TestEurekaSDSendGroup.xml",
        prometheus_send_group,
    ),
    (
        "steeltoe__DiscoveryClientTest.FetchRegistryDeltaAsync.json",
        steeltoe_delta,
    ),
    (
        "steeltoe__EurekaHttpClientTest.GetApplicationAsync.json",
        steeltoe_app,
    ),
    (
        "steeltoe__EurekaHttpClientTest.GetApplicationsAsync.json",
        steeltoe_apps,
    ),
    (
        "steeltoe__EurekaHttpClientTest.GetInstanceAsync.json",
        steeltoe_instance,
    ),
];

/// `../shared/fixtures/eureka-netflix/`, every file but `SOURCES.md`.
const NETFLIX_FILES: &[(&str, Check)] = &[
    ("GET-app-ORDERS.json", netflix_app_orders),
    ("GET-app-ORDERS.xml", netflix_app_orders),
    ("GET-apps-delta.json", netflix_apps_delta),
    ("GET-apps-delta.xml", netflix_apps_delta),
    ("GET-apps.compact.json", netflix_apps_compact),
    ("GET-apps.compact.xml", netflix_apps_compact),
    ("GET-apps.json", netflix_apps),
    ("GET-apps.xml", netflix_apps),
    ("GET-instance-oos.json", netflix_instance_oos),
    ("GET-instance-oos.xml", netflix_instance_oos),
    ("GET-instance.json", netflix_instance),
    ("GET-instance.xml", netflix_instance),
    ("GET-vips-orders.json", netflix_vips_orders),
    (
        "applications-delta.LegacyJacksonJson.json",
        netflix_codec_delta,
    ),
    ("applications-delta.XStreamXml.xml", netflix_codec_delta),
    ("registry-10k.json.gz", registry_10k),
    ("registry-10k.xml.gz", registry_10k),
];

#[test]
fn the_tables_name_every_shared_fixture_file() {
    let Some(root) = shared_fixtures() else {
        return;
    };
    for (dir, table) in [(EUREKA, EUREKA_FILES), (NETFLIX, NETFLIX_FILES)] {
        let path = root.join(dir);
        let mut listed: Vec<String> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|entry| entry.expect("a directory entry").file_name())
            .map(|name| name.into_string().expect("a UTF-8 file name"))
            .filter(|name| name != "SOURCES.md")
            .collect();
        listed.sort();
        let mut expected: Vec<String> = table.iter().map(|(name, _)| (*name).to_owned()).collect();
        expected.sort();
        assert_eq!(
            listed, expected,
            "{dir}: the files on disk and the files this test checks differ"
        );
    }
}

/// Runs every check of `table`, reporting every failing file rather than the first.
fn run_table(dir: &'static str, table: &[(&'static str, Check)]) {
    let Some(root) = shared_fixtures() else {
        return;
    };
    let mut failures = Vec::new();
    for &(name, check) in table {
        let path = root.join(dir).join(name);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let document = decode_path(&path);
            let format = format_of(&path);
            check(Fixture {
                name,
                format,
                document,
            });
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{dir}/{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[test]
fn every_public_payload_decodes_to_what_it_shows() {
    run_table(EUREKA, EUREKA_FILES);
}

#[test]
fn every_netflix_payload_decodes_to_what_it_shows() {
    run_table(NETFLIX, NETFLIX_FILES);
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn port_text(port: Port) -> String {
    format!("{}{}", port.port, if port.enabled { '+' } else { '-' })
}

/// One instance on one line: `APP id STATUS ip:port port± securePort± [ACTION]`, where `+`
/// is an enabled port and `-` a disabled one.
fn row(app: &str, i: &InstanceInfo) -> String {
    let mut row = format!(
        "{app} {} {} {} {} {}",
        i.instance_id,
        i.status,
        i.address(),
        port_text(i.port),
        port_text(i.secure_port)
    );
    if let Some(action) = i.action_type {
        row.push(' ');
        row.push_str(action.as_str());
    }
    row
}

fn rows(apps: &Applications) -> Vec<String> {
    apps.instances().map(|(app, i)| row(app, i)).collect()
}

/// A full registry: its hash code is the document's, and matches its content.
fn assert_full_registry(apps: &Applications, hash: &str) {
    assert_eq!(apps.apps_hashcode.as_deref(), Some(hash), "apps__hashcode");
    assert_eq!(apps.reconcile_hash_code(), hash, "reconcile hash code");
    assert!(apps.is_consistent());
}

fn lease(registered: i64, renewed: i64, up: i64) -> LeaseInfo {
    LeaseInfo {
        renewal_interval_in_secs: 30,
        duration_in_secs: 90,
        registration_timestamp: registered,
        last_renewal_timestamp: renewed,
        eviction_timestamp: 0,
        service_up_timestamp: up,
    }
}

fn assert_my_own(i: &InstanceInfo) {
    let dc = &i.data_center_info;
    assert_eq!(
        (dc.name.as_str(), dc.class.as_str()),
        ("MyOwn", DEFAULT_DATA_CENTER_CLASS),
        "{}",
        i.instance_id
    );
    assert!(dc.metadata.is_empty(), "{}", i.instance_id);
}

fn assert_amazon(i: &InstanceInfo, zone: &str) {
    let dc = &i.data_center_info;
    assert_eq!(
        (dc.name.as_str(), dc.class.as_str()),
        ("Amazon", AMAZON_DATA_CENTER_CLASS),
        "{}",
        i.instance_id
    );
    assert!(dc.is_amazon());
    assert_eq!(dc.availability_zone(), Some(zone), "{}", i.instance_id);
}

// ---------------------------------------------------------------------------------------
// ../shared/fixtures/eureka/

/// 2012-era instance: no `instanceId`, `AmazonInfo`, obsolete `version`, `sid`,
/// `identifyingAttribute` and `leaseInfo/clock`, no `lastDirtyTimestamp`.
fn asgard_instance_2012(f: Fixture) {
    let i = f.instance(Format::Xml);
    // No <instanceId>: the id is the data center's instance-id, which this anonymised
    // payload sets to the literal text "instanceId" (quirk 9).
    assert_eq!(
        row(&i.app, &i),
        "APP instanceId UP 255.255.255.0:8888 8888+ 9999- ADDED"
    );
    assert_eq!(i.host_name, "hostName");
    assert_eq!(i.overridden_status, Status::Unknown);
    assert_amazon(&i, "us-east-1c");
    let dc = &i.data_center_info.metadata;
    assert_eq!(dc.len(), 7);
    assert_eq!(dc["instance-id"], "instanceId");
    assert_eq!(dc["public-ipv4"], "111.222.333.444");
    assert_eq!(dc["instance-type"], "m2.2xlarge");
    assert_eq!(dc["ami-id"], "ami-1111111");
    // `clock` is ignored; serviceUpTimestamp is absent.
    assert_eq!(i.lease_info, Some(lease(1333504274856, 1333575889624, 0)));
    assert!(i.metadata.is_empty());
    assert_eq!(
        i.home_page_url.as_deref(),
        Some("http://something.compute-1.amazonaws.com:7001/")
    );
    assert_eq!(i.vip_address.as_deref(), Some("something"));
    assert_eq!(i.secure_vip_address, None);
    assert!(!i.is_coordinating_discovery_server);
    assert_eq!(i.last_updated_timestamp, 1333504274856);
    assert_eq!(i.last_dirty_timestamp, 0);
}

/// Netflix 2013 `/v2/apps`, trimmed in the test it comes from: no `versions__delta` and no
/// `apps__hashcode`, so it cannot be consistent.
fn asgard_instances_list(f: Fixture) {
    let apps = f.registry(Format::Xml);
    assert_eq!(app_names(&apps), ["EMP_UI", "EXAMPLECONTENTSERVER"]);
    assert_eq!(apps.versions_delta, None);
    assert_eq!(apps.apps_hashcode, None);
    assert!(!apps.is_consistent());
    assert_eq!(apps.reconcile_hash_code(), "UP_2_");
    // Neither instance has an instanceId: both ids are the Amazon instance-id.
    assert_eq!(
        rows(&apps),
        [
            "EMP_UI i-89e4a4c1 UP 10.261.13.199:7001 7001+ 7002- ADDED",
            "EXAMPLECONTENTSERVER i-9856bcf4 UP 10.218.31.148:7001 7001+ 7002- ADDED",
        ]
    );
    let ui = instance(&apps, "i-89e4a4c1");
    assert_amazon(ui, "us-east-1e");
    assert_eq!(ui.data_center_info.metadata["ami-id"], "ami-1b8ee372");
    assert_eq!(
        ui.metadata,
        metadata(&[
            ("enableRoute53", "true"),
            ("route53ttl", "60"),
            ("route53Type", "A"),
            ("route53NamePrefix", "empui.us-east-1"),
        ])
    );
    assert_eq!(ui.vip_address.as_deref(), Some("10.261.13.199:7001"));
    assert_eq!(ui.last_dirty_timestamp, 1368473393882);
    let content = instance(&apps, "i-9856bcf4");
    assert_amazon(content, "us-east-1d");
    assert_eq!(
        content.data_center_info.metadata["public-ipv4"],
        "68.173.221.105"
    );
    assert_eq!(
        content.host_name,
        "ec2-68-173-221-105.compute-1.amazonaws.com"
    );
    assert!(content.metadata.is_empty(), "EmptyMap");
    assert_eq!(
        content.lease_info,
        Some(lease(1368382975624, 1368486272657, 0))
    );
}

fn asgard_instance(f: Fixture) {
    let i = f.instance(Format::Xml);
    assert_eq!(
        row(&i.app, &i),
        "FISHFOOD i-deadbeef UP 10.268.79.93:7001 7001+ 7002- ADDED"
    );
    assert_eq!(
        i.host_name,
        "ec2-68-201-34-107.us-west-2.compute.amazonaws.com"
    );
    assert_amazon(&i, "us-west-2b");
    assert_eq!(i.data_center_info.metadata["public-ipv4"], "68.201.34.107");
    assert_eq!(i.data_center_info.metadata["instance-type"], "m2.4xlarge");
    assert!(i.metadata.is_empty(), "EmptyMap");
    assert_eq!(i.vip_address.as_deref(), Some("fishfood:7001"));
    assert_eq!(i.lease_info, Some(lease(1368734751061, 1368734870644, 0)));
    assert_eq!(i.last_updated_timestamp, 1368734751061);
    assert_eq!(i.last_dirty_timestamp, 1368734730577);
}

const FARGO_METRICSD: &str =
    "TESTENG.METRICSD 192.168.40.94:7101 UP 192.168.40.94:7101 7101+ 7101+ MODIFIED";
const FARGO_LSM: [&str; 2] = [
    "TESTENG.LSM qa16gs.qa.somecompany.com:7100 UP 192.168.191.150:7100 7100+ 7100+ ADDED",
    "TESTENG.LSM qa22gs:7100 UP 192.168.191.235:7100 7100+ 7100+ ADDED",
];

/// The fargo samples are trimmed from a 24-instance registry and keep its `UP_24_`.
fn assert_fargo_trimmed(apps: &Applications, instances: usize) {
    assert_eq!(apps.versions_delta, Some(1));
    assert_eq!(apps.apps_hashcode.as_deref(), Some("UP_24_"));
    assert_eq!(apps.reconcile_hash_code(), format!("UP_{instances}_"));
    assert!(!apps.is_consistent());
}

/// One app whose one instance is an object; no `instanceId` (`MyOwn`: the id is the host
/// name). Before 1.2.2 `$` and `versions__delta` are strings / a number; after, the other
/// way round: both decode to the same registry.
fn fargo_1_1(f: Fixture) {
    let name = f.name;
    let apps = f.registry(Format::Json);
    assert_eq!(app_names(&apps), ["TESTENG.METRICSD"]);
    assert_fargo_trimmed(&apps, 1);
    assert_eq!(rows(&apps), [FARGO_METRICSD]);
    let i = &apps.applications[0].instances[0];
    assert_eq!(i.host_name, "192.168.40.94:7101");
    assert_eq!(i.overridden_status, Status::Up);
    assert_my_own(i);
    assert_eq!(
        i.metadata,
        metadata(&[
            ("service-query-uri", "https://192.168.40.94:7101"),
            ("base-uri", "https://192.168.40.94:7101"),
            ("swagger-api-docs", "https://192.168.40.94:7101/api-docs"),
        ])
    );
    assert_eq!(i.vip_address.as_deref(), Some("[]"));
    assert!(!i.is_coordinating_discovery_server);
    assert_eq!(i.last_updated_timestamp, 1402450388774);
    assert_eq!(i.last_dirty_timestamp, 1402450388774);
    assert_eq!(
        i.lease_info,
        Some(lease(1402450388650, 1402552694257, 1402450388774))
    );
    let twin = if name.contains("post-v122") {
        "fargo__apps-sample-1-1.json"
    } else {
        "fargo__apps-sample-1-1-post-v122.json"
    };
    assert_eq!(
        Document::Applications(apps),
        load(EUREKA, twin),
        "vs {twin}"
    );
}

fn fargo_1_2(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_eq!(app_names(&apps), ["TESTENG.LSM"]);
    assert_fargo_trimmed(&apps, 2);
    assert_eq!(rows(&apps), FARGO_LSM);
    let first = instance(&apps, "qa16gs.qa.somecompany.com:7100");
    assert_eq!(first.overridden_status, Status::Unknown);
    assert_eq!(first.vip_address.as_deref(), Some("[test.lax1.qa16]"));
    assert_eq!(first.last_dirty_timestamp, 1402357289731);
    assert_eq!(
        first.metadata["swagger-api-docs"],
        "https://qa16gs.qa.somecompany.com:7100/api-docs"
    );
    let second = instance(&apps, "qa22gs:7100");
    assert_eq!(second.host_name, "qa22gs:7100");
    assert_eq!(second.last_dirty_timestamp, 1401527685391);
}

/// Two apps: the first's instance an object, the second's an array. The apps are those of
/// samples 1-1 and 1-2.
fn fargo_2_2(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_fargo_trimmed(&apps, 3);
    assert_eq!(app_names(&apps), ["TESTENG.METRICSD", "TESTENG.LSM"]);
    let mut expected = vec![FARGO_METRICSD];
    expected.extend(FARGO_LSM);
    assert_eq!(rows(&apps), expected);
    let one = common::registry(load(EUREKA, "fargo__apps-sample-1-1.json"));
    let two = common::registry(load(EUREKA, "fargo__apps-sample-1-2.json"));
    assert_eq!(apps.applications[0], one.applications[0]);
    assert_eq!(apps.applications[1], two.applications[0]);
}

const LICENSE_SERVICE: &str =
    "LICENSE-SERVICE localhost:license-service:8080 UP 192.168.157.1:8080 8080+ 443- ADDED";

fn gitbook_apps(f: Fixture) {
    let apps = f.registry(Format::Xml);
    assert_eq!(app_names(&apps), ["LICENSE-SERVICE"]);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, "UP_1_");
    assert_eq!(rows(&apps), [LICENSE_SERVICE]);
    let i = &apps.applications[0].instances[0];
    assert_eq!(i.host_name, "192.168.157.1");
    assert_my_own(i);
    assert_eq!(i.metadata, metadata(&[("management.port", "8080")]));
    assert_eq!(
        i.status_page_url.as_deref(),
        Some("http://192.168.157.1:8080/actuator/info")
    );
    assert_eq!(i.secure_vip_address.as_deref(), Some("license-service"));
    assert_eq!(
        i.lease_info,
        Some(lease(1702034771688, 1702034771688, 1702034771082))
    );
    assert_eq!(i.last_dirty_timestamp, 1702034772143);
}

/// The same instance as `gitbook…__apps.xml`, with a later `lastRenewalTimestamp`.
fn gitbook_app(f: Fixture) {
    let app = f.app(Format::Xml);
    assert_eq!(app.name, "LICENSE-SERVICE");
    assert_eq!(app.instances.len(), 1);
    let i = &app.instances[0];
    assert_eq!(row(&app.name, i), LICENSE_SERVICE);
    assert_eq!(
        i.lease_info.map(|l| l.last_renewal_timestamp),
        Some(1702035011633)
    );
    let registry = common::registry(load(EUREKA, "gitbook-notes-15659185023__apps.xml"));
    let mut earlier = registry.applications[0].instances[0].clone();
    earlier.lease_info = i.lease_info;
    assert_eq!(*i, earlier);
}

/// Spring Cloud, compact JSON body of `GET /eureka/apps/myMicroservice2`.
fn goeureka_app(f: Fixture) {
    let app = f.app(Format::Json);
    assert_eq!(app.name, "MYMICROSERVICE2");
    assert_eq!(app.instances.len(), 1);
    let i = &app.instances[0];
    assert_eq!(
        row(&app.name, i),
        "MYMICROSERVICE2 10.8.30.55:myMicroservice2:338445840785870848 UP 10.8.30.55:8080 8080+ 8443+ ADDED"
    );
    assert_eq!(i.overridden_status, Status::Unknown);
    assert_my_own(i);
    assert_eq!(
        i.metadata,
        metadata(&[("instanceId", "myMicroservice2:338445840785870848")])
    );
    assert_eq!(i.vip_address.as_deref(), Some("MYMICROSERVICE2"));
    assert_eq!(i.secure_vip_address, None);
    assert!(!i.is_coordinating_discovery_server);
    assert_eq!(i.last_updated_timestamp, 1606976861357);
    assert_eq!(i.last_dirty_timestamp, 1606976860846);
    assert_eq!(
        i.lease_info,
        Some(lease(1606976861357, 1606976861357, 1606976860846))
    );
    // As a registry it has no hash code of its own.
    let apps = Document::Application(app).into_applications();
    assert_eq!(apps.reconcile_hash_code(), "UP_1_");
}

fn goeureka_apps(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_eq!(app_names(&apps), ["EUREKACONSUMER"]);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, "UP_1_");
    assert_eq!(
        rows(&apps),
        ["EUREKACONSUMER DESKTOP-SR3A9FI:eurekaconsumer:9002 UP 10.8.30.55:9002 9002+ 443- ADDED"]
    );
    let i = &apps.applications[0].instances[0];
    assert_eq!(i.host_name, "10.8.30.55");
    assert_eq!(i.metadata, metadata(&[("management.port", "9002")]));
    assert_eq!(i.secure_vip_address.as_deref(), Some("eurekaconsumer"));
    assert_eq!(i.last_dirty_timestamp, 1606972240190);
}

/// The exact empty registry a live Spring Cloud server answers.
fn magnus_empty(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_eq!(apps.versions_delta, Some(1));
    assert!(apps.applications.is_empty());
    assert_full_registry(&apps, "");
}

/// One instance of a VIP from a registry of 918 instances, keeping that registry's hash
/// code: not consistent on its own.
fn atlas_vip(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_eq!(app_names(&apps), ["ATLAS_LWCAPI"]);
    assert_eq!(apps.versions_delta, Some(1));
    assert_eq!(apps.apps_hashcode.as_deref(), Some("STARTING_90_UP_828_"));
    assert_eq!(apps.reconcile_hash_code(), "UP_1_");
    assert!(!apps.is_consistent());
    assert_eq!(
        rows(&apps),
        ["ATLAS_LWCAPI nfml-mazimmerKXH UP 127.0.0.1:63636 63636+ 7004+ ADDED"]
    );
    let i = &apps.applications[0].instances[0];
    assert_eq!(i.app_group_name.as_deref(), Some("UNKNOWN"));
    assert_eq!(
        i.secure_health_check_url.as_deref(),
        Some("https://127.0.0.1:7004/lwc/healthcheck")
    );
    assert_eq!(
        i.vip_address.as_deref(),
        Some("atlas_lwcapi-local:63636,atlas_lwcapi-local:7101")
    );
    assert_amazon(i, "lg-f-2");
    let dc = &i.data_center_info.metadata;
    assert_eq!(dc.len(), 10);
    assert_eq!(dc["vpc-id"], "vpc-9ae2c628");
    assert_eq!(dc["accountId"], "149510111645");
    assert_eq!(dc["mac"], "0a:26:89:6c:bf:42");
    assert_eq!(
        i.metadata,
        metadata(&[
            ("ec2InstanceId", "nfml-mazimmerKXH"),
            ("eureka.client.initTime", "1534890062292"),
        ])
    );
    assert_eq!(i.overridden_status, Status::Unknown);
    // A boolean and numbers here, strings elsewhere (quirk 5).
    assert!(!i.is_coordinating_discovery_server);
    assert_eq!(i.last_updated_timestamp, 1534890111109);
    assert_eq!(i.last_dirty_timestamp, 1534890110941);
}

fn prometheus_empty(f: Fixture) {
    let apps = f.registry(Format::Xml);
    assert_eq!(apps.versions_delta, Some(1));
    assert!(apps.applications.is_empty());
    // <apps__hashcode/> is the empty hash code, which an empty registry has.
    assert_full_registry(&apps, "");
}

fn prometheus_send_group(f: Fixture) {
    let apps = f.registry(Format::Xml);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, "UP_4_");
    assert_eq!(app_names(&apps), ["CONFIG-SERVICE", "META-SERVICE"]);
    assert_eq!(
        rows(&apps),
        [
            "CONFIG-SERVICE config-service001.test.com:config-service:8080 UP 192.133.83.31:8080 8080+ 8080- ADDED",
            "CONFIG-SERVICE config-service002.test.com:config-service:8080 UP 192.133.83.31:8080 8080+ 8080- ADDED",
            "META-SERVICE meta-service002.test.com:meta-service:8080 UP 192.133.87.237:8080 8080+ 443- ADDED",
            "META-SERVICE meta-service001.test.com:meta-service:8080 UP 192.133.87.236:8080 8080+ 443- ADDED",
        ]
    );
    let config = instance(&apps, "config-service001.test.com:config-service:8080");
    // The typo of the source (a space for ':') is kept verbatim.
    assert_eq!(
        config.health_check_url.as_deref(),
        Some("http://config-service001.test.com 8080/health")
    );
    assert_eq!(
        config.metadata,
        metadata(&[(
            "instanceId",
            "config-service001.test.com:config-service:8080"
        )])
    );
    assert_eq!(config.secure_vip_address, None);
    let meta = instance(&apps, "meta-service001.test.com:meta-service:8080");
    assert_eq!(
        meta.metadata,
        metadata(&[("project", "meta-service"), ("management.port", "8090")])
    );
    assert_eq!(meta.secure_vip_address.as_deref(), Some("meta-service"));
    assert_eq!(
        meta.lease_info,
        Some(lease(1535444352472, 1596110168846, 1535444352472))
    );
}

const STEELTOE_FOO: &str = "FOO localhost:foo UP 192.168.56.1:8080 8080+ 443-";

/// A `/apps/delta` answer: one MODIFIED instance. Applied to the registry of
/// `GetApplicationsAsync` (the same instance), the result matches the delta's `UP_1_`.
fn steeltoe_delta(f: Fixture) {
    let delta = f.registry(Format::Json);
    assert_eq!(app_names(&delta), ["FOO"]);
    assert_eq!(delta.versions_delta, Some(3));
    assert_eq!(delta.apps_hashcode.as_deref(), Some("UP_1_"));
    assert_eq!(rows(&delta), [format!("{STEELTOE_FOO} MODIFIED")]);
    let i = &delta.applications[0].instances[0];
    assert_eq!(i.overridden_status, Status::Unknown);
    assert!(i.metadata.is_empty());

    let mut local = common::registry(load(
        EUREKA,
        "steeltoe__EurekaHttpClientTest.GetApplicationsAsync.json",
    ));
    local.apply_delta(&delta);
    assert_eq!(local.versions_delta, Some(3));
    assert_eq!(ids(&local), ["localhost:foo"]);
    assert_eq!(local.applications[0].instances[0].action_type, None);
    assert!(local.is_consistent());
}

fn steeltoe_app(f: Fixture) {
    let app = f.app(Format::Json);
    assert_eq!(app.name, "FOO");
    assert_eq!(app.instances.len(), 1);
    let i = &app.instances[0];
    assert_eq!(row(&app.name, i), format!("{STEELTOE_FOO} ADDED"));
    assert_eq!(i.overridden_status, Status::Unknown);
    assert!(i.metadata.is_empty());
    assert_eq!(i.vip_address.as_deref(), Some("foo"));
    assert_eq!(i.last_updated_timestamp, 1458152330783);
    assert_eq!(i.last_dirty_timestamp, 1458152330696);
    assert_eq!(
        i.lease_info,
        Some(lease(1458152330783, 1458243422342, 1458152330783))
    );
}

fn steeltoe_apps(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_eq!(app_names(&apps), ["FOO"]);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, "UP_1_");
    assert_eq!(rows(&apps), [format!("{STEELTOE_FOO} ADDED")]);
    let i = &apps.applications[0].instances[0];
    assert_my_own(i);
    assert!(i.metadata.is_empty(), "EmptyMap");
    assert!(!i.is_coordinating_discovery_server);
    assert_eq!(i.last_updated_timestamp, 1457714988223);
    assert_eq!(i.last_dirty_timestamp, 1457714988172);
    assert_eq!(
        i.lease_info,
        Some(lease(1457714988223, 1457716158319, 1457714988223))
    );
}

/// Client-generated: boolean `@enabled`, nulls, `renewalTimestamp`, nested null metadata.
fn steeltoe_instance(f: Fixture) {
    let i = f.instance(Format::Json);
    assert_eq!(
        row(&i.app, &i),
        "FOOBAR DESKTOP-GNQ5SUT UP 192.168.0.147:80 80+ 443- ADDED"
    );
    assert_eq!(i.host_name, "DESKTOP-GNQ5SUT");
    assert_eq!(i.app_group_name, None);
    assert_eq!(i.secure_health_check_url, None);
    assert_eq!(
        i.home_page_url.as_deref(),
        Some("http://DESKTOP-GNQ5SUT:80/")
    );
    assert_eq!(i.vip_address.as_deref(), Some("DESKTOP-GNQ5SUT:80"));
    assert_eq!(i.secure_vip_address.as_deref(), Some("DESKTOP-GNQ5SUT:443"));
    assert!(i.metadata.is_empty(), "{:?}", i.metadata);
    assert_eq!(i.lease_info, Some(lease(0, 0, 0)));
    assert_eq!(i.overridden_status, Status::Unknown);
    assert_my_own(&i);
    assert_eq!(i.last_updated_timestamp, 1458116137663);
    assert_eq!(i.last_dirty_timestamp, 1458116137663);
}

// ---------------------------------------------------------------------------------------
// ../shared/fixtures/eureka-netflix/

const N_ORDERS_1: &str =
    "ORDERS orders-1.example.local:orders:8080 UP 10.0.0.11:8080 8080+ 8443+ ADDED";
const N_ORDERS_AWS: &str = "ORDERS i-0abc123def4567890 DOWN 10.0.0.12:8080 8080+ 443- ADDED";
const N_PAYMENTS: &str = "PAYMENTS payments-1:9090 OUT_OF_SERVICE 10.0.1.5:9090 9090+ 9443+ ADDED";
const N_INVENTORY: &str = "INVENTORY inventory-1:7001 STARTING 10.0.2.7:7001 7001+ 7002- ADDED";
const N_HASH: &str = "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UP_1_";

/// The ORDERS instance in Amazon, in full (non-compact) form.
fn assert_orders_aws(i: &InstanceInfo) {
    assert_eq!(i.host_name, "ec2-54-1-2-3.compute-1.amazonaws.com");
    assert_eq!(i.overridden_status, Status::Unknown);
    assert_amazon(i, "us-east-1a");
    let dc = &i.data_center_info.metadata;
    assert_eq!(dc.len(), 10);
    assert_eq!(dc["instance-id"], "i-0abc123def4567890");
    assert_eq!(dc["accountId"], "123456789012");
    assert_eq!(dc["vpc-id"], "vpc-0abc");
    assert_eq!(dc["public-ipv4"], "54.1.2.3");
    assert_eq!(i.metadata, metadata(&[("asg", "orders-v001")]));
    assert_eq!(i.app_group_name.as_deref(), Some("ORDERS-GROUP"));
    assert_eq!(
        i.secure_health_check_url.as_deref(),
        Some("https://ec2-54-1-2-3.compute-1.amazonaws.com:443/health")
    );
    assert_eq!(i.lease_info, Some(lease(1795289726316, 1795289726316, 0)));
    assert_eq!(i.last_updated_timestamp, 1795289726316);
    assert_eq!(i.last_dirty_timestamp, 1700000000902);
}

/// The plain ORDERS instance, in full form.
fn assert_orders_1(i: &InstanceInfo) {
    assert_eq!(i.host_name, "orders-1.example.local");
    assert_eq!(i.overridden_status, Status::Unknown);
    assert_my_own(i);
    assert_eq!(
        i.metadata,
        metadata(&[
            ("zone", "zone-a"),
            ("management.port", "8081"),
            ("version", "1.2.3"),
        ])
    );
    assert_eq!(i.vip_address.as_deref(), Some("orders"));
    assert_eq!(i.secure_vip_address.as_deref(), Some("orders-secure"));
    assert_eq!(
        i.health_check_url.as_deref(),
        Some("http://orders-1.example.local:8080/health")
    );
    assert_eq!(
        i.lease_info,
        Some(lease(1795289726284, 1795289726284, 1795289726284))
    );
    assert!(!i.is_coordinating_discovery_server);
    assert_eq!(i.last_updated_timestamp, 1795289726284);
    assert_eq!(i.last_dirty_timestamp, 1700000000901);
}

/// The PAYMENTS instance with its `OUT_OF_SERVICE` override, in full form (status aside).
fn assert_payments(i: &InstanceInfo) {
    assert_eq!(i.overridden_status, Status::OutOfService);
    assert_eq!(i.metadata, metadata(&[("team", "pay")]));
    assert_eq!(i.app_group_name.as_deref(), Some("PAYMENTS-GROUP"));
    assert_eq!(i.secure_vip_address.as_deref(), Some("payments-secure"));
    assert_eq!(i.lease_info, Some(lease(1795289726330, 1795289816360, 0)));
    assert_eq!(i.last_dirty_timestamp, 1700000000903);
}

fn netflix_app_orders(f: Fixture) {
    let format = f.format;
    let app = f.app(format);
    assert_eq!(app.name, "ORDERS");
    let apps = Document::Application(app).into_applications();
    assert_eq!(rows(&apps), [N_ORDERS_AWS, N_ORDERS_1]);
    assert_orders_aws(instance(&apps, "i-0abc123def4567890"));
    assert_orders_1(instance(&apps, "orders-1.example.local:orders:8080"));
    assert_eq!(apps.reconcile_hash_code(), "DOWN_1_UP_1_");
}

/// Right after the four registrations every instance is in the delta, so its content is
/// the whole registry and matches its hash code; applied to an empty registry it gives
/// `GET apps`' instances.
fn netflix_apps_delta(f: Fixture) {
    let format = f.format;
    let delta = f.registry(format);
    assert_eq!(app_names(&delta), ["ORDERS", "PAYMENTS", "INVENTORY"]);
    // The JSON was fetched at registry version 1, the XML after a second change.
    let version = if format == Format::Json { 1 } else { 2 };
    assert_eq!(delta.versions_delta, Some(version));
    assert_full_registry(&delta, N_HASH);
    assert_eq!(
        rows(&delta),
        [N_ORDERS_1, N_ORDERS_AWS, N_PAYMENTS, N_INVENTORY]
    );
    assert_orders_aws(instance(&delta, "i-0abc123def4567890"));
    assert_payments(instance(&delta, "payments-1:9090"));

    let mut local = Applications::default();
    local.apply_delta(&delta);
    assert!(local.is_consistent());
    let mut got: Vec<String> = rows(&local);
    let full = common::registry(load(NETFLIX, "GET-apps.json"));
    let mut want: Vec<String> = full
        .instances()
        .map(|(app, i)| row(app, i).trim_end_matches(" ADDED").to_owned())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// `X-Eureka-Accept: compact`: no `leaseInfo`, metadata, URLs, `overriddenStatus` or
/// `lastDirtyTimestamp` (quirk 12).
fn netflix_apps_compact(f: Fixture) {
    let format = f.format;
    let apps = f.registry(format);
    assert_eq!(app_names(&apps), ["PAYMENTS", "INVENTORY", "ORDERS"]);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, N_HASH);
    assert_eq!(
        rows(&apps),
        [N_PAYMENTS, N_INVENTORY, N_ORDERS_AWS, N_ORDERS_1]
    );
    for (_, i) in apps.instances() {
        assert_eq!(i.lease_info, None, "{}", i.instance_id);
        assert!(i.metadata.is_empty(), "{}", i.instance_id);
        assert_eq!(i.home_page_url, None, "{}", i.instance_id);
        assert_eq!(i.status_page_url, None, "{}", i.instance_id);
        assert_eq!(i.health_check_url, None, "{}", i.instance_id);
        assert_eq!(i.secure_health_check_url, None, "{}", i.instance_id);
        assert_eq!(i.app_group_name, None, "{}", i.instance_id);
        // PAYMENTS has an override, but the compact form does not say so.
        assert_eq!(i.overridden_status, Status::Unknown, "{}", i.instance_id);
        assert_eq!(i.last_dirty_timestamp, 0, "{}", i.instance_id);
        assert!(i.vip_address.is_some(), "{}", i.instance_id);
    }
    let aws = instance(&apps, "i-0abc123def4567890");
    assert_amazon(aws, "us-east-1a");
    assert_eq!(aws.data_center_info.metadata.len(), 5);
    assert_eq!(aws.data_center_info.metadata["local-ipv4"], "10.0.0.12");
    assert_eq!(
        instance(&apps, "payments-1:9090").last_updated_timestamp,
        1795289726331
    );
    assert_eq!(
        instance(&apps, "inventory-1:7001")
            .secure_vip_address
            .as_deref(),
        Some("inventory-secure")
    );
}

fn netflix_apps(f: Fixture) {
    let format = f.format;
    let apps = f.registry(format);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, N_HASH);
    assert_eq!(app_names(&apps), ["PAYMENTS", "INVENTORY", "ORDERS"]);
    assert_eq!(
        rows(&apps),
        [N_PAYMENTS, N_INVENTORY, N_ORDERS_AWS, N_ORDERS_1]
    );
    assert_payments(instance(&apps, "payments-1:9090"));
    let inventory = instance(&apps, "inventory-1:7001");
    assert!(inventory.metadata.is_empty(), "EmptyMap");
    assert_eq!(inventory.overridden_status, Status::Unknown);
    assert_eq!(inventory.app_group_name.as_deref(), Some("INVENTORY-GROUP"));
    assert_eq!(
        inventory.lease_info,
        Some(lease(1795289726345, 1795289726345, 0))
    );
    assert_orders_aws(instance(&apps, "i-0abc123def4567890"));
    assert_orders_1(instance(&apps, "orders-1.example.local:orders:8080"));
}

/// An `OUT_OF_SERVICE` instance fetched directly: JSON says `OUT_OF_SERVICE`, XML says DOWN
/// (quirk 11). Either way it is not UP, and the override is there.
fn netflix_instance_oos(f: Fixture) {
    let format = f.format;
    let i = f.instance(format);
    let status = if format == Format::Json {
        "OUT_OF_SERVICE"
    } else {
        "DOWN"
    };
    assert_eq!(
        row(&i.app, &i),
        format!("PAYMENTS payments-1:9090 {status} 10.0.1.5:9090 9090+ 9443+ ADDED")
    );
    assert_ne!(i.status, Status::Up);
    assert_payments(&i);
}

fn netflix_instance(f: Fixture) {
    let format = f.format;
    let i = f.instance(format);
    assert_eq!(row(&i.app, &i), N_ORDERS_1);
    assert_orders_1(&i);
    assert_eq!(i.app_group_name.as_deref(), Some("ORDERS-GROUP"));
}

/// `GET vips/orders`: `versions__delta` is -1 and the hash code is the VIP's own.
fn netflix_vips_orders(f: Fixture) {
    let apps = f.registry(Format::Json);
    assert_eq!(app_names(&apps), ["ORDERS"]);
    assert_eq!(apps.versions_delta, Some(-1));
    assert_full_registry(&apps, "DOWN_1_UP_1_");
    assert_eq!(rows(&apps), [N_ORDERS_AWS, N_ORDERS_1]);
    assert_orders_aws(instance(&apps, "i-0abc123def4567890"));
}

/// A delta encoded by the server's codecs with one ADDED, one MODIFIED and one DELETED
/// instance (INVENTORY's only one). Its hash code still counts a STARTING instance,
/// which the delta deletes: applied to `GET-apps.*` the result does not match it, and a
/// client would fetch in full.
fn netflix_codec_delta(f: Fixture) {
    let format = f.format;
    let delta = f.registry(format);
    assert_eq!(app_names(&delta), ["ORDERS", "INVENTORY"]);
    assert_eq!(delta.versions_delta, Some(7));
    let hash = "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UP_2_";
    assert_eq!(delta.apps_hashcode.as_deref(), Some(hash));
    assert_eq!(
        rows(&delta),
        [
            "ORDERS orders-2.example.local:orders:8080 UP 10.0.0.13:8080 8080+ 8443+ ADDED",
            "ORDERS i-0abc123def4567890 DOWN 10.0.0.12:8080 8080+ 443- MODIFIED",
            "INVENTORY inventory-1:7001 STARTING 10.0.2.7:7001 7001+ 7002- DELETED",
        ]
    );
    assert_eq!(
        instance(&delta, "orders-2.example.local:orders:8080").metadata,
        metadata(&[("zone", "zone-b")])
    );
    let modified = instance(&delta, "i-0abc123def4567890");
    assert_eq!(
        modified.lease_info,
        Some(lease(1700000000002, 1700000030002, 1700000000007))
    );
    assert_eq!(modified.last_updated_timestamp, 1700000001002);

    let mut local = common::registry(load(NETFLIX, "GET-apps.xml"));
    local.apply_delta(&delta);
    assert_eq!(app_names(&local), ["PAYMENTS", "ORDERS"]);
    assert_eq!(
        ids(&local),
        [
            "payments-1:9090",
            "i-0abc123def4567890",
            "orders-1.example.local:orders:8080",
            "orders-2.example.local:orders:8080",
        ]
    );
    assert_eq!(
        instance(&local, "i-0abc123def4567890").last_updated_timestamp,
        1700000001002
    );
    assert_eq!(local.versions_delta, Some(7));
    assert_eq!(local.apps_hashcode.as_deref(), Some(hash));
    assert_eq!(local.reconcile_hash_code(), "DOWN_1_OUT_OF_SERVICE_1_UP_2_");
    assert!(!local.is_consistent());
}

/// 100 apps × 100 instances, all UP, two metadata keys each.
fn registry_10k(f: Fixture) {
    let format = f.format;
    let apps = f.registry(format);
    assert_eq!(apps.versions_delta, Some(1));
    assert_full_registry(&apps, "UP_10000_");
    assert_eq!(apps.applications.len(), 100);
    assert_eq!(apps.instance_count(), 10_000);

    let mut names = app_names(&apps);
    assert_eq!(names[0], "APP079");
    names.sort_unstable();
    let expected: Vec<String> = (0..100).map(|n| format!("APP{n:03}")).collect();
    assert_eq!(names, expected);

    let mut all_ids = ids(&apps);
    all_ids.sort_unstable();
    all_ids.dedup();
    assert_eq!(all_ids.len(), 10_000, "instance ids are unique");

    let meta = metadata(&[("zone", "z1"), ("management.port", "8081")]);
    for app in &apps.applications {
        assert_eq!(app.instances.len(), 100, "{}", app.name);
        for i in &app.instances {
            assert_eq!(i.app, app.name);
            assert_eq!(i.status, Status::Up);
            assert_eq!(i.port, Port::enabled(8080), "{}", i.instance_id);
            assert_eq!(i.secure_port, Port::disabled(443), "{}", i.instance_id);
            assert_eq!(i.metadata, meta, "{}", i.instance_id);
            assert_eq!(
                i.lease_info.map(|l| l.duration_in_secs),
                Some(900),
                "{}",
                i.instance_id
            );
            assert_eq!(i.action_type, Some(ActionType::Added));
        }
    }
    let first = &apps.applications[0].instances[0];
    assert_eq!(
        row(&apps.applications[0].name, first),
        "APP079 app079-7958:app079:8080 UP 10.0.31.22:8080 8080+ 443- ADDED"
    );
    assert_eq!(first.host_name, "10.0.31.22");
    let last = apps.applications[99].instances.last().expect("instances");
    assert_eq!(
        row(&apps.applications[99].name, last),
        "APP081 app081-8116:app081:8080 UP 10.0.31.180:8080 8080+ 443- ADDED"
    );
}

// ---------------------------------------------------------------------------------------
// JSON and XML renderings of the same answer.

#[test]
fn json_and_xml_renderings_of_one_answer_decode_alike() {
    let Some(_) = shared_fixtures() else {
        return;
    };
    for stem in [
        "GET-apps",
        "GET-apps.compact",
        "GET-app-ORDERS",
        "GET-instance",
    ] {
        let json = load(NETFLIX, &format!("{stem}.json"));
        let xml = load(NETFLIX, &format!("{stem}.xml"));
        assert_eq!(root_kind(&json), root_kind(&xml), "{stem}");
        assert_eq!(json, xml, "{stem}");
    }
    assert_eq!(
        load(NETFLIX, "applications-delta.LegacyJacksonJson.json"),
        load(NETFLIX, "applications-delta.XStreamXml.xml")
    );

    // The delta pair differs in versions__delta only.
    let mut json = common::registry(load(NETFLIX, "GET-apps-delta.json"));
    let xml = common::registry(load(NETFLIX, "GET-apps-delta.xml"));
    assert_ne!(json.versions_delta, xml.versions_delta);
    json.versions_delta = xml.versions_delta;
    assert_eq!(json, xml);

    // The direct fetch of the OUT_OF_SERVICE instance differs in its status only.
    let json = common::single_instance(load(NETFLIX, "GET-instance-oos.json"));
    let xml = common::single_instance(load(NETFLIX, "GET-instance-oos.xml"));
    assert_eq!(
        (json.status, xml.status),
        (Status::OutOfService, Status::Down)
    );
    assert_eq!(
        InstanceInfo {
            status: Status::OutOfService,
            ..xml
        },
        json
    );
}

#[test]
fn the_10k_registries_decode_alike_in_json_and_xml() {
    let Some(_) = shared_fixtures() else {
        return;
    };
    assert_eq!(
        load(NETFLIX, "registry-10k.json.gz"),
        load(NETFLIX, "registry-10k.xml.gz")
    );
}
