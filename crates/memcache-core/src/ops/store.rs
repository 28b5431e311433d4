//! Storage commands: `set`, `add`, `replace` and `cas`.

use std::time::{Duration, SystemTime};

use memproto::{
    Command, Exptime, MetaSet, MetaSetMode, MetaStatus, Reply, Store as StoreCommand, StoreMode,
};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::protocol::Protocol;
use crate::client::{encode, unexpected, Client};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::dialect::{self, unexpected_status};
use crate::ops::{exptime_setters, Request};
use crate::value::{self, ToValue};

impl<R: Runtime> Client<R> {
    /// Stores `value` under `key`, unconditionally.
    ///
    /// The value is anything [`ToValue`]: bytes and text as they are (`&str`, `String`,
    /// `&[u8]`, `Vec<u8>`, `Bytes`, borrowed, never copied), integers in decimal (so
    /// `increment` works on them), and with the `serde` feature `Json` and
    /// `MsgPack` of any serde type. Encoded values mark their format in
    /// the top byte of the flags, for [`Client::get_as`] to check; bytes and text leave the
    /// flags as given. With [`ClientBuilder::compression`](crate::ClientBuilder) large
    /// values are stored compressed.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    ///
    /// client.set("greeting", "hello").await?;
    /// client.set("hits", 0u64).ttl(Duration::from_secs(60)).await?;
    /// client.set("raw", vec![0u8, 1, 2]).flags(42).noreply().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set<K: AsRef<[u8]>, V: ToValue>(&self, key: K, value: V) -> StoreRequest<'_, R, K, V> {
        StoreRequest::store(self, StoreMode::Set, key, value)
    }

    /// Stores `value` only if `key` does not exist; otherwise fails with [`Error::NotStored`](crate::Error::NotStored).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// use memcache_tokio::Error;
    ///
    /// // A lock: whoever adds the key first holds it for 30 seconds.
    /// match client.add("lock:report", "worker-7").ttl(Duration::from_secs(30)).await {
    ///     Ok(()) => println!("locked"),
    ///     Err(Error::NotStored) => println!("someone else holds it"),
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn add<K: AsRef<[u8]>, V: ToValue>(&self, key: K, value: V) -> StoreRequest<'_, R, K, V> {
        StoreRequest::store(self, StoreMode::Add, key, value)
    }

    /// Stores `value` only if `key` exists; otherwise fails with [`Error::NotStored`](crate::Error::NotStored).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// // Refreshes a cached value without creating it for keys nobody reads.
    /// client.replace("user:1:name", "Ada Lovelace").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn replace<K: AsRef<[u8]>, V: ToValue>(
        &self,
        key: K,
        value: V,
    ) -> StoreRequest<'_, R, K, V> {
        StoreRequest::store(self, StoreMode::Replace, key, value)
    }

    /// Stores `value` only if the item's CAS token is still `cas` (from [`Client::gets`]).
    /// Fails with [`Error::Exists`](crate::Error::Exists) if the item changed since, and [`Error::NotFound`](crate::Error::NotFound) if it
    /// is gone.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use memcache_tokio::Error;
    ///
    /// // Read, modify, write back unless someone wrote in between; then try again.
    /// loop {
    ///     let Some(item) = client.gets("likes").return_flags().await? else { break };
    ///     let likes: u64 = item.decode().unwrap_or(0);
    ///     match client.cas("likes", likes + 1, item.cas.unwrap_or_default()).await {
    ///         Ok(()) | Err(Error::NotFound) => break,
    ///         Err(Error::Exists) => continue,
    ///         Err(other) => return Err(other),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn cas<K: AsRef<[u8]>, V: ToValue>(
        &self,
        key: K,
        value: V,
        cas: u64,
    ) -> StoreRequest<'_, R, K, V> {
        StoreRequest::store(self, StoreMode::Cas(cas), key, value)
    }
}

/// A storage operation: `set`, `add`, `replace` or `cas` (`append` and `prepend` are
/// [`AppendRequest`](crate::AppendRequest)s).
pub type StoreRequest<'c, R, K, V> = Request<'c, R, Store<K, V>>;

/// The `set`, `add`, `replace` and `cas` operation.
#[derive(Debug)]
pub struct Store<K, V> {
    mode: StoreMode,
    key: K,
    value: V,
    flags: u32,
    exptime: Exptime,
    noreply: bool,
    /// Sent by a warm-up route to fill its cold pool.
    filling: bool,
}

impl<'c, R: Runtime, K: AsRef<[u8]>, V: ToValue> StoreRequest<'c, R, K, V> {
    fn store(client: &'c Client<R>, mode: StoreMode, key: K, value: V) -> Self {
        let (flags, exptime, noreply) = (0, Exptime::Never, false);
        let store = Store {
            mode,
            key,
            value,
            flags,
            exptime,
            noreply,
            filling: false,
        };
        Request::new(client, store)
    }

    /// Stores these client flags with the item. A plain uncompressed value (bytes, text,
    /// integers) keeps them exactly as given, any `u32`. An encoded or compressed one
    /// keeps its encoding in the top byte (bits 24–27 the format, 28–29 the compression,
    /// 30–31 reserved), so its flags must fit in the low 24 bits, else
    /// [`ValueError::FlagsReserved`](crate::ValueError::FlagsReserved) before anything is
    /// sent. See [`Format`](crate::Format) for what other clients make of these flags.
    pub fn flags(mut self, flags: u32) -> Self {
        self.op_mut().flags = flags;
        self
    }

    /// Returns once the request is queued, without waiting for the server's answer: a
    /// failure (for example [`Error::NotStored`](crate::Error::NotStored)) is not reported. The connection still
    /// reads and drops the answer, so the stream stays in step.
    pub fn noreply(mut self) -> Self {
        self.op_mut().noreply = true;
        self
    }

    exptime_setters!(op.exptime);
}

impl<K> Store<K, bytes::Bytes> {
    /// An `add` of an item read elsewhere, its value and flags as they were stored, for
    /// a route that warms a pool up.
    pub(crate) fn warm_fill(key: K, value: bytes::Bytes, flags: u32, exptime: Exptime) -> Self {
        Store {
            mode: StoreMode::Add,
            key,
            value,
            flags,
            exptime,
            noreply: false,
            filling: true,
        }
    }
}

impl<K, V> Operation for Store<K, V>
where
    K: AsRef<[u8]> + Send,
    V: ToValue + Send,
{
    type Output = ();

    fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key.as_ref();
        let encoded = self.value.to_value()?;
        let stored = value::prepare(&encoded, self.flags, config)?;
        let token = dialect::token_for(config);
        let args = StoreArgs {
            mode: self.mode,
            key,
            value: &stored.bytes,
            flags: stored.flags,
            exptime: config.expiry(self.exptime),
        };
        let command = store(config.protocol, args, token.as_bytes());
        encode(config, &command, key.len() + stored.bytes.len())
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<()> {
        stored(answer.one()?)
    }

    // A warm-up's fill is the route's own write: a failure leaves nothing stale.
    fn may_leave_stale(&self) -> bool {
        !self.filling
    }

    fn detached(&self) -> Option<()> {
        self.noreply.then_some(())
    }
}

/// A storage command.
pub(crate) struct StoreArgs<'a> {
    pub(crate) mode: StoreMode,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
    pub(crate) flags: u32,
    pub(crate) exptime: Exptime,
}

pub(crate) fn store<'a>(protocol: Protocol, args: StoreArgs<'a>, opaque: &'a [u8]) -> Command<'a> {
    match protocol {
        Protocol::Text => {
            let mut store = StoreCommand::new(args.mode, args.key, args.value);
            store.flags = args.flags;
            store.exptime = args.exptime;
            Command::Store(store)
        }
        Protocol::Meta => {
            let (mode, compare_cas) = match args.mode {
                StoreMode::Set => (MetaSetMode::Set, None),
                StoreMode::Add => (MetaSetMode::Add, None),
                StoreMode::Replace => (MetaSetMode::Replace, None),
                StoreMode::Append => (MetaSetMode::Append, None),
                StoreMode::Prepend => (MetaSetMode::Prepend, None),
                StoreMode::Cas(cas) => (MetaSetMode::Set, Some(cas)),
            };
            Command::MetaSet(MetaSet {
                key: args.key,
                value: args.value,
                common: protocol.meta_common(args.key, Some(opaque), false),
                mode,
                flags: args.flags,
                exptime: args.exptime,
                compare_cas,
                ..MetaSet::default()
            })
        }
    }
}

/// A storage command's outcome.
pub(crate) fn stored(reply: Reply) -> Result<()> {
    match reply {
        Reply::Stored => Ok(()),
        Reply::NotStored => Err(Error::NotStored),
        Reply::Exists => Err(Error::Exists),
        Reply::NotFound => Err(Error::NotFound),
        other => match other.meta_status() {
            Some(MetaStatus::Hd) => Ok(()),
            Some(MetaStatus::Ns) => Err(Error::NotStored),
            Some(MetaStatus::Ex) => Err(Error::Exists),
            Some(MetaStatus::Nf) => Err(Error::NotFound),
            Some(status) => Err(unexpected_status(status)),
            None => Err(unexpected(other)),
        },
    }
}
