//! `sd zk watch` and `sd zk register`, run as real processes against a real `ZooKeeper`
//! (Debian's `zookeeper` package, started on a free loopback port): what they print,
//! how they stop on SIGTERM, and how they fail against an unreachable ensemble. The
//! test that needs the server skips, with one line, where it is not installed.

mod process;

use process::Sd;
use sd_testkit::{ServerProcess, free_port};

/// A `ZooKeeper` on a free port and its address, or `None` (said once) where it is not
/// installed.
fn zookeeper() -> Option<(ServerProcess, String)> {
    let (server, addr) = sd_testkit::zookeeper("sd-cli zk")?;
    Some((server, addr.to_string()))
}

#[test]
fn register_and_watch_a_path_until_sigterm() {
    let Some((_server, servers)) = zookeeper() else {
        return;
    };
    let mut watch = Sd::spawn(&["zk", "watch", "/cli/svc", "--servers", &servers]);
    watch.entry_until("-");

    let mut register = Sd::spawn(&[
        "zk",
        "register",
        "/cli/svc",
        "10.0.0.5:8080",
        "--servers",
        &servers,
        "--session-timeout",
        "2",
    ]);
    let announced = register.line();
    assert!(
        announced.starts_with("registered 10.0.0.5:8080 at /cli/svc/instance-"),
        "{announced:?}"
    );
    watch.entry_until("10.0.0.5:8080");

    assert!(register.terminate().success(), "{}", register.stderr());
    assert_eq!(register.line(), "deregistered 10.0.0.5:8080 under /cli/svc");
    // Deleted at once, not when the session times out.
    assert_eq!(watch.entry(), "-");
    assert!(watch.terminate().success(), "{}", watch.stderr());
}

#[test]
fn an_unreachable_ensemble_is_an_error_and_bad_arguments_fail() {
    let dead = format!("127.0.0.1:{}", free_port().expect("a free port"));

    let mut register = Sd::spawn(&["zk", "register", "/cli/svc", "x:1", "--servers", &dead]);
    assert_eq!(register.wait().code(), Some(1));
    let stderr = register.stderr();
    assert!(
        stderr.starts_with("error: cannot register x:1 under /cli/svc") && stderr.contains(&dead),
        "{stderr:?}"
    );

    let mut watch = Sd::spawn(&["zk", "watch", "/cli/svc", "--servers", &dead]);
    let line = watch.entry();
    assert!(
        line.starts_with("error: cannot reach ZooKeeper") && line.contains(&dead),
        "{line:?}"
    );
    assert!(watch.terminate().success());

    for bad in [
        &["zk", "watch", "relative"][..],
        &["zk", "register", "/a", "has space"],
        &["zk", "register", "/a", "x:1", "--servers", "a:1/chroot"],
    ] {
        let mut sd = Sd::spawn(bad);
        assert_eq!(sd.wait().code(), Some(1), "{bad:?}");
        assert!(sd.stderr().starts_with("error: "), "{bad:?}");
    }
    let mut usage = Sd::spawn(&["zk", "watch", "/a", "--session-timeout", "0"]);
    assert_eq!(usage.wait().code(), Some(2));
}
