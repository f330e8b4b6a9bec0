//! The client against sd-eureka-server over loopback HTTP: status changes, a server
//! restart, failover, the delta path, deregistration, idempotent registration, VIPs, status
//! filtering and credentials.
//!
//! Intervals are short (instancers poll every 100 ms, registrars renew every second) and
//! every wait is bounded by a generous deadline: the tests assert what happens, never how
//! fast.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use sd_core::{Event, Instancer as _};
use sd_eureka::{Connection, Instancer, Registrar, Status};
use sd_eureka_server::EurekaServer;
use support::{
    DEADLINE, RawServer, Reply, connection, connection_builder, dead_url, eventually, ids,
    instance, server, server_addresses, server_view, wait_until,
};

const APP: &str = "hello";

/// Registers two instances (ports 8001 and 8002) and waits until `endpointer` sees both.
async fn two_registered(
    conn: &Connection,
    endpointer: &sd_core::Endpointer<String>,
) -> (Registrar, Registrar) {
    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    let b = Registrar::new(conn.clone(), instance(APP, 8002));
    a.register().await.unwrap();
    b.register().await.unwrap();
    eventually(endpointer, &["127.0.0.1:8001", "127.0.0.1:8002"]).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_down_and_out_of_service_leave_the_set_and_up_rejoins() {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);
    let (a, b) = two_registered(&conn, &endpointer).await;

    a.set_status(Status::Down).await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8002"]).await;
    assert_eq!(
        server_view(&server.applications(), APP),
        [
            ("127.0.0.1:8001".to_owned(), Status::Down),
            ("127.0.0.1:8002".to_owned(), Status::Up)
        ],
        "the server holds the DOWN instance; only the instancer leaves it out"
    );

    b.set_status(Status::OutOfService).await.unwrap();
    eventually(&endpointer, &[]).await;

    a.set_status(Status::Up).await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8001"]).await;

    // A heartbeat carries the local status: it must not undo the change.
    let beats = b.stats().heartbeats;
    wait_until("b sends a heartbeat", || b.stats().heartbeats > beats + 1).await;
    assert_eq!(
        support::endpoints_of(&endpointer).unwrap(),
        ["127.0.0.1:8001"]
    );
    a.deregister().await.unwrap();
    b.deregister().await.unwrap();
}

/// Overrides one instance's status through the server's override API, checks it leaves
/// the set and stays out across heartbeats that report UP, then removes the override.
async fn server_override_round_trip(status: Status) {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);
    let (a, b) = two_registered(&conn, &endpointer).await;
    let target = a.instance();

    conn.set_status_override(
        &target.app,
        &target.instance_id,
        status,
        target.last_dirty_timestamp,
    )
    .await
    .unwrap();
    eventually(&endpointer, &["127.0.0.1:8002"]).await;

    // The registrar keeps renewing with status=UP; the override must survive that.
    let beats = a.stats().heartbeats;
    wait_until("two more heartbeats of a", || {
        a.stats().heartbeats >= beats + 2
    })
    .await;
    assert_eq!(
        support::endpoints_of(&endpointer).unwrap(),
        ["127.0.0.1:8002"],
        "an override survives heartbeats"
    );
    assert_eq!(
        server_view(&server.applications(), APP)[0],
        ("127.0.0.1:8001".to_owned(), status)
    );

    conn.remove_status_override(
        &target.app,
        &target.instance_id,
        Some(Status::Up),
        target.last_dirty_timestamp,
    )
    .await
    .unwrap();
    eventually(&endpointer, &["127.0.0.1:8001", "127.0.0.1:8002"]).await;
    a.deregister().await.unwrap();
    b.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_override_out_of_service_leaves_the_set() {
    server_override_round_trip(Status::OutOfService).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_override_down_leaves_the_set() {
    server_override_round_trip(Status::Down).await;
}

/// Binds a fresh registry on `addr`, retrying briefly while the old socket lets go.
async fn rebind(addr: SocketAddr) -> EurekaServer {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match EurekaServer::builder().addr(addr).bind().await {
            Ok(server) => return server,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot bind {addr} again: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_gets_every_instance_back() {
    let first = server().await;
    let addr = first.local_addr();
    let conn = connection(&[&first.base_url()]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);
    let (a, b) = two_registered(&conn, &endpointer).await;

    first.shutdown().await;
    let restarted_at = SystemTime::now();
    let second = rebind(addr).await;
    assert!(
        second.applications().applications.is_empty(),
        "the new server starts empty"
    );

    // Each registrar's next heartbeat gets 404 and registers again.
    wait_until("both instances are registered again", || {
        server_addresses(&second.applications(), APP) == ["127.0.0.1:8001", "127.0.0.1:8002"]
    })
    .await;
    for registrar in [&a, &b] {
        let stats = registrar.stats();
        assert!(stats.reregistrations >= 1, "{stats:?}");
        assert!(stats.registered, "{stats:?}");
    }

    // The instancer keeps following the new server...
    wait_until("the instancer polls the new server", || {
        instancer
            .stats()
            .last_success
            .is_some_and(|t| t > restarted_at)
    })
    .await;
    eventually(&endpointer, &["127.0.0.1:8001", "127.0.0.1:8002"]).await;
    // ...and a newcomer sees both too.
    let fresh = connection(&[&second.base_url()]);
    let fresh_instancer = Instancer::new(&fresh, APP).unwrap();
    eventually(
        &ids(&fresh_instancer),
        &["127.0.0.1:8001", "127.0.0.1:8002"],
    )
    .await;

    a.deregister().await.unwrap();
    b.deregister().await.unwrap();
    assert!(second.applications().applications.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_then_live_url_registers_and_discovers() {
    let server = server().await;
    let dead = dead_url().await;
    let conn = connection(&[&dead, &server.base_url()]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);

    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    a.register().await.unwrap();
    assert_eq!(
        server_addresses(&server.applications(), APP),
        ["127.0.0.1:8001"]
    );
    eventually(&endpointer, &["127.0.0.1:8001"]).await;
    let beats = a.stats().heartbeats;
    wait_until("a heartbeat gets through", || a.stats().heartbeats > beats).await;
    assert_eq!(a.stats().failures, 0, "failover hides the dead URL");
    assert_eq!(instancer.stats().failures, 0, "failover hides the dead URL");
    a.deregister().await.unwrap();
    assert!(server.applications().applications.is_empty());
}

/// A URL that failed is set aside: later calls go straight to the next URL until the
/// quarantine ends, then it is tried first again.
///
/// How this is observed: the first URL is a port nothing listens on while the first call
/// fails over. Then a counting proxy (to the live server) starts on that very port, so
/// every later attempt on the first URL is counted. Connection failures on loopback are
/// too fast to observe by timing, so the test counts instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_url_is_set_aside_until_its_quarantine_ends() {
    let server = server().await;
    let dead = dead_url().await;
    let dead_addr: SocketAddr = dead
        .trim_start_matches("http://")
        .trim_end_matches("/eureka/")
        .parse()
        .unwrap();
    // Long enough for the calls below to fit in it on a loaded machine.
    let quarantine = Duration::from_secs(2);
    let conn = connection_builder(&[&dead, &server.base_url()])
        .quarantine(quarantine)
        .build()
        .unwrap();

    conn.applications().await.unwrap();
    let upstream = server.local_addr();
    let revived = RawServer::start_on(dead_addr, move |_| Reply::Proxy(upstream)).await;
    for _ in 0..5 {
        conn.applications().await.unwrap();
    }
    assert_eq!(
        revived.requests().len(),
        0,
        "a URL set aside is not tried while its quarantine lasts"
    );

    tokio::time::sleep(quarantine + Duration::from_millis(300)).await;
    conn.applications().await.unwrap();
    assert_eq!(
        revived.count("GET", "/eureka/apps"),
        1,
        "after the quarantine the first URL is tried first again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_fails_over_to_the_next_url() {
    let server = server().await;
    let failing = RawServer::start(|_| Reply::status(500, "boom")).await;
    let conn = connection(&[&failing.base_url(), &server.base_url()]);
    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    a.register().await.unwrap();
    let apps = conn.applications().await.unwrap();
    assert_eq!(server_addresses(&apps, APP), ["127.0.0.1:8001"]);
    assert_eq!(
        failing.requests().len(),
        1,
        "the failing URL is set aside after its first 500"
    );
    a.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_uses_deltas() {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);
    let (a, b) = two_registered(&conn, &endpointer).await;
    b.deregister().await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8001"]).await;

    let start = instancer.stats().delta_fetches;
    wait_until("five more delta fetches", || {
        instancer.stats().delta_fetches >= start + 5
    })
    .await;
    let stats = instancer.stats();
    assert_eq!(stats.full_fetches, 1, "{stats:?}");
    assert_eq!(stats.hash_mismatches, 0, "{stats:?}");
    assert_eq!(stats.failures, 0, "{stats:?}");
    a.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregister_removes_the_instance_and_stops_heartbeats() {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let instancer = Instancer::new(&conn, APP).unwrap();
    let endpointer = ids(&instancer);
    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    a.register().await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8001"]).await;

    a.deregister().await.unwrap();
    assert!(!a.is_registered());
    assert!(
        server.applications().applications.is_empty(),
        "gone as soon as deregister returns"
    );
    eventually(&endpointer, &[]).await;
    // A heartbeat loop still running would get 404 and register again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.applications().applications.is_empty());
}

/// The registrar's documentation: "dropping the last clone stops [the heartbeats] too,
/// and sends a bounded, best-effort deregistration".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_registrar_clone_deregisters() {
    let server = server().await;
    let upstream = server.local_addr();
    // Counts heartbeats, to tell a loop that outlives its registrar.
    let proxy = RawServer::start(move |_| Reply::Proxy(upstream)).await;
    let conn = connection(&[&proxy.base_url()]);
    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    let clone = a.clone();
    a.register().await.unwrap();
    assert_eq!(
        server_addresses(&server.applications(), APP),
        ["127.0.0.1:8001"]
    );

    drop(a);
    let beats = clone.stats().heartbeats;
    wait_until("the remaining clone keeps renewing", || {
        clone.stats().heartbeats > beats
    })
    .await;
    assert_eq!(
        server_addresses(&server.applications(), APP),
        ["127.0.0.1:8001"],
        "a clone still lives: still registered"
    );

    drop(clone);
    let heartbeat = "/eureka/apps/HELLO/127.0.0.1:hello:8001";
    let beats_at_drop = proxy.count("PUT", heartbeat);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !server.applications().applications.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still registered {DEADLINE:?} after the last clone was dropped; {} heartbeats \
             arrived after the drop, {} DELETEs in all",
            proxy.count("PUT", heartbeat) - beats_at_drop,
            proxy.count("DELETE", heartbeat),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_twice_registers_once_and_deregister_before_register_does_nothing() {
    let server = server().await;
    let upstream = server.local_addr();
    let proxy = RawServer::start(move |_| Reply::Proxy(upstream)).await;
    let conn = connection(&[&proxy.base_url()]);
    let a = Registrar::new(conn.clone(), instance(APP, 8001));

    a.deregister().await.unwrap();
    assert!(!a.is_registered());
    assert!(
        proxy.requests().is_empty(),
        "deregister before register sends nothing: {:?}",
        proxy.requests()
    );

    a.register().await.unwrap();
    a.register().await.unwrap();
    assert!(a.is_registered());
    assert_eq!(proxy.count("POST", "/eureka/apps/HELLO"), 1);
    assert_eq!(
        server_addresses(&server.applications(), APP),
        ["127.0.0.1:8001"]
    );

    a.deregister().await.unwrap();
    a.deregister().await.unwrap();
    assert_eq!(
        proxy.count("DELETE", "/eureka/apps/HELLO/127.0.0.1:hello:8001"),
        1,
        "a second deregister does nothing"
    );
    assert!(server.applications().applications.is_empty());

    // Once deregistered, register() registers afresh.
    a.register().await.unwrap();
    assert_eq!(proxy.count("POST", "/eureka/apps/HELLO"), 2);
    assert_eq!(
        server_addresses(&server.applications(), APP),
        ["127.0.0.1:8001"]
    );
    a.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_is_an_empty_set_not_an_error() {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let other = Registrar::new(conn.clone(), instance("other", 8001));
    other.register().await.unwrap();

    let app = conn.application("nobody").await.unwrap();
    assert!(app.instances.is_empty(), "{app:?}");

    let instancer = Instancer::new(&conn, "nobody").unwrap();
    wait_until("a full fetch and a delta succeed", || {
        let stats = instancer.stats();
        stats.full_fetches >= 1 && stats.delta_fetches >= 1
    })
    .await;
    let event = instancer.subscribe().current();
    assert_eq!(event, Some(Event::Instances(sd_core::Instances::empty())));
    other.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_instancer_follows_a_vip_across_apps() {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let mut orders = instance("orders", 8001);
    orders.vip_address = Some("shop".into());
    orders.secure_vip_address = Some("shop-secure".into());
    let mut billing = instance("billing", 8002);
    billing.vip_address = Some("billing,shop".into());
    let mut other = instance("other", 8003);
    other.vip_address = Some("shopping".into());
    let registrars: Vec<Registrar> = [orders, billing, other]
        .into_iter()
        .map(|i| Registrar::new(conn.clone(), i))
        .collect();
    for r in &registrars {
        r.register().await.unwrap();
    }

    let vip = Instancer::builder(&conn).vip("shop").build().unwrap();
    let secure = Instancer::builder(&conn)
        .secure_vip("shop-secure")
        .build()
        .unwrap();
    let case = Instancer::builder(&conn).vip("SHOP").build().unwrap();
    let (vip_eps, secure_eps, case_eps) = (ids(&vip), ids(&secure), ids(&case));
    eventually(&vip_eps, &["127.0.0.1:8001", "127.0.0.1:8002"]).await;
    eventually(&secure_eps, &["127.0.0.1:8001"]).await;
    assert_eq!(
        support::endpoints_of(&case_eps).unwrap(),
        Vec::<String>::new(),
        "VIPs are case-sensitive"
    );

    registrars[1].set_status(Status::Down).await.unwrap();
    eventually(&vip_eps, &["127.0.0.1:8001"]).await;

    // The connection's own VIP call agrees.
    let apps = conn.vip("shop").await.unwrap();
    let mut found: Vec<String> = apps.instances().map(|(_, i)| i.address()).collect();
    found.sort();
    assert_eq!(found, ["127.0.0.1:8001", "127.0.0.1:8002"]);
    for r in &registrars {
        r.deregister().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_statuses_includes_down_instances() {
    let server = server().await;
    let conn = connection(&[&server.base_url()]);
    let up_only = Instancer::new(&conn, APP).unwrap();
    let all = Instancer::builder(&conn)
        .app(APP)
        .all_statuses()
        .build()
        .unwrap();
    let (up_eps, all_eps) = (ids(&up_only), ids(&all));

    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    let mut down = instance(APP, 8002);
    down.status = Status::Down;
    let b = Registrar::new(conn.clone(), down);
    let mut starting = instance(APP, 8003);
    starting.status = Status::Starting;
    let c = Registrar::new(conn.clone(), starting);
    for r in [&a, &b, &c] {
        r.register().await.unwrap();
    }

    eventually(
        &all_eps,
        &["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"],
    )
    .await;
    eventually(&up_eps, &["127.0.0.1:8001"]).await;
    for r in [&a, &b, &c] {
        r.deregister().await.unwrap();
    }
    eventually(&all_eps, &[]).await;
}

const USER: &str = "eureka";
const PASSWORD: &str = "s3cr3t/pw";
const WRONG: &str = "wr0ng-pass";

/// Asserts that `text` shows neither `password` nor the Basic token made from it.
fn assert_hidden(text: &str, password: &str) {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    let encoded = password.replace('/', "%2F");
    for secret in [password, encoded.as_str(), token.as_str()] {
        assert!(!text.contains(secret), "{secret:?} leaked in {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_authenticate_and_never_show() {
    let server = EurekaServer::builder()
        .addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .basic_auth(USER, PASSWORD)
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr();
    let url = format!("http://{USER}:s3cr3t%2Fpw@{addr}/eureka/");
    let conn = connection(&[&url]);
    let a = Registrar::new(conn.clone(), instance(APP, 8001));
    a.register().await.unwrap();
    let instancer = Instancer::new(&conn, APP).unwrap();
    eventually(&ids(&instancer), &["127.0.0.1:8001"]).await;

    assert_hidden(&format!("{conn:?}"), PASSWORD);
    assert_hidden(&format!("{a:?}"), PASSWORD);
    assert_hidden(&format!("{instancer:?}"), PASSWORD);

    // Wrong credentials: a 401.
    let wrong = connection(&[&format!("http://{USER}:{WRONG}@{addr}/eureka/")]);
    let error = wrong.applications().await.unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_hidden(&error.to_string(), WRONG);
    assert_hidden(&format!("{error:?}"), WRONG);
    assert_hidden(&format!("{wrong:?}"), WRONG);

    // Through an instancer's error event.
    let wrong_instancer = Instancer::new(&wrong, APP).unwrap();
    let mut events = wrong_instancer.subscribe();
    let event = support::next_event(&mut events, "an error", |e| e.error().is_some()).await;
    assert_hidden(&support::error_message(&event), WRONG);
    assert_hidden(&format!("{event:?}"), WRONG);

    // Unreachable, with credentials.
    let dead = dead_url()
        .await
        .replace("http://", &format!("http://{USER}:{WRONG}@"));
    let error = connection(&[&dead]).applications().await.unwrap_err();
    assert!(error.is_transport(), "{error:?}");
    assert_hidden(&error.to_string(), WRONG);
    assert_hidden(&format!("{error:?}"), WRONG);

    a.deregister().await.unwrap();
}

/// `Error`'s documentation: "The message names the service URL tried last, without its
/// credentials." Which URL refused the credentials is what an operator needs to know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_error_names_the_url_without_credentials() {
    let server = EurekaServer::builder()
        .addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .basic_auth(USER, PASSWORD)
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr();
    let wrong = connection(&[&format!("http://{USER}:{WRONG}@{addr}/eureka/")]);
    let error = wrong.applications().await.unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_hidden(&error.to_string(), WRONG);
    assert!(
        error
            .to_string()
            .contains(&format!("http://{addr}/eureka/")),
        "the message should name the URL: {error}"
    );
}

#[test]
fn connection_builder_debug_hides_the_password() {
    let builder =
        Connection::builder().service_url(format!("http://{USER}:{WRONG}@127.0.0.1:8761/eureka/"));
    assert_hidden(&format!("{builder:?}"), WRONG);
}
