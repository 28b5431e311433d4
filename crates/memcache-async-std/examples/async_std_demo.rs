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

use std::io;
use std::process::ExitCode;

// The tour (support/tour.rs) is written against these two names.
use memcache_async_std::{Client, Error};

#[path = "../../memcache-tokio/examples/support/local_memcached.rs"]
mod local_memcached;
#[path = "../../memcache-tokio/examples/support/tour.rs"]
mod tour;

use local_memcached::LocalMemcached;

fn main() -> ExitCode {
    // The guards own the processes: they are killed when `servers` is dropped at the end
    // of `main`, or while a panic unwinds through it.
    let servers = match [LocalMemcached::start(), LocalMemcached::start()] {
        [Ok(first), Ok(second)] => [first, second],
        // Not installed, and not installable from here: the message says what to install.
        [Err(error), _] | [_, Err(error)] if error.kind() == io::ErrorKind::NotFound => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
        [Err(error), _] | [_, Err(error)] => {
            eprintln!("could not start memcached: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addrs: Vec<&str> = servers.iter().map(LocalMemcached::addr).collect();
    println!("started memcached on {} and {}", addrs[0], addrs[1]);

    match async_std::task::block_on(tour::run(&addrs)) {
        Ok(()) => {
            println!("\ndone; stopping the servers");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("\ndemo failed: {error}");
            ExitCode::FAILURE
        }
    }
}
