//! Fault injection against real memcached processes, mostly through the fault-injecting
//! proxy: lost and reset connections, protocol violations, callers that give up, stuck and
//! truncated connections, server errors, pool behaviour, node health and backoff, and
//! connections that can no longer be trusted (unsolicited bytes, a reply still owed).
//!
//! Nothing here sleeps to synchronise: tests wait on the proxy's request reports, on
//! health events, or poll a condition against a deadline.

use std::io;
use std::sync::mpsc::{self, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

use common::{eventually, metrics, value, wait_for, wait_request, wait_requests, LONG};
use memcache_it::proxy::Proxy;
use memcache_it::Memcached;
use memcache_tokio::{Client, ClusterEvents, Error, NodeAddr, Protocol};

/// How soon a failure that does not wait for a timeout must be reported.
const PROMPT: Duration = Duration::from_secs(1);

/// Spawns `client.get(key)`; the task returns the result and when it came.
fn spawn_get(
    client: &Client,
    key: &'static str,
) -> tokio::task::JoinHandle<(Result<Option<memcache_tokio::Item>, Error>, Instant)> {
    let client = client.clone();
    tokio::spawn(async move {
        let result = client.get(key).await;
        (result, Instant::now())
    })
}

/// A client of one node through `proxy`: one connection, none kept open when idle (so
/// connection counts are exact), operations bounded by [`LONG`], and every request
/// written as it is made (no write coalescing), so requests reach the server while the
/// proxy holds the replies to those ahead of them.
async fn single_connection_client(proxy: &Proxy) -> Client {
    single_connection_client_speaking(proxy, Protocol::Text).await
}

/// [`single_connection_client`] speaking `protocol`.
async fn single_connection_client_speaking(proxy: &Proxy, protocol: Protocol) -> Client {
    Client::builder([proxy.addr()])
        .protocol(protocol)
        .timeout(Some(LONG))
        .min_connections(0)
        .max_connections(1)
        .coalesce_writes(false)
        .connect()
        .await
        .expect("connect through the proxy")
}

// 1. Connection loss is noticed at once.

#[tokio::test(flavor = "multi_thread")]
async fn server_death_fails_in_flight_requests_at_once() {
    let mut server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    for key in ["a", "b", "c"] {
        client.set(key, key).await.unwrap();
    }
    assert_eq!(value(client.get("a").await), "a");

    let lines = proxy.requests();
    proxy.hold();
    let calls: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|key| spawn_get(&client, key))
        .collect();
    wait_requests(&lines, &["get a", "get b", "get c"]);
    let before = metrics(&client);
    let killed = Instant::now();
    server.kill();
    for call in calls {
        let (result, done) = call.await.unwrap();
        assert!(
            matches!(result, Err(Error::ConnectionLost { .. })),
            "{result:?}"
        );
        assert!(done - killed < PROMPT, "noticed after {:?}", done - killed);
    }
    // Exactly the three requests in flight failed.
    eventually("the failures to be counted", LONG, || {
        let now = metrics(&client);
        now.requests_failed - before.requests_failed == 3 && now.connections_closed == 1
    })
    .await;

    proxy.release();
    server.restart();
    client.set("d", "d").await.unwrap();
    assert_eq!(value(client.get("d").await), "d");
    let after = metrics(&client);
    assert_eq!(after.connections_created, 2, "{after:?}");
    assert_eq!(after.requests_failed - before.requests_failed, 3);
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_closing_the_connection_fails_in_flight_requests_at_once() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    client.set("a", "a").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    let call = spawn_get(&client, "a");
    wait_request(&lines, "get a");
    let closed = Instant::now();
    proxy.close_clients();
    let (result, done) = call.await.unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionLost { .. })),
        "{result:?}"
    );
    assert!(done - closed < PROMPT, "noticed after {:?}", done - closed);

    proxy.release();
    assert_eq!(value(client.get("a").await), "a");
    assert_eq!(metrics(&client).connections_created, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_connection_is_lost_and_replaced() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    client.set("k", "v").await.unwrap();

    proxy.reset();
    let started = Instant::now();
    match client.get("k").await {
        Err(Error::ConnectionLost { source, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset, "{source}")
        }
        other => panic!("expected a lost connection, got {other:?}"),
    }
    assert!(started.elapsed() < PROMPT);
    assert_eq!(value(client.get("k").await), "v");
    assert_eq!(metrics(&client).connections_created, 2);
}

// 2. Protocol violations.

/// Holds replies, sends `get` for each of `keys` (pipelined on the one connection), injects
/// `bytes` ahead of the replies and releases them; returns each call's result.
async fn inject_into_gets(
    client: &Client,
    proxy: &Proxy,
    keys: &[&'static str],
    bytes: &[u8],
) -> Vec<Result<Option<memcache_tokio::Item>, Error>> {
    let lines = proxy.requests();
    proxy.hold();
    let mut calls = Vec::new();
    for &key in keys {
        calls.push(spawn_get(client, key));
        wait_request(&lines, &format!("get {key}"));
    }
    proxy.inject(bytes);
    proxy.release();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap().0);
    }
    results
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_violation_fails_the_connection_never_hands_out_other_data() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    client.set("a", "va").await.unwrap();
    client.set("b", "vb").await.unwrap();

    // A stray storage reply ahead of a retrieval's reply.
    let results = inject_into_gets(&client, &proxy, &["a"], b"STORED\r\n").await;
    assert!(
        matches!(results[0], Err(Error::Protocol { .. })),
        "{results:?}"
    );
    assert_eq!(value(client.get("a").await), "va");
    assert_eq!(metrics(&client).connections_created, 2);

    // Garbage ahead of two pipelined replies: the first call sees the violation, the other
    // fails with it (or as a lost connection), neither gets data.
    let results = inject_into_gets(&client, &proxy, &["a", "b"], b"\x00\x7fgarbage\r\n").await;
    assert!(
        matches!(results[0], Err(Error::Protocol { .. })),
        "{results:?}"
    );
    assert!(
        matches!(
            results[1],
            Err(Error::Protocol { .. } | Error::ConnectionLost { .. })
        ),
        "{results:?}"
    );
    assert_eq!(value(client.get("b").await), "vb");
    assert_eq!(metrics(&client).connections_created, 3);

    // Another key's value where `get a`'s reply belongs: rejected, not handed to `a`'s
    // caller, and `b`'s caller does not get it either.
    let results = inject_into_gets(
        &client,
        &proxy,
        &["a", "b"],
        b"VALUE b 0 5\r\nforged\r\nEND\r\n",
    )
    .await;
    for result in &results {
        assert!(
            matches!(
                result,
                Err(Error::Protocol { .. } | Error::ConnectionLost { .. })
            ),
            "{results:?}"
        );
    }
    assert_eq!(value(client.get("a").await), "va");
    assert_eq!(value(client.get("b").await), "vb");
    assert_eq!(metrics(&client).connections_created, 4);
}

// 3. Callers that give up never shift the reply stream.

#[tokio::test(flavor = "multi_thread")]
async fn timed_out_caller_does_not_desynchronise_the_stream() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    client.set("a", "va").await.unwrap();
    client.set("b", "vb").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    let result = client.get("a").timeout(Duration::from_millis(50)).await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    wait_request(&lines, "get a");
    // The connection is behind `a`, whose reply is still on its way: `b` waits for it to
    // catch up (the pool may open no other connection) rather than queue behind it.
    let b = spawn_get(&client, "b");
    proxy.release();
    assert_eq!(value(b.await.unwrap().0), "vb");
    assert_eq!(value(client.get("a").await), "va");

    let after = metrics(&client);
    assert_eq!(after.connections_created, 1, "{after:?}");
    assert_eq!(after.requests_failed, 0, "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_request_does_not_desynchronise_the_stream() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    for (key, value) in [("a", "va"), ("b", "vb"), ("c", "vc")] {
        client.set(key, value).await.unwrap();
    }

    let lines = proxy.requests();
    proxy.hold();
    // Polled once (which queues the request), then dropped: each is either never written
    // or written and its reply discarded.
    for key in ["a", "b"] {
        let get = std::future::IntoFuture::into_future(client.get(key));
        tokio::select! {
            biased;
            result = get => panic!("reply while held: {result:?}"),
            () = std::future::ready(()) => {}
        }
    }
    let c = spawn_get(&client, "c");
    wait_request(&lines, "get c");
    proxy.release();
    assert_eq!(value(c.await.unwrap().0), "vc");
    assert_eq!(value(client.get("b").await), "vb");
    assert_eq!(value(client.get("a").await), "va");
    assert_eq!(metrics(&client).connections_created, 1);
}

// 4. A stuck connection is closed.

#[tokio::test(flavor = "multi_thread")]
async fn stuck_connection_times_out_and_is_closed() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(Duration::from_millis(300)))
        .min_connections(0)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    client.set("k", "v").await.unwrap();

    proxy.blackhole(true);
    let started = Instant::now();
    let result = client.get("k").await;
    let elapsed = started.elapsed();
    // The caller's own timeout reports first; the connection, stuck behind the request,
    // is closed a little later.
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < PROMPT,
        "{elapsed:?}"
    );
    eventually("the engine to close the stuck connection", LONG, || {
        metrics(&client).connections_closed == 1 && proxy.client_closes() == 1
    })
    .await;

    proxy.blackhole(false);
    assert_eq!(value(client.get("k").await), "v");
    assert_eq!(metrics(&client).connections_created, 2);
}

// 5. A reply cut short.

#[tokio::test(flavor = "multi_thread")]
async fn truncated_reply_is_a_lost_connection() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    let big: Vec<u8> = (0..500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    client.set("big", &big).await.unwrap();

    let header = format!("VALUE big 0 {}\r\n", big.len()).len();
    let cuts = [
        5,                          // inside the header line
        header + 1000,              // inside the value
        header + big.len() + 2 + 3, // inside the closing END
    ];
    for cut in cuts {
        proxy.truncate_after(cut);
        let started = Instant::now();
        let result = client.get("big").await;
        assert!(
            matches!(result, Err(Error::ConnectionLost { .. })),
            "cut at {cut}: {:?}",
            result.map(|item| item.map(|item| item.value.len()))
        );
        assert!(started.elapsed() < PROMPT, "cut at {cut}");
    }
    let item = client.get("big").await.unwrap().unwrap();
    assert!(item.value == big, "value differs");
    assert_eq!(metrics(&client).connections_created, 4);
}

// 6. SERVER_ERROR.

#[tokio::test(flavor = "multi_thread")]
async fn server_error_fails_only_its_request() {
    // The server keeps its default 1 MiB item size; the client accepts up to 2 MiB.
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(LONG))
        .min_connections(0)
        .max_connections(1)
        .max_value_len(2 << 20)
        // Written as made, while the proxy holds the replies ahead.
        .coalesce_writes(false)
        .connect()
        .await
        .unwrap();
    client.set("x", "vx").await.unwrap();
    client.set("y", "vy").await.unwrap();

    // get x, set too-large, get y: pipelined on the one connection, answered together.
    let lines = proxy.requests();
    proxy.hold();
    let x = spawn_get(&client, "x");
    wait_request(&lines, "get x");
    let too_large = {
        let client = client.clone();
        tokio::spawn(async move { client.set("big", vec![b'z'; 3 << 19]).await })
    };
    wait_request(&lines, &format!("set big 0 0 {}", 3 << 19));
    let y = spawn_get(&client, "y");
    wait_request(&lines, "get y");
    proxy.release();

    assert_eq!(value(x.await.unwrap().0), "vx");
    match too_large.await.unwrap() {
        Err(Error::Server(message)) => assert!(message.contains("too large"), "{message}"),
        other => panic!("expected a server error, got {other:?}"),
    }
    assert_eq!(value(y.await.unwrap().0), "vy");

    // Later requests work.
    client.set("z", "vz").await.unwrap();
    assert_eq!(value(client.get("z").await), "vz");
    assert_eq!(value(client.get("x").await), "vx");
    assert_eq!(client.get("big").await.unwrap(), None);
}

// 7. Pool behaviour.

#[tokio::test(flavor = "multi_thread")]
async fn pool_serves_every_task_under_load() {
    const TASKS: usize = 32;
    const OPS: usize = 200;
    let server = Memcached::start();
    let client = Client::builder([server.addr()])
        .timeout(Some(LONG))
        .max_connections(2)
        .build()
        .unwrap();
    for task in 0..TASKS {
        client
            .set(format!("key{task}"), format!("value{task}"))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                let (key, expected) = (format!("key{task}"), format!("value{task}"));
                let mut done = 0;
                let mut slowest = Duration::ZERO;
                for _ in 0..OPS {
                    let op = Instant::now();
                    assert_eq!(value(client.get(&key).await), expected);
                    slowest = slowest.max(op.elapsed());
                    done += 1;
                }
                (done, slowest)
            })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        let (done, slowest) = task.await.unwrap();
        assert!(slowest < PROMPT, "an operation took {slowest:?}");
        counts.push(done);
    }
    assert_eq!(counts, vec![OPS; TASKS]);
    assert!(started.elapsed() < LONG, "{:?}", started.elapsed());
    let metrics = metrics(&client);
    assert!(metrics.connections_created <= 2, "{metrics:?}");
    assert_eq!(metrics.requests_failed, 0, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_opens_the_minimum_connections() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()])
        .min_connections(3)
        .max_connections(4)
        .connect()
        .await
        .unwrap();
    // `connect` returns once the first connection is up; the others follow in the
    // background. `stat` counts its own connection too.
    eventually(
        "three connections, seen by the client and the server",
        LONG,
        || metrics(&client).connections == 3 && server.stat("curr_connections") == 3 + 1,
    )
    .await;
    let metrics = metrics(&client);
    assert_eq!(metrics.connections_created, 3, "{metrics:?}");
    assert_eq!(metrics.connections_failed, 0, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn load_spreads_over_connections_up_to_the_maximum() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(LONG))
        .max_connections(4)
        .connect()
        .await
        .unwrap();
    client.set("k", "v").await.unwrap();

    // While every connection has a request outstanding, each new request opens another
    // connection, up to the maximum.
    // A new connection counts once the server has answered on it, so the ones opened
    // while replies are withheld are established when they are released.
    let lines = proxy.requests();
    proxy.hold();
    let calls: Vec<_> = (0..16).map(|_| spawn_get(&client, "k")).collect();
    wait_request(&lines, "get k");
    eventually("three more connection attempts", LONG, || {
        proxy.connections() == 4
    })
    .await;
    proxy.release();
    for call in calls {
        assert_eq!(value(call.await.unwrap().0), "v");
    }
    eventually("four connections", LONG, || {
        metrics(&client).connections == 4
    })
    .await;

    // Heavy load keeps within the maximum.
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    assert_eq!(value(client.get("k").await), "v");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let metrics = metrics(&client);
    assert_eq!(metrics.connections_created, 4, "{metrics:?}");
    assert_eq!(proxy.connections(), 4);
}

// 8. Node health.

/// Forwards health events: `true` for healthy.
struct Events(Mutex<Sender<(bool, NodeAddr)>>);

impl ClusterEvents for Events {
    fn on_node_healthy(&self, node: &NodeAddr) {
        let _ = self.0.lock().unwrap().send((true, node.clone()));
    }

    fn on_node_unhealthy(&self, node: &NodeAddr) {
        let _ = self.0.lock().unwrap().send((false, node.clone()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_node_is_purged_and_comes_back() {
    let alive = Memcached::start();
    // Reserve a port: start a server there, kill it, restart it later.
    let mut dead = Memcached::start();
    dead.kill();
    let alive_addr = NodeAddr::tcp("127.0.0.1", alive.port());
    let dead_addr = NodeAddr::tcp("127.0.0.1", dead.port());
    let (sender, events) = mpsc::channel();
    let client = Client::builder([alive.addr(), dead.addr()])
        .timeout(Some(LONG))
        .purge_unhealthy_nodes(true)
        .unhealthy_after(2)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        // Background maintenance (reconnects) runs this often.
        .idle_timeout(Some(Duration::from_millis(50)))
        .events(Events(Mutex::new(sender)))
        .build()
        .unwrap();

    let keys: Vec<String> = (0..64).map(|i| format!("key{i}")).collect();
    let dead_keys: Vec<&String> = keys
        .iter()
        .filter(|key| client.node_for(key).unwrap() == dead_addr)
        .collect();
    assert!(!dead_keys.is_empty());
    let result = client.set(dead_keys[0], "x").await;
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");

    // The background reconnect fails again: the node is declared unhealthy.
    wait_for(&events, "the dead node to turn unhealthy", |event| {
        *event == (false, dead_addr.clone())
    });
    assert_eq!(client.unhealthy_nodes(), vec![dead_addr.clone()]);
    for key in &keys {
        assert_eq!(client.node_for(key).unwrap(), alive_addr);
        client.set(key, key).await.unwrap();
        assert_eq!(value(client.get(key).await), *key);
    }

    dead.restart();
    wait_for(&events, "the restarted node to turn healthy", |event| {
        *event == (true, dead_addr.clone())
    });
    assert!(client.unhealthy_nodes().is_empty());
    for key in &dead_keys {
        assert_eq!(client.node_for(key).unwrap(), dead_addr);
        client.set(key, "back").await.unwrap();
        assert_eq!(value(client.get(key).await), "back");
    }
    assert_eq!(
        dead.raw(&format!("get {}", dead_keys[0]))[0],
        format!("VALUE {} 0 4", dead_keys[0])
    );
}

// 9. Backoff.

#[tokio::test(flavor = "multi_thread")]
async fn dead_node_fails_fast_while_backing_off() {
    let mut dead = Memcached::start();
    dead.kill();
    let client = Client::builder([dead.addr()])
        .timeout(Some(LONG))
        .reconnect_backoff(Duration::from_secs(30), Duration::from_secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let result = client.get("k").await;
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());

    // While backing off, calls fail at once without trying to connect.
    let started = Instant::now();
    for _ in 0..20 {
        let result = client.set("k", "v").await;
        assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
    }
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    // The attempts that took the node down (three in a row), and none since.
    let metrics = metrics(&client);
    assert_eq!(metrics.connections_failed, 3, "{metrics:?}");
    assert_eq!(metrics.connections_created, 0, "{metrics:?}");
}

// Regressions: engine bugs this suite found.

/// A per-call timeout longer than the client's default used to be cut short: the
/// connection was declared stuck after the default timeout and the call failed with
/// `ConnectionLost` (fixed meanwhile by per-request stuck deadlines).
#[tokio::test(flavor = "multi_thread")]
async fn longer_per_call_timeout_survives_the_stuck_connection_check() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(Duration::from_millis(200)))
        .min_connections(0)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    client.set("k", "v").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.get("k").timeout(LONG).await })
    };
    wait_request(&lines, "get k");
    // The subject is the passing of time: wait past the client's default timeout, well
    // within the call's own.
    tokio::time::sleep(Duration::from_millis(600)).await;
    proxy.release();
    assert_eq!(value(call.await.unwrap()), "v");
    assert_eq!(metrics(&client).connections_created, 1);
}

/// With `min_connections(0)`, a purged node received no calls and the background task
/// opened no connection to it, so nothing ever tried it again: it stayed purged for good.
#[tokio::test(flavor = "multi_thread")]
async fn purged_node_recovers_without_min_connections() {
    let alive = Memcached::start();
    let mut dead = Memcached::start();
    dead.kill();
    let dead_addr = NodeAddr::tcp("127.0.0.1", dead.port());
    let (sender, events) = mpsc::channel();
    let client = Client::builder([alive.addr(), dead.addr()])
        .timeout(Some(LONG))
        .purge_unhealthy_nodes(true)
        .unhealthy_after(2)
        .min_connections(0)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .idle_timeout(Some(Duration::from_millis(50)))
        .events(Events(Mutex::new(sender)))
        .build()
        .unwrap();
    let dead_key = (0..64)
        .map(|i| format!("key{i}"))
        .find(|key| client.node_for(key).unwrap() == dead_addr)
        .unwrap();

    // Without a minimum, only calls try to connect: call until the node is declared
    // unhealthy (each retry waits out the backoff).
    let deadline = Instant::now() + LONG;
    loop {
        match client.set(&dead_key, "x").await {
            Err(Error::Connect { .. }) => {}
            // Purged between two calls (health is updated just after the failure is
            // reported): the key went to the live node.
            Ok(()) => assert_ne!(client.node_for(&dead_key).unwrap(), dead_addr),
            other => panic!("{other:?}"),
        }
        if client.unhealthy_nodes() == vec![dead_addr.clone()] {
            break;
        }
        assert!(Instant::now() < deadline, "never declared unhealthy");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_for(&events, "the unhealthy event", |event| {
        *event == (false, dead_addr.clone())
    });

    dead.restart();
    wait_for(&events, "the restarted node to turn healthy", |event| {
        *event == (true, dead_addr.clone())
    });
    assert_eq!(client.node_for(&dead_key).unwrap(), dead_addr);
}

// 10. Connections that can no longer be trusted take no new requests.

/// Bytes that arrive while no request is pending belong to no request: the connection is
/// closed, and they are never taken for the reply to a later request.
#[tokio::test(flavor = "multi_thread")]
async fn unsolicited_bytes_close_the_connection() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    client.set("k", "real").await.unwrap();
    client.set("other", "value").await.unwrap();
    let forged: &[u8] = b"VALUE k 0 1\r\nx\r\nEND\r\n";

    // A request right behind the bytes: it gets its own reply, or fails; it never gets
    // the forged value.
    assert_eq!(proxy.send_now(forged), 1);
    let result = client.get("other").await;
    assert!(
        matches!(
            &result,
            Ok(Some(item)) if item.value == "value"
        ) || matches!(
            result,
            Err(Error::ConnectionLost { .. } | Error::Protocol { .. })
        ),
        "{result:?}"
    );

    // On an idle connection: the client closes it on its own, and the key the bytes name
    // still reads its real value. First get back to one open connection (the one above
    // may have been closed, and no minimum reopens it).
    let deadline = Instant::now() + LONG;
    loop {
        let stored = client.set("other", "value").await.is_ok();
        if stored && metrics(&client).connections == 1 && proxy.open_connections() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no single idle connection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = metrics(&client);
    assert_eq!(proxy.send_now(forged), 1);
    eventually("the client to close the connection", LONG, || {
        metrics(&client).connections_closed == before.connections_closed + 1
    })
    .await;
    assert_eq!(value(client.get("k").await), "real");
    assert_eq!(value(client.get("other").await), "value");
    let after = metrics(&client);
    assert_eq!(
        after.connections_created,
        before.connections_created + 1,
        "{after:?}"
    );
}

/// A connection whose request timed out still owes that reply. Requests issued right
/// after the timeout go elsewhere: they neither wait behind the missing reply nor fail
/// when that connection is given up.
#[tokio::test(flavor = "multi_thread")]
async fn timed_out_connection_takes_no_new_requests() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(Duration::from_millis(200)))
        .min_connections(1)
        .max_connections(2)
        .connect()
        .await
        .unwrap();
    client.set("a", "va").await.unwrap();
    client.set("b", "vb").await.unwrap();
    eventually("one connection", LONG, || {
        metrics(&client).connections == 1 && proxy.open_connections() == 1
    })
    .await;

    // Only the connection open now is held; new ones answer.
    let lines = proxy.requests();
    proxy.hold_open();
    let result = client.get("a").await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    wait_request(&lines, "get a");

    let right_after = {
        let client = client.clone();
        tokio::spawn(async move {
            let result = client.get("b").timeout(LONG).await;
            (result, Instant::now())
        })
    };
    let window = Instant::now() + Duration::from_millis(800);
    let mut calls = 0;
    while Instant::now() < window {
        let started = Instant::now();
        let result = client.get("b").await;
        assert!(
            matches!(&result, Ok(Some(item)) if item.value == "vb"),
            "call {calls}, {:?} after the timeout: {result:?}",
            started.elapsed()
        );
        calls += 1;
        // Paces the calls over the window.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released = Instant::now();
    proxy.release();
    let (result, done) = right_after.await.unwrap();
    assert_eq!(value(result), "vb");
    assert!(
        done < released,
        "the call right after the timeout waited for the held reply"
    );
    assert_eq!(value(client.get("a").await), "va");
    let metrics = metrics(&client);
    assert!(
        (2..=3).contains(&metrics.connections_created),
        "{metrics:?}"
    );
}

// Write coalescing (on by default): requests made while a write awaits its replies are
// held by the client and follow it, in order, once it is answered.

#[tokio::test(flavor = "multi_thread")]
async fn requests_gathered_behind_an_unanswered_write_follow_it_in_order() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(LONG))
        .min_connections(0)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    for key in ["a", "b", "c", "d"] {
        client.set(key, key).await.unwrap();
    }
    let lines = proxy.requests();
    proxy.hold();
    let first = spawn_get(&client, "a");
    wait_request(&lines, "get a");
    let gathered: Vec<_> = ["b", "c", "d"]
        .into_iter()
        .map(|key| spawn_get(&client, key))
        .collect();
    proxy.release();
    assert_eq!(value(first.await.unwrap().0), "a");
    for (key, call) in ["b", "c", "d"].into_iter().zip(gathered) {
        assert_eq!(value(call.await.unwrap().0), key);
    }
    wait_requests(&lines, &["get b", "get c", "get d"]);
    assert_eq!(metrics(&client).connections_created, 1);
}

// A large value that arrives over many reads is read into place whole, and the replies
// after it decode as usual.

#[tokio::test(flavor = "multi_thread")]
async fn a_value_arriving_in_small_pieces_is_read_whole() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client(&proxy).await;
    let big: Vec<u8> = (0..500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    client.set("big", &big).await.unwrap();
    client.set("small", "s").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    proxy.trickle(Some(1000));
    let large = {
        let client = client.clone();
        tokio::spawn(async move { client.get("big").await })
    };
    wait_request(&lines, "get big");
    let small = spawn_get(&client, "small");
    wait_request(&lines, "get small");
    // Both replies are queued at the proxy, then forwarded 1000 bytes per write.
    proxy.release();
    let item = large.await.unwrap().unwrap().expect("big is stored");
    assert!(item.value == big, "value differs");
    assert_eq!(value(small.await.unwrap().0), "s");
    assert!(proxy.bytes_to_client() > big.len() as u64);
    assert_eq!(metrics(&client).connections_created, 1);
}

// Meta protocol: opaques are checked, and a quiet batch is delivered only whole.

/// Blocks until the proxy has forwarded a line starting with `prefix`.
fn wait_line_starting(lines: &mpsc::Receiver<String>, prefix: &str) {
    let deadline = Instant::now() + LONG;
    tokio::task::block_in_place(|| loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return,
            Ok(_) => {}
            Err(error) => panic!("no request line starting with {prefix:?}: {error}"),
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_with_another_opaque_is_never_delivered() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client_speaking(&proxy, Protocol::Meta).await;
    client.set("a", "va").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    let call = spawn_get(&client, "a");
    wait_line_starting(&lines, "mg a ");
    // A well-formed hit for `a`, but echoing an opaque nobody sent.
    proxy.inject(b"VA 6 O4242424242\r\nforged\r\n");
    proxy.release();
    let (result, _) = call.await.unwrap();
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
    assert_eq!(value(client.get("a").await), "va");
    assert_eq!(metrics(&client).connections_created, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_reply_inside_a_quiet_batch_fails_the_batch_whole() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = single_connection_client_speaking(&proxy, Protocol::Meta).await;
    client.set("a", "va").await.unwrap();
    client.set("b", "vb").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    let batch = {
        let client = client.clone();
        tokio::spawn(async move { client.get_many(["a", "b", "missing"]).await })
    };
    wait_line_starting(&lines, "mn");
    // The first command's opaque is guessable; a reply forged with it shifts every real
    // reply after it, which the batch's count and its closing `MN` expose.
    proxy.inject(b"VA 6 O0\r\nforged\r\n");
    proxy.release();
    let result = batch.await.unwrap();
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
    let found = client.get_many(["a", "b", "missing"]).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&b"a"[..]].value, "va");
    assert_eq!(found[&b"b"[..]].value, "vb");
}

// Correct under every reply and fault.

/// A reply trickling in a byte at a time makes progress, but never postpones the stuck
/// deadline: the connection closes at it, and no new request is written on it meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_trickling_connection_is_closed_at_its_stuck_deadline() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(Duration::from_millis(300)))
        .min_connections(0)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    client.set("k", "v".repeat(200)).await.unwrap();

    // About 12 s for the whole reply.
    proxy.trickle_slowly(1, Duration::from_millis(50));
    let started = Instant::now();
    let result = client.get("k").await;
    assert!(
        matches!(result, Err(Error::Timeout { written: true, .. })),
        "{result:?}"
    );
    // Closed at the stuck deadline (300 ms and a margin), not when the reply is done.
    eventually("the trickling connection to close", PROMPT, || {
        metrics(&client).connections_closed == 1
    })
    .await;
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());

    proxy.trickle(None);
    assert_eq!(value(client.get("k").await).len(), 200);
    assert_eq!(metrics(&client).connections_created, 2);
}

/// A node whose first connection fails its probe (garbage before the `version` answer)
/// is not down: the call is served on a fresh connection, at once.
#[tokio::test(flavor = "multi_thread")]
async fn one_bad_connection_does_not_take_the_node_out() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(LONG))
        .min_connections(0)
        .max_connections(1)
        .build()
        .unwrap();
    proxy.inject(b"garbage\r\n");
    let started = Instant::now();
    assert_eq!(client.get("k").await.unwrap(), None);
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    let metrics = metrics(&client);
    assert_eq!(metrics.connections_failed, 1, "{metrics:?}");
    assert_eq!(metrics.connections_created, 1, "{metrics:?}");
    assert!(client.unhealthy_nodes().is_empty());
}

/// A listener that accepts and then closes, or writes garbage, never draws a storm of
/// connection attempts, however hard callers push.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_listener_draws_no_connection_storm() {
    use memcache_it::scenarios::support::{Hostile, Hostility};
    for hostility in [
        Hostility::Close,
        Hostility::Garbage,
        Hostility::ErrorThenClose,
    ] {
        let listener = Hostile::start(hostility);
        let client = Client::builder([listener.addr()])
            .timeout(Some(Duration::from_millis(200)))
            .build()
            .unwrap();
        let started = Instant::now();
        let mut calls = 0;
        while started.elapsed() < Duration::from_secs(2) {
            let result = client.get("k").await;
            assert!(
                matches!(
                    result,
                    Err(Error::Connect { .. } | Error::Timeout { written: false, .. })
                ),
                "{hostility:?}: {result:?}"
            );
            calls += 1;
            tokio::task::yield_now().await;
        }
        // Three attempts take the node down; then one probe per backoff, doubling from
        // 25-50 ms: about ten in two seconds, against thousands of calls.
        let accepted = listener.accepted();
        assert!(calls > 100, "{hostility:?}: {calls} calls");
        assert!(
            accepted <= 14,
            "{hostility:?}: {accepted} connections in 2 s"
        );
        assert_eq!(client.unhealthy_nodes().len(), 1, "{hostility:?}");
    }
}

/// Against a server without meta commands, meta fetches are an unknown command, whatever
/// the availability policy: never a miss, never a broken connection, never a reconnect.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_meta_commands_is_an_unknown_command_not_a_miss() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let meta = Client::builder([proxy.addr()])
        .protocol(Protocol::Meta)
        .timeout(Some(LONG))
        .max_connections(1)
        .miss_on_unavailable(true)
        .retry(memcache_tokio::RetryPolicy::new(3))
        .connect()
        .await
        .unwrap();
    let text = Client::builder([proxy.addr()])
        .timeout(Some(LONG))
        .max_connections(1)
        .miss_on_unavailable(true)
        .connect()
        .await
        .unwrap();
    text.set("a", "va").await.unwrap();
    proxy.no_meta(true);

    let result = meta.get_many(["a", "b", "c"]).await;
    assert!(
        matches!(result, Err(Error::UnknownCommand(_))),
        "{result:?}"
    );
    let result = meta.get("a").await;
    assert!(
        matches!(result, Err(Error::UnknownCommand(_))),
        "{result:?}"
    );
    let result = meta.delete_many(["a", "b"]).await.unwrap();
    assert!(
        result
            .values()
            .all(|r| matches!(r, Err(Error::UnknownCommand(_)))),
        "{result:?}"
    );
    let result = text.get_many(["a", "b"]).with_info().await;
    assert!(
        matches!(result, Err(Error::UnknownCommand(_))),
        "{result:?}"
    );
    let error = result.unwrap_err();
    assert!(!error.is_transient());
    // Batched stores ask first (`mn`), so no value is ever read as a command.
    for client in [&meta, &text] {
        let result = client
            .set_many([("b", "flush_all"), ("c", "x")])
            .await
            .unwrap();
        assert!(
            result
                .values()
                .all(|r| matches!(r, Err(Error::UnknownCommand(_)))),
            "{result:?}"
        );
    }
    assert!(server.present(&["b", "c"]).is_empty());

    // The connections stayed in sync: classic commands go on over them.
    assert_eq!(value(text.get("a").await), "va");
    assert_eq!(metrics(&meta).connections_created, 1);
    assert_eq!(metrics(&text).connections_created, 1);
    assert_eq!(metrics(&meta).unavailable_misses, 0);
}

/// A batch past its deadline: the keys whose replies came report their real outcome, the
/// others `Timeout { written: true }` (they may have been executed), never a guess.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_past_its_deadline_reports_what_was_answered() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(Duration::from_millis(400)))
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    let keys: Vec<String> = (0..20).map(|i| format!("cut:{i}")).collect();
    // Each reply (`HD O<n>`) takes 50-60 ms to trickle in: a few arrive in time.
    proxy.trickle_slowly(1, Duration::from_millis(8));
    let results = client
        .set_many(keys.iter().map(|key| (key, "v")))
        .await
        .unwrap();
    proxy.trickle(None);
    // Reads of the batch's keys wait while the cut connection drains (the writes still on
    // it must not be overtaken); once it has, they go on.
    eventually("the cut connection to drain", LONG, || {
        let metrics = metrics(&client);
        metrics.drains_completed + metrics.drains_cut == 1
    })
    .await;
    let answered: Vec<&String> = keys
        .iter()
        .filter(|key| results[key.as_bytes()].is_ok())
        .collect();
    assert!(
        !answered.is_empty() && answered.len() < keys.len(),
        "{results:?}"
    );
    for key in &keys {
        match &results[key.as_bytes()] {
            Ok(()) => assert_eq!(value(client.get(key).await), "v", "{key}"),
            Err(Error::Timeout { written: true, .. }) => {}
            other => panic!("{key}: {other:?}"),
        }
    }
}
