//! `Registrar`: keeps one instance registered for as long as the service lives.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sd_core::{Backoff, OwnedTask, Stopping};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::ErrorKind;
use crate::{Connection, Error, InstanceInfo, Metadata, Status};

/// Registers an instance with Eureka and keeps it registered: a heartbeat every renewal
/// interval, registering again at once (dated anew, as Netflix's client does) when the
/// server has forgotten the instance (a 404 heartbeat, e.g. after a restart), retrying
/// failures with a short, bounded, jittered backoff so that a fleet does not come back
/// in step after a server restart.
///
/// Local status and metadata changes reach the server by registering again with a newer
/// `lastDirtyTimestamp`, as the Java client does. One task sends every request, so they
/// never overtake each other.
///
/// [`deregister`](Self::deregister) stops that task, cancelling any request in flight,
/// before it sends the `DELETE`: once it returns, the registrar sends nothing more, and
/// a heartbeat that a slow network delivers late only meets a 404. (One case no client
/// can prevent: a registration already written to a proxy that holds it and delivers it
/// after the `DELETE` registers the instance again, until its lease runs out.) It gives up after its limit (5 s by default,
/// [`RegistrarBuilder::deregister_timeout`]), within which it fails over across the
/// service URLs like any operation. Dropping the last clone stops the task too, and sends
/// a bounded, best-effort deregistration.
///
/// ```no_run
/// use sd_eureka::{Connection, InstanceInfo, Registrar};
///
/// # async fn demo() -> Result<(), sd_eureka::Error> {
/// let connection = Connection::new(["http://localhost:8761/eureka/"])?;
/// let registrar = Registrar::new(connection, InstanceInfo::new("hello", "10.0.0.5", "10.0.0.5", 8080));
/// registrar.register().await?;
/// // ... serve ...
/// registrar.deregister().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Registrar {
    handle: Arc<Handle>,
}

/// Options for a [`Registrar`].
#[derive(Debug)]
#[must_use]
pub struct RegistrarBuilder {
    connection: Connection,
    instance: InstanceInfo,
    deregister_timeout: Duration,
    drain: Duration,
    /// The check, its timeout set at `build`.
    health: Option<HealthCheck>,
    health_timeout: Duration,
}

/// The application's health check, boxed.
type HealthFn = Arc<dyn Fn() -> HealthFuture + Send + Sync>;

/// The boxed future a health check returns.
type HealthFuture = Pin<Box<dyn Future<Output = Status> + Send>>;

/// The application's health check and how long one answer may take.
#[derive(Clone)]
struct HealthCheck {
    check: HealthFn,
    timeout: Duration,
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How long a health check may take by default: well within the 30 s renewal interval,
/// so a slow check never costs the lease.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The default drain of [`Registrar::shutdown`]: the 30 s registry fetch interval of
/// Netflix's and Spring's clients, so that each has fetched the `OUT_OF_SERVICE` status once.
const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

/// Held only by `Registrar` clones (the heartbeat task holds `Shared`), so dropping the
/// last clone is seen here.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    connection: Connection,
    instance: Mutex<InstanceInfo>,
    task: Mutex<Option<Heartbeat>>,
    stats: Counters,
    deregister_timeout: Duration,
    drain: Duration,
    health: Option<HealthCheck>,
    /// Whether the instance was put `OUT_OF_SERVICE` on purpose (built so, or through
    /// `set_status`), which the health check must not undo; one the check itself
    /// answered is not held.
    held_out: AtomicBool,
    /// Waits after failures: 1 s doubling, capped by the renewal interval, jittered.
    backoff: Backoff,
}

/// The running heartbeat task and the ways to reach it.
#[derive(Debug)]
struct Heartbeat {
    /// Asks the task to register now (after a local change) and to say how it went.
    changes: mpsc::UnboundedSender<Waiter>,
    task: OwnedTask,
}

/// Told the outcome of the next registration.
type Waiter = oneshot::Sender<Result<(), Error>>;

#[derive(Debug, Default)]
struct Counters {
    heartbeats: AtomicU64,
    failures: AtomicU64,
    reregistrations: AtomicU64,
    last_heartbeat_ms: AtomicU64,
}

/// A snapshot of a registrar's health, for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarStats {
    /// Whether the heartbeat loop is running.
    pub registered: bool,
    /// Successful heartbeats so far.
    pub heartbeats: u64,
    /// Failed heartbeats and registrations so far.
    pub failures: u64,
    /// Registrations after the server forgot the instance.
    pub reregistrations: u64,
    /// When the last heartbeat succeeded.
    pub last_heartbeat: Option<SystemTime>,
}

impl RegistrarBuilder {
    /// How long [`Registrar::deregister`] may take in all (default 5 s): stopping the
    /// heartbeats, then the `DELETE`, failing over across service URLs within it.
    pub fn deregister_timeout(mut self, limit: Duration) -> Self {
        self.deregister_timeout = limit;
        self
    }

    /// How long [`Registrar::shutdown`] keeps the instance registered as `OUT_OF_SERVICE`
    /// before it deregisters, so that clients drop it from their caches (and finish their
    /// calls to it) before it goes away. Default 30 s, the registry fetch interval of
    /// Netflix's and Spring's clients; where servers serve reads from their 30 s response
    /// cache, clients may need up to twice that. Zero deregisters at once.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Asks `check` for the instance's status before each heartbeat (and before the
    /// first registration), as Spring's `eureka.client.healthcheck.enabled` does; a status
    /// other than the registered one is registered at once, by the task that sends every
    /// request. `check` may be an async closure or any closure returning a future:
    ///
    /// ```
    /// # use sd_eureka::{Connection, InstanceInfo, Registrar, Status};
    /// # let connection = Connection::new(["http://127.0.0.1:8761/eureka/"]).unwrap();
    /// let database_ok = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    /// let registrar = Registrar::builder(connection, InstanceInfo::builder("orders", 8080).build())
    ///     .health_check(move || {
    ///         let ok = database_ok.load(std::sync::atomic::Ordering::Relaxed);
    ///         async move { if ok { Status::Up } else { Status::Down } }
    ///     })
    ///     .build();
    /// ```
    ///
    /// A check that panics, or answers nothing within the
    /// [timeout](Self::health_check_timeout), counts as DOWN: the registrar goes on, and
    /// the instance leaves traffic rather than stay in it on an answer nobody gave. An
    /// instance built or set `OUT_OF_SERVICE` ([`Registrar::set_status`],
    /// [`Registrar::shutdown`]) stays so whatever the check says, as Netflix's client
    /// keeps it, until set otherwise; the check replaces any other status, STARTING
    /// included, and an `OUT_OF_SERVICE` it answered itself.
    pub fn health_check<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Status> + Send + 'static,
    {
        self.health = Some(HealthCheck {
            check: Arc::new(move || Box::pin(check()) as HealthFuture),
            timeout: self.health_timeout,
        });
        self
    }

    /// How long one health check may take before it counts as DOWN (default 5 s).
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.health_timeout = timeout;
        self
    }

    /// The registrar; nothing is sent until [`Registrar::register`].
    pub fn build(self) -> Registrar {
        let mut instance = self.instance;
        // Servers compare dirty timestamps on renewal; date a fresh instance now, as the
        // Java client does.
        if instance.last_dirty_timestamp == 0 {
            instance.last_dirty_timestamp = now_millis();
        }
        let held_out = AtomicBool::new(instance.status == Status::OutOfService);
        Registrar {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    connection: self.connection,
                    instance: Mutex::new(instance),
                    task: Mutex::new(None),
                    stats: Counters::default(),
                    deregister_timeout: self.deregister_timeout,
                    drain: self.drain,
                    held_out,
                    health: self.health.map(|health| HealthCheck {
                        timeout: self.health_timeout,
                        ..health
                    }),
                    backoff: Backoff::new(Duration::from_secs(1), Duration::MAX),
                }),
            }),
        }
    }
}

impl Registrar {
    /// A registrar for `instance` with default options; nothing is sent until
    /// [`register`](Self::register).
    pub fn new(connection: Connection, instance: InstanceInfo) -> Self {
        Self::builder(connection, instance).build()
    }

    /// Options for a registrar of `instance`.
    pub fn builder(connection: Connection, instance: InstanceInfo) -> RegistrarBuilder {
        RegistrarBuilder {
            connection,
            instance,
            deregister_timeout: Duration::from_secs(5),
            drain: DEFAULT_DRAIN,
            health: None,
            health_timeout: HEALTH_CHECK_TIMEOUT,
        }
    }

    /// Registers the instance and starts the heartbeats. Registering again while
    /// registered does nothing. If the server cannot be reached the error is returned,
    /// and the registrar keeps trying in the background. Outside a Tokio runtime it
    /// fails with an error ([`Error::is_no_runtime`]).
    pub async fn register(&self) -> Result<(), Error> {
        let (first_tx, first_rx) = oneshot::channel();
        {
            let mut task = self.handle.shared.lock_task();
            if task.as_ref().is_some_and(|h| !h.task.is_finished()) {
                return Ok(());
            }
            let (changes, changes_rx) = mpsc::unbounded_channel();
            let shared = Arc::clone(&self.handle.shared);
            let handle = OwnedTask::spawn(|stop| run(shared, stop, changes_rx, first_tx))
                .map_err(|_| Error::new(ErrorKind::NoRuntime("a Registrar")))?;
            *task = Some(Heartbeat {
                changes,
                task: handle,
            });
        }
        first_rx.await.unwrap_or(Ok(()))
    }

    /// Stops the heartbeats, cancelling any request in flight, then removes the instance
    /// from the server, all within the deregister limit. Does nothing when not
    /// registered. After it returns, nothing this registrar started registers anything.
    pub async fn deregister(&self) -> Result<(), Error> {
        let Some(heartbeat) = self.handle.shared.lock_task().take() else {
            return Ok(());
        };
        let limit = self.handle.shared.deregister_timeout;
        let start = tokio::time::Instant::now();
        heartbeat.stop_within(limit).await;
        let left = limit.saturating_sub(start.elapsed());
        self.handle.shared.cancel(left).await
    }

    /// Changes the instance's status (e.g. `OUT_OF_SERVICE` before shutdown) and tells the
    /// server at once when registered.
    pub async fn set_status(&self, status: Status) -> Result<(), Error> {
        self.handle
            .shared
            .held_out
            .store(status == Status::OutOfService, Ordering::Relaxed);
        self.change(|i| i.status = status).await
    }

    /// Leaves gracefully, bounded in time: marks the instance `OUT_OF_SERVICE` (within the
    /// deregister limit), keeps it registered so for the [drain](RegistrarBuilder::drain)
    /// while clients drop it from their caches, then [`deregister`](Self::deregister)s.
    /// Takes at most twice the deregister limit plus the drain. When the server cannot
    /// be told of the status, it deregisters without waiting: clients then learn only of
    /// the removal, and no wait would change that. With a zero drain it only deregisters.
    /// Cancelling it (dropping the future) during the drain leaves the instance registered
    /// as `OUT_OF_SERVICE`; [`deregister`](Self::deregister) then ends it at once. Does
    /// nothing when not registered.
    /// Returns the deregistration's outcome.
    pub async fn shutdown(&self) -> Result<(), Error> {
        if !self.is_registered() {
            return Ok(());
        }
        if self.handle.shared.drain.is_zero() {
            // No client could act on the status before the instance is gone.
            return self.deregister().await;
        }
        let marked = tokio::time::timeout(
            self.handle.shared.deregister_timeout,
            self.set_status(Status::OutOfService),
        )
        .await;
        match marked {
            Ok(Ok(())) => tokio::time::sleep(self.handle.shared.drain).await,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot mark the instance OUT_OF_SERVICE; deregistering at once");
            }
            Err(_) => {
                tracing::warn!(
                    "marking the instance OUT_OF_SERVICE timed out; deregistering at once"
                );
            }
        }
        self.deregister().await
    }

    /// Waits for `signal` (any future: a oneshot, a server's end...), then
    /// [`shutdown`](Self::shutdown)s. With [`ShutdownSignal`](crate::ShutdownSignal),
    /// Ctrl-C or SIGTERM ends the service:
    ///
    /// ```no_run
    /// # async fn demo(registrar: sd_eureka::Registrar) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut signal = sd_eureka::ShutdownSignal::listen()?;
    /// registrar.register().await?;
    /// registrar.shutdown_on(signal.wait()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown_on<F: Future>(&self, signal: F) -> Result<(), Error> {
        signal.await;
        self.shutdown().await
    }

    /// Merges `entries` into the instance's metadata and tells the server at once when
    /// registered.
    pub async fn update_metadata(&self, entries: Metadata) -> Result<(), Error> {
        self.change(|i| i.metadata.extend(entries)).await
    }

    /// Edits the instance, dates it anew, and has the heartbeat task register it now.
    async fn change(&self, edit: impl FnOnce(&mut InstanceInfo)) -> Result<(), Error> {
        {
            let mut instance = self.handle.shared.lock_instance();
            edit(&mut instance);
            instance.last_dirty_timestamp = now_millis();
        }
        let (tx, rx) = oneshot::channel();
        let sent = self
            .handle
            .shared
            .lock_task()
            .as_ref()
            .is_some_and(|h| h.changes.send(tx).is_ok());
        if !sent {
            // Not registered: the change goes out with the next registration.
            return Ok(());
        }
        // The task ended (deregistered) before registering the change: nothing to tell.
        rx.await.unwrap_or(Ok(()))
    }

    /// The instance as the registrar will next send it.
    pub fn instance(&self) -> InstanceInfo {
        self.handle.shared.lock_instance().clone()
    }

    /// Whether the heartbeat loop is running.
    pub fn is_registered(&self) -> bool {
        self.handle
            .shared
            .lock_task()
            .as_ref()
            .is_some_and(|h| !h.task.is_finished())
    }

    /// Counters for health checks.
    pub fn stats(&self) -> RegistrarStats {
        let c = &self.handle.shared.stats;
        let last = c.last_heartbeat_ms.load(Ordering::Relaxed);
        RegistrarStats {
            registered: self.is_registered(),
            heartbeats: c.heartbeats.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            reregistrations: c.reregistrations.load(Ordering::Relaxed),
            last_heartbeat: (last > 0).then(|| UNIX_EPOCH + Duration::from_millis(last)),
        }
    }
}

impl sd_core::Registrar for Registrar {
    type Error = Error;

    fn register(&self) -> impl Future<Output = Result<(), Error>> + Send {
        Registrar::register(self)
    }

    fn deregister(&self) -> impl Future<Output = Result<(), Error>> + Send {
        Registrar::deregister(self)
    }
}

impl Heartbeat {
    /// Stops the task and waits (at most `limit`) until it has; aborted if it has not by
    /// then, and gone either way when this returns. The task drops any request in flight
    /// the moment it sees the signal.
    async fn stop_within(self, limit: Duration) {
        self.task.stop_within(limit).await;
    }
}

impl HealthCheck {
    /// The check's answer, within its timeout. The check runs as a task of its own, so a
    /// panic ends only that task; a panic or a timeout counts as DOWN. Cancelling this
    /// (the registrar stopping) aborts the check.
    async fn ask(&self) -> Status {
        let check = tokio::spawn(tokio::time::timeout(self.timeout, (self.check)()));
        let mut check = AbortOnDrop(check);
        match (&mut check.0).await {
            Ok(Ok(status)) => status,
            Ok(Err(_)) => {
                tracing::warn!(timeout = ?self.timeout, "health check answered nothing in time; DOWN");
                Status::Down
            }
            Err(error) => {
                tracing::warn!(%error, "health check failed; DOWN");
                Status::Down
            }
        }
    }
}

/// Aborts the task when dropped, so that no check outlives the registrar's interest.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Shared {
    /// Takes the health check's `status` as the instance's, unless the instance was put
    /// `OUT_OF_SERVICE` on purpose (`held_out`); true when that changed the status (and dated it anew).
    fn apply_health(&self, status: Status) -> bool {
        let mut instance = self.lock_instance();
        if instance.status == status || self.held_out.load(Ordering::Relaxed) {
            return false;
        }
        tracing::info!(app = %instance.app, id = %instance.instance_id, from = %instance.status, to = %status, "health check changed the status");
        instance.status = status;
        instance.last_dirty_timestamp = now_millis();
        true
    }

    fn lock_task(&self) -> std::sync::MutexGuard<'_, Option<Heartbeat>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_instance(&self) -> std::sync::MutexGuard<'_, InstanceInfo> {
        self.instance.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `DELETE`s the instance within `limit`, failing over across service URLs.
    async fn cancel(&self, limit: Duration) -> Result<(), Error> {
        let (app, id) = {
            let instance = self.lock_instance();
            (instance.app.clone(), instance.instance_id.clone())
        };
        let result = self
            .connection
            .deregister_within(&app, &id, Some(limit))
            .await;
        if let Err(error) = &result {
            tracing::warn!(app, id, %error, "deregistration failed");
        }
        result
    }

    fn renewal_interval(&self) -> Duration {
        let secs = self
            .lock_instance()
            .lease_info
            .map_or(30, |l| l.renewal_interval_in_secs);
        Duration::from_secs(u64::from(secs.max(1)))
    }

    /// The wait before retrying after `failures` failures in a row: 1 s, 2 s, 4 s... up
    /// to the renewal interval, each drawn at random from its upper half, so that
    /// instances that failed together do not retry together.
    fn backoff(&self, failures: u32, interval: Duration) -> Duration {
        self.backoff.delay_at_most(failures, interval)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let heartbeat = self.shared.lock_task().take();
        let Some(heartbeat) = heartbeat else { return };
        // Best effort: a registrar dropped without deregister() still leaves the registry,
        // if a runtime is there to send the request, once the task is gone. Without one,
        // dropping the heartbeat aborts its task.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            runtime.spawn(async move {
                heartbeat.stop_within(Duration::ZERO).await;
                let _ = shared.cancel(shared.deregister_timeout).await;
            });
        }
    }
}

/// The heartbeat loop: register, then renew every interval; register again (dated anew)
/// on a 404 or when a local change asks for it. Every await watches `stop`.
async fn run(
    shared: Arc<Shared>,
    mut stop: Stopping,
    mut changes: mpsc::UnboundedReceiver<Waiter>,
    first: Waiter,
) {
    let mut waiters = vec![first];
    let mut registered = false;
    let mut failures: u32 = 0;
    loop {
        if let Some(health) = &shared.health {
            let status = tokio::select! {
                biased;
                () = &mut stop => return,
                status = health.ask() => status,
            };
            if shared.apply_health(status) {
                // Registered anew, as any local change is.
                registered = false;
            }
        }
        let instance = shared.lock_instance().clone();
        let request = async {
            if registered {
                shared
                    .connection
                    .heartbeat(
                        &instance.app,
                        &instance.instance_id,
                        instance.status,
                        instance.last_dirty_timestamp,
                    )
                    .await
            } else {
                shared.connection.register(&instance).await
            }
        };
        let outcome = tokio::select! {
            biased;
            () = &mut stop => return,
            outcome = request => outcome,
        };
        match outcome {
            Ok(()) => {
                if registered {
                    shared.stats.heartbeats.fetch_add(1, Ordering::Relaxed);
                    shared
                        .stats
                        .last_heartbeat_ms
                        .store(u64::try_from(now_millis()).unwrap_or(0), Ordering::Relaxed);
                } else {
                    tracing::info!(app = %instance.app, id = %instance.instance_id, "registered");
                }
                registered = true;
                failures = 0;
                for waiter in waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
            }
            Err(error) if registered && error.is_not_found() => {
                tracing::warn!(app = %instance.app, id = %instance.instance_id, "server forgot the instance; registering again");
                shared.stats.reregistrations.fetch_add(1, Ordering::Relaxed);
                // Dirty again, as Netflix's client marks it: the server must take this
                // registration as newer than anything it may still hold.
                shared.lock_instance().last_dirty_timestamp = now_millis();
                registered = false;
                // Straight back to the top: register now, not after an interval.
                continue;
            }
            Err(error) => {
                tracing::warn!(app = %instance.app, id = %instance.instance_id, %error, "eureka heartbeat or registration failed");
                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
                failures = failures.saturating_add(1);
                for waiter in waiters.drain(..) {
                    let _ = waiter.send(Err(error.clone()));
                }
            }
        }
        let interval = shared.renewal_interval();
        let wait = if failures == 0 {
            interval
        } else {
            shared.backoff(failures, interval)
        };
        tokio::select! {
            biased;
            () = &mut stop => return,
            Some(waiter) = changes.recv() => {
                // A local change: register it now, and answer everyone who asked.
                waiters.push(waiter);
                while let Ok(waiter) = changes.try_recv() {
                    waiters.push(waiter);
                }
                registered = false;
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The time now as Eureka writes timestamps: milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_registrars_back_off_differently() {
        let connection = Connection::new(["http://127.0.0.1:1/eureka/"]).unwrap();
        let instance = InstanceInfo::new("app", "h", "127.0.0.1", 1);
        let a = Registrar::new(connection.clone(), instance.clone());
        let b = Registrar::new(connection, instance);
        let interval = Duration::from_secs(30);
        let waits = |r: &Registrar| -> Vec<Duration> {
            (1..=6)
                .map(|n| r.handle.shared.backoff(n, interval))
                .collect()
        };
        let (wa, wb) = (waits(&a), waits(&b));
        assert_ne!(wa, wb, "two registrars drew the same waits");
        for (n, wait) in (1..=6).zip(&wa) {
            let ceiling = Duration::from_secs(1 << (n - 1)).min(interval);
            assert!(*wait >= ceiling / 2 && *wait <= ceiling, "{n}: {wait:?}");
        }
    }
}
