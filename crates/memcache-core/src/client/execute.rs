//! The one execution path. Every operation, a single-key command or one node's share of a
//! multi-key one, is encoded, routed, given its deadline, placed on a connection, retried,
//! answered as a miss when its node is unavailable, observed and decoded here, by
//! [`Exchange`], a future written out by hand so that a request costs no allocation.
//!
//! An [`Operation`] only says what is particular to its command: its key, whether running
//! it twice is harmless, how it is spelled, and what its reply means.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use memproto::Reply;

use crate::client::config::Config;
use crate::client::{CallOptions, Inner};
use crate::cluster::addr::NodeAddr;
use crate::cluster::members::NodeRef;
use crate::engine::autobatch::BatchKey;
use crate::engine::payload::Payload;
use crate::engine::pool::{later, Placement};
use crate::engine::reply::{self, ReplyReceiver};
use crate::engine::request::{Affinity, Expects, Outcome, Submission};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::{write_failures, Attempt, Counters};

/// One memcached command as a value: everything the execution path needs to know about it.
///
/// Implemented by the operations of [`crate::operation`]; not implementable outside this
/// crate.
pub trait Operation: Send {
    /// What the caller gets.
    type Output;

    /// The key the request is routed by and keeps order with (empty for node commands).
    #[doc(hidden)]
    fn key(&self) -> &[u8];

    /// The node the request goes to: by default the one its key routes to.
    #[doc(hidden)]
    fn target(&self) -> Target<'_> {
        Target::Key
    }

    /// Whether running it twice has the effect of running it once (a read): the retry
    /// policy may then retry it after any transient failure, and a draining connection
    /// need not hold its key.
    #[doc(hidden)]
    fn is_read(&self) -> bool {
        false
    }

    /// Encodes the command in the client's protocol; called again for each attempt, so
    /// that a caller waiting for room or for a retry holds no encoded copy of its value.
    #[doc(hidden)]
    fn encode(&self, config: &Config) -> Result<(Payload, Expects)>;

    /// What the reply means.
    #[doc(hidden)]
    fn decode(&self, answer: Answer, config: &Config, counters: &Counters) -> Result<Self::Output>;

    /// With `noreply`, the output for a request that was queued: nobody waits for its
    /// reply (the connection still reads it, so later replies stay in step).
    #[doc(hidden)]
    fn detached(&self) -> Option<Self::Output> {
        None
    }

    /// The output when the node is unavailable and the client answers reads with a miss
    /// ([`crate::ClientBuilder::miss_on_unavailable`]); `None` for everything but reads.
    #[doc(hidden)]
    fn miss(&self) -> Option<Self::Output> {
        None
    }

    /// For a single-key `get` or `gets` (`true` with CAS) that a connection may merge
    /// with others when autobatching is on.
    #[doc(hidden)]
    fn mergeable(&self, config: &Config) -> Option<bool> {
        let _ = config;
        None
    }

    /// What the request does to its item, which decides where a [route](crate::Route)
    /// sends it: by default a read for reads and a write for the rest.
    #[doc(hidden)]
    fn effect(&self) -> Effect {
        if self.is_read() {
            Effect::Read
        } else {
            Effect::Write
        }
    }

    /// Whether `output` is a miss, which a [route](crate::Route) may look up elsewhere
    /// (the old pool of a migration, the warm pool of a warm-up).
    #[doc(hidden)]
    fn missed(&self, output: &Self::Output) -> bool {
        let _ = output;
        false
    }

    /// Whether a failure of the request may leave its item stale, and is reported to
    /// [`crate::ClientBuilder::on_write_failure`]: writes' failures are, reads' are not.
    #[doc(hidden)]
    fn may_leave_stale(&self) -> bool {
        !self.is_read()
    }

    /// Whether the request goes to the gutter pool when its node is unreachable (see
    /// [`crate::ClientBuilder::gutter`]): requests for a key do; node commands, and
    /// requests whose encoding cannot change for the gutter, do not.
    #[doc(hidden)]
    fn fails_over(&self) -> bool {
        !self.key().is_empty()
    }

    /// The keys whose order the request keeps behind unanswered `noreply` writes.
    #[doc(hidden)]
    fn affinity(&self) -> Affinity {
        Affinity::of_key(self.key())
    }
}

/// What a request does to its item: where a [route](crate::Route) sends it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads it: one destination, and others where the route says so (on a miss or an
    /// unavailable node).
    Read,
    /// Reads it where reads go, and may change it there (a lease's placeholder): that
    /// destination only.
    ReadSide,
    /// Changes it (a `cas` too): every destination writes go to.
    Write,
    /// Removes it: every destination that holds the item, readable or not.
    Delete,
}

/// Where a request goes.
#[doc(hidden)]
#[derive(Debug)]
pub enum Target<'a> {
    /// To the node its key routes to.
    Key,
    /// To this node (or, for an address that does not parse, nowhere).
    Node(&'a Result<NodeAddr>),
}

/// What a request was answered with.
#[doc(hidden)]
#[derive(Debug)]
pub enum Answer {
    /// The reply to one command.
    One(Reply),
    /// A batch's replies, one per command, in order.
    Batch(Vec<Reply>),
    /// A batch's first replies, and why the rest never came.
    Cut(Vec<Reply>, Error),
}

impl Answer {
    /// The one reply of a single command.
    pub(crate) fn one(self) -> Result<Reply> {
        match self {
            Answer::One(reply) => Ok(reply),
            Answer::Batch(_) => Err(Error::UnexpectedReply("a batch's replies".into())),
            Answer::Cut(_, error) => Err(error),
        }
    }

    /// A batch's replies: all of them, or the first ones and the error for the rest.
    pub(crate) fn batch(self) -> Result<(Vec<Reply>, Option<Error>)> {
        match self {
            Answer::Batch(replies) => Ok((replies, None)),
            Answer::Cut(replies, error) => Ok((replies, Some(error))),
            Answer::One(reply) => Err(crate::client::unexpected(reply)),
        }
    }

    fn replies(&self) -> std::result::Result<&[Reply], &Error> {
        match self {
            Answer::One(reply) => Ok(std::slice::from_ref(reply)),
            Answer::Batch(replies) => Ok(replies),
            Answer::Cut(_, error) => Err(error),
        }
    }
}

/// An operation shared by the requests a [route](crate::Route) sends to several pools.
impl<O: Operation + Sync> Operation for &O {
    type Output = O::Output;

    fn key(&self) -> &[u8] {
        (**self).key()
    }

    fn target(&self) -> Target<'_> {
        (**self).target()
    }

    fn is_read(&self) -> bool {
        (**self).is_read()
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        (**self).encode(config)
    }

    fn decode(&self, answer: Answer, config: &Config, counters: &Counters) -> Result<O::Output> {
        (**self).decode(answer, config, counters)
    }

    fn detached(&self) -> Option<O::Output> {
        (**self).detached()
    }

    fn miss(&self) -> Option<O::Output> {
        (**self).miss()
    }

    fn mergeable(&self, config: &Config) -> Option<bool> {
        (**self).mergeable(config)
    }

    fn effect(&self) -> Effect {
        (**self).effect()
    }

    fn missed(&self, output: &O::Output) -> bool {
        (**self).missed(output)
    }

    fn may_leave_stale(&self) -> bool {
        (**self).may_leave_stale()
    }

    fn fails_over(&self) -> bool {
        (**self).fails_over()
    }

    fn affinity(&self) -> Affinity {
        (**self).affinity()
    }
}

/// How many times a request whose connection failed before writing it is placed again,
/// whatever the retry policy: it certainly never reached the server.
const UNSENT_RETRIES: u32 = 3;

/// A request on its way: the future every request builder turns into.
///
/// Nothing is sent until it is first polled. Dropping it gives the request up: one still
/// unwritten is never sent, and the reply to one already written is read and dropped, so
/// no other caller can receive it.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Exchange<'c, R: Runtime, O: Operation> {
    inner: &'c Inner<R>,
    op: O,
    options: CallOptions,
    node: Option<NodeRef<'c, R>>,
    /// The operation's [`Operation::affinity`], worked out once.
    affinity: Affinity,
    deadline: Option<Instant>,
    patience: Option<Duration>,
    retries: u32,
    unsent: u32,
    /// Sent to the gutter pool after its node failed.
    failed_over: bool,
    attempt: Option<Attempt>,
    /// The clock as read when the call started, for its first attempt: reading it costs
    /// as much as a small step of the call, so the first attempt does not read it again.
    started: Option<Instant>,
    state: State<R>,
}

enum State<R: Runtime> {
    /// Not polled yet.
    Start,
    /// A new attempt, with its encoding when already made.
    Attempt(Option<(Payload, Expects)>),
    /// Placing the request, with its encoding when already made.
    Place(Option<(Payload, Expects)>),
    /// On a connection, waiting for the reply.
    Reply(ReplyReceiver),
    /// Every connection is at its budget: waiting for room until the deadline.
    Room {
        room: oneshot::Receiver<Result<()>>,
        timer: Option<Pin<Box<R::Sleep>>>,
        since: Instant,
    },
    /// Waiting before a retry, with the error that asked for it.
    Backoff {
        timer: Pin<Box<R::Sleep>>,
        error: Error,
    },
    Done,
}

// `Exchange` never pins its fields: the operation is only ever borrowed, and the timers are
// boxed. So it is `Unpin` whatever the operation holds.
impl<R: Runtime, O: Operation> Unpin for Exchange<'_, R, O> {}

impl<'c, R: Runtime, O: Operation> Exchange<'c, R, O> {
    /// The request `op`, sent to the node its [`Operation::route`] picks.
    pub(crate) fn new(inner: &'c Inner<R>, op: O, options: CallOptions) -> Self {
        Exchange {
            inner,
            op,
            options,
            node: None,
            affinity: Affinity::None,
            deadline: None,
            patience: None,
            retries: 0,
            unsent: 0,
            failed_over: false,
            attempt: None,
            started: None,
            state: State::Start,
        }
    }

    /// The request `op`, sent to `node` (one node's share of a multi-key operation).
    pub(crate) fn to_node(
        inner: &'c Inner<R>,
        op: O,
        options: CallOptions,
        node: NodeRef<'c, R>,
    ) -> Self {
        let mut pending = Exchange::new(inner, op, options);
        pending.node = Some(node);
        pending
    }

    /// Encodes the request (an invalid one fails before anything is counted or sent),
    /// starts its clock, and routes it.
    fn start(&mut self) -> Step<R, O::Output> {
        let inner = self.inner;
        let encoded = match self.op.encode(&inner.config) {
            Ok(encoded) => encoded,
            Err(error) => return Step::Done(Err(error)),
        };
        self.affinity = self.op.affinity();
        let timeout = inner.timeout(self.options.timeout);
        let now = inner.runtime.now();
        self.started = Some(now);
        self.deadline = timeout.map(|timeout| later(now, timeout));
        self.patience = inner.patience(timeout);
        if self.node.is_none() {
            let routed = match self.op.target() {
                Target::Key => inner.route_call(self.op.key(), &self.options),
                Target::Node(Ok(addr)) => inner.node(addr.clone()),
                Target::Node(Err(error)) => Err(error.clone()),
            };
            match routed {
                Ok(node) => self.node = Some(node),
                // Failing over (no node to route to) or failing: the call's clock is set
                // either way.
                Err(error) => return self.give_up(error),
            }
        }
        Step::Next(State::Attempt(Some(encoded)))
    }

    fn attempt(&mut self, encoded: Option<(Payload, Expects)>) -> Step<R, O::Output> {
        let encoded = match encoded {
            Some(encoded) => encoded,
            None => match self.op.encode(self.config()) {
                Ok(encoded) => encoded,
                Err(error) => return Step::Done(Err(error)),
            },
        };
        let node = routed(&self.node);
        let keys = self.affinity.hashes().len();
        let now = self
            .started
            .take()
            .unwrap_or_else(|| self.inner.runtime.now());
        let payload = encoded.0.as_slice();
        let config = self.config();
        self.attempt = Some(Attempt::start(&node.addr, config, now, payload, keys));
        node.counters.requested();
        self.place(Some(encoded), now)
    }

    fn place(&mut self, encoded: Option<(Payload, Expects)>, now: Instant) -> Step<R, O::Output> {
        let (bytes, expect) = match encoded {
            Some(encoded) => encoded,
            None => match self.op.encode(self.config()) {
                Ok(encoded) => encoded,
                Err(error) => return self.failed(error),
            },
        };
        let detached = self.op.detached();
        let (sender, receiver) = match detached {
            Some(_) => (None, None),
            None => {
                let (sender, receiver) = reply::channel();
                (Some(sender), Some(receiver))
            }
        };
        let request = Submission {
            bytes,
            expect,
            // A fire-and-forget request has no caller left to give up: once queued it is
            // sent, whenever its connection gets to it.
            deadline: sender.as_ref().and(self.deadline),
            reply: sender,
            patience: self.patience,
            batch: self.batch_key(),
            affinity: self.affinity.clone(),
            read_only: self.op.is_read(),
            timed_out: false,
        };
        let wait = self.inner.config.wait_when_full && !self.options.no_wait;
        match self.node().place(request, wait, now) {
            Placement::Placed(cell) => {
                cell.wake();
                match (receiver, detached) {
                    (Some(receiver), _) => Step::Next(State::Reply(receiver)),
                    (None, Some(output)) => self.queued(output),
                    (None, None) => Step::Done(Err(Error::UnexpectedReply("no receiver".into()))),
                }
            }
            // Queued behind a draining connection's write to its key.
            Placement::Deferred => match detached {
                Some(output) => self.queued(output),
                None => self.failed(Error::UnexpectedReply("deferred".into())),
            },
            Placement::Wait(room) => {
                self.node().counters.requests_waited();
                Step::Next(State::Room {
                    room,
                    timer: None,
                    since: self.inner.runtime.now(),
                })
            }
            Placement::Failed(error) => self.failed(error),
        }
    }

    fn batch_key(&self) -> Option<BatchKey> {
        let with_cas = self.op.mergeable(&self.inner.config)?;
        self.inner
            .config
            .connection
            .autobatch_max_keys
            .map(|_| BatchKey {
                key: bytes::Bytes::copy_from_slice(self.op.key()),
                with_cas,
            })
    }

    /// A detached request is on its connection: done.
    fn queued(&mut self, output: O::Output) -> Step<R, O::Output> {
        if let Some(attempt) = self.attempt.take() {
            attempt.finish_detached(&self.node().counters, self.inner.runtime.now(), Ok(()));
        }
        Step::Done(Ok(output))
    }

    fn replied(&mut self, outcome: Result<Outcome, reply::Canceled>) -> Step<R, O::Output> {
        let answer = match outcome {
            Ok(Outcome::Reply(reply)) => Answer::One(reply),
            Ok(Outcome::Replies(replies)) => Answer::Batch(replies),
            Ok(Outcome::Cut { replies, error }) => Answer::Cut(replies, error),
            Ok(Outcome::Failed(error)) => return self.failed(error),
            Ok(Outcome::Unsent(error)) => {
                self.unsent += 1;
                if self.unsent >= UNSENT_RETRIES {
                    return self.failed(error);
                }
                return Step::Next(State::Place(None));
            }
            Err(reply::Canceled) => {
                let error = self.node().lost("connection dropped the request");
                return self.failed(error);
            }
        };
        let counters = &routed(&self.node).counters;
        if let Some(attempt) = self.attempt.take() {
            attempt.finish(counters, self.inner.runtime.now(), answer.replies());
        }
        match self.op.decode(answer, self.config(), counters) {
            Ok(output) => Step::Done(Ok(output)),
            // A cut batch that cannot stand in part, or an error reply: retried if the
            // policy allows (it never retries what the server answered).
            Err(error) => self.retry_or_give_up(error),
        }
    }

    /// The attempt failed with `error`.
    fn failed(&mut self, error: Error) -> Step<R, O::Output> {
        if let Some(attempt) = self.attempt.take() {
            let (now, counters) = (self.inner.runtime.now(), &self.node().counters);
            // A request nobody waits for has no latency to record, failed or not.
            if self.op.detached().is_some() {
                attempt.finish_detached(counters, now, Err(&error));
            } else {
                attempt.finish(counters, now, Err(&error));
            }
        }
        self.retry_or_give_up(error)
    }

    /// Waits and tries again when the retry policy allows it and the deadline leaves
    /// time to; else gives up.
    fn retry_or_give_up(&mut self, error: Error) -> Step<R, O::Output> {
        let Some(policy) = self.inner.config.retry else {
            return self.give_up(error);
        };
        if self.retries >= policy.max_retries() || !policy.may_retry(&error, self.op.is_read()) {
            return self.give_up(error);
        }
        let wait = policy.wait_before(self.retries);
        let now = self.inner.runtime.now();
        let too_late = |deadline| now.checked_add(wait).is_none_or(|start| start >= deadline);
        if self.deadline.is_some_and(too_late) {
            return self.give_up(error);
        }
        self.retries += 1;
        self.unsent = 0;
        let timer = Box::pin(self.inner.runtime.sleep(wait));
        Step::Next(State::Backoff { timer, error })
    }

    /// The request failed for good on its node: it fails over to the gutter pool when
    /// the client has one and the failure is one that fails over; a read on an
    /// unavailable node answers a miss when the client is configured to.
    fn give_up(&mut self, error: Error) -> Step<R, O::Output> {
        let may_fail_over = matches!(self.op.target(), Target::Key) && self.op.fails_over();
        if may_fail_over && !self.failed_over && !self.past_deadline() {
            if let Some(gutter) = self.inner.failover(self.node.as_ref(), &error) {
                // The write missed its own node, whose copy may now be stale, whatever
                // the gutter answers.
                self.report_write_failure(&error);
                self.failed_over = true;
                self.node = Some(gutter);
                self.retries = 0;
                self.unsent = 0;
                return Step::Next(State::Attempt(None));
            }
        }
        let node = self.node.as_ref().map(|node| &node.addr);
        if let Some(miss) = self.op.miss() {
            if self.inner.read_miss_instead(&error, node) {
                return Step::Done(Ok(miss));
            }
        }
        // A write that failed over was reported when its own node failed.
        if !self.failed_over {
            self.report_write_failure(&error);
        }
        Step::Done(Err(error))
    }

    /// Tells the application's handler of a write that failed with `error`.
    fn report_write_failure(&self, error: &Error) {
        if self.op.may_leave_stale() && !self.options.quiet {
            let handler = self.inner.config.on_write_failure.as_ref();
            let routing_key = self.options.routing_key.as_ref();
            write_failures::report(handler, self.op.key(), routing_key, error);
        }
    }

    /// The configuration the request encodes and decodes with: the gutter pool's once it
    /// failed over (its writes' expirations capped).
    fn config(&self) -> &'c Config {
        match (&self.inner.gutter, self.failed_over) {
            (Some(gutter), true) => &gutter.config,
            _ => &self.inner.config,
        }
    }

    fn poll_room(
        &mut self,
        cx: &mut Context<'_>,
        room: &mut oneshot::Receiver<Result<()>>,
        timer: &mut Option<Pin<Box<R::Sleep>>>,
        since: Instant,
    ) -> Poll<Step<R, O::Output>> {
        let result = match Pin::new(&mut *room).poll(cx) {
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(oneshot::Canceled)) => Err(Error::Closed),
            Poll::Pending => {
                let Some(deadline) = self.deadline else {
                    return Poll::Pending;
                };
                let runtime = &self.inner.runtime;
                let timer = timer.get_or_insert_with(|| {
                    Box::pin(runtime.sleep(deadline.saturating_duration_since(runtime.now())))
                });
                ready!(timer.as_mut().poll(cx));
                // A wake-up that arrives as the deadline passes goes to the next waiter.
                room.close();
                if let Ok(Some(Ok(()))) = room.try_recv() {
                    self.node().room(1);
                }
                Err(Error::Timeout {
                    node: self.node().name().to_owned(),
                    written: false,
                })
            }
        };
        let node = self.node();
        node.counters
            .waited(self.inner.runtime.now().saturating_duration_since(since));
        Poll::Ready(match result {
            Ok(()) => Step::Next(State::Place(None)),
            Err(error) => self.failed(error),
        })
    }

    fn past_deadline(&self) -> bool {
        let now = self.inner.runtime.now();
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    fn node(&self) -> &NodeRef<'c, R> {
        routed(&self.node)
    }
}

impl<R: Runtime, O: Operation> Drop for Exchange<'_, R, O> {
    /// A caller given up while woken to try for room hands the wake-up on, so that no
    /// other waiter misses it; an attempt in progress ends as abandoned.
    fn drop(&mut self) {
        if let State::Room { room, .. } = &mut self.state {
            room.close();
            if let (Ok(Some(Ok(()))), Some(node)) = (room.try_recv(), &self.node) {
                node.room(1);
            }
        }
        if let (Some(attempt), Some(node)) = (self.attempt.take(), &self.node) {
            attempt.abandon(&node.counters);
        }
    }
}

/// The node a request was routed to: set by [`Exchange::start`] before any step that
/// reaches the node runs.
fn routed<'a, 'c, R: Runtime>(node: &'a Option<NodeRef<'c, R>>) -> &'a NodeRef<'c, R> {
    node.as_ref()
        .expect("a request is routed before it reaches its node")
}

/// What one step of the request leads to.
enum Step<R: Runtime, T> {
    /// Go on at once in this state.
    Next(State<R>),
    /// Stay in this state until woken.
    Waiting(State<R>),
    Done(Result<T>),
}

impl<R: Runtime, O: Operation> Future for Exchange<'_, R, O> {
    type Output = Result<O::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // Inside the current attempt's span: each attempt has its own.
            #[cfg(feature = "tracing")]
            let span = this.attempt.as_ref().map(Attempt::span);
            #[cfg(feature = "tracing")]
            let _entered = span.as_ref().map(tracing::Span::enter);
            let step = match std::mem::replace(&mut this.state, State::Done) {
                State::Start => this.start(),
                State::Attempt(encoded) => this.attempt(encoded),
                State::Place(encoded) => {
                    let now = this.inner.runtime.now();
                    this.place(encoded, now)
                }
                State::Reply(mut receiver) => match Pin::new(&mut receiver).poll(cx) {
                    Poll::Ready(outcome) => this.replied(outcome),
                    Poll::Pending => Step::Waiting(State::Reply(receiver)),
                },
                State::Room {
                    mut room,
                    mut timer,
                    since,
                } => match this.poll_room(cx, &mut room, &mut timer, since) {
                    Poll::Ready(step) => step,
                    Poll::Pending => Step::Waiting(State::Room { room, timer, since }),
                },
                State::Backoff { mut timer, error } => match timer.as_mut().poll(cx) {
                    // A timer that fired late starts no attempt past the deadline.
                    Poll::Ready(()) if this.past_deadline() => this.give_up(error),
                    Poll::Ready(()) => Step::Next(State::Attempt(None)),
                    Poll::Pending => Step::Waiting(State::Backoff { timer, error }),
                },
                State::Done => Step::Done(Err(Error::UnexpectedReply(
                    "a request polled after it completed".into(),
                ))),
            };
            match step {
                Step::Next(state) => this.state = state,
                Step::Done(output) => return Poll::Ready(output),
                Step::Waiting(state) => {
                    this.state = state;
                    return Poll::Pending;
                }
            }
        }
    }
}
