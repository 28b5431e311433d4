//! The client's error type.

use std::io;
use std::sync::Arc;

use memproto::{DecodeError, EncodeError};

use crate::config::ConfigError;

/// Everything an operation can fail with. Every variant says what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before anything was sent: an invalid key, a value over the
    /// size limit, an out-of-range expiration. Fix the input.
    #[error("invalid request: {0}")]
    Invalid(#[from] EncodeError),
    /// A conditional store did not happen: `add` on a present key, or `replace`, `append`,
    /// `prepend` on a missing one.
    #[error("not stored: the command's condition was not met")]
    NotStored,
    /// A `cas` lost: the item changed since its CAS token was read. Read it again and retry.
    #[error("cas token is stale: the item was modified since it was read")]
    Exists,
    /// The key does not exist (`cas`, `incr`, `decr`, `touch`, `delete`).
    #[error("key not found")]
    NotFound,
    /// `incr`/`decr` on a value that is not a decimal `u64`.
    #[error("value is not a number")]
    NotNumeric,
    /// The operation did not finish within its timeout. Its reply, if it comes, is discarded.
    #[error("operation timed out")]
    Timeout,
    /// Routing has no node to use (every node was removed as unhealthy).
    #[error("no available node")]
    NoAvailableNodes,
    /// An admin command named a node that is not configured.
    #[error("unknown node {0}")]
    UnknownNode(String),
    /// Connecting to a node failed (or is backing off after recent failures).
    #[error("cannot connect to {node}: {source}")]
    Connect {
        /// The node, as configured.
        node: String,
        /// The last connection error.
        source: Arc<io::Error>,
    },
    /// The connection failed while the request was on it (reset, closed by the server,
    /// stuck past the timeout). The request may or may not have been executed.
    #[error("connection to {node} lost: {source}")]
    ConnectionLost {
        /// The node, as configured.
        node: String,
        /// What ended the connection.
        source: Arc<io::Error>,
    },
    /// The server's reply broke the protocol; the connection was closed.
    #[error("protocol violation from {node}: {source}")]
    Protocol {
        /// The node, as configured.
        node: String,
        /// What was wrong with the reply.
        source: DecodeError,
    },
    /// The server answered `ERROR`: it does not know the command.
    #[error("server does not know the command: {0}")]
    UnknownCommand(String),
    /// The server answered `CLIENT_ERROR` with this message.
    #[error("server refused the request: {0}")]
    Client(String),
    /// The server answered `SERVER_ERROR` with this message (out of memory, object too large).
    #[error("server error: {0}")]
    Server(String),
    /// The server sent a reply this command cannot produce.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// Every connection of the node is at its in-flight budget and the call asked not to
    /// wait for room (`no_wait()`, or [`crate::ClientBuilder::wait_when_overloaded`]). Back
    /// off, shed the request, or raise the budget.
    #[error("{node} is overloaded: every connection is at its in-flight budget")]
    Overloaded {
        /// The node, as configured.
        node: String,
    },
    /// The autodiscovery configuration endpoint's answer is not a usable cluster
    /// configuration (not an endpoint, malformed, too large, or listing no node).
    #[error("configuration endpoint {endpoint}: {source}")]
    Discovery {
        /// The configuration endpoint, as configured.
        endpoint: String,
        /// What was wrong with its answer.
        source: crate::discovery::DiscoveryError,
    },
    /// The client was closed ([`crate::Client::close`]).
    #[error("the client is closed")]
    Closed,
    /// The client configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
}

impl Error {
    /// Whether the operation may succeed if simply retried (timeouts and connection
    /// failures).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Timeout
                | Error::Connect { .. }
                | Error::ConnectionLost { .. }
                | Error::Protocol { .. }
                | Error::Overloaded { .. }
        )
    }
}

/// The result type of every client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
