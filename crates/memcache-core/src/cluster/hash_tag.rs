//! Hash tags: the part of a key that routes it (twemproxy's `hash_tag`).

/// The bytes of `key` that choose its node under the hash tag `tag` (its opening and
/// closing bytes): those between the first opening byte and the first closing byte after
/// it, when there are any; else the whole key. So `{user:42}:profile` and
/// `{user:42}:friends` share a node under `{}`. This is twemproxy's rule, byte for byte,
/// so keys land where a twemproxy with the same `hash_tag` puts them.
pub(crate) fn routing_key(key: &[u8], tag: Option<[u8; 2]>) -> &[u8] {
    let Some([open, close]) = tag else {
        return key;
    };
    let Some(start) = memchr::memchr(open, key) else {
        return key;
    };
    let inner = &key[start + 1..];
    match memchr::memchr(close, inner) {
        // An empty tag (`{}`) routes the whole key.
        Some(end) if end > 0 => &inner[..end],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_routes_and_the_rest_does_not() {
        let braces = Some(*b"{}");
        let route = |key: &'static [u8]| routing_key(key, braces);
        assert_eq!(route(b"{user:42}:profile"), b"user:42");
        assert_eq!(route(b"session:{user:42}"), b"user:42");
        assert_eq!(route(b"a{b}c{d}"), b"b", "the first tag");
        assert_eq!(route(b"{}x"), b"{}x", "an empty tag routes the whole key");
        assert_eq!(route(b"{unclosed"), b"{unclosed");
        assert_eq!(route(b"closed}first{x}"), b"x");
        assert_eq!(route(b"plain"), b"plain");
        assert_eq!(
            route(b"{{x}}"),
            b"{x",
            "the closing byte is the first after the opening"
        );
        assert_eq!(routing_key(b"{a}b", None), b"{a}b");
        assert_eq!(routing_key(b"x:a:y", Some(*b"::")), b"a");
    }
}
