//! A self-contained tour: starts two memcached servers of its own on free loopback ports,
//! runs through the client's features against them (set/get, flags, cas, get_many across
//! both servers, incr/decr, touch, delete, stats/version, a timeout), and stops them on exit,
//! also on errors and panics.
//!
//! ```text
//! cargo run -p memcache-async-std --example async_std_demo
//! ```
//!
//! Needs the `memcached` binary, or `MEMCACHED_BIN` naming one; on Debian/Ubuntu a missing
//! memcached is installed first when run as root or with passwordless sudo.
//! The tour itself is shared with the tokio demo: the client API is the same on both
//! runtimes, only the executor differs.

use std::process::ExitCode;

// The tour (support/tour.rs) is written against these two names.
use memcache_async_std::{Client, Error};

#[path = "../../memcache-tokio/examples/support/local_memcached.rs"]
mod local_memcached;
#[path = "../../memcache-tokio/examples/support/tour.rs"]
mod tour;

fn main() -> ExitCode {
    // The servers stop when `servers` is dropped, at the end of `main`.
    let Some(servers) = tour::start_servers() else {
        return ExitCode::FAILURE;
    };
    let addrs: Vec<&str> = servers
        .iter()
        .map(local_memcached::LocalMemcached::addr)
        .collect();
    tour::exit_code(async_std::task::block_on(tour::run(&addrs)))
}
