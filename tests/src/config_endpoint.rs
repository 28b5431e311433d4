//! A configuration endpoint in the style of ElastiCache's: it answers `config get cluster`
//! with a version and a node list the test changes as it goes, and `version` like a
//! memcached node (clients check a new connection with it). It speaks plain text, or TLS
//! like the endpoint of a cluster with encryption in transit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use memcache_core::rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::server::Memcached;

/// What the endpoint serves.
struct State {
    version: u64,
    nodes: Vec<String>,
    /// Sent instead of a configuration when set.
    garbage: Option<Vec<u8>>,
}

/// A running configuration endpoint; stops on drop.
pub struct ConfigEndpoint {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl ConfigEndpoint {
    /// Starts an endpoint listing `servers` at version 1.
    pub fn start(servers: &[&Memcached]) -> ConfigEndpoint {
        Self::launch(node_entries(servers), None)
    }

    /// Starts an endpoint that speaks TLS with `tls` and lists `entries` (`host|ip|port`
    /// each, sent as given) at version 1.
    pub fn start_tls(entries: &[String], tls: Arc<ServerConfig>) -> ConfigEndpoint {
        Self::launch(entries.to_vec(), Some(tls))
    }

    fn launch(nodes: Vec<String>, tls: Option<Arc<ServerConfig>>) -> ConfigEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            version: 1,
            nodes,
            garbage: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (state, stop, asked) = (state.clone(), stop.clone(), asked.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, asked, tls) = (state.clone(), asked.clone(), tls.clone());
                    std::thread::spawn(move || match tls {
                        None => serve(stream, &state, &asked),
                        Some(tls) => {
                            // The handshake runs on the first read.
                            if let Ok(connection) = ServerConnection::new(tls) {
                                let stream = StreamOwned::new(connection, stream);
                                serve(stream, &state, &asked);
                            }
                        }
                    });
                }
            })
        };
        ConfigEndpoint {
            port,
            state,
            stop,
            asked,
            accept: Some(accept),
        }
    }

    /// The address to give the client.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves `servers` from now on, under the next version.
    pub fn set_nodes(&self, servers: &[&Memcached]) {
        let ports: Vec<u16> = servers.iter().map(|server| server.port()).collect();
        self.set_ports(&ports);
    }

    /// Serves nodes at these loopback ports from now on, under the next version.
    pub fn set_ports(&self, ports: &[u16]) {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        state.nodes = ports.iter().map(|&port| node_entry(port)).collect();
    }

    /// Serves `servers` under an older version than the current one (a lagging endpoint).
    pub fn set_nodes_at_version(&self, version: u64, servers: &[&Memcached]) {
        let mut state = self.state.lock().unwrap();
        state.version = version;
        state.nodes = node_entries(servers);
    }

    /// Answers `config get cluster` with these bytes instead (`None` to stop).
    pub fn serve_garbage(&self, garbage: Option<&[u8]>) {
        self.state.lock().unwrap().garbage = garbage.map(<[u8]>::to_vec);
    }

    /// How many configurations were asked for so far.
    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::Acquire)
    }
}

impl Drop for ConfigEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// `host|ip|port` entries; the host name is a placeholder, the IP is what clients use.
fn node_entries(servers: &[&Memcached]) -> Vec<String> {
    servers
        .iter()
        .map(|server| node_entry(server.port()))
        .collect()
}

fn node_entry(port: u16) -> String {
    format!("node{port}.cache.test|127.0.0.1|{port}")
}

/// Answers one connection's commands until it closes or sends `quit`.
fn serve(stream: impl Read + Write, state: &Mutex<State>, asked: &AtomicUsize) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if !matches!(reader.read_line(&mut line), Ok(read) if read > 0) {
            return;
        }
        let reply = match line.trim_end() {
            "version" => b"VERSION 1.6.18\r\n".to_vec(),
            "config get cluster" => {
                let state = state.lock().unwrap();
                asked.fetch_add(1, Ordering::AcqRel);
                match &state.garbage {
                    Some(garbage) => garbage.clone(),
                    None => {
                        let body = format!("{}\n{}\n", state.version, state.nodes.join(" "));
                        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).into_bytes()
                    }
                }
            }
            // Dropping the stream closes the connection.
            "quit" => return,
            _ => b"ERROR\r\n".to_vec(),
        };
        let writer = reader.get_mut();
        if writer
            .write_all(&reply)
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}
