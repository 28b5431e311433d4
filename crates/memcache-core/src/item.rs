//! Items returned by fetch operations.

use std::time::Duration;

use bytes::Bytes;
use memproto::MetaFlags;

/// A fetched item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The value (shares the connection's read buffer: no copy was made).
    pub value: Bytes,
    /// The client flags, when asked for with `return_flags()`.
    pub flags: Option<u32>,
    /// The CAS token, for the `gets` and `gats` families.
    pub cas: Option<u64>,
    /// What the server knows about the item, when asked for with `with_info()`.
    pub info: Option<ItemInfo>,
}

/// What the server knows about an item besides its value, read in the same round trip
/// as the value (`mg` flags `t`, `l`, `h` and `s`; memcached 1.6 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ItemInfo {
    /// Time left before the item expires; `None` when it never expires (or the server did
    /// not say).
    pub ttl: Option<Duration>,
    /// Time since the item was last accessed, before this fetch.
    pub last_access: Option<Duration>,
    /// Whether the item had been fetched before this fetch.
    pub fetched_before: Option<bool>,
    /// The value's size in bytes, as the server stores it.
    pub size: Option<u64>,
}

impl ItemInfo {
    pub(crate) fn from_flags(flags: &MetaFlags) -> Self {
        ItemInfo {
            // `-1` is the server's "never expires".
            ttl: flags
                .ttl
                .and_then(|ttl| u64::try_from(ttl).ok())
                .map(Duration::from_secs),
            last_access: flags.last_access.map(Duration::from_secs),
            fetched_before: flags.hit_before,
            size: flags.size,
        }
    }
}

impl Item {
    pub(crate) fn from_wire(item: memproto::Item, return_flags: bool) -> Self {
        Item {
            value: item.value,
            flags: return_flags.then_some(item.flags),
            cas: item.cas,
            info: None,
        }
    }
}
