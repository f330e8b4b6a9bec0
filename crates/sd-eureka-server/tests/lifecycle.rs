//! The server as a whole: its status page, its base URL, and stopping it — by shutdown
//! (bounded, closes the port) and by dropping the handle.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{DEADLINE, Http, eventually, instance, instance_path, start};
use http::{Method, StatusCode};
use sd_eureka::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether something accepts TCP connections at `addr`.
async fn accepts(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[tokio::test]
async fn the_status_page_lists_apps_and_instances() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let orders = instance("orders", 1);
    let mut billing = instance("billing", 2);
    billing.ip_addr = "192.168.7.9".into();
    billing.port.port = 9443;
    billing.status = Status::Starting;
    let mut odd = instance("orders", 3);
    odd.instance_id = "<b>odd</b>&co".into();
    for i in [&orders, &billing, &odd] {
        http.register_ok(base, i).await;
    }
    let set = format!(
        "{}/status?value=OUT_OF_SERVICE",
        instance_path(base, &orders)
    );
    assert_eq!(http.put(&set).await.status, StatusCode::OK);

    for path in ["/", "/eureka/", "/eureka/v2/"] {
        let page = http.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.media_type(), "text/html", "{path}");
        let html = page.text();
        for text in [
            "ORDERS",
            "BILLING",
            "host-1:orders:8080",
            "host-2:billing:8080",
            "OUT_OF_SERVICE",
            "STARTING",
            "10.0.0.1:8080",
            "192.168.7.9:9443",
        ] {
            assert!(html.contains(text), "{path}: {text:?} missing from\n{html}");
        }
        assert!(!html.contains("<b>odd"), "{path}: ids are escaped\n{html}");
        assert!(
            html.contains("&lt;b&gt;odd&lt;/b&gt;&amp;co"),
            "{path}\n{html}"
        );
    }

    // A cancelled instance leaves the page.
    assert_eq!(
        http.delete(&instance_path(base, &billing)).await.status,
        StatusCode::OK
    );
    let html = http.get("/").await.text();
    assert!(!html.contains("host-2:billing:8080"), "{html}");
    assert!(!html.contains("192.168.7.9"), "{html}");
    assert!(html.contains("host-1:orders:8080"));
}

#[tokio::test]
async fn the_base_url_is_the_api_root() {
    let server = start().await;
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "an ephemeral port was picked");
    assert_eq!(server.base_url(), format!("http://{addr}/eureka/"));
    let http = Http::new(&server);
    let path = server.base_url().replacen(&format!("http://{addr}"), "", 1);
    http.register_ok(&path, &instance("orders", 1)).await;
    let full = http.full(&path).await;
    assert_eq!(
        full,
        server.applications(),
        "the handle sees what a fetch sees"
    );
}

#[tokio::test]
async fn shutdown_is_prompt_and_closes_the_port() {
    let server = start().await;
    let addr = server.local_addr();
    let http = Http::new(&server);
    // Leave an idle keep-alive connection in the client's pool, as real clients do.
    http.register_ok("/eureka/", &instance("orders", 1)).await;
    assert_eq!(http.get("/eureka/apps").await.status, StatusCode::OK);
    assert!(accepts(addr).await);

    tokio::time::timeout(DEADLINE, server.shutdown())
        .await
        .expect("shutdown did not complete");
    assert!(
        !accepts(addr).await,
        "the port still accepts after shutdown"
    );
    let after = http
        .try_send(Method::GET, "/eureka/apps", &[], bytes::Bytes::new())
        .await;
    assert!(after.is_err(), "answered after shutdown: {after:?}");
}

#[tokio::test]
async fn shutdown_answers_a_request_in_flight() {
    let server = start().await;
    let addr = server.local_addr();
    let body = sd_eureka::encode_instance(&instance("orders", 1), sd_eureka::Format::Json)
        .expect("encode");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /eureka/apps/ORDERS HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The interim answer comes once the handler waits for the body: the request is in flight.
    let mut interim = [0; 25];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut interim))
        .await
        .expect("no 100 Continue in time")
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");

    let shutdown = tokio::spawn(tokio::time::timeout(DEADLINE, server.shutdown()));
    eventually("the port to close", || async { !accepts(addr).await }).await;
    stream.write_all(&body).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(DEADLINE, stream.read_to_string(&mut answer))
        .await
        .expect("no answer in time")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer:?}");
    shutdown.await.unwrap().expect("shutdown did not complete");
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = start().await;
    let addr = server.local_addr();
    let http = Http::for_addr(addr);
    assert_eq!(http.get("/eureka/apps").await.status, StatusCode::OK);
    drop(server);
    eventually("the dropped server to close its port", || async {
        !accepts(addr).await
    })
    .await;
}

/// A connection whose request never completes (a client stalled mid-body) must not hold
/// shutdown beyond its bound, and must not outlive it: once `shutdown` has returned the
/// server serves nothing more.
#[tokio::test]
async fn shutdown_is_bounded_and_ends_a_stalled_request() {
    let server = start().await;
    let addr = server.local_addr();
    let body = sd_eureka::encode_instance(&instance("orders", 1), sd_eureka::Format::Json)
        .expect("encode");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /eureka/apps/ORDERS HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0; 25];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut interim))
        .await
        .expect("no 100 Continue in time")
        .unwrap();

    // The body never comes: shutdown gives up on the request after its drain period.
    tokio::time::timeout(DEADLINE, server.shutdown())
        .await
        .expect("shutdown did not complete");
    assert!(!accepts(addr).await);

    // Finishing the request now must not get it served.
    let _ = stream.write_all(&body).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        read.is_ok(),
        "the stalled connection is still open after shutdown returned"
    );
    assert!(
        !answer.starts_with("HTTP/1.1 2"),
        "a request was served after shutdown returned: {answer:?}"
    );
}

/// No configuration value may panic: every duration at its largest, and the smallest
/// that make sense, through registrations, reads, renewals, eviction and shutdown.
#[tokio::test]
async fn extreme_configuration_values_do_not_panic() {
    for (duration, max_body) in [(Duration::MAX, usize::MAX), (Duration::ZERO, 0)] {
        let server = common::builder()
            .eviction_interval(duration)
            .delta_retention(duration)
            .response_cache_ttl(duration)
            .max_body(max_body)
            .bind()
            .await
            .unwrap();
        let http = Http::new(&server);
        let base = "/eureka/";
        let orders = instance("orders", 1);
        // Several rounds, so that timers set from the first one have fired or been set.
        for round in 0..3 {
            let registered = http.register(base, &orders).await;
            let expected = if max_body == 0 {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::NO_CONTENT
            };
            assert_eq!(registered.status, expected, "{duration:?} round {round}");
            for path in ["apps", "apps/delta"] {
                let reply = http.get_json(&format!("{base}{path}")).await;
                assert_eq!(reply.status, StatusCode::OK, "{duration:?} {path}");
            }
            http.renew(base, &orders, "UP").await;
            server.evict_now();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert!(
            accepts(server.local_addr()).await,
            "{duration:?}: still serving"
        );
        server.shutdown().await;
    }
}
