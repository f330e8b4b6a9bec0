//! The instancer against a real authoritative DNS server (hickory-server, in process, on a
//! loopback port), over UDP and TCP: go-kit's semantics, changes to the zone between
//! polls, TTLs, negative answers and unusable records.
//!
//! Every wait is for a condition, bounded by `support::WAIT`; nothing asserts on timings.

mod support;

use std::time::Duration;

use sd_core::Instancer as _;
use sd_dnssrv::{Instancer, InstancerBuilder, PRIORITY, Transport, WEIGHT};
use support::{DnsServer, fqdn, ids, until, until_error, until_set};

/// Fast polls; TTLs of the records are long unless a test says otherwise, so that a
/// resolver cache would hide every change.
fn builder(server: &DnsServer, name: &str) -> InstancerBuilder {
    Instancer::builder(fqdn(name))
        .name_server(server.addr())
        .interval(Duration::from_millis(100))
        .ttl_floor(Duration::from_millis(50))
        .lookup_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn every_event_is_the_whole_sorted_set_over_udp_and_tcp() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut server = DnsServer::start().await;
        let name = "_http._tcp.orders";
        server
            .set(
                name,
                3600,
                &[(10, 5, 8080, "b.sd.test."), (20, 1, 8081, "A.sd.test.")],
            )
            .await;
        let instancer = builder(&server, name).transport(transport).build().unwrap();
        let mut sub = instancer.subscribe();
        let event = until_set(&mut sub, &["a.sd.test:8081", "b.sd.test:8080"]).await;
        let set = event.instances().unwrap();
        let b = &set[1];
        assert_eq!(b.metadata().get(PRIORITY).map(String::as_str), Some("10"));
        assert_eq!(b.metadata().get(WEIGHT).map(String::as_str), Some("5"));

        // One more record: the whole set again, not the difference.
        server
            .set(
                name,
                3600,
                &[
                    (10, 5, 8080, "b.sd.test."),
                    (20, 1, 8081, "a.sd.test."),
                    (10, 5, 8080, "c.sd.test."),
                ],
            )
            .await;
        until_set(
            &mut sub,
            &["a.sd.test:8081", "b.sd.test:8080", "c.sd.test:8080"],
        )
        .await;

        // A late subscriber gets the current state at once.
        let mut late = instancer.subscribe();
        let now = tokio::time::timeout(Duration::from_millis(1), late.next())
            .await
            .expect("the current state, without waiting")
            .unwrap();
        assert_eq!(
            ids(&now),
            ["a.sd.test:8081", "b.sd.test:8080", "c.sd.test:8080"],
            "{transport:?}"
        );
        assert_eq!(instancer.state(), Some(now));
    }
}

#[tokio::test]
async fn an_answer_too_large_for_udp_comes_over_tcp() {
    // 60 records are some 1,900 bytes: more than the 1,232 a datagram may carry, so the
    // server truncates its UDP answer and the lookup asks again over TCP.
    let mut server = DnsServer::start().await;
    let name = "_http._tcp.large";
    let targets: Vec<String> = (0..60)
        .map(|n| format!("instance-{n:02}.sd.test."))
        .collect();
    let records: Vec<_> = targets.iter().map(|t| (0, 0, 8080, t.as_str())).collect();
    server.set(name, 3600, &records).await;
    let instancer = builder(&server, name).build().unwrap();
    let mut sub = instancer.subscribe();
    let event = until(&mut sub, "60 instances", |e| {
        e.instances().is_some_and(|set| set.len() == 60)
    })
    .await;
    assert_eq!(ids(&event)[59], "instance-59.sd.test:8080");
}

#[tokio::test]
async fn records_added_and_removed_between_polls_are_seen_despite_long_ttls() {
    let mut server = DnsServer::start().await;
    let name = "_grpc._tcp.users";
    server
        .set(name, 86_400, &[(0, 0, 9000, "u1.sd.test.")])
        .await;
    let instancer = builder(&server, name).build().unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["u1.sd.test:9000"]).await;

    server
        .set(
            name,
            86_400,
            &[(0, 0, 9000, "u1.sd.test."), (0, 0, 9000, "u2.sd.test.")],
        )
        .await;
    until_set(&mut sub, &["u1.sd.test:9000", "u2.sd.test:9000"]).await;

    server
        .set(name, 86_400, &[(0, 0, 9000, "u2.sd.test.")])
        .await;
    until_set(&mut sub, &["u2.sd.test:9000"]).await;

    // A new port for the same target is a new instance.
    server
        .set(name, 86_400, &[(0, 0, 9001, "u2.sd.test.")])
        .await;
    until_set(&mut sub, &["u2.sd.test:9001"]).await;
}

#[tokio::test]
async fn a_ttl_shorter_than_the_interval_brings_the_next_poll_forward() {
    let mut server = DnsServer::start().await;
    let name = "_http._tcp.ttl";
    server.set(name, 1, &[(0, 0, 80, "t1.sd.test.")]).await;
    // An interval no test outlives: only the TTL can make the instancer poll again.
    let instancer = builder(&server, name)
        .interval(Duration::from_secs(3600))
        .ttl_floor(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["t1.sd.test:80"]).await;

    // A change, with a TTL of 0: the floor keeps the poller from spinning, and it polls.
    server.set(name, 0, &[(0, 0, 80, "t2.sd.test.")]).await;
    until_set(&mut sub, &["t2.sd.test:80"]).await;
    server.set(name, 1, &[(0, 0, 80, "t3.sd.test.")]).await;
    until_set(&mut sub, &["t3.sd.test:80"]).await;

    // A negative answer is trusted for the SOA's negative TTL (1 s) only, too.
    server.remove(name).await;
    until_set(&mut sub, &[]).await;
    server.set(name, 1, &[(0, 0, 80, "t4.sd.test.")]).await;
    until_set(&mut sub, &["t4.sd.test:80"]).await;
}

#[tokio::test]
async fn no_records_is_an_empty_set_or_on_request_an_error() {
    let mut server = DnsServer::start().await;
    let name = "_http._tcp.gone";
    server.set(name, 3600, &[(0, 0, 80, "g1.sd.test.")]).await;
    let instancer = builder(&server, name).build().unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["g1.sd.test:80"]).await;

    // NXDOMAIN: the service is gone, so is the set.
    server.remove(name).await;
    until_set(&mut sub, &[]).await;
    server.set(name, 3600, &[(0, 0, 80, "g2.sd.test.")]).await;
    until_set(&mut sub, &["g2.sd.test:80"]).await;

    // go-kit's way: an error event, so endpointers keep the last endpoints.
    let strict = builder(&server, "_http._tcp.never")
        .no_records_is_error(true)
        .build()
        .unwrap();
    let mut strict_sub = strict.subscribe();
    until_error(
        &mut strict_sub,
        "no SRV records for _http._tcp.never.sd.test.",
    )
    .await;
}

#[tokio::test]
async fn a_name_outside_the_zone_is_refused_and_that_is_an_error() {
    let server = DnsServer::start().await;
    let instancer = Instancer::builder("_http._tcp.elsewhere.example.")
        .name_server(server.addr())
        .interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_error(&mut sub, "REFUSED").await;
}

#[tokio::test]
async fn unusable_records_are_skipped_and_all_unusable_is_an_error() {
    let mut server = DnsServer::start().await;
    let name = "_http._tcp.mixed";
    server
        .set(
            name,
            3600,
            &[
                (0, 0, 0, "zero.sd.test."),
                (0, 0, 80, "."),
                (0, 0, 80, "ok.sd.test."),
            ],
        )
        .await;
    let instancer = builder(&server, name).build().unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["ok.sd.test:80"]).await;

    server
        .set(name, 3600, &[(0, 0, 0, "zero.sd.test."), (0, 0, 80, ".")])
        .await;
    let error = until_error(&mut sub, "none of the 2 SRV records").await;
    assert!(error.is_discovery());
    // Never an emptied set on the way.
    assert!(instancer.state().unwrap().error().is_some());

    server.set(name, 3600, &[(0, 0, 80, "back.sd.test.")]).await;
    until_set(&mut sub, &["back.sd.test:80"]).await;
}

#[tokio::test]
async fn a_subscription_keeps_the_poller_alive_without_the_instancer() {
    let mut server = DnsServer::start().await;
    let name = "_http._tcp.kept";
    server.set(name, 3600, &[(0, 0, 80, "k1.sd.test.")]).await;
    let mut sub = builder(&server, name).build().unwrap().subscribe();
    until_set(&mut sub, &["k1.sd.test:80"]).await;
    server.set(name, 3600, &[(0, 0, 80, "k2.sd.test.")]).await;
    until_set(&mut sub, &["k2.sd.test:80"]).await;
}
