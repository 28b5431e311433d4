//! A single-key request through a route: each pool it reaches runs it on the one
//! execution path ([`Exchange`]); the route decides which pools, in which order, and
//! what the call answers.

use futures::future::{join, join_all, BoxFuture};
use memproto::{Exptime, RetrieveKind};

use crate::client::execute::{Effect, Exchange, Operation, Target};
use crate::client::unavailable::is_unavailable;
use crate::client::{CallOptions, Inner};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::ops::fetch::Fetch;
use crate::ops::item::Item;
use crate::ops::store::Store;
use crate::ops::touch_delete::KeyCommand;
use crate::route::call::{read_elsewhere, Call};
use crate::route::many;
use crate::route::tree::{RouteNode, Routes};
use crate::route::verdict::{decide, Needed, Verdict};
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
    let node_pool = match op.target() {
        Target::Key => None,
        // An address that does not parse fails on the client itself.
        Target::Node(addr) => Some(addr.as_ref().ok().and_then(|addr| routes.pool_with(addr))),
    };
    if let Some(pool) = node_pool {
        let pool = pool.map_or(client, |pool| &**pool);
        return Either::Left(Exchange::new(pool, op, options));
    }
    Either::Right(Box::pin(async move {
        let call = Call::start(client, options);
        match run(&routes.root, &op, &call).await {
            Err(error) if call.miss_on_unavailable && is_unavailable(&error) => match op.miss() {
                Some(miss) => {
                    routes.count_unavailable_miss(&error);
                    Ok(miss)
                }
                None => Err(error),
            },
            outcome => outcome,
        }
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
        effect => Box::pin(async move {
            let leaf = exchange(op);
            write(node, op.key(), call, effect, &leaf).await
        }),
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
                let first = call.replica_for(op.key(), replicas.len());
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
                let first = call.replica_for(op.key(), replicas.len());
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
    let found = many::read(warm, WARM_FETCH, &[key], call).await?;
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
    let leaf = exchange(&add);
    matches!(
        write(cold, key, call, Effect::Write, &leaf).await,
        Ok(()) | Err(Error::NotStored)
    )
}

/// What a write does on one pool: the request (or, for a checked `append`, the
/// requests) it sends there, with the call's settings and time left.
pub(crate) type Leaf<'a, R, T> =
    dyn Fn(&'a Inner<R>, CallOptions) -> BoxFuture<'a, Result<T>> + Send + Sync + 'a;

/// `op` on one pool, as a [`Leaf`].
fn exchange<'a, R, O>(
    op: &'a O,
) -> impl Fn(&'a Inner<R>, CallOptions) -> BoxFuture<'a, Result<O::Output>> + Send + Sync + 'a
where
    R: Runtime,
    O: Operation + Sync,
    O::Output: Send,
{
    move |pool, options| Box::pin(Exchange::new(pool, op, options))
}

/// A write of `key`: `leaf` on every pool the route sends writes (or deletes) to, their
/// answers settled by [`decide`].
pub(crate) fn write<'a, 'l, R, T>(
    node: &'a RouteNode<R>,
    key: &'l [u8],
    call: &'l Call<'_, R>,
    effect: Effect,
    leaf: &'l Leaf<'a, R, T>,
) -> BoxFuture<'l, Result<T>>
where
    'a: 'l,
    R: Runtime,
    T: Send + 'a,
{
    Box::pin(async move {
        match node {
            RouteNode::Pool(pool) => leaf(pool, call.options()).await,
            RouteNode::Replicated { replicas, quorum } => {
                let each = replicas
                    .iter()
                    .map(|replica| write(replica, key, call, effect, leaf));
                let outcomes = join_all(each).await;
                let primary = call.replica_for(key, replicas.len());
                let children: Vec<&RouteNode<R>> = replicas.iter().collect();
                let needed = Needed::AtLeast(quorum.of(replicas.len()));
                settle(&children, key, call, effect, outcomes, primary, needed).await
            }
            RouteNode::Migrate {
                from,
                to,
                migration,
            } => match migration.phase() {
                Phase::Old => write(from, key, call, effect, leaf).await,
                Phase::New => write(to, key, call, effect, leaf).await,
                // The old side stays the source of truth until the last phase; once
                // reads go to the new one, it must take every write too.
                phase => {
                    let needed = migration_needs(phase);
                    both(from, to, key, call, effect, leaf, needed).await
                }
            },
            RouteNode::WarmUp { cold, warm } if effect == Effect::Delete => {
                both(cold, warm, key, call, effect, leaf, Needed::AtLeast(2)).await
            }
            RouteNode::WarmUp { cold, .. } => write(cold, key, call, effect, leaf).await,
        }
    })
}

/// A write to `first` and `second`, `first`'s answer the call's; once when both are pools
/// that keep `key` on the same node (a migration between distributions over the same
/// servers), so that an `incr` counts once and an `add` is not refused by itself.
async fn both<'a, 'l, R, T>(
    first: &'a RouteNode<R>,
    second: &'a RouteNode<R>,
    key: &'l [u8],
    call: &'l Call<'_, R>,
    effect: Effect,
    leaf: &'l Leaf<'a, R, T>,
    needed: Needed,
) -> Result<T>
where
    'a: 'l,
    R: Runtime,
    T: Send + 'a,
{
    if same_node(first, second, call.routing_key(key)) {
        return write(first, key, call, effect, leaf).await;
    }
    let (one, other) = join(
        write(first, key, call, effect, leaf),
        write(second, key, call, effect, leaf),
    )
    .await;
    settle(
        &[first, second],
        key,
        call,
        effect,
        vec![one, other],
        0,
        needed,
    )
    .await
}

/// What a migration's write needs in `phase`: while reads go to the old side, the old
/// side (the new one losing the key where it missed the write); once they go to the new
/// side, both.
pub(crate) fn migration_needs(phase: Phase) -> Needed {
    match phase {
        Phase::WriteBothReadOld => Needed::Primary,
        _ => Needed::AtLeast(2),
    }
}

/// Whether `a` and `b` are pools that keep `key` on the same node.
pub(crate) fn same_node<R: Runtime>(a: &RouteNode<R>, b: &RouteNode<R>, key: &[u8]) -> bool {
    match (a, b) {
        (RouteNode::Pool(a), RouteNode::Pool(b)) => match (a.route(key), b.route(key)) {
            (Ok(a), Ok(b)) => a.addr == b.addr,
            _ => false,
        },
        _ => false,
    }
}

/// The call's answer from its destinations' `outcomes`; the destinations that may
/// disagree with it lose the key first.
async fn settle<R: Runtime, T>(
    children: &[&RouteNode<R>],
    key: &[u8],
    call: &Call<'_, R>,
    effect: Effect,
    outcomes: Vec<Result<T>>,
    primary: usize,
    needed: Needed,
) -> Result<T> {
    let reconcile = effect != Effect::Delete;
    let verdict = decide(outcomes, primary, needed, reconcile);
    let failed = failed_pools(children, &verdict);
    // The failed writes were reported: their clean-up's failures would say it again.
    let quiet = call.quietly();
    join(
        invalidate(children, &verdict.differ, key, call),
        invalidate(children, &failed, key, &quiet),
    )
    .await;
    verdict.answer
}

/// The pools among the children whose write failed (a route that failed settled its own
/// destinations).
pub(crate) fn failed_pools<R: Runtime, T>(
    children: &[&RouteNode<R>],
    verdict: &Verdict<T>,
) -> Vec<usize> {
    verdict
        .failed
        .iter()
        .copied()
        .filter(|&index| matches!(children.get(index), Some(RouteNode::Pool(_))))
        .collect()
}

/// Deletes `key` from the destinations `which` of `children`, within the call's time. A
/// delete that fails is reported to the write-failure handler by its pool.
pub(crate) async fn invalidate<R: Runtime>(
    children: &[&RouteNode<R>],
    which: &[usize],
    key: &[u8],
    call: &Call<'_, R>,
) {
    if which.is_empty() {
        return;
    }
    let delete = KeyCommand::deletion(key);
    let leaf = exchange(&delete);
    let deletes = which
        .iter()
        .filter_map(|&index| children.get(index))
        .map(|child| write(child, key, call, Effect::Delete, &leaf));
    join_all(deletes).await;
}
