//! Multi-key fetches (`get_many` and friends): keys split by node, each node's share sent
//! as multi-key `get` lines within the server's line limit (classic) or as quiet `mg`
//! batches in which misses cost nothing (meta), all nodes at once.

use bytes::Bytes;
use memproto::{Command, Retrieve, RetrieveKind, MAX_COMMAND_LINE};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::fan_out::Gather;
use crate::client::protocol::Token;
use crate::client::{encode, values, CallOptions, Inner};
use crate::cluster::members::{Members, MembersRef, NodeRef};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::node::Node;
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::fetch::Fetch;
use crate::ops::item::Item;
use crate::ops::item_map::{ItemMap, PartialItems};
use crate::ops::key_copies::KeyCopies;
use crate::ops::meta_batch::{self, MetaBatch};
use crate::ops::share::Share;

impl<R: Runtime> Inner<R> {
    /// Fetches many keys. Invalid keys fail the call before anything is sent; a node's
    /// failure fails it too, or with [`Gather::Partial`] is listed in the result. With
    /// `miss`, an unavailable node's keys are misses when the client is configured so.
    pub(crate) async fn retrieve_many(
        &self,
        fetch: Fetch,
        keys: &[&[u8]],
        options: CallOptions,
        gather: Gather,
        miss: bool,
    ) -> Result<PartialItems> {
        // Plain fetches go to the gutter as they are; `gat` would touch the gutter's copies
        // past its expiration cap.
        let plain = matches!(fetch.kind, RetrieveKind::Get | RetrieveKind::Gets);
        // One membership for the whole call.
        let members = self.members();
        let per_node = split_by_node(&members, keys, options.routing_key.as_deref())?;
        let mut result = PartialItems {
            items: ItemMap::with_capacity(keys.len()),
            errors: Vec::new(),
        };
        if fetch.is_meta(self.config.protocol) {
            let mut shares = Vec::new();
            for (node, keys, encoded) in self.meta_batches(fetch, &per_node)? {
                // A batch's bytes are shared: sending them again copies nothing.
                let copy = encoded.clone();
                let again = move |_: &Config| Ok(copy.clone());
                let read = move |answer: Answer, counters: &Counters| {
                    meta_items(answer, keys, fetch, counters)
                };
                let share = Share::new(encoded, again, keys, true, read);
                shares.push((node, share.miss_on_unavailable(miss).fails_over(plain)));
            }
            let merge = |items: &mut ItemMap, found: Vec<(Bytes, Item)>| items.extend(found);
            self.gather_shares(&members, shares, options, gather, &mut result, merge)
                .await?;
        } else {
            let mut shares = Vec::new();
            for (node, keys, encoded) in self.classic_chunks(fetch, &per_node)? {
                let kind = fetch.kind;
                let again = move |config: &Config| {
                    encode(config, &Command::Retrieve(Retrieve { kind, keys }), 0)
                };
                let read = move |answer: Answer, counters: &Counters| {
                    let items = values(answer.one()?)?;
                    let found = items.len().min(keys.len());
                    counters.fetched(found as u64, (keys.len() - found) as u64);
                    Ok(items)
                };
                let share = Share::new(encoded, again, keys, true, read);
                shares.push((node, share.miss_on_unavailable(miss).fails_over(plain)));
            }
            let merge = |items: &mut ItemMap, found: memproto::Items| {
                for mut item in found {
                    // Taken, not cloned: one reference-count update fewer per key.
                    let key = std::mem::take(&mut item.key);
                    items.insert(key, Item::from_wire(item, fetch.return_flags));
                }
            };
            self.gather_shares(&members, shares, options, gather, &mut result, merge)
                .await?;
        }
        Ok(result)
    }

    /// Sends each `(node, share)` and merges what each found into `result`, or lists its
    /// node's failure there.
    async fn gather_shares<O: Operation>(
        &self,
        members: &MembersRef<'_, R>,
        shares: Vec<(usize, O)>,
        options: CallOptions,
        gather: Gather,
        result: &mut PartialItems,
        merge: impl Fn(&mut ItemMap, O::Output),
    ) -> Result<()> {
        let nodes: Vec<usize> = shares.iter().map(|(node, _)| *node).collect();
        let mut routed = Vec::with_capacity(shares.len());
        for (node, share) in shares {
            routed.push((node_at(members, node)?, share));
        }
        let outcomes = self.fan_out(routed, options, gather).await?;
        for (node, outcome) in nodes.into_iter().zip(outcomes) {
            match outcome {
                Ok(found) => merge(&mut result.items, found),
                Err(error) => note_failure(result, &members.nodes[node], error),
            }
        }
        Ok(())
    }

    /// Each node's keys as multi-key `get` lines within the server's line limit.
    #[allow(clippy::type_complexity)]
    fn classic_chunks<'k>(
        &self,
        fetch: Fetch,
        per_node: &'k [Vec<&'k [u8]>],
    ) -> Result<Vec<(usize, &'k [&'k [u8]], (Payload, Expects))>> {
        let mut chunks = Vec::new();
        for (node, node_keys) in per_node.iter().enumerate() {
            for keys in line_chunks(node_keys) {
                let retrieve = Retrieve {
                    kind: fetch.kind,
                    keys,
                };
                chunks.push((
                    node,
                    keys,
                    encode(&self.config, &Command::Retrieve(retrieve), 0)?,
                ));
            }
        }
        Ok(chunks)
    }

    /// Each node's keys as quiet `mg` batches ended by `mn`, each within the batch limit.
    #[allow(clippy::type_complexity)]
    fn meta_batches<'k>(
        &self,
        fetch: Fetch,
        per_node: &'k [Vec<&'k [u8]>],
    ) -> Result<Vec<(usize, &'k [&'k [u8]], (Payload, Expects))>> {
        let encoder = &self.config.encoder;
        let protocol = self.config.protocol;
        let limits = &self.config.connection.limits;
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
                let command =
                    crate::ops::fetch::meta_get(protocol, key, fetch, token.as_bytes(), true);
                batch.push(encoder, &command)?;
            }
            if batch.len() > 0 {
                batches.push((node, &node_keys[first..], batch.finish(encoder)?));
            }
        }
        Ok(batches)
    }
}

/// The node at `index` of the call's membership.
fn node_at<'a, R: Runtime>(members: &MembersRef<'a, R>, index: usize) -> Result<NodeRef<'a, R>> {
    members.node(index).ok_or(Error::NoAvailableNodes)
}

/// The items a quiet `mg` batch found. A batch cut short fails whole: its node's share is
/// incomplete.
fn meta_items(
    answer: Answer,
    keys: &[&[u8]],
    fetch: Fetch,
    counters: &Counters,
) -> Result<Vec<(Bytes, Item)>> {
    let replies = match answer.batch()? {
        (replies, None) => replies,
        (_, Some(error)) => return Err(error),
    };
    let replies = meta_batch::command_replies(replies, keys.len())?;
    let mut hits = Vec::with_capacity(replies.len());
    for (at, reply) in replies.into_iter().enumerate() {
        if let Some(item) = crate::ops::fetch::fetched(reply, fetch)? {
            hits.push((at, item));
        }
    }
    let copies = KeyCopies::new(keys.len(), hits.iter().map(|(at, _)| (*at, keys[*at])));
    let items: Vec<(Bytes, Item)> = hits
        .into_iter()
        .map(|(at, item)| (copies.at(at), item))
        .collect();
    let found = items.len();
    counters.fetched(found as u64, (keys.len() - found) as u64);
    Ok(items)
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
    routing_key: Option<&[u8]>,
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
        routing_key,
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
