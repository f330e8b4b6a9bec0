//! `sd etcd watch` and `sd etcd register`, run as real processes against a real etcd
//! started by the test: what they print, what the watcher sees of the registration, how
//! they stop on SIGTERM, and how `register` fails against an unreachable etcd.

mod process;

use process::Sd;
use sd_testkit::{ServerProcess, free_port};

/// A real etcd on free loopback ports and its URL, or `None` (and one skip line).
fn etcd() -> Option<(ServerProcess, String)> {
    let (server, port) = sd_testkit::etcd("sd-cli etcd")?;
    Some((server, format!("http://127.0.0.1:{port}")))
}

#[test]
fn watch_sees_register_come_and_go() {
    let Some((_etcd, url)) = etcd() else { return };
    let mut watch = Sd::spawn(&["etcd", "watch", "/services/orders/", "--endpoints", &url]);
    // The first line is the listing: etcd answers (errors until it has elected itself).
    loop {
        let entry = watch.entry();
        if entry == "-" {
            break;
        }
        assert!(entry.starts_with("error: "), "{entry:?}");
    }

    let mut register = Sd::spawn(&[
        "etcd",
        "register",
        "/services/orders/",
        "a",
        "10.0.0.1:80",
        "--endpoints",
        &url,
        "--ttl",
        "5",
    ]);
    assert_eq!(
        register.line(),
        format!("registered /services/orders/a at {url}")
    );
    assert_eq!(watch.entry(), "10.0.0.1:80");

    assert!(register.terminate().success(), "{}", register.stderr());
    assert_eq!(register.line(), "deregistered /services/orders/a");
    assert_eq!(watch.entry(), "-");
    assert!(watch.terminate().success(), "{}", watch.stderr());
}

#[test]
fn register_against_an_unreachable_etcd_fails_with_one_error_line() {
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut register = Sd::spawn(&[
        "etcd",
        "register",
        "/svc/",
        "a",
        "10.0.0.1:80",
        "--endpoints",
        &url,
    ]);
    let status = register.wait();
    assert_eq!(status.code(), Some(1));
    let stderr = register.stderr();
    assert!(
        stderr.starts_with("error: cannot register /svc/a: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_key_with_a_slash_is_refused() {
    let mut register = Sd::spawn(&["etcd", "register", "/svc/", "a/b", "10.0.0.1:80"]);
    assert_eq!(register.wait().code(), Some(1));
    assert!(register.stderr().contains("without '/'"));
}
