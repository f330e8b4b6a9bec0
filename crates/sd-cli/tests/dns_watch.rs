//! `sd dns watch`, run as a real process against an authoritative DNS server (hickory's,
//! started in the test process on a loopback port): the lines it prints as the zone
//! changes, and its exit on SIGTERM.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;

use hickory_server::ServerFuture;
use hickory_server::authority::{AuthorityObject, Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryAuthority;
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;

mod process;
use process::Sd;

const SRV_NAME: &str = "_http._tcp.orders.sd.test.";

/// A zone `sd.test.` served over UDP by a runtime of its own.
struct Zone {
    runtime: Runtime,
    authority: Arc<InMemoryAuthority>,
    addr: SocketAddr,
    _server: ServerFuture<Catalog>,
}

impl Zone {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let origin = Name::from_str("sd.test.").expect("a name");
        let soa = Record::from_rdata(
            origin.clone(),
            60,
            RData::SOA(SOA::new(
                Name::from_str("ns.sd.test.").expect("a name"),
                Name::from_str("admin.sd.test.").expect("a name"),
                1,
                60,
                60,
                60,
                1,
            )),
        );
        let mut soa_set = RecordSet::new(origin.clone(), RecordType::SOA, 1);
        soa_set.insert(soa, 1);
        let records = BTreeMap::from([(
            RrKey::new(LowerName::new(&origin), RecordType::SOA),
            soa_set,
        )]);
        let authority = Arc::new(
            InMemoryAuthority::new(origin.clone(), records, ZoneType::Primary, false)
                .expect("a zone"),
        );
        let mut catalog = Catalog::new();
        let object: Arc<dyn AuthorityObject> = authority.clone();
        catalog.upsert(LowerName::new(&origin), vec![object]);
        let (server, addr) = runtime.block_on(async {
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind");
            let addr = socket.local_addr().expect("an address");
            let mut server = ServerFuture::new(catalog);
            server.register_socket(socket);
            (server, addr)
        });
        Self {
            runtime,
            authority,
            addr,
            _server: server,
        }
    }

    /// Replaces the SRV records of [`SRV_NAME`]: (priority, weight, port, target).
    fn set(&self, records: &[(u16, u16, u16, &str)]) {
        let owner = Name::from_str(SRV_NAME).expect("a name");
        let mut set = RecordSet::new(owner.clone(), RecordType::SRV, 2);
        for &(priority, weight, port, target) in records {
            let target = Name::from_str(target).expect("a target");
            let rdata = RData::SRV(SRV::new(priority, weight, port, target));
            set.insert(Record::from_rdata(owner.clone(), 3600, rdata), 2);
        }
        let key = RrKey::new(LowerName::new(&owner), RecordType::SRV);
        self.runtime.block_on(async {
            self.authority
                .records_mut()
                .await
                .insert(key, Arc::new(set));
        });
    }
}

#[test]
fn watch_prints_each_change_of_the_srv_records_and_stops_on_sigterm() {
    let zone = Zone::start();
    zone.set(&[(10, 5, 8080, "b.sd.test."), (20, 1, 8081, "a.sd.test.")]);
    let nameserver = zone.addr.to_string();
    let mut watch = Sd::spawn(&[
        "dns",
        "watch",
        SRV_NAME,
        "--nameserver",
        &nameserver,
        "--interval",
        "0.1",
    ]);
    assert_eq!(watch.entry(), "a.sd.test:8081=20/1 b.sd.test:8080=10/5");

    zone.set(&[(10, 5, 8080, "b.sd.test.")]);
    assert_eq!(watch.entry(), "b.sd.test:8080=10/5");

    let status = watch.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn a_bad_name_is_one_error_line_and_status_1() {
    let output = Command::new(env!("CARGO_BIN_EXE_sd"))
        .args(["dns", "watch", "a..b", "--nameserver", "127.0.0.1:9"])
        .output()
        .expect("run sd");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot follow a..b: invalid SRV name"),
        "{stderr}"
    );
}
