//! Ending a connection: gracefully (no new requests, the rest answered) or at once.

use super::*;

impl Connection {
    /// Takes no new requests; the connection closes once those in flight are answered, or
    /// at `close_by` (see [`Connection::handle_timeout`]).
    pub(crate) fn finish(&mut self, close_by: Option<Instant>) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
            self.close_by = close_by;
        }
    }

    /// Closes now: written requests fail with `error`, unwritten ones are handed back to
    /// their callers (or, for fire-and-forget ones, returned) to be sent elsewhere.
    pub(crate) fn close(&mut self, error: Error) -> Closed {
        let mut closed = Closed::default();
        if self.phase == Phase::Closed {
            return closed;
        }
        self.phase = Phase::Closed;
        for entry in self.in_flight.drain(..) {
            closed.holds.extend_from_slice(entry.affinity.hashes());
            closed.failed += entry.fail(&error);
        }
        self.queue_seq += self.queued.len() as u64;
        self.queued_deadlines.clear();
        self.queued_bytes = 0;
        self.writes_due.clear();
        for request in self.queued.drain(..) {
            if request.timed_out {
                continue;
            }
            match request.reply {
                Some(sender) => closed.unsent_callers.push(sender),
                None => closed.unsent_detached.push(request),
            }
        }
        self.deadlines.clear();
        self.detached.clear();
        self.load = Budget {
            requests: 0,
            bytes: 0,
        };
        self.behind_until = None;
        self.closed = Some(error);
        closed
    }
}
