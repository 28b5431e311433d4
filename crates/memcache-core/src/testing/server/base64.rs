//! Base64 for meta commands' binary keys (the `b` flag), decoded as leniently as
//! memcached decodes it.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(super) fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        let sextet = |shift: u32| {
            let index = ((n >> shift) & 0x3f) as usize;
            ALPHABET.get(index).copied().unwrap_or(b'=')
        };
        out.extend([sextet(18), sextet(12)]);
        out.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
    out
}

/// memcached's base64 decoder: characters outside the alphabet are skipped, the rest
/// must come in fours, and decoding stops after the first padded group. `None` where
/// memcached's returns 0 (an error, or nothing decoded).
pub(super) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let sextet = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    };
    let count = input.iter().filter(|b| sextet(**b).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(count / 4 * 3);
    let (mut block, mut filled, mut pad) = ([0u8; 4], 0, 0);
    for &b in input {
        let Some(value) = sextet(b) else { continue };
        pad += usize::from(b == b'=');
        if let Some(slot) = block.get_mut(filled) {
            *slot = value;
        }
        filled += 1;
        if filled == 4 {
            let [a, b, c, d] = block;
            out.extend([(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
            filled = 0;
            if pad > 0 {
                if pad > 2 {
                    return None;
                }
                out.truncate(out.len().saturating_sub(pad));
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}
