//! The connection shell: one task per connection that owns the socket and one timer, and
//! feeds the [`Connection`](crate::engine::connection::Connection) state machine what
//! happens on them.
//!
//! The task reports its end through `Drop`, so a driver that is dropped (runtime shut
//! down) or panics still fails its callers and tells the pool the connection is gone.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use futures::io::{AsyncRead, AsyncWrite};

use crate::engine::connection::WRITE_HIGH_WATER;
use crate::engine::request::Outcome;
use crate::engine::ConnCell;
use crate::error::Error;
use crate::io::node::Node;
use crate::io::runtime::{Runtime, Socket};
use crate::io::value_buffers::{self, ValueBuffers};
use crate::observe::{self, Counters};

/// Replies are read through a scratch buffer of this size, zeroed once, except the data
/// block of a large value (see [`ValueBuffers`]), which is read into reused storage.
const READ_CHUNK: usize = 16 * 1024;
/// The least the read buffer grows by.
const READ_GROWTH: usize = READ_CHUNK;
/// A read at least this long hands its first lines over one at a time (see
/// [`Driver::take_read`]); shorter ones, which cannot hold much of a large value, go whole.
const LINES_APART: usize = 8 * 1024;
/// How many lines go one at a time: a single get's reply begins with the previous reply's
/// `END` line, then the value's header.
const LEADING_LINES: usize = 3;
/// Buffers that grew past these during a burst are given back once empty.
const READ_KEEP: usize = 4 * READ_CHUNK;
const WRITE_KEEP: usize = 2 * WRITE_HIGH_WATER;
/// How long a connection the client closed may take to drain, and how many reply bytes
/// nobody waits for it may read meanwhile (see [`Driver::drain`]).
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Starts the driver task for a freshly established connection.
pub(crate) fn spawn<R: Runtime>(
    runtime: &R,
    socket: Box<dyn Socket>,
    cell: Arc<ConnCell>,
    node: Weak<Node<R>>,
    counters: Arc<Counters>,
    value_buffers: Arc<ValueBuffers>,
) {
    let name = cell.lock().node().clone();
    let driver = Driver {
        socket,
        name,
        cell,
        node,
        runtime: runtime.clone(),
        counters,
        value_buffers,
        out: BytesMut::new(),
        needs_flush: false,
        read_buf: BytesMut::new(),
        scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        timer: None,
        fill: None,
        gathered: false,
        finished: false,
        write_closed: false,
        drain_holds: None,
    };
    runtime.spawn(driver.run());
}

struct Driver<R: Runtime> {
    socket: Box<dyn Socket>,
    /// The node's name, for errors (kept here: the state machine may be locked).
    name: Arc<str>,
    cell: Arc<ConnCell>,
    node: Weak<Node<R>>,
    runtime: R,
    counters: Arc<Counters>,
    value_buffers: Arc<ValueBuffers>,
    /// Bytes handed over by the state machine, not yet accepted by the socket.
    out: BytesMut,
    needs_flush: bool,
    read_buf: BytesMut,
    scratch: Box<[u8]>,
    /// The one timer, armed for this instant (at or before the state machine's deadline).
    timer: Option<(Instant, Pin<Box<R::Sleep>>)>,
    /// While a large value's data block is read into storage of its own.
    fill: Option<Fill>,
    /// The driver has let the tasks ready before it run once since requests were queued
    /// on an idle socket (see [`Driver::poll_drive`]).
    gathered: bool,
    finished: bool,
    /// The write side was shut down (while draining).
    write_closed: bool,
    /// While draining: the keys of the requests written and not answered, which the pool
    /// holds (nothing for them goes elsewhere) until the drain ends.
    drain_holds: Option<Vec<u64>>,
}

impl<R: Runtime> Drop for Driver<R> {
    fn drop(&mut self) {
        if !self.finished {
            let error = self.lost(io::ErrorKind::ConnectionAborted, "connection task ended");
            self.finish(error, false);
        }
        // A drain cut short by the task's end (the runtime shut down) still ends.
        self.end_drain();
    }
}

/// How a connection ended, and so how its socket is let go.
enum Ending {
    /// The client closed it (stuck, behind a timed-out request, idle, closing, left the
    /// cluster) while the stream was in sync: commands already written must still reach
    /// the server, so the socket is half-closed and drained, never reset.
    ByClient(Error),
    /// The server closed it, the socket failed, or its replies broke the protocol (the
    /// stream is no longer trusted): the socket is dropped as it is.
    Other(Error),
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self) {
        let ending = poll_fn(|cx| self.poll_drive(cx)).await;
        match ending {
            Ending::ByClient(error) => {
                self.finish(error, true);
                self.drain().await;
                self.end_drain();
            }
            Ending::Other(error) => self.finish(error, false),
        }
    }

    /// Tells the pool the drain ended: the keys it held are free again.
    fn end_drain(&mut self) {
        if let Some(holds) = self.drain_holds.take() {
            if let Some(node) = self.node.upgrade() {
                node.drain_ended(&holds);
            }
        }
    }

    /// Lets go of the socket without losing what was written to it: writes what the state
    /// machine handed over, half-closes (the server reads every command, then end of
    /// stream), and reads and drops replies nobody waits for any more until the server
    /// closes its side. Meanwhile the pool holds the keys of those requests, so no later
    /// request for them can reach the server first on another connection. Closing with replies unread would make the kernel reset the
    /// connection, and the server discard commands it had received but not yet read, a
    /// `noreply` write among them. Bounded by [`DRAIN_TIME`] and [`DRAIN_BYTES`], so a
    /// server that never closes cannot hold the socket.
    async fn drain(&mut self) {
        let started = self.runtime.now();
        let deadline = self.runtime.sleep(DRAIN_TIME);
        futures::pin_mut!(deadline);
        let mut read = 0usize;
        let drained = poll_fn(|cx| {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            self.poll_drain(cx, &mut read)
        })
        .await;
        let elapsed = self.runtime.now().saturating_duration_since(started);
        self.counters.drained(drained);
        observe::drain_finished(&self.name, drained, read, elapsed);
    }

    /// One step of [`Driver::drain`]: `Ready(true)` at the server's end of stream,
    /// `Ready(false)` when the socket failed or [`DRAIN_BYTES`] were read.
    fn poll_drain(&mut self, cx: &mut Context<'_>, read: &mut usize) -> Poll<bool> {
        loop {
            if !self.out.is_empty() {
                match Pin::new(&mut self.socket).poll_write(cx, &self.out) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Ready(Ok(written)) => {
                        self.out.advance(written);
                        continue;
                    }
                    Poll::Pending => {}
                }
            } else if !self.write_closed {
                match Pin::new(&mut self.socket).poll_close(cx) {
                    Poll::Ready(Ok(())) => self.write_closed = true,
                    Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Pending => {}
                }
            }
            // Read all along: a server blocked writing replies reads no more commands.
            match Pin::new(&mut self.socket).poll_read(cx, &mut self.scratch) {
                Poll::Ready(Ok(0)) => return Poll::Ready(self.write_closed),
                Poll::Ready(Ok(n)) => {
                    *read = read.saturating_add(n);
                    if *read > DRAIN_BYTES {
                        return Poll::Ready(false);
                    }
                }
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Poll::Ready(false),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Closes the state machine (failing what is left) and tells the pool, once. With
    /// `draining`, the socket is drained next, and the pool holds the keys of the requests
    /// still on it (and counts the drain) until [`Driver::end_drain`].
    fn finish(&mut self, error: Error, draining: bool) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let mut closed = self.cell.lock().close(error.clone());
        observe::disconnected(&self.name, &error);
        self.counters.closed();
        self.counters.requests_failed(closed.failed);
        let holds = draining.then(|| std::mem::take(&mut closed.holds));
        if let Some(node) = self.node.upgrade() {
            node.conn_closed(&self.cell, closed.unsent_detached, holds.as_deref());
            self.drain_holds = holds;
        } else if !closed.unsent_detached.is_empty() {
            let dropped = closed.unsent_detached.len() as u64;
            self.counters.writes_dropped(dropped);
            observe::writes_dropped(&self.name, dropped, &error);
        }
        // Only now may the callers of unwritten requests retry: the writes re-placed above
        // go first.
        for sender in closed.unsent_callers {
            let _ = sender.send(Outcome::Unsent(error.clone()));
        }
    }

    /// Drives the connection until it ends, returning why it ended.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        loop {
            self.cell.register(cx.waker());
            let now = self.runtime.now();
            let mut gather = false;
            let (deadline, freed) = {
                let mut conn = self.cell.lock();
                if let Some(reason) = conn.close_reason() {
                    // Closed from outside the driver: the client aborted it.
                    return Poll::Ready(Ending::ByClient(reason.clone()));
                }
                if conn.is_drained() && self.out.is_empty() {
                    return Poll::Ready(Ending::ByClient(self.lost(
                        io::ErrorKind::NotConnected,
                        "connection closed by the client",
                    )));
                }
                let freed = if self.out.len() < WRITE_HIGH_WATER && conn.wants_transmit() {
                    if self.out.is_empty() && !self.gathered {
                        gather = true;
                        0
                    } else {
                        self.gathered = false;
                        conn.poll_transmit(now, &mut self.out)
                    }
                } else {
                    0
                };
                (conn.poll_timeout(), freed)
            };
            self.hand_room(freed);
            if gather {
                // The first request queued on an idle socket is written after the tasks
                // already ready have run once: those a read just answered submit their next
                // requests meanwhile, and all of them go out in one write instead of one
                // write each. (Some schedulers run a task woken by another right after it,
                // which would otherwise send every request alone.) A lone request waits
                // one pass of the scheduler's queue.
                self.gathered = true;
                cx.waker().wake_by_ref();
            }
            let mut progress = false;
            match self.poll_write(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(error)) => return Poll::Ready(Ending::Other(error)),
                Poll::Pending => {}
            }
            match self.poll_read(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(error)) => return Poll::Ready(Ending::Other(error)),
                Poll::Pending => {}
            }
            match self.poll_timer(cx, now, deadline) {
                Poll::Ready(Ok(())) => progress = true,
                // A deadline closed it (stuck, or the close grace ran out).
                Poll::Ready(Err(error)) => return Poll::Ready(Ending::ByClient(error)),
                Poll::Pending => {}
            }
            if !progress || gather {
                return Poll::Pending;
            }
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut wrote = false;
        while !self.out.is_empty() {
            match Pin::new(&mut self.socket).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(
                        self.lost(io::ErrorKind::WriteZero, "socket accepted no bytes")
                    ))
                }
                Poll::Ready(Ok(written)) => {
                    self.out.advance(written);
                    self.needs_flush = true;
                    wrote = true;
                }
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.io_error(error))),
                Poll::Pending => break,
            }
        }
        if self.out.is_empty() {
            if self.out.capacity() > WRITE_KEEP {
                self.out = BytesMut::new();
            } else {
                // Reuse the allocation from its start.
                self.out.clear();
            }
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

    /// Reads once and hands the bytes to the state machine: into the scratch buffer, or
    /// straight into a large value's storage while its data block is arriving.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.fill.is_some() {
            return self.poll_fill(cx);
        }
        match Pin::new(&mut self.socket).poll_read(cx, &mut self.scratch) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => Poll::Ready(Err(self.eof())),
            Poll::Ready(Ok(n)) => Poll::Ready(self.take_read(n)),
            Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.io_error(error))),
        }
    }

    /// Hands the `n` bytes read into the scratch buffer to the state machine. A large read
    /// hands its first few lines over one at a time: once one starts a large value, the
    /// rest of the read is the value's, and is copied once, into the value's storage,
    /// instead of through the read buffer first.
    fn take_read(&mut self, n: usize) -> Result<(), Error> {
        let mut from = 0;
        let mut lines = if n >= LINES_APART { LEADING_LINES } else { 0 };
        while from < n {
            if let Some(fill) = &mut self.fill {
                let take = (fill.len - fill.filled).min(n - from);
                fill.storage[fill.filled..fill.filled + take]
                    .copy_from_slice(&self.scratch[from..from + take]);
                fill.filled += take;
                from += take;
                self.finish_fill()?;
                continue;
            }
            let end = match lines.checked_sub(1) {
                Some(left) => {
                    lines = left;
                    memchr::memchr(b'\n', &self.scratch[from..n])
                        .map_or(n, |newline| from + newline + 1)
                }
                None => n,
            };
            let bytes = &self.scratch[from..end];
            if self.read_buf.capacity() - self.read_buf.len() < bytes.len() {
                // Grow by a useful amount: lines taken alone (a large value's header) would
                // otherwise grow it a line at a time, and as the keys split from it keep
                // its old storage alive, each growth would allocate.
                self.read_buf.reserve(bytes.len().max(READ_GROWTH));
            }
            self.read_buf.extend_from_slice(bytes);
            from = end;
            self.deliver()?;
        }
        Ok(())
    }

    /// Decodes what the read buffer holds, and starts reading a large value's data block
    /// into storage of its own if one is now arriving.
    fn deliver(&mut self) -> Result<(), Error> {
        let (answered, block) = {
            let mut conn = self.cell.lock();
            let answered = conn.handle_read(&mut self.read_buf)?;
            (answered, large_block(conn.data_block_len(), &self.read_buf))
        };
        self.hand_room(answered);
        match block {
            Some(len) => self.start_fill(len),
            None if self.read_buf.is_empty() && self.read_buf.capacity() > READ_KEEP => {
                self.read_buf = BytesMut::new();
            }
            None => {}
        }
        Ok(())
    }

    /// Moves the part of a `len`-byte data block already read (the whole read buffer) into
    /// reused storage, where the rest is read straight into place.
    fn start_fill(&mut self, len: usize) {
        let mut storage = self.value_buffers.take(len);
        let buffered = self.read_buf.len();
        storage[..buffered].copy_from_slice(&self.read_buf);
        self.read_buf.clear();
        self.fill = Some(Fill {
            storage,
            filled: buffered,
            len,
        });
    }

    /// Reads into the data block started by [`Driver::start_fill`] until it is complete.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while let Some(fill) = &mut self.fill {
            if fill.filled == fill.len {
                return Poll::Ready(self.finish_fill());
            }
            match Pin::new(&mut self.socket).poll_read(cx, &mut fill.storage[fill.filled..fill.len])
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(self.eof())),
                Poll::Ready(Ok(n)) => fill.filled += n,
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.io_error(error))),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hands the data block in progress to the state machine if it is complete.
    fn finish_fill(&mut self) -> Result<(), Error> {
        if self
            .fill
            .as_ref()
            .is_some_and(|fill| fill.filled < fill.len)
        {
            return Ok(());
        }
        let Some(Fill { storage, len, .. }) = self.fill.take() else {
            return Ok(());
        };
        let block = self.value_buffers.lend(storage, len);
        let answered = self
            .cell
            .lock()
            .handle_data_block(block, &mut self.read_buf)?;
        self.hand_room(answered);
        Ok(())
    }

    fn eof(&self) -> Error {
        self.lost(io::ErrorKind::UnexpectedEof, "server closed the connection")
    }

    /// Tells the pool that `freed` budget slots opened, for callers waiting for room.
    fn hand_room(&self, freed: usize) {
        if freed > 0 {
            if let Some(node) = self.node.upgrade() {
                node.room(freed);
            }
        }
    }

    /// Keeps the timer armed at or before the state machine's deadline, and applies the
    /// deadlines that have passed.
    fn poll_timer(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Poll<Result<(), Error>> {
        let Some(deadline) = deadline else {
            self.timer = None;
            return Poll::Pending;
        };
        if deadline <= now {
            self.timer = None;
            return Poll::Ready(self.cell.lock().handle_timeout(now));
        }
        // A timer armed earlier than needed is kept: when it fires, the loop re-reads the
        // deadline and re-arms. That re-arms at most once per firing, not once per reply.
        if self
            .timer
            .as_ref()
            .is_none_or(|(armed, _)| *armed > deadline)
        {
            let sleep = self.runtime.sleep(deadline.saturating_duration_since(now));
            self.timer = Some((deadline, Box::pin(sleep)));
        }
        let Some((_, timer)) = &mut self.timer else {
            return Poll::Pending;
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn lost(&self, kind: io::ErrorKind, message: &str) -> Error {
        self.io_error(io::Error::new(kind, message.to_owned()))
    }

    fn io_error(&self, error: io::Error) -> Error {
        Error::ConnectionLost {
            node: self.name.to_string(),
            source: Arc::new(error),
        }
    }
}

/// A large value's data block being read into storage of its own.
struct Fill {
    /// From [`ValueBuffers::take`]: at least `len` bytes.
    storage: Vec<u8>,
    /// How much of the block is in.
    filled: usize,
    /// The block's length: the value and its CRLF.
    len: usize,
}

/// The length of the data block in progress, if it is large enough for storage of its own
/// and still arriving (the read buffer, which then holds only its bytes, is shorter).
fn large_block(block_len: Option<usize>, read_buf: &[u8]) -> Option<usize> {
    block_len.filter(|&len| len >= value_buffers::SMALLEST && read_buf.len() < len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_large_value_still_arriving_gets_storage_of_its_own() {
        let large = value_buffers::SMALLEST;
        assert_eq!(large_block(None, b""), None);
        assert_eq!(large_block(Some(large - 1), b""), None);
        assert_eq!(large_block(Some(large), b"abc"), Some(large));
        assert_eq!(large_block(Some(large), &vec![0; large]), None);
    }
}
