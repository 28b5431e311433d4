//! The `tracing` side: a span per request at the node, and the events of a node's
//! connections (connects, connect, TLS and authentication failures, disconnects) and of its
//! health. Everything has the target `memcache` (`RUST_LOG=memcache=debug`). Requests are
//! spans at the configured level (`debug` unless [`crate::ClientBuilder::trace_level`]
//! says otherwise), with the OpenTelemetry database client attributes.

use std::time::Duration;

use ::tracing::field::Empty;
use ::tracing::{debug, info, span, warn, Level, Span};
use memproto::Reply;

use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::observe::{ErrorKind, Stage};

/// The target of every span and event.
const TARGET: &str = "memcache";

/// The span of one request to `node` running `command`, encoded as `payload`, which
/// touches `keys` keys, at `level`. Its fields follow the OpenTelemetry conventions for
/// database clients (`otel.kind`, `otel.name`, `db.system.name`, `db.operation.name`,
/// `db.operation.batch.size`, `server.address`, `server.port`, `error.type`,
/// `otel.status_code`, and with `with_text` `db.query.text`: the command lines, values
/// left out), next to the client's own (`node`, `command`, `keys`, `bytes_sent`,
/// `outcome`, `duration_us`, `value_bytes`). [`finish`] fills in the outcome.
pub(super) fn request_span(
    level: Level,
    with_text: bool,
    node: &NodeAddr,
    command: &'static str,
    payload: &[u8],
    keys: usize,
) -> Span {
    let bytes_sent = payload.len();
    // A span's level is part of its callsite, so each level has its own.
    macro_rules! request_span {
        ($level:expr) => {
            span!(
                target: TARGET,
                $level,
                "memcache.request",
                otel.kind = "client",
                otel.name = command,
                db.system.name = "memcached",
                db.operation.name = command,
                db.operation.batch.size = Empty,
                db.query.text = Empty,
                server.address = Empty,
                server.port = Empty,
                error.type = Empty,
                otel.status_code = Empty,
                node = %node,
                command,
                keys,
                bytes_sent,
                value_bytes = Empty,
                outcome = Empty,
                duration_us = Empty,
            )
        };
    }
    let span = match level {
        Level::TRACE => request_span!(Level::TRACE),
        Level::DEBUG => request_span!(Level::DEBUG),
        Level::INFO => request_span!(Level::INFO),
        Level::WARN => request_span!(Level::WARN),
        _ => request_span!(Level::ERROR),
    };
    if !span.is_disabled() {
        if keys > 1 {
            span.record("db.operation.batch.size", keys);
        }
        if with_text {
            span.record("db.query.text", super::query_text::of(payload));
        }
        match node {
            NodeAddr::Tcp { host, port } => {
                span.record("server.address", host.as_str());
                span.record("server.port", port);
            }
            NodeAddr::Unix(path) => {
                span.record("server.address", ::tracing::field::display(path.display()));
            }
            #[cfg(feature = "testing")]
            NodeAddr::Memory(server) => {
                span.record("server.address", server.name());
            }
        }
    }
    span
}

/// Fills in how the request ended, and reports a timeout as an event of its own.
pub(super) fn finish(
    span: &Span,
    elapsed: Duration,
    failure: Option<ErrorKind>,
    outcome: Result<&[Reply], &Error>,
) {
    if let Err(error @ Error::Timeout { .. }) = outcome {
        debug!(target: TARGET, parent: span, %error, "memcache request timed out");
    }
    if span.is_disabled() {
        return;
    }
    span.record("outcome", failure.map_or("ok", ErrorKind::as_str));
    if let Some(kind) = failure {
        span.record("error.type", kind.as_str());
        span.record("otel.status_code", "ERROR");
    }
    span.record("duration_us", micros(elapsed));
    if let Ok(replies) = outcome {
        span.record("value_bytes", value_bytes(replies));
    }
}

/// The caller stopped waiting before the request ended.
pub(super) fn cancelled(span: &Span) {
    span.record("outcome", "cancelled");
}

pub(super) fn connected(node: &NodeAddr, elapsed: Duration) {
    debug!(target: TARGET, %node, duration_us = micros(elapsed), "memcache connection established");
}

/// An error with its causes, `a: b: c`: events carry the whole story on one line.
struct Chain<'a>(&'a Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

pub(super) fn connect_failed(node: &NodeAddr, stage: Stage, elapsed: Duration, error: &Error) {
    let duration_us = micros(elapsed);
    let stage = stage.as_str();
    let error = Chain(error);
    match (error.0, stage) {
        (Error::Auth { .. }, _) => {
            warn!(target: TARGET, %node, stage, duration_us, %error, "memcache authentication failed");
        }
        (_, "tls") => {
            warn!(target: TARGET, %node, stage, duration_us, %error, "memcache TLS handshake failed")
        }
        _ => warn!(target: TARGET, %node, stage, duration_us, %error, "memcache connect failed"),
    }
}

pub(super) fn disconnected(node: &str, reason: &Error) {
    let reason = Chain(reason);
    debug!(target: TARGET, node = %node, %reason, "memcache connection closed");
}

pub(super) fn drain_finished(node: &str, completed: bool, bytes: usize, elapsed: Duration) {
    let duration_us = micros(elapsed);
    if completed {
        debug!(target: TARGET, node = %node, bytes, duration_us, "memcache connection drained");
    } else {
        warn!(target: TARGET,
            node = %node,
            bytes, duration_us, "memcache connection drain cut short; unread commands may be lost"
        );
    }
}

pub(super) fn writes_dropped(node: &str, count: u64, reason: &Error) {
    warn!(target: TARGET, node = %node, count, %reason, "memcache noreply writes dropped unsent");
}

pub(super) fn health_changed(node: &NodeAddr, healthy: bool) {
    if healthy {
        info!(target: TARGET, %node, "memcache node is healthy again");
    } else {
        warn!(target: TARGET, %node, "memcache node is unhealthy");
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Bytes of values in the replies (what a fetch brought back; headers not counted).
fn value_bytes(replies: &[Reply]) -> usize {
    replies
        .iter()
        .map(|reply| match reply {
            Reply::Values(items) => items.iter().map(|item| item.value.len()).sum(),
            Reply::Meta(meta) => meta.value.as_ref().map_or(0, |value| value.len()),
            // `Reply::Status` and the classic replies carry no value.
            _ => 0,
        })
        .sum()
}
