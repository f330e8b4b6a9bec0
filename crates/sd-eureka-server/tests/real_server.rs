//! What a real Netflix Eureka server was seen to do (`docs/eureka-protocol.md`, "Checked
//! against a real server"), over HTTP to a server started in process, under both base
//! paths.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{BASES, Http, builder, eventually, instance, instance_path};
use http::{Method, StatusCode};
use sd_eureka::InstanceInfo;

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
