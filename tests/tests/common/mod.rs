//! Helpers shared by the tokio test files that drive the fault-injecting proxy.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use memcache_tokio::{Client, Error, Item, NodeMetrics};

/// The timeout for operations that must not time out, and the bound on every wait.
pub(crate) const LONG: Duration = Duration::from_secs(5);

/// The counters of the client's only node.
pub(crate) fn metrics(client: &Client) -> NodeMetrics {
    client.metrics()[0].1
}

/// The value of a successful fetch of an existing key.
pub(crate) fn value(result: Result<Option<Item>, Error>) -> String {
    let item = result.expect("fetch failed").expect("key missing");
    String::from_utf8(item.value.to_vec()).expect("utf-8 value")
}

/// Polls `condition` every couple of milliseconds until it holds; fails after `within`.
pub(crate) async fn eventually(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Blocks until `receiver` yields an item matching `wanted`; fails after [`LONG`].
pub(crate) fn wait_for<T: std::fmt::Debug>(
    receiver: &Receiver<T>,
    what: &str,
    wanted: impl Fn(&T) -> bool,
) {
    let deadline = Instant::now() + LONG;
    tokio::task::block_in_place(|| loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(item) if wanted(&item) => return,
            Ok(_) => {}
            Err(_) => panic!("timed out waiting for {what}"),
        }
    });
}

/// Blocks until the proxy has forwarded a request line equal to `line`.
pub(crate) fn wait_request(lines: &Receiver<String>, line: &str) {
    wait_requests(lines, &[line]);
}

/// Blocks until the proxy has forwarded each of `wanted` (lines, in any order).
pub(crate) fn wait_requests(lines: &Receiver<String>, wanted: &[&str]) {
    let mut missing: Vec<&str> = wanted.to_vec();
    let deadline = Instant::now() + LONG;
    tokio::task::block_in_place(|| {
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = missing.iter().position(|m| *m == line) {
                        missing.swap_remove(at);
                    }
                }
                Err(_) => panic!("timed out waiting for requests {missing:?}"),
            }
        }
    });
}
