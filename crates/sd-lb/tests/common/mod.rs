//! Helpers shared by the filter tests: a source whose list the test replaces, and a
//! tracing subscriber that records event messages.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::sync::{Arc, Mutex};

use sd_core::{Endpoint, EndpointSource, Endpoints, Error, Instance};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// What a [`Swappable`] publishes.
type Published<E> = Arc<Result<Endpoints<E>, Error>>;

/// An endpoint source whose list (or error) the test sets; each `set` publishes a new list.
///
/// A cheap handle: clones share the published state, so the test keeps one clone to
/// `set` and `fail` while a filter or balancer reads through another. Each clone is a
/// reader of its own, as an `Endpointer` clone is: it lends from the copy it took on its
/// last read.
pub struct Swappable<E> {
    shared: Arc<Mutex<Published<E>>>,
    /// This reader's copy of what was published when it last read.
    local: Published<E>,
}

impl<E> Clone for Swappable<E> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            local: Arc::clone(&self.local),
        }
    }
}

impl<E> Swappable<E> {
    pub fn new(endpoints: Vec<Endpoint<E>>) -> Self {
        let current = Arc::new(Ok(Endpoints::new(endpoints)));
        Self {
            shared: Arc::new(Mutex::new(Arc::clone(&current))),
            local: current,
        }
    }

    pub fn set(&self, endpoints: Vec<Endpoint<E>>) {
        *self.shared.lock().unwrap() = Arc::new(Ok(Endpoints::new(endpoints)));
    }

    pub fn fail(&self, error: Error) {
        *self.shared.lock().unwrap() = Arc::new(Err(error));
    }
}

impl<E> EndpointSource for Swappable<E> {
    type Endpoint = E;

    fn endpoints(&mut self) -> Result<&Endpoints<E>, Error> {
        self.local = Arc::clone(&self.shared.lock().unwrap());
        self.local.as_ref().as_ref().map_err(Clone::clone)
    }
}

/// An endpoint whose value is its instance id.
pub fn ep(id: &str) -> Endpoint<String> {
    Endpoint::new(id, id.to_owned())
}

/// An endpoint in `zone` whose value is its instance id.
pub fn zoned(id: &str, zone: &str) -> Endpoint<String> {
    Endpoint::new(Instance::builder(id).zone(zone).build(), id.to_owned())
}

/// The ids of a source's current endpoints, in order.
pub fn ids<S: EndpointSource>(source: &mut S) -> Vec<String> {
    source
        .endpoints()
        .unwrap()
        .iter()
        .map(|e| e.instance().id().to_owned())
        .collect()
}

/// Records the message of every event, with its target.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    /// The messages recorded so far for targets starting with `prefix`.
    pub fn messages(&self, prefix: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                m.strip_prefix(prefix)
                    .map(|m| m.trim_start_matches(' ').to_owned())
            })
            .collect()
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Events {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let line = format!("{} {}", event.metadata().target(), message.0);
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
