//! `Config`: connection settings from a config file or the environment, and a Spring
//! estate's settings of the connection and the instance.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::connection::{redact_url, split_service_urls};
use crate::{Connection, Error, Format, InstanceBuilder, InstanceInfo};

/// The service URL of a registry on this machine, where nothing else names one.
pub const DEFAULT_SERVICE_URL: &str = "http://127.0.0.1:8761/eureka/";

/// Connection settings, deserializable from any serde format (a `[eureka]` table of a
/// TOML file, JSON, environment-derived maps...). Every field has the default a real
/// client uses. `service_urls` accepts a list or one comma-separated string, as in
/// `EUREKA_URL`.
///
/// ```
/// let config: sd_eureka::Config = serde_json::from_str(
///     r#"{"service_urls": "http://a:8761/eureka/,http://b:8761/eureka/", "poll_interval_secs": 5}"#,
/// ).unwrap();
/// assert_eq!(config.service_urls.len(), 2);
/// let connection = config.connection().unwrap();
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The service URLs, base path included (`http://host:8761/eureka/`).
    #[serde(deserialize_with = "comma_list")]
    pub service_urls: Vec<String>,
    /// How often instancers poll (seconds).
    pub poll_interval_secs: u64,
    /// TCP connect timeout (milliseconds).
    pub connect_timeout_ms: u64,
    /// Deadline of one operation, across every service URL it tries, answers read and
    /// decoded (milliseconds).
    pub request_timeout_ms: u64,
    /// How often instancers fetch the whole registry even though deltas reconcile
    /// (seconds; see [`ConnectionBuilder::resync_interval`](crate::ConnectionBuilder::resync_interval)).
    pub resync_interval_secs: u64,
    /// The largest answer accepted (bytes).
    pub max_response_bytes: usize,
    /// `json` or `xml`.
    pub format: Format,
    /// This service's instance, when the settings name its app
    /// (`spring.application.name`; see [`Config::from_iter`]). Never read by serde.
    #[serde(skip)]
    pub instance: Option<InstanceBuilder>,
}

/// Passwords in service URLs never show.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<_> = self.service_urls.iter().map(|u| redact_url(u)).collect();
        f.debug_struct("Config")
            .field("service_urls", &urls)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("resync_interval_secs", &self.resync_interval_secs)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("format", &self.format)
            .field("instance", &self.instance)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_urls: vec![DEFAULT_SERVICE_URL.to_owned()],
            poll_interval_secs: 30,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            resync_interval_secs: 300,
            max_response_bytes: 64 << 20,
            format: Format::Json,
            instance: None,
        }
    }
}

impl Config {
    /// The settings the process's environment gives, read as [`Config::from_iter`]
    /// reads pairs: `EUREKA_URL`, else Spring's `EUREKA_CLIENT_SERVICEURL_*`, name the
    /// service URLs; `SPRING_APPLICATION_NAME` and the `EUREKA_INSTANCE_*` variables make
    /// the [`instance`](Self::instance).
    pub fn from_env() -> Self {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }

    /// The instance the settings describe, when they name its app.
    pub fn instance(&self) -> Option<InstanceInfo> {
        self.instance.clone().map(InstanceBuilder::build)
    }

    /// The defaults, with `service_urls` from a comma-separated list when it names any
    /// ([`DEFAULT_SERVICE_URL`] otherwise).
    pub fn from_url_list(list: Option<&str>) -> Self {
        let mut config = Self::default();
        let urls = list.map(split_service_urls).unwrap_or_default();
        if !urls.is_empty() {
            config.service_urls = urls;
        }
        config
    }

    /// A connection with these settings.
    pub fn connection(&self) -> Result<Connection, Error> {
        Connection::builder()
            .service_urls(&self.service_urls)
            .poll_interval(Duration::from_secs(self.poll_interval_secs))
            .connect_timeout(Duration::from_millis(self.connect_timeout_ms))
            .request_timeout(Duration::from_millis(self.request_timeout_ms))
            .resync_interval(Duration::from_secs(self.resync_interval_secs))
            .max_response_bytes(self.max_response_bytes)
            .format(self.format)
            .build()
    }
}

/// Settings as a Spring Cloud Netflix service reads them, from `(key, value)` pairs:
/// environment variables (`EUREKA_CLIENT_SERVICEURL_DEFAULTZONE`) or properties
/// (`eureka.client.serviceUrl.defaultZone`, `eureka.client.service-url.defaultZone`),
/// matched with Spring Boot's relaxed binding (case, `-` and `_` do not matter in
/// property names; a variable's `_` is a `.`). Keys it does not know are ignored, and so
/// are values that do not parse (logged), so any environment is a valid one.
///
/// - Service URLs: `EUREKA_URL` (comma-separated, `sd`'s own) when it names any; else the
///   client's own zone's `eureka.client.serviceUrl.<zone>` first, then the other zones of
///   `eureka.client.availability-zones.<region>` in their order after it, wrapping round
///   (as Netflix's client orders them with `prefer-same-zone-eureka`); else
///   `eureka.client.serviceUrl.defaultZone`; else [`DEFAULT_SERVICE_URL`]. The region is
///   `eureka.client.region` (default `us-east-1`); the own zone is the instance's `zone`
///   metadata when it is one of the region's zones, else the region's first zone. Zone
///   and region names match without regard to case, `-`, `_` and `.`, since a variable cannot
///   spell `eu-west-1a` (`EUREKA_CLIENT_SERVICEURL_EU_WEST_1A` names it).
/// - The instance, when `spring.application.name` names the app: on `server.port`
///   (default 8080), this machine's outward IP and host name
///   ([`InstanceBuilder::detect_address`]), Spring Boot's Actuator URLs, and
///   `eureka.instance.` `prefer-ip-address`, `ip-address`, `hostname`, `instance-id`,
///   `metadata-map.<key>`, `home-page-url[-path]`, `status-page-url[-path]`,
///   `health-check-url[-path]`, `virtual-host-name`, `secure-virtual-host-name`,
///   `secure-port` with `secure-port-enabled`, `lease-renewal-interval-in-seconds`,
///   `lease-expiration-duration-in-seconds`. A metadata key from a variable is lower
///   case with `_` read as `.` (`EUREKA_INSTANCE_METADATAMAP_GIT_SHA` is `git.sha`), as
///   Spring Boot binds it; from a property it is kept as written.
///
/// ```
/// use sd_eureka::Config;
///
/// let config: Config = [
///     ("SPRING_APPLICATION_NAME", "orders"),
///     ("SERVER_PORT", "9000"),
///     ("EUREKA_CLIENT_SERVICEURL_DEFAULTZONE", "http://a:8761/eureka/,http://b:8761/eureka/"),
///     ("EUREKA_INSTANCE_PREFERIPADDRESS", "true"),
///     ("EUREKA_INSTANCE_METADATAMAP_VERSION", "1.4"),
///     ("PATH", "/usr/bin"),
/// ]
/// .into_iter()
/// .collect();
/// assert_eq!(config.service_urls, ["http://a:8761/eureka/", "http://b:8761/eureka/"]);
/// let instance = config.instance().unwrap();
/// assert_eq!((instance.app.as_str(), instance.port.port), ("ORDERS", 9000));
/// assert_eq!(instance.host_name, instance.ip_addr);
/// assert_eq!(instance.metadata["version"], "1.4");
/// ```
impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Config {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut spring = Spring::default();
        for (key, value) in pairs {
            spring.read(key.as_ref(), value.as_ref());
        }
        // `EUREKA_URL` when it names a URL; then Spring's keys; then the default.
        let own = spring
            .eureka_url
            .as_deref()
            .map(split_service_urls)
            .filter(|urls| !urls.is_empty());
        let mut config = Self::default();
        if let Some(urls) = own.or_else(|| Some(spring.service_urls()).filter(|u| !u.is_empty())) {
            config.service_urls = urls;
        }
        config.instance = spring.instance();
        config
    }
}

/// What Spring's keys said, before it makes a `Config`.
#[derive(Debug, Default)]
struct Spring {
    eureka_url: Option<String>,
    /// Zone (as [`zone_name`] spells it) to its URLs.
    zone_urls: BTreeMap<String, Vec<String>>,
    /// Region (as [`zone_name`] spells it) to its zones, in order.
    availability_zones: BTreeMap<String, Vec<String>>,
    region: Option<String>,
    app: Option<String>,
    port: Option<u16>,
    metadata: Vec<(String, String)>,
    /// `eureka.instance.<name>` (name canonical) to the value.
    instance: BTreeMap<String, String>,
}

impl Spring {
    fn read(&mut self, key: &str, value: &str) {
        let Some((path, map_key)) = canonical(key) else {
            return;
        };
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["eureka", "url"] => self.eureka_url = Some(value.to_owned()),
            ["eureka", "client", "serviceurl", ..] if !map_key.is_empty() => {
                self.zone_urls
                    .insert(zone_name(&map_key), split_service_urls(value));
            }
            ["eureka", "client", "availabilityzones", ..] if !map_key.is_empty() => {
                let zones = value
                    .split(',')
                    .map(zone_name)
                    .filter(|z| !z.is_empty())
                    .collect();
                self.availability_zones.insert(zone_name(&map_key), zones);
            }
            ["eureka", "client", "region"] => self.region = Some(value.trim().to_owned()),
            ["eureka", "instance", "metadatamap", ..] if !map_key.is_empty() => {
                self.metadata.push((map_key, value.to_owned()));
            }
            ["eureka", "instance", name] => {
                self.instance
                    .insert((*name).to_owned(), value.trim().to_owned());
            }
            ["spring", "application", "name"] if !value.trim().is_empty() => {
                self.app = Some(value.trim().to_owned());
            }
            ["server", "port"] => {
                self.port = value.trim().parse().ok();
                if self.port.is_none() {
                    tracing::warn!(key, value, "not a port; ignored");
                }
            }
            _ => {}
        }
    }

    /// The zone the instance's metadata names, lower case.
    fn metadata_zone(&self) -> Option<String> {
        self.metadata
            .iter()
            .rev()
            .find(|(k, _)| k == "zone")
            .map(|(_, v)| zone_name(v))
    }

    /// Own zone first, then the region's other zones in order, wrapping round; else
    /// `defaultZone`.
    fn service_urls(&self) -> Vec<String> {
        let region = zone_name(self.region.as_deref().unwrap_or("us-east-1"));
        let zones = self
            .availability_zones
            .get(&region)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let own = self
            .metadata_zone()
            .and_then(|zone| zones.iter().position(|z| *z == zone))
            .unwrap_or(0);
        let ordered = zones[own..].iter().chain(&zones[..own]);
        let urls: Vec<String> = ordered
            .filter_map(|zone| self.zone_urls.get(zone))
            .flatten()
            .cloned()
            .collect();
        if urls.is_empty() {
            self.zone_urls
                .get("defaultzone")
                .cloned()
                .unwrap_or_default()
        } else {
            urls
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.instance
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        let value = self.instance.get(name)?;
        let parsed = value.parse().ok();
        if parsed.is_none() {
            tracing::warn!(key = name, value, "not a number; ignored");
        }
        parsed
    }

    fn instance(&self) -> Option<InstanceBuilder> {
        let app = self.app.as_deref()?;
        let text = |name: &str| self.instance.get(name).filter(|v| !v.is_empty());
        let mut builder = InstanceInfo::builder(app, self.port.unwrap_or(8080))
            .spring_boot_urls()
            .prefer_ip_address(self.flag("preferipaddress"));
        if let Some(ip) = text("ipaddress") {
            builder = builder.ip(ip);
        }
        if let Some(host) = text("hostname") {
            builder = builder.host(host);
        }
        builder = builder.detect_address();
        if let Some(id) = text("instanceid") {
            builder = builder.instance_id(id);
        }
        // A full URL wins over a path, as in Spring.
        for (url, path, set) in [
            (
                "homepageurl",
                "homepageurlpath",
                InstanceBuilder::home_page_url as fn(_, String) -> _,
            ),
            (
                "statuspageurl",
                "statuspageurlpath",
                InstanceBuilder::status_page_url,
            ),
            (
                "healthcheckurl",
                "healthcheckurlpath",
                InstanceBuilder::health_check_url,
            ),
        ] {
            if let Some(value) = text(url).or_else(|| text(path)) {
                builder = set(builder, value.clone());
            }
        }
        if let Some(vip) = text("virtualhostname") {
            builder = builder.vip_address(vip);
        }
        if let Some(vip) = text("securevirtualhostname") {
            builder = builder.secure_vip_address(vip);
        }
        if self.flag("secureportenabled") {
            builder = builder.secure_port(self.number("secureport").unwrap_or(443));
        }
        if let Some(secs) = self.number("leaserenewalintervalinseconds") {
            builder = builder.renewal_interval_secs(secs);
        }
        if let Some(secs) = self.number("leaseexpirationdurationinseconds") {
            builder = builder.lease_duration_secs(secs);
        }
        for (key, value) in &self.metadata {
            builder = builder.metadata(key, value);
        }
        Some(builder)
    }
}

/// A zone's (or region's) name for matching: lower case without `-`, `_` or `.`, so that a variable
/// (`EUREKA_CLIENT_SERVICEURL_EU_WEST_1A`, which cannot hold a `-`) names the zone a
/// property or the metadata spells `eu-west-1a`.
fn zone_name(zone: &str) -> String {
    zone.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.') && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Where a map's key starts in a key: after these names (canonical).
const MAPS: [&[&str]; 3] = [
    &["eureka", "client", "serviceurl"],
    &["eureka", "client", "availabilityzones"],
    &["eureka", "instance", "metadatamap"],
];

/// A key as Spring Boot's relaxed binding sees it: its names in canonical form (lower
/// case, no `-` or `_`) and, under a map, the map's key. A property (`a.b-c.D`) keeps its
/// map key as written; a variable (`A_BC_D`, no `.`) is lower-cased with `_` for `.`.
/// `None` for a key with nothing in it.
fn canonical(key: &str) -> Option<(Vec<String>, String)> {
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    let variable = !key.contains('.');
    let parts: Vec<&str> = if variable {
        key.split('_').collect()
    } else {
        key.split('.').collect()
    };
    let names: Vec<String> = parts
        .iter()
        .map(|p| {
            p.chars()
                .filter(|c| *c != '-' && *c != '_')
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .collect();
    for map in MAPS {
        if names.len() > map.len() && names[..map.len()] == *map {
            let rest = &parts[map.len()..];
            let map_key = if variable {
                rest.join(".").to_ascii_lowercase()
            } else {
                rest.join(".")
            };
            return Some((names[..map.len()].to_vec(), map_key));
        }
    }
    Some((names, String::new()))
}

fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(list) => split_service_urls(&list),
        OneOrMany::Many(items) => items.iter().flat_map(|i| split_service_urls(i)).collect(),
    })
}
