//! Autodiscovery: nodes learned from a configuration endpoint, joining and leaving as its
//! version moves, with requests in flight on a leaving node still answered.

use std::time::Duration;

use memcache_core::{Client, ClientBuilder, Error, Runtime};

use super::support::{eventually, prefix, spawn, DeadPort, Suite};
use crate::assert_err;
use crate::config_endpoint::ConfigEndpoint;
use crate::proxy::Proxy;
use crate::server::Memcached;

const SOON: Duration = Duration::from_secs(10);

fn discovering<R: Runtime + Default>(suite: Suite, endpoint: &ConfigEndpoint) -> ClientBuilder<R> {
    Client::<R>::discover(&endpoint.addr())
        .protocol(suite.protocol)
        .discovery_interval(Duration::from_millis(20))
}

fn addrs(servers: &[&Memcached]) -> Vec<String> {
    servers.iter().map(|server| server.addr()).collect()
}

fn node_names<R: Runtime>(client: &Client<R>) -> Vec<String> {
    client.nodes().iter().map(ToString::to_string).collect()
}

pub async fn discovery_follows_the_cluster<R: Runtime + Default>(suite: Suite) {
    let (a, b, c) = (Memcached::start(), Memcached::start(), Memcached::start());
    let endpoint = ConfigEndpoint::start(&[&a, &b]);
    let client = discovering::<R>(suite, &endpoint).connect().await.unwrap();
    assert_eq!(node_names(&client), addrs(&[&a, &b]));
    let p = prefix("discovery");
    let keys: Vec<String> = (0..200).map(|i| format!("{p}{i}")).collect();
    for key in &keys {
        client.set(key, key).await.unwrap();
    }

    // A node joins: it takes its share of the keys at once.
    endpoint.set_nodes(&[&a, &b, &c]);
    let joined = eventually::<R, _, _>(SOON, || {
        let names = node_names(&client);
        async move { names.len() == 3 }
    })
    .await;
    assert!(joined, "nodes: {:?}", node_names(&client));
    assert_eq!(node_names(&client), addrs(&[&a, &b, &c]));
    let on_c: Vec<&String> = keys
        .iter()
        .filter(|key| client.node_for(key).unwrap().to_string() == c.addr())
        .collect();
    assert!(!on_c.is_empty());
    for key in &on_c {
        // New to c: a miss, then written there.
        assert_eq!(client.get(key).await.unwrap(), None);
        client.set(key, key).await.unwrap();
    }
    assert_eq!(c.stat("curr_items"), on_c.len() as u64);
    assert_eq!(client.get_many(&keys).await.unwrap().len(), keys.len());

    // A node leaves: its keys move, and its connections close.
    endpoint.set_nodes(&[&a, &c]);
    let left = eventually::<R, _, _>(SOON, || {
        let names = node_names(&client);
        async move { names.len() == 2 }
    })
    .await;
    assert!(left);
    assert_eq!(node_names(&client), addrs(&[&a, &c]));
    for key in &keys {
        assert_ne!(client.node_for(key).unwrap().to_string(), b.addr());
        client.set(key, "after").await.unwrap();
    }
    // Only the probe's own connection stays on b.
    let closed = eventually::<R, _, _>(SOON, || {
        let open = b.stat("curr_connections");
        async move { open <= 2 }
    })
    .await;
    assert!(
        closed,
        "b still has {} connections",
        b.stat("curr_connections")
    );
    client.close().await;
}

pub async fn discovery_keeps_requests_in_flight<R: Runtime + Default>(suite: Suite) {
    let (a, b) = (Memcached::start(), Memcached::start());
    let proxy = Proxy::start(b.port());
    let proxy_port: u16 = proxy.addr().rsplit(':').next().unwrap().parse().unwrap();
    let endpoint = ConfigEndpoint::start(&[&a]);
    endpoint.set_ports(&[a.port(), proxy_port]);
    let client = discovering::<R>(suite, &endpoint)
        .timeout(Duration::from_secs(10))
        .close_grace(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let p = prefix("in_flight");
    let key = (0..)
        .map(|i| format!("{p}{i}"))
        .find(|key| client.node_for(key).unwrap().to_string() == proxy.addr())
        .unwrap();
    client.set(&key, "held").await.unwrap();

    // The reply is held while the node leaves the cluster.
    let requests = proxy.requests();
    proxy.hold();
    let pending = {
        let (client, key) = (client.clone(), key.clone());
        spawn(&R::default(), async move { client.get(&key).await })
    };
    let reached = eventually::<R, _, _>(SOON, || {
        let seen = requests.try_iter().any(|line| line.contains(key.as_str()));
        async move { seen }
    })
    .await;
    assert!(reached, "the get never reached the server");
    endpoint.set_nodes(&[&a]);
    let left = eventually::<R, _, _>(SOON, || {
        let names = node_names(&client);
        async move { names.len() == 1 }
    })
    .await;
    assert!(left);
    proxy.release();
    let item = pending.await.unwrap().expect("the held value");
    assert_eq!(item.value, "held");
    // The key now lives on the remaining node.
    assert_eq!(client.node_for(&key).unwrap().to_string(), a.addr());
    assert_eq!(client.get(&key).await.unwrap(), None);
}

pub async fn discovery_failures<R: Runtime + Default>(suite: Suite) {
    let (a, b) = (Memcached::start(), Memcached::start());

    // An endpoint that is down, or not an endpoint at all.
    let nothing = {
        let endpoint = ConfigEndpoint::start(&[&a]);
        endpoint.addr()
    };
    assert_err!(
        Client::<R>::discover(&nothing).connect().await,
        Error::Connect { .. }
    );
    assert_err!(
        Client::<R>::discover(&a.addr()).connect().await,
        Error::Discovery { .. }
    );
    let endpoint = ConfigEndpoint::start(&[&a]);
    endpoint.serve_garbage(Some(b"CONFIG cluster 0 5\r\nnope\r\r\nEND\r\n"));
    assert_err!(
        discovering::<R>(suite, &endpoint).connect().await,
        Error::Discovery { .. }
    );
    // build() cannot learn the nodes.
    assert!(discovering::<R>(suite, &endpoint).build().is_err());

    // Once running, a broken endpoint or an older version changes nothing.
    endpoint.serve_garbage(None);
    endpoint.set_nodes(&[&a, &b]);
    let client = discovering::<R>(suite, &endpoint).connect().await.unwrap();
    assert_eq!(node_names(&client), addrs(&[&a, &b]));
    endpoint.serve_garbage(Some(b"SERVER_ERROR busy\r\n"));
    let asked = endpoint.asked();
    let polled = eventually::<R, _, _>(SOON, || {
        let now = endpoint.asked();
        async move { now >= asked + 3 }
    })
    .await;
    assert!(polled);
    assert_eq!(node_names(&client), addrs(&[&a, &b]));
    // An older version is a lagging endpoint at first (ignored; the rule is unit-tested
    // in `discovery`), and a recreated cluster once it lasts: then it is adopted.
    endpoint.serve_garbage(None);
    endpoint.set_nodes_at_version(1, &[&a]);
    let adopted = eventually::<R, _, _>(SOON, || {
        let names = node_names(&client);
        async move { names.len() == 1 }
    })
    .await;
    assert!(adopted);
    assert_eq!(node_names(&client), addrs(&[&a]));
    assert!(endpoint.asked() >= 3);
    client.set("still", "works").await.unwrap();
    assert_eq!(client.get("still").await.unwrap().unwrap().value, "works");

    // After close, polling stops.
    client.close().await;
    let asked = endpoint.asked();
    let quiet = !eventually::<R, _, _>(Duration::from_millis(300), || {
        let now = endpoint.asked();
        async move { now > asked + 1 }
    })
    .await;
    assert!(quiet, "still polling after close");
}

pub async fn discovery_keeps_node_health<R: Runtime + Default>(suite: Suite) {
    let (a, c) = (Memcached::start(), Memcached::start());
    let dead = DeadPort::bind();
    let dead_port: u16 = dead.addr().rsplit(':').next().unwrap().parse().unwrap();
    let endpoint = ConfigEndpoint::start(&[&a]);
    endpoint.set_ports(&[a.port(), dead_port]);
    let client = discovering::<R>(suite, &endpoint)
        .unhealthy_after(1)
        .purge_unhealthy_nodes(true)
        .connect()
        .await
        .unwrap();
    let down = eventually::<R, _, _>(SOON, || {
        let unhealthy = client.unhealthy_nodes();
        async move { unhealthy.len() == 1 }
    })
    .await;
    assert!(down, "the dead node was never marked unhealthy");
    let p = prefix("health");
    let keys: Vec<String> = (0..50).map(|i| format!("{p}{i}")).collect();
    // Purged: every key goes to a.
    for key in &keys {
        assert_eq!(client.node_for(key).unwrap().to_string(), a.addr());
    }

    // A node joins: the dead one stays unhealthy and out of routing.
    endpoint.set_ports(&[a.port(), dead_port, c.port()]);
    let joined = eventually::<R, _, _>(SOON, || {
        let names = node_names(&client);
        async move { names.len() == 3 }
    })
    .await;
    assert!(joined);
    assert_eq!(client.unhealthy_nodes().len(), 1);
    assert_eq!(client.unhealthy_nodes()[0].to_string(), dead.addr());
    for key in &keys {
        assert_ne!(client.node_for(key).unwrap().to_string(), dead.addr());
        client.set(key, "v").await.unwrap();
    }
    assert!(c.stat("curr_items") > 0);
}
