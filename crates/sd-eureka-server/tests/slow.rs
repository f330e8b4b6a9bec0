//! Connections that dawdle: byte-a-second headers (slowloris), silent connections and idle
//! keep-alive ones are closed, and at the connection cap they make room, so well-behaved
//! clients keep being answered. Loopback only; every loop is bounded in count and time.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{DEADLINE, Http, builder, eventually, instance};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a slow client sends, a byte at a time: a request head it never gets to finish.
const HEAD: &[u8] = b"GET /eureka/apps HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

/// How long the test keeps dribbling, at most.
const DRIBBLE_FOR: Duration = Duration::from_secs(60);

/// Opens `count` connections that each send their first byte now and one more byte a
/// second (a task keeps dribbling until every one is closed, or [`DRIBBLE_FOR`]).
/// Returns a probe that counts how many the server has closed.
async fn slowloris(addr: SocketAddr, count: usize) -> Probe {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // A connection the server closed right away may refuse the byte; that is fine.
        let _ = stream.write_all(&HEAD[..1]).await;
        streams.push(stream);
    }
    let (closed_tx, closed_rx) = tokio::sync::watch::channel(0_usize);
    tokio::spawn(async move {
        let mut open: Vec<(TcpStream, usize)> = streams.into_iter().map(|s| (s, 1)).collect();
        let started = tokio::time::Instant::now();
        while !open.is_empty() && started.elapsed() < DRIBBLE_FOR {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut still = Vec::with_capacity(open.len());
            for (stream, sent) in open {
                if closed_by_server(&stream) {
                    continue;
                }
                let next = &HEAD[sent % HEAD.len()..=sent % HEAD.len()];
                match tokio::time::timeout(Duration::from_secs(1), stream.writable()).await {
                    Ok(Ok(())) if stream.try_write(next).is_ok() => still.push((stream, sent + 1)),
                    // A full send buffer or a write error: the server is not reading.
                    Ok(Ok(())) | Err(_) => still.push((stream, sent)),
                    Ok(Err(_)) => {}
                }
            }
            let closed = count - still.len();
            let _ = closed_tx.send(closed);
            open = still;
        }
    });
    Probe {
        closed: closed_rx,
        count,
    }
}

/// True when the server closed `stream` (end of file or reset), or answered on it.
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buf = [0_u8; 512];
    match stream.try_read(&mut buf) {
        // Anything the server says to a request it never got (a 408, say) also ends it.
        Ok(_) => true,
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// How many of the slow connections the server has closed.
struct Probe {
    closed: tokio::sync::watch::Receiver<usize>,
    count: usize,
}

impl Probe {
    fn closed(&self) -> usize {
        *self.closed.borrow()
    }
}

/// A well-behaved client on a fresh connection: a full fetch answers 200.
async fn fetch_on_a_new_connection(addr: SocketAddr) -> StatusCode {
    Http::for_addr(addr).get_json("/eureka/apps").await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_a_second_headers_neither_lock_out_clients_nor_stay_open() {
    let server = builder()
        .max_connections(32)
        .header_read_timeout(Duration::from_secs(2))
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr();
    Http::for_addr(addr)
        .register_ok("/eureka/", &instance("orders", 1))
        .await;

    let probe = slowloris(addr, 200).await;
    // Far more slow connections than the cap: well-behaved clients still get in.
    for _ in 0..20 {
        assert_eq!(fetch_on_a_new_connection(addr).await, StatusCode::OK);
    }
    // And no slow connection stays open: pushed out at the cap, or timed out on its
    // headers (which a byte a second would take over a minute to send).
    let mut closed = probe.closed.clone();
    let all = probe.count;
    let waited = tokio::time::timeout(DEADLINE * 3, closed.wait_for(|n| *n == all)).await;
    assert!(
        waited.is_ok(),
        "{} of {all} slow connections were closed",
        probe.closed()
    );
    assert_eq!(fetch_on_a_new_connection(addr).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_alone_clients_still_get_in() {
    // No timeouts at all: the cap alone keeps the registry reachable.
    let server = builder()
        .max_connections(16)
        .header_read_timeout(Duration::ZERO)
        .idle_timeout(Duration::ZERO)
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr();
    let probe = slowloris(addr, 100).await;
    for _ in 0..20 {
        assert_eq!(fetch_on_a_new_connection(addr).await, StatusCode::OK);
    }
    // Those beyond the cap were pushed out.
    let mut closed = probe.closed.clone();
    let waited = tokio::time::timeout(DEADLINE, closed.wait_for(|n| *n >= 100 - 16)).await;
    assert!(waited.is_ok(), "{} closed", probe.closed());
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_the_idle_timeout() {
    let server = builder()
        .idle_timeout(Duration::from_millis(500))
        .header_read_timeout(Duration::ZERO)
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr();
    // One that never says anything, one that made a request and keeps the connection.
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /eureka/apps HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Its whole answer first (the XML document's end), so that what follows is the close.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0_u8; 1024];
        while !answer.ends_with(b"</applications>") {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    eventually("both to be closed", || {
        let done = closed_by_server(&silent) && closed_by_server(&idle);
        async move { done }
    })
    .await;
}

#[tokio::test]
async fn huge_timeouts_and_caps_do_not_panic() {
    let server = builder()
        .header_read_timeout(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .max_connections(usize::MAX)
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr();
    for _ in 0..3 {
        assert_eq!(fetch_on_a_new_connection(addr).await, StatusCode::OK);
    }
    let server = builder().max_connections(0).bind().await.unwrap();
    assert_eq!(
        fetch_on_a_new_connection(server.local_addr()).await,
        StatusCode::OK,
        "a cap of 0 means 1"
    );
}
