//! Multi-key fetches (`get_many` and friends): keys split by node, each node's share sent
//! as multi-key `get` lines within the server's line limit (classic) or as quiet `mg`
//! batches in which misses cost nothing (meta), all nodes at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{join_all, try_join_all};
use memproto::{Command, Reply, Retrieve, MAX_COMMAND_LINE};

use crate::client::protocol::Token;
use crate::client::{values, CallOptions, Inner};
use crate::cluster::members::Members;
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::{Error, Result};
use crate::io::node::Node;
use crate::io::runtime::Runtime;
use crate::ops::dialect::{self, Fetch};
use crate::ops::item::Item;
use crate::ops::item_map::{ItemMap, PartialItems};
use crate::ops::meta_batch::{self, MetaBatch};

/// What a multi-key fetch does when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gather {
    /// The first failure fails the call and drops the rest.
    Strict,
    /// Every node is waited for; the failures are listed beside what the others had.
    Partial,
}

impl Gather {
    /// Runs one future per request: all of them, or until the first failure.
    async fn run<T, F>(self, requests: impl Iterator<Item = F>) -> Result<Vec<Result<T>>>
    where
        F: Future<Output = Result<T>>,
    {
        match self {
            Gather::Strict => Ok(try_join_all(requests).await?.into_iter().map(Ok).collect()),
            Gather::Partial => Ok(join_all(requests).await),
        }
    }
}

impl<R: Runtime> Inner<R> {
    /// Fetches many keys. Invalid keys fail the call before anything is sent; a node's
    /// failure fails it too, or with [`Gather::Partial`] is listed in the result.
    pub(crate) async fn retrieve_many(
        &self,
        fetch: Fetch,
        keys: &[&[u8]],
        options: CallOptions,
        gather: Gather,
    ) -> Result<PartialItems> {
        // One membership for the whole call.
        let members = self.members();
        let per_node = split_by_node(&members, keys)?;
        if fetch.is_meta(self.config.protocol) {
            self.fetch_meta(&members, fetch, &per_node, keys.len(), options, gather)
                .await
        } else {
            self.fetch_classic(&members, fetch, &per_node, keys.len(), options, gather)
                .await
        }
    }
}

/// Lists `node`'s failure once, however many of its requests failed.
fn note_failure<R: Runtime>(result: &mut PartialItems, node: &Node<R>, error: Error) {
    if !result.errors.iter().any(|(failed, _)| *failed == node.addr) {
        result.errors.push((node.addr.clone(), error));
    }
}

/// Each node's keys, duplicates dropped.
fn split_by_node<'k, R: Runtime>(
    members: &Members<R>,
    keys: &[&'k [u8]],
) -> Result<Vec<Vec<&'k [u8]>>> {
    // Sized for an even spread (plus a quarter), so the lists rarely grow key by key.
    let nodes = members.nodes.len().max(1);
    let share = if nodes == 1 {
        keys.len()
    } else {
        keys.len() / nodes + keys.len() / (4 * nodes) + 1
    };
    let mut per_node: Vec<Vec<&[u8]>> = (0..members.nodes.len())
        .map(|_| Vec::with_capacity(share))
        .collect();
    // Duplicates are sent once. A fast, randomly seeded hasher: this set only lives for
    // the call, and the default one costs as much as the rest of the routing.
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(
        keys.len(),
        foldhash::fast::RandomState::default(),
    );
    let mut unroutable = false;
    members.health.route_each(
        keys.iter().copied().filter(|key| seen.insert(*key)),
        |key, node| match node {
            Some(index) => per_node[index].push(key),
            None => unroutable = true,
        },
    );
    if unroutable {
        return Err(Error::NoAvailableNodes);
    }
    Ok(per_node)
}

impl<R: Runtime> Inner<R> {
    async fn fetch_classic(
        &self,
        members: &Members<R>,
        fetch: Fetch,
        per_node: &[Vec<&[u8]>],
        expected: usize,
        options: CallOptions,
        gather: Gather,
    ) -> Result<PartialItems> {
        let mut chunks = Vec::new();
        for (index, node_keys) in per_node.iter().enumerate() {
            for chunk in line_chunks(node_keys) {
                // Refuse invalid keys before anything is sent.
                let retrieve = Retrieve {
                    kind: fetch.kind,
                    keys: chunk,
                };
                let encoded = self.encode(&Command::Retrieve(retrieve.clone()), 0)?;
                chunks.push((index, retrieve, encoded));
            }
        }
        let timeout = self.timeout(options.timeout);
        let nodes: Vec<usize> = chunks.iter().map(|(index, _, _)| *index).collect();
        let calls = chunks.into_iter().map(|(index, retrieve, encoded)| {
            let node = &members.nodes[index];
            async move {
                values(
                    self.retrieve_chunk(node, retrieve, encoded, timeout, options)
                        .await?,
                )
            }
        });
        // Every request carries the same deadline.
        let replies = gather.run(calls).await?;
        let mut result = PartialItems {
            items: ItemMap::with_capacity(expected),
            errors: Vec::new(),
        };
        for (index, items) in nodes.into_iter().zip(replies) {
            match items {
                Ok(items) => {
                    for mut item in items {
                        // Taken, not cloned: one reference-count update fewer per key.
                        let key = std::mem::take(&mut item.key);
                        result
                            .items
                            .insert(key, Item::from_wire(item, fetch.return_flags));
                    }
                }
                Err(error) => note_failure(&mut result, &members.nodes[index], error),
            }
        }
        Ok(result)
    }

    /// Sends one chunk of a multi-key retrieval, already encoded (to refuse invalid keys
    /// before anything is sent), to `node`. The encoding is used as it is; only a request
    /// that had to wait for room is encoded again.
    async fn retrieve_chunk(
        &self,
        node: &Arc<Node<R>>,
        chunk: Retrieve<'_>,
        encoded: (Payload, Expects),
        timeout: Option<Duration>,
        options: CallOptions,
    ) -> Result<Reply> {
        let first = std::sync::Mutex::new(Some(encoded));
        let encode = || {
            let taken = first
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            taken.map_or_else(|| self.encode(&Command::Retrieve(chunk.clone()), 0), Ok)
        };
        let affinity = Affinity::of_keys(chunk.keys);
        let call = self.call_for(&encode, timeout, options, None, affinity);
        let reply = self
            .retrying(options.idempotent, call.deadline, || node.request(&call))
            .await?;
        if let Reply::Values(items) = &reply {
            node.fetched_many(items.len(), chunk.keys.len());
        }
        Ok(reply)
    }

    async fn fetch_meta(
        &self,
        members: &Members<R>,
        fetch: Fetch,
        per_node: &[Vec<&[u8]>],
        expected: usize,
        options: CallOptions,
        gather: Gather,
    ) -> Result<PartialItems> {
        let encoder = &self.config.encoder;
        let protocol = self.config.protocol;
        let limits = &self.config.connection.limits;
        // (node, its keys in this batch, the batch)
        let mut batches = Vec::new();
        for (node, node_keys) in per_node.iter().enumerate() {
            let mut batch = MetaBatch::for_fetches(limits.max_value_len);
            let mut first = 0;
            for (at, key) in node_keys.iter().enumerate() {
                if batch.is_full_for(key.len()) {
                    let full =
                        std::mem::replace(&mut batch, MetaBatch::for_fetches(limits.max_value_len));
                    batches.push((node, &node_keys[first..at], full.finish(encoder)?));
                    first = at;
                }
                let token = Token::new(batch.len() as u64);
                let command = dialect::meta_get(protocol, key, fetch, token.as_bytes(), true);
                batch.push(encoder, &command)?;
            }
            if batch.len() > 0 {
                batches.push((node, &node_keys[first..], batch.finish(encoder)?));
            }
        }
        let timeout = self.timeout(options.timeout);
        let calls = batches.iter().map(|(node, keys, encoded)| async move {
            let encode = || Ok(encoded.clone());
            let call = self.call_for(&encode, timeout, options, None, Affinity::of_keys(keys));
            let node = &members.nodes[*node];
            let replies = self
                .retrying(options.idempotent, call.deadline, || async {
                    // A fetch batch cut short fails whole: its node's share is incomplete.
                    let batch = node.request_batch(&call).await?;
                    batch.cut.map_or(Ok(batch.replies), Err)
                })
                .await?;
            let replies = meta_batch::command_replies(replies, keys.len())?;
            let mut items = Vec::with_capacity(replies.len());
            for (key, reply) in keys.iter().zip(replies) {
                if let Some(item) = dialect::fetched(reply, fetch)? {
                    items.push((Bytes::copy_from_slice(key), item));
                }
            }
            node.fetched_many(items.len(), keys.len());
            Ok(items)
        });
        let replies = gather.run(calls).await?;
        let mut result = PartialItems {
            items: ItemMap::with_capacity(expected),
            errors: Vec::new(),
        };
        for ((node, _, _), items) in batches.iter().zip(replies) {
            match items {
                Ok(items) => result.items.extend(items),
                Err(error) => note_failure(&mut result, &members.nodes[*node], error),
            }
        }
        Ok(result)
    }
}

/// Splits keys into groups whose command line stays within the server's line limit.
fn line_chunks<'k>(keys: &'k [&'k [u8]]) -> impl Iterator<Item = &'k [&'k [u8]]> {
    // "gats " + a 10-digit signed exptime + CRLF leaves room under the limit.
    const HEADER: usize = 24;
    let mut rest = keys;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut len = HEADER;
        let mut count = 0;
        while count < rest.len() && (count == 0 || len + 1 + rest[count].len() <= MAX_COMMAND_LINE)
        {
            len += 1 + rest[count].len();
            count += 1;
        }
        let (chunk, tail) = rest.split_at(count);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_line_limit() {
        let key = [b'k'; 250];
        let keys: Vec<&[u8]> = vec![&key[..]; 50];
        let chunks: Vec<_> = line_chunks(&keys).collect();
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 50);
        for chunk in chunks {
            let line = 24 + chunk.iter().map(|k| k.len() + 1).sum::<usize>();
            assert!(line <= MAX_COMMAND_LINE, "{line}");
        }
    }
}
