//! Many clients at once: registrations, heartbeats and cancellations from parallel tasks,
//! with readers fetching all along. No registration may be lost, every full fetch must be
//! a consistent snapshot, and the end state must be exactly what the clients did.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Http, instance, instance_path, start, summary};
use http::{Method, StatusCode};
use sd_eureka::{ActionType, Format, InstanceInfo};

const CLIENTS: u32 = 32;
const PER_CLIENT: u32 = 50;

/// Client `client`'s instances, spread over four apps, each with whether it is kept (the
/// client cancels the others).
fn instances_of(client: u32) -> Vec<(InstanceInfo, bool)> {
    (0..PER_CLIENT)
        .map(|k| {
            let app = format!("app{}", (k / 2) % 4);
            (instance(&app, client * PER_CLIENT + k), k % 2 == 0)
        })
        .collect()
}

/// One client: registers its instances (JSON or XML bodies), renews each, cancels half.
async fn client(http: Http, client: u32) {
    let base = if client % 2 == 0 {
        "/eureka/"
    } else {
        "/eureka/v2/"
    };
    let format = if client % 3 == 0 {
        Format::Xml
    } else {
        Format::Json
    };
    let mine = instances_of(client);
    for (i, _) in &mine {
        let reply = http.register_as(base, i, format).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", i.instance_id);
    }
    for (i, _) in &mine {
        assert_eq!(http.renew(base, i, "UP").await.status, StatusCode::OK);
    }
    for (i, _) in mine.iter().filter(|(_, kept)| !kept) {
        let reply = http.delete(&instance_path(base, i)).await;
        assert_eq!(reply.status, StatusCode::OK, "cancel {}", i.instance_id);
        assert_eq!(
            http.renew(base, i, "UP").await.status,
            StatusCode::NOT_FOUND,
            "a cancelled instance's heartbeat"
        );
    }
}

/// Fetches the full registry until told to stop; every answer must be consistent in itself.
async fn reader(http: Http, stop: Arc<AtomicBool>, fetches: Arc<AtomicUsize>, xml: bool) {
    let accept = if xml {
        "application/xml"
    } else {
        "application/json"
    };
    while !stop.load(Ordering::Relaxed) {
        let reply = http
            .send(
                Method::GET,
                "/eureka/apps",
                &[("accept", accept), ("accept-encoding", "gzip")],
                bytes::Bytes::new(),
            )
            .await;
        let apps = reply.applications();
        assert!(
            apps.is_consistent(),
            "a full fetch whose hash code {:?} does not match its {} instances",
            apps.apps_hashcode,
            apps.instance_count()
        );
        let delta = http.delta("/eureka/").await;
        assert!(delta.apps_hashcode.is_some());
        fetches.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_clients_lose_nothing() {
    let server = start().await;
    let http = Http::new(&server);
    let mut copy = http.full("/eureka/").await;

    let stop = Arc::new(AtomicBool::new(false));
    let fetches = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            tokio::spawn(reader(
                http.clone(),
                Arc::clone(&stop),
                Arc::clone(&fetches),
                r % 2 == 0,
            ))
        })
        .collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(http.clone(), c)))
        .collect();
    for task in clients {
        task.await.expect("a client task failed");
    }
    stop.store(true, Ordering::Relaxed);
    for task in readers {
        task.await.expect("a reader task failed");
    }
    assert!(fetches.load(Ordering::Relaxed) > 0);

    let expected: BTreeSet<String> = (0..CLIENTS)
        .flat_map(instances_of)
        .filter(|(_, kept)| *kept)
        .map(|(i, _)| i.instance_id)
        .collect();
    assert_eq!(expected.len(), (CLIENTS * PER_CLIENT / 2) as usize);

    let full = http.full("/eureka/").await;
    let listed: BTreeSet<String> = full
        .instances()
        .map(|(_, i)| i.instance_id.clone())
        .collect();
    assert_eq!(
        full.instance_count(),
        listed.len(),
        "no instance listed twice"
    );
    assert_eq!(listed, expected);
    assert_eq!(
        full.apps_hashcode.as_deref(),
        Some(format!("UP_{}_", expected.len()).as_str())
    );
    assert!(full.is_consistent());
    assert_eq!(full.applications.len(), 4);
    assert_eq!(summary(&server.applications()), summary(&full));

    // A client that fetched before it all catches up through one delta.
    let delta = http.delta("/eureka/").await;
    let count = |action| {
        delta
            .instances()
            .filter(|(_, i)| i.action_type == Some(action))
            .count()
    };
    assert_eq!(count(ActionType::Added), expected.len());
    assert_eq!(count(ActionType::Deleted), expected.len());
    assert_eq!(
        count(ActionType::Modified),
        0,
        "UP heartbeats change nothing"
    );
    copy.apply_delta(&delta);
    assert!(copy.is_consistent());
    assert_eq!(summary(&copy), summary(&full));
}

/// A server on a runtime of its own with a single worker, so that anything that holds the
/// worker holds up every connection; stopped when dropped.
struct OneWorker {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OneWorker {
    fn start(builder: sd_eureka_server::Builder) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server = builder.bind().await.unwrap();
                addr_tx.send(server.local_addr()).unwrap();
                let _ = stopped.await;
                server.shutdown().await;
            });
        });
        let addr = addr_rx
            .recv_timeout(common::DEADLINE)
            .expect("the server starts");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for OneWorker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Encoding and gzipping the whole registry runs off the runtime's workers: while one
/// full fetch of a large registry is being built, a server with a single worker keeps
/// answering heartbeats. (Built on the worker, it answered none until the build was done.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_are_answered_while_the_full_registry_is_built() {
    // No cache: every full fetch builds.
    let server = OneWorker::start(common::builder().response_cache_ttl(std::time::Duration::ZERO));
    let http = Http::for_addr(server.addr);
    let base = "/eureka/";
    // A registry that takes a while to encode: many instances with many metadata keys.
    let mut writers = tokio::task::JoinSet::new();
    for part in 0..4_u32 {
        let http = http.clone();
        writers.spawn(async move {
            for n in (part * 500)..((part + 1) * 500) {
                let mut i = instance("orders", n);
                for k in 0..40 {
                    i.metadata
                        .insert(format!("key-{k}"), format!("value {k} of {n}, padded out"));
                }
                http.register_ok(base, &i).await;
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let heart = instance("orders", 0);
    assert_eq!(http.renew(base, &heart, "UP").await.status, StatusCode::OK);

    let fetching = Arc::new(AtomicBool::new(true));
    let fetch = {
        let (http, fetching) = (http.clone(), Arc::clone(&fetching));
        tokio::spawn(async move {
            let headers = [("accept", "application/xml"), ("accept-encoding", "gzip")];
            let reply = http
                .send(Method::GET, "/eureka/apps", &headers, bytes::Bytes::new())
                .await;
            fetching.store(false, Ordering::SeqCst);
            reply.status
        })
    };
    // Heartbeats, one after another, for as long as the fetch is outstanding (bounded by
    // count; the request timeout bounds the fetch).
    let mut answered_during = 0_u32;
    for _ in 0..100_000 {
        if !fetching.load(Ordering::SeqCst) {
            break;
        }
        assert_eq!(http.renew(base, &heart, "UP").await.status, StatusCode::OK);
        if fetching.load(Ordering::SeqCst) {
            answered_during += 1;
        }
    }
    assert_eq!(fetch.await.unwrap(), StatusCode::OK);
    assert!(
        answered_during >= 10,
        "only {answered_during} heartbeats were answered while the registry was built"
    );
}
