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
    connections: AtomicU64,
    connections_created: AtomicU64,
    connections_failed: AtomicU64,
    connections_closed: AtomicU64,
    requests: AtomicU64,
    requests_in_flight: AtomicU64,
    requests_failed: AtomicU64,
    requests_waited: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    timeouts: AtomicU64,
    unavailable_misses: AtomicU64,
    failovers: AtomicU64,
    drains_completed: AtomicU64,
    drains_cut: AtomicU64,
    writes_dropped: AtomicU64,
    latency: Histogram,
    /// The same counts, through the facade (see [`super::metrics`]).
    #[cfg(feature = "metrics")]
    facade: super::metrics::Facade,
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
            requests_in_flight: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
            requests_waited: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            unavailable_misses: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            drains_completed: AtomicU64::new(0),
            drains_cut: AtomicU64::new(0),
            writes_dropped: AtomicU64::new(0),
            latency: Histogram::default(),
            #[cfg(feature = "metrics")]
            facade: super::metrics::Facade::new(node),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A request (one attempt) was sent to the node; it is in flight until
    /// [`Counters::answered`] or [`Counters::abandoned`].
    pub(crate) fn requested(&self) {
        Counters::bump(&self.requests);
        Counters::bump(&self.requests_in_flight);
        #[cfg(feature = "metrics")]
        self.facade.requested();
    }

    /// `count` requests failed with their connection.
    pub(crate) fn requests_failed(&self, count: u64) {
        self.requests_failed.fetch_add(count, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.requests_failed(count);
    }

    /// A request waited for room on the node's connections.
    pub(crate) fn requests_waited(&self) {
        Counters::bump(&self.requests_waited);
        #[cfg(feature = "metrics")]
        self.facade.requests_waited();
    }

    /// A request's caller gave up before it ended.
    pub(crate) fn abandoned(&self) {
        self.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.abandoned();
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
        #[cfg(feature = "metrics")]
        self.facade.unavailable_miss();
    }

    /// A request that failed on this node went to the gutter pool.
    pub(crate) fn failed_over(&self) {
        Counters::bump(&self.failovers);
        #[cfg(feature = "metrics")]
        self.facade.failed_over();
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
        #[cfg(feature = "metrics")]
        self.facade.closed();
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

    /// A request running `command` (an index in the command names) ended, after
    /// `elapsed` (`None` for a request nobody waits for), failed as `failure` says or not.
    pub(crate) fn answered(
        &self,
        command: usize,
        elapsed: Option<Duration>,
        failure: Option<ErrorKind>,
    ) {
        self.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(elapsed) = elapsed {
            self.latency.record(elapsed);
        }
        if failure == Some(ErrorKind::Timeout) {
            Counters::bump(&self.timeouts);
        }
        #[cfg(feature = "metrics")]
        self.facade.answered(command, elapsed, failure);
        #[cfg(not(feature = "metrics"))]
        let _ = command;
    }

    pub(crate) fn snapshot(&self) -> NodeMetrics {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NodeMetrics {
            connections: read(&self.connections),
            connections_created: read(&self.connections_created),
            connections_failed: read(&self.connections_failed),
            connections_closed: read(&self.connections_closed),
            requests: read(&self.requests),
            requests_in_flight: read(&self.requests_in_flight),
            requests_failed: read(&self.requests_failed),
            requests_waited: read(&self.requests_waited),
            hits: read(&self.hits),
            misses: read(&self.misses),
            timeouts: read(&self.timeouts),
            unavailable_misses: read(&self.unavailable_misses),
            failovers: read(&self.failovers),
            drains_completed: read(&self.drains_completed),
            drains_cut: read(&self.drains_cut),
            writes_dropped: read(&self.writes_dropped),
            latency: self.latency.summary(),
        }
    }
}
