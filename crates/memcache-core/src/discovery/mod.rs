//! ElastiCache-style autodiscovery: the client asks a configuration endpoint for the
//! cluster's nodes (`config get cluster`), routes over them, and polls for changes. When the
//! configuration's version moves, nodes that joined take keys at once and nodes that left
//! take no new requests, finish those in flight, then close.

mod config;

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt};

pub use config::DiscoveryError;
use config::{ClusterConfig, MAX_CONFIG};

use crate::addr::NodeAddr;
use crate::client::{Client, Inner};
use crate::config::Config;
use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::members::{Members, Membership};
use crate::runtime::Runtime;

/// Where and how often to ask for the cluster's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    pub(crate) endpoint: NodeAddr,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

/// Asks `endpoint` for the cluster's configuration, within `discovery.timeout`.
async fn fetch<R: Runtime>(
    runtime: &R,
    config: &Config,
    discovery: &Discovery,
) -> Result<ClusterConfig> {
    let connector = Connector {
        runtime: runtime.clone(),
        addr: discovery.endpoint.clone(),
        timeout: discovery.timeout,
        options: config.socket,
        credentials: config.credentials.clone(),
        #[cfg(feature = "tls")]
        tls: config.tls.clone(),
    };
    let exchange = async {
        let mut socket = connector.open().await.map_err(|source| Error::Connect {
            node: discovery.endpoint.to_string(),
            source: Arc::new(source),
        })?;
        let lost = |source: std::io::Error| Error::ConnectionLost {
            node: discovery.endpoint.to_string(),
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
                Ok(None) if buf.len() <= MAX_CONFIG => {}
                Ok(None) => return Err(discovery_error(discovery, DiscoveryError::TooLarge)),
                Err(error) => return Err(discovery_error(discovery, error)),
            }
            let read = socket.read(&mut chunk).await.map_err(lost)?;
            if read == 0 {
                return Err(lost(std::io::ErrorKind::UnexpectedEof.into()));
            }
            buf.extend_from_slice(&chunk[..read]);
        }
    };
    let timer = runtime.sleep(discovery.timeout);
    futures::pin_mut!(exchange, timer);
    match select(exchange, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(Error::Timeout),
    }
}

fn discovery_error(discovery: &Discovery, source: DiscoveryError) -> Error {
    Error::Discovery {
        endpoint: discovery.endpoint.to_string(),
        source,
    }
}

fn weighted(nodes: Vec<NodeAddr>) -> Vec<(NodeAddr, u32)> {
    nodes.into_iter().map(|node| (node, 1)).collect()
}

/// Builds a client of the nodes the endpoint lists and starts polling it.
pub(crate) async fn connect<R: Runtime>(
    runtime: R,
    config: Config,
    discovery: Discovery,
) -> Result<Client<R>> {
    let first = fetch(&runtime, &config, &discovery).await?;
    let members = Members::new(&runtime, &config, weighted(first.nodes), None);
    let membership = Membership::Discovered(RwLock::new(Arc::new(members)));
    let client = Client::with_membership(runtime.clone(), config, membership);
    client.warm_up().await?;
    let poller = poll(Arc::downgrade(&client.inner), discovery, first.version);
    runtime.spawn(poller);
    Ok(client)
}

/// Polls the endpoint every interval until the client is closed or dropped. A failed poll
/// keeps the membership as it is: the cluster is more likely fine than gone.
async fn poll<R: Runtime>(inner: Weak<Inner<R>>, discovery: Discovery, mut version: u64) {
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
        let Ok(config) = fetch(&client.runtime, &client.config, &discovery).await else {
            continue;
        };
        // A lagging endpoint may serve an older version: never go back.
        if config.version <= version {
            continue;
        }
        version = config.version;
        let current = client.members();
        let unchanged = current.nodes.len() == config.nodes.len()
            && current
                .nodes
                .iter()
                .zip(&config.nodes)
                .all(|(node, addr)| node.addr == *addr);
        if unchanged || client.is_closed() {
            continue;
        }
        let next = Members::new(
            &client.runtime,
            &client.config,
            weighted(config.nodes),
            Some(&current),
        );
        drop(current);
        for node in client.membership.replace(next) {
            node.close();
        }
    }
}
