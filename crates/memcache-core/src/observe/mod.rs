//! What the client reports about its work besides results: the counters and latency
//! histogram behind [`crate::Client::metrics`] (always kept), `tracing` spans and events
//! (feature `tracing`) and `metrics` facade series (feature `metrics`).
//!
//! Call sites stay one line with no `cfg` of their own: every hook here compiles to
//! nothing when its feature is off.

mod attempt;
mod command;
mod counters;
pub(crate) mod events;
pub(crate) mod histogram;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "tracing")]
mod query_text;
#[cfg(feature = "tracing")]
mod tracing;
pub(crate) mod write_failures;

use std::time::Duration;

use crate::cluster::addr::NodeAddr;
use crate::error::Error;

pub(crate) use crate::error::ErrorKind;
pub(crate) use attempt::Attempt;
pub(crate) use counters::Counters;

/// The step of opening a connection that failed, named in its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The TCP or unix socket connect.
    Socket,
    /// The TLS handshake.
    #[cfg(feature = "tls")]
    Tls,
    /// Sending the credentials.
    Auth,
    /// The first `version` round trip.
    Probe,
    /// The connect timeout passed first.
    Timeout,
}

impl Stage {
    /// The stage's name in events.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Socket => "socket",
            #[cfg(feature = "tls")]
            Stage::Tls => "tls",
            Stage::Auth => "auth",
            Stage::Probe => "probe",
            Stage::Timeout => "timeout",
        }
    }
}

/// A connection to `node` was established in `elapsed`.
pub(crate) fn connected(node: &NodeAddr, elapsed: Duration) {
    #[cfg(feature = "tracing")]
    self::tracing::connected(node, elapsed);
    #[cfg(not(feature = "tracing"))]
    let _ = (node, elapsed);
}

/// A connection attempt to `node` failed at `stage` after `elapsed`, with `error`.
pub(crate) fn connect_failed(node: &NodeAddr, stage: Stage, elapsed: Duration, error: &Error) {
    #[cfg(feature = "tracing")]
    self::tracing::connect_failed(node, stage, elapsed, error);
    #[cfg(not(feature = "tracing"))]
    let _ = (node, stage, elapsed, error);
}

/// A connection to `node` ended because of `reason`.
pub(crate) fn disconnected(node: &str, reason: &Error) {
    #[cfg(feature = "tracing")]
    self::tracing::disconnected(node, reason);
    #[cfg(not(feature = "tracing"))]
    let _ = (node, reason);
}

/// A connection to `node` the client closed finished draining (see the driver): to the
/// server's end of stream (`completed`) or cut short, after reading `bytes` nobody waited
/// for, in `elapsed`.
pub(crate) fn drain_finished(node: &str, completed: bool, bytes: usize, elapsed: Duration) {
    #[cfg(feature = "tracing")]
    self::tracing::drain_finished(node, completed, bytes, elapsed);
    #[cfg(not(feature = "tracing"))]
    let _ = (node, completed, bytes, elapsed);
}

/// `count` fire-and-forget writes to `node` were never sent: their connection ended with
/// `reason` and no other took them.
pub(crate) fn writes_dropped(node: &str, count: u64, reason: &Error) {
    #[cfg(feature = "tracing")]
    self::tracing::writes_dropped(node, count, reason);
    #[cfg(not(feature = "tracing"))]
    let _ = (node, count, reason);
}

/// `node` turned healthy or unhealthy.
pub(crate) fn health_changed(node: &NodeAddr, healthy: bool) {
    #[cfg(feature = "tracing")]
    self::tracing::health_changed(node, healthy);
    #[cfg(not(feature = "tracing"))]
    let _ = (node, healthy);
}
