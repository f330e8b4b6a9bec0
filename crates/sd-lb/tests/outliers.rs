//! Passive outlier ejection: `Outliers` sets aside endpoints that fail too often in a row,
//! for a growing while, never too many, and lets them return on their own.
//!
//! Time is tokio's paused clock: ejection periods pass only when a test advances it.

mod common;

use std::time::Duration;

use common::{Swappable, ep, ids};
use sd_core::{EndpointSource, Error as CoreError, FixedEndpointer};
use sd_lb::{
    Balancer, Error, Outcome, OutlierConfig, OutlierDetector, Outliers, Random, RoundRobin,
    ZoneAware, ZoneChoice,
};
use tokio::time::advance;

/// Three replicas; the one at 10.0.0.2 fails every call.
fn one_bad_of_three() -> FixedEndpointer<bool> {
    FixedEndpointer::new([
        ("10.0.0.1:80", true),
        ("10.0.0.2:80", false),
        ("10.0.0.3:80", true),
    ])
}

/// Makes `calls` calls through `balancer`, reporting each outcome; returns which failed.
fn call<B>(balancer: &mut B, report: &OutlierDetector, calls: usize) -> Vec<bool>
where
    B: Balancer<Endpoint = bool>,
{
    (0..calls)
        .map(|_| {
            let endpoint = balancer.endpoint().unwrap();
            let outcome = if **endpoint {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            report.report(endpoint.instance(), outcome);
            outcome == Outcome::Failure
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn one_failing_instance_of_three_stops_failing_callers_after_n() {
    const N: u32 = 4;
    let config = OutlierConfig::default().consecutive_failures(N);

    let mut rr = RoundRobin::new(Outliers::new(one_bad_of_three(), config.clone()));
    let detector = rr.source().detector().clone();
    let failed = call(&mut rr, &detector, 1_000);
    // Every third call went to the bad replica until its N-th failure; none after.
    let errors: Vec<usize> = (0..failed.len()).filter(|&i| failed[i]).collect();
    assert_eq!(errors, [1, 4, 7, 10]);
    assert!(rr.source().detector().is_ejected("10.0.0.2:80"));

    let mut random = Random::with_seed(Outliers::new(one_bad_of_three(), config), 11);
    let detector = random.source().detector().clone();
    let failed = call(&mut random, &detector, 1_000);
    let errors = failed.iter().filter(|f| **f).count();
    assert_eq!(errors, N as usize, "exactly N callers saw an error");
    let last_error = failed.iter().rposition(|f| *f).unwrap();
    assert!(failed[last_error + 1..].iter().all(|f| !f));
}

#[tokio::test(start_paused = true)]
async fn ejections_end_on_their_own_and_double_while_it_keeps_failing() {
    let config = OutlierConfig::default()
        .consecutive_failures(2)
        .base_ejection(Duration::from_secs(10))
        .max_ejection(Duration::from_secs(40));
    let mut outliers = Outliers::new(one_bad_of_three(), config);
    let bad = outliers.endpoints().unwrap()[1].instance().clone();
    let all = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];
    let without_bad = ["10.0.0.1:80", "10.0.0.3:80"];

    // 10 s, 20 s, 40 s, then 40 s again: the cap.
    for period in [10, 20, 40, 40] {
        outliers.report(&bad, Outcome::Failure);
        assert_eq!(ids(&mut outliers), all, "one failure is not enough");
        outliers.report(&bad, Outcome::Failure);
        assert_eq!(ids(&mut outliers), without_bad);
        advance(Duration::from_millis(period * 1000 - 1)).await;
        assert_eq!(
            ids(&mut outliers),
            without_bad,
            "still out just before {period} s"
        );
        advance(Duration::from_millis(1)).await;
        assert_eq!(ids(&mut outliers), all, "back after {period} s");
    }

    // Staying in for longer than the longest ejection earns a fresh start.
    advance(Duration::from_secs(41)).await;
    outliers.report(&bad, Outcome::Failure);
    outliers.report(&bad, Outcome::Failure);
    assert_eq!(ids(&mut outliers), without_bad);
    advance(Duration::from_secs(10)).await;
    assert_eq!(ids(&mut outliers), all, "back after the base period");
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_count_and_late_outcomes_change_nothing() {
    let mut outliers = Outliers::new(
        one_bad_of_three(),
        OutlierConfig::default().consecutive_failures(3),
    );
    let bad = outliers.endpoints().unwrap()[1].instance().clone();
    for _ in 0..5 {
        outliers.report(&bad, Outcome::Failure);
        outliers.report(&bad, Outcome::Failure);
        outliers.report(&bad, Outcome::Success);
    }
    assert_eq!(ids(&mut outliers).len(), 3, "never three failures in a row");

    for _ in 0..3 {
        outliers.report(&bad, Outcome::Failure);
    }
    assert_eq!(ids(&mut outliers).len(), 2);
    // Calls that were under way when it was set aside end in successes: it stays out.
    outliers.report(&bad, Outcome::Success);
    assert_eq!(ids(&mut outliers).len(), 2);
    // It returns with a clean count: one more failure does not eject it again.
    advance(Duration::from_secs(10)).await;
    outliers.report(&bad, Outcome::Failure);
    assert_eq!(ids(&mut outliers).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn never_more_than_the_configured_share_is_set_aside() {
    let fails_at_once = OutlierConfig::default().consecutive_failures(1);
    let source = Swappable::new(vec![ep("a"), ep("b"), ep("c"), ep("d")]);
    let mut outliers = Outliers::new(source.clone(), fails_at_once.clone());
    ids(&mut outliers);
    for id in ["a", "b", "c", "d"] {
        outliers.detector().report_id(id, Outcome::Failure);
    }
    // 50 % of four: two set aside, the first two to fail.
    assert_eq!(ids(&mut outliers), ["c", "d"]);

    // The set shrinks to three: 50 % is now one, so only one stays out.
    source.set(vec![ep("a"), ep("b"), ep("c")]);
    assert_eq!(ids(&mut outliers), ["b", "c"]);

    // A set of one is never emptied, whatever the share.
    let mut single = Outliers::new(
        FixedEndpointer::new([("only", ())]),
        fails_at_once.max_ejection_percent(100),
    );
    ids(&mut single);
    for _ in 0..10 {
        single.detector().report_id("only", Outcome::Failure);
    }
    assert_eq!(ids(&mut single), ["only"]);

    // None at all at 0 %.
    let mut none = Outliers::new(
        one_bad_of_three(),
        OutlierConfig::default()
            .consecutive_failures(1)
            .max_ejection_percent(0),
    );
    ids(&mut none);
    none.detector().report_id("10.0.0.2:80", Outcome::Failure);
    assert_eq!(ids(&mut none).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn state_is_kept_only_for_instances_in_the_set() {
    let source = Swappable::new(vec![ep("a"), ep("b"), ep("c")]);
    let mut outliers = Outliers::new(
        source.clone(),
        OutlierConfig::default().consecutive_failures(2),
    );
    let detector = outliers.detector().clone();
    // Before any read the detector knows no instance: reports are ignored.
    detector.report_id("a", Outcome::Failure);
    assert_eq!(detector.tracked(), 0);

    ids(&mut outliers);
    assert_eq!(detector.tracked(), 3);
    for _ in 0..2 {
        detector.report_id("c", Outcome::Failure);
    }
    assert!(detector.is_ejected("c"));

    // c leaves the set: forgotten, and reports about it or strangers are ignored.
    source.set(vec![ep("a"), ep("b")]);
    assert_eq!(ids(&mut outliers), ["a", "b"]);
    assert_eq!(detector.tracked(), 2);
    for i in 0..1_000 {
        detector.report_id(&format!("stranger-{i}"), Outcome::Failure);
        detector.report_id("c", Outcome::Failure);
    }
    assert_eq!(detector.tracked(), 2);

    // c comes back with a clean slate.
    source.set(vec![ep("a"), ep("b"), ep("c")]);
    assert_eq!(ids(&mut outliers), ["a", "b", "c"]);
    assert!(!detector.is_ejected("c"));
    detector.report_id("c", Outcome::Failure);
    assert_eq!(ids(&mut outliers).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn no_configuration_value_panics() {
    let extremes = [
        OutlierConfig::default()
            .consecutive_failures(0)
            .base_ejection(Duration::MAX)
            .max_ejection(Duration::MAX)
            .max_ejection_percent(u8::MAX),
        OutlierConfig::default()
            .base_ejection(Duration::ZERO)
            .max_ejection(Duration::ZERO),
        OutlierConfig::default()
            .consecutive_failures(u32::MAX)
            .base_ejection(Duration::from_secs(1))
            .max_ejection(Duration::MAX),
    ];
    for config in extremes {
        let mut outliers = Outliers::new(one_bad_of_three(), config);
        for _ in 0..100 {
            ids(&mut outliers);
            outliers
                .detector()
                .report_id("10.0.0.2:80", Outcome::Failure);
            advance(Duration::from_secs(3600)).await;
        }
        assert!(!ids(&mut outliers).is_empty());
    }
    // An ejection that would end beyond the clock's range does not happen at all.
    let mut forever = Outliers::new(
        one_bad_of_three(),
        OutlierConfig::default()
            .consecutive_failures(1)
            .base_ejection(Duration::MAX)
            .max_ejection(Duration::MAX),
    );
    ids(&mut forever);
    forever
        .detector()
        .report_id("10.0.0.2:80", Outcome::Failure);
    assert_eq!(ids(&mut forever).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn errors_and_empty_lists_pass_through() {
    let source = Swappable::<String>::new(Vec::new());
    let mut rr = RoundRobin::new(Outliers::new(source.clone(), OutlierConfig::default()));
    assert_eq!(rr.endpoint().unwrap_err(), Error::NoEndpoints);
    source.fail(CoreError::discovery("registry unreachable"));
    assert_eq!(
        rr.endpoint().unwrap_err(),
        Error::Discovery(CoreError::discovery("registry unreachable"))
    );
}

#[tokio::test(start_paused = true)]
async fn under_zone_affinity_ejections_count_against_the_local_zone() {
    use common::zoned;
    let source = Swappable::new(vec![
        zoned("a1", "a"),
        zoned("a2", "a"),
        zoned("b1", "b"),
        zoned("b2", "b"),
    ]);
    let config = OutlierConfig::default().consecutive_failures(1);
    let mut zoned_source = ZoneAware::new(Outliers::new(source, config), "a").min_local(2);
    assert_eq!(ids(&mut zoned_source), ["a1", "a2"]);

    // a1 is set aside: one local endpoint is too few, so all healthy ones serve.
    zoned_source
        .source()
        .detector()
        .report_id("a1", Outcome::Failure);
    assert_eq!(ids(&mut zoned_source), ["a2", "b1", "b2"]);
    assert_eq!(zoned_source.choice(), Some(ZoneChoice::AllZones));
    advance(Duration::from_secs(10)).await;
    assert_eq!(ids(&mut zoned_source), ["a1", "a2"]);
}

/// Each thread calls through a clone of its own; the clones share the detector.
#[test]
fn callers_on_several_threads_see_at_most_n_errors_plus_calls_under_way() {
    const N: u32 = 3;
    const THREADS: usize = 4;
    // An hour: however slow the machine, the bad replica does not return mid-test.
    let config = OutlierConfig::default()
        .consecutive_failures(N)
        .base_ejection(Duration::from_secs(3600));
    let rr = RoundRobin::new(Outliers::new(one_bad_of_three(), config));
    let errors: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let mut rr = rr.clone();
                scope.spawn(move || {
                    let detector = rr.source().detector().clone();
                    call(&mut rr, &detector, 2_000)
                        .iter()
                        .filter(|f| **f)
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    // Each other thread may have picked the bad replica just before it was set aside.
    assert!(errors >= N as usize);
    assert!(errors < N as usize + THREADS, "{errors} errors");
    assert!(rr.source().detector().is_ejected("10.0.0.2:80"));
}

mod reporting {
    use std::task::{Context, Poll};

    use sd_core::{BoxError, FixedEndpointer, Instance};
    use sd_lb::outliers::ErrorsAreFailures;
    use sd_lb::{Balancer, Outcome, OutlierConfig, OutlierDetector, Outliers, RoundRobin};
    use tower::{Service, ServiceExt, service_fn};

    use super::ids;

    /// A service whose readiness always fails, as a client that cannot connect.
    #[derive(Clone)]
    struct Unreachable;

    impl Service<()> for Unreachable {
        type Response = ();
        type Error = BoxError;
        type Future = std::future::Ready<Result<(), BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Err("connection refused".into()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            std::future::ready(Err("not ready".into()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wrapped_services_report_their_own_outcomes() {
        let detector = OutlierDetector::new(OutlierConfig::default().consecutive_failures(2));
        let ok = |id: &str| -> (String, bool) { (id.to_owned(), true) };
        let source = FixedEndpointer::new([ok("a"), ok("b"), ok("c")]);
        let mut outliers = Outliers::with_detector(source, detector.clone());
        ids(&mut outliers);

        // By default an error is a failure and a response a success.
        let flaky = service_fn(|fail: bool| async move {
            if fail {
                Err::<(), BoxError>("boom".into())
            } else {
                Ok(())
            }
        });
        let mut a = detector.reporting(Instance::new("a"), flaky, ErrorsAreFailures);
        assert_eq!(a.instance().id(), "a");
        a.ready().await.unwrap().call(true).await.unwrap_err();
        a.ready().await.unwrap().call(false).await.unwrap();
        a.ready().await.unwrap().call(true).await.unwrap_err();
        assert!(
            !detector.is_ejected("a"),
            "the success in between reset the count"
        );
        a.ready().await.unwrap().call(true).await.unwrap_err();
        assert!(detector.is_ejected("a"));

        // A classifier may call answers failures.
        let slow = service_fn(|ms: u64| async move { Ok::<u64, BoxError>(ms) });
        let too_slow = |r: &Result<u64, BoxError>| match r {
            Ok(ms) if *ms < 100 => Outcome::Success,
            _ => Outcome::Failure,
        };
        let mut b = detector.reporting(Instance::new("b"), slow, too_slow);
        assert_eq!(b.ready().await.unwrap().call(500).await.unwrap(), 500);
        // A future dropped before it finished reports nothing.
        drop(b.ready().await.unwrap().call(500));
        b.ready().await.unwrap().call(5).await.unwrap();
        b.ready().await.unwrap().call(500).await.unwrap();
        assert!(!detector.is_ejected("b"));

        // Readiness errors are failures too (and `a` has returned by now).
        tokio::time::advance(std::time::Duration::from_secs(10)).await;
        let mut c = detector.reporting(Instance::new("c"), Unreachable, ErrorsAreFailures);
        for _ in 0..2 {
            assert!(c.ready().await.is_err());
        }
        assert!(detector.is_ejected("c"));
        assert_eq!(ids(&mut outliers), ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_balancer_over_reporting_endpoints_stops_picking_the_failing_one() {
        let detector = OutlierDetector::new(OutlierConfig::default().consecutive_failures(3));
        let endpoint = |id: &str| {
            let bad = id == "10.0.0.2:80";
            let service = service_fn(move |(): ()| async move {
                if bad {
                    Err::<(), BoxError>("refused".into())
                } else {
                    Ok(())
                }
            });
            let service = detector.reporting(Instance::new(id), service, ErrorsAreFailures);
            (id.to_owned(), service)
        };
        let source =
            FixedEndpointer::new(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"].map(endpoint));
        let mut rr = RoundRobin::new(Outliers::with_detector(source, detector.clone()));
        let mut errors = 0;
        for _ in 0..300 {
            let service = (**rr.endpoint().unwrap()).clone();
            if service.oneshot(()).await.is_err() {
                errors += 1;
            }
        }
        assert_eq!(errors, 3);
    }
}
