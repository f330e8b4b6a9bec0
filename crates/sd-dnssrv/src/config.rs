//! `InstancerBuilder`: which name to follow, which name servers to ask and how, and the
//! poller's timing.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;
use crate::instancer::Instancer;
use crate::lookup::{LookupOptions, SrvLookup};
use crate::schedule::Schedule;

/// How often to poll when the answer's TTL does not ask for sooner: 30 s, as go-kit's
/// examples and sd-eureka do.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The least wait between two polls that a short TTL can bring about: 1 s.
pub const DEFAULT_TTL_FLOOR: Duration = Duration::from_secs(1);

/// How long one lookup may take, all tries and name servers together: 5 s.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How queries travel to the name servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// UDP with EDNS0 (answers up to 1232 bytes), and TCP for an answer too large for a
    /// datagram (truncated): what stub resolvers do.
    #[default]
    Udp,
    /// TCP only (for name servers behind a firewall that drops DNS over UDP, or to get
    /// large answers without a first truncated one).
    Tcp,
}

/// Where the name servers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameServers {
    /// The system's: `/etc/resolv.conf` (the registry on Windows), read at build time.
    System,
    /// The ones given, in order of preference.
    Explicit(Vec<SocketAddr>),
}

/// Options for an [`Instancer`]; see [`Instancer::builder`].
///
/// Every duration must be more than zero ([`build`](Self::build) says which is not), and
/// any larger value is accepted: an interval of `Duration::MAX` polls only when TTLs run
/// out, a lookup timeout of `Duration::MAX` is no deadline.
#[derive(Debug, Clone)]
#[must_use]
pub struct InstancerBuilder {
    name: String,
    name_servers: NameServers,
    transport: Transport,
    interval: Duration,
    ttl_floor: Duration,
    lookup_timeout: Duration,
    no_records_is_error: bool,
}

impl InstancerBuilder {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            name_servers: NameServers::System,
            transport: Transport::default(),
            interval: DEFAULT_INTERVAL,
            ttl_floor: DEFAULT_TTL_FLOOR,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
            no_records_is_error: false,
        }
    }

    /// Asks this name server (`ip:port`) instead of the system's; call again to add more,
    /// in order of preference.
    pub fn name_server(mut self, addr: SocketAddr) -> Self {
        match &mut self.name_servers {
            NameServers::Explicit(addrs) => addrs.push(addr),
            NameServers::System => self.name_servers = NameServers::Explicit(vec![addr]),
        }
        self
    }

    /// Asks these name servers instead of the system's (none: the system's again).
    pub fn name_servers(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
        self.name_servers = if addrs.is_empty() {
            NameServers::System
        } else {
            NameServers::Explicit(addrs)
        };
        self
    }

    /// UDP with TCP for truncated answers (the default), or TCP only.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The longest wait between two polls ([`DEFAULT_INTERVAL`]).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The shortest wait between two polls that a short TTL (even 0) can bring about
    /// ([`DEFAULT_TTL_FLOOR`]). An interval shorter than the floor still rules.
    pub fn ttl_floor(mut self, floor: Duration) -> Self {
        self.ttl_floor = floor;
        self
    }

    /// The deadline of one lookup, every try and name server included
    /// ([`DEFAULT_LOOKUP_TIMEOUT`]).
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// Publish an error event, not an empty set, when the name server says the name has
    /// no SRV records (`NXDOMAIN`, or `NOERROR` without SRV records): go-kit's behaviour,
    /// under which endpointers keep their last endpoints through such answers.
    ///
    /// Off by default: an authoritative "there are none" is the state of the service (a
    /// service scaled to zero answers this way in Kubernetes and Consul), so endpoints of
    /// instances that are gone are closed, as sd-eureka does for an app without
    /// instances. Turn it on where negative answers are known to be transient.
    pub fn no_records_is_error(mut self, yes: bool) -> Self {
        self.no_records_is_error = yes;
        self
    }

    /// Starts following the name: reads the system's DNS configuration (unless name
    /// servers were given), and spawns the poller, which looks the name up at once.
    ///
    /// Fails, without panicking, on a name that is no DNS name, a zero duration, an
    /// unreadable system configuration, or outside a Tokio runtime.
    pub fn build(self) -> Result<Instancer, Error> {
        if self.interval.is_zero() {
            return Err(Error::config("the poll interval must be more than zero"));
        }
        if self.ttl_floor.is_zero() {
            return Err(Error::config(
                "the TTL floor must be more than zero (a TTL of 0 would make the poller spin)",
            ));
        }
        if self.lookup_timeout.is_zero() {
            return Err(Error::config("the lookup timeout must be more than zero"));
        }
        // Check the runtime first: the resolver needs it for nothing, but the poller does.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::no_runtime());
        }
        let lookup = SrvLookup::new(&LookupOptions {
            name: &self.name,
            name_servers: &self.name_servers,
            transport: self.transport,
            deadline: self.lookup_timeout,
            no_records_is_error: self.no_records_is_error,
        })?;
        Instancer::start(lookup, Schedule::new(self.interval, self.ttl_floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_servers_accumulate_and_an_empty_list_means_the_system() {
        let a: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let b: SocketAddr = "[::1]:5353".parse().unwrap();
        let builder = InstancerBuilder::new("n").name_server(a).name_server(b);
        assert_eq!(builder.name_servers, NameServers::Explicit(vec![a, b]));
        let builder = builder.name_servers([]);
        assert_eq!(builder.name_servers, NameServers::System);
    }

    #[tokio::test]
    async fn zero_durations_are_refused_and_max_is_accepted() {
        let base =
            || InstancerBuilder::new("_x._tcp.example.").name_server(([127, 0, 0, 1], 9).into());
        for builder in [
            base().interval(Duration::ZERO),
            base().ttl_floor(Duration::ZERO),
            base().lookup_timeout(Duration::ZERO),
        ] {
            assert!(builder.build().unwrap_err().is_config());
        }
        let instancer = base()
            .interval(Duration::MAX)
            .ttl_floor(Duration::MAX)
            .lookup_timeout(Duration::MAX)
            .build();
        assert!(instancer.is_ok());
    }

    #[test]
    fn outside_a_runtime_building_is_an_error() {
        let error = InstancerBuilder::new("_x._tcp.example.")
            .name_server(([127, 0, 0, 1], 9).into())
            .build()
            .unwrap_err();
        assert!(error.is_no_runtime());
    }

    #[tokio::test]
    async fn a_bad_name_is_a_config_error() {
        let error = InstancerBuilder::new("")
            .name_server(([127, 0, 0, 1], 9).into())
            .build()
            .unwrap_err();
        assert!(error.is_config());
    }
}
