//! Client configuration and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use memproto::{Encoder, Limits};

use crate::engine::connection::{Budget, ConnectionConfig};
use crate::engine::pool::PoolConfig;
use crate::io::runtime::SocketOptions;
use crate::io::value_buffers::ValueBuffers;

use crate::client::protocol::Protocol;
use crate::cluster::addr::{AddrParseError, NodeAddr};
use crate::cluster::router::Distribution;
use crate::observe::events::ClusterEvents;

/// Everything a client is configured with. Built by [`crate::ClientBuilder`].
#[derive(Clone)]
pub struct Config {
    pub(crate) nodes: Vec<(NodeAddr, u32)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) pool: PoolConfig,
    pub(crate) connection: ConnectionConfig,
    pub(crate) socket: SocketOptions,
    pub(crate) distribution: Distribution,
    pub(crate) protocol: Protocol,
    /// Learn the nodes from a configuration endpoint instead.
    pub(crate) discovery: Option<crate::cluster::discovery::Discovery>,
    pub(crate) encoder: Encoder,
    /// Set once the decoder limits were configured explicitly; until then they follow the
    /// largest value the client stores.
    pub(crate) limits_set: bool,
    pub(crate) purge_unhealthy_nodes: bool,
    /// Keys are routed by the part inside this tag (twemproxy's `hash_tag`).
    pub(crate) hash_tag: Option<[u8; 2]>,
    /// Callers wait for room when a node is at its in-flight budget (else
    /// [`crate::Error::Overloaded`] at once).
    pub(crate) wait_when_full: bool,
    /// How long [`crate::Client::close`] lets requests in flight finish.
    pub(crate) close_grace: Duration,
    pub(crate) events: Option<Arc<dyn ClusterEvents>>,
    /// Requests whose node is unreachable go to this pool instead.
    pub(crate) gutter: Option<crate::client::gutter::Gutter>,
    /// Requests go through this tree of pools instead of to `nodes`.
    pub(crate) route: Option<crate::route::Route>,
    /// Writes store items for at most this long (a gutter pool's configuration).
    pub(crate) exptime_cap: Option<Duration>,
    /// Told of every write that may have left its item stale.
    pub(crate) on_write_failure: Option<crate::observe::write_failures::Handler>,
    /// Failed requests are tried again under this policy.
    pub(crate) retry: Option<crate::client::retry::RetryPolicy>,
    /// Reads answer a miss instead of failing when a node is unavailable.
    pub(crate) miss_on_unavailable: bool,
    /// Large values are stored compressed.
    #[cfg(feature = "lz4")]
    pub(crate) compression: Option<crate::value::Compression>,
    pub(crate) credentials: Option<(String, String)>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::io::tls::Tls>,
    /// Storage for large values, shared by the client's connections.
    pub(crate) value_buffers: Arc<ValueBuffers>,
    /// The level of each request's span.
    #[cfg(feature = "tracing")]
    pub(crate) trace_level: tracing::Level,
    /// Record each request's command lines, keys included, in its span.
    #[cfg(feature = "tracing")]
    pub(crate) trace_keys: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("nodes", &self.nodes)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool", &self.pool)
            .field("connection", &self.connection)
            .field("socket", &self.socket)
            .field("distribution", &self.distribution)
            .field("route", &self.route)
            .field("protocol", &self.protocol)
            .field("max_value_len", &self.encoder.max_value_len())
            .field("purge_unhealthy_nodes", &self.purge_unhealthy_nodes)
            .field("wait_when_full", &self.wait_when_full)
            .field("close_grace", &self.close_grace)
            .field("retry", &self.retry)
            .field("miss_on_unavailable", &self.miss_on_unavailable)
            .field("compression", &self.compression())
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| user),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    pub(crate) fn new(nodes: Vec<(NodeAddr, u32)>) -> Self {
        let encoder = Encoder::new();
        Config {
            nodes,
            timeout: Some(Duration::from_secs(1)),
            connect_timeout: Duration::from_secs(5),
            pool: PoolConfig {
                min: 1,
                max: 2,
                idle_timeout: Some(Duration::from_secs(60)),
                backoff: (Duration::from_millis(50), Duration::from_secs(5)),
                unhealthy_after: 3,
            },
            connection: ConnectionConfig {
                limits: limits_for(encoder.max_value_len()),
                budget: Budget::default(),
                autobatch_max_keys: None,
                coalesce_writes: true,
            },
            socket: SocketOptions::default(),
            distribution: Distribution::Rendezvous,
            protocol: Protocol::Text,
            discovery: None,
            encoder,
            limits_set: false,
            purge_unhealthy_nodes: false,
            hash_tag: None,
            wait_when_full: true,
            close_grace: Duration::from_secs(5),
            events: None,
            on_write_failure: None,
            gutter: None,
            route: None,
            exptime_cap: None,
            retry: None,
            miss_on_unavailable: false,
            #[cfg(feature = "lz4")]
            compression: None,
            credentials: None,
            #[cfg(feature = "tls")]
            tls: None,
            value_buffers: Arc::default(),
            #[cfg(feature = "tracing")]
            trace_level: tracing::Level::DEBUG,
            #[cfg(feature = "tracing")]
            trace_keys: false,
        }
    }

    /// The compression configured, as `Debug` shows it (`None` without the `lz4` feature).
    fn compression(&self) -> Option<&dyn fmt::Debug> {
        #[cfg(feature = "lz4")]
        if let Some(compression) = &self.compression {
            return Some(compression);
        }
        None
    }

    /// Sets the largest value stored; the decoder's limits follow unless set explicitly.
    pub(crate) fn set_max_value_len(&mut self, max: usize) {
        self.encoder = Encoder::with_max_value_len(max);
        if !self.limits_set {
            self.connection.limits = limits_for(max);
        }
    }
}

/// Decoder limits for a server whose items hold at most `max_value_len` bytes: nothing it
/// can legitimately send is refused, and nothing larger is reserved for.
fn limits_for(max_value_len: usize) -> Limits {
    // The client's largest value sits a little under the server's item size (-I), which
    // is what a reply can carry; the server's default is 1 MiB.
    const DEFAULT_ITEM_SIZE: usize = 1024 * 1024;
    Limits::for_max_item_size(max_value_len.saturating_add(1024).max(DEFAULT_ITEM_SIZE))
}

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No node was given.
    #[error("no memcached node given")]
    NoNodes,
    /// A node address could not be parsed.
    #[error(transparent)]
    Addr(#[from] AddrParseError),
    /// A hash tag is not two bytes ([`crate::ClientBuilder::hash_tag`]).
    #[error(
        "a hash tag is two characters, an opening and a closing one (such as \"{{}}\"): got {0:?}"
    )]
    HashTag(String),
    /// The same node was given twice.
    #[error("node {0} is listed twice")]
    DuplicateNode(String),
    /// `max_connections` is zero or below `min_connections`.
    #[error("connection pool bounds are inconsistent: min {min}, max {max} (need 1 <= max and min <= max)")]
    PoolBounds {
        /// The configured minimum.
        min: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A discovery setting was given before [`crate::ClientBuilder::autodiscovery`] named
    /// the endpoint.
    #[error("discovery_interval/discovery_timeout given before autodiscovery(endpoint)")]
    DiscoveryNotSet,
    /// Autodiscovery learns the nodes over the network: build the client with
    /// [`crate::ClientBuilder::connect`].
    #[error("autodiscovery needs connect(), which fetches the node list first")]
    DiscoveryNeedsConnect,
    /// A unix socket path is not valid UTF-8 (routing hashes it as text).
    #[error("unix socket path is not UTF-8: {0}")]
    NonUtf8Path(String),
    /// A gutter pool has no node, or shares one with the client's own nodes
    /// ([`crate::ClientBuilder::gutter`]).
    #[error("the gutter pool {0}")]
    Gutter(&'static str),
    /// A [route](crate::Route) is incomplete, or given with what it replaces (the
    /// client's own nodes, autodiscovery, a client-wide gutter).
    #[error("route: {0}")]
    Route(&'static str),
}

/// Parses `nodes`, each with weight 1; the first address that does not parse is the
/// error.
pub(crate) fn nodes_from<I>(nodes: I) -> (Vec<(NodeAddr, u32)>, Option<ConfigError>)
where
    I: IntoIterator,
    I::Item: crate::cluster::addr::IntoNodeAddr,
{
    use crate::cluster::addr::IntoNodeAddr;
    let mut parsed = Vec::new();
    let mut error = None;
    for node in nodes {
        match node.into_node_addr() {
            Ok(addr) => parsed.push((addr, 1)),
            Err(parse) => {
                error.get_or_insert(ConfigError::from(parse));
            }
        }
    }
    (parsed, error)
}

impl Config {
    /// `exptime` as a request sends it: capped in a gutter pool, and made absolute when
    /// it is over 30 days.
    pub(crate) fn expiry(&self, exptime: memproto::Exptime) -> memproto::Exptime {
        let exptime = match self.exptime_cap {
            Some(cap) => crate::client::gutter::capped(exptime, cap),
            None => exptime,
        };
        crate::client::resolve(exptime)
    }
}
