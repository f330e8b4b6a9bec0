//! `InstancerStats`: what the poller has done, for health checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A snapshot of an instancer's poller; see [`Instancer::stats`](crate::Instancer::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct InstancerStats {
    /// Lookups finished, good or failed.
    pub lookups: u64,
    /// Lookups that failed (error events).
    pub failures: u64,
    /// Failed lookups since the last good one.
    pub consecutive_failures: u64,
    /// When a lookup last succeeded.
    pub last_success: Option<SystemTime>,
}

impl InstancerStats {
    /// How old the published instance set is: the time since the last good lookup.
    pub fn age(&self) -> Option<Duration> {
        self.last_success
            .and_then(|at| SystemTime::now().duration_since(at).ok())
    }
}

/// The counters the poller writes and handles read.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    lookups: AtomicU64,
    failures: AtomicU64,
    consecutive_failures: AtomicU64,
    /// Milliseconds since the epoch; 0 for never.
    last_success_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn success(&self) {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // A clock before 1970 still says "succeeded" rather than "never".
        self.last_success_ms.store(now.max(1), Ordering::Relaxed);
    }

    pub(crate) fn failure(&self) {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> InstancerStats {
        let last = self.last_success_ms.load(Ordering::Relaxed);
        InstancerStats {
            lookups: self.lookups.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_success: (last > 0).then(|| UNIX_EPOCH + Duration::from_millis(last)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_a_success_resets_the_streak() {
        let c = Counters::default();
        assert_eq!(c.snapshot(), InstancerStats::default());
        assert_eq!(c.snapshot().age(), None);
        c.failure();
        c.failure();
        assert_eq!(c.snapshot().consecutive_failures, 2);
        c.success();
        let s = c.snapshot();
        assert_eq!((s.lookups, s.failures, s.consecutive_failures), (3, 2, 0));
        assert!(s.age().is_some_and(|age| age < Duration::from_secs(3600)));
    }
}
