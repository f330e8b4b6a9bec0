//! Retry semantics: go-kit's scenarios, plus the defects it is not to copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sd_core::{Backoff, BoxError, Endpointer, FixedEndpointer, Instance, InstanceCache, Instances};
use sd_lb::{Decision, RetryBudget, RoundRobin, retry, retry_with_callback};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Lb(#[from] sd_lb::Error),
    #[error("{0}")]
    Call(String),
}

/// Endpoints 0..n; `ok` says which of them succeed.
fn replicas(n: usize) -> FixedEndpointer<usize> {
    FixedEndpointer::new((0..n).map(|i| (format!("10.0.0.{i}:80"), i)))
}

fn answer(i: usize, ok: &[usize]) -> std::future::Ready<Result<usize, TestError>> {
    std::future::ready(if ok.contains(&i) {
        Ok(i)
    } else {
        Err(TestError::Call(format!("fail {i}")))
    })
}

#[tokio::test]
async fn no_endpoints_fails_with_typed_errors() {
    let empty = FixedEndpointer::<usize>::new(Vec::<(&str, usize)>::new());
    let mut retry = retry(3, Duration::from_secs(10), RoundRobin::new(empty));
    let err = retry
        .call(|e| answer(*e, &[]))
        .await
        .expect_err("nothing to call");
    assert!(!err.is_deadline());
    assert_eq!(err.attempts(), 3);
    assert!(
        err.raw_errors()
            .iter()
            .all(|e| matches!(e, TestError::Lb(l) if l.is_no_endpoints()))
    );
    assert_eq!(
        err.to_string(),
        "no endpoints available (previously: no endpoints available; no endpoints available)"
    );
}

#[tokio::test]
async fn fail_fail_ok_needs_three_attempts() {
    let mut two = retry(2, Duration::from_secs(1), RoundRobin::new(replicas(3)));
    let err = two.call(|e| answer(*e, &[2])).await.unwrap_err();
    assert_eq!(err.to_string(), "fail 1 (previously: fail 0)");
    assert_eq!(err.final_error(), Some(&TestError::Call("fail 1".into())));
    assert_eq!(err.raw_errors().len(), 2);

    let mut three = retry(3, Duration::from_secs(1), RoundRobin::new(replicas(3)));
    assert_eq!(three.call(|e| answer(*e, &[2])).await.unwrap(), 2);
}

#[tokio::test]
async fn zero_max_attempts_still_makes_one() {
    let mut retry = retry(0, Duration::from_secs(1), RoundRobin::new(replicas(1)));
    let err = retry.call(|e| answer(*e, &[])).await.unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.to_string(), "fail 0");
}

/// Sets its flag when dropped: proves an attempt's future was cancelled, not abandoned.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn deadline_is_typed_and_cancels_the_attempt_in_flight() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut retry = retry(5, Duration::from_millis(100), RoundRobin::new(replicas(2)));
    let flag = cancelled.clone();
    let err = retry
        .call(|e| {
            let flag = flag.clone();
            async move {
                if *e == 0 {
                    return Err(TestError::Call("fail 0".into()));
                }
                let _guard = DropFlag(flag);
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(*e)
            }
        })
        .await
        .unwrap_err();
    assert!(err.is_deadline());
    assert_eq!(err.timeout(), Some(Duration::from_millis(100)));
    assert_eq!(err.final_error(), None);
    assert_eq!(err.raw_errors(), [TestError::Call("fail 0".into())]);
    assert_eq!(
        err.to_string(),
        "retry deadline of 100ms exceeded (previously: fail 0)"
    );
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the blocked attempt was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_cancels_the_attempt_in_flight() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut retry = retry(1, Duration::from_secs(3600), RoundRobin::new(replicas(1)));
    let flag = cancelled.clone();
    let call = retry.call(|e| {
        let flag = flag.clone();
        async move {
            let _guard = DropFlag(flag);
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, TestError>(*e)
        }
    });
    let outcome = tokio::time::timeout(Duration::from_millis(10), call).await;
    assert!(outcome.is_err(), "the caller gave up first");
    assert!(cancelled.load(Ordering::SeqCst));
}

#[tokio::test]
async fn callback_gets_the_error_unchanged_and_may_stop_with_its_own() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut retry = retry_with_callback(
        Duration::from_secs(1),
        RoundRobin::new(replicas(5)),
        move |n: usize, e: &TestError| {
            log.lock().unwrap().push((n, e.clone()));
            if n < 2 {
                Decision::Retry
            } else {
                Decision::StopWith(TestError::Call("gave up early".into()))
            }
        },
    );
    let err = retry.call(|e| answer(*e, &[4])).await.unwrap_err();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, TestError::Call("fail 0".into())),
            (2, TestError::Call("fail 1".into()))
        ]
    );
    assert_eq!(
        err.final_error(),
        Some(&TestError::Call("gave up early".into()))
    );
    assert_eq!(err.raw_errors().len(), 2);
    assert_eq!(err.to_string(), "gave up early (previously: fail 0)");
    assert_eq!(
        err.into_final_error(),
        Some(TestError::Call("gave up early".into()))
    );
}

#[tokio::test]
async fn stop_keeps_the_last_raw_error() {
    let mut retry = retry_with_callback(
        Duration::from_secs(1),
        RoundRobin::new(replicas(3)),
        |_: usize, _: &TestError| Decision::Stop,
    );
    let err = retry.call(|e| answer(*e, &[])).await.unwrap_err();
    assert_eq!(err.to_string(), "fail 0");
}

#[tokio::test(start_paused = true)]
async fn no_endpoints_backs_off_instead_of_spinning() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let empty = FixedEndpointer::<usize>::new(Vec::<(&str, usize)>::new());
    let mut retry = retry_with_callback(
        Duration::from_secs(1),
        RoundRobin::new(empty),
        move |_: usize, _: &TestError| {
            counter.fetch_add(1, Ordering::SeqCst);
            Decision::Retry
        },
    );
    let started = tokio::time::Instant::now();
    let err = retry.call(|e| answer(*e, &[])).await.unwrap_err();
    assert!(err.is_deadline());
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    // Waits from the upper halves of 10, 20, 40, 80, 160, then 250 ms: 8 to 12 attempts
    // fit in one second. A busy loop
    // would make millions.
    let n = attempts.load(Ordering::SeqCst);
    assert!((5..=13).contains(&n), "{n} attempts in one second");
    assert_eq!(err.attempts(), n);
}

#[tokio::test(start_paused = true)]
async fn backoff_picks_up_endpoints_that_appear_during_the_call() {
    let cache = InstanceCache::new();
    let endpointer = Endpointer::new(&cache, |i: &Instance| -> Result<String, BoxError> {
        Ok(i.id().to_owned())
    })
    .unwrap();
    let mut retry = retry(100, Duration::from_secs(5), RoundRobin::new(endpointer));
    let publisher = async {
        tokio::time::sleep(Duration::from_millis(35)).await;
        cache.update(Instances::new(["10.0.0.9:80"]));
    };
    let call = retry.call(|e| async move { Ok::<_, BoxError>(e.get_ref().clone()) });
    let (reply, ()) = tokio::join!(call, publisher);
    assert_eq!(reply.unwrap(), "10.0.0.9:80");
}

#[tokio::test]
async fn huge_timeout_means_no_deadline_rather_than_overflow() {
    let mut retry = retry(2, Duration::MAX, RoundRobin::new(replicas(2)));
    assert_eq!(retry.call(|e| answer(*e, &[1])).await.unwrap(), 1);
}

#[tokio::test]
async fn works_with_box_error_and_question_mark() -> Result<(), BoxError> {
    let mut retry = retry(2, Duration::from_secs(1), RoundRobin::new(replicas(2)));
    let v = retry
        .call(|e| async move {
            if *e == 1 {
                Ok(*e)
            } else {
                Err(BoxError::from("nope"))
            }
        })
        .await?;
    assert_eq!(v, 1);
    Ok(())
}

/// A callback that always retries, no deadline, every endpoint failing: the error keeps
/// only the most recent raw errors, and counts the rest.
#[tokio::test(start_paused = true)]
async fn raw_errors_are_bounded_however_long_a_call_retries() {
    let failures = Arc::new(AtomicUsize::new(0));
    let counter = failures.clone();
    let mut retry = retry_with_callback(
        Duration::MAX,
        RoundRobin::new(replicas(2)),
        |attempt: usize, _: &TestError| {
            if attempt < 1000 {
                Decision::Retry
            } else {
                Decision::Stop
            }
        },
    )
    .budget(Arc::new(RetryBudget::new(
        Duration::from_secs(1),
        10_000,
        0,
    )));
    let err = retry
        .call(|e| {
            counter.fetch_add(1, Ordering::SeqCst);
            answer(*e, &[])
        })
        .await
        .unwrap_err();
    assert_eq!(failures.load(Ordering::SeqCst), 1000);
    assert_eq!(err.attempts(), 1000);
    assert_eq!(err.raw_errors().len(), sd_lb::KEPT_ERRORS);
    assert_eq!(err.final_error(), Some(&TestError::Call("fail 1".into())));
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "{} earlier errors not kept",
            1000 - sd_lb::KEPT_ERRORS
        )),
        "{message}"
    );
}

/// Retries of failed calls are paid from a budget shared by the clones of a `Retry`: with
/// a budget of 20 % of calls and no floor, 100 calls against failing endpoints make at
/// most 120 attempts, not 300.
#[tokio::test(start_paused = true)]
async fn a_spent_budget_stops_retries() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let retry = retry(3, Duration::from_secs(10), RoundRobin::shared(replicas(3)))
        .budget(Arc::new(RetryBudget::new(Duration::from_secs(10), 0, 20)));
    let mut exhausted = 0;
    for _ in 0..100 {
        let mut clone = retry.clone();
        let counter = attempts.clone();
        let err = clone
            .call(|e| {
                counter.fetch_add(1, Ordering::SeqCst);
                answer(*e, &[])
            })
            .await
            .unwrap_err();
        if err.is_budget_exhausted() {
            exhausted += 1;
            assert!(err.to_string().contains("retry budget exhausted"), "{err}");
        }
    }
    let made = attempts.load(Ordering::SeqCst);
    assert!((100..=121).contains(&made), "{made} attempts");
    assert!(exhausted >= 79, "{exhausted} calls found the budget spent");
}

/// Retries after failed calls wait a jittered, growing pause; `Backoff::none()` restores
/// go-kit's immediate retries.
#[tokio::test(start_paused = true)]
async fn failed_calls_are_retried_after_a_jittered_pause() {
    let run = |backoff: Backoff| async move {
        let mut retry =
            retry(4, Duration::from_secs(10), RoundRobin::new(replicas(4))).backoff(backoff);
        let started = tokio::time::Instant::now();
        let reply = retry.call(|e| answer(*e, &[3])).await.unwrap();
        (reply, started.elapsed())
    };
    let (reply, waited) = run(Backoff::with_seed(
        Duration::from_millis(100),
        Duration::from_secs(1),
        9,
    ))
    .await;
    assert_eq!(reply, 3);
    // Three retries: upper halves of 100, 200 and 400 ms.
    assert!(
        waited >= Duration::from_millis(350) && waited <= Duration::from_millis(700),
        "{waited:?}"
    );
    let (reply, waited) = run(Backoff::none()).await;
    assert_eq!(reply, 3);
    assert_eq!(waited, Duration::ZERO);
}
