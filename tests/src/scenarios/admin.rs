//! One-node commands: flush_all, version, stats, verbosity, cache_memlimit.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use memcache_core::{Error, NodeAddr, Runtime};

use super::support::{eventually, holders, prefix, sleep, Suite};
use crate::assert_err;
use crate::server::Memcached;

pub async fn flush_all<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("flush_all");
    let keys: Vec<String> = (0..5).map(|i| format!("{p}{i}")).collect();
    for key in &keys {
        client.set(key, "v").await.unwrap();
    }
    assert_eq!(client.get_many(&keys).await.unwrap().len(), 5);
    client.flush_all(server.addr().as_str()).await.unwrap();
    assert!(client.get_many(&keys).await.unwrap().is_empty());
    assert_eq!(server.stat("cmd_flush"), 1);
    // The node can be named by `NodeAddr` too, and the cache works after a flush.
    client.set(&keys[0], "again").await.unwrap();
    let node: NodeAddr = server.addr().parse().unwrap();
    client.flush_all(&node).await.unwrap();
    assert_eq!(client.get(&keys[0]).await.unwrap(), None);
    client.set(&keys[0], "after").await.unwrap();
    assert_eq!(client.get(&keys[0]).await.unwrap().unwrap().value, "after");
    // noreply: queued, and applied before the next request on the same connection.
    let single = suite
        .builder::<R>(&[&server])
        .max_connections(1)
        .build()
        .unwrap();
    single.flush_all(node).noreply().await.unwrap();
    assert_eq!(single.get(&keys[0]).await.unwrap(), None);
    assert_eq!(server.stat("cmd_flush"), 3);
}

/// Waits until the server's one-second clock has just ticked, so that what follows has
/// close to a full second before the next tick.
async fn align_to_server_clock<R: Runtime + Default>(server: &Memcached) {
    let time = |server: &Memcached| server.stat("time");
    let start = time(server);
    let deadline = Instant::now() + Duration::from_secs(3);
    while time(server) == start {
        assert!(Instant::now() < deadline, "server clock did not tick");
        sleep::<R>(Duration::from_millis(5)).await;
    }
}

/// `flush_all` with a delay, on one node of two: that node's items survive until the
/// delay passes, the other node's are untouched.
pub async fn flush_all_delayed<R: Runtime + Default>(suite: Suite) {
    let (a, b) = (Memcached::start(), Memcached::start());
    let client = suite.builder::<R>(&[&a, &b]).build().unwrap();
    let p = prefix("flush_delay");
    let keys: Vec<String> = (0..40).map(|i| format!("{p}{i}")).collect();
    for key in &keys {
        client.set(key, key).await.unwrap();
    }
    let on_a: HashSet<String> = keys
        .iter()
        .filter(|key| client.node_for(key).unwrap().to_string() == a.addr())
        .cloned()
        .collect();
    let on_b: HashSet<String> = keys
        .iter()
        .filter(|key| !on_a.contains(*key))
        .cloned()
        .collect();
    assert!(!on_a.is_empty() && !on_b.is_empty());
    assert_eq!(holders(&[&a, &b], &keys), vec![on_a.clone(), on_b.clone()]);

    // memcached applies the delay on its one-second clock (a 2 s delay takes effect one
    // to two seconds later), so start right after a tick to check "still there" safely.
    align_to_server_clock::<R>(&a).await;
    let flushed_at = Instant::now();
    client
        .flush_all(a.addr().as_str())
        .delay(Duration::from_secs(2))
        .await
        .unwrap();
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len(), "items vanished before the delay");
    assert!(flushed_at.elapsed() < Duration::from_millis(900));

    let gone = eventually::<R, _, _>(Duration::from_secs(5), || async {
        let found = client.get_many(&on_a).await.unwrap();
        found.is_empty()
    })
    .await;
    assert!(gone, "node A still has items 5 s after a 2 s delayed flush");
    // Not before the server's next tick (about a second after the flush).
    assert!(flushed_at.elapsed() >= Duration::from_millis(500));
    let found = client.get_many(&keys).await.unwrap();
    let found: HashSet<String> = found
        .keys()
        .map(|key| String::from_utf8(key.to_vec()).unwrap())
        .collect();
    assert_eq!(found, on_b);
    assert_eq!(b.stat("cmd_flush"), 0);
}

pub async fn version_and_stats<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start_with(&["-I", "2m"]);
    let client = suite.client::<R>(&server);
    let node = server.addr();
    let version = client.version(node.as_str()).await.unwrap();
    assert!(version.starts_with("1.6."), "{version}");
    assert_eq!(server.raw("version")[0], format!("VERSION {version}"));

    let stats = client.stats(node.as_str()).await.unwrap();
    assert_eq!(stats["pid"], server.pid().to_string());
    assert!(stats["uptime"].parse::<u64>().is_ok());
    assert_eq!(stats["version"], version);
    assert!(stats["curr_connections"].parse::<u64>().unwrap() >= 1);

    let settings = client
        .stats(node.as_str())
        .args(["settings"])
        .await
        .unwrap();
    assert_eq!(settings["item_size_max"], (2 * 1024 * 1024).to_string());
    assert_eq!(settings["maxbytes"], (64 * 1024 * 1024).to_string());
    let slabs = client.stats(node.as_str()).args(["slabs"]).await.unwrap();
    assert!(slabs.contains_key("active_slabs"), "{slabs:?}");
    let items = client.stats(&node).args(["items"]).await.unwrap();
    assert!(items.is_empty(), "no items yet: {items:?}");
    client.set("k", "v").await.unwrap();
    let items = client.stats(&node).args(["items"]).await.unwrap();
    assert!(
        items.keys().any(|name| name.ends_with(":number")),
        "{items:?}"
    );
    // A group the server does not know.
    assert_err!(
        client.stats(&node).args(["nonsense"]).await,
        Error::UnknownCommand(_)
    );
    // Still in step afterwards.
    assert_eq!(client.get("k").await.unwrap().unwrap().value, "v");
}

pub async fn verbosity_and_memlimit<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let node = server.addr();
    client.verbosity(node.as_str(), 1).await.unwrap();
    client.verbosity(node.as_str(), 0).await.unwrap();
    client.cache_memlimit(node.as_str(), 100).await.unwrap();
    let settings = client
        .stats(node.as_str())
        .args(["settings"])
        .await
        .unwrap();
    assert_eq!(settings["maxbytes"], (100 * 1024 * 1024).to_string());
    assert_err!(
        client.cache_memlimit(node.as_str(), 1).await,
        Error::Server(message) if message.starts_with("MEMLIMIT_TOO_SMALL")
    );
    let settings = client
        .stats(node.as_str())
        .args(["settings"])
        .await
        .unwrap();
    assert_eq!(settings["maxbytes"], (100 * 1024 * 1024).to_string());
    // In step afterwards.
    client.set("k", "v").await.unwrap();
    assert_eq!(client.get("k").await.unwrap().unwrap().value, "v");
}

pub async fn unknown_node<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let other = "127.0.0.1:1";
    assert_err!(client.flush_all(other).await, Error::UnknownNode(node) if node == other);
    assert_err!(client.version(other).await, Error::UnknownNode(node) if node == other);
    assert_err!(client.stats(other).await, Error::UnknownNode(node) if node == other);
    assert_err!(client.verbosity(other, 1).await, Error::UnknownNode(node) if node == other);
    assert_err!(
        client.cache_memlimit(other, 100).await,
        Error::UnknownNode(node) if node == other
    );
    // Not an address at all.
    assert_err!(
        client.version("not an address").await,
        Error::UnknownNode(node) if node == "not an address"
    );
    // `localhost:PORT` names a different node than `127.0.0.1:PORT`.
    let alias = format!("localhost:{}", server.port());
    assert_err!(client.version(alias.as_str()).await, Error::UnknownNode(node) if node == alias);
    // Nothing was sent.
    assert_eq!(server.stat("cmd_flush"), 0);
    assert!(client.version(server.addr().as_str()).await.is_ok());
}
