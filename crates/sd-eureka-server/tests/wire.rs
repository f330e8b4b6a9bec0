//! The wire: content negotiation (XML by default, JSON on request), gzip both ways,
//! request body formats, HTTP Basic auth, and bodies that are too large or malformed.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{BASES, Http, builder, gzip, instance, instance_path, start};
use http::{Method, StatusCode};
use sd_eureka::{Document, Format, InstanceInfo, Status};

/// Registers a few instances so that every read has something to show.
async fn populate(http: &Http, base: &str) -> InstanceInfo {
    let mut orders = instance("orders", 1);
    orders.metadata.insert("zone".into(), "a".into());
    http.register_ok(base, &orders).await;
    let mut down = instance("orders", 2);
    down.status = Status::Down;
    http.register_ok(base, &down).await;
    http.register_ok(base, &instance("billing", 3)).await;
    orders
}

/// Every read, with the root each one answers with.
fn reads(base: &str, orders: &InstanceInfo) -> Vec<(String, &'static str)> {
    vec![
        (format!("{base}apps"), "applications"),
        (format!("{base}apps/delta"), "applications"),
        (format!("{base}apps/ORDERS"), "application"),
        (instance_path(base, orders), "instance"),
        (
            format!("{base}instances/{}", orders.instance_id),
            "instance",
        ),
        (format!("{base}vips/orders"), "applications"),
        (format!("{base}svips/orders"), "applications"),
    ]
}

fn root(document: &Document) -> &'static str {
    match document {
        Document::Applications(_) => "applications",
        Document::Application(_) => "application",
        Document::Instance(_) => "instance",
    }
}

#[tokio::test]
async fn answers_xml_by_default_and_json_when_asked() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let orders = populate(&http, base).await;
        for (path, expected_root) in reads(base, &orders) {
            let asks: [(&[(&str, &str)], Format); 5] = [
                (&[], Format::Xml),
                (&[("accept", "application/xml")], Format::Xml),
                (&[("accept", "*/*")], Format::Xml),
                (&[("accept", "application/json")], Format::Json),
                (
                    &[("accept", "application/json, application/xml;q=0.5")],
                    Format::Json,
                ),
            ];
            for (headers, format) in asks {
                let reply = http.send(Method::GET, &path, headers, Bytes::new()).await;
                assert_eq!(reply.status, StatusCode::OK, "{path} {headers:?}");
                assert_eq!(
                    reply.media_type(),
                    format.media_type(),
                    "{path} {headers:?}"
                );
                assert!(!reply.is_gzip(), "{path}: gzip only when asked");
                // The body really is in that format, not merely labelled so.
                assert_eq!(Format::detect(&reply.body), Some(format), "{path}");
                let document = sd_eureka::decode(&reply.body, format)
                    .unwrap_or_else(|e| panic!("{path} {headers:?}: {e}"));
                assert_eq!(root(&document), expected_root, "{path}");
            }
        }
        // Both formats describe the same registry.
        let xml = http.get(&format!("{base}apps")).await.applications();
        let json = http.get_json(&format!("{base}apps")).await.applications();
        assert_eq!(xml, json, "{base}");
        assert_eq!(json.instance_count(), 3);
        let shown = json
            .instances()
            .find(|(_, i)| i.instance_id == orders.instance_id)
            .unwrap()
            .1;
        assert_eq!(shown.metadata.get("zone").map(String::as_str), Some("a"));
    }
}

#[tokio::test]
async fn gzips_answers_only_when_asked() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let orders = populate(&http, base).await;
    for (path, _) in reads(base, &orders) {
        for accept in ["application/json", "application/xml"] {
            let plain = http
                .send(Method::GET, &path, &[("accept", accept)], Bytes::new())
                .await;
            assert!(!plain.is_gzip(), "{path}");
            assert_eq!(plain.header("content-encoding"), None, "{path}");

            for encodings in ["gzip", "gzip, deflate, br", "deflate, GZIP"] {
                let zipped = http
                    .send(
                        Method::GET,
                        &path,
                        &[("accept", accept), ("accept-encoding", encodings)],
                        Bytes::new(),
                    )
                    .await;
                assert_eq!(zipped.status, StatusCode::OK, "{path}");
                assert_eq!(
                    zipped.header("content-encoding"),
                    Some("gzip"),
                    "{path} {encodings}"
                );
                assert_eq!(zipped.media_type(), accept, "{path}");
                assert_eq!(
                    &zipped.body[..2],
                    &[0x1f, 0x8b],
                    "{path}: a gzip member starts with its magic"
                );
                assert_eq!(
                    zipped.document(),
                    plain.document(),
                    "{path}: the same document, compressed"
                );
            }

            let identity = http
                .send(
                    Method::GET,
                    &path,
                    &[("accept", accept), ("accept-encoding", "identity")],
                    Bytes::new(),
                )
                .await;
            assert!(!identity.is_gzip(), "{path}: identity asks for no gzip");
            assert_eq!(identity.document(), plain.document());
        }
    }
}

#[tokio::test]
async fn register_reads_the_body_in_the_format_its_content_type_names() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let cases: [(Option<&str>, Format); 7] = [
            (Some("application/json"), Format::Json),
            (Some("application/json; charset=utf-8"), Format::Json),
            (Some("APPLICATION/JSON"), Format::Json),
            (Some("application/xml"), Format::Xml),
            (Some("text/xml; charset=utf-8"), Format::Xml),
            (Some("*/*"), Format::Xml),
            (None, Format::Xml),
        ];
        for (n, (content_type, format)) in (1..).zip(cases) {
            let mut sent = instance("orders", n);
            sent.metadata
                .insert("management.port".into(), "9090".into());
            sent.home_page_url = Some(format!("http://host-{n}:8080/home"));
            sent.status = Status::Starting;
            let body = sd_eureka::encode_instance(&sent, format).unwrap();
            let headers: Vec<(&str, &str)> = content_type
                .map(|t| ("content-type", t))
                .into_iter()
                .collect();
            let path = format!("{base}apps/ORDERS");
            let reply = http.send(Method::POST, &path, &headers, body).await;
            assert_eq!(
                reply.status,
                StatusCode::NO_CONTENT,
                "{content_type:?}: {}",
                reply.text()
            );
            let stored = http.find(base, &sent).await.expect("registered");
            assert_eq!(stored.host_name, sent.host_name, "{content_type:?}");
            assert_eq!(stored.ip_addr, sent.ip_addr);
            assert_eq!(stored.port, sent.port);
            assert_eq!(stored.status, Status::Starting);
            assert_eq!(stored.metadata, sent.metadata, "{content_type:?}");
            assert_eq!(stored.home_page_url, sent.home_page_url);
            assert_eq!(stored.vip_address, sent.vip_address);
        }
        assert_eq!(server.applications().instance_count(), cases.len());
    }
}

#[tokio::test]
async fn register_refuses_other_content_types_with_415() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let orders = instance("orders", 1);
        let json = sd_eureka::encode_instance(&orders, Format::Json).unwrap();
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "application/yaml",
        ] {
            let reply = http
                .send(
                    Method::POST,
                    &format!("{base}apps/ORDERS"),
                    &[("content-type", content_type)],
                    json.clone(),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{content_type}"
            );
        }
        // A JSON body labelled XML is read as XML, and is not XML.
        let reply = http
            .send(
                Method::POST,
                &format!("{base}apps/ORDERS"),
                &[("content-type", "application/xml")],
                json.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(server.applications().instance_count(), 0);
    }
}

#[tokio::test]
async fn register_accepts_gzip_bodies() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        for (n, format) in [(1, Format::Json), (2, Format::Xml)] {
            let sent = instance("orders", n);
            let body = gzip(&sd_eureka::encode_instance(&sent, format).unwrap());
            let reply = http
                .send(
                    Method::POST,
                    &format!("{base}apps/ORDERS"),
                    &[
                        ("content-type", format.media_type()),
                        ("content-encoding", "gzip"),
                    ],
                    body,
                )
                .await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "{format}: {reply:?}");
            assert_eq!(
                http.find(base, &sent).await.map(|i| i.host_name),
                Some(sent.host_name)
            );
        }
        // Gzip that is not gzip is a bad request, not a registration.
        let broken = http
            .send(
                Method::POST,
                &format!("{base}apps/ORDERS"),
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ],
                sd_eureka::encode_instance(&instance("orders", 3), Format::Json).unwrap(),
            )
            .await;
        assert_eq!(broken.status, StatusCode::BAD_REQUEST);
        assert_eq!(server.applications().instance_count(), 2);
    }
}

#[tokio::test]
async fn basic_auth_guards_every_request() {
    // base64("dev:s3cret") and base64("dev:wrong").
    const RIGHT: &str = "Basic ZGV2OnMzY3JldA==";
    const WRONG_PASSWORD: &str = "Basic ZGV2Ondyb25n";
    let server = builder().basic_auth("dev", "s3cret").bind().await.unwrap();
    let http = Http::new(&server);
    let orders = instance("orders", 1);
    let body = sd_eureka::encode_instance(&orders, Format::Json).unwrap();
    for base in BASES {
        let requests = [
            (Method::GET, format!("{base}apps")),
            (Method::GET, format!("{base}apps/delta")),
            (Method::GET, format!("{base}apps/ORDERS")),
            (Method::POST, format!("{base}apps/ORDERS")),
            (
                Method::PUT,
                format!("{}?status=UP", instance_path(base, &orders)),
            ),
            (Method::DELETE, instance_path(base, &orders)),
            (Method::GET, "/".to_owned()),
        ];
        for (method, path) in requests {
            for authorization in [
                None,
                Some(WRONG_PASSWORD),
                // The right password for another user.
                Some("Basic b3RoZXI6czNjcmV0"),
                Some("Bearer ZGV2OnMzY3JldA=="),
                Some("Basic not base64!"),
            ] {
                let mut headers = vec![("content-type", "application/json")];
                headers.extend(authorization.map(|a| ("authorization", a)));
                let reply = http
                    .send(method.clone(), &path, &headers, body.clone())
                    .await;
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {authorization:?}"
                );
                let challenge = reply.header("www-authenticate").unwrap_or_default();
                assert!(
                    challenge.to_ascii_lowercase().starts_with("basic"),
                    "{method} {path}: challenge {challenge:?}"
                );
            }
        }
        assert_eq!(
            server.applications().instance_count(),
            0,
            "refused: no change"
        );

        let auth = [
            ("authorization", RIGHT),
            ("content-type", "application/json"),
        ];
        let path = format!("{base}apps/ORDERS");
        let reply = http.send(Method::POST, &path, &auth, body.clone()).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        let renew = format!("{}?status=UP", instance_path(base, &orders));
        let reply = http.send(Method::PUT, &renew, &auth, Bytes::new()).await;
        assert_eq!(reply.status, StatusCode::OK);
        let reply = http
            .send(
                Method::GET,
                &format!("{base}apps"),
                &[("authorization", RIGHT), ("accept", "application/json")],
                Bytes::new(),
            )
            .await;
        assert_eq!(reply.applications().instance_count(), 1);
        let page = http.send(Method::GET, "/", &auth, Bytes::new()).await;
        assert_eq!(page.status, StatusCode::OK);
        let cancel = instance_path(base, &orders);
        let reply = http
            .send(Method::DELETE, &cancel, &auth, Bytes::new())
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
}

/// The registry as a full fetch shows it, with its version and hash code.
async fn snapshot(http: &Http) -> (Vec<InstanceInfo>, Option<i64>, Option<String>) {
    let apps = http.full("/eureka/").await;
    let instances = apps.instances().map(|(_, i)| i.clone()).collect();
    (instances, apps.versions_delta, apps.apps_hashcode)
}

#[tokio::test]
async fn oversized_bodies_get_413_and_change_nothing() {
    const MAX: usize = 64 * 1024;
    let server = builder().max_body(MAX).bind().await.unwrap();
    let http = Http::new(&server);
    let base = "/eureka/";
    http.register_ok(base, &instance("orders", 1)).await;
    let before = snapshot(&http).await;
    let delta_before = http.delta(base).await;

    // An instance whose encoding is about `size` bytes.
    let padded = |n: u32, size: usize| {
        let mut i = instance("orders", n);
        i.metadata.insert("padding".into(), "x".repeat(size));
        sd_eureka::encode_instance(&i, Format::Json).unwrap()
    };
    let post = |headers: Vec<(&'static str, &'static str)>, body: Vec<u8>| {
        let http = http.clone();
        async move {
            http.send(Method::POST, "/eureka/apps/ORDERS", &headers, body)
                .await
                .status
        }
    };
    let json = ("content-type", "application/json");
    let gzipped = ("content-encoding", "gzip");

    let too_big = padded(2, 2 * MAX);
    assert!(too_big.len() > MAX);
    assert_eq!(
        post(vec![json], too_big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a plain body over the limit"
    );
    // Small on the wire, over the limit once inflated.
    let compressed = gzip(&too_big);
    assert!(compressed.len() < MAX);
    assert_eq!(
        post(vec![json, gzipped], compressed).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a gzip body inflating over the limit"
    );
    // A gzip bomb: 16 MiB of nothing in well under the limit.
    let bomb = gzip(&vec![b' '; 16 << 20]);
    assert!(bomb.len() < MAX, "{}", bomb.len());
    assert_eq!(
        post(vec![json, gzipped], bomb).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a gzip bomb"
    );
    assert_eq!(snapshot(&http).await, before, "413s change nothing");
    assert_eq!(http.delta(base).await, delta_before);

    // Just under the limit is fine, plain or gzipped: the limit is not stricter than said.
    let fits = padded(3, MAX - 2048);
    assert!(fits.len() <= MAX);
    assert_eq!(post(vec![json], fits).await, StatusCode::NO_CONTENT);
    let fits = padded(4, MAX - 2048);
    assert_eq!(
        post(vec![json, gzipped], gzip(&fits)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.applications().instance_count(), 3);
}

#[tokio::test]
async fn malformed_bodies_get_400_and_change_nothing() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let orders = instance("orders", 1);
    http.register_ok(base, &orders).await;
    let before = snapshot(&http).await;
    let delta_before = http.delta(base).await;

    let valid = sd_eureka::encode_instance(&instance("orders", 2), Format::Json).unwrap();
    let truncated = valid[..valid.len() / 2].to_vec();
    let mut not_utf8 = valid.clone();
    not_utf8[20] = 0xff;
    let bodies: [(&str, &str, Vec<u8>); 7] = [
        ("truncated JSON", "application/json", truncated.clone()),
        ("not UTF-8", "application/json", not_utf8),
        ("binary", "application/json", vec![0, 1, 2, 3, 0xfe]),
        ("XML garbage", "application/xml", b"<<<>>>".to_vec()),
        ("truncated XML", "application/xml", b"<instance><hostName>h".to_vec()),
        ("JSON null", "application/json", b"null".to_vec()),
        ("a port that is not a number", "application/json",
         br#"{"instance":{"instanceId":"x","hostName":"x","app":"ORDERS","ipAddr":"10.0.0.9","port":{"$":"eighty"}}}"#.to_vec()),
    ];
    for (what, content_type, body) in bodies {
        let reply = http
            .send(
                Method::POST,
                &format!("{base}apps/ORDERS"),
                &[("content-type", content_type)],
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}");
        let gzipped = http
            .send(
                Method::POST,
                &format!("{base}apps/ORDERS"),
                &[("content-type", content_type), ("content-encoding", "gzip")],
                gzip(&body),
            )
            .await;
        assert_eq!(gzipped.status, StatusCode::BAD_REQUEST, "{what}, gzipped");
    }
    assert_eq!(snapshot(&http).await, before, "400s change nothing");
    assert_eq!(http.delta(base).await, delta_before);
    assert_eq!(http.renew(base, &orders, "UP").await.status, StatusCode::OK);
}

/// RFC 9110 §11.1: the authentication scheme is case-insensitive, so `basic` is `Basic`
/// (Spring Security, in front of Spring's Eureka server, accepts either).
#[tokio::test]
async fn basic_auth_scheme_is_case_insensitive() {
    let server = builder().basic_auth("dev", "s3cret").bind().await.unwrap();
    let http = Http::new(&server);
    for scheme in ["Basic", "basic", "BASIC"] {
        let authorization = format!("{scheme} ZGV2OnMzY3JldA==");
        let reply = http
            .send(
                Method::GET,
                "/eureka/apps",
                &[("authorization", authorization.as_str())],
                Bytes::new(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{authorization}");
    }
}

#[tokio::test]
async fn full_fetches_are_fresh_after_every_change_with_or_without_the_cache() {
    for ttl in [Duration::from_secs(30), Duration::ZERO] {
        let server = builder().response_cache_ttl(ttl).bind().await.unwrap();
        let http = Http::new(&server);
        let base = "/eureka/";
        let a = instance("orders", 1);
        let b = instance("orders", 2);
        let fetch = |gzip: bool| {
            let http = http.clone();
            async move {
                let mut headers = vec![("accept", "application/json")];
                if gzip {
                    headers.push(("accept-encoding", "gzip"));
                }
                let reply = http
                    .send(Method::GET, "/eureka/apps", &headers, Bytes::new())
                    .await;
                assert_eq!(reply.is_gzip(), gzip);
                common::summary(&reply.applications())
            }
        };
        http.register_ok(base, &a).await;
        for gzip in [false, true] {
            let first = fetch(gzip).await;
            assert_eq!(first.len(), 1, "{ttl:?}");
            assert_eq!(http.renew(base, &a, "UP").await.status, StatusCode::OK);
            assert_eq!(
                fetch(gzip).await,
                first,
                "{ttl:?}: a renewal changes nothing"
            );
        }
        http.register_ok(base, &b).await;
        let meta = format!("{}/metadata?k=v", instance_path(base, &a));
        assert_eq!(http.put(&meta).await.status, StatusCode::OK);
        let down = format!("{}/status?value=DOWN", instance_path(base, &b));
        assert_eq!(http.put(&down).await.status, StatusCode::OK);
        for gzip in [false, true] {
            let now = fetch(gzip).await;
            assert_eq!(now.len(), 2, "{ttl:?} gzip={gzip}: the registration");
            assert_eq!(now[&a.instance_id].2, ["k=v"], "{ttl:?}: the metadata");
            assert_eq!(now[&b.instance_id].1, Status::Down, "{ttl:?}: the status");
        }
        assert_eq!(http.delete(&instance_path(base, &a)).await.status, 200);
        for gzip in [false, true] {
            assert_eq!(fetch(gzip).await.len(), 1, "{ttl:?}: the cancellation");
        }
    }
}

#[tokio::test]
async fn debug_never_shows_the_password_nor_the_registry() {
    use base64::Engine as _;
    const PASSWORD: &str = "s3cret-Pa55";
    let builder = builder().basic_auth("dev", PASSWORD);
    let shown = format!("{builder:?} {builder:#?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("dev"), "the user is no secret: {shown}");

    let server = builder.bind().await.unwrap();
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("dev:{PASSWORD}"))
    );
    let http = Http::new(&server);
    let orders = instance("orders", 1);
    let body = sd_eureka::encode_instance(&orders, Format::Json).unwrap();
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = http
        .send(Method::POST, "/eureka/apps/ORDERS", &headers, body)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let shown = format!("{server:?} {server:#?}");
    let token = authorization.trim_start_matches("Basic ");
    for secret in [PASSWORD, token, &orders.instance_id, "ORDERS"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains(&server.local_addr().to_string()), "{shown}");
}
