//! The pool shell: one node's [`Pool`] state machine behind a lock, and the tasks it asks
//! for (connection attempts, drivers, periodic upkeep).
//!
//! Every spawned task reports its end through a drop guard, so a task that is dropped or
//! panics can never leave the pool counting an attempt that will not come back.

mod guards;
mod meta;

use self::guards::{aborted, ConnectGuard, Reschedule, Shutdown};
use self::meta::META_UNKNOWN;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{select, Either, FutureExt, Shared};

use crate::client::config::Config;
use crate::cluster::addr::NodeAddr;
use crate::cluster::health::Health;
use crate::engine::connection::{Connection, ConnectionConfig};
use crate::engine::pool::{Action, Placement, Pool};
use crate::engine::request::Submission;
use crate::engine::ConnCell;
use crate::error::{Error, Result};
use crate::io::connect::Connector;
use crate::io::driver;
use crate::io::runtime::{Runtime, Socket};
use crate::io::value_buffers::ValueBuffers;
use crate::observe::Counters;

pub(crate) struct Node<R: Runtime> {
    pub(crate) addr: NodeAddr,
    name: Arc<str>,
    runtime: R,
    connector: Connector<R>,
    connection: ConnectionConfig,
    close_grace: Duration,
    value_buffers: Arc<ValueBuffers>,
    /// Where the node reports its health: its place in the current membership, which
    /// changes when discovery adds or removes other nodes.
    seat: Mutex<Seat>,
    pub(crate) counters: Arc<Counters>,
    pool: Mutex<Pool>,
    upkeep_started: AtomicBool,
    /// Wakes the upkeep task when the pool's next timeout may have moved earlier.
    reschedule: Arc<Reschedule>,
    /// Whether the server knows meta commands: unknown until asked (see
    /// [`Node::meta_supported`]).
    meta: AtomicU8,
    shutdown: Shutdown,
    me: Weak<Node<R>>,
}

impl<R: Runtime> Node<R> {
    pub(crate) fn new(
        index: usize,
        addr: NodeAddr,
        runtime: R,
        config: &Config,
        health: Arc<Health>,
    ) -> Arc<Self> {
        let name: Arc<str> = addr.to_string().into();
        let counters = Arc::new(Counters::new(&name));
        let connector = Connector {
            runtime: runtime.clone(),
            addr: addr.clone(),
            timeout: config.connect_timeout,
            options: config.socket,
            credentials: config.credentials.clone(),
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
        };
        Arc::new_cyclic(|me| Node {
            pool: Mutex::new(Pool::new(name.clone(), config.pool.clone())),
            name,
            addr,
            runtime,
            connector,
            connection: config.connection.clone(),
            close_grace: config.close_grace,
            value_buffers: config.value_buffers.clone(),
            seat: Mutex::new(Seat { index, health }),
            counters,
            upkeep_started: AtomicBool::new(false),
            reschedule: Arc::default(),
            meta: AtomicU8::new(META_UNKNOWN),
            shutdown: Shutdown::new(),
            me: me.clone(),
        })
    }

    /// The node's place in its membership, locked: health reports wait while a new
    /// membership takes the node over, so none lands on the old one after its state was
    /// carried over.
    pub(crate) fn lock_seat(&self) -> MutexGuard<'_, Seat> {
        self.seat
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        // Every critical section leaves the pool consistent; a poisoned lock is usable.
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The node's name, as configured.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Waits until the pool says to try again, failing with [`Error::Timeout`] at
    /// `deadline`. A wake-up that arrives as the deadline passes is handed on to the next
    /// waiter instead of being lost.
    async fn wait_until(
        &self,
        mut room: oneshot::Receiver<Result<()>>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let Some(deadline) = deadline else {
            return room.await.unwrap_or(Err(Error::Closed));
        };
        let left = deadline.saturating_duration_since(self.runtime.now());
        let timer = self.runtime.sleep(left);
        futures::pin_mut!(timer);
        match select(timer, &mut room).await {
            Either::Left(_) => {
                room.close();
                if let Ok(Some(Ok(()))) = room.try_recv() {
                    self.room(1);
                }
                Err(Error::Timeout {
                    node: self.name.to_string(),
                    written: false,
                })
            }
            Either::Right((Ok(result), _)) => result,
            Either::Right((Err(oneshot::Canceled), _)) => Err(Error::Closed),
        }
    }

    /// Hands `request` to the pool: placed on a connection, or told to wait for room, or
    /// refused.
    pub(crate) fn place(&self, request: Submission, wait: bool, now: Instant) -> Placement {
        self.start_upkeep();
        self.with_pool_at(now, |pool, now| pool.submit(now, request, wait))
    }

    /// Runs `f` on the pool under its lock, then carries out the actions it asked for
    /// with the lock released: spawning a task may drop it on the spot (a runtime shutting
    /// down does), and its drop guard reports back into the pool; health listeners are user
    /// code.
    fn with_pool<T>(&self, f: impl FnOnce(&mut Pool, Instant) -> T) -> T {
        self.with_pool_at(self.runtime.now(), f)
    }

    /// [`Node::with_pool`] at `now`, a reading of the runtime's clock just taken.
    fn with_pool_at<T>(&self, now: Instant, f: impl FnOnce(&mut Pool, Instant) -> T) -> T {
        let (result, actions) = {
            let mut pool = self.lock();
            let result = f(&mut pool, now);
            (result, pool.take_actions())
        };
        for action in actions {
            match action {
                Action::Connect => self.spawn_connect(),
                Action::Health { healthy, epoch } => {
                    let seat = self.lock_seat();
                    seat.health.report(seat.index, healthy, epoch);
                }
                Action::Wake(cell) => cell.wake(),
                Action::Reschedule => self.reschedule.ask(),
            }
        }
        result
    }

    fn spawn_connect(&self) {
        let guard = ConnectGuard {
            node: self.me.clone(),
            reported: false,
        };
        let attempt = self.connector.open();
        let shutdown = self.shutdown.signal();
        let runtime = self.runtime.clone();
        let name = self.name.clone();
        self.runtime.spawn(async move {
            let started = runtime.now();
            futures::pin_mut!(attempt);
            let result = match select(attempt, shutdown).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => Err(aborted(&name, "client closed")),
            };
            let elapsed = runtime.now().saturating_duration_since(started);
            guard.report(result, Some(elapsed));
        });
    }

    /// A connection attempt ended, `elapsed` after it started (`None` when its task ended
    /// without a result).
    fn connected(&self, result: Result<Box<dyn Socket>>, elapsed: Option<Duration>) {
        let established = self.with_pool(|pool, now| match result {
            Ok(socket) => {
                let cell = ConnCell::new(Connection::new(self.name.clone(), &self.connection, now));
                // Counted before the pool wakes anyone, so a woken caller sees it.
                self.counters.opened(elapsed);
                if pool.connected(cell.clone()) {
                    Some((socket, cell))
                } else {
                    self.counters.closed();
                    None
                }
            }
            Err(error) => {
                self.counters.open_failed(elapsed);
                pool.connect_failed(now, error);
                None
            }
        });
        // Requests placed on the connection meanwhile wait in its queue for the driver.
        if let Some((socket, cell)) = established {
            driver::spawn(
                &self.runtime,
                socket,
                cell,
                self.me.clone(),
                self.counters.clone(),
                self.value_buffers.clone(),
            );
        }
    }

    /// A driver ended; `unsent` fire-and-forget requests it never wrote go elsewhere if a
    /// connection can take them now.
    ///
    /// Those no connection takes (the client is closing, or the node has no connection
    /// left) are dropped: counted, and reported as a tracing event.
    ///
    /// With `holds` (the connection drains its socket next), the pool holds those keys and
    /// counts the drain until [`Node::drain_ended`]: closing the node waits for it.
    pub(crate) fn conn_closed(
        &self,
        cell: &Arc<ConnCell>,
        unsent: Vec<Submission>,
        holds: Option<&[u64]>,
    ) {
        let mut dropped = None;
        let placed = self.with_pool(|pool, now| {
            // Held first: unsent requests for those keys must wait for the drain.
            if let Some(holds) = holds {
                pool.drain_started(holds);
            }
            pool.conn_closed(now, cell);
            let mut placed = Vec::new();
            for request in unsent {
                match pool.submit(now, request, false) {
                    Placement::Placed(cell) => placed.push(cell),
                    Placement::Deferred => {}
                    Placement::Failed(error) => {
                        let (count, _) = dropped.get_or_insert((0u64, error));
                        *count += 1;
                    }
                    Placement::Wait(_) => {
                        let (count, _) = dropped.get_or_insert((0u64, Error::NoAvailableNodes));
                        *count += 1;
                    }
                }
            }
            // Counted before the pool's actions run: one of them may tell a closing
            // client that the node is drained, and its metrics must then be final.
            if let Some((count, _)) = &dropped {
                self.counters.writes_dropped(*count);
            }
            placed
        });
        for cell in placed {
            cell.wake();
        }
        if let Some((count, reason)) = dropped {
            crate::observe::writes_dropped(&self.name, count, &reason);
        }
    }

    /// A closed connection finished draining: the keys it held are free again, and the
    /// requests deferred behind them are placed.
    pub(crate) fn drain_ended(&self, holds: &[u64]) {
        let dropped = self.with_pool(|pool, now| pool.drain_ended(now, holds));
        if dropped > 0 {
            self.dropped_writes(dropped as u64, &Error::Closed);
        }
    }

    /// `count` fire-and-forget writes no connection would take: counted and traced.
    fn dropped_writes(&self, count: u64, reason: &Error) {
        self.counters.writes_dropped(count);
        crate::observe::writes_dropped(&self.name, count, reason);
    }

    /// `freed` budget slots opened on a connection: hand them to waiting callers.
    pub(crate) fn room(&self, freed: usize) {
        self.lock().room(freed);
    }

    /// Starts the task that runs the pool's upkeep when [`Pool::poll_timeout`] says,
    /// rescheduling whenever the pool asks. It holds the node only while it works, so the
    /// node's last handle going away still closes it.
    fn start_upkeep(&self) {
        if self.upkeep_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let node = self.me.clone();
        let runtime = self.runtime.clone();
        let shutdown = self.shutdown.signal();
        let reschedule = self.reschedule.clone();
        self.runtime.spawn(async move {
            futures::pin_mut!(shutdown);
            loop {
                let Some(next) = node.upgrade().map(|node| node.next_upkeep()) else {
                    return;
                };
                let timer = async {
                    match next {
                        Some(wait) => runtime.sleep(wait).await,
                        None => futures::future::pending().await,
                    }
                };
                let asked = reschedule.asked();
                futures::pin_mut!(timer, asked);
                match select(select(timer, asked), shutdown.as_mut()).await {
                    Either::Right(_) => return,
                    // Asked to reschedule: work out the next timeout again.
                    Either::Left((Either::Right(_), _)) => {}
                    Either::Left((Either::Left(_), _)) => match node.upgrade() {
                        Some(node) => node.upkeep(),
                        None => return,
                    },
                }
            }
        });
    }

    /// How long until the pool's next upkeep; `None` while it needs none.
    fn next_upkeep(&self) -> Option<Duration> {
        self.with_pool(|pool, now| {
            pool.poll_timeout(now)
                .map(|at| at.saturating_duration_since(now))
        })
    }

    fn upkeep(&self) {
        self.with_pool(|pool, now| pool.handle_timeout(now));
    }

    /// Opens the minimum number of connections and waits for the first outcome.
    pub(crate) async fn warm_up(&self) -> Result<()> {
        self.start_upkeep();
        let waiter = self.with_pool(|pool, _| {
            pool.warm_up();
            pool.wait_connected()
        });
        match waiter {
            None => Ok(()),
            // No request waits here: neither counted nor timed as one.
            Some(waiter) => self.wait_until(waiter, None).await,
        }
    }

    /// Starts a graceful close (see [`Pool::close`]): requests in flight have the close
    /// grace to finish. Ends the background tasks.
    pub(crate) fn close(&self) {
        let grace = self.close_grace;
        self.with_pool(|pool, now| pool.close(now.checked_add(grace)));
        self.shutdown.trigger();
    }

    /// Fails what is still in flight and closes every connection now.
    pub(crate) fn abort(&self) {
        self.with_pool(|pool, _| pool.abort());
    }

    /// Completes once the node is closed and every connection has ended.
    pub(crate) fn drained(&self) -> oneshot::Receiver<()> {
        self.lock().on_drained()
    }

    pub(crate) fn lost(&self, message: &str) -> Error {
        Error::ConnectionLost {
            node: self.name.to_string(),
            source: Arc::new(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                message.to_owned(),
            )),
        }
    }
}

impl<R: Runtime> Drop for Node<R> {
    /// The last client handle is gone: close gracefully, without waiting.
    fn drop(&mut self) {
        self.close();
    }
}

/// A node's place in a membership.
pub(crate) struct Seat {
    pub(crate) index: usize,
    pub(crate) health: Arc<Health>,
}
