//! Starts throwaway memcached servers for the demos (plain `std`, no async runtime).
//!
//! Shared by `memcache-tokio/examples/demo.rs` and
//! `memcache-async-std/examples/async_std_demo.rs` (the latter includes this file with
//! `#[path]`).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "debian_binary.rs"]
mod debian_binary;

use debian_binary::{running_as_root, DebianBinary};

/// The memcached every server of this process runs.
static MEMCACHED: DebianBinary = DebianBinary::new("memcached", "memcached", "MEMCACHED_BIN");

/// A memcached process on a loopback port, killed when this guard is dropped (on normal
/// exit, on `?` errors and on panics alike).
pub(crate) struct LocalMemcached {
    child: Child,
    addr: String,
}

impl LocalMemcached {
    /// Starts `memcached` (or `$MEMCACHED_BIN`) on a free port of 127.0.0.1 and waits until
    /// it accepts connections. A missing memcached is installed first when this process may
    /// (see `debian_binary.rs`).
    ///
    /// Fails with [`io::ErrorKind::NotFound`], its message the one line saying what to
    /// install, when the binary is missing.
    pub(crate) fn start() -> io::Result<LocalMemcached> {
        let binary = MEMCACHED
            .path()
            .map_err(|hint| io::Error::new(io::ErrorKind::NotFound, hint))?;
        // The port is free when probed but another process could take it before memcached
        // binds; memcached then exits at once, and we try again with a fresh port.
        let mut last_error = None;
        for _ in 0..3 {
            match Self::start_on(binary, free_port()?) {
                Ok(server) => return Ok(server),
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn start_on(binary: &Path, port: u16) -> io::Result<LocalMemcached> {
        let mut command = Command::new(binary);
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

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
