//! Reliability: integrity under chaos, server limits, and shutdown.
//!
//! - [`chaos`]: random operations on three nodes that are killed, restarted, suspended
//!   and resumed, with callers giving up at random points; no value may ever be wrong.
//! - [`limits`]: a server out of connection slots, `SERVER_ERROR` replies.
//! - [`close`]: `close()` with calls in flight, within and past the grace period; drop.
//! - [`write_failures`]: writes that may leave items stale are reported, key by key.
//!
//! Resource bounds (open files, memory) are process-wide and measured in their own test
//! binary, `tests/load.rs`.

pub mod chaos;
pub mod close;
pub mod limits;
pub mod write_failures;

pub use chaos::chaos_integrity;
pub use close::{
    close_counts_noreply_writes_never_sent, close_grace_expires, close_graceful,
    drop_closes_connections, stuck_close_delivers_written_noreply,
};
pub use limits::{connection_limit, server_error_keeps_connection};
pub use write_failures::{write_failures_are_reported, write_outcome_unknown_is_reported};
