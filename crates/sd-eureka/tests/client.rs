//! The client against sd-eureka-server over loopback HTTP: go-kit's integration scenario
//! and the basics of registration and discovery.

use std::time::Duration;

use sd_core::{BoxError, EndpointSource, Endpointer, Instance};
use sd_eureka::{Connection, InstanceInfo, Instancer, Registrar, Status};
use sd_eureka_server::EurekaServer;

async fn server() -> EurekaServer {
    EurekaServer::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .bind()
        .await
        .unwrap()
}

fn connection(server: &EurekaServer) -> Connection {
    Connection::builder()
        .service_url(server.base_url())
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap()
}

fn instance(port: u16) -> InstanceInfo {
    let mut i = InstanceInfo::new("hello", "127.0.0.1", "127.0.0.1", port);
    i.lease_info.as_mut().unwrap().renewal_interval_in_secs = 1;
    i
}

/// Waits (bounded) until the endpointer holds exactly `want`.
async fn eventually(endpointer: &Endpointer<String>, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut reader = endpointer.clone();
    loop {
        let got: Vec<String> = reader
            .endpoints()
            .map(|e| e.iter().map(|e| e.get_ref().clone()).collect())
            .unwrap_or_default();
        if got == want {
            return;
        }
        // Woken by the endpointer's next publish, not by polling.
        let published = tokio::time::timeout_at(deadline, reader.changed()).await;
        assert!(published.is_ok(), "endpoints {got:?}, wanted {want:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gokit_scenario_one_two_one() {
    let server = server().await;
    let conn = connection(&server);
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let endpointer = Endpointer::new(&instancer, |i: &Instance| -> Result<String, BoxError> {
        Ok(i.id().to_owned())
    })
    .unwrap();

    let a = Registrar::new(conn.clone(), instance(8001));
    a.register().await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8001"]).await;

    let b = Registrar::new(conn.clone(), instance(8002));
    b.register().await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8001", "127.0.0.1:8002"]).await;

    b.deregister().await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8001"]).await;

    a.set_status(Status::Down).await.unwrap();
    eventually(&endpointer, &[]).await;
    let stats = instancer.stats();
    assert!(
        stats.delta_fetches > 0,
        "steady state uses deltas: {stats:?}"
    );
    a.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpointer_keeps_a_dropped_instancer_polling() {
    let server = server().await;
    let conn = connection(&server);
    // The instancer is a temporary: only the endpointer's subscription holds it.
    let endpointer = Endpointer::new(
        &Instancer::new(&conn, "hello").unwrap(),
        |i: &Instance| -> Result<String, BoxError> { Ok(i.id().to_owned()) },
    )
    .unwrap();
    let a = Registrar::new(conn.clone(), instance(8011));
    a.register().await.unwrap();
    eventually(&endpointer, &["127.0.0.1:8011"]).await;
    a.deregister().await.unwrap();
    eventually(&endpointer, &[]).await;
}
