//! A real ZooKeeper for the suite: Debian's `zookeeper` package run by hand on a free
//! loopback port with a 200 ms tick, so sessions expire in seconds; plus waits on
//! conditions (never on time) with a generous deadline.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sd_core::{Backoff, Event, Subscription};
use sd_testkit::ServerProcess;
use sd_zk::Config;

/// How long any condition may take to come true on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The session timeout the suite asks for: ten ticks, well above the server's minimum.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(2);

/// One ZooKeeper server, killed when dropped.
pub struct ZooKeeper {
    server: ServerProcess,
    addr: SocketAddr,
}

impl ZooKeeper {
    /// Starts a server, or says once that the suite skips and returns `None` when Java or
    /// ZooKeeper is not installed.
    pub fn start() -> Option<Self> {
        let (server, addr) = sd_testkit::zookeeper("sd-zk")?;
        let mut zk = Self { server, addr };
        zk.wait_serving().expect("ZooKeeper serves");
        Some(zk)
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The suite's configuration: short session, quick retries.
    pub fn config(&self) -> Config {
        config_for(&self.address())
    }

    /// Kills the server, as a crash would; its data stays.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) {
        self.server.restart().expect("java starts again");
        self.wait_serving().expect("ZooKeeper serves again");
    }

    /// A plain client of the suite's own, to look at what the code under test did.
    pub async fn raw(&self) -> zookeeper_client::Client {
        zookeeper_client::Client::connect(&self.address())
            .await
            .expect("a raw session")
    }

    /// How many sessions the server holds (`mntr`'s `zk_global_sessions`); `None` while
    /// it is not serving.
    pub fn sessions(&self) -> Option<u64> {
        mntr(self.addr)?
            .lines()
            .find_map(|line| line.strip_prefix("zk_global_sessions"))
            .and_then(|n| n.trim().parse().ok())
    }

    /// Waits until the server serves requests, not only accepts connections.
    fn wait_serving(&mut self) -> std::io::Result<()> {
        self.server.wait_for_tcp(self.addr, DEADLINE)?;
        let start = std::time::Instant::now();
        while self.sessions().is_none() {
            if start.elapsed() > DEADLINE || !self.server.is_running() {
                return Err(std::io::Error::other(format!(
                    "ZooKeeper is not serving; its log:\n{}",
                    self.server.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// The answer to a four-letter command `mntr`.
fn mntr(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"mntr").ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The suite's configuration for `servers`.
pub fn config_for(servers: &str) -> Config {
    Config::builder([servers])
        .session_timeout(SESSION_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(500),
        ))
        .build()
        .expect("a valid configuration")
}

/// The next event with instances, skipping error events.
pub async fn next_set(sub: &mut Subscription) -> Vec<String> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match sub.next().await {
                Some(Event::Instances(set)) => return set.ids().map(str::to_owned).collect(),
                Some(Event::Error(_)) => {}
                None => panic!("the instancer is gone"),
            }
        }
    })
    .await
    .expect("an instance set in time")
}

/// Waits until the state is exactly `want`: the current one, or a later event. (A node
/// removed and made again between two listings is never published, so the set wanted may
/// be the one already seen.)
pub async fn wait_set(sub: &mut Subscription, want: &[&str]) {
    let ids = |set: &sd_core::Instances| set.ids().map(str::to_owned).collect::<Vec<_>>();
    let mut last = Vec::new();
    if let Some(Event::Instances(set)) = sub.latest() {
        last = ids(&set);
        if last == want {
            return;
        }
    }
    let found = tokio::time::timeout(DEADLINE, async {
        loop {
            match sub.next().await {
                Some(Event::Instances(set)) => {
                    last = ids(&set);
                    if last == want {
                        return;
                    }
                }
                Some(Event::Error(_)) => {}
                None => panic!("the instancer is gone"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "waited for {want:?}, last saw {last:?}");
}

/// Waits for an error event.
pub async fn wait_error(sub: &mut Subscription) -> sd_core::Error {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match sub.next().await {
                Some(Event::Error(error)) => return error,
                Some(Event::Instances(_)) => {}
                None => panic!("the instancer is gone"),
            }
        }
    })
    .await
    .expect("an error event in time")
}

/// Polls `condition` until it holds; for state with no notification of its own (a
/// registrar's counters, the server's view).
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !condition().await {
        assert!(start.elapsed() < DEADLINE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The children of `path`, sorted; empty when the path does not exist.
pub async fn children(raw: &zookeeper_client::Client, path: &str) -> Vec<String> {
    let mut children = raw.list_children(path).await.unwrap_or_default();
    children.sort();
    children
}
