//! `Instancer`: the instances of an app or VIP, kept current by one poller per connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sd_core::{Event, InstanceCache, Instances, OwnedTask, Subscription};
use tokio::sync::Notify;

use crate::registrar::now_millis;
use crate::{Applications, Connection, Error, InstanceInfo, Status};

/// Follows the instances of one app (or VIP, or secure VIP) and publishes them as
/// [`sd_core::Event`]s: `"ip:port"` strings carrying zone, secure port, home page URL and
/// metadata as attributes.
///
/// Only UP instances by default. An app with no instances is an empty set, not an error.
/// A failed poll publishes an error event and keeps the local registry copy, so
/// endpointers keep their last good endpoints.
///
/// All instancers of one [`Connection`] share one poller: it fetches the full registry
/// once, then only deltas, checking the reconcile hash code after each and fetching in
/// full again on a mismatch, when the server serves no deltas (403 or 404), and every
/// [resync interval](crate::ConnectionBuilder::resync_interval) in any case, which bounds
/// how long a stale delta from a real server can hide an instance. The poller runs while
/// any of its instancers, or any subscription to one (an endpointer's), lives.
///
/// ```no_run
/// use sd_eureka::{Connection, Instancer};
///
/// # async fn demo() -> Result<(), sd_eureka::Error> {
/// let connection = Connection::new(["http://localhost:8761/eureka/"])?;
/// let instancer = Instancer::new(&connection, "hello")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Instancer {
    target: Arc<Target>,
    poller: Arc<PollerHandle>,
}

#[derive(Debug)]
struct Target {
    selector: Selector,
    all_statuses: bool,
    cache: InstanceCache,
}

#[derive(Debug, Clone)]
enum Selector {
    App(String),
    Vip(String),
    SecureVip(String),
}

/// Options for an [`Instancer`].
#[derive(Debug)]
#[must_use]
pub struct InstancerBuilder<'a> {
    connection: &'a Connection,
    selector: Selector,
    all_statuses: bool,
}

/// A snapshot of the poller behind an instancer, for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancerStats {
    /// When a poll last succeeded.
    pub last_success: Option<SystemTime>,
    /// Polls that failed.
    pub failures: u64,
    /// Full fetches tried: the first, after a hash mismatch or when the server serves no
    /// deltas, and one every resync interval.
    pub full_fetches: u64,
    /// Delta fetches.
    pub delta_fetches: u64,
    /// Deltas after which the hash code did not match.
    pub hash_mismatches: u64,
}

impl InstancerStats {
    /// How old the published instance set is (time since the last successful poll).
    pub fn age(&self) -> Option<Duration> {
        self.last_success
            .and_then(|t| SystemTime::now().duration_since(t).ok())
    }
}

impl Instancer {
    /// The UP instances of `app`. Must be called within a Tokio runtime (the connection's
    /// poller is started on first use).
    pub fn new(connection: &Connection, app: &str) -> Result<Self, Error> {
        Self::builder(connection).app(app).build()
    }

    /// Options: app or VIP, statuses.
    pub fn builder(connection: &Connection) -> InstancerBuilder<'_> {
        InstancerBuilder {
            connection,
            selector: Selector::App(String::new()),
            all_statuses: false,
        }
    }

    /// Counters of the shared poller.
    pub fn stats(&self) -> InstancerStats {
        self.poller.shared.stats.snapshot()
    }
}

impl sd_core::Instancer for Instancer {
    /// The subscription keeps this instancer (and so the poller) alive: an endpointer
    /// built from a temporary instancer keeps following the registry.
    fn subscribe(&self) -> Subscription {
        self.target
            .cache
            .subscribe()
            .keep_alive(Arc::new(self.clone()))
    }
}

impl InstancerBuilder<'_> {
    /// Follow an app (case-insensitive).
    pub fn app(mut self, app: &str) -> Self {
        self.selector = Selector::App(app.to_ascii_uppercase());
        self
    }

    /// Follow a VIP address (case-sensitive).
    pub fn vip(mut self, vip: &str) -> Self {
        self.selector = Selector::Vip(vip.to_owned());
        self
    }

    /// Follow a secure VIP address (case-sensitive).
    pub fn secure_vip(mut self, vip: &str) -> Self {
        self.selector = Selector::SecureVip(vip.to_owned());
        self
    }

    /// Publish instances of every status, not only UP ones.
    pub fn all_statuses(mut self) -> Self {
        self.all_statuses = true;
        self
    }

    /// Starts following. Must be called within a Tokio runtime.
    pub fn build(self) -> Result<Instancer, Error> {
        let poller = self.connection.poller()?;
        let target = Arc::new(Target {
            selector: self.selector,
            all_statuses: self.all_statuses,
            cache: InstanceCache::new(),
        });
        // A copy the poller already holds gives the first state at once.
        if let Some(registry) = poller.shared.lock_registry().as_ref() {
            target.publish(registry);
        }
        poller
            .shared
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&target));
        poller.shared.wake.notify_one();
        Ok(Instancer { target, poller })
    }
}

impl Target {
    fn publish(&self, registry: &Applications) {
        let wanted = |i: &&InstanceInfo| self.all_statuses || i.status == Status::Up;
        let chosen: Vec<&InstanceInfo> = match &self.selector {
            Selector::App(app) => registry
                .application(app)
                .map(|a| a.instances.iter().filter(wanted).collect())
                .unwrap_or_default(),
            Selector::Vip(vip) => registry
                .instances()
                .map(|(_, i)| i)
                .filter(|i| lists(i.vip_address.as_deref(), vip))
                .filter(wanted)
                .collect(),
            Selector::SecureVip(vip) => registry
                .instances()
                .map(|(_, i)| i)
                .filter(|i| lists(i.secure_vip_address.as_deref(), vip))
                .filter(wanted)
                .collect(),
        };
        self.cache
            .update(Instances::new(chosen.into_iter().map(to_instance)));
    }
}

fn lists(vips: Option<&str>, vip: &str) -> bool {
    vips.is_some_and(|v| v.split(',').any(|one| one.trim() == vip))
}

/// `"ip:port"`, with what balancers and factories may need as attributes.
pub(crate) fn to_instance(i: &InstanceInfo) -> sd_core::Instance {
    let mut b = sd_core::Instance::builder(i.address());
    if let Some(zone) = i
        .data_center_info
        .availability_zone()
        .or_else(|| i.metadata.get("zone").map(String::as_str))
    {
        b = b.zone(zone);
    }
    if i.secure_port.enabled {
        b = b.secure_port(i.secure_port.port);
    }
    if let Some(url) = &i.home_page_url {
        b = b.url(url.clone());
    }
    for (k, v) in &i.metadata {
        b = b.metadata(k.clone(), v.clone());
    }
    b.build()
}

/// Owns the poller task of one connection; dropping this aborts the task, cancelling the
/// poll in flight.
#[derive(Debug)]
pub(crate) struct PollerHandle {
    shared: Arc<PollerShared>,
    _task: OwnedTask,
}

#[derive(Debug)]
struct PollerShared {
    connection: Connection,
    interval: Duration,
    targets: Mutex<Vec<Weak<Target>>>,
    /// The local copy of the registry, kept current with deltas.
    registry: Mutex<Option<Applications>>,
    /// How often to fetch in full even though deltas reconcile.
    resync: Duration,
    /// When the last full fetch succeeded.
    last_full: Mutex<Option<tokio::time::Instant>>,
    wake: Notify,
    stats: PollCounters,
}

#[derive(Debug, Default)]
struct PollCounters {
    last_success_ms: AtomicU64,
    failures: AtomicU64,
    full_fetches: AtomicU64,
    delta_fetches: AtomicU64,
    hash_mismatches: AtomicU64,
}

impl PollCounters {
    fn snapshot(&self) -> InstancerStats {
        let last = self.last_success_ms.load(Ordering::Relaxed);
        InstancerStats {
            last_success: (last > 0).then(|| UNIX_EPOCH + Duration::from_millis(last)),
            failures: self.failures.load(Ordering::Relaxed),
            full_fetches: self.full_fetches.load(Ordering::Relaxed),
            delta_fetches: self.delta_fetches.load(Ordering::Relaxed),
            hash_mismatches: self.hash_mismatches.load(Ordering::Relaxed),
        }
    }
}

impl PollerShared {
    fn lock_registry(&self) -> std::sync::MutexGuard<'_, Option<Applications>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn targets(&self) -> Vec<Arc<Target>> {
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        targets.retain(|t| t.strong_count() > 0);
        targets.iter().filter_map(Weak::upgrade).collect()
    }

    /// One poll: a delta when there is a local copy fetched in full within the resync
    /// interval (full fetch on a 403, a 404 or a hash mismatch), else a full fetch; then
    /// every target publishes.
    async fn poll(&self) {
        match self.refresh().await {
            Ok(()) => {
                self.stats
                    .last_success_ms
                    .store(u64::try_from(now_millis()).unwrap_or(0), Ordering::Relaxed);
                let registry = self.lock_registry();
                if let Some(registry) = registry.as_ref() {
                    for target in self.targets() {
                        target.publish(registry);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "eureka registry poll failed; keeping the last good instances");
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let event = Event::Error(sd_core::Error::discovery(error));
                for target in self.targets() {
                    target.cache.update(event.clone());
                }
            }
        }
    }

    async fn refresh(&self) -> Result<(), Error> {
        let has_copy = self.lock_registry().is_some();
        let resync_due = self
            .last_full
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|last| last.elapsed() >= self.resync);
        if has_copy && resync_due {
            match self.fetch_full().await {
                Ok(()) => return Ok(()),
                // The net is for stale deltas; a failed resync must not cost the deltas
                // that still work. It is tried again at the next poll.
                Err(error) => {
                    tracing::warn!(%error, "periodic full fetch failed; following deltas meanwhile");
                }
            }
        }
        if has_copy {
            match self.connection.delta().await {
                Ok(delta) => {
                    self.stats.delta_fetches.fetch_add(1, Ordering::Relaxed);
                    let consistent = {
                        let mut registry = self.lock_registry();
                        registry.as_mut().is_some_and(|copy| {
                            copy.apply_delta(&delta);
                            copy.is_consistent()
                        })
                    };
                    if consistent {
                        return Ok(());
                    }
                    self.stats.hash_mismatches.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("reconcile hash code mismatch after a delta; fetching in full");
                }
                Err(error)
                    if matches!(
                        error.status(),
                        Some(http::StatusCode::FORBIDDEN | http::StatusCode::NOT_FOUND)
                    ) =>
                {
                    tracing::debug!(%error, "no deltas from the server; fetching in full");
                }
                Err(error) => return Err(error),
            }
        }
        self.fetch_full().await
    }

    /// `GET apps` into the local copy.
    async fn fetch_full(&self) -> Result<(), Error> {
        self.stats.full_fetches.fetch_add(1, Ordering::Relaxed);
        let full = self.connection.applications().await?;
        *self.lock_registry() = Some(full);
        *self
            .last_full
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(tokio::time::Instant::now());
        Ok(())
    }
}

/// Polls for as long as it runs; the last instancer's going aborts it, a poll in flight
/// included (its requests cancelled).
async fn run(shared: Arc<PollerShared>) {
    loop {
        shared.poll().await;
        tokio::select! {
            () = tokio::time::sleep(shared.interval) => {}
            () = shared.wake.notified() => {}
        }
    }
}

impl Connection {
    /// The connection's poller, started on first use.
    pub(crate) fn poller(&self) -> Result<Arc<PollerHandle>, Error> {
        let mut slot = self.poller_slot();
        if let Some(poller) = slot.upgrade() {
            return Ok(poller);
        }
        let shared = Arc::new(PollerShared {
            connection: self.clone(),
            interval: self.poll_interval(),
            targets: Mutex::new(Vec::new()),
            registry: Mutex::new(None),
            resync: self.resync_interval(),
            last_full: Mutex::new(None),
            wake: Notify::new(),
            stats: PollCounters::default(),
        });
        let task = OwnedTask::spawn(|_| run(Arc::clone(&shared)))
            .map_err(|_| Error::new(crate::error::ErrorKind::NoRuntime("an Instancer")))?;
        let poller = Arc::new(PollerHandle {
            shared,
            _task: task,
        });
        *slot = Arc::downgrade(&poller);
        Ok(poller)
    }
}
