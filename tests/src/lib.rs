//! Test support: real memcached processes on free loopback ports, and a fault-injecting
//! proxy. Used by the scenario suite in `tests/`, which runs on every runtime.
#![allow(missing_docs)]

pub mod config_endpoint;
pub mod nutcracker;
pub mod proxy;
pub mod scenarios;
pub mod server;

pub use server::Memcached;
