//! The tracing events of `ZoneAware` and `Outliers`.
//!
//! One test in this binary, so one thread: tracing caches per call site whether anyone
//! listens, and a test thread without a subscriber reaching a call site while another
//! installs one can leave that cache saying no one does.

mod common;

use std::time::Duration;

use common::{Events, ids, zoned};
use sd_core::{EndpointSource, FixedEndpointer};
use sd_lb::{Outcome, OutlierConfig, Outliers, ZoneAware};

#[test]
fn zone_choices_ejections_and_returns_are_debug_events() {
    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());

    // Zone affinity: the first choice and each change, once, however many reads.
    let source = common::Swappable::new(vec![zoned("a1", "a"), zoned("b1", "b")]);
    let mut zoned_source = ZoneAware::new(source.clone(), "a");
    let mut read = || {
        for _ in 0..5 {
            zoned_source.endpoints().unwrap();
        }
    };
    read();
    source.set(vec![zoned("b1", "b"), zoned("b2", "b")]);
    read();
    source.set(vec![zoned("b1", "b"), zoned("b2", "b"), zoned("b3", "b")]);
    read();
    source.set(vec![zoned("a1", "a"), zoned("b1", "b")]);
    read();
    assert_eq!(
        events.messages("sd_lb::zone"),
        [
            "using the local zone",
            "falling back to all zones: too few endpoints in the local zone",
            "back to the local zone",
        ]
    );

    // Outlier ejection: set aside, refused by the cap, returned; on tokio's paused clock.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut outliers = Outliers::new(
            FixedEndpointer::new([
                ("10.0.0.1:80", ()),
                ("10.0.0.2:80", ()),
                ("10.0.0.3:80", ()),
            ]),
            OutlierConfig::default().consecutive_failures(1),
        );
        ids(&mut outliers);
        let detector = outliers.detector().clone();
        detector.report_id("10.0.0.2:80", Outcome::Failure);
        detector.report_id("10.0.0.1:80", Outcome::Failure);
        tokio::time::advance(Duration::from_secs(10)).await;
        ids(&mut outliers);
    });
    assert_eq!(
        events.messages("sd_lb::outliers"),
        [
            "endpoint set aside after failures in a row",
            "endpoint kept: the most that may be set aside already are",
            "endpoint returns",
        ]
    );
}
