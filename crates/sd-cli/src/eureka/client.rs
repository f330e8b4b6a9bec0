//! What the client commands (`apps`, `watch`, `register`) share: which registry to talk
//! to, the connection to it, and the runtime the connection runs on.

use std::time::Duration;

use sd_eureka::{Config, Connection, redact_url, split_service_urls};

use crate::error::Error;

/// The environment variable naming the registry (comma-separated URLs). It is also where
/// credentials go: unlike arguments, the environment of a process is not shown by `ps`.
pub(crate) const URL_VARIABLE: &str = "EUREKA_URL";

/// The `--url` arguments, flattened into each client command.
#[derive(Debug, clap::Args)]
pub(crate) struct Registry {
    // The help is not a doc comment: rustdoc would want markdown that clap prints as is.
    #[arg(
        long = "url",
        value_name = "URL",
        help = "A Eureka service URL, base path included; repeat it (or separate URLs with \
                commas) for failover [default: $EUREKA_URL (comma-separated), else \
                http://127.0.0.1:8761/eureka/]. Give credentials in EUREKA_URL, not here: \
                see --help",
        long_help = "A Eureka service URL, base path included; repeat it (or separate URLs \
                     with commas) for failover.\n\
                     [default: $EUREKA_URL (comma-separated), else \
                     http://127.0.0.1:8761/eureka/]\n\n\
                     A registry that wants HTTP Basic auth takes the credentials as the \
                     URL's userinfo: http://USER:PASSWORD@host:8761/eureka/. Put such URLs \
                     in EUREKA_URL rather than in --url, where any user of the machine can \
                     read them with `ps`; --url, when given, replaces EUREKA_URL entirely. \
                     Percent-encode the characters : / @ , % in the user and password \
                     (%3A %2F %40 %2C %25). Credentials never show in sd's output, errors or \
                     logs."
    )]
    urls: Vec<String>,
}

impl Registry {
    /// The service URLs: `--url` values, else `EUREKA_URL`, else [`sd_eureka::DEFAULT_SERVICE_URL`].
    pub(crate) fn urls(&self) -> Vec<String> {
        resolve(&self.urls, std::env::var(URL_VARIABLE).ok().as_deref())
    }

    /// A connection to the registry; `poll_interval` is how often its instancers poll.
    pub(crate) fn connect(&self, poll_interval: Option<Duration>) -> Result<Connection, Error> {
        let urls = self.urls();
        let mut builder = Connection::builder().service_urls(&urls);
        if let Some(interval) = poll_interval {
            builder = builder.poll_interval(interval);
        }
        builder
            .build()
            .map_err(|source| Error::eureka(format!("cannot use {}", describe(&urls)), source))
    }
}

/// `--url` values when there are any, else the `EUREKA_URL` list when it names a URL, else
/// [`sd_eureka::DEFAULT_SERVICE_URL`]. Every value may itself be a comma-separated list.
fn resolve(flags: &[String], variable: Option<&str>) -> Vec<String> {
    let from_flags: Vec<String> = flags
        .iter()
        .flat_map(|list| split_service_urls(list))
        .collect();
    if from_flags.is_empty() {
        Config::from_url_list(variable).service_urls
    } else {
        from_flags
    }
}

/// The URLs for a message, comma-separated and without their credentials.
pub(crate) fn describe(urls: &[String]) -> String {
    urls.iter()
        .map(|url| redact_url(url))
        .collect::<Vec<_>>()
        .join(",")
}

/// The runtime a client command runs its connection on. One thread is plenty for one
/// command's few requests and background tasks.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

#[cfg(test)]
mod tests {
    use sd_eureka::{DEFAULT_SERVICE_URL as DEFAULT_URL, redact_url as without_credentials};

    use super::{describe, resolve};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn flags_win_over_the_variable() {
        assert_eq!(
            resolve(
                &strings(&["http://a/eureka/", "http://b/eureka/"]),
                Some("http://c/")
            ),
            strings(&["http://a/eureka/", "http://b/eureka/"])
        );
    }

    #[test]
    fn flag_values_may_be_lists() {
        assert_eq!(
            resolve(&strings(&["http://a/, http://b/", ""]), None),
            strings(&["http://a/", "http://b/"])
        );
    }

    #[test]
    fn the_variable_is_a_comma_separated_list() {
        assert_eq!(
            resolve(&[], Some(" http://a/eureka/ ,,http://b/eureka/")),
            strings(&["http://a/eureka/", "http://b/eureka/"])
        );
    }

    #[test]
    fn the_default_when_nothing_names_a_url() {
        assert_eq!(resolve(&[], None), strings(&[DEFAULT_URL]));
        assert_eq!(resolve(&[], Some(" , ")), strings(&[DEFAULT_URL]));
        assert_eq!(resolve(&strings(&[""]), Some("")), strings(&[DEFAULT_URL]));
    }

    #[test]
    fn credentials_are_never_described() {
        assert_eq!(
            without_credentials("http://admin:s3cret@eureka:8761/eureka/"),
            "http://eureka:8761/eureka/"
        );
        assert_eq!(without_credentials("user@host/path"), "host/path");
        assert_eq!(
            without_credentials("http://host/a@b/"),
            "http://host/a@b/",
            "an @ in the path is no userinfo"
        );
        assert_eq!(
            describe(&strings(&["http://u:p@a/eureka/", "http://b/eureka/"])),
            "http://a/eureka/,http://b/eureka/"
        );
    }
}
