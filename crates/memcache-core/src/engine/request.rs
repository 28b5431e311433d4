//! What travels through the engine: an encoded request, who waits for its reply, and how a
//! request ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memproto::{Expect, Reply};

use crate::engine::autobatch::BatchKey;
use crate::engine::payload::Payload;
use crate::engine::reply;
use crate::error::Error;

/// How a request ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The server's reply.
    Reply(Reply),
    /// The replies to a batch, one per command, in order.
    Replies(Vec<Reply>),
    /// The connection failed after the request was written: it may have been executed.
    Failed(Error),
    /// A batch ended early, its caller's deadline passed or its connection failed, after
    /// the replies to its first commands arrived: those replies, certain, in order, and the
    /// error for the commands after them, which may have been executed.
    Cut { replies: Vec<Reply>, error: Error },
    /// The connection failed before the request was written: it is safe to send again.
    Unsent(Error),
}

/// What a request's bytes expect back: the reply to one command, or one reply per command
/// of a batch written as one payload (quiet meta commands ended by `mn`), delivered together
/// as [`Outcome::Replies`].
#[derive(Debug, Clone)]
pub enum Expects {
    One(Expect),
    Batch(Arc<[Expect]>),
}

impl Expects {
    /// Whether anything comes back (a batch always ends with a command that is answered).
    pub(crate) fn expects_reply(&self) -> bool {
        match self {
            Expects::One(expect) => expect.expects_reply(),
            Expects::Batch(expects) => expects.iter().any(Expect::expects_reply),
        }
    }
}

impl From<Expect> for Expects {
    fn from(expect: Expect) -> Self {
        Expects::One(expect)
    }
}

/// Where a caller's outcome goes; `None` when nobody waits (fire-and-forget requests).
pub(crate) type ReplySender = Option<reply::ReplySender>;

/// An encoded request on its way to a connection.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) bytes: Payload,
    pub(crate) expect: Expects,
    pub(crate) reply: ReplySender,
    /// When the caller stops waiting; a request still unwritten then is not sent.
    pub(crate) deadline: Option<Instant>,
    /// How long the reply may take once the request is written before the connection
    /// counts as stuck; `None` waits forever.
    pub(crate) patience: Option<Duration>,
    /// Set for a single-key get that may be merged with others (autobatching).
    pub(crate) batch: Option<BatchKey>,
    /// The keys the request touches, for read-your-writes after `noreply` requests.
    pub(crate) affinity: Affinity,
    /// It only reads: running it late changes nothing, so a drain need not hold its keys.
    pub(crate) read_only: bool,
    /// Its caller was told [`Error::Timeout`] while it waited to be written.
    pub(crate) timed_out: bool,
}

impl Submission {
    /// What the request costs against a connection's in-flight byte budget.
    pub(crate) fn cost(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the caller gave up (timed out or dropped its future) before the request was
    /// written: sending it would only make the server do work nobody reads.
    pub(crate) fn is_abandoned(&self, now: Instant) -> bool {
        self.reply
            .as_ref()
            .is_some_and(reply::ReplySender::is_canceled)
            || self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// Whether nobody waits for the reply (a `noreply` request).
    pub(crate) fn is_detached(&self) -> bool {
        self.reply.is_none() && !self.timed_out
    }

    /// Tells the caller its time ran out on `node` if its deadline has passed by `now`;
    /// the request stays queued (and is skipped when its turn comes).
    pub(crate) fn expire(&mut self, now: Instant, node: &str) {
        if self.deadline.is_some_and(|deadline| deadline <= now) {
            if let Some(sender) = self.reply.take() {
                self.timed_out = true;
                let _ = sender.send(Outcome::Failed(timeout(node, false)));
            }
        }
    }
}

/// The error for a caller whose deadline passed while its request was on `node`, written
/// to the connection or still queued.
pub(crate) fn timeout(node: &str, written: bool) -> Error {
    Error::Timeout {
        node: node.to_owned(),
        written,
    }
}

/// One caller waiting for a written request's reply, and when it stops waiting.
#[derive(Debug)]
pub(crate) struct Caller {
    pub(crate) sender: ReplySender,
    pub(crate) deadline: Option<Instant>,
}

impl Caller {
    /// Fails the caller with [`Error::Timeout`] on `node` if its deadline has passed by
    /// `now`; its reply, when it comes, is read and dropped.
    pub(crate) fn expire(&mut self, now: Instant, node: &str) {
        if self.deadline.is_some_and(|deadline| deadline <= now) {
            if let Some(sender) = self.sender.take() {
                let _ = sender.send(Outcome::Failed(timeout(node, true)));
            }
        }
    }

    pub(crate) fn send(self, outcome: Outcome) {
        if let Some(sender) = self.sender {
            // The caller may have given up; the outcome is dropped then.
            let _ = sender.send(outcome);
        }
    }
}

/// Hashes of the keys a request touches. A later request for one of those keys follows an
/// unanswered `noreply` request for it onto the same connection, so the server executes it
/// after the write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Affinity {
    /// Touches no key (admin commands).
    #[default]
    None,
    One(u64),
    Many(Arc<[u64]>),
}

impl Affinity {
    pub(crate) fn of_key(key: &[u8]) -> Self {
        Affinity::One(key_hash(key))
    }

    pub(crate) fn of_keys(keys: &[&[u8]]) -> Self {
        match keys {
            [] => Affinity::None,
            [key] => Affinity::of_key(key),
            keys => Affinity::Many(keys.iter().map(|key| key_hash(key)).collect()),
        }
    }

    pub(crate) fn hashes(&self) -> &[u64] {
        match self {
            Affinity::None => &[],
            Affinity::One(hash) => std::slice::from_ref(hash),
            Affinity::Many(hashes) => hashes,
        }
    }
}

/// A fast hash with a fixed seed: this only needs to spread keys, not resist attack (a
/// collision merely keeps two keys' requests on one connection for a while), and a
/// multi-key fetch hashes every key it asks for.
fn key_hash(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x51_7cc1_b727_220a).hash_one(key)
}
