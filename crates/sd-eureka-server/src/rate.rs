//! A count of events over the last minute, for the status page's "renews (last min)".
//!
//! Sixty per-second counters in a ring: memory stays fixed however many heartbeats
//! arrive, and a count is exact to the second. Real servers count the previous whole
//! minute instead (`MeasuredRate`), so their figure lags by up to a minute; a sliding
//! window shows a heartbeat that stopped within seconds, which is what development needs.

use crate::registry::Millis;

/// Seconds in the window.
const WINDOW_SECS: i64 = 60;
/// Slots in the ring: one a second.
const SLOTS: usize = 60;

/// Events per second over the last [`WINDOW_SECS`] seconds.
#[derive(Debug, Clone)]
pub(crate) struct PerMinute {
    /// Slot `s % 60` holds second `s` and its count; a slot whose second is more than a
    /// minute old is stale and counts for nothing (it is reset when its turn comes again).
    slots: [(i64, u64); SLOTS],
}

impl Default for PerMinute {
    fn default() -> Self {
        // `i64::MIN` is a second no clock reaches: every slot starts stale.
        Self {
            slots: [(i64::MIN, 0); SLOTS],
        }
    }
}

/// The second of `at`, and its slot in the ring.
fn second_of(at: Millis) -> (i64, usize) {
    let second = at.div_euclid(1000);
    // `rem_euclid` of a positive modulus is in 0..60: the fallback is never taken.
    let slot = usize::try_from(second.rem_euclid(WINDOW_SECS)).unwrap_or(0);
    (second, slot)
}

impl PerMinute {
    /// Counts one event at `at`.
    pub(crate) fn record(&mut self, at: Millis) {
        let (second, index) = second_of(at);
        let slot = &mut self.slots[index];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// The events of the minute up to `now`: this second and the 59 before it. Counts
    /// dated after `now` (a clock that stepped back) are left out rather than guessed at.
    pub(crate) fn last_minute(&self, now: Millis) -> u64 {
        let (current, _) = second_of(now);
        self.slots
            .iter()
            .filter(|(second, _)| {
                current
                    .checked_sub(*second)
                    .is_some_and(|age| (0..WINDOW_SECS).contains(&age))
            })
            .map(|(_, count)| count)
            .fold(0, |sum, count| sum.saturating_add(*count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_000_000;

    #[test]
    fn counts_the_last_sixty_seconds_only() {
        let mut rate = PerMinute::default();
        assert_eq!(rate.last_minute(T0), 0);
        for k in 0..5 {
            rate.record(T0 + k * 100);
        }
        rate.record(T0 + 30_000);
        assert_eq!(rate.last_minute(T0 + 30_000), 6);
        // The first five are in second T0/1000; they leave when 60 seconds have passed.
        assert_eq!(rate.last_minute(T0 + 59_999), 6);
        assert_eq!(rate.last_minute(T0 + 60_000), 1);
        assert_eq!(rate.last_minute(T0 + 89_999), 1);
        assert_eq!(rate.last_minute(T0 + 90_000), 0);
    }

    #[test]
    fn a_slot_is_reused_a_minute_later_without_growing() {
        let mut rate = PerMinute::default();
        for minute in 0..1000 {
            rate.record(T0 + minute * 60_000);
        }
        // Every event fell in the same slot; only the last minute's is counted.
        assert_eq!(rate.last_minute(T0 + 999 * 60_000), 1);
        assert_eq!(std::mem::size_of::<PerMinute>(), 60 * 16);
    }

    #[test]
    fn a_clock_that_steps_back_counts_nothing_from_the_future() {
        let mut rate = PerMinute::default();
        rate.record(T0 + 10_000);
        assert_eq!(rate.last_minute(T0), 0);
        rate.record(T0);
        assert_eq!(rate.last_minute(T0), 1);
        assert_eq!(rate.last_minute(T0 + 10_000), 2);
        // Extreme times neither panic nor overflow.
        rate.record(i64::MIN);
        rate.record(i64::MAX);
        assert_eq!(rate.last_minute(i64::MAX), 1);
        assert_eq!(rate.last_minute(i64::MIN), 1);
    }
}
