//! Encoding whole-registry answers (`GET apps`, `apps/delta`) off the runtime's workers,
//! and the cache of full-registry answers.
//!
//! Encoding and gzipping 10,000 instances takes milliseconds of CPU; done on a runtime
//! worker it parks that worker, and every connection it serves (renewals included) waits.
//! So the snapshot, the encoding and the compression run on Tokio's blocking pool, while
//! the request's task waits without holding a worker. At most one such job per core runs
//! at a time: each holds a copy of the registry, and unbounded concurrency would multiply
//! peak memory by the number of clients missing at once.
//!
//! The cache holds one entry per (format, gzip), for one registry version. Requests that
//! miss at once share the entry's cell: the first builds, the others wait for that build
//! (asynchronously), so each version is built once per (format, gzip).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use sd_eureka::{Applications, Document, Format};
use tokio::sync::{OnceCell, Semaphore};

use crate::registry::Registry;
use crate::service::{Negotiated, Rejection, Reply};

/// The registry, shared with the blocking pool.
pub(crate) type SharedRegistry = Arc<Mutex<Registry>>;

/// Locks the registry. Its operations leave it consistent between calls, so a panic
/// elsewhere while the lock was held does not make it unusable.
pub(crate) fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Encodes whole-registry answers off the workers and caches full-registry ones.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// Full-registry answers by (format, gzip).
    cache: Mutex<HashMap<(Format, bool), Cached>>,
    /// How long a cached answer may be served while only renewals happened; zero: never.
    ttl: Duration,
    /// Bounds the encoding jobs running at once (see the module docs).
    jobs: Semaphore,
    /// How many full-registry answers were built, for tests and diagnostics.
    builds: AtomicU64,
}

/// One cached answer: the registry version it is for, when the entry was made, and the
/// body, set once by whichever request builds it first.
#[derive(Debug)]
struct Cached {
    version: u64,
    created: Instant,
    body: Arc<OnceCell<Bytes>>,
}

impl Encoder {
    pub(crate) fn new(ttl: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            cache: Mutex::default(),
            ttl,
            jobs: Semaphore::new(cores),
            builds: AtomicU64::new(0),
        }
    }

    /// How many full-registry answers were built so far.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// `GET apps`: from the cache while the registry's version is unchanged and the entry
    /// is younger than the TTL (renewals alone do not change the version), else built.
    pub(crate) async fn full_registry(
        &self,
        registry: &SharedRegistry,
        negotiated: Negotiated,
    ) -> Reply {
        let snapshot = |registry: &mut Registry| registry.applications();
        if self.ttl.is_zero() {
            self.builds.fetch_add(1, Ordering::Relaxed);
            return match self.apart(registry, negotiated, snapshot).await {
                Ok(body) => negotiated.reply(body),
                Err(rejection) => rejection.into_reply(),
            };
        }
        let cell = self.entry(negotiated, lock(registry).version());
        let built = cell
            .get_or_try_init(|| {
                self.builds.fetch_add(1, Ordering::Relaxed);
                self.apart(registry, negotiated, snapshot)
            })
            .await;
        match built {
            Ok(body) => negotiated.reply(body.clone()),
            Err(rejection) => rejection.into_reply(),
        }
    }

    /// Any whole-registry document (the delta), encoded off the workers.
    pub(crate) async fn document(
        &self,
        registry: &SharedRegistry,
        negotiated: Negotiated,
        snapshot: impl FnOnce(&mut Registry) -> Applications + Send + 'static,
    ) -> Reply {
        match self.apart(registry, negotiated, snapshot).await {
            Ok(body) => negotiated.reply(body),
            Err(rejection) => rejection.into_reply(),
        }
    }

    /// The cell of the cache entry for this answer at `version`: the current one when it
    /// is for that version and fresh, else a new, empty one that replaces it.
    fn entry(&self, negotiated: Negotiated, version: u64) -> Arc<OnceCell<Bytes>> {
        let key = (negotiated.format, negotiated.gzip);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = cache
            .get(&key)
            .filter(|c| c.version == version && c.created.elapsed() < self.ttl);
        if let Some(hit) = fresh {
            return Arc::clone(&hit.body);
        }
        let body = Arc::new(OnceCell::new());
        cache.insert(
            key,
            Cached {
                version,
                created: Instant::now(),
                body: Arc::clone(&body),
            },
        );
        body
    }

    /// Takes a snapshot of the registry and encodes it, on the blocking pool.
    async fn apart(
        &self,
        registry: &SharedRegistry,
        negotiated: Negotiated,
        snapshot: impl FnOnce(&mut Registry) -> Applications + Send + 'static,
    ) -> Result<Bytes, Rejection> {
        let failed = || {
            Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the registry could not be encoded",
            )
        };
        // The semaphore is never closed, so this fails only in theory.
        let _permit = self.jobs.acquire().await.map_err(|_| failed())?;
        let registry = Arc::clone(registry);
        tokio::task::spawn_blocking(move || {
            // The lock is held for the snapshot only, not for the encoding.
            let apps = snapshot(&mut lock(&registry));
            negotiated.body(&Document::Applications(apps))
        })
        .await
        .unwrap_or_else(|_| Err(failed()))
    }
}

#[cfg(test)]
mod tests {
    use sd_eureka::InstanceInfo;

    use super::*;

    fn registry(instances: u16) -> SharedRegistry {
        let mut registry = Registry::new(Duration::from_secs(180), 1000);
        for n in 0..instances {
            let instance = InstanceInfo::new("orders", &format!("host-{n}"), "10.0.0.1", n);
            registry.register("ORDERS", instance, 1_700_000_000_000);
        }
        Arc::new(Mutex::new(registry))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_build_each_version_once() {
        let registry = registry(500);
        let encoder = Arc::new(Encoder::new(Duration::from_secs(3600)));
        let asks = [(Format::Json, true), (Format::Xml, false)];
        let mut requests = tokio::task::JoinSet::new();
        for (format, gzip) in asks.iter().cycle().take(40) {
            let (registry, encoder) = (Arc::clone(&registry), Arc::clone(&encoder));
            let negotiated = Negotiated {
                format: *format,
                gzip: *gzip,
            };
            requests.spawn(async move { encoder.full_registry(&registry, negotiated).await });
        }
        while let Some(reply) = requests.join_next().await {
            assert_eq!(reply.unwrap().status(), StatusCode::OK);
        }
        assert_eq!(encoder.builds(), 2, "once per (format, gzip)");

        // A change makes a new version: built once more for the next ask.
        let extra = InstanceInfo::new("billing", "host-x", "10.0.0.2", 80);
        lock(&registry).register("BILLING", extra, 1_700_000_000_001);
        let negotiated = Negotiated {
            format: Format::Json,
            gzip: true,
        };
        for _ in 0..3 {
            encoder.full_registry(&registry, negotiated).await;
        }
        assert_eq!(encoder.builds(), 3);
    }
}
