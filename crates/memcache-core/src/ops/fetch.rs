//! Fetches: `get`, `gets`, `gat` and `gats`, of one key or many.

use std::future::IntoFuture;

use memproto::{Command, Exptime, MetaGet, MetaReply, MetaStatus, Reply, Retrieve, RetrieveKind};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::fan_out::Gather;
use crate::client::protocol::Protocol;
use crate::client::{encode, unexpected, CallOptions, Client, Inner};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::dialect::{self, unexpected_status};
use crate::ops::item::{Item, ItemInfo};
use crate::ops::item_map::{ItemMap, PartialItems};
use crate::ops::{Request, RequestFuture};

impl<R: Runtime> Client<R> {
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
        GetRequest::fetch(self, RetrieveKind::Get, key)
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
        GetRequest::fetch(self, RetrieveKind::Gets, key)
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
        GetRequest::fetch(self, RetrieveKind::Gat(exptime.into()), key)
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
        GetRequest::fetch(self, RetrieveKind::Gats(exptime.into()), key)
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
        GetManyRequest::fetch_many(self, RetrieveKind::Get, keys)
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
        GetManyRequest::fetch_many(self, RetrieveKind::Gets, keys)
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
        GetManyRequest::fetch_many(self, RetrieveKind::Gat(exptime.into()), keys)
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
        GetManyRequest::fetch_many(self, RetrieveKind::Gats(exptime.into()), keys)
    }
}

/// A single-key fetch: `get`, `gets`, `gat` or `gats`.
pub type GetRequest<'c, R, K> = Request<'c, R, Get<K>>;

/// The `get`, `gets`, `gat` and `gats` operation of one key.
#[derive(Debug)]
pub struct Get<K> {
    key: K,
    fetch: Fetch,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> GetRequest<'c, R, K> {
    fn fetch(client: &'c Client<R>, kind: RetrieveKind, key: K) -> Self {
        Request::new(
            client,
            Get {
                key,
                fetch: Fetch::of(kind),
            },
        )
    }
}

/// The fetches, whose options are set alike.
pub trait Fetches {
    /// What the fetch asks for.
    #[doc(hidden)]
    fn fetch_mut(&mut self) -> &mut Fetch;
}

impl<K> Fetches for Get<K> {
    fn fetch_mut(&mut self) -> &mut Fetch {
        &mut self.fetch
    }
}

impl<K> Fetches for GetMany<K> {
    fn fetch_mut(&mut self) -> &mut Fetch {
        &mut self.fetch
    }
}

impl<'c, R: Runtime, O: Fetches> Request<'c, R, O> {
    /// Fills [`Item::flags`] with each item's client flags.
    pub fn return_flags(mut self) -> Self {
        self.op.fetch_mut().return_flags = true;
        self
    }

    /// Fills [`Item::info`]: time to live, time since last access, whether it was fetched
    /// before, and size, in the same round trip. Sent as meta commands whatever the
    /// protocol (for many keys, as quiet batches), so it needs memcached 1.6 or later.
    pub fn with_info(mut self) -> Self {
        self.op.fetch_mut().info = true;
        self
    }
}

impl<K: AsRef<[u8]> + Send> Operation for Get<K> {
    type Output = Option<Item>;

    fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    fn is_read(&self) -> bool {
        true
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key.as_ref();
        let fetch = Fetch {
            kind: resolve_kind(config, self.fetch.kind),
            ..self.fetch
        };
        let protocol = config.protocol;
        if fetch.is_meta(protocol) {
            let token = dialect::token(true);
            let command = meta_get(protocol, key, fetch, token.as_bytes(), false);
            encode(config, &command, key.len())
        } else {
            encode(config, &retrieve(fetch.kind, &[key]), key.len())
        }
    }

    fn decode(&self, answer: Answer, config: &Config, counters: &Counters) -> Result<Option<Item>> {
        let item = fetched(answer.one()?, self.fetch)?;
        counters.fetched(u64::from(item.is_some()), u64::from(item.is_none()));
        // Compressed values decode within the client's largest, as `get_as` reads them.
        let max_value_len = config.encoder.max_value_len();
        Ok(item.map(|item| item.with_max_value_len(max_value_len)))
    }

    fn miss(&self) -> Option<Option<Item>> {
        Some(None)
    }

    fn missed(&self, output: &Option<Item>) -> bool {
        output.is_none()
    }

    fn mergeable(&self, config: &Config) -> Option<bool> {
        match self.fetch.kind {
            RetrieveKind::Get | RetrieveKind::Gets if !self.fetch.is_meta(config.protocol) => {
                Some(self.fetch.kind == RetrieveKind::Gets)
            }
            _ => None,
        }
    }
}

/// `kind` with its touch's expiration as `config` sends it (capped in a gutter pool).
fn resolve_kind(config: &Config, kind: RetrieveKind) -> RetrieveKind {
    match kind {
        RetrieveKind::Gat(exptime) => RetrieveKind::Gat(config.expiry(exptime)),
        RetrieveKind::Gats(exptime) => RetrieveKind::Gats(config.expiry(exptime)),
        other => other,
    }
}

/// A multi-key fetch: `get_many`, `gets_many`, `gat_many` or `gats_many`.
pub type GetManyRequest<'c, R, K> = Request<'c, R, GetMany<K>>;

/// A multi-key fetch that returns partial results ([`GetManyRequest::partial`]).
pub type PartialGetManyRequest<'c, R, K> = Request<'c, R, PartialGetMany<K>>;

/// The `get`, `gets`, `gat` and `gats` operation of many keys: one request per node.
#[derive(Debug)]
pub struct GetMany<K> {
    keys: Vec<K>,
    fetch: Fetch,
}

/// [`GetMany`], answering what the reachable nodes had and each failed node's error.
#[derive(Debug)]
pub struct PartialGetMany<K>(GetMany<K>);

impl<'c, R: Runtime, K: AsRef<[u8]>> GetManyRequest<'c, R, K> {
    fn fetch_many<I>(client: &'c Client<R>, kind: RetrieveKind, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
    {
        let keys = keys.into_iter().collect();
        Request::new(
            client,
            GetMany {
                keys,
                fetch: Fetch::of(kind),
            },
        )
    }

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
        self.map(PartialGetMany)
    }
}

impl<K: AsRef<[u8]>> GetMany<K> {
    /// Fetches the keys; with `miss`, an unavailable node's keys are misses when the
    /// client is configured so.
    async fn gather<R: Runtime>(
        self,
        inner: &Inner<R>,
        options: CallOptions,
        gather: Gather,
        miss: bool,
    ) -> Result<PartialItems> {
        if self.keys.is_empty() {
            return Ok(PartialItems::default());
        }
        let keys: Vec<&[u8]> = self.keys.iter().map(AsRef::as_ref).collect();
        let fetch = Fetch {
            kind: resolve_kind(&inner.config, self.fetch.kind),
            ..self.fetch
        };
        // A client without a route fetches on its own nodes directly, with no future
        // around the fetch's.
        let mut found = match &inner.routes {
            None => (inner.retrieve_many(fetch, &keys, options, gather, miss)).await?,
            Some(routes) => {
                (inner.retrieve_routed(routes, fetch, &keys, options, gather, miss)).await?
            }
        };
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
        let (inner, op, options) = (&self.client.inner, self.op, self.options);
        Box::pin(async move {
            match op.gather(inner, options, Gather::Strict, true).await {
                Ok(found) => Ok(found.items),
                // No node to route to: every key is a miss, if the client says so.
                Err(error) if inner.read_miss_instead(&error, None) => Ok(ItemMap::default()),
                Err(error) => Err(error),
            }
        })
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for PartialGetManyRequest<'c, R, K> {
    type Output = Result<PartialItems>;
    type IntoFuture = RequestFuture<'c, PartialItems>;

    fn into_future(self) -> Self::IntoFuture {
        let (inner, op, options) = (&self.client.inner, self.op.0, self.options);
        Box::pin(op.gather(inner, options, Gather::Partial, false))
    }
}

/// What a fetch asks for.
#[derive(Debug, Clone, Copy)]
pub struct Fetch {
    pub(crate) kind: RetrieveKind,
    pub(crate) return_flags: bool,
    /// Also ask for TTL, last access, fetched-before and size (`mg` flags `t l h s`).
    pub(crate) info: bool,
}

impl Fetch {
    /// A fetch of `kind` that asks for nothing more.
    fn of(kind: RetrieveKind) -> Self {
        Fetch {
            kind,
            return_flags: false,
            info: false,
        }
    }

    /// Whether this fetch is sent as `mg` (meta mode, or item information asked for).
    pub(crate) fn is_meta(self, protocol: Protocol) -> bool {
        protocol == Protocol::Meta || self.info
    }
}

/// The `mg` that fetches `key` as `fetch` says, in a batch or alone.
pub(crate) fn meta_get<'a>(
    protocol: Protocol,
    key: &'a [u8],
    fetch: Fetch,
    opaque: &'a [u8],
    quiet: bool,
) -> Command<'a> {
    let (with_cas, touch) = match fetch.kind {
        RetrieveKind::Get => (false, None),
        RetrieveKind::Gets => (true, None),
        RetrieveKind::Gat(exptime) => (false, Some(exptime)),
        RetrieveKind::Gats(exptime) => (true, Some(exptime)),
    };
    Command::MetaGet(MetaGet {
        key,
        common: protocol.meta_common(key, Some(opaque), quiet),
        return_value: true,
        return_cas: with_cas,
        return_flags: fetch.return_flags,
        return_ttl: fetch.info,
        return_last_access: fetch.info,
        return_hit: fetch.info,
        return_size: fetch.info,
        touch,
        ..MetaGet::default()
    })
}

/// A single-key fetch's item from its reply (`None` for a miss).
pub(crate) fn fetched(reply: Reply, fetch: Fetch) -> Result<Option<Item>> {
    match reply {
        Reply::Values(items) => Ok(items
            .into_iter()
            .next()
            .map(|item| Item::from_wire(item, fetch.return_flags))),
        other => match other.into_meta().map_err(unexpected)? {
            meta if meta.status == MetaStatus::Va => Ok(Some(meta_item(meta, fetch))),
            meta if matches!(meta.status, MetaStatus::En | MetaStatus::Quiet) => Ok(None),
            meta => Err(unexpected_status(meta.status)),
        },
    }
}

/// The item of an `mg` hit.
pub(crate) fn meta_item(meta: MetaReply, fetch: Fetch) -> Item {
    let flags = &meta.flags;
    let info = fetch.info.then(|| ItemInfo::from_flags(flags));
    Item {
        value: meta.value.unwrap_or_default(),
        flags: if fetch.return_flags {
            flags.flags
        } else {
            None
        },
        cas: flags.cas,
        info,
        max_value_len: crate::ops::item::DEFAULT_MAX_VALUE_LEN,
    }
}

/// A classic single-key retrieval.
pub(crate) fn retrieve<'a>(kind: RetrieveKind, keys: &'a [&'a [u8]; 1]) -> Command<'a> {
    Command::Retrieve(Retrieve { kind, keys })
}
