//! The client through twemproxy (`nutcracker`, ketama + md5) in front of two memcached
//! servers: the classic text commands pass through, the rest make twemproxy close the
//! connection (the client reports `Error::ConnectionLost` and reconnects), and twemproxy
//! places keys exactly where the client's own `Distribution::Ketama` does.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use futures::future::join_all;
use memcache_core::router::{Distribution, NodeKey, Router};
use memcache_it::nutcracker::{Nutcracker, Upstream};
use memcache_it::{assert_err, Memcached};
use memcache_tokio::{Client, Error};

/// Two memcached servers and twemproxy in front of them.
struct Tier {
    a: Memcached,
    b: Memcached,
    proxy: Nutcracker,
}

impl Tier {
    fn start() -> Tier {
        let (a, b) = (Memcached::start(), Memcached::start());
        let proxy = Nutcracker::start(&[&a, &b]);
        Tier { a, b, proxy }
    }

    /// A client that knows only the proxy.
    fn client(&self) -> Client {
        Client::builder([self.proxy.addr()])
            .build()
            .expect("valid configuration")
    }

    fn backends(&self) -> [&Memcached; 2] {
        [&self.a, &self.b]
    }

    /// The backend holding `key`, asked directly; panics unless exactly one holds it.
    fn holder(&self, key: &str) -> &Memcached {
        let holders: Vec<&Memcached> = self
            .backends()
            .into_iter()
            .filter(|server| server.present(&[key]).contains(key))
            .collect();
        assert_eq!(holders.len(), 1, "{key} is on {} backends", holders.len());
        holders[0]
    }
}

#[track_caller]
fn assert_ttl_near(server: &Memcached, key: &str, expected: i64) {
    let ttl = server.ttl(key).expect("stored");
    // The server's clock ticks once a second and lags the wall clock by up to a second.
    assert!(
        (expected - 3..=expected + 3).contains(&ttl),
        "ttl of {key} is {ttl}, expected about {expected}"
    );
}

fn keys(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}:{i}")).collect()
}

/// Stores every key with itself as the value, 50 at a time.
async fn store_all(client: &Client, keys: &[String]) {
    for chunk in keys.chunks(50) {
        for result in join_all(chunk.iter().map(|key| client.set(key, key).into_future())).await {
            result.unwrap();
        }
    }
}

/// Asserts that `result` is the proxy closing the connection on a command it cannot parse.
#[track_caller]
fn assert_closed_by_proxy<T: std::fmt::Debug>(result: Result<T, Error>, proxy: &Nutcracker) {
    match result {
        Err(Error::ConnectionLost { node, source }) => {
            assert_eq!(node, proxy.addr());
            assert_eq!(source.kind(), ErrorKind::UnexpectedEof, "{source}");
        }
        other => panic!("expected the proxy to close the connection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_commands_pass_through() {
    let tier = Tier::start();
    let client = tier.client();

    // set and get, with a value holding protocol lines.
    assert_eq!(client.get("plain").await.unwrap(), None);
    let binary = b"a\r\nEND\r\n\0\xff\r\nVALUE x 0 1\r\n".to_vec();
    client.set("plain", &binary).await.unwrap();
    assert_eq!(client.get("plain").await.unwrap().unwrap().value, binary);
    assert_eq!(
        tier.holder("plain").raw("get plain")[0],
        format!("VALUE plain 0 {}", binary.len())
    );

    // add
    client.add("added", "first").await.unwrap();
    assert_err!(client.add("added", "second").await, Error::NotStored);
    assert_eq!(client.get("added").await.unwrap().unwrap().value, "first");

    // replace
    assert_err!(client.replace("replaced", "x").await, Error::NotStored);
    assert_eq!(client.get("replaced").await.unwrap(), None);
    client.set("replaced", "old").await.unwrap();
    client.replace("replaced", "new").flags(9).await.unwrap();
    let got = client
        .get("replaced")
        .return_flags()
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.value.as_ref(), got.flags), (&b"new"[..], Some(9)));

    // append and prepend keep the item's flags.
    assert_err!(client.append("joined", "tail").await, Error::NotStored);
    assert_err!(client.prepend("joined", "head").await, Error::NotStored);
    client.set("joined", "middle").flags(77).await.unwrap();
    client.append("joined", "-tail").await.unwrap();
    client.prepend("joined", "head-").await.unwrap();
    let got = client.get("joined").return_flags().await.unwrap().unwrap();
    assert_eq!(got.value, "head-middle-tail");
    assert_eq!(got.flags, Some(77));

    // flags, the whole u32 range.
    for flags in [0, 1, 65_536, 1 << 31, u32::MAX] {
        let key = format!("flags:{flags}");
        client.set(&key, "v").flags(flags).await.unwrap();
        let got = client.get(&key).return_flags().await.unwrap().unwrap();
        assert_eq!(got.flags, Some(flags));
        assert_eq!(
            tier.holder(&key).raw(&format!("get {key}"))[0],
            format!("VALUE {key} {flags} 1")
        );
    }

    // exptime: relative, absolute, in the past.
    client
        .set("ttl", "v")
        .ttl(Duration::from_secs(90))
        .await
        .unwrap();
    assert_ttl_near(tier.holder("ttl"), "ttl", 90);
    let now = SystemTime::now();
    client
        .set("at", "v")
        .expires_at(now + Duration::from_secs(7200))
        .await
        .unwrap();
    assert_ttl_near(tier.holder("at"), "at", 7200);
    client
        .set("past", "v")
        .exptime(now - Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(client.get("past").await.unwrap(), None);
    client.set("never", "v").await.unwrap();
    assert_eq!(tier.holder("never").ttl("never").expect("stored"), -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_and_cas_pass_through() {
    let tier = Tier::start();
    let client = tier.client();
    client.set("counter", "v1").await.unwrap();
    let token = client.gets("counter").await.unwrap().unwrap().cas.unwrap();
    client.cas("counter", "v2", token).await.unwrap();
    assert_eq!(client.get("counter").await.unwrap().unwrap().value, "v2");
    // The token moved on: the old one is stale.
    assert_err!(client.cas("counter", "v3", token).await, Error::Exists);
    let fresh = client.gets("counter").await.unwrap().unwrap().cas.unwrap();
    assert_ne!(fresh, token);
    client.set("counter", "other writer").await.unwrap();
    assert_err!(client.cas("counter", "v3", fresh).await, Error::Exists);
    assert_err!(client.cas("missing", "v", token).await, Error::NotFound);
    assert_eq!(client.get("missing").await.unwrap(), None);
    // The token is the holding server's own.
    let token = client.gets("counter").await.unwrap().unwrap().cas.unwrap();
    let direct = tier.holder("counter").raw("gets counter");
    assert!(direct[0].ends_with(&format!(" {token}")), "{direct:?}");

    // gets over many keys, split by the proxy over both servers: a token for each.
    let keys = keys("gets", 40);
    store_all(&client, &keys).await;
    let got = client.gets_many(&keys).await.unwrap();
    assert_eq!(got.len(), keys.len());
    for key in &keys {
        let item = &got[key.as_bytes()];
        assert_eq!(item.value, key.as_bytes());
        client
            .cas(key, "swapped", item.cas.expect("a cas token"))
            .await
            .unwrap();
    }
    let got = client.get_many(&keys).await.unwrap();
    assert!(got.values().all(|item| item.value == "swapped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_touch_and_delete_pass_through() {
    let tier = Tier::start();
    let client = tier.client();

    client.set("n", "10").await.unwrap();
    assert_eq!(client.increment("n", 5).await.unwrap(), 15);
    assert_eq!(client.decrement("n", 20).await.unwrap(), 0);
    assert_eq!(client.increment("n", u64::MAX).await.unwrap(), u64::MAX);
    assert_eq!(client.increment("n", 2).await.unwrap(), 1);
    assert_err!(client.increment("absent", 1).await, Error::NotFound);
    assert_err!(client.decrement("absent", 1).await, Error::NotFound);
    client.set("text", "abc").await.unwrap();
    assert_err!(client.increment("text", 1).await, Error::NotNumeric);

    client.set("touched", "v").await.unwrap();
    client
        .touch("touched", Duration::from_secs(120))
        .await
        .unwrap();
    assert_ttl_near(tier.holder("touched"), "touched", 120);
    assert_err!(
        client.touch("absent", Duration::from_secs(1)).await,
        Error::NotFound
    );

    client.set("deleted", "v").await.unwrap();
    client.delete("deleted").await.unwrap();
    assert_eq!(client.get("deleted").await.unwrap(), None);
    assert!(tier.a.present(&["deleted"]).is_empty() && tier.b.present(&["deleted"]).is_empty());
    assert_err!(client.delete("deleted").await, Error::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_is_split_over_both_servers() {
    let tier = Tier::start();
    let client = tier.client();
    let stored = keys("many", 300);
    store_all(&client, &stored).await;
    let refs: Vec<&str> = stored.iter().map(String::as_str).collect();
    let (on_a, on_b) = (tier.a.present(&refs), tier.b.present(&refs));
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "one server holds every key"
    );
    assert!(on_a.is_disjoint(&on_b));
    assert_eq!(on_a.len() + on_b.len(), stored.len());

    // One command through the proxy, with missing keys and duplicates among the stored.
    let mut asked: Vec<String> = stored.clone();
    asked.extend(keys("absent", 50));
    asked.extend(stored[..20].iter().cloned());
    let got = client.get_many(&asked).return_flags().await.unwrap();
    assert_eq!(got.len(), stored.len());
    for key in &stored {
        let item = &got[key.as_bytes()];
        assert_eq!((item.value.as_ref(), item.flags), (key.as_bytes(), Some(0)));
    }
    assert!(client
        .get_many(keys("absent", 50))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noreply_passes_through() {
    let tier = Tier::start();
    // One connection, so each noreply request is ahead of the check that follows it.
    let client = Client::builder([tier.proxy.addr()])
        .max_connections(1)
        .build()
        .unwrap();
    client.set("quiet", "1").noreply().await.unwrap();
    client.add("quiet", "not stored").noreply().await.unwrap();
    client.append("quiet", "0").noreply().await.unwrap();
    assert_eq!(client.get("quiet").await.unwrap().unwrap().value, "10");
    client.increment("quiet", 5).noreply().await.unwrap();
    assert_eq!(client.get("quiet").await.unwrap().unwrap().value, "15");
    client
        .touch("quiet", Duration::from_secs(300))
        .noreply()
        .await
        .unwrap();
    assert_eq!(client.increment("quiet", 1).await.unwrap(), 16);
    assert_ttl_near(tier.holder("quiet"), "quiet", 300);
    client.delete("quiet").noreply().await.unwrap();
    client.delete("quiet").noreply().await.unwrap();
    assert_eq!(client.get("quiet").await.unwrap(), None);
    // The ignored failures (add, the second delete) left the stream in step.
    client.set("after", "ok").await.unwrap();
    assert_eq!(client.get("after").await.unwrap().unwrap().value, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_values_pass_through() {
    let tier = Tier::start();
    let client = Client::builder([tier.proxy.addr()])
        .max_value_len(2 << 20)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Just under memcached's default 1 MiB item size.
    let big: Vec<u8> = (0..(1 << 20) - 512).map(|i| (i * 7 % 251) as u8).collect();
    let names = keys("big", 6);
    for (i, key) in names.iter().enumerate() {
        client.set(key, &big[i..]).await.unwrap();
    }
    for (i, key) in names.iter().enumerate() {
        assert_eq!(client.get(key).await.unwrap().unwrap().value, &big[i..]);
    }
    let got = client.get_many(&names).await.unwrap();
    assert_eq!(got.len(), names.len());
    for (i, key) in names.iter().enumerate() {
        assert_eq!(got[key.as_bytes()].value, &big[i..]);
    }
    // Over the server's item size: its SERVER_ERROR comes back through the proxy.
    let huge = vec![b'x'; 3 << 19];
    match client.set("huge", &huge).await {
        Err(Error::Server(message)) => assert!(message.contains("too large"), "{message}"),
        other => panic!("expected Error::Server, got {other:?}"),
    }
    assert_eq!(client.get("huge").await.unwrap(), None);
    assert_eq!(client.get(&names[0]).await.unwrap().unwrap().value, big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_replies_keep_their_order() {
    let tier = Tier::start();
    // One connection carrying every request, written together while earlier ones are out:
    // twemproxy answers a connection in request order even when another server is faster.
    let client = Client::builder([tier.proxy.addr()])
        .max_connections(1)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let names = keys("order", 200);
    let value = |i: usize| -> Vec<u8> {
        let len = if i % 10 == 0 { 200_000 } else { 10 };
        let mut value = format!("{i}:").into_bytes();
        value.resize(len, b'.');
        value
    };
    for (i, key) in names.iter().enumerate() {
        client.set(key, value(i)).await.unwrap();
    }
    for _ in 0..3 {
        let replies = join_all(names.iter().map(|key| client.get(key).into_future())).await;
        for (i, reply) in replies.into_iter().enumerate() {
            assert_eq!(
                reply.unwrap().unwrap().value,
                value(i),
                "reply for {}",
                names[i]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobatched_gets_are_split_by_the_proxy() {
    let tier = Tier::start();
    // Single-key gets waiting together become one multi-key `get`, which twemproxy splits
    // over both servers and answers as one reply.
    let client = Client::builder([tier.proxy.addr()])
        .max_connections(1)
        .autobatching(true)
        .build()
        .unwrap();
    let names = keys("batched", 200);
    store_all(&client, &names).await;
    let mut asked = names.clone();
    asked.extend(keys("absent", 20));
    let replies = join_all(asked.iter().map(|key| client.get(key).into_future())).await;
    for (key, reply) in asked.iter().zip(replies) {
        let reply = reply.unwrap();
        if key.starts_with("absent") {
            assert_eq!(reply, None, "{key}");
        } else {
            assert_eq!(reply.unwrap().value, key.as_bytes());
        }
    }
    let (_, metrics) = &client.metrics()[0];
    assert_eq!(metrics.requests_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_passes_through() {
    let tier = Tier::start();
    let client = tier.client();
    let version = client.version(tier.proxy.addr().as_str()).await.unwrap();
    // A backend's version, not twemproxy's own (0.5.0).
    assert_eq!(format!("VERSION {version}"), tier.a.raw("version")[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_commands_close_the_connection() {
    let tier = Tier::start();
    let client = tier.client();
    let proxy = tier.proxy.addr();
    let node = proxy.as_str();
    let hour = Duration::from_secs(3600);
    client.set("kept", "v").await.unwrap();
    client.set("counter", "1").await.unwrap();
    let mut failures = 0;
    // After each refusal, an ordinary command works again (on a new connection), and
    // the item shows the refused command did nothing.
    macro_rules! refused {
        ($request:expr) => {{
            assert_closed_by_proxy($request.await, &tier.proxy);
            failures += 1;
            assert_eq!(client.get("kept").await.unwrap().unwrap().value, "v");
            assert_eq!(client.increment("counter", 1).await.unwrap(), failures + 1);
        }};
    }
    refused!(client.flush_all(node));
    refused!(client.flush_all(node).delay(hour));
    refused!(client.stats(node));
    refused!(client.stats(node).args(["settings"]));
    refused!(client.verbosity(node, 1));
    refused!(client.cache_memlimit(node, 64));
    refused!(client.gat("kept", hour));
    refused!(client.gats("kept", hour));
    refused!(client.gat_many(["kept", "counter"], hour));
    refused!(client.gats_many(["kept"], hour));
    // The meta commands (`mg`, `md`) behind leases.
    refused!(client.lease("kept", hour));
    refused!(client.invalidate("kept", hour));
    // Item information is asked for with `mg`.
    refused!(client.get("kept").with_info());
    // No gat/gats reached a server: the item still never expires.
    assert_eq!(tier.holder("kept").ttl("kept").expect("stored"), -1);

    let (_, metrics) = &client.metrics()[0];
    assert_eq!(metrics.requests_failed, failures);
    assert_eq!(metrics.connections_failed, 0);
    assert!(client.unhealthy_nodes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_commands_fail_every_key_and_leave_the_proxy_usable() {
    let tier = Tier::start();
    let client = tier.client();
    let keys = keys("batched", 20);
    store_all(&client, &keys).await;
    // Batched writes are quiet meta commands: each key reports the closed connection.
    let results = client
        .set_many(keys.iter().map(|key| (key, "new")))
        .await
        .unwrap();
    assert_eq!(results.len(), keys.len());
    for result in results.into_values() {
        assert_closed_by_proxy(result, &tier.proxy);
    }
    for result in client.delete_many(&keys).await.unwrap().into_values() {
        assert_closed_by_proxy(result, &tier.proxy);
    }
    // Nothing was executed, and ordinary commands still work.
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    assert!(found.iter().all(|(key, item)| item.value == key));

    // A client in meta mode gets nothing through.
    let meta = Client::builder([tier.proxy.addr()])
        .protocol(memcache_tokio::Protocol::Meta)
        .build()
        .unwrap();
    assert_closed_by_proxy(meta.get(&keys[0]).await, &tier.proxy);
    assert_closed_by_proxy(meta.set(&keys[0], "x").await, &tier.proxy);
}

#[test]
fn a_refused_command_takes_its_neighbours_down() {
    let tier = Tier::start();
    let quiet = Duration::from_millis(500);
    let (reply, closed) = tier.proxy.exchange(b"get k\r\n", quiet);
    assert_eq!((reply.as_slice(), closed), (&b"END\r\n"[..], false));
    // No reply at all, not even `get`'s: twemproxy drops the connection as it parses the
    // command it does not know, before forwarding what came before it in the same read.
    for refused in [
        "stats",
        "flush_all",
        "verbosity 1",
        "mn",
        "mg k v",
        "gat 0 k",
    ] {
        let request = format!("get k\r\n{refused}\r\nget k\r\n");
        let (reply, closed) = tier.proxy.exchange(request.as_bytes(), quiet);
        assert_eq!((reply.as_slice(), closed), (&b""[..], true), "{refused}");
    }
    // `version` is forwarded; `quit` answers what came before, then closes.
    let (reply, closed) = tier.proxy.exchange(b"get k\r\nversion\r\nget k\r\n", quiet);
    assert!(reply.starts_with(b"END\r\nVERSION "), "{reply:?}");
    assert!(reply.ends_with(b"\r\nEND\r\n") && !closed, "{reply:?}");
    let (reply, closed) = tier.proxy.exchange(b"get k\r\nquit\r\nget k\r\n", quiet);
    assert_eq!((reply.as_slice(), closed), (&b"END\r\n"[..], true));
}

/// Writes `count` keys through the proxy, then checks that a direct ketama client of
/// `direct` (built like the proxy's pool) finds each key where the proxy put it.
async fn assert_placement_agrees(
    servers: &[&Memcached],
    proxy: &Nutcracker,
    direct: &Client,
    count: usize,
) -> Vec<HashSet<String>> {
    let through_proxy = Client::builder([proxy.addr()]).build().unwrap();
    let names = keys("ketama", count);
    store_all(&through_proxy, &names).await;

    // Each server alone, read by a one-node client.
    let mut held: Vec<HashSet<String>> = Vec::new();
    for server in servers {
        let alone = Client::builder([server.addr()]).build().unwrap();
        let got = alone.get_many(&names).await.unwrap();
        held.push(
            got.keys()
                .map(|key| String::from_utf8(key.to_vec()).unwrap())
                .collect(),
        );
    }
    assert_eq!(held.iter().map(HashSet::len).sum::<usize>(), count);
    let mut wrong = Vec::new();
    for key in &names {
        let routed = direct.node_for(key).unwrap().to_string();
        let holder = servers
            .iter()
            .zip(&held)
            .find(|(_, keys)| keys.contains(key))
            .map(|(server, _)| server.addr())
            .expect("some server holds the key");
        if routed != holder {
            wrong.push(format!(
                "{key}: client routes to {routed}, twemproxy put it on {holder}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {count} keys disagree: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );

    // The direct client reads every key the proxy wrote ...
    let got = direct.get_many(&names).await.unwrap();
    assert_eq!(got.len(), count);
    assert!(names.iter().all(|key| got[key.as_bytes()].value == key));
    // ... and the proxy reads what the direct client writes.
    let more = keys("direct", 100);
    store_all(direct, &more).await;
    let got = through_proxy.get_many(&more).await.unwrap();
    assert_eq!(got.len(), more.len());
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ketama_md5_placement_agrees_with_the_client() {
    let tier = Tier::start();
    let direct = Client::builder([tier.a.addr(), tier.b.addr()])
        .distribution(Distribution::Ketama)
        .build()
        .unwrap();
    let held = assert_placement_agrees(&tier.backends(), &tier.proxy, &direct, 500).await;
    assert!(held.iter().all(|keys| keys.len() > 100), "uneven: {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_placement_agrees_with_the_client() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let proxy = Nutcracker::start_with(&[Upstream::of(&a), Upstream::of(&b).weight(3)]);
    let direct = Client::builder(Vec::<String>::new())
        .node(a.addr(), 1)
        .node(b.addr(), 3)
        .distribution(Distribution::Ketama)
        .build()
        .unwrap();
    let held = assert_placement_agrees(&[&a, &b], &proxy, &direct, 400).await;
    // About a quarter and three quarters.
    assert!(
        held[1].len() > 2 * held[0].len(),
        "{:?}",
        (held[0].len(), held[1].len())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_servers_are_placed_by_name() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let proxy = Nutcracker::start_with(&[
        Upstream::of(&a).name("alpha"),
        Upstream::of(&b).name("beta"),
    ]);
    let through_proxy = Client::builder([proxy.addr()]).build().unwrap();
    let names = keys("named", 300);
    store_all(&through_proxy, &names).await;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let held = [a.present(&refs), b.present(&refs)];

    // twemproxy hashes `alpha-0`, `alpha-1`, ...: the point strings of host "alpha" on the
    // default port.
    let by_name = Router::new(
        Distribution::Ketama,
        &[
            (
                NodeKey::Tcp {
                    host: "alpha",
                    port: 11211,
                },
                1,
            ),
            (
                NodeKey::Tcp {
                    host: "beta",
                    port: 11211,
                },
                1,
            ),
        ],
    );
    let by_addr = Client::builder([a.addr(), b.addr()])
        .distribution(Distribution::Ketama)
        .build()
        .unwrap();
    let mut moved = 0;
    for key in &names {
        let index = by_name.route(key.as_bytes()).unwrap();
        assert!(held[index].contains(key), "{key} is not on server {index}");
        if by_addr.node_for(key).unwrap().to_string() != [&a, &b][index].addr() {
            moved += 1;
        }
    }
    // So a client configured with the addresses finds a share of the keys elsewhere.
    assert!(moved > 0, "names did not change placement");
}

#[test]
fn stats_listen_on_their_own_port() {
    let tier = Tier::start();
    let mut stream = TcpStream::connect(("127.0.0.1", tier.proxy.stats_port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut json = String::new();
    stream.read_to_string(&mut json).unwrap();
    assert!(json.contains("\"memcache-it\""), "{json}");
    for server in tier.backends() {
        assert!(json.contains(&format!("\"{}\"", server.addr())), "{json}");
    }
    // The configuration was written where it says, with the pool's servers in order.
    let config = std::fs::read_to_string(tier.proxy.config_path()).unwrap();
    let servers: Vec<&str> = config
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .collect();
    assert_eq!(
        servers,
        [
            format!("{}:1", tier.a.addr()),
            format!("{}:1", tier.b.addr())
        ]
    );
}

/// Hash tags, both ways: keys written through a twemproxy with `hash_tag: "{}"` are found by
/// the client (with the same tag) on the node it routes them to, and keys the client writes
/// are found through the proxy. Each user's keys share one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_tags_place_keys_as_twemproxy_does() {
    let (a, b, c) = (Memcached::start(), Memcached::start(), Memcached::start());
    let servers = [&a, &b, &c];
    let upstreams: Vec<Upstream> = servers.iter().map(|server| Upstream::of(server)).collect();
    let proxy = Nutcracker::start_with_hash_tag(&upstreams, "{}");
    let through_proxy = Client::builder([proxy.addr()]).build().unwrap();
    let direct = Client::builder(servers.map(|server| server.addr()))
        .distribution(Distribution::Ketama)
        .hash_tag("{}")
        .build()
        .unwrap();
    let key = |user: usize, field: &str| format!("{{user:{user}}}:{field}");

    // Through the proxy, read directly from the node the client routes to.
    for user in 0..60 {
        for field in ["name", "mail", "plan"] {
            through_proxy
                .set(key(user, field), format!("{user}-{field}"))
                .await
                .unwrap();
        }
    }
    let mut nodes_used = HashSet::new();
    for user in 0..60 {
        let home = direct.node_for(format!("user:{user}")).unwrap();
        nodes_used.insert(home.to_string());
        let alone = Client::builder([home.to_string()]).build().unwrap();
        for field in ["name", "mail", "plan"] {
            assert_eq!(direct.node_for(key(user, field)).unwrap(), home);
            let item = alone.get(key(user, field)).await.unwrap();
            assert_eq!(
                item.map(|item| item.value),
                Some(format!("{user}-{field}").into()),
                "{} is not on {home}",
                key(user, field)
            );
        }
    }
    assert_eq!(nodes_used.len(), 3, "the users spread over every node");

    // Written by the client, read through the proxy; one user's keys in one request.
    for user in 100..130 {
        for field in ["name", "mail"] {
            direct.set(key(user, field), "direct").await.unwrap();
        }
    }
    let before: u64 = direct.metrics().iter().map(|(_, m)| m.requests).sum();
    let found = direct
        .get_many([key(100, "name"), key(100, "mail")])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let after: u64 = direct.metrics().iter().map(|(_, m)| m.requests).sum();
    assert_eq!(
        after - before,
        1,
        "a user's keys are fetched in one request"
    );
    for user in 100..130 {
        for field in ["name", "mail"] {
            let item = through_proxy.get(key(user, field)).await.unwrap();
            assert_eq!(item.map(|item| item.value), Some("direct".into()));
        }
    }
}

#[test]
fn a_hash_tag_is_two_characters() {
    let built = Client::builder(["127.0.0.1:11211"]).hash_tag("{").build();
    assert!(
        matches!(built, Err(memcache_tokio::ConfigError::HashTag(ref tag)) if tag == "{"),
        "{built:?}"
    );
}
