//! `DerivedList`: a list made from an endpoint source's published list (a filter such as
//! zone affinity or outlier ejection), made once per published list and then read
//! without locks or allocation, as the source's own list is.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use sd_core::Endpoints;

/// The last derived list, with the upstream list it was made from.
pub(crate) struct DerivedList<E, M> {
    cache: ArcSwapOption<Derived<E, M>>,
}

struct Derived<E, M> {
    /// The source's list this one was made from.
    upstream: Endpoints<E>,
    /// What readers get.
    list: Endpoints<E>,
    /// What the deriving adapter keeps beside it.
    meta: M,
}

impl<E, M> DerivedList<E, M> {
    pub(crate) fn new() -> Self {
        Self {
            cache: ArcSwapOption::empty(),
        }
    }

    /// Forgets the derived list (the adapter's settings changed).
    pub(crate) fn clear(&self) {
        self.cache.store(None);
    }

    /// Runs `f` on the metadata of the last derived list, if any.
    pub(crate) fn meta<R>(&self, f: impl FnOnce(Option<&M>) -> R) -> R {
        f(self.cache.load().as_deref().map(|d| &d.meta))
    }

    /// Runs `f` on the list derived from `upstream`.
    ///
    /// The cached list serves while it was made from this very `upstream` and
    /// `still_good` holds for its metadata. Otherwise `make` derives a new one (given the
    /// previous metadata); it is stored unless another reader stored one meanwhile, and
    /// `stored` runs (with the previous metadata and the new) only for the reader whose
    /// list was stored, so that a change is reported once however many readers race.
    pub(crate) fn read<R>(
        &self,
        upstream: &Endpoints<E>,
        still_good: impl FnOnce(&M) -> bool,
        make: impl FnOnce(Option<&M>) -> (Endpoints<E>, M),
        stored: impl FnOnce(Option<&M>, &M),
        f: impl FnOnce(&Endpoints<E>) -> R,
    ) -> R {
        let cached = self.cache.load();
        if let Some(derived) = cached.as_deref() {
            if Endpoints::ptr_eq(&derived.upstream, upstream) && still_good(&derived.meta) {
                return f(&derived.list);
            }
        }
        let previous = cached.as_deref().map(|d| &d.meta);
        let (list, meta) = make(previous);
        let derived = Arc::new(Derived {
            upstream: upstream.clone(),
            list,
            meta,
        });
        let replaced = self
            .cache
            .compare_and_swap(&cached, Some(Arc::clone(&derived)));
        let won = match (replaced.as_ref(), cached.as_ref()) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if won {
            stored(previous, &derived.meta);
        }
        f(&derived.list)
    }
}
