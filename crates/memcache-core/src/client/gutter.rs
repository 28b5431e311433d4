//! Failover to a gutter pool: when a key's node cannot serve a request, the request goes
//! to a small standby pool instead, with the time to live of what it stores there capped,
//! so the gutter only bridges the outage (mcrouter's failover-with-exptime route, the
//! memcached proxy's gutter example).
//!
//! The gutter node is chosen by the failed node, not by the key: every key of one dead
//! node goes to the same gutter node, so a multi-key request fails over whole, and reads
//! find what writes put there as long as the same node is down.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memproto::Exptime;

use crate::client::config::{nodes_from, Config, ConfigError};
use crate::client::Inner;
use crate::cluster::addr::{IntoNodeAddr, NodeAddr};
use crate::cluster::members::{Member, Members, MembersRef, NodeRef};
use crate::error::Error;
use crate::io::runtime::Runtime;

/// Which failures send a request to the gutter pool. A request that found no node at all
/// ([`Error::NoAvailableNodes`]: every node purged, with
/// [`purge_unhealthy_nodes`](crate::ClientBuilder::purge_unhealthy_nodes)) never fails
/// over: purging already moves a dead node's keys to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum FailoverOn {
    /// The node cannot be reached: connecting failed or the node is marked down
    /// ([`Error::Connect`]). The default: a slow node is not a dead one.
    #[default]
    Unreachable,
    /// Also a connection lost with the request ([`Error::ConnectionLost`]) and a node at
    /// its in-flight budget ([`Error::Overloaded`]). Timeouts never fail over: the call's
    /// deadline, which covers the whole call, has passed.
    Unavailable,
}

impl FailoverOn {
    /// Whether a request that failed with `error` fails over.
    pub(crate) fn covers(self, error: &Error) -> bool {
        match error {
            Error::Connect { .. } => true,
            Error::ConnectionLost { .. } | Error::Overloaded { .. } => {
                self == FailoverOn::Unavailable
            }
            _ => false,
        }
    }
}

/// A gutter pool for [`ClientBuilder::gutter`](crate::ClientBuilder::gutter): standby
/// nodes that take the requests of unreachable nodes.
///
/// ```
/// use std::time::Duration;
/// use memcache_core::{FailoverOn, Gutter};
///
/// let gutter = Gutter::new(["10.0.9.1:11211", "10.0.9.2:11211"])
///     .ttl(Duration::from_secs(10))
///     .on(FailoverOn::Unavailable);
/// # let _ = gutter;
/// ```
#[derive(Debug, Clone)]
pub struct Gutter {
    pub(crate) nodes: Vec<(NodeAddr, u32)>,
    pub(crate) ttl: Duration,
    pub(crate) on: FailoverOn,
    pub(crate) error: Option<ConfigError>,
}

impl Gutter {
    /// The default cap on the time to live of items written to the gutter.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

    /// A gutter pool of `nodes` (strings or [`NodeAddr`]s, as for the client's own), with
    /// a [`DEFAULT_TTL`](Self::DEFAULT_TTL) of 10 seconds, failing over
    /// [`FailoverOn::Unreachable`] nodes.
    pub fn new<I>(nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: IntoNodeAddr,
    {
        let (nodes, error) = nodes_from(nodes);
        Gutter {
            nodes,
            ttl: Self::DEFAULT_TTL,
            on: FailoverOn::default(),
            error,
        }
    }

    /// Caps the time to live of what requests store (and touch) in the gutter: an item
    /// set to live an hour, or forever, lives `ttl` there. Keep it short: the gutter
    /// serves while a node is down, and its items must not outlive the outage by much.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Which failures fail over (default [`FailoverOn::Unreachable`]).
    #[must_use]
    pub fn on(mut self, on: FailoverOn) -> Self {
        self.on = on;
        self
    }
}

/// The gutter's nodes, and the configuration requests sent there encode with.
pub(crate) struct GutterPool<R: Runtime> {
    members: Members<R>,
    /// The client's configuration with the gutter's expiration cap.
    pub(crate) config: Arc<Config>,
    on: FailoverOn,
}

impl<R: Runtime> GutterPool<R> {
    /// The pool of `config`'s gutter, if it has one.
    pub(crate) fn new(runtime: &R, config: &Config) -> Option<Self> {
        let gutter = config.gutter.as_ref()?;
        let mut own = config.clone();
        own.exptime_cap = Some(gutter.ttl);
        own.gutter = None;
        own.nodes = gutter.nodes.clone();
        let members = gutter
            .nodes
            .iter()
            .cloned()
            .map(Member::configured)
            .collect();
        let members = Members::new(runtime, &own, members, None);
        Some(GutterPool {
            members,
            config: Arc::new(own),
            on: gutter.on,
        })
    }

    /// The gutter's nodes.
    pub(crate) fn members(&self) -> MembersRef<'_, R> {
        MembersRef::Fixed(&self.members)
    }
}

impl<R: Runtime> Inner<R> {
    /// Where a request that failed with `error` on `failed` (its node, if it had one) goes
    /// instead: a gutter node, or `None` when there is no gutter or the failure is not one
    /// that fails over. Counts the failover on the failed node.
    pub(crate) fn failover(
        &self,
        failed: Option<&NodeRef<'_, R>>,
        error: &Error,
    ) -> Option<NodeRef<'_, R>> {
        let (gutter, index) = self.failover_index(failed, error)?;
        gutter.members().node(index)
    }

    /// [`Inner::failover`]'s gutter pool and node index.
    pub(crate) fn failover_index(
        &self,
        failed: Option<&NodeRef<'_, R>>,
        error: &Error,
    ) -> Option<(&GutterPool<R>, usize)> {
        let gutter = self.gutter.as_ref()?;
        if !gutter.on.covers(error) {
            return None;
        }
        // By the failed node, so that its keys stay together (and a request that found no
        // node at all has no gutter node either: see `FailoverOn`).
        let failed = failed?;
        let index = gutter
            .members
            .health
            .route(failed.addr.to_string().as_bytes())?;
        failed.counters.failed_over();
        Some((gutter, index))
    }
}

/// `exptime`, capped at `cap` from now: what a write to the gutter stores.
pub(crate) fn capped(exptime: Exptime, cap: Duration) -> Exptime {
    match exptime {
        Exptime::Never => Exptime::After(cap),
        Exptime::After(ttl) => Exptime::After(ttl.min(cap)),
        // Times in the first 30 days after the epoch mean "expired": kept as they are.
        Exptime::At(at) if at <= Exptime::MAX_RELATIVE_SECS => exptime,
        Exptime::At(at) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            match at.checked_sub(now) {
                Some(left) if left <= cap.as_secs() => exptime,
                Some(_) => Exptime::After(cap),
                // Already past: expired at once, as the server would read it.
                None => exptime,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_the_gutter_live_at_most_the_cap() {
        let cap = Duration::from_secs(10);
        let secs = Duration::from_secs;
        assert_eq!(capped(Exptime::Never, cap), Exptime::After(cap));
        assert_eq!(
            capped(Exptime::After(secs(3)), cap),
            Exptime::After(secs(3))
        );
        assert_eq!(capped(Exptime::After(secs(3600)), cap), Exptime::After(cap));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(capped(Exptime::At(now + 86_400), cap), Exptime::After(cap));
        assert_eq!(capped(Exptime::At(now + 5), cap), Exptime::At(now + 5));
        assert_eq!(capped(Exptime::At(now - 5), cap), Exptime::At(now - 5));
        assert_eq!(capped(Exptime::At(100), cap), Exptime::At(100));
    }

    #[test]
    fn only_the_chosen_failures_fail_over() {
        let connect = Error::Connect {
            node: "n".into(),
            source: Arc::new(std::io::Error::other("refused")),
        };
        let lost = Error::ConnectionLost {
            node: "n".into(),
            source: Arc::new(std::io::Error::other("reset")),
        };
        let timeout = Error::Timeout {
            node: "n".into(),
            written: false,
        };
        for on in [FailoverOn::Unreachable, FailoverOn::Unavailable] {
            assert!(on.covers(&connect));
            assert!(!on.covers(&Error::NoAvailableNodes));
            assert!(!on.covers(&timeout));
            assert!(!on.covers(&Error::NotFound));
            assert!(!on.covers(&Error::Server("out of memory".into())));
        }
        assert!(!FailoverOn::Unreachable.covers(&lost));
        assert!(FailoverOn::Unavailable.covers(&lost));
    }
}
