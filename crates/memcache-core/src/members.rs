//! The client's nodes and the routing over them: fixed for a configured cluster, replaced
//! as a whole when autodiscovery learns a new configuration.
//!
//! Every operation works on one snapshot from start to end, so a change in membership
//! never moves a request halfway: requests in flight keep their node alive until they are
//! answered, while a node that left takes no new ones and closes once drained.

use std::ops::Deref;
use std::sync::{Arc, RwLock};

use crate::addr::NodeAddr;
use crate::config::Config;
use crate::health::Health;
use crate::node::Node;
use crate::runtime::Runtime;

/// One membership: the nodes in order, and their health and routing.
pub(crate) struct Members<R: Runtime> {
    pub(crate) nodes: Vec<Arc<Node<R>>>,
    pub(crate) health: Arc<Health>,
}

impl<R: Runtime> Members<R> {
    /// A membership of `addrs` (weight 1 each, or as configured), reusing the nodes of
    /// `previous` that stay, so their connections and health carry over.
    pub(crate) fn new(
        runtime: &R,
        config: &Config,
        addrs: Vec<(NodeAddr, u32)>,
        previous: Option<&Members<R>>,
    ) -> Self {
        let kept: Vec<Option<(Arc<Node<R>>, bool)>> = addrs
            .iter()
            .map(|(addr, _)| {
                let previous = previous?;
                let at = previous.nodes.iter().position(|node| node.addr == *addr)?;
                let healthy = previous.health.snapshot().get(at).copied().unwrap_or(true);
                Some((previous.nodes[at].clone(), healthy))
            })
            .collect();
        let healthy: Vec<bool> = kept
            .iter()
            .map(|kept| kept.as_ref().is_none_or(|(_, healthy)| *healthy))
            .collect();
        let health = Arc::new(Health::with_states(
            addrs.clone(),
            config.distribution,
            config.purge_unhealthy_nodes,
            config.events.clone(),
            healthy,
        ));
        let nodes = addrs
            .into_iter()
            .zip(kept)
            .enumerate()
            .map(|(index, ((addr, _), kept))| match kept {
                Some((node, _)) => {
                    node.reseat(index, health.clone());
                    node
                }
                None => Node::new(index, addr, runtime.clone(), config, health.clone()),
            })
            .collect();
        Members { nodes, health }
    }

    /// The index of the node configured as `addr`.
    pub(crate) fn position(&self, addr: &NodeAddr) -> Option<usize> {
        self.nodes.iter().position(|node| node.addr == *addr)
    }
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

    /// Installs `members`, returning the nodes that left (to be closed).
    pub(crate) fn replace(&self, members: Members<R>) -> Vec<Arc<Node<R>>> {
        let Membership::Discovered(current) = self else {
            return Vec::new();
        };
        let mut current = current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let left = current
            .nodes
            .iter()
            .filter(|node| members.position(&node.addr).is_none())
            .cloned()
            .collect();
        *current = Arc::new(members);
        left
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
