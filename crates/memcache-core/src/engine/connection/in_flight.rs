//! What a connection keeps of each written request until its reply: who waits for it,
//! a batch's replies gathered so far, and how the answer reaches the callers.

use super::*;

pub(super) struct InFlight {
    pub(super) callers: Callers,
    /// For a batch: the replies decoded so far and how many more it expects.
    pub(super) gathered: Option<Gathered>,
    pub(super) stuck_at: Option<Instant>,
    pub(super) cost: usize,
    /// For a `noreply` request: the key hashes it holds on this connection.
    pub(super) detached: Option<Affinity>,
    /// The keys a written request that changes data touches (none for reads): while the
    /// connection drains after a close, requests for them wait (see [`Closed::holds`]).
    pub(super) affinity: Affinity,
}

impl InFlight {
    /// Fails the callers whose deadline has passed by `now`. A batch's caller gets the
    /// replies gathered so far with the error ([`Outcome::Cut`]); what comes after is read
    /// and dropped.
    pub(super) fn expire(&mut self, now: Instant, node: &str) {
        if let (Callers::One(caller), Some(gathered)) = (&mut self.callers, &mut self.gathered) {
            if caller.deadline.is_some_and(|deadline| deadline <= now) {
                if let Some(sender) = caller.sender.take() {
                    let replies = std::mem::take(&mut gathered.replies);
                    let error = request::timeout(node, true);
                    let _ = sender.send(Outcome::Cut { replies, error });
                }
            }
            return;
        }
        self.callers.expire(now, node);
    }

    /// Fails the callers with `error` (a batch's with the replies gathered so far); returns
    /// how many there were.
    pub(super) fn fail(self, error: &Error) -> u64 {
        match (self.callers, self.gathered) {
            (Callers::One(caller), Some(gathered)) if !gathered.replies.is_empty() => {
                let replies = gathered.replies;
                caller.send(Outcome::Cut {
                    replies,
                    error: error.clone(),
                });
                1
            }
            (callers, _) => callers.fail(error),
        }
    }
}

/// A batch's replies, gathered until the last one arrives.
pub(super) struct Gathered {
    pub(super) replies: Vec<Reply>,
    pub(super) left: usize,
}

/// Who waits for one reply: one caller, or the callers of a merged batch.
pub(super) enum Callers {
    One(Caller),
    Many(Vec<(Bytes, Caller)>),
}

impl Callers {
    pub(super) fn fail(self, error: &Error) -> u64 {
        let callers: Vec<Caller> = match self {
            Callers::One(caller) => vec![caller],
            Callers::Many(callers) => callers.into_iter().map(|(_, caller)| caller).collect(),
        };
        let count = callers.len() as u64;
        for caller in callers {
            caller.send(Outcome::Failed(error.clone()));
        }
        count
    }

    /// Fails the callers whose deadline has passed by `now`.
    pub(super) fn expire(&mut self, now: Instant, node: &str) {
        match self {
            Callers::One(caller) => caller.expire(now, node),
            Callers::Many(callers) => {
                for (_, caller) in callers {
                    caller.expire(now, node);
                }
            }
        }
    }

    /// The distinct deadlines of the callers, earliest first.
    pub(super) fn deadlines(&self) -> Vec<Instant> {
        match self {
            Callers::One(caller) => caller.deadline.into_iter().collect(),
            Callers::Many(callers) => {
                let mut deadlines: Vec<Instant> = callers
                    .iter()
                    .filter_map(|(_, caller)| caller.deadline)
                    .collect();
                deadlines.sort_unstable();
                deadlines.dedup();
                deadlines
            }
        }
    }
}

/// A completed entry's answer: one reply, or all of a batch's.
pub(super) enum Answer {
    One(Reply),
    Batch(Vec<Reply>),
}

pub(super) fn deliver(callers: Callers, answer: Answer) {
    match (callers, answer) {
        (Callers::One(caller), Answer::One(reply)) => caller.send(Outcome::Reply(reply)),
        (Callers::One(caller), Answer::Batch(replies)) => caller.send(Outcome::Replies(replies)),
        (Callers::Many(callers), Answer::One(reply)) => autobatch::deliver(callers, reply),
        // Merged gets are never batches.
        (Callers::Many(callers), Answer::Batch(_)) => {
            for (_, caller) in callers {
                let error = Error::UnexpectedReply("a batch's replies for merged gets".into());
                caller.send(Outcome::Failed(error));
            }
        }
    }
}
