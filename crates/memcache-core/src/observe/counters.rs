//! One node's counters: the atomics behind [`crate::Client::metrics`], its latency
//! histogram, and (feature `metrics`) its facade handles, each updated by the same hook.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::observe::events::NodeMetrics;
use crate::observe::histogram::Histogram;
use crate::observe::ErrorKind;

/// A node's counters, shared by the node and its connection drivers.
#[derive(Debug)]
pub struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) connections_created: AtomicU64,
    pub(crate) connections_failed: AtomicU64,
    pub(crate) connections_closed: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) requests_failed: AtomicU64,
    pub(crate) requests_waited: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    timeouts: AtomicU64,
    unavailable_misses: AtomicU64,
    drains_completed: AtomicU64,
    drains_cut: AtomicU64,
    writes_dropped: AtomicU64,
    latency: Histogram,
    /// Registered once, with the node: the hot path adds to a handle, never looks one up.
    #[cfg(feature = "metrics")]
    facade: super::metrics::Handles,
}

impl Counters {
    /// Counters for the node named `node` (as configured: the facade's `node` label).
    pub(crate) fn new(node: &str) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = node;
        Counters {
            connections: AtomicU64::new(0),
            connections_created: AtomicU64::new(0),
            connections_failed: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
            requests_waited: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            unavailable_misses: AtomicU64::new(0),
            drains_completed: AtomicU64::new(0),
            drains_cut: AtomicU64::new(0),
            writes_dropped: AtomicU64::new(0),
            latency: Histogram::default(),
            #[cfg(feature = "metrics")]
            facade: super::metrics::Handles::new(node),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A fetch found `hits` of its keys and not the other `misses`.
    pub(crate) fn fetched(&self, hits: u64, misses: u64) {
        if hits > 0 {
            self.hits.fetch_add(hits, Ordering::Relaxed);
        }
        if misses > 0 {
            self.misses.fetch_add(misses, Ordering::Relaxed);
        }
        #[cfg(feature = "metrics")]
        self.facade.fetched(hits, misses);
    }

    /// A read failed because the node was unavailable and answered a miss instead
    /// ([`crate::ClientBuilder::miss_on_unavailable`]).
    pub(crate) fn unavailable_miss(&self) {
        Counters::bump(&self.unavailable_misses);
    }

    /// A connection was established, `elapsed` after its attempt started (`None` when
    /// unknown).
    pub(crate) fn opened(&self, elapsed: Option<Duration>) {
        Counters::bump(&self.connections_created);
        self.connections.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.opened(elapsed);
        #[cfg(not(feature = "metrics"))]
        let _ = elapsed;
    }

    /// A connection attempt failed, `elapsed` after it started (`None` when unknown).
    pub(crate) fn open_failed(&self, elapsed: Option<Duration>) {
        Counters::bump(&self.connections_failed);
        #[cfg(feature = "metrics")]
        self.facade.open_failed(elapsed);
        #[cfg(not(feature = "metrics"))]
        let _ = elapsed;
    }

    /// An established connection closed.
    pub(crate) fn closed(&self) {
        Counters::bump(&self.connections_closed);
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection the client closed finished draining: to the server's end of stream
    /// (`completed`), or cut at its bound.
    pub(crate) fn drained(&self, completed: bool) {
        if completed {
            Counters::bump(&self.drains_completed);
        } else {
            Counters::bump(&self.drains_cut);
        }
        #[cfg(feature = "metrics")]
        self.facade.drained(completed);
    }

    /// `count` fire-and-forget writes were never sent: their connection closed and no
    /// other would take them (the client was closing).
    pub(crate) fn writes_dropped(&self, count: u64) {
        self.writes_dropped.fetch_add(count, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.writes_dropped(count);
    }

    /// A request waited `elapsed` for a connection or for room on one.
    pub(crate) fn waited(&self, elapsed: Duration) {
        #[cfg(feature = "metrics")]
        self.facade.waited(elapsed);
        #[cfg(not(feature = "metrics"))]
        let _ = elapsed;
    }

    /// A request ended, after `elapsed` (`None` for a request nobody waits for), failed
    /// as `failure` says or not.
    pub(crate) fn answered(&self, elapsed: Option<Duration>, failure: Option<ErrorKind>) {
        if let Some(elapsed) = elapsed {
            self.latency.record(elapsed);
        }
        if failure == Some(ErrorKind::Timeout) {
            Counters::bump(&self.timeouts);
        }
        #[cfg(feature = "metrics")]
        self.facade.answered(elapsed, failure);
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
            hits: read(&self.hits),
            misses: read(&self.misses),
            timeouts: read(&self.timeouts),
            unavailable_misses: read(&self.unavailable_misses),
            drains_completed: read(&self.drains_completed),
            drains_cut: read(&self.drains_cut),
            writes_dropped: read(&self.writes_dropped),
            latency: self.latency.summary(),
        }
    }
}
