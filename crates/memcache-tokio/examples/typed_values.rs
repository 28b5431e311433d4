//! Typed values: integers that `increment` works on, text, serde structs stored as JSON or
//! MessagePack and read back with `get_as`, lz4 compression of large values, and the typed
//! error a value read with the wrong codec gives. Starts a memcached of its own on a free
//! loopback port.
//!
//! ```text
//! cargo run -p memcache-tokio --features serde,lz4 --example typed_values
//! ```
//!
//! Needs the `memcached` binary, or `MEMCACHED_BIN` naming one; on Debian/Ubuntu a missing
//! memcached is installed first when run as root or with passwordless sudo.

use std::error::Error as StdError;

use memcache_tokio::value::{Json, MsgPack};
use memcache_tokio::{Client, Compression, Error, ValueError};

#[path = "support/local_memcached.rs"]
mod local_memcached;

use local_memcached::LocalMemcached;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Session {
    user: String,
    cart: Vec<u32>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let server = LocalMemcached::start()?;
    let client = Client::builder([server.addr()])
        // Values of 1 KiB and more are stored lz4-compressed when that shrinks them.
        .compression(Compression::lz4(1024))
        .connect()
        .await?;

    // Integers are stored in decimal, so the server's counters work on them.
    client.set("visits", 0u64).await?;
    client.increment("visits", 3).await?;
    let visits: Option<u64> = client.get_as("visits").await?;
    println!("visits: {visits:?}");

    // serde types, as JSON (readable by any client) or MessagePack (compact).
    let session = Session {
        user: "ada".into(),
        cart: vec![7, 42],
    };
    client.set("session:json", Json(&session)).await?;
    client.set("session:msgpack", MsgPack(&session)).await?;
    let Some(Json(read)) = client.get_as::<Json<Session>, _>("session:json").await? else {
        return Err("the session is missing".into());
    };
    println!("session: {read:?}");

    // The format is kept in the item's flags: reading it as something else is an error.
    match client.get_as::<Json<Session>, _>("session:msgpack").await {
        Err(Error::Value(ValueError::WrongFormat { expected, found })) => {
            println!("session:msgpack is {found}, not {expected}");
        }
        other => return Err(format!("expected a format error, got {other:?}").into()),
    }

    // A large page goes compressed; get_as decompresses, the raw get shows what is stored.
    let page = "<tr><td>row</td><td>of a long table</td></tr>\n".repeat(1000);
    client.set("page", &page).await?;
    let stored = client.get("page").await?.map_or(0, |item| item.value.len());
    let read: Option<String> = client.get_as("page").await?;
    println!(
        "page: {} bytes, {stored} stored, read back intact: {}",
        page.len(),
        read.as_deref() == Some(page.as_str())
    );

    client.close().await;
    Ok(())
}
