//! Standard base64 (with padding) for binary meta keys.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the padded encoding of `len` bytes.
pub(crate) fn encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Appends the padded base64 encoding of `input` to `out`.
pub(crate) fn encode_into(input: &[u8], out: &mut bytes::BytesMut) {
    for chunk in input.chunks(3) {
        out.extend_from_slice(&quad(chunk));
    }
}

/// Whether `encoded` is exactly the padded base64 encoding of `raw`, compared without
/// allocating.
pub(crate) fn encodes(raw: &[u8], encoded: &[u8]) -> bool {
    encoded.len() == encoded_len(raw.len())
        && raw
            .chunks(3)
            .zip(encoded.chunks(4))
            .all(|(chunk, four)| quad(chunk) == four)
}

/// The four output bytes of one input chunk of 1 to 3 bytes.
fn quad(chunk: &[u8]) -> [u8; 4] {
    let byte = |i: usize| chunk.get(i).copied().unwrap_or(0);
    let n = (u32::from(byte(0)) << 16) | (u32::from(byte(1)) << 8) | u32::from(byte(2));
    let sextet = |shift: u32| ALPHABET[((n >> shift) & 0x3F) as usize];
    [
        sextet(18),
        sextet(12),
        if chunk.len() > 1 { sextet(6) } else { b'=' },
        if chunk.len() > 2 { sextet(0) } else { b'=' },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = bytes::BytesMut::new();
            encode_into(input.as_bytes(), &mut out);
            assert_eq!(&out[..], expected.as_bytes());
            assert_eq!(encoded_len(input.len()), expected.len());
            assert!(encodes(input.as_bytes(), expected.as_bytes()));
        }
    }

    #[test]
    fn encodes_refuses_near_misses() {
        assert!(encodes(b"", b""));
        assert!(!encodes(b"foo", b"Zm9w"));
        assert!(!encodes(b"foo", b"Zm9"));
        assert!(!encodes(b"foo", b"Zm9vZg=="));
        assert!(!encodes(b"fo", b"Zm9="));
        assert!(!encodes(b"fo", b"Zm8"));
        assert!(!encodes(b"f", b"foo"));
    }
}
