//! Key and token validation: the rules that make injection impossible.

use crate::error::KeyError;

/// The server's key length limit.
pub const MAX_KEY_LEN: usize = 250;

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
    fn length_limit_is_inclusive() {
        assert_eq!(validate_key(&[b'k'; 250]), Ok(()));
        assert_eq!(
            validate_key(&[b'k'; 251]),
            Err(KeyError::TooLong { len: 251, max: 250 })
        );
    }
}
