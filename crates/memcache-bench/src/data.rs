//! What every workload uses: the operations, the key space and values, and the preload.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use memcache_core::Socket;

/// Keys preloaded with a small value.
pub(crate) const KEY_COUNT: usize = 1000;
/// Size of the preloaded small values.
pub(crate) const SMALL_VALUE: usize = 100;
/// Size of the one large value.
pub(crate) const LARGE_VALUE: usize = 100 * 1024;
/// Keys per multi-get and per batched set.
pub(crate) const MULTI_KEYS: usize = 100;
/// The large value's key.
pub(crate) const LARGE_KEY: &str = "bench:large";

/// What a workload does per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `get` of one preloaded key (100-byte value).
    Get,
    /// `set` of one key of the preloaded key space (100-byte value).
    Set,
    /// `get` of 100 consecutive preloaded keys.
    GetMany,
    /// `get` of the 100 KiB value.
    GetLarge,
    /// One batched `set` of 100 consecutive keys of the preloaded key space (100-byte
    /// values), counted as 100 operations: one per key.
    SetMany,
}

impl Op {
    /// How the report names the operation.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Op::Get => "get 100 B",
            Op::Set => "set 100 B",
            Op::GetMany => "get_many 100 keys",
            Op::GetLarge => "get 100 KiB",
            Op::SetMany => "set_many 100 keys of 100 B",
        }
    }

    /// Keys one call touches (the report shows multi-key calls per key).
    pub(crate) fn keys(self) -> usize {
        match self {
            Op::GetMany | Op::SetMany => MULTI_KEYS,
            Op::Get | Op::Set | Op::GetLarge => 1,
        }
    }

    /// Operations one call counts as: one per key for a batched set, whose keys succeed or
    /// fail one by one; one per call otherwise.
    pub(crate) fn ops_per_call(self) -> usize {
        match self {
            Op::SetMany => MULTI_KEYS,
            Op::Get | Op::Set | Op::GetMany | Op::GetLarge => 1,
        }
    }
}

/// The key space and values, built once.
pub(crate) struct Data {
    /// The preloaded keys, `bench:key:0000` to `bench:key:0999`.
    pub(crate) keys: Vec<String>,
    /// The small value.
    pub(crate) small: Vec<u8>,
    /// The large value.
    pub(crate) large: Vec<u8>,
}

impl Data {
    /// Builds the key space and values.
    pub(crate) fn new() -> Data {
        let pattern = |len: usize| (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        Data {
            keys: (0..KEY_COUNT)
                .map(|i| format!("bench:key:{i:04}"))
                .collect(),
            small: pattern(SMALL_VALUE),
            large: pattern(LARGE_VALUE),
        }
    }

    /// Stores every key over `socket`, checking each `STORED`.
    pub(crate) async fn preload(&self, socket: &mut Box<dyn Socket>) -> Result<(), String> {
        let mut batch = Vec::new();
        for key in &self.keys {
            batch.extend_from_slice(format!("set {key} 0 0 {SMALL_VALUE}\r\n").as_bytes());
            batch.extend_from_slice(&self.small);
            batch.extend_from_slice(b"\r\n");
        }
        batch.extend_from_slice(format!("set {LARGE_KEY} 0 0 {LARGE_VALUE}\r\n").as_bytes());
        batch.extend_from_slice(&self.large);
        batch.extend_from_slice(b"\r\n");
        socket
            .write_all(&batch)
            .await
            .map_err(|error| format!("preload write: {error}"))?;
        let expected = b"STORED\r\n".repeat(KEY_COUNT + 1);
        let mut reply = vec![0; expected.len()];
        socket
            .read_exact(&mut reply)
            .await
            .map_err(|error| format!("preload read: {error}"))?;
        if reply != expected {
            return Err(format!(
                "preload failed: {:?}",
                String::from_utf8_lossy(&reply[..reply.len().min(200)])
            ));
        }
        Ok(())
    }
}

/// A small, fast, seedable random number generator (xorshift64*), so each task picks keys
/// independently without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for task number `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((value >> 32) as usize) % bound
    }
}
