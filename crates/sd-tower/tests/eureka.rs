//! End to end through Eureka: registrars register instances with the in-process
//! sd-eureka-server over loopback, an `sd_eureka::Instancer` polls it every 100 ms, and
//! clients send requests through a `Balanced` service while instances go DOWN, deregister
//! and register.

mod harness;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::{Behaviour, Log, Req, Served, balanced, bounded, recording, wait_until};
use sd_core::Endpointer;
use sd_eureka::{Connection, InstanceInfo, Instancer, Registrar, Status};
use sd_eureka_server::EurekaServer;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

const APP: &str = "hello";

/// How often the instancer polls.
const POLL: Duration = Duration::from_millis(100);

/// Slack on top of one poll interval for the poll's own HTTP round trip and the
/// endpointer's update: after a change plus `POLL + MARGIN`, no request may reach a
/// departed instance.
const MARGIN: Duration = Duration::from_millis(400);

/// The instance that goes DOWN, the one that deregisters, the one that stays throughout
/// and the one that registers late.
const GOES_DOWN: u16 = 8001;
const LEAVES: u16 = 8002;
const STAYS: u16 = 8003;
const JOINS: u16 = 8004;

fn registrar(connection: &Connection, port: u16) -> Registrar {
    Registrar::new(
        connection.clone(),
        InstanceInfo::builder(APP, port)
            .renewal_interval_secs(1)
            .build(),
    )
}

fn id(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The rows of `rows` served by `instance`.
fn served_by<'a>(rows: &'a [Served], instance: &'a str) -> impl Iterator<Item = &'a Served> {
    rows.iter().filter(move |r| r.instance == instance)
}

/// Spawns `count` clients sending requests through clones of `service` until `stop`; each
/// returns the errors it got.
fn clients<S>(service: &S, count: usize, stop: &Arc<AtomicBool>) -> JoinSet<Vec<String>>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Display + Send,
{
    let mut clients = JoinSet::new();
    for _ in 0..count {
        let mut service = service.clone();
        let stop = Arc::clone(stop);
        clients.spawn(async move {
            let mut failures = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = Req::new(n);
                n += 1;
                let outcome = match service.ready().await {
                    Ok(ready) => ready.call(req).await.map(drop),
                    Err(error) => Err(error),
                };
                if let Err(error) = outcome {
                    failures.push(error.to_string());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            failures
        });
    }
    clients
}

/// `instance` served requests before `left_at`, and none started more than one poll
/// interval and the margin after it.
fn assert_left(rows: &[Served], port: u16, left_at: Instant, how: &str) {
    let instance = id(port);
    assert!(
        served_by(rows, &instance).any(|r| r.started < left_at),
        "{instance} served nothing before it {how}"
    );
    let cutoff = left_at + POLL + MARGIN;
    let late: Vec<Duration> = served_by(rows, &instance)
        .filter(|r| r.started > cutoff)
        .map(|r| r.started - left_at)
        .collect();
    assert!(
        late.is_empty(),
        "{} requests reached {instance} although started more than {:?} after it {how} \
         (the first {:?} after)",
        late.len(),
        POLL + MARGIN,
        late.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_stop_reaching_instances_that_go_down_or_deregister() {
    let server = EurekaServer::builder()
        .addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .bind()
        .await
        .unwrap();
    let connection = Connection::builder()
        .service_url(server.base_url())
        .poll_interval(POLL)
        .request_timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let instancer = Instancer::new(&connection, APP).unwrap();
    let log = Log::default();
    let endpointer = Endpointer::new(&instancer, recording(&log, |_| Behaviour::Healthy)).unwrap();
    let service = balanced(&endpointer, Duration::from_secs(5));

    let registrars: HashMap<u16, Registrar> = [GOES_DOWN, LEAVES, STAYS, JOINS]
        .into_iter()
        .map(|port| (port, registrar(&connection, port)))
        .collect();
    for port in [GOES_DOWN, LEAVES, STAYS] {
        registrars[&port].register().await.unwrap();
    }
    wait_until(
        "the endpointer lists the first three",
        &endpointer,
        |listed| listed == [id(GOES_DOWN), id(LEAVES), id(STAYS)],
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = clients(&service, 3, &stop);
    let settle = POLL + MARGIN + Duration::from_millis(200);

    tokio::time::sleep(Duration::from_millis(300)).await;
    registrars[&GOES_DOWN]
        .set_status(Status::Down)
        .await
        .unwrap();
    let down_at = Instant::now();
    wait_until(
        "the endpointer drops the DOWN instance",
        &endpointer,
        |listed| !listed.contains(&id(GOES_DOWN)),
    )
    .await;
    tokio::time::sleep(settle).await;

    registrars[&LEAVES].deregister().await.unwrap();
    let deregistered_at = Instant::now();
    wait_until(
        "the endpointer drops the deregistered instance",
        &endpointer,
        |listed| !listed.contains(&id(LEAVES)),
    )
    .await;
    tokio::time::sleep(settle).await;

    let registering_at = Instant::now();
    registrars[&JOINS].register().await.unwrap();
    wait_until(
        "the endpointer lists the new instance",
        &endpointer,
        |listed| listed.contains(&id(JOINS)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    while let Some(failures) = bounded("a client", clients.join_next()).await {
        let failures = failures.unwrap();
        assert!(failures.is_empty(), "requests failed: {failures:?}");
    }

    let rows = log.rows();
    assert_left(&rows, GOES_DOWN, down_at, "went DOWN");
    assert_left(&rows, LEAVES, deregistered_at, "deregistered");
    let joined = id(JOINS);
    let from_new: Vec<&Served> = served_by(&rows, &joined).collect();
    assert!(
        !from_new.is_empty(),
        "{joined} served nothing after registering"
    );
    assert!(
        from_new.iter().all(|r| r.at >= registering_at),
        "{joined} served a request before it registered"
    );
    let stays = id(STAYS);
    assert!(
        served_by(&rows, &stays).any(|r| r.started > registering_at),
        "{stays} kept serving throughout"
    );

    for port in [GOES_DOWN, STAYS, JOINS] {
        registrars[&port].deregister().await.unwrap();
    }
    drop(service);
    endpointer.close();
    server.shutdown().await;
}
