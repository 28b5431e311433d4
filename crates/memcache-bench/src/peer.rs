//! The same operations through async-memcached, a widely used async Rust memcached client,
//! for comparison: one client (one connection, one request at a time) per task, as it is
//! built to be used, since its calls take `&mut self`.

use std::net::SocketAddr;
use std::sync::Arc;

use async_memcached::{AsciiProtocol, Client};

use crate::data::{Data, Op, Rng, KEY_COUNT, LARGE_KEY, LARGE_VALUE, MULTI_KEYS, SMALL_VALUE};
use crate::stats::{Stop, TaskStats};

/// Whether the peer can perform `op`: it has no batched set.
pub(crate) fn has(op: Op) -> bool {
    op != Op::SetMany
}

/// A peer client connected to `addr`.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Client, String> {
    Client::new(format!("tcp://{addr}"))
        .await
        .map_err(|error| format!("async-memcached cannot connect to {addr}: {error:?}"))
}

/// Runs `op` through `client` until `stop`, checking every answer.
pub(crate) async fn peer_task(
    mut client: Client,
    op: Op,
    data: Arc<Data>,
    stop: Stop,
    seed: u64,
) -> TaskStats {
    let mut stats = TaskStats::default();
    let mut rng = Rng::new(seed);
    while !stop.is_set() {
        let started = stats.start_call();
        let outcome: Result<(), String> = match op {
            Op::Get => match client.get(&data.keys[rng.below(KEY_COUNT)]).await {
                Ok(Some(value)) if value.data.as_ref().map(Vec::len) == Some(SMALL_VALUE) => Ok(()),
                Ok(other) => Err(format!("unexpected value {other:?}")),
                Err(error) => Err(format!("{error:?}")),
            },
            Op::Set => client
                .set(
                    &data.keys[rng.below(KEY_COUNT)],
                    data.small.as_slice(),
                    None,
                    None,
                )
                .await
                .map_err(|error| format!("{error:?}")),
            Op::GetMany => {
                let first = rng.below(KEY_COUNT - MULTI_KEYS + 1);
                match client
                    .get_multi(&data.keys[first..first + MULTI_KEYS])
                    .await
                {
                    Ok(found) if found.len() == MULTI_KEYS => Ok(()),
                    Ok(found) => Err(format!("{} of {MULTI_KEYS} keys found", found.len())),
                    Err(error) => Err(format!("{error:?}")),
                }
            }
            Op::GetLarge => match client.get(LARGE_KEY).await {
                Ok(Some(value)) if value.data.as_ref().map(Vec::len) == Some(LARGE_VALUE) => Ok(()),
                Ok(_) => Err("unexpected large value".to_owned()),
                Err(error) => Err(format!("{error:?}")),
            },
            // Never planned: see [`has`].
            Op::SetMany => Err("async-memcached has no batched set".to_owned()),
        };
        // Its connection is unusable after a failure: the task ends there.
        if !stats.end_call(started, outcome) {
            break;
        }
    }
    stats.finish()
}
