//! `sd eureka serve`, run as a real process: it announces its address, answers the
//! registry API, stops cleanly on SIGTERM, and fails plainly on a busy address or an
//! incomplete command line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The bound on every wait: the announcement, a reply, an exit.
const LIMIT: Duration = Duration::from_secs(20);

/// An `sd` process, killed when the test ends however it ends.
struct Sd(Child);

impl Sd {
    /// Starts `sd` with `args`, stdout and stderr piped.
    fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    /// Starts `sd` with `args` and these environment variables, stdout and stderr piped.
    fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_sd"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sd");
        Self(child)
    }

    /// Waits at most [`LIMIT`] for the exit; panics past it (the drop kills it).
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait for sd") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sd still running after {LIMIT:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its whole stderr, once it has exited.
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        self.0
            .stderr
            .take()
            .expect("stderr is piped")
            .read_to_string(&mut text)
            .expect("read stderr");
        text
    }

    /// Its whole stdout, once it has exited.
    fn stdout(&mut self) -> String {
        let mut text = String::new();
        self.0
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_string(&mut text)
            .expect("read stdout");
        text
    }
}

impl Drop for Sd {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Reads the first stdout line (`listening on http://ADDR/eureka/`) within [`LIMIT`];
/// the rest of stdout is drained by the reading thread.
fn announcement(sd: &mut Sd) -> String {
    let stdout = sd.0.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        lines.for_each(drop);
    });
    receiver
        .recv_timeout(LIMIT)
        .expect("sd announces itself in time")
        .expect("sd printed a line")
        .expect("stdout is readable")
}

/// `GET path` over a plain HTTP/1.1 connection; the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, &[], "")
}

/// One request over a plain HTTP/1.1 connection (closed after the reply); the status
/// code and the body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.extend([name, ": ", value, "\r\n"]);
    }
    write!(stream, "{head}\r\n{body}").expect("send the request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a complete reply");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// Starts `sd eureka serve --addr 127.0.0.1:0` with `more` arguments; the process and
/// the address it announced.
fn serve(more: &[&str]) -> (Sd, SocketAddr) {
    serve_with_env(more, &[])
}

/// [`serve`], with these environment variables.
fn serve_with_env(more: &[&str], env: &[(&str, &str)]) -> (Sd, SocketAddr) {
    let mut args = vec!["eureka", "serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(more);
    let mut sd = Sd::spawn_with_env(&args, env);
    let line = announcement(&mut sd);
    let addr = line
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/eureka/"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected announcement {line:?}"));
    (sd, addr)
}

/// A JSON registration of `host-{n}:orders:8080`, as a third-party client writes it;
/// `extra` (`,"leaseInfo":{...}` and the like) is spliced into the instance object, and the
/// data center left out when `data_center` is false.
fn registration(n: u32, extra: &str, data_center: bool) -> String {
    let data_center = if data_center {
        r#","dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"}"#
    } else {
        ""
    };
    format!(
        r#"{{"instance":{{"instanceId":"host-{n}:orders:8080","hostName":"host-{n}","app":"ORDERS","ipAddr":"10.0.0.{n}","status":"UP","port":{{"$":8080,"@enabled":"true"}}{data_center}{extra}}}}}"#
    )
}

/// POSTs a JSON registration to `/eureka/apps/ORDERS`; the status and body.
fn register(addr: SocketAddr, body: &str) -> (u16, String) {
    request(
        addr,
        "POST",
        "/eureka/apps/ORDERS",
        &[("Content-Type", "application/json")],
        body,
    )
}

#[test]
fn serves_the_registry_until_sigterm() {
    let (mut sd, addr) = serve(&[]);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "the announced port is the one bound");

    let (status, body) = get(addr, "/eureka/apps");
    assert_eq!(status, 200, "body: {body}");
    assert!(body.contains("<applications>"), "body: {body}");

    let terminated = Command::new("kill")
        .args(["-TERM", &sd.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(terminated.success());
    let status = sd.wait();
    assert_eq!(status.code(), Some(0), "stderr: {}", sd.stderr());
}

#[test]
fn a_busy_address_is_one_error_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut sd = Sd::spawn(&["eureka", "serve", "--addr", &addr]);
    let status = sd.wait();
    let stderr = sd.stderr();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(stderr.contains(&addr), "names the address: {stderr}");
    assert_eq!(sd.stdout(), "", "nothing announced");
}

#[test]
fn user_without_password_is_a_usage_error() {
    let mut sd = Sd::spawn(&[
        "eureka",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--user",
        "admin",
    ]);
    let status = sd.wait();
    let stderr = sd.stderr();
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("--password"), "stderr: {stderr}");
}

#[test]
fn sync_wait_refuses_reads_with_403_and_takes_registrations() {
    let (_sd, addr) = serve(&["--sync-wait", "3600"]);
    let (status, body) = register(addr, &registration(1, "", true));
    assert_eq!(status, 204, "body: {body}");
    for path in [
        "/eureka/apps",
        "/eureka/apps/delta",
        "/eureka/apps/ORDERS",
        "/eureka/v2/apps/ORDERS/host-1:orders:8080",
        "/eureka/instances/host-1:orders:8080",
        "/eureka/vips/orders",
    ] {
        let (status, body) = get(addr, path);
        assert_eq!(status, 403, "GET {path}: {body}");
    }
    let (status, _) = request(
        addr,
        "PUT",
        "/eureka/apps/ORDERS/host-1:orders:8080?status=UP",
        &[],
        "",
    );
    assert_eq!(status, 200, "a heartbeat is a write");

    // Off by default.
    let (_sd, addr) = serve(&[]);
    assert_eq!(get(addr, "/eureka/apps").0, 200);
}

/// `GET path` asking for JSON.
fn get_json(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, &[("Accept", "application/json")], "")
}

#[test]
fn zero_and_negative_leases_are_stored_as_the_defaults() {
    let (_sd, addr) = serve(&[]);
    let lease = r#","leaseInfo":{"renewalIntervalInSecs":0,"durationInSecs":-1}"#;
    let (status, body) = register(addr, &registration(1, lease, true));
    assert_eq!(status, 204, "body: {body}");
    let (status, json) = get_json(addr, "/eureka/apps/ORDERS/host-1:orders:8080");
    assert_eq!(status, 200, "body: {json}");
    assert!(json.contains(r#""renewalIntervalInSecs":30"#), "{json}");
    assert!(json.contains(r#""durationInSecs":90"#), "{json}");
    let (_, xml) = get(addr, "/eureka/v2/apps/ORDERS");
    assert!(xml.contains("<durationInSecs>90</durationInSecs>"), "{xml}");
}

#[test]
fn odd_metadata_does_not_break_reads_in_xml() {
    let (_sd, addr) = serve(&[]);
    let metadata = r#","metadata":{"bad key":"spaced","zone":"a\u0001b"}"#;
    let (status, body) = register(addr, &registration(1, metadata, true));
    assert_eq!(status, 204, "body: {body}");
    let (status, xml) = get(addr, "/eureka/apps");
    assert_eq!(status, 200, "the default format is XML: {xml}");
    assert!(xml.contains("<bad_key>spaced</bad_key>"), "{xml}");
    let (status, json) = get_json(addr, "/eureka/apps");
    assert_eq!(status, 200, "{json}");
    assert!(
        json.contains(r#""bad key":"spaced""#),
        "JSON shows it as sent: {json}"
    );
    let (status, _) = request(
        addr,
        "DELETE",
        "/eureka/apps/ORDERS/host-1:orders:8080",
        &[],
        "",
    );
    assert_eq!(status, 200);
    let (status, delta) = get(addr, "/eureka/apps/delta");
    assert_eq!(status, 200, "the delta still holds it: {delta}");
}

#[test]
fn a_registration_without_data_center_info_gets_400() {
    let (_sd, addr) = serve(&[]);
    let (status, body) = register(addr, &registration(1, "", false));
    assert_eq!(status, 400, "body: {body}");
    assert!(body.contains("dataCenterInfo"), "says why: {body}");
    assert_eq!(register(addr, &registration(1, "", true)).0, 204);
}

#[test]
fn a_heartbeat_status_does_not_change_the_instance() {
    let (_sd, addr) = serve(&[]);
    assert_eq!(register(addr, &registration(1, "", true)).0, 204);
    let path = "/eureka/apps/ORDERS/host-1:orders:8080";
    let (status, _) = request(addr, "PUT", &format!("{path}?status=BOGUS"), &[], "");
    assert_eq!(status, 200);
    let (_, json) = get_json(addr, path);
    assert!(json.contains(r#""status":"UP""#), "{json}");
}

/// `Authorization` for `dev:s3cret`.
const DEV_S3CRET: &str = "Basic ZGV2OnMzY3JldA==";

/// Its command line, as `ps` shows it to any user of the machine.
fn command_line(sd: &Sd) -> String {
    let raw = std::fs::read(format!("/proc/{}/cmdline", sd.0.id())).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ")
}

/// The server at `addr` wants `dev:s3cret`.
fn assert_guarded(addr: SocketAddr) {
    assert_eq!(get(addr, "/eureka/apps").0, 401, "no credentials");
    let wrong = [("Authorization", "Basic ZGV2Ondyb25n")];
    assert_eq!(request(addr, "GET", "/eureka/apps", &wrong, "").0, 401);
    let right = [("Authorization", DEV_S3CRET)];
    assert_eq!(request(addr, "GET", "/eureka/apps", &right, "").0, 200);
}

#[test]
fn the_password_can_come_from_a_file_or_a_variable_and_stays_out_of_ps() {
    let file = std::env::temp_dir().join(format!("sd-serve-password-{}", std::process::id()));
    std::fs::write(&file, "s3cret\n").expect("write the password file");
    let path = file.to_str().expect("a UTF-8 temp path");
    let (sd, addr) = serve(&["--user", "dev", "--password-file", path]);
    assert_guarded(addr);
    let shown = command_line(&sd);
    assert!(!shown.contains("s3cret"), "{shown}");
    drop(sd);
    let _ = std::fs::remove_file(&file);

    let variable = [("SD_TEST_SERVE_PASSWORD", "s3cret")];
    let args = ["--user", "dev", "--password-env", "SD_TEST_SERVE_PASSWORD"];
    let (sd, addr) = serve_with_env(&args, &variable);
    assert_guarded(addr);
    let shown = command_line(&sd);
    assert!(!shown.contains("s3cret"), "{shown}");

    // Still accepted on the command line, for throwaway setups.
    let (_sd, addr) = serve(&["--user", "dev", "--password", "s3cret"]);
    assert_guarded(addr);
}

#[test]
fn a_missing_password_source_is_one_error_line() {
    let missing = std::env::temp_dir().join("sd-serve-no-such-password-file");
    let missing = missing.to_str().expect("a UTF-8 temp path");
    let args = ["eureka", "serve", "--addr", "127.0.0.1:0", "--user", "dev"];
    for (source, value) in [
        ("--password-file", missing),
        ("--password-env", "SD_TEST_NO_SUCH_VARIABLE"),
    ] {
        let mut all = args.to_vec();
        all.extend([source, value]);
        let mut sd = Sd::spawn(&all);
        let status = sd.wait();
        let stderr = sd.stderr();
        assert_eq!(status.code(), Some(1), "{source}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{source}: {stderr}");
        assert!(stderr.contains(value), "names it: {stderr}");
        assert_eq!(sd.stdout(), "", "nothing announced");
    }
}

/// `lastRenewalTimestamp` of `host-1:orders:8080` as a JSON full fetch shows it.
fn renewal_shown(addr: SocketAddr) -> String {
    let (status, json) = get_json(addr, "/eureka/apps");
    assert_eq!(status, 200, "{json}");
    let at = json
        .find(r#""lastRenewalTimestamp":"#)
        .expect("a lease in the answer");
    json[at..]
        .split([',', '}'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn response_cache_ttl_0_shows_every_renewal_at_once() {
    let path = "/eureka/apps/ORDERS/host-1:orders:8080";
    for (ttl, live) in [("0", true), ("3600", false)] {
        let (_sd, addr) = serve(&["--response-cache-ttl", ttl]);
        assert_eq!(register(addr, &registration(1, "", true)).0, 204);
        let first = renewal_shown(addr);
        // Renew until the clock has moved on by a millisecond at least: then a live
        // answer must differ, a cached one must not.
        let deadline = Instant::now() + LIMIT;
        loop {
            assert_eq!(request(addr, "PUT", path, &[], "").0, 200);
            let (_, instance) = get_json(addr, path);
            if !instance.contains(&first) {
                break;
            }
            assert!(Instant::now() < deadline, "the renewal never showed");
            thread::sleep(Duration::from_millis(5));
        }
        let again = renewal_shown(addr);
        assert_eq!(
            again != first,
            live,
            "--response-cache-ttl {ttl}: {first} then {again}"
        );
    }
}

/// Under an open-file limit of 256, 300 connections that send their headers a byte a
/// second used to take every descriptor, and `GET apps` timed out for as long as they
/// stayed. With a cap below the limit, the registry keeps answering.
#[test]
fn slow_connections_do_not_lock_out_clients() {
    let sd = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -n 256 && exec "$0" "$@""#,
            env!("CARGO_BIN_EXE_sd"),
            "eureka",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--max-connections",
            "100",
            "--header-read-timeout",
            "5",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sd under sh");
    let mut sd = Sd(sd);
    let line = announcement(&mut sd);
    let addr: SocketAddr = line
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/eureka/"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected announcement {line:?}"));

    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
        let _ = stream.write_all(b"G");
        slow.push(stream);
    }
    // A byte a second, for a few seconds, while well-behaved clients come and go.
    for second in 0..3 {
        for stream in &mut slow {
            let _ = stream.write_all(&b"ET /"[second..=second]);
        }
        for _ in 0..5 {
            let (status, body) = get(addr, "/eureka/apps");
            assert_eq!(status, 200, "{body}");
        }
        thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn extreme_option_values_do_not_panic() {
    let max = u64::MAX.to_string();
    for (secs, connections) in [(max.as_str(), "0"), ("0", "18446744073709551615")] {
        let mut args = vec!["--max-connections", connections];
        for option in [
            "--eviction-interval",
            "--delta-retention",
            "--response-cache-ttl",
            "--header-read-timeout",
            "--idle-timeout",
        ] {
            args.extend([option, secs]);
        }
        let (mut sd, addr) = serve(&args);
        for _ in 0..3 {
            assert_eq!(
                register(addr, &registration(1, "", true)).0,
                204,
                "{args:?}"
            );
            assert_eq!(get(addr, "/eureka/apps").0, 200, "{args:?}");
            assert_eq!(get(addr, "/eureka/apps/delta").0, 200, "{args:?}");
        }
        assert!(
            matches!(sd.0.try_wait(), Ok(None)),
            "still running: {args:?}"
        );
    }
    let (_sd, addr) = serve(&["--sync-wait", &max]);
    assert_eq!(get(addr, "/eureka/apps").0, 403);
}
