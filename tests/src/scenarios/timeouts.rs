//! Timeouts: servers that never answer, connections that never open, and the client
//! carrying on afterwards.

use std::future::IntoFuture;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use futures::future::join_all;
use memcache_core::{Client, Error, Runtime};

use super::support::{prefix, sleep, Blackhole, ConnectHang, Suite};
use crate::assert_err;
use crate::server::Memcached;

/// For requests to healthy servers in these scenarios, which set tight client defaults:
/// a loaded machine must not make them fail.
const LENIENT: Duration = Duration::from_secs(5);

/// A key routed to `addr`, found by trying `prefix0`, `prefix1`, ...
fn key_on<R: Runtime>(client: &Client<R>, addr: &str, prefix: &str) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| client.node_for(key).unwrap().to_string() == addr)
        .expect("some key routes to every node")
}

/// Asserts a request to a silent node failed by timing out. The first request on a
/// connection fails with `Error::Timeout` (its own timer fires first); a later request that
/// lands on the connection before the engine closes it as stuck fails with
/// `ConnectionLost` (kind `TimedOut`) instead: which one happens is a matter of timing.
#[track_caller]
fn assert_timed_out<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Timeout { .. }) => {}
        Err(Error::ConnectionLost { source, .. }) if source.kind() == ErrorKind::TimedOut => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[track_caller]
fn assert_between(elapsed: Duration, low: Duration, high: Duration) {
    assert!(
        low <= elapsed && elapsed < high,
        "took {elapsed:?}, expected {low:?}..{high:?}"
    );
}

pub async fn blackhole_times_out<R: Runtime + Default>(suite: Suite) {
    let hole = Blackhole::start();
    let client = suite
        .builder_of::<R>([hole.addr()])
        .timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let ms = Duration::from_millis;
    let started = Instant::now();
    assert_err!(client.get("k").await, Error::Timeout { .. });
    assert_between(started.elapsed(), ms(90), ms(1000));
    assert!(hole.accepted() >= 1, "the connection was made");

    let started = Instant::now();
    assert_timed_out(client.set("k", "v").await);
    assert_timed_out(client.get_many(["a", "b", "c"]).await);
    assert_timed_out(client.increment("n", 1).await);
    assert_timed_out(client.version(hole.addr().as_str()).await);
    assert!(started.elapsed() < ms(2500));
}

/// A per-call timeout shorter than the client's default applies to that call only.
pub async fn per_call_timeout<R: Runtime + Default>(suite: Suite) {
    let hole = Blackhole::start();
    let client = suite
        .builder_of::<R>([hole.addr()])
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let ms = Duration::from_millis;
    let started = Instant::now();
    assert_err!(
        client.get("k").timeout(ms(100)).await,
        Error::Timeout { .. }
    );
    assert_between(started.elapsed(), ms(90), ms(1000));
    let started = Instant::now();
    assert_err!(
        client.set("k", "v").timeout(Some(ms(150))).await,
        Error::Timeout { .. }
    );
    assert_between(started.elapsed(), ms(140), ms(1000));
    let started = Instant::now();
    assert_err!(
        client.get_many(["a", "b"]).timeout(ms(100)).await,
        Error::Timeout { .. }
    );
    assert_err!(
        client.delete("k").timeout(ms(100)).await,
        Error::Timeout { .. }
    );
    assert_err!(
        client.touch("k", ms(1000)).timeout(ms(100)).await,
        Error::Timeout { .. }
    );
    assert_err!(
        client.stats(hole.addr().as_str()).timeout(ms(100)).await,
        Error::Timeout { .. }
    );
    assert_between(started.elapsed(), ms(390), ms(2000));
}

/// A three-node client (one node a blackhole) with a 200 ms default timeout, and 30 keys
/// that reach every node.
fn cluster_with_blackhole<R: Runtime + Default>(
    suite: Suite,
    hole: &Blackhole,
    servers: [&Memcached; 2],
    name: &str,
) -> (Client<R>, Vec<String>) {
    let client = suite
        .builder_of::<R>([servers[0].addr(), hole.addr(), servers[1].addr()])
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let p = prefix(name);
    let keys: Vec<String> = (0..30).map(|i| format!("{p}{i}")).collect();
    for addr in [servers[0].addr(), hole.addr(), servers[1].addr()] {
        assert!(keys
            .iter()
            .any(|key| client.node_for(key).unwrap().to_string() == addr));
    }
    (client, keys)
}

/// `.timeout(None)` disables the timeout for that call, whatever the client's default: a
/// `get_many` that needs a silent node keeps waiting (its connection is not closed as
/// stuck under it), while the client goes on serving other calls.
pub async fn no_call_timeout_waits<R: Runtime + Default>(suite: Suite) {
    let (a, b) = (Memcached::start(), Memcached::start());
    let hole = Blackhole::start();
    let (client, keys) = cluster_with_blackhole::<R>(suite, &hole, [&a, &b], "no_timeout");
    let healthy: Vec<&String> = keys
        .iter()
        .filter(|key| client.node_for(key).unwrap().to_string() != hole.addr())
        .collect();
    let hole_key = keys
        .iter()
        .find(|key| client.node_for(key).unwrap().to_string() == hole.addr())
        .unwrap();
    for key in &healthy {
        client.set(key, key).timeout(LENIENT).await.unwrap();
    }
    let waiting = client.get_many(&keys).timeout(None).into_future();
    futures::pin_mut!(waiting);
    // Let the call reach the silent node first: a request queued ahead of it on the same
    // connection, with a timeout of its own, would get the connection closed as stuck
    // under it (the engine gives no ordering between concurrent first requests).
    let head_start = sleep::<R>(Duration::from_millis(300));
    futures::pin_mut!(head_start);
    if let futures::future::Either::Left((result, _)) =
        futures::future::select(&mut waiting, head_start).await
    {
        panic!("the call without a timeout ended at once: {result:?}");
    }
    assert!(
        hole.accepted() >= 1,
        "the call did not reach the silent node"
    );
    let others = async {
        // Four default timeouts pass while the call without one waits.
        for _ in 0..4 {
            assert_timed_out(
                client
                    .get(hole_key)
                    .timeout(Duration::from_millis(50))
                    .await,
            );
            // A generous timeout of its own: only the silent node should be slow.
            let found = client.get_many(&healthy).timeout(LENIENT).await.unwrap();
            assert_eq!(found.len(), healthy.len());
            sleep::<R>(Duration::from_millis(200)).await;
        }
    };
    futures::pin_mut!(others);
    match futures::future::select(waiting, others).await {
        futures::future::Either::Left((result, _)) => {
            panic!(
                "the call without a timeout ended: {result:?} (blackhole {}, servers {} {})",
                hole.addr(),
                a.addr(),
                b.addr()
            )
        }
        futures::future::Either::Right(((), _)) => {}
    }
}

/// Connecting to a host that never completes the handshake fails after the connect
/// timeout with `Error::Connect`.
pub async fn connect_timeout<R: Runtime + Default>(suite: Suite) {
    let hang = ConnectHang::start();
    let ms = Duration::from_millis;
    let client = suite
        .builder_of::<R>([hang.addr()])
        .connect_timeout(ms(100))
        .timeout(Some(Duration::from_secs(3)))
        .build()
        .unwrap();
    let started = Instant::now();
    assert_err!(
        client.get("k").await,
        Error::Connect { source, .. } if source.kind() == ErrorKind::TimedOut
    );
    assert_between(started.elapsed(), ms(90), ms(1000));

    let started = Instant::now();
    let result = suite
        .builder_of::<R>([hang.addr()])
        .connect_timeout(ms(100))
        .connect()
        .await;
    assert_err!(
        result,
        Error::Connect { source, .. } if source.kind() == ErrorKind::TimedOut
    );
    assert_between(started.elapsed(), ms(90), ms(1000));

    // With an operation timeout shorter than the connect timeout, the operation's wins.
    let client = suite
        .builder_of::<R>([hang.addr()])
        .connect_timeout(Duration::from_secs(5))
        .timeout(Some(ms(100)))
        .build()
        .unwrap();
    let started = Instant::now();
    assert_err!(client.get("k").await, Error::Timeout { .. });
    assert_between(started.elapsed(), ms(90), ms(1000));
}

/// A timeout on one node leaves the client working for the others, and the silent node
/// keeps timing out (not hanging, not answering with someone else's reply).
pub async fn works_after_timeout<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let hole = Blackhole::start();
    let client = suite
        .builder_of::<R>([server.addr(), hole.addr()])
        .timeout(Some(Duration::from_millis(150)))
        .build()
        .unwrap();
    let p = prefix("after_timeout");
    let good = key_on(&client, &server.addr(), &format!("{p}good"));
    let bad = key_on(&client, &hole.addr(), &format!("{p}bad"));
    client.set(&good, "ok").timeout(LENIENT).await.unwrap();
    assert_err!(client.get(&bad).await, Error::Timeout { .. });
    for round in 0..3 {
        assert_timed_out(client.get(&bad).await);
        assert_timed_out(client.set(&bad, "x").await);
        assert_eq!(
            client
                .get(&good)
                .timeout(LENIENT)
                .await
                .unwrap()
                .unwrap()
                .value,
            "ok",
            "round {round}"
        );
        client.set(&good, "ok").timeout(LENIENT).await.unwrap();
    }
    // get_many over both fails as a whole; the good node alone works.
    assert_timed_out(client.get_many([&good, &bad]).await);
    assert_eq!(
        client
            .get_many([&good])
            .timeout(LENIENT)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Calls abandoned at their timeout leave their replies to be read and dropped: later
/// calls on the same connections still get their own replies.
pub async fn abandoned_replies_stay_in_step<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("abandoned");
    let keys: Vec<String> = (0..8).map(|i| format!("{p}{i}")).collect();
    for key in &keys {
        client.set(key, key).await.unwrap();
    }
    let tiny = Duration::from_micros(1);
    for round in 0..20 {
        let calls = keys.iter().map(|key| {
            let client = &client;
            async move { (key, client.get(key).timeout(tiny).await) }
        });
        for (key, result) in join_all(calls).await {
            match result {
                Ok(item) => assert_eq!(item.unwrap().value, key.as_bytes(), "round {round}"),
                Err(Error::Timeout { .. }) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
    }
    for key in &keys {
        assert_eq!(
            client.get(key).await.unwrap().unwrap().value,
            key.as_bytes()
        );
    }
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    // Nothing was mistaken for a broken connection.
    let metrics = &client.metrics()[0].1;
    assert_eq!(metrics.connections_closed, 0, "{metrics:?}");
}
