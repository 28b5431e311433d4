//! A single-key request through a route: each pool it reaches runs it on the one
//! execution path ([`Exchange`]); the route decides which pools, in which order, and
//! what the call answers.

use futures::future::{join, join_all, BoxFuture};
use memproto::{Exptime, RetrieveKind};

use crate::client::execute::{Effect, Exchange, Operation, Target};
use crate::client::fan_out::Gather;
use crate::client::{CallOptions, Inner};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::ops::fetch::Fetch;
use crate::ops::item::Item;
use crate::ops::store::Store;
use crate::ops::touch_delete::KeyCommand;
use crate::route::call::{read_elsewhere, replica_for, Call};
use crate::route::many;
use crate::route::tree::{RouteNode, Routes};
use crate::route::verdict::decide;
use crate::route::Phase;

/// The future of `op` on a routed client: a node command goes straight to its node's
/// pool; anything else runs through the route.
pub(crate) fn start<'c, R, O>(
    client: &'c Inner<R>,
    routes: &'c Routes<R>,
    op: O,
    options: CallOptions,
) -> Either<Exchange<'c, R, O>, BoxFuture<'c, Result<O::Output>>>
where
    R: Runtime,
    O: Operation + Sync + 'c,
    O::Output: Send,
{
    if let Target::Node(Ok(addr)) = op.target() {
        let pool = routes.pool_with(addr).map_or(client, |pool| &**pool);
        return Either::Left(Exchange::new(pool, op, options));
    }
    if let Target::Node(Err(_)) = op.target() {
        return Either::Left(Exchange::new(client, op, options));
    }
    Either::Right(Box::pin(async move {
        let call = Call::start(client, options);
        run(&routes.root, &op, &call).await
    }))
}

/// One of two futures.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs `op` through `node`.
pub(crate) fn run<'a, R, O>(
    node: &'a RouteNode<R>,
    op: &'a O,
    call: &'a Call<'a, R>,
) -> BoxFuture<'a, Result<O::Output>>
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    match op.effect() {
        Effect::Read => read(node, op, call),
        Effect::ReadSide => read_side(node, op, call),
        effect => write(node, op, call, effect),
    }
}

/// `op` on one pool.
async fn on_pool<R: Runtime, O: Operation + Sync>(
    pool: &Inner<R>,
    op: &O,
    call: &Call<'_, R>,
) -> Result<O::Output> {
    Exchange::new(pool, op, call.options()).await
}

/// A read: one destination, and others on a miss or an unavailable node where the route
/// says so.
fn read<'a, R, O>(
    node: &'a RouteNode<R>,
    op: &'a O,
    call: &'a Call<'a, R>,
) -> BoxFuture<'a, Result<O::Output>>
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    Box::pin(async move {
        match node {
            RouteNode::Pool(pool) => on_pool(pool, op, call).await,
            RouteNode::Replicated { replicas, .. } => {
                let first = replica_for(call.routing_key(op.key()), replicas.len());
                let mut outcome = Err(Error::NoAvailableNodes);
                for offset in 0..replicas.len() {
                    let replica = &replicas[(first + offset) % replicas.len()];
                    outcome = read(replica, op, call).await;
                    match &outcome {
                        Err(error) if read_elsewhere(error) => continue,
                        _ => break,
                    }
                }
                outcome
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old | Phase::WriteBothReadOld => read(from, op, call).await,
                Phase::New => read(to, op, call).await,
                Phase::WriteBothReadNew => match read(to, op, call).await {
                    Ok(output) if !op.missed(&output) => Ok(output),
                    Err(error) if !read_elsewhere(&error) => Err(error),
                    _ => read(from, op, call).await,
                },
            },
            RouteNode::WarmUp { cold, warm } => warm_up(cold, warm, op, call).await,
        }
    })
}

/// A read that may change its item where reads go (a lease): that destination only,
/// with no second look.
fn read_side<'a, R, O>(
    node: &'a RouteNode<R>,
    op: &'a O,
    call: &'a Call<'a, R>,
) -> BoxFuture<'a, Result<O::Output>>
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    Box::pin(async move {
        match node {
            RouteNode::Pool(pool) => on_pool(pool, op, call).await,
            RouteNode::Replicated { replicas, .. } => {
                let first = replica_for(call.routing_key(op.key()), replicas.len());
                read_side(&replicas[first], op, call).await
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old | Phase::WriteBothReadOld => read_side(from, op, call).await,
                Phase::WriteBothReadNew | Phase::New => read_side(to, op, call).await,
            },
            RouteNode::WarmUp { cold, .. } => read_side(cold, op, call).await,
        }
    })
}

/// A read through a warm-up route: `cold`, and on a miss `warm`, whose item is added to
/// `cold` and read back from there.
async fn warm_up<'a, R, O>(
    cold: &'a RouteNode<R>,
    warm: &'a RouteNode<R>,
    op: &'a O,
    call: &'a Call<'a, R>,
) -> Result<O::Output>
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    let miss = match read(cold, op, call).await {
        Ok(output) if !op.missed(&output) => return Ok(output),
        Ok(miss) => miss,
        // The cold route cannot answer: the warm one does, and nothing is filled.
        Err(error) if read_elsewhere(&error) => return read(warm, op, call).await,
        Err(error) => return Err(error),
    };
    let key = op.key();
    let found = many::read(warm, WARM_FETCH, &[key], call, Gather::Partial).await?;
    let Some(item) = found.items.get(key) else {
        return Ok(miss);
    };
    if fill(cold, key, item, call).await {
        match read(cold, op, call).await {
            Ok(output) if !op.missed(&output) => return Ok(output),
            _ => {}
        }
    }
    // Not filled, or gone again at once: the warm route's answer.
    read(warm, op, call).await
}

/// How a warm-up reads the warm route: the value with its flags and time to live.
pub(crate) const WARM_FETCH: Fetch = Fetch {
    kind: RetrieveKind::Get,
    return_flags: true,
    info: true,
};

/// Adds `item`, read from a warm route, to `cold` for the time it had left; whether
/// `cold` now holds the key (added, or already there).
pub(crate) async fn fill<R: Runtime>(
    cold: &RouteNode<R>,
    key: &[u8],
    item: &Item,
    call: &Call<'_, R>,
) -> bool {
    let exptime = match item.info.and_then(|info| info.ttl) {
        None => Exptime::Never,
        // About to expire: zero would mean "never" to the server.
        Some(ttl) if ttl.as_secs() == 0 => return false,
        Some(ttl) => Exptime::After(ttl),
    };
    let add = Store::warm_fill(key, item.value.clone(), item.flags.unwrap_or(0), exptime);
    matches!(
        write(cold, &add, call, Effect::Write).await,
        Ok(()) | Err(Error::NotStored)
    )
}

/// A write: every destination the route sends writes (or deletes) to, answered as
/// [`decide`] rules.
pub(crate) fn write<'a, R, O>(
    node: &'a RouteNode<R>,
    op: &'a O,
    call: &'a Call<'a, R>,
    effect: Effect,
) -> BoxFuture<'a, Result<O::Output>>
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    Box::pin(async move {
        let key = call.routing_key(op.key());
        match node {
            RouteNode::Pool(pool) => on_pool(pool, op, call).await,
            RouteNode::Replicated { replicas, quorum } => {
                let each = replicas
                    .iter()
                    .map(|replica| write(replica, op, call, effect));
                let outcomes = join_all(each).await;
                let primary = replica_for(key, replicas.len());
                let children: Vec<&RouteNode<R>> = replicas.iter().collect();
                let needed = quorum.of(replicas.len());
                settle(&children, op, call, effect, outcomes, primary, needed).await
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old => write(from, op, call, effect).await,
                Phase::New => write(to, op, call, effect).await,
                phase => {
                    let (old, new) =
                        join(write(from, op, call, effect), write(to, op, call, effect)).await;
                    let primary = usize::from(phase == Phase::WriteBothReadNew);
                    let children = [&**from, &**to];
                    settle(&children, op, call, effect, vec![old, new], primary, 2).await
                }
            },
            RouteNode::WarmUp { cold, warm } if effect == Effect::Delete => {
                let (in_cold, in_warm) =
                    join(write(cold, op, call, effect), write(warm, op, call, effect)).await;
                let children = [&**cold, &**warm];
                settle(&children, op, call, effect, vec![in_cold, in_warm], 0, 2).await
            }
            RouteNode::WarmUp { cold, .. } => write(cold, op, call, effect).await,
        }
    })
}

/// The call's answer from its destinations' `outcomes`; the destinations that disagree
/// with it lose the key first.
async fn settle<R, O>(
    children: &[&RouteNode<R>],
    op: &O,
    call: &Call<'_, R>,
    effect: Effect,
    outcomes: Vec<Result<O::Output>>,
    primary: usize,
    needed: usize,
) -> Result<O::Output>
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    let compare = effect == Effect::Compare;
    let reconcile = matches!(effect, Effect::Write | Effect::Compare);
    let verdict = decide(outcomes, primary, needed, compare, reconcile);
    if !verdict.invalidate.is_empty() {
        let delete = KeyCommand::deletion(op.key());
        let deletes = verdict
            .invalidate
            .iter()
            .map(|&index| write(children[index], &delete, call, Effect::Delete));
        // A delete that fails is reported to the write-failure handler by its pool.
        join_all(deletes).await;
    }
    verdict.answer
}
