//! Store a value and read it back: `get` returns only the value, `gets` adds the CAS token,
//! and `return_flags()` adds the client flags.
//!
//! ```text
//! cargo run -p memcache-async-std --example async_std_set_get -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use memcache_async_std::{Client, Item};

#[path = "../../memcache-tokio/examples/support/nodes.rs"]
mod nodes;

#[async_std::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();

    // `connect` opens the connections up front, so an unreachable server fails here.
    let client = Client::builder(&nodes).connect().await?;
    println!("connected to {nodes:?}");

    client.set("key", "value").await?;
    println!("set key = \"value\"");

    // `get`: only the value is filled in.
    let item = client.get("key").await?.ok_or("key is missing")?;
    print_item("get key", &item);
    assert!(item.cas.is_none() && item.flags.is_none());

    // `gets` adds the CAS token, `return_flags()` the flags.
    let item = client
        .gets("key")
        .return_flags()
        .await?
        .ok_or("key is missing")?;
    print_item("gets key", &item);
    assert!(item.cas.is_some() && item.flags.is_some());

    // A missing key is `None`, not an error.
    let missing = client.get("no-such-key").await?;
    println!("get no-such-key -> {missing:?}");
    Ok(())
}

/// Prints what `item` holds: its value, and the CAS token and flags when they were asked for.
fn print_item(what: &str, item: &Item) {
    println!(
        "{what} -> value {:?}, cas {:?}, flags {:?}",
        String::from_utf8_lossy(&item.value),
        item.cas,
        item.flags
    );
}
