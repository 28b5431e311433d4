//! A loopback TCP proxy in front of a real memcached, with faults to switch on and off.
//!
//! Plain std threads and sockets, so it works under every runtime. Each accepted client
//! connection gets its own upstream connection and three threads:
//!
//! - the request pump copies client bytes upstream (or drops them while blackholed) and
//!   reports each request line it sees;
//! - the reply reader queues whatever the server sends;
//! - the reply writer forwards that queue to the client, applying the faults: hold, inject,
//!   truncate.
//!
//! Faults are proxy-wide: they apply to every connection, current and future; the
//! exceptions say so ([`Proxy::hold_open`], [`Proxy::send_now`]).

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

/// A running proxy. Dropping it closes every connection and stops accepting.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    /// Signalled on every change of `state`.
    changed: Condvar,
    /// Where request lines are reported, if anyone listens.
    lines: Mutex<Option<Sender<String>>>,
    stopped: AtomicBool,
    accepted: AtomicU64,
    client_closes: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_to_client: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Replies are queued, not forwarded.
    hold: bool,
    /// Requests are read and dropped: the server never sees them.
    blackhole: bool,
    /// Written to a client just before the next reply bytes (once).
    inject: Option<Vec<u8>>,
    /// Reply bytes still forwarded before the connection carrying them is closed (once).
    truncate_after: Option<usize>,
    /// Reply bytes are forwarded in writes of at most this many bytes.
    trickle: Option<usize>,
    /// The pause between two trickled writes.
    trickle_pause: Option<std::time::Duration>,
    /// Meta command lines are renamed on their way to the server, which answers `ERROR`:
    /// a server without meta commands.
    no_meta: bool,
    next_id: u64,
    conns: HashMap<u64, Conn>,
}

struct Conn {
    /// A handle for closing the client side from outside the pumps (`None` after a reset).
    client: Option<TcpStream>,
    upstream: TcpStream,
    /// Reply bytes read from the server, not yet forwarded.
    replies: VecDeque<Vec<u8>>,
    /// The server closed its side (or the upstream socket failed).
    upstream_done: bool,
    /// The proxy closed the client side on purpose (truncate, close, upstream gone).
    closed_by_proxy: bool,
    /// Close with a reset when the client next sends something.
    reset: bool,
    /// Replies of this connection are queued, not forwarded (see [`Proxy::hold_open`]).
    held: bool,
    /// Pumps (request pump, reply writer) still running; the entry goes when both end.
    pumps: u8,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1, forwarding to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            lines: Mutex::new(None),
            stopped: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            client_closes: AtomicU64::new(0),
            bytes_to_server: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = shared.clone();
            thread::spawn(move || accept_loop(listener, shared))
        };
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address to give the client: `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Withholds replies until [`Proxy::release`]. Requests still reach the server. If the
    /// server goes away meanwhile, the held replies are dropped and the client connection
    /// closed: to the client, the connection died before any reply came.
    pub fn hold(&self) {
        self.shared.update(|state| state.hold = true);
    }

    /// Withholds replies of the connections open now, until [`Proxy::release`];
    /// connections accepted later are not held.
    pub fn hold_open(&self) {
        self.shared.update(|state| {
            for conn in state.conns.values_mut() {
                conn.held = true;
            }
        });
    }

    /// Forwards held replies and stops holding (proxy-wide and per connection).
    pub fn release(&self) {
        self.shared.update(|state| {
            state.hold = false;
            for conn in state.conns.values_mut() {
                conn.held = false;
            }
        });
    }

    /// While on, requests are read and dropped: connections stay open and never answer.
    pub fn blackhole(&self, on: bool) {
        self.shared.update(|state| state.blackhole = on);
    }

    /// Writes `bytes` to the client just before the next reply bytes (on any connection).
    pub fn inject(&self, bytes: &[u8]) {
        let bytes = bytes.to_vec();
        self.shared.update(|state| state.inject = Some(bytes));
    }

    /// Writes `bytes` at once to the client side of every connection open now, whether or
    /// not a reply is due: bytes the client never asked for. Meant for idle connections
    /// (on a busy one they could land in the middle of a reply). Returns how many
    /// connections were written to.
    pub fn send_now(&self, bytes: &[u8]) -> usize {
        let state = lock(&self.shared.state);
        let mut written = 0;
        for conn in state.conns.values() {
            if let Some(mut client) = conn.client.as_ref() {
                // Counted before the write, as forwarded replies are.
                let counted = bytes.len() as u64;
                self.shared
                    .bytes_to_client
                    .fetch_add(counted, Ordering::SeqCst);
                if client.write_all(bytes).is_ok() {
                    written += 1;
                } else {
                    self.shared
                        .bytes_to_client
                        .fetch_sub(counted, Ordering::SeqCst);
                }
            }
        }
        written
    }

    /// Forwards reply bytes in separate writes of at most `piece` bytes (`None`: as read),
    /// so a large reply reaches the client over many reads.
    pub fn trickle(&self, piece: Option<usize>) {
        self.shared.update(|state| {
            state.trickle = piece.map(|piece| piece.max(1));
            state.trickle_pause = None;
        });
    }

    /// Forwards reply bytes `piece` bytes at a time with `pause` between writes: a reply
    /// that trickles in, however small.
    pub fn trickle_slowly(&self, piece: usize, pause: std::time::Duration) {
        self.shared.update(|state| {
            state.trickle = Some(piece.max(1));
            state.trickle_pause = Some(pause);
        });
    }

    /// While on, the server behaves as one without meta commands (memcached before 1.6):
    /// every meta command line (`mg`, `ms`, `md`, `ma`, `mn`, `me`) is renamed so the
    /// server answers it with `ERROR`, and an `ms` data block reaches it as a line of its
    /// own, as it would an old server.
    pub fn no_meta(&self, on: bool) {
        self.shared.update(|state| state.no_meta = on);
    }

    /// Forwards `bytes` more reply bytes, then closes the connection that carried the last
    /// of them (a reply cut short).
    pub fn truncate_after(&self, bytes: usize) {
        self.shared
            .update(|state| state.truncate_after = Some(bytes));
    }

    /// Closes the client side of every current connection (FIN: the client reads EOF).
    pub fn close_clients(&self) {
        self.shared.update(|state| {
            for conn in state.conns.values_mut() {
                conn.closed_by_proxy = true;
                if let Some(client) = &conn.client {
                    let _ = client.shutdown(Shutdown::Both);
                }
            }
        });
    }

    /// Resets every current connection: the next bytes the client sends on it are answered
    /// with a TCP RST (the client reads `ECONNRESET`).
    ///
    /// std cannot set `SO_LINGER` to zero, so the reset comes from the kernel rule that
    /// closing a socket with unread data resets it: the connection is closed, without
    /// reading, as soon as the client writes to it.
    pub fn reset(&self) {
        self.shared.update(|state| {
            for conn in state.conns.values_mut() {
                conn.reset = true;
                conn.closed_by_proxy = true;
                conn.client = None;
            }
        });
    }

    /// Reports every request line (CRLF stripped, cut at 200 bytes) seen from now on. Data
    /// blocks of storage commands are lines too. Replaces any earlier listener.
    pub fn requests(&self) -> Receiver<String> {
        let (sender, receiver) = mpsc::channel();
        *lock(&self.shared.lines) = Some(sender);
        receiver
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.state).conns.len()
    }

    /// Connections the client closed (not counting those the proxy closed).
    pub fn client_closes(&self) -> u64 {
        self.shared.client_closes.load(Ordering::SeqCst)
    }

    /// Request bytes forwarded to the server.
    pub fn bytes_to_server(&self) -> u64 {
        self.shared.bytes_to_server.load(Ordering::SeqCst)
    }

    /// Reply bytes forwarded to clients (injected bytes included).
    pub fn bytes_to_client(&self) -> u64 {
        self.shared.bytes_to_client.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the acceptor.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.update(|state| {
            for conn in state.conns.values_mut() {
                conn.closed_by_proxy = true;
                if let Some(client) = &conn.client {
                    let _ = client.shutdown(Shutdown::Both);
                }
                let _ = conn.upstream.shutdown(Shutdown::Both);
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut lock(&self.state));
        self.changed.notify_all();
    }

    /// Marks one pump of connection `id` finished; forgets the connection after the last.
    fn pump_done(&self, id: u64) {
        self.update(|state| {
            if let Some(conn) = state.conns.get_mut(&id) {
                conn.pumps -= 1;
                if conn.pumps == 0 {
                    state.conns.remove(&id);
                }
            }
        });
    }

    fn report_line(&self, line: &[u8]) {
        let mut lines = lock(&self.lines);
        if let Some(sender) = lines.as_ref() {
            let line = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
            if sender.send(line).is_err() {
                *lines = None;
            }
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        thread::spawn(move || serve(client, shared));
    }
}

fn serve(client: TcpStream, shared: Arc<Shared>) {
    // No server: dropping the client connection closes it.
    let Ok(upstream) = TcpStream::connect(shared.upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(control), Ok(upstream_control), Ok(reader), Ok(writer)) = (
        client.try_clone(),
        upstream.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
    ) else {
        return;
    };
    let id = {
        let mut state = lock(&shared.state);
        let id = state.next_id;
        state.next_id += 1;
        state.conns.insert(
            id,
            Conn {
                client: Some(control),
                upstream: upstream_control,
                replies: VecDeque::new(),
                upstream_done: false,
                closed_by_proxy: false,
                reset: false,
                held: false,
                pumps: 2,
            },
        );
        id
    };
    {
        let shared = shared.clone();
        thread::spawn(move || read_replies(id, reader, shared));
    }
    {
        let shared = shared.clone();
        thread::spawn(move || {
            write_replies(id, writer, &shared);
            shared.pump_done(id);
        });
    }
    pump_requests(id, client, upstream, &shared);
    shared.pump_done(id);
}

/// Client to server. Ends when the client closes, the server stops taking bytes, or the
/// connection is reset.
fn pump_requests(id: u64, mut client: TcpStream, mut upstream: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut line = Vec::new();
    // With `no_meta`: bytes of a line not complete yet, held back until it is.
    let mut partial: Vec<u8> = Vec::new();
    loop {
        // Look before reading: a reset must leave the bytes unread.
        match client.peek(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let (blackhole, no_meta) = {
            let state = lock(&shared.state);
            match state.conns.get(&id) {
                Some(conn) if conn.reset => {
                    drop(state);
                    // Dropping the last handle with unread data makes the kernel send RST.
                    drop(client);
                    let _ = upstream.shutdown(Shutdown::Both);
                    return;
                }
                _ => (state.blackhole, state.no_meta),
            }
        };
        let read = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if !blackhole {
            let forwarded = if no_meta || !partial.is_empty() {
                partial.extend_from_slice(&buf[..read]);
                upstream.write_all(&without_meta(&mut partial))
            } else {
                upstream.write_all(&buf[..read])
            };
            if forwarded.is_err() {
                break;
            }
            shared
                .bytes_to_server
                .fetch_add(read as u64, Ordering::SeqCst);
        }
        // Report lines after forwarding: a reported request has reached the server.
        for &byte in &buf[..read] {
            line.push(byte);
            if line.ends_with(b"\r\n") {
                shared.report_line(&line[..line.len() - 2]);
                line.clear();
            }
        }
    }
    let by_proxy = lock(&shared.state)
        .conns
        .get(&id)
        .is_some_and(|conn| conn.closed_by_proxy);
    if !by_proxy {
        shared.client_closes.fetch_add(1, Ordering::SeqCst);
    }
    // The server then closes its side, which ends the reply pumps.
    let _ = upstream.shutdown(Shutdown::Both);
}

/// The complete lines of `pending`, meta command lines renamed (so that memcached answers
/// them `ERROR`); an incomplete last line stays in `pending`.
fn without_meta(pending: &mut Vec<u8>) -> Vec<u8> {
    let complete = pending
        .windows(2)
        .rposition(|pair| pair == b"\r\n")
        .map_or(0, |at| at + 2);
    let rest = pending.split_off(complete);
    let lines = std::mem::replace(pending, rest);
    let mut out = Vec::with_capacity(lines.len());
    for line in lines.split_inclusive(|&byte| byte == b'\n') {
        let is_meta = matches!(
            line,
            [
                b'm',
                b'g' | b's' | b'd' | b'a' | b'n' | b'e',
                b' ' | b'\r',
                ..
            ]
        );
        if is_meta {
            out.extend_from_slice(b"x");
        }
        out.extend_from_slice(line);
    }
    out
}

/// Server to queue. Ends when the server closes.
fn read_replies(id: u64, mut upstream: TcpStream, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => 0,
            Ok(read) => read,
        };
        let mut done = false;
        shared.update(|state| match state.conns.get_mut(&id) {
            Some(conn) if read > 0 => conn.replies.push_back(buf[..read].to_vec()),
            Some(conn) => {
                conn.upstream_done = true;
                done = true;
            }
            None => done = true,
        });
        if done {
            return;
        }
    }
}

/// Queue to client, through the faults. Ends when the connection closes.
fn write_replies(id: u64, mut client: TcpStream, shared: &Shared) {
    loop {
        let (inject, chunk, close, trickle, pause) = {
            let mut state = lock(&shared.state);
            loop {
                let hold = state.hold;
                let Some(conn) = state.conns.get_mut(&id) else {
                    return;
                };
                let hold = hold || conn.held;
                if conn.reset {
                    return;
                }
                if conn.upstream_done && (hold || conn.replies.is_empty()) {
                    // The server is gone: whatever was held is lost with it.
                    conn.closed_by_proxy = true;
                    let _ = client.shutdown(Shutdown::Both);
                    return;
                }
                if !hold && !conn.replies.is_empty() {
                    break;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            let conn = state.conns.get_mut(&id).expect("checked above");
            let mut chunk = conn.replies.pop_front().expect("checked above");
            let mut close = false;
            if let Some(left) = state.truncate_after {
                if left > chunk.len() {
                    state.truncate_after = Some(left - chunk.len());
                } else {
                    chunk.truncate(left);
                    state.truncate_after = None;
                    close = true;
                    if let Some(conn) = state.conns.get_mut(&id) {
                        conn.closed_by_proxy = true;
                    }
                }
            }
            (
                state.inject.take(),
                chunk,
                close,
                state.trickle,
                state.trickle_pause,
            )
        };
        for bytes in inject.iter().chain(Some(&chunk)) {
            for piece in bytes.chunks(trickle.unwrap_or(usize::MAX).min(bytes.len().max(1))) {
                if let Some(pause) = pause {
                    thread::sleep(pause);
                }
                // Counted before the write: the client may read the bytes (and a test
                // read the count) before `write_all` returns.
                let counted = piece.len() as u64;
                shared.bytes_to_client.fetch_add(counted, Ordering::SeqCst);
                if client.write_all(piece).is_err() {
                    shared.bytes_to_client.fetch_sub(counted, Ordering::SeqCst);
                    return;
                }
            }
        }
        if close {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    }
}
