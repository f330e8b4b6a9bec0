//! `Instancer`: the instances behind one SRV name, kept current by a poller that belongs
//! to the instancer.

use std::sync::Arc;

use sd_core::{Event, InstanceCache, OwnedTask, Stopping, Subscription};

use crate::config::InstancerBuilder;
use crate::lookup::SrvLookup;
use crate::schedule::Schedule;
use crate::stats::{Counters, InstancerStats};
use crate::{Error, records::Answer};

/// Follows the SRV records of one name and publishes them as [`sd_core::Event`]s: the
/// whole set of `target:port` instances (the target without its trailing dot, in lower
/// case), sorted, each carrying its SRV priority and weight as metadata
/// ([`PRIORITY`](crate::PRIORITY), [`WEIGHT`](crate::WEIGHT)).
///
/// # Polling
///
/// The poller looks the name up at once, then again after the
/// [interval](InstancerBuilder::interval), or sooner when the answer's TTL runs out sooner,
/// but never sooner than the [TTL floor](InstancerBuilder::ttl_floor). Every lookup
/// reaches a name server (the resolver's cache is off; the TTL is honoured here), within
/// one [deadline](InstancerBuilder::lookup_timeout).
///
/// # Failures
///
/// A lookup that times out, gets `SERVFAIL`, `REFUSED` or an unreadable answer, or cannot
/// connect publishes an error event: endpointers keep their last good endpoints (go-kit's
/// semantics). Failed lookups are retried sooner than the interval, backing off from the
/// TTL floor up to the interval, and the next good answer publishes the set again.
/// Records that cannot be called (port 0, the root target `.`, a target that is no host
/// name) are skipped with a warning; when no record is usable, that is an error event,
/// never an empty set. An authoritative "no SRV records" (`NXDOMAIN`, or none at the name)
/// is an empty set unless [`no_records_is_error`](InstancerBuilder::no_records_is_error).
///
/// # Lifetime
///
/// Clones share one poller. It stops, and any lookup in flight is cancelled, when the
/// last clone and the last subscription are dropped: a subscription (an endpointer's)
/// keeps it running.
///
/// ```no_run
/// use sd_core::{Event, Instancer as _};
///
/// # async fn demo() -> Result<(), sd_dnssrv::Error> {
/// let instancer = sd_dnssrv::Instancer::new("_http._tcp.orders.example.com")?;
/// let mut events = instancer.subscribe();
/// while let Some(event) = events.next().await {
///     match event {
///         Event::Instances(set) => println!("{:?}", set.ids().collect::<Vec<_>>()),
///         Event::Error(error) => eprintln!("lookup failed: {error}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Instancer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    cache: Arc<InstanceCache>,
    counters: Arc<Counters>,
    /// Aborts the poller when the last handle or subscription goes.
    _poller: OwnedTask,
}

impl Instancer {
    /// Follows `name` (`_service._proto.domain`) through the system's name servers with
    /// the default options. Must be called within a Tokio runtime.
    pub fn new(name: &str) -> Result<Self, Error> {
        Self::builder(name).build()
    }

    /// Options: name servers, transport, interval, TTL floor, deadline.
    pub fn builder(name: impl Into<String>) -> InstancerBuilder {
        InstancerBuilder::new(name)
    }

    /// The SRV name followed, as given.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The latest state: `None` until the first lookup has finished.
    pub fn state(&self) -> Option<Event> {
        self.inner.cache.state()
    }

    /// What the poller has done: lookups, failures, the last success (for health checks).
    pub fn stats(&self) -> InstancerStats {
        self.inner.counters.snapshot()
    }

    pub(crate) fn start(lookup: SrvLookup, schedule: Schedule) -> Result<Self, Error> {
        let name = lookup.name().to_owned();
        let cache = Arc::new(InstanceCache::new());
        let counters = Arc::new(Counters::default());
        let poller = {
            let poller = Poller {
                lookup,
                schedule,
                cache: Arc::clone(&cache),
                counters: Arc::clone(&counters),
            };
            OwnedTask::spawn(move |stopping| poller.run(stopping))
                .map_err(|_| Error::no_runtime())?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                cache,
                counters,
                _poller: poller,
            }),
        })
    }
}

impl sd_core::Instancer for Instancer {
    /// The current state at once (once there is one), then every change. The
    /// subscription keeps the poller running.
    fn subscribe(&self) -> Subscription {
        self.inner.cache.subscribe().keep_alive(self.inner.clone())
    }
}

/// What the poller task owns.
struct Poller {
    lookup: SrvLookup,
    schedule: Schedule,
    cache: Arc<InstanceCache>,
    counters: Arc<Counters>,
}

impl Poller {
    /// Looks up, publishes, waits; until stopped or aborted.
    async fn run(self, mut stopping: Stopping) {
        let name = self.lookup.name().to_owned();
        let mut failures: u32 = 0;
        loop {
            let outcome = tokio::select! {
                biased;
                () = &mut stopping => return,
                outcome = self.lookup.lookup() => outcome,
            };
            let wait = match outcome {
                Ok(Answer { instances, ttl }) => {
                    failures = 0;
                    self.counters.success();
                    let count = instances.len();
                    if self.cache.update(instances) {
                        tracing::info!(srv = %name, instances = count, "SRV instances changed");
                    }
                    let wait = self.schedule.after_answer(ttl);
                    tracing::debug!(srv = %name, instances = count, ?ttl, next_poll = ?wait, "SRV lookup done");
                    wait
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.counters.failure();
                    let wait = self.schedule.after_failure(failures);
                    let event = Event::Error(sd_core::Error::discovery(error.clone()));
                    if self.cache.update(event) {
                        tracing::warn!(srv = %name, %error, next_poll = ?wait, "SRV lookup failed; endpointers keep the last good instances");
                    } else {
                        tracing::debug!(srv = %name, %error, failures, next_poll = ?wait, "SRV lookup failed again");
                    }
                    wait
                }
            };
            tokio::select! {
                biased;
                () = &mut stopping => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
