//! The connection's deadlines: callers' and stuck ones, for written and queued requests,
//! in two heaps whose stale entries are dropped lazily.

use super::*;

impl Connection {
    /// Drops answered requests' deadline entries once they outnumber the live ones, so the
    /// heap stays proportional to what is in flight under steady pipelining.
    pub(super) fn prune_deadlines(&mut self) {
        let live = 2 * self.in_flight.len() + 64;
        if self.deadlines.len() > 2 * live {
            let first = self.first_seq;
            self.deadlines.retain(|Reverse((_, seq))| *seq >= first);
        }
    }

    /// The earliest deadline of a request still queued or in flight, when the driver must
    /// call [`Connection::handle_timeout`].
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let written = earliest(&mut self.deadlines, self.first_seq);
        let queued = earliest(&mut self.queued_deadlines, self.queue_seq);
        [written, queued, self.close_by].into_iter().flatten().min()
    }

    /// The earliest written request's deadline that has passed by `now`: whether the
    /// connection is behind, without changing anything.
    pub(super) fn overdue(&mut self, now: Instant) -> bool {
        earliest(&mut self.deadlines, self.first_seq).is_some_and(|at| at <= now)
    }

    /// Applies every deadline that has passed by `now`.
    ///
    /// # Errors
    /// The connection is stuck (a request's reply is overdue past its patience): close it.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if self.close_by.is_some_and(|close_by| close_by <= now) {
            return Err(Error::Closed);
        }
        while let Some(Reverse((at, seq))) = self.queued_deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.queued_deadlines.pop();
            let index = seq
                .checked_sub(self.queue_seq)
                .and_then(|index| usize::try_from(index).ok());
            if let Some(request) = index.and_then(|index| self.queued.get_mut(index)) {
                request.expire(now, &self.node);
            }
        }
        while let Some(Reverse((at, seq))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(index) = seq
                .checked_sub(self.first_seq)
                .and_then(|index| usize::try_from(index).ok())
            else {
                continue;
            };
            let Some(entry) = self.in_flight.get_mut(index) else {
                continue;
            };
            if entry.stuck_at.is_some_and(|stuck_at| stuck_at <= now) {
                return Err(self.lost(
                    io::ErrorKind::TimedOut,
                    "no reply within the operation timeout",
                ));
            }
            entry.expire(now, &self.node);
            // A caller's deadline passed with its reply still due: later requests would
            // queue behind it, so take no more until it is answered.
            self.behind_until = Some(self.behind_until.map_or(seq, |behind| behind.max(seq)));
        }
        Ok(())
    }
}

/// The earliest entry of `heap` whose sequence number is still live (`>= first`), dropping
/// the stale ones above it.
pub(super) fn earliest(
    heap: &mut BinaryHeap<Reverse<(Instant, u64)>>,
    first: u64,
) -> Option<Instant> {
    while let Some(Reverse((at, seq))) = heap.peek().copied() {
        if seq >= first {
            return Some(at);
        }
        heap.pop();
    }
    None
}
