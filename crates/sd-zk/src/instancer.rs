//! `Instancer`: the instances registered under one ZooKeeper path, kept current by a
//! children watch, as go-kit's `zk.NewInstancer`.

use std::any::Any;
use std::sync::Arc;

use sd_core::{Backoff, Instance, InstanceCache, Instances, OwnedTask, Stopping, Subscription};
use zookeeper_client::{Client, EventType, OneshotWatcher, SessionState};

use crate::{Config, Error, data, path, session};

/// How many child reads are in flight at once: a path with very many children is read
/// in batches, so a read never queues more requests than this.
const READ_BATCH: usize = 256;

/// Follows the children of one ZooKeeper path and publishes their data, each an
/// instance string (`"10.0.0.5:8080"`, a URL...), as [`sd_core::Event`]s: the whole set,
/// sorted, on every change, and the current state at once to every new subscriber.
///
/// As go-kit's, it creates the path (and its parents) as persistent nodes when missing,
/// lists the children with a watch, reads each child's data, and lists again each time
/// the watch fires (children come and go; as in go-kit, a change to the data of a child
/// that stays is not watched: registrars make a new node instead). Unlike go-kit's:
///
/// - data that cannot be an instance string (empty, not UTF-8, longer than
///   [`MAX_INSTANCE_LEN`](crate::MAX_INSTANCE_LEN), with whitespace), a child that
///   vanished between the listing and its read, and one whose ACL forbids reading it are
///   skipped with a warning; the rest of the set is published;
/// - losing the connection or the session publishes an error event (so endpointers keep
///   their last good endpoints), and the set is read and published again as soon as the
///   client reconnects, or on a new session after the old one expired; attempts to open
///   sessions are paced by the configuration's [`Backoff`].
///
/// It owns a session of its own and one background task, which stop (cancelling any
/// request in flight and closing the session) when the last clone of the instancer and
/// the last subscription to it are gone.
///
/// ```no_run
/// use sd_core::{BoxError, Endpointer, Instance};
/// use sd_zk::{Config, Instancer};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::new(["127.0.0.1:2181"])?;
/// let instancer = Instancer::new(&config, "/services/orders")?;
/// let endpointer = Endpointer::new(&instancer, |i: &Instance| {
///     Ok::<_, BoxError>(format!("http://{}", i.id()))
/// })?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Instancer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: String,
    cache: Arc<InstanceCache>,
    /// Aborted (its session dropped, so closed) when the last handle goes.
    _task: OwnedTask,
}

impl Instancer {
    /// Starts following the children of `path`, an absolute node path. Fails on an
    /// invalid path or outside a Tokio runtime; an unreachable ensemble is not an error
    /// here but an error event, retried in the background.
    pub fn new(config: &Config, path: &str) -> Result<Self, Error> {
        path::validate(path)?;
        let cache = Arc::new(InstanceCache::new());
        let task = {
            let (config, path, cache) = (config.clone(), path.to_owned(), Arc::clone(&cache));
            OwnedTask::spawn(move |stopping| run(config, path, cache, stopping))
                .map_err(|_| Error::no_runtime("an Instancer"))?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                cache,
                _task: task,
            }),
        })
    }

    /// The path whose children are followed.
    pub fn path(&self) -> &str {
        &self.inner.path
    }
}

impl sd_core::Instancer for Instancer {
    /// The subscription keeps the instancer's task running: an endpointer built from a
    /// temporary instancer keeps following the path.
    fn subscribe(&self) -> Subscription {
        let keep: Arc<dyn Any + Send + Sync> = Arc::clone(&self.inner) as _;
        self.inner.cache.subscribe().keep_alive(keep)
    }
}

async fn run(config: Config, path: String, cache: Arc<InstanceCache>, stopping: Stopping) {
    tokio::select! {
        () = stopping => {}
        () = follow(&config, &path, &cache) => {}
    }
}

/// Publishes `error` as an event, keeping subscribers' last good sets.
fn fail(cache: &InstanceCache, path: &str, error: Error) {
    let message = error.to_string();
    if cache.update(sd_core::Error::discovery(error)) {
        tracing::warn!(
            path,
            error = message,
            "ZooKeeper instancer failing; keeping the last good instances"
        );
    }
}

/// Sessions, one after another, for ever: open one, follow the path while it lasts,
/// back off after failures.
async fn follow(config: &Config, path: &str, cache: &InstanceCache) {
    let backoff: Backoff = config.backoff();
    let mut failures: u32 = 0;
    loop {
        let error = match session::open(config).await {
            Ok(client) => watch(&client, path, cache, &mut failures).await,
            Err(error) => error,
        };
        fail(cache, path, error);
        failures = failures.saturating_add(1);
        tokio::time::sleep(backoff.delay(failures)).await;
    }
}

/// Follows `path` within one session; returns why it stopped (the session ended, or an
/// operation failed for a reason a new session may cure).
async fn watch(client: &Client, path: &str, cache: &InstanceCache, failures: &mut u32) -> Error {
    let mut states = client.state_watcher();
    if let Err(error) = session::create_parents(client, path).await {
        return error;
    }
    loop {
        match read(client, path).await {
            Ok((set, watcher)) => {
                *failures = 0;
                if cache.update(set) {
                    tracing::debug!(path, "ZooKeeper instances changed");
                }
                tokio::select! {
                    event = watcher.changed() => {
                        if event.event_type == EventType::Session && event.session_state.is_terminated() {
                            return Error::session_lost(event.session_state);
                        }
                        // A change (or the path deleted): read again, which re-arms the watch.
                    }
                    state = states.changed() => {
                        if let Err(error) = ride_out(state, &mut states, cache, path).await {
                            return error;
                        }
                    }
                }
            }
            Err(error) if error.zookeeper() == Some(&zookeeper_client::Error::NoNode) => {
                // The path itself was deleted: create it again, as at the start.
                if let Err(error) = session::create_parents(client, path).await {
                    return error;
                }
            }
            Err(error) if error.is_session_lost() => {
                let state = states.state();
                if let Err(error) = ride_out(state, &mut states, cache, path).await {
                    return error;
                }
            }
            Err(error) => return error,
        }
    }
}

/// After the session's state changed to `state`: while disconnected, an error event and a
/// wait for the client to reconnect (`Ok`: read again); a terminal state ends the session.
async fn ride_out(
    state: SessionState,
    states: &mut zookeeper_client::StateWatcher,
    cache: &InstanceCache,
    path: &str,
) -> Result<(), Error> {
    match state {
        SessionState::SyncConnected | SessionState::ConnectedReadOnly => Ok(()),
        SessionState::Disconnected => {
            fail(cache, path, Error::session_lost(state));
            match session::connected(states).await {
                Ok(()) => {
                    tracing::info!(
                        path,
                        "ZooKeeper connection back; reading the instances again"
                    );
                    Ok(())
                }
                Err(terminal) => Err(Error::session_lost(terminal)),
            }
        }
        terminal => Err(Error::session_lost(terminal)),
    }
}

/// Lists the children of `path` with a watch and reads each child's data into a set,
/// skipping children whose data is not an instance string or that vanished meanwhile.
async fn read(client: &Client, path: &str) -> Result<(Instances, OneshotWatcher), Error> {
    let (children, watcher) = client
        .list_and_watch_children(path)
        .await
        .map_err(|error| Error::operation("list", path, error))?;
    let mut instances = Vec::with_capacity(children.len());
    for batch in children.chunks(READ_BATCH) {
        // Each request is sent when its future is made: the batch is pipelined.
        let reads: Vec<_> = batch
            .iter()
            .map(|child| {
                let child_path = path::join(path, child);
                let read = client.get_data(&child_path);
                (child_path, read)
            })
            .collect();
        for (child_path, read) in reads {
            match read.await {
                Ok((bytes, _)) => match data::instance(&bytes) {
                    Ok(id) => instances.push(Instance::new(id)),
                    Err(why) => {
                        tracing::warn!(node = child_path, %why, "skipping a ZooKeeper node whose data is not an instance string");
                    }
                },
                Err(zookeeper_client::Error::NoNode) => {
                    tracing::warn!(
                        node = child_path,
                        "skipping a ZooKeeper node that vanished before its data was read"
                    );
                }
                // One node nobody let us read must not cost the others.
                Err(zookeeper_client::Error::NoAuth) => {
                    tracing::warn!(
                        node = child_path,
                        "skipping a ZooKeeper node whose data this client may not read"
                    );
                }
                Err(error) => return Err(Error::operation("read", &child_path, error)),
            }
        }
    }
    Ok((Instances::new(instances), watcher))
}
