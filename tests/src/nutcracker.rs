//! twemproxy (`nutcracker`) in front of real memcached processes: started on a free
//! loopback port with a generated configuration, killed (and its files removed) on drop.
//!
//! The pool always uses `distribution: ketama` and `hash: md5`, the settings under which
//! twemproxy places keys like libmemcached's weighted ketama.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::debian_binary::DebianBinary;
use crate::server::Memcached;

/// One memcached behind the proxy, as a line of the pool's `servers:` list.
#[derive(Debug, Clone)]
pub struct Upstream {
    addr: String,
    weight: u32,
    name: Option<String>,
}

impl Upstream {
    /// `server` with weight 1 and no name.
    pub fn of(server: &Memcached) -> Upstream {
        Upstream {
            addr: server.addr(),
            weight: 1,
            name: None,
        }
    }

    /// The ketama weight (the third field of the server line).
    pub fn weight(mut self, weight: u32) -> Upstream {
        self.weight = weight;
        self
    }

    /// A server name (the fourth field). twemproxy then hashes the name instead of
    /// `host:port` when it builds the continuum.
    pub fn name(mut self, name: &str) -> Upstream {
        self.name = Some(name.to_owned());
        self
    }

    fn line(&self) -> String {
        match &self.name {
            Some(name) => format!("{}:{} {name}", self.addr, self.weight),
            None => format!("{}:{}", self.addr, self.weight),
        }
    }
}

/// A running nutcracker process. Killed, and its directory (configuration, log) removed,
/// on drop.
pub struct Nutcracker {
    child: Option<Child>,
    port: u16,
    stats_port: u16,
    dir: PathBuf,
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

impl Nutcracker {
    /// Starts nutcracker in front of `servers` (each with weight 1, in this order).
    pub fn start(servers: &[&Memcached]) -> Nutcracker {
        let upstreams: Vec<Upstream> = servers.iter().map(|server| Upstream::of(server)).collect();
        Self::start_with(&upstreams)
    }

    /// Starts nutcracker in front of `upstreams`, in this order.
    pub fn start_with(upstreams: &[Upstream]) -> Nutcracker {
        Self::start_configured(upstreams, None)
    }

    /// Starts nutcracker in front of `upstreams` with the pool's `hash_tag` set to `tag`.
    pub fn start_with_hash_tag(upstreams: &[Upstream], tag: &str) -> Nutcracker {
        Self::start_configured(upstreams, Some(tag))
    }

    fn start_configured(upstreams: &[Upstream], hash_tag: Option<&str>) -> Nutcracker {
        assert!(
            !upstreams.is_empty(),
            "nutcracker needs at least one server"
        );
        // Ports are free when probed; another process could take one before nutcracker
        // binds, so retry a few times with fresh ones.
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = std::env::temp_dir().join(format!(
                "memcache-it-nutcracker-{}-{}",
                std::process::id(),
                UNIQUE.fetch_add(1, Ordering::Relaxed)
            ));
            let mut proxy = Nutcracker {
                child: None,
                port: proxy_port(),
                stats_port: proxy_port(),
                dir,
            };
            match proxy.spawn(upstreams, hash_tag) {
                Ok(()) => return proxy,
                Err(error) => last_error = error,
            }
        }
        panic!("could not start nutcracker: {last_error}");
    }

    /// The address to give the client: `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of nutcracker's statistics listener (a JSON document per connection).
    pub fn stats_port(&self) -> u16 {
        self.stats_port
    }

    /// The process id (panics if the proxy is not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("nutcracker is running").id()
    }

    /// The generated configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("nutcracker.yml")
    }

    /// What nutcracker logged so far (empty if nothing).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nutcracker.log")).unwrap_or_default()
    }

    /// Sends raw bytes over a fresh connection and returns everything the proxy sends back
    /// until it closes the connection (`closed` is then true) or stays silent for `quiet`.
    pub fn exchange(&self, request: &[u8], quiet: Duration) -> (Vec<u8>, bool) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(quiet)).expect("read timeout");
        stream.write_all(request).expect("write");
        let mut reply = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return (reply, true),
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return (reply, false)
                }
                // A reset is a close too.
                Err(_) => return (reply, true),
            }
        }
    }

    fn spawn(&mut self, upstreams: &[Upstream], hash_tag: Option<&str>) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|error| format!("cannot create {}: {error}", self.dir.display()))?;
        let mut config = config(self.port, upstreams);
        if let Some(tag) = hash_tag {
            // A pool setting: placed before `servers:`, which ends the pool's scalars.
            config = config.replacen(
                "  servers:\n",
                &format!("  hash_tag: \"{tag}\"\n  servers:\n"),
                1,
            );
        }
        std::fs::write(self.config_path(), config)
            .map_err(|error| format!("cannot write the configuration: {error}"))?;
        let binary = nutcracker_binary();
        let child = Command::new(binary)
            .arg("-c")
            .arg(self.config_path())
            .args(["-a", "127.0.0.1", "-s", &self.stats_port.to_string()])
            .arg("-o")
            .arg(self.dir.join("nutcracker.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the proxy answers a `get` (which it forwards to a server), or fails if
    /// it exited.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(exit) = self.child.as_mut().and_then(crate::server::exited) {
                self.child = None;
                let log = self.log();
                self.kill();
                return Err(format!("nutcracker {exit}{log}"));
            }
            if self.answers_get() {
                return self.check_owner();
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("nutcracker did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn answers_get(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"get memcache-it:ready\r\n").is_err() {
            return false;
        }
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        while !reply.ends_with(b"END\r\n") {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => reply.extend_from_slice(&buf[..n]),
                _ => return false,
            }
        }
        true
    }

    /// Makes sure the process that answered is this nutcracker, not another one that held
    /// the port first (this one then fails to bind and exits, possibly after the probe).
    fn check_owner(&mut self) -> Result<(), String> {
        let Some(child) = &self.child else {
            return Ok(());
        };
        match crate::server::listens_on(child.id(), self.port) {
            Some(false) => {
                let port = self.port;
                self.kill();
                Err(format!("port {port} is served by another process"))
            }
            Some(true) | None => Ok(()),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nutcracker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The YAML configuration: one pool named `memcache-it`.
fn config(port: u16, upstreams: &[Upstream]) -> String {
    let mut yaml = format!(
        "memcache-it:\n  \
           listen: 127.0.0.1:{port}\n  \
           redis: false\n  \
           hash: md5\n  \
           distribution: ketama\n  \
           timeout: 2000\n  \
           auto_eject_hosts: false\n  \
           servers:\n"
    );
    for upstream in upstreams {
        yaml.push_str(&format!("    - {}\n", upstream.line()));
    }
    yaml
}

/// A port for the proxy or its statistics, from the other half of the sequence memcached's
/// ports come from.
fn proxy_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    crate::server::port_in_sequence(&NEXT, true)
}

/// `NUTCRACKER_BIN`, else `nutcracker` from PATH, else Debian's `/usr/sbin/nutcracker`
/// (not on the PATH of ordinary users), else the one apt-get installs (once per process).
/// Panics with the one line saying what to install when there is none.
fn nutcracker_binary() -> &'static Path {
    static NUTCRACKER: DebianBinary =
        DebianBinary::new("nutcracker", "nutcracker", "NUTCRACKER_BIN");
    NUTCRACKER.path().unwrap_or_else(|hint| panic!("{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_lists_every_server() {
        let upstreams = [
            Upstream {
                addr: "127.0.0.1:1".into(),
                weight: 1,
                name: None,
            },
            Upstream {
                addr: "127.0.0.1:2".into(),
                weight: 3,
                name: Some("beta".into()),
            },
        ];
        let yaml = config(7, &upstreams);
        assert!(yaml.contains("  listen: 127.0.0.1:7\n"), "{yaml}");
        assert!(yaml.contains("  distribution: ketama\n"), "{yaml}");
        assert!(yaml.contains("  hash: md5\n"), "{yaml}");
        assert!(
            yaml.ends_with("  servers:\n    - 127.0.0.1:1:1\n    - 127.0.0.1:2:3 beta\n"),
            "{yaml}"
        );
    }
}
