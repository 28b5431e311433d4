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
    /// The operation did not finish within its timeout (or the configuration endpoint did
    /// not answer within the discovery timeout). Its reply, if it comes, is discarded.
    #[error("operation on {node} timed out")]
    Timeout {
        /// The node (or configuration endpoint) that did not answer in time, as configured.
        node: String,
    },
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
    /// The server rejected the client's credentials ([`crate::ClientBuilder::credentials`]),
    /// or requires credentials and none were configured. Retrying cannot help: fix the
    /// credentials or the server's user file.
    #[error("authentication to {node} failed: {message}")]
    Auth {
        /// The node, as configured.
        node: String,
        /// What the server (or the client, for credentials it cannot send) said.
        message: String,
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
    /// A value could not be encoded for a store (nothing was sent), or a fetched value is
    /// not of the type asked for: stored in another format, not a number, corrupt. The
    /// item is left as it is; `get` reads it as raw bytes.
    #[error("value: {0}")]
    Value(#[from] crate::value::ValueError),
}

impl Error {
    /// Whether the same request, sent again later, may succeed: the failure came from the
    /// state of a node, a connection or the network, not from the request or its data.
    ///
    /// Transient:
    /// - [`Error::Timeout`]: the reply was late, not refused; the server or the network may
    ///   be faster next time.
    /// - [`Error::Connect`]: the node may come back (a restart, a network blip). While the
    ///   node backs off after failed attempts, retries fail at once with the same error
    ///   until the backoff ends.
    /// - [`Error::ConnectionLost`]: the retry goes on another connection.
    /// - [`Error::Overloaded`]: room frees as replies arrive.
    /// - [`Error::NoAvailableNodes`]: nodes removed as unhealthy return once a reconnect
    ///   succeeds.
    /// - [`Error::Protocol`], except a reply over the configured limits: the connection was
    ///   closed, so the retry goes on a fresh connection whose stream is in sync. A line,
    ///   value or reply over the client's limits (`LineTooLong`, `ValueTooLarge`,
    ///   `TooManyLines`) is not transient: the same item breaks the same limit again.
    ///
    /// Not transient: everything else. [`Error::Auth`], [`Error::Invalid`],
    /// [`Error::Config`], [`Error::UnknownNode`] and [`Error::Discovery`] need a change of
    /// credentials, input or configuration; [`Error::NotStored`], [`Error::Exists`],
    /// [`Error::NotFound`] and [`Error::NotNumeric`] are the server's answer about the
    /// data, which a retry gets again, and [`Error::Value`] is about the value itself;
    /// [`Error::Closed`] is final. [`Error::UnknownCommand`], [`Error::Client`] and
    /// [`Error::UnexpectedReply`] are deliberate answers the server
    /// gives every time. [`Error::Server`] is not transient either: memcached's server
    /// errors are "object too large", which repeats for the same value, and "out of
    /// memory", which lasts until items expire or are evicted, longer than a prompt retry
    /// waits; retry those yourself, after a backoff, if your servers evict.
    ///
    /// Whether retrying is *safe* is another question: a timed-out or lost request may
    /// have been executed, so only idempotent requests should be retried after those.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout { .. }
            | Error::Connect { .. }
            | Error::ConnectionLost { .. }
            | Error::Overloaded { .. }
            | Error::NoAvailableNodes => true,
            Error::Protocol { source, .. } => !matches!(
                source,
                DecodeError::LineTooLong { .. }
                    | DecodeError::ValueTooLarge { .. }
                    | DecodeError::TooManyLines { .. }
            ),
            // Every other variant is an answer or a mistake a retry meets again; new
            // variants are not transient unless listed above.
            _ => false,
        }
    }
}

/// The result type of every client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::io;

    use memproto::DecodeError;

    use super::*;
    use crate::discovery::DiscoveryError;

    fn io_error() -> Arc<io::Error> {
        Arc::new(io::Error::from(io::ErrorKind::ConnectionReset))
    }

    fn protocol(source: DecodeError) -> Error {
        Error::Protocol {
            node: "cache-1:11211".into(),
            source,
        }
    }

    /// Every variant, with whether it is transient.
    fn every_variant() -> Vec<(Error, bool)> {
        let node = || "cache-1:11211".to_owned();
        vec![
            (Error::Timeout { node: node() }, true),
            (
                Error::Connect {
                    node: node(),
                    source: io_error(),
                },
                true,
            ),
            (
                Error::ConnectionLost {
                    node: node(),
                    source: io_error(),
                },
                true,
            ),
            (Error::Overloaded { node: node() }, true),
            (Error::NoAvailableNodes, true),
            (protocol(DecodeError::BareLineFeed), true),
            (protocol(DecodeError::MissingDataTerminator), true),
            (protocol(DecodeError::LineTooLong { max: 2048 }), false),
            (
                protocol(DecodeError::ValueTooLarge { len: 10, max: 1 }),
                false,
            ),
            (protocol(DecodeError::TooManyLines { max: 10 }), false),
            (
                Error::Auth {
                    node: node(),
                    message: "authentication failure".into(),
                },
                false,
            ),
            (Error::Invalid(EncodeError::NoKeys), false),
            (Error::NotStored, false),
            (Error::Exists, false),
            (Error::NotFound, false),
            (Error::NotNumeric, false),
            (Error::UnknownNode(node()), false),
            (Error::UnknownCommand("ERROR".into()), false),
            (Error::Client("bad data chunk".into()), false),
            (Error::Server("out of memory storing object".into()), false),
            (Error::Server("object too large for cache".into()), false),
            (Error::UnexpectedReply("STORED".into()), false),
            (
                Error::Discovery {
                    endpoint: node(),
                    source: DiscoveryError::Malformed("no nodes"),
                },
                false,
            ),
            (Error::Closed, false),
            (Error::Config(ConfigError::NoNodes), false),
            (Error::Value(crate::value::ValueError::NotUtf8), false),
        ]
    }

    #[test]
    fn is_transient_answers_for_every_variant() {
        for (error, transient) in every_variant() {
            assert_eq!(error.is_transient(), transient, "{error:?}");
        }
    }

    #[test]
    fn node_level_errors_name_their_node() {
        for (error, _) in every_variant() {
            let named = matches!(
                error,
                Error::Timeout { .. }
                    | Error::Connect { .. }
                    | Error::ConnectionLost { .. }
                    | Error::Overloaded { .. }
                    | Error::Protocol { .. }
                    | Error::Auth { .. }
                    | Error::UnknownNode(_)
                    | Error::Discovery { .. }
            );
            if named {
                assert!(error.to_string().contains("cache-1:11211"), "{error}");
            }
        }
        assert_eq!(
            Error::Timeout {
                node: "cache-1:11211".into()
            }
            .to_string(),
            "operation on cache-1:11211 timed out"
        );
    }
}
