//! The ZooKeeper backend against a real ZooKeeper 3.8: go-kit's semantics, registrar
//! and instancer together, bad data, a server killed and restarted, a session expired,
//! and handles that stop their tasks.

mod support;

use std::time::Duration;

use sd_core::{BoxError, EndpointSource, Endpointer, Event, Instance, Instancer as _};
use sd_zk::{Config, Instancer, Registrar};
use support::{ZooKeeper, children, config_for, eventually, next_set, wait_error, wait_set};
use zookeeper_client::{Acls, CreateMode};

fn persistent() -> zookeeper_client::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_sorted_set_on_every_change_and_current_state_on_subscribe() {
    let Some(zk) = ZooKeeper::start() else { return };
    let raw = zk.raw().await;
    let instancer = Instancer::new(&zk.config(), "/gokit/semantics/svc").unwrap();
    let mut sub = instancer.subscribe();

    // The path did not exist: the instancer creates it, and the set is empty.
    assert_eq!(next_set(&mut sub).await, Vec::<String>::new());
    assert!(
        raw.check_stat("/gokit/semantics/svc")
            .await
            .unwrap()
            .is_some()
    );

    raw.create("/gokit/semantics/svc/n1", b"b:2", &persistent())
        .await
        .unwrap();
    assert_eq!(next_set(&mut sub).await, ["b:2"]);
    raw.create("/gokit/semantics/svc/n2", b"a:1", &persistent())
        .await
        .unwrap();
    // The whole set, sorted, not the one added.
    assert_eq!(next_set(&mut sub).await, ["a:1", "b:2"]);

    // A late subscriber gets the current state at once.
    let mut late = instancer.subscribe();
    let Some(Event::Instances(now)) = late.current() else {
        panic!("no current state for a late subscriber");
    };
    assert_eq!(now.ids().collect::<Vec<_>>(), ["a:1", "b:2"]);
    assert_eq!(next_set(&mut late).await, ["a:1", "b:2"]);

    // Data changes of existing nodes are not watched (go-kit watches children only), but
    // removals are, and every event is the whole set again.
    raw.delete("/gokit/semantics/svc/n1", None).await.unwrap();
    assert_eq!(next_set(&mut sub).await, ["a:1"]);
    assert_eq!(next_set(&mut late).await, ["a:1"]);

    // The path deleted under it: created again, the set empty.
    raw.delete("/gokit/semantics/svc/n2", None).await.unwrap();
    wait_set(&mut sub, &[]).await;
    raw.delete("/gokit/semantics/svc", None).await.unwrap();
    let raw = &raw;
    eventually("the path created again", || async move {
        raw.check_stat("/gokit/semantics/svc")
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    raw.create("/gokit/semantics/svc/n3", b"c:3", &persistent())
        .await
        .unwrap();
    wait_set(&mut sub, &["c:3"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrars_and_an_instancer_together_leave_nothing_behind() {
    let Some(zk) = ZooKeeper::start() else { return };
    let config = zk.config();
    let path = "/services/hello";
    let instancer = Instancer::new(&config, path).unwrap();
    let mut sub = instancer.subscribe();
    wait_set(&mut sub, &[]).await;

    let a = Registrar::new(&config, path, "10.0.0.1:8080").unwrap();
    let b = Registrar::builder(&config, path, "10.0.0.2:8080")
        .name("hello")
        .build()
        .unwrap();
    a.deregister().await.unwrap(); // before register: nothing happens
    assert!(!a.is_registered());

    a.register().await.unwrap();
    a.register().await.unwrap(); // twice: a no-op
    assert_eq!(a.stats().registrations, 1);
    wait_set(&mut sub, &["10.0.0.1:8080"]).await;
    b.register().await.unwrap();
    wait_set(&mut sub, &["10.0.0.1:8080", "10.0.0.2:8080"]).await;

    // go-kit's layout: ephemeral sequential nodes under the path, data = instance.
    let raw = zk.raw().await;
    let nodes = children(&raw, path).await;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let node_a = a.stats().node.unwrap();
    let (data, stat) = raw.get_data(&node_a).await.unwrap();
    assert_eq!(data, b"10.0.0.1:8080");
    assert_ne!(stat.ephemeral_owner, 0, "the node is ephemeral");
    assert!(node_a.starts_with("/services/hello/instance-"), "{node_a}");
    assert!(
        b.stats()
            .node
            .unwrap()
            .starts_with("/services/hello/hello-")
    );

    // A node deleted behind the registrar's back is made again, in the same session.
    raw.delete(&node_a, None).await.unwrap();
    eventually("the deleted node made again", || {
        let stats = a.stats();
        let again = stats.registrations == 2 && stats.node.is_some_and(|n| n != node_a);
        async move { again }
    })
    .await;
    assert_eq!(a.stats().sessions, 1);
    wait_set(&mut sub, &["10.0.0.1:8080", "10.0.0.2:8080"]).await;
    assert_eq!(children(&raw, path).await.len(), 2);

    a.deregister().await.unwrap();
    // Deleted before deregister returned, not when the session times out.
    assert_eq!(children(&raw, path).await.len(), 1);
    wait_set(&mut sub, &["10.0.0.2:8080"]).await;
    b.deregister().await.unwrap();
    assert!(children(&raw, path).await.is_empty());
    wait_set(&mut sub, &[]).await;
    assert!(!b.is_registered() && b.stats().node.is_none());
    // Both sessions closed: the server holds only the instancer's and the raw one.
    let zk = &zk;
    eventually("the registrars' sessions closed", || async move {
        zk.sessions() == Some(2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_data_is_skipped_and_the_good_set_kept() {
    let Some(zk) = ZooKeeper::start() else { return };
    let raw = zk.raw().await;
    let path = "/bad/data";
    raw.mkdir(path, &persistent()).await.unwrap();
    let long = vec![b'x'; 2000];
    let nodes: [(&str, &[u8]); 6] = [
        ("good", b"10.0.0.1:80"),
        ("empty", b""),
        ("binary", &[0xff, 0xfe, 0x00, 0x01]),
        ("spaces", b"10.0.0.2 80"),
        ("newline", b"10.0.0.3:80\n"),
        ("huge", &long),
    ];
    for (name, data) in nodes {
        raw.create(&format!("{path}/{name}"), data, &persistent())
            .await
            .unwrap();
    }
    // A node only its creator may read: the instancer cannot, and skips it.
    let owner = zookeeper_client::Client::connector()
        .with_auth("digest", b"owner:secret")
        .connect(&zk.address())
        .await
        .unwrap();
    owner
        .create(
            &format!("{path}/private"),
            b"10.0.0.9:80",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    assert_eq!(
        raw.get_data(&format!("{path}/private")).await.unwrap_err(),
        zookeeper_client::Error::NoAuth
    );
    let instancer = Instancer::new(&zk.config(), path).unwrap();
    let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
        Ok::<_, BoxError>(i.id().to_owned())
    })
    .unwrap();
    let mut sub = instancer.subscribe();
    assert_eq!(next_set(&mut sub).await, ["10.0.0.1:80"]);

    // More bad data later never empties the set; good data still arrives.
    raw.create(&format!("{path}/empty2"), b"", &persistent())
        .await
        .unwrap();
    raw.create(&format!("{path}/good2"), b"10.0.0.4:80", &persistent())
        .await
        .unwrap();
    wait_set(&mut sub, &["10.0.0.1:80", "10.0.0.4:80"]).await;
    eventually("the endpointer follows", || {
        let n = endpointer.endpoints().map_or(0, |e| e.len());
        async move { n == 2 }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_keeps_the_last_good_set_and_recovery_republishes() {
    let Some(mut zk) = ZooKeeper::start() else {
        return;
    };
    let config = zk.config();
    let path = "/restart/svc";
    let registrar = Registrar::new(&config, path, "10.0.0.9:9000").unwrap();
    registrar.register().await.unwrap();
    let instancer = Instancer::new(&config, path).unwrap();
    let mut sub = instancer.subscribe();
    let mut endpointer = Endpointer::new(&instancer, |i: &Instance| {
        Ok::<_, BoxError>(i.id().to_owned())
    })
    .unwrap();
    wait_set(&mut sub, &["10.0.0.9:9000"]).await;
    eventually("one endpoint", || {
        let n = endpointer.endpoints().map_or(0, |e| e.len());
        async move { n == 1 }
    })
    .await;

    zk.stop();
    let error = wait_error(&mut sub).await;
    assert!(error.is_discovery(), "{error}");
    // The endpointer keeps the last good set through the outage.
    let endpoints = endpointer.endpoints().expect("last good endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].as_str(), "10.0.0.9:9000");

    zk.restart();
    // Recovery publishes the set again (after the error, so it is delivered).
    wait_set(&mut sub, &["10.0.0.9:9000"]).await;
    assert_eq!(endpointer.endpoints().unwrap().len(), 1);
    // The registrar is registered on the restarted server, whatever became of its session.
    let raw = &zk.raw().await;
    eventually("the registrar's node on the restarted server", || async {
        match registrar.stats().node {
            Some(node) => raw.check_stat(&node).await.ok().flatten().is_some(),
            None => false,
        }
    })
    .await;
    registrar.deregister().await.unwrap();
    wait_set(&mut sub, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_session_expiry_the_registrar_registers_again_and_the_instancer_follows() {
    let Some(mut zk) = ZooKeeper::start() else {
        return;
    };
    let config = zk.config();
    let path = "/expiry/svc";
    let registrar = Registrar::new(&config, path, "10.0.0.7:7000").unwrap();
    registrar.register().await.unwrap();
    let first = registrar.stats();
    let first_node = first.node.clone().unwrap();
    let instancer = Instancer::new(&config, path).unwrap();
    let mut sub = instancer.subscribe();
    wait_set(&mut sub, &["10.0.0.7:7000"]).await;

    // Down for longer than the session timeout: the client gives the session up.
    zk.stop();
    wait_error(&mut sub).await;
    eventually("the registrar's session lost", || {
        let lost = registrar.stats().sessions_lost;
        async move { lost >= 1 }
    })
    .await;
    zk.restart();

    // A new session, a new node.
    eventually("a new registration on a new session", || {
        let stats = registrar.stats();
        let renewed = stats.sessions > first.sessions
            && stats.node.as_ref().is_some_and(|n| *n != first_node);
        async move { renewed }
    })
    .await;
    let second_node = registrar.stats().node.unwrap();
    wait_set(&mut sub, &["10.0.0.7:7000"]).await;

    // The restarted server expires the old session in turn: only the new node remains,
    // and the instancer still has the instance.
    let raw = &zk.raw().await;
    let second_name = &second_node.rsplit('/').next().unwrap().to_owned();
    eventually("only the new node", || async move {
        children(raw, path).await == [second_name.clone()]
    })
    .await;
    assert_eq!(
        sub.current().and_then(|e| e.instances().map(|s| s.len())),
        Some(1)
    );
    registrar.deregister().await.unwrap();
    assert!(children(raw, path).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_handles_stops_tasks_and_closes_sessions() {
    let Some(zk) = ZooKeeper::start() else { return };
    let config = zk.config();
    let raw = zk.raw().await;
    let path = "/drop/svc";
    raw.mkdir(path, &persistent()).await.unwrap();

    // A subscription keeps the instancer's task running after the instancer is dropped.
    let instancer = Instancer::new(&config, path).unwrap();
    let mut sub = instancer.subscribe();
    drop(instancer);
    wait_set(&mut sub, &[]).await;
    raw.create(&format!("{path}/a"), b"a:1", &persistent())
        .await
        .unwrap();
    wait_set(&mut sub, &["a:1"]).await;

    // A registrar dropped while registered: its session closes, its node goes.
    let registrar = Registrar::new(&config, path, "b:2").unwrap();
    registrar.register().await.unwrap();
    wait_set(&mut sub, &["a:1", "b:2"]).await;
    let zk = &zk;
    eventually("three sessions", || async move { zk.sessions() == Some(3) }).await;
    drop(registrar);
    wait_set(&mut sub, &["a:1"]).await;

    // The last subscription gone: the instancer's task stops and its session closes.
    drop(sub);
    eventually("only the raw session left", || async move {
        zk.sessions() == Some(1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ensemble_is_an_error_event_and_a_register_error() {
    // No server needed: a port nobody listens on.
    let port = sd_testkit::free_port().unwrap();
    let config = config_for(&format!("127.0.0.1:{port}"));
    let instancer = Instancer::new(&config, "/nobody/home").unwrap();
    let mut sub = instancer.subscribe();
    let error = wait_error(&mut sub).await;
    assert!(error.is_discovery());
    assert!(error.to_string().contains(&port.to_string()), "{error}");

    let registrar = Registrar::new(&config, "/nobody/home", "x:1").unwrap();
    let error = registrar.register().await.unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert!(registrar.is_registered(), "keeps trying in the background");
    registrar.deregister().await.unwrap();
    assert!(!registrar.is_registered());

    // Extreme configuration values neither panic nor hang the caller.
    let extreme = Config::builder([format!("127.0.0.1:{port}")])
        .session_timeout(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .build()
        .unwrap();
    let instancer = Instancer::new(&extreme, "/nobody/home").unwrap();
    let mut sub = instancer.subscribe();
    assert!(wait_error(&mut sub).await.is_discovery());
    let zero = Config::builder([format!("127.0.0.1:{port}")])
        .session_timeout(Duration::ZERO)
        .connect_timeout(Duration::ZERO)
        .backoff(sd_core::Backoff::none())
        .build()
        .unwrap();
    let registrar = Registrar::builder(&zero, "/nobody/home", "x:1")
        .deregister_timeout(Duration::ZERO)
        .build()
        .unwrap();
    assert!(registrar.register().await.is_err());
    let _ = registrar.deregister().await;
}

#[test]
fn bad_arguments_are_typed_errors() {
    let config = config_for("127.0.0.1:2181");
    // Outside a runtime.
    assert!(Instancer::new(&config, "/a").unwrap_err().is_no_runtime());
    assert!(Instancer::new(&config, "a").unwrap_err().is_invalid_path());
    assert!(
        Registrar::new(&config, "/a/", "x:1")
            .unwrap_err()
            .is_invalid_path()
    );
    for instance in ["", "a b", "a\n"] {
        assert!(
            Registrar::new(&config, "/a", instance)
                .unwrap_err()
                .is_invalid_config()
        );
    }
    for name in ["", "a/b", "a\0"] {
        let error = Registrar::builder(&config, "/a", "x:1")
            .name(name)
            .build()
            .unwrap_err();
        assert!(error.is_invalid_config(), "{name:?}");
    }
}
