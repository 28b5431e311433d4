//! A request's encoded bytes. Short commands, which are most gets, deletes, touches and
//! arithmetic, are held inline. Longer ones, up to a few KiB (most sets), are encoded into
//! a buffer taken from a small per-thread pool, which gets it back once the request is
//! written. Neither allocates in steady state. Large values get a buffer of their own.
//!
//! A buffer is taken on the caller's thread and given back on the thread that wrote it,
//! which on a multi-thread runtime is often another one. So the per-thread pools trade
//! with a shared one, in batches: a thread whose pool is full hands half of it over, and a
//! thread whose pool is empty takes a batch, one lock for many requests.

use std::cell::RefCell;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use memproto::{Command, EncodeError, Encoder, Expect};

/// Bytes a request may have and still be held inline: a get or delete of a key of up to 50
/// bytes. Larger would make every request slower to move around than a pooled buffer costs.
const INLINE: usize = 62;

/// Commands whose key and value are longer than this are encoded straight into a buffer of
/// their own; shorter ones into a pooled buffer.
const POOLED_MAX: usize = 4096;

/// Buffers a thread keeps for reuse (each at most [`POOLED_MAX`] plus a command line).
const POOL_SIZE: usize = 64;

/// Capacity a pooled buffer starts with.
const POOLED_START: usize = 256;

/// Buffers the shared pool keeps, and how many move between it and a thread's at once.
const SHARED_SIZE: usize = 1024;
const TRADE: usize = POOL_SIZE / 2;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Where threads' pools trade buffers (see the module docs).
static SHARED: Mutex<Vec<BytesMut>> = Mutex::new(Vec::new());

fn lock_shared() -> std::sync::MutexGuard<'static, Vec<BytesMut>> {
    // A list of spare buffers is consistent at every step; a poisoned lock is usable.
    SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Moves a batch of buffers from the shared pool into an empty thread's pool.
fn restock(pool: &mut Vec<BytesMut>, shared: &mut Vec<BytesMut>) {
    let from = shared.len().saturating_sub(TRADE);
    pool.extend(shared.drain(from..));
}

/// Moves a batch of buffers from a full thread's pool to the shared one, as many as it
/// has room for.
fn hand_over(pool: &mut Vec<BytesMut>, shared: &mut Vec<BytesMut>) {
    let room = SHARED_SIZE.saturating_sub(shared.len());
    let from = pool.len() - TRADE.min(room).min(pool.len());
    shared.extend(pool.drain(from..));
}

/// A request's encoded bytes.
#[derive(Clone)]
pub enum Payload {
    Inline { len: u8, bytes: [u8; INLINE] },
    Pooled(Pooled),
    Shared(Bytes),
}

/// A buffer that returns to its thread's pool when dropped.
pub struct Pooled(BytesMut);

impl Pooled {
    /// A buffer from this thread's pool (restocked from the shared one when empty), or a
    /// new one.
    fn take() -> Pooled {
        let reused = POOL
            .try_with(|pool| {
                let mut pool = pool.try_borrow_mut().ok()?;
                if pool.is_empty() {
                    restock(&mut pool, &mut lock_shared());
                }
                pool.pop()
            })
            .ok()
            .flatten();
        Pooled(reused.unwrap_or_else(|| BytesMut::with_capacity(POOLED_START)))
    }
}

impl Clone for Pooled {
    fn clone(&self) -> Self {
        Pooled(self.0.clone())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if buf.capacity() > POOLED_MAX + 256 {
            return;
        }
        buf.clear();
        // During thread teardown the pool may be gone: the buffer is simply freed.
        let _ = POOL.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut() {
                if pool.len() == POOL_SIZE {
                    hand_over(&mut pool, &mut lock_shared());
                }
                if pool.len() < POOL_SIZE {
                    pool.push(buf);
                }
            }
        });
    }
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
        if size_hint > POOLED_MAX {
            let mut buf = BytesMut::with_capacity(size_hint + 64);
            let expect = encoder.encode(command, &mut buf)?;
            return Ok((Payload::Shared(buf.freeze()), expect));
        }
        let mut pooled = Pooled::take();
        let expect = encoder.encode(command, &mut pooled.0)?;
        let payload = match u8::try_from(pooled.0.len()) {
            Ok(len) if pooled.0.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..pooled.0.len()].copy_from_slice(&pooled.0);
                // `pooled` goes back to the pool here.
                Payload::Inline { len, bytes }
            }
            _ => Payload::Pooled(pooled),
        };
        Ok((payload, expect))
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Payload::Pooled(pooled) => &pooled.0,
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

    #[test]
    fn a_written_request_gives_its_buffer_back() {
        let encoder = Encoder::new();
        let key = [b'k'; 100];
        let (first, _) = get(&encoder, &key).unwrap();
        let Payload::Pooled(pooled) = &first else {
            panic!("{first:?}");
        };
        let address = pooled.0.as_ptr();
        drop(first);
        let (second, _) = get(
            &encoder,
            b"other-key-also-long-enough-to-need-more-room-than-a-request-held-inline",
        )
        .unwrap();
        let Payload::Pooled(pooled) = &second else {
            panic!("{second:?}");
        };
        assert_eq!(pooled.0.as_ptr(), address);
        assert!(second.as_slice().starts_with(b"get other-key"));
    }
    use memproto::{Retrieve, RetrieveKind, Store, StoreMode};

    fn get(encoder: &Encoder, key: &[u8]) -> Result<(Payload, Expect), EncodeError> {
        let keys = [key];
        let command = Command::Retrieve(Retrieve {
            kind: RetrieveKind::Get,
            keys: &keys,
        });
        Payload::encode(encoder, &command, key.len())
    }

    /// Buffers taken on one thread and given back on another come back to the first
    /// through the shared pool, instead of being allocated anew.
    #[test]
    fn buffers_given_back_on_another_thread_are_reused() {
        let encoder = Encoder::new();
        let key = [b'k'; 100];
        let taken: Vec<Payload> = (0..3 * POOL_SIZE)
            .map(|_| get(&encoder, &key).unwrap().0)
            .collect();
        let addresses: std::collections::HashSet<usize> = taken
            .iter()
            .map(|payload| payload.as_slice().as_ptr() as usize)
            .collect();
        let before = lock_shared().len();
        std::thread::spawn(move || drop(taken)).join().unwrap();
        // The other thread kept a pool's worth and handed the rest over in batches (other
        // tests may take some of them meanwhile: the shared pool is the process's).
        let handed = lock_shared().len().saturating_sub(before);
        assert!(handed > 0, "nothing handed over");
        let again: Vec<Payload> = (0..TRADE).map(|_| get(&encoder, &key).unwrap().0).collect();
        assert!(
            again
                .iter()
                .any(|payload| addresses.contains(&(payload.as_slice().as_ptr() as usize))),
            "no buffer came back"
        );
    }

    #[test]
    fn pools_trade_in_batches_within_bounds() {
        let buffers = |count| (0..count).map(|_| BytesMut::new()).collect::<Vec<_>>();
        let (mut pool, mut shared) = (buffers(POOL_SIZE), Vec::new());
        hand_over(&mut pool, &mut shared);
        assert_eq!((pool.len(), shared.len()), (POOL_SIZE - TRADE, TRADE));
        // A nearly full shared pool takes only what it has room for.
        let (mut pool, mut shared) = (buffers(POOL_SIZE), buffers(SHARED_SIZE - 3));
        hand_over(&mut pool, &mut shared);
        assert_eq!((pool.len(), shared.len()), (POOL_SIZE - 3, SHARED_SIZE));
        hand_over(&mut pool, &mut shared);
        assert_eq!((pool.len(), shared.len()), (POOL_SIZE - 3, SHARED_SIZE));
        // An empty pool takes a batch, or what is left.
        let (mut pool, mut shared) = (Vec::new(), buffers(TRADE + 5));
        restock(&mut pool, &mut shared);
        assert_eq!((pool.len(), shared.len()), (TRADE, 5));
        restock(&mut Vec::new(), &mut shared);
        assert!(shared.is_empty());
    }

    #[test]
    fn short_commands_are_inline_and_long_ones_exact() {
        let encoder = Encoder::new();
        let (short, _) = get(&encoder, b"user:42").unwrap();
        assert!(matches!(short, Payload::Inline { .. }));
        assert_eq!(short.as_slice(), b"get user:42\r\n");
        let key = [b'k'; 200];
        let (long, _) = get(&encoder, &key).unwrap();
        assert!(matches!(long, Payload::Pooled(_)));
        assert_eq!(long.len(), 4 + 200 + 2);
        let value = vec![b'v'; 10_000];
        let store = Command::Store(Store::new(StoreMode::Set, b"big", &value));
        let (big, _) = Payload::encode(&encoder, &store, 10_003).unwrap();
        assert!(matches!(big, Payload::Shared(_)));
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
