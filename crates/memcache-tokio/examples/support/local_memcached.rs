//! Starts throwaway memcached servers for the demos (plain `std`, no async runtime).
//!
//! Shared by `memcache-tokio/examples/demo.rs` and `memcache-async-std/examples/demo.rs`
//! (the latter includes this file with `#[path]`).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A memcached process on a loopback port, killed when this guard is dropped (on normal
/// exit, on `?` errors and on panics alike).
pub(crate) struct LocalMemcached {
    child: Child,
    addr: String,
}

impl LocalMemcached {
    /// Starts `memcached` (or `$MEMCACHED_BIN`) on a free port of 127.0.0.1 and waits until
    /// it accepts connections.
    ///
    /// Fails with [`io::ErrorKind::NotFound`] when the binary is not installed.
    pub(crate) fn start() -> io::Result<LocalMemcached> {
        // The port is free when probed but another process could take it before memcached
        // binds; memcached then exits at once, and we try again with a fresh port.
        let mut last_error = None;
        for _ in 0..3 {
            match Self::start_on(free_port()?) {
                Ok(server) => return Ok(server),
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn start_on(port: u16) -> io::Result<LocalMemcached> {
        let mut command = Command::new(binary());
        command.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"]);
        if running_as_root() {
            // memcached refuses to run as root unless told which user to be.
            command.args(["-u", "root"]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let server = LocalMemcached {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        server.wait_until_ready(Duration::from_secs(5))
    }

    /// Retries a TCP connect until it succeeds, the process exits, or the deadline passes.
    fn wait_until_ready(mut self, limit: Duration) -> io::Result<LocalMemcached> {
        let socket: SocketAddr = self.addr.parse().expect("a literal socket address");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(io::Error::other(format!(
                    "memcached on {} exited with {status}: {}",
                    self.addr,
                    stderr.trim()
                )));
            }
            if TcpStream::connect_timeout(&socket, Duration::from_millis(100)).is_ok() {
                return Ok(self);
            }
            if Instant::now() >= deadline {
                // `self` is dropped here, which kills the process.
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "memcached on {} did not accept connections within {limit:?}",
                        self.addr
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The address to give the client, `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for LocalMemcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message to print when `memcached` cannot be found.
pub(crate) fn install_hint() -> String {
    format!(
        "`{}` was not found: this demo starts its own memcached servers.\n\
         Install memcached, then run the demo again:\n    \
         apt-get install -y memcached    (Debian/Ubuntu; with sudo when not root)\n    \
         brew install memcached          (macOS)\n\
         or set MEMCACHED_BIN to the path of a memcached binary.",
        binary()
    )
}

fn binary() -> String {
    std::env::var("MEMCACHED_BIN").unwrap_or_else(|_| "memcached".to_owned())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether the real or effective user id is 0 (the `Uid:` line of `/proc/self/status`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let ids = line.strip_prefix("Uid:")?;
                Some(ids.split_whitespace().take(2).any(|id| id == "0"))
            })
        })
        .unwrap_or(false)
}
