//! Storage options: client flags, an absolute expiration time, and `noreply`
//! (fire and forget).
//!
//! ```text
//! cargo run -p memcache-tokio --example flags_exptime_noreply -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memcache_tokio::Client;

#[path = "support/nodes.rs"]
mod nodes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();
    let client = Client::builder(&nodes).connect().await?;

    // Expire in one hour, as an absolute time (`.ttl(Duration::from_secs(3600))` is the
    // relative way to say the same).
    let expires = SystemTime::now() + Duration::from_secs(3600);
    client
        .set("key", "value")
        .flags(4)
        .expires_at(expires)
        // Do not ask for an explicit reply: returns once the request is queued.
        .noreply()
        .await?;
    println!(
        "set key = \"value\", flags 4, expires at unix time {}, noreply",
        expires.duration_since(UNIX_EPOCH)?.as_secs()
    );

    // The flags come back when asked for.
    let item = client
        .get("key")
        .return_flags()
        .await?
        .ok_or("key is missing")?;
    println!(
        "get key -> value {:?}, flags {:?}",
        String::from_utf8_lossy(&item.value),
        item.flags
    );

    // With noreply, a failure is not reported: this `add` is refused by the server (the key
    // exists), yet it returns Ok.
    client.add("key", "other").noreply().await?;
    let item = client.get("key").await?.ok_or("key is missing")?;
    println!(
        "add key = \"other\" with noreply -> Ok(()), but the value is still {:?}",
        String::from_utf8_lossy(&item.value)
    );
    Ok(())
}
