//! The meta protocol: requests paired with replies by opaque tokens, keys of any bytes, and
//! item information (TTL, last access, fetched before, size) in the same round trip.
//! Needs memcached 1.6 or later.
//!
//! ```text
//! cargo run -p memcache-tokio --example meta_mode -- [HOST:PORT]   # default 127.0.0.1:11211
//! ```

use std::time::Duration;

use memcache_tokio::{Client, Protocol};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:11211".into());
    let client = Client::builder([node])
        .protocol(Protocol::Meta)
        .connect()
        .await?;

    // A key with a space and a zero byte: sent base64-encoded.
    let key: &[u8] = b"user 42\x00profile";
    client
        .set(key, "{\"name\":\"alice\"}")
        .ttl(Duration::from_secs(120))
        .await?;
    let item = client.get(key).with_info().await?.expect("just stored");
    let info = item.info.expect("asked for");
    println!("value: {}", String::from_utf8_lossy(&item.value));
    println!("ttl left: {:?}", info.ttl);
    println!("idle for: {:?}", info.last_access);
    println!("fetched before: {:?}", info.fetched_before);
    println!("size: {:?} bytes", info.size);

    // Everything else works as in the classic protocol.
    client.set("hits", "0").await?;
    println!("hits: {}", client.increment("hits", 5).await?);
    let found = client.get_many(["hits", "absent"]).await?;
    println!("get_many found {} of 2", found.len());
    client.delete(key).await?;
    Ok(())
}
