//! libmemcached 1.0.16 ketama continua, from `hosts.cc` (`update_continuum`,
//! `ketama_server_hash`, `server_add`) and `hash.cc` (`dispatch_host`).
//!
//! libmemcached builds one of two continua; which one depends on the weights, not only on the
//! behaviour that turned ketama on:
//!
//! - **Weighted** (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, or `MEMCACHED_BEHAVIOR_KETAMA` once a
//!   server was added with a weight above 1, because `server_add` then switches the weighted
//!   flag on):
//!   - Points per server, in `f32`: `pct = weight / total_weight`, then
//!     `floor((float)(pct * 160 / 4 * live_servers + 1e-10)) * 4`. A weight of 0 is stored as 1.
//!     That is 160 for equal weights, except where `f32` rounding lands just under a whole
//!     number: 25 equal nodes get 156 points each (also 47, 50, 55, ...), and libmemcached
//!     agrees.
//!   - Each `md5(point_string(i))` gives four points: bytes `0..4`, `4..8`, `8..12`, `12..16`,
//!     each read as a little-endian `u32`. This is always MD5, whatever the key hash is.
//! - **Non-weighted** (`MEMCACHED_BEHAVIOR_KETAMA` or `MEMCACHED_DISTRIBUTION_CONSISTENT` with
//!   every weight 0 or 1): exactly 100 points per server (`MEMCACHED_POINTS_PER_SERVER`), one per
//!   point string, each the *key* hash function applied to `point_string(i)`.
//!
//! Shared by both:
//! - Point string for server `s`, index `i` from 0: `"{host}:{port}-{i}"`, or `"{host}-{i}"`
//!   when the port is 11211. A TCP port of 0 is stored as 11211 by
//!   `memcached_server_add_with_weight`; a unix socket is stored as hostname = path, port 0,
//!   so its point string is `"{path}:0-{i}"`.
//! - A key hashes with the configured key hash ([`KeyHash`]); it goes to the first point whose
//!   value is `>=` the hash, wrapping to the first point past the end.

use std::fmt;

use md5::{Digest, Md5};

use super::hash::KeyHash;
use super::NodeKey;

/// libmemcached's `MEMCACHED_DEFAULT_PORT`: the port left out of point strings.
const DEFAULT_PORT: u16 = 11211;
/// libmemcached's `MEMCACHED_POINTS_PER_SERVER_KETAMA`: the weighted continuum's base.
const POINTS_PER_SERVER_WEIGHTED: f32 = 160.0;
/// libmemcached's `MEMCACHED_POINTS_PER_SERVER`: every server's share of the non-weighted
/// continuum, whatever its weight.
const POINTS_PER_SERVER_UNWEIGHTED: u32 = 100;

/// The sorted continuum: `(point, server index)`, ordered by point and, for equal points, by
/// server index then point index (the insertion order, which glibc's stable merge sort used by
/// `qsort` keeps), plus the hash that places keys on it.
#[derive(Clone)]
pub(super) struct Ketama {
    points: Box<[(u32, u32)]>,
    key_hash: KeyHash,
}

impl fmt::Debug for Ketama {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ketama")
            .field("points", &self.points.len())
            .field("key_hash", &self.key_hash)
            .finish()
    }
}

impl Ketama {
    /// The weighted continuum for `nodes` (identity, weight) in configured order, with keys
    /// placed by `key_hash`.
    pub(super) fn weighted(nodes: &[(NodeKey<'_>, u32)], key_hash: KeyHash) -> Ketama {
        let live = nodes.len();
        let total_weight: u64 = nodes
            .iter()
            .map(|&(_, w)| u64::from(stored_weight(w)))
            .sum();
        let mut points = Vec::new();
        for (server, (node, weight)) in nodes.iter().enumerate() {
            let Ok(server) = u32::try_from(server) else {
                break;
            };
            let count = points_for(stored_weight(*weight), total_weight, live);
            points.reserve(count as usize);
            for i in 0..count / 4 {
                let digest = Md5::digest(point_string(node, i).as_bytes());
                for chunk in digest.chunks_exact(4) {
                    let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    points.push((value, server));
                }
            }
        }
        Ketama::sorted(points, key_hash)
    }

    /// The non-weighted continuum: 100 points per node, each `key_hash` of a point string.
    /// Weights are not read.
    pub(super) fn unweighted(nodes: &[(NodeKey<'_>, u32)], key_hash: KeyHash) -> Ketama {
        let per_server = POINTS_PER_SERVER_UNWEIGHTED as usize;
        let mut points = Vec::with_capacity(nodes.len().saturating_mul(per_server));
        for (server, (node, _)) in nodes.iter().enumerate() {
            let Ok(server) = u32::try_from(server) else {
                break;
            };
            for i in 0..POINTS_PER_SERVER_UNWEIGHTED {
                let value = key_hash.hash(point_string(node, i).as_bytes());
                points.push((value, server));
            }
        }
        Ketama::sorted(points, key_hash)
    }

    /// What libmemcached builds after `MEMCACHED_BEHAVIOR_KETAMA` (or
    /// `MEMCACHED_DISTRIBUTION_CONSISTENT`) when the servers are added afterwards, as pylibmc
    /// and PHP memcached do: the non-weighted continuum, unless some node has a weight above 1,
    /// which makes `server_add` switch to the weighted one (the key hash stays as configured).
    pub(super) fn consistent(nodes: &[(NodeKey<'_>, u32)], key_hash: KeyHash) -> Ketama {
        if nodes.iter().any(|&(_, weight)| weight > 1) {
            Ketama::weighted(nodes, key_hash)
        } else {
            Ketama::unweighted(nodes, key_hash)
        }
    }

    fn sorted(mut points: Vec<(u32, u32)>, key_hash: KeyHash) -> Ketama {
        // Stable: equal values stay in insertion order.
        points.sort_by_key(|&(value, _)| value);
        Ketama {
            points: points.into_boxed_slice(),
            key_hash,
        }
    }

    /// Index of the node owning `key`, or `None` for an empty continuum.
    pub(super) fn route(&self, key: &[u8]) -> Option<usize> {
        self.route_hash(self.key_hash.hash(key))
    }

    /// `dispatch_host`: the first point `>= hash`, wrapping to the first point past the end.
    fn route_hash(&self, hash: u32) -> Option<usize> {
        let at = self.points.partition_point(|&(value, _)| value < hash);
        let &(_, server) = self.points.get(at).or_else(|| self.points.first())?;
        usize::try_from(server).ok()
    }
}

/// libmemcached stores a weight of 0 as 1.
fn stored_weight(weight: u32) -> u32 {
    weight.max(1)
}

/// Points for one server of the weighted continuum, computed in `f32` exactly as libmemcached
/// does (the `1e-10` is added in `f64` and the sum cast back to `f32`, which nearly always erases
/// it).
fn points_for(weight: u32, total_weight: u64, live_servers: usize) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    let per_hash = pct * POINTS_PER_SERVER_WEIGHTED / 4.0 * live_servers as f32;
    let per_hash = (f64::from(per_hash) + 0.000_000_000_1) as f32;
    // `as` saturates (NaN -> 0); pct <= 1 keeps this far below u32::MAX for real lists.
    (per_hash.floor() as u32).saturating_mul(4)
}

/// The string hashed for server `node`'s point group `i` (four points when weighted, one when
/// not).
fn point_string(node: &NodeKey<'_>, i: u32) -> String {
    match *node {
        NodeKey::Tcp { host, port } if port == 0 || port == DEFAULT_PORT => format!("{host}-{i}"),
        NodeKey::Tcp { host, port } => format!("{host}:{port}-{i}"),
        NodeKey::Unix { path } => format!("{path}:0-{i}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> NodeKey<'_> {
        NodeKey::Tcp { host, port }
    }

    #[test]
    fn point_strings() {
        assert_eq!(point_string(&tcp("127.0.0.1", 11211), 0), "127.0.0.1-0");
        assert_eq!(point_string(&tcp("127.0.0.1", 0), 3), "127.0.0.1-3");
        assert_eq!(
            point_string(&tcp("localhost", 11212), 39),
            "localhost:11212-39"
        );
        assert_eq!(point_string(&tcp("::1", 11212), 1), "::1:11212-1");
        let unix = NodeKey::Unix {
            path: "/tmp/mc.sock",
        };
        assert_eq!(point_string(&unix, 7), "/tmp/mc.sock:0-7");
    }

    #[test]
    fn points_per_server() {
        // All weights equal: 160 each, except where f32 rounding makes 1/n * 40 * n fall just
        // under 40 (libmemcached does the same; see the ketama_25 golden vectors).
        for n in 1..=100usize {
            let expected = if [25, 47, 50, 55, 61, 71, 94, 100].contains(&n) {
                156
            } else {
                160
            };
            assert_eq!(points_for(1, n as u64, n), expected, "{n}");
        }
        // Weights 1, 2, 3: pct = w / 6, times 40 * 3.
        assert_eq!(points_for(1, 6, 3), 80);
        assert_eq!(points_for(2, 6, 3), 160);
        assert_eq!(points_for(3, 6, 3), 240);
        // A tiny weight rounds down to no points at all.
        assert_eq!(points_for(1, 1_000_000, 2), 0);
        // Degenerate input does not panic.
        assert_eq!(points_for(1, 0, 0), 0);
    }

    #[test]
    fn continuum_is_sorted_and_sized() {
        let nodes = [(tcp("a", 1), 1), (tcp("b", 2), 2), (tcp("c", 3), 0)];
        let k = Ketama::weighted(&nodes, KeyHash::Md5);
        // Weight 0 counts as 1: total 4, so 40*3/4 = 30 -> 120, 240, 120 points.
        assert_eq!(k.points.len(), 480);
        assert!(k.points.windows(2).all(|w| w[0].0 <= w[1].0));
        let per_server = |s| k.points.iter().filter(|p| p.1 == s).count();
        assert_eq!(
            (per_server(0), per_server(1), per_server(2)),
            (120, 240, 120)
        );
    }

    #[test]
    fn lookup_wraps_and_hits_exact_points() {
        let k = Ketama {
            points: vec![(10, 0), (20, 1), (20, 2), (30, 3)].into_boxed_slice(),
            key_hash: KeyHash::Md5,
        };
        let route_hash = |hash| k.route_hash(hash);
        assert_eq!(route_hash(0), Some(0));
        assert_eq!(route_hash(10), Some(0));
        assert_eq!(route_hash(11), Some(1));
        assert_eq!(route_hash(20), Some(1));
        assert_eq!(route_hash(30), Some(3));
        assert_eq!(route_hash(31), Some(0));
        assert_eq!(route_hash(u32::MAX), Some(0));
        for key_hash in [KeyHash::Md5, KeyHash::OneAtATime] {
            assert_eq!(Ketama::weighted(&[], key_hash).route(b"x"), None);
            assert_eq!(Ketama::unweighted(&[], key_hash).route(b"x"), None);
            assert_eq!(Ketama::consistent(&[], key_hash).route(b"x"), None);
        }
    }

    #[test]
    fn unweighted_continuum_ignores_weights() {
        let nodes = [(tcp("a", 1), 0), (tcp("b", 2), 1), (tcp("c", 11211), 1)];
        for key_hash in [KeyHash::Md5, KeyHash::OneAtATime] {
            let k = Ketama::unweighted(&nodes, key_hash);
            assert_eq!(k.points.len(), 300);
            assert!(k.points.windows(2).all(|w| w[0].0 <= w[1].0));
            for server in 0..3 {
                assert_eq!(k.points.iter().filter(|p| p.1 == server).count(), 100);
            }
            // One point per string, hashed with the key hash.
            assert!(k.points.contains(&(key_hash.hash(b"c-99"), 2)));
            assert!(k.points.contains(&(key_hash.hash(b"a:1-0"), 0)));
            // Weights up to 1 keep the non-weighted continuum.
            assert_eq!(Ketama::consistent(&nodes, key_hash).points, k.points);
            // Weights never change the non-weighted continuum.
            let heavy = [(tcp("a", 1), 7), (tcp("b", 2), 1), (tcp("c", 11211), 3)];
            assert_eq!(Ketama::unweighted(&heavy, key_hash).points, k.points);
        }
    }

    #[test]
    fn a_weight_above_one_switches_to_the_weighted_continuum() {
        let nodes = [(tcp("a", 1), 1), (tcp("b", 2), 2)];
        for key_hash in [KeyHash::Md5, KeyHash::OneAtATime] {
            let k = Ketama::consistent(&nodes, key_hash);
            assert_eq!(k.points, Ketama::weighted(&nodes, key_hash).points);
            // The weighted continuum is MD5 whatever the key hash; only keys use `key_hash`.
            assert_eq!(k.points, Ketama::weighted(&nodes, KeyHash::Md5).points);
            assert_eq!(k.key_hash, key_hash);
        }
    }
}
