//! Key and token validation: the rules that make injection impossible.

use crate::error::KeyError;

/// The server's key length limit.
pub const MAX_KEY_LEN: usize = 250;

/// The longest key a meta command can send base64-encoded (flag `b`,
/// [`crate::MetaCommon::base64`]): 186 bytes. The server applies its 250-byte limit to the
/// key as sent, and the padded encoding of 186 bytes is 248 bytes long; 187 bytes take 252.
/// Dropping the padding would not win a byte: the server cannot decode an unpadded key.
pub const MAX_BASE64_KEY_LEN: usize = MAX_KEY_LEN / 4 * 3;

/// Checks a key against the server's rules: 1 to 250 bytes, none of them a control byte,
/// a space or DEL. Bytes from 0x80 up are allowed (UTF-8 keys work).
///
/// The server itself does not check for control bytes: it splits on spaces and ends the
/// command at a bare `\n`, so this check is what stops a key from smuggling in a command.
///
/// ```
/// use memproto::{validate_key, KeyError};
/// assert!(validate_key(b"user:42").is_ok());
/// assert!(validate_key("clé".as_bytes()).is_ok());
/// assert_eq!(validate_key(b""), Err(KeyError::Empty));
/// assert_eq!(validate_key(b"a\nb"), Err(KeyError::ForbiddenByte { byte: b'\n', index: 1 }));
/// ```
pub fn validate_key(key: &[u8]) -> Result<(), KeyError> {
    validate_token(key, MAX_KEY_LEN)
}

/// Checks a key that a meta command sends base64-encoded: 1 to [`MAX_BASE64_KEY_LEN`]
/// bytes, any of them allowed (the encoding leaves nothing the server could misread).
///
/// ```
/// use memproto::{validate_base64_key, KeyError, MAX_BASE64_KEY_LEN};
/// assert!(validate_base64_key(&[0; MAX_BASE64_KEY_LEN]).is_ok());
/// assert_eq!(
///     validate_base64_key(&[0; 187]),
///     Err(KeyError::TooLongForBase64 { len: 187, max: 186 })
/// );
/// ```
pub fn validate_base64_key(key: &[u8]) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_BASE64_KEY_LEN {
        // The caller's length and the raw limit: the encoded length (252 for 187 bytes)
        // would point at a 250-byte limit the caller's key can never come near.
        return Err(KeyError::TooLongForBase64 {
            len: key.len(),
            max: MAX_BASE64_KEY_LEN,
        });
    }
    Ok(())
}

/// Whether `key` holds a byte the text rules forbid (a control byte, a space or DEL), so
/// that only a meta command sending it base64-encoded can carry it. The length plays no
/// part: an over-long key that needs base64 is best refused with the limit for base64
/// keys ([`validate_base64_key`]), the one it has to meet.
///
/// ```
/// use memproto::needs_base64;
/// assert!(needs_base64(b"a b"));
/// assert!(needs_base64(&[0; 300]));
/// assert!(!needs_base64("clé".as_bytes()));
/// assert!(!needs_base64(b""));
/// ```
pub fn needs_base64(key: &[u8]) -> bool {
    key.iter().any(|&b| is_forbidden(b))
}

/// Same byte rules as keys, with a caller-chosen length limit.
pub(crate) fn validate_token(token: &[u8], max: usize) -> Result<(), KeyError> {
    if token.is_empty() {
        return Err(KeyError::Empty);
    }
    if token.len() > max {
        return Err(KeyError::TooLong {
            len: token.len(),
            max,
        });
    }
    match token.iter().position(|&b| is_forbidden(b)) {
        Some(index) => Err(KeyError::ForbiddenByte {
            byte: token[index],
            index,
        }),
        None => Ok(()),
    }
}

/// Control bytes (which include `\r`, `\n`, `\t` and NUL), space, and DEL.
#[inline]
fn is_forbidden(byte: u8) -> bool {
    byte <= 0x20 || byte == 0x7F
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_allowed_byte() {
        let all: Vec<u8> = (0x21..=0xFFu8).filter(|&b| b != 0x7F).collect();
        for chunk in all.chunks(MAX_KEY_LEN) {
            assert_eq!(validate_key(chunk), Ok(()));
        }
    }

    #[test]
    fn refuses_every_forbidden_byte() {
        for byte in (0..=0x20u8).chain([0x7F]) {
            let key = [b'a', byte, b'b'];
            assert_eq!(
                validate_key(&key),
                Err(KeyError::ForbiddenByte { byte, index: 1 })
            );
        }
    }

    #[test]
    fn base64_limit_is_the_longest_key_whose_encoding_fits() {
        assert_eq!(MAX_BASE64_KEY_LEN, 186);
        assert!(crate::base64::encoded_len(MAX_BASE64_KEY_LEN) <= MAX_KEY_LEN);
        assert!(crate::base64::encoded_len(MAX_BASE64_KEY_LEN + 1) > MAX_KEY_LEN);
        assert_eq!(validate_base64_key(&[0xFF; 186]), Ok(()));
        assert_eq!(validate_base64_key(b""), Err(KeyError::Empty));
        for len in [187, 188, 251] {
            assert_eq!(
                validate_base64_key(&vec![0; len]),
                Err(KeyError::TooLongForBase64 { len, max: 186 })
            );
        }
    }

    #[test]
    fn length_limit_is_inclusive() {
        assert_eq!(validate_key(&[b'k'; 250]), Ok(()));
        assert_eq!(
            validate_key(&[b'k'; 251]),
            Err(KeyError::TooLong { len: 251, max: 250 })
        );
    }
}
