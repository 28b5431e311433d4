//! Node health notifications and per-node counters.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::addr::NodeAddr;

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
    /// Requests sent to the node.
    pub requests: u64,
    /// Requests that ended in a connection-level failure (lost, protocol, timeout).
    pub requests_failed: u64,
    /// Requests that had to wait for a connection to open.
    pub requests_waited: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) connections_created: AtomicU64,
    pub(crate) connections_failed: AtomicU64,
    pub(crate) connections_closed: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) requests_failed: AtomicU64,
    pub(crate) requests_waited: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> NodeMetrics {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NodeMetrics {
            connections: read(&self.connections),
            connections_created: read(&self.connections_created),
            connections_failed: read(&self.connections_failed),
            connections_closed: read(&self.connections_closed),
            requests: read(&self.requests),
            requests_failed: read(&self.requests_failed),
            requests_waited: read(&self.requests_waited),
        }
    }
}
