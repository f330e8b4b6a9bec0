//! Support for the suites: a real etcd on free loopback ports, a raw client for checks, a
//! TCP proxy that can cut the connection, and waits on subscriptions.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sd_core::{Backoff, Event, Subscription};
use sd_etcd::Client;
use sd_testkit::ServerProcess;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long any condition may take to come true on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A real etcd on loopback, killed when dropped.
pub struct Etcd {
    server: ServerProcess,
    pub port: u16,
}

impl Etcd {
    /// Starts etcd, or says once that the suite skips and returns `None`.
    pub async fn start() -> Option<Self> {
        let (server, port) = tokio::task::block_in_place(|| sd_testkit::etcd("sd-etcd"))?;
        let etcd = Self { server, port };
        etcd.ready().await;
        Some(etcd)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of this etcd with quick reconnects, as the suites use.
    pub async fn client(&self) -> Client {
        client_of(self.url()).await
    }

    /// A raw etcd-client client for checks behind the crate's back.
    pub async fn raw(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.url()], None)
            .await
            .unwrap()
    }

    /// Waits until etcd answers requests (a leader is elected).
    pub async fn ready(&self) {
        let url = self.url();
        eventually("etcd to answer", || {
            let url = url.clone();
            async move {
                let options = etcd_client::ConnectOptions::new()
                    .with_timeout(Duration::from_secs(2))
                    .with_connect_timeout(Duration::from_secs(2));
                match etcd_client::Client::connect([url], Some(options)).await {
                    Ok(mut raw) => raw.get("ready", None).await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
    }

    /// Kills etcd, as a crash would.
    pub fn kill(&mut self) {
        self.server.stop();
    }

    /// Starts etcd again on the same ports and data, and waits until it answers.
    pub async fn restart(&mut self) {
        self.server.restart().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let server = &mut self.server;
        tokio::task::block_in_place(|| server.wait_for_tcp(addr, PATIENCE)).unwrap();
        self.ready().await;
    }

    /// Kills etcd, deletes its data, and starts a new one in its place.
    pub async fn wipe_and_restart(&mut self) {
        self.server.stop();
        std::fs::remove_dir_all(self.server.dir().join("data")).unwrap();
        self.restart().await;
    }

    /// A Prometheus gauge from etcd's `/metrics`, 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).await.unwrap();
        body.lines()
            .filter_map(|line| line.strip_prefix(name))
            .filter_map(|rest| rest.strip_prefix(' '))
            .find_map(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// A client of `url` with quick reconnects.
pub async fn client_of(url: String) -> Client {
    Client::builder([url])
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(500),
        ))
        .connect()
        .await
        .unwrap()
}

/// Polls `check` until it holds, for conditions no event announces; panics after
/// [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "waited {PATIENCE:?} for {what}");
}

/// The ids of an instance event; `None` for an error.
pub fn ids(event: &Event) -> Option<Vec<String>> {
    event
        .instances()
        .map(|set| set.ids().map(str::to_owned).collect())
}

/// Waits for an event that `wanted` accepts, and returns it.
pub async fn until(sub: &mut Subscription, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = sub.next().await.expect("the instancer is gone");
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for {what}; last: {:?}", sub.current()))
}

/// Waits for the instance set `expected` (in order).
pub async fn until_set(sub: &mut Subscription, expected: &[&str]) -> Event {
    let what = format!("the set {expected:?}");
    until(sub, &what, |e| ids(e).is_some_and(|ids| ids == expected)).await
}

/// A loopback TCP proxy to etcd that a test can cut (every connection dropped, new ones
/// refused) and restore, while etcd itself keeps running.
pub struct Proxy {
    pub port: u16,
    open: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(watch::Sender::new(true));
        let gate = Arc::clone(&open);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*gate.borrow() {
                    continue; // dropped: refused
                }
                let mut closed = gate.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = closed.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Self { port, open, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
