//! The in-process test double (`testing::MemoryServer`) behind the real client: what an
//! application's unit tests rely on. Time is tokio's paused clock, so expiry, timeouts
//! and reconnection run without waiting.

use std::time::Duration;

use memcache_tokio::testing::MemoryServer;
use memcache_tokio::{Client, Error, Lease, Protocol};

fn client(server: &MemoryServer, protocol: Protocol) -> Client {
    Client::builder([server.addr()])
        .protocol(protocol)
        .build()
        .expect("an in-process node needs no network")
}

async fn every_operation(protocol: Protocol) {
    let server = MemoryServer::new();
    let client = client(&server, protocol);

    client.set("a", "alpha").flags(7).await.unwrap();
    let item = client.get("a").return_flags().await.unwrap().unwrap();
    assert_eq!((item.value.as_ref(), item.flags), (&b"alpha"[..], Some(7)));
    assert_eq!(server.item("a").unwrap().flags, 7);
    assert!(client
        .add("a", "again")
        .await
        .is_err_and(|e| matches!(e, Error::NotStored)));
    client.append("a", "!").await.unwrap();
    client.prepend("a", "¡").await.unwrap();
    assert_eq!(server.item("a").unwrap().value, "¡alpha!");

    let cas = client.gets("a").await.unwrap().unwrap().cas.unwrap();
    client.cas("a", "beta", cas).await.unwrap();
    assert!(client.cas("a", "gamma", cas).await.is_err());
    assert_eq!(client.get("a").await.unwrap().unwrap().value, "beta");

    client.set("n", "41").await.unwrap();
    assert_eq!(client.increment("n", 1).await.unwrap(), 42);
    assert_eq!(client.decrement("n", 50).await.unwrap(), 0);
    assert!(matches!(
        client.increment("missing", 1).await,
        Err(Error::NotFound)
    ));

    client
        .set_many([("b", "bravo"), ("c", "charlie")])
        .await
        .unwrap();
    let found = client.get_many(["a", "b", "c", "d"]).await.unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found.value("c").unwrap(), "charlie");

    client.delete("b").await.unwrap();
    assert!(client
        .delete("b")
        .await
        .is_err_and(|e| matches!(e, Error::NotFound)));
    client.delete_many(["a", "c"]).await.unwrap();
    assert_eq!(server.len(), 1);
    assert!(server.commands() > 10);
    client.close().await;
}

#[tokio::test]
async fn every_operation_works_over_the_classic_protocol() {
    every_operation(Protocol::Text).await;
}

#[tokio::test]
async fn every_operation_works_over_the_meta_protocol() {
    every_operation(Protocol::Meta).await;
}

#[tokio::test(start_paused = true)]
async fn items_expire_when_the_server_clock_moves() {
    let server = MemoryServer::new();
    let client = client(&server, Protocol::Text);
    client
        .set("session", "x")
        .ttl(Duration::from_secs(60))
        .await
        .unwrap();
    let ttl = server.item("session").unwrap().ttl.unwrap();
    assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(58));
    server.advance(Duration::from_secs(59));
    assert!(client.get("session").await.unwrap().is_some());
    server.advance(Duration::from_secs(2));
    assert!(client.get("session").await.unwrap().is_none());
    assert!(server.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stopped_server_is_unavailable_until_started() {
    let server = MemoryServer::new();
    let client = client(&server, Protocol::Text);
    client.set("k", "v").await.unwrap();
    assert_eq!(server.connections(), 1);

    server.stop();
    assert_eq!(server.connections(), 0);
    let error = client.get("k").await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");

    server.start();
    // The client reconnects on its own, after its backoff (paused time runs it at once).
    let mut attempts = 0;
    let item = loop {
        attempts += 1;
        match client.get("k").await {
            Ok(item) => break item,
            Err(error) if error.is_transient() && attempts < 100 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("{error:?}"),
        }
    };
    assert_eq!(item.unwrap().value, "v");
}

#[tokio::test(start_paused = true)]
async fn a_paused_server_times_requests_out_and_answers_after_resuming() {
    let server = MemoryServer::new();
    let client = client(&server, Protocol::Meta);
    client.set("k", "v").await.unwrap();

    server.pause();
    let error = client
        .get("k")
        .timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");

    server.resume();
    assert_eq!(client.get("k").await.unwrap().unwrap().value, "v");
}

#[tokio::test]
async fn miss_on_unavailable_turns_a_dead_cache_into_misses() {
    let server = MemoryServer::new();
    let client = Client::builder([server.addr()])
        .miss_on_unavailable(true)
        .build()
        .unwrap();
    client.set("k", "v").await.unwrap();
    server.stop();
    assert_eq!(client.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn credentials_are_checked_like_an_auth_file() {
    let server = MemoryServer::new().with_credentials("app", "s3cret");
    let good = Client::builder([server.addr()])
        .credentials("app", "s3cret")
        .build()
        .unwrap();
    good.set("k", "v").await.unwrap();

    let bad = Client::builder([server.addr()])
        .credentials("app", "guess")
        .build()
        .unwrap();
    let error = bad.get("k").await.unwrap_err();
    assert!(matches!(error, Error::Auth { .. }), "{error:?}");

    let none = Client::builder([server.addr()]).build().unwrap();
    let error = none.get("k").await.unwrap_err();
    assert!(matches!(error, Error::Auth { .. }), "{error:?}");
}

#[tokio::test]
async fn oversized_values_are_refused_by_the_server() {
    let server = MemoryServer::new().with_item_size_max(1024);
    let client = client(&server, Protocol::Text);
    let error = client.set("big", vec![b'x'; 4096]).await.unwrap_err();
    assert!(error.to_string().contains("too large"), "{error}");
    assert!(server.item("big").is_none());
}

#[tokio::test(start_paused = true)]
async fn one_caller_wins_a_lease_and_the_others_wait() {
    let server = MemoryServer::new();
    let client = client(&server, Protocol::Meta);
    let lease = Duration::from_secs(30);
    assert!(matches!(
        client.lease("report", lease).await.unwrap(),
        Lease::Won { .. }
    ));
    assert!(matches!(
        client.lease("report", lease).await.unwrap(),
        Lease::Pending { .. }
    ));
    client.set("report", "done").await.unwrap();
    assert!(matches!(
        client.lease("report", lease).await.unwrap(),
        Lease::Hit(item) if item.value == "done"
    ));
}

#[tokio::test]
async fn keys_spread_over_several_servers() {
    let servers: Vec<MemoryServer> = (0..3).map(|_| MemoryServer::new()).collect();
    let client = Client::builder(servers.iter().map(MemoryServer::addr))
        .build()
        .unwrap();
    let keys: Vec<String> = (0..300).map(|n| format!("key:{n}")).collect();
    client
        .set_many(keys.iter().map(|key| (key, "v")))
        .await
        .unwrap();
    for server in &servers {
        assert!(server.len() > 50, "{} holds {}", server, server.len());
    }
    assert_eq!(servers.iter().map(MemoryServer::len).sum::<usize>(), 300);
    assert_eq!(client.get_many(&keys).await.unwrap().len(), 300);
    let owner = client.node_for("key:7").unwrap();
    let server = servers.iter().find(|s| s.addr() == owner).unwrap();
    assert!(server.item("key:7").is_some());
}

#[tokio::test]
async fn closing_delivers_every_write_already_sent() {
    let server = MemoryServer::new();
    let client = client(&server, Protocol::Text);
    for n in 0..100 {
        client.set(format!("k{n}"), "v").noreply().await.unwrap();
    }
    client.close().await;
    assert_eq!(server.len(), 100);
    assert_eq!(server.connections(), 0);
}
