//! Share a cluster with Python services using pylibmc's documented setting,
//! `pylibmc.Client(servers, behaviors={"ketama": True})`: every key lands on the server
//! pylibmc picks, so both read each other's items.
//!
//! ```text
//! cargo run -p memcache-tokio --example pylibmc_cluster -- HOST:PORT HOST:PORT ...
//! ```

use memcache_tokio::{Client, Distribution};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes: Vec<String> = std::env::args().skip(1).collect();
    if nodes.is_empty() {
        eprintln!("usage: pylibmc_cluster HOST:PORT [HOST:PORT ...]  (in pylibmc's order)");
        std::process::exit(2);
    }
    // pylibmc {"ketama": True}: libmemcached's ketama with the default one-at-a-time key
    // hash. For {"ketama": True, "hash": "md5"} use KetamaMd5; for
    // {"ketama_weighted": True}, Ketama.
    let client = Client::builder(&nodes)
        .distribution(Distribution::KetamaOneAtATime)
        .connect()
        .await?;
    for key in ["user:1", "user:2", "session:abc", "cart:77"] {
        client.set(key, "from rust").await?;
        println!("{key:<12} -> {}", client.node_for(key)?);
    }
    Ok(())
}
