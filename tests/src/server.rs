//! Real memcached processes, started on free loopback ports (or unix sockets) and killed on
//! drop.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::debian_binary::{running_as_root, DebianBinary};

/// Where a server listens.
#[derive(Debug, Clone)]
pub enum Listen {
    Tcp(u16),
    Unix(PathBuf),
}

/// A running memcached process. Killed (and its socket file removed) on drop.
pub struct Memcached {
    child: Option<Child>,
    listen: Listen,
    extra_args: Vec<String>,
    /// The server speaks TLS: readiness is a TCP connect, not a `version` round trip.
    tls: bool,
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

impl Memcached {
    /// Starts memcached on a free TCP port of 127.0.0.1.
    pub fn start() -> Memcached {
        Self::start_with(&[])
    }

    /// Starts memcached on a free TCP port with extra arguments (e.g. `["-I", "2m"]`).
    pub fn start_with(extra_args: &[&str]) -> Memcached {
        Self::start_tcp(extra_args, false)
    }

    /// Starts memcached serving TLS (`extra_args` must hold `-Z` and the certificate options).
    pub fn start_tls(extra_args: &[&str]) -> Memcached {
        Self::start_tcp(extra_args, true)
    }

    fn start_tcp(extra_args: &[&str], tls: bool) -> Memcached {
        // The port is free when probed; another process could take it before memcached
        // binds, so retry a few times with a fresh port.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = server_port();
            let mut server = Memcached {
                child: None,
                listen: Listen::Tcp(port),
                extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
                tls,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("could not start memcached: {last_error}");
    }

    /// Starts memcached on a fresh unix socket path.
    pub fn start_unix() -> Memcached {
        let path = std::env::temp_dir().join(format!(
            "memcache-it-{}-{}.sock",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        ));
        let mut server = Memcached {
            child: None,
            listen: Listen::Unix(path),
            extra_args: Vec::new(),
            tls: false,
        };
        server
            .spawn()
            .unwrap_or_else(|error| panic!("could not start memcached: {error}"));
        server
    }

    /// The address to give the client: `127.0.0.1:PORT` or the socket path.
    pub fn addr(&self) -> String {
        match &self.listen {
            Listen::Tcp(port) => format!("127.0.0.1:{port}"),
            Listen::Unix(path) => path.display().to_string(),
        }
    }

    /// The TCP port (panics for unix servers).
    pub fn port(&self) -> u16 {
        match &self.listen {
            Listen::Tcp(port) => *port,
            Listen::Unix(_) => panic!("unix socket server has no port"),
        }
    }

    /// Kills the process (the address stays reserved for [`Memcached::restart`]).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Listen::Unix(path) = &self.listen {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Starts the process again on the same address.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    panic!("could not restart memcached: {error}")
                }
                // The old socket may linger briefly in the kernel; try again.
                Err(_) => std::thread::yield_now(),
            }
        }
    }

    /// Sends one raw command line and returns the reply lines up to `END`/one line, for
    /// checking server state independently of the client under test. Panics if the server
    /// stays silent for 2 seconds.
    pub fn raw(&self, command: &str) -> Vec<String> {
        let (mut writer, reader): (Box<dyn Write>, Box<dyn std::io::Read>) = match &self.listen {
            Listen::Tcp(port) => {
                let stream = TcpStream::connect(("127.0.0.1", *port)).expect("connect");
                stream.set_timeout().expect("read timeout");
                (
                    Box::new(stream.try_clone().expect("clone")),
                    Box::new(stream),
                )
            }
            Listen::Unix(path) => {
                let stream = UnixStream::connect(path).expect("connect");
                stream.set_timeout().expect("read timeout");
                (
                    Box::new(stream.try_clone().expect("clone")),
                    Box::new(stream),
                )
            }
        };
        writer.write_all(command.as_bytes()).expect("write");
        writer.write_all(b"\r\n").expect("write");
        let mut lines = Vec::new();
        for line in BufReader::new(reader).lines() {
            let line = line.expect("read");
            let done = !(line.starts_with("STAT ")
                || line.starts_with("VALUE ")
                || lines
                    .last()
                    .is_some_and(|l: &String| l.starts_with("VALUE ")));
            let end = line == "END";
            lines.push(line);
            if end || (done && !command.starts_with("stats") && !command.starts_with("get")) {
                break;
            }
        }
        lines
    }

    /// The remaining TTL the server reports for `key` (`mg KEY t`; -1 is "never"), or
    /// `None` when the key is missing.
    pub fn ttl(&self, key: &str) -> Option<i64> {
        let reply = self.raw(&format!("mg {key} t"));
        let line = reply.first().expect("a reply line");
        if line == "EN" {
            return None;
        }
        let ttl = line
            .split(' ')
            .find_map(|token| token.strip_prefix('t'))
            .unwrap_or_else(|| panic!("no ttl in {line:?}"));
        Some(ttl.parse().expect("numeric ttl"))
    }

    /// The value the server holds under `key` (text), asked directly; `None` when it
    /// is missing.
    pub fn value(&self, key: &str) -> Option<String> {
        let lines = self.raw(&format!("get {key}"));
        match lines.first() {
            Some(header) if header.starts_with("VALUE ") => lines.get(1).cloned(),
            _ => None,
        }
    }

    /// Stores `value` under `key` directly, behind the client's back.
    pub fn put(&self, key: &str, value: &str) {
        let reply = self.raw(&format!("set {key} 0 0 {}\r\n{value}", value.len()));
        assert_eq!(reply, ["STORED"], "set {key} directly");
    }

    /// One counter from `stats`.
    pub fn stat(&self, name: &str) -> u64 {
        let prefix = format!("STAT {name} ");
        self.raw("stats")
            .iter()
            .find_map(|line| {
                line.strip_prefix(&prefix)
                    .map(|value| value.parse().expect("numeric stat"))
            })
            .unwrap_or_else(|| panic!("no stat {name}"))
    }

    /// Every counter of `stats` (or of `stats ARGS`), read over one fresh connection.
    ///
    /// Reading them all at once matters when comparing `total_connections`: each call
    /// opens exactly one connection.
    pub fn stats(&self, args: &str) -> HashMap<String, String> {
        let command = if args.is_empty() {
            "stats".to_owned()
        } else {
            format!("stats {args}")
        };
        self.raw(&command)
            .iter()
            .filter_map(|line| {
                let (name, value) = line.strip_prefix("STAT ")?.split_once(' ')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// Which of `keys` the server holds, asked directly (`get`, 50 keys a command).
    /// Values must be text.
    pub fn present(&self, keys: &[&str]) -> HashSet<String> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(50) {
            let lines = self.raw(&format!("get {}", chunk.join(" ")));
            for line in lines {
                if let Some(header) = line.strip_prefix("VALUE ") {
                    let key = header.split(' ').next().expect("VALUE line has a key");
                    found.insert(key.to_owned());
                }
            }
        }
        found
    }

    /// Suspends the process (`SIGSTOP`) and waits until it is stopped: its sockets stay
    /// open, connections are still accepted by the kernel, but nothing is read or answered
    /// until [`Memcached::cont`].
    pub fn stop(&self) {
        self.signal("-STOP", true);
    }

    /// Resumes a process suspended by [`Memcached::stop`] (harmless on a running one).
    pub fn cont(&self) {
        self.signal("-CONT", false);
    }

    /// Sends `signal` with kill(1) and waits (up to 5 s) until the process state says
    /// stopped (`T`) or not.
    fn signal(&self, signal: &str, stopped: bool) {
        let pid = self.pid();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed: {status}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_stopped(pid) != Some(stopped) {
            assert!(
                Instant::now() < deadline,
                "memcached {pid} did not take {signal}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The process id (panics if the server is not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let binary = memcached_binary();
        let mut command = Command::new(binary);
        match &self.listen {
            Listen::Tcp(port) => command.args(["-l", "127.0.0.1", "-p", &port.to_string()]),
            Listen::Unix(path) => command.args(["-s", &path.display().to_string(), "-a", "0700"]),
        };
        command.args(["-U", "0", "-t", "2", "-m", "64"]);
        if running_as_root() {
            command.args(["-u", "root"]);
        }
        command.args(&self.extra_args);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the server answers `version`, or fails if it exited.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(exit) = self.child.as_mut().and_then(exited) {
                self.child = None;
                return Err(format!("memcached {exit}"));
            }
            if self.answers_version() {
                return self.check_owner();
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("memcached did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Makes sure the server that answered is this process, not another one that took the
    /// port first (this memcached then fails to bind and exits, possibly after the probe).
    fn check_owner(&mut self) -> Result<(), String> {
        let (Listen::Tcp(port), Some(child)) = (&self.listen, &self.child) else {
            return Ok(());
        };
        let port = *port;
        match listens_on(child.id(), port) {
            Some(false) => {
                self.kill();
                Err(format!("port {port} is served by another process"))
            }
            Some(true) | None => Ok(()),
        }
    }

    fn answers_version(&self) -> bool {
        let probe = |stream: &mut dyn ReadWrite| -> bool {
            let _ = stream.set_timeout();
            stream.write_all(b"version\r\n").is_ok()
                && {
                    let mut buf = [0u8; 64];
                    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"VERSION") || buf[..n].starts_with(b"CLIENT_ERROR"))
                }
        };
        match &self.listen {
            Listen::Tcp(port) if self.tls => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
            Listen::Tcp(port) => {
                TcpStream::connect(("127.0.0.1", *port)).is_ok_and(|mut s| probe(&mut s))
            }
            Listen::Unix(path) => UnixStream::connect(path).is_ok_and(|mut s| probe(&mut s)),
        }
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.kill();
    }
}

trait ReadWrite: std::io::Read + Write {
    fn set_timeout(&self) -> std::io::Result<()>;
}

impl ReadWrite for TcpStream {
    fn set_timeout(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(Duration::from_secs(2)))
    }
}

impl ReadWrite for UnixStream {
    fn set_timeout(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(Duration::from_secs(2)))
    }
}

/// A port for a server to listen on: from below the kernel's ephemeral range, so that no
/// port picked by the kernel (clients' source ports, listeners on port 0) can collide with
/// it, and handed out in sequence, so that this process never reuses the port of a server
/// it killed and may restart. Each process starts at its own offset.
fn server_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    port_in_sequence(&NEXT, false)
}

/// The next port of a sequence below the ephemeral range (see [`server_port`]). With
/// `other_half`, the sequence starts half the range away, so two sequences of one process
/// (servers and proxies) do not meet.
pub(crate) fn port_in_sequence(next: &AtomicUsize, other_half: bool) -> u16 {
    const FIRST: usize = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    if ephemeral_start < FIRST + 2_000 {
        return free_port();
    }
    let count = ephemeral_start - FIRST;
    let shift = if other_half { count / 2 } else { 0 };
    let offset = (std::process::id() as usize * 7_919 + shift) % count;
    for _ in 0..1_000 {
        let port = FIRST + (offset + next.fetch_add(1, Ordering::Relaxed)) % count;
        // Skip ports something else already uses.
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    free_port()
}

/// If `child` has exited: its status and what it wrote to stderr, as one line to report.
pub(crate) fn exited(child: &mut Child) -> Option<String> {
    let status = child.try_wait().ok()??;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    Some(format!("exited with {status}: {stderr}"))
}

/// Whether process `pid` has a socket listening on TCP `port` (`None` when `/proc` cannot
/// tell).
pub(crate) fn listens_on(pid: u32, port: u16) -> Option<bool> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            // State 0A is LISTEN.
            if local_port == Some(port) && *state == "0A" {
                inodes.insert(format!("socket:[{inode}]"));
            }
        }
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.contains(target.to_string_lossy().as_ref()))
    }))
}

/// Whether process `pid` is stopped by a signal, from `/proc/PID/stat` (`None` when it
/// cannot be read).
fn process_stopped(pid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "T" || state == "t")
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}

/// `MEMCACHED_BIN`, else `memcached` from PATH, else the one apt-get installs (once per
/// process). Panics with the one line saying what to install when there is none: no test
/// can run without it.
fn memcached_binary() -> &'static Path {
    static MEMCACHED: DebianBinary = DebianBinary::new("memcached", "memcached", "MEMCACHED_BIN");
    MEMCACHED.path().unwrap_or_else(|hint| panic!("{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_owns_its_port() {
        let server = Memcached::start();
        assert_eq!(listens_on(server.pid(), server.port()), Some(true));
        let other = Memcached::start();
        assert_eq!(listens_on(server.pid(), other.port()), Some(false));
    }
}
