//! `ZoneAware`: prefer the endpoints in the caller's own zone.
//!
//! # Design
//!
//! Zone affinity is a *filter on the endpoint list*, not a balancer of its own:
//! [`ZoneAware`] is an [`EndpointSource`] that wraps any other source and hands on either
//! the endpoints in the caller's zone or, when those are too few, all of them. Any balancer
//! ([`RoundRobin`](crate::RoundRobin), [`Random`](crate::Random), your own) then picks
//! from that list unchanged, and the filter composes with others, such as
//! [`Outliers`](crate::Outliers).
//!
//! The filtered list is computed once per list the inner source publishes, not once per
//! pick: `ZoneAware` keeps the last result together with the list it came from, and a
//! read that finds the same list (by [`Endpoints::ptr_eq`]) reuses it. Each clone keeps
//! its own copy of that result beside the one its clones share, so a read costs the inner
//! source's read plus one pointer comparison, allocates nothing and writes no shared
//! memory; the list is filtered again, allocating once, only when discovery publishes a
//! change. When every endpoint is local, or the filter falls back to all zones, the
//! inner list itself is handed on and nothing is allocated even then.
//!
//! # When it falls back
//!
//! The local zone is used when it has at least [`min_local`](ZoneAware::min_local)
//! endpoints (default 1) *and* at least [`min_local_percent`](ZoneAware::min_local_percent)
//! percent of all endpoints (default 0). Otherwise every endpoint is used, whatever its
//! zone, so that a zone that lost most of its instances is not overloaded. An empty local
//! zone always falls back. Zones compare exactly (case matters); an instance without a
//! zone is in no one's zone.
//!
//! The first choice and each change of it is a `debug` event of the `sd_lb::zone` target
//! ("using the local zone", "falling back to all zones", "back to the local zone"), with
//! the zone and the counts; reads that change nothing log nothing.

use std::fmt;
use std::task::{Context, Poll};

use sd_core::{EndpointSource, Endpoints, Error};

use crate::derived::DerivedList;

/// Which endpoints a [`ZoneAware`] source currently hands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneChoice {
    /// Only the endpoints in the caller's zone.
    Local,
    /// Every endpoint: the local zone had too few.
    AllZones,
}

/// An [`EndpointSource`] that keeps to the caller's zone while it has enough endpoints,
/// and falls back to all zones when it has not. See the [module docs](self) for the
/// design.
///
/// ```
/// use sd_core::{FixedEndpointer, Instance};
/// use sd_lb::{Balancer, RoundRobin, ZoneAware, ZoneChoice};
///
/// let in_zone = |id: &str, zone: &str| Instance::builder(id).zone(zone).build();
/// let source = FixedEndpointer::new([
///     (in_zone("10.0.0.1:80", "eu-west-1a"), "a1"),
///     (in_zone("10.0.1.1:80", "eu-west-1b"), "b1"),
///     (in_zone("10.0.0.2:80", "eu-west-1a"), "a2"),
/// ]);
/// let mut rr = RoundRobin::new(ZoneAware::new(source, "eu-west-1a"));
/// let picks: Vec<&str> = (0..4).map(|_| **rr.endpoint().unwrap()).collect();
/// assert_eq!(picks, ["a1", "a2", "a1", "a2"]);
/// assert_eq!(rr.source().choice(), Some(ZoneChoice::Local));
/// ```
pub struct ZoneAware<S: EndpointSource> {
    source: S,
    rule: Rule,
    /// The last list handed on, with the choice made for it.
    cache: DerivedList<S::Endpoint, Choice>,
}

/// When the local zone serves.
#[derive(Debug, Clone)]
struct Rule {
    zone: Box<str>,
    min_local: usize,
    min_local_percent: u8,
}

impl<S: EndpointSource + Clone> Clone for ZoneAware<S> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            rule: self.rule.clone(),
            cache: self.cache.clone(),
        }
    }
}

/// What was chosen for a derived list.
#[derive(Clone, Copy)]
struct Choice {
    /// `None` until a non-empty list has been seen.
    choice: Option<ZoneChoice>,
    /// Endpoints in the local zone, for the trace.
    local: usize,
}

impl<S: EndpointSource> ZoneAware<S> {
    /// Prefers the endpoints of `source` whose instance is in `zone`.
    pub fn new(source: S, zone: impl Into<String>) -> Self {
        Self {
            source,
            rule: Rule {
                zone: zone.into().into_boxed_str(),
                min_local: 1,
                min_local_percent: 0,
            },
            cache: DerivedList::new(),
        }
    }

    /// Falls back to all zones when the local zone has fewer than `count` endpoints
    /// (default 1; 0 counts as 1, since an empty zone cannot serve).
    #[must_use]
    pub fn min_local(mut self, count: usize) -> Self {
        self.rule.min_local = count;
        self.cache.clear();
        self
    }

    /// Falls back to all zones when the local zone has fewer than `percent` percent of all
    /// endpoints (default 0; values above 100 count as 100).
    ///
    /// ```
    /// use sd_core::{FixedEndpointer, Instance};
    /// use sd_lb::{ZoneAware, ZoneChoice};
    /// use sd_core::EndpointSource;
    ///
    /// let at = |id: &str, zone: &str| (Instance::builder(id).zone(zone).build(), ());
    /// // One local endpoint out of four: 25 %, under the 30 % asked for.
    /// let source = FixedEndpointer::new([at("a:1", "a"), at("b:1", "b"), at("b:2", "b"), at("b:3", "b")]);
    /// let mut zoned = ZoneAware::new(source, "a").min_local_percent(30);
    /// assert_eq!(zoned.endpoints().unwrap().len(), 4);
    /// assert_eq!(zoned.choice(), Some(ZoneChoice::AllZones));
    /// ```
    #[must_use]
    pub fn min_local_percent(mut self, percent: u8) -> Self {
        self.rule.min_local_percent = percent.min(100);
        self.cache.clear();
        self
    }

    /// The caller's zone.
    pub fn zone(&self) -> &str {
        &self.rule.zone
    }

    /// The inner source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The choice made for the last list read, or `None` before any non-empty list was
    /// read.
    pub fn choice(&self) -> Option<ZoneChoice> {
        self.cache.meta(|meta| meta.and_then(|m| m.choice))
    }
}

impl Rule {
    /// Filters `upstream`; `previous` is the choice of the list it replaces, kept for an
    /// empty list (which has no better answer than the last one).
    fn build<E>(
        &self,
        upstream: &Endpoints<E>,
        previous: Option<&Choice>,
    ) -> (Endpoints<E>, Choice) {
        let in_zone = |e: &&sd_core::Endpoint<E>| e.instance().zone() == Some(&*self.zone);
        let local = upstream.iter().filter(in_zone).count();
        let total = upstream.len();
        if total == 0 {
            let choice = previous.and_then(|p| p.choice);
            return (upstream.clone(), Choice { choice, local });
        }
        let choice = if enough(local, total, self.min_local, self.min_local_percent) {
            ZoneChoice::Local
        } else {
            ZoneChoice::AllZones
        };
        let list = if choice == ZoneChoice::AllZones || local == total {
            upstream.clone()
        } else {
            upstream.iter().filter(in_zone).cloned().collect()
        };
        (
            list,
            Choice {
                choice: Some(choice),
                local,
            },
        )
    }

    /// Traces a change of choice.
    fn report(&self, before: Option<ZoneChoice>, now: Choice, total: usize) {
        if now.choice == before {
            return;
        }
        let local = now.local;
        match now.choice {
            Some(ZoneChoice::AllZones) => tracing::debug!(
                target: "sd_lb::zone",
                zone = &*self.zone,
                local,
                total,
                min_local = self.min_local.max(1),
                min_local_percent = self.min_local_percent,
                "falling back to all zones: too few endpoints in the local zone"
            ),
            Some(ZoneChoice::Local) if before.is_none() => tracing::debug!(
                target: "sd_lb::zone",
                zone = &*self.zone,
                local,
                total,
                "using the local zone"
            ),
            Some(ZoneChoice::Local) => tracing::debug!(
                target: "sd_lb::zone",
                zone = &*self.zone,
                local,
                total,
                "back to the local zone"
            ),
            None => {}
        }
    }
}

/// Whether `local` endpoints out of `total` are enough to keep to the local zone.
fn enough(local: usize, total: usize, min_local: usize, min_percent: u8) -> bool {
    if local < min_local.max(1) {
        return false;
    }
    // local / total >= percent / 100, without division or floats; u128 cannot overflow.
    (local as u128) * 100 >= (total as u128) * u128::from(min_percent)
}

impl<S: EndpointSource> EndpointSource for ZoneAware<S> {
    type Endpoint = S::Endpoint;

    fn endpoints(&mut self) -> Result<&Endpoints<Self::Endpoint>, Error> {
        let upstream = self.source.endpoints()?;
        let rule = &self.rule;
        // A new list is filtered once, for every reader after this one.
        Ok(self.cache.read(
            upstream,
            |_| true,
            |previous| rule.build(upstream, previous),
            |previous, now| rule.report(previous.and_then(|p| p.choice), *now, upstream.len()),
        ))
    }

    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.source.poll_changed(cx)
    }
}

impl<S: EndpointSource + fmt::Debug> fmt::Debug for ZoneAware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoneAware")
            .field("source", &self.source)
            .field("zone", &self.rule.zone)
            .field("min_local", &self.rule.min_local)
            .field("min_local_percent", &self.rule.min_local_percent)
            .field("choice", &self.choice())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::enough;

    #[test]
    fn enough_needs_both_the_count_and_the_share() {
        assert!(!enough(0, 3, 0, 0), "an empty zone never serves");
        assert!(enough(1, 3, 1, 0));
        assert!(!enough(1, 3, 2, 0));
        assert!(enough(1, 4, 1, 25));
        assert!(!enough(1, 4, 1, 26));
        assert!(enough(4, 4, 1, 100));
        assert!(enough(usize::MAX, usize::MAX, usize::MAX, 100));
    }
}
