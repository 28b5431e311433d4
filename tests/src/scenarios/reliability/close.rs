//! Shutting a client down: `close()` lets calls in flight finish within the grace period,
//! refuses new ones with `Error::Closed` and closes every socket; dropping the last clone
//! closes the sockets too.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use futures::future::{join_all, ready, BoxFuture};
use futures::FutureExt;
use memcache_core::{Client, Error, Item, Protocol, Runtime};

use crate::assert_err;
use crate::proxy::Proxy;
use crate::scenarios::support::{eventually, prefix, spawn, within, Suite};
use crate::server::Memcached;

/// The bound on calls and waits that must not take long.
const LENIENT: Duration = Duration::from_secs(5);
/// How soon a refused call must fail.
const PROMPT: Duration = Duration::from_secs(1);
/// Calls held in flight while the client closes.
const IN_FLIGHT: usize = 8;

/// Waits until the proxy has forwarded every line of `wanted` (in any order).
async fn wait_lines<R: Runtime + Default>(lines: &Receiver<String>, wanted: &[String]) {
    let mut missing: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let seen = eventually::<R, _, _>(LENIENT, || {
        while let Ok(line) = lines.try_recv() {
            // A meta request line goes on with its flags after the key.
            let request = |wanted: &&str| {
                line.strip_prefix(*wanted)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            };
            if let Some(at) = missing.iter().position(request) {
                missing.swap_remove(at);
            }
        }
        ready(missing.is_empty())
    })
    .await;
    assert!(seen, "requests never reached the server: {missing:?}");
}

/// Waits until the server holds as many connections as `before` (both counts include the
/// connection that asks).
async fn connections_back_to<R: Runtime + Default>(server: &Memcached, before: u64) {
    let back =
        eventually::<R, _, _>(LENIENT, || ready(server.stat("curr_connections") == before)).await;
    assert!(
        back,
        "the server still has {} connections, {before} before the client",
        server.stat("curr_connections")
    );
}

/// A client of `proxy` with `grace`, with keys `0..IN_FLIGHT` set to their names.
async fn client_with_keys<R: Runtime + Default>(
    suite: Suite,
    proxy: &Proxy,
    grace: Duration,
) -> (Client<R>, Vec<String>) {
    // Without write coalescing, every held get is written (and seen by the proxy) even
    // while the replies to those ahead of it are held.
    let client = suite
        .builder_of::<R>([proxy.addr()])
        .timeout(LENIENT)
        .close_grace(grace)
        .max_connections(2)
        .coalesce_writes(false)
        .connect()
        .await
        .expect("connect");
    let p = prefix("close");
    let keys: Vec<String> = (0..IN_FLIGHT).map(|i| format!("{p}{i}")).collect();
    for key in &keys {
        client.set(key, key).await.expect("set");
    }
    (client, keys)
}

/// Starts a `get` of every key while the proxy holds the replies, and waits until they
/// all reached the server.
async fn held_gets<R: Runtime + Default>(
    suite: Suite,
    client: &Client<R>,
    proxy: &Proxy,
    keys: &[String],
) -> Vec<BoxFuture<'static, Result<Option<Item>, Error>>> {
    let lines = proxy.requests();
    proxy.hold();
    let runtime = R::default();
    let calls = keys
        .iter()
        .map(|key| {
            let (client, key) = (client.clone(), key.clone());
            spawn(&runtime, async move { client.get(&key).await }).boxed()
        })
        .collect();
    let command = match suite.protocol {
        Protocol::Text => "get",
        _ => "mg",
    };
    let wanted: Vec<String> = keys.iter().map(|key| format!("{command} {key}")).collect();
    wait_lines::<R>(&lines, &wanted).await;
    calls
}

pub async fn close_graceful<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let before = server.stat("curr_connections");
    let proxy = Proxy::start(server.port());
    let (client, keys) = client_with_keys::<R>(suite, &proxy, Duration::from_secs(5)).await;
    let calls = held_gets(suite, &client, &proxy, &keys).await;

    let started = Instant::now();
    let closing = client.close();
    futures::pin_mut!(closing);
    // Calls are in flight: closing waits for them.
    assert!(futures::poll!(closing.as_mut()).is_pending());
    // Meanwhile nothing new is taken.
    let refused = within::<R, _>(PROMPT, async {
        (
            client.get(&keys[0]).await,
            client.set("after-close", "x").await,
            client.get_many(&keys).await,
        )
    })
    .await;
    assert_err!(refused.0, Error::Closed);
    assert_err!(refused.1, Error::Closed);
    assert_err!(refused.2, Error::Closed);

    proxy.release();
    for (key, result) in keys
        .iter()
        .zip(within::<R, _>(LENIENT, join_all(calls)).await)
    {
        let item = result.unwrap_or_else(|error| panic!("in-flight get {key}: {error:?}"));
        assert_eq!(item.map(|item| item.value), Some(key.clone().into()));
    }
    within::<R, _>(LENIENT, closing).await;
    assert!(started.elapsed() < LENIENT, "{:?}", started.elapsed());

    // Closed for good, and closing again is harmless.
    assert_err!(client.get(&keys[0]).await, Error::Closed);
    assert_err!(client.delete(&keys[0]).await, Error::Closed);
    within::<R, _>(PROMPT, client.close()).await;
    assert_err!(client.clone().set("k", "v").await, Error::Closed);

    connections_back_to::<R>(&server, before).await;
    let sockets_gone =
        eventually::<R, _, _>(LENIENT, || ready(proxy.open_connections() == 0)).await;
    assert!(
        sockets_gone,
        "{} proxy connections open",
        proxy.open_connections()
    );
    assert_eq!(client.metrics()[0].1.connections, 0);
}

/// Calls still in flight when the grace period ends fail (they do not keep `close`
/// waiting, nor wait for their own timeout).
pub async fn close_grace_expires<R: Runtime + Default>(suite: Suite) {
    let grace = Duration::from_millis(300);
    let server = Memcached::start();
    let before = server.stat("curr_connections");
    let proxy = Proxy::start(server.port());
    let (client, keys) = client_with_keys::<R>(suite, &proxy, grace).await;
    let calls = held_gets(suite, &client, &proxy, &keys).await;

    let started = Instant::now();
    within::<R, _>(grace + LENIENT / 2, client.close()).await;
    let took = started.elapsed();
    assert!(
        took >= grace - Duration::from_millis(50),
        "closed after {took:?}"
    );
    let results = within::<R, _>(PROMPT, join_all(calls)).await;
    for (key, result) in keys.iter().zip(results) {
        assert!(
            matches!(result, Err(Error::Closed | Error::ConnectionLost { .. })),
            "in-flight get {key} past the grace: {result:?}"
        );
    }
    assert_err!(client.get(&keys[0]).await, Error::Closed);
    proxy.release();
    connections_back_to::<R>(&server, before).await;
}

/// Dropping every clone of a client closes its connections, the minimum included.
pub async fn drop_closes_connections<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let before = server.stat("curr_connections");
    let client = suite
        .builder::<R>(&[&server])
        .timeout(LENIENT)
        .min_connections(3)
        .max_connections(3)
        .connect()
        .await
        .expect("connect");
    let opened = eventually::<R, _, _>(LENIENT, || {
        ready(server.stat("curr_connections") == before + 3)
    })
    .await;
    assert!(opened, "the minimum connections did not open");
    let clone = client.clone();
    drop(client);
    // A clone keeps the client alive.
    clone.set("drop:k", "v").await.expect("set");
    assert_eq!(server.stat("curr_connections"), before + 3);
    drop(clone);
    connections_back_to::<R>(&server, before).await;
}

/// A connection the client closes as stuck still delivers what was written on it: with the
/// server suspended while two large replies and a `noreply` write are in flight, the
/// client half-closes and drains instead of resetting, so once the server resumes it reads
/// the write and stores the key.
pub async fn stuck_close_delivers_written_noreply<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite
        .builder::<R>(&[&server])
        .timeout(Some(Duration::from_millis(300)))
        .min_connections(0)
        .max_connections(1)
        // Every request written as it is made, behind the ones not answered yet.
        .coalesce_writes(false)
        .build()
        .unwrap();
    let p = prefix("stuck_close");
    let (big, key) = (format!("{p}big"), format!("{p}k"));
    client.set(&big, vec![b'b'; 900_000]).await.unwrap();
    let metrics = |client: &Client<R>| client.metrics()[0].1;

    server.stop();
    let before = metrics(&client).requests;
    let runtime = R::default();
    let gets: Vec<_> = (0..2)
        .map(|_| {
            let (client, big) = (client.clone(), big.clone());
            spawn(&runtime, async move { client.get(&big).await })
        })
        .collect();
    let placed =
        eventually::<R, _, _>(LENIENT, || ready(metrics(&client).requests >= before + 2)).await;
    assert!(placed, "the gets never reached the connection");
    client.set(&key, "v").noreply().await.unwrap();
    for get in gets {
        let result = get.await;
        assert!(
            matches!(result, Err(Error::Timeout { written: true, .. })),
            "{result:?}"
        );
    }
    let closed =
        eventually::<R, _, _>(LENIENT, || ready(metrics(&client).connections_closed == 1)).await;
    assert!(closed, "the stuck connection was never closed");

    server.cont();
    let drained =
        eventually::<R, _, _>(LENIENT, || ready(metrics(&client).drains_completed == 1)).await;
    assert!(drained, "drain never completed: {:?}", metrics(&client));
    assert_eq!(metrics(&client).drains_cut, 0);
    // Read-your-writes across the close: the write reached the server.
    let found = client.get(&key).await.unwrap();
    assert_eq!(found.map(|item| item.value), Some("v".into()));
}

/// `noreply` writes still queued on a connection that dies while the client closes are
/// never sent, and none is dropped without being counted.
pub async fn close_counts_noreply_writes_never_sent<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    // With write coalescing (the default), requests made while a write awaits its reply
    // gather, unwritten, behind it.
    let client = suite
        .builder_of::<R>([proxy.addr()])
        .timeout(LENIENT)
        .close_grace(LENIENT)
        .min_connections(0)
        .max_connections(1)
        .connect()
        .await
        .expect("connect");
    let p = prefix("dropped");
    let held = held_gets(suite, &client, &proxy, &[format!("{p}held")]).await;
    for i in 0..5 {
        client
            .set(format!("{p}{i}"), "v")
            .noreply()
            .await
            .expect("queued");
    }
    let closing = client.close();
    futures::pin_mut!(closing);
    assert!(futures::poll!(closing.as_mut()).is_pending());
    // The connection dies with the writes still queued; no other will take them now.
    proxy.close_clients();
    within::<R, _>(LENIENT, closing).await;
    for result in join_all(held).await {
        assert_err!(result, Error::ConnectionLost { .. });
    }
    assert_eq!(client.metrics()[0].1.writes_dropped, 5);
    assert!(server.present(&[&format!("{p}0")]).is_empty());
}
