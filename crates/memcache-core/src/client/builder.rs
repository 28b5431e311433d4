//! The client builder.

use std::sync::Arc;
use std::time::Duration;

use memproto::Limits;

use crate::client::config::{Config, ConfigError};
use crate::client::protocol::Protocol;
use crate::client::retry::RetryPolicy;
use crate::client::Client;
use crate::cluster::addr::{IntoNodeAddr, NodeAddr};
use crate::cluster::discovery::{Discovery, Source};
use crate::cluster::router::Distribution;
use crate::error::Error;
use crate::observe::events::ClusterEvents;

/// emcache's default batch size.
const DEFAULT_BATCH_KEYS: usize = 32;
use crate::io::runtime::Runtime;

/// Configures and builds a [`Client`].
///
/// Every setting has a sensible default; the common case is
/// `Client::builder(["127.0.0.1:11211"]).build()?`.
#[must_use = "a builder does nothing until built"]
pub struct ClientBuilder<R: Runtime> {
    runtime: R,
    config: Config,
    error: Option<ConfigError>,
}

impl<R: Runtime> ClientBuilder<R> {
    /// A builder for `nodes` (strings such as `host:port`, `[v6]:port`,
    /// `memcache://host:port`, unix socket paths, or [`NodeAddr`]s), driven by `runtime`.
    /// Each node has weight 1 (weights matter for ketama only).
    pub fn with_runtime<I>(runtime: R, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: IntoNodeAddr,
    {
        let mut builder = ClientBuilder {
            runtime,
            config: Config::new(Vec::new()),
            error: None,
        };
        for node in nodes {
            builder = builder.node(node, 1);
        }
        builder
    }

    /// Learns the nodes from an ElastiCache-style configuration endpoint (`host:port`)
    /// instead of a fixed list: [`ClientBuilder::connect`] asks it for the cluster
    /// (`config get cluster`), then polls it every [`ClientBuilder::discovery_interval`]. As
    /// the configuration's version moves, nodes that joined take their keys at once, and
    /// nodes that left take no new requests and close once their requests in flight are
    /// answered. A poll that fails keeps the nodes as they are.
    ///
    /// The configuration lists each node as `host|ip|port`. The client connects to
    /// `ip:port`, and that is also the node's name: keys are routed by it, and
    /// [`Client::nodes`](crate::Client::nodes) lists it (`host:port` for an entry without an
    /// IP). Other clients sharing the cluster place keys on the same nodes only if they hash
    /// the same name (pymemcache's ElastiCache client does; clients that hash the host name
    /// do not). With `ClientBuilder::tls`, each node's certificate is checked against its
    /// `host` (also sent as SNI), unless `Tls::server_name` names
    /// one for all nodes; the endpoint's own certificate is checked against the endpoint's
    /// host as given here.
    pub fn autodiscovery(mut self, endpoint: &str) -> Self {
        match NodeAddr::parse(endpoint) {
            Ok(endpoint) => self.discover_from(Source::Endpoint(endpoint)),
            Err(error) => {
                self.error.get_or_insert(error.into());
            }
        }
        self
    }

    /// Learns the nodes from `source` instead of a fixed list: [`ClientBuilder::connect`]
    /// asks it for the nodes, then asks again every
    /// [`discovery_interval`](Self::discovery_interval), each time within
    /// [`discovery_timeout`](Self::discovery_timeout). Nodes that joined take their keys at
    /// once; nodes that left take no new requests and close once their requests in flight
    /// are answered. A listing that fails, or lists nothing, keeps the nodes as they are.
    /// [`DnsNodes`](crate::DnsNodes) resolves a DNS name; implement
    /// [`NodeSource`](crate::NodeSource) for a service registry.
    pub fn node_source(mut self, source: impl crate::NodeSource) -> Self {
        self.discover_from(Source::Custom(std::sync::Arc::new(source)));
        self
    }

    /// Discovers the nodes from `source`, keeping the interval and timeout set so far.
    fn discover_from(&mut self, source: Source) {
        let discovery = self.config.discovery.get_or_insert(Discovery {
            source: source.clone(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        });
        discovery.source = source;
    }

    /// How often autodiscovery polls the configuration endpoint (or the
    /// [`node_source`](Self::node_source)). Default: 60 s. Only meaningful with
    /// [`ClientBuilder::autodiscovery`] or `node_source` (call it first).
    pub fn discovery_interval(mut self, interval: Duration) -> Self {
        match &mut self.config.discovery {
            Some(discovery) => discovery.interval = interval.max(Duration::from_millis(1)),
            None => {
                self.error.get_or_insert(ConfigError::DiscoveryNotSet);
            }
        }
        self
    }

    /// How long one poll of the configuration endpoint may take, connecting included.
    /// Default: 5 s. Only meaningful with [`ClientBuilder::autodiscovery`] (call it first).
    pub fn discovery_timeout(mut self, timeout: Duration) -> Self {
        match &mut self.config.discovery {
            Some(discovery) => discovery.timeout = timeout,
            None => {
                self.error.get_or_insert(ConfigError::DiscoveryNotSet);
            }
        }
        self
    }

    /// Adds a node (a string or a [`NodeAddr`]) with a ketama weight.
    pub fn node(mut self, addr: impl IntoNodeAddr, weight: u32) -> Self {
        match addr.into_node_addr() {
            Ok(addr) => self.config.nodes.push((addr, weight)),
            Err(error) => {
                self.error.get_or_insert(error.into());
            }
        }
        self
    }

    /// Tries failed requests again under `policy`: reads after any transient failure,
    /// other requests only when they never reached the server, all within the
    /// operation's timeout (see [`RetryPolicy`]). Off by default: a failure is returned
    /// at once.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use memcache_tokio::{Client, RetryPolicy};
    ///
    /// let client = Client::builder(["127.0.0.1:11211"])
    ///     .retry(RetryPolicy::new(2).backoff(Duration::from_millis(5), Duration::from_millis(50)))
    ///     .build()?;
    /// # Ok::<(), memcache_tokio::Error>(())
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = Some(policy);
        self
    }

    /// Reads (`get` and its family, the `*_many` fetches) answer a miss instead of an error
    /// when their node is unavailable: it cannot be connected to, the connection fails, the
    /// read times out, or no node is left to route to. A cache outage then degrades to
    /// misses, which the caller handles anyway, and each such miss is counted in
    /// [`NodeMetrics::unavailable_misses`](crate::NodeMetrics). Writes still fail. Off by
    /// default.
    pub fn miss_on_unavailable(mut self, enabled: bool) -> Self {
        self.config.miss_on_unavailable = enabled;
        self
    }

    /// The level of the span each request gets (feature `tracing`). Default: `DEBUG`, so a
    /// subscriber at `INFO` pays nothing for them; `INFO` makes them visible to a typical
    /// service's pipeline. Spans and events have the target `memcache`: filter them with
    /// `RUST_LOG=memcache=debug`.
    ///
    /// ```no_run
    /// # fn f() -> memcache_tokio::Result<()> {
    /// let client = memcache_tokio::Client::builder(["127.0.0.1:11211"])
    ///     .trace_level(tracing::Level::INFO)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tracing")]
    pub fn trace_level(mut self, level: tracing::Level) -> Self {
        self.config.trace_level = level;
        self
    }

    /// Records each request's command lines in its span (feature `tracing`), as the
    /// OpenTelemetry field `db.query.text`: `get user:1 user:2`, `set user:1 0 60 5`.
    /// Values are left out; a long batch is cut at 1 KiB. Default: off, since keys often
    /// name users or sessions and traces leave the service; spans then carry key counts
    /// only.
    #[cfg(feature = "tracing")]
    pub fn trace_keys(mut self, enabled: bool) -> Self {
        self.config.trace_keys = enabled;
        self
    }

    /// Stores values of at least the given size lz4-compressed (feature `lz4`), when that
    /// makes them smaller; the compression is marked in the item's flags. Reads decompress
    /// whatever the flags say, so values written before, or by a client without
    /// compression, still read back. Raw `get` returns the bytes as stored; `get_as` and
    /// [`Item::decode`](crate::Item::decode) decompress. Off by default.
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use memcache_tokio::{Client, Compression};
    ///
    /// let client = Client::builder(["127.0.0.1:11211"])
    ///     .compression(Compression::lz4(1024))
    ///     .build()?;
    /// client.set("page:/", "<html>...".repeat(500)).await?; // stored compressed
    /// let page: Option<String> = client.get_as("page:/").await?;
    /// # let _ = page;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "lz4")]
    pub fn compression(mut self, compression: crate::value::Compression) -> Self {
        self.config.compression = Some(compression);
        self
    }

    /// The default per-operation timeout, covering the wait for a connection, the write and
    /// the reply. `None` disables it. Default: 1 second. Each call can override it.
    ///
    /// A connection whose oldest request has waited this long is considered stuck and is
    /// closed; the requests on it fail.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.timeout = timeout.into();
        self
    }

    /// The timeout for opening a connection (and authenticating). Default: 5 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Connections each node keeps open even when idle, reopened in the background when
    /// lost. Default: 1.
    pub fn min_connections(mut self, min: usize) -> Self {
        self.config.pool.min = min;
        self
    }

    /// The most connections per node. Each connection is pipelined, so a few go a long
    /// way; a new one opens when every open one is busy. Default: 2.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.pool.max = max;
        self
    }

    /// Close connections (above the minimum) that were idle this long. `None` keeps them.
    /// Default: 60 seconds. Takes a `Duration` or an `Option<Duration>`, as every optional
    /// duration setter does.
    pub fn idle_timeout(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.config.pool.idle_timeout = idle.into();
        self
    }

    /// Routes each key by its hash tag, as twemproxy's `hash_tag` does: with `"{}"`, a key
    /// such as `{user:42}:profile` is placed by `user:42` alone, so the keys of one user
    /// share a node and a `get_many` of them is one request. The tag is the part between
    /// the first opening character and the first closing one after it; a key without one
    /// (or with an empty one) is placed by all of it. Placement matches a twemproxy pool
    /// with the same `hash_tag`, distribution and hash (`ketama` and `md5`:
    /// [`Distribution::Ketama`]). Off by default.
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// let client = memcache_tokio::Client::builder(["10.0.0.1:11211", "10.0.0.2:11211"])
    ///     .hash_tag("{}")
    ///     .build()?;
    /// assert_eq!(client.node_for("{user:42}:profile")?, client.node_for("user:42")?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn hash_tag(mut self, tag: &str) -> Self {
        match <[u8; 2]>::try_from(tag.as_bytes()) {
            Ok(tag) => self.config.hash_tag = Some(tag),
            Err(_) => {
                self.error
                    .get_or_insert_with(|| ConfigError::HashTag(tag.to_owned()));
            }
        }
        self
    }

    /// How keys are spread over nodes. Default: [`Distribution::Rendezvous`], identical to
    /// emcache. To share a cluster with libmemcached clients (pylibmc, PHP memcached), pick the
    /// variant matching their settings: [`Distribution::Ketama`] (weighted ketama),
    /// [`Distribution::KetamaMd5`] (ketama with the MD5 key hash) or
    /// [`Distribution::KetamaOneAtATime`] (ketama with the default key hash, pylibmc's
    /// `{"ketama": True}`).
    pub fn distribution(mut self, distribution: Distribution) -> Self {
        self.config.distribution = distribution;
        self
    }

    /// Which request dialect single-key operations speak. Default: [`Protocol::Text`],
    /// which every server and proxy understands. [`Protocol::Meta`] (memcached 1.6 and
    /// later) pairs every reply with its request by an opaque token, fetches many keys in
    /// quiet batches, and accepts keys of any bytes.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// The largest value accepted for storage; larger ones fail with
    /// [`Error::Invalid`] before anything is sent. Default: 1 MiB less 512 bytes, which fits
    /// the server's default item size. Raise it with the server's `-I`.
    pub fn max_value_len(mut self, max: usize) -> Self {
        self.config.set_max_value_len(max);
        self
    }

    /// Limits applied to what servers send (line length, value size, reply lines).
    pub fn decode_limits(mut self, limits: Limits) -> Self {
        self.config.connection.limits = limits;
        self.config.limits_set = true;
        self
    }

    /// Remove unhealthy nodes from routing, so their keys go to the others until they
    /// recover. Default: off (their operations fail fast instead).
    pub fn purge_unhealthy_nodes(mut self, purge: bool) -> Self {
        self.config.purge_unhealthy_nodes = purge;
        self
    }

    /// Consecutive failed connection attempts after which a node is down (libmemcached's
    /// `server_failure_limit`, mcrouter's TKO). Default: 3.
    ///
    /// Below it, a failed attempt (refused, timed out, or a server that answered the first
    /// request with garbage or an error line) is retried at once for the callers waiting
    /// for a connection, within their deadlines. At it, the node is unhealthy: its calls
    /// fail at once with [`Error::Connect`](crate::Error::Connect) while it backs off (see
    /// [`ClientBuilder::reconnect_backoff`]), one probe goes through per backoff, and one
    /// successful probe brings it back.
    pub fn unhealthy_after(mut self, failures: u32) -> Self {
        self.config.pool.unhealthy_after = failures.max(1);
        self
    }

    /// Delay between probes of a node that is down ([`ClientBuilder::unhealthy_after`]):
    /// doubling from `min` with each failed probe, capped at `max`, each wait drawn at
    /// random from the upper half of its value so that clients do not probe in step.
    /// Default: 50 ms to 5 s. While a node backs off, its operations fail at once with
    /// [`Error::Connect`](crate::Error::Connect).
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.config.pool.backoff = (min, max.max(min));
        self
    }

    /// The most requests one connection carries at once, counted from submission to
    /// reply. When every connection of a node is full (and no more may open), callers wait
    /// for room within their timeout, or fail with [`Error::Overloaded`] if they asked not
    /// to wait. Default: 4096.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.config.connection.budget.requests = requests.max(1);
        self
    }

    /// The most request bytes one connection carries at once (see
    /// [`ClientBuilder::max_in_flight`]); this bounds what a stalled server can make the
    /// client hold. A single larger request is still sent, alone. Default: 4 MiB.
    pub fn max_in_flight_bytes(mut self, bytes: usize) -> Self {
        self.config.connection.budget.bytes = bytes.max(1);
        self
    }

    /// Whether callers wait for room when a node is at its in-flight budget (default), or
    /// fail at once with [`Error::Overloaded`]. Each call can choose with `no_wait()`.
    pub fn wait_when_overloaded(mut self, wait: bool) -> Self {
        self.config.wait_when_full = wait;
        self
    }

    /// TCP keepalive: probe a connection idle this long, so a peer that vanished without
    /// closing is noticed. `None` disables it. Default: 60 seconds. Takes a `Duration` or
    /// an `Option<Duration>`.
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.config.socket.keepalive = idle.into();
        self
    }

    /// How long [`Client::close`] lets requests in flight finish before failing them.
    /// Default: 5 seconds.
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.config.close_grace = grace;
        self
    }

    /// Receives node health changes.
    pub fn events(mut self, events: impl ClusterEvents) -> Self {
        self.config.events = Some(Arc::new(events));
        self
    }

    /// Calls `handler` for every write (`set` and the other stores, `delete`, `touch`,
    /// `incr`/`decr`, `invalidate`, and each key of the batched writes) that failed in a
    /// way that may leave its item stale: the node was unavailable, the request timed out
    /// or lost its connection, the server failed. After such a failure the old value may
    /// still be served; after one whose
    /// [outcome is unknown](crate::WriteFailure::outcome_unknown) either value may be. A
    /// service that must not serve stale data queues the keys and deletes them once the
    /// node is back (mcrouter's reliable delete stream; meta-memcache-py's
    /// `on_write_failure`). The server's answers about the data (`NotStored`, `Exists`,
    /// `NotFound`) and writes refused before sending are not reported, nor are calls the
    /// caller dropped. A `noreply` write is reported when it could not be queued; what
    /// happens to it later is never heard of (those a closing connection could not send
    /// are counted in `NodeMetrics::writes_dropped`). A key may be reported more than once
    /// (a checked `append` that retries).
    ///
    /// The handler runs on the failing call's task: it must return quickly (hand the key
    /// to a channel, as below).
    ///
    /// ```no_run
    /// # fn f() -> memcache_tokio::Result<()> {
    /// let (stale, mut to_invalidate) = futures::channel::mpsc::unbounded();
    /// let client = memcache_tokio::Client::builder(["127.0.0.1:11211"])
    ///     .on_write_failure(move |failure| {
    ///         let _ = stale.unbounded_send(failure.clone());
    ///     })
    ///     .build()?;
    /// # let _ = (client, &mut to_invalidate);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_write_failure(
        mut self,
        handler: impl Fn(&crate::observe::write_failures::WriteFailure) + Send + Sync + 'static,
    ) -> Self {
        self.config.on_write_failure = Some(Arc::new(handler));
        self
    }

    /// Sends the requests of unreachable nodes to a gutter pool: standby memcached nodes
    /// that serve while a node is down, so that its keys are not all misses (and their
    /// computations not all repeated) until it is back. What a request stores there lives
    /// at most the gutter's [`ttl`](crate::Gutter::ttl) (10 s by default), so the
    /// gutter only bridges the outage (mcrouter's failover-with-exptime route; the
    /// memcached proxy's gutter example).
    ///
    /// - **Which failures**: by default an unreachable node ([`Error::Connect`]: connect
    ///   failed, or the node is marked down); [`FailoverOn::Unavailable`](crate::FailoverOn)
    ///   adds lost connections and full nodes. Timeouts never fail over (the call's
    ///   deadline has passed), nor do the server's answers, nor calls that found no node
    ///   at all (with `purge_unhealthy_nodes`, a dead node's keys move to the others).
    /// - **Where**: every key of one failed node goes to the same gutter node (chosen by
    ///   the failed node's address), so reads find what writes put there, and a multi-key
    ///   request's share fails over whole.
    /// - **What**: every request for a key: reads, stores, deletes, counters, `touch` and
    ///   `gat` (their expirations capped too), leases, and the shares of `get_many`,
    ///   `gets_many` and the batched writes (`gat_many` shares do not: they are sent as
    ///   encoded for their node). Node commands (`stats`, `flush_all`) go where they are
    ///   sent.
    /// - **Within the call**: the failover is part of the call, under its one deadline,
    ///   and counted on the failed node (`NodeMetrics::failovers`,
    ///   `memcache.failovers`). A write that failed over is reported to
    ///   [`on_write_failure`](Self::on_write_failure): its own node missed it.
    ///
    /// ```no_run
    /// # fn f() -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// use memcache_tokio::{Client, Gutter};
    ///
    /// let client = Client::builder(["10.0.0.1:11211", "10.0.0.2:11211"])
    ///     .gutter(Gutter::new(["10.0.9.1:11211"]).ttl(Duration::from_secs(10)))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn gutter(mut self, gutter: crate::client::gutter::Gutter) -> Self {
        self.config.gutter = Some(gutter);
        self
    }

    /// Sends requests through `route`, a tree of pools (replicas, a migration, a warm-up:
    /// see [`Route`](crate::Route)), instead of to the client's own nodes: build the
    /// client with no nodes, or with [`Client::routed`](crate::Client::routed). Every
    /// other setting of the builder applies to each pool.
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use memcache_tokio::{Client, Pool, Quorum, Route};
    ///
    /// let replicas = Route::replicated(
    ///     [Pool::new(["10.0.1.1:11211"]), Pool::new(["10.0.2.1:11211"])],
    ///     Quorum::All,
    /// );
    /// let client = Client::builder([""; 0]).route(replicas).connect().await?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn route(mut self, route: crate::route::Route) -> Self {
        self.config.route = Some(route);
        self
    }

    /// Authenticate every connection with memcached's ASCII authentication (`-Y`).
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.credentials = Some((user.into(), password.into()));
        self
    }

    /// Encrypt every connection with TLS (for servers started with `-Z`).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::io::tls::Tls) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Merge single-key `get`s (and `gets`) that are queued on one connection at the same
    /// moment into one multi-key command (emcache's autobatching). Batches form only from
    /// requests already waiting together, so no request is delayed to wait for others.
    /// Default: off.
    pub fn autobatching(mut self, enabled: bool) -> Self {
        let batch = &mut self.config.connection.autobatch_max_keys;
        *batch = enabled.then_some(batch.unwrap_or(DEFAULT_BATCH_KEYS));
        self
    }

    /// The most keys one autobatched command carries (default 32). Turns autobatching on.
    pub fn autobatching_max_keys(mut self, max_keys: usize) -> Self {
        self.config.connection.autobatch_max_keys = Some(max_keys.max(1));
        self
    }

    /// Gather requests made while a connection's previous write still awaits its replies,
    /// and write them together once those replies are in (or 64 KiB has gathered).
    /// memcached answers a connection's requests in order, so a gathered request is
    /// answered at most one trip over the wire later, and a busy connection makes one
    /// system call per round instead of one per request, on the client and on the server.
    /// A request to an idle connection is written at once either way.
    ///
    /// Behind a proxy that fans requests out to several servers (mcrouter, twemproxy), a
    /// gathered request also waits for the slowest server an earlier one went to: turn it
    /// off there if that matters more than the system calls. Replies stay in order either
    /// way. Default: on.
    pub fn coalesce_writes(mut self, enabled: bool) -> Self {
        self.config.connection.coalesce_writes = enabled;
        self
    }

    /// Builds the client without connecting: connections open on first use and in the
    /// background. Needs no runtime context.
    ///
    /// # Errors
    /// A [`ConfigError`] for an invalid configuration.
    pub fn build(self) -> Result<Client<R>, ConfigError> {
        if self.config.discovery.is_some() {
            return Err(self.error.unwrap_or(ConfigError::DiscoveryNeedsConnect));
        }
        self.validate()?;
        Ok(Client::from_config(self.runtime, self.config))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let config = &self.config;
        if config.pool.max == 0 || config.pool.min > config.pool.max {
            return Err(ConfigError::PoolBounds {
                min: config.pool.min,
                max: config.pool.max,
            });
        }
        let Some(route) = &config.route else {
            if config.nodes.is_empty() && config.discovery.is_none() {
                return Err(ConfigError::NoNodes);
            }
            return validate_pool(&config.nodes, config.gutter.as_ref());
        };
        if !config.nodes.is_empty() {
            return Err(ConfigError::Route("given with the client's own nodes"));
        }
        if config.discovery.is_some() {
            return Err(ConfigError::Route("given with autodiscovery"));
        }
        if config.gutter.is_some() {
            return Err(ConfigError::Route(
                "given with a client-wide gutter (give each pool its own)",
            ));
        }
        route.validate()?;
        route
            .pools()
            .into_iter()
            .try_for_each(|pool| validate_pool(&pool.nodes, pool.gutter.as_ref()))
    }

    /// Builds the client and connects: each node starts opening its minimum connections
    /// (at least one), and this waits until every node has one open or has failed.
    ///
    /// # Errors
    /// [`Error::Connect`] when no node can be reached (the first node's error), or
    /// [`Error::Config`] for an invalid configuration. Nodes that fail while others succeed
    /// are retried in the background.
    pub async fn connect(self) -> Result<Client<R>, Error> {
        if let Some(discovery) = self.config.discovery.clone() {
            self.validate()?;
            return crate::cluster::discovery::connect(self.runtime, self.config, discovery).await;
        }
        let client = self.build()?;
        client.warm_up().await?;
        Ok(client)
    }
}

/// Checks one pool's nodes and its gutter: no node twice, none shared with the gutter,
/// unix socket paths in UTF-8.
fn validate_pool(
    nodes: &[(NodeAddr, u32)],
    gutter: Option<&crate::client::gutter::Gutter>,
) -> Result<(), ConfigError> {
    if let Some(gutter) = gutter {
        if let Some(error) = &gutter.error {
            return Err(error.clone());
        }
        if gutter.nodes.is_empty() {
            return Err(ConfigError::Gutter("has no node"));
        }
        let primary = |addr: &NodeAddr| nodes.iter().any(|(node, _)| node == addr);
        if gutter.nodes.iter().any(|(addr, _)| primary(addr)) {
            return Err(ConfigError::Gutter(
                "shares a node with the client's own nodes",
            ));
        }
    }
    let gutter_nodes = gutter.iter().flat_map(|gutter| &gutter.nodes);
    let all: Vec<&(NodeAddr, u32)> = nodes.iter().chain(gutter_nodes).collect();
    for (index, (addr, _)) in all.iter().copied().enumerate() {
        if all[..index].iter().any(|(other, _)| other == addr) {
            return Err(ConfigError::DuplicateNode(addr.to_string()));
        }
        if let NodeAddr::Unix(path) = addr {
            if path.to_str().is_none() {
                return Err(ConfigError::NonUtf8Path(path.display().to_string()));
            }
        }
    }
    Ok(())
}
