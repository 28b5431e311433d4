//! One call's request, as the node needs it.

use super::*;

/// Encodes a request; called again if the request had to wait for room, so that waiting
/// callers hold no encoded copy of their values.
pub(crate) type Encode<'a> = &'a (dyn Fn() -> Result<(Payload, Expects)> + Sync);

/// One call's request, as the node needs it.
pub(crate) struct Call<'a> {
    pub(crate) encode: Encode<'a>,
    /// When the caller stops waiting.
    pub(crate) deadline: Option<Instant>,
    pub(crate) patience: Option<Duration>,
    pub(crate) batch: Option<BatchKey>,
    pub(crate) affinity: Affinity,
    /// The request only reads (see [`Request::read_only`]).
    pub(crate) read_only: bool,
    /// Wait for room when every connection is at its budget (else fail with
    /// [`Error::Overloaded`]).
    pub(crate) wait: bool,
}
