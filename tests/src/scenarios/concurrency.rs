//! Many tasks sharing one client: every reply goes to the request that asked for it.

use std::collections::HashMap;
use std::future::IntoFuture;

use futures::future::join_all;
use memcache_core::{Client, Error, Runtime};

use super::support::{prefix, spawn, Rng, Suite};
use crate::server::Memcached;

const TASKS: usize = 64;
const OPS: usize = 200;
const KEYS_PER_TASK: usize = 4;

/// What one task did, for checking the server's counters.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    stores: u64,
    keys_fetched: u64,
    deletes: u64,
}

/// One task's workload: random operations on its own keys, each reply checked against a
/// local model of what the keys hold.
async fn worker<R: Runtime>(client: Client<R>, prefix: String, task: usize) -> Tally {
    let mut rng = Rng::new(task as u64 + 1);
    let keys: Vec<String> = (0..KEYS_PER_TASK)
        .map(|k| format!("{prefix}{task}:{k}"))
        .collect();
    let mut model: Vec<Option<Vec<u8>>> = vec![None; KEYS_PER_TASK];
    let mut tally = Tally::default();
    for op in 0..OPS {
        let k = rng.below(KEYS_PER_TASK as u64) as usize;
        let key = &keys[k];
        let context = format!("task {task} op {op} key {key}");
        match rng.below(100) {
            0..=39 => {
                let len = rng.below(4096) as usize;
                let mut value = format!("{task}:{op}:").into_bytes();
                value.extend(rng.bytes(len));
                value.truncate(len);
                client.set(key, &value).await.expect(&context);
                model[k] = Some(value);
                tally.stores += 1;
            }
            40..=74 => {
                let got = client.get(key).await.expect(&context);
                assert_eq!(got.map(|item| item.value.to_vec()), model[k], "{context}");
                tally.keys_fetched += 1;
            }
            75..=84 => {
                let found = client.get_many(&keys).await.expect(&context);
                let expected: HashMap<&[u8], &[u8]> = keys
                    .iter()
                    .zip(&model)
                    .filter_map(|(key, value)| Some((key.as_bytes(), value.as_deref()?)))
                    .collect();
                let got: HashMap<&[u8], &[u8]> = found
                    .iter()
                    .map(|(key, item)| (key.as_ref(), item.value.as_ref()))
                    .collect();
                assert_eq!(got, expected, "{context}");
                tally.keys_fetched += KEYS_PER_TASK as u64;
            }
            85..=94 => {
                let result = client.delete(key).await;
                match (&model[k], result) {
                    (Some(_), Ok(())) | (None, Err(Error::NotFound)) => {}
                    (expected, result) => {
                        panic!("{context}: delete gave {result:?}, key held {expected:?}")
                    }
                }
                model[k] = None;
                tally.deletes += 1;
            }
            _ => {
                let value = format!("added by {task} at {op}").into_bytes();
                let result = client.add(key, &value).await;
                match (&model[k], result) {
                    (None, Ok(())) => model[k] = Some(value),
                    (Some(_), Err(Error::NotStored)) => {}
                    (expected, result) => {
                        panic!("{context}: add gave {result:?}, key held {expected:?}")
                    }
                }
                tally.stores += 1;
            }
        }
    }
    tally
}

/// 64 tasks spawned on the runtime, 200 operations each, one client with at most two
/// connections.
pub async fn many_tasks_one_client<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite
        .builder::<R>(&[&server])
        .max_connections(2)
        .build()
        .unwrap();
    let runtime = R::default();
    let p = prefix("many_tasks");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| spawn(&runtime, worker(client.clone(), p.clone(), task)))
        .collect();
    let tallies = join_all(tasks).await;
    let total = tallies.iter().fold(Tally::default(), |sum, t| Tally {
        stores: sum.stores + t.stores,
        keys_fetched: sum.keys_fetched + t.keys_fetched,
        deletes: sum.deletes + t.deletes,
    });
    // The server saw each request exactly once.
    let stats = server.stats("");
    let stat = |name: &str| stats[name].parse::<u64>().unwrap();
    assert_eq!(stat("cmd_set"), total.stores);
    assert_eq!(stat("cmd_get"), total.keys_fetched);
    assert_eq!(stat("delete_hits") + stat("delete_misses"), total.deletes);
    let metrics = client.metrics()[0].1;
    assert!(metrics.connections_created <= 2, "{metrics:?}");
    assert_eq!(metrics.connections_closed, 0, "{metrics:?}");
}

/// Hundreds of requests in flight from one task at once (pipelined on one connection).
pub async fn pipelined_on_one_task<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite
        .builder::<R>(&[&server])
        .max_connections(1)
        .build()
        .unwrap();
    let p = prefix("pipelined");
    let mut rng = Rng::new(99);
    let entries: Vec<(String, Vec<u8>)> = (0..500)
        .map(|i| {
            let len = rng.below(4096) as usize;
            (format!("{p}{i}"), rng.bytes(len))
        })
        .collect();
    let sets = entries
        .iter()
        .map(|(key, value)| client.set(key, value).into_future());
    for result in join_all(sets).await {
        result.unwrap();
    }
    let gets = entries.iter().map(|(key, _)| client.get(key).into_future());
    for ((key, value), got) in entries.iter().zip(join_all(gets).await) {
        assert!(got.unwrap().unwrap().value == *value, "{key}");
    }
    // Sets and gets of the same keys interleaved: each get sees the set before it.
    let mixed = entries.iter().map(|(key, value)| {
        let client = &client;
        async move {
            let fresh = [value.as_slice(), b"!"].concat();
            client.set(key, &fresh).await.unwrap();
            let got = client.get(key).await.unwrap().unwrap();
            assert!(got.value == fresh, "{key}");
        }
    });
    join_all(mixed).await;
    let keys: Vec<&String> = entries.iter().map(|(key, _)| key).collect();
    assert_eq!(client.get_many(keys).await.unwrap().len(), entries.len());
    assert_eq!(client.metrics()[0].1.connections_created, 1);
}

/// Many tasks incrementing one counter while fetching a shared set of keys.
pub async fn get_many_and_incr<R: Runtime + Default>(suite: Suite) {
    const WORKERS: u64 = 32;
    const ROUNDS: u64 = 50;
    let server = Memcached::start();
    let client = suite.builder::<R>(&[&server]).build().unwrap();
    let runtime = R::default();
    let p = prefix("incr_many");
    let counter = format!("{p}counter");
    let fixtures: Vec<String> = (0..40).map(|i| format!("{p}fixture{i}")).collect();
    client.set(&counter, "0").await.unwrap();
    for key in &fixtures {
        client.set(key, key).await.unwrap();
    }
    let tasks: Vec<_> = (0..WORKERS)
        .map(|task| {
            let (client, counter, fixtures) = (client.clone(), counter.clone(), fixtures.clone());
            spawn(&runtime, async move {
                let mut rng = Rng::new(1000 + task);
                let mut last = 0;
                for round in 0..ROUNDS {
                    let value = client.increment(&counter, task + 1).await.unwrap();
                    assert!(
                        value > last,
                        "task {task} round {round}: {value} after {last}"
                    );
                    last = value;
                    let start = rng.below(30) as usize;
                    let wanted = &fixtures[start..start + 10];
                    let found = client.get_many(wanted).await.unwrap();
                    assert_eq!(found.len(), wanted.len());
                    for key in wanted {
                        assert_eq!(found[key.as_bytes()].value, key.as_bytes());
                    }
                }
            })
        })
        .collect();
    join_all(tasks).await;
    let expected: u64 = (1..=WORKERS).map(|delta| delta * ROUNDS).sum();
    assert_eq!(client.increment(&counter, 0).await.unwrap(), expected);
    assert_eq!(
        client.get(&counter).await.unwrap().unwrap().value,
        expected.to_string()
    );
}
