//! Test support: real memcached processes on free loopback ports, and a fault-injecting
//! proxy. Used by the scenario suite in `tests/`, which runs on every runtime.
#![allow(missing_docs)]

pub mod config_endpoint;
// Shared with the demos, which cannot depend on this crate; see the file's own comment.
#[path = "../../crates/memcache-tokio/examples/support/debian_binary.rs"]
mod debian_binary;
pub mod nutcracker;
pub mod proxy;
pub mod scenarios;
pub mod server;

pub use server::Memcached;
