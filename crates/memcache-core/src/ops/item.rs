//! Items returned by fetch operations.

use std::time::Duration;

use bytes::Bytes;
use memproto::{Encoder, MetaFlags};

use crate::value::{FromValue, ValueError};

/// The decoding bound of an item not fetched by a client: the client's own default, so an
/// item decodes as a default client's `get_as` would read it.
pub(crate) const DEFAULT_MAX_VALUE_LEN: usize = Encoder::DEFAULT_MAX_VALUE_LEN;

/// A fetched item.
///
/// Besides its public fields an item carries the largest size a compressed value of it may
/// expand to when [decoded](Item::decode): the client's
/// [`max_value_len`](crate::ClientBuilder::max_value_len) for fetched items, so that a small
/// item declaring a huge decompressed size is refused before anything is allocated for it.
/// Build one yourself with [`Item::new`] (the bound is then the default
/// [`Encoder::DEFAULT_MAX_VALUE_LEN`]; change it with [`Item::with_max_value_len`]). The
/// bound is not part of the item's data: `==` compares the public fields only.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Item {
    /// The value (shares the connection's read buffer: no copy was made).
    pub value: Bytes,
    /// The client flags, when asked for with `return_flags()`.
    ///
    /// With typed values the top byte describes the value's encoding: bits 24–27 the
    /// [`Format`](crate::Format) (0 plain, 1 JSON, 2 MessagePack), bits 28–29 the compression
    /// (0 none, 1 lz4), bits 30–31 reserved (zero). The low 24 bits are yours. Plain
    /// uncompressed values keep the flags exactly as given, top byte included. See
    /// [`Format`](crate::Format) for what other clients make of these flags.
    pub flags: Option<u32>,
    /// The CAS token, for the `gets` and `gats` families.
    pub cas: Option<u64>,
    /// What the server knows about the item, when asked for with `with_info()`.
    pub info: Option<ItemInfo>,
    /// The largest value a compressed one may expand to in [`Item::decode`].
    pub(crate) max_value_len: usize,
}

/// The public fields only: the decoding bound is how the item is read, not what it holds.
impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
            && self.flags == other.flags
            && self.cas == other.cas
            && self.info == other.info
    }
}

impl Eq for Item {}

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
    /// An item holding `value`, without flags, CAS token or information: for tests, caches
    /// in front of the client, or values fetched by other means. Set the public fields as
    /// needed; [`Item::decode`] needs [`Item::flags`]. A compressed value may expand to
    /// [`Encoder::DEFAULT_MAX_VALUE_LEN`] bytes (see [`Item::with_max_value_len`]).
    ///
    /// ```
    /// use memcache_core::Item;
    ///
    /// let mut item = Item::new("42");
    /// item.flags = Some(0);
    /// assert_eq!(item.decode::<u64>(), Ok(42));
    /// ```
    pub fn new(value: impl Into<Bytes>) -> Self {
        Item {
            value: value.into(),
            flags: None,
            cas: None,
            info: None,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }

    /// The same item, whose compressed value may expand to at most `max` bytes when
    /// decoded. Fetched items already carry their client's
    /// [`max_value_len`](crate::ClientBuilder::max_value_len).
    pub fn with_max_value_len(mut self, max: usize) -> Self {
        self.max_value_len = max;
        self
    }

    /// The largest value a compressed one may expand to in [`Item::decode`]; a larger
    /// declared size is [`ValueError::TooLarge`].
    pub fn max_value_len(&self) -> usize {
        self.max_value_len
    }

    /// The value as a `T`, read by the format its flags name and decompressed if they say
    /// so (see [`Client::get_as`](crate::Client::get_as)). The item must have been fetched
    /// with `return_flags()`, else [`ValueError::FlagsNotFetched`]. A compressed value
    /// declaring more than [`Item::max_value_len`] bytes is [`ValueError::TooLarge`],
    /// refused before anything is allocated for it.
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
        crate::value::decode(self.value.clone(), flags, self.max_value_len)
    }

    /// The item of a `VALUE` line. Its decoding bound is the default until the request that
    /// fetched it sets its client's ([`Item::with_max_value_len`]).
    pub(crate) fn from_wire(item: memproto::Item, return_flags: bool) -> Self {
        Item {
            value: item.value,
            flags: return_flags.then_some(item.flags),
            cas: item.cas,
            info: None,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}
