//! The pool's timers: when upkeep is next due ([`Pool::poll_timeout`]) and what it does
//! then ([`Pool::handle_timeout`]): reopening connections up to the minimum after a
//! backoff, closing connections idle past the idle timeout.

use super::*;

/// The least time upkeep waits for a check that may find nothing to do (a connection
/// still busy when its idle timeout comes, a reopen after a zero backoff): however small
/// the settings, upkeep never spins.
pub(super) const UPKEEP_FLOOR: Duration = Duration::from_millis(10);

impl Pool {
    /// When [`Pool::handle_timeout`] next has work, as of `now`: reopening connections up
    /// to the minimum once the backoff allows, or closing a connection idle past the idle
    /// timeout. `None` while no timer is needed. Events that may bring the time forward
    /// ask the shell to call again ([`Action::Reschedule`]); a connection that turns idle
    /// later than this assumed only makes the check come early, never late.
    pub(crate) fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.closing {
            return None;
        }
        let reopen = (self.connecting == 0 && self.conns.len() < self.wanted())
            .then(|| self.retry_at.max(self.reopen_at).unwrap_or(now));
        let idle = self
            .config
            .idle_timeout
            .and_then(|idle_timeout| self.next_idle_expiry(now, idle_timeout));
        reopen.into_iter().chain(idle).min()
    }

    /// When the first open connection above the minimum may have been idle for
    /// `idle_timeout`: a busy one counts as turning idle `now` (and is looked at again no
    /// sooner than [`UPKEEP_FLOOR`] from now).
    fn next_idle_expiry(&self, now: Instant, idle_timeout: Duration) -> Option<Instant> {
        if self.open_count() <= self.config.min {
            return None;
        }
        self.conns
            .iter()
            .filter_map(|cell| {
                let conn = cell.lock();
                if !conn.is_open() {
                    return None;
                }
                Some(match conn.idle_since() {
                    Some(since) => later(since, idle_timeout),
                    None => later(now, idle_timeout.max(UPKEEP_FLOOR)),
                })
            })
            .min()
    }

    /// How many connections upkeep keeps open: the minimum, and one while the node is
    /// unhealthy, so that it can come back.
    fn wanted(&self) -> usize {
        if self.healthy {
            self.config.min
        } else {
            self.config.min.max(1)
        }
    }

    /// Upkeep, when [`Pool::poll_timeout`] says: closes connections idle past the idle
    /// timeout (keeping the minimum), reopens up to the minimum once the backoff allows,
    /// and drops abandoned waiters.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        if let Some(idle_timeout) = self.config.idle_timeout {
            // Purged connections close once drained; their drivers take them out.
            let mut open = self.open_count();
            for cell in &self.conns {
                if open <= self.config.min {
                    break;
                }
                let mut conn = cell.lock();
                let idle = conn
                    .idle_since()
                    .is_some_and(|since| now.saturating_duration_since(since) >= idle_timeout);
                if idle {
                    conn.finish(None);
                    open -= 1;
                    self.actions.push(Action::Wake(cell.clone()));
                }
            }
        }
        let waiting = |at: Option<Instant>| at.is_some_and(|at| now < at);
        let backing_off = waiting(self.retry_at) || waiting(self.reopen_at);
        if !backing_off && self.connecting == 0 && self.conns.len() < self.wanted() {
            self.start_connect();
        }
        self.waiters.retain(|waiter| !waiter.is_canceled());
        self.ensure_progress(now);
    }
}
