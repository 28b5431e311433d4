//! The I/O shells around the engine's state machines: the tasks and sockets they need, and
//! nothing they decide.
//!
//! - [`node`]: one node's pool behind a lock, and the tasks it asks for.
//! - [`driver`]: one task per connection, owning the socket and one timer.
//! - [`connect`]: opening a connection (socket, TLS, authentication, first answer).
//! - [`runtime`]: the little the client needs from an async runtime.
//! - [`value_buffers`]: reused storage for large values.

pub(crate) mod auth;
pub(crate) mod connect;
pub(crate) mod driver;
pub(crate) mod node;
pub(crate) mod runtime;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod value_buffers;
