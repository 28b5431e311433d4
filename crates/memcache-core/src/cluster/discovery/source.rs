//! Membership sources of the application's choosing: anything that can list the cluster's
//! nodes (DNS, Consul, Kubernetes endpoints), polled as the ElastiCache configuration
//! endpoint is. One ships here: DNS names resolved through the system resolver.

use std::future::Future;
use std::net::{IpAddr, ToSocketAddrs};
use std::pin::Pin;

use futures::channel::oneshot;

use crate::cluster::addr::NodeAddr;

/// What [`NodeSource::nodes`] returns.
pub type NodesFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<DiscoveredNode>, NodeSourceError>> + Send + 'a>>;

/// Why a [`NodeSource`] could not list the nodes: any error.
pub type NodeSourceError = Box<dyn std::error::Error + Send + Sync>;

/// A source of the cluster's nodes, for [`ClientBuilder::node_source`]: the client asks it
/// when it connects, then every [`discovery_interval`], and routes over what it lists.
/// Nodes that joined take their keys at once; nodes that left take no new requests and
/// close once their requests in flight are answered. A failed listing, or an empty one,
/// keeps the nodes as they are: the cluster is more likely fine than gone.
///
/// Each call runs under [`discovery_timeout`]. Implement it for a service registry;
/// [`DnsNodes`] is one implementation.
///
/// ```
/// use memcache_core::{DiscoveredNode, NodeAddr, NodeSource, NodesFuture};
///
/// /// Nodes read from a file the deployment rewrites.
/// struct NodesFile(std::path::PathBuf);
///
/// impl NodeSource for NodesFile {
///     fn nodes(&self) -> NodesFuture<'_> {
///         Box::pin(async move {
///             let text = std::fs::read_to_string(&self.0)?;
///             let mut nodes = Vec::new();
///             for line in text.lines().filter(|line| !line.trim().is_empty()) {
///                 nodes.push(DiscoveredNode::new(NodeAddr::parse(line.trim())?));
///             }
///             Ok(nodes)
///         })
///     }
/// }
/// ```
///
/// [`ClientBuilder::node_source`]: crate::ClientBuilder::node_source
/// [`discovery_interval`]: crate::ClientBuilder::discovery_interval
/// [`discovery_timeout`]: crate::ClientBuilder::discovery_timeout
pub trait NodeSource: Send + Sync + 'static {
    /// The cluster's nodes now.
    fn nodes(&self) -> NodesFuture<'_>;

    /// The source's name in errors and events (`Error::Discovery`'s `endpoint`).
    fn name(&self) -> String {
        "node source".to_owned()
    }
}

/// A node a [`NodeSource`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveredNode {
    /// Where the node is reached; also its name, which routing hashes.
    pub addr: NodeAddr,
    /// The name TLS checks the node's certificate against (and sends as SNI), when `addr`
    /// is an IP address and the certificate names a host.
    pub tls_name: Option<String>,
}

impl DiscoveredNode {
    /// A node reached at, and named by, `addr`.
    pub fn new(addr: NodeAddr) -> Self {
        DiscoveredNode {
            addr,
            tls_name: None,
        }
    }

    /// Checks the node's certificate against `name`.
    #[must_use]
    pub fn tls_name(mut self, name: impl Into<String>) -> Self {
        self.tls_name = Some(name.into());
        self
    }
}

/// The nodes a DNS name resolves to, through the system resolver (`getaddrinfo`): one node
/// per address, at `port`, named `ip:port` (so routing follows the addresses, as for
/// ElastiCache), with certificates checked against the name.
///
/// ```no_run
/// # async fn f() -> memcache_tokio::Result<()> {
/// use std::time::Duration;
/// use memcache_tokio::{Client, DnsNodes};
///
/// let client = Client::builder(Vec::<String>::new())
///     .node_source(DnsNodes::new("memcached.cache.svc.cluster.local", 11211))
///     .discovery_interval(Duration::from_secs(30))
///     .connect()
///     .await?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DnsNodes {
    host: String,
    port: u16,
    ipv4_only: bool,
}

impl DnsNodes {
    /// The addresses of `host`, each at `port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        DnsNodes {
            host: host.into(),
            port,
            ipv4_only: false,
        }
    }

    /// Only the IPv4 addresses (for servers listening on IPv4 only, where a name also
    /// resolves to IPv6).
    #[must_use]
    pub fn ipv4_only(mut self) -> Self {
        self.ipv4_only = true;
        self
    }
}

impl NodeSource for DnsNodes {
    fn nodes(&self) -> NodesFuture<'_> {
        let (sender, resolved) = oneshot::channel();
        let (host, port) = (self.host.clone(), self.port);
        // The system resolver blocks: it runs on a thread of its own, whatever the runtime.
        let spawned = std::thread::Builder::new()
            .name("memcache-dns".into())
            .spawn(move || {
                let addrs = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|addr| addr.ip()).collect::<Vec<IpAddr>>());
                let _ = sender.send(addrs);
            });
        Box::pin(async move {
            spawned?;
            let mut ips = resolved.await??;
            if self.ipv4_only {
                ips.retain(IpAddr::is_ipv4);
            }
            // A stable order and no repeats, so an unchanged answer changes nothing.
            ips.sort();
            ips.dedup();
            Ok(ips
                .into_iter()
                .map(|ip| {
                    DiscoveredNode::new(NodeAddr::tcp(ip.to_string(), self.port))
                        .tls_name(&self.host)
                })
                .collect())
        })
    }

    fn name(&self) -> String {
        format!("dns:{}:{}", self.host, self.port)
    }
}
