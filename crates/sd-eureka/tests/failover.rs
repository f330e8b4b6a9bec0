//! Failover across service URLs, and the time an operation may take: any unusable answer
//! sends a read to the next URL, writes keep their own rules, one deadline covers a whole
//! operation, and deregistration reaches a live URL within its limit.
//!
//! Faults come from `support::RawServer` on loopback; the live registry is
//! `sd-eureka-server` in process.

mod support;

use std::time::Duration;

use http::StatusCode;
use sd_core::Instancer as _;
use sd_eureka::{Connection, Error, Instancer, Registrar};
use support::{
    RawServer, Reply, connection, connection_builder, event_ids, ids, instance, next_event, server,
    server_addresses, wait_until,
};

const APP: &str = "failover";

/// Answers that no read may accept, each from a server of its own.
fn unusable_answers() -> Vec<(&'static str, Reply)> {
    vec![
        (
            "403 (a server still waiting for its peers)",
            Reply::status(403, "sync pending"),
        ),
        (
            "404 (a URL without the base path)",
            Reply::status(404, "no such page"),
        ),
        ("401", Reply::status(401, "who are you")),
        ("429", Reply::status(429, "slow down")),
        ("503", Reply::status(503, "overloaded")),
        (
            "200 with garbage",
            Reply::json(&b"\x00\x01<<not a registry>>}{"[..]),
        ),
        (
            "200 with an HTML page",
            Reply::Full {
                status: 200,
                content_type: "text/html",
                body: b"<!DOCTYPE html><html><body>Login</body></html>".to_vec(),
            },
        ),
        (
            "200 with JSON cut short",
            Reply::json(
                &br#"{"applications":{"versions__delta":"1","application":[{"name":"X","inst"#[..],
            ),
        ),
        ("200 with an empty body", Reply::json("")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_fetch_fails_over_past_any_unusable_answer() {
    let live = server().await;
    let a = Registrar::new(connection(&[&live.base_url()]), instance(APP, 8001));
    a.register().await.unwrap();
    for (what, reply) in unusable_answers() {
        let bad = RawServer::start(move |_| reply.clone()).await;
        let conn = connection(&[&bad.base_url(), &live.base_url()]);
        let apps = conn
            .applications()
            .await
            .unwrap_or_else(|e| panic!("{what}: no failover: {e}"));
        assert_eq!(server_addresses(&apps, APP), ["127.0.0.1:8001"], "{what}");
        assert_eq!(bad.count("GET", "/eureka/apps"), 1, "{what}: tried once");
        // The bad URL is now set aside: the next read goes straight to the live one.
        conn.applications().await.unwrap();
        assert_eq!(bad.count("GET", "/eureka/apps"), 1, "{what}: set aside");
    }
    a.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_url_fails_the_error_names_each_url_and_what_it_did() {
    let forbidden = RawServer::start(|_| Reply::status(403, "sync pending")).await;
    let garbage = RawServer::start(|_| Reply::json("}{ not json")).await;
    let conn = connection(&[&forbidden.base_url(), &garbage.base_url()]);
    let error = conn.applications().await.unwrap_err();

    assert!(error.is_decode(), "the last URL's error: {error:?}");
    assert!(
        error
            .decode_error()
            .is_some_and(sd_eureka::DecodeError::is_syntax),
        "{error:?}"
    );
    assert_eq!(error.url(), Some(garbage.base_url().as_str()));
    let earlier = error.earlier();
    assert_eq!(earlier.len(), 1, "{error:?}");
    assert_eq!(earlier[0].status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(earlier[0].url(), Some(forbidden.base_url().as_str()));
    let message = error.to_string();
    for part in [
        forbidden.base_url(),
        garbage.base_url(),
        "403".to_owned(),
        "invalid Eureka".to_owned(),
    ] {
        assert!(message.contains(&part), "{message:?} should name {part:?}");
    }
}

/// What `sd eureka watch` does: an instancer over [bad URL, live URL] publishes the live
/// set from its first poll, and keeps doing so, whatever the bad URL answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instancer_behind_an_unusable_url_follows_the_live_one() {
    let live = server().await;
    let a = Registrar::new(connection(&[&live.base_url()]), instance(APP, 8001));
    a.register().await.unwrap();
    for (what, reply) in unusable_answers() {
        let bad = RawServer::start(move |_| reply.clone()).await;
        let conn = connection_builder(&[&bad.base_url(), &live.base_url()])
            // Bring the bad URL back after every poll, so each poll meets it again.
            .quarantine(Duration::ZERO)
            .build()
            .unwrap();
        let instancer = Instancer::new(&conn, APP).unwrap();
        let mut events = instancer.subscribe();
        let event = next_event(&mut events, "a first state", |_| true).await;
        assert_eq!(
            event_ids(&event),
            Some(vec!["127.0.0.1:8001".to_owned()]),
            "{what}: {event:?}"
        );
        wait_until("three more polls", || {
            let stats = instancer.stats();
            stats.full_fetches + stats.delta_fetches >= 4
        })
        .await;
        assert_eq!(instancer.stats().failures, 0, "{what}");
        assert!(
            bad.requests().len() >= 2,
            "{what}: the bad URL was tried again"
        );
        assert_eq!(
            event_ids(&instancer.subscribe().current().unwrap()),
            Some(vec!["127.0.0.1:8001".to_owned()]),
            "{what}"
        );
    }
    a.deregister().await.unwrap();
}

/// A heartbeat's 404 is an answer ("register again"), not a reason to ask another server;
/// a deregistration's 404 is success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_keep_their_own_rules() {
    let first = server().await;
    let second = server().await;
    let conn = connection(&[&first.base_url(), &second.base_url()]);
    let i = instance(APP, 8001);
    let error = conn
        .heartbeat(&i.app, &i.instance_id, i.status, i.last_dirty_timestamp)
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    assert_eq!(error.url(), Some(first.base_url().as_str()));
    conn.deregister(&i.app, &i.instance_id).await.unwrap();

    // Only the first server was asked: register on the second to see that it was not.
    let on_second = connection(&[&second.base_url()]);
    on_second.register(&i).await.unwrap();
    conn.register(&i).await.unwrap();
    assert_eq!(
        server_addresses(&first.applications(), APP),
        ["127.0.0.1:8001"]
    );
    conn.deregister(&i.app, &i.instance_id).await.unwrap();
    assert!(first.applications().applications.is_empty());
    assert_eq!(
        server_addresses(&second.applications(), APP),
        ["127.0.0.1:8001"]
    );
}

/// A write answered with a status other than 2xx (a node refusing writes, a URL without
/// the base path) goes on to the next URL too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_fails_over_past_a_refusing_url() {
    let live = server().await;
    for status in [401, 403, 404, 503] {
        let bad = RawServer::start(move |_| Reply::status(status, "no")).await;
        let conn = connection(&[&bad.base_url(), &live.base_url()]);
        let i = instance(APP, 8001);
        conn.register(&i).await.unwrap();
        assert_eq!(
            bad.count("POST", &format!("/eureka/apps/{}", i.app)),
            1,
            "{status}"
        );
        assert_eq!(
            server_addresses(&live.applications(), APP),
            ["127.0.0.1:8001"],
            "{status}"
        );
        conn.deregister(&i.app, &i.instance_id).await.unwrap();
    }
}

/// One deadline for the whole operation: three URLs that never answer cost the caller
/// one request timeout, not three, and each of them is still tried within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deadline_covers_every_url_an_operation_tries() {
    let holes = [
        RawServer::start(|_| Reply::Silent).await,
        RawServer::start(|_| Reply::Silent).await,
        RawServer::start(|_| {
            Reply::Stall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{".to_vec())
        })
        .await,
    ];
    let urls: Vec<String> = holes.iter().map(RawServer::base_url).collect();
    let timeout = Duration::from_millis(1500);
    let conn = Connection::builder()
        .service_urls(&urls)
        .request_timeout(timeout)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let error = conn.applications().await.unwrap_err();
    let took = start.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.earlier().len(), 2, "{error}");
    assert!(error.earlier().iter().all(Error::is_timeout), "{error}");
    for hole in &holes {
        assert_eq!(hole.requests().len(), 1, "every URL got its share");
    }
    // Per-URL timeouts would have taken three times the timeout; one deadline takes one
    // (plus scheduling: the bound is loose on purpose).
    assert!(took < timeout * 3, "the operation took {took:?}");
}

/// A URL that never answers cannot use up an operation's time: the live URL after it is
/// reached, on a read and on a write alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_does_not_starve_the_next_url() {
    let live = server().await;
    let hole = RawServer::start(|_| Reply::Silent).await;
    let conn = Connection::builder()
        .service_url(hole.base_url())
        .service_url(live.base_url())
        .request_timeout(Duration::from_secs(4))
        .quarantine(Duration::ZERO)
        .build()
        .unwrap();
    conn.register(&instance(APP, 8001)).await.unwrap();
    let apps = conn.applications().await.unwrap();
    assert_eq!(server_addresses(&apps, APP), ["127.0.0.1:8001"]);
    assert_eq!(hole.requests().len(), 2);
}

/// The issue's scenario: [blackhole, live] service URLs, the blackhole back in good
/// standing when the service stops. Deregistration has a limit shorter than one request
/// timeout, and still reaches the live registry within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistration_fails_over_within_its_limit() {
    let live = server().await;
    let hole = RawServer::start(|_| Reply::Silent).await;
    let conn = Connection::builder()
        .service_url(hole.base_url())
        .service_url(live.base_url())
        .request_timeout(Duration::from_secs(6))
        .quarantine(Duration::from_millis(1))
        .build()
        .unwrap();
    let registrar = Registrar::builder(conn, instance(APP, 8001))
        .deregister_timeout(Duration::from_secs(3))
        .build();
    registrar.register().await.unwrap();
    assert_eq!(
        server_addresses(&live.applications(), APP),
        ["127.0.0.1:8001"]
    );

    registrar.deregister().await.unwrap();
    assert!(live.applications().applications.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpointer_keeps_following_through_failover() {
    let live = server().await;
    let bad = RawServer::start(|_| Reply::status(403, "sync pending")).await;
    let conn = connection_builder(&[&bad.base_url(), &live.base_url()])
        .quarantine(Duration::ZERO)
        .build()
        .unwrap();
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);
    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    a.register().await.unwrap();
    support::eventually(&endpointer, &["127.0.0.1:8001"]).await;
    a.deregister().await.unwrap();
    support::eventually(&endpointer, &[]).await;
}

/// A real server that got nothing from its peers refuses every read with 403 for a while
/// after it starts (the registry's `sync_wait` option gives the same). Reads move on to
/// the next node; the gated node still takes registrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_move_past_a_node_still_waiting_for_its_peers() {
    let gated = sd_eureka_server::EurekaServer::builder()
        .addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .sync_wait(Duration::from_secs(600))
        .bind()
        .await
        .unwrap();
    let live = server().await;
    let on_live = Registrar::new(connection(&[&live.base_url()]), instance(APP, 8001));
    on_live.register().await.unwrap();

    let gated_only = connection(&[&gated.base_url()]);
    let error = gated_only.applications().await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::FORBIDDEN), "{error:?}");

    let conn = connection(&[&gated.base_url(), &live.base_url()]);
    let apps = conn.applications().await.unwrap();
    assert_eq!(server_addresses(&apps, APP), ["127.0.0.1:8001"]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    support::eventually(&ids(&instancer), &["127.0.0.1:8001"]).await;
    assert_eq!(instancer.stats().failures, 0);

    // Writes are not gated: a registration through the gated node lands there.
    let on_gated = Registrar::new(gated_only, instance(APP, 8002));
    on_gated.register().await.unwrap();
    assert_eq!(
        server_addresses(&gated.applications(), APP),
        ["127.0.0.1:8002"]
    );
    on_gated.deregister().await.unwrap();
    on_live.deregister().await.unwrap();
}

/// Healthy servers that are slow (a large registry on a slow link) still answer: a URL
/// whose share of the deadline runs out keeps going while the next one starts beside
/// it, and the first answer wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_but_healthy_servers_still_answer_within_the_deadline() {
    let live = server().await;
    let a = Registrar::new(connection(&[&live.base_url()]), instance(APP, 8001));
    a.register().await.unwrap();
    let upstream = live.local_addr();
    let delay = Duration::from_secs(3);
    let slow = [
        RawServer::start(move |_| Reply::ProxyAfter(upstream, delay)).await,
        RawServer::start(move |_| Reply::ProxyAfter(upstream, delay)).await,
        RawServer::start(move |_| Reply::ProxyAfter(upstream, delay)).await,
    ];
    let urls: Vec<String> = slow.iter().map(RawServer::base_url).collect();
    // Each URL's equal share of 6 s is 2 s, less than its delay: cut off at its share,
    // every one of them would fail.
    let conn = Connection::builder()
        .service_urls(&urls)
        .request_timeout(Duration::from_secs(6))
        .build()
        .unwrap();
    let apps = conn.applications().await.unwrap();
    assert_eq!(server_addresses(&apps, APP), ["127.0.0.1:8001"]);
    a.deregister().await.unwrap();
}

/// An expected refusal (the 403 a gated node gives deltas) is an answer, but says nothing
/// of the URL's health: it must not clear the failures the URL has in a row, or a node
/// that refuses every full fetch would be set aside for the base period for ever instead
/// of ever longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expected_refusal_does_not_restore_a_failing_url() {
    let live = server().await;
    let gated = RawServer::start(|request| {
        if request.path().ends_with("/apps/delta") {
            Reply::status(403, "sync pending")
        } else {
            Reply::status(503, "not ready")
        }
    })
    .await;
    let quarantine = Duration::from_secs(2);
    let conn = connection_builder(&[&gated.base_url(), &live.base_url()])
        .quarantine(quarantine)
        .build()
        .unwrap();
    let full = |n| gated.count("GET", "/eureka/apps") == n;

    // A first failure: set aside for 2 s.
    conn.applications().await.unwrap();
    assert!(full(1));
    tokio::time::sleep(quarantine + Duration::from_millis(500)).await;
    // Back in turn: the delta's 403 is its answer (the caller falls back to a full fetch).
    assert_eq!(
        conn.delta().await.unwrap_err().status(),
        Some(StatusCode::FORBIDDEN)
    );
    // The second full-fetch failure in a row: 4 s aside, not 2 s.
    conn.applications().await.unwrap();
    assert!(full(2));
    tokio::time::sleep(quarantine + Duration::from_millis(500)).await;
    conn.applications().await.unwrap();
    assert!(
        full(2),
        "the gated node was tried again after the base period"
    );
}
