//! `Config`: connection settings from a config file or the environment.

use std::time::Duration;

use serde::Deserialize;

use crate::connection::{redact_url, split_service_urls};
use crate::{Connection, Error, Format};

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
        }
    }
}

impl Config {
    /// The defaults, with `service_urls` from the `EUREKA_URL` environment variable
    /// (comma-separated) when it names any.
    pub fn from_env() -> Self {
        Self::from_url_list(std::env::var("EUREKA_URL").ok().as_deref())
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
