//! ZooKeeper node paths: checked once, when a builder is given one, so that nothing later
//! (creating parents, naming a child) can meet a malformed path.

use crate::Error;

/// Checks that `path` is an absolute, normalised ZooKeeper node path other than the root:
/// `/a/b`, with no empty, `.` or `..` segments, no trailing slash and no control
/// characters (ZooKeeper rejects all of these, some only on the server).
pub(crate) fn validate(path: &str) -> Result<(), Error> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Error::invalid_path(path, "it must start with '/'"));
    };
    if rest.is_empty() {
        return Err(Error::invalid_path(path, "the root cannot be used"));
    }
    if rest.split('/').next() == Some("zookeeper") {
        return Err(Error::invalid_path(path, "/zookeeper is reserved"));
    }
    for segment in rest.split('/') {
        match segment {
            "" => return Err(Error::invalid_path(path, "it has an empty segment")),
            "." | ".." => return Err(Error::invalid_path(path, "it has a relative segment")),
            _ => {}
        }
        if segment
            .chars()
            .any(|c| c.is_control() || c == '\u{fffe}' || c == '\u{ffff}')
        {
            return Err(Error::invalid_path(path, "it has a control character"));
        }
    }
    Ok(())
}

/// The path of `child` under `parent`.
pub(crate) fn join(parent: &str, child: &str) -> String {
    let mut path = String::with_capacity(parent.len() + 1 + child.len());
    path.push_str(parent);
    path.push('/');
    path.push_str(child);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_normalised_paths_pass() {
        for ok in [
            "/a",
            "/services/orders",
            "/a-b/c_d/e.f",
            "/zk/zookeeper",
            "/zookeeperx/zookeeper",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_paths_fail_without_panicking() {
        for bad in [
            "",
            "/",
            "a",
            "a/b",
            "/a/",
            "//a",
            "/a//b",
            "/a/./b",
            "/a/..",
            "/zookeeper",
            "/zookeeper/quota",
            "/a\u{0}b",
            "/a\nb",
        ] {
            let error = validate(bad).unwrap_err();
            assert!(error.is_invalid_path(), "{bad:?}: {error}");
        }
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
