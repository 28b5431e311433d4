//! Get-or-compute: the cached value, or exactly one computation across all callers, and
//! never a failure because of the cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::join_all;
use memcache_it::Memcached;
use memcache_tokio::value::Json;
use memcache_tokio::Client;

fn client(server: &Memcached) -> Client {
    Client::builder([server.addr()])
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Counts computations.
#[derive(Clone, Default)]
struct Computations(Arc<AtomicUsize>);

impl Computations {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A computation of `value` that takes `time`.
    fn of(
        &self,
        value: &str,
        time: Duration,
    ) -> impl FnOnce() -> futures::future::BoxFuture<'static, Result<String, String>> {
        let (count, value) = (self.0.clone(), value.to_owned());
        move || {
            Box::pin(async move {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(time).await;
                Ok(value)
            })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_computed_once_then_served_from_the_cache() {
    let server = Memcached::start();
    let client = client(&server);
    let computed = Computations::default();
    for _ in 0..3 {
        let value: String = client
            .get_or_compute("goc:a", computed.of("fresh", Duration::ZERO))
            .ttl(Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(value, "fresh");
    }
    assert_eq!(computed.count(), 1);
    assert_eq!(server.present(&["goc:a"]).len(), 1);
}

/// 1,000 callers at once on a missing key: one computation, everyone gets its value. The
/// latencies are printed (`--nocapture`), not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_computes_once() {
    let server = Memcached::start();
    let client = client(&server);
    let computed = Computations::default();
    let compute_time = Duration::from_millis(100);
    let callers = (0..1000).map(|_| {
        let (client, computed) = (client.clone(), computed.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let value: String = client
                .get_or_compute("goc:stampede", computed.of("once", compute_time))
                .ttl(Duration::from_secs(60))
                .await
                .unwrap();
            (value, started.elapsed())
        })
    });
    let mut latencies = Vec::new();
    for result in join_all(callers).await {
        let (value, latency) = result.unwrap();
        assert_eq!(value, "once");
        latencies.push(latency);
    }
    assert_eq!(computed.count(), 1, "one computation for 1,000 callers");
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "stampede: 1000 callers, 1 computation of {compute_time:?}; latency p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cache_still_answers_by_computing() {
    let mut server = Memcached::start();
    let client = client(&server);
    server.kill();
    let computed = Computations::default();
    let value: String = client
        .get_or_compute("goc:dead", computed.of("computed anyway", Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(value, "computed anyway");
    assert_eq!(computed.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_computations_error_is_the_calls() {
    let server = Memcached::start();
    let client = client(&server);
    let result: Result<String, String> = client
        .get_or_compute("goc:failing", || async { Err("backend down".to_owned()) })
        .await;
    assert_eq!(result, Err("backend down".to_owned()));
    // Nothing was stored: the key holds the lease's empty placeholder until it expires.
    let reply = server.raw("mg goc:failing v");
    assert!(reply[0].starts_with("VA 0 "), "{reply:?}");
}

/// While one caller recomputes an invalidated value, the others are served the old one
/// at once (or wait for the new one, when told not to serve stale values).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidated_values_are_served_stale_during_the_recomputation() {
    let server = Memcached::start();
    let client = client(&server);
    client.set("goc:stale", "old").await.unwrap();
    client
        .invalidate("goc:stale", Duration::from_secs(30))
        .await
        .unwrap();
    let (release, released) = oneshot::channel::<()>();
    let (started, computing) = oneshot::channel::<()>();
    let winner = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get_or_compute("goc:stale", || async move {
                    started.send(()).unwrap();
                    released.await.unwrap();
                    Ok::<_, String>("new".to_owned())
                })
                .await
        })
    };
    // Only the caller that won the lease computes.
    computing.await.unwrap();
    let stale: String = client
        .get_or_compute("goc:stale", || async { Err("not the winner".to_owned()) })
        .await
        .unwrap();
    assert_eq!(stale, "old");
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get_or_compute("goc:stale", || async {
                    Err::<String, _>("not the winner".to_owned())
                })
                .serve_stale(false)
                .await
        })
    };
    release.send(()).unwrap();
    assert_eq!(winner.await.unwrap().unwrap(), "new");
    assert_eq!(waiting.await.unwrap().unwrap(), "new");
}

/// A winner that never finishes holds the others back for `max_wait` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_is_bounded() {
    let server = Memcached::start();
    let client = client(&server);
    let stuck = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get_or_compute("goc:stuck", || {
                    futures::future::pending::<Result<String, ()>>()
                })
                .await
        })
    };
    // The stuck caller has won once the key holds its placeholder (`HD Z`: won already).
    let placed = |server: &Memcached| {
        let reply = server.raw("mg goc:stuck");
        reply.first().is_some_and(|line| line.starts_with("HD"))
    };
    let mut tries = 0;
    while !placed(&server) {
        tries += 1;
        assert!(tries < 2000, "the first caller never took the lease");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = Instant::now();
    let value: String = client
        .get_or_compute("goc:stuck", || async {
            Ok::<_, ()>("impatient".to_owned())
        })
        .max_wait(Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(value, "impatient");
    assert!(started.elapsed() >= Duration::from_millis(200));
    stuck.abort();
}

/// Values are typed: a cached value that does not decode as the type asked for is
/// recomputed and replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_values_and_undecodable_ones() {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Profile {
        name: String,
    }
    let server = Memcached::start();
    let client = client(&server);
    client.set("goc:typed", "not json").await.unwrap();
    let profile: Json<Profile> = client
        .get_or_compute("goc:typed", || async {
            Ok::<_, ()>(Json(Profile { name: "Ada".into() }))
        })
        .await
        .unwrap();
    assert_eq!(profile.0.name, "Ada");
    let again: Json<Profile> = client
        .get_or_compute("goc:typed", || async { Err(()) })
        .await
        .unwrap();
    assert_eq!(again.0, profile.0);
}

/// A cache that does not answer is not asked to store the computed value: the caller pays
/// one timeout, not two, and gets its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_cache_is_not_asked_to_store() {
    let server = Memcached::start();
    let proxy = memcache_it::proxy::Proxy::start(server.port());
    let client = Client::builder([proxy.addr()]).build().unwrap();
    client.set("goc:warm-up", "connects").await.unwrap();
    proxy.hold();
    let value: String = client
        .get_or_compute("goc:hung", || async { Ok::<_, ()>("computed".to_owned()) })
        .timeout(Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(value, "computed");
    proxy.release();
    // Held replies still let requests through to the server: no store reached it.
    assert!(server.raw("mg goc:hung v")[0].starts_with("VA 0 "));
}

/// Looks are counted as hits and misses, as fetches are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looks_count_as_hits_and_misses() {
    let server = Memcached::start();
    let client = client(&server);
    let computed = Computations::default();
    for _ in 0..3 {
        let _: String = client
            .get_or_compute("goc:counted", computed.of("v", Duration::ZERO))
            .await
            .unwrap();
    }
    let metrics = &client.metrics()[0].1;
    assert_eq!((metrics.hits, metrics.misses), (2, 1));
}
