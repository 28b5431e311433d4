//! Whether a node knows meta commands, asked before the first batched store is sent to it:
//! an `ms` to a server without them (before memcached 1.6) would have its value read as
//! commands of its own, and a value holding `flush_all` would be run.

use memproto::{Command, MetaStatus, Reply, ServerErrorKind};

use crate::client::config::Config;
use crate::client::execute::{Answer, Exchange, Operation};
use crate::client::{encode, unexpected, CallOptions, Inner};
use crate::cluster::members::MembersRef;
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;

impl<R: Runtime> Inner<R> {
    /// Fails with [`Error::UnknownCommand`] unless node `node` of `members` knows meta
    /// commands (or with the question's failure, as the commands waiting on it see it), asking it once (`mn`, one round trip) the first time; the answer is
    /// kept. An `ms` to a server without meta commands (before memcached 1.6) would have
    /// its value read as commands of its own: a value holding `flush_all` would be run.
    pub(crate) async fn ensure_meta(
        &self,
        members: &MembersRef<'_, R>,
        node: usize,
        options: CallOptions,
    ) -> Result<()> {
        let unsupported = || Error::UnknownCommand("meta commands".into());
        let known = members.nodes.get(node).ok_or(Error::NoAvailableNodes)?;
        match known.meta_supported() {
            Some(true) => return Ok(()),
            Some(false) => return Err(unsupported()),
            None => {}
        }
        let routed = members.node(node).ok_or(Error::NoAvailableNodes)?;
        let supported = Exchange::to_node(self, MetaProbe, options, routed)
            .await
            .map_err(not_written)?;
        known.set_meta_supported(supported);
        if supported {
            Ok(())
        } else {
            Err(unsupported())
        }
    }
}

/// The question whether a node knows meta commands: `mn`, answered `MN` (it does) or
/// `ERROR` (it does not).
struct MetaProbe;

impl Operation for MetaProbe {
    type Output = bool;

    fn key(&self) -> &[u8] {
        &[]
    }

    fn is_read(&self) -> bool {
        true
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        encode(config, &Command::MetaNoop, 0)
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<bool> {
        match answer.one()? {
            reply if reply.meta_status() == Some(MetaStatus::Mn) => Ok(true),
            Reply::Error(error) if error.kind == ServerErrorKind::Error => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    fn affinity(&self) -> Affinity {
        Affinity::None
    }
}

/// A failure of the question asked before a batch, as the batch's keys see it: their
/// commands were never written, so a timeout says so.
fn not_written(error: Error) -> Error {
    match error {
        Error::Timeout { node, .. } => Error::Timeout {
            node,
            written: false,
        },
        other => other,
    }
}
