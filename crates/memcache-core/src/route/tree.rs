//! A route as a client runs it: each pool a full engine of its own (nodes, connections,
//! health, gutter), the combinations as they were configured.

use std::sync::Arc;

use crate::client::config::Config;
use crate::client::{Client, Inner};
use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::io::runtime::Runtime;
use crate::route::call::replica_for;
use crate::route::{Migration, Phase, Quorum, Route, RouteKind};

/// A routed client's pools and the tree over them.
pub(crate) struct Routes<R: Runtime> {
    pub(crate) root: RouteNode<R>,
    /// Every pool, depth first: for node commands, metrics and closing.
    pub(crate) pools: Vec<Arc<Inner<R>>>,
}

/// One node of the tree.
pub(crate) enum RouteNode<R: Runtime> {
    Pool(Arc<Inner<R>>),
    Replicated {
        replicas: Vec<RouteNode<R>>,
        quorum: Quorum,
    },
    Migrate {
        from: Box<RouteNode<R>>,
        to: Box<RouteNode<R>>,
        migration: Migration,
    },
    WarmUp {
        cold: Box<RouteNode<R>>,
        warm: Box<RouteNode<R>>,
    },
}

impl<R: Runtime> Routes<R> {
    /// Builds `route`'s pools, each configured as `config` but for its nodes,
    /// distribution and gutter.
    pub(crate) fn new(runtime: &R, config: &Config, route: &Route) -> Self {
        let mut pools = Vec::new();
        let root = RouteNode::build(runtime, config, route, &mut pools);
        Routes { root, pools }
    }

    /// The pool that has the node `addr` (the first one, when pools share nodes).
    pub(crate) fn pool_with(&self, addr: &NodeAddr) -> Option<&Arc<Inner<R>>> {
        self.pools.iter().find(|pool| pool.has_node(addr))
    }

    /// Counts a read answered as a miss because of `error` on the node it names (in the
    /// first pool that has it).
    pub(crate) fn count_unavailable_miss(&self, error: &Error) {
        let named = crate::client::unavailable::error_node(error);
        let pool = named.and_then(|name| {
            self.pools.iter().find(|pool| {
                let members = pool.members();
                members
                    .nodes
                    .iter()
                    .any(|node| node.addr.to_string() == name)
            })
        });
        if let Some(pool) = pool {
            pool.count_unavailable_miss(error, None);
        }
    }

    /// The migrations of the tree, depth first.
    pub(crate) fn migrations(&self) -> Vec<Migration> {
        let mut migrations = Vec::new();
        self.root.collect_migrations(&mut migrations);
        migrations
    }
}

impl<R: Runtime> RouteNode<R> {
    fn build(runtime: &R, config: &Config, route: &Route, pools: &mut Vec<Arc<Inner<R>>>) -> Self {
        let mut child = |route: &Route| Box::new(RouteNode::build(runtime, config, route, pools));
        match &route.kind {
            RouteKind::Pool(pool) => {
                let mut own = config.clone();
                own.route = None;
                own.nodes = pool.nodes.clone();
                own.distribution = pool.distribution.unwrap_or(config.distribution);
                own.gutter = pool.gutter.clone();
                // Read as misses at the root, once the route looked everywhere it may.
                own.miss_on_unavailable = false;
                let inner = Client::from_config(runtime.clone(), own).inner;
                pools.push(inner.clone());
                RouteNode::Pool(inner)
            }
            RouteKind::Replicated { replicas, quorum } => RouteNode::Replicated {
                replicas: replicas.iter().map(|replica| *child(replica)).collect(),
                quorum: *quorum,
            },
            RouteKind::Migrate {
                from,
                to,
                migration,
            } => RouteNode::Migrate {
                from: child(from),
                to: child(to),
                migration: migration.clone(),
            },
            RouteKind::WarmUp { cold, warm } => RouteNode::WarmUp {
                cold: child(cold),
                warm: child(warm),
            },
        }
    }

    /// The pool a read of `key` goes to first.
    pub(crate) fn read_pool(&self, key: &[u8]) -> &Inner<R> {
        match self {
            RouteNode::Pool(pool) => pool,
            RouteNode::Replicated { replicas, .. } => {
                replicas[replica_for(key, replicas.len())].read_pool(key)
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old | Phase::WriteBothReadOld => from.read_pool(key),
                Phase::WriteBothReadNew | Phase::New => to.read_pool(key),
            },
            RouteNode::WarmUp { cold, .. } => cold.read_pool(key),
        }
    }

    fn collect_migrations(&self, migrations: &mut Vec<Migration>) {
        match self {
            RouteNode::Pool(_) => {}
            RouteNode::Replicated { replicas, .. } => {
                for replica in replicas {
                    replica.collect_migrations(migrations);
                }
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => {
                migrations.push(migration.clone());
                from.collect_migrations(migrations);
                to.collect_migrations(migrations);
            }
            RouteNode::WarmUp { cold, warm } => {
                cold.collect_migrations(migrations);
                warm.collect_migrations(migrations);
            }
        }
    }
}
