//! Node health notifications and the per-node metrics snapshot.

use std::time::Duration;

use crate::cluster::addr::NodeAddr;

/// Receives node health changes. A node turns unhealthy after repeated connection
/// failures and healthy again on the next successful connection.
///
/// Methods are called from the engine's background tasks and must return quickly; spawn
/// work of your own for anything slow.
pub trait ClusterEvents: Send + Sync + 'static {
    /// `node` accepted a connection after being unhealthy.
    fn on_node_healthy(&self, node: &NodeAddr) {
        let _ = node;
    }

    /// `node` failed enough consecutive connection attempts to be declared unhealthy.
    fn on_node_unhealthy(&self, node: &NodeAddr) {
        let _ = node;
    }
}

/// A snapshot of one node's counters (all cumulative except `connections`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeMetrics {
    /// Connections open now.
    pub connections: u64,
    /// Connections opened successfully.
    pub connections_created: u64,
    /// Connection attempts that failed.
    pub connections_failed: u64,
    /// Connections closed (idle, error, or stuck).
    pub connections_closed: u64,
    /// Requests sent to the node (each attempt).
    pub requests: u64,
    /// Requests sent to the node and not ended yet.
    pub requests_in_flight: u64,
    /// Requests that ended in a connection-level failure (lost, protocol, timeout).
    pub requests_failed: u64,
    /// Requests that had to wait for a connection: for one to open, or for room on one at
    /// its in-flight budget.
    pub requests_waited: u64,
    /// Keys fetched and found (`get` and friends, single and multi-key; leases and
    /// `get_or_compute` that found a current value).
    pub hits: u64,
    /// Keys fetched and not found (leases: a key to fill, or being filled).
    pub misses: u64,
    /// Requests that failed with [`crate::Error::Timeout`].
    pub timeouts: u64,
    /// Reads answered as misses because the node was unavailable
    /// ([`crate::ClientBuilder::miss_on_unavailable`]): one per failed request.
    pub unavailable_misses: u64,
    /// Requests that failed on this node and went to the gutter pool
    /// ([`crate::ClientBuilder::gutter`]).
    pub failovers: u64,
    /// Connections the client closed that drained to the server's end of stream: every
    /// command written on them reached the server.
    pub drains_completed: u64,
    /// Connections the client closed whose drain was cut at its bound (time or bytes) or
    /// failed: commands the server had not read yet may have been lost.
    pub drains_cut: u64,
    /// Fire-and-forget (`noreply`) writes never sent: their connection closed before
    /// writing them and no other connection would take them (the client was closing).
    pub writes_dropped: u64,
    /// How long requests that waited for their outcome took, from the caller's view: from
    /// the call reaching the node, through any wait for a connection or for room, to the
    /// outcome, whatever it was. Requests whose caller gave up first are not counted.
    pub latency: LatencySummary,
}

/// Latency percentiles of one node's requests, from a histogram with about 1.6% relative
/// error (exact below 32 ns; values past about 68.7 s are reported as at most the maximum).
/// All zero until a request completes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Requests recorded.
    pub count: u64,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The 99.9th percentile.
    pub p999: Duration,
    /// The longest request, exact.
    pub max: Duration,
}
