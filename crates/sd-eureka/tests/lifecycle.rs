//! A service's life in Eureka: a health check drives the registered status, survives
//! a check that panics or hangs, never overrides OUT_OF_SERVICE, and a graceful shutdown
//! marks the instance OUT_OF_SERVICE, drains, then deregisters. Against a live registry
//! on loopback.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_eureka::{InstanceInfo, Registrar, Status};
use support::{connection, instance, server, server_view, wait_until};
use tokio::sync::oneshot;

const APP: &str = "lifecycle";

fn view(live: &sd_eureka_server::EurekaServer) -> Vec<(String, Status)> {
    server_view(&live.applications(), APP)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_drives_the_registered_status() {
    let live = server().await;
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let registrar = Registrar::builder(connection(&[&live.base_url()]), instance(APP, 8001))
        .health_check(move || {
            let up = flag.load(Ordering::SeqCst);
            async move { if up { Status::Up } else { Status::Down } }
        })
        .build();
    registrar.register().await.unwrap();
    // Asked before the first registration: never registered UP while unhealthy.
    assert_eq!(view(&live), [("127.0.0.1:8001".to_owned(), Status::Down)]);

    healthy.store(true, Ordering::SeqCst);
    wait_until("the instance is UP", || {
        view(&live) == [("127.0.0.1:8001".to_owned(), Status::Up)]
    })
    .await;
    healthy.store(false, Ordering::SeqCst);
    wait_until("the instance is DOWN again", || {
        view(&live) == [("127.0.0.1:8001".to_owned(), Status::Down)]
    })
    .await;
    assert_eq!(registrar.instance().status, Status::Down);
    registrar.deregister().await.unwrap();
    assert!(view(&live).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_health_check_counts_as_down_and_heartbeats_go_on() {
    let live = server().await;
    let registrar = Registrar::builder(connection(&[&live.base_url()]), instance(APP, 8002))
        .health_check(|| async { panic!("the health check broke") })
        .build();
    registrar.register().await.unwrap();
    assert_eq!(view(&live), [("127.0.0.1:8002".to_owned(), Status::Down)]);
    wait_until("two heartbeats after panics", || {
        registrar.stats().heartbeats >= 2
    })
    .await;
    assert!(registrar.is_registered());
    registrar.deregister().await.unwrap();
    assert!(view(&live).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_health_check_counts_as_down_within_its_timeout() {
    let live = server().await;
    let registrar = Registrar::builder(connection(&[&live.base_url()]), instance(APP, 8003))
        .health_check(std::future::pending::<Status>)
        .health_check_timeout(Duration::from_millis(100))
        .build();
    registrar.register().await.unwrap();
    assert_eq!(view(&live), [("127.0.0.1:8003".to_owned(), Status::Down)]);
    wait_until("two heartbeats past hanging checks", || {
        registrar.stats().heartbeats >= 2
    })
    .await;
    // Stopping while a check hangs is not held up by it.
    registrar.deregister().await.unwrap();
    assert!(view(&live).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_service_outlasts_a_healthy_check() {
    let live = server().await;
    let registrar = Registrar::builder(connection(&[&live.base_url()]), instance(APP, 8004))
        .health_check(|| async { Status::Up })
        .build();
    registrar.register().await.unwrap();
    registrar.set_status(Status::OutOfService).await.unwrap();
    let beats = registrar.stats().heartbeats;
    wait_until("two more heartbeats", || {
        registrar.stats().heartbeats >= beats + 2
    })
    .await;
    assert_eq!(
        view(&live),
        [("127.0.0.1:8004".to_owned(), Status::OutOfService)]
    );
    // Set back on purpose, the check rules again.
    registrar.set_status(Status::Starting).await.unwrap();
    wait_until("the check made it UP", || {
        view(&live) == [("127.0.0.1:8004".to_owned(), Status::Up)]
    })
    .await;
    registrar.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_on_marks_out_of_service_drains_then_deregisters() {
    let live = server().await;
    let registrar = Registrar::builder(connection(&[&live.base_url()]), instance(APP, 8005))
        .health_check(|| async { Status::Up })
        // Long enough to see the OUT_OF_SERVICE from outside on a loaded machine.
        .drain(Duration::from_secs(5))
        .build();
    registrar.register().await.unwrap();
    let (signal, signalled) = oneshot::channel::<()>();
    let leaving = registrar.clone();
    let shutdown = tokio::spawn(async move {
        leaving
            .shutdown_on(async move {
                let _ = signalled.await;
            })
            .await
    });
    // Nothing happens before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(view(&live), [("127.0.0.1:8005".to_owned(), Status::Up)]);

    signal.send(()).unwrap();
    wait_until("the instance is OUT_OF_SERVICE, still registered", || {
        view(&live) == [("127.0.0.1:8005".to_owned(), Status::OutOfService)]
    })
    .await;
    shutdown.await.unwrap().unwrap();
    assert!(view(&live).is_empty(), "deregistered after the drain");
    assert!(!registrar.is_registered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_without_a_server_to_tell_is_bounded() {
    let dead = support::dead_url().await;
    let registrar = Registrar::builder(connection(&[&dead]), instance(APP, 8006))
        .drain(Duration::from_secs(3600))
        .deregister_timeout(Duration::from_millis(500))
        .build();
    let _ = registrar.register().await;
    // The drain is skipped: the server never heard of the OUT_OF_SERVICE.
    let result = tokio::time::timeout(Duration::from_secs(60), registrar.shutdown()).await;
    assert!(
        result.expect("shutdown is bounded").is_err(),
        "nothing to deregister from"
    );
    assert!(!registrar.is_registered());
}

#[test]
fn detected_addresses_are_this_machines() {
    let instance = InstanceInfo::builder("orders", 8080)
        .detect_address()
        .build();
    assert_eq!(instance.ip_addr, sd_eureka::default_ip().to_string());
    let host = sd_eureka::hostname().unwrap_or_else(|| instance.ip_addr.clone());
    assert_eq!(instance.host_name, host);
    assert_eq!(instance.instance_id, format!("{host}:orders:8080"));

    let by_ip = InstanceInfo::builder("orders", 8080)
        .detect_address()
        .prefer_ip_address(true)
        .build();
    assert_eq!(by_ip.host_name, by_ip.ip_addr);
    assert_eq!(by_ip.instance_id, format!("{host}:orders:8080"));
    assert_eq!(
        by_ip.home_page_url,
        Some(format!("http://{}:8080/", by_ip.ip_addr))
    );
}

#[test]
fn urls_vips_and_zone_are_set_as_given() {
    let instance = InstanceInfo::builder("orders", 8080)
        .host("orders-1")
        .ip("10.0.0.7")
        .secure_port(8443)
        .spring_boot_urls()
        .home_page_url("/home")
        .status_page_url("https://status.example/orders")
        .vip_address("orders.internal")
        .secure_vip_address("orders.secure")
        .zone("eu-1b")
        .build();
    assert_eq!(
        instance.home_page_url.as_deref(),
        Some("http://orders-1:8080/home")
    );
    assert_eq!(
        instance.status_page_url.as_deref(),
        Some("https://status.example/orders"),
        "an explicit URL wins over Spring's default"
    );
    assert_eq!(
        instance.health_check_url.as_deref(),
        Some("http://orders-1:8080/actuator/health")
    );
    assert_eq!(
        instance.secure_health_check_url.as_deref(),
        Some("https://orders-1:8443/actuator/health")
    );
    assert_eq!(instance.vip_address.as_deref(), Some("orders.internal"));
    assert_eq!(
        instance.secure_vip_address.as_deref(),
        Some("orders.secure")
    );
    assert_eq!(instance.metadata["zone"], "eu-1b");
}
