//! Compare-and-swap: a read-modify-write loop that retries when another writer got there
//! first (`Error::Exists`).
//!
//! ```text
//! cargo run -p memcache-tokio --example cas_loop -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use memcache_tokio::{Client, Error};

#[path = "support/nodes.rs"]
mod nodes;

const KEY: &str = "cas-loop:visits";
const WRITERS: u64 = 4;
const UPDATES_PER_WRITER: u64 = 25;

/// Adds one to the decimal counter at `KEY` with `gets` + `cas`, retrying on conflicts.
/// Returns how many attempts lost a race.
async fn add_one(client: &Client) -> Result<u64, Error> {
    let mut conflicts = 0;
    loop {
        let Some(item) = client.gets(KEY).await? else {
            // Missing: create it. `add` fails with NotStored if another writer created it
            // first; then go round again and update theirs.
            match client.add(KEY, "1").await {
                Ok(()) => return Ok(conflicts),
                Err(Error::NotStored) => {
                    conflicts += 1;
                    continue;
                }
                Err(error) => return Err(error),
            }
        };
        let current: u64 = std::str::from_utf8(&item.value)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or(Error::NotNumeric)?;
        let token = item.cas.expect("gets always returns a CAS token");
        match client.cas(KEY, (current + 1).to_string(), token).await {
            Ok(()) => return Ok(conflicts),
            // Changed since we read it (Exists) or deleted meanwhile (NotFound): read again.
            Err(Error::Exists | Error::NotFound) => conflicts += 1,
            Err(error) => return Err(error),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();
    let client = Client::builder(&nodes).connect().await?;

    // One stale token, step by step.
    client.set(KEY, "0").await?;
    let item = client.gets(KEY).await?.ok_or("key is missing")?;
    let old_cas = item.cas.expect("gets always returns a CAS token");
    println!("gets {KEY} -> value 0, cas {old_cas}");
    client.set(KEY, "100").await?; // another writer changes the item: its token changes
    println!("someone else sets {KEY} = 100");
    match client.cas(KEY, "1", old_cas).await {
        Err(Error::Exists) => println!(
            "cas with token {old_cas} -> Exists: cas token invalid, key couldn't be updated"
        ),
        other => println!("cas with token {old_cas} -> unexpected {other:?}"),
    }

    // Many writers at once: each update retries until its cas wins, so none is lost.
    // Start from a missing key, so the first update creates it.
    match client.delete(KEY).await {
        Ok(()) | Err(Error::NotFound) => {}
        Err(error) => return Err(error.into()),
    }
    println!("{WRITERS} tasks add 1 to {KEY} {UPDATES_PER_WRITER} times each, concurrently");
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let client = client.clone(); // clones share the connections
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..UPDATES_PER_WRITER {
                conflicts += add_one(&client).await?;
            }
            Ok::<u64, Error>(conflicts)
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await??;
    }
    let item = client.get(KEY).await?.ok_or("key is missing")?;
    println!(
        "final value {} (expected {}), {conflicts} lost races retried",
        String::from_utf8_lossy(&item.value),
        WRITERS * UPDATES_PER_WRITER
    );
    Ok(())
}
