//! The `Registrar` trait: keeping one's own instance registered with a discovery backend.

use std::future::Future;

/// Registers a service instance with a discovery backend and removes it again.
///
/// Implementations own whatever keeps the registration alive (a heartbeat loop, a lease
/// renewal): it starts with [`register`](Self::register) and stops with
/// [`deregister`](Self::deregister). Registering twice is a no-op; deregistering before
/// registering does nothing.
///
/// A registrar for a local registry, driving an endpointer that follows it:
///
/// ```
/// use std::sync::Mutex;
/// use sd_core::{BoxError, EndpointSource, Endpointer, Instance, InstanceCache, Instances, Registrar};
///
/// /// Registers one address into a local cache that endpointers can follow.
/// struct Local<'a> { cache: &'a InstanceCache, me: &'static str, up: Mutex<bool> }
///
/// impl Registrar for Local<'_> {
///     type Error = std::convert::Infallible;
///     async fn register(&self) -> Result<(), Self::Error> {
///         let mut up = self.up.lock().unwrap();
///         if !*up {
///             *up = true;
///             self.cache.update(Instances::new([self.me]));
///         }
///         Ok(())
///     }
///     async fn deregister(&self) -> Result<(), Self::Error> {
///         if std::mem::take(&mut *self.up.lock().unwrap()) {
///             self.cache.update(Instances::empty());
///         }
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = InstanceCache::new();
/// let registrar = Local { cache: &cache, me: "10.0.0.7:80", up: Mutex::new(false) };
/// let mut endpointer = Endpointer::new(&cache, |i: &Instance| Ok::<_, BoxError>(i.id().to_owned()))?;
///
/// registrar.deregister().await?; // before register: nothing happens
/// registrar.register().await?;
/// registrar.register().await?; // twice: a no-op
/// endpointer.changed().await;
/// assert_eq!(endpointer.endpoints()?.len(), 1);
///
/// registrar.deregister().await?;
/// endpointer.changed().await;
/// assert!(endpointer.endpoints()?.is_empty());
/// # Ok(())
/// # }
/// ```
pub trait Registrar {
    /// Why registering or deregistering failed.
    type Error;

    /// Registers the instance and starts keeping it registered.
    fn register(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Stops keeping the instance registered and removes it from the backend.
    fn deregister(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
