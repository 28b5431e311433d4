//! Key -> node routing that other memcached clients agree with.
//!
//! A cluster is only shared if every client sends a key to the same node, so both schemes here
//! copy an existing client bit for bit and are tested against vectors produced by the real
//! libraries (`testdata/generate.py`):
//!
//! - [`Distribution::Rendezvous`] (the default): emcache 1.3.3's rendezvous hashing over
//!   MurmurHash3, including its 640-value fold and its tie rule.
//! - [`Distribution::Ketama`]: libmemcached's weighted ketama
//!   (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, as used by pylibmc `ketama_weighted`, PHP
//!   memcached `OPT_LIBKETAMA_COMPATIBLE`), checked against libmemcached 1.0.16.
//!
//! Both hash the configured host string and port, never a resolved address:
//! `localhost:11211` and `127.0.0.1:11211` are different nodes.
//!
//! ```
//! use memcache_core::router::{Distribution, NodeKey, Router};
//! let nodes = [
//!     (NodeKey::Tcp { host: "10.0.0.1", port: 11211 }, 1),
//!     (NodeKey::Tcp { host: "10.0.0.2", port: 11211 }, 1),
//! ];
//! let router = Router::new(Distribution::Rendezvous, &nodes);
//! let index = router.route(b"user:42").unwrap();
//! assert!(index < 2);
//! ```

use std::fmt;

mod ketama;
mod rendezvous;

use ketama::Ketama;
use rendezvous::Rendezvous;

/// One configured node's identity as routing sees it (the configured strings, not resolved
/// addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKey<'a> {
    /// A TCP node: host exactly as configured (name, IPv4 or IPv6 text) and port.
    Tcp {
        /// The host string as configured, not resolved.
        host: &'a str,
        /// The TCP port. For ketama, 0 means 11211, as in libmemcached.
        port: u16,
    },
    /// A unix-socket node.
    Unix {
        /// The socket path as configured.
        path: &'a str,
    },
}

/// Which consistent-hashing scheme picks a key's node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Distribution {
    /// emcache 1.3.3 rendezvous hashing (MurmurHash3_x64_128 scores, unweighted).
    ///
    /// Node ids are `"{host}{port}"` with no separator, or the unix socket path.
    #[default]
    Rendezvous,
    /// libmemcached weighted ketama (MD5 continuum of about 160 points per node, scaled by each
    /// node's share of the total weight).
    ///
    /// Point strings are `"{host}:{port}-{i}"`, `"{host}-{i}"` for port 11211 (or 0), and
    /// `"{path}:0-{i}"` for unix sockets.
    Ketama,
}

/// A pure, immutable router built once from the node list.
///
/// Cheap to share: it is `Send + Sync` and routing takes `&self` and never allocates.
#[derive(Clone)]
pub struct Router {
    distribution: Distribution,
    len: usize,
    inner: Inner,
}

/// The per-scheme precomputed state. Lists of zero or one node need none.
#[derive(Clone, Debug)]
enum Inner {
    Trivial,
    Rendezvous(Rendezvous),
    Ketama(Ketama),
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("distribution", &self.distribution)
            .field("len", &self.len)
            .field("inner", &self.inner)
            .finish()
    }
}

impl Router {
    /// Builds a router over `nodes`: (identity, weight) in configured order. Routing returns
    /// indices into this list.
    ///
    /// - Rendezvous ignores weights (emcache has none).
    /// - Ketama uses them; a weight of 0 counts as 1, as libmemcached stores it. A node whose
    ///   share of the total weight is too small for one group of 4 points gets no keys, as in
    ///   libmemcached.
    /// - An empty list gives a router whose [`route`](Router::route) always returns `None`.
    ///
    /// Duplicate identities are allowed but are not merged; a duplicate never wins against its
    /// first occurrence, so its index receives no keys.
    #[must_use]
    pub fn new(distribution: Distribution, nodes: &[(NodeKey<'_>, u32)]) -> Router {
        let inner = if nodes.len() <= 1 {
            Inner::Trivial
        } else {
            match distribution {
                Distribution::Rendezvous => {
                    let keys: Vec<NodeKey<'_>> = nodes.iter().map(|&(key, _)| key).collect();
                    Inner::Rendezvous(Rendezvous::new(&keys))
                }
                Distribution::Ketama => Inner::Ketama(Ketama::new(nodes)),
            }
        };
        Router {
            distribution,
            len: nodes.len(),
            inner,
        }
    }

    /// Index (into the configured list) of the node that owns `key`.
    ///
    /// With exactly one node: `Some(0)` without hashing. With zero nodes: `None`. Any byte
    /// string is accepted, including empty keys and keys longer than memcached's 250 bytes.
    #[must_use]
    pub fn route(&self, key: &[u8]) -> Option<usize> {
        match self.len {
            0 => None,
            1 => Some(0),
            _ => match &self.inner {
                Inner::Trivial => Some(0),
                Inner::Rendezvous(r) => r.route(key),
                Inner::Ketama(k) => k.route(key),
            },
        }
    }

    /// The number of configured nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the router was built from an empty node list.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The scheme this router was built with.
    #[must_use]
    pub fn distribution(&self) -> Distribution {
        self.distribution
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = include_str!("testdata/keys.txt");

    const SCENARIOS: &[(&str, &str)] = &[
        ("rendezvous_1", include_str!("testdata/rendezvous_1.txt")),
        ("rendezvous_2", include_str!("testdata/rendezvous_2.txt")),
        ("rendezvous_3", include_str!("testdata/rendezvous_3.txt")),
        ("rendezvous_4", include_str!("testdata/rendezvous_4.txt")),
        ("rendezvous_8", include_str!("testdata/rendezvous_8.txt")),
        (
            "rendezvous_unix",
            include_str!("testdata/rendezvous_unix.txt"),
        ),
        (
            "rendezvous_idtie",
            include_str!("testdata/rendezvous_idtie.txt"),
        ),
        (
            "rendezvous_idtie_reversed",
            include_str!("testdata/rendezvous_idtie_reversed.txt"),
        ),
        ("ketama_1", include_str!("testdata/ketama_1.txt")),
        ("ketama_2", include_str!("testdata/ketama_2.txt")),
        ("ketama_3", include_str!("testdata/ketama_3.txt")),
        ("ketama_4", include_str!("testdata/ketama_4.txt")),
        ("ketama_8", include_str!("testdata/ketama_8.txt")),
        ("ketama_unix", include_str!("testdata/ketama_unix.txt")),
        ("ketama_25", include_str!("testdata/ketama_25.txt")),
        (
            "ketama_weighted",
            include_str!("testdata/ketama_weighted.txt"),
        ),
        (
            "ketama_weighted_mixed",
            include_str!("testdata/ketama_weighted_mixed.txt"),
        ),
    ];

    fn unhex(s: &str) -> Vec<u8> {
        if s == "-" {
            return Vec::new();
        }
        assert!(s.len() % 2 == 0, "odd hex {s}");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn data_lines(text: &str) -> impl Iterator<Item = &str> {
        text.lines().filter(|l| !l.starts_with('#'))
    }

    fn keys() -> Vec<Vec<u8>> {
        data_lines(KEYS).map(unhex).collect()
    }

    enum OwnedNode {
        Tcp(String, u16),
        Unix(String),
    }

    struct Scenario {
        distribution: Distribution,
        nodes: Vec<(OwnedNode, u32)>,
        routes: Vec<usize>,
    }

    impl Scenario {
        fn parse(text: &str) -> Scenario {
            let mut distribution = None;
            let mut nodes = Vec::new();
            let mut routes = String::new();
            let mut expected = None;
            for line in data_lines(text) {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["distribution", "rendezvous"] => distribution = Some(Distribution::Rendezvous),
                    ["distribution", "ketama"] => distribution = Some(Distribution::Ketama),
                    ["node", "tcp", host, port, weight] => nodes.push((
                        OwnedNode::Tcp(host.to_string(), port.parse().expect("port")),
                        weight.parse().expect("weight"),
                    )),
                    ["node", "unix", path, weight] => nodes.push((
                        OwnedNode::Unix(path.to_string()),
                        weight.parse().expect("weight"),
                    )),
                    ["routes", n] => expected = Some(n.parse::<usize>().expect("count")),
                    [digits] if expected.is_some() => routes.push_str(digits),
                    other => panic!("bad testdata line {other:?}"),
                }
            }
            let routes: Vec<usize> = routes
                .chars()
                .map(|c| c.to_digit(36).expect("route digit") as usize)
                .collect();
            assert_eq!(Some(routes.len()), expected);
            Scenario {
                distribution: distribution.expect("distribution line"),
                nodes,
                routes,
            }
        }

        fn router(&self) -> Router {
            let nodes: Vec<(NodeKey<'_>, u32)> = self
                .nodes
                .iter()
                .map(|(node, weight)| {
                    let key = match node {
                        OwnedNode::Tcp(host, port) => NodeKey::Tcp { host, port: *port },
                        OwnedNode::Unix(path) => NodeKey::Unix { path },
                    };
                    (key, *weight)
                })
                .collect();
            Router::new(self.distribution, &nodes)
        }
    }

    #[test]
    fn golden_vectors_from_emcache_and_libmemcached() {
        let keys = keys();
        assert!(keys.len() >= 2000);
        assert!(keys.iter().any(|k| k.len() == 250));
        assert!(keys.iter().any(|k| k.iter().any(|&b| b >= 0x80)));
        for (name, text) in SCENARIOS {
            let scenario = Scenario::parse(text);
            assert_eq!(scenario.routes.len(), keys.len(), "{name}");
            let router = scenario.router();
            assert_eq!(router.len(), scenario.nodes.len(), "{name}");
            let mut mismatches = Vec::new();
            for (key, &expected) in keys.iter().zip(&scenario.routes) {
                let got = router.route(key);
                if got != Some(expected) {
                    mismatches.push((key.clone(), expected, got));
                }
            }
            assert!(
                mismatches.is_empty(),
                "{name}: {} of {} keys differ, first: {:?}",
                mismatches.len(),
                keys.len(),
                mismatches.first()
            );
        }
    }

    /// Every scenario file in testdata is listed in `SCENARIOS`.
    #[test]
    fn golden_scenarios_are_all_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/router/testdata");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("testdata dir")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".txt").map(str::to_owned))
            .filter(|name| name != "keys")
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = SCENARIOS.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    fn tcp_nodes(hosts: &[&'static str]) -> Vec<(NodeKey<'static>, u32)> {
        hosts
            .iter()
            .map(|&host| (NodeKey::Tcp { host, port: 11211 }, 1))
            .collect()
    }

    fn test_keys(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("key:{i}").into_bytes()).collect()
    }

    /// Removing a node only moves that node's keys, for both schemes.
    #[test]
    fn removing_a_node_moves_only_its_keys() {
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
        let keys = test_keys(10_000);
        for distribution in [Distribution::Rendezvous, Distribution::Ketama] {
            let full = Router::new(distribution, &tcp_nodes(&hosts));
            for removed in 0..hosts.len() {
                let mut rest = hosts.to_vec();
                rest.remove(removed);
                let smaller = Router::new(distribution, &tcp_nodes(&rest));
                let mut moved = 0;
                for key in &keys {
                    let before = full.route(key).expect("node");
                    let after = smaller.route(key).expect("node");
                    let after_in_full = if after >= removed { after + 1 } else { after };
                    if before == removed {
                        moved += 1;
                        assert_ne!(after_in_full, removed);
                    } else {
                        assert_eq!(after_in_full, before, "{distribution:?} {key:?}");
                    }
                }
                assert!(moved > 1_500, "{distribution:?}: only {moved} keys moved");
            }
        }
    }

    #[test]
    fn distribution_is_roughly_even() {
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
        let keys = test_keys(10_000);
        for distribution in [Distribution::Ketama, Distribution::Rendezvous] {
            let router = Router::new(distribution, &tcp_nodes(&hosts));
            let mut counts = [0usize; 4];
            for key in &keys {
                counts[router.route(key).expect("node")] += 1;
            }
            for count in counts {
                assert!(
                    (1_500..=3_500).contains(&count),
                    "{distribution:?}: {counts:?}"
                );
            }
        }
    }

    #[test]
    fn zero_and_one_node() {
        for distribution in [Distribution::Rendezvous, Distribution::Ketama] {
            let empty = Router::new(distribution, &[]);
            assert!(empty.is_empty());
            assert_eq!(empty.len(), 0);
            assert_eq!(empty.route(b"a"), None);
            assert_eq!(empty.route(b""), None);

            let one = Router::new(distribution, &tcp_nodes(&["h"]));
            assert!(!one.is_empty());
            assert_eq!(one.len(), 1);
            assert_eq!(one.route(b"a"), Some(0));
            assert_eq!(one.route(&[0xFF; 1000]), Some(0));
            assert_eq!(one.distribution(), distribution);
        }
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let nodes = [
            (NodeKey::Tcp { host: "", port: 0 }, 0),
            (NodeKey::Unix { path: "" }, u32::MAX),
            (
                NodeKey::Tcp {
                    host: "h",
                    port: u16::MAX,
                },
                u32::MAX,
            ),
            (NodeKey::Tcp { host: "h", port: 0 }, 0),
        ];
        for distribution in [Distribution::Rendezvous, Distribution::Ketama] {
            let router = Router::new(distribution, &nodes);
            for key in [&b""[..], b"a", &[0u8; 251], &[0xFFu8; 10_000]] {
                let index = router.route(key).expect("node");
                assert!(index < nodes.len());
            }
        }
        // Same identity twice: the first occurrence keeps every key.
        let dup = [
            (NodeKey::Tcp { host: "h", port: 1 }, 1),
            (NodeKey::Tcp { host: "h", port: 1 }, 1),
        ];
        for distribution in [Distribution::Rendezvous, Distribution::Ketama] {
            let router = Router::new(distribution, &dup);
            for key in test_keys(1_000) {
                assert_eq!(router.route(&key), Some(0), "{distribution:?}");
            }
        }
    }

    #[test]
    fn router_is_send_sync_clone_debug() {
        fn assert_traits<T: Send + Sync + Clone + fmt::Debug>() {}
        assert_traits::<Router>();
        let router = Router::new(Distribution::Ketama, &tcp_nodes(&["a", "b"]));
        let text = format!("{router:?}");
        assert!(text.contains("Ketama"), "{text}");
        assert!(text.len() < 200, "{text}");
        assert_eq!(Distribution::default(), Distribution::Rendezvous);
    }
}
