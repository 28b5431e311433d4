//! The opt-in retry policy: failed reads, and writes that never left the client, are tried
//! again after a capped, jittered backoff, within the caller's timeout.

use std::hash::BuildHasher;
use std::time::Duration;

use crate::error::Error;

/// When and how often a failed request is tried again ([`crate::ClientBuilder::retry`]).
///
/// - A read (`get`, `gets`, `gat`, `gats`, the `*_many` fetches, `version`, `stats`) is
///   retried after any error that [`Error::is_transient`] calls transient: running it twice
///   changes nothing.
/// - Any other request is retried only when it certainly never reached the server
///   ([`Error::is_retry_safe`]) and the failure is transient: its node could not be
///   connected to ([`Error::Connect`]) or was at its in-flight budget
///   ([`Error::Overloaded`]). A write that may have been executed (a timeout, a connection
///   lost after sending) is never sent twice: an `incr` or `append` would apply twice.
///
/// Retries stay within the operation's timeout: a retry that could not start before the
/// deadline is not made, and the last error is returned. Between attempts the client waits
/// a backoff that doubles from `initial_backoff` up to `max_backoff`, each wait drawn at
/// random from its upper half, so that callers that failed together do not retry together.
///
/// ```
/// use std::time::Duration;
/// use memcache_core::RetryPolicy;
///
/// let policy = RetryPolicy::new(2).backoff(Duration::from_millis(5), Duration::from_millis(50));
/// assert_eq!(policy.max_retries(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl RetryPolicy {
    /// Tries a failed request again up to `max_retries` times (so at most
    /// `max_retries + 1` attempts), with a backoff from 10 ms doubling up to 200 ms.
    pub fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
        }
    }

    /// The first and the largest backoff.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn backoffs(&self) -> (Duration, Duration) {
        (self.initial_backoff, self.max_backoff)
    }

    /// The wait before the first retry, and the cap that the doubling waits stop at
    /// (`max` is raised to `initial` if it is smaller).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// How many times a request is tried again at most.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Whether `error` may be retried, for a request that is `idempotent` or not.
    pub(crate) fn may_retry(&self, error: &Error, idempotent: bool) -> bool {
        if idempotent {
            error.is_transient()
        } else {
            never_sent(error)
        }
    }

    /// The wait before retry number `retry` (0 for the first), jittered into the upper
    /// half of the doubled, capped backoff.
    pub(crate) fn wait_before(&self, retry: u32) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        let capped = doubled.min(self.max_backoff);
        let half = capped / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = match nanos {
            0 => 0,
            nanos => random() % nanos,
        };
        half + Duration::from_nanos(jitter)
    }
}

/// Whether the error proves the request never reached the server, and a retry may work.
fn never_sent(error: &Error) -> bool {
    error.is_retry_safe() && error.is_transient()
}

/// A random number for jitter, from the process's randomly seeded hasher: no RNG
/// dependency for a number nobody needs to be unpredictable.
pub(crate) fn random() -> u64 {
    foldhash::fast::RandomState::default().hash_one(std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn connect_error() -> Error {
        Error::Connect {
            node: "127.0.0.1:1".into(),
            source: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        }
    }

    fn lost_error() -> Error {
        Error::ConnectionLost {
            node: "127.0.0.1:1".into(),
            source: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        }
    }

    #[test]
    fn reads_retry_transient_errors_writes_only_unsent_ones() {
        let policy = RetryPolicy::new(3);
        assert!(policy.may_retry(&connect_error(), true));
        assert!(policy.may_retry(&lost_error(), true));
        assert!(policy.may_retry(&connect_error(), false));
        assert!(!policy.may_retry(&lost_error(), false));
        assert!(!policy.may_retry(&Error::NotStored, true));
        assert!(!policy.may_retry(&Error::NotFound, false));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let policy =
            RetryPolicy::new(10).backoff(Duration::from_millis(10), Duration::from_millis(80));
        for (retry, full) in [(0, 10), (1, 20), (2, 40), (3, 80), (4, 80), (40, 80)] {
            let full = Duration::from_millis(full);
            for _ in 0..50 {
                let wait = policy.wait_before(retry);
                assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
            }
        }
    }

    #[test]
    fn a_cap_below_the_start_is_raised_and_zero_waits_are_zero() {
        let policy =
            RetryPolicy::new(1).backoff(Duration::from_millis(20), Duration::from_millis(1));
        let wait = policy.wait_before(5);
        assert!(wait >= Duration::from_millis(10) && wait <= Duration::from_millis(20));
        let none = RetryPolicy::new(1).backoff(Duration::ZERO, Duration::ZERO);
        assert_eq!(none.wait_before(3), Duration::ZERO);
    }
}
