//! Helpers shared by the filter tests: a source whose list the test replaces, and a
//! tracing subscriber that records event messages.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::sync::{Arc, Mutex};

use sd_core::{Endpoint, EndpointSource, Endpoints, Error, Instance};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// An endpoint source whose list (or error) the test sets; each `set` publishes a new list.
pub struct Swappable<E> {
    current: Mutex<Result<Endpoints<E>, Error>>,
}

impl<E> Swappable<E> {
    pub fn new(endpoints: Vec<Endpoint<E>>) -> Self {
        Self {
            current: Mutex::new(Ok(Endpoints::new(endpoints))),
        }
    }

    pub fn set(&self, endpoints: Vec<Endpoint<E>>) {
        *self.current.lock().unwrap() = Ok(Endpoints::new(endpoints));
    }

    pub fn fail(&self, error: Error) {
        *self.current.lock().unwrap() = Err(error);
    }
}

impl<E> EndpointSource for Swappable<E> {
    type Endpoint = E;

    fn with_endpoints<R>(&self, f: impl FnOnce(Result<&Endpoints<E>, &Error>) -> R) -> R {
        let current = self.current.lock().unwrap();
        f(current.as_ref())
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
pub fn ids<S: EndpointSource>(source: &S) -> Vec<String> {
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
