//! Several nodes: keys spread over all of them, each stored where routing says, and a
//! node going down.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use futures::future::join_all;
use memcache_core::{Client, Distribution, Error, Runtime};

use super::support::{eventually, holders, prefix, Suite};
use crate::assert_err;
use crate::server::Memcached;

/// Stores `keys` (value = key) with bounded concurrency.
pub(crate) async fn store_all<R: Runtime>(client: &Client<R>, keys: &[String]) {
    for chunk in keys.chunks(50) {
        for result in join_all(chunk.iter().map(|key| client.set(key, key).into_future())).await {
            result.unwrap();
        }
    }
}

/// The keys routing sends to each of `servers`, in order.
pub(crate) fn routed<R: Runtime>(
    client: &Client<R>,
    servers: &[&Memcached],
    keys: &[String],
) -> Vec<HashSet<String>> {
    servers
        .iter()
        .map(|server| keys_on(client, server, keys).into_iter().collect())
        .collect()
}

/// The keys of `keys` that routing sends to `server`, in their order.
pub(crate) fn keys_on<R: Runtime>(
    client: &Client<R>,
    server: &Memcached,
    keys: &[String],
) -> Vec<String> {
    keys.iter()
        .filter(|key| client.node_for(key).unwrap().to_string() == server.addr())
        .cloned()
        .collect()
}

async fn spread<R: Runtime + Default>(suite: Suite, distribution: Distribution, name: &str) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let servers: Vec<&Memcached> = servers.iter().collect();
    let client = suite
        .builder::<R>(&servers)
        .distribution(distribution)
        .build()
        .unwrap();
    let p = prefix(name);
    let keys: Vec<String> = (0..300).map(|i| format!("{p}{i}")).collect();
    store_all(&client, &keys).await;

    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for key in &keys {
        assert_eq!(found[key.as_bytes()].value, key.as_bytes());
    }
    let with_cas = client.gets_many(&keys).await.unwrap();
    assert_eq!(with_cas.len(), keys.len());
    assert!(with_cas.values().all(|item| item.cas.is_some()));

    let routed = routed(&client, &servers, &keys);
    for (server, keys) in servers.iter().zip(&routed) {
        // 300 keys over 3 nodes: each gets a fair share.
        assert!(
            keys.len() > 50,
            "{} got {} of 300 keys",
            server.addr(),
            keys.len()
        );
    }
    assert_eq!(
        routed.iter().map(HashSet::len).sum::<usize>(),
        keys.len(),
        "every key routes to exactly one node"
    );
    assert_eq!(
        holders(&servers, &keys),
        routed,
        "keys live where routing says"
    );
    for (server, keys) in servers.iter().zip(&routed) {
        assert_eq!(server.stat("curr_items"), keys.len() as u64);
    }
}

pub async fn spread_rendezvous<R: Runtime + Default>(suite: Suite) {
    spread::<R>(suite, Distribution::Rendezvous, "rendezvous").await;
}

pub async fn spread_ketama<R: Runtime + Default>(suite: Suite) {
    spread::<R>(suite, Distribution::Ketama, "ketama").await;
}

/// libmemcached's non-weighted ketama flavours (pylibmc `{"ketama": True}`, with and
/// without `"hash": "md5"`).
pub async fn spread_ketama_flavours<R: Runtime + Default>(suite: Suite) {
    spread::<R>(suite, Distribution::KetamaOneAtATime, "ketama_oaat").await;
    spread::<R>(suite, Distribution::KetamaMd5, "ketama_md5").await;
}

pub async fn node_down<R: Runtime + Default>(suite: Suite) {
    let mut servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let timeout = Duration::from_millis(800);
    let client = {
        let refs: Vec<&Memcached> = servers.iter().collect();
        suite
            .builder::<R>(&refs)
            .timeout(Some(timeout))
            .build()
            .unwrap()
    };
    let p = prefix("node_down");
    let keys: Vec<String> = (0..60).map(|i| format!("{p}{i}")).collect();
    store_all(&client, &keys).await;
    let routed = {
        let refs: Vec<&Memcached> = servers.iter().collect();
        routed(&client, &refs, &keys)
    };
    assert_eq!(client.get_many(&keys).await.unwrap().len(), keys.len());

    servers[1].kill();
    let started = Instant::now();
    let result = client.get_many(&keys).await;
    let elapsed = started.elapsed();
    assert_err!(result, Error::Connect { .. } | Error::ConnectionLost { .. });
    assert!(elapsed <= timeout, "failing took {elapsed:?}");

    // The other nodes still serve their keys.
    for key in routed[0].iter().chain(&routed[2]) {
        assert_eq!(
            client.get(key).await.unwrap().unwrap().value,
            key.as_bytes()
        );
    }
    // The dead node's keys fail fast, without waiting for the timeout.
    let dead_key = routed[1].iter().next().unwrap();
    let started = Instant::now();
    assert_err!(client.get(dead_key).await, Error::Connect { .. });
    assert!(started.elapsed() < timeout);

    // Back up (empty): the client reconnects on its own.
    servers[1].restart();
    let back = eventually::<R, _, _>(Duration::from_secs(10), || async {
        client.get_many(&keys).await.is_ok()
    })
    .await;
    assert!(back, "client did not reconnect to the restarted node");
    let found: HashSet<String> = client
        .get_many(&keys)
        .await
        .unwrap()
        .into_keys()
        .map(|key| String::from_utf8(key.to_vec()).unwrap())
        .collect();
    let survivors: HashSet<String> = routed[0].union(&routed[2]).cloned().collect();
    assert_eq!(found, survivors);
    client.set(dead_key, "again").await.unwrap();
    assert_eq!(servers[1].present(&[dead_key.as_str()]).len(), 1);
}

/// A call's routing key sends it to the node of that key, whatever its own keys: related
/// items stored under one routing key share a node, single and batched writes alike, and
/// one `get_many` naming the routing key finds them all.
pub async fn routing_key_keeps_items_together<R: Runtime + Default>(suite: Suite) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let servers: Vec<&Memcached> = servers.iter().collect();
    let client = suite.builder::<R>(&servers).build().unwrap();
    let p = prefix("routing_key");
    let owner = format!("{p}user:7");
    let home = client.node_for(&owner).unwrap().to_string();
    let singles: Vec<String> = (0..20).map(|i| format!("{p}single:{i}")).collect();
    let batched: Vec<String> = (0..20).map(|i| format!("{p}batched:{i}")).collect();
    for key in &singles {
        client.set(key, key).routing_key(&owner).await.unwrap();
    }
    let written = client
        .set_many(batched.iter().map(|key| (key, key)))
        .routing_key(&owner)
        .await
        .unwrap();
    assert!(written.values().all(Result::is_ok));
    client
        .append(&singles[0], "+")
        .routing_key(&owner)
        .await
        .unwrap();
    client
        .delete(&singles[1])
        .routing_key(&owner)
        .await
        .unwrap();

    let all: Vec<&String> = singles.iter().chain(&batched).collect();
    // Without the routing key the keys would spread over the three nodes.
    let spread: HashSet<String> = all
        .iter()
        .map(|key| client.node_for(key).unwrap().to_string())
        .collect();
    assert!(spread.len() > 1, "the keys' own nodes are {spread:?}");
    for server in &servers {
        let held = server.present(&all.iter().map(|key| key.as_str()).collect::<Vec<_>>());
        let expected = if server.addr() == home {
            all.len() - 1
        } else {
            0
        };
        assert_eq!(held.len(), expected, "{} holds {held:?}", server.addr());
    }
    let found = client.get_many(&all).routing_key(&owner).await.unwrap();
    assert_eq!(found.len(), all.len() - 1);
    assert_eq!(
        found[singles[0].as_bytes()].value,
        format!("{}+", singles[0]).as_bytes()
    );
    assert!(!found.contains_key(&singles[1]));
    let item = client.get(&batched[3]).routing_key(&owner).await.unwrap();
    assert_eq!(item.unwrap().value, batched[3].as_bytes());
}
