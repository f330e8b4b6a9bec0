//! Every row of the operation table, success and error answers, under both base paths
//! (`/eureka/` and `/eureka/v2/`), over HTTP to a server started in process.

mod common;

use bytes::Bytes;
use common::{BASES, DIRTY, Http, instance, instance_path, start};
use http::{Method, StatusCode};
use sd_eureka::{Format, InstanceInfo, Status};

/// A JSON registration body, as text, for editing.
fn json_body(instance: &InstanceInfo) -> String {
    String::from_utf8(sd_eureka::encode_instance(instance, Format::Json).unwrap()).unwrap()
}

/// An XML registration body, as text, for editing.
fn xml_body(instance: &InstanceInfo) -> String {
    String::from_utf8(sd_eureka::encode_instance(instance, Format::Xml).unwrap()).unwrap()
}

/// Replaces `from` (which must occur) by `to`.
fn edit(body: &str, from: &str, to: &str) -> String {
    assert!(body.contains(from), "{from:?} not in {body}");
    body.replacen(from, to, 1)
}

async fn post(http: &Http, path: &str, content_type: &str, body: impl Into<Bytes>) -> StatusCode {
    http.send(Method::POST, path, &[("content-type", content_type)], body)
        .await
        .status
}

#[tokio::test]
async fn register_answers_204_and_every_read_finds_the_instance() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);
        let reply = http.register(base, &orders).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{base}: {reply:?}");
        assert!(reply.body.is_empty(), "{base}: a 204 has no body");

        let full = http.full(base).await;
        assert_eq!(full.instance_count(), 1, "{base}");
        let (app, listed) = full.instances().next().unwrap();
        assert_eq!(app, "ORDERS");
        assert_eq!(listed.instance_id, "host-1:orders:8080");
        assert_eq!(listed.status, Status::Up);
        assert_eq!(listed.address(), "10.0.0.1:8080");

        let app = http.get_json(&format!("{base}apps/ORDERS")).await;
        let app = app.application();
        assert_eq!(app.name, "ORDERS");
        assert_eq!(app.instances.len(), 1);
        assert_eq!(app.instances[0].instance_id, orders.instance_id);

        let by_app = http
            .get_json(&instance_path(base, &orders))
            .await
            .instance();
        let by_id = http
            .get_json(&format!("{base}instances/{}", orders.instance_id))
            .await
            .instance();
        assert_eq!(by_app, by_id, "{base}");
        assert_eq!(by_app.host_name, "host-1");
        assert_eq!(by_app.app, "ORDERS");
        assert_eq!(by_app.vip_address.as_deref(), Some("orders"));
        let lease = by_app.lease_info.expect("the server fills the lease");
        assert!(lease.registration_timestamp > 0, "{lease:?}");
        assert!(lease.last_renewal_timestamp > 0, "{lease:?}");
        assert!(by_app.last_updated_timestamp > 0);
        assert_eq!(by_app.last_dirty_timestamp, DIRTY);
        assert_eq!(server.applications().instance_count(), 1);
    }
}

#[tokio::test]
async fn register_refuses_bodies_it_cannot_use_with_400() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let good = instance("orders", 1);
        let json = json_body(&good);
        let xml = xml_body(&good);
        let path = format!("{base}apps/ORDERS");
        let bad: Vec<(&str, &str, String)> = vec![
            (
                "unparseable JSON",
                "application/json",
                "{\"instance\":{".into(),
            ),
            ("not JSON at all", "application/json", "hello".into()),
            (
                "unparseable XML",
                "application/xml",
                "<instance><app>ORDERS</instance>".into(),
            ),
            ("an empty body", "application/json", String::new()),
            (
                "JSON without the instance wrapper",
                "application/json",
                "{\"app\":\"ORDERS\",\"hostName\":\"h\",\"ipAddr\":\"10.0.0.1\"}".into(),
            ),
            (
                "an applications document",
                "application/json",
                "{\"applications\":{\"application\":[]}}".into(),
            ),
            (
                "JSON without hostName",
                "application/json",
                edit(&json, "\"hostName\":\"host-1\",", ""),
            ),
            (
                "JSON with an empty hostName",
                "application/json",
                edit(&json, "\"hostName\":\"host-1\"", "\"hostName\":\"\""),
            ),
            (
                "JSON without ipAddr",
                "application/json",
                edit(&json, "\"ipAddr\":\"10.0.0.1\",", ""),
            ),
            (
                "XML without hostName",
                "application/xml",
                edit(&xml, "<hostName>host-1</hostName>", ""),
            ),
            (
                "XML without ipAddr",
                "application/xml",
                edit(&xml, "<ipAddr>10.0.0.1</ipAddr>", ""),
            ),
            (
                "XML without instanceId nor hostName",
                "application/xml",
                edit(
                    &edit(&xml, "<hostName>host-1</hostName>", ""),
                    "<instanceId>host-1:orders:8080</instanceId>",
                    "",
                ),
            ),
            (
                "a data center without a name",
                "application/json",
                edit(&json, "\"name\":\"MyOwn\"", "\"name\":\"\""),
            ),
            (
                "an app differing from the path (JSON)",
                "application/json",
                edit(&json, "\"app\":\"ORDERS\"", "\"app\":\"BILLING\""),
            ),
            (
                "an app differing from the path (XML)",
                "application/xml",
                edit(&xml, "<app>ORDERS</app>", "<app>BILLING</app>"),
            ),
        ];
        for (what, content_type, body) in bad {
            let status = post(&http, &path, content_type, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{base}: {what}");
        }
        assert_eq!(
            server.applications().instance_count(),
            0,
            "{base}: a refused registration registers nothing"
        );
        assert_eq!(http.get(&format!("{base}apps/BILLING")).await.status, 404);

        // The same bodies, unedited, are fine: the refusals were for the edits.
        assert_eq!(post(&http, &path, "application/json", json).await, 204);
        let other = instance("orders", 2);
        assert_eq!(
            post(&http, &path, "application/xml", xml_body(&other)).await,
            204
        );
        assert_eq!(server.applications().instance_count(), 2, "{base}");
    }
}

#[tokio::test]
async fn renew_answers_200_or_404() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);
        http.register_ok(base, &orders).await;
        let path = instance_path(base, &orders);

        assert_eq!(http.renew(base, &orders, "UP").await.status, 200, "{base}");
        assert_eq!(http.put(&path).await.status, 200, "{base}: bare heartbeat");
        let older = format!("{path}?status=UP&lastDirtyTimestamp={}", DIRTY - 1);
        assert_eq!(
            http.put(&older).await.status,
            200,
            "{base}: older client copy"
        );

        let newer = format!("{path}?status=UP&lastDirtyTimestamp={}", DIRTY + 1);
        assert_eq!(
            http.put(&newer).await.status,
            404,
            "{base}: a client copy newer than the server's must register again"
        );
        let unknown_id = format!("{base}apps/ORDERS/nobody?status=UP&lastDirtyTimestamp={DIRTY}");
        assert_eq!(http.put(&unknown_id).await.status, 404, "{base}");
        let unknown_app = format!("{base}apps/BILLING/{}?status=UP", orders.instance_id);
        assert_eq!(http.put(&unknown_app).await.status, 404, "{base}");

        // None of the refused heartbeats registered anything.
        assert_eq!(server.applications().instance_count(), 1, "{base}");
    }
}

#[tokio::test]
async fn cancel_answers_200_then_404() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let (a, b) = (instance("orders", 1), instance("orders", 2));
        http.register_ok(base, &a).await;
        http.register_ok(base, &b).await;

        assert_eq!(http.delete(&instance_path(base, &a)).await.status, 200);
        assert!(
            http.find(base, &a).await.is_none(),
            "{base}: a was cancelled"
        );
        assert!(http.find(base, &b).await.is_some(), "{base}: b stays");
        assert_eq!(http.delete(&instance_path(base, &a)).await.status, 404);
        assert_eq!(
            http.delete(&format!("{base}apps/BILLING/{}", b.instance_id))
                .await
                .status,
            404,
            "{base}: the id exists, but not in that app"
        );

        // Cancelling the last instance removes the app.
        assert_eq!(http.delete(&instance_path(base, &b)).await.status, 200);
        assert_eq!(http.get(&format!("{base}apps/ORDERS")).await.status, 404);
        assert_eq!(http.full(base).await.instance_count(), 0);
    }
}

#[tokio::test]
async fn status_override_put_and_delete() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);
        http.register_ok(base, &orders).await;
        let status = format!("{}/status", instance_path(base, &orders));

        let set = format!("{status}?value=OUT_OF_SERVICE&lastDirtyTimestamp={DIRTY}");
        assert_eq!(http.put(&set).await.status, 200, "{base}");
        let shown = http.find(base, &orders).await.unwrap();
        assert_eq!(shown.status, Status::OutOfService, "{base}");
        assert_eq!(shown.overridden_status, Status::OutOfService, "{base}");

        assert_eq!(http.delete(&status).await.status, 200, "{base}");
        let shown = http.find(base, &orders).await.unwrap();
        assert_eq!(shown.status, Status::Unknown, "{base}: no value: UNKNOWN");
        assert_eq!(shown.overridden_status, Status::Unknown, "{base}");

        assert_eq!(http.put(&set).await.status, 200);
        let remove = format!("{status}?value=UP&lastDirtyTimestamp={DIRTY}");
        assert_eq!(http.delete(&remove).await.status, 200, "{base}");
        let shown = http.find(base, &orders).await.unwrap();
        assert_eq!(shown.status, Status::Up, "{base}: the value given");
        assert_eq!(shown.overridden_status, Status::Unknown, "{base}");

        let unknown = format!("{base}apps/ORDERS/nobody/status");
        assert_eq!(
            http.put(&format!("{unknown}?value=OUT_OF_SERVICE"))
                .await
                .status,
            404,
            "{base}"
        );
        assert_eq!(http.delete(&unknown).await.status, 404, "{base}");
        assert_eq!(
            http.put(&format!(
                "{base}apps/NOPE/{}/status?value=DOWN",
                orders.instance_id
            ))
            .await
            .status,
            404
        );
        assert_eq!(
            http.delete(&format!("{base}apps/NOPE/{}/status", orders.instance_id))
                .await
                .status,
            404
        );
        assert_eq!(server.applications().instance_count(), 1);
    }
}

#[tokio::test]
async fn metadata_put_merges_into_the_instance() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let mut orders = instance("orders", 1);
        orders.metadata.insert("zone".into(), "a".into());
        orders.metadata.insert("weight".into(), "10".into());
        http.register_ok(base, &orders).await;
        let metadata = format!("{}/metadata", instance_path(base, &orders));

        let put = format!("{metadata}?weight=20&management.port=9090&note=two%20words");
        assert_eq!(http.put(&put).await.status, 200, "{base}");
        let shown = http.find(base, &orders).await.unwrap().metadata;
        let expected = [
            ("management.port", "9090"),
            ("note", "two words"),
            ("weight", "20"),
            ("zone", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(shown, expected, "{base}: merged, not replaced");

        let unknown = format!("{base}apps/ORDERS/nobody/metadata?x=1");
        assert_eq!(http.put(&unknown).await.status, 404, "{base}");
        let unknown_app = format!("{base}apps/NOPE/{}/metadata?x=1", orders.instance_id);
        assert_eq!(http.put(&unknown_app).await.status, 404, "{base}");
        assert_eq!(http.find(base, &orders).await.unwrap().metadata, expected);
    }
}

#[tokio::test]
async fn reads_answer_404_for_what_is_not_registered() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);

        // An empty registry is a 200 with no apps, for the full fetch and the delta.
        assert_eq!(http.full(base).await.instance_count(), 0, "{base}");
        assert_eq!(http.delta(base).await.instance_count(), 0, "{base}");

        http.register_ok(base, &orders).await;
        for path in [
            "apps/BILLING",
            "apps/ORDERS/nobody",
            "apps/BILLING/host-1:orders:8080",
            "instances/nobody",
            "vips/billing",
            "svips/billing",
        ] {
            let reply = http.get(&format!("{base}{path}")).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{base}{path}");
        }
        for path in [
            "apps/ORDERS",
            "apps/ORDERS/host-1:orders:8080",
            "instances/host-1:orders:8080",
            "vips/orders",
            "svips/orders",
        ] {
            let reply = http.get(&format!("{base}{path}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{base}{path}");
        }
    }
}

#[tokio::test]
async fn vips_are_case_sensitive_and_secure_vips_separate() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let mut a = instance("orders", 1);
        a.vip_address = Some("orders-vip".into());
        a.secure_vip_address = Some("orders-secure".into());
        let mut b = instance("billing", 2);
        b.vip_address = Some("billing-vip,shared".into());
        b.secure_vip_address = None;
        let mut c = instance("orders", 3);
        c.vip_address = Some("shared".into());
        c.secure_vip_address = Some("orders-secure".into());
        for i in [&a, &b, &c] {
            http.register_ok(base, i).await;
        }
        let ids = |reply: &common::Reply| -> Vec<String> {
            let mut ids: Vec<String> = reply
                .applications()
                .instances()
                .map(|(_, i)| i.instance_id.clone())
                .collect();
            ids.sort();
            ids
        };

        let vip = http.get_json(&format!("{base}vips/orders-vip")).await;
        assert_eq!(ids(&vip), [a.instance_id.as_str()], "{base}");
        let shared = http.get_json(&format!("{base}vips/shared")).await;
        assert_eq!(
            ids(&shared),
            [b.instance_id.as_str(), c.instance_id.as_str()],
            "{base}: one of a comma-separated list"
        );
        let secure = http.get_json(&format!("{base}svips/orders-secure")).await;
        assert_eq!(
            ids(&secure),
            [a.instance_id.as_str(), c.instance_id.as_str()]
        );

        for path in [
            "vips/ORDERS-VIP",
            "vips/Orders-Vip",
            "svips/ORDERS-SECURE",
            "vips/orders-secure",
            "svips/orders-vip",
            "vips/orders",
        ] {
            let reply = http.get(&format!("{base}{path}")).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{base}{path}");
        }
    }
}

#[tokio::test]
async fn app_names_are_case_insensitive_and_upper_cased() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let mut orders = instance("orders", 1);
        orders.app = "orders".into();
        // Registered under the lower-case path with a lower-case app in the body.
        let reply = http
            .send(
                Method::POST,
                &format!("{base}apps/orders"),
                &[("content-type", "application/json")],
                json_body(&orders),
            )
            .await;
        assert_eq!(reply.status, 204, "{base}: {}", reply.text());

        for name in ["ORDERS", "orders", "Orders"] {
            let app = http.get_json(&format!("{base}apps/{name}")).await;
            let app = app.application();
            assert_eq!(app.name, "ORDERS", "{base}apps/{name}");
            assert_eq!(app.instances[0].app, "ORDERS");
            let one = format!("{base}apps/{name}/{}", orders.instance_id);
            assert_eq!(http.get(&one).await.status, 200, "{one}");
        }
        let full = http.full(base).await;
        assert_eq!(full.applications.len(), 1);
        assert_eq!(full.applications[0].name, "ORDERS");

        let renew = format!("{base}apps/Orders/{}?status=UP", orders.instance_id);
        assert_eq!(http.put(&renew).await.status, 200);
        // Registering again under the upper-case name is the same instance, not a second.
        let mut again = orders.clone();
        again.app = "ORDERS".into();
        http.register_ok(base, &again).await;
        assert_eq!(http.full(base).await.instance_count(), 1, "{base}");
        assert_eq!(
            http.delete(&format!("{base}apps/oRdErS/{}", orders.instance_id))
                .await
                .status,
            200
        );
        assert_eq!(server.applications().instance_count(), 0);
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = start().await;
    let http = Http::new(&server);
    http.register_ok("/eureka/", &instance("orders", 1)).await;
    for path in [
        "/nope",
        "/apps",
        "/eureka/nope",
        "/eureka/v3/apps",
        "/eureka/v2/nope",
        "/eureka/apps/ORDERS/host-1:orders:8080/status/extra",
        "/eureka/apps/ORDERS/host-1:orders:8080/nope",
        "/eureka/instances",
        "/eureka/v2/vips",
        "/eureka/svips/orders/extra",
    ] {
        for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            let reply = http.send(method.clone(), path, &[], Bytes::new()).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        }
    }
    assert_eq!(server.applications().instance_count(), 1);
}

/// Method and path pairs the API does not serve, though the path exists.
const WRONG_METHODS: [(Method, &str); 10] = [
    (Method::POST, "apps"),
    (Method::DELETE, "apps"),
    (Method::PUT, "apps/delta"),
    (Method::PUT, "apps/ORDERS"),
    (Method::DELETE, "apps/ORDERS"),
    (Method::POST, "apps/ORDERS/host-1:orders:8080"),
    (Method::GET, "apps/ORDERS/host-1:orders:8080/status"),
    (Method::GET, "apps/ORDERS/host-1:orders:8080/metadata"),
    (Method::DELETE, "instances/host-1:orders:8080"),
    (Method::POST, "vips/orders"),
];

#[tokio::test]
async fn wrong_methods_are_405() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        http.register_ok(base, &instance("orders", 1)).await;
        for (method, path) in WRONG_METHODS {
            let reply = http
                .send(method.clone(), &format!("{base}{path}"), &[], Bytes::new())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {base}{path}"
            );
        }
        let page = http.send(Method::POST, "/", &[], Bytes::new()).await;
        assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED, "POST /");
        // Nothing was changed by them.
        let full = http.full(base).await;
        assert_eq!(full.instance_count(), 1);
        assert_eq!(full.instances().next().unwrap().1.status, Status::Up);
    }
}

/// RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field" listing the methods the
/// resource supports.
#[tokio::test]
async fn method_not_allowed_names_the_allowed_methods() {
    let server = start().await;
    let http = Http::new(&server);
    http.register_ok("/eureka/", &instance("orders", 1)).await;
    // HEAD is answered wherever GET is, as Jersey-based servers do.
    let expected = [
        ("apps", "GET, HEAD"),
        ("apps/ORDERS", "GET, HEAD, POST"),
        ("apps/ORDERS/host-1:orders:8080", "GET, HEAD, PUT, DELETE"),
        ("apps/ORDERS/host-1:orders:8080/status", "PUT, DELETE"),
        ("apps/ORDERS/host-1:orders:8080/metadata", "PUT"),
    ];
    for (path, allowed) in expected {
        let reply = http
            .send(Method::PATCH, &format!("/eureka/{path}"), &[], Bytes::new())
            .await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = reply
            .header("allow")
            .unwrap_or_else(|| panic!("PATCH /eureka/{path}: a 405 without an Allow header"));
        let mut got: Vec<&str> = allow.split(',').map(str::trim).collect();
        let mut want: Vec<&str> = allowed.split(", ").collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{path}");
    }
    let head = http
        .send(Method::HEAD, "/eureka/apps/ORDERS", &[], Bytes::new())
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty(), "HEAD answers carry no body");
}

#[tokio::test]
async fn full_registry_lists_every_status_and_a_version() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let statuses = [
        Status::Up,
        Status::Down,
        Status::Starting,
        Status::OutOfService,
        Status::Unknown,
    ];
    for (n, status) in (1..).zip(statuses) {
        let mut i = instance("orders", n);
        i.status = status;
        http.register_ok(base, &i).await;
    }
    let before = http.full(base).await;
    let listed: Vec<Status> = before.instances().map(|(_, i)| i.status).collect();
    assert_eq!(listed.len(), 5);
    for status in statuses {
        assert!(listed.contains(&status), "{status} missing from {listed:?}");
    }
    let version = before.versions_delta.expect("a version");
    http.delete(&instance_path(base, &instance("orders", 1)))
        .await;
    let after = http.full(base).await;
    assert_ne!(
        after.versions_delta.expect("a version"),
        version,
        "a change gives a new version"
    );
    assert_eq!(after.instance_count(), 4);
}
