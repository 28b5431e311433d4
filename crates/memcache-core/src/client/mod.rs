//! The client: routing, timeouts, and the plumbing every operation shares.

pub(crate) mod builder;
pub(crate) mod config;
pub(crate) mod execute;
pub(crate) mod fan_out;
pub(crate) mod gutter;
pub(crate) mod pending;
pub(crate) mod protocol;
pub(crate) mod retry;
#[cfg(feature = "serde")]
pub(crate) mod settings;
pub(crate) mod unavailable;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use futures::future::{join_all, select, Either};
use memproto::{Command, Exptime, Reply, ServerError, ServerErrorKind};

use crate::client::builder::ClientBuilder;
use crate::client::config::Config;
use crate::cluster::addr::{IntoNodeAddr, NodeAddr};
use crate::cluster::members::{Member, Members, MembersRef, Membership, NodeRef};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::events::NodeMetrics;

/// A memcached client for a cluster of nodes.
///
/// Cheap to clone (clones share connections) and `Send + Sync`: share one client between
/// all tasks. Operations are methods returning request builders: set options on them, then
/// `.await` them, e.g. `client.set("key", "value").ttl(Duration::from_secs(60)).flags(4).await?`.
/// The runtime crates (`memcache-tokio`, `memcache-async-std`) have runnable examples.
pub struct Client<R: Runtime> {
    pub(crate) inner: Arc<Inner<R>>,
}

pub(crate) struct Inner<R: Runtime> {
    pub(crate) runtime: R,
    pub(crate) config: Arc<Config>,
    pub(crate) membership: Membership<R>,
    /// Where requests of unreachable nodes go, if anywhere.
    pub(crate) gutter: Option<gutter::GutterPool<R>>,
    /// The pools requests go to instead of `membership`'s nodes, when the client has a
    /// route.
    pub(crate) routes: Option<crate::route::tree::Routes<R>>,
    /// The keys `get_or_compute` is looking up in this process.
    pub(crate) flights: crate::ops::single_flight::Flights,
    /// Set by [`Client::close`]: background discovery stops.
    pub(crate) closed: AtomicBool,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Default> Client<R> {
    /// A builder for a client of `nodes`: strings (`host:port`, `[v6]:port`,
    /// `memcache://host:port`, a unix socket path or `unix:///path`) or [`NodeAddr`]s.
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// use memcache_tokio::{Client, NodeAddr};
    ///
    /// let client = Client::builder(["10.0.0.1:11211", "memcache://10.0.0.2:11211"])
    ///     .node(NodeAddr::tcp("10.0.0.3", 11211), 2) // twice the share of keys
    ///     .timeout(Some(Duration::from_millis(250)))
    ///     .connect() // or build(), which connects lazily
    ///     .await?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder<I>(nodes: I) -> ClientBuilder<R>
    where
        I: IntoIterator,
        I::Item: IntoNodeAddr,
    {
        ClientBuilder::with_runtime(R::default(), nodes)
    }

    /// A builder for a client whose nodes come from an ElastiCache-style configuration
    /// endpoint (`host:port`); see [`ClientBuilder::autodiscovery`]. Finish it with
    /// [`ClientBuilder::connect`].
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use memcache_tokio::Client;
    ///
    /// let client = Client::discover("my-cluster.cfg.use1.cache.amazonaws.com:11211")
    ///     .connect()
    ///     .await?;
    /// println!("nodes: {:?}", client.nodes());
    /// # Ok(())
    /// # }
    /// ```
    pub fn discover(endpoint: &str) -> ClientBuilder<R> {
        ClientBuilder::with_runtime(R::default(), [""; 0]).autodiscovery(endpoint)
    }

    /// A builder for a client whose requests go through `route`, a tree of pools: see
    /// [`Route`](crate::Route) and [`ClientBuilder::route`].
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use memcache_tokio::{Client, Migration, Phase, Pool, Route};
    ///
    /// let migration = Migration::new(Phase::WriteBothReadOld);
    /// let route = Route::migrate(
    ///     Pool::new(["10.0.0.1:11211"]),
    ///     Pool::new(["10.0.1.1:11211"]),
    ///     &migration,
    /// );
    /// let client = Client::routed(route).connect().await?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn routed(route: crate::route::Route) -> ClientBuilder<R> {
        ClientBuilder::with_runtime(R::default(), [""; 0]).route(route)
    }
}

impl<R: Runtime> Client<R> {
    pub(crate) fn from_config(runtime: R, config: Config) -> Self {
        let configured = config
            .nodes
            .iter()
            .cloned()
            .map(Member::configured)
            .collect();
        let members = Members::new(&runtime, &config, configured, None);
        Client::with_membership(runtime, config, Membership::Fixed(members))
    }

    pub(crate) fn with_membership(runtime: R, config: Config, membership: Membership<R>) -> Self {
        let gutter = gutter::GutterPool::new(&runtime, &config);
        let routes = config
            .route
            .as_ref()
            .map(|route| crate::route::tree::Routes::new(&runtime, &config, route));
        Client {
            inner: Arc::new(Inner {
                runtime,
                config: Arc::new(config),
                membership,
                gutter,
                routes,
                flights: Default::default(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Opens every node's minimum connections; fails only if no node is reachable.
    pub(crate) async fn warm_up(&self) -> Result<()> {
        let members: Vec<_> = self.inner.pools().map(Inner::members).collect();
        let nodes = members.iter().flat_map(|members| members.nodes.iter());
        let attempts = nodes.map(|node| node.warm_up());
        let results = join_all(attempts).await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(()) => return Ok(()),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.unwrap_or(Error::NoAvailableNodes))
    }

    /// Closes the client: new calls fail with [`Error::Closed`] from now on, requests in
    /// flight may finish within the close grace ([`ClientBuilder::close_grace`]), then
    /// every socket is closed and every background task ends. Requests still unanswered
    /// when the grace runs out fail with [`Error::Closed`]. Closing applies to every clone.
    ///
    /// Dropping the last clone closes the client the same way, without waiting.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.close().await; // requests in flight finish, new ones fail with Error::Closed
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(&self) {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        for pool in inner.pools() {
            pool.closed.store(true, Ordering::Release);
        }
        let nodes = inner.all_nodes();
        for node in &nodes {
            node.close();
        }
        let drained = join_all(nodes.iter().map(|node| node.drained()));
        let grace = inner.runtime.sleep(inner.config.close_grace);
        futures::pin_mut!(drained, grace);
        if let Either::Right((_, drained)) = select(drained, grace).await {
            for node in &nodes {
                node.abort();
            }
            // Aborted drivers end at their next poll; bound the wait all the same.
            let settle = inner.runtime.sleep(CLOSE_SETTLE);
            futures::pin_mut!(settle);
            let _ = select(drained, settle).await;
        }
    }

    /// The nodes, in order: as configured, or as last discovered; with a
    /// [route](crate::Route), its pools' nodes, pool after pool (a node in two pools once).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// for node in client.nodes() {
    ///     println!("{node}: {}", client.version(&node).await?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn nodes(&self) -> Vec<NodeAddr> {
        let mut nodes = Vec::new();
        for pool in self.inner.pools() {
            for node in pool.members().nodes.iter() {
                if !nodes.contains(&node.addr) {
                    nodes.push(node.addr.clone());
                }
            }
        }
        nodes
    }

    /// Nodes that are healthy (the last connection attempt, or one of the few before it,
    /// succeeded).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// println!("{} of {} nodes healthy", client.healthy_nodes().len(), client.nodes().len());
    /// # Ok(())
    /// # }
    /// ```
    pub fn healthy_nodes(&self) -> Vec<NodeAddr> {
        self.nodes_where(true)
    }

    /// Nodes declared unhealthy after repeated connection failures.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// for node in client.unhealthy_nodes() {
    ///     eprintln!("{node} is failing to connect");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn unhealthy_nodes(&self) -> Vec<NodeAddr> {
        self.nodes_where(false)
    }

    fn nodes_where(&self, healthy: bool) -> Vec<NodeAddr> {
        let mut nodes = Vec::new();
        for pool in self.inner.pools() {
            let members = pool.members();
            let states = members.health.snapshot();
            for (node, state) in members.nodes.iter().zip(states) {
                if state == healthy && !nodes.contains(&node.addr) {
                    nodes.push(node.addr.clone());
                }
            }
        }
        nodes
    }

    /// Each node's counters (the gutter pool's nodes after the client's own; with a
    /// [route](crate::Route), pool after pool, so a node in two pools is listed twice, each
    /// with its own connections and counts): connections,
    /// requests, fetch hits and misses, timeouts, and request latency percentiles
    /// ([`NodeMetrics::latency`]). Always kept, whatever the
    /// features; reading them copies a few kilobytes per node.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// for (node, metrics) in client.metrics() {
    ///     println!("{node}: {} requests, {} hits, p99 {:?}", metrics.requests, metrics.hits, metrics.latency.p99);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn metrics(&self) -> Vec<(NodeAddr, NodeMetrics)> {
        self.inner
            .all_nodes()
            .iter()
            .map(|node| (node.addr.clone(), node.counters.snapshot()))
            .collect()
    }

    /// The node `key` is routed to (for diagnostics and tests); with a
    /// [route](crate::Route), the node a read of `key` goes to first.
    ///
    /// # Errors
    /// [`Error::NoAvailableNodes`] when every node was purged from routing.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// println!("user:42 lives on {}", client.node_for("user:42")?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn node_for(&self, key: impl AsRef<[u8]>) -> Result<NodeAddr> {
        let key = key.as_ref();
        let pool = match &self.inner.routes {
            Some(routes) => {
                let tagged = crate::cluster::hash_tag::routing_key(key, self.inner.config.hash_tag);
                routes.root.read_pool(tagged)
            }
            None => &self.inner,
        };
        Ok(pool.route(key)?.addr.clone())
    }

    /// The [migrations](crate::Route::migrate) of the client's route, depth first: the
    /// handles that switch their phases, for a route built from
    /// `Settings` (feature `serde`; a route built in code has them already).
    pub fn migrations(&self) -> Vec<crate::route::Migration> {
        self.inner
            .routes
            .as_ref()
            .map(crate::route::tree::Routes::migrations)
            .unwrap_or_default()
    }
}

impl<R: Runtime> Inner<R> {
    /// Whether [`Client::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The current membership.
    pub(crate) fn members(&self) -> MembersRef<'_, R> {
        self.membership.current()
    }

    /// The pools requests go to: this client's own nodes, or its route's pools.
    pub(crate) fn pools(&self) -> impl Iterator<Item = &Inner<R>> {
        let routed = self.routes.as_ref().map(|routes| routes.pools.iter());
        let own = routed.is_none().then_some(self);
        own.into_iter()
            .chain(routed.into_iter().flatten().map(|pool| &**pool))
    }

    /// Every node of every pool, gutters included (a pool's gutter after its nodes).
    pub(crate) fn all_nodes(&self) -> Vec<Arc<crate::io::node::Node<R>>> {
        let mut nodes = Vec::new();
        for pool in self.pools() {
            nodes.extend(pool.members().nodes.iter().cloned());
            if let Some(gutter) = &pool.gutter {
                nodes.extend(gutter.members().nodes.iter().cloned());
            }
        }
        nodes
    }

    /// Whether `addr` is one of this pool's nodes (or its gutter's).
    pub(crate) fn has_node(&self, addr: &NodeAddr) -> bool {
        let gutter = self.gutter.as_ref().map(gutter::GutterPool::members);
        self.members().position(addr).is_some()
            || gutter.is_some_and(|gutter| gutter.position(addr).is_some())
    }

    /// The node `key` routes to, or `routing_key` when the call names one.
    pub(crate) fn route_call(&self, key: &[u8], options: &CallOptions) -> Result<NodeRef<'_, R>> {
        self.route(options.routing_key.as_deref().unwrap_or(key))
    }

    pub(crate) fn route(&self, key: &[u8]) -> Result<NodeRef<'_, R>> {
        let members = self.members();
        members
            .health
            .route(key)
            .and_then(|index| members.node(index))
            .ok_or(Error::NoAvailableNodes)
    }

    pub(crate) fn node(&self, node: impl IntoNodeAddr) -> Result<NodeRef<'_, R>> {
        let addr = node
            .into_node_addr()
            .map_err(|error| Error::UnknownNode(error.0))?;
        let members = self.members();
        if let Some(node) = members
            .position(&addr)
            .and_then(|index| members.node(index))
        {
            return Ok(node);
        }
        // The gutter's nodes answer node commands (`stats`, `flush_all`) too.
        self.gutter
            .as_ref()
            .map(gutter::GutterPool::members)
            .and_then(|gutter| gutter.position(&addr).and_then(|index| gutter.node(index)))
            .ok_or_else(|| Error::UnknownNode(addr.to_string()))
    }

    /// The timeout in force: the call's override, else the client's default.
    pub(crate) fn timeout(&self, call: Option<Option<Duration>>) -> Option<Duration> {
        call.unwrap_or(self.config.timeout)
    }

    /// How long a request with this timeout may wait before its connection counts as
    /// stuck: never less than the client's default, so a caller's short timeout does not
    /// close a connection other callers are using, plus a margin so that the caller's own
    /// [`Error::Timeout`] comes first; `None` when the request waits forever or the client
    /// has no default timeout.
    pub(crate) fn patience(&self, timeout: Option<Duration>) -> Option<Duration> {
        // Without a client-wide timeout no connection is ever declared stuck.
        timeout.zip(self.config.timeout).map(|(call, default)| {
            let longest = call.max(default);
            longest.saturating_add((longest / 10).max(STUCK_MARGIN))
        })
    }
}

/// Per-call settings every request builder has.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallOptions {
    /// The call's timeout override (`Some(None)` disables it).
    pub(crate) timeout: Option<Option<Duration>>,
    /// Fail with [`Error::Overloaded`] instead of waiting for room.
    pub(crate) no_wait: bool,
    /// Route by this key instead of the request's own keys.
    pub(crate) routing_key: Option<Bytes>,
    /// Failures are not reported to the write-failure handler: a route's clean-up of a
    /// destination whose write failure was reported already.
    pub(crate) quiet: bool,
}

/// How long [`Client::close`] waits for aborted connections to end.
const CLOSE_SETTLE: Duration = Duration::from_secs(1);

/// The least extra time a stuck connection gets past its oldest request's timeout.
const STUCK_MARGIN: Duration = Duration::from_millis(10);

/// Encodes `command`, whose keys and value are about `size_hint` bytes long.
pub(crate) fn encode(
    config: &Config,
    command: &Command<'_>,
    size_hint: usize,
) -> Result<(Payload, Expects)> {
    let (payload, expect) = Payload::encode(&config.encoder, command, size_hint)?;
    Ok((payload, expect.into()))
}

/// Turns a relative expiration over 30 days into an absolute one, reading the clock only then.
pub(crate) fn resolve(exptime: Exptime) -> Exptime {
    if !exptime.needs_clock() {
        return exptime;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    exptime.resolve(now)
}

/// The items of a retrieval reply.
pub(crate) fn values(reply: Reply) -> Result<memproto::Items> {
    match reply {
        Reply::Values(items) => Ok(items),
        other => Err(unexpected(other)),
    }
}

/// The error for a reply the command cannot produce, or the typed error of a server error
/// line (one that may be this quiet command's is taken as its: see
/// [`Reply::Unattributed`]).
pub(crate) fn unexpected(reply: Reply) -> Error {
    match reply {
        Reply::Error(error) | Reply::Unattributed(error) => server_error(error),
        other => Error::UnexpectedReply(format!("{other:?}")),
    }
}

pub(crate) fn server_error(error: ServerError) -> Error {
    let message = String::from_utf8_lossy(&error.message).into_owned();
    match error.kind {
        ServerErrorKind::Error => Error::UnknownCommand(message),
        ServerErrorKind::Client if message.contains("non-numeric") => Error::NotNumeric,
        ServerErrorKind::Client => Error::Client(message),
        ServerErrorKind::Server => Error::Server(message),
    }
}
