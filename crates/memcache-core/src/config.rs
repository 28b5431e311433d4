//! Client configuration and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use memproto::{Encoder, Limits};

use crate::addr::{AddrParseError, NodeAddr};
use crate::events::ClusterEvents;
use crate::router::Distribution;

/// Everything a client is configured with. Built by [`crate::ClientBuilder`].
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) nodes: Vec<(NodeAddr, u32)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) min_connections: usize,
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) distribution: Distribution,
    pub(crate) encoder: Encoder,
    pub(crate) limits: Limits,
    pub(crate) purge_unhealthy_nodes: bool,
    pub(crate) unhealthy_after: u32,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) events: Option<Arc<dyn ClusterEvents>>,
    pub(crate) credentials: Option<(String, String)>,
    /// Merge concurrent single-key gets into multi-key gets of at most this many keys.
    pub(crate) autobatch_max_keys: Option<usize>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::Tls>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("nodes", &self.nodes)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("min_connections", &self.min_connections)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("distribution", &self.distribution)
            .field("max_value_len", &self.encoder.max_value_len())
            .field("purge_unhealthy_nodes", &self.purge_unhealthy_nodes)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| user),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    pub(crate) fn new(nodes: Vec<(NodeAddr, u32)>) -> Self {
        Config {
            nodes,
            timeout: Some(Duration::from_secs(1)),
            connect_timeout: Duration::from_secs(5),
            min_connections: 1,
            max_connections: 2,
            idle_timeout: Some(Duration::from_secs(60)),
            distribution: Distribution::Rendezvous,
            encoder: Encoder::new(),
            limits: Limits::default(),
            purge_unhealthy_nodes: false,
            unhealthy_after: 3,
            backoff: (Duration::from_millis(50), Duration::from_secs(5)),
            events: None,
            credentials: None,
            autobatch_max_keys: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The delay before connection attempt number `failures + 1` after `failures`
    /// consecutive failures: doubling from the minimum, capped at the maximum.
    pub(crate) fn backoff_after(&self, failures: u32) -> Duration {
        let (min, max) = self.backoff;
        let doublings = failures.saturating_sub(1).min(20);
        min.saturating_mul(1 << doublings).min(max)
    }
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
    /// A unix socket path is not valid UTF-8 (routing hashes it as text).
    #[error("unix socket path is not UTF-8: {0}")]
    NonUtf8Path(String),
}
