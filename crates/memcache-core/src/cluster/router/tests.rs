//! The routers against golden vectors generated with the real libraries, and their
//! properties.

use super::*;

const KEYS: &str = include_str!("testdata/keys.txt");

const ALL: [Distribution; 4] = [
    Distribution::Rendezvous,
    Distribution::Ketama,
    Distribution::KetamaMd5,
    Distribution::KetamaOneAtATime,
];

/// The scenarios of `testdata/`, by name: each file is `testdata/<name>.txt`.
macro_rules! scenarios {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("testdata/", $name, ".txt")))),*]
    };
}

const SCENARIOS: &[(&str, &str)] = scenarios!(
    "rendezvous_1",
    "rendezvous_2",
    "rendezvous_3",
    "rendezvous_4",
    "rendezvous_8",
    "rendezvous_unix",
    "rendezvous_idtie",
    "rendezvous_idtie_reversed",
    "ketama_1",
    "ketama_2",
    "ketama_3",
    "ketama_4",
    "ketama_8",
    "ketama_unix",
    "ketama_25",
    "ketama_weighted",
    "ketama_weighted_mixed",
    "ketama_md5_1",
    "ketama_md5_2",
    "ketama_md5_3",
    "ketama_md5_4",
    "ketama_md5_8",
    "ketama_md5_unix",
    "ketama_md5_25",
    "ketama_md5_default_port",
    "ketama_md5_weights_0_1",
    "ketama_md5_weighted",
    "ketama_md5_weighted_mixed",
    "ketama_one_at_a_time_1",
    "ketama_one_at_a_time_2",
    "ketama_one_at_a_time_3",
    "ketama_one_at_a_time_4",
    "ketama_one_at_a_time_8",
    "ketama_one_at_a_time_unix",
    "ketama_one_at_a_time_25",
    "ketama_one_at_a_time_default_port",
    "ketama_one_at_a_time_weights_0_1",
    "ketama_one_at_a_time_weighted",
    "ketama_one_at_a_time_weighted_mixed",
);

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
                ["distribution", "ketama_md5"] => distribution = Some(Distribution::KetamaMd5),
                ["distribution", "ketama_one_at_a_time"] => {
                    distribution = Some(Distribution::KetamaOneAtATime)
                }
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
    let mut seen = Vec::new();
    assert!(keys.len() >= 2000);
    assert!(keys.iter().any(|k| k.len() == 250));
    assert!(keys.iter().any(|k| k.iter().any(|&b| b >= 0x80)));
    for (name, text) in SCENARIOS {
        let scenario = Scenario::parse(text);
        if !seen.contains(&scenario.distribution) {
            seen.push(scenario.distribution);
        }
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
    // Every distribution has golden vectors.
    assert_eq!(seen.len(), ALL.len(), "{seen:?}");
}

/// Every scenario file in testdata is listed in `SCENARIOS`.
#[test]
fn golden_scenarios_are_all_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cluster/router/testdata");
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

/// Four nodes, for the properties every scheme must have.
const FOUR_HOSTS: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];

/// Removing a node only moves that node's keys, for every scheme.
#[test]
fn removing_a_node_moves_only_its_keys() {
    let keys = test_keys(10_000);
    for distribution in ALL {
        let full = Router::new(distribution, &tcp_nodes(&FOUR_HOSTS));
        for removed in 0..FOUR_HOSTS.len() {
            let mut rest = FOUR_HOSTS.to_vec();
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
    let keys = test_keys(10_000);
    for distribution in ALL {
        let router = Router::new(distribution, &tcp_nodes(&FOUR_HOSTS));
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
    for distribution in ALL {
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
    for distribution in ALL {
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
    for distribution in ALL {
        let router = Router::new(distribution, &dup);
        for key in test_keys(1_000) {
            assert_eq!(router.route(&key), Some(0), "{distribution:?}");
        }
    }
}

fn routes(router: &Router, keys: &[Vec<u8>]) -> Vec<Option<usize>> {
    keys.iter().map(|key| router.route(key)).collect()
}

fn differing(a: &[Option<usize>], b: &[Option<usize>]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// With weights of 0 and 1 the three ketama flavours are three different continua; a weight
/// above 1 makes the MD5 flavour identical to the weighted one, while one-at-a-time keeps
/// its own key hash and so still differs.
#[test]
fn weighted_and_non_weighted_ketama_differ_where_libmemcached_does() {
    let keys = test_keys(3_000);
    let equal = [
        (
            NodeKey::Tcp {
                host: "10.0.0.1",
                port: 11211,
            },
            1,
        ),
        (
            NodeKey::Tcp {
                host: "10.0.0.2",
                port: 11211,
            },
            0,
        ),
        (
            NodeKey::Tcp {
                host: "10.0.0.3",
                port: 11212,
            },
            1,
        ),
    ];
    let route_all = |distribution, nodes: &[(NodeKey<'_>, u32)]| {
        routes(&Router::new(distribution, nodes), &keys)
    };
    let weighted = route_all(Distribution::Ketama, &equal);
    let md5 = route_all(Distribution::KetamaMd5, &equal);
    let oaat = route_all(Distribution::KetamaOneAtATime, &equal);
    // About two thirds of the keys move between any two unrelated 3-node continua.
    for (a, b) in [(&weighted, &md5), (&weighted, &oaat), (&md5, &oaat)] {
        let moved = differing(a, b);
        assert!((1_500..=2_500).contains(&moved), "{moved}");
    }

    let mut heavy = equal;
    heavy[1].1 = 2;
    let weighted = route_all(Distribution::Ketama, &heavy);
    assert_eq!(route_all(Distribution::KetamaMd5, &heavy), weighted);
    let oaat = route_all(Distribution::KetamaOneAtATime, &heavy);
    assert!(differing(&weighted, &oaat) > 1_000);
    // Only the node's presence above weight 1 matters to the non-weighted flavours, not
    // which node: weights 2 and 3 still give the weighted continuum.
    heavy[2].1 = 3;
    assert_eq!(
        route_all(Distribution::KetamaMd5, &heavy),
        route_all(Distribution::Ketama, &heavy)
    );
}

/// The golden vectors agree: the same 3-node list under the weighted and the pylibmc-default
/// flavour routes most keys differently.
#[test]
fn golden_weighted_and_pylibmc_default_disagree() {
    let weighted = Scenario::parse(include_str!("testdata/ketama_3.txt"));
    let oaat = Scenario::parse(include_str!("testdata/ketama_one_at_a_time_3.txt"));
    let md5 = Scenario::parse(include_str!("testdata/ketama_md5_3.txt"));
    let differ = |a: &Scenario, b: &Scenario| {
        a.routes
            .iter()
            .zip(&b.routes)
            .filter(|(x, y)| x != y)
            .count()
    };
    assert!(differ(&weighted, &oaat) > weighted.routes.len() / 2);
    assert!(differ(&weighted, &md5) > weighted.routes.len() / 2);
    assert!(differ(&md5, &oaat) > weighted.routes.len() / 2);
    // And with weights above 1, the MD5 flavour's golden file equals the weighted one's.
    let a = Scenario::parse(include_str!("testdata/ketama_weighted.txt"));
    let b = Scenario::parse(include_str!("testdata/ketama_md5_weighted.txt"));
    assert_eq!(a.routes, b.routes);
    let a = Scenario::parse(include_str!("testdata/ketama_weighted_mixed.txt"));
    let b = Scenario::parse(include_str!("testdata/ketama_md5_weighted_mixed.txt"));
    assert_eq!(a.routes, b.routes);
}

#[test]
fn router_is_send_sync_clone_debug() {
    fn assert_traits<T: Send + Sync + Clone + fmt::Debug>() {}
    assert_traits::<Router>();
    for distribution in ALL {
        let router = Router::new(distribution, &tcp_nodes(&["a", "b"]));
        let text = format!("{router:?}");
        assert!(text.contains(&format!("{distribution:?}")), "{text}");
        assert!(text.len() < 200, "{text}");
    }
    assert_eq!(Distribution::default(), Distribution::Rendezvous);
}
