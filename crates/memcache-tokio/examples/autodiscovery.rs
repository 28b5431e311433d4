//! A client whose nodes come from an ElastiCache-style configuration endpoint
//! (`config get cluster`), polled for changes.
//!
//! ```text
//! cargo run -p memcache-tokio --example autodiscovery -- CONFIG_ENDPOINT:PORT
//! ```

use std::time::Duration;

use memcache_tokio::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(endpoint) = std::env::args().nth(1) else {
        eprintln!("usage: autodiscovery CONFIG_ENDPOINT:PORT");
        std::process::exit(2);
    };
    let client = Client::discover(&endpoint)
        .discovery_interval(Duration::from_secs(10))
        .connect()
        .await?;
    println!("nodes: {:?}", client.nodes());
    for round in 0..6 {
        let key = format!("discovered:{round}");
        client.set(&key, "v").await?;
        println!("{key} -> {}", client.node_for(&key)?);
        tokio::time::sleep(Duration::from_secs(10)).await;
        println!("nodes now: {:?}", client.nodes());
    }
    Ok(())
}
