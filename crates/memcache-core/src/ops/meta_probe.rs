//! Whether a node knows meta commands, asked before the first batched store is sent to it:
//! an `ms` to a server without them (before memcached 1.6) would have its value read as
//! commands of its own, and a value holding `flush_all` would be run.

use memproto::{Command, MetaStatus, Reply, ServerErrorKind};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::fan_out::Gather;
use crate::client::{encode, unexpected, CallOptions, Inner};
use crate::cluster::members::MembersRef;
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;

impl<R: Runtime> Inner<R> {
    /// For each of `nodes` (indices into `members`, those of one node together), `None`
    /// when it knows meta commands, else the error for the commands meant for it. Each node is asked once (`mn`, one round trip) the first time; the answer is
    /// kept. An `ms` to a server without meta commands (before memcached 1.6) would have
    /// its value read as commands of its own: a value holding `flush_all` would be run.
    pub(crate) async fn ensure_meta(
        &self,
        members: &MembersRef<'_, R>,
        nodes: &[usize],
        options: CallOptions,
    ) -> Result<Vec<Option<Error>>> {
        let mut unknown: Vec<usize> = nodes
            .iter()
            .copied()
            .filter(|&node| members.nodes[node].meta_supported().is_none())
            .collect();
        unknown.dedup();
        let mut probes = Vec::with_capacity(unknown.len());
        for &node in &unknown {
            let node = members.node(node).ok_or(Error::NoAvailableNodes)?;
            probes.push((node, MetaProbe));
        }
        let answers = self.fan_out(probes, options, Gather::Partial).await?;
        let mut failed: Vec<(usize, Error)> = Vec::new();
        for (node, answer) in unknown.into_iter().zip(answers) {
            match answer {
                Ok(supported) => members.nodes[node].set_meta_supported(supported),
                Err(error) => failed.push((node, not_written(error))),
            }
        }
        Ok(nodes
            .iter()
            .map(|&node| match members.nodes[node].meta_supported() {
                Some(true) => None,
                Some(false) => Some(Error::UnknownCommand("meta commands".into())),
                None => failed
                    .iter()
                    .find(|(failed, _)| *failed == node)
                    .map(|(_, error)| error.clone()),
            })
            .collect())
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
            Reply::Meta(meta) if meta.status == MetaStatus::Mn => Ok(true),
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
