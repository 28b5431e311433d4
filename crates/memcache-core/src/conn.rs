//! One multiplexed connection: many callers, one socket, replies in order.
//!
//! Callers hand encoded requests to the connection's inbox and wait on a oneshot channel.
//! A driver task owns the socket: it moves everything queued in the inbox into one write
//! buffer (so requests that arrive while a write is in progress go out together in the
//! next syscall), reads replies, and completes callers in order. A caller that gave up
//! (timeout, drop) leaves its slot in the queue; its reply is still read and discarded,
//! so the stream never shifts.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures::channel::oneshot;
use futures::io::{AsyncRead, AsyncWrite};
use futures::task::AtomicWaker;
use memproto::{Decoder, Expect, Limits, Reply, ServerErrorKind};

use crate::batch::{self, Batch, BatchKey, Flushed};
use crate::error::Error;
use crate::events::Counters;
use crate::runtime::{Runtime, Socket};

/// How a request ended.
pub(crate) enum Outcome {
    /// The server's reply.
    Reply(Reply),
    /// The connection failed after the request was written: it may have been executed.
    Failed(Error),
    /// The connection failed before the request was written: it is safe to send again.
    Unsent(Error),
}

/// Where a caller's outcome goes; `None` when nobody waits (fire-and-forget requests).
pub(crate) type ReplySender = Option<oneshot::Sender<Outcome>>;

/// An encoded request on its way to the driver.
pub(crate) struct Request {
    pub(crate) bytes: Bytes,
    pub(crate) expect: Expect,
    pub(crate) reply: ReplySender,
    /// How long the request may wait for its reply before the connection counts as stuck;
    /// `None` waits forever.
    pub(crate) patience: Option<Duration>,
    /// Set for a single-key get that may be merged with others (autobatching).
    pub(crate) batch: Option<BatchKey>,
}

/// A caller's handle on a connection. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Conn {
    shared: Arc<Shared>,
}

/// The pool's handle: dropping it lets the driver finish what is in flight and close.
pub(crate) struct OwnedConn {
    conn: Conn,
}

struct Shared {
    node: Arc<str>,
    inbox: Mutex<Inbox>,
    driver: AtomicWaker,
    /// Requests submitted and not yet answered.
    in_flight: AtomicUsize,
    /// Of those, fire-and-forget requests (`noreply`): later requests should follow them
    /// on this connection, so that they are executed after them.
    detached: AtomicUsize,
    /// Set once the connection takes no new requests.
    closed: AtomicBool,
}

struct Inbox {
    requests: Vec<Request>,
    /// Why the connection refuses new requests.
    refused: Option<Error>,
    /// The pool let go of the connection: close once idle.
    released: bool,
    last_active: Instant,
}

impl Conn {
    /// Queues `request`. Gives it back if the connection no longer takes requests, so the
    /// caller can try another.
    pub(crate) fn submit(&self, request: Request) -> Result<(), Box<Request>> {
        let mut inbox = self.shared.lock_inbox();
        if inbox.refused.is_some() {
            return Err(Box::new(request));
        }
        if request.expect.expects_reply() {
            self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
            if request.reply.is_none() {
                self.shared.detached.fetch_add(1, Ordering::Relaxed);
            }
        }
        inbox.requests.push(request);
        let first = inbox.requests.len() == 1;
        drop(inbox);
        if first {
            // Later submissions find the inbox non-empty: the driver is already woken and
            // drains everything at once.
            self.shared.driver.wake();
        }
        Ok(())
    }

    /// Requests waiting for their reply on this connection.
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Whether fire-and-forget requests on this connection are still unanswered.
    pub(crate) fn has_detached(&self) -> bool {
        self.shared.detached.load(Ordering::Relaxed) > 0
    }

    /// Whether the connection still takes requests.
    pub(crate) fn is_open(&self) -> bool {
        !self.shared.closed.load(Ordering::Relaxed)
    }

    /// When a request was last handed to the socket.
    pub(crate) fn last_active(&self) -> Instant {
        self.shared.lock_inbox().last_active
    }
}

impl OwnedConn {
    pub(crate) fn conn(&self) -> &Conn {
        &self.conn
    }
}

impl Drop for OwnedConn {
    fn drop(&mut self) {
        self.conn.shared.lock_inbox().released = true;
        self.conn.shared.driver.wake();
    }
}

impl Shared {
    fn lock_inbox(&self) -> MutexGuard<'_, Inbox> {
        // A panic while holding this lock cannot leave the inbox inconsistent (every
        // critical section is a plain push or take), so a poisoned lock is still usable.
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refuses new requests from now on.
    fn refuse(&self, error: Error) {
        let mut inbox = self.lock_inbox();
        inbox.refused.get_or_insert(error);
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// Settings a driver needs.
pub(crate) struct DriverConfig {
    pub(crate) limits: Limits,
    /// Merge queued single-key gets into multi-key gets of at most this many keys.
    pub(crate) autobatch_max_keys: Option<usize>,
    pub(crate) counters: Arc<Counters>,
}

/// Starts a driver for `socket` on `runtime` and returns the pool's handle.
pub(crate) fn spawn<R: Runtime>(
    runtime: &R,
    socket: Box<dyn Socket>,
    node: Arc<str>,
    config: DriverConfig,
) -> OwnedConn {
    let shared = Arc::new(Shared {
        node,
        inbox: Mutex::new(Inbox {
            requests: Vec::new(),
            refused: None,
            released: false,
            last_active: Instant::now(),
        }),
        driver: AtomicWaker::new(),
        in_flight: AtomicUsize::new(0),
        detached: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
    });
    let driver = Driver {
        socket,
        shared: shared.clone(),
        decoder: Decoder::new(config.limits),
        read_buf: BytesMut::with_capacity(READ_CHUNK),
        scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        write_buf: BytesMut::new(),
        needs_flush: false,
        waiting: VecDeque::new(),
        draining: None,
        released: false,
        runtime: runtime.clone(),
        batch: config.autobatch_max_keys.map(Batch::new),
        stuck_timer: None,
        closed: false,
        counters: config.counters,
    };
    runtime.spawn(driver.run());
    OwnedConn {
        conn: Conn { shared },
    }
}

/// Reads go through a fixed scratch buffer of this size (no per-read zeroing)...
const READ_CHUNK: usize = 16 * 1024;
/// ...unless the decoder reserved at least this much for a large value, which is then read
/// straight into the read buffer, at most this much per read (the room must be zeroed first,
/// so each read zeroes only what one read can plausibly fill).
const DIRECT_READ: usize = 64 * 1024;
const DIRECT_READ_MAX: usize = 256 * 1024;

struct Waiting {
    callers: Callers,
    /// When the connection counts as stuck if this request is still unanswered.
    deadline: Option<Instant>,
}

impl<R: Runtime> Drop for Driver<R> {
    /// Runs when the task ends any other way (runtime shut down, or a panic): the
    /// connection must not stay in the pool looking open.
    fn drop(&mut self) {
        let error = self.lost(io::ErrorKind::ConnectionAborted, "connection task ended");
        self.close(error);
    }
}

/// Who waits for one reply: one caller, or the callers of a merged batch.
enum Callers {
    One(ReplySender),
    Many(Vec<(Bytes, ReplySender)>),
}

impl Callers {
    fn count(&self) -> usize {
        match self {
            Callers::One(_) => 1,
            Callers::Many(callers) => callers.len(),
        }
    }

    fn into_senders(self) -> Vec<ReplySender> {
        match self {
            Callers::One(sender) => vec![sender],
            Callers::Many(callers) => callers.into_iter().map(|(_, sender)| sender).collect(),
        }
    }
}

struct Driver<R: Runtime> {
    socket: Box<dyn Socket>,
    shared: Arc<Shared>,
    decoder: Decoder,
    read_buf: BytesMut,
    scratch: Box<[u8]>,
    write_buf: BytesMut,
    needs_flush: bool,
    /// Callers of written requests, oldest first.
    waiting: VecDeque<Waiting>,
    /// Set after a `SERVER_ERROR`: take nothing new, finish what is in flight, then close.
    draining: Option<Error>,
    released: bool,
    runtime: R,
    /// Gets being gathered while the inbox is drained; `None` without autobatching.
    batch: Option<Batch>,
    /// The timer for the oldest request's deadline, and that deadline.
    stuck_timer: Option<(Instant, Pin<Box<R::Sleep>>)>,
    /// Set once the callers were failed and the counters updated.
    closed: bool,
    counters: Arc<Counters>,
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self) {
        let error = poll_fn(|cx| self.poll_drive(cx)).await;
        self.close(error);
    }

    /// Fails what is left and counts the connection closed, once.
    fn close(&mut self, error: Error) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.fail_all(error);
        Counters::bump(&self.counters.connections_closed);
        self.counters.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Drives the connection until it ends, returning why it ended.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        loop {
            self.shared.driver.register(cx.waker());
            self.take_requests();
            let mut progress = false;
            match self.poll_write(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(error)) => return Poll::Ready(error),
                Poll::Pending => {}
            }
            match self.poll_read(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(error)) => return Poll::Ready(error),
                Poll::Pending => {}
            }
            if let Poll::Ready(error) = self.poll_stuck(cx) {
                return Poll::Ready(error);
            }
            let idle = self.waiting.is_empty() && self.write_buf.is_empty();
            if idle {
                if let Some(error) = self.draining.take() {
                    return Poll::Ready(error);
                }
                if self.released {
                    return Poll::Ready(self.lost(
                        io::ErrorKind::NotConnected,
                        "connection released by the pool",
                    ));
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Moves queued requests into the write buffer and the decoder's queue.
    fn take_requests(&mut self) {
        let requests = {
            let mut inbox = self.shared.lock_inbox();
            self.released = inbox.released;
            if inbox.requests.is_empty() {
                return;
            }
            let now = Instant::now();
            inbox.last_active = now;
            std::mem::take(&mut inbox.requests)
        };
        let sent_at = Instant::now();
        let Some(mut batch) = self.batch.take() else {
            for request in requests {
                self.write_one(request, sent_at);
            }
            return;
        };
        for request in requests {
            match &request.batch {
                Some(key) if request.expect.expects_reply() => {
                    if !batch.accepts(key) {
                        self.write_batch(&mut batch, sent_at);
                    }
                    batch.push(request);
                }
                _ => {
                    self.write_batch(&mut batch, sent_at);
                    self.write_one(request, sent_at);
                }
            }
        }
        self.write_batch(&mut batch, sent_at);
        self.batch = Some(batch);
    }

    /// Queues one request's bytes and, if it has a reply, its caller.
    fn write_one(&mut self, request: Request, sent_at: Instant) {
        self.write_buf.extend_from_slice(&request.bytes);
        if request.expect.expects_reply() {
            self.decoder.push(request.expect);
            self.waiting.push_back(Waiting {
                callers: Callers::One(request.reply),
                deadline: request
                    .patience
                    .and_then(|patience| sent_at.checked_add(patience)),
            });
        }
    }

    /// Queues the gathered gets, merged into one command when there are several.
    fn write_batch(&mut self, batch: &mut Batch, sent_at: Instant) {
        if batch.is_empty() {
            return;
        }
        match batch.flush() {
            Flushed::Single(requests) => {
                for request in requests {
                    self.write_one(request, sent_at);
                }
            }
            Flushed::Merged {
                bytes,
                expect,
                callers,
                patience,
            } => {
                self.write_buf.extend_from_slice(&bytes);
                self.decoder.push(expect);
                self.waiting.push_back(Waiting {
                    callers: Callers::Many(callers),
                    deadline: patience.and_then(|patience| sent_at.checked_add(patience)),
                });
            }
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut wrote = false;
        while !self.write_buf.is_empty() {
            match Pin::new(&mut self.socket).poll_write(cx, &self.write_buf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(
                        self.lost(io::ErrorKind::WriteZero, "socket accepted no bytes")
                    ))
                }
                Poll::Ready(Ok(written)) => {
                    self.write_buf.advance(written);
                    self.needs_flush = true;
                    wrote = true;
                }
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.io_error(error))),
                Poll::Pending => break,
            }
        }
        if self.write_buf.is_empty() {
            // Reuse the allocation from the start.
            self.write_buf.clear();
            if self.needs_flush {
                match Pin::new(&mut self.socket).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.needs_flush = false,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(self.io_error(error))),
                    Poll::Pending => {}
                }
            }
        }
        if wrote {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Reads once and completes every caller whose reply is now whole.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let spare = self.read_buf.capacity() - self.read_buf.len();
        let read = if spare >= DIRECT_READ {
            // A large value is on its way and the decoder reserved room for it: read
            // straight into place. Safe code must initialise the room first; the cost is
            // small next to a read of this size.
            let start = self.read_buf.len();
            self.read_buf.resize(start + spare.min(DIRECT_READ_MAX), 0);
            let read = Pin::new(&mut self.socket).poll_read(cx, &mut self.read_buf[start..]);
            let got = match &read {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            self.read_buf.truncate(start + got);
            read
        } else {
            let read = Pin::new(&mut self.socket).poll_read(cx, &mut self.scratch);
            if let Poll::Ready(Ok(n)) = read {
                self.read_buf.extend_from_slice(&self.scratch[..n]);
            }
            read
        };
        match read {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => Poll::Ready(Err(
                self.lost(io::ErrorKind::UnexpectedEof, "server closed the connection")
            )),
            Poll::Ready(Ok(_)) => Poll::Ready(self.deliver_replies()),
            Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.io_error(error))),
        }
    }

    fn deliver_replies(&mut self) -> Result<(), Error> {
        loop {
            let reply = match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(reply)) => reply,
                Ok(None) => return Ok(()),
                Err(source) => {
                    return Err(Error::Protocol {
                        node: self.shared.node.to_string(),
                        source,
                    })
                }
            };
            // The decoder only yields replies for pushed requests, one per waiting caller.
            let Some(waiting) = self.waiting.pop_front() else {
                return Err(self.lost(io::ErrorKind::InvalidData, "reply without a caller"));
            };
            self.shared
                .in_flight
                .fetch_sub(waiting.callers.count(), Ordering::Relaxed);
            if let Reply::Error(error) = &reply {
                if error.kind == ServerErrorKind::Server && self.draining.is_none() {
                    // The server may close the connection after a SERVER_ERROR. Take no
                    // new requests; let those in flight finish (or fail if it does close).
                    let error = self.lost(
                        io::ErrorKind::ConnectionAborted,
                        "closed after SERVER_ERROR",
                    );
                    self.shared.refuse(error.clone());
                    self.draining = Some(error);
                }
            }
            match waiting.callers {
                Callers::One(Some(sender)) => {
                    // The caller may have given up; its reply is dropped here.
                    let _ = sender.send(Outcome::Reply(reply));
                }
                Callers::One(None) => {
                    self.shared.detached.fetch_sub(1, Ordering::Relaxed);
                }
                Callers::Many(callers) => batch::deliver(callers, reply),
            }
        }
    }

    /// Fails the connection when its oldest request is still unanswered past its deadline:
    /// every later reply is stuck behind it.
    fn poll_stuck(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(deadline) = self.waiting.front().and_then(|oldest| oldest.deadline) else {
            self.stuck_timer = None;
            return Poll::Pending;
        };
        loop {
            // A timer armed for a later deadline (an answered request's) is re-armed.
            if self
                .stuck_timer
                .as_ref()
                .is_none_or(|(armed, _)| *armed > deadline)
            {
                let now = Instant::now();
                if now >= deadline {
                    return Poll::Ready(self.lost(
                        io::ErrorKind::TimedOut,
                        "no reply within the operation timeout",
                    ));
                }
                let timer = Box::pin(self.runtime.sleep(deadline - now));
                self.stuck_timer = Some((deadline, timer));
            }
            let Some((_, timer)) = &mut self.stuck_timer else {
                return Poll::Pending;
            };
            match timer.as_mut().poll(cx) {
                // Armed for an older request's deadline: re-check against the oldest now.
                Poll::Ready(()) => self.stuck_timer = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn lost(&self, kind: io::ErrorKind, message: &str) -> Error {
        self.io_error(io::Error::new(kind, message.to_owned()))
    }

    fn io_error(&self, error: io::Error) -> Error {
        Error::ConnectionLost {
            node: self.shared.node.to_string(),
            source: Arc::new(error),
        }
    }

    /// Fails every caller still waiting with `error`, and hands requests never written
    /// back to their callers to send elsewhere.
    fn fail_all(&mut self, error: Error) {
        self.shared.refuse(error.clone());
        let queued = std::mem::take(&mut self.shared.lock_inbox().requests);
        let mut failed = 0;
        for waiting in self.waiting.drain(..) {
            failed += waiting.callers.count() as u64;
            for sender in waiting.callers.into_senders().into_iter().flatten() {
                let _ = sender.send(Outcome::Failed(error.clone()));
            }
        }
        for request in queued {
            if let Some(sender) = request.reply {
                let _ = sender.send(Outcome::Unsent(error.clone()));
            }
        }
        self.shared.in_flight.store(0, Ordering::Relaxed);
        self.shared.detached.store(0, Ordering::Relaxed);
        self.counters
            .requests_failed
            .fetch_add(failed, Ordering::Relaxed);
    }
}
