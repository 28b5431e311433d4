//! Fetch many keys in one call. With several nodes the keys are split by node and the
//! per-node requests run concurrently; any error fails the whole call.
//!
//! ```text
//! cargo run -p memcache-tokio --example get_many -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use memcache_tokio::Client;

#[path = "support/nodes.rs"]
mod nodes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();
    let client = Client::builder(&nodes).connect().await?;

    for (key, value) in [("key", "value"), ("key2", "value2"), ("key3", "value3")] {
        client.set(key, value).flags(1).await?;
        println!("set {key} = {value:?} (on node {})", client.node_for(key)?);
    }

    // The map holds only the keys found (its order is arbitrary).
    let found = client.get_many(["key", "key2", "key3", "missing"]).await?;
    for (key, item) in &found {
        println!(
            "Key {} found with value {:?}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(&item.value)
        );
    }
    println!(
        "missing found: {}",
        found.contains_key(b"missing".as_slice())
    );

    // `gets_many` adds CAS tokens; `return_flags()` works here as well.
    let found = client.gets_many(["key", "key2"]).return_flags().await?;
    for key in ["key", "key2"] {
        let item = &found[key.as_bytes()];
        println!(
            "gets_many: {key} -> cas {:?}, flags {:?}",
            item.cas, item.flags
        );
    }
    Ok(())
}
