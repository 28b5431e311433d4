//! Routes: where each request goes when a client spans several pools of nodes.
//!
//! A client usually has one pool: its nodes, with a key distribution over them. A
//! [`Route`] combines pools into a tree, built in code or (feature `serde`) from a
//! configuration document, so that a service gets what large deployments put in a proxy
//! tier (mcrouter's route handles, the memcached proxy's routelib) without the extra hop:
//!
//! - [`Route::replicated`]: every write goes to each replica, a read to one of them and on
//!   to the next when its node is unavailable (mcrouter's `AllSyncRoute`,
//!   `AllMajorityRoute` and `AllInitialRoute` with a failover read).
//! - [`Route::migrate`]: moves a service from one pool to another, or from one
//!   distribution to another over the same servers, in [`Phase`]s switched at run time
//!   with a [`Migration`] handle, without a cold cache (mcrouter's `MigrateRoute`).
//! - [`Route::warm_up`]: a miss in a cold pool is read from a warm one and added to the
//!   cold one (mcrouter's `WarmUpRoute`).
//!
//! Each leaf is a [`Pool`], which keeps everything a client's nodes have: its own
//! distribution, connection pools, health, a [gutter](crate::Gutter) if it has one,
//! and the client's timeouts, retries and metrics. A request runs through the tree as
//! one call: its timeout covers every request the route sends for it.
//!
//! A client without a route runs each request on its one pool directly: routing costs
//! nothing when it is not used.
//!
//! ```no_run
//! # async fn f() -> memcache_tokio::Result<()> {
//! use memcache_tokio::{Client, Distribution, Migration, Phase, Pool, Route};
//!
//! // From ketama on the old nodes to rendezvous on the new ones.
//! let migration = Migration::new(Phase::WriteBothReadOld);
//! let route = Route::migrate(
//!     Pool::new(["10.0.0.1:11211", "10.0.0.2:11211"]).distribution(Distribution::Ketama),
//!     Pool::new(["10.0.1.1:11211", "10.0.1.2:11211"]),
//!     &migration,
//! );
//! let client = Client::routed(route).connect().await?;
//! client.set("greeting", "hello").await?; // written to both pools
//!
//! // Once the new pool holds the working set:
//! migration.set_phase(Phase::WriteBothReadNew);
//! assert!(client.get("greeting").await?.is_some());
//! # Ok(())
//! # }
//! ```

mod call;
mod entry;

pub(crate) use call::Call;
pub(crate) mod many;
#[cfg(feature = "serde")]
pub(crate) mod settings;
pub(crate) mod single;
pub(crate) mod tree;
mod verdict;

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::client::config::{nodes_from, ConfigError};
use crate::client::gutter::Gutter;
use crate::cluster::addr::{IntoNodeAddr, NodeAddr};
use crate::cluster::router::Distribution;

/// A tree of pools that decides where each request goes: see the [module](self) and
/// [`ClientBuilder::route`](crate::ClientBuilder::route).
#[derive(Debug, Clone)]
pub struct Route {
    pub(crate) kind: RouteKind,
}

#[derive(Debug, Clone)]
pub(crate) enum RouteKind {
    Pool(Pool),
    Replicated {
        replicas: Vec<Route>,
        quorum: Quorum,
    },
    Migrate {
        from: Box<Route>,
        to: Box<Route>,
        migration: Migration,
    },
    WarmUp {
        cold: Box<Route>,
        warm: Box<Route>,
    },
}

impl Route {
    /// A route to one pool: what a client without a route has.
    pub fn pool(pool: Pool) -> Route {
        Route {
            kind: RouteKind::Pool(pool),
        }
    }

    /// Replicas holding the same data.
    ///
    /// - **Reads** go to one replica, chosen by the key (by the part inside the client's
    ///   hash tag, if any), so each replica serves its share of the keys, and on to the
    ///   next ones when its node is unavailable: unreachable, its connection lost, or at
    ///   its in-flight budget (not on a timeout: the call's time is up).
    /// - **Writes** (`set`, `add`, `cas`, `touch`, `incr`, `append`, the batched writes)
    ///   and **deletes** go to every replica at once. The call waits for every replica's
    ///   answer, so that no write is dropped behind the caller's back, and succeeds when
    ///   `quorum` of them took it. It answers as the key's read replica did (or, if that
    ///   one failed, the next one in the order reads fail over in).
    /// - **Replicas that may disagree lose the key**: those that answered otherwise (an
    ///   `add` stored on one and refused on another; a `cas` whose token only one of them
    ///   knows), and those that failed, which may hold the value from before. Those
    ///   deletes run within the call's time. Every replica's failed write is reported to
    ///   [`on_write_failure`](crate::ClientBuilder::on_write_failure) once; so is a
    ///   failed delete of a replica that had answered. Writes sent with `noreply` are
    ///   not answered, so not reconciled either.
    ///
    /// A replica pool with a [gutter](Pool::gutter) answers for its dead nodes from the
    /// gutter: their reads do not fail over to the other replicas.
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use memcache_tokio::{Client, Pool, Quorum, Route};
    ///
    /// let route = Route::replicated(
    ///     [
    ///         Pool::new(["10.0.1.1:11211", "10.0.1.2:11211"]),
    ///         Pool::new(["10.0.2.1:11211", "10.0.2.2:11211"]),
    ///         Pool::new(["10.0.3.1:11211", "10.0.3.2:11211"]),
    ///     ],
    ///     Quorum::Majority,
    /// );
    /// let client = Client::routed(route).connect().await?;
    /// client.set("greeting", "hello").await?; // stored on at least two replicas
    /// # Ok(())
    /// # }
    /// ```
    pub fn replicated<I>(replicas: I, quorum: Quorum) -> Route
    where
        I: IntoIterator,
        I::Item: Into<Route>,
    {
        Route {
            kind: RouteKind::Replicated {
                replicas: replicas.into_iter().map(Into::into).collect(),
                quorum,
            },
        }
    }

    /// A migration from the route `from` to the route `to`, in the phase `migration`
    /// holds (see [`Phase`]); switch phases at any time with
    /// [`Migration::set_phase`], on every client built with the handle.
    ///
    /// In the phases that write both, a write (or delete) goes to both routes at once and
    /// the call waits for both. The old route stays the source of truth until the last
    /// phase: the call answers as `from` did, and the new side loses the key wherever it
    /// answered otherwise or failed, so it holds what the old one holds, or nothing
    /// (unless that delete fails too, which is reported to
    /// [`on_write_failure`](crate::ClientBuilder::on_write_failure)); reading it first
    /// with the old one behind it finds what reading the old one would. While reads go to
    /// the old side, a write fails only if the old side failed; once they go to the new
    /// side, if either did. A `cas` whose token came from the new side is refused by the
    /// old one (and the new one loses the key): the next read falls back to the old side,
    /// whose token then works.
    ///
    /// When `from` and `to` are pools over the same servers (a move from one distribution
    /// to another), a key both keep on the same node is written there once, so that an
    /// `incr` counts once and an `add` is not refused by its own copy.
    ///
    /// The phase is read at each step of a request: a request running while the phase
    /// changes may write in one phase and invalidate in the next. Phases are meant to
    /// advance in order; going back to `Old` or `WriteBothReadOld` after `New` reads an
    /// old route that missed the writes of `New`.
    pub fn migrate(from: impl Into<Route>, to: impl Into<Route>, migration: &Migration) -> Route {
        Route {
            kind: RouteKind::Migrate {
                from: Box::new(from.into()),
                to: Box::new(to.into()),
                migration: migration.clone(),
            },
        }
    }

    /// A cold route filled from a warm one.
    ///
    /// Reads go to `cold`. A miss there is read from `warm` (with its flags and time to
    /// live), added to `cold` with `add` (so it never overwrites a value written
    /// meanwhile) for the time it had left in `warm`, and read again from `cold`, so
    /// that the caller gets `cold`'s CAS token. When `cold` cannot be read, or the item
    /// cannot be added there, the caller gets `warm`'s item (and its token). Writes go
    /// to `cold` only; deletes go to both, so that a deleted key does not come back from
    /// `warm`. Leases (and so `get_or_compute`) look in `cold` only, and a single-key
    /// `gat` that falls back to `warm` touches the item there (`gat_many` reads `warm`
    /// without touching it).
    ///
    /// A key written in `cold` and then evicted there is read from `warm` again, with
    /// whatever value `warm` holds; so is a key deleted while a read of it was filling
    /// `cold`. Keep `warm` written to by the services that still use it, or warm up only
    /// for a bounded time.
    ///
    /// ```no_run
    /// # async fn f() -> memcache_tokio::Result<()> {
    /// use memcache_tokio::{Client, Pool, Route};
    ///
    /// let route = Route::warm_up(
    ///     Pool::new(["10.0.5.1:11211"]), // the new, empty pool
    ///     Pool::new(["10.0.4.1:11211"]), // the pool that has the data
    /// );
    /// let client = Client::routed(route).protocol(memcache_tokio::Protocol::Meta).connect().await?;
    /// let greeting = client.get("greeting").await?; // from the cold pool, filled if it missed
    /// # let _ = greeting;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The read from `warm` asks for the item's time to live, which needs memcached 1.6
    /// or later there.
    pub fn warm_up(cold: impl Into<Route>, warm: impl Into<Route>) -> Route {
        Route {
            kind: RouteKind::WarmUp {
                cold: Box::new(cold.into()),
                warm: Box::new(warm.into()),
            },
        }
    }

    /// The route's pools, depth first.
    pub(crate) fn pools(&self) -> Vec<&Pool> {
        let mut pools = Vec::new();
        self.collect_pools(&mut pools);
        pools
    }

    fn collect_pools<'a>(&'a self, pools: &mut Vec<&'a Pool>) {
        match &self.kind {
            RouteKind::Pool(pool) => pools.push(pool),
            RouteKind::Replicated { replicas, .. } => {
                for replica in replicas {
                    replica.collect_pools(pools);
                }
            }
            RouteKind::Migrate { from, to, .. } => {
                from.collect_pools(pools);
                to.collect_pools(pools);
            }
            RouteKind::WarmUp { cold, warm } => {
                cold.collect_pools(pools);
                warm.collect_pools(pools);
            }
        }
    }

    /// Checks the tree: every combination has the routes it needs, and every pool is
    /// valid.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match &self.kind {
            RouteKind::Pool(pool) => pool.validate(),
            RouteKind::Replicated { replicas, .. } if replicas.is_empty() => {
                Err(ConfigError::Route("a replicated route has no replica"))
            }
            RouteKind::Replicated { replicas, .. } => replicas.iter().try_for_each(Route::validate),
            RouteKind::Migrate { from, to, .. } => {
                from.validate()?;
                to.validate()
            }
            RouteKind::WarmUp { cold, warm } => {
                cold.validate()?;
                warm.validate()
            }
        }
    }
}

impl From<Pool> for Route {
    fn from(pool: Pool) -> Route {
        Route::pool(pool)
    }
}

/// A pool of nodes in a [`Route`]: the nodes, the distribution of keys over them, and
/// optionally a [gutter](crate::Gutter) for them. Everything else (timeouts, connection
/// limits, protocol, retries, hash tag) is the client's.
#[derive(Debug, Clone)]
pub struct Pool {
    pub(crate) nodes: Vec<(NodeAddr, u32)>,
    pub(crate) distribution: Option<Distribution>,
    pub(crate) gutter: Option<Gutter>,
    pub(crate) error: Option<ConfigError>,
}

impl Pool {
    /// A pool of `nodes` (strings or [`NodeAddr`]s, as for [`Client::builder`](crate::Client::builder)),
    /// each of weight 1, with the client's distribution.
    pub fn new<I>(nodes: I) -> Pool
    where
        I: IntoIterator,
        I::Item: IntoNodeAddr,
    {
        let (nodes, error) = nodes_from(nodes);
        Pool {
            nodes,
            distribution: None,
            gutter: None,
            error,
        }
    }

    /// Adds a node with a ketama `weight`.
    #[must_use]
    pub fn node(mut self, node: impl IntoNodeAddr, weight: u32) -> Pool {
        match node.into_node_addr() {
            Ok(addr) => self.nodes.push((addr, weight)),
            Err(error) => {
                self.error.get_or_insert(error.into());
            }
        }
        self
    }

    /// Spreads the pool's keys with `distribution` instead of the client's.
    #[must_use]
    pub fn distribution(mut self, distribution: Distribution) -> Pool {
        self.distribution = Some(distribution);
        self
    }

    /// Sends the requests of the pool's unreachable nodes to `gutter` (see
    /// [`ClientBuilder::gutter`](crate::ClientBuilder::gutter)).
    #[must_use]
    pub fn gutter(mut self, gutter: Gutter) -> Pool {
        self.gutter = Some(gutter);
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.nodes.is_empty() {
            return Err(ConfigError::Route("a pool has no node"));
        }
        Ok(())
    }
}

/// How many of a [replicated](Route::replicated) route's replicas must take a write for
/// the call to succeed. Every replica is sent the write and waited for whatever the
/// quorum: the quorum decides how many failures a write tolerates, not how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Quorum {
    /// Every replica (mcrouter's `AllSyncRoute`). The default.
    #[default]
    All,
    /// More than half of them (mcrouter's `AllMajorityRoute`).
    Majority,
    /// At least one (as mcrouter's `AllInitialRoute` answers).
    One,
}

impl Quorum {
    /// How many of `replicas` must succeed.
    pub(crate) fn of(self, replicas: usize) -> usize {
        match self {
            Quorum::All => replicas,
            Quorum::Majority => replicas / 2 + 1,
            Quorum::One => replicas.min(1),
        }
    }
}

/// The phases of a [migration](Route::migrate), in the order a migration goes through
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Phase {
    /// Everything goes to the old route, as before the migration.
    #[default]
    Old,
    /// Writes and deletes go to both routes; reads to the old one. The new route fills
    /// with what is written; a write it misses loses the key there, and fails only if
    /// the old route missed it too.
    WriteBothReadOld,
    /// Writes and deletes go to both routes, and fail if either route missed them; reads
    /// go to the new one, and a miss or an unavailable node there is read from the old
    /// one.
    WriteBothReadNew,
    /// Everything goes to the new route.
    New,
}

impl Phase {
    const ALL: [Phase; 4] = [
        Phase::Old,
        Phase::WriteBothReadOld,
        Phase::WriteBothReadNew,
        Phase::New,
    ];
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Old => "old",
            Phase::WriteBothReadOld => "write both, read old",
            Phase::WriteBothReadNew => "write both, read new",
            Phase::New => "new",
        })
    }
}

/// The phase of a [migration](Route::migrate), shared by every route (and every client)
/// built with it: switching it takes effect at once, for the next step of every request.
///
/// ```
/// use memcache_core::{Migration, Phase};
///
/// let migration = Migration::new(Phase::WriteBothReadOld);
/// migration.set_phase(Phase::WriteBothReadNew);
/// assert_eq!(migration.phase(), Phase::WriteBothReadNew);
/// ```
#[derive(Clone)]
pub struct Migration {
    phase: Arc<AtomicU8>,
}

impl Migration {
    /// A migration in `phase`.
    pub fn new(phase: Phase) -> Migration {
        Migration {
            phase: Arc::new(AtomicU8::new(phase as u8)),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        let index = usize::from(self.phase.load(Ordering::Acquire));
        Phase::ALL.get(index).copied().unwrap_or_default()
    }

    /// Switches to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Migration").field(&self.phase()).finish()
    }
}
