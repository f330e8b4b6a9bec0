//! Factories turn instances into endpoints; closers say what to do when an endpoint goes.

use std::fmt;

use crate::{BoxError, Instance};

/// Makes the endpoint for a newly discovered instance.
///
/// An [`Endpointer`](crate::Endpointer) calls its factory once per instance when the
/// instance appears (and again if it reappears after being removed). A failure is logged
/// and the instance skipped until the next event lists it again.
///
/// Any `Fn(&Instance) -> Result<E, BoxError>` is a factory. To attach a close hook, return
/// a [`Built`] from a closure wrapped in [`closing`].
///
/// # How endpoints are closed
///
/// Two mechanisms, and they compose:
///
/// * **Drop.** When an instance leaves the set (or the endpointer is invalidated or
///   closed), the endpointer drops its copy of the endpoint. Requests still in flight keep
///   their own clones, so a value whose `Drop` releases resources (a connection pool, a
///   tower service) goes away once the last in-flight request finishes — never under one.
/// * **A close hook** ([`Closer`]), run exactly once, synchronously, at the moment the
///   endpointer lets the endpoint go, outside any lock the endpointer holds. Use it to
///   signal something eagerly — start draining a pool, cancel a background task. A hook
///   that needs to do async work should spawn it.
pub trait Factory: Send + 'static {
    /// The endpoint type.
    type Endpoint;

    /// Makes the endpoint for `instance`.
    fn build(&self, instance: &Instance) -> Result<Built<Self::Endpoint>, BoxError>;
}

impl<F, E> Factory for F
where
    F: Fn(&Instance) -> Result<E, BoxError> + Send + 'static,
{
    type Endpoint = E;

    fn build(&self, instance: &Instance) -> Result<Built<E>, BoxError> {
        self(instance).map(Built::new)
    }
}

/// An endpoint fresh from a factory, with its close hook if it has one.
#[derive(Debug)]
pub struct Built<E> {
    pub(crate) endpoint: E,
    pub(crate) closer: Option<Closer>,
}

impl<E> Built<E> {
    /// An endpoint with no close hook (it is still dropped when removed).
    pub fn new(endpoint: E) -> Self {
        Self {
            endpoint,
            closer: None,
        }
    }

    /// The endpoint and its close hook, for consumers other than `Endpointer` (such as a
    /// tower `Discover` adapter) that manage endpoints themselves.
    pub fn into_parts(self) -> (E, Option<Closer>) {
        (self.endpoint, self.closer)
    }

    /// An endpoint whose removal runs `close`.
    pub fn with_closer(endpoint: E, close: impl FnOnce() + Send + 'static) -> Self {
        Self {
            endpoint,
            closer: Some(Closer::new(close)),
        }
    }
}

/// A hook run once when an endpoint is removed, invalidated or closed.
pub struct Closer {
    close: Box<dyn FnOnce() + Send>,
}

impl Closer {
    /// Wraps `close`.
    pub fn new(close: impl FnOnce() + Send + 'static) -> Self {
        Self {
            close: Box::new(close),
        }
    }

    /// Runs the hook.
    pub fn close(self) {
        (self.close)();
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closer")
    }
}

/// Adapts a closure that returns [`Built`] endpoints (with close hooks) into a [`Factory`].
///
/// ```
/// use sd_core::{factory::{closing, Built}, Instance};
///
/// let factory = closing(|instance: &Instance| {
///     let addr = instance.id().to_owned();
///     let name = addr.clone();
///     Ok(Built::with_closer(addr, move || println!("closing {name}")))
/// });
/// # let _ = factory;
/// ```
pub fn closing<F, E>(make: F) -> Closing<F>
where
    F: Fn(&Instance) -> Result<Built<E>, BoxError> + Send + 'static,
{
    Closing { make }
}

/// The factory made by [`closing`].
#[derive(Debug, Clone)]
pub struct Closing<F> {
    make: F,
}

impl<F, E> Factory for Closing<F>
where
    F: Fn(&Instance) -> Result<Built<E>, BoxError> + Send + 'static,
{
    type Endpoint = E;

    fn build(&self, instance: &Instance) -> Result<Built<E>, BoxError> {
        (self.make)(instance)
    }
}
