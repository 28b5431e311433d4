//! What scenarios share: client construction, unique keys, spawning on the runtime under
//! test, deadlines, a deterministic random source, and misbehaving listeners.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::FutureExt;
use memcache_core::memproto::EncodeError;
use memcache_core::{Client, ClientBuilder, Error, Protocol, Runtime};

use crate::server::Memcached;

/// What the scenarios of one test binary share besides the runtime: the protocol their
/// clients speak. The [`scenarios!`](macro@crate::scenarios) call fixes it and hands a copy
/// to every scenario, rather than a process-global that each test would have to set (and
/// that tests of different protocols in one process would fight over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// The protocol every client built through this suite speaks.
    pub protocol: Protocol,
}

impl Suite {
    /// A builder for a client of `servers`, with the suite's defaults.
    pub fn builder<R: Runtime + Default>(self, servers: &[&Memcached]) -> ClientBuilder<R> {
        self.builder_of::<R>(servers.iter().map(|server| server.addr()))
    }

    /// A builder for a client of these addresses, speaking the suite's protocol.
    pub fn builder_of<R: Runtime + Default>(
        self,
        addrs: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> ClientBuilder<R> {
        Client::<R>::builder(addrs).protocol(self.protocol)
    }

    /// A client of one server, with default settings.
    pub fn client<R: Runtime + Default>(self, server: &Memcached) -> Client<R> {
        self.builder::<R>(&[server])
            .build()
            .expect("valid configuration")
    }
}

/// A key prefix no other test (or run) uses: `name:pid:n:`.
pub fn prefix(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}:{}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `task` on the runtime under test and returns a future of its output. A panic in
/// the task is re-raised where the output is awaited, so assertions in tasks fail the test.
pub fn spawn<R, T, F>(runtime: &R, task: F) -> impl Future<Output = T> + Send + 'static
where
    R: Runtime,
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    runtime.spawn(async move {
        let outcome = AssertUnwindSafe(task).catch_unwind().await;
        let _ = sender.send(outcome);
    });
    async move {
        match receiver.await {
            Ok(Ok(output)) => output,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(oneshot::Canceled) => panic!("spawned task was dropped before it finished"),
        }
    }
}

/// Sleeps on the runtime under test.
pub async fn sleep<R: Runtime + Default>(duration: Duration) {
    R::default().sleep(duration).await;
}

/// Runs `future`, panicking if it has not finished within `limit`: for asserting that
/// something ends at all, without hanging the suite when it does not.
pub async fn within<R, T>(limit: Duration, future: impl Future<Output = T>) -> T
where
    R: Runtime + Default,
{
    let timer = R::default().sleep(limit);
    futures::pin_mut!(future, timer);
    match futures::future::select(future, timer).await {
        futures::future::Either::Left((output, _)) => output,
        futures::future::Either::Right(_) => panic!("still running after {limit:?}"),
    }
}

/// Polls `check` every 50 ms until it returns true or `within` passes; returns whether it
/// did. Use instead of fixed sleeps for effects the server applies on its own clock.
pub async fn eventually<R, F, Fut>(within: Duration, mut check: F) -> bool
where
    R: Runtime + Default,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep::<R>(Duration::from_millis(50)).await;
    }
}

/// The [`EncodeError`] of a request refused before sending; panics on any other outcome.
#[track_caller]
pub fn invalid<T: Debug>(result: Result<T, Error>) -> EncodeError {
    match result {
        Err(Error::Invalid(error)) => error,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

/// Asserts that `result` is an error matching `pattern` (the value is printed otherwise).
#[macro_export]
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!(
                "expected Err({}), got {:?}",
                stringify!($pattern),
                other
            ),
        }
    };
}

/// A small deterministic random source (splitmix64), so failures reproduce.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// `len` random bytes (any byte, CR and LF included).
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// A TCP listener that accepts connections and never reads or answers: requests sent to
/// it wait forever. Stops (and closes what it accepted) on drop.
pub struct Blackhole(Hostile);

impl Blackhole {
    pub fn start() -> Blackhole {
        Blackhole(Hostile::start(Hostility::Silent))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.0.addr()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.0.accepted()
    }
}

/// What a [`Hostile`] listener does with each connection it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostility {
    /// Keeps it open and never reads from it or answers.
    Silent,
    /// Closes it at once, before any answer.
    Close,
    /// Writes bytes that are no memcached reply, then closes it.
    Garbage,
    /// Writes an error line, as memcached at its connection limit does, then closes it.
    ErrorThenClose,
}

/// A TCP listener that accepts every connection and mistreats it as [`Hostility`] says,
/// counting them. Stops (and closes what it holds) on drop.
pub struct Hostile {
    addr: String,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hostile {
    pub fn start(hostility: Hostility) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr").to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            let bytes: &[u8] = match hostility {
                                Hostility::Silent => {
                                    held.push(stream);
                                    continue;
                                }
                                Hostility::Close => b"",
                                Hostility::Garbage => b"\x00\xffNOT MEMCACHED\r\n",
                                Hostility::ErrorThenClose => b"ERROR Too many open connections\r\n",
                            };
                            let _ = std::io::Write::write_all(&mut stream, bytes);
                            let _ = stream.shutdown(std::net::Shutdown::Both);
                        }
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Hostile {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A TCP listener whose accept queue is full, so new connection attempts hang in the
/// handshake (the kernel drops their SYNs) until the client gives up: a stand-in for an
/// unroutable host that works on loopback.
pub struct ConnectHang {
    addr: String,
    _listener: TcpListener,
    _filler: TcpStream,
}

impl ConnectHang {
    pub fn start() -> ConnectHang {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
        socket.bind(&any.into()).expect("bind");
        // A backlog of 0 leaves room for one connection in the accept queue; fill it.
        socket.listen(0).expect("listen");
        let listener: TcpListener = socket.into();
        let addr = listener.local_addr().expect("local addr");
        let filler = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("fill");
        ConnectHang {
            addr: addr.to_string(),
            _listener: listener,
            _filler: filler,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }
}

/// A TCP port on 127.0.0.1 held by a socket that is bound but not listening: connecting
/// to it is refused, and nothing else can take the port while this lives.
pub struct DeadPort {
    port: u16,
    _socket: socket2::Socket,
}

impl DeadPort {
    pub fn bind() -> DeadPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
        socket.bind(&any.into()).expect("bind");
        let port = socket
            .local_addr()
            .expect("local addr")
            .as_socket()
            .expect("inet address")
            .port();
        DeadPort {
            port,
            _socket: socket,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The keys of `keys` each server holds, checked directly on the servers.
pub fn holders<'a>(
    servers: &[&Memcached],
    keys: impl IntoIterator<Item = &'a String> + Clone,
) -> Vec<HashSet<String>> {
    servers
        .iter()
        .map(|server| {
            let keys: Vec<&str> = keys.clone().into_iter().map(String::as_str).collect();
            server.present(&keys)
        })
        .collect()
}
