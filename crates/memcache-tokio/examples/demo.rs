//! A self-contained tour: starts two memcached servers of its own on free loopback ports,
//! runs through the client's features against them (set/get, flags, cas, get_many across
//! both servers, incr/decr, touch, delete, stats/version, a timeout), and stops them on exit,
//! also on errors and panics.
//!
//! ```text
//! cargo demo   # the alias, in .cargo/config.toml, of the command below
//! cargo run --release -p memcache-tokio --example demo
//! ```
//!
//! Needs the `memcached` binary, or `MEMCACHED_BIN` naming one; on Debian/Ubuntu a missing
//! memcached is installed first when run as root or with passwordless sudo.
//! The same tour runs on async-std:
//! `cargo run -p memcache-async-std --example async_std_demo`.

use std::process::ExitCode;

// The tour (support/tour.rs) is written against these two names.
use memcache_tokio::{Client, Error};

#[path = "support/local_memcached.rs"]
mod local_memcached;
#[path = "support/tour.rs"]
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

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    tour::exit_code(runtime.block_on(tour::run(&addrs)))
}
