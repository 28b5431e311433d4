//! Autobatching: single-key `get`s (or `gets`) queued on one connection at the same moment
//! are written as one multi-key command, and its reply is shared out to their callers.
//!
//! Batches form only from requests that are already waiting together in a connection's
//! inbox, so batching never delays a request: an idle connection sends a lone get at once.

use std::collections::HashSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memproto::{Command, Encoder, Expect, Reply, Retrieve, RetrieveKind};

use crate::engine::request::{Caller, Outcome, Submission};

/// What makes a request batchable: a single-key `get` or `gets`.
#[derive(Debug, Clone)]
pub(crate) struct BatchKey {
    pub(crate) key: Bytes,
    pub(crate) with_cas: bool,
}

/// Batchable requests gathered while draining an inbox.
pub(crate) struct Batch {
    requests: Vec<Submission>,
    max_keys: usize,
}

/// What a batch turned into: its requests one by one, or one merged command.
pub(crate) enum Flushed {
    Single(Vec<Submission>),
    Merged {
        bytes: BytesMut,
        expect: Expect,
        /// Each caller, with its key and its own deadline.
        callers: Vec<(Bytes, Caller)>,
        /// The most patient caller's patience (`None` if one waits forever).
        patience: Option<Duration>,
        /// The merged requests' total cost against the in-flight byte budget.
        cost: usize,
    },
}

impl Batch {
    pub(crate) fn new(max_keys: usize) -> Self {
        Batch {
            requests: Vec::new(),
            max_keys: max_keys.max(1),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Whether `key` can join the batch (same command, room left).
    pub(crate) fn accepts(&self, key: &BatchKey) -> bool {
        match self.requests.first().and_then(|first| first.batch.as_ref()) {
            None => true,
            Some(first) => first.with_cas == key.with_cas && self.requests.len() < self.max_keys,
        }
    }

    pub(crate) fn push(&mut self, request: Submission) {
        self.requests.push(request);
    }

    /// Empties the batch into what should be written.
    pub(crate) fn flush(&mut self) -> Flushed {
        let requests = std::mem::take(&mut self.requests);
        if requests.len() < 2 {
            return Flushed::Single(requests);
        }
        let with_cas = requests
            .iter()
            .any(|request| request.batch.as_ref().is_some_and(|key| key.with_cas));
        let mut seen = HashSet::with_capacity(requests.len());
        let mut keys: Vec<&[u8]> = Vec::with_capacity(requests.len());
        for request in &requests {
            if let Some(batch) = &request.batch {
                if seen.insert(&batch.key[..]) {
                    keys.push(&batch.key);
                }
            }
        }
        let kind = if with_cas {
            RetrieveKind::Gets
        } else {
            RetrieveKind::Get
        };
        let mut bytes = BytesMut::new();
        let encoded = Encoder::new().encode(
            &Command::Retrieve(Retrieve { kind, keys: &keys }),
            &mut bytes,
        );
        let patience = requests
            .iter()
            .map(|request| request.patience)
            .try_fold(Duration::ZERO, |longest, patience| {
                patience.map(|p| p.max(longest))
            });
        let cost = requests.iter().map(Submission::cost).sum();
        match encoded {
            Ok(expect) => Flushed::Merged {
                bytes,
                expect,
                patience,
                cost,
                callers: requests
                    .into_iter()
                    .map(|request| {
                        let caller = Caller {
                            sender: request.reply,
                            deadline: request.deadline,
                        };
                        (
                            request.batch.map(|batch| batch.key).unwrap_or_default(),
                            caller,
                        )
                    })
                    .collect(),
            },
            // Every key was valid on its own request; should merging still fail, send them
            // as they came.
            Err(_) => Flushed::Single(requests),
        }
    }
}

/// Shares a merged reply out: each caller gets its own item (or a miss); an error line goes
/// to every caller.
pub(crate) fn deliver(callers: Vec<(Bytes, Caller)>, reply: Reply) {
    match reply {
        Reply::Values(items) => {
            for (key, caller) in callers {
                let own = items
                    .iter()
                    .filter(|item| item.key == key)
                    .cloned()
                    .collect();
                caller.send(Outcome::Reply(Reply::Values(own)));
            }
        }
        other => {
            for (_, caller) in callers {
                caller.send(Outcome::Reply(other.clone()));
            }
        }
    }
}
