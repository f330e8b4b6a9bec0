//! `Registrar`: keeps one instance registered for as long as the service lives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::ErrorKind;
use crate::{Connection, Error, InstanceInfo, Metadata, Status};

/// Registers an instance with Eureka and keeps it registered: a heartbeat every renewal
/// interval, registering again at once when the server has forgotten the instance (a 404
/// heartbeat, e.g. after a restart), retrying failures with a short, bounded backoff.
///
/// Local status and metadata changes reach the server by registering again with a newer
/// `lastDirtyTimestamp`, as the Java client does. [`deregister`](Self::deregister) stops
/// the heartbeats and removes the instance within a bounded time; dropping the last clone
/// stops them too, and sends a bounded, best-effort deregistration.
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
    /// Tells the heartbeat loop the instance changed (re-register now).
    changed: watch::Sender<u64>,
}

#[derive(Debug)]
struct Heartbeat {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

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

impl Registrar {
    /// A registrar for `instance`; nothing is sent until [`register`](Self::register).
    pub fn new(connection: Connection, mut instance: InstanceInfo) -> Self {
        // Servers compare dirty timestamps on renewal; date a fresh instance now, as the
        // Java client does.
        if instance.last_dirty_timestamp == 0 {
            instance.last_dirty_timestamp = now_millis();
        }
        Self {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    connection,
                    instance: Mutex::new(instance),
                    task: Mutex::new(None),
                    stats: Counters::default(),
                    deregister_timeout: Duration::from_secs(5),
                    changed: watch::Sender::new(0),
                }),
            }),
        }
    }

    /// Registers the instance and starts the heartbeats. Registering again while
    /// registered does nothing. If the server cannot be reached the error is returned,
    /// and the registrar keeps trying in the background.
    pub async fn register(&self) -> Result<(), Error> {
        let (first_tx, first_rx) = oneshot::channel();
        {
            let mut task = self.handle.shared.lock_task();
            if task.as_ref().is_some_and(|h| !h.task.is_finished()) {
                return Ok(());
            }
            let (stop, stop_rx) = oneshot::channel();
            let handle = tokio::spawn(run(Arc::clone(&self.handle.shared), stop_rx, first_tx));
            *task = Some(Heartbeat { stop, task: handle });
        }
        first_rx.await.unwrap_or(Ok(()))
    }

    /// Stops the heartbeats and removes the instance from the server, giving up after a
    /// few seconds. Does nothing when not registered.
    pub async fn deregister(&self) -> Result<(), Error> {
        let Some(heartbeat) = self.handle.shared.lock_task().take() else {
            return Ok(());
        };
        let _ = heartbeat.stop.send(());
        // The loop stops at its next await point; it holds no request open past that.
        let _ = tokio::time::timeout(self.handle.shared.deregister_timeout, heartbeat.task).await;
        self.handle.shared.cancel().await
    }

    /// Changes the instance's status (e.g. `OUT_OF_SERVICE` before shutdown) and tells the
    /// server at once when registered.
    pub async fn set_status(&self, status: Status) -> Result<(), Error> {
        self.change(|i| i.status = status).await
    }

    /// Merges `entries` into the instance's metadata and tells the server at once when
    /// registered.
    pub async fn update_metadata(&self, entries: Metadata) -> Result<(), Error> {
        self.change(|i| i.metadata.extend(entries)).await
    }

    async fn change(&self, edit: impl FnOnce(&mut InstanceInfo)) -> Result<(), Error> {
        let instance = {
            let mut instance = self.handle.shared.lock_instance();
            edit(&mut instance);
            instance.last_dirty_timestamp = now_millis();
            instance.clone()
        };
        if !self.is_registered() {
            return Ok(());
        }
        let result = self.handle.shared.connection.register(&instance).await;
        self.handle.shared.changed.send_modify(|n| *n += 1);
        result
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

impl Shared {
    fn lock_task(&self) -> std::sync::MutexGuard<'_, Option<Heartbeat>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_instance(&self) -> std::sync::MutexGuard<'_, InstanceInfo> {
        self.instance.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn cancel(&self) -> Result<(), Error> {
        let (app, id) = {
            let instance = self.lock_instance();
            (instance.app.clone(), instance.instance_id.clone())
        };
        let deregistered = tokio::time::timeout(
            self.deregister_timeout,
            self.connection.deregister(&app, &id),
        )
        .await;
        deregistered.unwrap_or_else(|_| {
            tracing::warn!(app, id, "deregistration timed out");
            Err(Error::new(ErrorKind::Timeout(self.deregister_timeout)))
        })
    }

    fn renewal_interval(&self) -> Duration {
        let secs = self
            .lock_instance()
            .lease_info
            .map_or(30, |l| l.renewal_interval_in_secs);
        Duration::from_secs(u64::from(secs.max(1)))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let heartbeat = self.shared.lock_task().take();
        let Some(heartbeat) = heartbeat else { return };
        let _ = heartbeat.stop.send(());
        heartbeat.task.abort();
        // Best effort: a registrar dropped without deregister() still leaves the registry,
        // if a runtime is there to send the request.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            runtime.spawn(async move {
                if let Err(error) = shared.cancel().await {
                    tracing::warn!(%error, "deregistration on drop failed");
                }
            });
        }
    }
}

/// The heartbeat loop: register, then renew every interval; register again on 404.
async fn run(
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
    first: oneshot::Sender<Result<(), Error>>,
) {
    let mut changed = shared.changed.subscribe();
    let mut first = Some(first);
    let mut registered = false;
    let mut failures: u32 = 0;
    loop {
        let instance = shared.lock_instance().clone();
        let outcome = if registered {
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
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                }
            }
            Err(error) if registered && error.is_not_found() => {
                tracing::warn!(app = %instance.app, id = %instance.instance_id, "server forgot the instance; registering again");
                shared.stats.reregistrations.fetch_add(1, Ordering::Relaxed);
                registered = false;
                // Straight back to the top: register now, not after an interval.
                continue;
            }
            Err(error) => {
                tracing::warn!(app = %instance.app, id = %instance.instance_id, %error, "eureka heartbeat or registration failed");
                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
                failures = failures.saturating_add(1);
                if let Some(first) = first.take() {
                    let _ = first.send(Err(error));
                }
            }
        }
        let interval = shared.renewal_interval();
        // After failures: 1 s, 2 s, 4 s... up to the renewal interval; never a spin.
        let wait = if failures == 0 {
            interval
        } else {
            Duration::from_secs(1u64 << failures.min(16)).min(interval)
        };
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(wait) => {}
            // A local change was just registered by `change`; heartbeat from here on.
            _ = changed.changed() => { registered = true; }
        }
    }
}

/// The time now as Eureka writes timestamps: milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
