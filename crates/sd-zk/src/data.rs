//! What a child node's data must look like to be taken as an instance string.
//!
//! go-kit's ZooKeeper instancer publishes each child's data as it is. Data that cannot
//! be an address (nothing, binary, a whole document) is skipped instead, with a warning,
//! so that one bad node never costs a client its good instances.

use std::fmt;

/// The longest data taken as an instance string: far more than any URL or `host:port`,
/// far less than the 1 MB a node may hold.
pub const MAX_INSTANCE_LEN: usize = 1024;

/// Why a child's data is not an instance string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    Empty,
    NotUtf8,
    TooLong(usize),
    Whitespace,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Empty => f.write_str("it is empty"),
            Rejected::NotUtf8 => f.write_str("it is not UTF-8"),
            Rejected::TooLong(len) => {
                write!(f, "it is {len} bytes long, over {MAX_INSTANCE_LEN}")
            }
            Rejected::Whitespace => f.write_str("it has whitespace or control characters"),
        }
    }
}

/// The instance string in `data`: non-empty UTF-8 of at most [`MAX_INSTANCE_LEN`] bytes,
/// with no whitespace or control characters (an address or URL has none).
pub(crate) fn instance(data: &[u8]) -> Result<&str, Rejected> {
    if data.is_empty() {
        return Err(Rejected::Empty);
    }
    if data.len() > MAX_INSTANCE_LEN {
        return Err(Rejected::TooLong(data.len()));
    }
    let text = std::str::from_utf8(data).map_err(|_| Rejected::NotUtf8)?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Rejected::Whitespace);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_urls_are_instances() {
        for ok in ["10.0.0.1:8080", "http://orders:80/", "[::1]:9000", "host"] {
            assert_eq!(instance(ok.as_bytes()), Ok(ok));
        }
    }

    #[test]
    fn implausible_data_is_rejected() {
        assert_eq!(instance(b""), Err(Rejected::Empty));
        assert_eq!(instance(&[0xff, 0xfe, 0x00]), Err(Rejected::NotUtf8));
        assert_eq!(instance(b"a b"), Err(Rejected::Whitespace));
        assert_eq!(instance(b"a\n"), Err(Rejected::Whitespace));
        assert_eq!(instance(b"a\0"), Err(Rejected::Whitespace));
        let long = vec![b'a'; MAX_INSTANCE_LEN + 1];
        assert_eq!(
            instance(&long),
            Err(Rejected::TooLong(MAX_INSTANCE_LEN + 1))
        );
        assert!(instance(&long[..MAX_INSTANCE_LEN]).is_ok());
        assert!(Rejected::TooLong(2000).to_string().contains("2000"));
    }
}
