//! The client's error type.

use std::io;
use std::sync::Arc;

use memproto::{DecodeError, EncodeError};

use crate::client::config::ConfigError;

/// Everything an operation can fail with. Every variant says what to do about it.
///
/// `Display` describes this layer only; the cause, where there is one (an I/O error, a
/// protocol violation, an invalid key), is [`std::error::Error::source`]. Print the whole
/// chain with a reporter that walks it, such as `anyhow`'s `{:#}`, and branch on
/// [`Error::kind`], [`Error::is_timeout`], [`Error::is_transient`] and
/// [`Error::is_retry_safe`] rather than on the text.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before anything was sent: an invalid key, a value over the
    /// size limit, an out-of-range expiration. Fix the input.
    #[error("invalid request")]
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
    ///
    /// `written` says whether the request had been handed to the connection by then: if
    /// not, the server never saw it and sending it again is safe whatever it does
    /// ([`Error::is_retry_safe`]); if so, it may have been executed.
    #[error("operation on {node} timed out{}", if *written { "" } else { " before it was sent" })]
    Timeout {
        /// The node (or configuration endpoint) that did not answer in time, as configured.
        node: String,
        /// Whether the request was written to the connection (and so may have been
        /// executed) before the deadline passed.
        written: bool,
    },
    /// Routing has no node to use (every node was removed as unhealthy).
    #[error("no available node")]
    NoAvailableNodes,
    /// An admin command named a node that is not configured.
    #[error("unknown node {0}")]
    UnknownNode(String),
    /// Connecting to a node failed (or is backing off after recent failures).
    #[error("cannot connect to {node}")]
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
    #[error("connection to {node} lost")]
    ConnectionLost {
        /// The node, as configured.
        node: String,
        /// What ended the connection.
        source: Arc<io::Error>,
    },
    /// The server's reply broke the protocol; the connection was closed.
    #[error("protocol violation from {node}")]
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
    #[error("unusable answer from configuration endpoint {endpoint}")]
    Discovery {
        /// The configuration endpoint, as configured.
        endpoint: String,
        /// What was wrong with its answer.
        source: crate::cluster::discovery::DiscoveryError,
    },
    /// The client was closed ([`crate::Client::close`]).
    #[error("the client is closed")]
    Closed,
    /// The client configuration is invalid.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// A value could not be encoded for a store (nothing was sent), or a fetched value is
    /// not of the type asked for: stored in another format, not a number, corrupt. The
    /// item is left as it is; `get` reads it as raw bytes.
    #[error("value conversion failed")]
    Value(#[from] crate::value::ValueError),
}

/// What kind of failure an [`Error`] is: its variant without its details, for branching,
/// metrics labels and logs ([`ErrorKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Invalid`].
    Invalid,
    /// [`Error::NotStored`].
    NotStored,
    /// [`Error::Exists`].
    Exists,
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::NotNumeric`].
    NotNumeric,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::NoAvailableNodes`].
    NoAvailableNodes,
    /// [`Error::UnknownNode`].
    UnknownNode,
    /// [`Error::Connect`].
    Connect,
    /// [`Error::Auth`].
    Auth,
    /// [`Error::ConnectionLost`].
    ConnectionLost,
    /// [`Error::Protocol`].
    Protocol,
    /// [`Error::UnknownCommand`].
    UnknownCommand,
    /// [`Error::Client`].
    Client,
    /// [`Error::Server`].
    Server,
    /// [`Error::UnexpectedReply`].
    UnexpectedReply,
    /// [`Error::Overloaded`].
    Overloaded,
    /// [`Error::Discovery`].
    Discovery,
    /// [`Error::Closed`].
    Closed,
    /// [`Error::Config`].
    Config,
    /// [`Error::Value`].
    Value,
}

impl ErrorKind {
    /// Every kind, in declaration order (the metrics facade keeps one series per kind).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [ErrorKind; 21] = [
        ErrorKind::Invalid,
        ErrorKind::NotStored,
        ErrorKind::Exists,
        ErrorKind::NotFound,
        ErrorKind::NotNumeric,
        ErrorKind::Timeout,
        ErrorKind::NoAvailableNodes,
        ErrorKind::UnknownNode,
        ErrorKind::Connect,
        ErrorKind::Auth,
        ErrorKind::ConnectionLost,
        ErrorKind::Protocol,
        ErrorKind::UnknownCommand,
        ErrorKind::Client,
        ErrorKind::Server,
        ErrorKind::UnexpectedReply,
        ErrorKind::Overloaded,
        ErrorKind::Discovery,
        ErrorKind::Closed,
        ErrorKind::Config,
        ErrorKind::Value,
    ];

    /// The kind of a server's error line among a request's replies, if there is one.
    pub(crate) fn of_reply(reply: &memproto::Reply) -> Option<ErrorKind> {
        use memproto::{Reply, ServerErrorKind};
        match reply {
            Reply::Error(error) | Reply::Unattributed(error) => Some(match error.kind {
                ServerErrorKind::Error => ErrorKind::UnknownCommand,
                ServerErrorKind::Client => ErrorKind::Client,
                ServerErrorKind::Server => ErrorKind::Server,
            }),
            _ => None,
        }
    }

    /// A short, stable, lowercase name: `"timeout"`, `"connection_lost"`, ... (suitable as
    /// a metrics label or OpenTelemetry's `error.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotStored => "not_stored",
            ErrorKind::Exists => "exists",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotNumeric => "not_numeric",
            ErrorKind::Timeout => "timeout",
            ErrorKind::NoAvailableNodes => "no_available_nodes",
            ErrorKind::UnknownNode => "unknown_node",
            ErrorKind::Connect => "connect",
            ErrorKind::Auth => "auth",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::Protocol => "protocol",
            ErrorKind::UnknownCommand => "unknown_command",
            ErrorKind::Client => "client_error",
            ErrorKind::Server => "server_error",
            ErrorKind::UnexpectedReply => "unexpected_reply",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Discovery => "discovery",
            ErrorKind::Closed => "closed",
            ErrorKind::Config => "config",
            ErrorKind::Value => "value",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// What kind of failure this is.
    ///
    /// ```
    /// use memcache_core::{Error, ErrorKind};
    ///
    /// let error = Error::Timeout { node: "cache-1:11211".into(), written: true };
    /// assert_eq!(error.kind(), ErrorKind::Timeout);
    /// assert_eq!(error.kind().as_str(), "timeout");
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotStored => ErrorKind::NotStored,
            Error::Exists => ErrorKind::Exists,
            Error::NotFound => ErrorKind::NotFound,
            Error::NotNumeric => ErrorKind::NotNumeric,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::NoAvailableNodes => ErrorKind::NoAvailableNodes,
            Error::UnknownNode(_) => ErrorKind::UnknownNode,
            Error::Connect { .. } => ErrorKind::Connect,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::ConnectionLost { .. } => ErrorKind::ConnectionLost,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::UnknownCommand(_) => ErrorKind::UnknownCommand,
            Error::Client(_) => ErrorKind::Client,
            Error::Server(_) => ErrorKind::Server,
            Error::UnexpectedReply(_) => ErrorKind::UnexpectedReply,
            Error::Overloaded { .. } => ErrorKind::Overloaded,
            Error::Discovery { .. } => ErrorKind::Discovery,
            Error::Closed => ErrorKind::Closed,
            Error::Config(_) => ErrorKind::Config,
            Error::Value(_) => ErrorKind::Value,
        }
    }

    /// Whether the operation ran out of time ([`Error::Timeout`]); see its `written` field
    /// for whether the server may have executed it.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the same request, sent again later, may succeed: the node could not serve
    /// it (it was unreachable, down, overloaded, too slow, or its connection failed), not
    /// because of the request, its data, or what the server answered. This is the one
    /// classification of *unavailability*: the retry policy ([`crate::RetryPolicy`]) retries
    /// exactly these, and [`crate::ClientBuilder::miss_on_unavailable`] turns exactly these
    /// into misses.
    ///
    /// Transient:
    /// - [`Error::Timeout`]: the reply was late, not refused; the server or the network may
    ///   be faster next time.
    /// - [`Error::Connect`]: the node may come back (a restart, a network blip). While the
    ///   node is marked down after repeated failures, calls fail at once with this error.
    /// - [`Error::ConnectionLost`]: the retry goes on another connection.
    /// - [`Error::Overloaded`]: room frees as replies arrive.
    /// - [`Error::NoAvailableNodes`]: nodes removed as unhealthy return once a reconnect
    ///   succeeds.
    ///
    /// Not transient: everything else. An answer from the server always surfaces:
    /// [`Error::NotStored`], [`Error::Exists`], [`Error::NotFound`] and
    /// [`Error::NotNumeric`] are about the data; [`Error::UnknownCommand`] (a server that
    /// lacks the command, such as meta commands before memcached 1.6), [`Error::Client`]
    /// and [`Error::UnexpectedReply`] repeat every time; [`Error::Server`] is memcached's
    /// "object too large", which repeats for the same value, or "out of memory", which
    /// lasts until items expire or are evicted, longer than a prompt retry waits (retry
    /// those yourself, after a backoff, if your servers evict). [`Error::Protocol`] means
    /// the server broke the protocol: the connection was closed, and a server that does so
    /// is not to be papered over. [`Error::Auth`], [`Error::Invalid`], [`Error::Config`],
    /// [`Error::UnknownNode`], [`Error::Discovery`] and [`Error::Value`] need a change of
    /// credentials, input or configuration; [`Error::Closed`] is final.
    ///
    /// Whether retrying is *safe* is another question, answered by
    /// [`Error::is_retry_safe`]: a timed-out or lost request may have been executed, so
    /// only idempotent requests should be retried after those.
    pub fn is_transient(&self) -> bool {
        // New variants are not transient unless listed here.
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Connect { .. }
                | Error::ConnectionLost { .. }
                | Error::Overloaded { .. }
                | Error::NoAvailableNodes
        )
    }

    /// Whether the server certainly did not execute the request, so that sending it again
    /// cannot apply it twice, whatever the command (an `incr`, an `append`):
    /// - [`Error::Timeout`] with `written: false`: the deadline passed before the request
    ///   was handed to a connection;
    /// - [`Error::Connect`], [`Error::Overloaded`], [`Error::NoAvailableNodes`]: no
    ///   connection took it;
    /// - [`Error::Invalid`], [`Error::Value`], [`Error::Config`], [`Error::UnknownNode`],
    ///   [`Error::Auth`]: refused before a byte of it was sent.
    ///
    /// Everything else may have been executed: [`Error::Timeout`] with `written: true`
    /// and [`Error::ConnectionLost`] (the request was on the wire), the server's answers
    /// (executed or refused by the server itself), [`Error::Protocol`] (the reply could
    /// not be read) and [`Error::Closed`] (for a request in flight when the client
    /// closed). Whether a retry can *succeed* is [`Error::is_transient`].
    pub fn is_retry_safe(&self) -> bool {
        matches!(
            self,
            Error::Timeout { written: false, .. }
                | Error::Connect { .. }
                | Error::Overloaded { .. }
                | Error::NoAvailableNodes
                | Error::Invalid(_)
                | Error::Value(_)
                | Error::Config(_)
                | Error::UnknownNode(_)
                | Error::Auth { .. }
        )
    }
}

/// The result type of every client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::io;

    use memproto::DecodeError;

    use super::*;
    use crate::cluster::discovery::DiscoveryError;

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
            (
                Error::Timeout {
                    node: node(),
                    written: true,
                },
                true,
            ),
            (
                Error::Timeout {
                    node: node(),
                    written: false,
                },
                true,
            ),
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
            (protocol(DecodeError::BareLineFeed), false),
            (protocol(DecodeError::MissingDataTerminator), false),
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

    /// Each layer's `Display` says what it adds and leaves the cause to `source()`, so a
    /// reporter that walks the chain prints every sentence once.
    #[test]
    fn the_chain_says_each_thing_once() {
        use std::error::Error as _;
        let invalid_key = Error::Invalid(EncodeError::Key(memproto::KeyError::Empty));
        for error in every_variant()
            .into_iter()
            .map(|(error, _)| error)
            .chain([invalid_key])
        {
            let mut chain = vec![error.to_string()];
            let mut source = error.source();
            while let Some(cause) = source {
                chain.push(cause.to_string());
                source = cause.source();
            }
            for (at, text) in chain.iter().enumerate() {
                for later in &chain[at + 1..] {
                    assert!(
                        !text.contains(later.as_str()),
                        "{error:?}: {text:?} repeats its cause {later:?}"
                    );
                }
            }
        }
        let invalid = Error::Invalid(EncodeError::NoKeys);
        assert_eq!(invalid.to_string(), "invalid request");
        assert_eq!(
            invalid.source().map(ToString::to_string),
            Some(EncodeError::NoKeys.to_string())
        );
        let lost = Error::ConnectionLost {
            node: "n".into(),
            source: io_error(),
        };
        assert_eq!(lost.to_string(), "connection to n lost");
        assert!(lost.source().is_some());
    }

    #[test]
    fn all_lists_every_kind_in_order() {
        for (at, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, at, "{kind:?}");
        }
        for (error, _) in every_variant() {
            assert!(ErrorKind::ALL.contains(&error.kind()));
        }
    }

    #[test]
    fn every_variant_has_a_kind_of_its_own() {
        let mut names = std::collections::HashSet::new();
        for (error, _) in every_variant() {
            assert_eq!(error.is_timeout(), error.kind() == ErrorKind::Timeout);
            names.insert((std::mem::discriminant(&error), error.kind().as_str()));
        }
        let kinds: std::collections::HashSet<_> = names.iter().map(|(_, kind)| *kind).collect();
        let variants: std::collections::HashSet<_> =
            names.iter().map(|(variant, _)| *variant).collect();
        assert_eq!(kinds.len(), variants.len(), "two variants share a kind");
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
                node: "cache-1:11211".into(),
                written: true,
            }
            .to_string(),
            "operation on cache-1:11211 timed out"
        );
    }

    #[test]
    fn only_requests_never_sent_are_retry_safe() {
        let safe = |error: Error| error.is_retry_safe();
        let timeout = |written| Error::Timeout {
            node: "n".into(),
            written,
        };
        assert!(safe(timeout(false)));
        assert!(!safe(timeout(true)));
        assert!(safe(Error::Connect {
            node: "n".into(),
            source: io_error(),
        }));
        assert!(!safe(Error::ConnectionLost {
            node: "n".into(),
            source: io_error(),
        }));
        assert!(!safe(protocol(DecodeError::BareLineFeed)));
        assert!(!safe(Error::Server("out of memory".into())));
        assert!(!safe(Error::Closed));
        assert!(safe(Error::Invalid(EncodeError::NoKeys)));
        assert_eq!(
            timeout(false).to_string(),
            "operation on n timed out before it was sent"
        );
    }
}
