//! Multi-key requests through a route. Each pool a request reaches gets its share of the
//! keys as one multi-key request (one round trip per node); the route decides which pools
//! and merges what they answer, key by key.

use bytes::Bytes;
use futures::future::{join, join_all, BoxFuture};
use memproto::RetrieveKind;

use crate::client::fan_out::Gather;
use crate::cluster::addr::NodeAddr;
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::ops::batched_writes::{KeyResults, Write, WriteKind};
use crate::ops::fetch::Fetch;
use crate::ops::item_map::{ItemMap, PartialItems};
use crate::route::call::{read_elsewhere, Call};
use crate::route::single::{failed_pools, fill, migration_needs, same_node, WARM_FETCH};
use crate::route::tree::RouteNode;
use crate::route::verdict::{decide, Needed};
use crate::route::Phase;

/// Fetches `keys` through `node`. Every destination is read in part (a failed node's
/// keys listed with its error), so that a fallback can stand in for a failed node; the
/// caller applies its own strictness to what is left failed at the end.
pub(crate) fn read<'a, R: Runtime>(
    node: &'a RouteNode<R>,
    fetch: Fetch,
    keys: &'a [&'a [u8]],
    call: &'a Call<'a, R>,
) -> BoxFuture<'a, Result<PartialItems>> {
    Box::pin(async move {
        if keys.is_empty() {
            return Ok(PartialItems::default());
        }
        match node {
            RouteNode::Pool(pool) => {
                let options = call.options();
                (pool.retrieve_many(fetch, keys, options, Gather::Partial, false)).await
            }
            RouteNode::Replicated { replicas, .. } => {
                let mut groups: Vec<Vec<&[u8]>> = vec![Vec::new(); replicas.len()];
                for &key in keys {
                    groups[call.replica_for(key, replicas.len())].push(key);
                }
                let reads = groups
                    .iter()
                    .enumerate()
                    .map(|(first, keys)| read_replicas(replicas, first, fetch, keys, call));
                let mut found = PartialItems::default();
                for group in join_all(reads).await {
                    merge(&mut found, group?);
                }
                Ok(found)
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old | Phase::WriteBothReadOld => read(from, fetch, keys, call).await,
                Phase::New => read(to, fetch, keys, call).await,
                Phase::WriteBothReadNew => match read(to, fetch, keys, call).await {
                    Err(error) if read_elsewhere(&error) => read(from, fetch, keys, call).await,
                    Err(error) => Err(error),
                    Ok(found) => {
                        let missing = missing(keys, &found.items);
                        let old = read(from, fetch, &missing, call).await?;
                        Ok(superseded(found, old))
                    }
                },
            },
            RouteNode::WarmUp { cold, warm } => warm_up(cold, warm, fetch, keys, call).await,
        }
    })
}

/// `keys`, read from the replica `first` and on from the next ones for the keys whose
/// node was unavailable there.
async fn read_replicas<'a, R: Runtime>(
    replicas: &'a [RouteNode<R>],
    first: usize,
    fetch: Fetch,
    keys: &'a [&'a [u8]],
    call: &'a Call<'a, R>,
) -> Result<PartialItems> {
    let mut found = PartialItems::default();
    let mut left: Vec<&[u8]> = keys.to_vec();
    for offset in 0..replicas.len() {
        if left.is_empty() {
            break;
        }
        let replica = &replicas[(first + offset) % replicas.len()];
        let more = offset + 1 < replicas.len();
        let read = match read(replica, fetch, &left, call).await {
            // No node of the replica could be asked: all of it on the next one.
            Err(error) if more && read_elsewhere(&error) => continue,
            Err(error) => return Err(error),
            Ok(read) => read,
        };
        let again = if more {
            unavailable_keys(replica, &left, &read, call)
        } else {
            Vec::new()
        };
        found.items.extend(read.items.into_inner());
        // The failures the next replica stands in for are not the call's.
        let kept = read
            .errors
            .into_iter()
            .filter(|(_, error)| !more || !read_elsewhere(error));
        found.errors.extend(kept);
        left = again;
    }
    Ok(found)
}

/// The keys of `keys` that `node` could not answer because their node was unavailable:
/// those of the failed nodes for a pool, every key it did not find for a route (whose
/// nodes are not told apart).
fn unavailable_keys<'k, R: Runtime>(
    node: &RouteNode<R>,
    keys: &[&'k [u8]],
    read: &PartialItems,
    call: &Call<'_, R>,
) -> Vec<&'k [u8]> {
    let failed: Vec<&NodeAddr> = read
        .errors
        .iter()
        .filter(|(_, error)| read_elsewhere(error))
        .map(|(node, _)| node)
        .collect();
    if failed.is_empty() {
        return Vec::new();
    }
    let RouteNode::Pool(pool) = node else {
        return missing(keys, &read.items);
    };
    keys.iter()
        .copied()
        .filter(|key| !read.items.contains_key(key))
        .filter(|key| {
            pool.route(call.routing_key(key))
                .is_ok_and(|node| failed.contains(&&node.addr))
        })
        .collect()
}

/// The keys of `keys` that `items` does not have.
fn missing<'k>(keys: &[&'k [u8]], items: &ItemMap) -> Vec<&'k [u8]> {
    keys.iter()
        .copied()
        .filter(|key| !items.contains_key(key))
        .collect()
}

fn merge(into: &mut PartialItems, from: PartialItems) {
    into.items.extend(from.items.into_inner());
    into.errors.extend(from.errors);
}

/// `first`'s items with those `fallback` found for every key `first` did not have; the
/// failures of `first`, whose keys `fallback` was asked for, are dropped.
fn superseded(first: PartialItems, fallback: PartialItems) -> PartialItems {
    let mut found = PartialItems {
        items: first.items,
        errors: Vec::new(),
    };
    merge(&mut found, fallback);
    found
}

/// A multi-key read through a warm-up route: `cold`, then the misses from `warm`, each
/// found one added to `cold` and read back from there.
async fn warm_up<'a, R: Runtime>(
    cold: &'a RouteNode<R>,
    warm: &'a RouteNode<R>,
    fetch: Fetch,
    keys: &'a [&'a [u8]],
    call: &'a Call<'a, R>,
) -> Result<PartialItems> {
    // Read without touching the warm copies (`gat`), with what a fill needs.
    let kind = match fetch.kind {
        RetrieveKind::Gets | RetrieveKind::Gats(_) => RetrieveKind::Gets,
        _ => RetrieveKind::Get,
    };
    let warm_fetch = Fetch { kind, ..WARM_FETCH };
    let found = match read(cold, fetch, keys, call).await {
        // The cold route cannot answer: the warm one does, and nothing is filled.
        Err(error) if read_elsewhere(&error) => {
            let from_warm = read(warm, warm_fetch, keys, call).await?;
            return Ok(strip(from_warm, fetch));
        }
        Err(error) => return Err(error),
        Ok(found) => found,
    };
    let missing = missing(keys, &found.items);
    if missing.is_empty() {
        return Ok(found);
    }
    let from_warm = read(warm, warm_fetch, &missing, call).await?;
    if !found.errors.is_empty() {
        // A cold node failed: its keys come from warm, and nothing is filled.
        return Ok(superseded(found, strip(from_warm, fetch)));
    }
    let fills = from_warm
        .items
        .iter()
        .map(|(key, item)| async move { fill(cold, key, item, call).await.then_some(key) });
    let filled: Vec<&Bytes> = join_all(fills).await.into_iter().flatten().collect();
    let filled: Vec<&[u8]> = filled.iter().map(|key| &***key).collect();
    let again = read(cold, fetch, &filled, call).await?;
    let mut found = superseded(found, PartialItems::default());
    let from_warm = strip(from_warm, fetch);
    found.errors.extend(from_warm.errors);
    found.errors.extend(again.errors);
    let mut again = again.items;
    for (key, item) in from_warm.items.into_inner() {
        // Read back from cold (its CAS token), or else as warm had it.
        let item = again.remove(&key).unwrap_or(item);
        found.items.insert(key, item);
    }
    Ok(found)
}

/// Items read from a warm route, with only what the caller asked for.
fn strip(mut found: PartialItems, fetch: Fetch) -> PartialItems {
    for item in found.items.values_mut() {
        item.flags = item.flags.filter(|_| fetch.return_flags);
        item.info = item.info.filter(|_| fetch.info);
    }
    found
}

/// Sends the batched write `kind` of `items` through `node`: every destination the route
/// sends writes (or deletes) to, each key answered as [`decide`] rules.
pub(crate) fn write<'a, R: Runtime>(
    node: &'a RouteNode<R>,
    kind: WriteKind,
    items: &'a [Write<'a>],
    call: &'a Call<'a, R>,
) -> BoxFuture<'a, Result<KeyResults>> {
    Box::pin(async move {
        let delete = matches!(kind, WriteKind::Delete);
        match node {
            RouteNode::Pool(pool) => pool.write_many(kind, items, call.options()).await,
            RouteNode::Replicated { replicas, quorum } => {
                let each = replicas
                    .iter()
                    .map(|replica| write(replica, kind, items, call));
                let results = join_all(each).await;
                let children: Vec<&RouteNode<R>> = replicas.iter().collect();
                let primary = |key: &[u8]| call.replica_for(key, replicas.len());
                let needed = Needed::AtLeast(quorum.of(replicas.len()));
                settle(&children, kind, call, results, primary, needed).await
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old => write(from, kind, items, call).await,
                Phase::New => write(to, kind, items, call).await,
                // The old side stays the source of truth until the last phase.
                phase => both(from, to, kind, items, call, migration_needs(phase)).await,
            },
            RouteNode::WarmUp { cold, warm } if delete => {
                both(cold, warm, kind, items, call, Needed::AtLeast(2)).await
            }
            RouteNode::WarmUp { cold, .. } => write(cold, kind, items, call).await,
        }
    })
}

/// The write to `first` and `second`, `first`'s answers the call's; a key both keep on
/// the same node is sent there once.
async fn both<'a, R: Runtime>(
    first: &'a RouteNode<R>,
    second: &'a RouteNode<R>,
    kind: WriteKind,
    items: &'a [Write<'a>],
    call: &'a Call<'a, R>,
    needed: Needed,
) -> Result<KeyResults> {
    let apart: Vec<Write<'_>> = items
        .iter()
        .filter(|item| !same_node(first, second, call.routing_key(item.key_of())))
        .copied()
        .collect();
    let (one, other) = join(
        write(first, kind, items, call),
        write(second, kind, &apart, call),
    )
    .await;
    settle(
        &[first, second],
        kind,
        call,
        vec![one, other],
        |_| 0,
        needed,
    )
    .await
}

/// Each key's answer from the results of the destinations it was sent to (a key missing
/// from a destination's results was not sent there); the destinations that may disagree
/// with a key's answer lose that key first.
async fn settle<R: Runtime>(
    children: &[&RouteNode<R>],
    kind: WriteKind,
    call: &Call<'_, R>,
    results: Vec<Result<KeyResults>>,
    primary: impl Fn(&[u8]) -> usize,
    needed: Needed,
) -> Result<KeyResults> {
    let mut invalidate: Vec<Vec<Bytes>> = vec![Vec::new(); children.len()];
    let mut quietly: Vec<Vec<Bytes>> = vec![Vec::new(); children.len()];
    if let Some(position) = results.iter().position(Result::is_err) {
        // Refused as a whole by one destination (an invalid key, no node to send to):
        // what the others took is taken away again, and the call fails.
        for (index, result) in results.iter().enumerate() {
            if let Ok(written) = result {
                invalidate[index].extend(written.keys().cloned());
            }
        }
        delete_everywhere(children, &invalidate, call).await;
        let mut results = results;
        return results.swap_remove(position);
    }
    let mut results: Vec<KeyResults> = results.into_iter().flatten().collect();
    let reconcile = !matches!(kind, WriteKind::Delete);
    let mut keys: Vec<Bytes> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for key in results.iter().flat_map(|each| each.keys()) {
        if seen.insert(key.clone()) {
            keys.push(key.clone());
        }
    }
    let mut answers = KeyResults::with_capacity_and_hasher(keys.len(), Default::default());
    for key in keys {
        let (sent_to, outcomes): (Vec<usize>, Vec<Result<()>>) = results
            .iter_mut()
            .enumerate()
            .filter_map(|(index, each)| Some((index, each.remove(&key)?)))
            .unzip();
        let primary = primary(&key);
        let primary = sent_to
            .iter()
            .position(|&index| index == primary)
            .unwrap_or(0);
        let verdict = decide(outcomes, primary, needed, reconcile);
        let sent: Vec<&RouteNode<R>> = sent_to.iter().map(|&index| children[index]).collect();
        for position in &verdict.differ {
            if let Some(&index) = sent_to.get(*position) {
                invalidate[index].push(key.clone());
            }
        }
        // The failed writes were reported: their clean-up's failures would say it again.
        for position in failed_pools(&sent, &verdict) {
            if let Some(&index) = sent_to.get(position) {
                quietly[index].push(key.clone());
            }
        }
        answers.insert(key, verdict.answer);
    }
    let quiet = call.quietly();
    join(
        delete_everywhere(children, &invalidate, call),
        delete_everywhere(children, &quietly, &quiet),
    )
    .await;
    Ok(answers)
}

/// Deletes each child's keys of `invalidate` from it, within the call's time. A delete
/// that fails is reported to the write-failure handler by its pool.
async fn delete_everywhere<R: Runtime>(
    children: &[&RouteNode<R>],
    invalidate: &[Vec<Bytes>],
    call: &Call<'_, R>,
) {
    let deletes = invalidate
        .iter()
        .zip(children)
        .filter(|(keys, _)| !keys.is_empty())
        .map(|(keys, child)| async move {
            let items: Vec<Write<'_>> = keys.iter().map(|key| Write::key(key)).collect();
            let _ = write(child, WriteKind::Delete, &items, call).await;
        });
    join_all(deletes).await;
}
