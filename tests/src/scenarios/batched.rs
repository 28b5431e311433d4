//! Batched writes: `set_many`, `add_many`, `delete_many`, `touch_many`.

use std::collections::HashMap;
use std::time::Duration;

use memcache_core::{Error, Runtime};

use super::cluster::routed;
use super::support::{prefix, Suite};
use crate::assert_err;
use crate::server::Memcached;

/// `count` keys under `p`, each with a value that names it; every seventh value is a few
/// kilobytes long.
fn items(p: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let key = format!("{p}{i}");
            let mut value = key.clone().into_bytes();
            if i % 7 == 0 {
                value.resize(6000 + i, b'v');
            }
            (key, value)
        })
        .collect()
}

pub async fn set_many_spreads_over_nodes<R: Runtime + Default>(suite: Suite) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let refs: Vec<&Memcached> = servers.iter().collect();
    let client = suite.builder::<R>(&refs).build().unwrap();
    let p = prefix("set_many");
    let items = items(&p, 400);
    let results = client
        .set_many(items.iter().map(|(k, v)| (k, v)))
        .flags(42)
        .ttl(Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(results.len(), items.len());
    for (key, result) in &results {
        assert!(result.is_ok(), "{key:?}: {result:?}");
    }
    let keys: Vec<&String> = items.iter().map(|(k, _)| k).collect();
    let found = client.get_many(&keys).return_flags().await.unwrap();
    assert_eq!(found.len(), items.len());
    for (key, value) in &items {
        let item = &found[key.as_bytes()];
        assert_eq!(item.value, &value[..], "{key}");
        assert_eq!(item.flags, Some(42));
    }
    // Every node got its share, with the expiration.
    let routed = routed(
        &client,
        &refs,
        &keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
    );
    for (server, keys) in servers.iter().zip(&routed) {
        assert!(!keys.is_empty());
        let key = keys.iter().next().unwrap();
        let ttl = server.ttl(key).expect("stored on its node");
        assert!((290..=301).contains(&ttl), "ttl {ttl}");
    }

    // A key given twice is stored once, with its last value.
    let key = format!("{p}twice");
    let results = client
        .set_many([(&key, "first"), (&key, "second")])
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[key.as_bytes()].is_ok());
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, "second");

    // Nothing to do is no round trip and no error.
    let none: [(&str, &str); 0] = [];
    assert!(client.set_many(none).await.unwrap().is_empty());
}

pub async fn add_many_reports_each_key<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("add_many");
    let keys: Vec<String> = (0..50).map(|i| format!("{p}{i}")).collect();
    for key in keys.iter().step_by(5) {
        client.set(key, "old").await.unwrap();
    }
    let results = client
        .add_many(keys.iter().map(|key| (key, "new")))
        .await
        .unwrap();
    assert_eq!(results.len(), keys.len());
    for (i, key) in keys.iter().enumerate() {
        let result = &results[key.as_bytes()];
        let value = client.get(key).await.unwrap().unwrap().value;
        if i % 5 == 0 {
            assert!(matches!(result, Err(Error::NotStored)), "{key}: {result:?}");
            assert_eq!(value, "old");
        } else {
            assert!(result.is_ok(), "{key}: {result:?}");
            assert_eq!(value, "new");
        }
    }
}

pub async fn delete_and_touch_many<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("delete_many");
    let keys: Vec<String> = (0..40).map(|i| format!("{p}{i}")).collect();
    let present: Vec<&String> = keys.iter().filter(|key| !key.ends_with('3')).collect();
    let stored = client
        .set_many(present.iter().map(|key| (*key, "x")))
        .await
        .unwrap();
    assert!(stored.values().all(Result::is_ok));

    let touched = client
        .touch_many(&keys, Duration::from_secs(500))
        .await
        .unwrap();
    assert_eq!(touched.len(), keys.len());
    for key in &keys {
        let result = &touched[key.as_bytes()];
        if key.ends_with('3') {
            assert!(matches!(result, Err(Error::NotFound)), "{key}: {result:?}");
            assert_eq!(server.ttl(key), None);
        } else {
            assert!(result.is_ok(), "{key}: {result:?}");
            let ttl = server.ttl(key).unwrap();
            assert!((490..=501).contains(&ttl), "ttl {ttl}");
        }
    }

    let deleted = client.delete_many(&keys).await.unwrap();
    assert_eq!(deleted.len(), keys.len());
    for key in &keys {
        let result = &deleted[key.as_bytes()];
        if key.ends_with('3') {
            assert!(matches!(result, Err(Error::NotFound)), "{key}: {result:?}");
        } else {
            assert!(result.is_ok(), "{key}: {result:?}");
        }
    }
    assert!(client.get_many(&keys).await.unwrap().is_empty());
}

pub async fn batches_split_by_count_and_size<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("split");
    // Over a thousand commands, and more bytes than one batch carries.
    let mut items: Vec<(String, Vec<u8>)> = (0..2500)
        .map(|i| (format!("{p}{i}"), format!("{i}").into_bytes()))
        .collect();
    items.extend((0..40).map(|i| (format!("{p}big{i}"), vec![b'a' + (i % 26) as u8; 20_000])));
    let results = client
        .set_many(items.iter().map(|(k, v)| (k, v)))
        .await
        .unwrap();
    assert_eq!(results.len(), items.len());
    assert!(results.values().all(Result::is_ok));
    let keys: Vec<&String> = items.iter().map(|(k, _)| k).collect();
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), items.len());
    for (key, value) in &items {
        assert_eq!(found[key.as_bytes()].value, &value[..], "{key}");
    }
    let deleted = client.delete_many(&keys).await.unwrap();
    assert!(deleted.values().all(Result::is_ok));
}

pub async fn one_failure_hides_nothing<R: Runtime + Default>(suite: Suite) {
    // The client accepts values the server (1 MiB items) refuses.
    let server = Memcached::start();
    let client = suite
        .builder::<R>(&[&server])
        .max_value_len(4 * 1024 * 1024)
        .build()
        .unwrap();
    let p = prefix("one_failure");
    let mut items: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("{p}{i}"), vec![b'x'; 10 + i * 300]))
        .collect();
    let too_large = format!("{p}too_large");
    items.insert(12, (too_large.clone(), vec![b'y'; 2 * 1024 * 1024]));
    let results = client
        .set_many(items.iter().map(|(k, v)| (k, v)))
        .await
        .unwrap();
    assert_eq!(results.len(), items.len());
    for (key, result) in &results {
        if key == too_large.as_bytes() {
            assert!(matches!(result, Err(Error::Server(_))), "{result:?}");
        } else {
            assert!(result.is_ok(), "{key:?}: {result:?}");
        }
    }
    assert_eq!(client.get(&too_large).await.unwrap(), None);
    assert_eq!(
        client.get(&items[0].0).await.unwrap().unwrap().value,
        &items[0].1[..]
    );

    // An invalid key refuses the whole call before anything is sent.
    let fresh = format!("{p}fresh");
    let result = client
        .set_many([(&fresh, "v"), (&format!("{p}{}", "k".repeat(250)), "v")])
        .await;
    assert_err!(result, Error::Invalid(_));
    assert_eq!(client.get(&fresh).await.unwrap(), None);
}

pub async fn node_down_fails_only_its_keys<R: Runtime + Default>(suite: Suite) {
    let mut servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let client = {
        let refs: Vec<&Memcached> = servers.iter().collect();
        suite
            .builder::<R>(&refs)
            .timeout(Some(Duration::from_millis(800)))
            .build()
            .unwrap()
    };
    let p = prefix("batch_node_down");
    let keys: Vec<String> = (0..90).map(|i| format!("{p}{i}")).collect();
    let routed = {
        let refs: Vec<&Memcached> = servers.iter().collect();
        routed(&client, &refs, &keys)
    };
    assert!(client.get("warm").await.is_ok());
    servers[1].kill();
    let results = client
        .set_many(keys.iter().map(|key| (key, key)))
        .await
        .unwrap();
    let mut outcomes: HashMap<bool, usize> = HashMap::new();
    for key in &keys {
        let result = &results[key.as_bytes()];
        if routed[1].contains(key) {
            assert!(
                matches!(
                    result,
                    Err(Error::Connect { .. } | Error::ConnectionLost { .. })
                ),
                "{key}: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "{key}: {result:?}");
        }
        *outcomes.entry(result.is_ok()).or_default() += 1;
    }
    assert_eq!(outcomes[&false], routed[1].len());
}

/// The client's only connection to `server`'s node: connections opened so far.
fn connections_created<R: Runtime>(client: &memcache_core::Client<R>) -> u64 {
    client
        .metrics()
        .iter()
        .map(|(_, metrics)| metrics.connections_created)
        .sum()
}

pub async fn a_server_error_fails_only_its_key<R: Runtime + Default>(suite: Suite) {
    // Items over 2 KiB are refused by the server, not by the client.
    let server = Memcached::start_with(&["-I", "2048", "-o", "slab_chunk_max=1024"]);
    let client = suite
        .builder::<R>(&[&server])
        .max_connections(1)
        .build()
        .unwrap();
    let p = prefix("server_error_key");
    let (small, large, last) = (format!("{p}small"), format!("{p}large"), format!("{p}last"));
    let items = [
        (&small, vec![b's'; 100]),
        (&large, vec![b'l'; 3000]),
        (&last, vec![b't'; 100]),
    ];
    let results = client
        .set_many(items.iter().map(|(k, v)| (*k, v)))
        .await
        .unwrap();
    // What a single `set` of each would have said.
    assert!(results[small.as_bytes()].is_ok(), "{results:?}");
    assert!(results[last.as_bytes()].is_ok(), "{results:?}");
    assert!(
        matches!(&results[large.as_bytes()], Err(Error::Server(message)) if message.contains("too large")),
        "{results:?}"
    );
    assert_err!(client.set(&large, vec![b'l'; 3000]).await, Error::Server(_));
    assert_eq!(client.get(&small).await.unwrap().unwrap().value.len(), 100);
    assert_eq!(client.get(&large).await.unwrap(), None);
    // The same connection served it all.
    assert_eq!(connections_created(&client), 1);
}

pub async fn a_full_server_hurts_no_other_caller<R: Runtime + Default>(suite: Suite) {
    // 4 MiB of memory and no eviction: stores start failing with "out of memory".
    let server = Memcached::start_with(&["-m", "4", "-M"]);
    let client = suite
        .builder::<R>(&[&server])
        .max_connections(1)
        .timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap();
    let p = prefix("full_server");
    let counter = format!("{p}counter");
    // Three digits all along: memcached increments in place, needing no memory.
    client.set(&counter, "100").await.unwrap();
    let value = vec![b'v'; 50_000];
    let fill = async {
        let mut refused = 0;
        for batch in 0..20 {
            let keys: Vec<String> = (0..10).map(|i| format!("{p}{batch}:{i}")).collect();
            let results = client
                .set_many(keys.iter().map(|key| (key, &value)))
                .await
                .unwrap();
            for (key, result) in &results {
                match result {
                    Ok(()) => {}
                    Err(Error::Server(message)) if message.contains("memory") => refused += 1,
                    other => panic!("{key:?}: {other:?}"),
                }
            }
        }
        refused
    };
    let count = async {
        let mut done = 0u64;
        for _ in 0..500 {
            // Every increment on the shared connection gets its own, real answer.
            done = client.increment(&counter, 1).await.unwrap();
        }
        done
    };
    let (refused, counted) = futures::join!(fill, count);
    assert!(refused > 0, "the server never filled up");
    assert_eq!(counted, 600);
    assert_eq!(client.get(&counter).await.unwrap().unwrap().value, "600");
    assert_eq!(connections_created(&client), 1);
}
