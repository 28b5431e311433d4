//! ElastiCache-style autodiscovery: the client asks a configuration endpoint for the
//! cluster's nodes (`config get cluster`), routes over them, and polls for changes. When the
//! configuration's version moves, nodes that joined take keys at once and nodes that left
//! get no new operations, finish those already on them, then close.
//!
//! Each `host|ip|port` entry is used so:
//!
//! - **Reached at** `ip:port` (`host:port` when the IP is empty): no DNS lookup, and the
//!   address the cluster serves the node at now.
//! - **Identity** `ip:port` as well (`host:port` without an IP): what routing hashes, what
//!   [`crate::Client::nodes`] and [`crate::Client::node_for`] report, what node commands
//!   take. This is how discovery has always named nodes, and pymemcache's ElastiCache
//!   client routes by the IP too; clients that hash `host:port` place keys differently.
//!   Every client sharing a cluster must hash the same identity for keys to meet.
//! - **TLS** checks the node's certificate against `host` (and sends it as SNI), since
//!   certificates name hosts, not the IPs they resolve to today. A name set with
//!   `Tls::server_name` overrides it for every node.
//!
//! A node listed under a new IP is a new node, with its own share of the keys. One whose
//! host name alone changes keeps its keys but reconnects, so that the certificate is
//! checked against the new name.

mod config;
pub(crate) mod source;

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt};

pub use config::DiscoveryError;
use config::{ClusterConfig, ClusterNode, MAX_CONFIG};

use crate::client::config::Config;
use crate::client::{Client, Inner};
use crate::cluster::addr::NodeAddr;
use crate::cluster::members::{Member, Members, Membership};
use crate::error::{Error, Result};
use crate::io::connect::Connector;
use crate::io::runtime::Runtime;
use source::NodeSource;

/// Where and how often to ask for the cluster's nodes.
#[derive(Clone)]
pub(crate) struct Discovery {
    pub(crate) source: Source,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

/// Who lists the nodes.
#[derive(Clone)]
pub(crate) enum Source {
    /// An ElastiCache-style configuration endpoint.
    Endpoint(NodeAddr),
    /// The application's own source.
    Custom(Arc<dyn NodeSource>),
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("source", &self.name())
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Discovery {
    /// The source's name, in errors.
    fn name(&self) -> String {
        match &self.source {
            Source::Endpoint(endpoint) => endpoint.to_string(),
            Source::Custom(source) => source.name(),
        }
    }
}

/// What a source listed: the nodes, and for an endpoint the configuration's version.
struct Listing {
    version: Option<u64>,
    members: Vec<Member>,
}

/// Asks the source for the nodes, within `discovery.timeout`.
async fn fetch<R: Runtime>(runtime: &R, config: &Config, discovery: &Discovery) -> Result<Listing> {
    let listing = async {
        match &discovery.source {
            Source::Endpoint(endpoint) => {
                let cluster = ask_endpoint(runtime, config, discovery, endpoint).await?;
                Ok(Listing {
                    version: Some(cluster.version),
                    members: members(cluster.nodes),
                })
            }
            Source::Custom(source) => match source.nodes().await {
                Ok(nodes) if nodes.is_empty() => {
                    Err(discovery_error(discovery, DiscoveryError::NoNodes))
                }
                Ok(nodes) => Ok(Listing {
                    version: None,
                    members: nodes
                        .into_iter()
                        .map(|node| Member {
                            addr: node.addr,
                            weight: 1,
                            tls_name: node.tls_name,
                        })
                        .collect(),
                }),
                Err(error) => Err(discovery_error(
                    discovery,
                    DiscoveryError::Source(error.to_string()),
                )),
            },
        }
    };
    let timer = runtime.sleep(discovery.timeout);
    futures::pin_mut!(listing, timer);
    match select(listing, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(Error::Timeout {
            node: discovery.name(),
            written: true,
        }),
    }
}

/// Asks `endpoint` for the cluster's configuration (`config get cluster`).
async fn ask_endpoint<R: Runtime>(
    runtime: &R,
    config: &Config,
    discovery: &Discovery,
    endpoint: &NodeAddr,
) -> Result<ClusterConfig> {
    let connector = Connector {
        runtime: runtime.clone(),
        addr: endpoint.clone(),
        timeout: discovery.timeout,
        options: config.socket,
        credentials: config.credentials.clone(),
        #[cfg(feature = "tls")]
        tls: config.tls.clone(),
    };
    // Named after the endpoint: `Error::Connect`, or `Error::Auth` for refused credentials.
    let mut socket = connector.open().await?;
    let lost = |source: std::io::Error| Error::ConnectionLost {
        node: endpoint.to_string(),
        source: Arc::new(source),
    };
    socket
        .write_all(b"config get cluster\r\n")
        .await
        .map_err(lost)?;
    let mut buf = BytesMut::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        match config::parse(&buf) {
            Ok(Some(config)) => return Ok(config),
            // The header and trailer come on top of the configuration itself.
            Ok(None) if buf.len() <= MAX_CONFIG + 128 => {}
            Ok(None) => return Err(discovery_error(discovery, DiscoveryError::TooLarge)),
            Err(error) => return Err(discovery_error(discovery, error)),
        }
        let read = socket.read(&mut chunk).await.map_err(lost)?;
        if read == 0 {
            return Err(lost(std::io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}

fn discovery_error(discovery: &Discovery, source: DiscoveryError) -> Error {
    Error::Discovery {
        endpoint: discovery.name(),
        source,
    }
}

/// The members of a configuration: weight 1 each, reached at the listed address, with
/// the certificate checked against the listed host name.
fn members(nodes: Vec<ClusterNode>) -> Vec<Member> {
    nodes
        .into_iter()
        .map(|node| Member {
            addr: node.addr,
            weight: 1,
            tls_name: node.host,
        })
        .collect()
}

/// Builds a client of the nodes the endpoint lists and starts polling it.
pub(crate) async fn connect<R: Runtime>(
    runtime: R,
    config: Config,
    discovery: Discovery,
) -> Result<Client<R>> {
    let first = fetch(&runtime, &config, &discovery).await?;
    let members = Members::new(&runtime, &config, first.members, None);
    let membership = Membership::Discovered(RwLock::new(Arc::new(members)));
    let client = Client::with_membership(runtime.clone(), config, membership);
    client.warm_up().await?;
    let poller = poll(Arc::downgrade(&client.inner), discovery, first.version);
    runtime.spawn(poller);
    Ok(client)
}

/// Older versions served this many polls in a row are taken as a cluster that was
/// recreated (its counter restarted), not as a lagging endpoint.
const OLDER_VERSION_POLLS: u32 = 3;

/// Polls the source every interval until the client is closed or dropped. A failed poll
/// keeps the membership as it is: the cluster is more likely fine than gone.
async fn poll<R: Runtime>(inner: Weak<Inner<R>>, discovery: Discovery, version: Option<u64>) {
    let mut versions = Versions::new(version.unwrap_or(0));
    loop {
        let Some(runtime) = inner.upgrade().map(|inner| inner.runtime.clone()) else {
            return;
        };
        runtime.sleep(discovery.interval).await;
        let Some(client) = inner.upgrade() else {
            return;
        };
        if client.is_closed() {
            return;
        }
        let Ok(listing) = fetch(&client.runtime, &client.config, &discovery).await else {
            continue;
        };
        // An endpoint's configuration counts by its version; other sources by what they
        // list.
        if listing
            .version
            .is_some_and(|version| !versions.accept(version))
        {
            continue;
        }
        let current = client.members();
        let listed = listing.members;
        if current.lists(&listed) {
            continue;
        }
        let next = Members::new(&client.runtime, &client.config, listed, Some(&current));
        drop(current);
        if !client.membership.replace(next, &client.closed) {
            return;
        }
    }
}

/// Which configuration versions to act on: newer ones at once; older ones (a lagging
/// endpoint) only once served [`OLDER_VERSION_POLLS`] times in a row.
struct Versions {
    current: u64,
    older_seen: u32,
}

impl Versions {
    fn new(current: u64) -> Self {
        Versions {
            current,
            older_seen: 0,
        }
    }

    /// Whether to act on a configuration of `version`.
    fn accept(&mut self, version: u64) -> bool {
        if version > self.current {
            self.current = version;
            self.older_seen = 0;
            return true;
        }
        if version == self.current {
            self.older_seen = 0;
            return false;
        }
        self.older_seen += 1;
        if self.older_seen < OLDER_VERSION_POLLS {
            return false;
        }
        self.current = version;
        self.older_seen = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_count_at_once_older_ones_only_when_they_last() {
        let mut versions = Versions::new(5);
        assert!(!versions.accept(5));
        assert!(versions.accept(6));
        assert!(!versions.accept(2));
        assert!(!versions.accept(2));
        assert!(
            !versions.accept(6),
            "the current version again resets the count"
        );
        assert!(!versions.accept(2));
        assert!(!versions.accept(2));
        assert!(versions.accept(2), "served three polls in a row");
        assert!(!versions.accept(2));
    }
}
