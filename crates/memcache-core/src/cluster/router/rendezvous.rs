//! emcache 1.3.3 rendezvous hashing (`emcache/_cython/hashing/rendezvous.pyx`), bit for bit.
//!
//! - A node's id is `"{host}{port}"` (no separator) or a unix socket's path, as bytes.
//! - Hash: MurmurHash3_x64_128, seed 0; the 16 output bytes are h1 then h2, each little-endian.
//! - The hash is folded to a `u32` by [`fold`], which keeps emcache's C precedence quirk: only
//!   640 distinct values exist.
//! - A node's score for a key is `fold(hash(key ++ id))`. Nodes are walked in configured order;
//!   a strictly higher score wins, and an equal score wins only if the newcomer's
//!   `fold(hash(id))` is strictly larger (see [`pick`]).

use std::fmt;
use std::io::Read;

use super::NodeKey;

/// One node as rendezvous sees it: its id bytes and the tie-break fold of `hash(id)`.
#[derive(Clone)]
struct RendezvousNode {
    id: Box<[u8]>,
    id_fold: u32,
}

/// The precomputed node list for rendezvous routing (two or more nodes).
#[derive(Clone)]
pub(super) struct Rendezvous {
    nodes: Box<[RendezvousNode]>,
}

impl fmt::Debug for Rendezvous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<_> = self
            .nodes
            .iter()
            .map(|n| String::from_utf8_lossy(&n.id))
            .collect();
        f.debug_struct("Rendezvous").field("ids", &ids).finish()
    }
}

impl Rendezvous {
    /// Precomputes ids and tie-break folds, in configured order.
    pub(super) fn new(nodes: &[NodeKey<'_>]) -> Rendezvous {
        let nodes = nodes
            .iter()
            .map(|node| {
                let id = node_id(node);
                let id_fold = fold(&murmur3_x64_128(&id, &[]));
                RendezvousNode { id, id_fold }
            })
            .collect();
        Rendezvous { nodes }
    }

    /// Index of the winning node for `key`, or `None` when there are no nodes.
    pub(super) fn route(&self, key: &[u8]) -> Option<usize> {
        pick(
            self.nodes
                .iter()
                .map(|node| (fold(&murmur3_x64_128(key, &node.id)), node.id_fold)),
        )
    }
}

/// emcache's node id: `f"{host}{port}"` for TCP nodes, the path for unix sockets.
fn node_id(node: &NodeKey<'_>) -> Box<[u8]> {
    match *node {
        NodeKey::Tcp { host, port } => format!("{host}{port}").into_bytes().into_boxed_slice(),
        NodeKey::Unix { path } => path.as_bytes().into(),
    }
}

/// The winner among `(score, id_fold)` pairs given in configured order.
///
/// The first node is the initial best; a later node replaces it if its score is strictly
/// higher, or if the scores are equal and its id fold is strictly higher. So on a full tie
/// (same score, same id fold) the earlier node keeps the key.
fn pick(candidates: impl Iterator<Item = (u32, u32)>) -> Option<usize> {
    let mut best: Option<(usize, u32, u32)> = None;
    for (index, (score, id_fold)) in candidates.enumerate() {
        let replace = match best {
            None => true,
            Some((_, best_score, best_fold)) => {
                score > best_score || (score == best_score && id_fold > best_fold)
            }
        };
        if replace {
            best = Some((index, score, id_fold));
        }
    }
    best.map(|(index, _, _)| index)
}

/// emcache's fold of a MurmurHash3 output to `u32`.
///
/// The C code reads the first four output bytes as `signed char`, so each is sign-extended
/// before its mask is applied, and operator precedence makes the masks `0xFF00_0000`,
/// `0xFFFF_0000` and `0xFFFF_FF00` instead of byte lanes. The result is one of only 640
/// values: `0..=127`, `0xFF00_0000 | 0..=127`, `0xFFFF_0000 | 0..=127` or
/// `0xFFFF_FF00..=0xFFFF_FFFF`.
fn fold(hash: &[u8; 16]) -> u32 {
    let c = |i: usize| hash[i] as i8 as i32 as u32;
    (c(3) & 0xFF00_0000) | (c(2) & 0xFFFF_0000) | (c(1) & 0xFFFF_FF00) | c(0)
}

/// MurmurHash3_x64_128 (seed 0) of `a ++ b`, as the 16 bytes the reference C code writes
/// (h1 then h2, little-endian). Hashes through a chained reader, so nothing is copied or
/// allocated whatever the lengths.
fn murmur3_x64_128(a: &[u8], b: &[u8]) -> [u8; 16] {
    let mut reader = a.chain(b);
    // Reading from slices cannot fail; 0 keeps this total without a panic path.
    let hash = murmur3::murmur3_x64_128(&mut reader, 0).unwrap_or(0);
    // The crate returns (h2 << 64) | h1, so little-endian bytes are h1 LE then h2 LE.
    hash.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Expected values from `mmh3.hash_bytes(data, 0, True).hex()` (mmh3 5.3.1).
    #[test]
    fn murmur_matches_mmh3_hash_bytes() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "00000000000000000000000000000000"),
            (b"hello", "029bbd41b3a7d8cb191dae486a901e5b"),
            (b"127.0.0.111211", "e6c478c6202751d0e5755a881211855c"),
            (
                b"The quick brown fox jumps over the lazy dog",
                "6c1b07bc7bbc4be347939ac4a93c437a",
            ),
        ];
        for &(data, expected) in cases {
            assert_eq!(hex(&murmur3_x64_128(data, &[])), expected, "{data:?}");
            // Every split point of the chained reader gives the same hash.
            for split in 0..=data.len() {
                let (a, b) = data.split_at(split);
                assert_eq!(hex(&murmur3_x64_128(a, b)), expected, "{data:?} @ {split}");
            }
        }
    }

    #[test]
    fn fold_quirk_examples() {
        // (the first four bytes, their fold, which byte is negative)
        let cases: [([u8; 4], u32, &str); 8] = [
            ([0x01, 0x02, 0x03, 0x04], 0x0000_0001, "none"),
            ([0x7F, 0x7F, 0x7F, 0x7F], 0x0000_007F, "none"),
            ([0x80, 0x00, 0x00, 0x00], 0xFFFF_FF80, "0"),
            ([0xFF, 0x00, 0x00, 0x00], 0xFFFF_FFFF, "0"),
            ([0x12, 0x80, 0x00, 0x00], 0xFFFF_FF12, "1"),
            ([0x12, 0x34, 0x80, 0x00], 0xFFFF_0012, "2"),
            ([0x12, 0x34, 0x56, 0x80], 0xFF00_0012, "3"),
            (
                [0x12, 0x34, 0x56, 0x78],
                0x0000_0012,
                "none; bytes 4.. never matter",
            ),
        ];
        for (first, expected, why) in cases {
            // The bytes after the first four are noise the fold must ignore.
            let mut h = [0xAA; 16];
            h[..4].copy_from_slice(&first);
            assert_eq!(fold(&h), expected, "negative byte: {why}");
        }
    }

    #[test]
    fn fold_has_at_most_640_values() {
        let mut seen = HashSet::new();
        for i in 0u32..200_000 {
            seen.insert(fold(&murmur3_x64_128(&i.to_le_bytes(), b"node")));
        }
        assert!(seen.len() <= 640, "{}", seen.len());
        // And the full set is reached, so the quirk really is this one.
        assert!(seen.len() > 600, "{}", seen.len());
        // Exhaustively over the four bytes that matter.
        let mut all = HashSet::new();
        let mut h = [0u8; 16];
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for b2 in [0x00, 0x7F, 0x80, 0xFF] {
                    for b3 in [0x00, 0x7F, 0x80, 0xFF] {
                        h[..4].copy_from_slice(&[b0, b1, b2, b3]);
                        all.insert(fold(&h));
                    }
                }
            }
        }
        assert_eq!(all.len(), 640);
        for v in all {
            let low = v & 0xFF;
            let ok = (low < 0x80 && matches!(v & !0xFF, 0 | 0xFF00_0000 | 0xFFFF_0000))
                || v & !0xFF == 0xFFFF_FF00;
            assert!(ok, "{v:#010x}");
        }
    }

    #[test]
    fn tie_rule() {
        // Strictly higher score wins regardless of id fold.
        assert_eq!(pick([(5, 100), (6, 0)].into_iter()), Some(1));
        assert_eq!(pick([(6, 0), (5, 100)].into_iter()), Some(0));
        // Equal scores: the larger id fold wins, in either order.
        assert_eq!(pick([(5, 1), (5, 2)].into_iter()), Some(1));
        assert_eq!(pick([(5, 2), (5, 1)].into_iter()), Some(0));
        // Full tie: the earlier node keeps it.
        assert_eq!(pick([(5, 2), (5, 2)].into_iter()), Some(0));
        assert_eq!(pick([(1, 9), (5, 2), (5, 2), (5, 1)].into_iter()), Some(1));
        // Scores compare as unsigned.
        assert_eq!(
            pick([(0x7FFF_FFFF, 0), (0xFFFF_FF80, 0)].into_iter()),
            Some(1)
        );
        // Id folds compare as unsigned too.
        assert_eq!(pick([(7, 0x7F), (7, 0xFF00_0000)].into_iter()), Some(1));
        assert_eq!(pick(std::iter::empty()), None);
    }

    #[test]
    fn node_ids_match_emcache() {
        let tcp = NodeKey::Tcp {
            host: "127.0.0.1",
            port: 11501,
        };
        assert_eq!(&*node_id(&tcp), b"127.0.0.111501");
        let unix = NodeKey::Unix {
            path: "/tmp/mc.sock",
        };
        assert_eq!(&*node_id(&unix), b"/tmp/mc.sock");
    }

    #[test]
    fn long_keys_do_not_panic() {
        let r = Rendezvous::new(&[
            NodeKey::Tcp { host: "a", port: 1 },
            NodeKey::Tcp { host: "b", port: 2 },
        ]);
        assert!(r.route(&[0xAB; 100_000]).is_some());
        assert!(r.route(b"").is_some());
        assert_eq!(Rendezvous::new(&[]).route(b"x"), None);
    }
}
