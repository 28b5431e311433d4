//! Operation timeouts: matching `Error::Timeout`, the client default (1 s unless
//! configured), a per-call override, and disabling timeouts with `None`. A local listener
//! that accepts connections but never answers makes real timeouts happen.
//!
//! ```text
//! cargo run -p memcache-tokio --example timeouts -- [HOST:PORT ...]   # default 127.0.0.1:11211
//! ```

use std::time::{Duration, Instant};

use memcache_tokio::{Client, Error};

#[path = "support/nodes.rs"]
mod nodes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = nodes::from_args();

    // Against a real server. Any operation can fail with Error::Timeout unless timeouts
    // are disabled: decide at the call site what to do about it.
    let client = Client::builder(&nodes)
        .timeout(Some(Duration::from_millis(500)))
        .connect()
        .await?;
    match client.set("key", "value").await {
        Ok(()) => println!("set key on {nodes:?}: ok within the 500 ms client timeout"),
        Err(Error::Timeout { .. }) => println!("Set operation timed out, retry?"),
        Err(error) => return Err(error.into()),
    }
    // Per call: `.timeout(d)` overrides the client's timeout, `.timeout(None)` disables it.
    let item = client
        .get("key")
        .timeout(Duration::from_millis(100))
        .await?;
    println!("get key .timeout(100 ms) -> found: {}", item.is_some());
    let item = client.get("key").timeout(None).await?;
    println!("get key .timeout(None)   -> found: {}", item.is_some());

    // A server that never answers: the kernel accepts connections into the listen backlog
    // and nobody ever reads them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let silent_addr = silent.local_addr()?.to_string();
    println!("\nsilent server on {silent_addr}:");
    // A fresh client for each case below: a connection whose request went unanswered past
    // its timeout is closed, and calls queued behind it fail with Error::ConnectionLost.
    let with_timeout =
        |timeout: Option<Duration>| Client::builder([&silent_addr]).timeout(timeout).build();

    let client = with_timeout(Some(Duration::from_millis(200)))?;
    let started = Instant::now();
    match client.get("key").await {
        Err(error @ Error::Timeout { .. }) => println!(
            "  get, client timeout 200 ms          -> {error} after {:?} (is_transient: {})",
            started.elapsed(),
            error.is_transient()
        ),
        other => println!("  get -> unexpected {other:?}"),
    }

    let client = with_timeout(Some(Duration::from_millis(200)))?;
    let started = Instant::now();
    match client.get("key").timeout(Duration::from_millis(50)).await {
        Err(Error::Timeout { .. }) => println!(
            "  get .timeout(50 ms) overrides it    -> Error::Timeout after {:?}",
            started.elapsed()
        ),
        other => println!("  get .timeout(50 ms) -> unexpected {other:?}"),
    }

    // Timeouts disabled: the call waits as long as it takes. An outer tokio timeout gives
    // up after 300 ms, to show that the client itself never does.
    let client = with_timeout(None)?;
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_millis(300), client.get("key")).await {
        Err(_elapsed) => println!(
            "  get, client timeout None            -> still waiting after {:?} (stopped by tokio::time::timeout)",
            started.elapsed()
        ),
        Ok(result) => println!("  get, client timeout None -> unexpected {result:?}"),
    }
    Ok(())
}
