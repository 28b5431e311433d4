//! Flush every node, each with a different delay, so the misses that follow do not all
//! land on the backing store at once. `flush_all` addresses one node at a time.
//!
//! The delays are applied by the servers: this program sends the commands and exits at
//! once; the items disappear 10 s (first node), 20 s (second node), ... later.
//!
//! ```text
//! cargo run -p memcache-tokio --example flush_all -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use std::time::Duration;

use memcache_tokio::Client;

#[path = "support/nodes.rs"]
mod nodes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();
    let client = Client::builder(&nodes).connect().await?;

    client.set("key", "value").await?;

    for (index, node) in client.nodes().iter().enumerate() {
        let delay = Duration::from_secs(10 + 10 * index as u64);
        client.flush_all(node).delay(delay).await?;
        println!("flush_all {node}: items will be invalidated in {delay:?}");
    }

    // The flush has not happened yet.
    let still_there = client.get("key").await?.is_some();
    println!("key still readable right after: {still_there}");
    Ok(())
}
