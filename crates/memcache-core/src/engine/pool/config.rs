//! A pool's settings, and the backoff they give a node that is down.

use super::*;

/// A pool's settings.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) idle_timeout: Option<Duration>,
    /// Reconnect delay while a node is down: doubling from the first, capped at the second.
    pub(crate) backoff: (Duration, Duration),
    /// Consecutive failed connection attempts after which a node is down: unhealthy, and
    /// its calls fail at once until the backoff lets a probe through.
    pub(crate) unhealthy_after: u32,
}

impl PoolConfig {
    /// The longest delay before the next probe of a node down for `down_for` consecutive
    /// failed probes (1 for the attempt that took it down): doubling from the minimum,
    /// capped at the maximum. The delay used is drawn from its upper half ([`jittered`]).
    pub(crate) fn backoff_after(&self, down_for: u32) -> Duration {
        let (min, max) = self.backoff;
        let doublings = down_for.saturating_sub(1).min(20);
        min.saturating_mul(1 << doublings).min(max)
    }
}

/// `delay` less a random part of its lower half: nodes that failed together are not all
/// probed again at the same instant.
pub(crate) fn jittered(delay: Duration, random: u64) -> Duration {
    let half = delay / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    match nanos {
        0 => delay,
        nanos => half + Duration::from_nanos(random % nanos),
    }
}
