//! Each call runs in an `sd.call` span carrying its instance, on both the plain and the
//! retrying balanced service: the endpoint's `call` and every poll of its future. (In a
//! binary of its own: the subscriber it sets raises the process's maximum level.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_core::{BoxError, FixedEndpointer};
use sd_lb::RoundRobin;
use sd_tower::{Balanced, RetryLayer};
use tower::{ServiceExt, service_fn};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Records the `instance` field of every `sd.call` span made.
#[derive(Clone, Default)]
struct CallSpans(Arc<Mutex<Vec<String>>>);

impl<S> tracing_subscriber::Layer<S> for CallSpans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        if attrs.metadata().name() != "sd.call" {
            return;
        }
        attrs.record(&mut Instance(&mut self.0.lock().unwrap()));
    }
}

/// Keeps a span's `instance` field.
struct Instance<'a>(&'a mut Vec<String>);
impl tracing::field::Visit for Instance<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "instance" {
            self.0.push(format!("{value:?}"));
        }
    }
}

/// An endpoint that answers with the name of the span it was called in, and of the one
/// its future was polled in.
fn endpoints() -> FixedEndpointer<
    impl tower::Service<(), Response = (String, String), Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static,
> {
    let current = || {
        tracing::Span::current()
            .metadata()
            .map_or("none", |m| m.name())
            .to_owned()
    };
    let endpoint = service_fn(move |()| {
        let called_in = current();
        async move { Ok::<_, BoxError>((called_in, current())) }
    });
    FixedEndpointer::new([("10.0.0.1:80", endpoint)])
}

#[tokio::test]
async fn calls_run_in_a_span_that_names_the_instance() {
    let spans = CallSpans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    let balanced = Balanced::new(RoundRobin::new(endpoints()));
    let reply = balanced.oneshot(()).await.unwrap();
    assert_eq!(reply, ("sd.call".to_owned(), "sd.call".to_owned()));

    let retrying = Balanced::new(RoundRobin::new(endpoints()))
        .retry(RetryLayer::new(2, Duration::from_secs(5)));
    let reply = retrying.oneshot(()).await.unwrap();
    assert_eq!(reply, ("sd.call".to_owned(), "sd.call".to_owned()));

    assert_eq!(*spans.0.lock().unwrap(), ["10.0.0.1:80", "10.0.0.1:80"]);
}
