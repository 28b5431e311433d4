//! Observability against real memcached servers: `Client::metrics()` hit and miss counts
//! and latency, the `metrics` facade's per-node series, and the `tracing` spans and events.
//!
//! The facade's recorder is global, installed once for this test binary before any client
//! exists (a node registers its handles when it is created). Every test uses servers of its
//! own, so its series are told apart by their `node` label.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use memcache_it::Memcached;
use memcache_tokio::{Client, Error, Protocol};

// ---- the metrics facade ----------------------------------------------------------------

/// What the recorder has seen, summed over every snapshot taken: a snapshot drains the
/// recorder's counters and histograms, and tests running side by side take them.
#[derive(Default)]
struct Totals {
    /// (name, sorted labels) -> sum.
    counters: HashMap<(String, Vec<(String, String)>), u64>,
    /// (name, sorted labels) -> samples seen.
    histograms: HashMap<(String, Vec<(String, String)>), usize>,
    /// (name, sorted labels) -> the value.
    gauges: HashMap<(String, Vec<(String, String)>), f64>,
}

struct Recorder {
    snapshotter: Snapshotter,
    totals: Mutex<Totals>,
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other recorder is installed in this test binary");
        Recorder {
            snapshotter,
            totals: Mutex::default(),
        }
    })
}

impl Recorder {
    /// Folds a fresh snapshot into the totals and reads `name` for `labels` (the others
    /// of the series, such as `kind`, must match too).
    fn read<T>(&self, read: impl FnOnce(&Totals) -> T) -> T {
        let mut totals = self.totals.lock().unwrap();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            labels.sort();
            let id = (key.name().to_owned(), labels);
            match value {
                DebugValue::Counter(value) => *totals.counters.entry(id).or_default() += value,
                DebugValue::Histogram(samples) => {
                    *totals.histograms.entry(id).or_default() += samples.len()
                }
                // The debugging recorder hands gauges over like counters, zeroing them:
                // moved only by increments and decrements, they add up.
                DebugValue::Gauge(value) => {
                    *totals.gauges.entry(id).or_default() += value.into_inner();
                }
            }
        }
        read(&totals)
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let id = series(name, labels);
        self.read(|totals| totals.counters.get(&id).copied().unwrap_or(0))
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        let id = series(name, labels);
        self.read(|totals| totals.histograms.get(&id).copied().unwrap_or(0))
    }

    /// Samples of every series named `name` whose labels include `labels`.
    fn samples_of_all(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        let (_, wanted) = series(name, labels);
        self.read(|totals| {
            totals
                .histograms
                .iter()
                .filter(|((series, have), _)| {
                    series == name && wanted.iter().all(|label| have.contains(label))
                })
                .map(|(_, samples)| samples)
                .sum()
        })
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let id = series(name, labels);
        self.read(|totals| totals.gauges.get(&id).copied())
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Stores `hits` of `keys` (so the rest miss) and fetches each key once, then all of them
/// at once: `2 * hits` hits and `2 * (keys.len() - hits)` misses in all.
async fn fetch_with_hits(client: &Client, keys: &[String], hits: usize) {
    for key in &keys[..hits] {
        client.set(key, "value").await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let found = client.get(key).await.unwrap();
        assert_eq!(found.is_some(), i < hits, "{key}");
    }
    let found = client.get_many(keys).await.unwrap();
    assert_eq!(found.len(), hits);
}

async fn hits_and_misses_are_counted_exactly(protocol: Protocol) {
    let recorder = recorder();
    let server = Memcached::start();
    let node = server.addr();
    let client = Client::builder([&node])
        .protocol(protocol)
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let keys: Vec<String> = (0..10).map(|i| format!("observed:{i}")).collect();
    let hits = 4;
    fetch_with_hits(&client, &keys, hits).await;

    let metrics = client.metrics();
    assert_eq!(metrics.len(), 1);
    let (addr, metrics) = &metrics[0];
    assert_eq!(addr.to_string(), node);
    assert_eq!(metrics.hits, 2 * hits as u64, "{metrics:?}");
    assert_eq!(
        metrics.misses,
        2 * (keys.len() - hits) as u64,
        "{metrics:?}"
    );
    assert_eq!(metrics.timeouts, 0);
    // Every request was timed: the sets, the gets and the one multi-key fetch.
    let requests = (hits + keys.len() + 1) as u64;
    assert_eq!(metrics.requests, requests);
    let latency = metrics.latency;
    assert_eq!(latency.count, requests, "{latency:?}");
    assert!(latency.p50 > Duration::ZERO, "{latency:?}");
    assert!(
        latency.p50 <= latency.p90 && latency.p90 <= latency.p99,
        "{latency:?}"
    );
    assert!(
        latency.p99 <= latency.p999 && latency.p999 <= latency.max,
        "{latency:?}"
    );

    // The exported series count what the in-process counters of the same names count.
    let labels = [("node", node.as_str())];
    let counter = |name| recorder.counter(name, &labels);
    assert_eq!(counter("memcache.hits"), metrics.hits);
    assert_eq!(counter("memcache.misses"), metrics.misses);
    assert_eq!(counter("memcache.requests"), metrics.requests);
    assert_eq!(counter("memcache.timeouts"), 0);
    assert_eq!(counter("memcache.connections.failed"), 0);
    assert_eq!(
        counter("memcache.connections.created"),
        metrics.connections_created
    );
    assert_eq!(
        recorder.gauge("db.client.connection.count", &labels),
        Some(metrics.connections as f64)
    );
    assert_eq!(metrics.requests_in_flight, 0);
    assert_eq!(
        recorder.gauge("memcache.requests.in_flight", &labels),
        Some(0.0)
    );
    // Latency by command, each series with the database system.
    let durations = |operation| {
        recorder.samples(
            "db.client.operation.duration",
            &[
                ("node", node.as_str()),
                ("db.system.name", "memcached"),
                ("db.operation.name", operation),
            ],
        )
    };
    let (store, fetch) = match protocol {
        Protocol::Text => ("set", "get"),
        _ => ("ms", "mg"),
    };
    assert_eq!(durations(store), hits);
    assert_eq!(durations(fetch), keys.len() + 1);
    assert_eq!(
        recorder.samples_of_all("db.client.operation.duration", &labels),
        requests as usize
    );
    assert!(recorder.samples("db.client.connection.create_time", &labels) >= 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_fetches_count_hits_and_misses() {
    hits_and_misses_are_counted_exactly(Protocol::Text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_fetches_count_hits_and_misses() {
    hits_and_misses_are_counted_exactly(Protocol::Meta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connects_are_counted_and_name_the_node() {
    let recorder = recorder();
    // Nothing listens on a port just freed.
    let node = format!("127.0.0.1:{}", memcache_it::server::free_port());
    let client = Client::builder([&node])
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    match client.get("k").await {
        Err(Error::Connect { node: failed, .. }) => assert_eq!(failed, node),
        other => panic!("expected a connect error, got {other:?}"),
    }
    let labels = [("node", node.as_str())];
    assert_eq!(
        recorder.counter("memcache.connections.failed", &labels),
        client.metrics()[0].1.connections_failed
    );
    assert!(recorder.counter("memcache.connections.failed", &labels) >= 1);
    assert_eq!(
        recorder.counter(
            "memcache.errors",
            &[("node", node.as_str()), ("error.type", "connect")]
        ),
        1
    );
    assert_eq!(
        recorder.samples_of_all(
            "db.client.operation.duration",
            &[("node", node.as_str()), ("error.type", "connect")]
        ),
        1
    );
    assert_eq!(client.metrics()[0].1.latency.count, 1);
}

// ---- tracing -----------------------------------------------------------------------------

/// A span or an event, with its fields as text.
#[derive(Debug, Clone, Default)]
struct Captured {
    name: String,
    target: String,
    level: String,
    fields: HashMap<String, String>,
    /// For an event: the fields of the span it happened in.
    parent: Option<HashMap<String, String>>,
}

impl Visit for Captured {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Keeps every closed span and every event.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Captured>>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collector {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut captured = Captured {
            name: attrs.metadata().name().to_owned(),
            target: attrs.metadata().target().to_owned(),
            level: attrs.metadata().level().to_string(),
            ..Captured::default()
        };
        attrs.record(&mut captured);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(captured);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(captured) = span.extensions_mut().get_mut::<Captured>() {
                values.record(captured);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut captured = Captured {
            name: event.metadata().name().to_owned(),
            target: event.metadata().target().to_owned(),
            level: event.metadata().level().to_string(),
            ..Captured::default()
        };
        event.record(&mut captured);
        captured.parent = ctx.event_span(event).and_then(|span| {
            span.extensions()
                .get::<Captured>()
                .map(|c| c.fields.clone())
        });
        self.events.lock().unwrap().push(captured);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if let Some(captured) = span.extensions_mut().remove::<Captured>() {
                self.spans.lock().unwrap().push(captured);
            }
        }
    }
}

/// The capturing subscriber, installed once as the global default: a thread's own default
/// would not see the client's background tasks on other threads, and callsites that other
/// threads reach first may cache that nobody listens. Tests tell their records apart by the
/// `node` field.
fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector = Collector::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(collector.clone()),
        )
        .expect("no other subscriber is installed in this test binary");
        collector
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_spans_naming_the_node_and_timeouts_are_events() {
    let _ = recorder();
    let collector = collector();
    let server = Memcached::start();
    let node = server.addr();
    let client = Client::builder([&node])
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    client.set("traced", "value").await.unwrap();
    assert!(client.get("traced").await.unwrap().is_some());
    assert!(client.get("untraced").await.unwrap().is_none());

    // A server that stops answering: the next request times out, naming the node.
    server.stop();
    let timed_out = client
        .get("traced")
        .timeout(Duration::from_millis(100))
        .await;
    server.cont();
    match timed_out {
        Err(Error::Timeout { node: late, .. }) => assert_eq!(late, node),
        other => panic!("expected a timeout, got {other:?}"),
    }
    client.close().await;
    drop(client);

    let field = |span: &Captured, name: &str| span.fields.get(name).cloned().unwrap_or_default();
    let spans = collector.spans.lock().unwrap().clone();
    let requests: Vec<&Captured> = spans
        .iter()
        .filter(|span| span.name == "memcache.request" && field(span, "node") == node)
        .collect();
    let summary: Vec<(String, String, String)> = requests
        .iter()
        .map(|span| {
            (
                field(span, "command"),
                field(span, "keys"),
                field(span, "outcome"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("set".into(), "1".into(), "ok".into()),
            ("get".into(), "1".into(), "ok".into()),
            ("get".into(), "1".into(), "ok".into()),
            ("get".into(), "1".into(), "timeout".into()),
        ],
        "{requests:#?}"
    );
    let port = node.rsplit(':').next().unwrap_or_default();
    for span in &requests {
        assert_eq!(field(span, "node"), node, "{span:?}");
        assert!(span.fields.contains_key("duration_us"), "{span:?}");
        assert!(span.fields.contains_key("bytes_sent"), "{span:?}");
        // The OpenTelemetry database client conventions, under a public target.
        assert_eq!(
            (span.target.as_str(), span.level.as_str()),
            ("memcache", "DEBUG")
        );
        assert_eq!(field(span, "otel.kind"), "client");
        assert_eq!(field(span, "db.system.name"), "memcached");
        assert_eq!(field(span, "db.operation.name"), field(span, "command"));
        assert_eq!(field(span, "otel.name"), field(span, "command"));
        assert_eq!(field(span, "server.address"), "127.0.0.1");
        assert_eq!(field(span, "server.port"), port);
    }
    assert_eq!(field(requests[1], "value_bytes"), "5");
    assert!(
        !requests[1].fields.contains_key("error.type"),
        "{:?}",
        requests[1]
    );
    assert_eq!(field(requests[3], "error.type"), "timeout");
    assert_eq!(field(requests[3], "otel.status_code"), "ERROR");

    // This test's events: of its node, or inside one of its node's spans.
    let events: Vec<Captured> = collector
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|event| {
            event.fields.get("node") == Some(&node)
                || event
                    .parent
                    .as_ref()
                    .is_some_and(|parent| parent.get("node") == Some(&node))
        })
        .cloned()
        .collect();
    let message = |event: &Captured| event.fields.get("message").cloned().unwrap_or_default();
    let timeout = events
        .iter()
        .find(|event| message(event) == "memcache request timed out")
        .unwrap_or_else(|| panic!("no timeout event in {events:#?}"));
    let parent = timeout
        .parent
        .as_ref()
        .expect("the timeout is in its request's span");
    assert_eq!(parent.get("node"), Some(&node));
    assert!(
        events
            .iter()
            .any(|event| message(event) == "memcache connection established"
                && event.fields.get("node") == Some(&node)),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|event| message(event) == "memcache connection closed"
                && event.fields.contains_key("reason")),
        "{events:#?}"
    );
}

/// `trace_level` sets the level of the request spans; multi-key requests carry their key
/// count as `db.operation.batch.size`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_take_the_configured_level() {
    let _ = recorder();
    let collector = collector();
    let server = Memcached::start();
    let node = server.addr();
    let client = Client::builder([&node])
        .trace_level(tracing::Level::INFO)
        .build()
        .unwrap();
    client.get_many(["a", "b", "c"]).await.unwrap();
    client.close().await;
    let spans = collector.spans.lock().unwrap().clone();
    let span = spans
        .iter()
        .find(|span| span.name == "memcache.request" && span.fields.get("node") == Some(&node))
        .unwrap_or_else(|| panic!("no span for {node}"));
    assert_eq!(span.level, "INFO");
    assert_eq!(
        span.fields
            .get("db.operation.batch.size")
            .map(String::as_str),
        Some("3")
    );
}

/// Keys reach a span only when asked for, as `db.query.text`: the command lines, values
/// left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_traced_only_when_asked_for() {
    let _ = recorder();
    let collector = collector();
    let quiet = Memcached::start();
    let telling = Memcached::start();
    for (server, trace_keys) in [(&quiet, false), (&telling, true)] {
        let client = Client::builder([server.addr()])
            .trace_keys(trace_keys)
            .build()
            .unwrap();
        client.set("user:42", "secret value").await.unwrap();
        client.get_many(["user:42", "user:43"]).await.unwrap();
        client.close().await;
    }
    let spans = collector.spans.lock().unwrap().clone();
    let texts = |node: String| -> Vec<Option<String>> {
        spans
            .iter()
            .filter(|span| {
                span.name == "memcache.request" && span.fields.get("node") == Some(&node)
            })
            .map(|span| span.fields.get("db.query.text").cloned())
            .collect()
    };
    assert_eq!(texts(quiet.addr()), [None, None]);
    assert_eq!(
        texts(telling.addr()),
        [
            Some("set user:42 0 0 12".to_owned()),
            Some("get user:42 user:43".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_a_warning_and_an_auth_error() {
    let recorder = recorder();
    let collector = collector();
    let users = std::env::temp_dir().join(format!(
        "memcache-it-observability-users-{}",
        std::process::id()
    ));
    std::fs::write(&users, "alice:wonderland\n").unwrap();
    let server = Memcached::start_with(&["-Y", users.to_str().unwrap()]);
    let node = server.addr();
    let client = Client::builder([&node])
        .credentials("alice", "looking-glass")
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let result = client.get("k").await;
    let _ = std::fs::remove_file(&users);
    match result {
        Err(Error::Auth { node: refused, .. }) => assert_eq!(refused, node),
        other => panic!("expected an authentication error, got {other:?}"),
    }
    let labels = [("node", node.as_str()), ("error.type", "auth")];
    assert_eq!(recorder.counter("memcache.errors", &labels), 1);
    assert_eq!(
        recorder.counter("memcache.connections.failed", &[("node", node.as_str())]),
        1
    );
    let events = collector.events.lock().unwrap().clone();
    let warning = events
        .iter()
        .find(|event| event.fields.get("node") == Some(&node))
        .unwrap_or_else(|| panic!("no event for {node} in {events:#?}"));
    assert_eq!(
        warning.fields.get("message").map(String::as_str),
        Some("memcache authentication failed"),
        "{warning:?}"
    );
    assert_eq!(
        warning.fields.get("stage").map(String::as_str),
        Some("auth")
    );
}
