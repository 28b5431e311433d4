//! A `metrics` recorder installed after the client was built still gets every series (in
//! a binary of its own: the global recorder can be installed once per process).

use memcache_it::Memcached;
use memcache_tokio::Client;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_installed_after_build_sees_every_series() {
    let server = Memcached::start();
    let node = server.addr();
    let client = Client::builder([&node]).build().unwrap();
    client.set("late", "v").await.unwrap();

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");
    for _ in 0..3 {
        assert!(client.get("late").await.unwrap().is_some());
    }

    let mut requests = 0;
    let mut durations = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let of_node = key
            .labels()
            .any(|label| label.key() == "node" && label.value() == node);
        match (key.name(), value) {
            ("memcache.requests", DebugValue::Counter(count)) if of_node => requests += count,
            ("db.client.operation.duration", DebugValue::Histogram(samples)) if of_node => {
                durations += samples.len()
            }
            _ => {}
        }
    }
    // The recorder sees what happened once it was in place; the client's own counters
    // saw everything.
    assert_eq!(requests, 3);
    assert_eq!(durations, 3);
    assert_eq!(client.metrics()[0].1.requests, 4);
}
