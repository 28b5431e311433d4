//! Membership from the application's own source (a registry, DNS): listed nodes join and
//! leave as the source says, and a failing or empty source changes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memcache_it::Memcached;
use memcache_tokio::{
    Client, ConfigError, DiscoveredNode, DiscoveryError, DnsNodes, Error, NodeAddr, NodeSource,
    NodesFuture,
};

/// A source the test rewrites: the nodes, or the error it answers with.
#[derive(Clone)]
struct Registry(Arc<Mutex<Result<Vec<String>, String>>>, Arc<AtomicUsize>);

impl Default for Registry {
    fn default() -> Self {
        Registry(Arc::new(Mutex::new(Ok(Vec::new()))), Arc::default())
    }
}

impl Registry {
    /// Waits (bounded) until the client has asked `polls` more times.
    async fn polled(&self, polls: usize) {
        let target = self.1.load(Ordering::SeqCst) + polls;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.1.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "the source is not polled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn list(&self, nodes: &[&Memcached]) {
        *self.0.lock().unwrap() = Ok(nodes.iter().map(|server| server.addr()).collect());
    }

    fn fail(&self, message: &str) {
        *self.0.lock().unwrap() = Err(message.to_owned());
    }
}

impl NodeSource for Registry {
    fn nodes(&self) -> NodesFuture<'_> {
        let listed = self.0.lock().unwrap().clone();
        self.1.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let addrs = listed?;
            addrs
                .iter()
                .map(|addr| Ok(DiscoveredNode::new(NodeAddr::parse(addr)?)))
                .collect()
        })
    }

    fn name(&self) -> String {
        "test registry".to_owned()
    }
}

fn names(client: &Client) -> Vec<String> {
    client.nodes().iter().map(ToString::to_string).collect()
}

/// Waits (polling, bounded) until the client's nodes are `expected`.
async fn nodes_become(client: &Client, expected: &[&Memcached]) {
    let expected: Vec<String> = expected.iter().map(|server| server.addr()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names(client) != expected {
        assert!(
            Instant::now() < deadline,
            "nodes {:?}, expected {expected:?}",
            names(client)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_the_source() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let registry = Registry::default();
    registry.list(&[&a]);
    let client = Client::builder(Vec::<String>::new())
        .node_source(registry.clone())
        .discovery_interval(Duration::from_millis(20))
        .connect()
        .await
        .unwrap();
    assert_eq!(names(&client), [a.addr()]);
    client.set("k", "v").await.unwrap();

    registry.list(&[&a, &b]);
    nodes_become(&client, &[&a, &b]).await;
    let keys: Vec<String> = (0..100).map(|i| format!("ns:{i}")).collect();
    for key in &keys {
        client.set(key, "v").await.unwrap();
    }
    assert!(a.stat("curr_items") > 10 && b.stat("curr_items") > 10);

    // A failing or empty source keeps the nodes.
    registry.fail("registry unreachable");
    registry.polled(3).await;
    assert_eq!(names(&client), [a.addr(), b.addr()]);
    registry.list(&[]);
    registry.polled(3).await;
    assert_eq!(names(&client), [a.addr(), b.addr()]);

    registry.list(&[&b]);
    nodes_become(&client, &[&b]).await;
    assert_eq!(
        client.get_many(&keys).await.unwrap().len() as u64,
        b.stat("curr_items")
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_fails_at_first_fails_connect() {
    let registry = Registry::default();
    registry.fail("no such service");
    let result = Client::builder(Vec::<String>::new())
        .node_source(registry)
        .connect()
        .await;
    match result {
        Err(Error::Discovery {
            endpoint,
            source: DiscoveryError::Source(message),
        }) => {
            assert_eq!(endpoint, "test registry");
            assert_eq!(message, "no such service");
        }
        other => panic!("{other:?}"),
    }
    let built = Client::builder(Vec::<String>::new())
        .node_source(Registry::default())
        .build();
    assert!(matches!(built, Err(ConfigError::DiscoveryNeedsConnect)));
}

/// `localhost` through the system resolver: one node per address, named by its IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_names_resolve_to_their_addresses() {
    let server = Memcached::start();
    let source = DnsNodes::new("localhost", server.port()).ipv4_only();
    let nodes = source.nodes().await.unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].addr, NodeAddr::tcp("127.0.0.1", server.port()));
    assert_eq!(nodes[0].tls_name.as_deref(), Some("localhost"));

    let client = Client::builder(Vec::<String>::new())
        .node_source(source)
        .connect()
        .await
        .unwrap();
    client.set("dns", "resolved").await.unwrap();
    assert_eq!(client.get("dns").await.unwrap().unwrap().value, "resolved");
    assert_eq!(server.present(&["dns"]).len(), 1);

    let unknown = DnsNodes::new("no-such-host.invalid", 11211).nodes().await;
    assert!(unknown.is_err());
}
