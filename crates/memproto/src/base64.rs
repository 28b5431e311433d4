//! Standard base64 (with padding) for binary meta keys.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the padded encoding of `len` bytes.
pub(crate) fn encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Appends the padded base64 encoding of `input` to `out`.
pub(crate) fn encode_into(input: &[u8], out: &mut bytes::BytesMut) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| ALPHABET[((n >> shift) & 0x3F) as usize];
        out.extend_from_slice(&[sextet(18), sextet(12)]);
        out.extend_from_slice(&[
            if chunk.len() > 1 { sextet(6) } else { b'=' },
            if chunk.len() > 2 { sextet(0) } else { b'=' },
        ]);
    }
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
        }
    }
}
