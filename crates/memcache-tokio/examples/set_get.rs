//! Store a value and read it back: `get` returns only the value, `gets` adds the CAS token,
//! and `return_flags()` adds the client flags.
//!
//! ```text
//! cargo run -p memcache-tokio --example set_get -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use memcache_tokio::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut nodes: Vec<String> = std::env::args().skip(1).collect();
    if nodes.is_empty() {
        nodes.push("127.0.0.1:11211".into());
    }

    // `connect` opens the connections up front, so an unreachable server fails here.
    let client = Client::builder(&nodes).connect().await?;
    println!("connected to {nodes:?}");

    client.set("key", "value").await?;
    println!("set key = \"value\"");

    // `get`: only the value is filled in.
    let item = client.get("key").await?.ok_or("key is missing")?;
    println!(
        "get key -> value {:?}, cas {:?}, flags {:?}",
        String::from_utf8_lossy(&item.value),
        item.cas,
        item.flags
    );
    assert!(item.cas.is_none() && item.flags.is_none());

    // `gets` adds the CAS token, `return_flags()` the flags.
    let item = client
        .gets("key")
        .return_flags()
        .await?
        .ok_or("key is missing")?;
    println!(
        "gets key -> value {:?}, cas {:?}, flags {:?}",
        String::from_utf8_lossy(&item.value),
        item.cas,
        item.flags
    );
    assert!(item.cas.is_some() && item.flags.is_some());

    // A missing key is `None`, not an error.
    let missing = client.get("no-such-key").await?;
    println!("get no-such-key -> {missing:?}");
    Ok(())
}
