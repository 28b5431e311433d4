//! The client's end of a connection to a [`MemoryServer`](super::MemoryServer).
//!
//! There is no server task: a write is interpreted as it arrives, and its replies wait in
//! the connection until the client reads them. Only what happens outside a write (the
//! server stopped, a paused server resumed) has to wake a waiting reader.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use futures::io::{AsyncRead, AsyncWrite};

use super::server::{self, Session, Step};
use super::{Shared, State};

/// One connection's state, shared by the client's socket and the server (which closes it
/// when stopped, and answers it when resumed).
pub(crate) struct Connection {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bytes the client wrote that the server has not interpreted yet: an incomplete
    /// command, or anything written while the server is paused.
    input: BytesMut,
    /// Replies the client has not read yet.
    output: BytesMut,
    session: Session,
    /// The client's read waiting for a reply.
    reader: Option<Waker>,
    /// The server closed its end: reads return what is left, then the end of stream.
    server_closed: bool,
    /// The client shut its write side down.
    client_closed: bool,
}

impl Connection {
    pub(crate) fn new() -> Self {
        Connection {
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Neither end has closed it.
    pub(crate) fn is_open(&self) -> bool {
        let inner = self.inner();
        !inner.server_closed && !inner.client_closed
    }

    /// Closes it as a dying server does: replies not yet read are lost.
    pub(crate) fn close_by_server(&self) {
        let mut inner = self.inner();
        inner.server_closed = true;
        inner.input.clear();
        inner.output.clear();
        inner.wake_reader();
    }

    /// Answers what was written while the server was paused.
    pub(crate) fn serve_pending(&self, server: &mut State) {
        self.inner().serve(server);
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Plain buffers and flags, consistent between calls: usable after a panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Interprets every complete command written so far, unless the server is paused.
    fn serve(&mut self, server: &mut State) {
        if server.paused || self.server_closed {
            return;
        }
        let step = server::serve(
            &mut server.store,
            &mut self.session,
            Instant::now(),
            &mut self.input,
            &mut self.output,
        );
        // A server closes after `quit`, and once it has answered all a client that shut
        // its write side down will ever send.
        if step == Step::Close || self.client_closed {
            self.server_closed = true;
            self.input.clear();
        }
        if !self.output.is_empty() || self.server_closed {
            self.wake_reader();
        }
    }

    fn wake_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }
}

/// The client's socket.
pub(crate) struct MemorySocket {
    server: Arc<Shared>,
    connection: Arc<Connection>,
}

impl MemorySocket {
    pub(crate) fn new(server: Arc<Shared>, connection: Arc<Connection>) -> Self {
        MemorySocket { server, connection }
    }
}

fn closed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, what.to_owned())
}

impl AsyncWrite for MemorySocket {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        // The server's lock before the connection's, everywhere both are taken.
        let mut server = self.server.state();
        let mut inner = self.connection.inner();
        if inner.client_closed {
            return Poll::Ready(Err(closed("write after shutdown")));
        }
        if inner.server_closed || !server.is_running() {
            return Poll::Ready(Err(closed("connection closed by the server")));
        }
        inner.input.extend_from_slice(bytes);
        inner.serve(&mut server);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut server = self.server.state();
        let mut inner = self.connection.inner();
        if !inner.client_closed {
            inner.client_closed = true;
            inner.serve(&mut server);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for MemorySocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.connection.inner();
        if !inner.output.is_empty() {
            let read = buf.len().min(inner.output.len());
            buf[..read].copy_from_slice(&inner.output[..read]);
            inner.output.advance(read);
            return Poll::Ready(Ok(read));
        }
        if inner.server_closed || buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        inner.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for MemorySocket {
    fn drop(&mut self) {
        // The server sees the end of stream and closes its end.
        let mut inner = self.connection.inner();
        inner.client_closed = true;
        inner.server_closed = true;
    }
}
