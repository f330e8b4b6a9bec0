//! Which service URL to try first: each URL's standing after its recent failures.
//!
//! A URL that fails is set aside for the quarantine period, doubled for each failure in a
//! row (up to [`LONGEST`], or the base period when that is longer), so a URL that keeps
//! failing costs its callers less and less often; one success restores it. Set-aside URLs
//! are still tried, after every URL in good standing, so an operation never gives up while
//! some URL might answer.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The longest a URL is set aside, unless the base period is longer still.
pub(crate) const LONGEST: Duration = Duration::from_secs(10 * 60);

/// The standing of every service URL of a connection.
#[derive(Debug)]
pub(crate) struct Standings {
    base: Duration,
    slots: Mutex<Vec<Standing>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Standing {
    /// Failures in a row.
    failures: u32,
    /// Until when the URL is set aside.
    until: Option<Instant>,
}

impl Standings {
    pub(crate) fn new(count: usize, base: Duration) -> Self {
        Self {
            base,
            slots: Mutex::new(vec![Standing::default(); count]),
        }
    }

    /// URL indexes in the order to try them at `now`: those in good standing in
    /// configured order, then those set aside, the soonest to return first.
    pub(crate) fn order(&self, now: Instant) -> Vec<usize> {
        let slots = self.lock();
        let mut good = Vec::with_capacity(slots.len());
        let mut resting = Vec::new();
        for (index, slot) in slots.iter().enumerate() {
            match slot.until {
                Some(until) if until > now => resting.push((until, index)),
                _ => good.push(index),
            }
        }
        resting.sort_unstable();
        good.extend(resting.into_iter().map(|(_, index)| index));
        good
    }

    /// Records the failure at `now` of an attempt on URL `index` that started at
    /// `started`; returns how long the URL is set aside.
    ///
    /// Only failures of attempts that started while the URL was in good standing count
    /// as one more in a row: the many concurrent calls that meet one outage together set
    /// it aside once, not once each.
    pub(crate) fn failed(&self, index: usize, started: Instant, now: Instant) -> Duration {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(index) else {
            return Duration::ZERO;
        };
        if let Some(until) = slot.until.filter(|until| *until > started) {
            return until.saturating_duration_since(now);
        }
        slot.failures = slot.failures.saturating_add(1);
        let period = set_aside_for(self.base, slot.failures);
        // A period too long for the clock sets the URL aside for as long as it can say.
        slot.until = Some(now.checked_add(period).unwrap_or(now + LONGEST));
        period
    }

    /// Records a success of URL `index`: back in good standing.
    pub(crate) fn succeeded(&self, index: usize) {
        if let Some(slot) = self.lock().get_mut(index) {
            *slot = Standing::default();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Standing>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long a URL is set aside after `failures` failures in a row: `base`, doubled for
/// each failure after the first, at most [`LONGEST`] (or `base` when that is longer).
pub(crate) fn set_aside_for(base: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    let grown = base.saturating_mul(1 << doublings);
    grown.min(LONGEST.max(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(30);

    #[test]
    fn the_period_doubles_with_each_failure_in_a_row_up_to_the_cap() {
        let periods: Vec<u64> = (1..=7).map(|n| set_aside_for(BASE, n).as_secs()).collect();
        assert_eq!(periods, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(set_aside_for(BASE, u32::MAX), LONGEST);
        // A base longer than the cap is kept as it is.
        let hour = Duration::from_secs(3600);
        assert_eq!(set_aside_for(hour, 5), hour);
        assert_eq!(set_aside_for(Duration::MAX, 3), Duration::MAX);
        assert_eq!(set_aside_for(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn a_failing_url_goes_last_and_a_success_restores_it() {
        let standings = Standings::new(3, BASE);
        let t0 = Instant::now();
        assert_eq!(standings.order(t0), [0, 1, 2]);
        standings.failed(0, t0, t0);
        assert_eq!(standings.order(t0), [1, 2, 0]);
        // Back in good standing once its period is over.
        assert_eq!(standings.order(t0 + BASE), [0, 1, 2]);
        // A second failure in a row: twice as long.
        standings.failed(0, t0 + BASE, t0 + BASE);
        assert_eq!(standings.order(t0 + BASE * 2), [1, 2, 0]);
        assert_eq!(standings.order(t0 + BASE * 3), [0, 1, 2]);
        // One success, and the next failure counts from one again.
        standings.succeeded(0);
        standings.failed(0, t0 + BASE * 3, t0 + BASE * 3);
        assert_eq!(standings.order(t0 + BASE * 4), [0, 1, 2]);
    }

    #[test]
    fn set_aside_urls_are_ordered_by_when_they_return() {
        let standings = Standings::new(3, BASE);
        let t0 = Instant::now();
        standings.failed(0, t0, t0);
        standings.failed(0, t0 + BASE, t0 + BASE);
        standings.failed(1, t0 + BASE, t0 + BASE);
        assert_eq!(standings.order(t0 + BASE), [2, 1, 0]);
    }

    #[test]
    fn concurrent_failures_of_one_outage_count_once() {
        let standings = Standings::new(2, BASE);
        let t0 = Instant::now();
        // Eight calls started together, all failing on URL 0.
        for n in 0..8 {
            standings.failed(0, t0, t0 + Duration::from_millis(n));
        }
        // Set aside for the base period only, not 2^7 times it.
        assert_eq!(
            standings.order(t0 + BASE + Duration::from_millis(10)),
            [0, 1]
        );
        // An attempt made while it was set aside (all else failing) does not count either.
        standings.failed(0, t0 + BASE / 2, t0 + BASE / 2);
        assert_eq!(
            standings.order(t0 + BASE + Duration::from_millis(10)),
            [0, 1]
        );
    }

    #[test]
    fn huge_periods_and_unknown_indexes_do_not_panic() {
        let standings = Standings::new(1, Duration::MAX);
        let t0 = Instant::now();
        standings.failed(0, t0, t0);
        assert_eq!(standings.order(t0), [0]);
        assert_eq!(standings.failed(7, t0, t0), Duration::ZERO);
        standings.succeeded(7);
    }
}
