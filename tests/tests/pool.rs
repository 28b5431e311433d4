//! Pool sizing over time: growth under load, idle purge back to the minimum.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use futures::future::join_all;
use memcache_it::Memcached;
use memcache_tokio::Client;

fn open_connections(client: &Client) -> u64 {
    client.metrics()[0].1.connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_above_the_minimum_are_closed() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()])
        .min_connections(1)
        .max_connections(4)
        .idle_timeout(Some(Duration::from_millis(200)))
        .connect()
        .await
        .unwrap();
    client.set("pool:key", "v").await.unwrap();

    // Bursts of concurrent gets keep connections busy, which opens more of them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_connections(&client) < 2 {
        assert!(Instant::now() < deadline, "the pool never grew");
        let burst = join_all((0..200).map(|_| client.get("pool:key").into_future())).await;
        assert!(burst.into_iter().all(|result| result.unwrap().is_some()));
    }
    assert!(open_connections(&client) <= 4);

    // Idle now: everything above the minimum closes after the idle timeout.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_connections(&client) > 1 {
        assert!(
            Instant::now() < deadline,
            "idle connections were not closed"
        );
        // Polls the condition (the purge runs on the pool's own timer); the deadline bounds it.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metrics = client.metrics()[0].1;
    assert_eq!(metrics.connections, 1);
    assert!(metrics.connections_closed >= 1, "{metrics:?}");
    assert_eq!(client.get("pool:key").await.unwrap().unwrap().value, "v");
}
