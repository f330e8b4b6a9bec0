//! `RetryBudget`: retries as a share of recent traffic, shared by every caller.
//!
//! The same rule as Finagle's and tower's `TpsBudget` (each request deposits a fraction of
//! a retry, each retry withdraws a whole one, a minimum rate is always allowed, deposits
//! expire after a window), built so that the request path can stay off shared memory:
//! callers count their requests in a [`Deposits`] tally of their own and pay them in
//! batches, and the window's clock is read only when a batch is paid or a retry asked for.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Slots the window is divided into; deposits expire one slot at a time.
const SLOTS: usize = 10;

/// What one retry costs, in the budget's units; a request deposits
/// `percent * UNIT / 100` of them.
const UNIT: i64 = 1000;

/// How many requests a [`Deposits`] tally counts before paying them in. Paying takes the
/// window's lock and reads the clock, which threads paying at once contend for: at 32,
/// that was a third of a retrying service's cost per request on two threads. A tally
/// pays what it holds before any retry of its own and when dropped, so what is unpaid at
/// any time is at most this per live tally, and only ever makes the budget smaller.
const BATCH: u32 = 256;

/// A retry budget: retries may add at most `percent` percent to the requests of the last
/// `window`, plus `min_per_sec` retries a second whatever the traffic (so that a quiet
/// service can still retry).
///
/// ```
/// use std::time::Duration;
/// use sd_lb::RetryBudget;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // No floor: retries come only from traffic.
/// let budget = RetryBudget::new(Duration::from_secs(10), 0, 20);
/// assert!(!budget.withdraw());
/// budget.deposit(5); // five requests pay for one retry at 20 %
/// assert!(budget.withdraw());
/// assert!(!budget.withdraw());
/// # }
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    /// Deposits by slot, minus withdrawals; the current slot is `window.current`.
    slots: [AtomicI64; SLOTS],
    window: Mutex<Window>,
    slot_length: Duration,
    /// Units one request deposits.
    per_request: i64,
    /// Units always available: the `min_per_sec` floor over the window.
    reserve: i64,
}

#[derive(Debug)]
struct Window {
    current: usize,
    /// When the current slot began.
    since: Instant,
}

impl RetryBudget {
    /// A budget over `window` (at least 10 ms) allowing `percent` percent of retries (at
    /// most 1000) on top of the requests, and at least `min_per_sec` retries a second.
    pub fn new(window: Duration, min_per_sec: u32, percent: u32) -> Self {
        let window = window.max(Duration::from_millis(10));
        let secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX).max(1);
        Self {
            slots: Default::default(),
            window: Mutex::new(Window {
                current: 0,
                since: Instant::now(),
            }),
            slot_length: window / u32::try_from(SLOTS).unwrap_or(10),
            per_request: i64::from(percent.min(1000)) * UNIT / 100,
            reserve: i64::from(min_per_sec)
                .saturating_mul(secs)
                .saturating_mul(UNIT),
        }
    }

    /// Records `requests` requests.
    pub fn deposit(&self, requests: u32) {
        let current = self.expire();
        let amount = self.per_request.saturating_mul(i64::from(requests));
        self.slots[current].fetch_add(amount, Ordering::AcqRel);
    }

    /// Takes one retry from the budget; false when there is none to take.
    pub fn withdraw(&self) -> bool {
        let current = self.expire();
        let balance: i64 = self
            .slots
            .iter()
            .map(|slot| slot.load(Ordering::Acquire))
            .fold(self.reserve, i64::saturating_add);
        if balance < UNIT {
            return false;
        }
        self.slots[current].fetch_sub(UNIT, Ordering::AcqRel);
        true
    }

    /// Empties the slots whose time is over and returns the current slot.
    fn expire(&self) -> usize {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = window.since.elapsed();
        if elapsed >= self.slot_length {
            let passed =
                (elapsed.as_nanos() / self.slot_length.as_nanos().max(1)).min(SLOTS as u128);
            let passed = usize::try_from(passed).unwrap_or(SLOTS);
            for _ in 0..passed {
                window.current = (window.current + 1) % SLOTS;
                self.slots[window.current].store(0, Ordering::Release);
            }
            window.since = Instant::now();
        }
        window.current
    }
}

impl Default for RetryBudget {
    /// 20 % of the requests of the last 10 s, and at least 10 retries a second (tower's
    /// and Finagle's defaults).
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 10, 20)
    }
}

/// One caller's tally of requests not yet paid into a shared [`RetryBudget`], and that
/// budget.
///
/// [`count`](Self::count) is a local increment; every 256 requests the tally is paid in
/// one deposit, and what is left is paid before a retry is asked for
/// ([`withdraw`](Self::withdraw)) and when the tally is dropped. So requests share
/// nothing until a batch is due.
#[derive(Debug)]
pub struct Deposits {
    unpaid: u32,
    budget: Arc<RetryBudget>,
}

impl Deposits {
    /// An empty tally for `budget`.
    pub fn new(budget: Arc<RetryBudget>) -> Self {
        Self { unpaid: 0, budget }
    }

    /// Counts one request, paying the tally when a batch is due.
    #[inline]
    pub fn count(&mut self) {
        self.unpaid += 1;
        if self.unpaid >= BATCH {
            self.pay();
        }
    }

    /// Pays what is counted.
    #[cold]
    fn pay(&mut self) {
        if self.unpaid > 0 {
            self.budget.deposit(std::mem::take(&mut self.unpaid));
        }
    }

    /// Pays what is counted, then takes one retry from the budget.
    pub fn withdraw(&mut self) -> bool {
        self.pay();
        self.budget.withdraw()
    }
}

impl Drop for Deposits {
    fn drop(&mut self) {
        self.pay();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_floor_refills_and_deposits_expire() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 20);
        // The floor: one a second over 10 s.
        for _ in 0..10 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw(), "the floor is spent");
        budget.deposit(10);
        assert!(budget.withdraw());
        assert!(budget.withdraw());
        assert!(
            !budget.withdraw(),
            "ten requests pay for two retries at 20 %"
        );
        // A whole window later the withdrawals have expired with the deposits.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(budget.withdraw(), "the floor is back");
    }

    #[test]
    fn absurd_settings_do_not_panic() {
        let budget = RetryBudget::new(Duration::MAX, u32::MAX, u32::MAX);
        budget.deposit(u32::MAX);
        assert!(budget.withdraw());
        let budget = RetryBudget::new(Duration::ZERO, 0, 0);
        budget.deposit(u32::MAX);
        assert!(!budget.withdraw());
    }

    #[test]
    fn a_tally_pays_in_batches_before_a_retry_and_when_dropped() {
        let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 100));
        let mut tally = Deposits::new(Arc::clone(&budget));
        tally.count();
        assert!(!budget.withdraw(), "one request, not paid yet");
        assert!(tally.withdraw(), "paid before the retry");
        for _ in 0..BATCH {
            tally.count();
        }
        assert_eq!(tally.unpaid, 0, "a full batch is paid at once");

        let budget = Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 100));
        let mut tally = Deposits::new(Arc::clone(&budget));
        tally.count();
        drop(tally);
        assert!(budget.withdraw(), "paid when the tally was dropped");
    }
}
