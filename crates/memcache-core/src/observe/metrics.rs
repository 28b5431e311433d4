//! The `metrics` facade's handles for one node, registered once when the node is created
//! (with whatever recorder is installed then), so that recording is an atomic add on a
//! handle rather than a registry lookup per request.

use std::fmt;
use std::time::Duration;

use ::metrics::{
    counter, describe_counter, describe_histogram, histogram, Counter, Histogram, Unit,
};

use crate::observe::ErrorKind;

/// Every series of one node, labelled `node`.
pub(crate) struct Handles {
    operations: Counter,
    /// One per [`ErrorKind`], in its order.
    errors: [Counter; ErrorKind::ALL.len()],
    timeouts: Counter,
    hits: Counter,
    misses: Counter,
    connections_opened: Counter,
    connect_failures: Counter,
    drains_completed: Counter,
    drains_cut: Counter,
    writes_dropped: Counter,
    operation_duration: Histogram,
    connect_duration: Histogram,
    pool_wait: Histogram,
}

impl fmt::Debug for Handles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handles").finish_non_exhaustive()
    }
}

impl Handles {
    pub(crate) fn new(node: &str) -> Self {
        describe();
        let node = node.to_owned();
        Handles {
            operations: counter!("memcache_operations_total", "node" => node.clone()),
            errors: ErrorKind::ALL.map(|kind| {
                counter!("memcache_errors_total", "node" => node.clone(), "kind" => kind.as_str())
            }),
            timeouts: counter!("memcache_timeouts_total", "node" => node.clone()),
            hits: counter!("memcache_hits_total", "node" => node.clone()),
            misses: counter!("memcache_misses_total", "node" => node.clone()),
            connections_opened: counter!("memcache_connections_opened_total", "node" => node.clone()),
            connect_failures: counter!("memcache_connect_failures_total", "node" => node.clone()),
            drains_completed: counter!("memcache_drains_total", "node" => node.clone(), "outcome" => "completed"),
            drains_cut: counter!("memcache_drains_total", "node" => node.clone(), "outcome" => "cut"),
            writes_dropped: counter!("memcache_writes_dropped_total", "node" => node.clone()),
            operation_duration: histogram!("memcache_operation_duration_seconds", "node" => node.clone()),
            connect_duration: histogram!("memcache_connect_duration_seconds", "node" => node.clone()),
            pool_wait: histogram!("memcache_pool_wait_seconds", "node" => node),
        }
    }

    pub(crate) fn drained(&self, completed: bool) {
        if completed {
            self.drains_completed.increment(1);
        } else {
            self.drains_cut.increment(1);
        }
    }

    pub(crate) fn writes_dropped(&self, count: u64) {
        self.writes_dropped.increment(count);
    }

    pub(crate) fn fetched(&self, hits: u64, misses: u64) {
        if hits > 0 {
            self.hits.increment(hits);
        }
        if misses > 0 {
            self.misses.increment(misses);
        }
    }

    pub(crate) fn opened(&self, elapsed: Option<Duration>) {
        self.connections_opened.increment(1);
        if let Some(elapsed) = elapsed {
            self.connect_duration.record(elapsed);
        }
    }

    pub(crate) fn open_failed(&self, elapsed: Option<Duration>) {
        self.connect_failures.increment(1);
        if let Some(elapsed) = elapsed {
            self.connect_duration.record(elapsed);
        }
    }

    pub(crate) fn waited(&self, elapsed: Duration) {
        self.pool_wait.record(elapsed);
    }

    pub(crate) fn answered(&self, elapsed: Option<Duration>, failure: Option<ErrorKind>) {
        self.operations.increment(1);
        if let Some(elapsed) = elapsed {
            self.operation_duration.record(elapsed);
        }
        if let Some(kind) = failure {
            self.errors[kind as usize].increment(1);
            if kind == ErrorKind::Timeout {
                self.timeouts.increment(1);
            }
        }
    }
}

/// Describes every series to the recorder (units and help text, for exporters).
fn describe() {
    describe_counter!(
        "memcache_operations_total",
        "Requests sent to the node, whatever their outcome."
    );
    describe_counter!(
        "memcache_errors_total",
        "Requests that failed, by kind of failure (a server error line counts too)."
    );
    describe_counter!("memcache_timeouts_total", "Requests that timed out.");
    describe_counter!("memcache_hits_total", "Keys fetched and found.");
    describe_counter!("memcache_misses_total", "Keys fetched and not found.");
    describe_counter!(
        "memcache_connections_opened_total",
        "Connections established."
    );
    describe_counter!(
        "memcache_connect_failures_total",
        "Connection attempts that failed (including refused credentials)."
    );
    describe_counter!(
        "memcache_drains_total",
        "Connections the client closed, by how their drain ended: `completed` (every \
         written command reached the server) or `cut` (at its time or byte bound)."
    );
    describe_counter!(
        "memcache_writes_dropped_total",
        "Fire-and-forget writes never sent: their connection closed while the client closed."
    );
    describe_histogram!(
        "memcache_operation_duration_seconds",
        Unit::Seconds,
        "Request latency from the caller's view, pool wait included."
    );
    describe_histogram!(
        "memcache_connect_duration_seconds",
        Unit::Seconds,
        "Time to open a connection: socket, TLS, authentication and first answer."
    );
    describe_histogram!(
        "memcache_pool_wait_seconds",
        Unit::Seconds,
        "Time requests waited for a connection or for room on one."
    );
}
