//! `Instancer`: the instances under a key prefix, kept current by a watch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use etcd_client::{GetOptions, KeyValue, WatchOptions, WatchResponse};
use sd_core::{Event, InstanceCache, Instances, OwnedTask, Subscription};

use crate::entry::{self, Skip};
use crate::{Client, Error};

/// Follows the instances under a key prefix and publishes them as [`sd_core::Event`]s, as
/// go-kit's etcd instancer does: each key right below the prefix is one instance, and its
/// value is the instance string (`10.0.0.1:8080`).
///
/// It lists the prefix once, then watches it from the next revision, publishing the whole
/// sorted set after every change. When the watch breaks it publishes an error event (so
/// endpointers keep their last good endpoints) and resumes from the last revision it saw,
/// so no change is lost or seen twice; when that revision has been compacted away, or the
/// store went back in time (etcd restored or wiped), it lists again. Reconnects back off
/// as the [client](crate::ClientBuilder::backoff) says; on recovery the current set is
/// published again.
///
/// Keys nested deeper than one level below the prefix, and values that are not plausible
/// instance strings (empty, not UTF-8, with whitespace or control characters, longer than
/// 1 KiB), are skipped with a warning; the rest of the set stands.
///
/// The watch runs as a task owned by the instancer and its clones, and by every
/// subscription (an endpointer's): when the last of them goes, the task stops and its
/// watch is cancelled.
///
/// ```no_run
/// use sd_etcd::{Client, Instancer};
///
/// # async fn demo() -> Result<(), sd_etcd::Error> {
/// let client = Client::connect(["http://127.0.0.1:2379"]).await?;
/// let instancer = Instancer::new(&client, "/services/orders/")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Instancer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// Aborted (its watch dropped) when the last instancer or subscription goes.
    _task: OwnedTask,
}

#[derive(Debug)]
struct Shared {
    prefix: String,
    cache: InstanceCache,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    lists: AtomicU64,
    watches: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    revision: AtomicI64,
}

/// A snapshot of an instancer's work, for health checks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstancerStats {
    /// Full listings of the prefix: the first, and one after each compaction or rewind.
    pub lists: u64,
    /// Watches started (the first, and one per reconnect).
    pub watches: u64,
    /// Failed listings and broken watches.
    pub failures: u64,
    /// Keys skipped as not instances, or with values that are not instance strings.
    pub skipped: u64,
    /// The etcd revision the published set is current at (0 before the first listing).
    pub revision: i64,
}

impl Instancer {
    /// Follows the instances under `prefix`. Must be called within a Tokio runtime
    /// ([`Error::is_no_runtime`] otherwise); returns at once, with the first state
    /// published when the first listing answers.
    pub fn new(client: &Client, prefix: impl Into<String>) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            prefix: prefix.into(),
            cache: InstanceCache::new(),
            counters: Counters::default(),
        });
        let task = {
            let shared = Arc::clone(&shared);
            let client = client.clone();
            OwnedTask::spawn(|stopping| async move {
                tokio::select! {
                    () = stopping => {}
                    () = follow(&client, &shared) => {}
                }
            })
            .map_err(|_| Error::no_runtime("an etcd Instancer"))?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                _task: task,
            }),
        })
    }

    /// The prefix followed.
    pub fn prefix(&self) -> &str {
        &self.inner.shared.prefix
    }

    /// Counters of the watch.
    pub fn stats(&self) -> InstancerStats {
        let c = &self.inner.shared.counters;
        InstancerStats {
            lists: c.lists.load(Ordering::Relaxed),
            watches: c.watches.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            revision: c.revision.load(Ordering::Relaxed),
        }
    }
}

impl sd_core::Instancer for Instancer {
    /// The subscription keeps the watch running: an endpointer built from a temporary
    /// instancer keeps following the prefix.
    fn subscribe(&self) -> Subscription {
        self.inner
            .shared
            .cache
            .subscribe()
            .keep_alive(Arc::clone(&self.inner) as _)
    }
}

/// What the watch knows: the instance of every instance key, and the revision it is
/// current at.
struct View {
    prefix: Vec<u8>,
    entries: BTreeMap<Vec<u8>, String>,
    /// The last revision seen in full; `None` until listed (and after a compaction).
    revision: Option<i64>,
    /// The cluster the entries came from: a watch answered by another cluster (etcd
    /// rebuilt behind the same endpoints) lists again.
    cluster: Option<u64>,
}

/// How a watch session ended without an error.
enum Resume {
    /// The revision to resume from is gone: list again at once.
    Relist,
}

/// Lists, watches, and reconnects, until the task is dropped.
async fn follow(client: &Client, shared: &Shared) {
    let backoff = client.backoff();
    let mut view = View {
        prefix: shared.prefix.as_bytes().to_vec(),
        entries: BTreeMap::new(),
        revision: None,
        cluster: None,
    };
    // Failures in a row; the set is published again when a session recovers.
    let mut failures: u32 = 0;
    // Whether the last session ended asking to list again: a second one in a row waits
    // a little, so that a server that keeps asking is not listed in a tight loop.
    let mut relisted = false;
    loop {
        let outcome = session(client, shared, &mut view, &mut failures).await;
        let relist = matches!(outcome, Ok(Resume::Relist));
        if relist && relisted {
            tokio::time::sleep(backoff.delay(1)).await;
        }
        relisted = relist;
        match outcome {
            Ok(Resume::Relist) => view.revision = None,
            Err(error) => {
                failures = failures.saturating_add(1);
                shared.counters.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(prefix = %shared.prefix, %error, failures, "etcd watch failed; keeping the last good instances");
                shared
                    .cache
                    .update(Event::Error(sd_core::Error::discovery(error)));
                tokio::time::sleep(backoff.delay(failures)).await;
            }
        }
    }
}

/// One listing (when needed) and one watch, until the watch breaks or must list again.
async fn session(
    client: &Client,
    shared: &Shared,
    view: &mut View,
    failures: &mut u32,
) -> Result<Resume, Error> {
    let mut raw = client.raw();
    let revision = if let Some(revision) = view.revision {
        revision
    } else {
        let listing = client
            .within(
                "get",
                raw.get(view.prefix.clone(), Some(GetOptions::new().with_prefix())),
            )
            .await?;
        shared.counters.lists.fetch_add(1, Ordering::Relaxed);
        let header = listing
            .header()
            .ok_or_else(|| Error::protocol("get", "no header in the answer"))?;
        let revision = header.revision();
        view.cluster = Some(header.cluster_id());
        view.entries.clear();
        for kv in listing.kvs() {
            view.apply(shared, kv, false);
        }
        view.revision = Some(revision);
        shared.counters.revision.store(revision, Ordering::Relaxed);
        view.publish(shared);
        *failures = 0;
        revision
    };
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision.saturating_add(1))
        .with_progress_notify();
    let mut stream = client
        .within("watch", raw.watch(view.prefix.clone(), Some(options)))
        .await?;
    shared.counters.watches.fetch_add(1, Ordering::Relaxed);
    loop {
        let response = match stream.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return Err(Error::protocol("watch", "the stream ended")),
            Err(error) => return Err(Error::etcd("watch", error)),
        };
        if response.canceled() {
            if response.compact_revision() > 0 {
                tracing::info!(prefix = %shared.prefix, from = revision, compacted = response.compact_revision(), "etcd compacted the revisions to resume from; listing again");
                return Ok(Resume::Relist);
            }
            return Err(Error::protocol(
                "watch",
                format!("cancelled by etcd: {}", response.cancel_reason()),
            ));
        }
        if response.created() {
            if let Some(header) = response.header() {
                let (now, cluster) = (header.revision(), header.cluster_id());
                if now < revision || view.cluster.is_some_and(|listed| listed != cluster) {
                    tracing::warn!(prefix = %shared.prefix, seen = revision, now, cluster, "etcd went back in time or is another cluster (restored or rebuilt?); listing again");
                    return Ok(Resume::Relist);
                }
            }
            if *failures > 0 {
                // Recovered: what endpointers held on to is current again.
                tracing::info!(prefix = %shared.prefix, "etcd watch resumed");
                *failures = 0;
                view.publish(shared);
            }
            continue;
        }
        view.absorb(shared, &response);
    }
}

impl View {
    /// Applies one watch response: its events, or the revision of a progress report.
    fn absorb(&mut self, shared: &Shared, response: &WatchResponse) {
        if response.events().is_empty() {
            // Progress: every event up to the header's revision has been delivered.
            if let Some(header) = response.header() {
                self.advance(shared, header.revision());
            }
            return;
        }
        let mut changed = false;
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            // etcd's own test for a deletion (`event_type()` panics on unknown types).
            let deleted = kv.create_revision() == 0;
            changed |= self.apply(shared, kv, deleted);
            self.advance(shared, kv.mod_revision());
        }
        if changed {
            self.publish(shared);
        }
    }

    fn advance(&mut self, shared: &Shared, revision: i64) {
        if self.revision.is_none_or(|seen| revision > seen) {
            self.revision = Some(revision);
            shared.counters.revision.store(revision, Ordering::Relaxed);
        }
    }

    /// Records one key's new state; true when the instance set changed. A key whose value
    /// turns bad stops being an instance.
    fn apply(&mut self, shared: &Shared, kv: &KeyValue, deleted: bool) -> bool {
        let key = kv.key();
        if deleted {
            return self.entries.remove(key).is_some();
        }
        let instance =
            entry::instance_name(&self.prefix, key).and_then(|_| entry::instance_value(kv.value()));
        match instance {
            Ok(instance) => {
                let previous = self.entries.insert(key.to_vec(), instance.to_owned());
                previous.as_deref() != Some(instance)
            }
            Err(skip) => {
                shared.counters.skipped.fetch_add(1, Ordering::Relaxed);
                warn_skip(&shared.prefix, key, &skip);
                self.entries.remove(key).is_some()
            }
        }
    }

    fn publish(&self, shared: &Shared) {
        shared
            .cache
            .update(Instances::new(self.entries.values().map(String::as_str)));
    }
}

fn warn_skip(prefix: &str, key: &[u8], skip: &Skip) {
    const SHOWN: usize = 200;
    let shown = String::from_utf8_lossy(&key[..key.len().min(SHOWN)]);
    tracing::warn!(prefix, key = %shown, reason = %skip, "skipping an etcd key that is not an instance");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_an_instancer_is_an_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(Client::connect(["127.0.0.1:1"])).unwrap();
        let error = Instancer::new(&client, "/svc/").unwrap_err();
        assert!(error.is_no_runtime(), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_etcd_is_an_error_event_and_the_prefix_is_kept() {
        let client = Client::builder(["127.0.0.1:1"])
            .request_timeout(std::time::Duration::from_secs(2))
            .connect()
            .await
            .unwrap();
        let instancer = Instancer::new(&client, "/svc/").unwrap();
        assert_eq!(instancer.prefix(), "/svc/");
        let mut sub = sd_core::Instancer::subscribe(&instancer);
        let event = sub.next().await.unwrap();
        assert!(
            event.error().is_some_and(sd_core::Error::is_discovery),
            "{event:?}"
        );
        assert!(instancer.stats().failures >= 1);
    }
}
