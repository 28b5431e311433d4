//! Batched writes: `set_many`, `add_many`, `delete_many` and `touch_many`.
//!
//! Keys are split by node and each node's share is sent as meta batches ended by `mn`
//! ([`crate::ops::meta_batch`]): one round trip per node, whatever the number of keys. No command is
//! quiet: each gets its own reply, carrying its opaque, in its place, so every key's
//! outcome is the server's answer to that key, an error line (`SERVER_ERROR object too
//! large for cache`) included, and a failing key leaves the connection and every other
//! request on it untouched. A failure (a key not stored, a node down) is reported for the
//! keys it concerns and hides nothing else.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::future::join_all;
use memproto::{Command, Exptime, MetaDelete, MetaGet, MetaSet, MetaSetMode, Reply};

use crate::client::config::Config;
use crate::client::execute::{Answer, Exchange};
use crate::client::protocol::Token;
use crate::client::{resolve, CallOptions, Client, Inner};
use crate::cluster::members::{Members, MembersRef};
use crate::engine::payload::Payload;
use crate::engine::pool::later;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::{write_failures, Counters};
use crate::ops::item_map::ItemHasher;
use crate::ops::key_copies::KeyCopies;
use crate::ops::meta_batch::{self, MetaBatch};
use crate::ops::share::Share;
use crate::ops::{exptime_setters, Request, RequestFuture};
use crate::value::{self, ToValue};

/// One key of a batched write: for stores, the value as it goes on the wire and its flags.
#[derive(Clone, Copy)]
pub(crate) struct Write<'a> {
    key: &'a [u8],
    value: &'a [u8],
    flags: u32,
}

impl<'a> Write<'a> {
    /// A key of a batched `delete` or `touch`.
    pub(crate) fn key(key: &'a [u8]) -> Self {
        Write {
            key,
            value: b"",
            flags: 0,
        }
    }

    /// The item's key.
    pub(crate) fn key_of(&self) -> &'a [u8] {
        self.key
    }
}

/// Each key's outcome of a batched write. Hashed with [`ItemHasher`], as multi-key fetch
/// results are: the keys are the caller's own.
pub type KeyResults = HashMap<Bytes, Result<()>, ItemHasher>;

impl<R: Runtime> Client<R> {
    /// Stores many items, unconditionally, in one round trip per node. Each key's outcome
    /// is in the map; a key given twice is stored once, with its last value.
    ///
    /// Sent as meta commands: needs memcached 1.6 or later (not twemproxy). Invalid keys
    /// and oversized values fail the whole call before anything is sent.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let results = client.set_many([("a", "1"), ("b", "2")]).await?;
    /// assert!(results.values().all(Result::is_ok));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_many<I, K, V>(&self, items: I) -> StoreManyRequest<'_, R, K, V>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: ToValue,
    {
        StoreManyRequest::store_many(self, MetaSetMode::Set, items)
    }

    /// Stores each item only if its key is absent, in one round trip per node; a key that
    /// exists gets [`Error::NotStored`]. See [`Client::set_many`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let results = client.add_many([("a", "1"), ("b", "2")]).await?;
    /// for (key, result) in &results {
    ///     if result.is_err() {
    ///         println!("{key:?} was already there");
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_many<I, K, V>(&self, items: I) -> StoreManyRequest<'_, R, K, V>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: ToValue,
    {
        StoreManyRequest::store_many(self, MetaSetMode::Add, items)
    }

    /// Deletes many keys in one round trip per node; a missing key gets
    /// [`Error::NotFound`]. See [`Client::set_many`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let results = client.delete_many(["a", "b"]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_many<I>(&self, keys: I) -> KeyManyRequest<'_, R, I::Item>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        KeyManyRequest::key_many(self, None, keys)
    }

    /// Sets a new expiration on many keys in one round trip per node; a missing key gets
    /// [`Error::NotFound`]. See [`Client::set_many`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// let results = client.touch_many(["a", "b"], Duration::from_secs(60)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn touch_many<I>(
        &self,
        keys: I,
        exptime: impl Into<Exptime>,
    ) -> KeyManyRequest<'_, R, I::Item>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        KeyManyRequest::key_many(self, Some(exptime.into()), keys)
    }
}

/// A batched store: [`Client::set_many`] or [`Client::add_many`].
pub type StoreManyRequest<'c, R, K, V> = Request<'c, R, StoreMany<K, V>>;

/// The `set` and `add` operation of many items: one batch per node.
#[derive(Debug)]
pub struct StoreMany<K, V> {
    mode: MetaSetMode,
    items: Vec<(K, V)>,
    flags: u32,
    exptime: Exptime,
}

impl<'c, R: Runtime, K: AsRef<[u8]>, V: ToValue> StoreManyRequest<'c, R, K, V> {
    fn store_many(
        client: &'c Client<R>,
        mode: MetaSetMode,
        items: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let items = items.into_iter().collect();
        let (flags, exptime) = (0, Exptime::Never);
        Request::new(
            client,
            StoreMany {
                mode,
                items,
                flags,
                exptime,
            },
        )
    }

    /// Stores these client flags with every item (an encoded value packs its format into
    /// the top byte, see [`Client::set`]).
    pub fn flags(mut self, flags: u32) -> Self {
        self.op.flags = flags;
        self
    }

    exptime_setters!(op.exptime);
}

impl<K: AsRef<[u8]>, V: ToValue> StoreMany<K, V> {
    async fn run<R: Runtime>(self, inner: &Inner<R>, options: CallOptions) -> Result<KeyResults> {
        let config = &inner.config;
        let encoded = self
            .items
            .iter()
            .map(|(_, value)| value.to_value())
            .collect::<Result<Vec<_>, _>>()?;
        let stored = encoded
            .iter()
            .map(|encoded| value::prepare(encoded, self.flags, config))
            .collect::<Result<Vec<_>, _>>()?;
        let items: Vec<Write<'_>> = self
            .items
            .iter()
            .zip(&stored)
            .map(|((key, _), stored)| Write {
                key: key.as_ref(),
                value: &stored.bytes,
                flags: stored.flags,
            })
            .collect();
        let kind = WriteKind::Store {
            mode: self.mode,
            exptime: resolve(self.exptime),
        };
        match &inner.routes {
            None => inner.write_many(kind, &items, options).await,
            Some(routes) => inner.write_routed(routes, kind, &items, options).await,
        }
    }
}

impl<'c, R, K, V> IntoFuture for StoreManyRequest<'c, R, K, V>
where
    R: Runtime,
    K: AsRef<[u8]> + Send + Sync + 'c,
    V: ToValue + Send + Sync + 'c,
{
    type Output = Result<KeyResults>;
    type IntoFuture = RequestFuture<'c, KeyResults>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.op.run(&self.client.inner, self.options))
    }
}

/// A batched key operation: [`Client::delete_many`] or [`Client::touch_many`].
pub type KeyManyRequest<'c, R, K> = Request<'c, R, KeyMany<K>>;

/// The `delete` and `touch` operation of many keys: one batch per node.
#[derive(Debug)]
pub struct KeyMany<K> {
    keys: Vec<K>,
    /// The new expiration for a `touch`; `None` for a `delete`.
    touch: Option<Exptime>,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> KeyManyRequest<'c, R, K> {
    fn key_many(
        client: &'c Client<R>,
        touch: Option<Exptime>,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        let keys = keys.into_iter().collect();
        Request::new(client, KeyMany { keys, touch })
    }
}

impl<K: AsRef<[u8]>> KeyMany<K> {
    async fn run<R: Runtime>(self, inner: &Inner<R>, options: CallOptions) -> Result<KeyResults> {
        let items: Vec<Write<'_>> = self
            .keys
            .iter()
            .map(|key| Write::key(key.as_ref()))
            .collect();
        let kind = match self.touch {
            None => WriteKind::Delete,
            Some(exptime) => WriteKind::Touch(resolve(exptime)),
        };
        match &inner.routes {
            None => inner.write_many(kind, &items, options).await,
            Some(routes) => inner.write_routed(routes, kind, &items, options).await,
        }
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + Sync + 'c> IntoFuture for KeyManyRequest<'c, R, K> {
    type Output = Result<KeyResults>;
    type IntoFuture = RequestFuture<'c, KeyResults>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.op.run(&self.client.inner, self.options))
    }
}

/// Which command every key of a batched write gets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteKind {
    Store { mode: MetaSetMode, exptime: Exptime },
    Delete,
    Touch(Exptime),
}

impl WriteKind {
    /// The command for `write`, its expiration as `config` sends it (capped in a gutter).
    fn command<'a>(
        self,
        config: &Config,
        write: &Write<'a>,
        common: memproto::MetaCommon<'a>,
    ) -> Command<'a> {
        let Write { key, value, flags } = *write;
        match self {
            WriteKind::Store { mode, exptime } => Command::MetaSet(MetaSet {
                key,
                value,
                common,
                mode,
                flags,
                exptime: config.expiry(exptime),
                ..MetaSet::default()
            }),
            WriteKind::Delete => Command::MetaDelete(MetaDelete {
                key,
                common,
                ..MetaDelete::default()
            }),
            // `mg` with `T` and no `v`: a hit answers `HD`, a miss `EN`.
            WriteKind::Touch(exptime) => Command::MetaGet(MetaGet {
                key,
                common,
                touch: Some(config.expiry(exptime)),
                ..MetaGet::default()
            }),
        }
    }

    /// The key's outcome from its command's reply: what the single-key call would say.
    fn outcome(self, reply: Reply) -> Result<()> {
        match self {
            WriteKind::Store { .. } => crate::ops::store::stored(reply),
            WriteKind::Delete | WriteKind::Touch(_) => crate::ops::touch_delete::done(reply),
        }
    }
}

/// One batch on its way to a node: its bytes, and which items it carries, in order.
struct Chunk {
    node: usize,
    items: Vec<usize>,
    encoded: (Payload, Expects),
}

/// What sending one chunk needs besides its node and its encoding.
struct ChunkSend<'a, 'w> {
    kind: WriteKind,
    items: &'a [Write<'w>],
    chunk_items: &'a [usize],
    deadline: Option<Instant>,
    options: &'a CallOptions,
}

/// A batch's replies, one per command; when cut short, the first ones and the error for
/// the rest.
type BatchReplies = (Vec<Reply>, Option<Error>);

impl<R: Runtime> Inner<R> {
    /// Sends `kind` for every `(key, value)` (values only for stores) in meta batches, one
    /// round trip per node, and returns each key's outcome.
    pub(crate) async fn write_many(
        &self,
        kind: WriteKind,
        items: &[Write<'_>],
        options: CallOptions,
    ) -> Result<KeyResults> {
        let unique = last_of_each_key(items);
        let mut outcomes = Outcomes {
            keys: KeyCopies::new(
                items.len(),
                unique.iter().map(|&item| (item, items[item].key)),
            ),
            results: KeyResults::with_capacity_and_hasher(unique.len(), ItemHasher::default()),
            on_failure: (!options.quiet)
                .then(|| self.config.on_write_failure.clone())
                .flatten(),
            routing_key: options.routing_key.clone(),
        };
        // One membership for the whole call.
        let members = self.members();
        // Sized for an even spread (plus a quarter), so the lists rarely grow key by key.
        let nodes = members.nodes.len().max(1);
        let share = unique.len() / nodes + unique.len() / (4 * nodes) + 1;
        let mut per_node: Vec<Vec<usize>> = (0..members.nodes.len())
            .map(|_| Vec::with_capacity(share))
            .collect();
        let routing_key = options.routing_key.as_deref();
        route_indexed(
            &members,
            items,
            &unique,
            routing_key,
            |item, node| match node {
                Some(node) => per_node[node].push(item),
                None => outcomes.file(item, Err(Error::NoAvailableNodes)),
            },
        );
        let chunks = self.encode_chunks(kind, items, per_node)?;
        self.send_chunks(kind, items, chunks, &members, options, &mut outcomes)
            .await?;
        Ok(outcomes.results)
    }

    /// Sends each chunk to its node, all nodes at once, and files every key's outcome.
    /// Stores first make sure their node knows meta commands: a server without them would
    /// run the values as commands. Each node's question and batch share one deadline, and
    /// a slow node delays only its own keys. A chunk whose node is unreachable goes to the
    /// gutter pool, when the client has one.
    async fn send_chunks(
        &self,
        kind: WriteKind,
        items: &[Write<'_>],
        chunks: Vec<Chunk>,
        members: &MembersRef<'_, R>,
        options: CallOptions,
        outcomes: &mut Outcomes,
    ) -> Result<()> {
        let deadline = self
            .timeout(options.timeout)
            .map(|timeout| later(self.runtime.now(), timeout));
        let mut carried = Vec::with_capacity(chunks.len());
        let mut encodings = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            encodings.push((chunk.node, chunk.encoded));
            carried.push(chunk.items);
        }
        let sends = carried
            .iter()
            .zip(encodings)
            .map(|(chunk_items, (node, encoded))| {
                let send = ChunkSend {
                    kind,
                    items,
                    chunk_items,
                    deadline,
                    options: &options,
                };
                self.send_chunk(members, node, encoded, send)
            });
        let answers = join_all(sends).await;
        for (chunk_items, (outcome, missed)) in carried.into_iter().zip(answers) {
            if let Some(error) = &missed {
                // Failed over: the node's own copies may be stale, whatever the gutter
                // answered.
                for &item in &chunk_items {
                    outcomes.report(item, error);
                }
            }
            let (replies, rest) = match outcome {
                Ok((replies, rest)) => (replies, rest),
                Err(error) => (Vec::new(), Some(error)),
            };
            let mut replies = replies.into_iter();
            for item in chunk_items {
                let result = match (replies.next(), &rest) {
                    (Some(reply), _) => kind.outcome(reply),
                    (None, Some(error)) => Err(error.clone()),
                    (None, None) => Err(Error::UnexpectedReply("a batch without a reply".into())),
                };
                if missed.is_some() {
                    outcomes.file_reported(item, result);
                } else {
                    outcomes.file(item, result);
                }
            }
        }
        Ok(())
    }

    /// Sends one chunk, encoded as `encoded`, to node `node` of `members`, and on a
    /// failure that fails over, to the gutter pool (encoded again, its expirations
    /// capped). Returns the outcome, and the node's own error when it failed over.
    async fn send_chunk(
        &self,
        members: &MembersRef<'_, R>,
        node: usize,
        encoded: (Payload, Expects),
        send: ChunkSend<'_, '_>,
    ) -> (Result<BatchReplies>, Option<Error>) {
        let outcome = self.send_batch(members, node, encoded, &send).await;
        let Err(error) = outcome else {
            return (outcome, None);
        };
        let now = self.runtime.now();
        if send.deadline.is_some_and(|deadline| deadline <= now) {
            return (Err(error), None);
        }
        let failed = members.node(node);
        let Some((gutter, index)) = self.failover_index(failed.as_ref(), &error) else {
            return (Err(error), None);
        };
        let encoded = match self.encode_batch(&gutter.config, &send) {
            Ok(encoded) => encoded,
            Err(encode) => return (Err(encode), Some(error)),
        };
        let outcome = self
            .send_batch(&gutter.members(), index, encoded, &send)
            .await;
        (outcome, Some(error))
    }

    /// Sends one batch to node `node` of `members` (after the meta question for stores),
    /// within the call's deadline.
    async fn send_batch(
        &self,
        members: &MembersRef<'_, R>,
        node: usize,
        encoded: (Payload, Expects),
        send: &ChunkSend<'_, '_>,
    ) -> Result<BatchReplies> {
        // Routed already: the share goes to its node, by no key; the meta question and the
        // batch share the call's deadline.
        let within_deadline = || CallOptions {
            timeout: Some(
                send.deadline
                    .map(|deadline| deadline.saturating_duration_since(self.runtime.now())),
            ),
            no_wait: send.options.no_wait,
            routing_key: None,
            quiet: send.options.quiet,
        };
        if matches!(send.kind, WriteKind::Store { .. }) {
            self.ensure_meta(members, node, within_deadline()).await?;
        }
        let keys: Vec<&[u8]> = send
            .chunk_items
            .iter()
            .map(|&item| send.items[item].key)
            .collect();
        let count = keys.len();
        // A batch's bytes are shared: sending them again copies nothing.
        let copy = encoded.clone();
        let again = move |_: &Config| Ok(copy.clone());
        let read = move |answer: Answer, _: &Counters| match answer.batch()? {
            (replies, None) => Ok((meta_batch::command_replies(replies, count)?, None)),
            // Cut short: the first commands have their replies, the others the error.
            (replies, Some(error)) => Ok((replies, Some(error))),
        };
        let share = Share::new(encoded, again, &keys, false, read);
        let node = members.node(node).ok_or(Error::NoAvailableNodes)?;
        Exchange::to_node(self, share, within_deadline(), node).await
    }

    /// One chunk's items encoded as a single batch with `config` (the gutter's, when the
    /// chunk fails over: a chunk already fits one batch).
    fn encode_batch(
        &self,
        config: &Config,
        send: &ChunkSend<'_, '_>,
    ) -> Result<(Payload, Expects)> {
        let mut batch = MetaBatch::with_room(send.chunk_items.len(), 0);
        for &item in send.chunk_items {
            let write = &send.items[item];
            let token = Token::new(batch.len() as u64);
            let common = config
                .protocol
                .meta_common(write.key, Some(token.as_bytes()), false);
            batch.push(&config.encoder, &send.kind.command(config, write, common))?;
        }
        Ok(batch.finish(&config.encoder)?)
    }

    /// Encodes every node's items into batches. Nothing is sent if any item is invalid.
    fn encode_chunks(
        &self,
        kind: WriteKind,
        items: &[Write<'_>],
        per_node: Vec<Vec<usize>>,
    ) -> Result<Vec<Chunk>> {
        let encoder = &self.config.encoder;
        let protocol = self.config.protocol;
        let mut chunks = Vec::new();
        // Room for the commands from `at` on, so a batch does not grow command by command:
        // each is its key, its value and about this much more (`ms`, flags, CRLFs).
        const PER_COMMAND: usize = 40;
        let room = |node_items: &[usize], at: usize| {
            let rest = &node_items[at..];
            let bytes = rest
                .iter()
                .map(|&item| items[item].key.len() + items[item].value.len() + PER_COMMAND);
            MetaBatch::with_room(rest.len(), bytes.sum())
        };
        for (node, node_items) in per_node.into_iter().enumerate() {
            let mut batch = room(&node_items, 0);
            let mut carried = Vec::with_capacity(node_items.len().min(meta_batch::MAX_COMMANDS));
            for (at, &item) in node_items.iter().enumerate() {
                let write = &items[item];
                let (key, value) = (write.key, write.value);
                if batch.is_full_for(key.len() + value.len()) {
                    let full = std::mem::replace(&mut batch, room(&node_items, at));
                    chunks.push(Chunk {
                        node,
                        items: std::mem::take(&mut carried),
                        encoded: full.finish(encoder)?,
                    });
                }
                let token = Token::new(batch.len() as u64);
                // Not quiet: see the module's documentation.
                let common = protocol.meta_common(key, Some(token.as_bytes()), false);
                batch.push(encoder, &kind.command(&self.config, write, common))?;
                carried.push(item);
            }
            if batch.len() > 0 {
                chunks.push(Chunk {
                    node,
                    items: carried,
                    encoded: batch.finish(encoder)?,
                });
            }
        }
        Ok(chunks)
    }
}

/// Routes the items at `unique` positions (all by `routing_key` when the call names one),
/// handing each position and its node (`None` when no node is available) to `each`.
fn route_indexed<R: Runtime>(
    members: &Members<R>,
    items: &[Write<'_>],
    unique: &[usize],
    routing_key: Option<&[u8]>,
    mut each: impl FnMut(usize, Option<usize>),
) {
    let mut next = unique.iter();
    let keys = unique.iter().map(|&item| items[item].key);
    members.health.route_each(keys, routing_key, |_, node| {
        if let Some(&item) = next.next() {
            each(item, node);
        }
    });
}

/// Each key's outcome, filed under a copy of its key; failures that may leave an item
/// stale are reported to the application's handler.
struct Outcomes {
    keys: KeyCopies,
    results: KeyResults,
    on_failure: Option<write_failures::Handler>,
    routing_key: Option<Bytes>,
}

impl Outcomes {
    /// Files the item's outcome, reporting a failure that may leave it stale.
    fn file(&mut self, item: usize, result: Result<()>) {
        if let Err(error) = &result {
            self.report(item, error);
        }
        self.file_reported(item, result);
    }

    /// Files the item's outcome, whose failure was reported already.
    fn file_reported(&mut self, item: usize, result: Result<()>) {
        self.results.insert(self.keys.at(item), result);
    }

    /// Reports that the item's write failed with `error`, if that may leave it stale.
    fn report(&self, item: usize, error: &Error) {
        let handler = self.on_failure.as_ref();
        let key = self.keys.at(item);
        write_failures::report(handler, &key, self.routing_key.as_ref(), error);
    }
}

/// Positions of the items to send: the last one of each key, in input order.
fn last_of_each_key(items: &[Write<'_>]) -> Vec<usize> {
    let mut position: HashMap<&[u8], usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(items.len(), foldhash::fast::RandomState::default());
    let mut unique = Vec::with_capacity(items.len());
    for (item, write) in items.iter().enumerate() {
        match position.get(write.key) {
            Some(&at) => unique[at] = item,
            None => {
                position.insert(write.key, unique.len());
                unique.push(item);
            }
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use memproto::MetaStatus;

    use super::*;

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_first_place() {
        let write = |key: &'static [u8], value: &'static [u8]| Write {
            key,
            value,
            flags: 0,
        };
        let items = vec![write(b"a", b"1"), write(b"b", b"2"), write(b"a", b"3")];
        assert_eq!(last_of_each_key(&items), vec![2, 1]);
    }

    #[test]
    fn outcomes_are_what_the_single_call_says() {
        let meta = |status| {
            Reply::Meta(Box::new(memproto::MetaReply {
                status,
                value: None,
                flags: Default::default(),
                debug: None,
            }))
        };
        let set = WriteKind::Store {
            mode: MetaSetMode::Set,
            exptime: Exptime::Never,
        };
        assert!(set.outcome(meta(MetaStatus::Hd)).is_ok());
        assert!(matches!(
            set.outcome(meta(MetaStatus::Ns)),
            Err(Error::NotStored)
        ));
        let too_large = memproto::ServerError {
            kind: memproto::ServerErrorKind::Server,
            message: Bytes::from_static(b"object too large for cache"),
        };
        assert!(matches!(
            set.outcome(Reply::Error(too_large)),
            Err(Error::Server(message)) if message == "object too large for cache"
        ));
        let unknown = memproto::ServerError {
            kind: memproto::ServerErrorKind::Error,
            message: Bytes::new(),
        };
        assert!(matches!(
            WriteKind::Delete.outcome(Reply::Error(unknown)),
            Err(Error::UnknownCommand(_))
        ));
        assert!(matches!(
            WriteKind::Delete.outcome(meta(MetaStatus::Nf)),
            Err(Error::NotFound)
        ));
        let touch = WriteKind::Touch(Exptime::Never);
        assert!(touch.outcome(meta(MetaStatus::Hd)).is_ok());
        assert!(matches!(
            touch.outcome(meta(MetaStatus::En)),
            Err(Error::NotFound)
        ));
    }
}
