//! Drains of closed connections: while one runs, the keys of the writes still on its
//! socket are held, and requests for them wait or are deferred.

use super::*;

impl Pool {
    /// A closed connection started draining its socket (see the driver), holding `holds`
    /// (the keys of its written requests) until it ends. Closing waits for it.
    pub(crate) fn drain_started(&mut self, holds: &[u64]) {
        self.draining += 1;
        for &hash in holds {
            *self.held.entry(hash).or_default() += 1;
        }
    }

    /// A drain ended: its holds are released, the requests deferred behind them placed,
    /// and the callers waiting for them woken. Returns how many deferred requests could
    /// not be placed (the pool is closing, or has no connection), which are dropped.
    pub(crate) fn drain_ended(&mut self, now: Instant, holds: &[u64]) -> usize {
        self.draining = self.draining.saturating_sub(1);
        for hash in holds {
            if let Some(count) = self.held.get_mut(hash) {
                *count -= 1;
                if *count == 0 {
                    self.held.remove(hash);
                }
            }
        }
        let mut dropped = 0;
        for request in std::mem::take(&mut self.deferred) {
            match self.submit(now, request, false) {
                Placement::Placed(cell) => self.actions.push(Action::Wake(cell)),
                Placement::Deferred => {}
                Placement::Wait(_) | Placement::Failed(_) => dropped += 1,
            }
        }
        self.wake_all(Ok(()));
        self.check_drained();
        dropped
    }

    /// Whether the request touches a key a draining connection holds.
    pub(super) fn is_held(&self, request: &Submission) -> bool {
        !self.held.is_empty()
            && request
                .affinity
                .hashes()
                .iter()
                .any(|hash| self.held.contains_key(hash))
    }
}
