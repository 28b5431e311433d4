//! Resilience policies and request ergonomics against real memcached servers: builders as
//! futures, partial multi-key results, unavailable nodes read as misses, the retry policy,
//! node addresses in every form, and lookups of fetched items by `&str`.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use memcache_it::proxy::Proxy;
use memcache_it::Memcached;
use memcache_tokio::{keys, Client, Error, NodeAddr, Protocol, RetryPolicy};

/// The bound on operations that must succeed.
const LONG: Duration = Duration::from_secs(5);

/// An address nothing listens on: connecting to it is refused at once.
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.to_string()
}

/// A client of a live node and a dead one, which fails fast and stays in routing.
fn live_and_dead(live: &Memcached, dead: &str) -> memcache_tokio::ClientBuilder {
    Client::builder([live.addr(), dead.to_owned()])
        .timeout(Some(LONG))
        .connect_timeout(Duration::from_millis(500))
        .min_connections(0)
}

/// The keys of `keys` that route to the live node: the ones a `set` succeeds for.
async fn keys_on_live_node(client: &Client, keys: &[String]) -> Vec<String> {
    let mut live = Vec::new();
    for key in keys {
        if client.set(key, "v").await.is_ok() {
            live.push(key.clone());
        }
    }
    live
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("resilience:{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builders_are_futures_for_combinators() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()]).build().unwrap();
    // join_all and FuturesUnordered take futures, not IntoFuture values.
    let stored = futures::future::join_all(
        (0..20).map(|i| client.set(format!("fut:{i}"), i.to_string()).send()),
    )
    .await;
    assert!(stored.iter().all(Result::is_ok), "{stored:?}");
    let (a, b) = futures::join!(client.get("fut:1").send(), client.get("fut:2").send());
    assert_eq!(a.unwrap().unwrap().value, "1");
    assert_eq!(b.unwrap().unwrap().value, "2");
    let values: Vec<_> = stream::iter(0..20)
        .map(|i| client.get(format!("fut:{i}")).send())
        .buffer_unordered(4)
        .collect()
        .await;
    assert_eq!(
        values.iter().filter(|v| matches!(v, Ok(Some(_)))).count(),
        20
    );
    // A spawned task needs a 'static future: a clone of the client moved in.
    let owned = client.clone();
    let spawned = tokio::spawn(async move { owned.increment("fut:3", 4).send().await });
    assert_eq!(spawned.await.unwrap().unwrap(), 7);
    // Every kind of builder has it.
    client
        .touch("fut:3", Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    client.delete("fut:3").send().await.unwrap();
    client.version(server.addr()).send().await.unwrap();
    client.get_many(["fut:1"]).partial().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_items_are_looked_up_by_str_bytes_or_string() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()]).build().unwrap();
    client.set("a", "1").await.unwrap();
    client.set("bb", "2").await.unwrap();
    let found = client.get_many(["a", "bb", "missing"]).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found.get("a").unwrap().value, "1");
    assert_eq!(found.value(b"bb").unwrap(), "2");
    assert_eq!(found.get(String::from("bb")).unwrap().value, "2");
    assert!(!found.contains_key("missing"));
    // Byte-string keys of one length, of different lengths (keys!, or the first a
    // slice), and mixed with text.
    let same = client.get_many([b"a", b"b"]).await.unwrap();
    assert_eq!(same.len(), 1);
    let raw = client.get_many(keys![b"a", b"bb"]).await.unwrap();
    assert_eq!(raw.len(), 2);
    let sliced = client.get_many([&b"a"[..], b"bb"]).await.unwrap();
    assert_eq!(sliced, raw);
    let owned = String::from("bb");
    let mixed = client
        .get_many(keys![b"a", "missing", owned])
        .await
        .unwrap();
    assert_eq!(mixed, raw);
    let deleted = client.delete_many(keys![b"a", b"bb"]).await.unwrap();
    assert!(deleted.values().all(Result::is_ok), "{deleted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_get_many_returns_what_reachable_nodes_had() {
    let server = Memcached::start();
    let dead = dead_addr();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let client = live_and_dead(&server, &dead)
            .protocol(protocol)
            .build()
            .unwrap();
        let all = keys(40);
        let live = keys_on_live_node(&client, &all).await;
        assert!(
            !live.is_empty() && live.len() < all.len(),
            "keys on both nodes"
        );

        // Strict by default: the dead node fails the call.
        let strict = client.get_many(&all).await;
        assert!(
            matches!(strict, Err(Error::Connect { .. })),
            "{protocol:?}: {strict:?}"
        );

        let partial = client.get_many(&all).partial().await.unwrap();
        assert!(!partial.is_complete());
        let mut found: Vec<String> = partial
            .items
            .keys()
            .map(|key| String::from_utf8(key.to_vec()).unwrap())
            .collect();
        found.sort();
        let mut expected = live.clone();
        expected.sort();
        assert_eq!(found, expected, "{protocol:?}");
        assert_eq!(partial.errors.len(), 1, "{:?}", partial.errors);
        let (node, error) = &partial.errors[0];
        assert_eq!(node, &NodeAddr::parse(&dead).unwrap());
        assert!(matches!(error, Error::Connect { .. }), "{error:?}");

        // Invalid keys still fail the whole call before anything is sent.
        let too_long = "k".repeat(251);
        let invalid = client.get_many([too_long]).partial().await;
        assert!(matches!(invalid, Err(Error::Invalid(_))), "{invalid:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_node_reads_as_misses_when_asked() {
    let server = Memcached::start();
    let dead = dead_addr();
    let client = live_and_dead(&server, &dead)
        .miss_on_unavailable(true)
        .build()
        .unwrap();
    let all = keys(40);
    let live = keys_on_live_node(&client, &all).await;
    let on_dead: Vec<&String> = all.iter().filter(|key| !live.contains(key)).collect();
    assert!(!on_dead.is_empty());

    // Single reads of the dead node's keys are misses, the live node's are hits.
    assert_eq!(client.get(on_dead[0]).await.unwrap(), None);
    assert!(client.get(&live[0]).await.unwrap().is_some());
    // Multi-key reads have the live node's items and no error.
    let found = client.get_many(&all).await.unwrap();
    assert_eq!(found.len(), live.len());
    // Writes still fail.
    assert!(matches!(
        client.set(on_dead[0], "v").await,
        Err(Error::Connect { .. })
    ));
    // Bad input is still an error, not a miss.
    assert!(matches!(
        client.get("has space").await,
        Err(Error::Invalid(_))
    ));
    let dead_node = NodeAddr::parse(&dead).unwrap();
    let counted = client
        .metrics()
        .into_iter()
        .find(|(node, _)| *node == dead_node)
        .map(|(_, metrics)| metrics.unavailable_misses)
        .unwrap();
    assert_eq!(
        counted, 2,
        "one single read and one multi-key read answered as misses"
    );
}

/// A client of one node through `proxy`, one connection, with `retry`.
fn proxied(proxy: &Proxy, retry: Option<RetryPolicy>) -> Client {
    let builder = Client::builder([proxy.addr()])
        .timeout(Some(LONG))
        .min_connections(0)
        .max_connections(1);
    match retry {
        Some(policy) => builder.retry(policy),
        None => builder,
    }
    .build()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_retried_after_a_lost_connection_writes_are_not() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let policy = RetryPolicy::new(2).backoff(Duration::from_millis(1), Duration::from_millis(5));

    // Without a policy the read fails with the connection.
    let plain = proxied(&proxy, None);
    plain.set("counter", "5").await.unwrap();
    proxy.truncate_after(0);
    let lost = plain.get("counter").await;
    assert!(
        matches!(lost, Err(Error::ConnectionLost { .. })),
        "{lost:?}"
    );

    // With one, the read is sent again on a fresh connection. (The connection is
    // established first: a connection that fails while opening puts the node in its
    // reconnect backoff, which fails retries at once until it ends.)
    let retrying = proxied(&proxy, Some(policy));
    retrying.get("counter").await.unwrap();
    let before = proxy.connections();
    proxy.truncate_after(0);
    let item = retrying.get("counter").await.unwrap().unwrap();
    assert_eq!(item.value, "5");
    assert!(
        proxy.connections() > before,
        "a fresh connection carried the retry"
    );

    // An increment that reached the server is not sent twice: it fails, and ran once.
    proxy.truncate_after(0);
    let lost = retrying.increment("counter", 1).await;
    assert!(
        matches!(lost, Err(Error::ConnectionLost { .. })),
        "{lost:?}"
    );
    assert_eq!(retrying.get("counter").await.unwrap().unwrap().value, "6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_within_the_callers_timeout() {
    let dead = dead_addr();
    let policy =
        RetryPolicy::new(1000).backoff(Duration::from_millis(20), Duration::from_millis(20));
    let client = Client::builder([dead])
        .timeout(Some(Duration::from_millis(300)))
        .retry(policy)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let failed = client.get("k").await;
    assert!(failed.is_err());
    // 1000 retries of 10-20 ms would take far longer than the timeout.
    assert!(started.elapsed() < LONG, "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_given_in_every_form() {
    let server = Memcached::start();
    let port = server.port();
    let forms: Vec<Client> = vec![
        Client::builder([NodeAddr::tcp("127.0.0.1", port)])
            .build()
            .unwrap(),
        Client::builder(vec![format!("127.0.0.1:{port}")])
            .build()
            .unwrap(),
        Client::builder([format!("memcache://127.0.0.1:{port}")])
            .build()
            .unwrap(),
        Client::builder(Vec::<NodeAddr>::new())
            .node(NodeAddr::tcp("127.0.0.1", port), 1)
            .build()
            .unwrap(),
    ];
    forms[0].set("form", "x").await.unwrap();
    for client in &forms {
        assert_eq!(client.get("form").await.unwrap().unwrap().value, "x");
        let node = &client.nodes()[0];
        assert_eq!(node, &NodeAddr::tcp("127.0.0.1", port));
        client.version(node).await.unwrap();
        client.version(node.to_string()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_takes_a_timeout_like_every_operation() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()]).build().unwrap();
    client.set("inv", "old").await.unwrap();
    client
        .invalidate("inv", Duration::from_secs(30))
        .timeout(LONG)
        .await
        .unwrap();
    proxy.blackhole(true);
    let timed_out = client
        .invalidate("inv", Duration::from_secs(30))
        .timeout(Duration::from_millis(50))
        .await;
    assert!(
        matches!(timed_out, Err(Error::Timeout { .. })),
        "{timed_out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_delays_only_its_own_keys_of_a_batched_store() {
    let server = Memcached::start();
    let hole = memcache_it::scenarios::support::Blackhole::start();
    // Connecting to the silent node outlasts the call: its question takes the whole timeout.
    let client = Client::builder([server.addr(), hole.addr()])
        .timeout(Some(Duration::from_millis(800)))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let keys = keys(40);
    let items: Vec<(String, &str)> = keys.iter().map(|key| (key.clone(), "v")).collect();
    let results = client.set_many(items).await.unwrap();
    let live = server.addr();
    let (mut on_live, mut on_hole) = (0, 0);
    for key in &keys {
        let outcome = &results[key.as_bytes()];
        if client.node_for(key).unwrap().to_string() == live {
            on_live += 1;
            // The silent node's question about meta commands holds up nobody else.
            assert!(outcome.is_ok(), "{key}: {outcome:?}");
        } else {
            on_hole += 1;
            assert!(
                matches!(
                    outcome,
                    Err(Error::Timeout { written: false, .. } | Error::Connect { .. })
                ),
                "{key}: {outcome:?}"
            );
        }
    }
    assert!(
        on_live > 0 && on_hole > 0,
        "{on_live} live, {on_hole} silent"
    );
}
