//! The endpointer's state machine: diffing, factory calls, invalidation and closing.
//!
//! It is synchronous and takes the time as an argument, so every rule can be tested with
//! a hand-driven clock; the [`Endpointer`](super::Endpointer) wraps it in a task.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::factory::{Closer, Factory};
use crate::{Endpoint, Endpoints, Error, Event, Instances};

/// What readers see, published as a whole after every change: the endpoints to use
/// (possibly the last known good ones after an error, until invalidation), or the error
/// that stands in for them once invalidated or closed.
///
/// Readers never look at a clock: the task publishes the failure when invalidation falls
/// due, and readers see it from their next read.
pub(crate) type Snapshot<E> = Result<Endpoints<E>, Error>;

struct Live<E> {
    endpoint: Endpoint<E>,
    closer: Option<Closer>,
}

struct Failure {
    error: Error,
    deadline: Instant,
    invalidated: bool,
}

pub(crate) struct EndpointCache<E> {
    factory: Box<dyn Factory<Endpoint = E>>,
    invalidate_after: Option<Duration>,
    /// Keyed by instance identity; a `BTreeMap` so iteration is already lexicographic.
    live: BTreeMap<Box<str>, Live<E>>,
    failure: Option<Failure>,
    closed: bool,
}

/// Close hooks to run once the caller has released its lock.
pub(crate) type Closers = Vec<Closer>;

impl<E> EndpointCache<E> {
    pub(crate) fn new(
        factory: Box<dyn Factory<Endpoint = E>>,
        invalidate_after: Option<Duration>,
    ) -> Self {
        Self {
            factory,
            invalidate_after,
            live: BTreeMap::new(),
            failure: None,
            closed: false,
        }
    }

    /// When invalidation is pending and due, closes every endpoint.
    pub(crate) fn expire(&mut self, now: Instant) -> Closers {
        match &mut self.failure {
            Some(f) if !f.invalidated && now >= f.deadline => {
                f.invalidated = true;
                tracing::warn!(error = %f.error, "discovery error persisted; endpoints invalidated");
                self.drain()
            }
            _ => Vec::new(),
        }
    }

    /// Closes every endpoint for good. Idempotent.
    pub(crate) fn close(&mut self) -> Closers {
        self.closed = true;
        self.drain()
    }

    fn drain(&mut self) -> Closers {
        std::mem::take(&mut self.live)
            .into_values()
            .filter_map(|l| l.closer)
            .collect()
    }

    /// When the pending invalidation is due, if there is one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.failure {
            Some(f) if !f.invalidated && !self.closed => Some(f.deadline),
            _ => None,
        }
    }
}

impl<E: 'static> EndpointCache<E> {
    pub(crate) fn update(&mut self, event: Event, now: Instant) -> Closers {
        if self.closed {
            return Vec::new();
        }
        match event {
            Event::Instances(set) => {
                self.failure = None;
                self.rebuild(&set)
            }
            Event::Error(error) => {
                // A timeout too long for the clock to say when it ends never ends.
                let deadline = self.invalidate_after.and_then(|t| now.checked_add(t));
                let (Some(timeout), Some(deadline)) = (self.invalidate_after, deadline) else {
                    tracing::warn!(%error, "discovery error; keeping last known endpoints");
                    return Vec::new();
                };
                if self.failure.is_some() {
                    // The first error and its deadline stand until a good event.
                    return Vec::new();
                }
                tracing::warn!(%error, ?timeout, "discovery error; endpoints invalidated if it persists");
                self.failure = Some(Failure {
                    error,
                    deadline,
                    invalidated: false,
                });
                self.expire(now)
            }
        }
    }

    fn rebuild(&mut self, set: &Instances) -> Closers {
        let mut next = BTreeMap::new();
        for instance in set.iter() {
            let live = match self.live.remove(instance.id()) {
                Some(mut live) => {
                    if live.endpoint.instance() != instance {
                        // Same identity, new attributes: keep the value, refresh what
                        // balancers see.
                        live.endpoint = live.endpoint.with_instance(instance.clone());
                    }
                    live
                }
                None => match self.factory.build(instance) {
                    Ok(built) => Live {
                        endpoint: Endpoint::new(instance.clone(), built.endpoint),
                        closer: built.closer,
                    },
                    Err(error) => {
                        tracing::warn!(instance = %instance, %error, "endpoint factory failed; skipping instance");
                        continue;
                    }
                },
            };
            next.insert(instance.id().into(), live);
        }
        let removed = std::mem::replace(&mut self.live, next);
        removed.into_values().filter_map(|l| l.closer).collect()
    }

    pub(crate) fn snapshot(&self) -> Snapshot<E> {
        if self.closed {
            return Err(Error::closed());
        }
        match &self.failure {
            Some(f) if f.invalidated => Err(f.error.clone()),
            // No error, or one whose invalidation is not due yet: the endpoints serve.
            _ => Ok(self.live.values().map(|l| l.endpoint.clone()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::factory::{Built, closing};
    use crate::{BoxError, Instance};

    /// Records factory calls and closes, so tests can assert both.
    #[derive(Clone, Default)]
    struct Log {
        built: Arc<AtomicUsize>,
        closed: Arc<Mutex<Vec<String>>>,
    }

    impl Log {
        fn factory(&self) -> Box<dyn Factory<Endpoint = String>> {
            let log = self.clone();
            Box::new(closing(move |i: &Instance| {
                log.built.fetch_add(1, Ordering::SeqCst);
                let closed = Arc::clone(&log.closed);
                let id = i.id().to_owned();
                Ok(Built::with_closer(id.clone(), move || {
                    closed.lock().unwrap().push(id);
                }))
            }))
        }

        fn built(&self) -> usize {
            self.built.load(Ordering::SeqCst)
        }

        fn closed(&self) -> Vec<String> {
            self.closed.lock().unwrap().clone()
        }
    }

    fn set(ids: &[&str]) -> Event {
        Event::Instances(Instances::new(ids.iter().copied()))
    }

    fn run(closers: Closers) {
        closers.into_iter().for_each(Closer::close);
    }

    fn ids<E>(snapshot: &Snapshot<E>, _now: Instant) -> Result<Vec<String>, String> {
        snapshot
            .as_ref()
            .map(|eps| eps.iter().map(|e| e.instance().id().to_owned()).collect())
            .map_err(ToString::to_string)
    }

    #[test]
    fn gokit_cache_scenario() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), None);
        let now = Instant::now();

        run(cache.update(set(&["a", "b"]), now));
        assert_eq!(
            ids(&cache.snapshot(), now),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(log.built(), 2);

        run(cache.update(set(&["a", "b"]), now));
        assert!(log.closed().is_empty(), "the same update closes nothing");
        assert_eq!(
            log.built(),
            2,
            "the factory is not called for known instances"
        );

        run(cache.update(Event::Error(Error::discovery("boom")), now));
        assert_eq!(
            ids(&cache.snapshot(), now + Duration::from_secs(3600)),
            Ok(vec!["a".into(), "b".into()]),
            "without invalidation an error keeps the last known endpoints"
        );

        run(cache.update(set(&["a"]), now));
        assert_eq!(log.closed(), ["b"]);
        run(cache.update(set(&[]), now));
        assert_eq!(log.closed(), ["b", "a"]);
        assert_eq!(ids(&cache.snapshot(), now), Ok(vec![]));
    }

    #[test]
    fn gokit_invalidation_scenario() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);

        run(cache.update(set(&["a"]), t0));
        run(cache.update(Event::Error(Error::discovery("first")), t0));
        assert_eq!(ids(&cache.snapshot(), t0), Ok(vec!["a".into()]));
        assert_eq!(ids(&cache.snapshot(), ms(50)), Ok(vec!["a".into()]));
        assert_eq!(cache.deadline(), Some(ms(100)));

        // Until the task expires it, what was published still serves: readers read no clock.
        assert_eq!(ids(&cache.snapshot(), ms(150)), Ok(vec!["a".into()]));
        run(cache.expire(ms(150)));
        assert_eq!(log.closed(), ["a"]);
        assert_eq!(ids(&cache.snapshot(), ms(150)), Err("first".into()));
        assert_eq!(cache.deadline(), None);

        run(cache.update(Event::Error(Error::discovery("second")), ms(160)));
        assert_eq!(
            ids(&cache.snapshot(), ms(160)),
            Err("first".into()),
            "a later error does not replace the first"
        );

        run(cache.update(set(&["a"]), ms(200)));
        assert_eq!(ids(&cache.snapshot(), ms(200)), Ok(vec!["a".into()]));
        assert_eq!(log.built(), 2, "a good event rebuilds closed endpoints");
    }

    #[test]
    fn later_errors_do_not_move_the_deadline() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        run(cache.update(set(&["a"]), t0));
        run(cache.update(Event::Error(Error::discovery("1")), t0));
        run(cache.update(
            Event::Error(Error::discovery("2")),
            t0 + Duration::from_millis(90),
        ));
        assert_eq!(cache.deadline(), Some(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn a_good_event_before_the_deadline_cancels_invalidation() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        run(cache.update(set(&["a"]), t0));
        run(cache.update(Event::Error(Error::discovery("1")), t0));
        run(cache.update(set(&["a"]), t0 + Duration::from_millis(50)));
        run(cache.expire(t0 + Duration::from_millis(500)));
        assert!(log.closed().is_empty());
        assert_eq!(log.built(), 1);
        assert_eq!(
            ids(&cache.snapshot(), t0 + Duration::from_millis(500)),
            Ok(vec!["a".into()])
        );
    }

    #[test]
    fn a_timeout_too_long_for_the_clock_never_invalidates() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), Some(Duration::MAX));
        let t0 = Instant::now();
        run(cache.update(set(&["a"]), t0));
        run(cache.update(Event::Error(Error::discovery("x")), t0));
        assert_eq!(cache.deadline(), None);
        run(cache.expire(t0 + Duration::from_secs(86_400 * 365)));
        assert!(log.closed().is_empty());
        assert_eq!(
            ids(&cache.snapshot(), t0 + Duration::from_secs(86_400 * 365)),
            Ok(vec!["a".into()])
        );
    }

    #[test]
    fn zero_timeout_invalidates_at_once() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), Some(Duration::ZERO));
        let t0 = Instant::now();
        run(cache.update(set(&["a"]), t0));
        run(cache.update(Event::Error(Error::discovery("x")), t0));
        assert_eq!(log.closed(), ["a"]);
        assert_eq!(ids(&cache.snapshot(), t0), Err("x".into()));
    }

    #[test]
    fn failing_factory_gives_no_endpoints_and_no_error() {
        let factory = |_: &Instance| -> Result<(), BoxError> { Err("nope".into()) };
        let mut cache = EndpointCache::new(Box::new(factory), None);
        let now = Instant::now();
        run(cache.update(set(&["a", "b"]), now));
        assert_eq!(ids(&cache.snapshot(), now), Ok(vec![]));
    }

    #[test]
    fn failed_instances_are_retried_on_the_next_event() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&attempts);
        let factory = move |i: &Instance| -> Result<String, BoxError> {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                Err("transient".into())
            } else {
                Ok(i.id().to_owned())
            }
        };
        let mut cache = EndpointCache::new(Box::new(factory), None);
        let now = Instant::now();
        run(cache.update(set(&["a"]), now));
        assert_eq!(ids(&cache.snapshot(), now), Ok(vec![]));
        run(cache.update(set(&["a"]), now));
        assert_eq!(ids(&cache.snapshot(), now), Ok(vec!["a".into()]));
    }

    #[test]
    fn attribute_changes_keep_the_endpoint_but_refresh_the_instance() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), None);
        let now = Instant::now();
        let zoned =
            |z: &str| Event::Instances(Instances::new([Instance::builder("a").zone(z).build()]));
        run(cache.update(zoned("z1"), now));
        run(cache.update(zoned("z2"), now));
        assert_eq!(log.built(), 1);
        assert!(log.closed().is_empty());
        let Ok(eps) = cache.snapshot() else {
            panic!("expected ready")
        };
        assert_eq!(eps[0].instance().zone(), Some("z2"));
    }

    #[test]
    fn close_is_idempotent_and_closes_live_endpoints() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), None);
        let now = Instant::now();
        run(cache.update(set(&["b", "a"]), now));
        run(cache.close());
        run(cache.close());
        assert_eq!(log.closed(), ["a", "b"]);
        run(cache.update(set(&["c"]), now));
        assert_eq!(log.built(), 2, "a closed cache builds nothing");
        assert!(matches!(cache.snapshot(), Err(e) if e.is_closed()));
    }

    #[test]
    fn endpoints_are_in_lexicographic_order() {
        let log = Log::default();
        let mut cache = EndpointCache::new(log.factory(), None);
        let now = Instant::now();
        run(cache.update(set(&["10.0.0.2:80", "10.0.0.10:80", "10.0.0.1:80"]), now));
        assert_eq!(
            ids(&cache.snapshot(), now),
            // Byte-wise, as go-kit: '0' (0x30) sorts before ':' (0x3a).
            Ok(vec![
                "10.0.0.10:80".into(),
                "10.0.0.1:80".into(),
                "10.0.0.2:80".into()
            ])
        );
    }
}
