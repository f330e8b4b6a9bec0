//! `DerivedList`: a list made from an endpoint source's published list (a filter such as
//! zone affinity or outlier ejection), made once per published list and then read
//! without locks, allocation or shared writes, as the source's own list is.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use sd_core::Endpoints;

/// The last derived list, shared by every clone of the deriving adapter, plus this
/// clone's own copy of it.
///
/// A read first checks the clone's copy: when it was made from the very list the source
/// lent (and the adapter's own freshness check holds), that is the whole read, touching
/// no shared memory. Otherwise the clone looks at the shared list, which another clone may
/// already have made for this upstream list, and only then derives one itself: so a list
/// is usually derived once per change, however many clones read it.
pub(crate) struct DerivedList<E, M> {
    shared: Arc<ArcSwapOption<Derived<E, M>>>,
    local: Option<Arc<Derived<E, M>>>,
}

struct Derived<E, M> {
    /// The source's list this one was made from.
    upstream: Endpoints<E>,
    /// What readers get.
    list: Endpoints<E>,
    /// What the deriving adapter keeps beside it.
    meta: M,
}

impl<E, M> Clone for DerivedList<E, M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            local: self.local.clone(),
        }
    }
}

impl<E, M> DerivedList<E, M> {
    pub(crate) fn new() -> Self {
        Self {
            shared: Arc::new(ArcSwapOption::empty()),
            local: None,
        }
    }

    /// Forgets the derived list (the adapter's settings changed).
    pub(crate) fn clear(&mut self) {
        self.shared.store(None);
        self.local = None;
    }

    /// Runs `f` on the metadata of the last list derived by any clone, if any.
    pub(crate) fn meta<R>(&self, f: impl FnOnce(Option<&M>) -> R) -> R {
        f(self.shared.load().as_deref().map(|d| &d.meta))
    }

    /// The list derived from `upstream`.
    ///
    /// A derived list serves while it was made from this very `upstream` and
    /// `still_good` holds for its metadata. Otherwise `make` derives a new one (given the
    /// previous metadata); it is shared unless another clone shared one meanwhile, and
    /// `stored` runs (with the previous metadata and the new) only for the clone whose
    /// list was shared, so that a change is reported once however many clones race.
    pub(crate) fn read<'a>(
        &'a mut self,
        upstream: &'a Endpoints<E>,
        still_good: impl Fn(&M) -> bool,
        make: impl FnOnce(Option<&M>) -> (Endpoints<E>, M),
        stored: impl FnOnce(Option<&M>, &M),
    ) -> &'a Endpoints<E> {
        let serves =
            |d: &Derived<E, M>| Endpoints::ptr_eq(&d.upstream, upstream) && still_good(&d.meta);
        if !self.local.as_deref().is_some_and(serves) {
            let current = self.shared.load_full();
            self.local = match current {
                Some(derived) if serves(&derived) => Some(derived),
                _ => Some(self.derive(current.as_ref(), upstream, make, stored)),
            };
        }
        match self.local.as_deref() {
            Some(derived) => &derived.list,
            // Set just above; an upstream list is the honest answer should it not be.
            None => upstream,
        }
    }

    fn derive(
        &self,
        current: Option<&Arc<Derived<E, M>>>,
        upstream: &Endpoints<E>,
        make: impl FnOnce(Option<&M>) -> (Endpoints<E>, M),
        stored: impl FnOnce(Option<&M>, &M),
    ) -> Arc<Derived<E, M>> {
        let previous = current.map(|d| &d.meta);
        let (list, meta) = make(previous);
        let derived = Arc::new(Derived {
            upstream: upstream.clone(),
            list,
            meta,
        });
        let replaced = self
            .shared
            .compare_and_swap(&current.cloned(), Some(Arc::clone(&derived)));
        let won = match (replaced.as_ref(), current) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if won {
            stored(previous, &derived.meta);
        }
        derived
    }
}
