//! Node health and the routing table built from it.

use crate::cluster::hash_tag::routing_key;
use std::sync::{Arc, Mutex, RwLock};

use crate::cluster::addr::NodeAddr;
use crate::cluster::router::{Distribution, Router};
use crate::observe;
use crate::observe::events::ClusterEvents;

/// Which nodes are healthy, and which receive keys.
pub(crate) struct Health {
    nodes: Vec<(NodeAddr, u32)>,
    distribution: Distribution,
    purge_unhealthy: bool,
    /// Keys are routed by the part inside this tag (see [`routing_key`]).
    hash_tag: Option<[u8; 2]>,
    events: Option<Arc<dyn ClusterEvents>>,
    healthy: Mutex<Vec<NodeHealth>>,
    routing: RwLock<Routing>,
}

/// One node's health and the epoch of the report that set it.
#[derive(Debug, Clone, Copy)]
struct NodeHealth {
    healthy: bool,
    epoch: u64,
}

/// A router over the nodes that receive keys, and their indices in the configured list.
struct Routing {
    router: Router,
    members: Vec<usize>,
}

impl Health {
    /// Health for `nodes`, each starting in the given state (healthy, and the epoch of the
    /// report that set it; `(true, 0)` for a new node).
    pub(crate) fn with_states(
        nodes: Vec<(NodeAddr, u32)>,
        distribution: Distribution,
        purge_unhealthy: bool,
        hash_tag: Option<[u8; 2]>,
        events: Option<Arc<dyn ClusterEvents>>,
        states: Vec<(bool, u64)>,
    ) -> Self {
        let state = |i: usize| states.get(i).copied().unwrap_or((true, 0));
        let members: Vec<bool> = (0..nodes.len())
            .map(|i| !purge_unhealthy || state(i).0)
            .collect();
        let routing = Routing::build(&nodes, distribution, &members);
        let healthy = (0..nodes.len())
            .map(|i| NodeHealth {
                healthy: state(i).0,
                epoch: state(i).1,
            })
            .collect();
        Health {
            nodes,
            distribution,
            purge_unhealthy,
            hash_tag,
            events,
            healthy: Mutex::new(healthy),
            routing: RwLock::new(routing),
        }
    }

    /// The index of the node that owns `key`, or `None` when no node receives keys.
    pub(crate) fn route(&self, key: &[u8]) -> Option<usize> {
        let routing = self
            .routing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        routing.route(routing_key(key, self.hash_tag))
    }

    /// Routes many keys under one lock: each by itself, or all by `shared` when the call
    /// names a routing key.
    pub(crate) fn route_each<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
        shared: Option<&[u8]>,
        mut each: impl FnMut(&'k [u8], Option<usize>),
    ) {
        let routing = self
            .routing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let shared = shared.map(|key| routing.route(routing_key(key, self.hash_tag)));
        for key in keys {
            let node = match shared {
                Some(node) => node,
                None => routing.route(routing_key(key, self.hash_tag)),
            };
            each(key, node);
        }
    }

    /// Records a node's health; on a change, rebuilds routing (when unhealthy nodes are
    /// purged) and notifies the listener.
    /// Reports older than the last one applied for the node (`epoch` orders them) are
    /// ignored.
    pub(crate) fn report(&self, index: usize, healthy: bool, epoch: u64) {
        {
            let mut states = self
                .healthy
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(state) = states.get_mut(index) else {
                return;
            };
            if epoch <= state.epoch {
                return;
            }
            state.epoch = epoch;
            if state.healthy == healthy {
                return;
            }
            state.healthy = healthy;
            if self.purge_unhealthy {
                let flags: Vec<bool> = states.iter().map(|state| state.healthy).collect();
                let rebuilt = Routing::build(&self.nodes, self.distribution, &flags);
                *self
                    .routing
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = rebuilt;
            }
        }
        let Some((node, _)) = self.nodes.get(index) else {
            return;
        };
        observe::health_changed(node, healthy);
        if let Some(events) = &self.events {
            if healthy {
                events.on_node_healthy(node);
            } else {
                events.on_node_unhealthy(node);
            }
        }
    }

    /// Node `index`'s state: whether it is healthy, and the epoch of the report that said so.
    pub(crate) fn state(&self, index: usize) -> Option<(bool, u64)> {
        self.healthy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(index)
            .map(|state| (state.healthy, state.epoch))
    }

    /// Whether each configured node is healthy.
    pub(crate) fn snapshot(&self) -> Vec<bool> {
        self.healthy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|state| state.healthy)
            .collect()
    }
}

impl Routing {
    fn build(nodes: &[(NodeAddr, u32)], distribution: Distribution, healthy: &[bool]) -> Self {
        let members: Vec<usize> = (0..nodes.len()).filter(|&i| healthy[i]).collect();
        let keys: Vec<_> = members
            .iter()
            .map(|&i| (nodes[i].0.routing_key(), nodes[i].1))
            .collect();
        Routing {
            router: Router::new(distribution, &keys),
            members,
        }
    }

    fn route(&self, key: &[u8]) -> Option<usize> {
        self.router
            .route(key)
            .and_then(|member| self.members.get(member).copied())
    }
}
