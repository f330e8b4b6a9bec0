//! What the client commands (`apps`, `watch`, `register`) share: which registry to talk
//! to, the connection to it, and the runtime the connection runs on.

use std::borrow::Cow;
use std::time::Duration;

use sd_eureka::Connection;

use crate::error::Error;

/// The registry used when neither `--url` nor `EUREKA_URL` names one.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8761/eureka/";

/// The environment variable naming the registry (comma-separated URLs).
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
                http://127.0.0.1:8761/eureka/]"
    )]
    urls: Vec<String>,
}

impl Registry {
    /// The service URLs: `--url` values, else `EUREKA_URL`, else [`DEFAULT_URL`].
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
/// [`DEFAULT_URL`]. Every value may itself be a comma-separated list.
fn resolve(flags: &[String], variable: Option<&str>) -> Vec<String> {
    let from_flags = split(flags.iter().map(String::as_str));
    if !from_flags.is_empty() {
        return from_flags;
    }
    let from_variable = split(variable);
    if !from_variable.is_empty() {
        return from_variable;
    }
    vec![DEFAULT_URL.to_owned()]
}

fn split<'a>(lists: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    lists
        .into_iter()
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The URLs for a message, comma-separated and without their credentials.
pub(crate) fn describe(urls: &[String]) -> String {
    urls.iter()
        .map(|url| without_credentials(url))
        .collect::<Vec<_>>()
        .join(",")
}

/// `url` without the userinfo (`user:password@`) of its authority, which must never be
/// printed. Text that is not quite a URL is handled the same way.
fn without_credentials(url: &str) -> Cow<'_, str> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Cow::Borrowed(url);
    };
    let host_and_path = &rest[at + 1..];
    Cow::Owned(match scheme {
        Some(scheme) => format!("{scheme}://{host_and_path}"),
        None => host_and_path.to_owned(),
    })
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
    use super::{DEFAULT_URL, describe, resolve, without_credentials};

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
