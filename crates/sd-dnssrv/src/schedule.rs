//! When to poll next: at the interval, sooner when the answer's TTL is shorter (never
//! sooner than the floor), and with a jittered backoff after failures.

use std::time::Duration;

use sd_core::Backoff;

/// The poller's clock rules; every duration is more than zero (the builder checks).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    interval: Duration,
    floor: Duration,
    backoff: Backoff,
}

impl Schedule {
    pub(crate) fn new(interval: Duration, floor: Duration) -> Self {
        let first = floor.min(interval);
        Self {
            interval,
            floor,
            backoff: Backoff::new(first, interval),
        }
    }

    /// The wait after a good answer valid for `ttl` (`None`: no TTL known): the interval,
    /// or the TTL when that is shorter but not below the floor.
    pub(crate) fn after_answer(&self, ttl: Option<Duration>) -> Duration {
        match ttl {
            Some(ttl) => self.interval.min(ttl.max(self.floor)),
            None => self.interval,
        }
    }

    /// The wait after the `failures`-th failure in a row (from 1): from the floor (or the
    /// interval, when that is shorter) doubling up to the interval, jittered so that
    /// clients that failed together do not retry together.
    pub(crate) fn after_failure(&self, failures: u32) -> Duration {
        let least = self.floor.min(self.interval);
        self.backoff
            .delay_at_most(failures, self.interval)
            .max(least)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_shorter_ttl_brings_the_poll_forward_down_to_the_floor() {
        let s = Schedule::new(S * 30, S);
        assert_eq!(s.after_answer(None), S * 30);
        assert_eq!(s.after_answer(Some(S * 300)), S * 30);
        assert_eq!(s.after_answer(Some(S * 5)), S * 5);
        assert_eq!(s.after_answer(Some(Duration::ZERO)), S);
    }

    #[test]
    fn an_interval_below_the_floor_still_rules() {
        let s = Schedule::new(Duration::from_millis(100), S);
        assert_eq!(
            s.after_answer(Some(Duration::ZERO)),
            Duration::from_millis(100)
        );
        assert_eq!(s.after_failure(1), Duration::from_millis(100));
    }

    #[test]
    fn failures_back_off_from_the_floor_to_the_interval() {
        let s = Schedule::new(S * 30, S);
        for n in 1..40 {
            let wait = s.after_failure(n);
            assert!(wait >= S && wait <= S * 30, "{n}: {wait:?}");
        }
        assert!(s.after_failure(20) >= S * 15);
    }

    #[test]
    fn extreme_durations_do_not_panic() {
        let s = Schedule::new(Duration::MAX, Duration::MAX);
        assert_eq!(s.after_answer(Some(Duration::ZERO)), Duration::MAX);
        assert!(s.after_failure(u32::MAX) >= Duration::MAX / 2);
        let tiny = Schedule::new(Duration::from_nanos(1), Duration::from_nanos(1));
        assert_eq!(tiny.after_failure(3), Duration::from_nanos(1));
    }
}
