//! `Registrar`: keeps one instance registered under a ZooKeeper path as an ephemeral
//! sequential node, as go-kit's `zk.NewRegistrar`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sd_core::{OwnedTask, Stopping};
use tokio::sync::oneshot;
use zookeeper_client::{Acls, Client, CreateMode, EventType, SessionState};

use crate::{Config, Error, data, path, session};

/// How long [`Registrar::deregister`] may take by default.
pub const DEFAULT_DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers one instance string under a ZooKeeper path and keeps it registered.
///
/// [`register`](Self::register) opens a session, creates the path's missing parents as
/// persistent nodes and an ephemeral sequential node `<path>/<name>-<sequence>` holding
/// the instance string (go-kit's layout: an [`Instancer`](crate::Instancer) on the same
/// path sees it). The node lives as long as the session: when the session expires (the
/// ensemble was unreachable for longer than the session timeout) the registrar opens a
/// new one and creates the node again; a node deleted by someone else is created again
/// in the same session. Failures are retried with the configuration's backoff; a failure
/// while registering closes that session, so that no half-made registration lingers.
///
/// [`deregister`](Self::deregister) stops all that, deletes the node and closes the
/// session, within its [limit](RegistrarBuilder::deregister_timeout): nothing is left
/// behind. Registering twice is a no-op; deregistering before registering does nothing.
/// Dropping the last clone stops the task and closes the session (without waiting),
/// which removes the node too.
///
/// ```no_run
/// use sd_zk::{Config, Registrar};
///
/// # async fn demo() -> Result<(), sd_zk::Error> {
/// let config = Config::new(["127.0.0.1:2181"])?;
/// let registrar = Registrar::new(&config, "/services/orders", "10.0.0.5:8080")?;
/// registrar.register().await?;
/// // ... serve ...
/// registrar.deregister().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Registrar {
    handle: Arc<Handle>,
}

/// Options for a [`Registrar`]; see [`Registrar::builder`].
#[derive(Debug)]
#[must_use]
pub struct RegistrarBuilder {
    config: Config,
    path: String,
    instance: String,
    name: String,
    deregister_timeout: Duration,
}

/// A snapshot of a registrar, for health checks and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarStats {
    /// The node that holds the instance now, while there is one.
    pub node: Option<String>,
    /// Nodes created so far (the first registration, then one per new session or
    /// deleted node).
    pub registrations: u64,
    /// Sessions opened so far.
    pub sessions: u64,
    /// Sessions that ended (expired, closed) while they held the registration.
    pub sessions_lost: u64,
}

/// Held only by `Registrar` clones: dropping the last one is seen here.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    task: Mutex<Option<OwnedTask>>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    path: String,
    instance: String,
    name: String,
    deregister_timeout: Duration,
    /// The live registration: the session and the node it holds.
    current: Mutex<Option<Registered>>,
    registrations: AtomicU64,
    sessions: AtomicU64,
    sessions_lost: AtomicU64,
}

#[derive(Debug)]
struct Registered {
    client: Client,
    node: String,
}

/// Told how the first attempt went.
type First = Option<oneshot::Sender<Result<(), Error>>>;

impl Registrar {
    /// A registrar of `instance` (an instance string such as `"10.0.0.5:8080"`) under
    /// `path`, with default options. Nothing is sent until [`register`](Self::register).
    pub fn new(config: &Config, path: &str, instance: &str) -> Result<Self, Error> {
        Self::builder(config, path, instance).build()
    }

    /// Options for a registrar of `instance` under `path`.
    pub fn builder(config: &Config, path: &str, instance: &str) -> RegistrarBuilder {
        RegistrarBuilder {
            config: config.clone(),
            path: path.to_owned(),
            instance: instance.to_owned(),
            name: "instance".to_owned(),
            deregister_timeout: DEFAULT_DEREGISTER_TIMEOUT,
        }
    }

    /// Registers the instance and starts keeping it registered; returns once the node
    /// exists, or with the first attempt's error while the registrar keeps trying in the
    /// background. Registering again while registered does nothing. Outside a Tokio
    /// runtime it fails ([`Error::is_no_runtime`]).
    pub async fn register(&self) -> Result<(), Error> {
        let first = {
            let mut task = self.handle.lock_task();
            if task.as_ref().is_some_and(|t| !t.is_finished()) {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            let shared = Arc::clone(&self.handle.shared);
            let spawned = OwnedTask::spawn(move |stopping| run(shared, stopping, Some(tx)))
                .map_err(|_| Error::no_runtime("a Registrar"))?;
            *task = Some(spawned);
            rx
        };
        // No answer means a concurrent deregister stopped the task first.
        first.await.unwrap_or(Ok(()))
    }

    /// Stops keeping the instance registered, deletes its node and closes the session,
    /// all within the deregister limit. Does nothing when not registered. When the node
    /// cannot be deleted but the session closes, the node went with the session: `Ok`.
    pub async fn deregister(&self) -> Result<(), Error> {
        let Some(task) = self.handle.lock_task().take() else {
            return Ok(());
        };
        let shared = &self.handle.shared;
        let limit = shared.deregister_timeout;
        let start = tokio::time::Instant::now();
        // The task only waits on the server between requests: it stops at once.
        task.stop_within(limit).await;
        let Some(Registered { client, node }) = shared.lock_current().take() else {
            return Ok(());
        };
        let left = limit.saturating_sub(start.elapsed());
        let deleted = tokio::time::timeout(left, client.delete(&node, None)).await;
        let left = limit.saturating_sub(start.elapsed());
        let closed = session::close(client, left).await;
        match deleted {
            Ok(Ok(()) | Err(zookeeper_client::Error::NoNode)) => {
                tracing::info!(node, closed, "deregistered from ZooKeeper");
                Ok(())
            }
            _ if closed => {
                tracing::info!(node, "deregistered from ZooKeeper by closing the session");
                Ok(())
            }
            Ok(Err(error)) => {
                tracing::warn!(node, %error, "ZooKeeper deregistration failed; the node goes when the session times out");
                Err(Error::operation("delete", &node, error))
            }
            Err(_) => {
                tracing::warn!(
                    node,
                    "ZooKeeper deregistration timed out; the node goes when the session times out"
                );
                Err(Error::timeout("deregistration", limit))
            }
        }
    }

    /// Whether the registrar is keeping an instance registered (between
    /// [`register`](Self::register) and [`deregister`](Self::deregister)).
    pub fn is_registered(&self) -> bool {
        self.handle
            .lock_task()
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Counters and the current node.
    pub fn stats(&self) -> RegistrarStats {
        let shared = &self.handle.shared;
        RegistrarStats {
            node: shared.lock_current().as_ref().map(|r| r.node.clone()),
            registrations: shared.registrations.load(Ordering::Relaxed),
            sessions: shared.sessions.load(Ordering::Relaxed),
            sessions_lost: shared.sessions_lost.load(Ordering::Relaxed),
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

impl RegistrarBuilder {
    /// The node name before ZooKeeper's sequence number (default `instance`): nodes are
    /// `<path>/<name>-0000000001` and so on. Any character but `/` and control characters.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// How long [`Registrar::deregister`] may take in all (default 5 s): stopping,
    /// deleting the node and closing the session.
    pub fn deregister_timeout(mut self, limit: Duration) -> Self {
        self.deregister_timeout = limit;
        self
    }

    /// Checks the path, the name and the instance string, and makes the registrar.
    pub fn build(self) -> Result<Registrar, Error> {
        path::validate(&self.path)?;
        let bad_name = Error::invalid_config(
            "the node name must be non-empty, without '/' or control characters",
        );
        if self.name.is_empty() || self.name.contains('/') {
            return Err(bad_name);
        }
        path::validate(&path::join(&self.path, &format!("{}-", self.name)))
            .map_err(|_| bad_name)?;
        if data::instance(self.instance.as_bytes()).is_err() {
            return Err(Error::invalid_config(
                "the instance string must be non-empty UTF-8 of at most 1024 bytes without whitespace",
            ));
        }
        Ok(Registrar {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    config: self.config,
                    path: self.path,
                    instance: self.instance,
                    name: self.name,
                    deregister_timeout: self.deregister_timeout,
                    current: Mutex::new(None),
                    registrations: AtomicU64::new(0),
                    sessions: AtomicU64::new(0),
                    sessions_lost: AtomicU64::new(0),
                }),
                task: Mutex::new(None),
            }),
        })
    }
}

impl Handle {
    fn lock_task(&self) -> MutexGuard<'_, Option<OwnedTask>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Aborts the task, dropping its handles to the session...
        drop(self.lock_task().take());
        // ...and this, the last one, makes the client close the session: the node goes.
        drop(self.shared.lock_current().take());
    }
}

impl Shared {
    fn lock_current(&self) -> MutexGuard<'_, Option<Registered>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates the ephemeral sequential node; returns its path.
    async fn create_node(&self, client: &Client) -> Result<String, Error> {
        let prefix = path::join(&self.path, &format!("{}-", self.name));
        let options = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
        let (_, sequence) = client
            .create(&prefix, self.instance.as_bytes(), &options)
            .await
            .map_err(|error| Error::operation("create", &prefix, error))?;
        let node = format!("{prefix}{sequence}");
        self.registrations.fetch_add(1, Ordering::Relaxed);
        tracing::info!(node, instance = self.instance, "registered in ZooKeeper");
        Ok(node)
    }

    /// One session: open it, create the parents and the node, and publish it as current.
    async fn register_once(&self) -> Result<(Client, String), Error> {
        let client = session::open(&self.config).await?;
        self.sessions.fetch_add(1, Ordering::Relaxed);
        session::create_parents(&client, &self.path).await?;
        let node = self.create_node(&client).await?;
        *self.lock_current() = Some(Registered {
            client: client.clone(),
            node: node.clone(),
        });
        Ok((client, node))
    }

    /// Keeps `node` in place for as long as the session lives: creates it again when it
    /// is deleted; rides out disconnections. Returns why the session is no longer usable;
    /// `seen` says whether the node was ever seen in place (a session that fails at
    /// once counts as a failure, so that the retries back off).
    async fn keep(&self, client: &Client, mut node: String, seen: &mut bool) -> Error {
        let mut states = client.state_watcher();
        loop {
            let (stat, watcher) = match client.check_and_watch_stat(&node).await {
                Ok(found) => {
                    *seen |= found.0.is_some();
                    found
                }
                Err(zookeeper_client::Error::ConnectionLoss) => {
                    if let Err(terminal) = session::connected(&mut states).await {
                        return Error::session_lost(terminal);
                    }
                    continue;
                }
                Err(error) => return Error::operation("watch", &node, error),
            };
            if stat.is_none() {
                tracing::warn!(
                    node,
                    "the ZooKeeper node of this instance was deleted; registering again"
                );
                node = match self.create_node(client).await {
                    Ok(node) => node,
                    Err(error) => return error,
                };
                if let Some(current) = self.lock_current().as_mut() {
                    current.node.clone_from(&node);
                }
                continue;
            }
            tokio::select! {
                event = watcher.changed() => {
                    if event.event_type == EventType::Session && event.session_state.is_terminated() {
                        return Error::session_lost(event.session_state);
                    }
                    // Deleted or changed: look again (and create it again when gone).
                }
                state = states.changed() => match state {
                    SessionState::SyncConnected | SessionState::ConnectedReadOnly => {}
                    SessionState::Disconnected => {
                        tracing::debug!(node, "ZooKeeper connection lost; the node lives while the session does");
                        if let Err(terminal) = session::connected(&mut states).await {
                            return Error::session_lost(terminal);
                        }
                    }
                    terminal => return Error::session_lost(terminal),
                },
            }
        }
    }
}

/// Registers, keeps the registration through disconnections, registers again on a new
/// session when one ends, backing off after failures; until stopped.
async fn run(shared: Arc<Shared>, stopping: Stopping, mut first: First) {
    let work = async {
        let backoff = shared.config.backoff();
        let mut failures: u32 = 0;
        loop {
            match shared.register_once().await {
                Ok((client, node)) => {
                    if let Some(first) = first.take() {
                        let _ = first.send(Ok(()));
                    }
                    let mut watched = false;
                    let why = shared.keep(&client, node, &mut watched).await;
                    shared.sessions_lost.fetch_add(1, Ordering::Relaxed);
                    // This session is done: let it go (closing it, if it can still close).
                    drop(shared.lock_current().take());
                    drop(client);
                    tracing::warn!(path = shared.path, error = %why, "ZooKeeper registration lost; registering again");
                    // After a session that worked, a short wait; after one that failed at
                    // once, a longer one each time.
                    failures = if watched {
                        1
                    } else {
                        failures.saturating_add(1)
                    };
                    tokio::time::sleep(backoff.delay(failures)).await;
                }
                Err(error) => {
                    tracing::warn!(path = shared.path, %error, "ZooKeeper registration failed; retrying");
                    if let Some(first) = first.take() {
                        let _ = first.send(Err(error));
                    }
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(backoff.delay(failures)).await;
                }
            }
        }
    };
    tokio::select! {
        () = stopping => {}
        () = work => {}
    }
}
