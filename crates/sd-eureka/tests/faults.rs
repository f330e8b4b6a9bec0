//! The client against servers that misbehave: slow, failing, or answering garbage,
//! truncated or oversized bodies, and deltas whose hash code does not match.
//!
//! A tiny raw HTTP server (`support::RawServer`) serves a fixed, valid registry for
//! `GET apps` and `GET apps/delta` until a test switches it to a fault. Every wait is
//! bounded by a generous deadline; no test asserts how long anything took.

mod support;

use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sd_core::{EndpointSource as _, Event, Instancer as _};
use sd_eureka::{Connection, InstanceInfo, Instancer, Status};
use support::{
    RawServer, Reply, connection_builder, empty_delta_json, endpoints_of, error_message, event_ids,
    eventually, ids, instance, next_event, registry_json, wait_until,
};

/// The response cap of the fault tests' connections.
const LIMIT: usize = 16 << 10;

/// What the raw registry answers.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// The valid registry; deltas are empty and carry `delta_hash`.
    Valid,
    /// 500 with a short text body.
    ServerError,
    /// 200 with bytes that are neither JSON nor XML.
    Garbage,
    /// 200 with a JSON registry cut in half (`Content-Length` matches what is sent).
    TruncatedDocument,
    /// 200 whose `Content-Length` promises more than is sent before the connection closes.
    TruncatedTransfer,
    /// 200 with a valid registry padded past the response cap.
    Oversized,
    /// 200 with a small gzip body that inflates past the response cap.
    GzipBomb,
    /// `apps/delta` answers 403 (deltas disabled); `apps` stays valid.
    DeltaForbidden,
}

/// A raw registry holding `instances`, switchable between modes.
struct FakeRegistry {
    server: RawServer,
    mode: Arc<Mutex<Mode>>,
    delta: Arc<Mutex<Vec<u8>>>,
}

impl FakeRegistry {
    async fn start(instances: &[InstanceInfo]) -> Self {
        let full = registry_json(instances, None);
        let hash = {
            let statuses = instances.iter().map(|i| i.status);
            sd_eureka::reconcile_hash_code(statuses)
        };
        let mode = Arc::new(Mutex::new(Mode::Valid));
        let delta = Arc::new(Mutex::new(empty_delta_json(&hash)));
        let (m, d) = (Arc::clone(&mode), Arc::clone(&delta));
        let server = RawServer::start(move |request| {
            let mode = m.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let is_delta = request.path() == "/eureka/apps/delta";
            let valid = if is_delta {
                d.lock().unwrap_or_else(PoisonError::into_inner).clone()
            } else {
                full.clone()
            };
            fault(&mode, is_delta, valid)
        })
        .await;
        Self {
            server,
            mode,
            delta,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    fn set_delta(&self, body: Vec<u8>) {
        *self.delta.lock().unwrap_or_else(PoisonError::into_inner) = body;
    }

    fn connection(&self) -> Connection {
        connection_builder(&[&self.server.base_url()])
            .max_response_bytes(LIMIT)
            .request_timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    }
}

fn fault(mode: &Mode, is_delta: bool, valid: Vec<u8>) -> Reply {
    match mode {
        Mode::DeltaForbidden if is_delta => Reply::status(403, "delta disabled"),
        Mode::Valid | Mode::DeltaForbidden => Reply::json(valid),
        Mode::ServerError => Reply::status(500, "internal trouble"),
        Mode::Garbage => Reply::json(&b"\x00\x01<<not a registry>>}{"[..]),
        Mode::TruncatedDocument => {
            let half = valid.len() / 2;
            Reply::json(&valid[..half])
        }
        Mode::TruncatedTransfer => {
            let mut bytes = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                valid.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&valid[..valid.len() / 2]);
            Reply::Raw(bytes)
        }
        Mode::Oversized => Reply::json(padded(&valid)),
        Mode::GzipBomb => {
            let body = gzip(&padded(&valid), flate2::Compression::best());
            assert!(body.len() < LIMIT, "the bomb is small on the wire");
            gzipped_json(&body)
        }
    }
}

/// `body` gzipped at `level`.
fn gzip(body: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// A JSON answer whose body, `gzipped`, is sent as it is with `content-encoding: gzip`.
fn gzipped_json(gzipped: &[u8]) -> Reply {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        gzipped.len()
    )
    .into_bytes();
    bytes.extend_from_slice(gzipped);
    Reply::Raw(bytes)
}

/// A valid document preceded by enough whitespace to be four times the cap: only the cap
/// can make it fail.
fn padded(valid: &[u8]) -> Vec<u8> {
    let mut body = vec![b' '; LIMIT * 4];
    body.extend_from_slice(valid);
    body
}

fn two_instances() -> Vec<InstanceInfo> {
    vec![instance("hello", 8001), instance("hello", 8002)]
}

const BOTH: [&str; 2] = ["127.0.0.1:8001", "127.0.0.1:8002"];

/// Serves the valid registry, then `mode`: the instancer publishes an error event whose
/// message contains `says`, an endpointer keeps the last good endpoints, and a direct call
/// fails with an error `check` accepts. Then the valid registry again: a good event.
async fn fault_keeps_the_last_good_set(
    mode: Mode,
    says: &str,
    check: impl Fn(&sd_eureka::Error) -> bool,
) {
    let registry = FakeRegistry::start(&two_instances()).await;
    let conn = registry.connection();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let endpointer = ids(&instancer);
    eventually(&endpointer, &BOTH).await;
    let mut events = instancer.subscribe();

    registry.set(mode.clone());
    let event = next_event(&mut events, "an error", |e| e.error().is_some()).await;
    let message = error_message(&event);
    assert!(
        message.contains(says),
        "{mode:?}: {message:?} should say {says:?}"
    );
    assert!(instancer.stats().failures >= 1);
    assert_eq!(
        endpoints_of(&endpointer),
        Ok(BOTH.map(str::to_owned).to_vec()),
        "{mode:?}: the endpointer keeps the last good set"
    );
    // Still so after more failed polls.
    let failures = instancer.stats().failures;
    wait_until("two more failed polls", || {
        instancer.stats().failures >= failures + 2
    })
    .await;
    assert_eq!(endpoints_of(&endpointer).unwrap(), BOTH);

    let error = conn.applications().await.unwrap_err();
    assert!(
        check(&error),
        "{mode:?}: unexpected kind of error: {error:?}"
    );

    registry.set(Mode::Valid);
    let event = next_event(&mut events, "a good set", |e| e.error().is_none()).await;
    assert_eq!(event_ids(&event).unwrap(), BOTH);
    assert_eq!(endpoints_of(&endpointer).unwrap(), BOTH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_is_an_error_event() {
    fault_keeps_the_last_good_set(Mode::ServerError, "500", |e| {
        e.status() == Some(http::StatusCode::INTERNAL_SERVER_ERROR)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_an_error_event() {
    fault_keeps_the_last_good_set(Mode::Garbage, "invalid Eureka", sd_eureka::Error::is_decode)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_document_is_an_error_event() {
    fault_keeps_the_last_good_set(
        Mode::TruncatedDocument,
        "invalid Eureka",
        sd_eureka::Error::is_decode,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_transfer_is_an_error_event() {
    fault_keeps_the_last_good_set(
        Mode::TruncatedTransfer,
        "cannot reach the server",
        sd_eureka::Error::is_transport,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_answer_is_an_error_event() {
    fault_keeps_the_last_good_set(
        Mode::Oversized,
        &format!("{LIMIT}-byte limit"),
        sd_eureka::Error::is_too_large,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_is_an_error_event() {
    fault_keeps_the_last_good_set(
        Mode::GzipBomb,
        &format!("{LIMIT}-byte limit"),
        sd_eureka::Error::is_too_large,
    )
    .await;
}

/// Awaits a call that must end by its own request timeout; a client that ignored its
/// timeout fails the test instead of hanging it.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(support::DEADLINE, call)
        .await
        .expect("the client's request timeout should have ended the call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_hits_the_request_timeout() {
    let silent = RawServer::start(|_| Reply::Silent).await;
    let conn = connection_builder(&[&silent.base_url()])
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = bounded(conn.applications()).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.to_string().contains("no answer within"), "{error}");
    assert!(
        error.to_string().contains(&silent.addr().to_string()),
        "names the URL: {error}"
    );

    // Through an instancer: an error event that says so.
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let mut events = instancer.subscribe();
    let event = next_event(&mut events, "an error", |e| e.error().is_some()).await;
    assert!(error_message(&event).contains("no answer within"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_hits_the_request_timeout() {
    let body = registry_json(&two_instances(), None);
    let stalled = RawServer::start(move |_| {
        let mut bytes = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body[..body.len() / 2]);
        Reply::Stall(bytes)
    })
    .await;
    let conn = connection_builder(&[&stalled.base_url()])
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = bounded(conn.applications()).await.unwrap_err();
    assert!(error.is_timeout(), "the body counts too: {error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_registration_times_out_and_the_registrar_keeps_trying() {
    let silent = RawServer::start(|_| Reply::Silent).await;
    let conn = connection_builder(&[&silent.base_url()])
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let registrar = sd_eureka::Registrar::new(conn, instance("hello", 8001));
    let error = bounded(registrar.register()).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    wait_until("the registrar tries again", || {
        silent.count("POST", "/eureka/apps/HELLO") >= 2
    })
    .await;
    assert!(registrar.stats().failures >= 1);
    drop(registrar);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_mismatch_triggers_a_full_fetch() {
    let registry = FakeRegistry::start(&two_instances()).await;
    // The delta claims a registry of seven UP instances: never what the local copy holds.
    registry.set_delta(empty_delta_json("UP_7_"));
    let conn = registry.connection();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let endpointer = ids(&instancer);
    eventually(&endpointer, &BOTH).await;

    // Counters move before the requests reach the server: wait for both views.
    wait_until("two hash mismatches, each followed by a full fetch", || {
        let stats = instancer.stats();
        stats.hash_mismatches >= 2
            && stats.full_fetches >= 3
            && registry.server.count("GET", "/eureka/apps") >= 3
    })
    .await;
    let stats = instancer.stats();
    assert_eq!(stats.failures, 0, "{stats:?}");
    assert_eq!(endpoints_of(&endpointer).unwrap(), BOTH);

    // With the right hash code, deltas alone keep the copy current.
    registry.set_delta(empty_delta_json("UP_2_"));
    let deltas = instancer.stats().delta_fetches;
    wait_until("polls after the switch", || {
        instancer.stats().delta_fetches >= deltas + 2
    })
    .await;
    let settled = instancer.stats();
    wait_until("three more deltas", || {
        instancer.stats().delta_fetches >= settled.delta_fetches + 3
    })
    .await;
    let stats = instancer.stats();
    assert_eq!(stats.full_fetches, settled.full_fetches, "{stats:?}");
    assert_eq!(stats.hash_mismatches, settled.hash_mismatches, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_are_applied_without_a_full_fetch() {
    let registry = FakeRegistry::start(&two_instances()).await;
    let conn = registry.connection();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let endpointer = ids(&instancer);
    eventually(&endpointer, &BOTH).await;

    // 8002 goes DOWN and 8003 arrives: the delta carries both, with the hash code of the
    // registry after the change.
    let mut down = instance("hello", 8002);
    down.status = Status::Down;
    down.action_type = Some(sd_eureka::ActionType::Modified);
    let mut added = instance("hello", 8003);
    added.action_type = Some(sd_eureka::ActionType::Added);
    registry.set_delta(registry_json(&[down, added], Some("DOWN_1_UP_2_")));
    eventually(&endpointer, &["127.0.0.1:8001", "127.0.0.1:8003"]).await;

    let stats = instancer.stats();
    assert_eq!(stats.full_fetches, 1, "{stats:?}");
    assert_eq!(stats.hash_mismatches, 0, "{stats:?}");
    assert!(stats.delta_fetches >= 1, "{stats:?}");
    assert_eq!(registry.server.count("GET", "/eureka/apps"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_forbidden_falls_back_to_full_fetches() {
    let registry = FakeRegistry::start(&two_instances()).await;
    registry.set(Mode::DeltaForbidden);
    let conn = registry.connection();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let endpointer = ids(&instancer);
    eventually(&endpointer, &BOTH).await;
    wait_until("three full fetches", || instancer.stats().full_fetches >= 3).await;
    let stats = instancer.stats();
    assert_eq!(
        stats.failures, 0,
        "a 403 on delta is not a failure: {stats:?}"
    );
    assert_eq!(stats.hash_mismatches, 0, "{stats:?}");
    assert!(matches!(
        instancer.subscribe().current(),
        Some(Event::Instances(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_poll_failing_is_an_error_event_then_recovers() {
    let registry = FakeRegistry::start(&two_instances()).await;
    registry.set(Mode::ServerError);
    let conn = registry.connection();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let mut events = instancer.subscribe();
    let event = next_event(&mut events, "an error", |e| e.error().is_some()).await;
    assert!(error_message(&event).contains("500"));
    let mut endpointer = ids(&instancer);
    assert!(
        endpointer.endpoints().is_err() || endpoints_of(&endpointer).unwrap().is_empty(),
        "nothing good known yet"
    );
    registry.set(Mode::Valid);
    eventually(&endpointer, &BOTH).await;
}

/// How many threads a fresh current-thread runtime starts while one connection fetches
/// `body` in full (gzipped when asked). Such a runtime runs its tasks on the caller's
/// thread and starts threads only for its blocking pool, so any thread started is a
/// decode moved off the runtime worker.
fn threads_started_fetching(body: Vec<u8>, gzipped: bool) -> usize {
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let reply = if gzipped {
        gzipped_json(&gzip(&body, flate2::Compression::default()))
    } else {
        Reply::json(body)
    };
    runtime.block_on(async {
        let server = RawServer::start(move |_| reply.clone()).await;
        let conn = Connection::new([server.base_url()]).unwrap();
        assert!(conn.applications().await.unwrap().instances().count() > 0);
    });
    started.load(std::sync::atomic::Ordering::SeqCst)
}

/// A large answer is gunzipped and decoded on tokio's blocking pool, not on the runtime
/// worker that every other task shares; a small one is decoded in place. A gzipped answer
/// is judged by what it inflates to: 1,000 instances are a few kilobytes on the wire.
#[test]
fn large_answers_are_decoded_off_the_runtime_worker() {
    let small = registry_json(&two_instances(), None);
    let many: Vec<InstanceInfo> = (0..1000).map(|n| instance("hello", 10_000 + n)).collect();
    let large = registry_json(&many, None);
    assert!(
        large.len() > 256 << 10,
        "large enough: {} bytes",
        large.len()
    );
    assert_eq!(
        threads_started_fetching(small, false),
        0,
        "a small answer is decoded in place"
    );
    assert!(
        threads_started_fetching(large.clone(), false) >= 1,
        "a large answer is decoded on the blocking pool"
    );
    assert!(
        threads_started_fetching(large, true) >= 1,
        "a large gzipped answer is decoded on the blocking pool"
    );
}

/// A real server can serve a cached delta that predates a registration, with a hash code
/// that matches its own stale content (protocol doc, "A stale delta can outlive a
/// registration"). Reconciliation cannot see it; the periodic full fetch does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_delta_is_outlived_by_the_periodic_full_fetch() {
    let one = vec![instance("hello", 8001)];
    let full = Arc::new(Mutex::new(registry_json(&one, None)));
    let stale_delta = empty_delta_json(&sd_eureka::reconcile_hash_code([Status::Up]));
    let f = Arc::clone(&full);
    let server = RawServer::start(move |request| {
        if request.path() == "/eureka/apps/delta" {
            Reply::json(stale_delta.clone())
        } else {
            Reply::json(f.lock().unwrap_or_else(PoisonError::into_inner).clone())
        }
    })
    .await;
    let follow = |resync: Duration| {
        let conn = connection_builder(&[&server.base_url()])
            .resync_interval(resync)
            .build()
            .unwrap();
        let instancer = Instancer::new(&conn, "hello").unwrap();
        let endpointer = ids(&instancer);
        (instancer, endpointer)
    };
    let (blind, blind_endpoints) = follow(Duration::MAX);
    let (netted, netted_endpoints) = follow(Duration::from_millis(500));
    eventually(&blind_endpoints, &["127.0.0.1:8001"]).await;
    eventually(&netted_endpoints, &["127.0.0.1:8001"]).await;

    // The second instance registers; the delta stays stale.
    *full.lock().unwrap_or_else(PoisonError::into_inner) = registry_json(&two_instances(), None);
    eventually(&netted_endpoints, &BOTH).await;
    assert!(netted.stats().full_fetches >= 2);

    // Without the net, the stale delta reconciles every time and hides the instance.
    let seen = blind.stats().delta_fetches;
    wait_until("five more deltas", || {
        blind.stats().delta_fetches >= seen + 5
    })
    .await;
    assert_eq!(endpoints_of(&blind_endpoints).unwrap(), ["127.0.0.1:8001"]);
    assert_eq!(blind.stats().full_fetches, 1);
    assert_eq!(blind.stats().hash_mismatches, 0);
}

/// The periodic full fetch is a safety net, not a single point of failure: when it fails
/// (full fetches refused under load, say) the deltas that still work keep the instancer
/// current, and the resync is tried again at the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_resync_falls_back_to_deltas() {
    let full_ok = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let delta = Arc::new(Mutex::new(empty_delta_json(
        &sd_eureka::reconcile_hash_code([Status::Up, Status::Up]),
    )));
    let full = registry_json(&two_instances(), None);
    let (ok, d) = (Arc::clone(&full_ok), Arc::clone(&delta));
    let server = RawServer::start(move |request| {
        if request.path() == "/eureka/apps/delta" {
            Reply::json(d.lock().unwrap_or_else(PoisonError::into_inner).clone())
        } else if ok.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::json(full.clone())
        } else {
            Reply::status(503, "too busy for full fetches")
        }
    })
    .await;
    let conn = connection_builder(&[&server.base_url()])
        .resync_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    let endpointer = ids(&instancer);
    eventually(&endpointer, &BOTH).await;

    full_ok.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut added = instance("hello", 8003);
    added.action_type = Some(sd_eureka::ActionType::Added);
    *delta.lock().unwrap_or_else(PoisonError::into_inner) = registry_json(&[added], Some("UP_3_"));
    eventually(
        &endpointer,
        &["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"],
    )
    .await;
    let full_fetches = instancer.stats().full_fetches;
    wait_until("two more resyncs are tried", || {
        instancer.stats().full_fetches >= full_fetches + 2
    })
    .await;
    assert_eq!(instancer.stats().failures, 0, "every poll ended well");
    assert_eq!(endpoints_of(&endpointer).unwrap().len(), 3);
}

/// A gzip body that is not gzip is the server's fault, reported as an undecodable answer
/// rather than as a connection problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_gzip_body_is_a_decode_error() {
    let server = RawServer::start(|_| {
        let body = b"\x1f\x8b\x08\x00not gzip at all";
        let mut bytes = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Reply::Raw(bytes)
    })
    .await;
    let error = connection_builder(&[&server.base_url()])
        .build()
        .unwrap()
        .applications()
        .await
        .unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert!(!error.is_transport(), "{error:?}");
    assert!(error.to_string().contains("gzip"), "{error}");
}

/// Dropping the last instancer cancels the poll in flight, even one with no deadline
/// against a server that never answers: its connection is closed, not left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_instancer_cancels_its_poll_in_flight() {
    let server = RawServer::start(|_| Reply::Hold).await;
    let conn = connection_builder(&[&server.base_url()])
        .request_timeout(Duration::MAX)
        .build()
        .unwrap();
    let instancer = Instancer::new(&conn, "hello").unwrap();
    wait_until("the first poll is in flight", || {
        server.requests().len() == 1
    })
    .await;
    drop(instancer);
    wait_until("the poll's request is cancelled", || server.hung_up() == 1).await;
}
