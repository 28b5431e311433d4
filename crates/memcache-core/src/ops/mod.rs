//! Request builders: each operation returns one; set options, then `.await` it.

pub(crate) mod append;
pub(crate) mod batched_writes;
pub(crate) mod dialect;
pub(crate) mod fetch_many;
pub(crate) mod get_as;
pub(crate) mod item;
pub(crate) mod item_map;
pub(crate) mod keys;
pub(crate) mod lease;
pub(crate) mod meta_batch;

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use memproto::{ArithOp, Command, Exptime, Reply, RetrieveKind, Stat, StoreMode};

use self::dialect::{Fetch, StoreArgs};
use crate::client::protocol::Protocol;
use crate::client::{resolve, unexpected, CallOptions, Client};
use crate::cluster::addr::IntoNodeAddr;
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::ops::append::{AppendRequest, Join};
use crate::ops::fetch_many::Gather;
use crate::ops::item::Item;
use crate::ops::item_map::{ItemMap, PartialItems};
use crate::value::{self, ToValue};

/// The future every request builder turns into.
pub type RequestFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Setters every builder has, and `send`.
macro_rules! timeout_setters {
    () => {
        /// Turns the request into a [`Future`](std::future::Future) (a [`RequestFuture`]),
        /// for combinators that take futures rather than `IntoFuture` values:
        /// `futures::future::join_all`, `futures::join!`, `FuturesUnordered`,
        /// `buffer_unordered`, `tokio::spawn`. Nothing is sent until it is polled;
        /// `.await` on the builder does the same in one step.
        pub fn send(self) -> <Self as std::future::IntoFuture>::IntoFuture
        where
            Self: std::future::IntoFuture,
        {
            std::future::IntoFuture::into_future(self)
        }

        /// Overrides the client's operation timeout for this call (`None` disables it).
        pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
            self.options.timeout = Some(timeout.into());
            self
        }

        /// Fails at once with [`Error::Overloaded`] when every connection of the node is at
        /// its in-flight budget, instead of waiting for room.
        pub fn no_wait(mut self) -> Self {
            self.options.no_wait = true;
            self
        }
    };
}

pub(crate) use timeout_setters;

/// Setters for commands that take an expiration.
macro_rules! exptime_setters {
    () => {
        /// Sets the expiration: a `Duration` from now, a `SystemTime`, or an [`Exptime`].
        pub fn exptime(mut self, exptime: impl Into<Exptime>) -> Self {
            self.exptime = exptime.into();
            self
        }

        /// Expires the item `ttl` from now (durations over 30 days are sent as absolute
        /// times, so they work as written).
        pub fn ttl(self, ttl: Duration) -> Self {
            self.exptime(Exptime::After(ttl))
        }

        /// Expires the item at `time`.
        pub fn expires_at(self, time: SystemTime) -> Self {
            self.exptime(Exptime::at(time))
        }
    };
}

pub(crate) use exptime_setters;

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
        StoreRequest::new(self, StoreMode::Set, key, value)
    }

    /// Stores `value` only if `key` does not exist; otherwise fails with [`Error::NotStored`].
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
        StoreRequest::new(self, StoreMode::Add, key, value)
    }

    /// Stores `value` only if `key` exists; otherwise fails with [`Error::NotStored`].
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
        StoreRequest::new(self, StoreMode::Replace, key, value)
    }

    /// Appends `value` to the existing value; fails with [`Error::NotStored`] if `key` is
    /// missing. Flags and expiration are left as they were. The value is joined as raw
    /// bytes, so an encoded one (JSON, MessagePack) is refused with [`Error::Value`].
    ///
    /// An item this client stored encoded or compressed would be corrupted for good by
    /// bytes joined to it, so the item's flags are read first and such an item is refused
    /// with [`ValueError::Encoded`](crate::ValueError::Encoded). That check costs one
    /// round trip more than a bare `append`:
    ///
    /// - meta protocol: `mg <key> f c` reads the flags and the CAS token (not the value),
    ///   then `ms <key> <len> MA C<cas>` appends only if the item is still the one checked.
    ///   If it changed in between, the check runs again, up to 5 times in all, then
    ///   [`Error::Exists`] (a key appended to that busily is better joined unchecked).
    /// - text protocol: `get <key>` reads the flags (and the whole value, which the text
    ///   protocol cannot leave out), then `append` adds the bytes. `append` carries no CAS
    ///   token, so an item replaced by an encoded one in the round trip between them can
    ///   still be corrupted.
    ///
    /// Keys you know hold plain bytes can skip the check with
    /// [`AppendRequest::unchecked`], one round trip as before.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("log", "start;").await?;
    /// client.append("log", "step 1;").await?;
    /// // A log only this code writes, as plain text: one round trip per entry.
    /// client.append("log", "step 2;").unchecked().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn append<K: AsRef<[u8]>, V: ToValue>(
        &self,
        key: K,
        value: V,
    ) -> AppendRequest<'_, R, K, V> {
        AppendRequest::new(self, Join::Append, key, value)
    }

    /// Prepends `value` to the existing value; fails with [`Error::NotStored`] if `key` is
    /// missing. Flags and expiration are left as they were, the value is joined as raw
    /// bytes, and an item stored encoded or compressed is refused after one extra round
    /// trip that checks its flags (see [`Client::append`], and
    /// [`AppendRequest::unchecked`] to skip the check).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.prepend("recent", "newest,").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepend<K: AsRef<[u8]>, V: ToValue>(
        &self,
        key: K,
        value: V,
    ) -> AppendRequest<'_, R, K, V> {
        AppendRequest::new(self, Join::Prepend, key, value)
    }

    /// Stores `value` only if the item's CAS token is still `cas` (from [`Client::gets`]).
    /// Fails with [`Error::Exists`] if the item changed since, and [`Error::NotFound`] if it
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
        StoreRequest::new(self, StoreMode::Cas(cas), key, value)
    }

    /// Fetches `key`'s value as raw bytes; `None` if it is missing. [`Client::get_as`]
    /// reads it as a typed value instead.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// if let Some(item) = client.get("greeting").return_flags().await? {
    ///     println!("{:?} (flags {:?})", item.value, item.flags);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn get<K: AsRef<[u8]>>(&self, key: K) -> GetRequest<'_, R, K> {
        GetRequest::new(self, RetrieveKind::Get, key)
    }

    /// Fetches `key`'s value and CAS token, for [`Client::cas`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// if let Some(item) = client.gets("config").await? {
    ///     client.cas("config", "v2", item.cas.unwrap_or_default()).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn gets<K: AsRef<[u8]>>(&self, key: K) -> GetRequest<'_, R, K> {
        GetRequest::new(self, RetrieveKind::Gets, key)
    }

    /// Fetches `key`'s value and sets a new expiration on it (sliding expiry).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// // Each read keeps the session alive for another 30 minutes.
    /// let session = client.gat("session:9", Duration::from_secs(1800)).await?;
    /// # let _ = session;
    /// # Ok(())
    /// # }
    /// ```
    pub fn gat<K: AsRef<[u8]>>(&self, key: K, exptime: impl Into<Exptime>) -> GetRequest<'_, R, K> {
        GetRequest::new(self, RetrieveKind::Gat(exptime.into()), key)
    }

    /// Fetches `key`'s value and CAS token and sets a new expiration on it.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// if let Some(item) = client.gats("session:9", Duration::from_secs(1800)).await? {
    ///     client.cas("session:9", "renewed", item.cas.unwrap_or_default()).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn gats<K: AsRef<[u8]>>(
        &self,
        key: K,
        exptime: impl Into<Exptime>,
    ) -> GetRequest<'_, R, K> {
        GetRequest::new(self, RetrieveKind::Gats(exptime.into()), key)
    }

    /// Fetches many keys at once, in one round trip per node; the [`ItemMap`] holds the
    /// keys found, and looks them up by `&str` as well as by bytes. A node that fails
    /// fails the call; [`GetManyRequest::partial`] returns what the others had instead.
    ///
    /// Keys are anything `AsRef<[u8]>`: `["a", "bb"]`, `[b"a", b"b"]`, a `Vec<String>`, a
    /// slice of `Bytes`. Byte-string literals of different lengths are different array
    /// types (`&[u8; 1]`, `&[u8; 2]`), which no array literal can mix: write them with
    /// [`keys!`](crate::keys) (`keys![b"a", b"bb"]`, which takes text and `String`s
    /// alongside), or make the first one a slice: `[&b"a"[..], b"bb"]`.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let found = client.get_many(["user:1", "user:2"]).await?;
    /// if let Some(item) = found.get("user:1") {
    ///     println!("user:1 = {:?}", item.value);
    /// }
    /// let raw = client.get_many(memcache_tokio::keys![b"a", b"bb"]).await?;
    /// # let _ = raw;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_many<I>(&self, keys: I) -> GetManyRequest<'_, R, I::Item>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        GetManyRequest::new(self, RetrieveKind::Get, keys)
    }

    /// Fetches many keys with their CAS tokens.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let found = client.gets_many(["a", "b"]).await?;
    /// if let Some(item) = found.get("a") {
    ///     client.cas("a", "new", item.cas.unwrap_or_default()).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn gets_many<I>(&self, keys: I) -> GetManyRequest<'_, R, I::Item>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        GetManyRequest::new(self, RetrieveKind::Gets, keys)
    }

    /// Fetches many keys and sets a new expiration on those found.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// let found = client.gat_many(["a", "b"], Duration::from_secs(300)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn gat_many<I>(
        &self,
        keys: I,
        exptime: impl Into<Exptime>,
    ) -> GetManyRequest<'_, R, I::Item>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        GetManyRequest::new(self, RetrieveKind::Gat(exptime.into()), keys)
    }

    /// Fetches many keys with CAS tokens and sets a new expiration on those found.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// let found = client.gats_many(["a", "b"], Duration::from_secs(300)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn gats_many<I>(
        &self,
        keys: I,
        exptime: impl Into<Exptime>,
    ) -> GetManyRequest<'_, R, I::Item>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        GetManyRequest::new(self, RetrieveKind::Gats(exptime.into()), keys)
    }

    /// Adds `delta` to the counter at `key` and returns the new value. The server wraps
    /// around at 2^64. Fails with [`Error::NotFound`] for a missing key and
    /// [`Error::NotNumeric`] for a value that is not a decimal number.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("hits", "0").await?;
    /// assert_eq!(client.increment("hits", 5).await?, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn increment<K: AsRef<[u8]>>(&self, key: K, delta: u64) -> ArithRequest<'_, R, K> {
        ArithRequest::new(self, ArithOp::Incr, key, delta)
    }

    /// Subtracts `delta` from the counter at `key` and returns the new value, stopping at 0.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("stock", "3").await?;
    /// assert_eq!(client.decrement("stock", 5).await?, 0); // stops at zero
    /// # Ok(())
    /// # }
    /// ```
    pub fn decrement<K: AsRef<[u8]>>(&self, key: K, delta: u64) -> ArithRequest<'_, R, K> {
        ArithRequest::new(self, ArithOp::Decr, key, delta)
    }

    /// Sets a new expiration on `key`; fails with [`Error::NotFound`] if it is missing.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// client.touch("session:9", Duration::from_secs(3600)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn touch<K: AsRef<[u8]>>(
        &self,
        key: K,
        exptime: impl Into<Exptime>,
    ) -> KeyRequest<'_, R, K> {
        KeyRequest::new(self, KeyCommand::Touch(exptime.into()), key)
    }

    /// Deletes `key`; fails with [`Error::NotFound`] if it is missing.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use memcache_tokio::Error;
    /// match client.delete("user:42").await {
    ///     Ok(()) | Err(Error::NotFound) => {} // gone either way
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete<K: AsRef<[u8]>>(&self, key: K) -> KeyRequest<'_, R, K> {
        KeyRequest::new(self, KeyCommand::Delete, key)
    }

    /// Invalidates every item on one node, now or after [`NodeRequest::delay`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// for (i, node) in client.nodes().iter().enumerate() {
    ///     // Staggered, so the nodes are not refilled all at once.
    ///     client.flush_all(node).delay(Duration::from_secs(10 * i as u64)).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn flush_all(&self, node: impl IntoNodeAddr) -> NodeRequest<'_, R, ()> {
        NodeRequest::new(self, node, NodeCommand::FlushAll { delay: None })
    }

    /// The server version of one node.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let version = client.version("127.0.0.1:11211").await?;
    /// println!("memcached {version}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn version(&self, node: impl IntoNodeAddr) -> NodeRequest<'_, R, String> {
        NodeRequest::new(self, node, NodeCommand::Version)
    }

    /// One node's statistics (`stats`), or a group of them with [`NodeRequest::args`]
    /// (`"settings"`, `"slabs"`, `"items"`, ...).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let stats = client.stats("127.0.0.1:11211").await?;
    /// let settings = client.stats("127.0.0.1:11211").args(["settings"]).await?;
    /// println!("{} items, max {} bytes", stats["curr_items"], settings["item_size_max"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self, node: impl IntoNodeAddr) -> NodeRequest<'_, R, HashMap<String, String>> {
        NodeRequest::new(self, node, NodeCommand::Stats { args: Vec::new() })
    }

    /// Sets one node's logging verbosity.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.verbosity("127.0.0.1:11211", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn verbosity(&self, node: impl IntoNodeAddr, level: u32) -> NodeRequest<'_, R, ()> {
        NodeRequest::new(self, node, NodeCommand::Verbosity(level))
    }

    /// Sets one node's memory limit, in megabytes.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.cache_memlimit("127.0.0.1:11211", 1024).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cache_memlimit(
        &self,
        node: impl IntoNodeAddr,
        megabytes: u32,
    ) -> NodeRequest<'_, R, ()> {
        NodeRequest::new(self, node, NodeCommand::CacheMemlimit(megabytes))
    }
}

/// A storage operation: `set`, `add`, `replace` or `cas` (`append` and `prepend` are
/// [`AppendRequest`]s).
#[must_use = "requests do nothing unless awaited"]
pub struct StoreRequest<'c, R: Runtime, K, V> {
    client: &'c Client<R>,
    mode: StoreMode,
    key: K,
    value: V,
    flags: u32,
    exptime: Exptime,
    noreply: bool,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>, V: ToValue> StoreRequest<'c, R, K, V> {
    fn new(client: &'c Client<R>, mode: StoreMode, key: K, value: V) -> Self {
        StoreRequest {
            client,
            mode,
            key,
            value,
            flags: 0,
            exptime: Exptime::Never,
            noreply: false,
            options: CallOptions::default(),
        }
    }

    /// Stores these client flags with the item. A plain uncompressed value (bytes, text,
    /// integers) keeps them exactly as given, any `u32`. An encoded or compressed one
    /// keeps its encoding in the top byte (bits 24–27 the format, 28–29 the compression,
    /// 30–31 reserved), so its flags must fit in the low 24 bits, else
    /// [`ValueError::FlagsReserved`](crate::ValueError::FlagsReserved) before anything is
    /// sent. See [`Format`](crate::Format) for what other clients make of these flags.
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// Returns once the request is queued, without waiting for the server's answer: a
    /// failure (for example [`Error::NotStored`]) is not reported. The connection still
    /// reads and drops the answer, so the stream stays in step.
    pub fn noreply(mut self) -> Self {
        self.noreply = true;
        self
    }

    exptime_setters!();
    timeout_setters!();

    async fn run(self) -> Result<()> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let encoded = self.value.to_value()?;
        let stored = value::prepare(&encoded, self.flags, &inner.config)?;
        let (value, flags) = (&*stored.bytes, stored.flags);
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let args = StoreArgs {
            mode: self.mode,
            key,
            value,
            flags,
            exptime: resolve(self.exptime),
        };
        let command = dialect::store(inner.config.protocol, args, token.as_bytes());
        let encode = || inner.encode(&command, key.len() + value.len());
        let node = inner.route(key)?;
        let affinity = Affinity::of_key(key);
        let sent = inner.call_or_queue(&node, &encode, self.options, affinity, self.noreply);
        match sent.await? {
            Some(reply) => dialect::stored(reply),
            None => Ok(()),
        }
    }
}

impl<'c, R, K, V> IntoFuture for StoreRequest<'c, R, K, V>
where
    R: Runtime,
    K: AsRef<[u8]> + Send + 'c,
    V: ToValue + Send + 'c,
{
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A single-key fetch: `get`, `gets`, `gat` or `gats`.
#[must_use = "requests do nothing unless awaited"]
pub struct GetRequest<'c, R: Runtime, K> {
    client: &'c Client<R>,
    key: K,
    fetch: Fetch,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> GetRequest<'c, R, K> {
    fn new(client: &'c Client<R>, kind: RetrieveKind, key: K) -> Self {
        GetRequest {
            client,
            key,
            fetch: Fetch {
                kind,
                return_flags: false,
                info: false,
            },
            options: CallOptions::read(),
        }
    }

    /// Fills [`Item::flags`] with the item's client flags.
    pub fn return_flags(mut self) -> Self {
        self.fetch.return_flags = true;
        self
    }

    /// Fills [`Item::info`]: time to live, time since last access, whether it was fetched
    /// before, and size, in the same round trip. Sent as a meta command whatever the
    /// protocol, so it needs memcached 1.6 or later.
    pub fn with_info(mut self) -> Self {
        self.fetch.info = true;
        self
    }

    timeout_setters!();

    async fn run(self) -> Result<Option<Item>> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let keys = [key];
        let fetch = Fetch {
            kind: resolve_kind(self.fetch.kind),
            ..self.fetch
        };
        let protocol = inner.config.protocol;
        let token = dialect::token(fetch.is_meta(protocol));
        let command = if fetch.is_meta(protocol) {
            dialect::meta_get(protocol, key, fetch, token.as_bytes(), false)
        } else {
            dialect::retrieve(fetch.kind, &keys)
        };
        let encode = || inner.encode(&command, key.len());
        let node = inner.route(key)?;
        let reply = match fetch.kind {
            RetrieveKind::Get | RetrieveKind::Gets if !fetch.is_meta(protocol) => {
                let with_cas = fetch.kind == RetrieveKind::Gets;
                inner
                    .call_get(&node, &encode, self.options, key, with_cas)
                    .await?
            }
            _ => {
                inner
                    .call(&node, &encode, self.options, Affinity::of_key(key))
                    .await?
            }
        };
        // Compressed values decode within the client's largest, as `get_as` reads them.
        let max_value_len = inner.config.encoder.max_value_len();
        node.fetched(dialect::fetched(reply, fetch))
            .map(|item| item.map(|item| item.with_max_value_len(max_value_len)))
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for GetRequest<'c, R, K> {
    type Output = Result<Option<Item>>;
    type IntoFuture = RequestFuture<'c, Option<Item>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let inner = self.client.inner.clone();
            match self.run().await {
                Err(error) if inner.read_miss_instead(&error, None) => Ok(None),
                other => other,
            }
        })
    }
}

fn resolve_kind(kind: RetrieveKind) -> RetrieveKind {
    match kind {
        RetrieveKind::Gat(exptime) => RetrieveKind::Gat(resolve(exptime)),
        RetrieveKind::Gats(exptime) => RetrieveKind::Gats(resolve(exptime)),
        other => other,
    }
}

/// A multi-key fetch: `get_many`, `gets_many`, `gat_many` or `gats_many`.
#[must_use = "requests do nothing unless awaited"]
pub struct GetManyRequest<'c, R: Runtime, K> {
    client: &'c Client<R>,
    keys: Vec<K>,
    fetch: Fetch,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> GetManyRequest<'c, R, K> {
    fn new<I>(client: &'c Client<R>, kind: RetrieveKind, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
    {
        GetManyRequest {
            client,
            keys: keys.into_iter().collect(),
            fetch: Fetch {
                kind,
                return_flags: false,
                info: false,
            },
            options: CallOptions::read(),
        }
    }

    /// Fills [`Item::flags`] with each item's client flags.
    pub fn return_flags(mut self) -> Self {
        self.fetch.return_flags = true;
        self
    }

    /// Fills [`Item::info`] for each item found (see [`GetRequest::with_info`]). Sent as
    /// quiet meta batches whatever the protocol, so it needs memcached 1.6 or later.
    pub fn with_info(mut self) -> Self {
        self.fetch.info = true;
        self
    }

    timeout_setters!();

    /// Waits for every node and returns what the reachable ones had, with each failed
    /// node's error, instead of failing the whole call on the first failure. Invalid keys
    /// still fail it before anything is sent.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let found = client.get_many(["a", "b", "c"]).partial().await?;
    /// for (node, error) in &found.errors {
    ///     eprintln!("{node} did not answer: {error}");
    /// }
    /// let a = found.items.get("a");
    /// # let _ = a;
    /// # Ok(())
    /// # }
    /// ```
    pub fn partial(self) -> PartialGetManyRequest<'c, R, K> {
        PartialGetManyRequest { request: self }
    }

    async fn gather(self, gather: Gather) -> Result<PartialItems> {
        if self.keys.is_empty() {
            return Ok(PartialItems::default());
        }
        let keys: Vec<&[u8]> = self.keys.iter().map(AsRef::as_ref).collect();
        let fetch = Fetch {
            kind: resolve_kind(self.fetch.kind),
            ..self.fetch
        };
        let inner = &self.client.inner;
        let mut found = inner
            .retrieve_many(fetch, &keys, self.options, gather)
            .await?;
        // Compressed values decode within the client's largest, as `get_as` reads them.
        let max_value_len = inner.config.encoder.max_value_len();
        for item in found.items.values_mut() {
            item.max_value_len = max_value_len;
        }
        Ok(found)
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for GetManyRequest<'c, R, K> {
    type Output = Result<ItemMap>;
    type IntoFuture = RequestFuture<'c, ItemMap>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let inner = self.client.inner.clone();
            if !inner.config.miss_on_unavailable {
                return Ok(self.gather(Gather::Strict).await?.items);
            }
            match self.gather(Gather::Partial).await {
                Ok(partial) => inner.misses_for_unavailable(partial),
                Err(error) if inner.read_miss_instead(&error, None) => Ok(ItemMap::default()),
                Err(error) => Err(error),
            }
        })
    }
}

/// A multi-key fetch that returns partial results ([`GetManyRequest::partial`]).
#[must_use = "requests do nothing unless awaited"]
pub struct PartialGetManyRequest<'c, R: Runtime, K> {
    request: GetManyRequest<'c, R, K>,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> PartialGetManyRequest<'c, R, K> {
    /// Turns the request into a [`Future`](std::future::Future) (see [`GetRequest::send`]).
    pub fn send(self) -> RequestFuture<'c, PartialItems>
    where
        K: Send + 'c,
    {
        self.into_future()
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for PartialGetManyRequest<'c, R, K> {
    type Output = Result<PartialItems>;
    type IntoFuture = RequestFuture<'c, PartialItems>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.request.gather(Gather::Partial))
    }
}

/// `incr` or `decr`.
#[must_use = "requests do nothing unless awaited"]
pub struct ArithRequest<'c, R: Runtime, K> {
    client: &'c Client<R>,
    op: ArithOp,
    key: K,
    delta: u64,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> ArithRequest<'c, R, K> {
    fn new(client: &'c Client<R>, op: ArithOp, key: K, delta: u64) -> Self {
        ArithRequest {
            client,
            op,
            key,
            delta,
            options: CallOptions::default(),
        }
    }

    /// Returns once the request is queued, without the new value and without reporting
    /// failures. The connection still reads and drops the answer.
    pub fn noreply(self) -> NoReplyRequest<'c, R> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let protocol = inner.config.protocol;
        let command = dialect::arith(protocol, self.op, key, self.delta, token.as_bytes());
        NoReplyRequest::new(
            self.client,
            inner.encode(&command, key.len()),
            key,
            self.options,
        )
    }

    timeout_setters!();

    async fn run(self) -> Result<u64> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let protocol = inner.config.protocol;
        let command = dialect::arith(protocol, self.op, key, self.delta, token.as_bytes());
        let encode = || inner.encode(&command, key.len());
        let node = inner.route(key)?;
        let affinity = Affinity::of_key(key);
        dialect::counted(inner.call(&node, &encode, self.options, affinity).await?)
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for ArithRequest<'c, R, K> {
    type Output = Result<u64>;
    type IntoFuture = RequestFuture<'c, u64>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A request whose answer is not awaited (see the `noreply` methods).
#[must_use = "requests do nothing unless awaited"]
pub struct NoReplyRequest<'c, R: Runtime> {
    client: &'c Client<R>,
    request: Result<(Payload, Expects)>,
    key: Bytes,
    options: CallOptions,
}

impl<'c, R: Runtime> NoReplyRequest<'c, R> {
    fn new(
        client: &'c Client<R>,
        request: Result<(Payload, Expects)>,
        key: &[u8],
        options: CallOptions,
    ) -> Self {
        NoReplyRequest {
            client,
            request,
            key: Bytes::copy_from_slice(key),
            options,
        }
    }

    timeout_setters!();

    async fn run(self) -> Result<()> {
        let inner = &self.client.inner;
        let request = self.request?;
        let encode = || Ok(request.clone());
        let node = inner.route(&self.key)?;
        inner
            .call_noreply(&node, &encode, self.options, Affinity::of_key(&self.key))
            .await
    }
}

impl<'c, R: Runtime> IntoFuture for NoReplyRequest<'c, R> {
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Which single-key command a [`KeyRequest`] is.
#[derive(Debug, Clone, Copy)]
enum KeyCommand {
    Touch(Exptime),
    Delete,
}

/// `touch` or `delete`.
#[must_use = "requests do nothing unless awaited"]
pub struct KeyRequest<'c, R: Runtime, K> {
    client: &'c Client<R>,
    command: KeyCommand,
    key: K,
    noreply: bool,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> KeyRequest<'c, R, K> {
    fn new(client: &'c Client<R>, command: KeyCommand, key: K) -> Self {
        KeyRequest {
            client,
            command,
            key,
            noreply: false,
            options: CallOptions::default(),
        }
    }

    /// Returns once the request is queued, without reporting [`Error::NotFound`]. The
    /// connection still reads and drops the answer.
    pub fn noreply(mut self) -> Self {
        self.noreply = true;
        self
    }

    timeout_setters!();

    async fn run(self) -> Result<()> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let (protocol, opaque) = (inner.config.protocol, token.as_bytes());
        let command = match self.command {
            KeyCommand::Touch(exptime) => dialect::touch(protocol, key, resolve(exptime), opaque),
            KeyCommand::Delete => dialect::delete(protocol, key, opaque),
        };
        let encode = || inner.encode(&command, key.len());
        let node = inner.route(key)?;
        let affinity = Affinity::of_key(key);
        let sent = inner.call_or_queue(&node, &encode, self.options, affinity, self.noreply);
        match sent.await? {
            Some(reply) => dialect::done(reply),
            None => Ok(()),
        }
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for KeyRequest<'c, R, K> {
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Which one-node command a [`NodeRequest`] is.
#[derive(Debug, Clone)]
enum NodeCommand {
    FlushAll { delay: Option<Duration> },
    Version,
    Stats { args: Vec<String> },
    Verbosity(u32),
    CacheMemlimit(u32),
}

/// A command addressed to one node: `flush_all`, `version`, `stats`, `verbosity`,
/// `cache_memlimit`.
#[must_use = "requests do nothing unless awaited"]
pub struct NodeRequest<'c, R: Runtime, T> {
    client: &'c Client<R>,
    node: Result<crate::cluster::addr::NodeAddr>,
    command: NodeCommand,
    noreply: bool,
    options: CallOptions,
    output: std::marker::PhantomData<fn() -> T>,
}

impl<'c, R: Runtime, T> NodeRequest<'c, R, T> {
    fn new(client: &'c Client<R>, node: impl IntoNodeAddr, command: NodeCommand) -> Self {
        let read = matches!(command, NodeCommand::Version | NodeCommand::Stats { .. });
        NodeRequest {
            client,
            node: node
                .into_node_addr()
                .map_err(|error| Error::UnknownNode(error.0)),
            command,
            noreply: false,
            options: if read {
                CallOptions::read()
            } else {
                CallOptions::default()
            },
            output: std::marker::PhantomData,
        }
    }

    timeout_setters!();

    async fn reply(self) -> Result<Option<Reply>> {
        let inner = &self.client.inner;
        let node = inner.node(self.node?)?;
        let args: Vec<&[u8]>;
        let command = match &self.command {
            NodeCommand::FlushAll { delay } => Command::FlushAll {
                delay: delay.map(|delay| resolve(Exptime::After(delay))),
                noreply: false,
            },
            NodeCommand::Version => Command::Version,
            NodeCommand::Stats { args: owned } => {
                args = owned.iter().map(|arg| arg.as_bytes()).collect();
                Command::Stats { args: &args }
            }
            NodeCommand::Verbosity(level) => Command::Verbosity {
                level: *level,
                noreply: false,
            },
            NodeCommand::CacheMemlimit(megabytes) => Command::CacheMemlimit {
                megabytes: *megabytes,
                noreply: false,
            },
        };
        let encode = || inner.encode(&command, 0);
        inner
            .call_or_queue(&node, &encode, self.options, Affinity::None, self.noreply)
            .await
    }
}

impl<'c, R: Runtime> NodeRequest<'c, R, ()> {
    /// Returns once the request is queued, without waiting for the server's answer.
    pub fn noreply(mut self) -> Self {
        self.noreply = true;
        self
    }

    /// For `flush_all`: invalidate the items `delay` from now instead of at once (stagger
    /// the delays across nodes to spread the refill load).
    pub fn delay(mut self, delay: Duration) -> Self {
        if let NodeCommand::FlushAll { delay: slot } = &mut self.command {
            *slot = Some(delay);
        }
        self
    }
}

impl<'c, R: Runtime> NodeRequest<'c, R, HashMap<String, String>> {
    /// For `stats`: the statistics group and its arguments (`["settings"]`,
    /// `["slabs"]`, `["items"]`, ...).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let NodeCommand::Stats { args: slot } = &mut self.command {
            *slot = args.into_iter().map(Into::into).collect();
        }
        self
    }
}

impl<'c, R: Runtime> IntoFuture for NodeRequest<'c, R, ()> {
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.reply().await? {
                None | Some(Reply::Ok) => Ok(()),
                Some(Reply::Other(line)) => {
                    Err(Error::Server(String::from_utf8_lossy(&line).into_owned()))
                }
                Some(other) => Err(unexpected(other)),
            }
        })
    }
}

impl<'c, R: Runtime> IntoFuture for NodeRequest<'c, R, String> {
    type Output = Result<String>;
    type IntoFuture = RequestFuture<'c, String>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.reply().await? {
                Some(Reply::Version(version)) => Ok(String::from_utf8_lossy(&version).into_owned()),
                Some(other) => Err(unexpected(other)),
                None => Err(Error::UnexpectedReply("no reply".into())),
            }
        })
    }
}

impl<'c, R: Runtime> IntoFuture for NodeRequest<'c, R, HashMap<String, String>> {
    type Output = Result<HashMap<String, String>>;
    type IntoFuture = RequestFuture<'c, HashMap<String, String>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.reply().await? {
                Some(Reply::Stats(stats)) => Ok(stats.into_iter().map(stat_entry).collect()),
                // `stats reset` answers RESET, `stats detail on|off` OK: done, nothing to list.
                Some(Reply::Ok | Reply::Other(_)) => Ok(HashMap::new()),
                Some(other) => Err(unexpected(other)),
                None => Err(Error::UnexpectedReply("no reply".into())),
            }
        })
    }
}

fn stat_entry(stat: Stat) -> (String, String) {
    (
        String::from_utf8_lossy(&stat.name).into_owned(),
        String::from_utf8_lossy(&stat.value).into_owned(),
    )
}
