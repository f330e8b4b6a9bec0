//! `RetryError`: why a retried call gave up.

use std::fmt;
use std::time::Duration;

use super::ErrorLog;

/// Why [`Retry::call`](super::Retry::call) gave up.
///
/// It keeps the raw errors in order: every one, up to the most recent
/// [`KEPT_ERRORS`](super::KEPT_ERRORS) of a call that made more attempts. Its message
/// follows go-kit: the final error, then — when there was more than one attempt —
/// `(previously: e1; e2)` listing the earlier ones.
pub struct RetryError<E> {
    raw_errors: Vec<E>,
    /// Errors of earlier attempts that were not kept.
    dropped: usize,
    reason: Reason<E>,
}

enum Reason<E> {
    /// The callback (or the attempt limit) stopped; `Some` when it replaced the error.
    Stopped { replacement: Option<E> },
    /// A retry was due but the retry budget was spent.
    Budget,
    /// The overall deadline passed; the attempt in flight, if any, was cancelled.
    Deadline { timeout: Duration },
}

impl<E> RetryError<E> {
    /// The error of a call that ran past its `timeout`, with the raw errors of its
    /// attempts. Public for retry loops outside this crate (sd-tower's `RetryLayer`), so
    /// that every deadline in `sd` reads the same.
    pub fn deadline_exceeded(log: ErrorLog<E>, timeout: Duration) -> Self {
        Self::new(log, Reason::Deadline { timeout })
    }

    pub(super) fn stopped(log: ErrorLog<E>, replacement: Option<E>) -> Self {
        Self::new(log, Reason::Stopped { replacement })
    }

    pub(super) fn budget(log: ErrorLog<E>) -> Self {
        Self::new(log, Reason::Budget)
    }

    fn new(log: ErrorLog<E>, reason: Reason<E>) -> Self {
        let (raw_errors, dropped) = log.into_parts();
        Self {
            raw_errors,
            dropped,
            reason,
        }
    }

    /// The attempts' errors, in order, as the attempts returned them: all of them, or the
    /// most recent [`KEPT_ERRORS`](super::KEPT_ERRORS) when there were more.
    pub fn raw_errors(&self) -> &[E] {
        &self.raw_errors
    }

    /// True when a retry was due but the retry budget was spent: the final error is the
    /// last attempt's.
    pub fn is_budget_exhausted(&self) -> bool {
        matches!(self.reason, Reason::Budget)
    }

    /// The error the call ended with: the callback's replacement if it gave one, else the
    /// last attempt's error. `None` when the deadline ended the call.
    pub fn final_error(&self) -> Option<&E> {
        match &self.reason {
            Reason::Stopped {
                replacement: Some(e),
            } => Some(e),
            Reason::Stopped { replacement: None } | Reason::Budget => self.raw_errors.last(),
            Reason::Deadline { .. } => None,
        }
    }

    /// Consumes the error, returning [`final_error`](Self::final_error) by value.
    pub fn into_final_error(mut self) -> Option<E> {
        match self.reason {
            Reason::Stopped {
                replacement: Some(e),
            } => Some(e),
            Reason::Stopped { replacement: None } | Reason::Budget => self.raw_errors.pop(),
            Reason::Deadline { .. } => None,
        }
    }

    /// True when the overall deadline ended the call.
    pub fn is_deadline(&self) -> bool {
        matches!(self.reason, Reason::Deadline { .. })
    }

    /// The overall timeout, when it is what ended the call.
    pub fn timeout(&self) -> Option<Duration> {
        match self.reason {
            Reason::Deadline { timeout } => Some(timeout),
            Reason::Stopped { .. } | Reason::Budget => None,
        }
    }

    /// The number of attempts made (including one cut off by the deadline only if it had
    /// already failed).
    pub fn attempts(&self) -> usize {
        self.dropped.saturating_add(self.raw_errors.len())
    }
}

fn previously<E: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    dropped: usize,
    errors: &[E],
) -> fmt::Result {
    if errors.is_empty() && dropped == 0 {
        return Ok(());
    }
    f.write_str(" (previously: ")?;
    if dropped > 0 {
        write!(f, "{dropped} earlier errors not kept")?;
    }
    for (n, e) in errors.iter().enumerate() {
        if n > 0 || dropped > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{e}")?;
    }
    f.write_str(")")
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::Stopped { .. } | Reason::Budget => {
                if let Some(last) = self.final_error() {
                    write!(f, "{last}")?;
                }
                if self.is_budget_exhausted() {
                    f.write_str(" (retry budget exhausted)")?;
                }
                // go-kit lists every raw error but the last, even when it was replaced.
                let earlier = self.raw_errors.len().saturating_sub(1);
                previously(f, self.dropped, &self.raw_errors[..earlier])
            }
            Reason::Deadline { timeout } => {
                write!(f, "retry deadline of {timeout:?} exceeded")?;
                previously(f, self.dropped, &self.raw_errors)
            }
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RetryError");
        d.field("raw_errors", &self.raw_errors);
        d.field("dropped", &self.dropped);
        match &self.reason {
            Reason::Stopped { replacement } => d.field("replacement", replacement),
            Reason::Budget => d.field("budget_exhausted", &true),
            Reason::Deadline { timeout } => d.field("deadline", timeout),
        };
        d.finish()
    }
}

/// Bounded on `Display` rather than `Error` so that `RetryError<BoxError>` (the tower
/// convention, and `BoxError` is not itself an `Error`) works with `?`. The message
/// already carries every error, so there is no separate source.
impl<E: fmt::Debug + fmt::Display> std::error::Error for RetryError<E> {}
