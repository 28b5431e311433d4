//! Write, touch and delete many keys in one round trip per node, with each key's outcome.
//! Needs memcached 1.6 or later (the batches are quiet meta commands).
//!
//! ```text
//! cargo run -p memcache-tokio --example batched_writes -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use std::time::Duration;

use memcache_tokio::{Client, Error};

#[path = "support/nodes.rs"]
mod nodes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();
    let client = Client::builder(&nodes).connect().await?;

    let rows: Vec<(String, String)> = (0..100)
        .map(|i| (format!("row:{i}"), format!("value {i}")))
        .collect();
    let results = client
        .set_many(rows.iter().map(|(key, value)| (key, value)))
        .ttl(Duration::from_secs(300))
        .await?;
    let stored = results.values().filter(|result| result.is_ok()).count();
    println!("set_many: {stored} of {} stored", rows.len());

    // Only the keys that already exist fail, each with its own error.
    let results = client
        .add_many([("row:1", "again"), ("row:new", "fresh")])
        .await?;
    for (key, result) in &results {
        match result {
            Ok(()) => println!("add_many: {} added", String::from_utf8_lossy(key)),
            Err(Error::NotStored) => println!("add_many: {} exists", String::from_utf8_lossy(key)),
            Err(error) => println!("add_many: {}: {error}", String::from_utf8_lossy(key)),
        }
    }

    let keys: Vec<&String> = rows.iter().map(|(key, _)| key).collect();
    let touched = client.touch_many(&keys, Duration::from_secs(60)).await?;
    println!(
        "touch_many: {} touched",
        touched.values().filter(|result| result.is_ok()).count()
    );
    let deleted = client
        .delete_many(keys.iter().copied().chain([&"row:missing".to_string()]))
        .await?;
    let missing = deleted
        .values()
        .filter(|result| matches!(result, Err(Error::NotFound)))
        .count();
    println!(
        "delete_many: {} deleted, {missing} not found",
        deleted.len() - missing
    );
    client.delete("row:new").await?;
    Ok(())
}
