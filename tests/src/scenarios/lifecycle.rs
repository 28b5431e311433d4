//! Building, connecting, sharing and dropping clients.

use std::future::IntoFuture;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use memcache_core::{Client, ConfigError, Error, Runtime};

use super::support::{prefix, DeadPort, Suite};
use crate::assert_err;
use crate::server::Memcached;

/// Compile-time: the client can be cloned and shared across threads, and its request
/// futures can move between threads.
fn static_assertions<R: Runtime + Default>(client: &Client<R>) {
    fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    clone_send_sync::<Client<R>>();
    send(&client.get("k").into_future());
    send(&client.get_many(["k"]).into_future());
    send(&client.set("k", "v").noreply().into_future());
    send(&client.increment("k", 1).noreply().into_future());
    send(&client.stats("127.0.0.1:1").into_future());
}

pub async fn client_is_clone_send_sync<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.builder::<R>(&[&server]).build().unwrap();
    static_assertions(&client);
    // Clones share the connections.
    let clone = client.clone();
    let key = format!("{}k", prefix("clone"));
    client.set(&key, "v").await.unwrap();
    assert_eq!(clone.get(&key).await.unwrap().unwrap().value, "v");
    // A clone used from another OS thread.
    let thread_client = client.clone();
    let thread_key = key.clone();
    let handle = std::thread::spawn(move || {
        drop(thread_client.node_for(&thread_key).unwrap());
        thread_client
    });
    let back = handle.join().unwrap();
    assert_eq!(back.get(&key).await.unwrap().unwrap().value, "v");
    assert_eq!(client.metrics()[0].1.connections_created, 1);
}

/// `build()` needs no runtime: it is called here outside of one, and the client is only
/// used inside `block_on` afterwards. Nothing connects until the first request.
pub fn build_needs_no_runtime<R: Runtime + Default>(
    suite: Suite,
    block_on: fn(BoxFuture<'static, ()>),
) {
    let server = Memcached::start();
    let connections = server.stat("total_connections");
    let client = suite.builder::<R>(&[&server]).build().unwrap();
    assert_eq!(client.nodes().len(), 1);
    assert_eq!(client.node_for("k").unwrap().to_string(), server.addr());
    assert_eq!(client.healthy_nodes().len(), 1);
    assert_eq!(client.metrics()[0].1.connections_created, 0);
    // The probe in `stat` is the only connection so far.
    assert_eq!(server.stat("total_connections"), connections + 1);
    let inside = client.clone();
    block_on(Box::pin(async move {
        inside.set("k", "v").await.unwrap();
        assert_eq!(inside.get("k").await.unwrap().unwrap().value, "v");
    }));
    // A client built (and dropped) without ever running anything.
    drop(suite.builder::<R>(&[&server]).build().unwrap());
    drop(client);
}

pub async fn connect<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.builder::<R>(&[&server]).connect().await.unwrap();
    let metrics = client.metrics()[0].1;
    assert_eq!(metrics.connections_created, 1);
    assert_eq!(metrics.connections, 1);
    client.set("k", "v").await.unwrap();

    // A port nothing listens on: refused at once.
    let dead_port = DeadPort::bind();
    let dead = dead_port.addr();
    let started = Instant::now();
    let result = suite.builder_of::<R>([dead.as_str()]).connect().await;
    assert_err!(
        result,
        Error::Connect { node, source }
            if node == dead && source.kind() == ErrorKind::ConnectionRefused
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    // One dead node of two: connect succeeds on the live one.
    let client = suite
        .builder_of::<R>([dead.clone(), server.addr()])
        .connect()
        .await
        .unwrap();
    assert!(client
        .version(server.addr().as_str())
        .await
        .unwrap()
        .starts_with("1.6."));
    let started = Instant::now();
    assert_err!(
        client.version(dead.as_str()).await,
        Error::Connect { node, .. } if node == dead
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

pub async fn invalid_configuration<R: Runtime + Default>(suite: Suite) {
    let no_nodes = suite.builder_of::<R>(Vec::<String>::new()).build();
    assert_eq!(no_nodes.err(), Some(ConfigError::NoNodes));
    let duplicate = suite
        .builder_of::<R>(["127.0.0.1:1", "127.0.0.1:1"])
        .build();
    assert_eq!(
        duplicate.err(),
        Some(ConfigError::DuplicateNode("127.0.0.1:1".into()))
    );
    let bad = suite.builder_of::<R>(["nonsense"]).build();
    assert!(matches!(bad.err(), Some(ConfigError::Addr(_))));
    let bounds = suite
        .builder_of::<R>(["127.0.0.1:1"])
        .min_connections(3)
        .max_connections(2)
        .build();
    assert_eq!(
        bounds.err(),
        Some(ConfigError::PoolBounds { min: 3, max: 2 })
    );
    let zero = suite
        .builder_of::<R>(["127.0.0.1:1"])
        .max_connections(0)
        .build();
    assert!(matches!(zero.err(), Some(ConfigError::PoolBounds { .. })));
    assert_err!(
        suite.builder_of::<R>(["nonsense"]).connect().await,
        Error::Config(ConfigError::Addr(_))
    );
}
