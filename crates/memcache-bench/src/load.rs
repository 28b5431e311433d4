//! The client side of each comparison: many tasks sharing one client, each awaiting one
//! operation at a time, as application code does.

use std::sync::Arc;
use std::time::Instant;

use memcache_core::Runtime;

use crate::data::{Data, Op, Rng, KEY_COUNT, LARGE_KEY, LARGE_VALUE, MULTI_KEYS, SMALL_VALUE};
use crate::stats::{Stop, TaskStats};

/// Runs `op` through `client` until `stop`, checking every answer.
pub(crate) async fn client_task<R: Runtime>(
    client: memcache_core::Client<R>,
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
                Ok(Some(item)) if item.value.len() == SMALL_VALUE => Ok(()),
                Ok(Some(item)) => Err(format!("value of {} bytes", item.value.len())),
                Ok(None) => Err("miss on a preloaded key".to_owned()),
                Err(error) => Err(error.to_string()),
            },
            Op::Set => client
                .set(&data.keys[rng.below(KEY_COUNT)], &data.small)
                .await
                .map_err(|error| error.to_string()),
            Op::GetMany => {
                let first = rng.below(KEY_COUNT - MULTI_KEYS + 1);
                match client.get_many(&data.keys[first..first + MULTI_KEYS]).await {
                    Ok(found) if found.len() == MULTI_KEYS => Ok(()),
                    Ok(found) => Err(format!("{} of {MULTI_KEYS} keys found", found.len())),
                    Err(error) => Err(error.to_string()),
                }
            }
            Op::GetLarge => match client.get(LARGE_KEY).await {
                Ok(Some(item)) if item.value.len() == LARGE_VALUE => Ok(()),
                Ok(Some(item)) => Err(format!("value of {} bytes", item.value.len())),
                Ok(None) => Err("miss on the large key".to_owned()),
                Err(error) => Err(error.to_string()),
            },
            Op::SetMany => {
                // Counted per key, not per call.
                set_many(&client, &data, &mut rng, &mut stats, started).await;
                continue;
            }
        };
        // A failed call is counted and the task goes on: the client recovers by itself.
        stats.end_call(started, outcome);
    }
    stats.finish()
}

/// One `set_many` of [`MULTI_KEYS`] consecutive keys, counted per key: each key whose
/// outcome is `Ok` is one operation, each other key (or every key, when the whole call
/// fails) one error.
async fn set_many<R: Runtime>(
    client: &memcache_core::Client<R>,
    data: &Data,
    rng: &mut Rng,
    stats: &mut TaskStats,
    started: Option<Instant>,
) {
    let first = rng.below(KEY_COUNT - MULTI_KEYS + 1);
    let keys = &data.keys[first..first + MULTI_KEYS];
    let items = keys.iter().map(|key| (key, &data.small));
    let all = MULTI_KEYS as u64;
    match client.set_many(items).await {
        Ok(results) => {
            let ok = results.values().filter(|outcome| outcome.is_ok()).count() as u64;
            // A key missing from the map is a failure too.
            let failed = all - ok.min(all);
            stats.end_keys(started, ok, failed, || {
                results
                    .iter()
                    .find_map(|(key, outcome)| {
                        let key = String::from_utf8_lossy(key);
                        outcome
                            .as_ref()
                            .err()
                            .map(|error| format!("{key}: {error}"))
                    })
                    .unwrap_or_else(|| format!("{} outcomes for {all} keys", results.len()))
            });
        }
        Err(error) => stats.end_keys(started, 0, all, || error.to_string()),
    }
}
