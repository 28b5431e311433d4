//! Multi-node operations as one split and merge over the execution path: each node's
//! share is a request of its own ([`Exchange::to_node`]), so routing, deadlines, retries,
//! miss-on-unavailable and metrics apply to it exactly as to a single-key request.

use futures::future::{join_all, try_join_all};

use crate::client::execute::{Exchange, Operation};
use crate::client::{CallOptions, Inner};
use crate::cluster::members::NodeRef;
use crate::error::Result;
use crate::io::runtime::Runtime;

/// What a multi-node operation does when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gather {
    /// The first failure fails the call and drops the rest.
    Strict,
    /// Every node is waited for; each share has its own outcome.
    Partial,
}

impl<R: Runtime> Inner<R> {
    /// Sends every share to its node, all at once, and returns their outcomes in order.
    pub(crate) async fn fan_out<'c, O: Operation>(
        &'c self,
        shares: Vec<(NodeRef<'c, R>, O)>,
        options: CallOptions,
        gather: Gather,
    ) -> Result<Vec<Result<O::Output>>> {
        if shares.len() == 1 {
            if let Some((node, op)) = shares.into_iter().next() {
                // One node (a one-node cluster, or keys that all live on one): nothing to
                // join.
                let outcome = Exchange::to_node(self, op, options, node).await;
                return match gather {
                    Gather::Strict => Ok(vec![Ok(outcome?)]),
                    Gather::Partial => Ok(vec![outcome]),
                };
            }
            return Ok(Vec::new());
        }
        let requests = shares
            .into_iter()
            .map(|(node, op)| Exchange::to_node(self, op, options.clone(), node));
        match gather {
            Gather::Strict => Ok(try_join_all(requests).await?.into_iter().map(Ok).collect()),
            Gather::Partial => Ok(join_all(requests).await),
        }
    }
}
