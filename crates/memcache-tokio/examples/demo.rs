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

use std::io;
use std::process::ExitCode;

// The tour (support/tour.rs) is written against these two names.
use memcache_tokio::{Client, Error};

#[path = "support/local_memcached.rs"]
mod local_memcached;
#[path = "support/tour.rs"]
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

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tour::run(&addrs)) {
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
