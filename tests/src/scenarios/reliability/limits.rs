//! Server-side limits the client must live with: a server out of connection slots, and
//! `SERVER_ERROR` replies, neither of which may break the client's working connections.

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures::future::join_all;
use memcache_core::{Error, Runtime};

use crate::scenarios::support::{prefix, spawn, within, Suite};
use crate::server::Memcached;

/// For calls to a healthy server: a loaded machine must not make them fail.
const LENIENT: Duration = Duration::from_secs(5);

/// Connection slots left free for the client.
const ROOM: usize = 2;
/// How long the load runs against the full server.
const LOAD: Duration = Duration::from_secs(2);

/// Opens connections to `server` (each checked with `version`) until it refuses one with
/// `ERROR Too many open connections`; returns those it accepted, still open.
fn fill(server: &Memcached) -> Vec<TcpStream> {
    let mut held = Vec::new();
    loop {
        assert!(held.len() < 200, "memcached never refused a connection");
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("read timeout");
        let mut reply = [0u8; 64];
        let read = stream
            .write_all(b"version\r\n")
            .and_then(|()| stream.read(&mut reply))
            .unwrap_or(0);
        let reply = &reply[..read];
        if reply.starts_with(b"VERSION ") {
            held.push(stream);
        } else if reply.starts_with(b"ERROR Too many open connections") {
            return held;
        } else {
            panic!("unexpected answer: {:?}", String::from_utf8_lossy(reply));
        }
    }
}

/// The server's `curr_connections`, asked on `stream`.
fn curr_connections(stream: &mut TcpStream) -> u64 {
    stream.write_all(b"stats\r\n").expect("send stats");
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply.ends_with(b"END\r\n") {
        let read = stream.read(&mut chunk).expect("read stats");
        assert!(read > 0, "the server closed the connection");
        reply.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8_lossy(&reply)
        .lines()
        .find_map(|line| line.strip_prefix("STAT curr_connections "))
        .and_then(|count| count.trim().parse().ok())
        .expect("curr_connections in stats")
}

/// memcached at its connection limit accepts a connection, writes `ERROR Too many open
/// connections` and closes it. With room for only two connections, a client allowed six
/// keeps serving every call on the connections it has, counts the refused ones as failed
/// connection attempts, and does not retry in a tight loop.
pub async fn connection_limit<R: Runtime + Default>(suite: Suite) {
    // The slots memcached keeps for itself depend on its version and threads: find the
    // number left for clients by filling them, then free `ROOM` of them.
    let server = Memcached::start_with(&["-c", "32"]);
    let mut held = fill(&server);
    assert!(held.len() > ROOM, "only {} slots", held.len());
    // Freed, then seen free by the server (asked on a connection it already has), so the
    // client's first connections are not refused by closes still in flight.
    let full = curr_connections(&mut held[0]);
    held.truncate(held.len() - ROOM);
    let deadline = Instant::now() + LENIENT;
    while curr_connections(&mut held[0]) + ROOM as u64 > full {
        assert!(
            Instant::now() < deadline,
            "the server never saw the slots freed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    let client = suite
        .builder::<R>(&[&server])
        .timeout(LENIENT)
        .max_connections(6)
        // Two connections at this budget cannot carry the load: the pool tries to grow.
        .max_in_flight(4)
        .build()
        .expect("valid configuration");
    let p = prefix("slots");
    let runtime = R::default();
    let until = Instant::now() + LOAD;
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let client = client.clone();
            let key = format!("{p}{task}");
            spawn(&runtime, async move {
                let mut ops = 0u32;
                while Instant::now() < until {
                    let value = format!("{task}:{ops}");
                    client
                        .set(&key, &value)
                        .await
                        .unwrap_or_else(|error| panic!("set {key}: {error:?}"));
                    let item = client
                        .get(&key)
                        .await
                        .unwrap_or_else(|error| panic!("get {key}: {error:?}"));
                    assert_eq!(item.map(|item| item.value), Some(value.into()), "{key}");
                    ops += 2;
                }
                ops
            })
        })
        .collect();
    let ops: u32 = within::<R, _>(LOAD + 2 * LENIENT, join_all(tasks))
        .await
        .into_iter()
        .sum();
    let metrics = client.metrics()[0].1;
    eprintln!(
        "connection_limit: {} slots, {ops} ops, {metrics:?}",
        held.len() + ROOM
    );
    assert!(
        metrics.connections_failed >= 1,
        "the refused connections were not counted: {metrics:?}"
    );
    assert!(
        metrics.connections_created + metrics.connections_failed < 50,
        "connection storm: {metrics:?}"
    );
    assert!(
        metrics.connections as usize <= ROOM,
        "more connections open than the server has room for: {metrics:?}"
    );
    drop(held);
}

/// A `SERVER_ERROR` (here: a value over the server's item size but under the client's
/// limit) fails its call and nothing else: the connection stays, other calls on it go
/// on.
pub async fn server_error_keeps_connection<R: Runtime + Default>(suite: Suite) {
    // A 64 KiB item limit (the slab chunk must fit it).
    let server = Memcached::start_with(&["-I", "64k", "-o", "slab_chunk_max=32768"]);
    let client = suite
        .builder::<R>(&[&server])
        .timeout(LENIENT)
        .max_value_len(1 << 20)
        .min_connections(1)
        .max_connections(2)
        .connect()
        .await
        .expect("connect");
    let p = prefix("server_error");
    let (big_key, key) = (format!("{p}big"), format!("{p}small"));
    let big = vec![b'x'; 100_000];
    client.set(&key, "before").await.expect("set");

    let too_large = |result: Result<(), Error>, what: &str| match result {
        Err(Error::Server(message)) => assert!(message.contains("too large"), "{message}"),
        other => panic!("{what}: expected a server error, got {other:?}"),
    };
    for round in 0..100 {
        too_large(client.set(&big_key, &big).await, &format!("round {round}"));
    }
    // Pipelined with calls that succeed.
    let runtime = R::default();
    let calls: Vec<_> = (0..100)
        .map(|round| {
            let client = client.clone();
            let (big_key, key, big) = (big_key.clone(), key.clone(), big.clone());
            spawn(&runtime, async move {
                let (stored, fetched) = futures::join!(
                    client.set(&big_key, &big).into_future(),
                    client.get(&key).into_future()
                );
                (round, stored, fetched)
            })
        })
        .collect();
    for (round, stored, fetched) in within::<R, _>(2 * LENIENT, join_all(calls)).await {
        too_large(stored, &format!("pipelined round {round}"));
        let item = fetched.unwrap_or_else(|error| panic!("round {round}: {error:?}"));
        assert_eq!(item.map(|item| item.value), Some("before".into()));
    }

    let metrics = client.metrics()[0].1;
    assert!(
        (1..=2).contains(&metrics.connections_created),
        "server errors cost connections: {metrics:?}"
    );
    client.set(&key, "after").await.expect("set after");
    assert_eq!(
        client
            .get(&key)
            .await
            .expect("get after")
            .map(|item| item.value),
        Some("after".into())
    );
    assert_eq!(client.get(&big_key).await.expect("get big"), None);
}
