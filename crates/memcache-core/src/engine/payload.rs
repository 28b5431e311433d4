//! A request's encoded bytes. Short commands, which are most gets, deletes, touches and
//! arithmetic, are held inline, so encoding them allocates nothing. Longer ones get one
//! buffer of exactly their size.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use memproto::{Command, EncodeError, Encoder, Expect};

/// Bytes a request may have and still be held inline: a get or delete of a key of up to 50
/// bytes. Larger would make every request slower to move around than an allocation costs.
const INLINE: usize = 62;

/// Commands whose key and value are longer than this are encoded straight into their own
/// buffer. Shorter ones go through a per-thread scratch buffer, so they cost at most one
/// exact-size allocation.
const SCRATCH_MAX: usize = 4096;

thread_local! {
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A request's encoded bytes.
#[derive(Clone)]
pub(crate) enum Payload {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

impl Payload {
    /// Encodes `command`, whose keys and value are about `size_hint` bytes long.
    ///
    /// # Errors
    /// The command is invalid (see [`Encoder::encode`]); nothing is kept then.
    pub(crate) fn encode(
        encoder: &Encoder,
        command: &Command<'_>,
        size_hint: usize,
    ) -> Result<(Payload, Expect), EncodeError> {
        if size_hint <= SCRATCH_MAX {
            // `try_with`/`try_borrow_mut` fail only during thread teardown or if encoding
            // ever re-entered itself; a buffer of its own does the job then.
            let scratched = SCRATCH.try_with(|scratch| {
                let mut scratch = scratch.try_borrow_mut().ok()?;
                scratch.clear();
                Some(
                    encoder
                        .encode(command, &mut scratch)
                        .map(|expect| (Payload::copy_of(&scratch), expect)),
                )
            });
            if let Ok(Some(encoded)) = scratched {
                return encoded;
            }
        }
        let mut buf = BytesMut::with_capacity(size_hint + 64);
        let expect = encoder.encode(command, &mut buf)?;
        Ok((Payload::Shared(buf.freeze()), expect))
    }

    /// A copy of `bytes`: inline if short enough, else in a buffer of exactly its size.
    fn copy_of(bytes: &[u8]) -> Payload {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut inline = [0; INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                Payload::Inline { len, bytes: inline }
            }
            _ => Payload::Shared(Bytes::copy_from_slice(bytes)),
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Payload::Shared(bytes) => bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload::Shared(bytes)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({:?})", Bytes::copy_from_slice(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memproto::{Retrieve, RetrieveKind, Store, StoreMode};

    fn get(encoder: &Encoder, key: &[u8]) -> Result<(Payload, Expect), EncodeError> {
        let keys = [key];
        let command = Command::Retrieve(Retrieve {
            kind: RetrieveKind::Get,
            keys: &keys,
        });
        Payload::encode(encoder, &command, key.len())
    }

    #[test]
    fn short_commands_are_inline_and_long_ones_exact() {
        let encoder = Encoder::new();
        let (short, _) = get(&encoder, b"user:42").unwrap();
        assert!(matches!(short, Payload::Inline { .. }));
        assert_eq!(short.as_slice(), b"get user:42\r\n");
        let key = [b'k'; 200];
        let (long, _) = get(&encoder, &key).unwrap();
        assert!(matches!(long, Payload::Shared(_)));
        assert_eq!(long.len(), 4 + 200 + 2);
        let value = vec![b'v'; 10_000];
        let store = Command::Store(Store::new(StoreMode::Set, b"big", &value));
        let (big, _) = Payload::encode(&encoder, &store, 10_003).unwrap();
        assert!(big.as_slice().starts_with(b"set big 0 0 10000\r\nvvv"));
        assert_eq!(big.len(), 19 + 10_000 + 2);
    }

    #[test]
    fn an_invalid_command_leaves_nothing_behind() {
        let encoder = Encoder::new();
        assert!(get(&encoder, b"bad key").is_err());
        let (next, _) = get(&encoder, b"ok").unwrap();
        assert_eq!(next.as_slice(), b"get ok\r\n");
    }
}
