//! Service URLs: parsing one into a base and its credentials, and printing one safely.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use http::HeaderValue;
use percent_encoding::percent_decode_str;

use crate::error::{Error, ErrorKind};

/// A service URL with its credentials split off.
pub(crate) struct ServiceUrl {
    /// `scheme://host:port/path/`, without userinfo.
    pub(crate) base: Arc<str>,
    pub(crate) authorization: Option<HeaderValue>,
}

/// The URLs of a comma-separated list (`EUREKA_URL`'s form), blanks skipped.
///
/// ```
/// assert_eq!(
///     sd_eureka::split_service_urls(" http://a/eureka/ ,,http://b/eureka/"),
///     ["http://a/eureka/", "http://b/eureka/"]
/// );
/// ```
pub fn split_service_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `url` without the userinfo (`user:password@`) of its authority, for messages and logs:
/// credentials must never be printed.
///
/// Everything up to the last `@` counts as userinfo, wherever it stands, so a password
/// holding an unencoded `/`, `?` or `#` is hidden too (such a URL is refused by
/// [`Connection`](crate::Connection) anyway). Text that is not quite a URL is handled the
/// same way.
///
/// ```
/// assert_eq!(
///     sd_eureka::redact_url("http://admin:s3cret@eureka:8761/eureka/"),
///     "http://eureka:8761/eureka/"
/// );
/// assert_eq!(
///     sd_eureka::redact_url("http://admin:pa/ss@eureka:8761/eureka/"),
///     "http://eureka:8761/eureka/"
/// );
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let Some(at) = rest.rfind('@') else {
        return Cow::Borrowed(url);
    };
    let host_and_path = &rest[at + 1..];
    Cow::Owned(match scheme {
        Some(scheme) => format!("{scheme}://{host_and_path}"),
        None => host_and_path.to_owned(),
    })
}

impl ServiceUrl {
    /// Splits `raw` into its base and Basic credentials. Errors never quote `raw`: it may
    /// hold a password.
    pub(crate) fn parse(raw: &str) -> Result<Self, Error> {
        let config = |why: &str| Error::new(ErrorKind::Config(format!("service URL: {why}")));
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| config("missing scheme (http:// or https://)"))?;
        match scheme {
            "http" => {}
            "https" if cfg!(feature = "tls") => {}
            "https" => {
                return Err(config(
                    "https needs the `tls` cargo feature (of sd-eureka, or of sd-cli for the sd command)",
                ));
            }
            _ => return Err(config("the scheme must be http or https")),
        }
        // RFC 3986: the authority ends at the first '/', '?' or '#'.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if path.contains('@') {
            // Most likely a password with an unencoded '/': taking the text before it as
            // the host would send the request (and a DNS query) to part of the password.
            return Err(config(
                "an '@' after the host; percent-encode '/', '?', '#' and '@' in credentials \
                 (e.g. '/' as %2F)",
            ));
        }
        if path.contains(['?', '#']) {
            return Err(config("a query or fragment has no place in a service URL"));
        }
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(config("missing host"));
        }
        let authorization = userinfo.map(basic).transpose()?;
        let path = path.trim_matches('/');
        let base = if path.is_empty() {
            format!("{scheme}://{host}/")
        } else {
            format!("{scheme}://{host}/{path}/")
        };
        base.parse::<http::Uri>()
            .map_err(|e| config(&format!("not a valid URL: {e}")))?;
        Ok(Self {
            base: base.into(),
            authorization,
        })
    }
}

/// The `Authorization` header for `user:password` (each percent-encoded).
fn basic(userinfo: &str) -> Result<HeaderValue, Error> {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let user = percent_decode_str(user).decode_utf8_lossy();
    let password = percent_decode_str(password).decode_utf8_lossy();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
        Error::new(ErrorKind::Config(
            "service URL: credentials that cannot be sent".into(),
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials.
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_in_an_unencoded_password_is_redacted_and_refused() {
        let raw = "http://admin:pa/ss@127.0.0.1:1/eureka/";
        assert_eq!(redact_url(raw), "http://127.0.0.1:1/eureka/");
        let error = ServiceUrl::parse(raw).expect_err("refused");
        assert!(error.is_config(), "{error}");
        let message = error.to_string();
        assert!(
            !message.contains("pa/ss") && !message.contains("admin"),
            "{message}"
        );
        for raw in [
            "http://admin:pa?ss@127.0.0.1:1/eureka/",
            "http://admin:pa#ss@127.0.0.1:1/eureka/",
        ] {
            assert_eq!(redact_url(raw), "http://127.0.0.1:1/eureka/");
            let message = ServiceUrl::parse(raw).expect_err("refused").to_string();
            assert!(!message.contains("pa"), "{message}");
        }
    }

    #[test]
    fn encoded_credentials_become_basic_auth_and_never_the_host() {
        let url = ServiceUrl::parse("http://admin:pa%2Fss%40x@127.0.0.1:1/eureka").unwrap();
        assert_eq!(&*url.base, "http://127.0.0.1:1/eureka/");
        let token = base64::engine::general_purpose::STANDARD.encode("admin:pa/ss@x");
        let header = url.authorization.clone().expect("credentials");
        assert_eq!(header.to_str().unwrap(), format!("Basic {token}"));
        assert!(header.is_sensitive());
        assert_eq!(format!("{url:?}"), "http://127.0.0.1:1/eureka/");
    }

    #[test]
    fn malformed_urls_are_config_errors() {
        for raw in [
            "127.0.0.1:8761/eureka/",
            "ftp://h/eureka/",
            "http:///eureka/",
            "http://user:pw@/eureka/",
            "http://h/eureka/?x=1",
            "http://h a/eureka/",
        ] {
            let error = ServiceUrl::parse(raw)
                .err()
                .unwrap_or_else(|| panic!("{raw}"));
            assert!(error.is_config(), "{raw}: {error}");
        }
    }

    #[test]
    fn the_base_ends_in_exactly_one_slash() {
        for raw in [
            "http://h:1/eureka",
            "http://h:1/eureka/",
            "http://h:1/eureka//",
        ] {
            assert_eq!(&*ServiceUrl::parse(raw).unwrap().base, "http://h:1/eureka/");
        }
        assert_eq!(
            &*ServiceUrl::parse("http://h:1").unwrap().base,
            "http://h:1/"
        );
    }
}
