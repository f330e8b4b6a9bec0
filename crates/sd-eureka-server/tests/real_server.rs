//! What a real Netflix Eureka server was seen to do (`docs/eureka-protocol.md`, "Checked
//! against a real server"), over HTTP to a server started in process, under both base
//! paths.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{BASES, Http, builder, eventually, instance, instance_path};
use http::{Method, StatusCode};
use sd_eureka::{Format, InstanceInfo, LeaseInfo, Status};

/// Every registry read of the API for `orders` (which must be registered to be found).
fn registry_reads(base: &str, orders: &InstanceInfo) -> Vec<String> {
    vec![
        format!("{base}apps"),
        format!("{base}apps/"),
        format!("{base}apps/delta"),
        format!("{base}apps/{}", orders.app),
        instance_path(base, orders),
        format!("{base}instances/{}", orders.instance_id),
        format!("{base}vips/orders"),
        format!("{base}svips/orders"),
    ]
}

#[tokio::test]
async fn the_sync_wait_refuses_every_read_with_403_and_accepts_writes() {
    for base in BASES {
        let server = builder()
            .sync_wait(Duration::from_secs(3600))
            .bind()
            .await
            .unwrap();
        let http = Http::new(&server);
        let mut orders = instance("orders", 1);
        orders.secure_vip_address = Some("orders".into());
        http.register_ok(base, &orders).await;
        assert_eq!(http.renew(base, &orders, "UP").await.status, StatusCode::OK);
        let path = instance_path(base, &orders);
        let status = http.put(&format!("{path}/status?value=DOWN")).await;
        assert_eq!(status.status, StatusCode::OK, "{base}: {status:?}");
        let metadata = http.put(&format!("{path}/metadata?zone=a")).await;
        assert_eq!(metadata.status, StatusCode::OK, "{base}: {metadata:?}");

        for read in registry_reads(base, &orders) {
            for method in [Method::GET, Method::HEAD] {
                for accept in ["application/json", "application/xml"] {
                    let reply = http
                        .send(method.clone(), &read, &[("accept", accept)], Bytes::new())
                        .await;
                    assert_eq!(
                        reply.status,
                        StatusCode::FORBIDDEN,
                        "{method} {read} ({accept}): {reply:?}"
                    );
                }
            }
        }
        // The dashboard is not the API.
        assert_eq!(http.get("/").await.status, StatusCode::OK);
        // The writes were taken, as the in-process view shows.
        let apps = server.applications();
        let (_, stored) = apps.instances().next().expect("registered");
        assert_eq!(stored.metadata.get("zone").map(String::as_str), Some("a"));
        assert_eq!(http.delete(&path).await.status, StatusCode::OK);
        assert_eq!(server.applications().instance_count(), 0);
    }
}

#[tokio::test]
async fn reads_are_answered_once_the_sync_wait_is_over() {
    let server = builder()
        .sync_wait(Duration::from_millis(300))
        .bind()
        .await
        .unwrap();
    let http = Http::new(&server);
    let orders = instance("orders", 1);
    http.register_ok("/eureka/", &orders).await;
    eventually("reads to open", || async {
        http.get("/eureka/apps").await.status == StatusCode::OK
    })
    .await;
    for base in BASES {
        for read in registry_reads(base, &orders) {
            let reply = http.get_json(&read).await;
            assert_eq!(reply.status, StatusCode::OK, "GET {read}: {reply:?}");
        }
    }
}

#[tokio::test]
async fn no_sync_wait_by_default_and_a_huge_one_does_not_panic() {
    let server = common::start().await;
    let http = Http::new(&server);
    assert_eq!(http.get("/eureka/apps").await.status, StatusCode::OK);

    let server = builder().sync_wait(Duration::MAX).bind().await.unwrap();
    let http = Http::new(&server);
    let reply = http.get("/eureka/apps").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    http.register_ok("/eureka/", &instance("orders", 1)).await;
    assert_eq!(
        http.get("/eureka/apps/delta").await.status,
        StatusCode::FORBIDDEN
    );
}

/// A registration body of `instance` in `format`, as text, for editing.
fn body(instance: &InstanceInfo, format: Format) -> String {
    String::from_utf8(sd_eureka::encode_instance(instance, format).unwrap()).unwrap()
}

/// POSTs `body` in `format` as a registration of `app`; the reply.
async fn post(http: &Http, base: &str, app: &str, format: Format, body: String) -> common::Reply {
    http.send(
        Method::POST,
        &format!("{base}apps/{app}"),
        &[("content-type", format.media_type())],
        body,
    )
    .await
}

/// `(renewalIntervalInSecs, durationInSecs)` of the instance as a read in `format` shows it.
async fn lease_shown(http: &Http, base: &str, orders: &InstanceInfo, format: Format) -> (u32, u32) {
    let accept = [("accept", format.media_type())];
    let path = instance_path(base, orders);
    let reply = http.send(Method::GET, &path, &accept, Bytes::new()).await;
    let lease = reply.instance().lease_info.expect("a lease");
    (lease.renewal_interval_in_secs, lease.duration_in_secs)
}

#[tokio::test]
async fn zero_and_negative_lease_values_become_the_defaults() {
    for base in BASES {
        for format in [Format::Json, Format::Xml] {
            for (renewal, duration) in [("0", "0"), ("-1", "-5"), ("0", "-90"), ("\"-30\"", "0")] {
                let server = common::start().await;
                let http = Http::new(&server);
                let mut orders = instance("orders", 1);
                orders.lease_info = Some(LeaseInfo {
                    renewal_interval_in_secs: 1111,
                    duration_in_secs: 2222,
                    ..LeaseInfo::default()
                });
                let text = body(&orders, format);
                let text = match format {
                    Format::Json => text.replace("1111", renewal).replace("2222", duration),
                    Format::Xml => text
                        .replace("1111", renewal.trim_matches('"'))
                        .replace("2222", duration.trim_matches('"')),
                };
                let reply = post(&http, base, "ORDERS", format, text).await;
                let case = format!("{base} {format} {renewal}/{duration}");
                assert_eq!(
                    reply.status,
                    StatusCode::NO_CONTENT,
                    "{case}: {}",
                    reply.text()
                );
                for shown_in in [Format::Json, Format::Xml] {
                    assert_eq!(
                        lease_shown(&http, base, &orders, shown_in).await,
                        (30, 90),
                        "{case}, read in {shown_in}"
                    );
                }
                // The fargo case: a zero lease used to be evicted at the next pass.
                assert_eq!(server.evict_now(), 0, "{case}");
                assert_eq!(server.applications().instance_count(), 1, "{case}");
            }
        }
    }
}

/// A JSON registration a real server accepts and keeps serving: a metadata key that is
/// not an XML name, control characters in a value and in the instance id.
fn odd_instance() -> InstanceInfo {
    let mut odd = instance("orders", 9);
    odd.instance_id = "host-9\u{1}:orders:8080".into();
    odd.metadata.insert("bad key".into(), "spaced".into());
    odd.metadata.insert("zone".into(), "a\u{7}b".into());
    odd.metadata.insert("1st".into(), "digit".into());
    odd
}

#[tokio::test]
async fn an_odd_registration_never_makes_the_registry_unreadable() {
    for base in BASES {
        let server = common::start().await;
        let http = Http::new(&server);
        let plain = instance("orders", 1);
        http.register_ok(base, &plain).await;
        let odd = odd_instance();
        http.register_ok(base, &odd).await;
        let odd_path = format!("{base}apps/ORDERS/host-9%01:orders:8080");

        // Every read, in both formats, with and without gzip, answers 200 and decodes.
        let reads = [
            format!("{base}apps"),
            format!("{base}apps/delta"),
            format!("{base}apps/ORDERS"),
            odd_path.clone(),
            format!("{base}instances/host-9%01:orders:8080"),
            format!("{base}vips/orders"),
        ];
        for read in &reads {
            for accept in ["application/xml", "application/json", "*/*"] {
                for encoding in ["identity", "gzip"] {
                    let headers = [("accept", accept), ("accept-encoding", encoding)];
                    let reply = http.send(Method::GET, read, &headers, Bytes::new()).await;
                    let what = format!("GET {read} ({accept}, {encoding})");
                    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text());
                    reply.document();
                }
            }
        }
        // JSON shows the instance exactly as registered.
        let json = http.full(base).await;
        let shown = json
            .instances()
            .find(|(_, i)| i.instance_id == odd.instance_id)
            .expect("the odd instance, its id unchanged")
            .1;
        assert_eq!(shown.metadata, odd.metadata, "{base}");
        // XML shows it as XML can: keys made names, unwritable characters replaced; the
        // other instance is untouched.
        let xml = http.get(&format!("{base}apps")).await.applications();
        assert_eq!(xml.instance_count(), 2, "{base}");
        let shown = xml
            .instances()
            .find(|(_, i)| i.instance_id == "host-9\u{FFFD}:orders:8080")
            .expect("the odd instance, its id made writable")
            .1;
        let keys: Vec<&str> = shown.metadata.keys().map(String::as_str).collect();
        assert_eq!(keys, ["_1st", "bad_key", "zone"], "{base}");
        assert_eq!(shown.metadata["zone"], "a\u{FFFD}b");
        let other = xml
            .instances()
            .find(|(_, i)| i.instance_id == plain.instance_id)
            .expect("the plain instance")
            .1;
        assert_eq!(other.metadata, plain.metadata);

        // Cancelled, it stays in the delta queue: that must stay readable too.
        assert_eq!(
            http.delete(&odd_path).await.status,
            StatusCode::OK,
            "{base}"
        );
        let delta = http.get(&format!("{base}apps/delta")).await;
        assert_eq!(delta.status, StatusCode::OK, "{base}: {}", delta.text());
        assert_eq!(delta.applications().instance_count(), 2, "{base}");
        assert_eq!(
            http.get(&format!("{base}apps"))
                .await
                .applications()
                .instance_count(),
            1
        );
    }
}

#[tokio::test]
async fn a_registration_without_data_center_info_is_refused_with_400() {
    for base in BASES {
        let server = common::start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);

        let mut json: serde_json::Value =
            serde_json::from_str(&body(&orders, Format::Json)).unwrap();
        let fields = json["instance"].as_object_mut().unwrap();
        assert!(fields.remove("dataCenterInfo").is_some());
        let absent = json.to_string();
        fields_null(&mut json);
        let null = json.to_string();
        let xml = body(&orders, Format::Xml);
        let from = xml.find("<dataCenterInfo").unwrap();
        let to = xml.find("</dataCenterInfo>").unwrap() + "</dataCenterInfo>".len();
        let xml_absent = format!("{}{}", &xml[..from], &xml[to..]);

        for (format, text) in [
            (Format::Json, absent),
            (Format::Json, null),
            (Format::Xml, xml_absent),
        ] {
            let reply = post(&http, base, "ORDERS", format, text.clone()).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{base} {text}");
            assert!(
                reply.text().contains("dataCenterInfo"),
                "says why: {}",
                reply.text()
            );
        }
        assert_eq!(server.applications().instance_count(), 0);
        // With it, the same bodies are taken.
        for format in [Format::Json, Format::Xml] {
            let reply = post(&http, base, "ORDERS", format, body(&orders, format)).await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "{base} {format}");
        }
    }
}

/// Sets the instance's `dataCenterInfo` to null.
fn fields_null(json: &mut serde_json::Value) {
    json["instance"]["dataCenterInfo"] = serde_json::Value::Null;
}

#[tokio::test]
async fn a_heartbeat_does_not_set_the_status() {
    for base in BASES {
        let server = common::start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);
        http.register_ok(base, &orders).await;
        let version = http.full(base).await.versions_delta;
        for reported in ["BOGUS", "DOWN", "OUT_OF_SERVICE", "UNKNOWN", ""] {
            let reply = http.renew(base, &orders, reported).await;
            assert_eq!(reply.status, StatusCode::OK, "{base} status={reported}");
            assert_eq!(
                http.status_of(base, &orders).await,
                Status::Up,
                "{base}: a heartbeat reporting {reported:?}"
            );
        }
        let full = http.full(base).await;
        assert_eq!(full.versions_delta, version, "{base}: nothing changed");
        assert_eq!(full.apps_hashcode.as_deref(), Some("UP_1_"));
    }
}
