//! `Backoff`: how long to wait before trying again, shared by every retry loop in `sd`
//! (request retries in `sd-lb`, re-registration in `sd-eureka`).

use std::fmt;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::wyrand;

/// Exponential backoff with jitter.
///
/// The wait before retry number `n` (from 1) is drawn at random from the upper half of its
/// ceiling, `first × 2^(n-1)` capped at `max`: it grows so that a failing peer is not
/// hammered, and it is random so that clients that failed together (a server restart, a
/// network blip) do not retry together. Drawing is one atomic add on the retry path only;
/// clones draw independently.
///
/// ```
/// use std::time::Duration;
/// use sd_core::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
/// assert_eq!(backoff.ceiling(3), Duration::from_millis(40));
/// let wait = backoff.delay(3);
/// assert!(wait >= Duration::from_millis(20) && wait <= Duration::from_millis(40));
/// ```
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// `WyRand` state.
    state: AtomicU64,
}

impl Backoff {
    /// Waits from `first` (retry 1) doubling up to `max` (at least `first`), randomly
    /// seeded.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self::with_seed(first, max, RandomState::new().hash_one(0x5d_u8))
    }

    /// As [`new`](Self::new), with the jitter determined by `seed` (for tests).
    pub fn with_seed(first: Duration, max: Duration, seed: u64) -> Self {
        Self {
            first,
            max: max.max(first),
            state: AtomicU64::new(seed),
        }
    }

    /// No wait at all (go-kit's immediate retries).
    pub fn none() -> Self {
        Self::with_seed(Duration::ZERO, Duration::ZERO, 0)
    }

    /// The wait before the first retry, at most.
    pub fn first(&self) -> Duration {
        self.first
    }

    /// The longest wait.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The longest wait before retry number `retry` (from 1; 0 counts as 1).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(63);
        let factor = 1u64 << doublings;
        let grown = u32::try_from(factor).map_or(self.max, |f| self.first.saturating_mul(f));
        grown.min(self.max)
    }

    /// The wait before retry number `retry`: a random point of the upper half of its
    /// [`ceiling`](Self::ceiling).
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_at_most(retry, Duration::MAX)
    }

    /// As [`delay`](Self::delay), with the ceiling lowered to `cap` first (a registrar
    /// never waits longer than its renewal interval); still random within the capped
    /// range, so capped waits do not fall in step.
    pub fn delay_at_most(&self, retry: u32, cap: Duration) -> Duration {
        let ceiling = self.ceiling(retry).min(cap);
        let half = ceiling / 2;
        let span = u64::try_from(ceiling.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
        let offset =
            u64::try_from((u128::from(self.next_u64()) * u128::from(span)) >> 64).unwrap_or(span);
        half.saturating_add(Duration::from_nanos(offset))
    }

    fn next_u64(&self) -> u64 {
        wyrand(&self.state)
    }
}

impl Clone for Backoff {
    /// A backoff with the same waits and a jitter of its own.
    fn clone(&self) -> Self {
        Self::with_seed(self.first, self.max, self.next_u64())
    }
}

impl Default for Backoff {
    /// 10 ms doubling up to 250 ms.
    fn default() -> Self {
        Self::new(Duration::from_millis(10), Duration::from_millis(250))
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("first", &self.first)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceilings_double_up_to_the_max() {
        let b = Backoff::with_seed(MS * 10, MS * 250, 1);
        let ceilings: Vec<u128> = (0..=7).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [10, 10, 20, 40, 80, 160, 250, 250]);
        assert_eq!(b.ceiling(u32::MAX), MS * 250);
        let huge = Backoff::with_seed(Duration::MAX, Duration::MAX, 1);
        assert_eq!(huge.ceiling(40), Duration::MAX);
        assert!(huge.delay(40) >= Duration::MAX / 2);
        assert_eq!(Backoff::none().delay(5), Duration::ZERO);
    }

    #[test]
    fn delays_spread_over_the_upper_half() {
        let b = Backoff::with_seed(Duration::from_secs(8), Duration::from_secs(8), 7);
        let draws: Vec<Duration> = (0..1000).map(|_| b.delay(1)).collect();
        assert!(
            draws
                .iter()
                .all(|d| (Duration::from_secs(4)..=Duration::from_secs(8)).contains(d))
        );
        let low = draws
            .iter()
            .filter(|d| **d < Duration::from_secs(6))
            .count();
        assert!(
            (300..700).contains(&low),
            "{low} of 1000 in the lower quarter"
        );
        let mut distinct = draws.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 990);
    }

    #[test]
    fn clones_and_seeds_draw_differently() {
        let a = Backoff::with_seed(MS * 100, MS * 100, 1);
        let b = a.clone();
        let c = Backoff::new(MS * 100, MS * 100);
        let draws = |x: &Backoff| (0..8).map(|_| x.delay(1)).collect::<Vec<_>>();
        let (da, db, dc) = (draws(&a), draws(&b), draws(&c));
        assert_ne!(da, db);
        assert_ne!(da, dc);
    }

    #[test]
    fn a_cap_lowers_the_ceiling_and_keeps_the_jitter() {
        let b = Backoff::with_seed(Duration::from_secs(1), Duration::MAX, 3);
        let cap = Duration::from_secs(30);
        let draws: Vec<Duration> = (0..100).map(|_| b.delay_at_most(20, cap)).collect();
        assert!(draws.iter().all(|d| *d >= cap / 2 && *d <= cap));
        let mut distinct = draws.clone();
        distinct.dedup();
        assert!(distinct.len() > 90);
    }
}
