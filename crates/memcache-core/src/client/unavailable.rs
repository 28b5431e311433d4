//! The opt-in "unavailable node = miss" mode for reads
//! ([`crate::ClientBuilder::miss_on_unavailable`]).

use crate::client::Inner;
use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::io::runtime::Runtime;

/// Whether `error` says the node could not serve the request: what a read may turn into a
/// miss. The one classification the retry policy uses too ([`Error::is_transient`]); an
/// answer from the server (an unknown command, a server error) or a protocol violation
/// always surfaces.
pub(crate) fn is_unavailable(error: &Error) -> bool {
    error.is_transient()
}

impl<R: Runtime> Inner<R> {
    /// Whether a read that failed with `error` answers a miss instead; counts it, on
    /// `node` or else on the node the error names, when it does.
    pub(crate) fn read_miss_instead(&self, error: &Error, node: Option<&NodeAddr>) -> bool {
        let miss = self.config.miss_on_unavailable && is_unavailable(error);
        if miss {
            self.count_unavailable_miss(error, node);
        }
        miss
    }

    /// Counts a read answered as a miss on `node`, or else on the node the error names (a
    /// read that found no node to route to counts on none).
    pub(crate) fn count_unavailable_miss(&self, error: &Error, node: Option<&NodeAddr>) {
        let named = |member: &NodeAddr| match node {
            Some(node) => member == node,
            None => error_node(error).is_some_and(|name| member.to_string() == name),
        };
        let members = self.members();
        // A read that failed over failed on a gutter node.
        let gutter = self
            .gutter
            .as_ref()
            .map(crate::client::gutter::GutterPool::members);
        let mut nodes = members
            .nodes
            .iter()
            .chain(gutter.iter().flat_map(|gutter| gutter.nodes.iter()));
        if let Some(member) = nodes.find(|member| named(&member.addr)) {
            member.counters.unavailable_miss();
        }
    }
}

/// The node an error names, as configured.
pub(crate) fn error_node(error: &Error) -> Option<&str> {
    match error {
        Error::Timeout { node, .. }
        | Error::Connect { node, .. }
        | Error::ConnectionLost { node, .. }
        | Error::Protocol { node, .. }
        | Error::Overloaded { node } => Some(node),
        _ => None,
    }
}
