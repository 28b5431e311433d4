//! The demos' tour of the client, shared by `memcache-tokio/examples/demo.rs` and
//! `memcache-async-std/examples/async_std_demo.rs`: the client API is the same on every
//! runtime, so this code is too. `Client` and `Error` are whichever the including demo
//! imports, and the demo includes `local_memcached.rs` as `local_memcached`.
//!
//! Besides the tour, the demos' `main` shares its start ([`start_servers`]) and its end
//! ([`exit_code`]); only running the tour on the demo's runtime is its own.

use std::error::Error as StdError;
use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::local_memcached::LocalMemcached;
use super::{Client, Error};

/// Starts the tour's two memcached servers and says where they listen. On failure, says
/// why and returns `None`: the demo then exits with [`ExitCode::FAILURE`].
///
/// The guards own the processes: they are killed when dropped at the end of the demo's
/// `main`, or while a panic unwinds through it.
pub(crate) fn start_servers() -> Option<[LocalMemcached; 2]> {
    match [LocalMemcached::start(), LocalMemcached::start()] {
        [Ok(first), Ok(second)] => {
            println!(
                "started memcached on {} and {}",
                first.addr(),
                second.addr()
            );
            Some([first, second])
        }
        // Not installed, and not installable from here: the message says what to install.
        [Err(error), _] | [_, Err(error)] if error.kind() == io::ErrorKind::NotFound => {
            eprintln!("{error}");
            None
        }
        [Err(error), _] | [_, Err(error)] => {
            eprintln!("could not start memcached: {error}");
            None
        }
    }
}

/// Reports how the tour went, and the exit code that says so; the servers stop after this,
/// when the demo's `main` returns.
pub(crate) fn exit_code(outcome: Result<(), Box<dyn StdError>>) -> ExitCode {
    match outcome {
        Ok(()) => {
            println!("\ndone; stopping the servers");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("\ndemo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs through the client's features against the memcached servers at `addrs`.
pub(crate) async fn run(addrs: &[&str]) -> Result<(), Box<dyn StdError>> {
    let client = Client::builder(addrs).connect().await?;

    section("set / get");
    client
        .set("greeting", "hello")
        .ttl(Duration::from_secs(60))
        .await?;
    let item = client.get("greeting").await?.ok_or("greeting is missing")?;
    println!(
        "set greeting = \"hello\" (ttl 60 s); get -> {}",
        text(&item.value)
    );
    println!("get missing  -> {:?}", client.get("missing").await?);

    section("conditional stores");
    match client.add("greeting", "ignored").await {
        Err(Error::NotStored) => println!("add greeting (exists)      -> Error::NotStored"),
        other => println!("add greeting -> {other:?}"),
    }
    client.append("greeting", ", world").await?;
    client.prepend("greeting", ">> ").await?;
    let item = client.get("greeting").await?.ok_or("greeting is missing")?;
    println!("append + prepend           -> {}", text(&item.value));
    match client.replace("nobody", "x").await {
        Err(Error::NotStored) => println!("replace nobody (missing)   -> Error::NotStored"),
        other => println!("replace nobody -> {other:?}"),
    }

    section("flags");
    client.set("config", "{\"debug\":true}").flags(4).await?;
    let item = client
        .get("config")
        .return_flags()
        .await?
        .ok_or("config is missing")?;
    println!(
        "set config with flags 4; get .return_flags() -> flags {:?}",
        item.flags
    );

    section("cas");
    client.set("stock", "10").await?;
    let item = client.gets("stock").await?.ok_or("stock is missing")?;
    let token = item.cas.expect("gets returns a CAS token");
    println!("gets stock -> {} (cas {token})", text(&item.value));
    client.cas("stock", "9", token).await?;
    println!("cas stock = 9 with cas {token} -> ok");
    match client.cas("stock", "8", token).await {
        Err(Error::Exists) => {
            println!("cas stock = 8 with the same (now stale) token -> Error::Exists")
        }
        other => println!("cas again -> {other:?}"),
    }

    section("get_many across two servers");
    let keys: Vec<String> = (1..=6).map(|n| format!("user:{n}")).collect();
    for key in &keys {
        client.set(key, format!("profile of {key}")).await?;
        println!("set {key:<7} -> node {}", client.node_for(key)?);
    }
    let found = client.get_many(&keys).await?;
    println!(
        "get_many of {} keys -> {} found in one call",
        keys.len(),
        found.len()
    );
    for key in &keys {
        if let Some(item) = found.get(key.as_bytes()) {
            println!("  {key:<7} = {}", text(&item.value));
        }
    }

    section("batched writes (one round trip per node)");
    let rows: Vec<(String, String)> = (1..=50)
        .map(|n| (format!("row:{n}"), format!("value {n}")))
        .collect();
    let results = client
        .set_many(rows.iter().map(|(key, value)| (key, value)))
        .await?;
    let stored = results.values().filter(|result| result.is_ok()).count();
    println!("set_many of {} rows -> {stored} stored", rows.len());
    let added = client
        .add_many([("row:1", "again"), ("row:51", "new")])
        .await?;
    for key in ["row:1", "row:51"] {
        println!("add_many {key:<6} -> {:?}", added[key.as_bytes()]);
    }
    let row_keys: Vec<&String> = rows.iter().map(|(key, _)| key).collect();
    let deleted = client.delete_many(&row_keys).await?;
    println!(
        "delete_many of {} rows -> {} deleted",
        row_keys.len(),
        deleted.values().filter(|result| result.is_ok()).count()
    );

    section("item information (meta protocol)");
    client
        .set("session", "abc")
        .ttl(Duration::from_secs(90))
        .await?;
    let item = client
        .get("session")
        .with_info()
        .await?
        .ok_or("session is missing")?;
    if let Some(info) = item.info {
        println!(
            "get session .with_info() -> ttl {:?}, fetched before {:?}, {} bytes",
            info.ttl,
            info.fetched_before,
            info.size.unwrap_or(0)
        );
    }

    section("incr / decr");
    client.set("hits", "41").await?;
    println!("incr hits by 1  -> {}", client.increment("hits", 1).await?);
    println!(
        "decr hits by 50 -> {} (stops at 0)",
        client.decrement("hits", 50).await?
    );
    match client.increment("greeting", 1).await {
        Err(Error::NotNumeric) => println!("incr greeting   -> Error::NotNumeric"),
        other => println!("incr greeting -> {other:?}"),
    }

    section("touch / delete");
    client.touch("greeting", Duration::from_secs(300)).await?;
    println!("touch greeting, new ttl 300 s -> ok");
    client.delete("greeting").await?;
    println!(
        "delete greeting -> ok; get -> {:?}",
        client.get("greeting").await?
    );
    match client.delete("greeting").await {
        Err(Error::NotFound) => println!("delete greeting again -> Error::NotFound"),
        other => println!("delete again -> {other:?}"),
    }

    section("version / stats (per node)");
    for node in client.nodes() {
        let version = client.version(&node).await?;
        let stats = client.stats(&node).await?;
        let stat = |name: &str| stats.get(name).map_or("?", String::as_str);
        println!(
            "{node}: memcached {version}, {} items, {} get hits, {} get misses",
            stat("curr_items"),
            stat("get_hits"),
            stat("get_misses")
        );
    }

    section("timeout");
    // A listener that accepts connections but never answers stands in for a stuck server.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let silent_addr = silent.local_addr()?.to_string();
    let stuck = Client::builder([&silent_addr])
        .timeout(Some(Duration::from_millis(200)))
        .build()?;
    let started = Instant::now();
    match stuck.get("anything").await {
        Err(Error::Timeout { .. }) => println!(
            "get from a server that never answers ({silent_addr}) -> Error::Timeout after {:?}",
            started.elapsed()
        ),
        other => println!("get from a silent server -> {other:?}"),
    }

    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn text(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
