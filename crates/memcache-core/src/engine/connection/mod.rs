//! One multiplexed connection as a state machine: many callers, one byte stream, replies in
//! order.
//!
//! It does no I/O and reads no clock. The driver that owns the socket feeds it what happens
//! (a request submitted, bytes read, a deadline passed) with the current time, and takes
//! from it what to do: bytes to write ([`Connection::poll_transmit`]), when to wake it
//! ([`Connection::poll_timeout`]), and whether it is finished. Callers are completed
//! through their reply channels as their replies are decoded.
//!
//! The lifecycle rules live here, once:
//! - A request waits in `queued` until the socket can take it; a request whose caller gave
//!   up before then is never written.
//! - Every written request has its own stuck deadline: whichever passes first closes the
//!   connection, however long the requests ahead of it may wait.
//! - Once a written request outlives its caller's deadline, the connection is *behind* and
//!   takes no new requests until that reply arrives.
//! - The in-flight budget (requests and bytes, from submission to reply) bounds what a
//!   stalled server can make the client hold.
//! - Bytes that arrive while nothing is pending are a protocol error (the decoder says so),
//!   never the reply to the next request.

mod closing;
mod config;
mod deadlines;
mod in_flight;

pub(crate) use self::config::{Budget, ConnectionConfig, Refusal, Refused};

use self::in_flight::{deliver, Answer, Callers, Gathered, InFlight};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use memproto::{Decoder, Limits, Reply};

use crate::engine::autobatch::{self, Batch, Flushed};
use crate::engine::reply;
use crate::engine::request::{self, Affinity, Caller, Expects, Outcome, Submission};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Takes nothing new; closes once everything in flight is answered.
    Closing,
    Closed,
}

/// One connection's state.
pub(crate) struct Connection {
    node: Arc<str>,
    phase: Phase,
    /// Submitted, not yet written, oldest first.
    queued: VecDeque<Submission>,
    /// Bytes of the requests in `queued`.
    queued_bytes: usize,
    /// For each write still awaiting replies, the sequence number of its last request,
    /// oldest first (see [`Connection::wants_transmit`]).
    writes_due: VecDeque<u64>,
    /// Hold new requests while a write awaits its replies.
    coalesce_writes: bool,
    /// Written (handed to the driver's write buffer), waiting for their reply, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Sequence number of `in_flight.front()`; numbers are consecutive.
    first_seq: u64,
    /// Caller and stuck deadlines of written requests, earliest first. Entries of requests
    /// already answered are dropped lazily.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Sequence number of `queued.front()`; numbers are consecutive.
    queue_seq: u64,
    /// Caller deadlines of queued requests, earliest first, dropped lazily once written.
    queued_deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    decoder: Decoder,
    budget: Budget,
    /// Requests and bytes submitted and not yet answered (or dropped).
    load: Budget,
    /// Unanswered `noreply` requests, by key hash.
    detached: HashMap<u64, usize, BuildHasherDefault<KeyHashHasher>>,
    /// Set while behind: the newest written request that outlived its caller's deadline.
    behind_until: Option<u64>,
    last_active: Instant,
    batch: Option<Batch>,
    /// Why the connection closed.
    closed: Option<Error>,
    /// While closing: when whatever is still in flight fails and the connection closes.
    close_by: Option<Instant>,
}

/// What [`Connection::close`] leaves for the caller.
#[derive(Debug, Default)]
pub(crate) struct Closed {
    /// Fire-and-forget requests that were never written: safe to send on another connection.
    pub(crate) unsent_detached: Vec<Submission>,
    /// The keys of the requests written and not answered: a drained socket may still
    /// deliver them, so nothing for those keys may go elsewhere until the drain ends.
    pub(crate) holds: Vec<u64>,
    /// Callers of requests that were never written, to be told so ([`Outcome::Unsent`])
    /// once the fire-and-forget ones went elsewhere: a retried read must not overtake a
    /// write to its key.
    pub(crate) unsent_callers: Vec<reply::ReplySender>,
    /// Callers failed because their request was written (or merged) and is now lost.
    pub(crate) failed: u64,
}

/// Queued requests are moved to the write buffer only while it holds less than this: the
/// rest wait in `queued`, where an abandoned one can still be skipped.
pub(crate) const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Writes that may await replies at once before new requests gather (see
/// [`Connection::wants_transmit`]).
const WRITES_DUE: usize = 1;

/// Collections that grew past this during a burst are shrunk once empty again.
const SHRINK_ABOVE: usize = 1024;

impl Connection {
    pub(crate) fn new(node: Arc<str>, config: &ConnectionConfig, now: Instant) -> Self {
        Connection {
            node,
            phase: Phase::Open,
            queued: VecDeque::new(),
            queued_bytes: 0,
            writes_due: VecDeque::new(),
            coalesce_writes: config.coalesce_writes,
            in_flight: VecDeque::new(),
            first_seq: 0,
            deadlines: BinaryHeap::new(),
            queue_seq: 0,
            queued_deadlines: BinaryHeap::new(),
            decoder: Decoder::new(config.limits),
            budget: Budget {
                requests: config.budget.requests.max(1),
                bytes: config.budget.bytes.max(1),
            },
            load: Budget {
                requests: 0,
                bytes: 0,
            },
            detached: HashMap::default(),
            behind_until: None,
            last_active: now,
            batch: config
                .autobatch_max_keys
                .map(|max_keys| Batch::new(max_keys.min(merge_limit(&config.limits)))),
            closed: None,
            close_by: None,
        }
    }

    /// Takes `request`, or hands it back with the reason.
    ///
    /// The budget never refuses a request on an empty connection, so a request larger than
    /// the byte budget still goes out, alone.
    pub(crate) fn submit(&mut self, now: Instant, request: Submission) -> Result<(), Box<Refused>> {
        let cost = request.cost();
        if let Some(reason) = self.refusal_of(now, cost) {
            return Err(Box::new(Refused { reason, request }));
        }
        self.load.requests += 1;
        self.load.bytes = self.load.bytes.saturating_add(cost);
        if request.is_detached() {
            for &hash in request.affinity.hashes() {
                *self.detached.entry(hash).or_default() += 1;
            }
        }
        if let (Some(deadline), Some(_)) = (request.deadline, &request.reply) {
            let seq = self.queue_seq + self.queued.len() as u64;
            self.queued_deadlines.push(Reverse((deadline, seq)));
        }
        self.queued_bytes += cost;
        self.queued.push_back(request);
        Ok(())
    }

    /// Whether a written request is overdue: a caller's deadline passed without its reply
    /// (checked against `now` too, so a request issued right after a timeout sees it even
    /// before the driver has handled that deadline).
    fn is_behind(&mut self, now: Instant) -> bool {
        self.behind_until.is_some() || self.overdue(now)
    }

    /// Whether the connection is open (it may still be busy).
    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Why the connection would refuse a request now, if it would (closed, behind, or at
    /// its budget).
    pub(crate) fn refusal(&mut self, now: Instant) -> Option<Refusal> {
        self.refusal_of(now, 0)
    }

    /// Why the connection would refuse a request of `cost` bytes now, if it would.
    fn refusal_of(&mut self, now: Instant, cost: usize) -> Option<Refusal> {
        let over_budget = self.load.requests >= self.budget.requests
            || self.load.bytes.saturating_add(cost.max(1)) > self.budget.bytes;
        if self.phase != Phase::Open {
            Some(Refusal::Closed)
        } else if self.is_behind(now) {
            Some(Refusal::Behind)
        } else if self.load.requests > 0 && over_budget {
            Some(Refusal::Full)
        } else {
            None
        }
    }

    /// Requests submitted and not yet answered.
    pub(crate) fn load(&self) -> usize {
        self.load.requests
    }

    /// Bytes of requests submitted and not yet answered.
    #[cfg(test)]
    pub(crate) fn load_bytes(&self) -> usize {
        self.load.bytes
    }

    /// Whether an unanswered `noreply` request on this connection touched one of `affinity`'s
    /// keys.
    pub(crate) fn holds_any(&self, affinity: &Affinity) -> bool {
        !self.detached.is_empty()
            && affinity
                .hashes()
                .iter()
                .any(|hash| self.detached.contains_key(hash))
    }

    /// When the connection last wrote a request, if it has nothing in flight now.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        (self.load.requests == 0 && self.phase == Phase::Open).then_some(self.last_active)
    }

    /// Whether the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether a graceful close has finished: nothing left to write or to read.
    pub(crate) fn is_drained(&self) -> bool {
        self.phase == Phase::Closing && self.queued.is_empty() && self.in_flight.is_empty()
    }

    /// The node this connection is to, as configured.
    pub(crate) fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// Why the connection closed, once it has.
    pub(crate) fn close_reason(&self) -> Option<&Error> {
        self.closed.as_ref()
    }

    /// The length of the data block in progress (see [`memproto::Decoder::data_block_len`]).
    pub(crate) fn data_block_len(&self) -> Option<usize> {
        self.decoder.data_block_len()
    }

    /// Whether queued requests should be written now: unless [`WRITES_DUE`] earlier writes
    /// still await replies (with write coalescing on), in which case requests gather until one is answered in full (or
    /// [`WRITE_HIGH_WATER`] bytes have gathered). The server reads new requests only after
    /// answering those ahead of them anyway, so they lose at most a trip over the wire, and
    /// written together they cost one system call on each side instead of one each.
    pub(crate) fn wants_transmit(&self) -> bool {
        !self.queued.is_empty()
            && self.phase != Phase::Closed
            && (!self.coalesce_writes
                || self.writes_due.len() < WRITES_DUE
                || self.queued_bytes >= WRITE_HIGH_WATER)
    }

    /// Moves queued requests into `out` (until it holds [`WRITE_HIGH_WATER`] bytes),
    /// skipping those whose caller gave up. Their stuck deadlines start now. Returns how
    /// many budget slots that freed (skipped and merged requests), for waiting callers.
    pub(crate) fn poll_transmit(&mut self, now: Instant, out: &mut BytesMut) -> usize {
        if self.queued.is_empty() || self.phase == Phase::Closed {
            return 0;
        }
        let load_before = self.load.requests;
        self.last_active = now;
        let in_flight_before = self.in_flight.len();
        let mut batch = self.batch.take();
        while out.len() < WRITE_HIGH_WATER {
            let Some(request) = self.queued.pop_front() else {
                break;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(request.cost());
            self.queue_seq += 1;
            if request.is_abandoned(now) {
                self.forget_unwritten(&request);
                if let Some(sender) = request.reply {
                    // A caller that left is owed no error (naming the node allocates).
                    if !sender.is_canceled() {
                        let _ = sender.send(Outcome::Failed(request::timeout(&self.node, false)));
                    }
                }
                continue;
            }
            match (&mut batch, &request.batch) {
                (Some(gathering), Some(key)) => {
                    if !gathering.accepts(key) {
                        self.write_batch(gathering, now, out);
                    }
                    gathering.push(request);
                }
                (gathering, _) => {
                    if let Some(gathering) = gathering {
                        self.write_batch(gathering, now, out);
                    }
                    self.write_one(request, now, out);
                }
            }
        }
        if let Some(gathering) = &mut batch {
            self.write_batch(gathering, now, out);
        }
        self.batch = batch;
        if self.coalesce_writes && self.in_flight.len() > in_flight_before {
            let last = self.first_seq + self.in_flight.len() as u64 - 1;
            self.writes_due.push_back(last);
        }
        if self.queued.is_empty() {
            self.queued_deadlines.clear();
        }
        shrink_if_empty(&mut self.queued);
        self.prune_deadlines();
        // Load only falls here: by skipped requests and by merged ones sharing a slot.
        load_before.saturating_sub(self.load.requests)
    }

    fn forget_unwritten(&mut self, request: &Submission) {
        self.release(1, request.cost());
        if request.is_detached() {
            self.release_detached(&request.affinity);
        }
    }

    fn write_one(&mut self, request: Submission, now: Instant, out: &mut BytesMut) {
        out.extend_from_slice(request.bytes.as_slice());
        if !request.expect.expects_reply() {
            // Nothing will come back (the decoder ignores it too): done once written. The
            // engine itself always asks for replies; this keeps the pairing safe anyway.
            self.forget_unwritten(&request);
            return;
        }
        let cost = request.cost();
        let detached = request.is_detached().then(|| request.affinity.clone());
        let affinity = if request.read_only {
            Affinity::None
        } else {
            request.affinity
        };
        let caller = Caller {
            sender: request.reply,
            deadline: request.deadline,
        };
        self.start(
            InFlight {
                callers: Callers::One(caller),
                gathered: None,
                stuck_at: request.patience.and_then(|p| now.checked_add(p)),
                cost,
                detached,
                affinity,
            },
            request.expect,
        );
    }

    fn write_batch(&mut self, batch: &mut Batch, now: Instant, out: &mut BytesMut) {
        if batch.is_empty() {
            return;
        }
        match batch.flush() {
            Flushed::Single(requests) => {
                for request in requests {
                    self.write_one(request, now, out);
                }
            }
            Flushed::Merged {
                bytes,
                expect,
                callers,
                patience,
                cost,
            } => {
                out.extend_from_slice(&bytes);
                let merged = callers.len();
                self.start(
                    InFlight {
                        callers: Callers::Many(callers),
                        gathered: None,
                        stuck_at: patience.and_then(|p| now.checked_add(p)),
                        cost,
                        detached: None,
                        affinity: Affinity::None,
                    },
                    Expects::One(expect),
                );
                // The merged callers now share one reply and one budget slot.
                self.load.requests -= merged - 1;
            }
        }
    }

    fn start(&mut self, mut in_flight: InFlight, expect: Expects) {
        let seq = self.first_seq + self.in_flight.len() as u64;
        if let Some(stuck_at) = in_flight.stuck_at {
            self.deadlines.push(Reverse((stuck_at, seq)));
        }
        let before_stuck = |deadline: &Instant| {
            in_flight
                .stuck_at
                .is_none_or(|stuck_at| *deadline < stuck_at)
        };
        match &in_flight.callers {
            Callers::One(caller) => {
                if let Some(deadline) = caller.deadline.filter(before_stuck) {
                    self.deadlines.push(Reverse((deadline, seq)));
                }
            }
            Callers::Many(_) => {
                for deadline in in_flight.callers.deadlines() {
                    if before_stuck(&deadline) {
                        self.deadlines.push(Reverse((deadline, seq)));
                    }
                }
            }
        }
        match expect {
            Expects::One(expect) => self.decoder.push(expect),
            Expects::Batch(expects) => {
                // Commands that get no reply (`noreply`) yield none from the decoder either;
                // `write_one` never starts a batch in which none does.
                let replies = expects
                    .iter()
                    .filter(|expect| expect.expects_reply())
                    .count();
                in_flight.gathered = Some(Gathered {
                    replies: Vec::with_capacity(replies),
                    left: replies,
                });
                for expect in expects.iter() {
                    self.decoder.push(expect.clone());
                }
            }
        }
        self.in_flight.push_back(in_flight);
    }

    /// Decodes every complete reply in `buf` and completes its callers. Returns how many
    /// requests were answered, so the pool can hand their room to waiting callers.
    ///
    /// # Errors
    /// A protocol error (including bytes nobody asked for): the connection must close.
    pub(crate) fn handle_read(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        let mut answered = 0;
        loop {
            match self.decoder.decode(buf) {
                Ok(Some(reply)) => answered += self.answer(reply)?,
                Ok(None) => break,
                Err(source) => return Err(self.protocol_error(source)),
            }
        }
        self.tidy_after_read();
        Ok(answered)
    }

    /// Takes a large value's data block, read into storage of the driver's own (see
    /// [`Connection::data_block_len`]), then decodes what `buf` holds after it, like
    /// [`Connection::handle_read`].
    pub(crate) fn handle_data_block(
        &mut self,
        block: Bytes,
        buf: &mut BytesMut,
    ) -> Result<usize, Error> {
        let answered = match self.decoder.decode_data_block(block) {
            Ok(Some(reply)) => self.answer(reply)?,
            Ok(None) => 0,
            Err(source) => return Err(self.protocol_error(source)),
        };
        Ok(answered + self.handle_read(buf)?)
    }

    /// Gives a decoded reply to the request at the head of the line: 1 when that completed
    /// it, 0 when it is one of a batch's replies still being gathered.
    fn answer(&mut self, reply: Reply) -> Result<usize, Error> {
        // The decoder yields replies only for pushed requests: one per entry, or one per
        // command of a batch entry.
        let Some(front) = self.in_flight.front_mut() else {
            return Err(self.lost(io::ErrorKind::InvalidData, "reply without a request"));
        };
        let reply = match &mut front.gathered {
            Some(gathered) if gathered.left > 1 => {
                gathered.left -= 1;
                gathered.replies.push(reply);
                return Ok(0);
            }
            Some(gathered) => {
                let mut replies = std::mem::take(&mut gathered.replies);
                replies.push(reply);
                Answer::Batch(replies)
            }
            None => Answer::One(reply),
        };
        let Some(done) = self.in_flight.pop_front() else {
            return Err(self.lost(io::ErrorKind::InvalidData, "reply without a request"));
        };
        self.first_seq += 1;
        self.release(1, done.cost);
        if let Some(affinity) = &done.detached {
            self.release_detached(affinity);
        }
        deliver(done.callers, reply);
        Ok(1)
    }

    fn protocol_error(&self, source: memproto::DecodeError) -> Error {
        Error::Protocol {
            node: self.node.to_string(),
            source,
        }
    }

    /// Drops the bookkeeping of requests answered by a read.
    fn tidy_after_read(&mut self) {
        while self
            .writes_due
            .front()
            .is_some_and(|&last| last < self.first_seq)
        {
            self.writes_due.pop_front();
        }
        if self
            .behind_until
            .is_some_and(|behind| self.first_seq > behind)
        {
            self.behind_until = None;
        }
        if self.in_flight.is_empty() {
            shrink_if_empty(&mut self.in_flight);
            if self.deadlines.len() > SHRINK_ABOVE {
                self.deadlines = BinaryHeap::new();
            } else {
                self.deadlines.clear();
            }
        }
    }

    fn release(&mut self, requests: usize, bytes: usize) {
        self.load.requests = self.load.requests.saturating_sub(requests);
        self.load.bytes = self.load.bytes.saturating_sub(bytes);
    }

    fn release_detached(&mut self, affinity: &Affinity) {
        for hash in affinity.hashes() {
            if let Some(count) = self.detached.get_mut(hash) {
                *count -= 1;
                if *count == 0 {
                    self.detached.remove(hash);
                }
            }
        }
        if self.detached.is_empty() && self.detached.capacity() > SHRINK_ABOVE {
            self.detached = HashMap::default();
        }
    }

    fn lost(&self, kind: io::ErrorKind, message: &str) -> Error {
        Error::ConnectionLost {
            node: self.node.to_string(),
            source: Arc::new(io::Error::new(kind, message.to_owned())),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("node", &self.node)
            .field("phase", &self.phase)
            .field("queued", &self.queued.len())
            .field("in_flight", &self.in_flight.len())
            .field("load", &self.load)
            .field("behind_until", &self.behind_until)
            .finish_non_exhaustive()
    }
}

/// The most gets one merged command may carry: its whole reply must fit the reply budget
/// even if every value is as large as allowed.
fn merge_limit(limits: &Limits) -> usize {
    (limits.max_reply_len / limits.max_value_len.max(1)).max(1)
}

fn shrink_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > SHRINK_ABOVE {
        *queue = VecDeque::new();
    }
}

/// The detached map's keys are already hashes: use them as they are.
#[derive(Default)]
pub(crate) struct KeyHashHasher(u64);

impl Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
