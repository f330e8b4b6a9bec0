//! `Registrar`: keeps one instance key in etcd under a lease for as long as the service
//! lives.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use etcd_client::PutOptions;
use sd_core::OwnedTask;
use tokio::sync::oneshot;

use crate::{Client, Error, entry};

/// etcd's longest lease TTL, in seconds.
const MAX_TTL_SECS: u64 = 9_000_000_000;

/// Registers an instance in etcd as go-kit's etcd registrar does: the key `prefix + key`
/// holds the instance string, under a lease that a keep-alive renews every third of its
/// TTL. When the lease is lost (it expired while etcd was unreachable, or someone revoked
/// it), the registrar grants a new one and writes the key again at once; failures are
/// retried with the client's jittered backoff, capped by the renewal interval.
///
/// [`deregister`](Self::deregister) stops the keep-alive, then deletes the key and
/// revokes the lease, all within its limit (5 s by default), leaving nothing behind.
/// Dropping the last clone stops the keep-alive too, and sends the same clean-up, best
/// effort; without it the key would go when its lease runs out.
///
/// ```no_run
/// use std::time::Duration;
/// use sd_etcd::{Client, Registrar};
///
/// # async fn demo() -> Result<(), sd_etcd::Error> {
/// let client = Client::connect(["http://127.0.0.1:2379"]).await?;
/// let registrar = Registrar::builder(client, "/services/orders/", "10.0.0.5:8080", "10.0.0.5:8080")
///     .ttl(Duration::from_secs(10))
///     .build()?;
/// registrar.register().await?;
/// // ... serve ...
/// registrar.deregister().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Registrar {
    handle: Arc<Handle>,
}

/// Options for a [`Registrar`]; see [`Registrar::builder`].
#[derive(Debug)]
#[must_use]
pub struct RegistrarBuilder {
    client: Client,
    prefix: String,
    key: String,
    value: String,
    ttl: Duration,
    deregister_timeout: Duration,
}

/// A snapshot of a registrar's work, for health checks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrarStats {
    /// Whether the keep-alive task is running.
    pub registered: bool,
    /// The lease the key is written under, once granted.
    pub lease: Option<i64>,
    /// Times the key was written under a new lease: the first, then one per lost lease.
    pub registrations: u64,
    /// Keep-alives etcd answered.
    pub keep_alives: u64,
    /// Failed grants, puts and keep-alives.
    pub failures: u64,
}

/// Held only by `Registrar` clones (the task holds `Shared`), so dropping the last clone
/// is seen here.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    client: Client,
    key: String,
    value: String,
    ttl_secs: i64,
    deregister_timeout: Duration,
    task: Mutex<Option<OwnedTask>>,
    /// The lease currently granted, for the keep-alive and for the clean-up.
    lease: Mutex<Option<i64>>,
    registrations: AtomicU64,
    keep_alives: AtomicU64,
    failures: AtomicU64,
}

impl RegistrarBuilder {
    /// The lease TTL (default 30 s). Rounded up to whole seconds, at least 1 s (etcd
    /// raises shorter TTLs to its own minimum, about 2 s), at most etcd's longest.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long [`Registrar::deregister`] may take in all (default 5 s).
    pub fn deregister_timeout(mut self, limit: Duration) -> Self {
        self.deregister_timeout = limit;
        self
    }

    /// The registrar; nothing is written until [`Registrar::register`]. Fails
    /// ([`Error::is_config`]) when `key` is empty or holds a `/` (the instancer takes only
    /// keys right below the prefix), or when the value is not an instance string an
    /// instancer would take.
    pub fn build(self) -> Result<Registrar, Error> {
        let full = format!("{}{}", self.prefix, self.key);
        if self.key.is_empty()
            || self.key.contains('/')
            || entry::instance_name(self.prefix.as_bytes(), full.as_bytes()).is_err()
        {
            return Err(Error::config(format!(
                "key {:?}: an instance key is one non-empty name without '/' below the prefix",
                self.key
            )));
        }
        if let Err(skip) = entry::instance_value(self.value.as_bytes()) {
            return Err(Error::config(format!("value {:?}: {skip}", self.value)));
        }
        let ttl_secs = self
            .ttl
            .as_secs()
            .saturating_add(u64::from(self.ttl.subsec_nanos() > 0));
        let ttl_secs = i64::try_from(ttl_secs.clamp(1, MAX_TTL_SECS)).unwrap_or(i64::MAX);
        Ok(Registrar {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    client: self.client,
                    key: full,
                    value: self.value,
                    ttl_secs,
                    deregister_timeout: self.deregister_timeout,
                    task: Mutex::new(None),
                    lease: Mutex::new(None),
                    registrations: AtomicU64::new(0),
                    keep_alives: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                }),
            }),
        })
    }
}

impl Registrar {
    /// A registrar writing `value` at `prefix + key`, with default options.
    pub fn new(
        client: Client,
        prefix: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::builder(client, prefix, key, value).build()
    }

    /// Options for a registrar writing `value` at `prefix + key`.
    pub fn builder(
        client: Client,
        prefix: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> RegistrarBuilder {
        RegistrarBuilder {
            client,
            prefix: prefix.into(),
            key: key.into(),
            value: value.into(),
            ttl: Duration::from_secs(30),
            deregister_timeout: Duration::from_secs(5),
        }
    }

    /// The key written: `prefix + key`.
    pub fn key(&self) -> &str {
        &self.handle.shared.key
    }

    /// Grants a lease, writes the key under it, and starts the keep-alive. Registering
    /// again while registered does nothing. When etcd cannot be reached the error is
    /// returned and the registrar keeps trying in the background. Outside a Tokio runtime
    /// it fails ([`Error::is_no_runtime`]).
    pub async fn register(&self) -> Result<(), Error> {
        let (first_tx, first_rx) = oneshot::channel();
        {
            let mut task = self.handle.shared.lock_task();
            if task.as_ref().is_some_and(|t| !t.is_finished()) {
                return Ok(());
            }
            let shared = Arc::clone(&self.handle.shared);
            *task = Some(
                OwnedTask::spawn(|stopping| async move {
                    tokio::select! {
                        () = stopping => {}
                        () = keep(&shared, first_tx) => {}
                    }
                })
                .map_err(|_| Error::no_runtime("an etcd Registrar"))?,
            );
        }
        first_rx.await.unwrap_or(Ok(()))
    }

    /// Stops the keep-alive (cancelling any request in flight), then deletes the key and
    /// revokes the lease, within the deregister limit. Does nothing when not registered.
    pub async fn deregister(&self) -> Result<(), Error> {
        let Some(task) = self.handle.shared.lock_task().take() else {
            return Ok(());
        };
        let shared = &self.handle.shared;
        let limit = shared.deregister_timeout;
        let start = tokio::time::Instant::now();
        task.stop_within(limit).await;
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, shared.clean_up()).await {
            Ok(result) => result,
            Err(_) => Err(Error::timeout("deregistration", limit)),
        }
    }

    /// Whether the keep-alive task is running.
    pub fn is_registered(&self) -> bool {
        self.handle
            .shared
            .lock_task()
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Counters for health checks.
    pub fn stats(&self) -> RegistrarStats {
        let s = &self.handle.shared;
        RegistrarStats {
            registered: self.is_registered(),
            lease: *s.lock_lease(),
            registrations: s.registrations.load(Ordering::Relaxed),
            keep_alives: s.keep_alives.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
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

impl Drop for Handle {
    fn drop(&mut self) {
        // Dropping the task aborts it; then, best effort, the same clean-up as deregister.
        let Some(task) = self.shared.lock_task().take() else {
            return;
        };
        drop(task);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            runtime.spawn(async move {
                let limit = shared.deregister_timeout;
                let _ = tokio::time::timeout(limit, shared.clean_up()).await;
            });
        }
    }
}

impl Shared {
    fn lock_task(&self) -> MutexGuard<'_, Option<OwnedTask>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_lease(&self) -> MutexGuard<'_, Option<i64>> {
        self.lease.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How often the lease is renewed: a third of the TTL, at least every 500 ms.
    fn renewal_interval(&self) -> Duration {
        let ttl = Duration::from_secs(u64::try_from(self.ttl_secs).unwrap_or(1));
        (ttl / 3).max(Duration::from_millis(500))
    }

    /// Grants a lease and writes the key under it.
    async fn grant_and_put(&self) -> Result<i64, Error> {
        let mut raw = self.client.raw();
        let grant = self
            .client
            .within("lease grant", raw.lease_grant(self.ttl_secs, None))
            .await?;
        let lease = grant.id();
        // Known before the put, so that a clean-up revokes it whatever happens next.
        *self.lock_lease() = Some(lease);
        let options = PutOptions::new().with_lease(lease);
        self.client
            .within(
                "put",
                raw.put(self.key.clone(), self.value.clone(), Some(options)),
            )
            .await?;
        self.registrations.fetch_add(1, Ordering::Relaxed);
        tracing::info!(key = %self.key, lease, ttl = self.ttl_secs, "registered in etcd");
        Ok(lease)
    }

    /// Renews `lease` every renewal interval; returns `Ok` when etcd says the lease is
    /// gone (TTL 0, or not found), an error when the keep-alive fails.
    async fn keep_alive(&self, lease: i64, failures: &mut u32) -> Result<(), Error> {
        const OP: &str = "lease keep-alive";
        let mut raw = self.client.raw();
        let limit = self.client.request_timeout();
        // Opening the stream renews the lease once, and fails when the lease is gone.
        let (mut keeper, mut answers) =
            match tokio::time::timeout(limit, raw.lease_keep_alive(lease)).await {
                Ok(Ok(opened)) => opened,
                Ok(Err(etcd_client::Error::LeaseKeepAliveError(reason)))
                    if reason.contains("not found") =>
                {
                    return Ok(());
                }
                Ok(Err(error)) => return Err(Error::etcd(OP, error)),
                Err(_) => return Err(Error::timeout(OP, limit)),
            };
        loop {
            self.keep_alives.fetch_add(1, Ordering::Relaxed);
            *failures = 0;
            tokio::time::sleep(self.renewal_interval()).await;
            let answer = self
                .client
                .within(OP, async {
                    keeper.keep_alive().await?;
                    answers.message().await
                })
                .await?;
            let Some(answer) = answer else {
                return Err(Error::protocol(OP, "the stream ended"));
            };
            if answer.ttl() <= 0 {
                return Ok(());
            }
        }
    }

    /// Deletes the key and revokes the lease (which would delete the key too); a lease
    /// that is already gone is no failure.
    async fn clean_up(&self) -> Result<(), Error> {
        let mut raw = self.client.raw();
        let deleted = self
            .client
            .within("delete", raw.delete(self.key.clone(), None))
            .await;
        let lease = self.lock_lease().take();
        let revoked = match lease {
            Some(lease) => match self
                .client
                .within("lease revoke", raw.lease_revoke(lease))
                .await
            {
                Err(error) if error.to_string().contains("lease not found") => Ok(()),
                other => other.map(drop),
            },
            None => Ok(()),
        };
        if deleted.is_ok() && revoked.is_ok() {
            tracing::info!(key = %self.key, "deregistered from etcd");
        } else {
            tracing::warn!(key = %self.key, "etcd deregistration failed");
        }
        deleted.map(drop).and(revoked)
    }
}

/// The registration loop: write the key under a new lease, keep the lease alive, and
/// start again when it is lost. `first` hears how the first attempt went.
async fn keep(shared: &Shared, first: oneshot::Sender<Result<(), Error>>) {
    let backoff = shared.client.backoff();
    let mut first = Some(first);
    let mut failures: u32 = 0;
    let mut lease: Option<i64> = None;
    loop {
        let outcome = match lease {
            None => shared.grant_and_put().await.map(|granted| {
                lease = Some(granted);
                failures = 0;
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                }
            }),
            Some(id) => match shared.keep_alive(id, &mut failures).await {
                Ok(()) => {
                    tracing::warn!(key = %shared.key, lease = id, "etcd lease lost; registering again");
                    lease = None;
                    *shared.lock_lease() = None;
                    Ok(())
                }
                Err(error) => Err(error),
            },
        };
        if let Err(error) = outcome {
            shared.failures.fetch_add(1, Ordering::Relaxed);
            failures = failures.saturating_add(1);
            tracing::warn!(key = %shared.key, %error, failures, "etcd registration or keep-alive failed");
            if let Some(first) = first.take() {
                let _ = first.send(Err(error));
            }
            let wait = backoff.delay_at_most(failures, shared.renewal_interval());
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client() -> Client {
        Client::connect(["127.0.0.1:1"]).await.unwrap()
    }

    #[tokio::test]
    async fn keys_and_values_are_checked_and_ttls_bounded() {
        for key in ["", "a/b", "/a"] {
            let error = Registrar::new(client().await, "/svc/", key, "10.0.0.1:80").unwrap_err();
            assert!(error.is_config(), "{key:?}");
        }
        for value in ["", "a b", "x\n"] {
            let error = Registrar::new(client().await, "/svc/", "a", value).unwrap_err();
            assert!(error.is_config(), "{value:?}");
        }
        for (ttl, secs) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1500), 2),
            (Duration::MAX, 9_000_000_000),
        ] {
            let r = Registrar::builder(client().await, "/svc/", "a", "10.0.0.1:80")
                .ttl(ttl)
                .build()
                .unwrap();
            assert_eq!(r.handle.shared.ttl_secs, secs, "{ttl:?}");
            assert!(r.handle.shared.renewal_interval() >= Duration::from_millis(500));
        }
        let r = Registrar::new(client().await, "/svc/", "a", "10.0.0.1:80").unwrap();
        assert_eq!(r.key(), "/svc/a");
    }

    #[tokio::test]
    async fn deregister_before_register_does_nothing() {
        let r = Registrar::new(client().await, "/svc/", "a", "10.0.0.1:80").unwrap();
        r.deregister().await.unwrap();
        assert!(!r.stats().registered);
    }
}
