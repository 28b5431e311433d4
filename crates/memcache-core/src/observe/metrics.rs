//! The `metrics` facade's series for one node.
//!
//! The handles are registered with the recorder in place when first used, and again
//! whenever another recorder is in place (one installed after the client was built, or a
//! thread's local one): recording is then an add on a handle, not a registry lookup, and
//! no series is lost to a recorder installed late.
//!
//! Each series counts exactly what the [`NodeMetrics`](crate::NodeMetrics) field of the
//! same name does, at the same hook (names in the table of [`describe`]), plus the
//! OpenTelemetry database client series: `db.client.operation.duration` by command and
//! outcome, `db.client.connection.count`, `db.client.connection.create_time` and
//! `db.client.connection.wait_time`. Every series has the label `node` (as configured).

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use ::metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Recorder, Unit,
};

use crate::observe::command;
use crate::observe::ErrorKind;

/// Outcomes a duration is labelled with: success, then each [`ErrorKind`].
const OUTCOMES: usize = ErrorKind::ALL.len() + 1;

/// One node's series, registered with the recorder in place.
pub(crate) struct Facade {
    node: String,
    current: RwLock<Arc<Handles>>,
}

impl fmt::Debug for Facade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facade")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Facade {
    pub(crate) fn new(node: &str) -> Self {
        let node = node.to_owned();
        let handles = Handles::register(&node, recorder_id());
        Facade {
            node,
            current: RwLock::new(Arc::new(handles)),
        }
    }

    /// Runs `record` on the handles of the recorder in place, registering them first if
    /// the recorder changed since.
    fn with(&self, record: impl FnOnce(&Handles)) {
        let id = recorder_id();
        {
            let current = self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if current.recorder == id {
                record(&current);
                return;
            }
        }
        let fresh = Arc::new(Handles::register(&self.node, id));
        record(&fresh);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    pub(crate) fn requested(&self) {
        self.with(|h| {
            h.requests.increment(1);
            h.in_flight.increment(1.0);
        });
    }

    pub(crate) fn requests_failed(&self, count: u64) {
        self.with(|h| h.requests_failed.increment(count));
    }

    pub(crate) fn requests_waited(&self) {
        self.with(|h| h.requests_waited.increment(1));
    }

    pub(crate) fn fetched(&self, hits: u64, misses: u64) {
        self.with(|h| {
            h.hits.increment(hits);
            h.misses.increment(misses);
        });
    }

    pub(crate) fn unavailable_miss(&self) {
        self.with(|h| h.unavailable_misses.increment(1));
    }

    pub(crate) fn failed_over(&self) {
        self.with(|h| h.failovers.increment(1));
    }

    pub(crate) fn opened(&self, elapsed: Option<Duration>) {
        self.with(|h| {
            h.connections_created.increment(1);
            h.connections.increment(1.0);
            if let Some(elapsed) = elapsed {
                h.create_time.record(elapsed);
            }
        });
    }

    pub(crate) fn open_failed(&self, elapsed: Option<Duration>) {
        self.with(|h| {
            h.connections_failed.increment(1);
            if let Some(elapsed) = elapsed {
                h.create_time.record(elapsed);
            }
        });
    }

    pub(crate) fn closed(&self) {
        self.with(|h| {
            h.connections_closed.increment(1);
            h.connections.decrement(1.0);
        });
    }

    pub(crate) fn drained(&self, completed: bool) {
        self.with(|h| {
            if completed {
                h.drains_completed.increment(1);
            } else {
                h.drains_cut.increment(1);
            }
        });
    }

    pub(crate) fn writes_dropped(&self, count: u64) {
        self.with(|h| h.writes_dropped.increment(count));
    }

    pub(crate) fn waited(&self, elapsed: Duration) {
        self.with(|h| h.wait_time.record(elapsed));
    }

    /// A request running `command` (an index in [`command::NAMES`]) ended after
    /// `elapsed` (`None` when nobody waited for it), failed as `failure` says or not.
    pub(crate) fn answered(
        &self,
        command: usize,
        elapsed: Option<Duration>,
        failure: Option<ErrorKind>,
    ) {
        self.with(|h| {
            h.in_flight.decrement(1.0);
            if let Some(kind) = failure {
                h.error(&self.node, kind).increment(1);
                if kind == ErrorKind::Timeout {
                    h.timeouts.increment(1);
                }
            }
            if let Some(elapsed) = elapsed {
                h.duration(&self.node, command, failure).record(elapsed);
            }
        });
    }

    /// A request's caller gave up before it ended.
    pub(crate) fn abandoned(&self) {
        self.with(|h| h.in_flight.decrement(1.0));
    }
}

/// The identity of the recorder in place (the thread's local one, else the global one,
/// else the no-op one): the address of its data.
fn recorder_id() -> usize {
    ::metrics::with_recorder(|recorder: &dyn Recorder| {
        (recorder as *const dyn Recorder).cast::<()>() as usize
    })
}

/// Every series of one node, registered with one recorder.
struct Handles {
    recorder: usize,
    requests: Counter,
    requests_failed: Counter,
    requests_waited: Counter,
    in_flight: Gauge,
    hits: Counter,
    misses: Counter,
    timeouts: Counter,
    unavailable_misses: Counter,
    failovers: Counter,
    /// One per [`ErrorKind`], in its order, registered when first counted.
    errors: [OnceLock<Counter>; ErrorKind::ALL.len()],
    connections: Gauge,
    connections_created: Counter,
    connections_failed: Counter,
    connections_closed: Counter,
    drains_completed: Counter,
    drains_cut: Counter,
    writes_dropped: Counter,
    create_time: Histogram,
    wait_time: Histogram,
    /// By command and outcome, registered when first recorded.
    durations: [[OnceLock<Histogram>; OUTCOMES]; command::NAMES.len()],
}

impl Handles {
    fn register(node: &str, recorder: usize) -> Self {
        describe();
        let node = || node.to_owned();
        Handles {
            recorder,
            requests: counter!("memcache.requests", "node" => node()),
            requests_failed: counter!("memcache.requests.failed", "node" => node()),
            requests_waited: counter!("memcache.requests.waited", "node" => node()),
            in_flight: gauge!("memcache.requests.in_flight", "node" => node()),
            hits: counter!("memcache.hits", "node" => node()),
            misses: counter!("memcache.misses", "node" => node()),
            timeouts: counter!("memcache.timeouts", "node" => node()),
            unavailable_misses: counter!("memcache.unavailable_misses", "node" => node()),
            failovers: counter!("memcache.failovers", "node" => node()),
            errors: std::array::from_fn(|_| OnceLock::new()),
            connections: gauge!("db.client.connection.count", "node" => node()),
            connections_created: counter!("memcache.connections.created", "node" => node()),
            connections_failed: counter!("memcache.connections.failed", "node" => node()),
            connections_closed: counter!("memcache.connections.closed", "node" => node()),
            drains_completed: counter!("memcache.drains", "node" => node(), "outcome" => "completed"),
            drains_cut: counter!("memcache.drains", "node" => node(), "outcome" => "cut"),
            writes_dropped: counter!("memcache.writes_dropped", "node" => node()),
            create_time: histogram!("db.client.connection.create_time", "node" => node()),
            wait_time: histogram!("db.client.connection.wait_time", "node" => node()),
            durations: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
        }
    }

    /// The error counter of `kind`: registered when first counted, so a node's series
    /// name only the failures it had.
    fn error(&self, node: &str, kind: ErrorKind) -> &Counter {
        self.errors[kind as usize].get_or_init(|| {
            counter!("memcache.errors", "node" => node.to_owned(), "error.type" => kind.as_str())
        })
    }

    /// The duration histogram of `command` ending as `failure` says.
    fn duration(&self, node: &str, command: usize, failure: Option<ErrorKind>) -> &Histogram {
        let outcome = failure.map_or(0, |kind| kind as usize + 1);
        self.durations[command][outcome].get_or_init(|| {
            let operation = command::NAMES[command];
            match failure {
                None => histogram!(
                    "db.client.operation.duration",
                    "node" => node.to_owned(),
                    "db.system.name" => "memcached",
                    "db.operation.name" => operation,
                ),
                Some(kind) => histogram!(
                    "db.client.operation.duration",
                    "node" => node.to_owned(),
                    "db.system.name" => "memcached",
                    "db.operation.name" => operation,
                    "error.type" => kind.as_str(),
                ),
            }
        })
    }
}

/// Describes every series to the recorder (units and help text, for exporters).
///
/// | series | [`NodeMetrics`](crate::NodeMetrics) field |
/// |---|---|
/// | `memcache.requests` | `requests` |
/// | `memcache.requests.failed` | `requests_failed` |
/// | `memcache.requests.waited` | `requests_waited` |
/// | `memcache.requests.in_flight` (gauge) | `requests_in_flight` |
/// | `memcache.hits`, `memcache.misses` | `hits`, `misses` |
/// | `memcache.timeouts` | `timeouts` |
/// | `memcache.unavailable_misses` | `unavailable_misses` |
/// | `memcache.failovers` | `failovers` |
/// | `db.client.connection.count` (gauge) | `connections` |
/// | `memcache.connections.created`, `.failed`, `.closed` | `connections_created`, `connections_failed`, `connections_closed` |
/// | `memcache.drains{outcome=completed\|cut}` | `drains_completed`, `drains_cut` |
/// | `memcache.writes_dropped` | `writes_dropped` |
/// | `db.client.operation.duration` | `latency` |
fn describe() {
    describe_counter!(
        "memcache.requests",
        "Requests sent to the node (each attempt), whatever their outcome."
    );
    describe_counter!(
        "memcache.requests.failed",
        "Requests that failed with their connection (lost, broken protocol, stuck)."
    );
    describe_counter!(
        "memcache.requests.waited",
        "Requests that waited for a connection: for one to open, or for room on one at its budget."
    );
    describe_gauge!(
        "memcache.requests.in_flight",
        "Requests sent to the node and not ended yet."
    );
    describe_counter!("memcache.hits", "Keys fetched and found.");
    describe_counter!("memcache.misses", "Keys fetched and not found.");
    describe_counter!("memcache.timeouts", "Requests that timed out.");
    describe_counter!(
        "memcache.unavailable_misses",
        "Reads answered as misses because the node was unavailable."
    );
    describe_counter!(
        "memcache.failovers",
        "Requests that failed on the node and went to the gutter pool."
    );
    describe_counter!(
        "memcache.errors",
        "Requests that failed, by `error.type` (a server's error line counts too)."
    );
    describe_gauge!("db.client.connection.count", "Connections open now.");
    describe_counter!("memcache.connections.created", "Connections established.");
    describe_counter!(
        "memcache.connections.failed",
        "Connection attempts that failed (including refused credentials)."
    );
    describe_counter!(
        "memcache.connections.closed",
        "Established connections that closed."
    );
    describe_counter!(
        "memcache.drains",
        "Connections the client closed, by how their drain ended: `completed` (every \
         written command reached the server) or `cut` (at its time or byte bound)."
    );
    describe_counter!(
        "memcache.writes_dropped",
        "Fire-and-forget writes never sent: their connection closed while the client closed."
    );
    describe_histogram!(
        "db.client.operation.duration",
        Unit::Seconds,
        "Request latency from the caller's view, wait for a connection included, by \
         `db.operation.name` and, on failure, `error.type`."
    );
    describe_histogram!(
        "db.client.connection.create_time",
        Unit::Seconds,
        "Time to open a connection: socket, TLS, authentication and first answer."
    );
    describe_histogram!(
        "db.client.connection.wait_time",
        Unit::Seconds,
        "Time requests waited for a connection or for room on one."
    );
}
