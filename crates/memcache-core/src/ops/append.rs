//! `append` and `prepend`: raw bytes joined to an existing value, once the item's flags say
//! it is not a value this client stored encoded or compressed, which the bytes would
//! corrupt for good.
//!
//! The check reads the flags first. In the meta protocol it also reads the CAS token, and
//! the join is sent under it (`ms <key> <len> MA C<cas>`; memcached checks the token in
//! append and prepend modes), so an item replaced between the two cannot be corrupted: the
//! check runs again. The text protocol's `append` carries no token, so there the check
//! narrows the window to one round trip rather than closing it.

use std::future::IntoFuture;

use memproto::{
    Command, MetaGet, MetaReply, MetaSet, MetaSetMode, MetaStatus, Reply, Retrieve, RetrieveKind,
    StoreMode,
};

use crate::client::config::Config;
use crate::client::execute::{Answer, Effect, Exchange, Operation};
use crate::client::protocol::Protocol;
use crate::client::{encode, unexpected, values, CallOptions, Client, Inner};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::{write_failures, Counters};
use crate::ops::dialect;
use crate::ops::store::StoreArgs;
use crate::ops::{Request, RequestFuture};
use crate::value::{self, ToValue};

/// Checks (and joins) per call in the meta protocol before a key that keeps changing under
/// the check is given up on with [`Error::Exists`](crate::Error::Exists). Each lost race means another writer
/// succeeded, so a few cover ordinary contention; a key appended to by many writers at
/// once is better joined unchecked.
const MAX_ATTEMPTS: usize = 5;

/// Which end of the existing value the bytes join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Join {
    /// After it (`append`).
    Append,
    /// Before it (`prepend`).
    Prepend,
}

impl Join {
    fn store_mode(self) -> StoreMode {
        match self {
            Join::Append => StoreMode::Append,
            Join::Prepend => StoreMode::Prepend,
        }
    }

    fn meta_mode(self) -> MetaSetMode {
        match self {
            Join::Append => MetaSetMode::Append,
            Join::Prepend => MetaSetMode::Prepend,
        }
    }
}

/// How to join: what the request says besides its key and value (plain data, so the
/// steps of the request can hold it across their awaits).
#[derive(Debug, Clone)]
struct Spec {
    join: Join,
    noreply: bool,
    options: CallOptions,
}

/// What the check read of the item.
#[derive(Debug, Clone, Copy)]
struct Current {
    flags: u32,
    /// Read in the meta protocol only: the text protocol's `append` cannot use it.
    cas: Option<u64>,
}

impl<R: Runtime> Client<R> {
    /// Appends `value` to the existing value; fails with [`Error::NotStored`](crate::Error::NotStored) if `key` is
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
    ///   [`Error::Exists`](crate::Error::Exists) (a key appended to that busily is better joined unchecked).
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
        AppendRequest::join(self, Join::Append, key, value)
    }

    /// Prepends `value` to the existing value; fails with [`Error::NotStored`](crate::Error::NotStored) if `key` is
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
        AppendRequest::join(self, Join::Prepend, key, value)
    }
}

/// An `append` or `prepend` ([`Client::append`], [`Client::prepend`]).
///
/// By default the item's flags are checked first, one round trip more than the join
/// itself; [`AppendRequest::unchecked`] skips the check.
pub type AppendRequest<'c, R, K, V> = Request<'c, R, Append<K, V>>;

/// The `append` and `prepend` operation: the item's flags checked (unless told not to),
/// then the bytes joined.
#[derive(Debug)]
pub struct Append<K, V> {
    join: Join,
    key: K,
    value: V,
    checked: bool,
    noreply: bool,
}

impl<'c, R: Runtime, K: AsRef<[u8]>, V: ToValue> AppendRequest<'c, R, K, V> {
    pub(crate) fn join(client: &'c Client<R>, join: Join, key: K, value: V) -> Self {
        let (checked, noreply) = (true, false);
        Request::new(
            client,
            Append {
                join,
                key,
                value,
                checked,
                noreply,
            },
        )
    }

    /// Joins the bytes without reading the item's flags first: one round trip, as a bare
    /// `append` is, but an item this client stored encoded (JSON, MessagePack) or
    /// compressed is then corrupted for good instead of refused. For keys only ever
    /// written as plain bytes, such as logs this code alone appends to.
    pub fn unchecked(mut self) -> Self {
        self.op.checked = false;
        self
    }

    /// Returns once the join is queued, without waiting for the server's answer: a failure
    /// (a missing key, and in the meta protocol a lost CAS race) is not reported, and the
    /// bytes are then not added. The check still takes its round trip unless
    /// [`unchecked`](AppendRequest::unchecked), and its refusal of an encoded item is still
    /// reported. The connection reads and drops the answer, so the stream stays in step.
    pub fn noreply(mut self) -> Self {
        self.op.noreply = true;
        self
    }
}

impl<K: AsRef<[u8]>, V: ToValue> Append<K, V> {
    async fn run<R: Runtime>(&self, inner: &Inner<R>, options: CallOptions) -> Result<()> {
        let key = self.key.as_ref();
        let encoded = self.value.to_value()?;
        let bytes = value::raw(&encoded)?;
        let spec = Spec {
            join: self.join,
            noreply: self.noreply,
            options,
        };
        if self.checked {
            spec.checked(inner, key, bytes).await
        } else {
            spec.join(inner, key, bytes, None).await
        }
    }
}

impl Spec {
    /// Joins `bytes` once the check allows it, under the CAS token the check read when the
    /// protocol has one.
    async fn checked<R: Runtime>(&self, inner: &Inner<R>, key: &[u8], bytes: &[u8]) -> Result<()> {
        // An invalid key or an oversized value fails before the check is sent, as it
        // would have without it.
        self.validate(inner, key, bytes)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self.current(inner, key).await.inspect_err(|error| {
                // The bytes were not joined: to the application, a failed write.
                let handler = inner.config.on_write_failure.as_ref();
                let routing_key = self.options.routing_key.as_ref();
                write_failures::report(handler, key, routing_key, error);
            })?;
            let Some(current) = current else {
                // What the join would have answered; `noreply` reports no failure.
                return if self.noreply {
                    Ok(())
                } else {
                    Err(Error::NotStored)
                };
            };
            value::check_joinable(current.flags)?;
            match self.join(inner, key, bytes, current.cas).await {
                // Changed since the check: check again.
                Err(Error::Exists) if current.cas.is_some() => continue,
                outcome => return outcome,
            }
        }
        Err(Error::Exists)
    }

    /// Encodes the join once, for its refusals only.
    fn validate<R: Runtime>(&self, inner: &Inner<R>, key: &[u8], bytes: &[u8]) -> Result<()> {
        let join = JoinOp {
            spec: self,
            key,
            bytes,
            cas: None,
        };
        join.encode(&inner.config).map(drop)
    }

    /// The item's flags (and in the meta protocol its CAS token), `None` if it is missing.
    async fn current<R: Runtime>(&self, inner: &Inner<R>, key: &[u8]) -> Result<Option<Current>> {
        Exchange::new(inner, Check { key }, self.options.clone()).await
    }

    /// Sends the join, under `cas` when there is one.
    async fn join<R: Runtime>(
        &self,
        inner: &Inner<R>,
        key: &[u8],
        bytes: &[u8],
        cas: Option<u64>,
    ) -> Result<()> {
        Exchange::new(
            inner,
            JoinOp {
                spec: self,
                key,
                bytes,
                cas,
            },
            self.options.clone(),
        )
        .await
    }

    /// The join as `protocol` spells it: `append`/`prepend`, or `ms` in mode `A`/`P` with
    /// the CAS token to compare, if any.
    fn command<'a>(
        &self,
        protocol: Protocol,
        key: &'a [u8],
        bytes: &'a [u8],
        cas: Option<u64>,
        opaque: &'a [u8],
    ) -> Command<'a> {
        match protocol {
            // Flags and expiration are the item's: the server ignores those sent.
            Protocol::Text => crate::ops::store::store(
                protocol,
                StoreArgs {
                    mode: self.join.store_mode(),
                    key,
                    value: bytes,
                    flags: 0,
                    exptime: memproto::Exptime::Never,
                },
                opaque,
            ),
            Protocol::Meta => Command::MetaSet(MetaSet {
                key,
                value: bytes,
                common: protocol.meta_common(key, Some(opaque), false),
                mode: self.join.meta_mode(),
                compare_cas: cas,
                ..MetaSet::default()
            }),
        }
    }
}

/// The check: the item's flags, and in the meta protocol its CAS token.
struct Check<'a> {
    key: &'a [u8],
}

impl Operation for Check<'_> {
    type Output = Option<Current>;

    fn key(&self) -> &[u8] {
        self.key
    }

    // A read: the retry policy may repeat it.
    fn is_read(&self) -> bool {
        true
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key;
        match config.protocol {
            Protocol::Meta => {
                let token = dialect::token(true);
                let command = Command::MetaGet(MetaGet {
                    key,
                    common: Protocol::Meta.meta_common(key, Some(token.as_bytes()), false),
                    return_flags: true,
                    return_cas: true,
                    ..MetaGet::default()
                });
                encode(config, &command, key.len())
            }
            Protocol::Text => {
                let keys = [key];
                let command = Command::Retrieve(Retrieve {
                    kind: RetrieveKind::Get,
                    keys: &keys,
                });
                encode(config, &command, key.len())
            }
        }
    }

    fn decode(&self, answer: Answer, config: &Config, _: &Counters) -> Result<Option<Current>> {
        match config.protocol {
            Protocol::Meta => meta_current(answer.one()?),
            Protocol::Text => text_current(answer.one()?),
        }
    }

    fn mergeable(&self, config: &Config) -> Option<bool> {
        (config.protocol == Protocol::Text).then_some(false)
    }
}

/// The join itself, under the CAS token the check read when there is one.
struct JoinOp<'a> {
    spec: &'a Spec,
    key: &'a [u8],
    bytes: &'a [u8],
    cas: Option<u64>,
}

impl Operation for JoinOp<'_> {
    type Output = ();

    fn key(&self) -> &[u8] {
        self.key
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let protocol = config.protocol;
        let token = dialect::token(protocol == Protocol::Meta);
        let command = self
            .spec
            .command(protocol, self.key, self.bytes, self.cas, token.as_bytes());
        encode(config, &command, self.key.len() + self.bytes.len())
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<()> {
        crate::ops::store::stored(answer.one()?)
    }

    fn detached(&self) -> Option<()> {
        self.spec.noreply.then_some(())
    }
}

/// The flags and CAS token of an `mg <key> f c` reply (`HD` without a value, `EN` for a
/// miss).
fn meta_current(reply: Reply) -> Result<Option<Current>> {
    let meta: MetaReply = reply.into_meta().map_err(unexpected)?;
    match meta.status {
        MetaStatus::Hd | MetaStatus::Va => {
            let missing = |what: &str| Error::UnexpectedReply(format!("mg reply without {what}"));
            Ok(Some(Current {
                flags: meta.flags.flags.ok_or_else(|| missing("flags"))?,
                cas: Some(meta.flags.cas.ok_or_else(|| missing("a CAS token"))?),
            }))
        }
        MetaStatus::En => Ok(None),
        status => Err(dialect::unexpected_status(status)),
    }
}

/// The flags of a `get <key>` reply.
fn text_current(reply: Reply) -> Result<Option<Current>> {
    Ok(values(reply)?.into_iter().next().map(|item| Current {
        flags: item.flags,
        cas: None,
    }))
}

impl<'c, R, K, V> IntoFuture for AppendRequest<'c, R, K, V>
where
    R: Runtime,
    K: AsRef<[u8]> + Send + Sync + 'c,
    V: ToValue + Send + Sync + 'c,
{
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        let (inner, op, options) = (&self.client.inner, self.op, self.options);
        Box::pin(async move {
            let Some(routes) = &inner.routes else {
                return op.run(inner, options).await;
            };
            // Through a route: the whole join (its check included) on each pool writes go
            // to, settled as any write there.
            let call = crate::route::Call::start(inner, options);
            let leaf = |pool, options| -> RequestFuture<'_, ()> { Box::pin(op.run(pool, options)) };
            let key = op.key.as_ref();
            crate::route::single::write(&routes.root, key, &call, Effect::Write, &leaf).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::Bytes;
    use memproto::MetaFlags;

    fn meta(status: MetaStatus, flags: Option<u32>, cas: Option<u64>) -> Reply {
        Reply::Meta(Box::new(MetaReply {
            status,
            value: None,
            flags: MetaFlags {
                flags,
                cas,
                ..MetaFlags::default()
            },
            debug: None,
        }))
    }

    #[test]
    fn the_check_reads_flags_and_cas_of_a_meta_hit() {
        let current = meta_current(meta(MetaStatus::Hd, Some(0x1000_0000), Some(9)))
            .expect("reads")
            .expect("a hit");
        assert_eq!((current.flags, current.cas), (0x1000_0000, Some(9)));
        assert!(meta_current(meta(MetaStatus::En, None, None))
            .expect("reads")
            .is_none());
        // A hit the server did not describe is no reason to join blindly.
        assert!(matches!(
            meta_current(meta(MetaStatus::Hd, None, Some(9))),
            Err(Error::UnexpectedReply(_))
        ));
        assert!(matches!(
            meta_current(meta(MetaStatus::Hd, Some(0), None)),
            Err(Error::UnexpectedReply(_))
        ));
        assert!(meta_current(meta(MetaStatus::Ns, None, None)).is_err());
    }

    #[test]
    fn the_check_reads_flags_of_a_text_hit() {
        let item = memproto::Item {
            key: Bytes::from_static(b"k"),
            flags: 0x0100_0000,
            cas: None,
            value: Bytes::from_static(b"{}"),
        };
        let current = text_current(Reply::Values(vec![item].into()))
            .expect("reads")
            .expect("a hit");
        assert_eq!((current.flags, current.cas), (0x0100_0000, None));
        assert!(text_current(Reply::Values(Vec::new().into()))
            .expect("reads")
            .is_none());
    }
}
