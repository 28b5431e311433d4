//! Observability: the per-node series of the `metrics` facade, read here with the
//! debugging recorder of `metrics-util` (use an exporter such as Prometheus in a service),
//! and `Client::metrics()`, with hit and miss counts and latency percentiles, which needs
//! no feature. Starts a memcached of its own on a free loopback port.
//!
//! ```text
//! cargo run -p memcache-tokio --features metrics --example metrics
//! ```
//!
//! Needs the `memcached` binary, or `MEMCACHED_BIN` naming one; on Debian/Ubuntu a missing
//! memcached is installed first when run as root or with passwordless sudo.

use std::error::Error as StdError;
use std::time::Duration;

use memcache_tokio::Client;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[path = "support/local_memcached.rs"]
mod local_memcached;

use local_memcached::LocalMemcached;

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    // The recorder comes first: each node registers its series when the client creates it.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install()?;

    let server = LocalMemcached::start()?;
    let client = Client::builder([server.addr()])
        .timeout(Some(Duration::from_secs(1)))
        .connect()
        .await?;
    for i in 0..100 {
        client.set(format!("key:{i}"), "value").await?;
    }
    // 100 hits and 50 misses, one at a time and in one multi-key fetch.
    for i in 0..150 {
        client.get(format!("key:{i}")).await?;
    }
    let keys: Vec<String> = (0..150).map(|i| format!("key:{i}")).collect();
    client.get_many(&keys).await?;

    println!("the metrics facade (one series per node):");
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        let value = match value {
            DebugValue::Counter(count) => count.to_string(),
            DebugValue::Gauge(gauge) => gauge.to_string(),
            DebugValue::Histogram(samples) => {
                let total: f64 = samples.iter().map(|sample| sample.into_inner()).sum();
                let mean = total / samples.len().max(1) as f64;
                format!("{} samples, mean {:.1} µs", samples.len(), mean * 1e6)
            }
        };
        println!("  {}{{{}}} = {value}", key.name(), labels.join(","));
    }

    println!("\nClient::metrics():");
    for (node, metrics) in client.metrics() {
        let latency = metrics.latency;
        println!(
            "  {node}: {} requests, {} hits, {} misses, {} timeouts",
            metrics.requests, metrics.hits, metrics.misses, metrics.timeouts
        );
        println!(
            "  latency over {} requests: p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            latency.count, latency.p50, latency.p90, latency.p99, latency.p999, latency.max
        );
    }
    client.close().await;
    Ok(())
}
