//! `Outliers`: passive outlier ejection.
//!
//! # Design
//!
//! Like [`ZoneAware`](crate::ZoneAware), ejection is a *filter on the endpoint list*:
//! [`Outliers`] is an [`EndpointSource`] that wraps any other source and leaves out the
//! endpoints currently set aside, so any balancer picks from what is left unchanged.
//! Callers tell it how each call went through [`Outliers::report`] or a cloneable
//! [`OutlierDetector`] handle (which can live in an endpoint factory, a tower layer, or
//! wherever the outcome is known); the detector decides, from outcomes alone, what to
//! set aside ("passive": no health-check traffic of its own).
//!
//! - **When:** an endpoint is set aside after
//!   [`consecutive_failures`](OutlierConfig::consecutive_failures) failures in a row (5 by
//!   default). What a failure is — a connect error, a 503, a slow answer — is the
//!   caller's call: it reports [`Outcome::Failure`] for whatever its classifier says.
//!   A success resets the count. Outcomes of calls that were under way when the
//!   endpoint was set aside are ignored.
//! - **For how long:** [`base_ejection`](OutlierConfig::base_ejection) (10 s) the first
//!   time, doubling with each ejection up to
//!   [`max_ejection`](OutlierConfig::max_ejection) (5 min). An endpoint that stays in
//!   the set for longer than `max_ejection` after returning starts again from the base.
//!   (An ejection that would end beyond the clock's range, from an absurd configuration,
//!   is not made: nothing panics and nothing is set aside for ever.)
//! - **How many:** never more than
//!   [`max_ejection_percent`](OutlierConfig::max_ejection_percent) percent of the set
//!   (50 % by default, rounded down, and never all of it): when too many endpoints fail,
//!   the fault is more likely the caller's or the network's, and ejecting them all would
//!   leave nothing to serve. So a set of one is never ejected from, and a set of three
//!   loses at most one.
//! - **Returning:** on its own, when its period is over; no call or timer is needed, the
//!   next read notices. It comes back with a clean count, and the next
//!   `consecutive_failures` failures in a row set it aside again, for twice as long.
//!
//! State is kept per instance id, in a map that holds exactly the instances of the last
//! list read: instances discovery removed are forgotten, and reports about instances not
//! in the list are ignored (so are reports made before the first read), and memory is
//! bounded by the size of the set.
//!
//! # Cost
//!
//! As with `ZoneAware`, the filtered list is cached with the inner list it came from and
//! a generation that each ejection bumps; a read reuses it when both still match, so it
//! allocates nothing and takes no lock. The clock is read only while some endpoint is
//! set aside (to notice its return). A report takes a short lock, except a success when
//! no endpoint has any failure counted, which is one atomic load.
//!
//! Ejections, returns, and ejections refused by the percentage cap are `debug` events
//! of the `sd_lb::outliers` target.
//!
//! # With zone affinity, and with sd-tower
//!
//! Wrap `Outliers` in [`ZoneAware`](crate::ZoneAware), not the other way round: then the
//! local zone is judged by its endpoints that were not set aside, and an ejection that
//! leaves it too few falls back to all zones.
//!
//! Reports need only the instance, which every [`Endpoint`](sd_core::Endpoint) carries,
//! and failed calls through `sd_tower::Balanced` name it (`Error::Endpoint { instance,
//! .. }`); a clone of the [`OutlierDetector`] can sit wherever the outcome is known. When
//! endpoints are tower services (as under `sd_tower::Balanced`), the simplest place is the
//! endpoint factory: [`OutlierDetector::reporting`] wraps each instance's service in a
//! [`Reporting`] service that reports its own outcomes, judged by a [`Classify`]er.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use sd_core::{EndpointSource, Endpoints, Error, Instance};
use tokio::time::Instant;

use crate::derived::DerivedList;

mod reporting;

pub use reporting::{Classify, ErrorsAreFailures, Reporting, ReportingFuture};

/// How one call through an endpoint went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed in a way that counts against the endpoint.
    Failure,
}

impl<T, E> From<&Result<T, E>> for Outcome {
    /// `Ok` is a success and `Err` a failure: the simplest classifier.
    fn from(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// When to set endpoints aside, for how long, and how many at most.
///
/// ```
/// use std::time::Duration;
/// use sd_lb::OutlierConfig;
///
/// let config = OutlierConfig::default()
///     .consecutive_failures(3)
///     .base_ejection(Duration::from_secs(5))
///     .max_ejection(Duration::from_secs(60))
///     .max_ejection_percent(34);
/// assert_eq!(config.get_consecutive_failures(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierConfig {
    consecutive_failures: u32,
    base_ejection: Duration,
    max_ejection: Duration,
    max_ejection_percent: u8,
}

impl Default for OutlierConfig {
    /// 5 failures in a row; 10 s doubling up to 5 min; at most 50 % of the set.
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

impl OutlierConfig {
    /// Sets an endpoint aside after `count` failures in a row (0 counts as 1).
    #[must_use]
    pub fn consecutive_failures(mut self, count: u32) -> Self {
        self.consecutive_failures = count.max(1);
        self
    }

    /// The first ejection's length.
    #[must_use]
    pub fn base_ejection(mut self, period: Duration) -> Self {
        self.base_ejection = period;
        self
    }

    /// The longest ejection (at least the base ejection).
    #[must_use]
    pub fn max_ejection(mut self, period: Duration) -> Self {
        self.max_ejection = period;
        self
    }

    /// At most `percent` percent of the set is set aside at once, rounded down, and never
    /// every endpoint (values above 100 count as 100).
    #[must_use]
    pub fn max_ejection_percent(mut self, percent: u8) -> Self {
        self.max_ejection_percent = percent.min(100);
        self
    }

    /// Failures in a row before an ejection.
    pub fn get_consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The first ejection's length.
    pub fn get_base_ejection(&self) -> Duration {
        self.base_ejection
    }

    /// The longest ejection.
    pub fn get_max_ejection(&self) -> Duration {
        self.max_ejection.max(self.base_ejection)
    }

    /// The most of the set that may be set aside, in percent.
    pub fn get_max_ejection_percent(&self) -> u8 {
        self.max_ejection_percent
    }

    /// How many of `len` endpoints may be set aside at once.
    fn max_ejected(&self, len: usize) -> usize {
        let share = (len as u128) * u128::from(self.max_ejection_percent) / 100;
        usize::try_from(share)
            .unwrap_or(len)
            .min(len.saturating_sub(1))
    }

    /// The length of ejection number `level` (from 0): the base doubled `level` times,
    /// capped at the maximum, without overflow.
    fn ejection(&self, level: u32) -> Duration {
        let max = self.get_max_ejection();
        let factor = 1u32.checked_shl(level).unwrap_or(u32::MAX);
        self.base_ejection.saturating_mul(factor).min(max)
    }
}

/// The shared, cloneable handle that takes outcome reports and decides ejections; see the
/// [module docs](self).
///
/// Get one from [`Outliers::detector`], or make one first with [`OutlierDetector::new`]
/// (so that an endpoint factory can hold it) and hand it to [`Outliers::with_detector`].
/// One detector serves one `Outliers`.
#[derive(Clone)]
pub struct OutlierDetector {
    shared: Arc<Shared>,
}

struct Shared {
    config: OutlierConfig,
    table: Mutex<Table>,
    /// Bumped on each ejection: a reader's cached list is stale when it differs.
    generation: AtomicU64,
    /// How many tracked instances have a failure counted; successes skip the lock at 0.
    failing: AtomicUsize,
}

#[derive(Default)]
struct Table {
    health: HashMap<Box<str>, Health>,
    /// Marks the entries present in the list being synced, to drop the others.
    epoch: u64,
}

#[derive(Default)]
struct Health {
    failures: u32,
    /// Set aside until then.
    ejected_until: Option<Instant>,
    /// Ejections so far (reset when it stayed in for longer than the maximum ejection).
    level: u32,
    /// When the last ejection ended.
    returned_at: Option<Instant>,
    seen: u64,
}

impl Health {
    fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| now < until)
    }

    /// Ends the ejection if it is over by `now`, with a clean count.
    fn return_if_due(&mut self, id: &str, now: Instant, failing: &AtomicUsize) {
        if let Some(until) = self.ejected_until.filter(|until| *until <= now) {
            self.ejected_until = None;
            self.returned_at = Some(until);
            if self.failures > 0 {
                self.failures = 0;
                failing.fetch_sub(1, Ordering::Relaxed);
            }
            tracing::debug!(target: "sd_lb::outliers", instance = id, "endpoint returns");
        }
    }
}

impl Table {
    /// Returns every endpoint whose ejection is over by `now`.
    fn expire(&mut self, now: Instant, failing: &AtomicUsize) {
        for (id, health) in &mut self.health {
            health.return_if_due(id, now, failing);
        }
    }

    fn ejected(&self, now: Instant) -> usize {
        self.health.values().filter(|h| h.is_ejected(now)).count()
    }
}

impl OutlierDetector {
    /// A detector deciding by `config`.
    pub fn new(config: OutlierConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                table: Mutex::new(Table::default()),
                generation: AtomicU64::new(0),
                failing: AtomicUsize::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OutlierConfig {
        &self.shared.config
    }

    /// Reports how a call through `instance` went.
    pub fn report(&self, instance: &Instance, outcome: Outcome) {
        self.report_id(instance.id(), outcome);
    }

    /// Reports how a call through the instance with identity `id` went (for errors that
    /// carry only the identity).
    pub fn report_id(&self, id: &str, outcome: Outcome) {
        if outcome == Outcome::Success && self.shared.failing.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = Instant::now();
        let shared = &*self.shared;
        let mut table = self.lock();
        let Some(health) = table.health.get_mut(id) else {
            return;
        };
        health.return_if_due(id, now, &shared.failing);
        // Calls that were under way when it was set aside say nothing new.
        if health.is_ejected(now) {
            return;
        }
        match outcome {
            Outcome::Success => {
                if health.failures > 0 {
                    health.failures = 0;
                    shared.failing.fetch_sub(1, Ordering::Relaxed);
                }
                return;
            }
            Outcome::Failure => {
                if health.failures == 0 {
                    shared.failing.fetch_add(1, Ordering::Relaxed);
                }
                health.failures = health.failures.saturating_add(1);
                if health.failures < shared.config.consecutive_failures {
                    return;
                }
            }
        }
        // Failures enough in a row: set it aside, if the cap allows. Counting takes a
        // look at every entry, which only the failure that reaches the threshold pays.
        let max_ejected = shared.config.max_ejected(table.health.len());
        let ejected = table.ejected(now);
        let Some(health) = table.health.get_mut(id) else {
            return;
        };
        if ejected >= max_ejected {
            tracing::debug!(
                target: "sd_lb::outliers",
                instance = id,
                failures = health.failures,
                ejected,
                max_ejected,
                "endpoint kept: the most that may be set aside already are"
            );
            return;
        }
        // Forgiven when it stayed in for longer than the longest ejection.
        let forgiven = health.returned_at.is_some_and(|back| {
            now.saturating_duration_since(back) > shared.config.get_max_ejection()
        });
        if forgiven {
            health.level = 0;
        }
        let period = shared.config.ejection(health.level);
        let Some(until) = now.checked_add(period) else {
            tracing::debug!(
                target: "sd_lb::outliers",
                instance = id,
                ?period,
                "endpoint kept: its ejection would end beyond the clock's range"
            );
            return;
        };
        health.ejected_until = Some(until);
        health.level = health.level.saturating_add(1).min(63);
        tracing::debug!(
            target: "sd_lb::outliers",
            instance = id,
            failures = health.failures,
            ?period,
            ejections = health.level,
            "endpoint set aside after failures in a row"
        );
        shared.generation.fetch_add(1, Ordering::Release);
    }

    /// Whether the instance with identity `id` is set aside now.
    pub fn is_ejected(&self, id: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .health
            .get(id)
            .is_some_and(|h| h.is_ejected(now))
    }

    /// How many instances the detector keeps state for: those of the last list read.
    pub fn tracked(&self) -> usize {
        self.lock().health.len()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table holds counters only, each update complete before any call that could
        // panic: a poisoned lock still guards consistent data.
        self.shared
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Syncs the table with `upstream`, returns finished ejections, and builds the list
    /// readers get.
    fn build<E>(&self, upstream: &Endpoints<E>) -> (Endpoints<E>, Made) {
        let now = Instant::now();
        let shared = &*self.shared;
        let mut table = self.lock();
        table.epoch = table.epoch.wrapping_add(1);
        let epoch = table.epoch;
        for endpoint in upstream.iter() {
            let id = endpoint.instance().id();
            match table.health.get_mut(id) {
                Some(health) => health.seen = epoch,
                None => {
                    table.health.insert(
                        id.into(),
                        Health {
                            seen: epoch,
                            ..Health::default()
                        },
                    );
                }
            }
        }
        table.health.retain(|_, h| h.seen == epoch);
        // After a big set shrank, give the memory back too.
        if table.health.capacity() > 4 * table.health.len().max(16) {
            table.health.shrink_to_fit();
        }
        let failing = table.health.values().filter(|h| h.failures > 0).count();
        shared.failing.store(failing, Ordering::Relaxed);
        table.expire(now, &shared.failing);

        // The set may have shrunk since the ejections: leave out no more than allowed.
        let mut room = shared.config.max_ejected(upstream.len());
        let mut next_return: Option<Instant> = None;
        let mut leave_out = |id: &str| {
            let until = table.health.get(id).and_then(|h| h.ejected_until);
            match until {
                Some(until) if room > 0 && now < until => {
                    room -= 1;
                    next_return = Some(next_return.map_or(until, |t| t.min(until)));
                    true
                }
                _ => false,
            }
        };
        let kept: Vec<_> = upstream
            .iter()
            .filter(|e| !leave_out(e.instance().id()))
            .cloned()
            .collect();
        let view = if kept.len() == upstream.len() {
            upstream.clone()
        } else {
            Endpoints::new(kept)
        };
        let made = Made {
            generation: shared.generation.load(Ordering::Acquire),
            next_return,
        };
        (view, made)
    }
}

impl fmt::Debug for OutlierDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutlierDetector")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// An [`EndpointSource`] that leaves out the endpoints that failed too often in a row,
/// for a while. See the [module docs](self) for the rules.
///
/// ```
/// use sd_core::FixedEndpointer;
/// use sd_lb::{Balancer, OutlierConfig, Outliers, Outcome, RoundRobin};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = FixedEndpointer::new([("10.0.0.1:80", false), ("10.0.0.2:80", true), ("10.0.0.3:80", true)]);
/// let mut rr = RoundRobin::new(Outliers::new(source, OutlierConfig::default().consecutive_failures(2)));
/// let detector = rr.source().detector().clone();
/// let mut errors = Vec::new();
/// for _ in 0..12 {
///     let endpoint = rr.endpoint().unwrap();
///     // The classifier: here the value says whether the call works.
///     let outcome = if **endpoint { Outcome::Success } else { Outcome::Failure };
///     detector.report(endpoint.instance(), outcome);
///     errors.push(outcome == Outcome::Failure);
/// }
/// // Two failures in a row, then 10.0.0.1 is set aside: no more errors.
/// assert_eq!(errors.iter().filter(|e| **e).count(), 2);
/// assert!(detector.is_ejected("10.0.0.1:80"));
/// # }
/// ```
pub struct Outliers<S: EndpointSource> {
    source: S,
    detector: OutlierDetector,
    cache: DerivedList<S::Endpoint, Made>,
}

/// When a derived list was made, as far as its freshness goes.
struct Made {
    /// The detector's generation the list was made at.
    generation: u64,
    /// When the first endpoint left out returns; `None` when none is left out.
    next_return: Option<Instant>,
}

impl<S: EndpointSource> Outliers<S> {
    /// Ejects from `source` by `config`.
    pub fn new(source: S, config: OutlierConfig) -> Self {
        Self::with_detector(source, OutlierDetector::new(config))
    }

    /// Ejects from `source` by the reports `detector` receives.
    pub fn with_detector(source: S, detector: OutlierDetector) -> Self {
        Self {
            source,
            detector,
            cache: DerivedList::new(),
        }
    }

    /// The handle that takes reports, to share with whoever learns the outcomes.
    pub fn detector(&self) -> &OutlierDetector {
        &self.detector
    }

    /// Reports how a call through `instance` went; see [`OutlierDetector::report`].
    pub fn report(&self, instance: &Instance, outcome: Outcome) {
        self.detector.report(instance, outcome);
    }

    /// The inner source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<S: EndpointSource> EndpointSource for Outliers<S> {
    type Endpoint = S::Endpoint;

    fn endpoints(&mut self) -> Result<&Endpoints<Self::Endpoint>, Error> {
        let upstream = self.source.endpoints()?;
        let detector = &self.detector;
        // Made again when the list, the ejections, or a return is due.
        Ok(self.cache.read(
            upstream,
            |made| {
                made.generation == detector.shared.generation.load(Ordering::Acquire)
                    && made.next_return.is_none_or(|t| Instant::now() < t)
            },
            |_| detector.build(upstream),
            |_, _| {},
        ))
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.source.poll_changed(cx)
    }
}

impl<S: EndpointSource + Clone> Clone for Outliers<S> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            detector: self.detector.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<S: EndpointSource + fmt::Debug> fmt::Debug for Outliers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outliers")
            .field("source", &self.source)
            .field("detector", &self.detector)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_ejected_rounds_down_and_keeps_one() {
        let config = OutlierConfig::default();
        assert_eq!(config.max_ejected(0), 0);
        assert_eq!(config.max_ejected(1), 0);
        assert_eq!(config.max_ejected(2), 1);
        assert_eq!(config.max_ejected(3), 1);
        assert_eq!(config.max_ejected(10), 5);
        let all = OutlierConfig::default().max_ejection_percent(255);
        assert_eq!(all.max_ejected(4), 3);
        assert_eq!(all.max_ejected(usize::MAX), usize::MAX - 1);
    }

    #[test]
    fn ejections_double_up_to_the_cap_without_overflow() {
        let config = OutlierConfig::default();
        let secs = |level| config.ejection(level).as_secs();
        assert_eq!([secs(0), secs(1), secs(2), secs(5)], [10, 20, 40, 300]);
        assert_eq!(secs(u32::MAX), 300);
        let huge = OutlierConfig::default()
            .base_ejection(Duration::MAX)
            .max_ejection(Duration::ZERO);
        assert_eq!(huge.ejection(40), Duration::MAX);
    }
}
