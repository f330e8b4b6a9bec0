//! Faults: the name server stopped and restarted on the same port, one that never
//! answers, garbage and `SERVFAIL` answers, and the poller's end when its handles go.
//!
//! Every wait is for a condition, bounded by `support::WAIT`; nothing asserts on timings
//! (the one negative check, that a stopped poller sends nothing more, can only pass
//! wrongly on a slow machine, never fail wrongly).

mod support;

use std::time::Duration;

use sd_core::{BoxError, EndpointSource as _, Endpointer, Instance, Instancer as _};
use sd_dnssrv::{Instancer, Transport};
use support::{
    DnsServer, FakeServer, Mode, TcpBlackHole, TcpGarbage, WAIT, fqdn, until, until_error,
    until_set,
};

#[tokio::test]
async fn a_stopped_server_is_an_error_the_endpointer_keeps_the_last_set_and_a_restart_recovers() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut server = DnsServer::start().await;
        let name = "_http._tcp.orders";
        server
            .set(
                name,
                3600,
                &[(0, 0, 8080, "o1.sd.test."), (0, 0, 8080, "o2.sd.test.")],
            )
            .await;
        let instancer = Instancer::builder(fqdn(name))
            .name_server(server.addr())
            .transport(transport)
            .interval(Duration::from_millis(100))
            .ttl_floor(Duration::from_millis(50))
            .lookup_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
            Ok::<_, BoxError>(format!("http://{}/", i.id()))
        })
        .unwrap();
        let mut sub = instancer.subscribe();
        until_set(&mut sub, &["o1.sd.test:8080", "o2.sd.test:8080"]).await;

        server.stop().await;
        let error = until(&mut sub, "an error event", |e| e.error().is_some()).await;
        eprintln!("{transport:?}, server stopped: {error:?}");
        let stats = instancer.stats();
        assert!(
            stats.failures >= 1 && stats.consecutive_failures >= 1,
            "{stats:?}"
        );
        assert!(stats.last_success.is_some(), "{stats:?}");
        // The endpointer saw the same error and keeps the last good endpoints.
        let endpoints: Vec<String> = endpointer
            .endpoints()
            .unwrap()
            .iter()
            .map(|e| e.get_ref().clone())
            .collect();
        assert_eq!(
            endpoints,
            ["http://o1.sd.test:8080/", "http://o2.sd.test:8080/"]
        );

        // Back on the same port, with one instance fewer meanwhile.
        server.set(name, 3600, &[(0, 0, 8080, "o2.sd.test.")]).await;
        server.restart().await;
        until_set(&mut sub, &["o2.sd.test:8080"]).await;
        assert_eq!(instancer.stats().consecutive_failures, 0);
        tokio::time::timeout(WAIT, async {
            while endpointer.endpoints().unwrap().len() != 1 {
                endpointer.changed().await;
            }
        })
        .await
        .expect("the endpointer follows the recovered set");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_fails_each_lookup_at_its_deadline() {
    let silent = FakeServer::start(Mode::Silent).await;
    let instancer = Instancer::builder("_http._tcp.silent.sd.test.")
        .name_server(silent.addr())
        .interval(Duration::from_secs(3600))
        .lookup_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_error(&mut sub, "timed out").await;
    assert!(silent.queries() >= 1);

    // The lookups go on (backing off), and the first answer is published.
    silent.set_mode(Mode::Answer);
    until_set(&mut sub, &["a.sd.test:80"]).await;
}

#[tokio::test]
async fn a_tcp_server_that_accepts_and_never_answers_fails_at_the_deadline() {
    let hole = TcpBlackHole::start().await;
    let instancer = Instancer::builder("_http._tcp.hole.sd.test.")
        .name_server(hole.addr)
        .transport(Transport::Tcp)
        .interval(Duration::from_secs(3600))
        .lookup_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_error(&mut sub, "timed out after 300ms").await;
}

#[tokio::test]
async fn garbage_over_tcp_is_an_error_by_the_deadline() {
    // hickory drops answers it cannot decode and goes on waiting for a real one (over
    // UDP, against spoofing; over TCP too): the lookup's deadline is what ends it.
    let garbage = TcpGarbage::start().await;
    let instancer = Instancer::builder("_http._tcp.garbage.sd.test.")
        .name_server(garbage.addr)
        .transport(Transport::Tcp)
        .interval(Duration::from_secs(3600))
        .lookup_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_error(&mut sub, "timed out after 500ms").await;
}

#[tokio::test]
async fn a_dead_name_server_is_passed_over_for_the_next() {
    let silent = FakeServer::start(Mode::Silent).await;
    let good = FakeServer::start(Mode::Answer).await;
    let instancer = Instancer::builder("_http._tcp.two.sd.test.")
        .name_server(silent.addr())
        .name_server(good.addr())
        .interval(Duration::from_secs(3600))
        .lookup_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["a.sd.test:80"]).await;
}

#[tokio::test]
async fn garbage_and_servfail_answers_are_errors_and_the_next_good_answer_recovers() {
    let fake = FakeServer::start(Mode::Answer).await;
    let instancer = Instancer::builder("_http._tcp.fake.sd.test.")
        .name_server(fake.addr())
        .interval(Duration::from_millis(100))
        .ttl_floor(Duration::from_millis(50))
        .lookup_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["a.sd.test:80"]).await;

    fake.set_mode(Mode::Garbage);
    let garbage = until(&mut sub, "an error for garbage", |e| e.error().is_some()).await;
    eprintln!("garbage: {garbage:?}");

    fake.set_mode(Mode::Answer);
    until_set(&mut sub, &["a.sd.test:80"]).await;

    fake.set_mode(Mode::ServFail);
    until_error(&mut sub, "SERVFAIL").await;

    fake.set_mode(Mode::Answer);
    until_set(&mut sub, &["a.sd.test:80"]).await;
}

#[tokio::test]
async fn the_longest_durations_are_accepted_and_work() {
    let fake = FakeServer::start(Mode::Answer).await;
    let instancer = Instancer::builder("_http._tcp.max.sd.test.")
        .name_server(fake.addr())
        .interval(Duration::MAX)
        .ttl_floor(Duration::MAX)
        .lookup_timeout(Duration::MAX)
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["a.sd.test:80"]).await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_poller() {
    let fake = FakeServer::start(Mode::Answer).await;
    // TTL 0 and a short floor: a poller still running would ask many times a second.
    let instancer = Instancer::builder("_http._tcp.drop.sd.test.")
        .name_server(fake.addr())
        .interval(Duration::from_secs(3600))
        .ttl_floor(Duration::from_millis(20))
        .build()
        .unwrap();
    let mut sub = instancer.subscribe();
    until_set(&mut sub, &["a.sd.test:80"]).await;
    let second = fake.queries() + 1;
    tokio::time::timeout(WAIT, async {
        while fake.queries() <= second {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the poller polls at the TTL floor");

    // A clone and a subscription keep it alive; the last of them stops it.
    let clone = instancer.clone();
    drop(instancer);
    drop(clone);
    let before = fake.queries();
    tokio::time::timeout(WAIT, async {
        while fake.queries() < before + 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the subscription keeps the poller running");
    drop(sub);

    // Let an abort in progress land, then watch: no more queries.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = fake.queries();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.queries(), after, "the poller kept polling");
}

#[tokio::test]
async fn dropping_the_last_handle_cancels_the_lookup_in_flight() {
    let mut hole = TcpBlackHole::start().await;
    let instancer = Instancer::builder("_http._tcp.hole.sd.test.")
        .name_server(hole.addr)
        .transport(Transport::Tcp)
        .lookup_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    tokio::time::timeout(WAIT, &mut hole.connected)
        .await
        .expect("the lookup connects")
        .unwrap();
    drop(instancer);
    tokio::time::timeout(WAIT, &mut hole.closed)
        .await
        .expect("the lookup's connection is closed when the instancer goes")
        .unwrap();
}
