//! A discovered instance: an identity string plus the attributes a backend knows about it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One instance of a service, as an [`Instancer`](crate::Instancer) reports it.
///
/// An instance *is* its identity string — `"ip:port"` for Eureka, as in go-kit — and
/// endpointers key their endpoints by it. Whatever else the backend knows (zone, secure
/// port, a base URL, free-form metadata) rides along as attributes, so factories and
/// balancers can use it without depending on any backend's types. Attributes never change
/// identity: an instance whose zone changes keeps its endpoint, but subscribers still hear
/// about the change because the two states are not equal.
///
/// Cloning is one reference-count increment.
///
/// ```
/// use sd_core::Instance;
///
/// let plain = Instance::new("10.0.0.5:8080");
/// let rich = Instance::builder("10.0.0.6:8080")
///     .zone("eu-west-1a")
///     .secure_port(8443)
///     .metadata("version", "2.3.1")
///     .build();
/// assert_eq!(rich.id(), "10.0.0.6:8080");
/// assert_eq!(rich.zone(), Some("eu-west-1a"));
/// assert_eq!(rich.metadata().get("version").map(String::as_str), Some("2.3.1"));
/// assert_eq!(plain.zone(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    inner: Arc<Inner>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Inner {
    id: Box<str>,
    zone: Option<Box<str>>,
    secure_port: Option<u16>,
    url: Option<Box<str>>,
    metadata: BTreeMap<String, String>,
}

impl Instance {
    /// An instance with only an identity.
    pub fn new(id: impl Into<String>) -> Self {
        Self::builder(id).build()
    }

    /// Starts an instance with attributes.
    pub fn builder(id: impl Into<String>) -> InstanceBuilder {
        InstanceBuilder {
            inner: Inner {
                id: id.into().into_boxed_str(),
                zone: None,
                secure_port: None,
                url: None,
                metadata: BTreeMap::new(),
            },
        }
    }

    /// The identity string (`"ip:port"` for Eureka).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The availability zone, when the backend knows it.
    pub fn zone(&self) -> Option<&str> {
        self.inner.zone.as_deref()
    }

    /// The port for TLS traffic, when the instance has one enabled.
    pub fn secure_port(&self) -> Option<u16> {
        self.inner.secure_port
    }

    /// A base URL for the instance (Eureka's `homePageUrl`), when the backend gives one.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// Free-form metadata from the backend.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.inner.metadata
    }

    /// Starts a builder holding a copy of this instance's identity and attributes.
    pub fn to_builder(&self) -> InstanceBuilder {
        InstanceBuilder {
            inner: Inner {
                id: self.inner.id.clone(),
                zone: self.inner.zone.clone(),
                secure_port: self.inner.secure_port,
                url: self.inner.url.clone(),
                metadata: self.inner.metadata.clone(),
            },
        }
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Instance");
        d.field("id", &self.id());
        if let Some(zone) = self.zone() {
            d.field("zone", &zone);
        }
        if let Some(port) = self.secure_port() {
            d.field("secure_port", &port);
        }
        if let Some(url) = self.url() {
            d.field("url", &url);
        }
        if !self.metadata().is_empty() {
            d.field("metadata", self.metadata());
        }
        d.finish()
    }
}

impl From<&str> for Instance {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for Instance {
    fn from(id: String) -> Self {
        Self::new(id)
    }
}

/// Builds an [`Instance`] with attributes; see [`Instance::builder`].
#[derive(Debug)]
#[must_use]
pub struct InstanceBuilder {
    inner: Inner,
}

impl InstanceBuilder {
    /// Sets the availability zone.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.inner.zone = Some(zone.into().into_boxed_str());
        self
    }

    /// Sets the TLS port.
    pub fn secure_port(mut self, port: u16) -> Self {
        self.inner.secure_port = Some(port);
        self
    }

    /// Sets the base URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.inner.url = Some(url.into().into_boxed_str());
        self
    }

    /// Adds one metadata entry, replacing an earlier value for the same key.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner.metadata.insert(key.into(), value.into());
        self
    }

    /// Finishes the instance.
    pub fn build(self) -> Instance {
        Instance {
            inner: Arc::new(self.inner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_take_part_in_equality_but_not_identity() {
        let a = Instance::builder("a:1").zone("z1").build();
        let b = Instance::builder("a:1").zone("z2").build();
        assert_eq!(a.id(), b.id());
        assert_ne!(a, b);
        assert_eq!(a, a.to_builder().build());
        assert_eq!(Instance::from("a:1"), Instance::new(String::from("a:1")));
    }

    #[test]
    fn display_is_the_identity() {
        let i = Instance::builder("10.0.0.1:80").metadata("k", "v").build();
        assert_eq!(i.to_string(), "10.0.0.1:80");
        assert!(format!("{i:?}").contains("metadata"));
    }
}
