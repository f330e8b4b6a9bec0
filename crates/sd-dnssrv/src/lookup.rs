//! One SRV lookup: asks the name servers afresh (hickory's cache is off), within a
//! deadline, and says what the answer means for the instance set.

use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};
use sd_core::Instances;

use crate::config::NameServers;
use crate::records::{Answer, SrvRecord, to_answer};
use crate::{Error, Transport};

/// hickory's own timeout for one try is half the deadline (so a lost UDP datagram gets a
/// second try in time), but no more than this: hickory adds it to the clock.
const MAX_TRY: Duration = Duration::from_secs(24 * 60 * 60);

/// What the poller needs to look one name up, again and again.
#[derive(Debug)]
pub(crate) struct SrvLookup {
    resolver: TokioResolver,
    name: Name,
    /// The name as the user gave it, for messages.
    shown: String,
    deadline: Duration,
    no_records_is_error: bool,
}

/// The options of [`SrvLookup::new`], checked by the builder.
#[derive(Debug)]
pub(crate) struct LookupOptions<'a> {
    pub(crate) name: &'a str,
    pub(crate) name_servers: &'a NameServers,
    pub(crate) transport: Transport,
    pub(crate) deadline: Duration,
    pub(crate) no_records_is_error: bool,
}

impl SrvLookup {
    pub(crate) fn new(options: &LookupOptions<'_>) -> Result<Self, Error> {
        let name = parse_name(options.name)?;
        let (config, mut opts) = match options.name_servers {
            NameServers::System => {
                let (config, opts) = hickory_resolver::system_conf::read_system_conf()
                    .map_err(Error::system_config)?;
                (only(&config, options.transport), opts)
            }
            NameServers::Explicit(addrs) => {
                let mut config = ResolverConfig::new();
                for &addr in addrs {
                    if options.transport == Transport::Udp {
                        config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
                    }
                    config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
                }
                (config, ResolverOpts::default())
            }
        };
        if config.name_servers().is_empty() {
            return Err(Error::config("no name server to ask"));
        }
        // Every poll must reach a name server: no answer may come from hickory's cache.
        // (Zero capacity, and zero TTLs so that nothing stored is ever current; the TTL
        // fields of the records read are untouched, and the poller honours them.)
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.positive_min_ttl = None;
        opts.negative_min_ttl = None;
        opts.use_hosts_file = ResolveHosts::Never;
        // EDNS0, as modern stub resolvers do: UDP answers up to 1232 bytes, and a
        // truncated answer (then asked again over TCP) beyond. Without it hickory reads
        // at most 512 bytes of a datagram, and drops a longer answer from a server that
        // does not truncate.
        opts.edns0 = true;
        opts.timeout = (options.deadline / 2).min(MAX_TRY);
        opts.attempts = 2;
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build();
        Ok(Self {
            resolver,
            name,
            shown: options.name.to_owned(),
            deadline: options.deadline,
            no_records_is_error: options.no_records_is_error,
        })
    }

    /// The name as given to the builder.
    pub(crate) fn name(&self) -> &str {
        &self.shown
    }

    /// Asks for the SRV records, within the deadline.
    pub(crate) async fn lookup(&self) -> Result<Answer, Error> {
        let query = self.resolver.lookup(self.name.clone(), RecordType::SRV);
        match tokio::time::timeout(self.deadline, query).await {
            Err(_elapsed) => Err(Error::timeout(&self.shown, self.deadline)),
            Ok(Ok(lookup)) => {
                let records: Vec<SrvRecord> = lookup
                    .record_iter()
                    .filter_map(|record| match record.data() {
                        RData::SRV(srv) => Some(SrvRecord {
                            priority: srv.priority(),
                            weight: srv.weight(),
                            port: srv.port(),
                            target: srv.target().to_ascii(),
                            ttl: record.ttl(),
                        }),
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    // Only other records (a CNAME chain leading nowhere): no SRV records.
                    self.none(ResponseCode::NoError, None)
                } else {
                    to_answer(&self.shown, records)
                }
            }
            Ok(Err(error)) => self.failed(error),
        }
    }

    /// What a lookup that hickory failed means.
    fn failed(&self, error: ResolveError) -> Result<Answer, Error> {
        let Some(proto) = error.proto() else {
            return Err(Error::lookup(&self.shown, error));
        };
        match proto.kind() {
            ProtoErrorKind::NoRecordsFound {
                response_code: code @ (ResponseCode::NXDomain | ResponseCode::NoError),
                soa,
                ..
            } => {
                // RFC 2308: a negative answer may be trusted for the smaller of the SOA
                // record's TTL and its MINIMUM field.
                let ttl = soa
                    .as_ref()
                    .map(|soa| Duration::from_secs(u64::from(soa.ttl().min(soa.data().minimum()))));
                self.none(*code, ttl)
            }
            ProtoErrorKind::NoRecordsFound { response_code, .. } => {
                Err(Error::server(&self.shown, &mnemonic(*response_code)))
            }
            ProtoErrorKind::RequestRefused => Err(Error::server(&self.shown, "REFUSED")),
            ProtoErrorKind::Timeout => Err(Error::timeout(&self.shown, self.deadline)),
            _ => Err(Error::lookup(&self.shown, error)),
        }
    }

    /// The name server says there is no SRV record: an empty set, or an error when so
    /// configured.
    fn none(&self, code: ResponseCode, ttl: Option<Duration>) -> Result<Answer, Error> {
        if self.no_records_is_error {
            Err(Error::no_records(&self.shown, &mnemonic(code)))
        } else {
            Ok(Answer {
                instances: Instances::empty(),
                ttl,
            })
        }
    }
}

/// The SRV name as a DNS name; neither empty nor the root.
pub(crate) fn parse_name(name: &str) -> Result<Name, Error> {
    if name.trim_end_matches('.').is_empty() {
        return Err(Error::invalid_name(name, "an SRV name cannot be empty"));
    }
    Name::from_utf8(name).map_err(|e| Error::invalid_name(name, e.to_string()))
}

/// The code as `dig` shows it (`SERVFAIL`, `REFUSED`...).
fn mnemonic(code: ResponseCode) -> String {
    let known = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        other => return format!("response code {}", u16::from(other)),
    };
    known.to_owned()
}

/// `config` with only the name servers `transport` allows.
fn only(config: &ResolverConfig, transport: Transport) -> ResolverConfig {
    let servers: Vec<NameServerConfig> = config
        .name_servers()
        .iter()
        .filter(|server| match transport {
            Transport::Udp => matches!(server.protocol, Protocol::Udp | Protocol::Tcp),
            Transport::Tcp => server.protocol == Protocol::Tcp,
        })
        .cloned()
        .collect();
    ResolverConfig::from_parts(config.domain().cloned(), config.search().to_vec(), servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_dns_names() {
        assert!(parse_name("_http._tcp.example.com").is_ok());
        assert!(parse_name("_http._tcp.example.com.").is_ok());
        assert!(parse_name("").unwrap_err().is_config());
        assert!(parse_name(".").unwrap_err().is_config());
        let long = "a".repeat(64);
        assert!(parse_name(&long).unwrap_err().is_config());
        assert!(parse_name("a..b").unwrap_err().is_config());
    }
}
