//! Every family of operations runs through one execution path, so the client's policies
//! apply to each alike: the retry policy (reads after any transient failure, writes only
//! when they never left the client), miss-on-unavailable (reads only), and the per-node
//! request counters. Shown against a node that refuses every connection, where each
//! request is certainly never sent and so may be retried whatever it is.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use memcache_tokio::{Client, ClientBuilder, Error, NodeMetrics, RetryPolicy};

/// Retries per request: each call makes this many attempts plus one.
const RETRIES: u32 = 2;

/// An address nothing listens on: connecting to it is refused at once.
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.to_string()
}

/// How a call ended, as far as the policies are concerned.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// A read answered as a miss (nothing found).
    Miss,
    /// Failed because the node could not be connected to.
    Unavailable,
    /// Anything else: the policies should never lead here.
    Other(String),
}

fn ended<T: std::fmt::Debug>(result: Result<T, Error>, empty: impl FnOnce(&T) -> bool) -> Ended {
    match result {
        Ok(found) if empty(&found) => Ended::Miss,
        Err(Error::Connect { .. }) => Ended::Unavailable,
        other => Ended::Other(format!("{other:?}")),
    }
}

/// A batched write's outcome: unavailable when every key failed to connect.
fn batch_ended(result: Result<memcache_tokio::KeyResults, Error>) -> Ended {
    match result {
        Ok(results)
            if !results.is_empty()
                && results
                    .values()
                    .all(|result| matches!(result, Err(Error::Connect { .. }))) =>
        {
            Ended::Unavailable
        }
        other => Ended::Other(format!("{other:?}")),
    }
}

type Call = for<'c> fn(&'c Client, &'c str) -> BoxFuture<'c, Ended>;

/// Every family, with how it must end against an unavailable node.
fn families() -> Vec<(&'static str, Ended, Call)> {
    vec![
        ("get", Ended::Miss, |c, _| {
            async { ended(c.get("k").await, Option::is_none) }.boxed()
        }),
        ("gat", Ended::Miss, |c, _| {
            async { ended(c.gat("k", Duration::from_secs(9)).await, Option::is_none) }.boxed()
        }),
        ("get_as", Ended::Miss, |c, _| {
            async { ended(c.get_as::<String, _>("k").await, Option::is_none) }.boxed()
        }),
        ("get_many", Ended::Miss, |c, _| {
            async { ended(c.get_many(["a", "b"]).await, |found| found.is_empty()) }.boxed()
        }),
        ("gets_many", Ended::Miss, |c, _| {
            async { ended(c.gets_many(["a", "b"]).await, |found| found.is_empty()) }.boxed()
        }),
        ("set", Ended::Unavailable, |c, _| {
            async { ended(c.set("k", "v").await, |_| false) }.boxed()
        }),
        ("set noreply", Ended::Unavailable, |c, _| {
            async { ended(c.set("k", "v").noreply().await, |_| false) }.boxed()
        }),
        ("add", Ended::Unavailable, |c, _| {
            async { ended(c.add("k", "v").await, |_| false) }.boxed()
        }),
        ("cas", Ended::Unavailable, |c, _| {
            async { ended(c.cas("k", "v", 1).await, |_| false) }.boxed()
        }),
        ("append", Ended::Unavailable, |c, _| {
            async { ended(c.append("k", "v").await, |_| false) }.boxed()
        }),
        ("increment", Ended::Unavailable, |c, _| {
            async { ended(c.increment("n", 1).await, |_| false) }.boxed()
        }),
        ("decrement noreply", Ended::Unavailable, |c, _| {
            async { ended(c.decrement("n", 1).noreply().await, |_| false) }.boxed()
        }),
        ("touch", Ended::Unavailable, |c, _| {
            async { ended(c.touch("k", Duration::from_secs(9)).await, |_| false) }.boxed()
        }),
        ("delete", Ended::Unavailable, |c, _| {
            async { ended(c.delete("k").await, |_| false) }.boxed()
        }),
        ("lease", Ended::Unavailable, |c, _| {
            async { ended(c.lease("k", Duration::from_secs(9)).await, |_| false) }.boxed()
        }),
        ("invalidate", Ended::Unavailable, |c, _| {
            async { ended(c.invalidate("k", Duration::from_secs(9)).await, |_| false) }.boxed()
        }),
        ("set_many", Ended::Unavailable, |c, _| {
            async { batch_ended(c.set_many([("a", "1"), ("b", "2")]).await) }.boxed()
        }),
        ("add_many", Ended::Unavailable, |c, _| {
            async { batch_ended(c.add_many([("a", "1"), ("b", "2")]).await) }.boxed()
        }),
        ("delete_many", Ended::Unavailable, |c, _| {
            async { batch_ended(c.delete_many(["a", "b"]).await) }.boxed()
        }),
        ("touch_many", Ended::Unavailable, |c, _| {
            async { batch_ended(c.touch_many(["a", "b"], Duration::from_secs(9)).await) }.boxed()
        }),
        ("version", Ended::Unavailable, |c, node| {
            async move { ended(c.version(node).await, |_| false) }.boxed()
        }),
        ("stats", Ended::Unavailable, |c, node| {
            async move { ended(c.stats(node).await, |_| false) }.boxed()
        }),
        ("flush_all", Ended::Unavailable, |c, node| {
            async move { ended(c.flush_all(node).await, |_| false) }.boxed()
        }),
    ]
}

fn metrics(client: &Client) -> NodeMetrics {
    client.metrics().remove(0).1
}

/// A client of a node nothing listens on, configured further by `configure`, and the node.
fn client_of_a_dead_node(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (Client, String) {
    let dead = dead_addr();
    let builder = Client::builder([dead.clone()])
        .timeout(Some(Duration::from_secs(10)))
        .connect_timeout(Duration::from_millis(500))
        .min_connections(0);
    let client = configure(builder).build().expect("a valid configuration");
    (client, dead)
}

/// One family's call: how it ended, how it must end when the policies apply, and the
/// requests (attempts) and unavailable misses it added to the node's counters.
struct Run {
    family: &'static str,
    expected: Ended,
    outcome: Ended,
    attempts: u64,
    misses: u64,
}

/// Calls every family once, one after another.
async fn run_every_family(client: &Client, dead: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    for (family, expected, call) in families() {
        let before = metrics(client);
        let outcome = call(client, dead).await;
        let after = metrics(client);
        runs.push(Run {
            family,
            expected,
            outcome,
            attempts: after.requests - before.requests,
            misses: after.unavailable_misses - before.unavailable_misses,
        });
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_is_retried_answered_as_a_miss_and_counted_alike() {
    let (client, dead) = client_of_a_dead_node(|builder| {
        let backoff = (Duration::from_millis(1), Duration::from_millis(2));
        builder
            .retry(RetryPolicy::new(RETRIES).backoff(backoff.0, backoff.1))
            .miss_on_unavailable(true)
    });
    let mut wrong = Vec::new();
    for run in run_every_family(&client, &dead).await {
        // Every attempt is one request at the node: the retry policy made them all.
        let expected_misses = u64::from(run.expected == Ended::Miss);
        let attempts = u64::from(RETRIES + 1);
        if run.outcome != run.expected || run.attempts != attempts || run.misses != expected_misses
        {
            wrong.push(format!(
                "{}: {:?} after {} attempts and {} misses counted; \
                 expected {:?} after {attempts} attempts and {expected_misses} misses",
                run.family, run.outcome, run.attempts, run.misses, run.expected
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "policies applied unevenly:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_policies_every_family_fails_once() {
    let (client, dead) = client_of_a_dead_node(|builder| builder);
    let mut wrong = Vec::new();
    for run in run_every_family(&client, &dead).await {
        if run.outcome != Ended::Unavailable || run.attempts != 1 || run.misses != 0 {
            wrong.push(format!(
                "{}: {:?} after {} attempts",
                run.family, run.outcome, run.attempts
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "policies applied unasked:\n{}",
        wrong.join("\n")
    );
}
