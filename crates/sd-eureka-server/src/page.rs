//! The HTML status page at `/`, for a person developing against the registry: what
//! Spring's Eureka dashboard shows (system status, lease settings, replicas, the
//! instances grouped by app with their zones and statuses), plus what development needs
//! (each instance's own status beside an override, late heartbeats, metadata).
//!
//! Every registered string is untrusted input: it is escaped wherever it lands, and a
//! status page URL becomes a link only when it is `http:` or `https:`. The page has no
//! script; it refreshes itself with `<meta http-equiv="refresh">`, which needs none.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::Full;
use quick_xml::escape::escape;
use sd_eureka::{InstanceInfo, Status};

use crate::registry::{
    DEFAULT_DURATION_SECS, DEFAULT_RENEWAL_SECS, Millis, PageLease, PageSnapshot,
};

/// How often the page reloads itself, in seconds.
const REFRESH_SECS: u32 = 10;

/// The share of expected heartbeats below which real servers stop expiring leases
/// (`renewalPercentThreshold`); shown as they show it, for comparison.
const RENEWAL_PERCENT_THRESHOLD: f64 = 0.85;

/// Every status, in the order the page counts them.
const STATUSES: [Status; 5] = [
    Status::Up,
    Status::Down,
    Status::Starting,
    Status::OutOfService,
    Status::Unknown,
];

/// What the page shows besides the registry: the server's address, start and settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) local_addr: SocketAddr,
    pub(crate) started: Millis,
    pub(crate) eviction_interval: Duration,
    pub(crate) delta_retention: Duration,
    pub(crate) delta_capacity: usize,
    pub(crate) response_cache_ttl: Duration,
    pub(crate) max_connections: usize,
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}\
header{background:#243447;color:#fff;padding:12px 24px;display:flex;align-items:baseline;gap:16px}\
header h1{font-size:1.4em;margin:0}header span{color:#c8d3df;font-size:.9em}\
main{padding:4px 24px 24px}h2{font-size:1.1em;margin:16px 0 6px;border-bottom:2px solid #d5dbe2;padding-bottom:3px}\
.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}p{margin:6px 0}\
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d5dbe2;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eef1f5}table.kv{font-size:.92em}table.kv th{font-weight:normal;color:#445}\
table.instances{width:100%;font-size:.95em}td.nw{white-space:nowrap}td.meta{min-width:12em}td.id{min-width:10em;overflow-wrap:anywhere}\
th.app{background:#fff;min-width:12em}.app .name{font-weight:bold;font-size:1.05em}\
.sub{font-weight:normal;color:#556;font-size:.85em;margin-top:2px}\
.status{display:inline-block;font-weight:bold;padding:1px 6px;border-radius:3px;font-size:.9em}\
.st-UP{background:#dcf5e3;color:#0b6b2b}.st-DOWN{background:#fbe0e0;color:#a40000}\
.st-OUT_OF_SERVICE{background:#fff0d6;color:#8a4b00;outline:1px dashed #c07000}\
.st-STARTING{background:#e0ecfb;color:#1d4f91}.st-UNKNOWN{background:#e8e8e8;color:#555}\
.override{display:block;font-size:.8em;color:#8a4b00;margin-top:2px}\
.late{color:#a40000;font-weight:bold}code{font-size:.85em;overflow-wrap:anywhere}\
.notice{background:#fff0d6;border:1px solid #c07000;padding:6px 10px}.none{color:#889}";

/// The page, as of `now`. `reads_refused_for` is how much longer the read gate refuses
/// registry reads, when it does.
pub(crate) fn render(
    registry: &PageSnapshot,
    now: Millis,
    settings: &Settings,
    reads_refused_for: Option<Duration>,
) -> Response<Full<Bytes>> {
    let mut html = String::with_capacity(8192);
    // Writing to a String cannot fail: the results of `write!` below are ignored.
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>sd eureka registry</title><style>{STYLE}</style></head><body>\
         <header><h1>sd eureka registry</h1><span>Eureka-compatible registry for development \
         · API at <code>/eureka/apps</code> · refreshes every {REFRESH_SECS} s</span></header><main>"
    );
    if let Some(left) = reads_refused_for {
        let left = if left == Duration::MAX {
            "for as long as it runs".to_owned()
        } else {
            format!("for another {}", span(left.as_secs()))
        };
        let _ = write!(
            html,
            "<p class=\"notice\">Registry reads are refused with 403 {left} (sync wait), as a \
             real server that got nothing from its peers does; registrations and heartbeats \
             are accepted.</p>"
        );
    }
    system_status(&mut html, registry, now, settings);
    html.push_str(
        "<h2>DS Replicas</h2><p class=\"none\">None: a single registry for development, \
         with no peers to replicate to.</p>",
    );
    instances(&mut html, registry, now);
    general_info(&mut html, settings);
    html.push_str("</main></body></html>");
    let mut reply = Response::new(Full::new(Bytes::from(html)));
    let headers = reply.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Each load shows the registry as it is then; a cached copy would hide changes.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

fn system_status(html: &mut String, registry: &PageSnapshot, now: Millis, settings: &Settings) {
    let expected = registry.expected_renewals_per_minute;
    // Non-negative and far below 2^52 heartbeats a minute, so the casts are exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (expected, threshold) = (
        expected.round() as u64,
        (expected * RENEWAL_PERCENT_THRESHOLD).floor() as u64,
    );
    let renewed = registry.renewals_last_minute;
    let late = if renewed < threshold {
        " <span class=\"late\" title=\"fewer heartbeats than the leases expect\">(below threshold)</span>"
    } else {
        ""
    };
    let _ = write!(
        html,
        "<h2>System Status</h2><div class=\"cols\"><table class=\"kv\">\
         <tr><th>Environment</th><td>development</td></tr>\
         <tr><th>Data center</th><td>default</td></tr>\
         <tr><th>Current time</th><td>{}</td></tr>\
         <tr><th>Uptime</th><td>{}</td></tr>\
         <tr><th>Lease expiration enabled</th><td>true (no self-preservation)</td></tr>\
         <tr><th>Renews threshold</th><td>{threshold}</td></tr>\
         <tr><th>Renews expected (per min)</th><td>{expected}</td></tr>\
         <tr><th>Renews (last min)</th><td>{renewed}{late}</td></tr>\
         </table>",
        http_date(now),
        span(age(now, settings.started)),
    );
    let _ = write!(
        html,
        "<table class=\"kv\">\
         <tr><th>Eviction of expired leases</th><td>every {}</td></tr>\
         <tr><th>Default lease</th><td>renew every {DEFAULT_RENEWAL_SECS} s, expires after {DEFAULT_DURATION_SECS} s</td></tr>\
         <tr><th>Delta retention</th><td>{} (at most {} changes)</td></tr>\
         <tr><th>Response cache</th><td>{}</td></tr>\
         </table></div>",
        span(settings.eviction_interval.as_secs()),
        span(settings.delta_retention.as_secs()),
        settings.delta_capacity,
        if settings.response_cache_ttl.is_zero() {
            "off: every full fetch is live".to_owned()
        } else {
            format!(
                "full fetches up to {} old",
                span(settings.response_cache_ttl.as_secs())
            )
        },
    );
}

fn instances(html: &mut String, registry: &PageSnapshot, now: Millis) {
    let count: usize = registry.apps.iter().map(|(_, leases)| leases.len()).sum();
    let _ = write!(
        html,
        "<h2>Instances currently registered</h2><p>{count} instance(s) of {} application(s).</p>\
         <table class=\"instances\"><thead><tr><th>Application</th><th>Instance</th>\
         <th>Status</th><th>Zone</th><th>Address</th><th>Last renewal</th><th>Registered</th>\
         <th>Metadata</th></tr></thead>",
        registry.apps.len(),
    );
    if count == 0 {
        html.push_str(
            "<tbody><tr><td colspan=\"8\" class=\"none\">No instances registered.</td></tr></tbody>",
        );
    }
    for (app, group) in &registry.apps {
        html.push_str("<tbody>");
        for (k, lease) in group.iter().enumerate() {
            html.push_str("<tr>");
            if k == 0 {
                app_cell(html, app, group);
            }
            instance_row(html, lease, now);
            html.push_str("</tr>");
        }
        html.push_str("</tbody>");
    }
    html.push_str("</table>");
}

/// The first cell of an app's rows: its name, zones and status counts.
fn app_cell(html: &mut String, name: &str, group: &[PageLease]) {
    let _ = write!(
        html,
        "<th class=\"app\" scope=\"rowgroup\" rowspan=\"{}\"><div class=\"name\">{}</div>\
         <div class=\"sub\">{} instance(s)</div><div class=\"sub\">Zones: ",
        group.len(),
        escape(name),
        group.len(),
    );
    // Few zones per app: a sorted list of (zone, count) is enough.
    let mut zones: Vec<(&str, usize)> = Vec::new();
    for lease in group {
        let zone = zone(&lease.instance).unwrap_or("none");
        match zones.binary_search_by(|(z, _)| z.cmp(&zone)) {
            Ok(at) => zones[at].1 += 1,
            Err(at) => zones.insert(at, (zone, 1)),
        }
    }
    let zones: Vec<String> = zones
        .iter()
        .map(|(zone, n)| format!("{} ({n})", escape(*zone)))
        .collect();
    html.push_str(&zones.join(", "));
    html.push_str("</div><div class=\"sub\">");
    for status in STATUSES {
        let n = group.iter().filter(|l| l.instance.status == status).count();
        if n > 0 {
            let _ = write!(
                html,
                "<span class=\"status st-{status}\">{status} ({n})</span> "
            );
        }
    }
    html.push_str("</div></th>");
}

fn instance_row(html: &mut String, lease: &PageLease, now: Millis) {
    let instance = &*lease.instance;
    let id = escape(&instance.instance_id);
    html.push_str("<td class=\"id\">");
    match instance.status_page_url.as_deref() {
        Some(url) if is_web_link(url) => {
            let _ = write!(
                html,
                "<a href=\"{}\" title=\"status page\">{id}</a>",
                escape(url)
            );
        }
        // Shown, not linked: a `javascript:` or `data:` URL must not become a link.
        Some(url) => {
            let _ = write!(
                html,
                "{id}<div class=\"sub\">status page (not a web link): <code>{}</code></div>",
                escape(url)
            );
        }
        None => html.push_str(&id),
    }
    let status = instance.status;
    let _ = write!(
        html,
        "</td><td><span class=\"status st-{status}\">{status}</span>"
    );
    match lease.overridden {
        Some(_) => {
            let _ = write!(
                html,
                "<span class=\"override\">overridden; the instance reports {}</span>",
                lease.reported
            );
        }
        // After an override is removed, the status is what the removal set, until the
        // instance registers again.
        None if lease.reported != status => {
            let _ = write!(
                html,
                "<span class=\"override\">set by the API; the instance reported {}</span>",
                lease.reported
            );
        }
        None => {}
    }
    let zone = zone(instance).map_or_else(
        || "<span class=\"none\">none</span>".to_owned(),
        |z| escape(z).into_owned(),
    );
    let lease_info = instance.lease_info.unwrap_or_default();
    let renewal_age = age(now, lease.last_renewal);
    let late = renewal_age > u64::from(lease_info.renewal_interval_in_secs);
    let _ = write!(
        html,
        "</td><td class=\"nw\">{zone}</td><td class=\"nw\">{}</td><td{}>{} ago",
        escape(instance.address()),
        if late {
            " class=\"late\""
        } else {
            " class=\"nw\""
        },
        span(renewal_age),
    );
    if late {
        let left = u64::from(lease_info.duration_in_secs).saturating_sub(renewal_age);
        let _ = write!(
            html,
            " (expected every {} s; expires in {})",
            lease_info.renewal_interval_in_secs,
            span(left)
        );
    }
    let _ = write!(
        html,
        "</td><td class=\"nw\">{} ago</td><td class=\"meta\">",
        span(age(now, lease_info.registration_timestamp))
    );
    if instance.metadata.is_empty() {
        html.push_str("<span class=\"none\">none</span>");
    }
    for (k, (key, value)) in instance.metadata.iter().enumerate() {
        if k > 0 {
            html.push_str("<br>");
        }
        let _ = write!(html, "<code>{}={}</code>", escape(key), escape(value));
    }
    html.push_str("</td>");
}

/// The instance's zone as clients read it: Amazon's `availability-zone`, else the
/// `zone` metadata Spring Cloud clients set.
fn zone(instance: &InstanceInfo) -> Option<&str> {
    instance
        .data_center_info
        .availability_zone()
        .or_else(|| instance.metadata.get("zone").map(String::as_str))
        .filter(|zone| !zone.is_empty())
}

/// Whether `url` may be a link: `http:` or `https:` only. Checked on the raw value, so a
/// leading space or control character (which browsers strip before reading the scheme)
/// makes it no link rather than a `javascript:` one.
fn is_web_link(url: &str) -> bool {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && url[scheme.len()..].starts_with("://")
}

fn general_info(html: &mut String, settings: &Settings) {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let _ = write!(
        html,
        "<h2>General Info</h2><table class=\"kv\">\
         <tr><th>Server</th><td>sd-eureka-server {}</td></tr>\
         <tr><th>Listening on</th><td>{}</td></tr>\
         <tr><th>Service URL</th><td><code>http://{}/eureka/</code> (also <code>/eureka/v2/</code>)</td></tr>\
         <tr><th>CPUs</th><td>{cpus}</td></tr>\
         <tr><th>Connections (max)</th><td>{}</td></tr>\
         </table>",
        env!("CARGO_PKG_VERSION"),
        settings.local_addr,
        settings.local_addr,
        settings.max_connections,
    );
}

/// Whole seconds from `then` to `now`; 0 when `then` is later (a clock that stepped back).
fn age(now: Millis, then: Millis) -> u64 {
    u64::try_from(now.saturating_sub(then) / 1000).unwrap_or(0)
}

/// A span of seconds as a person reads it: `42 s`, `3 min 05 s`, `2 h 03 min`, `4 d 07 h`,
/// with a smaller unit of zero left out (`3 min`).
fn span(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    let (big, small) = match secs {
        0..60 => return format!("{secs} s"),
        60..3600 => (format!("{m} min"), (secs % 60, "s")),
        3600..86_400 => (format!("{h} h"), (m % 60, "min")),
        _ => (format!("{d} d"), (h % 24, "h")),
    };
    match small {
        (0, _) => big,
        (n, unit) => format!("{big} {n:02} {unit}"),
    }
}

/// `now` as an HTTP date (`Mon, 30 Nov 2026 03:23:35 GMT`), UTC and unambiguous.
fn http_date(now: Millis) -> String {
    u64::try_from(now)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .map_or_else(
            || "unknown".to_owned(),
            |t: SystemTime| httpdate::fmt_http_date(t),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use http_body_util::BodyExt as _;
    use sd_eureka::{DataCenterInfo, Metadata};

    const T0: Millis = 1_700_000_000_000;

    fn settings() -> Settings {
        Settings {
            local_addr: SocketAddr::from(([127, 0, 0, 1], 8761)),
            started: T0 - 3_723_000,
            eviction_interval: Duration::from_secs(60),
            delta_retention: Duration::from_secs(180),
            delta_capacity: 20_000,
            response_cache_ttl: Duration::from_secs(30),
            max_connections: 512,
        }
    }

    fn page(registry: &Registry, now: Millis, gate: Option<Duration>) -> String {
        let reply = render(&registry.page_snapshot(now), now, &settings(), gate);
        String::from_utf8(body_of(reply)).unwrap()
    }

    fn body_of(reply: Response<Full<Bytes>>) -> Vec<u8> {
        // A `Full` body is ready at once: one poll on a throwaway runtime collects it.
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(reply.into_body().collect())
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    fn instance(app: &str, n: u16) -> InstanceInfo {
        let mut i = InstanceInfo::new(app, &format!("host-{n}"), "10.0.0.1", 8000 + n);
        i.last_dirty_timestamp = T0;
        i
    }

    /// The `<tr>` that holds `text`.
    fn row<'a>(html: &'a str, text: &str) -> &'a str {
        html.split("<tr>")
            .find(|row| row.contains(text))
            .unwrap_or_else(|| panic!("no row holds {text:?} in\n{html}"))
    }

    #[test]
    fn spans_read_as_a_person_reads_them() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(65), "1 min 05 s");
        assert_eq!(span(180), "3 min");
        assert_eq!(span(7200), "2 h");
        assert_eq!(span(3723), "1 h 02 min");
        assert_eq!(span(2 * 86_400 + 7 * 3600 + 5), "2 d 07 h");
        assert_eq!(http_date(T0), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(http_date(-1), "unknown");
        assert_eq!(age(T0, T0 + 5000), 0, "a clock that stepped back");
    }

    #[test]
    fn only_web_urls_become_links() {
        for url in ["http://h:1/info", "HTTPS://h/info", "https://h"] {
            assert!(is_web_link(url), "{url}");
        }
        for url in [
            "javascript:alert(1)",
            " http://h/",
            "\u{1}javascript:alert(1)",
            "data:text/html,<script>x</script>",
            "http:/h",
            "httpx://h",
            "//h/info",
            "",
        ] {
            assert!(!is_web_link(url), "{url:?}");
        }
    }

    #[test]
    fn the_page_shows_system_status_counts_and_settings() {
        let mut registry = Registry::new(Duration::from_secs(180), 100);
        let a = instance("orders", 1);
        let b = instance("orders", 2);
        registry.register("ORDERS", a.clone(), T0);
        registry.register("ORDERS", b, T0);
        for k in 1..=3 {
            registry
                .renew("ORDERS", &a.instance_id, None, T0 + k * 1000)
                .unwrap();
        }
        let html = page(&registry, T0 + 5000, None);
        for text in [
            "<meta http-equiv=\"refresh\" content=\"10\">",
            "Tue, 14 Nov 2023 22:13:25 GMT",
            "<th>Uptime</th><td>1 h 02 min</td>",
            "<th>Lease expiration enabled</th><td>true",
            // Two instances renewing every 30 s: 4 a minute expected, 85 % of it floored.
            "<th>Renews threshold</th><td>3</td>",
            "<th>Renews expected (per min)</th><td>4</td>",
            "<th>Renews (last min)</th><td>3</td>",
            "every 1 min",
            "3 min (at most 20000 changes)",
            "2 instance(s) of 1 application(s)",
            "127.0.0.1:8761",
        ] {
            assert!(html.contains(text), "{text:?} missing from\n{html}");
        }
        assert!(!html.contains("class=\"notice\""), "the read gate is open");
        // A minute later the renewals have left the window, and the page says it.
        let html = page(&registry, T0 + 64_000, None);
        assert!(html.contains("<th>Renews (last min)</th><td>0 <span class=\"late\""));
        let html = page(&registry, T0, Some(Duration::from_secs(42)));
        assert!(html.contains("refused with 403 for another 42 s"), "{html}");
    }

    #[test]
    fn instances_are_grouped_by_app_with_zones_and_told_apart_by_status() {
        let mut registry = Registry::new(Duration::from_secs(180), 100);
        let mut up = instance("orders", 1);
        up.data_center_info = DataCenterInfo::amazon(
            [("availability-zone".into(), "eu-west-1a".into())]
                .into_iter()
                .collect(),
        );
        let mut down = instance("orders", 2);
        down.status = Status::Down;
        down.metadata.insert("zone".into(), "eu-west-1b".into());
        let out = instance("orders", 3);
        let billing = instance("billing", 4);
        for i in [&up, &down, &out, &billing] {
            registry.register(&i.app, i.clone(), T0);
        }
        registry
            .set_override("ORDERS", &out.instance_id, Status::OutOfService, T0)
            .unwrap();
        let html = page(&registry, T0 + 45_000, None);

        let orders = html
            .split("<tbody>")
            .find(|group| group.contains("<div class=\"name\">ORDERS</div>"))
            .unwrap();
        assert!(orders.contains("rowspan=\"3\""));
        assert!(
            orders.contains("Zones: eu-west-1a (1), eu-west-1b (1), none (1)"),
            "{orders}"
        );
        for counted in ["UP (1)", "DOWN (1)", "OUT_OF_SERVICE (1)"] {
            assert!(orders.contains(counted), "{counted}: {orders}");
        }
        assert!(!orders.contains("BILLING"), "one group per app");

        let down_row = row(&html, &down.instance_id);
        assert!(down_row.contains("<span class=\"status st-DOWN\">DOWN</span>"));
        assert!(!down_row.contains("overridden"));
        assert!(down_row.contains("<td class=\"nw\">eu-west-1b</td>"));
        let out_row = row(&html, &out.instance_id);
        assert!(out_row.contains("<span class=\"status st-OUT_OF_SERVICE\">OUT_OF_SERVICE</span>"));
        assert!(
            out_row.contains("overridden; the instance reports UP"),
            "{out_row}"
        );
        let up_row = row(&html, &up.instance_id);
        assert!(up_row.contains(&format!(
            "<a href=\"http://host-1:8001/info\" title=\"status page\">{}</a>",
            up.instance_id
        )));
        // 45 s without a heartbeat on a 30 s interval: late, 45 s before the 90 s lease ends.
        assert!(
            up_row.contains("class=\"late\">45 s ago (expected every 30 s; expires in 45 s)"),
            "{up_row}"
        );
        assert!(html.contains("<code>zone=eu-west-1b</code>"));

        // Removed without a status, the override leaves UNKNOWN until the next registration.
        registry
            .remove_override("ORDERS", &out.instance_id, None, T0)
            .unwrap();
        let html = page(&registry, T0, None);
        let out_row = row(&html, &out.instance_id);
        assert!(out_row.contains("st-UNKNOWN\">UNKNOWN</span>"));
        assert!(out_row.contains("set by the API; the instance reported UP"));
    }

    #[test]
    fn registered_strings_are_escaped_and_hostile_urls_are_not_links() {
        let mut registry = Registry::new(Duration::from_secs(180), 100);
        let mut evil = instance("<b>evil</b>", 1);
        evil.instance_id = "<script>alert('id')</script>".into();
        evil.ip_addr = "\"><img src=x onerror=alert(1)>".into();
        evil.status_page_url = Some("javascript:alert(document.cookie)".into());
        let mut metadata = Metadata::new();
        metadata.insert("<i>k</i>".into(), "<script>alert(\"v\")</script>".into());
        metadata.insert("zone".into(), "<u>z</u>".into());
        evil.metadata = metadata;
        let mut quoted = instance("orders", 2);
        quoted.status_page_url = Some("http://h/\"onmouseover=\"alert(1)".into());
        let app = evil.app.clone();
        registry.register(&app, evil, T0);
        registry.register("ORDERS", quoted, T0);
        let html = page(&registry, T0, None);

        for raw in [
            "<script",
            "<img",
            "<B>EVIL",
            "<i>k",
            "<u>z",
            "href=\"javascript",
        ] {
            assert!(!html.contains(raw), "{raw:?} got through:\n{html}");
        }
        for escaped in [
            "&lt;script&gt;alert(&apos;id&apos;)&lt;/script&gt;",
            "&lt;B&gt;EVIL&lt;/B&gt;",
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
            "<code>&lt;i&gt;k&lt;/i&gt;=&lt;script&gt;alert(&quot;v&quot;)&lt;/script&gt;</code>",
            "Zones: &lt;u&gt;z&lt;/u&gt; (1)",
            "status page (not a web link): <code>javascript:alert(document.cookie)</code>",
            "<a href=\"http://h/&quot;onmouseover=&quot;alert(1)\"",
        ] {
            assert!(html.contains(escaped), "{escaped:?} missing from\n{html}");
        }
    }

    #[test]
    fn an_empty_registry_says_so() {
        let registry = Registry::new(Duration::from_secs(180), 100);
        let html = page(&registry, T0, None);
        assert!(html.contains("0 instance(s) of 0 application(s)"));
        assert!(html.contains("No instances registered."));
        assert!(html.ends_with("</main></body></html>"));
    }
}
