//! Typed classic (text protocol) requests.

use crate::exptime::Exptime;
use crate::meta::{MetaArith, MetaDelete, MetaGet, MetaSet};

/// Every request this crate can encode. Build one and pass it to [`crate::Encoder::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `set`, `add`, `replace`, `append`, `prepend` or `cas`.
    Store(Store<'a>),
    /// `get`, `gets`, `gat` or `gats` for one or many keys.
    Retrieve(Retrieve<'a>),
    /// `delete <key>`.
    Delete {
        /// The key to delete.
        key: &'a [u8],
        /// Ask the server not to reply.
        noreply: bool,
    },
    /// `incr` or `decr`.
    Arith {
        /// Increment or decrement.
        op: ArithOp,
        /// The counter's key.
        key: &'a [u8],
        /// The amount to add or subtract.
        delta: u64,
        /// Ask the server not to reply.
        noreply: bool,
    },
    /// `touch <key> <exptime>`.
    Touch {
        /// The key to touch.
        key: &'a [u8],
        /// The new expiration time.
        exptime: Exptime,
        /// Ask the server not to reply.
        noreply: bool,
    },
    /// `flush_all [delay]`: invalidate every item, now or after `delay`.
    FlushAll {
        /// When the flush takes effect; `None` means now.
        delay: Option<Exptime>,
        /// Ask the server not to reply.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// `verbosity <level>`.
    Verbosity {
        /// The logging level.
        level: u32,
        /// Ask the server not to reply.
        noreply: bool,
    },
    /// `stats [args]`: the general statistics, or a group such as `settings` or `slabs`.
    Stats {
        /// Arguments after `stats`, each a token with the same byte rules as keys.
        args: &'a [&'a [u8]],
    },
    /// `cache_memlimit <megabytes>`.
    CacheMemlimit {
        /// The new memory limit in megabytes.
        megabytes: u32,
        /// Ask the server not to reply.
        noreply: bool,
    },
    /// `quit`: the server closes the connection without replying.
    Quit,
    /// `mg`: meta get.
    MetaGet(MetaGet<'a>),
    /// `ms`: meta set.
    MetaSet(MetaSet<'a>),
    /// `md`: meta delete.
    MetaDelete(MetaDelete<'a>),
    /// `ma`: meta arithmetic.
    MetaArith(MetaArith<'a>),
    /// `mn`: meta no-op, the barrier that ends a batch of quiet requests.
    MetaNoop,
    /// `me <key>`: meta debug, a human-oriented description of an item.
    MetaDebug {
        /// The key to describe.
        key: &'a [u8],
        /// Send the key base64-encoded (for keys with bytes the text protocol forbids).
        base64: bool,
    },
}

/// Which storage command a [`Store`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Store only if the key does not exist.
    Add,
    /// Store only if the key exists.
    Replace,
    /// Append to an existing value (flags and exptime are ignored by the server).
    Append,
    /// Prepend to an existing value (flags and exptime are ignored by the server).
    Prepend,
    /// Store only if the item's CAS unique still equals this token.
    Cas(u64),
}

impl StoreMode {
    pub(crate) fn name(self) -> &'static [u8] {
        match self {
            StoreMode::Set => b"set",
            StoreMode::Add => b"add",
            StoreMode::Replace => b"replace",
            StoreMode::Append => b"append",
            StoreMode::Prepend => b"prepend",
            StoreMode::Cas(_) => b"cas",
        }
    }
}

/// A storage request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store<'a> {
    /// Which storage command.
    pub mode: StoreMode,
    /// The item's key.
    pub key: &'a [u8],
    /// The value to store.
    pub value: &'a [u8],
    /// Opaque client flags stored with the item.
    pub flags: u32,
    /// When the item expires.
    pub exptime: Exptime,
    /// Ask the server not to reply.
    pub noreply: bool,
}

impl<'a> Store<'a> {
    /// A `mode` request for `key` and `value` with zero flags, no expiry, and a reply.
    pub fn new(mode: StoreMode, key: &'a [u8], value: &'a [u8]) -> Self {
        Store {
            mode,
            key,
            value,
            flags: 0,
            exptime: Exptime::Never,
            noreply: false,
        }
    }
}

/// Which retrieval command a [`Retrieve`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetrieveKind {
    /// `get`: values and flags.
    Get,
    /// `gets`: values, flags and CAS uniques.
    Gets,
    /// `gat`: like `get`, and set a new expiration on every hit.
    Gat(Exptime),
    /// `gats`: like `gets`, and set a new expiration on every hit.
    Gats(Exptime),
}

impl RetrieveKind {
    pub(crate) fn with_cas(self) -> bool {
        matches!(self, RetrieveKind::Gets | RetrieveKind::Gats(_))
    }
}

/// A retrieval request for one or many keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieve<'a> {
    /// Which retrieval command.
    pub kind: RetrieveKind,
    /// The keys, at least one. Repeat a key and the server returns it twice, which the
    /// decoder refuses: pass distinct keys.
    pub keys: &'a [&'a [u8]],
}

/// Increment or decrement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `incr`: adds, wrapping around at 2^64.
    Incr,
    /// `decr`: subtracts, stopping at zero.
    Decr,
}
