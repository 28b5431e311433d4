//! Edge cases of timeouts and admin replies: each test pins a behaviour against a real memcached.
//!
//! Nothing here sleeps to synchronise: tests wait on the proxy's request reports or poll a
//! condition against a deadline.

use std::time::Duration;

mod common;

use common::{eventually, metrics, value, wait_request, LONG};
use memcache_it::proxy::Proxy;
use memcache_it::Memcached;
use memcache_tokio::{Client, Error};

/// The driver's one timer must follow the earliest deadline in flight: when a request with a
/// long per-call timeout is answered and the next one has an EARLIER deadline (the default
/// timeout), a timer still armed for the later one would leave the stuck connection open (and
/// every request routed to it timing out) until the long deadline passes.
#[tokio::test(flavor = "multi_thread")]
async fn stuck_check_is_not_delayed_by_an_answered_longer_deadline() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(Some(Duration::from_millis(200)))
        .min_connections(0)
        .max_connections(1)
        // Written as made, while the proxy holds the replies ahead.
        .coalesce_writes(false)
        .connect()
        .await
        .unwrap();
    client.set("a", "va").await.unwrap();
    client.set("b", "vb").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    // A: a long per-call timeout, oldest on the connection: the stuck timer is armed for it.
    let a = {
        let client = client.clone();
        tokio::spawn(async move { client.get("a").timeout(LONG).await })
    };
    wait_request(&lines, "get a");
    // B: the default timeout; it never reaches the server.
    proxy.blackhole(true);
    let b = {
        let client = client.clone();
        tokio::spawn(async move { client.get("b").await })
    };
    wait_request(&lines, "get b");
    proxy.release();
    assert_eq!(value(a.await.unwrap()), "va");
    let b = b.await.unwrap();
    assert!(matches!(b, Err(Error::Timeout { .. })), "{b:?}");

    // B is now the oldest request and overdue (200 ms + margin): the connection is stuck.
    // Closing it must not wait for A's deadline (5.5 s), although A is long answered.
    eventually(
        "the stuck connection to be closed",
        Duration::from_secs(1),
        || metrics(&client).connections_closed == 1,
    )
    .await;
}

/// client.rs `patience`: `longest + (longest / 10)` overflows `Duration` for
/// `Duration::MAX` (a natural spelling of "practically no timeout"): the caller panics.
#[tokio::test(flavor = "multi_thread")]
async fn duration_max_timeout_does_not_panic() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()]).connect().await.unwrap();
    client.set("k", "v").await.unwrap();
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.get("k").timeout(Duration::MAX).await })
    };
    match call.await {
        Ok(result) => assert_eq!(value(result), "v"),
        Err(join) => panic!("the call panicked: {join}"),
    }
}

/// Writing a request computes `now + patience`, which overflows `Instant` for a huge (but
/// `Duration`-representable) timeout. It must saturate: a panic there would end the driver
/// task, and every later request on the connection would time out.
#[tokio::test(flavor = "multi_thread")]
async fn huge_timeout_does_not_kill_the_connection_driver() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()])
        .timeout(Some(Duration::from_millis(500)))
        .min_connections(0)
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    client.set("k", "v").await.unwrap();

    // ~270 billion years: fine for `Duration` and for the runtime's timer.
    let huge = Duration::from_secs(8_500_000_000_000_000_000);
    let first = client.get("k").timeout(huge).await;
    let second = client.get("k").await;
    let third = client.get("k").await;
    assert!(
        matches!(&first, Ok(Some(_))) && matches!(&second, Ok(Some(_))),
        "huge timeout: {first:?}; later calls: {second:?}, {third:?}"
    );
}

/// ops.rs `NodeRequest<HashMap<..>>`: `stats reset` succeeds on the server (`RESET`), but
/// the reply (decoded as `Reply::Other`) falls into the `unexpected` arm, so the call
/// reports `Error::UnexpectedReply` although the statistics were reset.
#[tokio::test(flavor = "multi_thread")]
async fn stats_reset_reports_success() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()]).connect().await.unwrap();
    client.get("miss").await.unwrap();
    assert!(server.stat("get_misses") >= 1);
    let result = client.stats(server.addr().as_str()).args(["reset"]).await;
    assert_eq!(server.stat("get_misses"), 0, "the server did reset");
    assert!(result.is_ok(), "{result:?}");
}

/// client.rs `patience`: meant to be "never less than the client's default, so a caller's
/// short timeout does not close a connection other callers are using". With no default
/// timeout (`timeout(None)`), `unwrap_or(timeout)` makes the call's own short timeout the
/// connection's stuck deadline: one impatient call on a slow reply closes the shared
/// connection and fails a concurrent caller that chose to wait forever.
#[tokio::test(flavor = "multi_thread")]
async fn short_call_timeout_does_not_kill_a_connection_without_default_timeout() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let client = Client::builder([proxy.addr()])
        .timeout(None)
        .min_connections(0)
        .max_connections(1)
        // Written as made, while the proxy holds the replies ahead.
        .coalesce_writes(false)
        .connect()
        .await
        .unwrap();
    client.set("a", "va").await.unwrap();
    client.set("b", "vb").await.unwrap();

    let lines = proxy.requests();
    proxy.hold();
    let impatient = {
        let client = client.clone();
        tokio::spawn(async move { client.get("a").timeout(Duration::from_millis(50)).await })
    };
    wait_request(&lines, "get a");
    let patient = {
        let client = client.clone();
        tokio::spawn(async move { client.get("b").await })
    };
    wait_request(&lines, "get b");
    let impatient = impatient.await.unwrap();
    assert!(
        matches!(impatient, Err(Error::Timeout { .. })),
        "{impatient:?}"
    );
    // The subject is the passing of time: well past the impatient call's stuck deadline
    // (50 ms + 10 ms margin), the server is slow, not dead.
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.release();
    let patient = patient.await.unwrap();
    assert_eq!(
        patient
            .as_ref()
            .ok()
            .cloned()
            .flatten()
            .map(|item| item.value),
        Some(bytes::Bytes::from_static(b"vb")),
        "the caller without a timeout: {patient:?}"
    );
    assert_eq!(metrics(&client).connections_created, 1);
}

/// A client that outlives its runtime: shutting the runtime down drops the driver and
/// connect tasks, whose drop guards report back into the pool. That must neither deadlock
/// (a report arriving while the pool is locked) nor panic, and dropping the client after
/// must return.
#[test]
fn a_client_outliving_its_runtime_shuts_down_cleanly() {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        let client = Client::builder([proxy.addr()])
            .max_connections(2)
            .max_in_flight(1)
            .timeout(None)
            .connect()
            .await
            .unwrap();
        client.set("k", "v").await.unwrap();
        proxy.hold();
        // Requests in flight, waiters for room, fire-and-forget writes queued: every path
        // a dropped task reports through.
        for i in 0..8 {
            let reader = client.clone();
            tokio::spawn(async move {
                let _ = reader.get(format!("k{i}")).await;
            });
            let writer = client.clone();
            tokio::spawn(async move {
                let _ = writer.set(format!("n{i}"), "v").noreply().await;
            });
        }
        eventually("requests on the wire", LONG, || proxy.bytes_to_server() > 0).await;
        client
    });
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(runtime);
        drop(client);
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(LONG).is_ok(),
        "runtime shutdown and client drop did not return"
    );
}
