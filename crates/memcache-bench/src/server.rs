//! The memcached server under test: one this benchmark starts and stops, or one given with
//! `--server`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started memcached has to answer `version`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Ports tried before giving up (a free port can be taken between the probe and the bind).
const PORT_ATTEMPTS: usize = 3;
/// memcached's memory limit in megabytes.
const MEMORY_MB: &str = "256";

/// A memcached to benchmark against. A server this benchmark started is killed on drop.
pub(crate) struct Server {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The server's `version` answer.
    pub(crate) version: String,
    /// How it was obtained, for the report.
    pub(crate) origin: String,
    /// The process, when this benchmark started it.
    child: Option<Child>,
}

impl Server {
    /// Starts `memcached -l 127.0.0.1 -p <free port> -U 0 -t <threads> -m 256` (with
    /// `-u root` when running as root), on CPU `pin_to` through `taskset` when given, and
    /// waits until it answers.
    pub(crate) fn spawn(threads: usize, pin_to: Option<usize>) -> Result<Server, String> {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let port_arg = port.to_string();
            let threads_arg = threads.to_string();
            let mut args = vec![
                "-l",
                "127.0.0.1",
                "-p",
                &port_arg,
                "-U",
                "0",
                "-t",
                &threads_arg,
                "-m",
                MEMORY_MB,
            ];
            if running_as_root() {
                args.extend(["-u", "root"]);
            }
            let cpu = pin_to.map(|cpu| cpu.to_string());
            let mut command = match &cpu {
                Some(cpu) => {
                    let mut taskset = Command::new("taskset");
                    taskset.args(["-c", cpu, "memcached"]);
                    taskset
                }
                None => Command::new("memcached"),
            };
            let child = command
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|error| format!("cannot start memcached (is it on PATH?): {error}"))?;
            let mut server = Server {
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                version: String::new(),
                origin: match &cpu {
                    Some(cpu) => format!("`taskset -c {cpu} memcached {}`", args.join(" ")),
                    None => format!("`memcached {}`", args.join(" ")),
                },
                child: Some(child),
            };
            match server.wait_ready() {
                Ok(version) => {
                    server.version = version;
                    return Ok(server);
                }
                // Dropping `server` kills the process.
                Err(error) => last_error = error,
            }
        }
        Err(format!(
            "memcached did not come up after {PORT_ATTEMPTS} attempts: {last_error}"
        ))
    }

    /// Uses a running server at `addr` (`HOST:PORT`). Refuses addresses that are not
    /// loopback unless `allow_remote`: the benchmark overwrites `bench:*` keys.
    pub(crate) fn external(addr: &str, allow_remote: bool) -> Result<Server, String> {
        let resolved: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve --server {addr}: {error}"))?
            .collect();
        let Some(first) = resolved.first().copied() else {
            return Err(format!("--server {addr} resolves to no address"));
        };
        if !allow_remote && !first.ip().is_loopback() {
            return Err(format!(
                "--server {addr} is not a loopback address; the benchmark overwrites bench:* \
                 keys, pass --allow-remote to use it anyway"
            ));
        }
        let version = ask_version(first)?;
        Ok(Server {
            addr: first,
            version,
            origin: format!("given with --server {addr}"),
            child: None,
        })
    }

    /// The process id of a server this benchmark started (to read its CPU time).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Polls until the server answers `version`, the process dies, or the startup timeout
    /// passes.
    fn wait_ready(&mut self) -> Result<String, String> {
        let started = Instant::now();
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("memcached exited at startup ({status})"));
                }
            }
            match ask_version(self.addr) {
                Ok(version) => return Ok(version),
                Err(error) if started.elapsed() >= STARTUP_TIMEOUT => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `version` on a short-lived blocking connection and returns the version string.
fn ask_version(addr: SocketAddr) -> Result<String, String> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|error| format!("cannot connect to {addr}: {error}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.write_all(b"version\r\n"))
        .map_err(|error| format!("cannot talk to {addr}: {error}"))?;
    let mut line = String::new();
    BufReader::new(stream.take(1024))
        .read_line(&mut line)
        .map_err(|error| format!("no answer from {addr}: {error}"))?;
    match line.trim_end().strip_prefix("VERSION ") {
        Some(version) => Ok(version.to_owned()),
        None => Err(format!("{addr} is not a memcached: {:?}", line.trim_end())),
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|error| format!("cannot find a free port: {error}"))
}

/// Whether this process runs as root (memcached then needs `-u root`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}
