//! The Eureka wire model: instances, applications and registries, as servers describe them.
//!
//! One model serves both formats. Its serde attributes describe the JSON form (and are
//! what the JSON codec uses); the XML codec maps the same fields by hand. Reading is
//! tolerant — see the `lenient` helpers for each quirk — and writing is strict.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::lenient;

/// Metadata: free-form string pairs. The `@class` marker Java servers add is not metadata
/// and never appears here.
pub type Metadata = BTreeMap<String, String>;

/// An instance's status. Strings are case-sensitive on the wire (`"up"` is not UP), and
/// any string other than the five known ones reads as [`Status::Unknown`], as the Java
/// client does, so one odd instance never fails a whole document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Status {
    /// Ready for traffic.
    Up,
    /// Not ready for traffic.
    Down,
    /// Starting up; not ready yet.
    Starting,
    /// Taken out of traffic on purpose.
    OutOfService,
    /// Unknown (also any unrecognised string).
    #[default]
    Unknown,
}

impl Status {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Starting => "STARTING",
            Status::OutOfService => "OUT_OF_SERVICE",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// Reads a wire string; anything unrecognised is [`Status::Unknown`].
    pub fn from_wire(s: &str) -> Self {
        match s {
            "UP" => Status::Up,
            "DOWN" => Status::Down,
            "STARTING" => Status::Starting,
            "OUT_OF_SERVICE" => Status::OutOfService,
            _ => Status::Unknown,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delta says happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionType {
    /// Newly registered.
    Added,
    /// Changed (status, metadata, renewal of a dirty instance...).
    Modified,
    /// Cancelled or evicted.
    Deleted,
}

impl ActionType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Added => "ADDED",
            ActionType::Modified => "MODIFIED",
            ActionType::Deleted => "DELETED",
        }
    }

    /// Reads a wire string; `None` for anything unrecognised.
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "ADDED" => Some(ActionType::Added),
            "MODIFIED" => Some(ActionType::Modified),
            "DELETED" => Some(ActionType::Deleted),
            _ => None,
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port and whether it is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Port {
    /// The port number.
    pub port: u16,
    /// Whether traffic may use it.
    pub enabled: bool,
}

impl Port {
    /// An enabled port.
    pub fn enabled(port: u16) -> Self {
        Self {
            port,
            enabled: true,
        }
    }

    /// A disabled port.
    pub fn disabled(port: u16) -> Self {
        Self {
            port,
            enabled: false,
        }
    }

    /// What an absent `port` means: 0, enabled (as Eureka's own default).
    pub(crate) fn default_plain() -> Self {
        Self::enabled(0)
    }

    /// What an absent `securePort` means: 443, disabled.
    pub(crate) fn default_secure() -> Self {
        Self::disabled(443)
    }
}

/// Lease timings. Intervals are in seconds, timestamps in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    /// How often the instance renews its lease (default 30).
    #[serde(
        default = "default_renewal",
        deserialize_with = "lenient::renewal_secs"
    )]
    pub renewal_interval_in_secs: u32,
    /// How long the server keeps the lease without a renewal (default 90).
    #[serde(
        default = "default_duration",
        deserialize_with = "lenient::duration_secs"
    )]
    pub duration_in_secs: u32,
    /// When the instance registered.
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub registration_timestamp: i64,
    /// When the lease was last renewed.
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub last_renewal_timestamp: i64,
    /// When the instance was evicted (0 when it was not).
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub eviction_timestamp: i64,
    /// When the instance was first marked UP.
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub service_up_timestamp: i64,
}

pub(crate) fn default_renewal() -> u32 {
    30
}

pub(crate) fn default_duration() -> u32 {
    90
}

impl Default for LeaseInfo {
    fn default() -> Self {
        Self {
            renewal_interval_in_secs: default_renewal(),
            duration_in_secs: default_duration(),
            registration_timestamp: 0,
            last_renewal_timestamp: 0,
            eviction_timestamp: 0,
            service_up_timestamp: 0,
        }
    }
}

/// Where an instance runs: Eureka's `dataCenterInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct DataCenterInfo {
    /// `MyOwn`, `Amazon` or `Netflix`.
    #[serde(default = "my_own", deserialize_with = "lenient::string")]
    pub name: String,
    /// The Java class servers use to read it (`...InstanceInfo$DefaultDataCenterInfo` or
    /// `com.netflix.appinfo.AmazonInfo`).
    #[serde(rename = "@class", default, deserialize_with = "lenient::string")]
    pub class: String,
    /// Amazon's instance metadata (`availability-zone`, `instance-id`, ...).
    #[serde(default, deserialize_with = "lenient::metadata")]
    pub metadata: Metadata,
}

/// The class of a non-Amazon data center.
pub const DEFAULT_DATA_CENTER_CLASS: &str =
    "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";
/// The class of an Amazon data center.
pub const AMAZON_DATA_CENTER_CLASS: &str = "com.netflix.appinfo.AmazonInfo";

fn my_own() -> String {
    "MyOwn".to_owned()
}

impl DataCenterInfo {
    /// A `MyOwn` data center: anything not in Amazon.
    pub fn my_own() -> Self {
        Self {
            name: my_own(),
            class: DEFAULT_DATA_CENTER_CLASS.to_owned(),
            metadata: Metadata::new(),
        }
    }

    /// An Amazon data center with its instance metadata.
    pub fn amazon(metadata: Metadata) -> Self {
        Self {
            name: "Amazon".to_owned(),
            class: AMAZON_DATA_CENTER_CLASS.to_owned(),
            metadata,
        }
    }

    /// True for Amazon.
    pub fn is_amazon(&self) -> bool {
        self.name == "Amazon" || self.class == AMAZON_DATA_CENTER_CLASS
    }

    /// The availability zone, in Amazon.
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get("availability-zone").map(String::as_str)
    }

    /// The class to write: the one read, else the one that fits the name.
    pub fn class_or_default(&self) -> &str {
        match (self.class.is_empty(), self.name == "Amazon") {
            (false, _) => &self.class,
            (true, true) => AMAZON_DATA_CENTER_CLASS,
            (true, false) => DEFAULT_DATA_CENTER_CLASS,
        }
    }
}

impl Default for DataCenterInfo {
    fn default() -> Self {
        Self::my_own()
    }
}

/// One registered instance: Eureka's `InstanceInfo`.
///
/// Every field of the protocol is here; unknown fields are ignored on read. Fields that the
/// compact form (`X-Eureka-Accept: compact`) omits read as their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    /// The instance's identity within its app (conventionally `host:app:port`). Servers that
    /// omit it get the Amazon `instance-id`, else the host name (see [`InstanceInfo::id`]).
    #[serde(default, deserialize_with = "lenient::string")]
    pub instance_id: String,
    /// Host name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub host_name: String,
    /// The app, upper-cased by servers.
    #[serde(default, deserialize_with = "lenient::string")]
    pub app: String,
    /// IP address.
    #[serde(default, deserialize_with = "lenient::string")]
    pub ip_addr: String,
    /// Effective status.
    #[serde(default, deserialize_with = "lenient::status")]
    pub status: Status,
    /// A status override set through the REST API (`UNKNOWN` when none).
    #[serde(
        default,
        alias = "overriddenstatus",
        deserialize_with = "lenient::status"
    )]
    pub overridden_status: Status,
    /// The plain port.
    #[serde(default = "Port::default_plain", deserialize_with = "lenient::port")]
    pub port: Port,
    /// The TLS port.
    #[serde(
        default = "Port::default_secure",
        deserialize_with = "lenient::secure_port"
    )]
    pub secure_port: Port,
    /// Legacy country id (1).
    #[serde(default = "default_country", deserialize_with = "lenient::i32_or_one")]
    pub country_id: i32,
    /// Where it runs.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub data_center_info: DataCenterInfo,
    /// Lease timings; absent in the compact form.
    #[serde(default)]
    pub lease_info: Option<LeaseInfo>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "lenient::metadata")]
    pub metadata: Metadata,
    /// The app's group.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub app_group_name: Option<String>,
    /// Home page URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub home_page_url: Option<String>,
    /// Status page URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status_page_url: Option<String>,
    /// Health check URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub health_check_url: Option<String>,
    /// Secure health check URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub secure_health_check_url: Option<String>,
    /// VIP address (what clients discover by).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub vip_address: Option<String>,
    /// Secure VIP address.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub secure_vip_address: Option<String>,
    /// Whether this instance is itself a Eureka server.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_coordinating_discovery_server: bool,
    /// When the server last changed this instance.
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub last_updated_timestamp: i64,
    /// When the instance last changed locally (the client's clock).
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub last_dirty_timestamp: i64,
    /// In a delta: what happened to it.
    #[serde(default, deserialize_with = "lenient::action")]
    pub action_type: Option<ActionType>,
}

fn default_country() -> i32 {
    1
}

/// An instance with no identity yet and every other field at the value an absent field
/// reads as.
impl Default for InstanceInfo {
    fn default() -> Self {
        Self {
            instance_id: String::new(),
            host_name: String::new(),
            app: String::new(),
            ip_addr: String::new(),
            status: Status::Unknown,
            overridden_status: Status::Unknown,
            port: Port::default_plain(),
            secure_port: Port::default_secure(),
            country_id: default_country(),
            data_center_info: DataCenterInfo::default(),
            lease_info: None,
            metadata: Metadata::new(),
            app_group_name: None,
            home_page_url: None,
            status_page_url: None,
            health_check_url: None,
            secure_health_check_url: None,
            vip_address: None,
            secure_vip_address: None,
            is_coordinating_discovery_server: false,
            last_updated_timestamp: 0,
            last_dirty_timestamp: 0,
            action_type: None,
        }
    }
}

impl InstanceInfo {
    /// A new `UP` instance in a `MyOwn` data center with the conventional id
    /// `host:app:port`, URLs derived from host and port, and a 30 s / 90 s lease.
    pub fn new(app: &str, host: &str, ip: &str, port: u16) -> Self {
        let app = app.to_ascii_uppercase();
        let base = format!("http://{host}:{port}/");
        Self {
            instance_id: format!("{host}:{}:{port}", app.to_ascii_lowercase()),
            host_name: host.to_owned(),
            ip_addr: ip.to_owned(),
            status: Status::Up,
            overridden_status: Status::Unknown,
            port: Port::enabled(port),
            secure_port: Port::default_secure(),
            country_id: default_country(),
            data_center_info: DataCenterInfo::my_own(),
            lease_info: Some(LeaseInfo::default()),
            metadata: Metadata::new(),
            app_group_name: None,
            home_page_url: Some(base.clone()),
            status_page_url: Some(format!("{base}info")),
            health_check_url: Some(format!("{base}health")),
            secure_health_check_url: None,
            vip_address: Some(app.to_ascii_lowercase()),
            secure_vip_address: Some(app.to_ascii_lowercase()),
            is_coordinating_discovery_server: false,
            last_updated_timestamp: 0,
            last_dirty_timestamp: 0,
            action_type: None,
            app,
        }
    }

    /// An instance of `app` on `port`, to finish with [`InstanceBuilder`]'s setters:
    /// host and IP default to `127.0.0.1` (or this machine's, with
    /// [`detect_address`](InstanceBuilder::detect_address)), the id to `host:app:port`,
    /// the URLs to the host and port, the VIPs to the app name in lower case, the data
    /// center to `MyOwn`, the lease to 30 s / 90 s, the status to UP.
    ///
    /// ```
    /// use sd_eureka::{InstanceInfo, Status};
    ///
    /// let instance = InstanceInfo::builder("hello", 8080)
    ///     .ip("10.0.0.5")
    ///     .metadata("zone", "z1")
    ///     .build();
    /// assert_eq!(instance.instance_id, "10.0.0.5:hello:8080");
    /// assert_eq!(instance.app, "HELLO");
    /// assert_eq!(instance.home_page_url.as_deref(), Some("http://10.0.0.5:8080/"));
    /// assert_eq!(instance.status, Status::Up);
    ///
    /// // As a Spring Boot service on another machine registers:
    /// let spring = InstanceInfo::builder("orders", 8080)
    ///     .host("orders-7f9c")
    ///     .ip("10.0.0.7")
    ///     .prefer_ip_address(true)
    ///     .spring_boot_urls()
    ///     .zone("eu-1a")
    ///     .build();
    /// assert_eq!(spring.host_name, "10.0.0.7");
    /// assert_eq!(spring.instance_id, "orders-7f9c:orders:8080");
    /// assert_eq!(spring.health_check_url.as_deref(), Some("http://10.0.0.7:8080/actuator/health"));
    /// assert_eq!(spring.metadata["zone"], "eu-1a");
    /// ```
    pub fn builder(app: &str, port: u16) -> InstanceBuilder {
        InstanceBuilder {
            app: app.to_owned(),
            port,
            host: None,
            ip: None,
            prefer_ip: false,
            instance_id: None,
            status: Status::Up,
            renewal_secs: default_renewal(),
            lease_secs: default_duration(),
            metadata: Metadata::new(),
            secure_port: None,
            home_page: None,
            status_page: None,
            health_check: None,
            vip: None,
            secure_vip: None,
        }
    }

    /// The instance's identity: `instanceId`, else the Amazon `instance-id`, else the host
    /// name (quirk 9). Decoders fill `instance_id` this way, so after decoding this is
    /// simply `instance_id`.
    pub fn id(&self) -> &str {
        if !self.instance_id.is_empty() {
            return &self.instance_id;
        }
        if self.data_center_info.is_amazon() {
            if let Some(id) = self.data_center_info.metadata.get("instance-id") {
                if !id.is_empty() {
                    return id;
                }
            }
        }
        &self.host_name
    }

    /// `ipAddr:port`, the identity sd-core uses for Eureka instances.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip_addr, self.port.port)
    }

    /// The optional text fields with their wire names, in the order servers write them;
    /// one list for both encoders.
    pub(crate) fn optional_fields(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("appGroupName", self.app_group_name.as_deref()),
            ("homePageUrl", self.home_page_url.as_deref()),
            ("statusPageUrl", self.status_page_url.as_deref()),
            ("healthCheckUrl", self.health_check_url.as_deref()),
            (
                "secureHealthCheckUrl",
                self.secure_health_check_url.as_deref(),
            ),
            ("vipAddress", self.vip_address.as_deref()),
            ("secureVipAddress", self.secure_vip_address.as_deref()),
        ]
    }

    /// Fills `instance_id` from the fallbacks when the server left it out.
    pub(crate) fn normalize(&mut self) {
        if self.instance_id.is_empty() {
            self.instance_id = self.id().to_owned();
        }
    }
}

/// Builds an [`InstanceInfo`] for registration; see [`InstanceInfo::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct InstanceBuilder {
    app: String,
    port: u16,
    host: Option<String>,
    ip: Option<String>,
    prefer_ip: bool,
    instance_id: Option<String>,
    status: Status,
    renewal_secs: u32,
    lease_secs: u32,
    metadata: Metadata,
    secure_port: Option<u16>,
    /// Each a full URL, or a path joined to `http://host:port`.
    home_page: Option<String>,
    status_page: Option<String>,
    health_check: Option<String>,
    vip: Option<String>,
    secure_vip: Option<String>,
}

/// Spring Boot Actuator's pages, which Spring Cloud registers by default.
const SPRING_STATUS_PAGE: &str = "/actuator/info";
const SPRING_HEALTH_CHECK: &str = "/actuator/health";

impl InstanceBuilder {
    /// The host name (defaults to the IP). It names the instance in its default id even
    /// when [`prefer_ip_address`](Self::prefer_ip_address) registers the IP as `hostName`,
    /// as Spring Cloud's default instance id does.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The IP address (defaults to the host, else `127.0.0.1`).
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// Fills what is not set yet from this machine: the IP with the address of the
    /// interface that routes outwards ([`default_ip`](crate::default_ip)), the host with
    /// the machine's host name ([`hostname`](crate::hostname)), each falling back as
    /// [`host`](Self::host) and [`ip`](Self::ip) say. What an instance that other machines
    /// must reach registers with; the plain builder stays on the loopback, where the
    /// examples and tests serve.
    pub fn detect_address(mut self) -> Self {
        if self.ip.is_none() {
            self.ip = Some(crate::default_ip().to_string());
        }
        if self.host.is_none() {
            self.host = crate::hostname();
        }
        self
    }

    /// Registers the IP as `hostName` and in the URLs (Spring's
    /// `eureka.instance.prefer-ip-address`), for estates whose host names other machines
    /// cannot resolve. Default: false.
    pub fn prefer_ip_address(mut self, prefer: bool) -> Self {
        self.prefer_ip = prefer;
        self
    }

    /// The instance id (defaults to `host:app:port`).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// The status to register with (default UP; STARTING for a slow start).
    pub fn status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Heartbeat interval in seconds (default 30).
    pub fn renewal_interval_secs(mut self, secs: u32) -> Self {
        self.renewal_secs = secs;
        self
    }

    /// Lease duration in seconds (default 90): how long the server keeps the instance
    /// without a heartbeat.
    pub fn lease_duration_secs(mut self, secs: u32) -> Self {
        self.lease_secs = secs;
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The instance's zone: the `zone` metadata, where Spring Cloud puts it and where
    /// zone-aware balancers (`sd_lb::ZoneAware`) and `sd eureka apps` read it.
    pub fn zone(self, zone: impl Into<String>) -> Self {
        self.metadata("zone", zone)
    }

    /// Enables a TLS port.
    pub fn secure_port(mut self, port: u16) -> Self {
        self.secure_port = Some(port);
        self
    }

    /// The home page: a full URL, or a path (`/`) on `http://host:port` (default `/`).
    pub fn home_page_url(mut self, url_or_path: impl Into<String>) -> Self {
        self.home_page = Some(url_or_path.into());
        self
    }

    /// The status page: a full URL, or a path on `http://host:port` (default `/info`).
    pub fn status_page_url(mut self, url_or_path: impl Into<String>) -> Self {
        self.status_page = Some(url_or_path.into());
        self
    }

    /// The health check: a full URL, or a path on `http://host:port` (default `/health`).
    /// A path also makes the secure health check URL, when there is a TLS port.
    pub fn health_check_url(mut self, url_or_path: impl Into<String>) -> Self {
        self.health_check = Some(url_or_path.into());
        self
    }

    /// Spring Boot Actuator's pages for what is not set yet: status at `/actuator/info`,
    /// health at `/actuator/health`, as Spring Cloud registers them.
    pub fn spring_boot_urls(mut self) -> Self {
        self.status_page
            .get_or_insert_with(|| SPRING_STATUS_PAGE.to_owned());
        self.health_check
            .get_or_insert_with(|| SPRING_HEALTH_CHECK.to_owned());
        self
    }

    /// The VIP address clients discover the instance by (default: the app in lower case).
    pub fn vip_address(mut self, vip: impl Into<String>) -> Self {
        self.vip = Some(vip.into());
        self
    }

    /// The secure VIP address (default: the app in lower case).
    pub fn secure_vip_address(mut self, vip: impl Into<String>) -> Self {
        self.secure_vip = Some(vip.into());
        self
    }

    /// Finishes the instance.
    pub fn build(self) -> InstanceInfo {
        let ip = self
            .ip
            .or_else(|| self.host.clone())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let host = self.host.unwrap_or_else(|| ip.clone());
        let mut instance = InstanceInfo::new(&self.app, &host, &ip, self.port);
        if self.prefer_ip {
            // The id keeps the host name (as Spring's does); what others connect to is the IP.
            let id = std::mem::take(&mut instance.instance_id);
            instance = InstanceInfo::new(&self.app, &ip, &ip, self.port);
            instance.instance_id = id;
        }
        if let Some(id) = self.instance_id {
            instance.instance_id = id;
        }
        instance.status = self.status;
        instance.lease_info = Some(LeaseInfo {
            renewal_interval_in_secs: self.renewal_secs,
            duration_in_secs: self.lease_secs,
            ..LeaseInfo::default()
        });
        instance.metadata = self.metadata;
        let base = format!("http://{}:{}", instance.host_name, self.port);
        let url = |url_or_path: String| {
            if url_or_path.starts_with('/') {
                format!("{base}{url_or_path}")
            } else {
                url_or_path
            }
        };
        if let Some(page) = self.home_page {
            instance.home_page_url = Some(url(page));
        }
        if let Some(page) = self.status_page {
            instance.status_page_url = Some(url(page));
        }
        let health_path = self
            .health_check
            .as_deref()
            .filter(|h| h.starts_with('/'))
            .unwrap_or("/health")
            .to_owned();
        if let Some(page) = self.health_check {
            instance.health_check_url = Some(url(page));
        }
        if let Some(port) = self.secure_port {
            instance.secure_port = Port::enabled(port);
            instance.secure_health_check_url = Some(format!(
                "https://{}:{port}{health_path}",
                instance.host_name
            ));
        }
        if let Some(vip) = self.vip {
            instance.vip_address = Some(vip);
        }
        if let Some(vip) = self.secure_vip {
            instance.secure_vip_address = Some(vip);
        }
        instance
    }
}

/// An application: a name and its instances.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Application {
    /// The app name (upper case on real servers).
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Its instances. Old servers send one instance as an object, or none at all.
    #[serde(
        rename = "instance",
        default,
        deserialize_with = "lenient::one_or_many"
    )]
    pub instances: Vec<InstanceInfo>,
}

/// A registry, or a delta of one: Eureka's `applications`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Applications {
    /// The registry version this was computed at.
    #[serde(
        rename = "versions__delta",
        default,
        deserialize_with = "lenient::opt_i64"
    )]
    pub versions_delta: Option<i64>,
    /// The reconcile hash code of the *whole* registry (also in a delta).
    #[serde(
        rename = "apps__hashcode",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub apps_hashcode: Option<String>,
    /// The apps. Old servers send one app as an object.
    #[serde(
        rename = "application",
        default,
        deserialize_with = "lenient::one_or_many"
    )]
    pub applications: Vec<Application>,
}

impl Applications {
    /// How many instances, over all apps.
    pub fn instance_count(&self) -> usize {
        self.applications.iter().map(|a| a.instances.len()).sum()
    }

    /// The app named `name` (case-insensitively, as servers match names).
    pub fn application(&self, name: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Every instance with the name of its app.
    pub fn instances(&self) -> impl Iterator<Item = (&str, &InstanceInfo)> + '_ {
        self.applications
            .iter()
            .flat_map(|a| a.instances.iter().map(move |i| (a.name.as_str(), i)))
    }
}

/// A decoded document: its root is `applications`, `application` or `instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// `GET apps`, `apps/delta`, `vips/{vip}`...
    Applications(Applications),
    /// `GET apps/{APP}`.
    Application(Application),
    /// `GET apps/{APP}/{ID}`, `instances/{ID}`, or a register body.
    Instance(Box<InstanceInfo>),
}

impl Document {
    /// The document as a registry: an app becomes a registry of one app, an instance a
    /// registry of one app with one instance.
    pub fn into_applications(self) -> Applications {
        match self {
            Document::Applications(apps) => apps,
            Document::Application(app) => Applications {
                applications: vec![app],
                ..Applications::default()
            },
            Document::Instance(instance) => Applications {
                applications: vec![Application {
                    name: instance.app.clone(),
                    instances: vec![*instance],
                }],
                ..Applications::default()
            },
        }
    }

    pub(crate) fn normalize(&mut self) {
        let instances: Box<dyn Iterator<Item = &mut InstanceInfo>> = match self {
            Document::Applications(apps) => Box::new(
                apps.applications
                    .iter_mut()
                    .flat_map(|a| a.instances.iter_mut()),
            ),
            Document::Application(app) => Box::new(app.instances.iter_mut()),
            Document::Instance(instance) => Box::new(std::iter::once(&mut **instance)),
        };
        instances.for_each(InstanceInfo::normalize);
    }
}
