//! What a connection is built with, and why it may refuse a request.

use super::*;

/// How much a connection may carry at once, counted from submission to reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) requests: usize,
    pub(crate) bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            requests: 4096,
            bytes: 4 * 1024 * 1024,
        }
    }
}

/// What a connection is built with.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionConfig {
    pub(crate) limits: Limits,
    pub(crate) budget: Budget,
    /// Merge queued single-key gets into multi-key gets of at most this many keys.
    pub(crate) autobatch_max_keys: Option<usize>,
    /// Hold new requests while a write awaits its replies (see
    /// [`Connection::wants_transmit`]).
    pub(crate) coalesce_writes: bool,
}

/// Why a connection refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Closed or closing: it will never take requests again.
    Closed,
    /// A caller timed out on it and it has not caught up yet.
    Behind,
    /// Its in-flight budget is used up.
    Full,
}

/// A refused request, handed back to be placed elsewhere.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) reason: Refusal,
    pub(crate) request: Submission,
}
