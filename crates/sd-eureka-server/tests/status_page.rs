//! The status page at `/` as a person sees it: a few instances registered over HTTP (UP,
//! DOWN, overridden `OUT_OF_SERVICE`, two zones, one with a hostile id, metadata and status
//! page URL), then the page checked twice: as HTML, on every machine, and in headless
//! Chromium, which renders it, runs whatever script got through, and takes a screenshot.

mod common;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Http, instance, instance_path, start};
use http::StatusCode;
use sd_eureka::{DataCenterInfo, InstanceInfo, Status};

/// What the hostile registration tries to run: it would retitle the page.
const PWNED: &str = "document.title='pwned'";

/// How long one Chromium run may take before it is killed: a hung browser fails the
/// test instead of hanging CI.
const BROWSER_LIMIT: Duration = Duration::from_secs(60);

/// The registrations: ORDERS with one instance of each status in two zones, and BILLING
/// with one hostile instance.
struct Fleet {
    up: InstanceInfo,
    down: InstanceInfo,
    out: InstanceInfo,
    hostile: InstanceInfo,
}

/// Registers the fleet over HTTP, overrides one instance to `OUT_OF_SERVICE` through the
/// API, and sends a few heartbeats.
async fn fleet(http: &Http) -> Fleet {
    let base = "/eureka/";
    let mut up = instance("orders", 1);
    up.data_center_info = DataCenterInfo::amazon(
        [("availability-zone".to_owned(), "us-east-1a".to_owned())]
            .into_iter()
            .collect(),
    );
    let mut down = instance("orders", 2);
    down.status = Status::Down;
    down.metadata.insert("zone".into(), "us-east-1b".into());
    let mut out = instance("orders", 3);
    out.metadata.insert("zone".into(), "us-east-1a".into());
    out.metadata.insert("version".into(), "1.4.2".into());
    let mut hostile = instance("billing", 4);
    hostile.instance_id = format!("<script>{PWNED}</script>");
    hostile.status = Status::Starting;
    hostile.status_page_url = Some(format!("javascript:{PWNED}"));
    hostile.metadata.insert("zone".into(), "us-east-1b".into());
    hostile.metadata.insert(
        "note".into(),
        format!("<img src=x onerror=\"{PWNED}\"><script>{PWNED}</script>"),
    );
    for i in [&up, &down, &out, &hostile] {
        http.register_ok(base, i).await;
    }
    let set = format!("{}/status?value=OUT_OF_SERVICE", instance_path(base, &out));
    assert_eq!(http.put(&set).await.status, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(http.renew(base, &up, "UP").await.status, StatusCode::OK);
    }
    Fleet {
        up,
        down,
        out,
        hostile,
    }
}

/// The `<tr>` that holds `text`.
fn row<'a>(html: &'a str, text: &str) -> &'a str {
    html.split("<tr>")
        .find(|row| row.contains(text))
        .unwrap_or_else(|| panic!("no row holds {text:?} in\n{html}"))
}

/// What the page holds in either form, served or rendered: a row per instance with its
/// status, links only to web URLs, and the hostile strings as text.
fn check_instances(html: &str, fleet: &Fleet) {
    let up = row(html, &fleet.up.instance_id);
    assert!(
        up.contains(&format!(
            "<a href=\"http://host-1:8080/info\" title=\"status page\">{}</a>",
            fleet.up.instance_id
        )),
        "linked to its status page: {up}"
    );
    assert!(
        up.contains("<span class=\"status st-UP\">UP</span>"),
        "{up}"
    );
    assert!(up.contains("<td class=\"nw\">us-east-1a</td>"), "{up}");
    let down = row(html, &fleet.down.instance_id);
    assert!(
        down.contains("<span class=\"status st-DOWN\">DOWN</span>"),
        "{down}"
    );
    assert!(!down.contains("overridden"), "{down}");
    let out = row(html, &fleet.out.instance_id);
    assert!(
        out.contains("<span class=\"status st-OUT_OF_SERVICE\">OUT_OF_SERVICE</span>"),
        "{out}"
    );
    assert!(out.contains("overridden; the instance reports UP"), "{out}");
    assert!(out.contains("<code>version=1.4.2</code>"), "{out}");
    let hostile = row(html, "BILLING");
    assert!(hostile.contains("<span class=\"status st-STARTING\">STARTING</span>"));
    let hostile_url = fleet.hostile.status_page_url.as_deref().unwrap_or_default();
    assert!(hostile_url.starts_with("javascript:"));
    assert!(
        !html.contains("href=\"javascript"),
        "a javascript: URL is no link"
    );
    for group in ["ORDERS", "BILLING"] {
        assert_eq!(
            html.matches(&format!("<div class=\"name\">{group}</div>"))
                .count(),
            1,
            "one group for {group}"
        );
    }
}

#[tokio::test]
async fn the_page_groups_apps_tells_statuses_apart_and_escapes_registrations() {
    let server = start().await;
    let http = Http::new(&server);
    let fleet = fleet(&http).await;
    let page = http.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.media_type(), "text/html");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = page.text();

    check_instances(&html, &fleet);
    for text in [
        "<meta http-equiv=\"refresh\" content=\"10\">",
        "<th>Renews (last min)</th><td>3",
        "4 instance(s) of 2 application(s)",
        "Zones: us-east-1a (2), us-east-1b (1)",
        "<span class=\"status st-UP\">UP (1)</span>",
        "<span class=\"status st-DOWN\">DOWN (1)</span>",
        "<span class=\"status st-OUT_OF_SERVICE\">OUT_OF_SERVICE (1)</span>",
        "&lt;script&gt;document.title=&apos;pwned&apos;&lt;/script&gt;",
        "status page (not a web link): <code>javascript:document.title=&apos;pwned&apos;</code>",
        &format!("http://{}/eureka/", server.local_addr()),
    ] {
        assert!(html.contains(text), "{text:?} missing from\n{html}");
    }
    assert!(!html.contains("<script"), "no script at all:\n{html}");
    assert!(!html.contains("<img"), "no injected element:\n{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_page_as_a_person_sees_it() {
    let Some(chromium) = find_chromium() else {
        // Straight to stderr, past the test harness's capture, so CI's log shows the skip.
        let _ = writeln!(
            std::io::stderr(),
            "skipping status page browser test: chromium not installed (apt-get install chromium)"
        );
        return;
    };
    let server = start().await;
    let http = Http::new(&server);
    let fleet = fleet(&http).await;
    let url = format!("http://{}/", server.local_addr());
    let target = target_dir();
    let work = target
        .join("tmp")
        .join(format!("status-page-browser-{}", std::process::id()));
    // A fresh profile each run: nothing cached or remembered from an earlier one.
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    // The DOM after Chromium parsed and rendered the page (and ran any script in it).
    let dom = run_chromium(&chromium, &work, "dom", &["--dump-dom", &url]).await;
    assert!(
        dom.contains("<title>sd eureka registry</title>"),
        "no injected script retitled the page:\n{dom}"
    );
    assert!(!dom.contains("pwned</title>"), "{dom}");
    assert!(!dom.to_ascii_lowercase().contains("<script"), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    check_instances(&dom, &fleet);

    // The words a person reads, tags dropped and entities decoded.
    let text = visible_text(&dom);
    for seen in [
        "System Status",
        "Renews (last min)",
        "Lease expiration enabled",
        "DS Replicas",
        "Instances currently registered",
        "4 instance(s) of 2 application(s)",
        "ORDERS",
        "Zones: us-east-1a (2), us-east-1b (1)",
        "UP (1) DOWN (1) OUT_OF_SERVICE (1)",
        "BILLING",
        "STARTING (1)",
        &format!("<script>{PWNED}</script>"),
        &format!("note=<img src=x onerror=\"{PWNED}\"><script>{PWNED}</script>"),
        &format!("status page (not a web link): javascript:{PWNED}"),
        "OUT_OF_SERVICE overridden; the instance reports UP",
        "General Info",
    ] {
        assert!(text.contains(seen), "{seen:?} not on the page:\n{text}");
    }

    let shot = target.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let flag = format!("--screenshot={}", shot.display());
    run_chromium(
        &chromium,
        &work,
        "screenshot",
        &[&flag, "--window-size=1280,900", &url],
    )
    .await;
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let dimension =
        |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!(
        (dimension(16), dimension(20)),
        (1280, 900),
        "the window's size"
    );
    println!("status page screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&work);
    server.shutdown().await;
}

/// `chromium` or `chromium-browser` on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The workspace's target directory: cargo gives integration tests `target/tmp`.
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// Runs headless Chromium with `args` (after the common ones) and returns what it wrote
/// to stdout; panics with its stderr when it fails or outlives [`BROWSER_LIMIT`].
async fn run_chromium(chromium: &Path, work: &Path, name: &str, args: &[&str]) -> String {
    let stdout = work.join(format!("{name}.out"));
    let stderr = work.join(format!("{name}.err"));
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            // Containers often have a tiny /dev/shm.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            // Only the registry on loopback is contacted: no updates, no telemetry.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pings",
            "--dns-prefetch-disable",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join(format!("{name}-profile")).display()
        ))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let what = format!("{} {}", chromium.display(), args.join(" "));
    // Waiting blocks, so it runs off the runtime's workers, which keep serving the page.
    let outcome = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
        let deadline = Instant::now() + BROWSER_LIMIT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("exited with {status}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("killed after {BROWSER_LIMIT:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(format!("cannot wait for it: {e}")),
            }
        }
    })
    .await
    .unwrap();
    let read = |path: &Path| {
        let mut text = String::new();
        let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
        text
    };
    if let Err(error) = outcome {
        panic!("{what}: {error}\nstderr:\n{}", read(&stderr));
    }
    read(&stdout)
}

/// The body's text as a person reads it: tags dropped, the entities a serialized DOM
/// uses decoded, runs of white space made one space.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body").map_or(dom, |(_, body)| body);
    let mut text = String::new();
    let mut in_tag = true; // inside `<body ...>` itself
    for c in body.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                text.push(' ');
            }
            (true, '>') => in_tag = false,
            (false, c) => text.push(c),
            (true, _) => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
