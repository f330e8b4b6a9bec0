//! What an instancer publishes: the whole current instance set, or an error.

use std::ops::Deref;
use std::sync::Arc;

use crate::{Error, Instance};

/// A complete, sorted set of instances with unique identities.
///
/// The invariant is kept by construction: [`Instances::new`] sorts by identity (byte-wise,
/// as go-kit does) and keeps the first of several instances with the same identity. Cloning
/// is one reference-count increment, so every subscriber can hold the same set.
///
/// ```
/// use sd_core::Instances;
///
/// let set = Instances::new(["b:1", "a:1", "b:1"]);
/// assert_eq!(set.ids().collect::<Vec<_>>(), ["a:1", "b:1"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instances {
    items: Arc<[Instance]>,
}

impl Instances {
    /// Sorts and deduplicates `instances` into a set.
    pub fn new<I>(instances: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Instance>,
    {
        let mut items: Vec<Instance> = instances.into_iter().map(Into::into).collect();
        // Stable sort, so "the first of several with one identity" is well defined.
        items.sort_by(|a, b| a.id().cmp(b.id()));
        items.dedup_by(|later, earlier| later.id() == earlier.id());
        Self {
            items: items.into(),
        }
    }

    /// The empty set.
    pub fn empty() -> Self {
        Self {
            items: Arc::new([]),
        }
    }

    /// The identities, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.items.iter().map(Instance::id)
    }
}

impl Default for Instances {
    fn default() -> Self {
        Self::empty()
    }
}

impl Deref for Instances {
    type Target = [Instance];

    fn deref(&self) -> &[Instance] {
        &self.items
    }
}

impl<T: Into<Instance>> FromIterator<T> for Instances {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self::new(iter)
    }
}

/// One state of a discovery source, as every subscriber sees it.
///
/// Every event carries the *whole* current state, never a diff: consumers diff for
/// themselves (see [`Endpointer`](crate::Endpointer)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The complete current set of instances.
    Instances(Instances),
    /// The source could not determine the set.
    Error(Error),
}

impl Event {
    /// The instances, if this is not an error.
    pub fn instances(&self) -> Option<&Instances> {
        match self {
            Event::Instances(set) => Some(set),
            Event::Error(_) => None,
        }
    }

    /// The error, if this is one.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Event::Instances(_) => None,
            Event::Error(e) => Some(e),
        }
    }
}

impl From<Instances> for Event {
    fn from(set: Instances) -> Self {
        Event::Instances(set)
    }
}

impl From<Error> for Event {
    fn from(e: Error) -> Self {
        Event::Error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_bytewise_and_deduplicated_keeping_the_first() {
        let set = Instances::new([
            Instance::builder("b").zone("first").build(),
            Instance::new("B"),
            Instance::new("a"),
            Instance::builder("b").zone("second").build(),
        ]);
        assert_eq!(set.ids().collect::<Vec<_>>(), ["B", "a", "b"]);
        assert_eq!(set[2].zone(), Some("first"));
    }

    #[test]
    fn events_compare_by_content() {
        let a = Event::from(Instances::new(["x", "y"]));
        let b = Event::from(Instances::new(["y", "x"]));
        assert_eq!(a, b);
        assert_ne!(a, Event::from(Instances::empty()));
        assert_ne!(a, Event::from(Error::discovery("boom")));
        assert_eq!(a.instances().map(|s| s.len()), Some(2));
        assert!(a.error().is_none());
    }
}
