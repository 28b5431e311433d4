//! Autobatching: concurrent single-key gets queued together go out as one multi-key get,
//! and every caller still gets exactly its own item.

use std::future::IntoFuture;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use futures::future::join_all;
use memcache_it::proxy::Proxy;
use memcache_it::Memcached;
use memcache_tokio::Client;

/// Request lines the proxy forwarded on the client's one connection, up to now: sends a
/// `version` as a marker and collects lines until the proxy reports it (it reports one
/// connection's lines in order).
async fn drain_lines(client: &Client, proxy: &Proxy, lines: &Receiver<String>) -> Vec<String> {
    client.version(proxy.addr().as_str()).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(5))
            .expect("the proxy reports the marker");
        if line == "version" {
            return seen;
        }
        seen.push(line);
    }
}

/// One task submits every get before the connection's driver runs (current-thread
/// runtime), so they all meet in the inbox and merge.
#[tokio::test(flavor = "current_thread")]
async fn queued_gets_merge_and_every_caller_gets_its_own_item() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .autobatching(true)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    for i in 0..40 {
        client
            .set(format!("batch:{i}"), format!("value {i}"))
            .await
            .unwrap();
    }
    let lines = proxy.requests();
    drain_lines(&client, &proxy, &lines).await;

    // 40 distinct keys, a repeated key, and misses, all at once.
    let keys: Vec<String> = (0..40)
        .map(|i| format!("batch:{i}"))
        .chain(["batch:7".to_owned(), "batch:missing".to_owned()])
        .collect();
    let results = join_all(keys.iter().map(|key| client.get(key).into_future())).await;
    for (key, result) in keys.iter().zip(results) {
        let item = result.unwrap();
        match key.strip_prefix("batch:").unwrap().parse::<u32>() {
            Ok(i) => assert_eq!(item.unwrap().value, format!("value {i}"), "{key}"),
            Err(_) => assert!(item.is_none(), "{key}"),
        }
    }

    let gets: Vec<String> = drain_lines(&client, &proxy, &lines)
        .await
        .into_iter()
        .filter(|line| line.starts_with("get "))
        .collect();
    // 41 distinct keys in batches of at most 32 keys: two commands.
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        gets.iter().all(|line| line.split(' ').count() - 1 <= 32),
        "{gets:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn gets_batches_carry_cas_and_do_not_mix_with_get() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()])
        .autobatching_max_keys(8)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    for i in 0..10 {
        client.set(format!("cas:{i}"), "v").flags(i).await.unwrap();
    }
    let keys: Vec<String> = (0..10).map(|i| format!("cas:{i}")).collect();
    let (plain, with_cas) = futures::join!(
        join_all(
            keys.iter()
                .map(|key| client.get(key).return_flags().into_future())
        ),
        join_all(keys.iter().map(|key| client.gets(key).into_future()))
    );
    for (i, (plain, with_cas)) in plain.into_iter().zip(with_cas).enumerate() {
        let plain = plain.unwrap().unwrap();
        assert_eq!(plain.flags, Some(i as u32));
        assert_eq!(plain.cas, None);
        assert!(with_cas.unwrap().unwrap().cas.is_some());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_lone_get_is_not_delayed_or_changed() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .autobatching(true)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    client.set("lone", "x").await.unwrap();
    let lines = proxy.requests();
    drain_lines(&client, &proxy, &lines).await;
    assert_eq!(client.get("lone").await.unwrap().unwrap().value, "x");
    assert_eq!(
        drain_lines(&client, &proxy, &lines).await,
        vec!["get lone".to_owned()]
    );
}
