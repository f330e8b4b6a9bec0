//! What counts as an instance under a prefix: which keys are instance keys, and which
//! values are plausible instance strings. The instancer skips everything else; the
//! registrar refuses to write it.

use std::fmt;

/// The longest instance string accepted, in bytes: an address or a URL, never a document.
pub const MAX_INSTANCE_LEN: usize = 1024;

/// Why a key under the prefix is not an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The key is the prefix itself, or nested one level deeper ("a directory").
    NotAnInstanceKey,
    /// The value is empty or only whitespace.
    Empty,
    /// The value is not UTF-8.
    NotUtf8,
    /// The value is too long, or holds whitespace or control characters.
    Implausible,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NotAnInstanceKey => "not an instance key (the prefix itself, or nested below it)",
            Skip::Empty => "empty value",
            Skip::NotUtf8 => "value is not UTF-8",
            Skip::Implausible => {
                "value is not an instance string (too long, or holds whitespace or control characters)"
            }
        })
    }
}

/// The part of `key` that names the instance: what follows `prefix` (and the `/` after
/// it, when `prefix` does not end in one). An instance key names one non-empty entry right
/// below the prefix: no `/` in that name.
pub(crate) fn instance_name<'k>(prefix: &[u8], key: &'k [u8]) -> Result<&'k [u8], Skip> {
    let rest = key.strip_prefix(prefix).ok_or(Skip::NotAnInstanceKey)?;
    let rest = if prefix.ends_with(b"/") {
        rest
    } else {
        rest.strip_prefix(b"/").unwrap_or(rest)
    };
    if rest.is_empty() || rest.contains(&b'/') {
        return Err(Skip::NotAnInstanceKey);
    }
    Ok(rest)
}

/// `value` as an instance string: UTF-8, not empty, at most [`MAX_INSTANCE_LEN`] bytes,
/// without whitespace or control characters (`10.0.0.1:8080`, `host:80`,
/// `http://10.0.0.1:8080/` all pass).
pub(crate) fn instance_value(value: &[u8]) -> Result<&str, Skip> {
    let value = std::str::from_utf8(value).map_err(|_| Skip::NotUtf8)?;
    if value.trim().is_empty() {
        return Err(Skip::Empty);
    }
    if value.len() > MAX_INSTANCE_LEN || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Skip::Implausible);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_keys_are_one_level_below_the_prefix() {
        assert_eq!(instance_name(b"/svc/a/", b"/svc/a/x"), Ok(&b"x"[..]));
        assert_eq!(instance_name(b"/svc/a", b"/svc/a/x"), Ok(&b"x"[..]));
        assert_eq!(instance_name(b"/svc/a", b"/svc/ax"), Ok(&b"x"[..]));
        for key in [&b"/svc/a/"[..], b"/svc/a/dir/x", b"/svc/a/dir/", b"/other"] {
            assert_eq!(instance_name(b"/svc/a/", key), Err(Skip::NotAnInstanceKey));
        }
        assert_eq!(
            instance_name(b"/svc/a", b"/svc/a"),
            Err(Skip::NotAnInstanceKey)
        );
        assert_eq!(
            instance_name(b"/svc/a", b"/svc/a/"),
            Err(Skip::NotAnInstanceKey)
        );
    }

    #[test]
    fn values_must_look_like_instances() {
        assert_eq!(instance_value(b"10.0.0.1:8080"), Ok("10.0.0.1:8080"));
        assert_eq!(instance_value(b"http://h:80/"), Ok("http://h:80/"));
        assert_eq!(instance_value(b""), Err(Skip::Empty));
        assert_eq!(instance_value(b"  "), Err(Skip::Empty));
        assert_eq!(instance_value(b"\xff\xfe"), Err(Skip::NotUtf8));
        assert_eq!(instance_value(b"a b"), Err(Skip::Implausible));
        assert_eq!(instance_value(b"a\0"), Err(Skip::Implausible));
        assert_eq!(instance_value(b"{\n}"), Err(Skip::Implausible));
        let long = vec![b'a'; MAX_INSTANCE_LEN + 1];
        assert_eq!(instance_value(&long), Err(Skip::Implausible));
        assert!(instance_value(&long[1..]).is_ok());
    }
}
