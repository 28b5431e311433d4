//! One node's connections as a state machine: placement by load, lazy growth, reconnect
//! backoff, health, idle purge, waiting callers and graceful close.
//!
//! Like [`Connection`], it does no I/O and reads no clock: the node shell passes `now` in,
//! reports connect results and closed connections, and carries out the [`Action`]s it
//! returns (open a connection, report health, wake a driver).
//!
//! Its one invariant: while callers wait, something is on its way to wake them — an open
//! connection whose replies will free room, or a connection attempt whose result will.
//! Every event re-establishes it ([`Pool::ensure_progress`]), so no caller waits forever
//! on a pool that has nothing left to give.

mod config;
mod drains;
mod timers;

pub(crate) use self::config::{jittered, PoolConfig};

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use crate::engine::connection::{KeyHashHasher, Refusal, Refused};
use crate::engine::request::Submission;
use crate::engine::ConnCell;
use crate::error::Error;

/// What the shell must do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Open one connection and report the result with [`Pool::connected`] or
    /// [`Pool::connect_failed`].
    Connect,
    /// The node turned healthy or unhealthy. `epoch` orders reports, which the shell
    /// carries out outside the pool's lock: a report older than one already applied is
    /// stale.
    Health { healthy: bool, epoch: u64 },
    /// Wake this connection's driver (it has something new to do, such as closing).
    Wake(Arc<ConnCell>),
    /// The pool's next timeout may have moved earlier: ask [`Pool::poll_timeout`] again.
    Reschedule,
}

/// Where a request went.
#[derive(Debug)]
pub(crate) enum Placement {
    /// Queued on this connection: wake its driver.
    Placed(Arc<ConnCell>),
    /// No connection can take it now. The receiver completes when one may (try again), or
    /// with the error that ends the wait.
    Wait(oneshot::Receiver<Result<(), Error>>),
    /// It cannot be sent.
    Failed(Error),
    /// A fire-and-forget request for a key that a draining connection holds: kept, and
    /// placed once that drain ends.
    Deferred,
}

/// What [`Pool::scan`] found.
struct Scan {
    /// Connections holding an unanswered `noreply` request for one of the keys.
    holders: usize,
    /// One of them.
    holder: Option<Arc<ConnCell>>,
    /// The least loaded connection that takes requests now.
    least_loaded: Option<Arc<ConnCell>>,
}

/// One node's pool.
#[derive(Debug)]
pub(crate) struct Pool {
    node: Arc<str>,
    config: PoolConfig,
    conns: Vec<Arc<ConnCell>>,
    connecting: usize,
    /// Closed connections still draining their sockets.
    draining: usize,
    /// The keys those connections hold (hash -> how many hold it): requests for them wait
    /// until the drains end, so none reaches the server before a write that a draining
    /// socket may still deliver.
    held: HashMap<u64, usize, BuildHasherDefault<KeyHashHasher>>,
    /// Fire-and-forget requests for held keys, placed when their holds are released.
    deferred: Vec<Submission>,
    waiters: VecDeque<oneshot::Sender<Result<(), Error>>>,
    failures: u32,
    /// While the node is down: when the next probe may start.
    retry_at: Option<Instant>,
    /// After a failed attempt that did not take the node down: when upkeep may reopen
    /// connections up to the minimum (callers waiting for one do not wait for this).
    reopen_at: Option<Instant>,
    /// The last connect failure, as callers are told it while the node backs off.
    last_error: Option<Error>,
    healthy: bool,
    closing: bool,
    drained: Vec<oneshot::Sender<()>>,
    health_epoch: u64,
    /// Rotates placement among equally loaded connections.
    next: usize,
    actions: Vec<Action>,
}

impl Pool {
    pub(crate) fn new(node: Arc<str>, config: PoolConfig) -> Self {
        Pool {
            node,
            config,
            conns: Vec::new(),
            connecting: 0,
            draining: 0,
            held: HashMap::default(),
            deferred: Vec::new(),
            waiters: VecDeque::new(),
            failures: 0,
            retry_at: None,
            reopen_at: None,
            last_error: None,
            healthy: true,
            closing: false,
            drained: Vec::new(),
            health_epoch: 0,
            next: 0,
            actions: Vec::new(),
        }
    }

    /// What the shell must do, in order.
    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Places `request` on a connection. Without `wait`, a node whose connections are all
    /// at their budget fails the request with [`Error::Overloaded`] instead of queueing the
    /// caller.
    pub(crate) fn submit(&mut self, now: Instant, request: Submission, wait: bool) -> Placement {
        if self.closing {
            return Placement::Failed(Error::Closed);
        }
        if self.is_held(&request) {
            if request.is_detached() {
                self.deferred.push(request);
                return Placement::Deferred;
            }
            // Its drain's end wakes this caller; its own deadline bounds the wait.
            return if wait {
                self.register_waiter()
            } else {
                Placement::Failed(Error::Overloaded {
                    node: self.node.to_string(),
                })
            };
        }
        let Scan {
            holders,
            holder,
            least_loaded,
        } = self.scan(now, &request);
        let mut request = request;
        if holders > 1 {
            // Writes to these keys are outstanding on several connections: no single one
            // orders the request after all of them. Their replies will wake this caller.
            return self.register_waiter();
        }
        // Read-your-writes: follow an unanswered `noreply` request for one of these keys.
        if let Some(held) = holder.and_then(|cell| self.index_of(&cell)) {
            match self.try_place(now, held, request) {
                Ok(placement) => return placement,
                Err(refused) if refused.reason == Refusal::Closed => request = refused.request,
                Err(_) => return self.wait_for_room(now, wait),
            }
        }
        if let Some(best) = least_loaded.and_then(|cell| self.index_of(&cell)) {
            match self.try_place(now, best, request) {
                Ok(placement) => return placement,
                Err(refused) => request = refused.request,
            }
        }
        // The driver of the chosen connection changed its state meanwhile (rare): try the
        // others in turn.
        for index in 0..self.conns.len() {
            match self.try_place(now, index, request) {
                Ok(placement) => return placement,
                Err(refused) => request = refused.request,
            }
        }
        drop(request);
        self.wait_for_room(now, wait)
    }

    /// One pass over the connections, each locked once: which hold the request's keys,
    /// and the least loaded one that takes requests now (rotating among equals).
    fn scan(&mut self, now: Instant, request: &Submission) -> Scan {
        let count = self.conns.len();
        let mut scan = Scan {
            holders: 0,
            holder: None,
            least_loaded: None,
        };
        if count == 0 {
            return scan;
        }
        self.next = self.next.wrapping_add(1);
        let start = self.next % count;
        let mut least: Option<usize> = None;
        for offset in 0..count {
            let cell = &self.conns[(start + offset) % count];
            let mut conn = cell.lock();
            if conn.is_closed() {
                continue;
            }
            if conn.holds_any(&request.affinity) {
                scan.holders += 1;
                scan.holder = Some(cell.clone());
            }
            if conn.refusal(now).is_none() && least.is_none_or(|least| conn.load() < least) {
                least = Some(conn.load());
                scan.least_loaded = Some(cell.clone());
            }
        }
        scan
    }

    /// Where `cell` is in the pool now.
    fn index_of(&self, cell: &Arc<ConnCell>) -> Option<usize> {
        self.conns.iter().position(|conn| Arc::ptr_eq(conn, cell))
    }

    fn try_place(
        &mut self,
        now: Instant,
        index: usize,
        request: Submission,
    ) -> Result<Placement, Box<Refused>> {
        let cell = self.conns[index].clone();
        let mut conn = cell.lock();
        let was_busy = conn.load() > 0;
        match conn.submit(now, request) {
            Ok(()) => {
                drop(conn);
                if was_busy {
                    // Every connection we could pick is busy: grow toward the maximum.
                    self.grow(now);
                }
                Ok(Placement::Placed(cell))
            }
            Err(refused) => Err(refused),
        }
    }

    /// Nothing took the request: open a connection if that helps, then wait or fail.
    fn wait_for_room(&mut self, now: Instant, wait: bool) -> Placement {
        let open = self.open_count();
        if open == 0 && self.connecting == 0 {
            if let Some(error) = self.backoff_error(now) {
                return Placement::Failed(error);
            }
            self.start_connect();
        } else {
            // Grow only when the open connections are all busy: a connection already on
            // its way serves the callers waiting for the first one.
            if open > 0 {
                self.grow(now);
            }
            if open > 0 && !wait {
                return Placement::Failed(Error::Overloaded {
                    node: self.node.to_string(),
                });
            }
        }
        self.register_waiter()
    }

    fn register_waiter(&mut self) -> Placement {
        let (sender, receiver) = oneshot::channel();
        if self.waiters.len() >= 64 && self.waiters.len().is_power_of_two() {
            self.waiters.retain(|waiter| !waiter.is_canceled());
        }
        self.waiters.push_back(sender);
        Placement::Wait(receiver)
    }

    /// Starts a connection if below the maximum and not backing off.
    fn grow(&mut self, now: Instant) {
        let backing_off = self.retry_at.is_some_and(|at| now < at);
        if !backing_off && self.conns.len() + self.connecting < self.config.max {
            self.start_connect();
        }
    }

    fn start_connect(&mut self) {
        self.connecting += 1;
        self.actions.push(Action::Connect);
    }

    /// The error for a node that is backing off after failed connects, if it is.
    fn backoff_error(&self, now: Instant) -> Option<Error> {
        match (self.retry_at, &self.last_error) {
            (Some(at), Some(error)) if now < at => Some(error.clone()),
            _ => None,
        }
    }

    fn open_count(&self) -> usize {
        self.conns
            .iter()
            .filter(|cell| cell.lock().is_open())
            .count()
    }

    /// `answered` requests finished on some connection: as many waiting callers may now
    /// find room.
    pub(crate) fn room(&mut self, answered: usize) {
        let mut woken = 0;
        while woken < answered {
            let Some(waiter) = self.waiters.pop_front() else {
                break;
            };
            if waiter.send(Ok(())).is_ok() {
                woken += 1;
            }
        }
    }

    /// A connection attempt succeeded. Returns `false` when the pool no longer wants it
    /// (it is closing): the shell closes the connection.
    pub(crate) fn connected(&mut self, cell: Arc<ConnCell>) -> bool {
        self.connecting = self.connecting.saturating_sub(1);
        if self.closing {
            self.check_drained();
            return false;
        }
        self.conns.push(cell);
        self.failures = 0;
        self.retry_at = None;
        self.reopen_at = None;
        // One more connection may be idle later.
        self.actions.push(Action::Reschedule);
        self.last_error = None;
        self.healthy = true;
        // Reported on every success, so the shell's view settles on the latest outcome.
        self.report_health(true);
        self.wake_all(Ok(()));
        true
    }

    /// A connection attempt failed with `error` (an [`Error::Connect`] or [`Error::Auth`]
    /// naming the node).
    ///
    /// One failed attempt is not a node down: a fresh attempt starts at once for the callers
    /// waiting for a connection (their requests were never written, and their deadlines
    /// still bound the wait). After [`PoolConfig::unhealthy_after`] consecutive failures
    /// (or one refusal of the credentials, which no retry fixes) the node is down: waiting
    /// callers fail with `error`, calls fail at once, and one probe goes through per
    /// backoff, the backoff doubling with each failed probe. One successful probe brings the
    /// node back ([`Pool::connected`]).
    pub(crate) fn connect_failed(&mut self, now: Instant, error: Error) {
        self.connect_failed_with(now, error, crate::client::retry::random());
    }

    /// [`Pool::connect_failed`], with the random number that jitters the backoff.
    pub(crate) fn connect_failed_with(&mut self, now: Instant, error: Error, random: u64) {
        self.connecting = self.connecting.saturating_sub(1);
        if self.closing {
            // Attempts cut short by the close say nothing about the node's health.
            self.check_drained();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        self.last_error = Some(error.clone());
        self.actions.push(Action::Reschedule);
        let threshold = self.config.unhealthy_after.max(1);
        let down = self.failures >= threshold || matches!(error, Error::Auth { .. });
        let open = self.open_count();
        if !down {
            self.retry_at = None;
            let delay = jittered(self.config.backoff_after(1), random).max(timers::UPKEEP_FLOOR);
            self.reopen_at = Some(later(now, delay));
            self.waiters.retain(|waiter| !waiter.is_canceled());
            if open == 0 && self.connecting == 0 && !self.waiters.is_empty() {
                self.start_connect();
            }
            self.check_drained();
            return;
        }
        let down_for = self.failures.saturating_sub(threshold) + 1;
        let delay = jittered(self.config.backoff_after(down_for), random);
        self.retry_at = Some(later(now, delay));
        if open == 0 && self.healthy {
            self.healthy = false;
            self.report_health(false);
        }
        if open == 0 && self.connecting == 0 {
            self.wake_all(Err(error));
        }
        self.check_drained();
    }

    /// Whether the node is down: consecutive failed attempts reached the threshold and
    /// its backoff has not yet let the next probe through.
    #[cfg(test)]
    pub(crate) fn is_down(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now < at)
    }

    /// A connection's driver ended. A closed connection stays in the pool until then, so
    /// a close of the pool waits for it.
    pub(crate) fn conn_closed(&mut self, now: Instant, cell: &Arc<ConnCell>) {
        self.conns.retain(|other| !Arc::ptr_eq(other, cell));
        // Below the minimum now, perhaps.
        self.actions.push(Action::Reschedule);
        self.ensure_progress(now);
        self.check_drained();
    }

    /// Keeps the invariant: waiting callers always have an open connection or a connect
    /// attempt coming for them, or they fail now.
    fn ensure_progress(&mut self, now: Instant) {
        if self.waiters.is_empty() || self.closing {
            return;
        }
        if self.open_count() > 0 || self.connecting > 0 {
            return;
        }
        match self.backoff_error(now) {
            Some(error) => self.wake_all(Err(error)),
            None => self.start_connect(),
        }
    }

    fn report_health(&mut self, healthy: bool) {
        self.health_epoch += 1;
        self.actions.push(Action::Health {
            healthy,
            epoch: self.health_epoch,
        });
    }

    fn wake_all(&mut self, result: Result<(), Error>) {
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(result.clone());
        }
        if self.waiters.capacity() > 1024 {
            self.waiters = VecDeque::new();
        }
    }

    /// Opens the minimum number of connections (at least one) now.
    pub(crate) fn warm_up(&mut self) {
        self.actions.push(Action::Reschedule);
        let wanted = self.config.min.max(1);
        while !self.closing && self.conns.len() + self.connecting < wanted {
            self.start_connect();
        }
    }

    /// `None` when a connection is open now; else a receiver completing with the next
    /// connect outcome that decides it.
    pub(crate) fn wait_connected(&mut self) -> Option<oneshot::Receiver<Result<(), Error>>> {
        if self.open_count() > 0 {
            return None;
        }
        if self.closing {
            let (sender, receiver) = oneshot::channel();
            let _ = sender.send(Err(Error::Closed));
            return Some(receiver);
        }
        if self.connecting == 0 {
            self.start_connect();
        }
        let (sender, receiver) = oneshot::channel();
        self.waiters.push_back(sender);
        Some(receiver)
    }

    /// Starts a graceful close: no new requests, waiting callers fail with
    /// [`Error::Closed`], connections close once their requests are answered, or at
    /// `close_by` with what is left failing with [`Error::Closed`].
    pub(crate) fn close(&mut self, close_by: Option<Instant>) {
        if std::mem::replace(&mut self.closing, true) {
            return;
        }
        self.wake_all(Err(Error::Closed));
        for cell in &self.conns {
            cell.lock().finish(close_by);
            self.actions.push(Action::Wake(cell.clone()));
        }
        self.check_drained();
    }

    /// Ends a close whose grace ran out: what is still in flight fails with
    /// [`Error::Closed`].
    pub(crate) fn abort(&mut self) {
        self.close(None);
        for cell in &self.conns {
            // The callers are failed here; the driver sees the connection closed and ends.
            let _ = cell.lock().close(Error::Closed);
            self.actions.push(Action::Wake(cell.clone()));
        }
    }

    /// Completes once the pool is closed and every connection, drain and attempt has
    /// ended.
    pub(crate) fn on_drained(&mut self) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.drained.push(sender);
        self.check_drained();
        receiver
    }

    fn check_drained(&mut self) {
        if self.closing && self.conns.is_empty() && self.connecting == 0 && self.draining == 0 {
            for sender in self.drained.drain(..) {
                let _ = sender.send(());
            }
        }
    }

    /// The connections, for inspection.
    #[cfg(test)]
    pub(crate) fn connections(&self) -> &[Arc<ConnCell>] {
        &self.conns
    }

    /// Callers waiting for room.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }
}

/// `now + delay`, saturating far in the future instead of overflowing.
pub(crate) fn later(now: Instant, delay: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(delay)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}
