//! Storage commands: `set`, `add`, `replace` and `cas`.

use std::future::IntoFuture;
use std::time::{Duration, SystemTime};

use memproto::{Exptime, StoreMode};

use crate::client::protocol::Protocol;
use crate::client::{resolve, CallOptions, Client};
use crate::engine::request::Affinity;
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::ops::dialect::{self, StoreArgs};
use crate::ops::{exptime_setters, timeout_setters, RequestFuture};
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
        StoreRequest::new(self, StoreMode::Set, key, value)
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
        StoreRequest::new(self, StoreMode::Add, key, value)
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
        StoreRequest::new(self, StoreMode::Replace, key, value)
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
        StoreRequest::new(self, StoreMode::Cas(cas), key, value)
    }
}

/// A storage operation: `set`, `add`, `replace` or `cas` (`append` and `prepend` are
/// [`AppendRequest`](crate::AppendRequest)s).
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
    /// failure (for example [`Error::NotStored`](crate::Error::NotStored)) is not reported. The connection still
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
