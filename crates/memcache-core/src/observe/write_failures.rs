//! Writes that failed, reported to the application so that it can invalidate their keys
//! later: after a failed `set` the old value is still served, and after a write whose
//! outcome is unknown either value may be.

use bytes::Bytes;

use crate::error::Error;

/// A write that may have left its item stale: see
/// [`ClientBuilder::on_write_failure`](crate::ClientBuilder::on_write_failure).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteFailure {
    /// The item's key.
    pub key: Bytes,
    /// The call's routing key, when it named one
    /// ([`Request::routing_key`](crate::Request::routing_key)): the item lives on that
    /// key's node, so an invalidation must name it too.
    pub routing_key: Option<Bytes>,
    /// Why the write failed.
    pub error: Error,
}

impl WriteFailure {
    /// Whether the server may have applied the write after all (a timeout once it was
    /// sent, a connection lost with it on the wire): the item holds either value.
    /// Otherwise the write certainly did not happen and the item holds its old value.
    pub fn outcome_unknown(&self) -> bool {
        !self.error.is_retry_safe()
    }
}

/// The application's handler of write failures.
pub(crate) type Handler = std::sync::Arc<dyn Fn(&WriteFailure) + Send + Sync>;

/// Whether a write that failed with `error` may have left its item stale. The server's
/// answers about the data (not stored, exists, not found, not numeric) are outcomes, not
/// failures, and a write refused before it was sent (invalid key or value, bad
/// configuration) changed nothing the caller did not see.
pub(crate) fn leaves_item_stale(error: &Error) -> bool {
    !matches!(
        error,
        Error::NotStored
            | Error::Exists
            | Error::NotFound
            | Error::NotNumeric
            | Error::Invalid(_)
            | Error::Value(_)
            | Error::Config(_)
            | Error::UnknownNode(_)
    )
}

/// Reports a write of `key` (routed by `routing_key`) that failed with `error`, if it
/// may have left the item stale and the application listens.
pub(crate) fn report(
    handler: Option<&Handler>,
    key: &[u8],
    routing_key: Option<&Bytes>,
    error: &Error,
) {
    let Some(handler) = handler else {
        return;
    };
    if key.is_empty() || !leaves_item_stale(error) {
        return;
    }
    handler(&WriteFailure {
        key: Bytes::copy_from_slice(key),
        routing_key: routing_key.cloned(),
        error: error.clone(),
    });
}
