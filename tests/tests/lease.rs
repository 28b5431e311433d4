//! Stampede protection: one winner per missing or stale key, stale values served meanwhile.

use std::future::IntoFuture;
use std::time::Duration;

use futures::future::join_all;
use memcache_it::Memcached;
use memcache_tokio::{Client, Error, Lease};

const LEASE: Duration = Duration::from_secs(30);

async fn client(server: &Memcached) -> Client {
    Client::builder([server.addr()]).connect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_winner_for_a_missing_key_then_hits() {
    let server = Memcached::start();
    let client = client(&server).await;
    assert_eq!(
        client.lease("lease:a", LEASE).await.unwrap(),
        Lease::Won { previous: None }
    );
    assert_eq!(
        client.lease("lease:a", LEASE).await.unwrap(),
        Lease::Pending { previous: None }
    );
    client.set("lease:a", "computed").flags(3).await.unwrap();
    match client.lease("lease:a", LEASE).await.unwrap() {
        Lease::Hit(item) => {
            assert_eq!(item.value, "computed");
            assert_eq!(item.flags, Some(3));
            assert!(item.cas.is_some());
        }
        other => panic!("expected a hit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_exactly_one_win() {
    let server = Memcached::start();
    let client = client(&server).await;
    let outcomes = join_all((0..50).map(|_| client.lease("lease:herd", LEASE).into_future())).await;
    let wins = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Lease::Won { .. })))
        .count();
    let pending = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Lease::Pending { previous: None })))
        .count();
    assert_eq!((wins, pending), (1, 49));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidated_value_is_served_stale_while_one_caller_recomputes() {
    let server = Memcached::start();
    let client = client(&server).await;
    client.set("lease:s", "old").await.unwrap();
    client.invalidate("lease:s", LEASE).await.unwrap();
    match client.lease("lease:s", LEASE).await.unwrap() {
        Lease::Won {
            previous: Some(item),
        } => assert_eq!(item.value, "old"),
        other => panic!("expected a win with the stale value, got {other:?}"),
    }
    match client.lease("lease:s", LEASE).await.unwrap() {
        Lease::Pending {
            previous: Some(item),
        } => assert_eq!(item.value, "old"),
        other => panic!("expected the stale value, got {other:?}"),
    }
    client.set("lease:s", "new").await.unwrap();
    assert!(
        matches!(client.lease("lease:s", LEASE).await.unwrap(), Lease::Hit(item) if item.value == "new")
    );
    assert!(matches!(
        client.invalidate("lease:missing", LEASE).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recache_below_hands_out_one_early_refresh() {
    let server = Memcached::start();
    let client = client(&server).await;
    client
        .set("lease:r", "v1")
        .ttl(Duration::from_secs(60))
        .await
        .unwrap();
    // Remaining TTL (60 s) is below 120 s: one caller refreshes early, the rest hit.
    let first = client
        .lease("lease:r", LEASE)
        .recache_below(Duration::from_secs(120))
        .await
        .unwrap();
    assert!(
        matches!(first, Lease::Won { previous: Some(ref item) } if item.value == "v1"),
        "{first:?}"
    );
    let second = client
        .lease("lease:r", LEASE)
        .recache_below(Duration::from_secs(120))
        .await
        .unwrap();
    assert!(
        matches!(second, Lease::Hit(ref item) if item.value == "v1"),
        "{second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_keys_are_refused_before_sending() {
    let server = Memcached::start();
    let client = client(&server).await;
    assert!(matches!(
        client.lease("bad key", LEASE).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        client.invalidate("", LEASE).await,
        Err(Error::Invalid(_))
    ));
}
