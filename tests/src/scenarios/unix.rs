//! Unix socket nodes, alone and mixed with TCP nodes.

use std::time::Duration;

use memcache_core::{Error, Runtime};

use super::cluster::{routed, store_all};
use super::support::{holders, prefix, Suite};
use crate::assert_err;
use crate::server::Memcached;

pub async fn unix_socket_basics<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start_unix();
    assert!(server.addr().starts_with('/'));
    let client = suite.client::<R>(&server);
    let node = server.addr();
    let p = prefix("unix");
    let (key, n, missing) = (format!("{p}k"), format!("{p}n"), format!("{p}missing"));

    client.set(&key, "v").flags(6).await.unwrap();
    let got = client.get(&key).return_flags().await.unwrap().unwrap();
    assert_eq!((got.value.as_ref(), got.flags), (&b"v"[..], Some(6)));
    assert_err!(client.add(&key, "x").await, Error::NotStored);
    assert_err!(client.replace(&missing, "x").await, Error::NotStored);
    client.append(&key, "w").await.unwrap();
    client.prepend(&key, "u").await.unwrap();
    let cas = client.gets(&key).await.unwrap().unwrap().cas.unwrap();
    client.cas(&key, "swapped", cas).await.unwrap();
    assert_err!(client.cas(&key, "stale", cas).await, Error::Exists);
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, "swapped");
    client.set(&n, "41").await.unwrap();
    assert_eq!(client.increment(&n, 1).await.unwrap(), 42);
    assert_eq!(client.decrement(&n, 2).await.unwrap(), 40);
    assert_err!(client.increment(&missing, 1).await, Error::NotFound);
    client.touch(&key, Duration::from_secs(100)).await.unwrap();
    let got = client
        .gat(&key, Duration::from_secs(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.value, "swapped");
    let found = client.get_many([&key, &n, &missing]).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[n.as_bytes()].value, "40");
    client.delete(&n).await.unwrap();
    assert_err!(client.delete(&n).await, Error::NotFound);
    client.set(&n, "noreply").noreply().await.unwrap();

    let version = client.version(node.as_str()).await.unwrap();
    assert!(version.starts_with("1.6."));
    let stats = client.stats(node.as_str()).await.unwrap();
    assert_eq!(stats["pid"], server.pid().to_string());
    client.flush_all(node.as_str()).await.unwrap();
    assert!(client.get_many([&key, &n]).await.unwrap().is_empty());

    // Closing half-closes the socket and waits for the server's end of stream: the drain
    // completes, it is not cut at its bound.
    client.close().await;
    let metrics = client.metrics()[0].1;
    assert!(metrics.drains_completed >= 1, "{metrics:?}");
    assert_eq!(metrics.drains_cut, 0, "{metrics:?}");
}

pub async fn mixed_tcp_and_unix<R: Runtime + Default>(suite: Suite) {
    let (tcp, unix) = (Memcached::start(), Memcached::start_unix());
    let servers = [&tcp, &unix];
    let client = suite.builder::<R>(&servers).build().unwrap();
    let p = prefix("mixed");
    let keys: Vec<String> = (0..100).map(|i| format!("{p}{i}")).collect();
    store_all(&client, &keys).await;
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for key in &keys {
        assert_eq!(found[key.as_bytes()].value, key.as_bytes());
    }
    let routed = routed(&client, &servers, &keys);
    assert!(routed.iter().all(|keys| keys.len() > 20), "{routed:?}");
    assert_eq!(holders(&servers, &keys), routed);
}
