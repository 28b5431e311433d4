//! The `tracing` side: a span per request at the node, and the events of a node's
//! connections (connects, connect, TLS and authentication failures, disconnects) and of its
//! health. Requests are `debug` spans, so that an `info` subscriber pays nothing for them.

use std::time::Duration;

use ::tracing::field::Empty;
use ::tracing::{debug, debug_span, info, warn, Span};
use memproto::Reply;

use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::observe::{ErrorKind, Stage};

/// The span of one request to `node`, whose encoding is `payload` and which touches `keys`
/// keys. `outcome`, `value_bytes` and `duration_us` are filled in by [`finish`].
pub(super) fn request_span(node: &str, payload: &[u8], keys: usize) -> Span {
    debug_span!(
        "memcache.request",
        node,
        command = command(payload),
        keys,
        bytes_sent = payload.len(),
        value_bytes = Empty,
        outcome = Empty,
        duration_us = Empty,
    )
}

/// Fills in how the request ended, and reports a timeout as an event of its own.
pub(super) fn finish(
    span: &Span,
    elapsed: Duration,
    failure: Option<ErrorKind>,
    outcome: Result<&[Reply], &Error>,
) {
    if let Err(error @ Error::Timeout { .. }) = outcome {
        debug!(parent: span, %error, "memcache request timed out");
    }
    if span.is_disabled() {
        return;
    }
    span.record("outcome", failure.map_or("ok", ErrorKind::as_str));
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
    debug!(%node, duration_us = micros(elapsed), "memcache connection established");
}

pub(super) fn connect_failed(node: &NodeAddr, stage: Stage, elapsed: Duration, error: &Error) {
    let duration_us = micros(elapsed);
    let stage = stage.as_str();
    match (error, stage) {
        (Error::Auth { .. }, _) => {
            warn!(%node, stage, duration_us, %error, "memcache authentication failed");
        }
        (_, "tls") => warn!(%node, stage, duration_us, %error, "memcache TLS handshake failed"),
        _ => warn!(%node, stage, duration_us, %error, "memcache connect failed"),
    }
}

pub(super) fn disconnected(node: &str, reason: &Error) {
    debug!(node, %reason, "memcache connection closed");
}

pub(super) fn drain_finished(node: &str, completed: bool, bytes: usize, elapsed: Duration) {
    let duration_us = micros(elapsed);
    if completed {
        debug!(node, bytes, duration_us, "memcache connection drained");
    } else {
        warn!(
            node,
            bytes, duration_us, "memcache connection drain cut short; unread commands may be lost"
        );
    }
}

pub(super) fn writes_dropped(node: &str, count: u64, reason: &Error) {
    warn!(node, count, %reason, "memcache noreply writes dropped unsent");
}

pub(super) fn health_changed(node: &NodeAddr, healthy: bool) {
    if healthy {
        info!(%node, "memcache node is healthy again");
    } else {
        warn!(%node, "memcache node is unhealthy");
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// The command a request's bytes start with (a batch's first), as a name that costs no
/// allocation.
fn command(payload: &[u8]) -> &'static str {
    let end = payload
        .iter()
        .position(|&byte| byte == b' ' || byte == b'\r')
        .unwrap_or(payload.len());
    match &payload[..end] {
        b"get" => "get",
        b"gets" => "gets",
        b"gat" => "gat",
        b"gats" => "gats",
        b"set" => "set",
        b"add" => "add",
        b"replace" => "replace",
        b"append" => "append",
        b"prepend" => "prepend",
        b"cas" => "cas",
        b"delete" => "delete",
        b"incr" => "incr",
        b"decr" => "decr",
        b"touch" => "touch",
        b"mg" => "mg",
        b"ms" => "ms",
        b"md" => "md",
        b"ma" => "ma",
        b"mn" => "mn",
        b"me" => "me",
        b"version" => "version",
        b"stats" => "stats",
        b"flush_all" => "flush_all",
        b"verbosity" => "verbosity",
        _ => "other",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_named_by_their_first_word() {
        assert_eq!(command(b"get a b\r\n"), "get");
        assert_eq!(command(b"mg a v q O0\r\nmn\r\n"), "mg");
        assert_eq!(command(b"version\r\n"), "version");
        assert_eq!(command(b"frobnicate\r\n"), "other");
        assert_eq!(command(b""), "other");
    }
}
