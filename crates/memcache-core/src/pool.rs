//! One node's connections: lazy growth up to a maximum, a floor kept open in the
//! background, idle purge, reconnect backoff and health.
//!
//! Connections are multiplexed, so a request never waits for another request to finish
//! before it can use a connection: it waits only while the node has no connection at all,
//! and then every waiter is served as soon as one opens. Requests are spread over the open
//! connections by load (fewest replies outstanding).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::{select, Either};
use memproto::{Expect, Reply};

use crate::addr::NodeAddr;
use crate::auth;
use crate::batch::BatchKey;
use crate::config::Config;
use crate::conn::{self, Conn, DriverConfig, Outcome, OwnedConn, Request};
use crate::error::{Error, Result};
use crate::events::Counters;
use crate::health::Health;
use crate::runtime::{Runtime, Socket};

/// How often the background task tops the pool up to its minimum and purges idle
/// connections.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Node<R: Runtime> {
    pub(crate) index: usize,
    pub(crate) addr: NodeAddr,
    name: Arc<str>,
    runtime: R,
    config: Arc<Config>,
    health: Arc<Health>,
    pub(crate) counters: Arc<Counters>,
    state: Mutex<State>,
}

struct State {
    conns: Vec<OwnedConn>,
    connecting: usize,
    /// Requests waiting for the first connection, served in arrival order.
    waiters: VecDeque<oneshot::Sender<Result<Conn>>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Arc<io::Error>>,
    maintenance: bool,
    next: usize,
}

impl<R: Runtime> Node<R> {
    pub(crate) fn new(
        index: usize,
        addr: NodeAddr,
        runtime: R,
        config: Arc<Config>,
        health: Arc<Health>,
    ) -> Self {
        Node {
            index,
            name: addr.to_string().into(),
            addr,
            runtime,
            config,
            health,
            counters: Arc::default(),
            state: Mutex::new(State {
                conns: Vec::new(),
                connecting: 0,
                waiters: VecDeque::new(),
                failures: 0,
                retry_at: None,
                last_error: None,
                maintenance: false,
                next: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent; a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends one request and waits for its reply. A request that never reached the socket
    /// (its connection failed first) is sent again on another connection.
    pub(crate) async fn request(
        self: &Arc<Self>,
        bytes: Bytes,
        expect: Expect,
        patience: Option<Duration>,
        batch: Option<BatchKey>,
    ) -> Result<Reply> {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let (sender, receiver) = oneshot::channel();
            self.submit(Request {
                bytes: bytes.clone(),
                expect: expect.clone(),
                reply: Some(sender),
                patience,
                batch: batch.clone(),
            })
            .await?;
            match receiver.await {
                Ok(Outcome::Reply(reply)) => return Ok(reply),
                Ok(Outcome::Failed(error)) => return Err(error),
                Ok(Outcome::Unsent(error)) if attempt == ATTEMPTS => return Err(error),
                Ok(Outcome::Unsent(_)) => continue,
                Err(oneshot::Canceled) => return Err(self.lost("connection dropped the request")),
            }
        }
        Err(self.lost("connections kept closing"))
    }

    /// Queues a request on a connection; its reply, if any, goes where `request.reply` says.
    pub(crate) async fn submit(self: &Arc<Self>, mut request: Request) -> Result<()> {
        Counters::bump(&self.counters.requests);
        // A connection picked here can close before the request lands in it; a few
        // retries on a fresh pick cover that race.
        for _ in 0..3 {
            let conn = self.conn().await?;
            match conn.submit(request) {
                Ok(()) => return Ok(()),
                Err(returned) => request = *returned,
            }
        }
        Err(self.lost("connections kept closing"))
    }

    fn lost(&self, message: &str) -> Error {
        Error::ConnectionLost {
            node: self.name.to_string(),
            source: Arc::new(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                message.to_owned(),
            )),
        }
    }

    /// A connection to use now, opening one if needed.
    async fn conn(self: &Arc<Self>) -> Result<Conn> {
        let waiter = {
            let mut state = self.lock();
            self.start_maintenance(&mut state);
            self.forget_closed(&mut state);
            if let Some(conn) = pick(&mut state) {
                let backing_off = state.retry_at.is_some_and(|at| Instant::now() < at);
                if conn.in_flight() > 0
                    && !backing_off
                    && state.conns.len() + state.connecting < self.config.max_connections
                {
                    self.start_connect(&mut state);
                }
                return Ok(conn);
            }
            if state.connecting == 0 {
                if let (Some(retry_at), Some(error)) = (state.retry_at, &state.last_error) {
                    if Instant::now() < retry_at {
                        return Err(self.connect_error(error.clone()));
                    }
                }
                self.start_connect(&mut state);
            }
            let (sender, receiver) = oneshot::channel();
            state.waiters.push_back(sender);
            receiver
        };
        Counters::bump(&self.counters.requests_waited);
        match waiter.await {
            Ok(result) => result,
            Err(oneshot::Canceled) => Err(self.lost("connection attempt abandoned")),
        }
    }

    fn connect_error(&self, source: Arc<io::Error>) -> Error {
        Error::Connect {
            node: self.name.to_string(),
            source,
        }
    }

    fn forget_closed(&self, state: &mut State) {
        state.conns.retain(|owned| owned.conn().is_open());
    }

    fn start_connect(self: &Arc<Self>, state: &mut State) {
        state.connecting += 1;
        let node = Arc::downgrade(self);
        let runtime = self.runtime.clone();
        let attempt = self.open_socket();
        self.runtime.spawn(async move {
            let result = attempt.await;
            if let Some(node) = node.upgrade() {
                node.connected(result);
            }
            drop(runtime);
        });
    }

    /// Connects, authenticates if configured, bounded by the connect timeout.
    fn open_socket(
        &self,
    ) -> impl std::future::Future<Output = io::Result<Box<dyn Socket>>> + Send + 'static {
        let runtime = self.runtime.clone();
        let addr = self.addr.clone();
        let timeout = self.config.connect_timeout;
        let credentials = self.config.credentials.clone();
        #[cfg(feature = "tls")]
        let tls = self.config.tls.clone();
        async move {
            let connect = async {
                let (socket, host) = match &addr {
                    NodeAddr::Tcp { host, port } => {
                        (runtime.connect_tcp(host, *port).await?, Some(host.as_str()))
                    }
                    NodeAddr::Unix(path) => (runtime.connect_unix(path).await?, None),
                };
                #[cfg(feature = "tls")]
                let socket = match &tls {
                    Some(tls) => tls.connect(host, socket).await?,
                    None => socket,
                };
                #[cfg(not(feature = "tls"))]
                let _ = host;
                let mut socket = socket;
                if let Some((user, password)) = &credentials {
                    auth::authenticate(&mut socket, user, password).await?;
                }
                Ok(socket)
            };
            let timer = runtime.sleep(timeout);
            futures::pin_mut!(connect, timer);
            match select(connect, timer).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => {
                    Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
                }
            }
        }
    }

    fn connected(self: &Arc<Self>, result: io::Result<Box<dyn Socket>>) {
        let mut state = self.lock();
        state.connecting -= 1;
        match result {
            Ok(socket) => {
                let owned = conn::spawn(
                    &self.runtime,
                    socket,
                    self.name.clone(),
                    DriverConfig {
                        limits: self.config.limits,
                        autobatch_max_keys: self.config.autobatch_max_keys,
                        counters: self.counters.clone(),
                    },
                );
                Counters::bump(&self.counters.connections_created);
                self.counters.connections.fetch_add(1, Ordering::Relaxed);
                let conn = owned.conn().clone();
                state.conns.push(owned);
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                let waiters = std::mem::take(&mut state.waiters);
                // Reported under the lock, so that concurrent attempts report in order.
                self.health.report(self.index, true);
                drop(state);
                for waiter in waiters {
                    let _ = waiter.send(Ok(conn.clone()));
                }
            }
            Err(error) => {
                Counters::bump(&self.counters.connections_failed);
                let error = Arc::new(error);
                state.failures = state.failures.saturating_add(1);
                state.retry_at = Some(Instant::now() + self.config.backoff_after(state.failures));
                state.last_error = Some(error.clone());
                let unhealthy =
                    state.failures >= self.config.unhealthy_after && state.conns.is_empty();
                // Waiters exist only while the node has no connection: they fail now
                // rather than at their timeout.
                let waiters = if state.connecting == 0 {
                    std::mem::take(&mut state.waiters)
                } else {
                    VecDeque::new()
                };
                if unhealthy {
                    self.health.report(self.index, false);
                }
                drop(state);
                for waiter in waiters {
                    let _ = waiter.send(Err(self.connect_error(error.clone())));
                }
            }
        }
    }

    /// Opens the minimum number of connections and waits for the first outcome.
    pub(crate) async fn warm_up(self: &Arc<Self>) -> Result<()> {
        let wanted = self.config.min_connections.max(1);
        {
            let mut state = self.lock();
            self.start_maintenance(&mut state);
            while state.conns.len() + state.connecting < wanted {
                self.start_connect(&mut state);
            }
        }
        self.conn().await.map(drop)
    }

    fn start_maintenance(self: &Arc<Self>, state: &mut State) {
        if state.maintenance {
            return;
        }
        state.maintenance = true;
        let node = Arc::downgrade(self);
        let runtime = self.runtime.clone();
        let every = self
            .config
            .idle_timeout
            .map_or(MAINTENANCE_EVERY, |idle| idle.min(MAINTENANCE_EVERY));
        self.runtime.spawn(maintain(node, runtime, every));
    }

    /// Closes connections idle past the idle timeout (keeping the minimum) and reopens
    /// connections up to the minimum once the backoff allows.
    fn maintain(self: &Arc<Self>) {
        let mut state = self.lock();
        self.forget_closed(&mut state);
        let min = self.config.min_connections;
        if let Some(idle_timeout) = self.config.idle_timeout {
            let now = Instant::now();
            let mut index = 0;
            while state.conns.len() > min && index < state.conns.len() {
                let conn = state.conns[index].conn();
                if conn.in_flight() == 0 && now.duration_since(conn.last_active()) >= idle_timeout {
                    // Dropping the pool's handle lets the driver close the socket.
                    state.conns.swap_remove(index);
                } else {
                    index += 1;
                }
            }
        }
        // An unhealthy node may be purged from routing, and then no call tries it again:
        // keep probing it here, whatever the minimum, so that it can come back.
        let wanted = if self.health.is_healthy(self.index) {
            min
        } else {
            min.max(1)
        };
        let backing_off = state.retry_at.is_some_and(|at| Instant::now() < at);
        if !backing_off && state.connecting == 0 && state.conns.len() < wanted {
            self.start_connect(&mut state);
        }
    }
}

async fn maintain<R: Runtime>(node: Weak<Node<R>>, runtime: R, every: Duration) {
    loop {
        runtime.sleep(every).await;
        match node.upgrade() {
            Some(node) => node.maintain(),
            None => return,
        }
    }
}

/// The connection for the next request: one still carrying unanswered fire-and-forget
/// requests if there is one (so that a read after a `noreply` write is executed after it),
/// else the open connection with the fewest outstanding replies, rotating among equals.
fn pick(state: &mut State) -> Option<Conn> {
    let count = state.conns.len();
    if count == 0 {
        return None;
    }
    if let Some(owned) = state.conns.iter().find(|owned| owned.conn().has_detached()) {
        return Some(owned.conn().clone());
    }
    state.next = state.next.wrapping_add(1);
    let start = state.next % count;
    let mut best: Option<&Conn> = None;
    for offset in 0..count {
        let conn = state.conns[(start + offset) % count].conn();
        if best.is_none_or(|b| conn.in_flight() < b.in_flight()) {
            best = Some(conn);
            if conn.in_flight() == 0 {
                break;
            }
        }
    }
    best.cloned()
}
