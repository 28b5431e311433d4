//! Socket options on the client's TCP connections, read back from the kernel's socket table
//! (`/proc/net/tcp`): keepalive on by default, off when disabled.

use std::time::Duration;

use memcache_it::Memcached;
use memcache_tokio::Client;

/// The timer kind (`tr` column) of every established connection to `port` on loopback:
/// 2 is the keepalive timer, 0 none.
fn timers_of_connections_to(port: u16) -> Vec<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("linux socket table");
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let established = fields.get(3) == Some(&"01");
            let timer = fields.get(5)?.split(':').next()?;
            (fields.get(2) == Some(&remote.as_str()) && established)
                .then(|| u32::from_str_radix(timer, 16).ok())
                .flatten()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn keepalive_is_on_by_default_and_can_be_turned_off() {
    let with = Memcached::start();
    let client = Client::builder([with.addr()]).connect().await.unwrap();
    client.set("k", "v").await.unwrap();
    let timers = timers_of_connections_to(with.port());
    assert_eq!(
        timers,
        vec![2],
        "one idle connection, keepalive timer armed"
    );

    let without = Memcached::start();
    let client = Client::builder([without.addr()])
        .tcp_keepalive(None)
        .connect()
        .await
        .unwrap();
    client.set("k", "v").await.unwrap();
    assert_eq!(timers_of_connections_to(without.port()), vec![0]);

    let custom = Memcached::start();
    let client = Client::builder([custom.addr()])
        .tcp_keepalive(Some(Duration::from_secs(5)))
        .connect()
        .await
        .unwrap();
    client.set("k", "v").await.unwrap();
    assert_eq!(timers_of_connections_to(custom.port()), vec![2]);
}
