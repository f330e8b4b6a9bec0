//! What the client commands (`apps`, `watch`, `register`) share: which registry to talk
//! to, the connection to it, and the runtime the connection runs on.

use std::time::Duration;

use sd_eureka::{Config, Connection, redact_url, split_service_urls};

use crate::error::Error;

/// The `--url` arguments, flattened into each client command.
#[derive(Debug, clap::Args)]
pub(crate) struct Registry {
    // The help is not a doc comment: rustdoc would want markdown that clap prints as is.
    #[arg(
        long = "url",
        value_name = "URL",
        help = "A Eureka service URL, base path included; repeat it (or separate URLs with \
                commas) for failover [default: $EUREKA_URL (comma-separated), else \
                Spring's $EUREKA_CLIENT_SERVICEURL_DEFAULTZONE (or _<ZONE>), else \
                http://127.0.0.1:8761/eureka/]. Give credentials in EUREKA_URL, not here: \
                see --help",
        long_help = "A Eureka service URL, base path included; repeat it (or separate URLs \
                     with commas) for failover.\n\
                     [default: $EUREKA_URL (comma-separated), else a Spring service's \
                     $EUREKA_CLIENT_SERVICEURL_DEFAULTZONE (or its own zone's \
                     $EUREKA_CLIENT_SERVICEURL_<ZONE> first, with \
                     $EUREKA_CLIENT_AVAILABILITYZONES_<REGION>), else \
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
    /// The service URLs: `--url` values, else `EUREKA_URL`, else a Spring service's
    /// `EUREKA_CLIENT_SERVICEURL_*` variables, else [`sd_eureka::DEFAULT_SERVICE_URL`].
    pub(crate) fn urls(&self) -> Vec<String> {
        resolve(&self.urls, std::env::vars_os())
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

/// `--url` values when there are any, else what the environment names as the library's
/// [`Config`] reads it (`EUREKA_URL`, else Spring's `EUREKA_CLIENT_SERVICEURL_*` with the
/// own zone's first), else [`sd_eureka::DEFAULT_SERVICE_URL`]. Every value may itself be a
/// comma-separated list.
fn resolve<K, V>(flags: &[String], environment: impl IntoIterator<Item = (K, V)>) -> Vec<String>
where
    K: Into<std::ffi::OsString>,
    V: Into<std::ffi::OsString>,
{
    let from_flags: Vec<String> = flags
        .iter()
        .flat_map(|list| split_service_urls(list))
        .collect();
    if !from_flags.is_empty() {
        return from_flags;
    }
    // Only the client's keys: the instance's (SPRING_APPLICATION_NAME...) would have the
    // configuration detect this machine's address for nothing.
    let client_keys = environment.into_iter().filter_map(|(key, value)| {
        let key = key.into().into_string().ok()?;
        let value = value.into().into_string().ok()?;
        key.to_ascii_uppercase()
            .starts_with("EUREKA_")
            .then_some((key, value))
    });
    client_keys.collect::<Config>().service_urls
}

/// The URLs for a message, comma-separated and without their credentials.
///
/// A password with an unencoded `,` splits its URL in two (`http://admin:pa` and
/// `ss@host/eureka/`), and the first half has no `@` left to redact by: where the list
/// holds an `@` and a URL that is not `scheme://host[:port]...`, none is shown.
pub(crate) fn describe(urls: &[String]) -> String {
    let may_hold_credentials = urls.iter().any(|url| url.contains('@'));
    if may_hold_credentials && !urls.iter().all(|url| well_formed(&redact_url(url))) {
        return "the service URLs (not shown: one is malformed and may hold a password; \
                percent-encode , / @ % in credentials)"
            .to_owned();
    }
    urls.iter()
        .map(|url| redact_url(url))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `url` (without userinfo) is `scheme://host[:port]` and maybe a path: no `:`
/// in its host but the one before a numeric port, and none of userinfo's leftovers.
fn well_formed(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // An IPv6 host is bracketed; only the port may follow it.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((_, after)) => ("[]", after.strip_prefix(':')),
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !host.is_empty()
        && !host.contains('@')
        && port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
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

    /// `EUREKA_URL` set to `list`, when given, as the whole environment.
    fn variable(list: Option<&str>) -> Vec<(String, String)> {
        list.map(|l| ("EUREKA_URL".to_owned(), l.to_owned()))
            .into_iter()
            .collect()
    }

    #[test]
    fn flags_win_over_the_variable() {
        assert_eq!(
            resolve(
                &strings(&["http://a/eureka/", "http://b/eureka/"]),
                variable(Some("http://c/"))
            ),
            strings(&["http://a/eureka/", "http://b/eureka/"])
        );
    }

    #[test]
    fn flag_values_may_be_lists() {
        assert_eq!(
            resolve(&strings(&["http://a/, http://b/", ""]), variable(None)),
            strings(&["http://a/", "http://b/"])
        );
    }

    #[test]
    fn the_variable_is_a_comma_separated_list() {
        assert_eq!(
            resolve(&[], variable(Some(" http://a/eureka/ ,,http://b/eureka/"))),
            strings(&["http://a/eureka/", "http://b/eureka/"])
        );
    }

    #[test]
    fn a_spring_services_variables_name_the_registry_after_eureka_url() {
        let spring = [
            (
                "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE",
                "http://spring/eureka/",
            ),
            ("SPRING_APPLICATION_NAME", "orders"),
        ];
        assert_eq!(resolve(&[], spring), strings(&["http://spring/eureka/"]));
        let both = [
            (
                "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE",
                "http://spring/eureka/",
            ),
            ("EUREKA_URL", "http://own/eureka/"),
        ];
        assert_eq!(resolve(&[], both), strings(&["http://own/eureka/"]));
    }

    #[test]
    fn the_default_when_nothing_names_a_url() {
        assert_eq!(resolve(&[], variable(None)), strings(&[DEFAULT_URL]));
        assert_eq!(resolve(&[], variable(Some(" , "))), strings(&[DEFAULT_URL]));
        assert_eq!(
            resolve(&strings(&[""]), variable(Some(""))),
            strings(&[DEFAULT_URL])
        );
    }

    #[test]
    fn credentials_are_never_described() {
        assert_eq!(
            without_credentials("http://admin:s3cret@eureka:8761/eureka/"),
            "http://eureka:8761/eureka/"
        );
        assert_eq!(without_credentials("user@host/path"), "host/path");
        assert_eq!(
            without_credentials("http://admin:pa/ss@eureka/eureka/"),
            "http://eureka/eureka/",
            "a / in the password ends no userinfo"
        );
        assert_eq!(
            describe(&strings(&["http://u:p@a/eureka/", "http://b/eureka/"])),
            "http://a/eureka/,http://b/eureka/"
        );
    }

    #[test]
    fn a_url_split_inside_its_password_is_not_shown() {
        // What `http://admin:s3cret,tail@eureka:8761/eureka/` splits into.
        let halves = strings(&["http://admin:s3cret", "tail@eureka:8761/eureka/"]);
        let message = describe(&halves);
        assert!(
            !message.contains("s3cret") && !message.contains("tail"),
            "{message}"
        );
        // A digits-only password looks like a port: the `@` still gives it away.
        let message = describe(&strings(&["http://admin:1234", "56@eureka:8761/eureka/"]));
        assert!(!message.contains("1234"), "{message}");
    }

    #[test]
    fn malformed_urls_without_credentials_are_shown() {
        assert_eq!(
            describe(&strings(&[
                "eureka:8761/eureka/",
                "http://[::1]:8761/eureka/"
            ])),
            "eureka:8761/eureka/,http://[::1]:8761/eureka/"
        );
    }

    #[test]
    fn well_formed_urls_are_scheme_host_and_port() {
        for url in [
            "http://eureka:8761/eureka/",
            "https://eureka/",
            "http://[::1]:8761/eureka/",
            "http://10.0.0.1",
            "http://host/a@b/",
        ] {
            assert!(super::well_formed(url), "{url}");
        }
        for url in [
            "http://admin:s3cret",
            "tail@eureka:8761/eureka/",
            "http://host:/",
            "http://host:80:90/",
            "http://[::1/",
            "://host/",
            "http:///eureka/",
        ] {
            assert!(!super::well_formed(url), "{url}");
        }
    }
}
