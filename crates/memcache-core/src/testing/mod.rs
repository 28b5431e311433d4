//! An in-process memcached for applications' unit tests.
//!
//! A [`MemoryServer`] speaks memcached's text and meta protocols over an in-process
//! connection. A client built with its [`addr`](MemoryServer::addr) is the same
//! [`Client`](crate::Client) a service runs in production, with the same encoding,
//! pipelining, timeouts, retries and metrics; only the socket is replaced. So a service's own tests exercise its real cache
//! code without starting a memcached, and can make the server misbehave on purpose:
//! - [`stop`](MemoryServer::stop) it, as if the node died, to test the fallback when the
//!   cache is unreachable, and [`start`](MemoryServer::start) it again;
//! - [`pause`](MemoryServer::pause) it, so commands are read but not answered, to test
//!   timeouts;
//! - [`advance`](MemoryServer::advance) its clock, to expire items without sleeping;
//! - [`item`](MemoryServer::item) peeks at what is stored, without counting as a read.
//!
//! It is a test double, not a cache: items are never evicted, and everything is kept in
//! one process. This project's own test suite runs against real memcached servers.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> memcache_tokio::Result<()> {
//! use std::time::Duration;
//! use memcache_tokio::testing::MemoryServer;
//! use memcache_tokio::Client;
//!
//! let server = MemoryServer::new();
//! let client = Client::builder([server.addr()]).build()?;
//!
//! client.set("greeting", "hello").ttl(Duration::from_secs(60)).await?;
//! assert_eq!(client.get("greeting").await?.unwrap().value, "hello");
//! assert_eq!(server.item("greeting").unwrap().value, "hello");
//!
//! // An hour later, without waiting an hour.
//! server.advance(Duration::from_secs(3600));
//! assert_eq!(client.get("greeting").await?, None);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cluster::addr::NodeAddr;
use crate::io::runtime::Socket;

mod server;
mod socket;
mod store;

use socket::{Connection, MemorySocket};
use store::Store;

/// An in-process memcached: see the [module documentation](self).
///
/// Clones share one server. It lives as long as a clone of it or a connection to it:
/// once every handle is dropped, clients fail to connect to its address, as to a server
/// that went away.
#[derive(Clone)]
pub struct MemoryServer {
    shared: Arc<Shared>,
}

/// The address of a [`MemoryServer`], inside [`NodeAddr::Memory`]: its name, which
/// displays as `memory:<n>` and which routing hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryAddr {
    id: u64,
    name: Arc<str>,
}

impl fmt::Display for MemoryAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl MemoryAddr {
    /// The name routing hashes.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Opens a connection to the server, for the client's connector.
    pub(crate) fn connect(&self) -> io::Result<Box<dyn Socket>> {
        let server = registry()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&self.id)
            .and_then(Weak::upgrade);
        match server {
            Some(shared) => MemoryServer { shared }.connect(),
            None => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{self} no longer exists"),
            )),
        }
    }
}

/// Every server alive in the process, by id: addresses name servers without holding them
/// (an address is a plain value, fit for hash maps).
fn registry() -> &'static Mutex<HashMap<u64, Weak<Shared>>> {
    static SERVERS: OnceLock<Mutex<HashMap<u64, Weak<Shared>>>> = OnceLock::new();
    SERVERS.get_or_init(Mutex::default)
}

/// What a server's clones and connections share.
pub(crate) struct Shared {
    addr: MemoryAddr,
    state: Mutex<State>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.addr.id);
    }
}

pub(crate) struct State {
    pub(crate) store: Store,
    /// Stopped: connecting fails and every connection is closed.
    running: bool,
    /// Paused: commands are read but left unanswered until resumed.
    pub(crate) paused: bool,
    pub(crate) connections: Vec<Weak<Connection>>,
}

/// An item as a [`MemoryServer`] holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredItem {
    /// The value's bytes, as the client encoded them.
    pub value: Bytes,
    /// The client flags stored with the value.
    pub flags: u32,
    /// The time left before it expires; `None` if it never does.
    pub ttl: Option<Duration>,
    /// Its CAS unique.
    pub cas: u64,
}

impl Default for MemoryServer {
    fn default() -> Self {
        MemoryServer::new()
    }
}

impl MemoryServer {
    /// A running server with no items, memcached's default 1 MiB item size limit, and no
    /// authentication.
    pub fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            addr: MemoryAddr {
                id,
                name: format!("memory:{id}").into(),
            },
            state: Mutex::new(State {
                store: Store::new(),
                running: true,
                paused: false,
                connections: Vec::new(),
            }),
        });
        registry()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, Arc::downgrade(&shared));
        MemoryServer { shared }
    }

    /// Refuses values larger than `bytes`, as memcached started with `-I` does
    /// (`SERVER_ERROR object too large for cache`). Set the client's
    /// [`Limits`](crate::Limits) to match to have it refuse them before sending.
    #[must_use]
    pub fn with_item_size_max(self, bytes: usize) -> Self {
        self.state().store.set_item_size_max(bytes);
        self
    }

    /// Requires this user and password before any command, as memcached started with an
    /// authentication file (`-Y`) does. Configure the client with
    /// [`ClientBuilder::credentials`](crate::ClientBuilder::credentials).
    #[must_use]
    pub fn with_credentials(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.state()
            .store
            .set_credentials(Some((user.into(), password.into())));
        self
    }

    /// The address a client connects to this server by, in the builder's node list
    /// (`Client::builder([server.addr()])`) or wherever a [`NodeAddr`] goes. It
    /// displays as `memory:<n>`, and routes by that name among other nodes.
    pub fn addr(&self) -> NodeAddr {
        NodeAddr::Memory(self.shared.addr.clone())
    }

    /// The item stored under `key`, if there is a live one. Unlike a client's `get`, this
    /// changes nothing: no hit is counted and no lease is taken.
    pub fn item(&self, key: impl AsRef<[u8]>) -> Option<StoredItem> {
        let peeked = self.state().store.peek(key.as_ref(), Instant::now())?;
        Some(StoredItem {
            value: peeked.value,
            flags: peeked.flags,
            ttl: peeked.ttl,
            cas: peeked.cas,
        })
    }

    /// How many live items the server holds.
    pub fn len(&self) -> usize {
        self.state().store.len(Instant::now())
    }

    /// Whether the server holds no live item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes the item under `key`; whether there was one.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> bool {
        self.state().store.remove(key.as_ref())
    }

    /// Removes every item, as a restarted memcached would have lost them.
    pub fn flush(&self) {
        self.state().store.flush();
    }

    /// Moves the server's clock forward: items whose time to live ends within `by` expire,
    /// and leases and recache windows age accordingly.
    pub fn advance(&self, by: Duration) {
        self.state().store.advance(by);
    }

    /// How many commands the server has interpreted, over every connection: a way for a
    /// test to see that a cached path really reached (or did not reach) the cache.
    pub fn commands(&self) -> u64 {
        self.state().store.commands()
    }

    /// How many client connections are open.
    pub fn connections(&self) -> usize {
        let mut state = self.state();
        state.connections.retain(|connection| {
            connection
                .upgrade()
                .is_some_and(|connection| connection.is_open())
        });
        state.connections.len()
    }

    /// Stops the server, as if its process died: every connection is closed, and
    /// connecting fails until [`start`](Self::start). Replies not yet read are lost. The
    /// items stay (call [`flush`](Self::flush) too to model a restart that loses them).
    pub fn stop(&self) {
        let connections = {
            let mut state = self.state();
            state.running = false;
            std::mem::take(&mut state.connections)
        };
        for connection in connections.iter().filter_map(Weak::upgrade) {
            connection.close_by_server();
        }
    }

    /// Accepts connections again after [`stop`](Self::stop). Clients reconnect on their
    /// own, as they do to a memcached that came back.
    pub fn start(&self) {
        self.state().running = true;
    }

    /// Stops answering: commands are still read, but nothing is answered until
    /// [`resume`](Self::resume), so clients' requests time out as they would on a hung
    /// server.
    pub fn pause(&self) {
        self.state().paused = true;
    }

    /// Answers every command read while paused, in order, and goes on answering.
    pub fn resume(&self) {
        let mut state = self.state();
        state.paused = false;
        let connections: Vec<_> = state.connections.iter().filter_map(Weak::upgrade).collect();
        for connection in connections {
            connection.serve_pending(&mut state);
        }
    }

    /// Opens a connection.
    fn connect(&self) -> io::Result<Box<dyn Socket>> {
        let mut state = self.state();
        if !state.running {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{self} is stopped"),
            ));
        }
        let connection = Arc::new(Connection::new());
        state
            .connections
            .retain(|connection| connection.strong_count() > 0);
        state.connections.push(Arc::downgrade(&connection));
        Ok(Box::new(MemorySocket::new(self.shared.clone(), connection)))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

impl Shared {
    /// The server's state. A test that panicked while holding it leaves it usable: the
    /// data is plain values, consistent between commands.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    pub(crate) fn is_running(&self) -> bool {
        self.running
    }
}

impl fmt::Display for MemoryServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.shared.addr)
    }
}

impl fmt::Debug for MemoryServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MemoryServer")
            .field(&self.shared.addr.id)
            .finish()
    }
}
