//! Diagnostic logs on stderr, for users chasing a problem: `RUST_LOG` turns them on.
//!
//! Without `RUST_LOG` (or with it empty) nothing is installed and `sd` writes to stderr
//! only its one `error:` line, so scripts see the same output as ever. With it, the
//! `tracing` events of `sd` and of the crates under it that `RUST_LOG`'s directives select
//! (tracing-subscriber's `EnvFilter` syntax: `RUST_LOG=debug`,
//! `RUST_LOG=sd_eureka=trace`...) go to stderr, one line each; targets no directive
//! names stay off. The libraries log service URLs without their userinfo and never log
//! credentials, so logs can be shared.

use std::ffi::OsString;
use std::io;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The environment variable holding the log filter.
pub(crate) const FILTER_VARIABLE: &str = "RUST_LOG";

/// Installs the stderr log subscriber when `RUST_LOG` asks for one. A filter that cannot
/// be used is no reason to fail a command: it comes back as a warning to print, and the
/// command runs without logs.
pub(crate) fn install() -> Option<String> {
    let filter = match filter(std::env::var_os(FILTER_VARIABLE)) {
        Ok(Some(filter)) => filter,
        Ok(None) => return None,
        Err(warning) => return Some(warning),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // A failed write (stderr closed by its reader) must not turn into a message of
        // its own on that same stderr, which would panic.
        .log_internal_errors(false)
        .try_init()
        .err()
        .map(|error| format!("warning: no logs: {error}"))
}

/// The filter that `RUST_LOG`'s value `value` asks for: `None` when it asks for nothing
/// (unset or blank); a warning when it cannot be parsed.
fn filter(value: Option<OsString>) -> Result<Option<EnvFilter>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(directives) = value.to_str() else {
        return Err(format!(
            "warning: ignoring {FILTER_VARIABLE}: it is not valid UTF-8"
        ));
    };
    if directives.trim().is_empty() {
        return Ok(None);
    }
    EnvFilter::builder()
        // Whatever no directive names stays quiet.
        .with_default_directive(LevelFilter::OFF.into())
        .parse(directives)
        .map(Some)
        .map_err(|error| {
            let warning = format!("warning: ignoring {FILTER_VARIABLE}={directives}: {error}");
            crate::text::one_line(&warning).into_owned()
        })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::filter;

    fn filter_of(value: &str) -> Result<bool, String> {
        filter(Some(OsString::from(value))).map(|filter| filter.is_some())
    }

    #[test]
    fn unset_or_blank_installs_nothing() {
        assert!(matches!(filter(None), Ok(None)));
        assert_eq!(filter_of(""), Ok(false));
        assert_eq!(filter_of("  "), Ok(false));
    }

    #[test]
    fn directives_make_a_filter() {
        assert_eq!(filter_of("debug"), Ok(true));
        assert_eq!(filter_of("sd_eureka=trace,hyper_util=debug"), Ok(true));
    }

    #[test]
    fn a_filter_that_does_not_parse_is_a_warning() {
        let warning = filter_of("sd_eureka=loud").expect_err("not a level");
        assert!(
            warning.starts_with("warning: ignoring RUST_LOG=sd_eureka=loud: "),
            "{warning}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_filter_that_is_not_utf8_is_a_warning() {
        use std::os::unix::ffi::OsStringExt as _;

        let warning = filter(Some(OsString::from_vec(vec![b'd', 0xff]))).expect_err("not UTF-8");
        assert_eq!(warning, "warning: ignoring RUST_LOG: it is not valid UTF-8");
    }
}
