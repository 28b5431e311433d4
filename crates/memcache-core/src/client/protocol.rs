//! Which of memcached's two text dialects single-key operations speak.

use memproto::{needs_base64, MetaCommon};

/// The request dialect, chosen on the builder ([`crate::ClientBuilder::protocol`]).
///
/// Batched writes (`set_many` and friends) and item metadata always use meta commands; this
/// choice is about every other key operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Protocol {
    /// The classic text commands (`get`, `set`, `incr`, ...). Every memcached version and
    /// every proxy (twemproxy, mcrouter) speaks them.
    #[default]
    Text,
    /// The meta commands (`mg`, `ms`, `md`, `ma`), memcached 1.6 and later: every request
    /// carries an opaque token the reply must echo, multi-key fetches are quiet batches in
    /// which misses cost nothing, and keys may hold any byte: one the classic rules forbid
    /// is sent base64-encoded, which limits it to 186 bytes
    /// ([`memproto::MAX_BASE64_KEY_LEN`]; a longer one fails with
    /// [`memproto::KeyError::TooLongForBase64`]).
    Meta,
}

impl Protocol {
    /// The key options for a meta request for `key`: with [`Protocol::Meta`], a key holding
    /// a byte the classic rules refuse is sent base64-encoded; with [`Protocol::Text`] keys follow the
    /// classic rules everywhere, so a key works the same with every operation.
    pub(crate) fn meta_common<'a>(
        self,
        key: &[u8],
        opaque: Option<&'a [u8]>,
        quiet: bool,
    ) -> MetaCommon<'a> {
        MetaCommon {
            // Only forbidden bytes call for base64, whatever the key's length: an over-long
            // binary key is then refused with the limit it has to meet (186 bytes), not
            // the 250 of the classic rules, which would send its caller trimming to a
            // length that still fails. Other keys follow the classic rules.
            base64: self == Protocol::Meta && needs_base64(key),
            return_key: false,
            opaque,
            quiet,
        }
    }
}

/// A short opaque token (decimal digits), kept on the stack.
pub(crate) struct Token {
    len: u8,
    digits: [u8; 20],
}

impl Token {
    /// No token: for requests sent in the classic protocol.
    pub(crate) const EMPTY: Token = Token {
        len: 0,
        digits: [0; 20],
    };

    pub(crate) fn new(mut value: u64) -> Token {
        let mut digits = [0; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        digits.copy_within(at.., 0);
        Token {
            len: (20 - at) as u8,
            digits,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_decimal() {
        assert_eq!(Token::new(0).as_bytes(), b"0");
        assert_eq!(Token::new(907).as_bytes(), b"907");
        assert_eq!(Token::new(u64::MAX).as_bytes(), b"18446744073709551615");
    }

    #[test]
    fn only_meta_mode_encodes_keys() {
        assert!(Protocol::Meta.meta_common(b"a b", None, false).base64);
        assert!(!Protocol::Meta.meta_common(b"ab", None, false).base64);
        assert!(!Protocol::Text.meta_common(b"a b", None, false).base64);
    }

    #[test]
    fn over_long_binary_keys_still_go_base64() {
        // So that the encoder refuses them with the base64 limit.
        assert!(Protocol::Meta.meta_common(&[0; 300], None, false).base64);
        assert!(!Protocol::Meta.meta_common(&[b'k'; 300], None, false).base64);
        assert!(!Protocol::Meta.meta_common(b"", None, false).base64);
    }
}
