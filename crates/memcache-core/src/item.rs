//! Items returned by fetch operations.

use std::time::Duration;

use bytes::Bytes;
use memproto::MetaFlags;

use crate::value::{FromValue, ValueError};

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
    /// The value as a `T`, read by the format its flags name and decompressed if they say
    /// so (see [`Client::get_as`](crate::Client::get_as)). The item must have been fetched
    /// with `return_flags()`, else [`ValueError::FlagsNotFetched`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let found = client.get_many(["hits:a", "hits:b"]).return_flags().await?;
    /// for (key, item) in &found {
    ///     let hits: u64 = item.decode()?;
    ///     println!("{key:?}: {hits}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn decode<T: FromValue>(&self) -> Result<T, ValueError> {
        let flags = self.flags.ok_or(ValueError::FlagsNotFetched)?;
        // No client limit is known here: a compressed value is bounded by what its block
        // can expand to.
        crate::value::decode(self.value.clone(), flags, usize::MAX)
    }

    pub(crate) fn from_wire(item: memproto::Item, return_flags: bool) -> Self {
        Item {
            value: item.value,
            flags: return_flags.then_some(item.flags),
            cas: item.cas,
            info: None,
        }
    }
}
