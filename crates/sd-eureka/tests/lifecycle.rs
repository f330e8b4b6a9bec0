//! A service's life in Eureka: a health check drives the registered status, survives
//! a check that panics or hangs, never overrides `OUT_OF_SERVICE`, and a graceful shutdown
//! marks the instance `OUT_OF_SERVICE`, drains, then deregisters. Against a live registry
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

/// Only an `OUT_OF_SERVICE` set on purpose is held: one the check answered, it may undo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_service_the_check_answered_is_not_held() {
    let live = server().await;
    let in_service = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&in_service);
    let registrar = Registrar::builder(connection(&[&live.base_url()]), instance(APP, 8007))
        .health_check(move || {
            let up = flag.load(Ordering::SeqCst);
            async move { if up { Status::Up } else { Status::OutOfService } }
        })
        .build();
    registrar.register().await.unwrap();
    assert_eq!(
        view(&live),
        [("127.0.0.1:8007".to_owned(), Status::OutOfService)]
    );
    in_service.store(true, Ordering::SeqCst);
    wait_until("the check made it UP", || {
        view(&live) == [("127.0.0.1:8007".to_owned(), Status::Up)]
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

fn config(pairs: &[(&str, &str)]) -> sd_eureka::Config {
    pairs.iter().copied().collect()
}

#[test]
fn spring_environment_variables_and_properties_read_alike() {
    let from_env = config(&[
        ("SPRING_APPLICATION_NAME", "orders"),
        ("SERVER_PORT", "9000"),
        (
            "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE",
            "http://a:8761/eureka/, http://b:8761/eureka/",
        ),
        ("EUREKA_INSTANCE_PREFERIPADDRESS", "true"),
        ("EUREKA_INSTANCE_IPADDRESS", "10.0.0.9"),
        ("EUREKA_INSTANCE_HOSTNAME", "orders-1"),
        ("EUREKA_INSTANCE_METADATAMAP_GIT_SHA", "abc"),
        ("EUREKA_INSTANCE_METADATAMAP_ZONE", "eu-1a"),
        ("EUREKA_INSTANCE_LEASERENEWALINTERVALINSECONDS", "5"),
        ("SOMETHING_ELSE", "ignored"),
        ("EUREKA_INSTANCE_NO_SUCH_THING", "ignored"),
        ("", "ignored"),
    ]);
    let from_properties = config(&[
        ("spring.application.name", "orders"),
        ("server.port", "9000"),
        (
            "eureka.client.serviceUrl.defaultZone",
            "http://a:8761/eureka/,http://b:8761/eureka/",
        ),
        ("eureka.instance.prefer-ip-address", "true"),
        ("eureka.instance.ip-address", "10.0.0.9"),
        ("eureka.instance.hostname", "orders-1"),
        ("eureka.instance.metadataMap.git.sha", "abc"),
        ("eureka.instance.metadata-map.zone", "eu-1a"),
        ("eureka.instance.leaseRenewalIntervalInSeconds", "5"),
    ]);
    assert_eq!(from_env, from_properties);
    assert_eq!(
        from_env.service_urls,
        ["http://a:8761/eureka/", "http://b:8761/eureka/"]
    );
    let instance = from_env.instance().unwrap();
    assert_eq!(instance.app, "ORDERS");
    assert_eq!(instance.port.port, 9000);
    assert_eq!(
        (instance.host_name.as_str(), instance.ip_addr.as_str()),
        ("10.0.0.9", "10.0.0.9"),
        "prefer-IP registers the IP as the host name"
    );
    assert_eq!(instance.instance_id, "orders-1:orders:9000");
    assert_eq!(
        instance.health_check_url.as_deref(),
        Some("http://10.0.0.9:9000/actuator/health")
    );
    assert_eq!(
        instance.status_page_url.as_deref(),
        Some("http://10.0.0.9:9000/actuator/info")
    );
    assert_eq!(
        instance.metadata["git.sha"], "abc",
        "lower case, `_` read as `.`"
    );
    assert_eq!(instance.metadata["zone"], "eu-1a");
    assert_eq!(instance.lease_info.unwrap().renewal_interval_in_secs, 5);
}

#[test]
fn no_app_name_no_instance_and_bad_values_are_ignored() {
    let config = config(&[("SERVER_PORT", "eighty"), ("PATH", "/bin")]);
    assert_eq!(config.service_urls, [sd_eureka::DEFAULT_SERVICE_URL]);
    assert!(config.instance().is_none());
    let with_app = self::config(&[("SPRING_APPLICATION_NAME", "a"), ("SERVER_PORT", "eighty")]);
    assert_eq!(
        with_app.instance().unwrap().port.port,
        8080,
        "Spring's default port"
    );
}

#[test]
fn eureka_url_wins_over_spring_keys() {
    let config = config(&[
        (
            "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE",
            "http://spring/eureka/",
        ),
        ("EUREKA_URL", "http://own/eureka/"),
    ]);
    assert_eq!(config.service_urls, ["http://own/eureka/"]);
}

#[test]
fn the_own_zones_servers_come_first_then_the_others_in_order() {
    let pairs = |zone: &str| {
        config(&[
            ("eureka.client.region", "eu"),
            ("eureka.client.availability-zones.eu", "eu-1a,eu-1b,eu-1c"),
            ("EUREKA_CLIENT_SERVICEURL_EU_1A", "http://a/eureka/"),
            (
                "eureka.client.serviceUrl.eu-1b",
                "http://b1/eureka/,http://b2/eureka/",
            ),
            ("eureka.client.serviceUrl.eu-1c", "http://c/eureka/"),
            (
                "eureka.client.serviceUrl.defaultZone",
                "http://default/eureka/",
            ),
            ("eureka.instance.metadataMap.zone", zone),
        ])
        .service_urls
    };
    assert_eq!(
        pairs("eu-1b"),
        [
            "http://b1/eureka/",
            "http://b2/eureka/",
            "http://c/eureka/",
            "http://a/eureka/"
        ]
    );
    assert_eq!(
        pairs("elsewhere"),
        [
            "http://a/eureka/",
            "http://b1/eureka/",
            "http://b2/eureka/",
            "http://c/eureka/"
        ],
        "a zone not in the region: the region's first zone is the client's"
    );
}

/// The configuration's own zone's registry gets the registration, the other zone's only
/// if that fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spring_configured_service_registers_in_its_own_zone() {
    let (near, far) = (server().await, server().await);
    let config = config(&[
        ("SPRING_APPLICATION_NAME", APP),
        ("SERVER_PORT", "8010"),
        ("EUREKA_CLIENT_AVAILABILITYZONES_US_EAST_1", "far,near"),
        ("EUREKA_CLIENT_SERVICEURL_FAR", &far.base_url()),
        ("EUREKA_CLIENT_SERVICEURL_NEAR", &near.base_url()),
        ("EUREKA_INSTANCE_METADATAMAP_ZONE", "near"),
        ("EUREKA_INSTANCE_IPADDRESS", "127.0.0.1"),
    ]);
    let registrar = Registrar::new(config.connection().unwrap(), config.instance().unwrap());
    registrar.register().await.unwrap();
    assert_eq!(view(&near), [("127.0.0.1:8010".to_owned(), Status::Up)]);
    assert!(view(&far).is_empty());
    registrar.deregister().await.unwrap();
}
