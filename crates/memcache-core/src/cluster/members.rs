//! The client's nodes and the routing over them: fixed for a configured cluster, replaced
//! as a whole when autodiscovery learns a new configuration.
//!
//! Every operation works on one snapshot from start to end, so a change in membership
//! never moves a request halfway: a node that left gets no new operations, while those that
//! took the old snapshot still complete on it; it closes gracefully once the last of them
//! lets go of it.

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard, RwLock};

use crate::client::config::Config;
use crate::cluster::addr::NodeAddr;
use crate::cluster::health::Health;
use crate::io::node::{Node, Seat};
use crate::io::runtime::Runtime;

/// One node of a membership, as configured or as discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Where the node is reached; also its identity, which routing hashes.
    pub(crate) addr: NodeAddr,
    /// Its ketama weight.
    pub(crate) weight: u32,
    /// The name TLS checks the node's certificate against (and sends as SNI) instead of
    /// the host in `addr`: a discovered node is reached at its IP, while its certificate
    /// names its host.
    pub(crate) tls_name: Option<String>,
}

impl Member {
    /// A configured node: reached, and its certificate checked, as named.
    pub(crate) fn configured((addr, weight): (NodeAddr, u32)) -> Self {
        Member {
            addr,
            weight,
            tls_name: None,
        }
    }
}

/// One membership: the nodes in order, and their health and routing.
pub(crate) struct Members<R: Runtime> {
    pub(crate) nodes: Vec<Arc<Node<R>>>,
    pub(crate) health: Arc<Health>,
    /// Each node's [`Member::tls_name`], by index (nodes do not keep it).
    tls_names: Vec<Option<String>>,
}

impl<R: Runtime> Members<R> {
    /// A membership of `members`, reusing the nodes of `previous` that stay (same address
    /// and TLS name), so their connections and health carry over.
    pub(crate) fn new(
        runtime: &R,
        config: &Config,
        members: Vec<Member>,
        previous: Option<&Members<R>>,
    ) -> Self {
        let kept: Vec<Option<Arc<Node<R>>>> = members
            .iter()
            .map(|member| {
                let previous = previous?;
                previous
                    .position_of(member)
                    .map(|at| previous.nodes[at].clone())
            })
            .collect();
        // Each kept node's seat stays locked from reading its state until it sits in the
        // new membership, so a health report either lands before (and is carried over) or
        // after (and lands in the new membership), never in between.
        let mut seats: Vec<Option<MutexGuard<'_, Seat>>> = kept
            .iter()
            .map(|node| node.as_ref().map(|node| node.lock_seat()))
            .collect();
        let states = seats
            .iter()
            .map(|seat| {
                seat.as_ref()
                    .and_then(|seat| seat.health.state(seat.index))
                    .unwrap_or((true, 0))
            })
            .collect();
        let weighted = members
            .iter()
            .map(|member| (member.addr.clone(), member.weight))
            .collect();
        let health = Arc::new(Health::with_states(
            weighted,
            config.distribution,
            config.purge_unhealthy_nodes,
            config.hash_tag,
            config.events.clone(),
            states,
        ));
        for (index, seat) in seats.iter_mut().enumerate() {
            if let Some(seat) = seat {
                **seat = Seat {
                    index,
                    health: health.clone(),
                };
            }
        }
        drop(seats);
        let tls_names = members
            .iter()
            .map(|member| member.tls_name.clone())
            .collect();
        let nodes = members
            .into_iter()
            .zip(kept)
            .enumerate()
            .map(|(index, (member, kept))| {
                kept.unwrap_or_else(|| {
                    let config = node_config(config, member.tls_name.as_deref());
                    Node::new(index, member.addr, runtime.clone(), &config, health.clone())
                })
            })
            .collect();
        Members {
            nodes,
            health,
            tls_names,
        }
    }

    /// The index of the node configured as `addr`.
    pub(crate) fn position(&self, addr: &NodeAddr) -> Option<usize> {
        self.nodes.iter().position(|node| node.addr == *addr)
    }

    /// The index of the node that is `member`: same address, certificate checked against
    /// the same name.
    fn position_of(&self, member: &Member) -> Option<usize> {
        self.position(&member.addr)
            .filter(|&at| self.tls_names.get(at) == Some(&member.tls_name))
    }

    /// Whether this membership is exactly `members`, in order (weights aside: discovered
    /// nodes all weigh 1).
    pub(crate) fn lists(&self, members: &[Member]) -> bool {
        self.nodes.len() == members.len()
            && self.nodes.iter().zip(&self.tls_names).zip(members).all(
                |((node, tls_name), member)| {
                    node.addr == member.addr && *tls_name == member.tls_name
                },
            )
    }
}

/// The configuration a new node is built with: the client's, except that TLS checks the
/// certificate against `tls_name` when the node has one (see [`Member::tls_name`]).
fn node_config<'a>(config: &'a Config, tls_name: Option<&str>) -> Cow<'a, Config> {
    #[cfg(feature = "tls")]
    if let (Some(tls), Some(name)) = (&config.tls, tls_name) {
        let mut config = config.clone();
        config.tls = Some(tls.for_node(name));
        return Cow::Owned(config);
    }
    #[cfg(not(feature = "tls"))]
    let _ = tls_name;
    Cow::Borrowed(config)
}

/// The client's membership.
pub(crate) enum Membership<R: Runtime> {
    /// Configured once: read with no synchronisation at all.
    Fixed(Members<R>),
    /// Learned by autodiscovery: replaced whole, read as a shared snapshot.
    Discovered(RwLock<Arc<Members<R>>>),
}

impl<R: Runtime> Membership<R> {
    /// The current membership.
    pub(crate) fn current(&self) -> MembersRef<'_, R> {
        match self {
            Membership::Fixed(members) => MembersRef::Fixed(members),
            Membership::Discovered(current) => MembersRef::Shared(
                current
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone(),
            ),
        }
    }

    /// Installs `members` unless the client was closed meanwhile (`closed` is checked
    /// under the lock, so a close cannot slip in between); returns whether it did.
    ///
    /// Nodes that left are not closed here: operations that took the old snapshot may
    /// still place requests on them. Each closes gracefully once the last snapshot holding
    /// it is gone (dropping a node closes it).
    pub(crate) fn replace(&self, members: Members<R>, closed: &AtomicBool) -> bool {
        let Membership::Discovered(current) = self else {
            return false;
        };
        let mut current = current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if closed.load(Ordering::Acquire) {
            return false;
        }
        *current = Arc::new(members);
        true
    }
}

/// A snapshot of the membership, borrowed when it is fixed.
pub(crate) enum MembersRef<'a, R: Runtime> {
    Fixed(&'a Members<R>),
    Shared(Arc<Members<R>>),
}

impl<R: Runtime> Deref for MembersRef<'_, R> {
    type Target = Members<R>;

    fn deref(&self) -> &Members<R> {
        match self {
            MembersRef::Fixed(members) => members,
            MembersRef::Shared(members) => members,
        }
    }
}

/// One node of a snapshot, borrowed when the membership is fixed.
pub(crate) enum NodeRef<'a, R: Runtime> {
    Borrowed(&'a Arc<Node<R>>),
    Owned(Arc<Node<R>>),
}

impl<R: Runtime> Deref for NodeRef<'_, R> {
    type Target = Arc<Node<R>>;

    fn deref(&self) -> &Arc<Node<R>> {
        match self {
            NodeRef::Borrowed(node) => node,
            NodeRef::Owned(node) => node,
        }
    }
}

impl<'a, R: Runtime> MembersRef<'a, R> {
    /// The node at `index`, without a reference count when the membership is fixed.
    pub(crate) fn node(&self, index: usize) -> Option<NodeRef<'a, R>> {
        match self {
            MembersRef::Fixed(members) => members.nodes.get(index).map(NodeRef::Borrowed),
            MembersRef::Shared(members) => members.nodes.get(index).cloned().map(NodeRef::Owned),
        }
    }
}
