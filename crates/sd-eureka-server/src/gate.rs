//! The read gate after start: a real server that got no registry from its peers refuses
//! every registry read with 403 for `waitTimeInMsWhenSyncEmpty` (5 minutes by default),
//! while it accepts registrations and heartbeats. Clients meet it whenever one node of a
//! cluster restarts, so their failover must move on to the next service URL; the gate lets
//! tests show that they do.

use std::time::{Duration, Instant};

/// Whether registry reads are answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadGate {
    /// Reads are answered (the default: no wait configured).
    Open,
    /// Reads get 403 until then.
    Until(Instant),
    /// Reads get 403 for as long as the server runs: the wait configured does not fit
    /// the clock (`Duration::MAX` and the like), which is as good as forever.
    Closed,
}

impl ReadGate {
    /// A gate that stays shut for `wait` from now; a zero wait is no gate at all.
    pub(crate) fn starting_now(wait: Duration) -> Self {
        if wait.is_zero() {
            return Self::Open;
        }
        // Checked: `Instant + Duration` panics when the sum does not fit.
        Instant::now()
            .checked_add(wait)
            .map_or(Self::Closed, Self::Until)
    }

    /// How much longer reads are refused at `now`; `None` once they are answered.
    /// `Some(Duration::MAX)` for a gate that never opens.
    pub(crate) fn remaining(self, now: Instant) -> Option<Duration> {
        match self {
            Self::Open => None,
            Self::Closed => Some(Duration::MAX),
            Self::Until(opens) => {
                Some(opens.saturating_duration_since(now)).filter(|d| !d.is_zero())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_open_and_huge_waits_do_not_panic() {
        let now = Instant::now();
        assert_eq!(ReadGate::starting_now(Duration::ZERO).remaining(now), None);
        assert_eq!(
            ReadGate::starting_now(Duration::MAX).remaining(now),
            Some(Duration::MAX)
        );
        let hour = ReadGate::starting_now(Duration::from_secs(3600));
        assert!(hour.remaining(now).is_some());
        let later = now.checked_add(Duration::from_secs(7200)).unwrap();
        assert_eq!(hour.remaining(later), None);
    }
}
