//! A node's pool, its connections and a scripted memcached server wired together in
//! virtual time, as quinn-proto's `Pair` wires two endpoints: the engine driven exactly as
//! the I/O shells drive it, by events, with no sockets, no tasks and no clock.
//!
//! [`Pair::run`] plays a sequence of [`Event`]s (submits, writes, partial reads, time
//! passing, cancellations, lost connections, connect outcomes, a server that answers for
//! the wrong key) and checks the engine's invariants after every one of them:
//! - no caller ever receives a reply to another caller's request;
//! - every caller whose request is on a connection completes by its deadline;
//! - no connection holds more requests than its budget allows.
//!
//! The engine's tests replay chosen and pseudo-random sequences on it, and the `engine`
//! cargo-fuzz target feeds it arbitrary ones (through `memcache_core::fuzzing`).

// Public for the fuzz target (`memcache_core::fuzzing`); only the tests see it otherwise.
#![cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures::channel::oneshot;
use memproto::{Command, Encoder, Limits, Reply, Retrieve, RetrieveKind, Store, StoreMode};

use super::connection::{Budget, Connection, ConnectionConfig};
use super::payload::Payload;
use super::pool::{Action, Placement, Pool, PoolConfig};
use super::reply::{self, ReplyReceiver};
use super::request::{Affinity, Expects, Outcome, Submission};
use super::ConnCell;
use crate::error::Error;

/// Requests one connection may hold at once: small, so that callers wait for room.
const BUDGET: usize = 3;

/// Keys the events pick from: few, so that requests for one key meet.
const KEYS: usize = 6;

/// One thing that happens to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Each variant's documentation says what its fields mean.
#[allow(missing_docs)]
pub enum Event {
    /// A caller asks for key `key % KEYS`, giving up after `timeout_ms` (never for 0),
    /// waiting for room or not.
    Get { key: u8, timeout_ms: u8, wait: bool },
    /// A fire-and-forget `set` of key `key % KEYS`.
    SetNoreply { key: u8 },
    /// Connection `link` writes what it has.
    Transmit { link: u8 },
    /// The server answers what it has read on connection `link`, and up to `bytes` bytes
    /// of its answers reach the client.
    Serve { link: u8, bytes: u8 },
    /// The server answers the next `get` on connection `link` with another key's value.
    Misreply { link: u8 },
    /// `ms` milliseconds pass; every timer due fires.
    Advance { ms: u8 },
    /// Caller `caller` gives up (drops its future).
    Cancel { caller: u8 },
    /// Connection `link` fails (reset by the peer).
    Lose { link: u8 },
    /// The oldest connection attempt ends, in success or failure.
    Connect { ok: bool },
}

impl Event {
    /// Reads events from arbitrary bytes, three at a time.
    pub fn parse(data: &[u8]) -> Vec<Event> {
        data.chunks_exact(3)
            .map(|chunk| {
                let (a, b) = (chunk[1], chunk[2]);
                match chunk[0] % 10 {
                    0 | 1 => Event::Get {
                        key: a,
                        timeout_ms: b >> 1,
                        wait: b & 1 == 1,
                    },
                    2 => Event::SetNoreply { key: a },
                    3 => Event::Transmit { link: a },
                    4 => Event::Serve { link: a, bytes: b },
                    5 => Event::Misreply { link: a },
                    6 => Event::Advance { ms: b },
                    7 => Event::Cancel { caller: a },
                    8 => Event::Lose { link: a },
                    _ => Event::Connect { ok: b % 4 != 0 },
                }
            })
            .collect()
    }
}

/// The pool, its connections, the server and the callers.
pub struct Pair {
    now: Instant,
    pool: Pool,
    config: ConnectionConfig,
    links: Vec<Link>,
    /// Connection attempts asked for and not yet ended.
    connecting: usize,
    callers: Vec<Caller>,
    /// Callers answered with their key's value, and callers failed.
    answered: usize,
    failed: usize,
}

/// One connection and the scripted server's end of it.
struct Link {
    cell: Arc<ConnCell>,
    /// Written by the client, not yet read by the server.
    to_server: BytesMut,
    /// Answered by the server, not yet read by the client.
    to_client: BytesMut,
    /// Read by the client, not yet decoded.
    read_buf: BytesMut,
    /// The next `get` is answered with another key's value.
    misreply: bool,
    /// Whether values' data blocks are gathered apart from the read buffer and handed
    /// over whole, as the driver does for large values (every other connection).
    hands_blocks_over: bool,
    /// The data block being gathered, and its length.
    block: Option<(Vec<u8>, usize)>,
}

struct Caller {
    key: usize,
    deadline: Option<Instant>,
    state: CallerState,
}

enum CallerState {
    /// Waiting for room on the node.
    Waiting(oneshot::Receiver<Result<(), Error>>),
    /// On a connection, waiting for the reply.
    Placed(ReplyReceiver),
    Done,
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

impl Pair {
    /// A node with no connection yet; its pool grows up to two.
    pub fn new() -> Self {
        let config = ConnectionConfig {
            limits: Limits::for_max_item_size(64 * 1024),
            budget: Budget {
                requests: BUDGET,
                bytes: 1 << 20,
            },
            autobatch_max_keys: None,
            coalesce_writes: true,
        };
        let pool_config = PoolConfig {
            min: 0,
            max: 2,
            idle_timeout: Some(Duration::from_millis(500)),
            backoff: (Duration::from_millis(20), Duration::from_millis(200)),
            unhealthy_after: 2,
        };
        Pair {
            now: Instant::now(),
            pool: Pool::new("pair".into(), pool_config),
            config,
            links: Vec::new(),
            connecting: 0,
            callers: Vec::new(),
            answered: 0,
            failed: 0,
        }
    }

    /// Plays `events`, checking the invariants after each.
    ///
    /// # Panics
    /// When an invariant breaks: that is what the fuzz target looks for.
    pub fn run(&mut self, events: &[Event]) {
        for &event in events {
            self.step(event);
            self.settle();
            self.check();
        }
    }

    fn step(&mut self, event: Event) {
        match event {
            Event::Get {
                key,
                timeout_ms,
                wait,
            } => {
                let key = usize::from(key) % KEYS;
                let deadline = (timeout_ms > 0)
                    .then(|| self.now + Duration::from_millis(u64::from(timeout_ms)));
                self.callers.push(Caller {
                    key,
                    deadline,
                    state: CallerState::Done,
                });
                let caller = self.callers.len() - 1;
                self.place(caller, wait);
            }
            Event::SetNoreply { key } => {
                let request = set_noreply(usize::from(key) % KEYS);
                let _ = self.pool.submit(self.now, request, false);
            }
            Event::Transmit { link } => {
                if let Some(index) = self.link(link) {
                    let link = &mut self.links[index];
                    let freed = link
                        .cell
                        .lock()
                        .poll_transmit(self.now, &mut link.to_server);
                    self.pool.room(freed);
                }
            }
            Event::Serve { link, bytes } => {
                if let Some(index) = self.link(link) {
                    self.serve(index, usize::from(bytes));
                }
            }
            Event::Misreply { link } => {
                if let Some(index) = self.link(link) {
                    self.links[index].misreply = true;
                }
            }
            Event::Advance { ms } => {
                self.now += Duration::from_millis(u64::from(ms));
                self.fire_timers();
            }
            Event::Cancel { caller } => {
                if !self.callers.is_empty() {
                    let index = usize::from(caller) % self.callers.len();
                    self.cancel(index);
                }
            }
            Event::Lose { link } => {
                if let Some(index) = self.link(link) {
                    let error = Error::ConnectionLost {
                        node: "pair".into(),
                        source: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
                    };
                    self.end(index, error, false);
                }
            }
            Event::Connect { ok } => {
                if self.connecting > 0 {
                    self.connecting -= 1;
                    if ok {
                        let cell =
                            ConnCell::new(Connection::new("pair".into(), &self.config, self.now));
                        if self.pool.connected(cell.clone()) {
                            let hands_blocks_over = self.links.len() % 2 == 0;
                            self.links.push(Link {
                                cell,
                                to_server: BytesMut::new(),
                                to_client: BytesMut::new(),
                                read_buf: BytesMut::new(),
                                misreply: false,
                                hands_blocks_over,
                                block: None,
                            });
                        }
                    } else {
                        let error = Error::Connect {
                            node: "pair".into(),
                            source: Arc::new(std::io::Error::from(
                                std::io::ErrorKind::ConnectionRefused,
                            )),
                        };
                        self.pool.connect_failed_with(self.now, error, 0);
                    }
                }
            }
        }
    }

    /// Submits caller `caller`'s request, as [`crate::client::execute::Pending`] does.
    fn place(&mut self, caller: usize, wait: bool) {
        let (request, receiver) = get(self.callers[caller].key, self.callers[caller].deadline);
        self.callers[caller].state = match self.pool.submit(self.now, request, wait) {
            Placement::Placed(_) => CallerState::Placed(receiver),
            Placement::Wait(room) => CallerState::Waiting(room),
            Placement::Failed(_) | Placement::Deferred => CallerState::Done,
        };
    }

    /// The caller gives up; a wake-up it was handed goes to the next waiter.
    fn cancel(&mut self, caller: usize) {
        if let CallerState::Waiting(mut room) =
            std::mem::replace(&mut self.callers[caller].state, CallerState::Done)
        {
            room.close();
            if let Ok(Some(Ok(()))) = room.try_recv() {
                self.pool.room(1);
            }
        }
    }

    /// The server answers what it read; `bytes` of its answers reach the client.
    fn serve(&mut self, index: usize, bytes: usize) {
        let link = &mut self.links[index];
        answer(&mut link.to_server, &mut link.to_client, &mut link.misreply);
        let bytes = bytes.min(link.to_client.len());
        let mut incoming = link.to_client.split_to(bytes);
        let read = loop {
            let read = match &mut link.block {
                Some((gathered, len)) => {
                    let take = (*len - gathered.len()).min(incoming.len());
                    gathered.extend_from_slice(&incoming.split_to(take));
                    if gathered.len() < *len {
                        break Ok(());
                    }
                    let block = std::mem::take(gathered).into();
                    link.block = None;
                    link.cell
                        .lock()
                        .handle_data_block(block, &mut link.read_buf)
                }
                None => {
                    link.read_buf.extend_from_slice(&incoming.split());
                    link.cell.lock().handle_read(&mut link.read_buf)
                }
            };
            match read {
                Ok(answered) => self.pool.room(answered),
                Err(error) => break Err(error),
            }
            let block_len = link.cell.lock().data_block_len();
            match block_len {
                Some(len) if link.hands_blocks_over && link.read_buf.len() < len => {
                    link.block = Some((link.read_buf.split().to_vec(), len));
                }
                _ if incoming.is_empty() => break Ok(()),
                _ => {}
            }
        };
        // A reply that breaks the protocol: the stream is not trusted any more.
        if let Err(error) = read {
            self.end(index, error, false);
        }
    }

    /// Fires the timers that are due: the pool's upkeep, the connections' deadlines (a
    /// stuck connection closes), and the deadlines of callers waiting for room.
    fn fire_timers(&mut self) {
        if self
            .pool
            .poll_timeout(self.now)
            .is_some_and(|at| at <= self.now)
        {
            self.pool.handle_timeout(self.now);
        }
        let mut index = 0;
        while index < self.links.len() {
            let due = {
                let mut conn = self.links[index].cell.lock();
                let due = conn.poll_timeout().is_some_and(|at| at <= self.now);
                due.then(|| conn.handle_timeout(self.now))
            };
            match due {
                Some(Err(error)) => self.end(index, error, true),
                _ => index += 1,
            }
        }
        for caller in 0..self.callers.len() {
            let expired = self.callers[caller]
                .deadline
                .is_some_and(|deadline| deadline <= self.now);
            if expired && matches!(self.callers[caller].state, CallerState::Waiting(_)) {
                self.cancel(caller);
            }
        }
    }

    /// Connection `index` ends with `error`, as its driver ends it: unwritten callers are
    /// told to try again, unwritten fire-and-forget writes go back to the pool, and a
    /// client-side close drains (here at once) before the keys it held are free.
    fn end(&mut self, index: usize, error: Error, by_client: bool) {
        let link = self.links.remove(index);
        let mut closed = link.cell.lock().close(error.clone());
        let holds = by_client.then(|| std::mem::take(&mut closed.holds));
        if let Some(holds) = &holds {
            self.pool.drain_started(holds);
        }
        self.pool.conn_closed(self.now, &link.cell);
        for request in closed.unsent_detached {
            let _ = self.pool.submit(self.now, request, false);
        }
        for sender in closed.unsent_callers {
            let _ = sender.send(Outcome::Unsent(error.clone()));
        }
        if let Some(holds) = holds {
            self.pool.drain_ended(self.now, &holds);
        }
    }

    /// Carries out what follows from the last event, as the shells would before time moves
    /// on: timers due now fire, and then [`Pair::settle_once`], a few rounds.
    fn settle(&mut self) {
        for _ in 0..4 {
            self.fire_timers();
            self.settle_once();
        }
    }

    /// Carries out what the pool asked for and what follows from the last event: callers
    /// woken for room try again, callers of unwritten requests place them again, and
    /// connections closed gracefully and drained end.
    fn settle_once(&mut self) {
        for action in self.pool.take_actions() {
            if let Action::Connect = action {
                self.connecting += 1;
            }
        }
        let mut index = 0;
        while index < self.links.len() {
            let drained = self.links[index].cell.lock().is_drained();
            if drained {
                let error = Error::Closed;
                self.end(index, error, true);
            } else {
                index += 1;
            }
        }
        for caller in 0..self.callers.len() {
            match &mut self.callers[caller].state {
                CallerState::Waiting(room) => match room.try_recv() {
                    Ok(Some(Ok(()))) => self.place(caller, true),
                    Ok(Some(Err(_))) | Err(_) => self.callers[caller].state = CallerState::Done,
                    Ok(None) => {}
                },
                CallerState::Placed(receiver) => match receiver.try_recv() {
                    Ok(Some(Outcome::Unsent(_))) => self.place(caller, true),
                    Ok(Some(outcome)) => {
                        if check_reply(self.callers[caller].key, &outcome) {
                            self.answered += 1;
                        } else {
                            self.failed += 1;
                        }
                        self.callers[caller].state = CallerState::Done;
                    }
                    Ok(None) => {}
                    Err(reply::Canceled) => self.callers[caller].state = CallerState::Done,
                },
                CallerState::Done => {}
            }
        }
        for action in self.pool.take_actions() {
            if let Action::Connect = action {
                self.connecting += 1;
            }
        }
    }

    fn check(&self) {
        for caller in &self.callers {
            if let (CallerState::Placed(_), Some(deadline)) = (&caller.state, caller.deadline) {
                assert!(
                    deadline > self.now,
                    "a caller on a connection is still waiting past its deadline"
                );
            }
        }
        for link in &self.links {
            let load = link.cell.lock().load();
            assert!(load <= BUDGET, "a connection holds {load} requests");
        }
    }

    /// Callers answered with their key's value so far.
    pub fn answered(&self) -> usize {
        self.answered
    }

    /// Callers whose request failed (a timeout, a lost connection, a broken reply).
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Connections open or closing.
    pub fn links(&self) -> usize {
        self.links.len()
    }

    fn link(&self, link: u8) -> Option<usize> {
        (!self.links.is_empty()).then(|| usize::from(link) % self.links.len())
    }
}

/// Asserts that `outcome`, a reply to a `get` of key `key`, is that key's value or a
/// failure, never another key's value; `true` for the value.
fn check_reply(key: usize, outcome: &Outcome) -> bool {
    let Outcome::Reply(Reply::Values(items)) = outcome else {
        return false;
    };
    for item in items.iter() {
        assert_eq!(
            &item.key[..],
            key_name(key).as_bytes(),
            "another key's reply"
        );
        assert_eq!(
            &item.value[..],
            value_of(key).as_bytes(),
            "another key's value"
        );
    }
    !items.is_empty()
}

fn key_name(key: usize) -> String {
    format!("k{key}")
}

fn value_of(key: usize) -> String {
    format!("value of k{key}")
}

fn encode(command: &Command<'_>) -> (Payload, Expects) {
    match Payload::encode(&Encoder::new(), command, 0) {
        Ok((payload, expect)) => (payload, expect.into()),
        Err(error) => panic!("the pair's commands are valid: {error}"),
    }
}

/// A `get` of `key`, and where its reply goes.
fn get(key: usize, deadline: Option<Instant>) -> (Submission, ReplyReceiver) {
    let patience = deadline.map(|_| Duration::from_millis(300));
    // A read, as the client's gets are: a draining connection does not hold its key.
    let (mut request, receiver) = get_request(&key_name(key), deadline, patience);
    request.read_only = true;
    (request, receiver)
}

/// A fire-and-forget `set` of `key` to its value.
fn set_noreply(key: usize) -> Submission {
    set_request(&key_name(key), value_of(key).as_bytes())
}

/// A `get` of `name` with the caller's deadline and patience, and where its reply goes
/// (not marked read-only: the engine's tests mark what they need).
pub(crate) fn get_request(
    name: &str,
    deadline: Option<Instant>,
    patience: Option<Duration>,
) -> (Submission, ReplyReceiver) {
    let keys = [name.as_bytes()];
    let (bytes, expect) = encode(&Command::Retrieve(Retrieve {
        kind: RetrieveKind::Get,
        keys: &keys,
    }));
    let (sender, receiver) = reply::channel();
    let request = Submission {
        bytes,
        expect,
        reply: Some(sender),
        deadline,
        patience,
        batch: None,
        affinity: Affinity::of_key(name.as_bytes()),
        read_only: false,
        timed_out: false,
    };
    (request, receiver)
}

/// A fire-and-forget `set` of `name` to `value`.
pub(crate) fn set_request(name: &str, value: &[u8]) -> Submission {
    let (bytes, expect) = encode(&Command::Store(Store::new(
        StoreMode::Set,
        name.as_bytes(),
        value,
    )));
    Submission {
        bytes,
        expect,
        reply: None,
        deadline: None,
        patience: None,
        batch: None,
        affinity: Affinity::of_key(name.as_bytes()),
        read_only: false,
        timed_out: false,
    }
}

/// The scripted server: answers every complete command in `input` (`get <key>` with the
/// key's value, `set` with `STORED`), the next `get` with another key's value when
/// `misreply` is set.
fn answer(input: &mut BytesMut, output: &mut BytesMut, misreply: &mut bool) {
    loop {
        let Some(end) = input.windows(2).position(|pair| pair == b"\r\n") else {
            return;
        };
        let line = String::from_utf8_lossy(&input[..end]).into_owned();
        let mut words = line.split(' ');
        match words.next() {
            Some("get") => {
                input.advance(end + 2);
                let asked = words.next().unwrap_or_default();
                let key = if std::mem::take(misreply) {
                    // Another key the client may well have asked for as well.
                    let number: usize = asked.trim_start_matches('k').parse().unwrap_or(0);
                    key_name((number + 1) % KEYS)
                } else {
                    asked.to_owned()
                };
                let value = format!("value of {key}");
                output.extend_from_slice(
                    format!("VALUE {key} 0 {}\r\n{value}\r\nEND\r\n", value.len()).as_bytes(),
                );
            }
            Some("set") => {
                let len: usize = words.nth(3).and_then(|len| len.parse().ok()).unwrap_or(0);
                if input.len() < end + 2 + len + 2 {
                    return;
                }
                input.advance(end + 2 + len + 2);
                output.extend_from_slice(b"STORED\r\n");
            }
            _ => {
                input.advance(end + 2);
                output.extend_from_slice(b"ERROR\r\n");
            }
        }
    }
}
