//! What the suites share: a real authoritative DNS server (hickory-server, in process, on
//! a loopback port, UDP and TCP) whose zone the tests change between polls; small fake
//! servers for the faults a real one does not make; and bounded waits.

// Each suite uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_server::ServerFuture;
use hickory_server::authority::{AuthorityObject, Catalog, ZoneType};
use hickory_server::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryAuthority;
use sd_core::{Event, Subscription};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The bound on every wait for a condition.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The zone the server is authoritative for.
pub(crate) const ZONE: &str = "sd.test.";

/// The SOA MINIMUM of the zone: how long a negative answer may be trusted.
pub(crate) const NEGATIVE_TTL: u32 = 1;

/// One SRV record: priority, weight, port, target.
pub(crate) type Srv<'a> = (u16, u16, u16, &'a str);

/// An authoritative DNS server for [`ZONE`] on `127.0.0.1`, the same port for UDP and
/// TCP. Stopping and restarting it keeps the zone and the port, as a server restarted
/// with its zone file would.
pub(crate) struct DnsServer {
    addr: SocketAddr,
    authority: Arc<InMemoryAuthority>,
    server: Option<ServerFuture<Catalog>>,
    serial: u32,
}

impl DnsServer {
    /// Starts the server on a free port.
    pub(crate) async fn start() -> Self {
        let origin = Name::from_str(ZONE).unwrap();
        let soa = Record::from_rdata(
            origin.clone(),
            3600,
            RData::SOA(SOA::new(
                Name::from_str("ns.sd.test.").unwrap(),
                Name::from_str("admin.sd.test.").unwrap(),
                1,
                3600,
                600,
                86_400,
                NEGATIVE_TTL,
            )),
        );
        let mut soa_set = RecordSet::new(origin.clone(), RecordType::SOA, 1);
        soa_set.insert(soa, 1);
        let records = BTreeMap::from([(
            RrKey::new(LowerName::new(&origin), RecordType::SOA),
            soa_set,
        )]);
        let authority = InMemoryAuthority::new(origin, records, ZoneType::Primary, false).unwrap();
        let mut server = Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            authority: Arc::new(authority),
            server: None,
            serial: 1,
        };
        // UDP takes a free port; TCP may find that port taken by someone else: try again.
        for _ in 0..20 {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            let addr = udp.local_addr().unwrap();
            if let Ok(tcp) = TcpListener::bind(addr).await {
                server.addr = addr;
                server.serve(udp, tcp);
                return server;
            }
        }
        panic!("found no port free for both UDP and TCP");
    }

    fn serve(&mut self, udp: UdpSocket, tcp: TcpListener) {
        let mut catalog = Catalog::new();
        let zone: Arc<dyn AuthorityObject> = self.authority.clone();
        catalog.upsert(LowerName::from_str(ZONE).unwrap(), vec![zone]);
        let mut server = ServerFuture::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5));
        self.server = Some(server);
    }

    /// Where it listens, UDP and TCP.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the SRV records of `name` (relative to the zone: `_http._tcp`) with
    /// `records`, all with `ttl`.
    pub(crate) async fn set(&mut self, name: &str, ttl: u32, records: &[Srv<'_>]) {
        self.serial += 1;
        let owner = owner(name);
        let mut set = RecordSet::new(owner.clone(), RecordType::SRV, self.serial);
        for &(priority, weight, port, target) in records {
            let target = Name::from_str(target).unwrap();
            let record = Record::from_rdata(
                owner.clone(),
                ttl,
                RData::SRV(SRV::new(priority, weight, port, target)),
            );
            set.insert(record, self.serial);
        }
        let key = RrKey::new(LowerName::new(&owner), RecordType::SRV);
        self.authority
            .records_mut()
            .await
            .insert(key, Arc::new(set));
    }

    /// Removes every SRV record of `name`.
    pub(crate) async fn remove(&mut self, name: &str) {
        let key = RrKey::new(LowerName::new(&owner(name)), RecordType::SRV);
        self.authority.records_mut().await.remove(&key);
    }

    /// Stops answering: both sockets closed.
    pub(crate) async fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = tokio::time::timeout(WAIT, server.shutdown_gracefully()).await;
        }
    }

    /// Serves again on the same port, with the zone as it was.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let bound = match UdpSocket::bind(self.addr).await {
                Ok(udp) => TcpListener::bind(self.addr).await.map(|tcp| (udp, tcp)),
                Err(e) => Err(e),
            };
            match bound {
                Ok((udp, tcp)) => return self.serve(udp, tcp),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    eprintln!("rebinding {}: {e}; trying again", self.addr);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        }
    }
}

/// `name` within the zone, as a fully qualified name.
pub(crate) fn owner(name: &str) -> Name {
    Name::from_str(&format!("{name}.{ZONE}")).unwrap()
}

/// `name` within the zone, as the instancer is given it.
pub(crate) fn fqdn(name: &str) -> String {
    format!("{name}.{ZONE}")
}

/// How a [`FakeServer`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Reads queries and never answers.
    Silent,
    /// Answers bytes that are no DNS message (with the query's id, so the client reads it).
    Garbage,
    /// Answers `SERVFAIL`.
    ServFail,
    /// Answers one SRV record, `a.sd.test.:80` with TTL 0.
    Answer,
}

/// A UDP "name server" made for faults: it answers as its mode says, and counts queries.
pub(crate) struct FakeServer {
    addr: SocketAddr,
    mode: Arc<std::sync::Mutex<Mode>>,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FakeServer {
    pub(crate) async fn start(mode: Mode) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mode = Arc::new(std::sync::Mutex::new(mode));
        let queries = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(fake(socket, Arc::clone(&mode), Arc::clone(&queries)));
        Self {
            addr,
            mode,
            queries,
            task,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Queries received so far.
    pub(crate) fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake(socket: UdpSocket, mode: Arc<std::sync::Mutex<Mode>>, queries: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let mode = *mode.lock().unwrap();
        let reply = match mode {
            Mode::Silent => continue,
            Mode::Garbage => {
                // A header with the query's id and nonsense counts, then noise.
                let mut bytes = query.id().to_be_bytes().to_vec();
                bytes.extend_from_slice(&[0x81, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
                bytes.extend_from_slice(b"\xc0\xff garbage, not DNS \x00\x01");
                bytes
            }
            Mode::ServFail | Mode::Answer => {
                let mut reply = Message::new();
                reply
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(OpCode::Query)
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .add_queries(query.queries().to_vec());
                if mode == Mode::ServFail {
                    reply.set_response_code(ResponseCode::ServFail);
                } else if let Some(q) = query.queries().first() {
                    reply.add_answer(Record::from_rdata(
                        q.name().clone(),
                        0,
                        RData::SRV(SRV::new(0, 0, 80, Name::from_str("a.sd.test.").unwrap())),
                    ));
                }
                reply.to_vec().unwrap()
            }
        };
        let _ = socket.send_to(&reply, from).await;
    }
}

/// A TCP "name server" that accepts one connection, reads it and never answers; reports
/// when the client closes the connection.
pub(crate) struct TcpBlackHole {
    pub(crate) addr: SocketAddr,
    /// Fires when a client connected.
    pub(crate) connected: oneshot::Receiver<()>,
    /// Fires when that client closed its end.
    pub(crate) closed: oneshot::Receiver<()>,
    task: JoinHandle<()>,
}

impl TcpBlackHole {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (connected_tx, connected) = oneshot::channel();
        let (closed_tx, closed) = oneshot::channel();
        let task = tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let _ = connected_tx.send(());
            let mut buf = [0u8; 1024];
            // Read until EOF or an error: either way the client let go.
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            let _ = closed_tx.send(());
            // Keep the listener open, so the client has no reason to reconnect elsewhere.
            std::future::pending::<()>().await;
        });
        Self {
            addr,
            connected,
            closed,
            task,
        }
    }
}

impl Drop for TcpBlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP "name server" that answers every query with a length-prefixed message that is
/// no DNS message.
pub(crate) struct TcpGarbage {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TcpGarbage {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    loop {
                        let Ok(len) = stream.read_u16().await else {
                            return;
                        };
                        let mut query = vec![0u8; usize::from(len)];
                        if stream.read_exact(&mut query).await.is_err() {
                            return;
                        }
                        // The query's id, a header claiming records, then noise.
                        let mut reply = query.get(..2).unwrap_or(&[0, 0]).to_vec();
                        reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 9, 0, 0, 0, 0]);
                        reply.extend_from_slice(b"\x3fnot a name\xff\xff");
                        let framed = [
                            &u16::try_from(reply.len()).unwrap().to_be_bytes()[..],
                            &reply,
                        ]
                        .concat();
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for TcpGarbage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits (at most [`WAIT`]) for an event that satisfies `wanted`; returns it.
pub(crate) async fn until(
    sub: &mut Subscription,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    let mut seen = Vec::new();
    let result = tokio::time::timeout(WAIT, async {
        loop {
            match sub.next().await {
                Some(event) if wanted(&event) => return event,
                Some(event) => seen.push(event),
                None => panic!("the instancer ended while waiting for {what}"),
            }
        }
    })
    .await;
    result.unwrap_or_else(|_elapsed| {
        let last: Vec<_> = seen.iter().rev().take(3).collect();
        panic!("gave up after {WAIT:?} waiting for {what}; the last events: {last:?}")
    })
}

/// Waits for the set to be exactly `ids`.
pub(crate) async fn until_set(sub: &mut Subscription, ids: &[&str]) -> Event {
    until(sub, &format!("the set {ids:?}"), |e| {
        e.instances()
            .is_some_and(|set| set.ids().eq(ids.iter().copied()))
    })
    .await
}

/// Waits for an error event whose message contains `text`.
pub(crate) async fn until_error(sub: &mut Subscription, text: &str) -> sd_core::Error {
    let event = until(sub, &format!("an error with {text:?}"), |e| {
        e.error().is_some_and(|e| e.to_string().contains(text))
    })
    .await;
    event.error().cloned().unwrap()
}

/// The ids of an event's set (panics on an error event).
pub(crate) fn ids(event: &Event) -> Vec<String> {
    event
        .instances()
        .unwrap_or_else(|| panic!("expected instances, got {event:?}"))
        .ids()
        .map(str::to_owned)
        .collect()
}
